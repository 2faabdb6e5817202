// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for each fixup rule, per distribution family: golden outputs
 * for the files they edit or create, and the actions they plan. Every
 * content checked here is also checked to be a fixed point of its edit
 * (applying the rule to its own output changes nothing).
 */
#include <sys/sysmacros.h>

#include "tests/unit/test-fix-tree.h"

struct run {
	struct mem_tree *t;
	struct fix_facts facts;
	struct fix_profile prof;
	struct fix_ctx ctx;
	struct fix_set *set;
	char *bufs[64];
	size_t n_bufs;
};

static const struct fix_nic nic1[] = {
	{ "00:16:3e:12:34:56", "192.0.2.10", 24 },
};
static const struct fix_nic nic2[] = {
	{ "00:16:3e:12:34:56", "192.0.2.10", 24 },
	{ "00:16:3e:12:34:57", NULL, 0 },
};
static const char *const disks[] = { "xvda" };
static const char *const nameservers[] = { "192.0.2.53", "192.0.2.54" };
static const char *const keys[] = {
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZ2xlZ29vZ2xl admin@example",
};
static const char hash[] =
	"$6$salt$"
	"0123456789012345678901234567890123456789012345678901"
	"2345678901234567890123456789012345";

static void profile_default(struct fix_profile *p)
{
	memset(p, 0, sizeof(*p));
	p->hostname = "banquo";
	p->disks = disks;
	p->n_disks = 1;
	p->nics = nic1;
	p->n_nics = 1;
	p->gateway = "192.0.2.1";
	p->nameservers = nameservers;
	p->n_nameservers = 1;
	p->root_password_hash = hash;
	p->ssh_keys = keys;
	p->n_ssh_keys = 1;
	p->pygrub = true;
	p->rules = FIX_RULES_ALL;
}

/* Detects and plans over @t (taken) with the rules in @rules. */
static struct run *run_new(struct mem_tree *t, uint32_t rules)
{
	struct run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->t = t;
	profile_default(&r->prof);
	r->prof.rules = rules;
	r->ctx.facts = &r->facts;
	r->ctx.profile = &r->prof;
	r->ctx.fs_type = "ext4";
	assert_int_equal(fix_detect(&t->rd, &r->facts), 0);
	return r;
}

static void run_plan(struct run *r)
{
	r->set = fix_set_free(r->set);
	assert_int_equal(fix_plan(&r->ctx, &r->t->rd, &r->set), 0);
}

static struct run *plan(struct mem_tree *t, enum fix_rule rule)
{
	struct run *r = run_new(t, FIX_RULE_BIT(rule));

	run_plan(r);
	return r;
}

static void run_free(struct run *r)
{
	fix_set_free(r->set);
	for (size_t i = 0; i < r->n_bufs; i++)
		free(r->bufs[i]);
	free(r->t);
	free(r);
}

static const struct fix_action *act(struct run *r, const char *path)
{
	return fix_set_find(r->set, path);
}

static void assert_kind(struct run *r, const char *path, enum fix_kind kind)
{
	const struct fix_action *a = act(r, path);

	if (!a)
		fail_msg("no action on %s", path);
	if (a->kind != kind)
		fail_msg("%s: kind %d, want %d", path, a->kind, kind);
}

static void assert_no_action(struct run *r, const char *path)
{
	const struct fix_action *a = act(r, path);

	if (a)
		fail_msg("unexpected action (kind %d, rule %s) on %s", a->kind,
			 a->rule, path);
}

/*
 * The content @path has after the fixups (EDIT of the tree's file, or the
 * CREATE data), checked to be a fixed point of the edit.
 */
static const char *content(struct run *r, const char *path)
{
	const struct fix_action *a = act(r, path);
	char *out = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	const char *in;

	if (!a)
		fail_msg("no action on %s", path);
	if (a->kind == FIX_CREATE) {
		out = malloc(a->len + 1);
		assert_non_null(out);
		memcpy(out, a->data, a->len);
		out[a->len] = '\0';
		len = a->len;
		/* CREATE data is the edit of empty content */
		assert_int_equal(fix_edit(&r->ctx, a, "", 0, &again, &len2), 0);
		assert_int_equal(len2, len);
		assert_memory_equal(again, out, len);
		free(again);
	} else {
		assert_int_equal(a->kind, FIX_EDIT);
		in = tree_data(r->t, path);
		assert_non_null(in);
		assert_int_equal(
			fix_edit(&r->ctx, a, in, strlen(in), &out, &len), 0);
	}
	assert_int_equal(fix_edit(&r->ctx, a, out, len, &again, &len2), 0);
	if (len2 != len || memcmp(out, again, len))
		fail_msg("%s: not idempotent:\n--- once\n%s--- twice\n%.*s",
			 path, out, (int)len2, again);
	free(again);
	assert_int_equal(strlen(out), len);
	assert_true(r->n_bufs < 64);
	r->bufs[r->n_bufs++] = out;
	return out;
}

/* ---- fstab --------------------------------------------------------------- */

static void fstab_debian4_root_is_xvda_ext4_and_old_swap_is_off(void **state)
{
	struct run *r = plan(tree_debian4(), FIX_RULE_FSTAB);

	assert_kind(r, "/etc/fstab", FIX_EDIT);
	assert_string_equal(
		content(r, "/etc/fstab"),
		"# /etc/fstab: static file system information.\n"
		"proc /proc proc defaults 0 0\n"
		"/dev/xvda\t/\text4\tdefaults,errors=remount-ro\t0\t1\n"
		"# domufs: disabled, a disk the domU does not have:\n"
		"#/dev/sda2 none swap sw 0 0\n"
		"sysfs\t/sys\tsysfs\tdefaults\t0\t0\n"
		"devpts\t/dev/pts\tdevpts\tgid=5,mode=620\t0\t0\n");
	run_free(r);
}

static void fstab_busybox_partitioned_commit_mounts_xvda1(void **state)
{
	struct run *r = run_new(tree_busybox(), FIX_RULE_BIT(FIX_RULE_FSTAB));

	r->ctx.partitioned = true;
	r->ctx.fs_type = "ext3";
	run_plan(r);
	assert_string_equal(
		content(r, "/etc/fstab"),
		"# <file system> <mount point> <type> <options> <dump> "
		"<pass>\n"
		"/dev/xvda1\t/\text3\tdefaults,errors=remount-ro\t0\t1\n"
		"proc /proc proc defaults 0 0\n"
		"sysfs\t/sys\tsysfs\tdefaults\t0\t0\n"
		"devpts\t/dev/pts\tdevpts\tgid=5,mode=620\t0\t0\n");
	run_free(r);
}

static void fstab_centos5_label_root_is_replaced_other_lines_kept(void **state)
{
	struct run *r = plan(tree_centos5(), FIX_RULE_FSTAB);

	assert_string_equal(content(r, "/etc/fstab"),
			    "/dev/xvda\t/\text4\tdefaults\t1\t1\n"
			    "tmpfs     /dev/shm tmpfs   defaults        0 0\n"
			    "devpts    /dev/pts devpts  gid=5,mode=620  0 0\n"
			    "sysfs     /sys     sysfs   defaults        0 0\n"
			    "proc      /proc    proc    defaults        0 0\n");
	run_free(r);
}

static void fstab_centos7_xfs_options_are_not_carried_to_ext4(void **state)
{
	struct run *r = plan(tree_centos7(), FIX_RULE_FSTAB);

	assert_string_equal(content(r, "/etc/fstab"),
			    "/dev/xvda\t/\text4\terrors=remount-ro\t0\t1\n"
			    "proc\t/proc\tproc\tdefaults\t0\t0\n"
			    "sysfs\t/sys\tsysfs\tdefaults\t0\t0\n"
			    "devpts\t/dev/pts\tdevpts\tgid=5,mode=620\t0\t0\n");
	run_free(r);
}

static void fstab_absent_is_created(void **state)
{
	struct mem_tree *t = tree_alpine();
	struct run *r;
	const struct fix_action *a;

	tree_remove(t, "/etc/fstab");
	r = plan(t, FIX_RULE_FSTAB);
	a = act(r, "/etc/fstab");
	assert_non_null(a);
	assert_int_equal(a->kind, FIX_CREATE);
	assert_int_equal(a->mode, 0644);
	assert_int_equal(a->uid, 0);
	assert_string_equal(content(r, "/etc/fstab"),
			    "/dev/xvda\t/\text4\terrors=remount-ro\t0\t1\n"
			    "proc\t/proc\tproc\tdefaults\t0\t0\n"
			    "sysfs\t/sys\tsysfs\tdefaults\t0\t0\n"
			    "devpts\t/dev/pts\tdevpts\tgid=5,mode=620\t0\t0\n");
	run_free(r);
}

static void fstab_sd_vdev_is_xvd_on_pvops_and_sd_on_classic(void **state)
{
	static const char *const sd[] = { "sdb" };
	struct run *r = run_new(tree_debian12(), FIX_RULE_BIT(FIX_RULE_FSTAB));
	char dev[32];

	r->prof.disks = sd;
	run_plan(r);
	assert_int_equal(fix_root_device(&r->ctx, dev, sizeof(dev)), 0);
	assert_string_equal(dev, "/dev/xvdb");
	assert_non_null(strstr(content(r, "/etc/fstab"), "/dev/xvdb\t/\t"));
	run_free(r);

	r = run_new(tree_centos5(), FIX_RULE_BIT(FIX_RULE_FSTAB));
	r->prof.disks = sd;
	r->ctx.partitioned = true;
	run_plan(r);
	assert_non_null(strstr(content(r, "/etc/fstab"), "/dev/sdb1\t/\t"));
	run_free(r);
}

static void fstab_second_root_line_is_commented_out(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;

	tree_file(t, "/etc/fstab",
		  "/dev/sda1 / ext3 defaults 0 1\n"
		  "/dev/sdb1 / ext4 defaults 0 1\n");
	r = plan(t, FIX_RULE_FSTAB);
	assert_string_equal(content(r, "/etc/fstab"),
			    "/dev/xvda\t/\text4\tdefaults\t0\t1\n"
			    "#/dev/sdb1 / ext4 defaults 0 1\n"
			    "proc\t/proc\tproc\tdefaults\t0\t0\n"
			    "sysfs\t/sys\tsysfs\tdefaults\t0\t0\n"
			    "devpts\t/dev/pts\tdevpts\tgid=5,mode=620\t0\t0\n");
	run_free(r);
}

/* The fstab rule's marker before a line it disabled. */
#define FSTAB_OFF "# domufs: disabled, a disk the domU does not have:\n#"

/* Each of @lines is in @out as a whole line, disabled or not. */
static void assert_fstab_lines(const char *out, const char *const *lines,
			       bool off)
{
	for (size_t i = 0; lines[i]; i++) {
		char want[256];

		snprintf(want, sizeof(want), "\n%s%s\n", off ? FSTAB_OFF : "",
			 lines[i]);
		if (!strstr(out, want))
			fail_msg("fstab: `%s' not %s:\n%s", lines[i],
				 off ? "disabled" : "kept", out);
	}
}

static void fstab_other_disks_of_the_template_are_disabled(void **state)
{
	static const char *const two[] = { "xvda", "xvdb" };
	static const char *const off[] = {
		"UUID=0a1b-0002 /boot ext2 defaults 0 2",
		"/dev/sda2 none swap sw 0 0",
		"/dev/sda3 /home ext3 defaults 0 2",
		"LABEL=SWAP-sda2 swap swap defaults 0 0",
		"PARTUUID=77-03 /var ext4 defaults 0 2",
		"PARTLABEL=data /data ext4 defaults 0 2",
		"/dev/disk/by-uuid/0a1b-4 /opt ext4 defaults 0 2",
		"/dev/mapper/vg-tmp /tmp ext4 defaults 0 2",
		"/dev/VolGroup00/LogVol01 swap swap defaults 0 0",
		"/dev/md0 /raid ext4 defaults 0 2",
		"/dev/nvme0n1p4 /scratch xfs defaults 0 2",
		"/dev/vdb1 /vm ext4 defaults 0 2",
		"/dev/hda1 /old ext3 defaults 0 2",
		NULL
	};
	static const char *const kept[] = {
		"/dev/hdc /media/cdrom iso9660 ro,user,noauto 0 0",
		"/dev/xvdb /srv ext4 defaults 0 2",
		"/dev/xvda2 none swap sw 0 0",
		"tmpfs /run/shm tmpfs defaults 0 0",
		"server:/export /mnt/nfs nfs defaults 0 0",
		"/srv/www /var/www none bind 0 0",
		"/swapfile none swap sw 0 0",
		NULL
	};
	struct mem_tree *t = tree_debian12();
	char in[2048] = "UUID=0a1b-0001 / ext4 errors=remount-ro 0 1\n";
	struct run *r;
	const char *out;

	for (size_t i = 0; off[i]; i++)
		strcat(strcat(in, off[i]), "\n");
	for (size_t i = 0; kept[i]; i++)
		strcat(strcat(in, kept[i]), "\n");
	tree_file(t, "/etc/fstab", in);
	r = run_new(t, FIX_RULE_BIT(FIX_RULE_FSTAB));
	r->prof.disks = two;
	r->prof.n_disks = 2;
	run_plan(r);
	out = content(r, "/etc/fstab");
	assert_true(
		!strncmp(out, "/dev/xvda\t/\text4\terrors=remount-ro\t", 35));
	assert_fstab_lines(out, off, true);
	assert_fstab_lines(out, kept, false);
	run_free(r);
}

static void fstab_classic_kernel_keeps_the_profiles_sd_disks(void **state)
{
	static const char *const sd[] = { "sda1", "sda2" };
	struct mem_tree *t = tree_centos5();
	struct run *r;

	tree_file(t, "/etc/fstab",
		  "LABEL=/ / ext3 defaults 1 1\n"
		  "/dev/sda2 swap swap defaults 0 0\n"
		  "/dev/sdb1 /data ext3 defaults 1 2\n");
	r = run_new(t, FIX_RULE_BIT(FIX_RULE_FSTAB));
	r->prof.disks = sd;
	r->prof.n_disks = 2;
	run_plan(r);
	assert_true(r->facts.classic_xen_kernel);
	assert_string_equal(content(r, "/etc/fstab"),
			    "/dev/sda1\t/\text4\tdefaults\t1\t1\n"
			    "/dev/sda2 swap swap defaults 0 0\n" FSTAB_OFF
			    "/dev/sdb1 /data ext3 defaults 1 2\n"
			    "proc\t/proc\tproc\tdefaults\t0\t0\n"
			    "sysfs\t/sys\tsysfs\tdefaults\t0\t0\n"
			    "devpts\t/dev/pts\tdevpts\tgid=5,mode=620\t0\t0\n");
	run_free(r);
}

/* ---- console ------------------------------------------------------------- */

static void console_debian4_gets_hvc0_getty_and_ttys_off(void **state)
{
	struct run *r = plan(tree_debian4(), FIX_RULE_CONSOLE);

	assert_kind(r, "/etc/inittab", FIX_EDIT);
	assert_string_equal(content(r, "/etc/inittab"),
			    "id:2:initdefault:\n"
			    "si::sysinit:/etc/init.d/rcS\n"
			    "l2:2:wait:/etc/init.d/rc 2\n"
			    "#1:2345:respawn:/sbin/getty 38400 tty1\n"
			    "#2:23:respawn:/sbin/getty 38400 tty2\n"
			    "#T0:23:respawn:/sbin/getty -L ttyS0 9600 vt100\n"
			    "hvc0:2345:respawn:/sbin/getty -L hvc0 115200 "
			    "vt100\n");
	run_free(r);
}

static void console_centos5_xvc0_uses_agetty_not_mingetty(void **state)
{
	/* no console in the profile: Red Hat's kernel-xen has xvc0 */
	struct run *r = plan(tree_centos5(), FIX_RULE_CONSOLE);

	assert_string_equal(content(r, "/etc/inittab"),
			    "id:3:initdefault:\n"
			    "si::sysinit:/etc/rc.d/rc.sysinit\n"
			    "#1:2345:respawn:/sbin/mingetty tty1\n"
			    "#2:2345:respawn:/sbin/mingetty tty2\n"
			    "xvc0:2345:respawn:/sbin/agetty -L xvc0 115200 "
			    "vt100\n");
	run_free(r);
}

static void console_busybox_inittab_gets_busybox_style_line(void **state)
{
	struct run *r = plan(tree_busybox(), FIX_RULE_CONSOLE);

	assert_string_equal(content(r, "/etc/inittab"),
			    "::sysinit:/etc/init.d/rcS\n"
			    "#tty1::respawn:/sbin/getty 38400 tty1\n"
			    "#tty2::respawn:/sbin/getty 38400 tty2\n"
			    "::ctrlaltdel:/sbin/reboot\n"
			    "::shutdown:/bin/umount -a -r\n"
			    "hvc0::respawn:/bin/getty -L hvc0 115200 vt100\n");
	run_free(r);
}

static void console_alpine_openrc_edits_its_busybox_inittab(void **state)
{
	struct run *r = plan(tree_alpine(), FIX_RULE_CONSOLE);

	assert_string_equal(
		content(r, "/etc/inittab"),
		"::sysinit:/sbin/openrc sysinit\n"
		"::sysinit:/sbin/openrc boot\n"
		"::wait:/sbin/openrc default\n"
		"#tty1::respawn:/sbin/getty 38400 tty1\n"
		"#tty2::respawn:/sbin/getty 38400 tty2\n"
		"#ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100\n"
		"::shutdown:/sbin/openrc shutdown\n"
		"hvc0::respawn:/sbin/getty -L hvc0 115200 vt100\n");
	run_free(r);
}

static void console_existing_hvc0_getty_is_not_doubled(void **state)
{
	struct mem_tree *t = tree_debian4();
	struct run *r;

	tree_file(t, "/etc/inittab",
		  "id:2:initdefault:\n"
		  "co:2345:respawn:/sbin/getty hvc0 9600\n");
	r = plan(t, FIX_RULE_CONSOLE);
	assert_string_equal(content(r, "/etc/inittab"),
			    "id:2:initdefault:\n"
			    "co:2345:respawn:/sbin/getty hvc0 9600\n");
	run_free(r);
}

/* The inittab of @t (taken) after the console rule with @console. */
static void assert_inittab(struct mem_tree *t, const char *in,
			   const char *console, const char *want)
{
	struct run *r;

	tree_file(t, "/etc/inittab", in);
	r = run_new(t, FIX_RULE_BIT(FIX_RULE_CONSOLE));
	r->prof.console = console;
	run_plan(r);
	assert_string_equal(content(r, "/etc/inittab"), want);
	run_free(r);
}

static void console_getty_on_the_other_xen_console_is_disabled(void **state)
{
	static const char hvc0[] =
		"hvc0:2345:respawn:/sbin/getty -L hvc0 115200 vt100\n";
	static const char xvc0[] =
		"xvc0:2345:respawn:/sbin/getty -L xvc0 115200 vt100\n";
	char both[256], want[512];

	/* an overlay copy from when the profile said hvc0 */
	snprintf(want, sizeof(want), "#%s%s", hvc0, xvc0);
	assert_inittab(tree_debian4(), hvc0, "xvc0", want);
	/* both, and the profile back on hvc0 */
	snprintf(both, sizeof(both), "%s%s", hvc0, xvc0);
	snprintf(want, sizeof(want), "%s#%s", hvc0, xvc0);
	assert_inittab(tree_debian4(), both, "hvc0", want);
	/* an HVM guest's serial console leaves both Xen gettys alone */
	snprintf(want, sizeof(want),
		 "%sco:2345:respawn:/sbin/getty -L ttyS0 115200 vt100\n", both);
	assert_inittab(tree_debian4(), both, "ttyS0", want);
	/* busybox style names the device in the id field */
	assert_inittab(tree_busybox(),
		       "::sysinit:/etc/init.d/rcS\nxvc0::askfirst:-/bin/sh\n",
		       NULL,
		       "::sysinit:/etc/init.d/rcS\n#xvc0::askfirst:-/bin/sh\n"
		       "hvc0::respawn:/bin/getty -L hvc0 115200 vt100\n");
}

static void
console_busybox_getty_or_shell_on_the_console_is_disabled(void **state)
{
	/* Buildroot's: in a domU the console is the Xen console */
	assert_inittab(tree_busybox(),
		       "::sysinit:/etc/init.d/rcS\n"
		       "console::respawn:/sbin/getty -L  console 0 vt100\n"
		       "::askfirst:-/bin/sh\n"
		       "::respawn:/sbin/getty -L console 0 vt100\n"
		       "::wait:/etc/init.d/rc.local\n"
		       "::ctrlaltdel:/sbin/reboot\n",
		       NULL,
		       "::sysinit:/etc/init.d/rcS\n"
		       "#console::respawn:/sbin/getty -L  console 0 vt100\n"
		       "#::askfirst:-/bin/sh\n"
		       "#::respawn:/sbin/getty -L console 0 vt100\n"
		       "::wait:/etc/init.d/rc.local\n"
		       "::ctrlaltdel:/sbin/reboot\n"
		       "hvc0::respawn:/bin/getty -L hvc0 115200 vt100\n");
	/* sysvinit: a getty on /dev/console too */
	assert_inittab(tree_debian4(),
		       "co:2345:respawn:/sbin/getty 38400 console\n", NULL,
		       "#co:2345:respawn:/sbin/getty 38400 console\n"
		       "hvc0:2345:respawn:/sbin/getty -L hvc0 115200 vt100\n");
}

static void console_busybox_without_inittab_gets_one(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;

	/* busybox init then runs its built-in one: root shells, no login */
	tree_remove(t, "/etc/inittab");
	r = plan(t, FIX_RULE_CONSOLE);
	assert_kind(r, "/etc/inittab", FIX_CREATE);
	assert_string_equal(
		content(r, "/etc/inittab"),
		"# domufs: busybox init's built-in defaults (there was no "
		"inittab),\n"
		"# a getty on the Xen console in place of shells on the "
		"terminals\n"
		"::sysinit:/etc/init.d/rcS\n"
		"::ctrlaltdel:/sbin/reboot\n"
		"::shutdown:/sbin/swapoff -a\n"
		"::shutdown:/bin/umount -a -r\n"
		"::restart:/sbin/init\n"
		"hvc0::respawn:/bin/getty -L hvc0 115200 vt100\n");
	run_free(r);
}

static void console_debian12_enables_serial_getty_by_symlink(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_CONSOLE);
	const struct fix_action *a =
		act(r, "/etc/systemd/system/getty.target.wants/"
		       "serial-getty@hvc0.service");

	assert_non_null(a);
	assert_int_equal(a->kind, FIX_SYMLINK);
	assert_string_equal(a->target,
			    "/lib/systemd/system/serial-getty@.service");
	assert_string_equal(a->rule, "console");
	/* its missing parents are made */
	assert_kind(r, "/etc/systemd", FIX_MKDIR);
	assert_kind(r, "/etc/systemd/system", FIX_MKDIR);
	assert_kind(r, "/etc/systemd/system/getty.target.wants", FIX_MKDIR);
	assert_int_equal(act(r, "/etc/systemd/system")->mode, 0755);
	assert_no_action(r, "/etc/inittab");
	run_free(r);
}

static void console_hvm_serial_ttys0_everywhere(void **state)
{
	/* an HVM profile: the console is the emulated serial port */
	struct run *r =
		run_new(tree_busybox(), FIX_RULE_BIT(FIX_RULE_CONSOLE) |
						FIX_RULE_BIT(FIX_RULE_DIRS));
	const struct fix_action *a;

	r->prof.console = "ttyS0";
	run_plan(r);
	assert_string_equal(
		content(r, "/etc/inittab"),
		"::sysinit:/etc/init.d/rcS\n"
		"#tty1::respawn:/sbin/getty 38400 tty1\n"
		"#tty2::respawn:/sbin/getty 38400 tty2\n"
		"::ctrlaltdel:/sbin/reboot\n"
		"::shutdown:/bin/umount -a -r\n"
		"ttyS0::respawn:/bin/getty -L ttyS0 115200 vt100\n");
	a = act(r, "/dev/ttyS0");
	assert_non_null(a);
	assert_int_equal(a->kind, FIX_MKNOD);
	assert_int_equal(a->mode, S_IFCHR | 0660);
	assert_int_equal(major(a->rdev), 4);
	assert_int_equal(minor(a->rdev), 64);
	assert_no_action(r, "/dev/hvc0");
	run_free(r);

	r = run_new(tree_debian12(), FIX_RULE_BIT(FIX_RULE_CONSOLE));
	r->prof.console = "ttyS0";
	run_plan(r);
	assert_kind(r,
		    "/etc/systemd/system/getty.target.wants/"
		    "serial-getty@ttyS0.service",
		    FIX_SYMLINK);
	assert_no_action(r, "/etc/systemd/system/getty.target.wants/"
			    "serial-getty@hvc0.service");
	run_free(r);
}

static void console_centos7_links_to_usr_lib(void **state)
{
	struct run *r = run_new(tree_centos7(), FIX_RULE_BIT(FIX_RULE_CONSOLE));
	const struct fix_action *a;

	r->prof.console = "xvc0";
	run_plan(r);
	a = act(r, "/etc/systemd/system/getty.target.wants/"
		   "serial-getty@xvc0.service");
	assert_non_null(a);
	assert_string_equal(a->target,
			    "/usr/lib/systemd/system/serial-getty@.service");
	run_free(r);
}

static void console_ubuntu14_gets_an_upstart_job(void **state)
{
	struct run *r = plan(tree_ubuntu14(), FIX_RULE_CONSOLE);

	assert_kind(r, "/etc/init/hvc0.conf", FIX_CREATE);
	assert_string_equal(content(r, "/etc/init/hvc0.conf"),
			    "# hvc0 - getty on the Xen console (written by "
			    "domufs)\n"
			    "\n"
			    "start on stopped rc RUNLEVEL=[2345]\n"
			    "stop on runlevel [!2345]\n"
			    "\n"
			    "respawn\n"
			    "exec /sbin/getty -L hvc0 115200 vt100\n");
	run_free(r);
}

static void console_centos6_leaves_it_to_serial_conf(void **state)
{
	struct run *r = plan(tree_centos6(), FIX_RULE_CONSOLE);

	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
}

/* ---- securetty ----------------------------------------------------------- */

static void securetty_gets_the_console_appended(void **state)
{
	struct run *r = plan(tree_debian4(), FIX_RULE_SECURETTY);

	assert_string_equal(content(r, "/etc/securetty"),
			    "console\ntty1\ntty2\nhvc0\n");
	run_free(r);

	r = run_new(tree_centos5(), FIX_RULE_BIT(FIX_RULE_SECURETTY));
	r->prof.console = "xvc0";
	run_plan(r);
	assert_string_equal(content(r, "/etc/securetty"),
			    "console\nvc/1\ntty1\nxvc0\n");
	run_free(r);
}

static void securetty_is_not_created_where_absent(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_SECURETTY);

	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
}

static void securetty_without_final_newline_is_mended(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;

	tree_file(t, "/etc/securetty", "console");
	r = plan(t, FIX_RULE_SECURETTY);
	assert_string_equal(content(r, "/etc/securetty"), "console\nhvc0\n");
	run_free(r);
}

/* ---- modules ------------------------------------------------------------- */

static void modules_centos5_rewrites_modprobe_conf_aliases(void **state)
{
	struct run *r = plan(tree_centos5(), FIX_RULE_MODULES);

	assert_string_equal(content(r, "/etc/modprobe.conf"),
			    "alias eth0 xennet\n"
			    "alias scsi_hostadapter xenblk\n");
	assert_no_action(r, "/etc/modprobe.d/domufs-xen.conf");
	run_free(r);
}

static void modules_debian12_modprobe_d_and_initramfs_tools(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_MODULES);

	assert_kind(r, "/etc/modprobe.d/domufs-xen.conf", FIX_CREATE);
	assert_string_equal(content(r, "/etc/modprobe.d/domufs-xen.conf"),
			    "# Xen paravirtual drivers (domufs)\n"
			    "alias scsi_hostadapter xenblk\n"
			    "alias eth0 xennet\n");
	assert_string_equal(content(r, "/etc/initramfs-tools/modules"),
			    "# List of modules that you want to include in "
			    "your initramfs.\n"
			    "xen-blkfront\n"
			    "xen-netfront\n");
	run_free(r);
}

static void modules_without_pygrub_leave_the_initramfs(void **state)
{
	struct run *r =
		run_new(tree_debian12(), FIX_RULE_BIT(FIX_RULE_MODULES));

	r->prof.pygrub = false;
	run_plan(r);
	assert_no_action(r, "/etc/initramfs-tools/modules");
	assert_non_null(act(r, "/etc/modprobe.d/domufs-xen.conf"));
	run_free(r);
}

static void modules_centos6_and_7_get_a_dracut_conf(void **state)
{
	static const char want[] =
		"# Xen paravirtual drivers in the initramfs (domufs)\n"
		"add_drivers+=\" xen-blkfront xen-netfront \"\n";
	struct run *r = plan(tree_centos6(), FIX_RULE_MODULES);

	assert_string_equal(content(r, "/etc/dracut.conf.d/domufs-xen.conf"),
			    want);
	assert_kind(r, "/etc/dracut.conf.d", FIX_MKDIR);
	assert_non_null(act(r, "/etc/modprobe.d/domufs-xen.conf"));
	run_free(r);
	r = plan(tree_centos7(), FIX_RULE_MODULES);
	assert_string_equal(content(r, "/etc/dracut.conf.d/domufs-xen.conf"),
			    want);
	run_free(r);
}

static void modules_alpine_gets_a_mkinitfs_feature(void **state)
{
	struct mem_tree *t = tree_alpine();
	struct run *r;
	char *out = NULL;
	size_t len;

	tree_file(t, "/etc/mkinitfs/mkinitfs.conf",
		  "features=\"ata base ide scsi usb virtio ext4\"\n");
	tree_dir(t, "/etc/mkinitfs/features.d");
	r = plan(t, FIX_RULE_MODULES);
	assert_kind(r, "/etc/mkinitfs/features.d/xen.modules", FIX_CREATE);
	assert_string_equal(content(r, "/etc/mkinitfs/features.d/xen.modules"),
			    "kernel/drivers/block/xen-blkfront.ko*\n"
			    "kernel/drivers/net/xen-netfront.ko*\n");
	assert_string_equal(content(r, "/etc/mkinitfs/mkinitfs.conf"),
			    "features=\"ata base ide scsi usb virtio ext4 "
			    "xen\"\n");
	/* idempotent, and other lines and quoting kept */
	assert_int_equal(
		fix_edit(&r->ctx, act(r, "/etc/mkinitfs/mkinitfs.conf"),
			 "# x\nfeatures='base xen ext4'\nkernel_opts=\n", 42,
			 &out, &len),
		0);
	assert_string_equal(out,
			    "# x\nfeatures='base xen ext4'\nkernel_opts=\n");
	free(out);
	assert_int_equal(fix_edit(&r->ctx,
				  act(r, "/etc/mkinitfs/mkinitfs.conf"),
				  "features=\"\"\n", 12, &out, &len),
			 0);
	assert_string_equal(out, "features=\"xen\"\n");
	free(out);
	run_free(r);
}

static void modules_busybox_without_modules_does_nothing(void **state)
{
	struct run *r = plan(tree_busybox(), FIX_RULE_MODULES);

	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
}

static void modules_list_keeps_existing_entries_once(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct run *r;

	tree_file(t, "/etc/initramfs-tools/modules",
		  "xen-netfront\nloop\n# xen-blkfront\n");
	r = plan(t, FIX_RULE_MODULES);
	assert_string_equal(content(r, "/etc/initramfs-tools/modules"),
			    "xen-netfront\nloop\n# xen-blkfront\n"
			    "xen-blkfront\n");
	run_free(r);
}

/* ---- udev ---------------------------------------------------------------- */

static void udev_debian4_hides_z25_rules_and_z45_generator(void **state)
{
	struct run *r = plan(tree_debian4(), FIX_RULE_UDEV);

	assert_kind(r, "/etc/udev/rules.d/z25_persistent-net.rules", FIX_HIDE);
	assert_kind(r, "/etc/udev/rules.d/z45_persistent-net-generator.rules",
		    FIX_HIDE);
	assert_int_equal(fix_set_count(r->set), 2);
	run_free(r);
}

static void udev_ubuntu14_masks_the_lib_generator(void **state)
{
	struct run *r = plan(tree_ubuntu14(), FIX_RULE_UDEV);

	assert_kind(r, "/etc/udev/rules.d/70-persistent-net.rules", FIX_HIDE);
	assert_kind(r, "/etc/udev/rules.d/75-persistent-net-generator.rules",
		    FIX_CREATE);
	assert_string_equal(
		content(r,
			"/etc/udev/rules.d/75-persistent-net-generator.rules"),
		"");
	run_free(r);
}

static void udev_two_nics_keep_the_generator(void **state)
{
	struct run *r = run_new(tree_centos6(), FIX_RULE_BIT(FIX_RULE_UDEV));

	r->prof.nics = nic2;
	r->prof.n_nics = 2;
	run_plan(r);
	assert_kind(r, "/etc/udev/rules.d/70-persistent-net.rules", FIX_HIDE);
	assert_int_equal(fix_set_count(r->set), 1);
	run_free(r);
}

static void udev_modern_systems_have_nothing_to_hide(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_UDEV);

	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
}

/* ---- dirs ---------------------------------------------------------------- */

static void dirs_busybox_gets_static_xvd_and_hvc0_nodes(void **state)
{
	struct run *r = run_new(tree_busybox(), FIX_RULE_BIT(FIX_RULE_DIRS));
	const struct fix_action *a;

	r->ctx.partitioned = true;
	run_plan(r);
	a = act(r, "/dev/xvda");
	assert_non_null(a);
	assert_int_equal(a->kind, FIX_MKNOD);
	assert_int_equal(a->mode, S_IFBLK | 0660);
	assert_int_equal(major(a->rdev), 202);
	assert_int_equal(minor(a->rdev), 0);
	assert_int_equal(a->gid, 6); /* no "disk" group: Debian's number */
	a = act(r, "/dev/xvda1");
	assert_non_null(a);
	assert_int_equal(minor(a->rdev), 1);
	a = act(r, "/dev/hvc0");
	assert_non_null(a);
	assert_int_equal(a->mode, S_IFCHR | 0620);
	assert_int_equal(major(a->rdev), 229);
	assert_kind(r, "/dev/pts", FIX_MKDIR);
	assert_kind(r, "/dev/console", FIX_MKNOD);
	assert_kind(r, "/dev/null", FIX_MKNOD);
	assert_kind(r, "/run", FIX_MKDIR);
	assert_no_action(r, "/proc"); /* exists */
	run_free(r);
}

static void dirs_missing_proc_sys_tmp_are_made(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;

	tree_remove(t, "/proc");
	tree_remove(t, "/sys");
	tree_remove(t, "/tmp");
	r = plan(t, FIX_RULE_DIRS);
	assert_kind(r, "/proc", FIX_MKDIR);
	assert_int_equal(act(r, "/proc")->mode, 0555);
	assert_int_equal(act(r, "/sys")->mode, 0555);
	assert_int_equal(act(r, "/tmp")->mode, 01777);
	run_free(r);
}

static void dirs_with_udev_make_no_nodes(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_DIRS);

	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
	r = plan(tree_centos5(), FIX_RULE_DIRS);
	assert_no_action(r, "/dev/xvda");
	run_free(r);
}

static void dirs_every_profile_disk_gets_its_node(void **state)
{
	static const char *const two[] = { "xvda", "xvdb2" };
	struct run *r = run_new(tree_alpine(), FIX_RULE_BIT(FIX_RULE_DIRS));

	r->prof.disks = two;
	r->prof.n_disks = 2;
	r->prof.console = "xvc0";
	run_plan(r);
	assert_int_equal(minor(act(r, "/dev/xvdb2")->rdev), 18);
	assert_int_equal(major(act(r, "/dev/xvc0")->rdev), 204);
	assert_int_equal(minor(act(r, "/dev/xvc0")->rdev), 191);
	assert_int_equal(act(r, "/dev/xvc0")->gid, 5);
	assert_no_action(r, "/dev/xvda1");
	run_free(r);
}

/* ---- identity ------------------------------------------------------------ */

static void identity_debian12_hostname_hosts_machine_id_keys(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_IDENTITY);
	const struct fix_action *a;

	assert_string_equal(content(r, "/etc/hostname"), "banquo\n");
	assert_string_equal(content(r, "/etc/hosts"),
			    "127.0.0.1\tlocalhost\n"
			    "127.0.1.1\tbanquo\n"
			    "\n"
			    "::1     localhost ip6-localhost ip6-loopback\n");
	assert_kind(r, "/etc/machine-id", FIX_EDIT);
	assert_string_equal(content(r, "/etc/machine-id"), "");
	/* a symlink to /etc/machine-id: nothing to hide */
	assert_no_action(r, "/var/lib/dbus/machine-id");
	assert_kind(r, "/etc/ssh/ssh_host_ed25519_key", FIX_HIDE);
	assert_kind(r, "/etc/ssh/ssh_host_ed25519_key.pub", FIX_HIDE);
	assert_kind(r, "/etc/ssh/ssh_host_rsa_key", FIX_HIDE);
	assert_no_action(r, "/etc/ssh/sshd_config");
	a = act(r, "/etc/systemd/system/ssh.service.d/domufs-hostkeys.conf");
	assert_non_null(a);
	assert_string_equal(
		content(r,
			"/etc/systemd/system/ssh.service.d/domufs-hostkeys.conf"),
		"# domufs: make the SSH host keys the template does not carry\n"
		"[Service]\n"
		"ExecStartPre=\n"
		"ExecStartPre=-/usr/bin/ssh-keygen -A\n"
		"ExecStartPre=/usr/sbin/sshd -t\n");
	run_free(r);
}

static void identity_debian4_regenerates_keys_from_default_ssh(void **state)
{
	struct run *r = plan(tree_debian4(), FIX_RULE_IDENTITY);

	assert_string_equal(
		content(r, "/etc/default/ssh"),
		"SSHD_OPTS=\n"
		"# domufs: make the SSH host keys the template does not carry\n"
		"for t in dsa rsa; do [ -f /etc/ssh/ssh_host_${t}_key ] || "
		"ssh-keygen -q -N '' -t $t -f /etc/ssh/ssh_host_${t}_key "
		">/dev/null 2>&1; done\n");
	assert_string_equal(content(r, "/etc/hosts"),
			    "127.0.0.1 localhost\n127.0.1.1\tbanquo\n");
	run_free(r);
}

static void identity_ubuntu14_regenerates_keys_by_upstart_task(void **state)
{
	struct run *r = plan(tree_ubuntu14(), FIX_RULE_IDENTITY);

	assert_string_equal(
		content(r, "/etc/init/domufs-ssh-keygen.conf"),
		"# domufs: make the SSH host keys the template does not carry\n"
		"start on starting ssh\n"
		"task\n"
		"script\n"
		"\tfor t in ed25519 rsa; do [ -f /etc/ssh/ssh_host_${t}_key ] "
		"|| ssh-keygen -q -N '' -t $t -f /etc/ssh/ssh_host_${t}_key "
		">/dev/null 2>&1; done\n"
		"end script\n");
	/* no 127.0.1.1 line yet: it goes after 127.0.0.1 */
	assert_string_equal(content(r, "/etc/hosts"),
			    "127.0.0.1 localhost\n127.0.1.1\tbanquo\n");
	run_free(r);
}

static void identity_centos5_sets_hostname_in_sysconfig(void **state)
{
	struct run *r =
		run_new(tree_centos5(), FIX_RULE_BIT(FIX_RULE_IDENTITY));

	r->prof.hostname = "banquo.example.org";
	run_plan(r);
	assert_string_equal(content(r, "/etc/sysconfig/network"),
			    "NETWORKING=yes\nHOSTNAME=banquo.example.org\n");
	assert_no_action(r, "/etc/hostname");
	assert_string_equal(content(r, "/etc/hosts"),
			    "127.0.0.1\tlocalhost.localdomain localhost\n"
			    "127.0.1.1\tbanquo.example.org banquo\n");
	/* RHEL's sshd init script makes its own keys */
	assert_kind(r, "/etc/ssh/ssh_host_rsa_key", FIX_HIDE);
	assert_no_action(r, "/etc/default/ssh");
	run_free(r);
}

static void identity_centos7_alpine_busybox_write_etc_hostname(void **state)
{
	struct mem_tree *trees[] = { tree_centos7(), tree_alpine(),
				     tree_busybox() };

	for (size_t i = 0; i < 3; i++) {
		struct run *r = plan(trees[i], FIX_RULE_IDENTITY);

		assert_string_equal(content(r, "/etc/hostname"), "banquo\n");
		assert_non_null(strstr(content(r, "/etc/hosts"),
				       "127.0.1.1\tbanquo\n"));
		run_free(r);
	}
}

static void identity_hosts_is_created_when_absent(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;

	tree_remove(t, "/etc/hosts");
	r = plan(t, FIX_RULE_IDENTITY);
	assert_string_equal(content(r, "/etc/hosts"),
			    "127.0.0.1\tlocalhost\n127.0.1.1\tbanquo\n"
			    "::1\tlocalhost ip6-localhost ip6-loopback\n");
	run_free(r);
}

static void identity_regular_dbus_machine_id_is_hidden(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct run *r;

	tree_file(t, "/var/lib/dbus/machine-id", "0123\n");
	r = plan(t, FIX_RULE_IDENTITY);
	assert_kind(r, "/var/lib/dbus/machine-id", FIX_HIDE);
	run_free(r);
}

/* ---- network ------------------------------------------------------------- */

static void network_debian12_configures_enx0_not_eth0(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_NETWORK);

	assert_string_equal(content(r, "/etc/network/interfaces"),
			    "source /etc/network/interfaces.d/*\n"
			    "\n"
			    "auto lo\n"
			    "iface lo inet loopback\n"
			    "\n"
			    "# domufs: vif 0, 00:16:3e:12:34:56\n"
			    "allow-hotplug enX0\n"
			    "iface enX0 inet static\n"
			    "\taddress 192.0.2.10\n"
			    "\tnetmask 255.255.255.0\n"
			    "\tgateway 192.0.2.1\n"
			    "\tdns-nameservers 192.0.2.53\n");
	assert_string_equal(content(r, "/etc/resolv.conf"),
			    "nameserver 192.0.2.53\n");
	run_free(r);
}

static void network_net_ifnames_0_keeps_eth0(void **state)
{
	struct run *r =
		run_new(tree_debian12(), FIX_RULE_BIT(FIX_RULE_NETWORK));
	char name[16];

	r->prof.extra = "quiet net.ifnames=0";
	run_plan(r);
	fix_nic_name(&r->ctx, 0, name);
	assert_string_equal(name, "eth0");
	assert_non_null(strstr(content(r, "/etc/network/interfaces"),
			       "allow-hotplug eth0\niface eth0 inet static\n"));
	run_free(r);
}

static void network_debian4_allow_hotplug_eth0_static(void **state)
{
	struct run *r = plan(tree_debian4(), FIX_RULE_NETWORK);

	assert_string_equal(content(r, "/etc/network/interfaces"),
			    "auto lo\n"
			    "iface lo inet loopback\n"
			    "\n"
			    "# domufs: vif 0, 00:16:3e:12:34:56\n"
			    "allow-hotplug eth0\n"
			    "iface eth0 inet static\n"
			    "\taddress 192.0.2.10\n"
			    "\tnetmask 255.255.255.0\n"
			    "\tgateway 192.0.2.1\n"
			    "\tdns-nameservers 192.0.2.53\n");
	assert_kind(r, "/etc/resolv.conf", FIX_CREATE);
	run_free(r);
}

static void network_busybox_and_alpine_use_auto(void **state)
{
	struct mem_tree *trees[] = { tree_busybox(), tree_alpine() };

	for (size_t i = 0; i < 2; i++) {
		struct run *r = plan(trees[i], FIX_RULE_NETWORK);

		assert_string_equal(content(r, "/etc/network/interfaces"),
				    "auto lo\n"
				    "iface lo inet loopback\n"
				    "\n"
				    "# domufs: vif 0, 00:16:3e:12:34:56\n"
				    "auto eth0\n"
				    "iface eth0 inet static\n"
				    "\taddress 192.0.2.10\n"
				    "\tnetmask 255.255.255.0\n"
				    "\tgateway 192.0.2.1\n"
				    "\tdns-nameservers 192.0.2.53\n");
		run_free(r);
	}
}

static void network_two_vifs_dhcp_on_the_second(void **state)
{
	struct run *r =
		run_new(tree_debian12(), FIX_RULE_BIT(FIX_RULE_NETWORK));
	const char *c;

	r->prof.nics = nic2;
	r->prof.n_nics = 2;
	run_plan(r);
	c = content(r, "/etc/network/interfaces");
	assert_non_null(strstr(c, "\n\n# domufs: vif 1, 00:16:3e:12:34:57\n"
				  "allow-hotplug enX1\n"
				  "iface enX1 inet dhcp\n"));
	assert_null(strstr(c, "eth0"));
	run_free(r);
}

static size_t count_of(const char *s, const char *needle);

static void network_gateway_goes_on_the_vif_of_its_subnet(void **state)
{
	static const struct fix_nic nics[] = {
		{ "00:16:3e:12:34:56", NULL, 0 }, /* DHCP */
		{ "00:16:3e:12:34:57", "198.51.100.7", 24 },
		{ "00:16:3e:12:34:58", "192.0.2.10", 24 },
	};
	struct run *r =
		run_new(tree_debian12(), FIX_RULE_BIT(FIX_RULE_NETWORK));
	const char *c;

	r->prof.nics = nics;
	r->prof.n_nics = 3;
	run_plan(r);
	c = content(r, "/etc/network/interfaces");
	assert_non_null(strstr(c, "iface enX0 inet dhcp\n"));
	/* not on the first static vif: on the one that reaches 192.0.2.1 */
	assert_non_null(strstr(c, "iface enX2 inet static\n"
				  "\taddress 192.0.2.10\n"
				  "\tnetmask 255.255.255.0\n"
				  "\tgateway 192.0.2.1\n"
				  "\tdns-nameservers 192.0.2.53\n"));
	assert_int_equal(count_of(c, "gateway"), 1);
	assert_int_equal(count_of(c, "dns-nameservers"), 1);
	run_free(r);
}

static void network_interfaces_keep_foreign_stanzas(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct run *r;

	tree_file(t, "/etc/network/interfaces",
		  "auto lo br0 eth0\n"
		  "iface lo inet loopback\n"
		  "# the bridge\n"
		  "iface br0 inet manual\n"
		  "\tbridge_ports none\n"
		  "iface eth0 inet static\n"
		  "\taddress 10.0.0.2\n"
		  "# trailing comment\n");
	r = plan(t, FIX_RULE_NETWORK);
	assert_string_equal(content(r, "/etc/network/interfaces"),
			    "auto lo br0\n"
			    "iface lo inet loopback\n"
			    "# the bridge\n"
			    "iface br0 inet manual\n"
			    "\tbridge_ports none\n"
			    "# trailing comment\n"
			    "\n"
			    "# domufs: vif 0, 00:16:3e:12:34:56\n"
			    "allow-hotplug enX0\n"
			    "iface enX0 inet static\n"
			    "\taddress 192.0.2.10\n"
			    "\tnetmask 255.255.255.0\n"
			    "\tgateway 192.0.2.1\n"
			    "\tdns-nameservers 192.0.2.53\n");
	run_free(r);
}

static void network_interfaces_without_lo_get_it_after_comments(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct run *r;

	/* mmdebstrap's file */
	tree_file(t, "/etc/network/interfaces",
		  "# interfaces(5) file used by ifup(8) and ifdown(8)\n"
		  "source /etc/network/interfaces.d/*\n");
	r = run_new(t, FIX_RULE_BIT(FIX_RULE_NETWORK));
	r->prof.nics = nic2 + 1; /* DHCP, no nameservers */
	r->prof.n_nameservers = 0;
	run_plan(r);
	assert_string_equal(content(r, "/etc/network/interfaces"),
			    "# interfaces(5) file used by ifup(8) and "
			    "ifdown(8)\n"
			    "source /etc/network/interfaces.d/*\n"
			    "\n"
			    "auto lo\n"
			    "iface lo inet loopback\n"
			    "\n"
			    "# domufs: vif 0, 00:16:3e:12:34:57\n"
			    "allow-hotplug enX0\n"
			    "iface enX0 inet dhcp\n");
	assert_no_action(r, "/etc/resolv.conf");
	run_free(r);
	t = tree_busybox();
	tree_remove(t, "/etc/network/interfaces");
	r = plan(t, FIX_RULE_NETWORK);
	assert_kind(r, "/etc/network/interfaces", FIX_CREATE);
	assert_string_equal(content(r, "/etc/network/interfaces"),
			    "auto lo\n"
			    "iface lo inet loopback\n"
			    "\n"
			    "# domufs: vif 0, 00:16:3e:12:34:56\n"
			    "auto eth0\n"
			    "iface eth0 inet static\n"
			    "\taddress 192.0.2.10\n"
			    "\tnetmask 255.255.255.0\n"
			    "\tgateway 192.0.2.1\n"
			    "\tdns-nameservers 192.0.2.53\n");
	run_free(r);
}

static void network_centos5_ifcfg_gets_the_profile_mac(void **state)
{
	struct run *r = plan(tree_centos5(), FIX_RULE_NETWORK);

	assert_string_equal(
		content(r, "/etc/sysconfig/network-scripts/ifcfg-eth0"),
		"DEVICE=eth0\n"
		"BOOTPROTO=none\n"
		"HWADDR=00:16:3e:12:34:56\n"
		"ONBOOT=yes\n"
		"TYPE=Ethernet\n"
		"IPADDR=192.0.2.10\n"
		"NETMASK=255.255.255.0\n"
		"GATEWAY=192.0.2.1\n"
		"DNS1=192.0.2.53\n");
	run_free(r);
}

static void assert_stale_hide(struct run *r, const char *path, bool stale)
{
	assert_kind(r, path, FIX_HIDE);
	assert_int_equal(act(r, path)->stale, stale);
}

static void network_ifcfg_we_wrote_for_a_vif_now_gone_is_hidden(void **state)
{
	struct mem_tree *t = tree_centos5();
	struct run *r;

	/* written by an earlier profile's fixups: two vifs then, one now */
	tree_file(t, "/etc/sysconfig/network-scripts/ifcfg-eth1",
		  "# Xen vif 1 (written by domufs)\n"
		  "DEVICE=eth1\nBOOTPROTO=dhcp\nONBOOT=yes\n");
	tree_file(t, "/etc/sysconfig/network-scripts/ifcfg-eth2",
		  "# the admin's own\nDEVICE=eth2\nONBOOT=yes\n");
	r = plan(t, FIX_RULE_NETWORK);
	assert_stale_hide(r, "/etc/sysconfig/network-scripts/ifcfg-eth1", true);
	assert_no_action(r, "/etc/sysconfig/network-scripts/ifcfg-eth2");
	assert_kind(r, "/etc/sysconfig/network-scripts/ifcfg-eth0", FIX_EDIT);
	run_free(r);

	/* the profile has both vifs again: it is ours to edit */
	t = tree_centos5();
	tree_file(t, "/etc/sysconfig/network-scripts/ifcfg-eth1",
		  "# Xen vif 1 (written by domufs)\n"
		  "DEVICE=eth1\nBOOTPROTO=dhcp\nONBOOT=yes\n");
	r = run_new(t, FIX_RULE_BIT(FIX_RULE_NETWORK));
	r->prof.nics = nic2;
	r->prof.n_nics = 2;
	run_plan(r);
	assert_kind(r, "/etc/sysconfig/network-scripts/ifcfg-eth1", FIX_EDIT);
	run_free(r);

	/* the udev rule's hides keep the overlay's copy: not stale */
	r = plan(tree_debian4(), FIX_RULE_UDEV);
	assert_stale_hide(r, "/etc/udev/rules.d/z25_persistent-net.rules",
			  false);
	run_free(r);
}

static void
network_networkd_file_we_wrote_for_a_vif_now_gone_is_hidden(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct run *r;

	tree_remove(t, "/usr/sbin/ifup");
	tree_remove(t, "/etc/network/interfaces");
	tree_file(t, "/etc/systemd/network/10-domufs-vif1.network",
		  "# domufs: vif 1\n[Match]\nName=enX1\n\n"
		  "[Network]\nDHCP=yes\n");
	tree_file(t, "/etc/systemd/network/10-domufs-vif9.network",
		  "[Match]\nName=enX9\n");
	r = plan(t, FIX_RULE_NETWORK);
	assert_kind(r, "/etc/systemd/network/10-domufs-vif0.network",
		    FIX_CREATE);
	assert_stale_hide(r, "/etc/systemd/network/10-domufs-vif1.network",
			  true);
	assert_no_action(r, "/etc/systemd/network/10-domufs-vif9.network");
	run_free(r);
}

static void network_centos7_ifcfg_drops_template_uuid(void **state)
{
	struct run *r = run_new(tree_centos7(), FIX_RULE_BIT(FIX_RULE_NETWORK));

	r->prof.nics = nic2 + 1; /* DHCP */
	run_plan(r);
	assert_string_equal(
		content(r, "/etc/sysconfig/network-scripts/ifcfg-eth0"),
		"TYPE=Ethernet\n"
		"BOOTPROTO=dhcp\n"
		"NAME=eth0\n"
		"DEVICE=eth0\n"
		"ONBOOT=yes\n"
		"HWADDR=00:16:3e:12:34:57\n");
	run_free(r);
}

static void network_rocky9_creates_ifcfg_enx0(void **state)
{
	struct mem_tree *t = tree_centos7();
	struct run *r;

	tree_remove(t, "/etc/redhat-release");
	tree_file(t, "/etc/os-release",
		  "ID=rocky\nID_LIKE=\"rhel fedora\"\n"
		  "VERSION_ID=9.3\n");
	r = plan(t, FIX_RULE_NETWORK);
	assert_kind(r, "/etc/sysconfig/network-scripts/ifcfg-enX0", FIX_CREATE);
	assert_string_equal(
		content(r, "/etc/sysconfig/network-scripts/ifcfg-enX0"),
		"# Xen vif 0 (written by domufs)\n"
		"DEVICE=enX0\n"
		"TYPE=Ethernet\n"
		"ONBOOT=yes\n"
		"HWADDR=00:16:3e:12:34:56\n"
		"BOOTPROTO=none\n"
		"IPADDR=192.0.2.10\n"
		"NETMASK=255.255.255.0\n"
		"GATEWAY=192.0.2.1\n"
		"DNS1=192.0.2.53\n");
	run_free(r);
}

static void network_networkd_matches_by_mac_and_is_enabled(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct run *r;
	const struct fix_action *a;

	tree_remove(t, "/usr/sbin/ifup");
	tree_remove(t, "/etc/network/interfaces");
	tree_file(t, "/usr/lib/systemd/system/systemd-networkd.service", "");
	tree_file(t, "/usr/lib/systemd/system/systemd-networkd.socket", "");
	r = plan(t, FIX_RULE_NETWORK);
	assert_string_equal(
		content(r, "/etc/systemd/network/10-domufs-vif0.network"),
		"# domufs: vif 0\n"
		"[Match]\n"
		"MACAddress=00:16:3e:12:34:56\n"
		"\n"
		"[Network]\n"
		"Address=192.0.2.10/24\n"
		"Gateway=192.0.2.1\n"
		"DNS=192.0.2.53\n");
	a = act(r, "/etc/systemd/system/multi-user.target.wants/"
		   "systemd-networkd.service");
	assert_non_null(a);
	assert_int_equal(a->kind, FIX_SYMLINK);
	assert_string_equal(a->target,
			    "/lib/systemd/system/systemd-networkd.service");
	a = act(r, "/etc/systemd/system/sockets.target.wants/"
		   "systemd-networkd.socket");
	assert_non_null(a);
	assert_string_equal(a->target,
			    "/lib/systemd/system/systemd-networkd.socket");
	run_free(r);
}

static void network_ubuntu22_writes_a_private_netplan_file(void **state)
{
	struct run *r =
		run_new(tree_ubuntu22(), FIX_RULE_BIT(FIX_RULE_NETWORK));
	const struct fix_action *a;

	r->prof.n_nameservers = 2;
	run_plan(r);
	a = act(r, "/etc/netplan/90-domufs.yaml");
	assert_non_null(a);
	assert_int_equal(a->kind, FIX_CREATE);
	assert_int_equal(a->mode, 0600);
	assert_string_equal(content(r, "/etc/netplan/90-domufs.yaml"),
			    "# domufs: the domain's vifs\n"
			    "network:\n"
			    "  version: 2\n"
			    "  ethernets:\n"
			    "    vif0:\n"
			    "      match:\n"
			    "        macaddress: \"00:16:3e:12:34:56\"\n"
			    "      dhcp4: false\n"
			    "      addresses: [ \"192.0.2.10/24\" ]\n"
			    "      routes:\n"
			    "        - to: 0.0.0.0/0\n"
			    "          via: 192.0.2.1\n"
			    "      nameservers:\n"
			    "        addresses: [ \"192.0.2.53\", "
			    "\"192.0.2.54\" ]\n");
	/* resolv.conf is systemd-resolved's symlink: left alone */
	assert_no_action(r, "/etc/resolv.conf");
	run_free(r);
}

static void network_resolv_conf_keeps_search_and_options(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct run *r;

	tree_file(t, "/etc/resolv.conf",
		  "search example.org\n"
		  "nameserver 10.0.0.1\n"
		  "options edns0\n"
		  "nameserver 10.0.0.2\n");
	r = run_new(t, FIX_RULE_BIT(FIX_RULE_NETWORK));
	r->prof.n_nameservers = 2;
	run_plan(r);
	assert_string_equal(content(r, "/etc/resolv.conf"),
			    "search example.org\n"
			    "options edns0\n"
			    "nameserver 192.0.2.53\n"
			    "nameserver 192.0.2.54\n");
	run_free(r);
}

/* ---- accounts ------------------------------------------------------------ */

static void accounts_shadow_root_hash_keeps_other_fields(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_ACCOUNTS);
	char want[512];

	assert_kind(r, "/etc/shadow", FIX_EDIT);
	snprintf(want, sizeof(want),
		 "root:%s:19000:0:99999:7:::\n"
		 "daemon:*:19000:0:99999:7:::\n",
		 hash);
	assert_string_equal(content(r, "/etc/shadow"), want);
	run_free(r);
}

static void accounts_authorized_keys_created_0600_in_0700_dir(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_ACCOUNTS);
	const struct fix_action *a;

	a = act(r, "/root/.ssh");
	assert_non_null(a);
	assert_int_equal(a->kind, FIX_MKDIR);
	assert_int_equal(a->mode, 0700);
	a = act(r, "/root/.ssh/authorized_keys");
	assert_non_null(a);
	assert_int_equal(a->kind, FIX_CREATE);
	assert_int_equal(a->mode, 0600);
	assert_int_equal(a->uid, 0);
	assert_int_equal(a->gid, 0);
	assert_string_equal(content(r, "/root/.ssh/authorized_keys"),
			    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZ2xlZ29v"
			    "Z2xl admin@example\n");
	run_free(r);
}

static void accounts_existing_keys_are_kept_and_ours_added_once(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;

	tree_file(t, "/root/.ssh/authorized_keys", "ssh-rsa AAAAB3other x");
	r = plan(t, FIX_RULE_ACCOUNTS);
	assert_kind(r, "/root/.ssh/authorized_keys", FIX_EDIT);
	assert_no_action(r, "/root/.ssh");
	assert_string_equal(content(r, "/root/.ssh/authorized_keys"),
			    "ssh-rsa AAAAB3other x\n"
			    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZ2xlZ29v"
			    "Z2xl admin@example\n");
	run_free(r);
}

static void accounts_shadow_without_root_gets_one_first(void **state)
{
	struct mem_tree *t = tree_alpine();
	struct run *r;
	char want[512];

	tree_file(t, "/etc/shadow", "daemon:!::0:::::\n");
	r = plan(t, FIX_RULE_ACCOUNTS);
	snprintf(want, sizeof(want),
		 "root:%s::0:99999:7:::\ndaemon:!::0:::::\n", hash);
	assert_string_equal(content(r, "/etc/shadow"), want);
	run_free(r);
}

static void accounts_without_shadow_edit_passwd(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;
	char want[512];

	tree_remove(t, "/etc/shadow");
	r = run_new(t, FIX_RULE_BIT(FIX_RULE_ACCOUNTS));
	r->prof.root_password_hash = "!";
	run_plan(r);
	snprintf(want, sizeof(want),
		 "root:!:0:0:root:/root:/bin/sh\n"
		 "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n");
	assert_string_equal(content(r, "/etc/passwd"), want);
	run_free(r);
}

static void accounts_without_hash_or_keys_do_nothing(void **state)
{
	struct run *r =
		run_new(tree_centos5(), FIX_RULE_BIT(FIX_RULE_ACCOUNTS));

	r->prof.root_password_hash = NULL;
	r->prof.n_ssh_keys = 0;
	run_plan(r);
	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
}

static void accounts_root_home_comes_from_passwd(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;

	tree_file(t, "/etc/passwd", "root:x:0:0:root:/home/root:/bin/sh\n");
	r = plan(t, FIX_RULE_ACCOUNTS);
	assert_kind(r, "/home/root", FIX_MKDIR);
	assert_int_equal(act(r, "/home/root")->mode, 0700);
	assert_kind(r, "/home/root/.ssh/authorized_keys", FIX_CREATE);
	run_free(r);
}

/* ---- bootloader ---------------------------------------------------------- */

static void bootloader_debian12_writes_grub_cfg_for_pygrub(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_BOOTLOADER);

	assert_kind(r, "/boot/grub/grub.cfg", FIX_CREATE);
	assert_kind(r, "/boot/grub", FIX_MKDIR);
	assert_string_equal(
		content(r, "/boot/grub/grub.cfg"),
		"# Written by domufs for PyGRUB: the kernel and initrd in "
		"/boot.\n"
		"set default=0\n"
		"set timeout=1\n"
		"\n"
		"menuentry 'debian, Linux 6.1.0-18-amd64' {\n"
		"\tlinux /boot/vmlinuz-6.1.0-18-amd64 root=/dev/xvda ro "
		"console=hvc0\n"
		"\tinitrd /boot/initrd.img-6.1.0-18-amd64\n"
		"}\n");
	run_free(r);
}

static void bootloader_debian4_partitioned_writes_menu_lst(void **state)
{
	struct run *r =
		run_new(tree_debian4(), FIX_RULE_BIT(FIX_RULE_BOOTLOADER));

	r->ctx.partitioned = true;
	run_plan(r);
	assert_string_equal(
		content(r, "/boot/grub/menu.lst"),
		"# Written by domufs for PyGRUB: the kernel and initrd in "
		"/boot.\n"
		"default 0\n"
		"timeout 1\n"
		"\n"
		"title debian, Linux 2.6.18-6-xen-amd64\n"
		"\troot (hd0,0)\n"
		"\tkernel /boot/vmlinuz-2.6.18-6-xen-amd64 root=/dev/xvda1 ro "
		"console=hvc0\n"
		"\tinitrd /boot/initrd.img-2.6.18-6-xen-amd64\n");
	run_free(r);
}

static void bootloader_centos5_rewrites_grub_conf_not_its_link(void **state)
{
	struct run *r =
		run_new(tree_centos5(), FIX_RULE_BIT(FIX_RULE_BOOTLOADER));

	r->prof.console = "xvc0";
	run_plan(r);
	assert_no_action(r, "/boot/grub/menu.lst");
	assert_kind(r, "/boot/grub/grub.conf", FIX_EDIT);
	assert_string_equal(
		content(r, "/boot/grub/grub.conf"),
		"# Written by domufs for PyGRUB: the kernel and initrd in "
		"/boot.\n"
		"default 0\n"
		"timeout 1\n"
		"\n"
		"title centos, Linux 2.6.18-398.el5xen\n"
		"\troot (hd0)\n"
		"\tkernel /boot/vmlinuz-2.6.18-398.el5xen root=/dev/xvda ro "
		"console=xvc0\n"
		"\tinitrd /boot/initrd-2.6.18-398.el5xen.img\n");
	run_free(r);
}

static void bootloader_centos7_and_alpine_write_grub_cfg(void **state)
{
	struct run *r = plan(tree_centos7(), FIX_RULE_BOOTLOADER);

	assert_non_null(strstr(content(r, "/boot/grub2/grub.cfg"),
			       "\tlinux /boot/vmlinuz-3.10.0-1160.el7.x86_64 "
			       "root=/dev/xvda ro console=hvc0\n"
			       "\tinitrd /boot/initramfs-3.10.0-1160.el7."
			       "x86_64.img\n"));
	run_free(r);
	r = plan(tree_alpine(), FIX_RULE_BOOTLOADER);
	assert_non_null(strstr(content(r, "/boot/grub/grub.cfg"),
			       "\tlinux /boot/vmlinuz-virt root=/dev/xvda ro "
			       "console=hvc0\n"
			       "\tinitrd /boot/initramfs-virt\n"));
	run_free(r);
}

static void bootloader_needs_pygrub_and_a_kernel(void **state)
{
	struct run *r =
		run_new(tree_debian12(), FIX_RULE_BIT(FIX_RULE_BOOTLOADER));

	r->prof.pygrub = false;
	run_plan(r);
	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
	r = plan(tree_busybox(), FIX_RULE_BOOTLOADER);
	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
}

/* ---- firstboot ----------------------------------------------------------- */

#define FB_SCRIPT "/usr/lib/domufs/firstboot"
#define FB_STAMP "domufs firstboot ran for banquo 00:16:3e:12:34:56"
#define FB_HOOK                                              \
	"if [ -f /usr/lib/domufs/firstboot ]; then /bin/sh " \
	"/usr/lib/domufs/firstboot || :; fi"

static const char fb_unit[] =
	"# Written by domufs (the \"firstboot\" fixup): runs "
	"/usr/lib/domufs/firstboot.\n"
	"[Unit]\n"
	"Description=The first boot of this domain (domufs): SSH host keys, "
	"xenstore handshake\n"
	"ConditionPathExists=!/var/lib/domufs/firstboot.done\n"
	"After=local-fs.target\n"
	"Before=ssh.service sshd.service dropbear.service\n"
	"\n"
	"[Service]\n"
	"Type=oneshot\n"
	"RemainAfterExit=no\n"
	"ExecStart=/bin/sh /usr/lib/domufs/firstboot\n"
	"StandardOutput=journal+console\n"
	"StandardError=journal+console\n"
	"\n"
	"[Install]\n"
	"WantedBy=multi-user.target\n";

static const char fb_sysv[] =
	"#!/bin/sh\n"
	"### BEGIN INIT INFO\n"
	"# Provides:          domufs-firstboot\n"
	"# Required-Start:    $local_fs $remote_fs\n"
	"# Required-Stop:\n"
	"# X-Start-Before:    ssh sshd dropbear\n"
	"# Default-Start:     2 3 4 5\n"
	"# Default-Stop:\n"
	"# Short-Description: The first boot of this domain (domufs)\n"
	"# Description:       This guest's own SSH host keys, then the "
	"xenstore\n"
	"#                    handshake with dom0; runs once.\n"
	"### END INIT INFO\n"
	"#\n"
	"# chkconfig: 2345 01 99\n"
	"# description: The first boot of this domain (domufs): this guest's "
	"own \\\n"
	"#              SSH host keys, then the xenstore handshake with dom0; "
	"once.\n"
	"#\n"
	"# Written by domufs (the \"firstboot\" fixup): runs "
	"/usr/lib/domufs/firstboot.\n"
	"\n"
	"case \"$1\" in\n"
	"start)\n"
	"\t[ -f /usr/lib/domufs/firstboot ] || exit 0\n"
	"\t/bin/sh /usr/lib/domufs/firstboot\n"
	"\t;;\n"
	"stop|status|restart|reload|force-reload)\n"
	"\t;;\n"
	"*)\n"
	"\techo \"Usage: $0 {start|stop}\" >&2\n"
	"\texit 3\n"
	"\t;;\n"
	"esac\n";

/* The script's line that removes @path when it has run. */
static void assert_script_removes(struct run *r, const char *path)
{
	const char *script = content(r, FB_SCRIPT);
	char want[256];

	snprintf(want, sizeof(want), "\nif rm -f %s; then\n", path);
	if (!strstr(script, want))
		fail_msg("the script does not remove %s:\n%s", path, script);
}

static size_t count_of(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void assert_script_is_ours(struct run *r)
{
	const struct fix_action *a = act(r, FB_SCRIPT);
	const char *script;

	assert_non_null(a);
	assert_int_equal(a->kind, FIX_CREATE);
	assert_int_equal(a->mode, 0755);
	assert_int_equal(a->uid, 0);
	assert_int_equal(a->gid, 0);
	assert_string_equal(a->rule, "firstboot");
	assert_kind(r, "/usr/lib/domufs", FIX_MKDIR);
	script = content(r, FB_SCRIPT);
	assert_true(!strncmp(script, "#!/bin/sh\n", 10));
	assert_non_null(strstr(script, "\nstamp='" FB_STAMP "'\n"));
	assert_non_null(strstr(script, "\nmarker=/var/lib/domufs/"
				       "firstboot.done\n"));
	assert_non_null(strstr(script, "\nif [ -e \"$marker\" ]; then\n"));
	assert_non_null(strstr(script, "ssh-keygen -A"));
	assert_non_null(strstr(script, "xenstore-write data/domufs/firstboot "
				       "\"$result\""));
	/* nothing of the template's own marker to hide */
	assert_no_action(r, "/var/lib/domufs/firstboot.done");
}

static void firstboot_debian12_enables_a_oneshot_unit_by_symlink(void **state)
{
	struct run *r = plan(tree_debian12(), FIX_RULE_FIRSTBOOT);
	const char *wants = "/etc/systemd/system/multi-user.target.wants/"
			    "domufs-firstboot.service";
	const struct fix_action *a;

	assert_kind(r, "/etc/systemd/system/domufs-firstboot.service",
		    FIX_CREATE);
	a = act(r, "/etc/systemd/system/domufs-firstboot.service");
	assert_int_equal(a->mode, 0644);
	assert_string_equal(
		content(r, "/etc/systemd/system/domufs-firstboot.service"),
		fb_unit);
	a = act(r, wants);
	assert_non_null(a);
	assert_int_equal(a->kind, FIX_SYMLINK);
	assert_string_equal(a->target,
			    "/etc/systemd/system/domufs-firstboot.service");
	assert_string_equal(a->rule, "firstboot");
	assert_script_is_ours(r);
	assert_script_removes(r, wants);
	assert_int_equal(count_of(content(r, FB_SCRIPT), "if rm -f "), 1);
	assert_null(strstr(content(r, FB_SCRIPT), "unhook /"));
	run_free(r);
}

static void
firstboot_debian4_sysv_script_linked_s01_in_runlevels_2_to_5(void **state)
{
	struct run *r = plan(tree_debian4(), FIX_RULE_FIRSTBOOT);

	assert_kind(r, "/etc/init.d/domufs-firstboot", FIX_CREATE);
	assert_int_equal(act(r, "/etc/init.d/domufs-firstboot")->mode, 0755);
	assert_string_equal(content(r, "/etc/init.d/domufs-firstboot"),
			    fb_sysv);
	for (int level = 2; level <= 5; level++) {
		char link[64];
		const struct fix_action *a;

		snprintf(link, sizeof(link), "/etc/rc%d.d/S01domufs-firstboot",
			 level);
		a = act(r, link);
		if (!a)
			fail_msg("no link %s", link);
		assert_int_equal(a->kind, FIX_SYMLINK);
		assert_string_equal(a->target, "../init.d/domufs-firstboot");
		assert_script_removes(r, link);
	}
	assert_no_action(r, "/etc/rc1.d/S01domufs-firstboot");
	assert_no_action(r, "/etc/rc.d/init.d/domufs-firstboot");
	assert_script_is_ours(r);
	run_free(r);
}

static void firstboot_centos5_uses_rc_d_with_its_chkconfig_header(void **state)
{
	struct run *r = plan(tree_centos5(), FIX_RULE_FIRSTBOOT);

	assert_kind(r, "/etc/rc.d/init.d/domufs-firstboot", FIX_CREATE);
	assert_string_equal(content(r, "/etc/rc.d/init.d/domufs-firstboot"),
			    fb_sysv);
	assert_non_null(strstr(fb_sysv, "\n# chkconfig: 2345 01 99\n"));
	for (int level = 2; level <= 5; level++) {
		char link[64];

		snprintf(link, sizeof(link),
			 "/etc/rc.d/rc%d.d/S01domufs-firstboot", level);
		assert_kind(r, link, FIX_SYMLINK);
		assert_string_equal(act(r, link)->target,
				    "../init.d/domufs-firstboot");
		assert_script_removes(r, link);
	}
	assert_no_action(r, "/etc/init.d/domufs-firstboot");
	assert_no_action(r, "/etc/rc3.d/S01domufs-firstboot");
	assert_script_is_ours(r);
	run_free(r);
}

static void firstboot_existing_sysv_link_is_kept_not_doubled(void **state)
{
	struct mem_tree *t = tree_debian4();
	struct run *r;

	tree_link(t, "/etc/rc2.d/S20domufs-firstboot",
		  "../init.d/domufs-firstboot");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_no_action(r, "/etc/rc2.d/S01domufs-firstboot");
	assert_no_action(r, "/etc/rc2.d/S20domufs-firstboot");
	assert_kind(r, "/etc/rc3.d/S01domufs-firstboot", FIX_SYMLINK);
	assert_script_removes(r, "/etc/rc2.d/S20domufs-firstboot");
	assert_script_removes(r, "/etc/rc3.d/S01domufs-firstboot");
	run_free(r);
}

static void firstboot_insserv_depend_start_orders_ssh_after_it(void **state)
{
	struct mem_tree *t = tree_debian4();
	struct run *r;

	tree_file(t, "/etc/init.d/.depend.start",
		  "TARGETS = rsyslog ssh cron dropbear rmnologin\n"
		  "INTERACTIVE =\n"
		  "ssh: rsyslog\n"
		  "cron: rsyslog\n"
		  "rmnologin: rsyslog ssh cron\n");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_kind(r, "/etc/init.d/.depend.start", FIX_EDIT);
	assert_string_equal(content(r, "/etc/init.d/.depend.start"),
			    "TARGETS = rsyslog ssh cron dropbear rmnologin "
			    "domufs-firstboot\n"
			    "INTERACTIVE =\n"
			    "ssh: rsyslog domufs-firstboot\n"
			    "cron: rsyslog\n"
			    "rmnologin: rsyslog ssh cron\n"
			    "dropbear: domufs-firstboot\n");
	run_free(r);
}

static void
firstboot_alpine_openrc_service_in_the_default_runlevel(void **state)
{
	struct run *r = plan(tree_alpine(), FIX_RULE_FIRSTBOOT);
	const struct fix_action *a;

	assert_kind(r, "/etc/init.d/domufs-firstboot", FIX_CREATE);
	assert_int_equal(act(r, "/etc/init.d/domufs-firstboot")->mode, 0755);
	assert_string_equal(
		content(r, "/etc/init.d/domufs-firstboot"),
		"#!/sbin/openrc-run\n"
		"# Written by domufs (the \"firstboot\" fixup): runs "
		"/usr/lib/domufs/firstboot.\n"
		"\n"
		"description=\"The first boot of this domain (domufs): SSH host "
		"keys, xenstore handshake\"\n"
		"\n"
		"depend() {\n"
		"\tneed localmount\n"
		"\tafter bootmisc\n"
		"\tbefore sshd dropbear\n"
		"}\n"
		"\n"
		"start() {\n"
		"\t[ -f /usr/lib/domufs/firstboot ] || return 0\n"
		"\tebegin \"domufs first boot\"\n"
		"\t/bin/sh /usr/lib/domufs/firstboot\n"
		"\teend $?\n"
		"}\n");
	a = act(r, "/etc/runlevels/default/domufs-firstboot");
	assert_non_null(a);
	assert_int_equal(a->kind, FIX_SYMLINK);
	assert_string_equal(a->target, "/etc/init.d/domufs-firstboot");
	assert_script_removes(r, "/etc/runlevels/default/domufs-firstboot");
	/* busybox init starts OpenRC: the inittab is not ours to hook */
	assert_no_action(r, "/etc/inittab");
	assert_no_action(r, "/etc/init.d/rcS");
	assert_script_is_ours(r);
	run_free(r);
}

static void firstboot_upstart_gets_a_task_before_ssh(void **state)
{
	static const char job[] =
		"# domufs-firstboot - the first boot of this domain\n"
		"# Written by domufs (the \"firstboot\" fixup): runs "
		"/usr/lib/domufs/firstboot.\n"
		"\n"
		"description \"the first boot of this domain (domufs)\"\n"
		"\n"
		"start on starting ssh or stopped rc RUNLEVEL=[2345]\n"
		"task\n"
		"console output\n"
		"\n"
		"exec /bin/sh /usr/lib/domufs/firstboot\n";
	struct run *r = plan(tree_ubuntu14(), FIX_RULE_FIRSTBOOT);

	assert_kind(r, "/etc/init/domufs-firstboot.conf", FIX_CREATE);
	assert_int_equal(act(r, "/etc/init/domufs-firstboot.conf")->mode, 0644);
	assert_string_equal(content(r, "/etc/init/domufs-firstboot.conf"), job);
	assert_script_removes(r, "/etc/init/domufs-firstboot.conf");
	assert_script_is_ours(r);
	run_free(r);
	r = plan(tree_centos6(), FIX_RULE_FIRSTBOOT);
	assert_string_equal(content(r, "/etc/init/domufs-firstboot.conf"), job);
	assert_no_action(r, "/etc/rc.d/init.d/domufs-firstboot");
	run_free(r);
}

static void firstboot_upstart_runs_before_the_identity_keygen_task(void **state)
{
	/* both hold ssh; ours holds the identity rule's task: one ssh-keygen
	   at a time on the same key files */
	struct run *r = run_new(tree_ubuntu14(),
				FIX_RULE_BIT(FIX_RULE_IDENTITY) |
					FIX_RULE_BIT(FIX_RULE_FIRSTBOOT));

	run_plan(r);
	assert_kind(r, "/etc/init/domufs-ssh-keygen.conf", FIX_CREATE);
	assert_non_null(strstr(content(r, "/etc/init/domufs-ssh-keygen.conf"),
			       "\nstart on starting ssh\n"));
	assert_non_null(strstr(content(r, "/etc/init/domufs-firstboot.conf"),
			       "\nstart on starting domufs-ssh-keygen or "
			       "stopped rc RUNLEVEL=[2345]\n"));
	run_free(r);
}

static void firstboot_busybox_hooks_its_sysinit_script_once(void **state)
{
	struct run *r = plan(tree_busybox(), FIX_RULE_FIRSTBOOT);

	assert_kind(r, "/etc/init.d/rcS", FIX_EDIT);
	assert_string_equal(content(r, "/etc/init.d/rcS"),
			    "#!/bin/sh\n"
			    "mount -t proc proc /proc\n"
			    "ifup -a\n" FB_HOOK "\n");
	assert_non_null(strstr(content(r, FB_SCRIPT),
			       "\nif unhook /etc/init.d/rcS; then\n"));
	assert_non_null(
		strstr(content(r, FB_SCRIPT), "\nhook='" FB_HOOK "'\n"));
	assert_int_equal(count_of(content(r, FB_SCRIPT), "if rm -f "), 0);
	/* the console fixup's file: not this one's */
	assert_no_action(r, "/etc/inittab");
	assert_script_is_ours(r);
	run_free(r);
}

static void firstboot_hook_goes_before_a_final_exit(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;

	tree_file(t, "/etc/init.d/rcS",
		  "#!/bin/sh -e\n"
		  "mount -a\n"
		  "\n"
		  "exit 0\n"
		  "# the end\n");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_string_equal(content(r, "/etc/init.d/rcS"), "#!/bin/sh -e\n"
							   "mount -a\n"
							   "\n" FB_HOOK "\n"
							   "exit 0\n"
							   "# the end\n");
	run_free(r);
}

static void firstboot_hook_stays_off_for_this_domain_only(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;

	/* what the script leaves when it has run for this domain */
	tree_file(t, "/etc/init.d/rcS",
		  "#!/bin/sh\n"
		  "ifup -a\n"
		  "# " FB_STAMP "\n");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_string_equal(content(r, "/etc/init.d/rcS"), "#!/bin/sh\n"
							   "ifup -a\n"
							   "# " FB_STAMP "\n");
	run_free(r);
	/* and for another domain (a template captured from a guest) */
	t = tree_busybox();
	tree_file(t, "/etc/init.d/rcS",
		  "#!/bin/sh\n"
		  "# domufs firstboot ran for macbeth 00:16:3e:00:00:01\n"
		  "ifup -a\n");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_string_equal(content(r, "/etc/init.d/rcS"),
			    "#!/bin/sh\n" FB_HOOK "\n"
			    "ifup -a\n");
	run_free(r);
}

static void
firstboot_busybox_without_rcs_creates_the_one_inittab_names(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;
	const struct fix_action *a;

	tree_remove(t, "/etc/init.d/rcS");
	tree_file(t, "/etc/inittab",
		  "# boot\n"
		  "::sysinit:/bin/sh /etc/rc.boot\n"
		  "::sysinit:/etc/init.d/rcS\n"
		  "tty1::respawn:/sbin/getty 38400 tty1\n");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	a = act(r, "/etc/rc.boot");
	assert_non_null(a);
	assert_int_equal(a->kind, FIX_CREATE);
	assert_int_equal(a->mode, 0755);
	assert_string_equal(content(r, "/etc/rc.boot"),
			    "#!/bin/sh\n" FB_HOOK "\n");
	assert_no_action(r, "/etc/init.d/rcS");
	run_free(r);

	/* no inittab: busybox runs /etc/init.d/rcS */
	t = tree_busybox();
	tree_remove(t, "/etc/inittab");
	tree_remove(t, "/etc/init.d/rcS");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_kind(r, "/etc/init.d/rcS", FIX_CREATE);
	assert_kind(r, FB_SCRIPT, FIX_CREATE);
	run_free(r);
}

static void firstboot_without_a_hook_installs_nothing(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct run *r;

	/* an inittab that runs nothing at sysinit */
	tree_file(t, "/etc/inittab", "tty1::respawn:/sbin/getty 38400 tty1\n");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
	/* a sysinit program that is not a shell script */
	t = tree_busybox();
	tree_file(t, "/etc/init.d/rcS", "\177ELF binary");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
	/* no init system we know */
	t = tree_new();
	tree_file(t, "/etc/hostname", "x\n");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
}

static void firstboot_marker_of_this_domain_means_it_ran(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct run *r;

	tree_file(t, "/var/lib/domufs/firstboot.done", FB_STAMP "\n");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_int_equal(fix_set_count(r->set), 0);
	run_free(r);
	/* another domain's (the template's): hidden, and ours is installed */
	t = tree_debian12();
	tree_file(t, "/var/lib/domufs/firstboot.done",
		  "domufs firstboot ran for macbeth 00:16:3e:00:00:01\n");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_kind(r, "/var/lib/domufs/firstboot.done", FIX_HIDE);
	assert_string_equal(act(r, "/var/lib/domufs/firstboot.done")->rule,
			    "firstboot");
	assert_kind(r, "/etc/systemd/system/domufs-firstboot.service",
		    FIX_CREATE);
	assert_kind(r, FB_SCRIPT, FIX_CREATE);
	run_free(r);
}

static void firstboot_stamp_is_the_hostname_and_first_mac(void **state)
{
	struct run *r =
		run_new(tree_debian12(), FIX_RULE_BIT(FIX_RULE_FIRSTBOOT));

	r->prof.hostname = NULL;
	run_plan(r);
	assert_non_null(strstr(
		content(r, FB_SCRIPT),
		"\nstamp='domufs firstboot ran for 00:16:3e:12:34:56'\n"));
	run_free(r);
	r = run_new(tree_debian12(), FIX_RULE_BIT(FIX_RULE_FIRSTBOOT));
	r->prof.n_nics = 0;
	r->prof.hostname = "banquo.example.org";
	run_plan(r);
	assert_non_null(strstr(content(r, FB_SCRIPT),
			       "\nstamp='domufs firstboot ran for "
			       "banquo.example.org'\n"));
	run_free(r);
	r = run_new(tree_debian12(), FIX_RULE_BIT(FIX_RULE_FIRSTBOOT));
	r->prof.n_nics = 0;
	r->prof.hostname = "it's"; /* never between quotes as it is */
	run_plan(r);
	assert_non_null(strstr(content(r, FB_SCRIPT),
			       "\nstamp='domufs firstboot ran for it_s'\n"));
	r->prof.hostname = NULL;
	run_plan(r);
	assert_non_null(strstr(content(r, FB_SCRIPT),
			       "\nstamp='domufs firstboot ran for this "
			       "domain'\n"));
	run_free(r);
}

static void firstboot_existing_files_are_rewritten_in_place(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct run *r;

	/* a template with an older copy of ours: edited, mode kept */
	tree_file(t, FB_SCRIPT, "#!/bin/sh\necho old\n");
	tree_file(t, "/etc/systemd/system/domufs-firstboot.service",
		  "[Unit]\n");
	tree_link(t,
		  "/etc/systemd/system/multi-user.target.wants/"
		  "domufs-firstboot.service",
		  "/etc/systemd/system/domufs-firstboot.service");
	r = plan(t, FIX_RULE_FIRSTBOOT);
	assert_kind(r, FB_SCRIPT, FIX_EDIT);
	assert_non_null(strstr(content(r, FB_SCRIPT), FB_STAMP));
	assert_kind(r, "/etc/systemd/system/domufs-firstboot.service",
		    FIX_EDIT);
	assert_string_equal(
		content(r, "/etc/systemd/system/domufs-firstboot.service"),
		fb_unit);
	assert_no_action(r, "/etc/systemd/system/multi-user.target.wants/"
			    "domufs-firstboot.service");
	run_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			fstab_debian4_root_is_xvda_ext4_and_old_swap_is_off),
		cmocka_unit_test(
			fstab_other_disks_of_the_template_are_disabled),
		cmocka_unit_test(
			fstab_classic_kernel_keeps_the_profiles_sd_disks),
		cmocka_unit_test(fstab_busybox_partitioned_commit_mounts_xvda1),
		cmocka_unit_test(
			fstab_centos5_label_root_is_replaced_other_lines_kept),
		cmocka_unit_test(
			fstab_centos7_xfs_options_are_not_carried_to_ext4),
		cmocka_unit_test(fstab_absent_is_created),
		cmocka_unit_test(
			fstab_sd_vdev_is_xvd_on_pvops_and_sd_on_classic),
		cmocka_unit_test(fstab_second_root_line_is_commented_out),
		cmocka_unit_test(console_debian4_gets_hvc0_getty_and_ttys_off),
		cmocka_unit_test(console_centos5_xvc0_uses_agetty_not_mingetty),
		cmocka_unit_test(
			console_busybox_inittab_gets_busybox_style_line),
		cmocka_unit_test(
			console_alpine_openrc_edits_its_busybox_inittab),
		cmocka_unit_test(console_existing_hvc0_getty_is_not_doubled),
		cmocka_unit_test(
			console_getty_on_the_other_xen_console_is_disabled),
		cmocka_unit_test(
			console_busybox_getty_or_shell_on_the_console_is_disabled),
		cmocka_unit_test(console_busybox_without_inittab_gets_one),
		cmocka_unit_test(
			console_debian12_enables_serial_getty_by_symlink),
		cmocka_unit_test(console_centos7_links_to_usr_lib),
		cmocka_unit_test(console_hvm_serial_ttys0_everywhere),
		cmocka_unit_test(console_ubuntu14_gets_an_upstart_job),
		cmocka_unit_test(console_centos6_leaves_it_to_serial_conf),
		cmocka_unit_test(securetty_gets_the_console_appended),
		cmocka_unit_test(securetty_is_not_created_where_absent),
		cmocka_unit_test(securetty_without_final_newline_is_mended),
		cmocka_unit_test(
			modules_centos5_rewrites_modprobe_conf_aliases),
		cmocka_unit_test(
			modules_debian12_modprobe_d_and_initramfs_tools),
		cmocka_unit_test(modules_without_pygrub_leave_the_initramfs),
		cmocka_unit_test(modules_centos6_and_7_get_a_dracut_conf),
		cmocka_unit_test(modules_alpine_gets_a_mkinitfs_feature),
		cmocka_unit_test(modules_busybox_without_modules_does_nothing),
		cmocka_unit_test(modules_list_keeps_existing_entries_once),
		cmocka_unit_test(
			udev_debian4_hides_z25_rules_and_z45_generator),
		cmocka_unit_test(udev_ubuntu14_masks_the_lib_generator),
		cmocka_unit_test(udev_two_nics_keep_the_generator),
		cmocka_unit_test(udev_modern_systems_have_nothing_to_hide),
		cmocka_unit_test(dirs_busybox_gets_static_xvd_and_hvc0_nodes),
		cmocka_unit_test(dirs_missing_proc_sys_tmp_are_made),
		cmocka_unit_test(dirs_with_udev_make_no_nodes),
		cmocka_unit_test(dirs_every_profile_disk_gets_its_node),
		cmocka_unit_test(
			identity_debian12_hostname_hosts_machine_id_keys),
		cmocka_unit_test(
			identity_debian4_regenerates_keys_from_default_ssh),
		cmocka_unit_test(
			identity_ubuntu14_regenerates_keys_by_upstart_task),
		cmocka_unit_test(identity_centos5_sets_hostname_in_sysconfig),
		cmocka_unit_test(
			identity_centos7_alpine_busybox_write_etc_hostname),
		cmocka_unit_test(identity_hosts_is_created_when_absent),
		cmocka_unit_test(identity_regular_dbus_machine_id_is_hidden),
		cmocka_unit_test(network_debian12_configures_enx0_not_eth0),
		cmocka_unit_test(network_net_ifnames_0_keeps_eth0),
		cmocka_unit_test(network_debian4_allow_hotplug_eth0_static),
		cmocka_unit_test(network_busybox_and_alpine_use_auto),
		cmocka_unit_test(network_two_vifs_dhcp_on_the_second),
		cmocka_unit_test(network_gateway_goes_on_the_vif_of_its_subnet),
		cmocka_unit_test(network_interfaces_keep_foreign_stanzas),
		cmocka_unit_test(
			network_interfaces_without_lo_get_it_after_comments),
		cmocka_unit_test(network_centos5_ifcfg_gets_the_profile_mac),
		cmocka_unit_test(
			network_ifcfg_we_wrote_for_a_vif_now_gone_is_hidden),
		cmocka_unit_test(
			network_networkd_file_we_wrote_for_a_vif_now_gone_is_hidden),
		cmocka_unit_test(network_centos7_ifcfg_drops_template_uuid),
		cmocka_unit_test(network_rocky9_creates_ifcfg_enx0),
		cmocka_unit_test(
			network_networkd_matches_by_mac_and_is_enabled),
		cmocka_unit_test(
			network_ubuntu22_writes_a_private_netplan_file),
		cmocka_unit_test(network_resolv_conf_keeps_search_and_options),
		cmocka_unit_test(accounts_shadow_root_hash_keeps_other_fields),
		cmocka_unit_test(
			accounts_authorized_keys_created_0600_in_0700_dir),
		cmocka_unit_test(
			accounts_existing_keys_are_kept_and_ours_added_once),
		cmocka_unit_test(accounts_shadow_without_root_gets_one_first),
		cmocka_unit_test(accounts_without_shadow_edit_passwd),
		cmocka_unit_test(accounts_without_hash_or_keys_do_nothing),
		cmocka_unit_test(accounts_root_home_comes_from_passwd),
		cmocka_unit_test(
			bootloader_debian12_writes_grub_cfg_for_pygrub),
		cmocka_unit_test(
			bootloader_debian4_partitioned_writes_menu_lst),
		cmocka_unit_test(
			bootloader_centos5_rewrites_grub_conf_not_its_link),
		cmocka_unit_test(bootloader_centos7_and_alpine_write_grub_cfg),
		cmocka_unit_test(bootloader_needs_pygrub_and_a_kernel),
		cmocka_unit_test(
			firstboot_debian12_enables_a_oneshot_unit_by_symlink),
		cmocka_unit_test(
			firstboot_debian4_sysv_script_linked_s01_in_runlevels_2_to_5),
		cmocka_unit_test(
			firstboot_centos5_uses_rc_d_with_its_chkconfig_header),
		cmocka_unit_test(
			firstboot_existing_sysv_link_is_kept_not_doubled),
		cmocka_unit_test(
			firstboot_insserv_depend_start_orders_ssh_after_it),
		cmocka_unit_test(
			firstboot_alpine_openrc_service_in_the_default_runlevel),
		cmocka_unit_test(firstboot_upstart_gets_a_task_before_ssh),
		cmocka_unit_test(
			firstboot_upstart_runs_before_the_identity_keygen_task),
		cmocka_unit_test(
			firstboot_busybox_hooks_its_sysinit_script_once),
		cmocka_unit_test(firstboot_hook_goes_before_a_final_exit),
		cmocka_unit_test(firstboot_hook_stays_off_for_this_domain_only),
		cmocka_unit_test(
			firstboot_busybox_without_rcs_creates_the_one_inittab_names),
		cmocka_unit_test(firstboot_without_a_hook_installs_nothing),
		cmocka_unit_test(firstboot_marker_of_this_domain_means_it_ran),
		cmocka_unit_test(firstboot_stamp_is_the_hostname_and_first_mac),
		cmocka_unit_test(
			firstboot_existing_files_are_rewritten_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
