// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The rules that make the system start in a domU: fstab, console,
 * securetty, modules, udev and dirs (plan functions and their edit
 * transforms). Pure: the planner reads through the caller's reader, the
 * transforms only turn a buffer into another, idempotently.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "common/cleanup.h"
#include "fixups/fix-internal.h"

/* ---- fstab --------------------------------------------------------------- */

static bool ext_type(struct fix_span t)
{
	return fix_span_eq(t, "ext2") || fix_span_eq(t, "ext3") ||
	       fix_span_eq(t, "ext4") || fix_span_eq(t, "auto");
}

static bool span_prefix(struct fix_span s, const char *pfx)
{
	size_t n = strlen(pfx);

	return s.n > n && !memcmp(s.p, pfx, n);
}

/* Is @opt one of the comma-separated options in @opts? */
static bool has_option(struct fix_span opts, const char *opt)
{
	size_t n = strlen(opt);
	const char *p = opts.p, *end = opts.p + opts.n;

	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t l = c ? (size_t)(c - p) : (size_t)(end - p);

		if (l == n && !memcmp(p, opt, n))
			return true;
		p += l + 1;
	}
	return false;
}

/*
 * "/dev/xvdb", or on a classic xenified kernel "/dev/sdb1" of a profile
 * disk "sdb": a vbd of this domain, which the guest will have.
 */
static bool own_disk(const struct fix_ctx *ctx, struct fix_span dev)
{
	const struct fix_profile *prof = ctx->profile;
	struct fix_span name = { dev.p + 5, dev.n - 5 };

	if (span_prefix(name, "xvd"))
		return true;
	/* pvops blkfront names every vbd xvdX: an sdX node never exists */
	if (!ctx->facts || !ctx->facts->classic_xen_kernel)
		return false;
	for (size_t i = 0; prof && i < prof->n_disks; i++) {
		size_t vl = strlen(prof->disks[i]), k;

		if (!vl || vl > name.n || memcmp(name.p, prof->disks[i], vl))
			continue;
		for (k = vl; k < name.n && isdigit((unsigned char)name.p[k]);)
			k++;
		if (k == name.n)
			return true;
	}
	return false;
}

/*
 * A line mounting (or swapping on) a local disk of the machine the
 * template was made on: by UUID or label, or by a disk or volume name the
 * domU will not have (xvd* and the profile's own disks stay). The commit
 * writes the whole tree into one filesystem on the domain's root disk, so
 * such a line could only fail, and systemd would start in emergency mode.
 * "noauto" lines never fail.
 */
static bool foreign_disk_line(const struct fix_ctx *ctx, struct fix_span *f,
			      size_t nf)
{
	static const char *const tags[] = { "UUID=", "LABEL=", "PARTUUID=",
					    "PARTLABEL=", NULL };
	static const char *const disks[] = { "/dev/sd",	     "/dev/hd",
					     "/dev/vd",	     "/dev/nvme",
					     "/dev/md",	     "/dev/disk/",
					     "/dev/mapper/", NULL };

	if (nf >= 4 && has_option(f[3], "noauto"))
		return false;
	for (size_t i = 0; tags[i]; i++)
		if (span_prefix(f[0], tags[i]))
			return true;
	if (!span_prefix(f[0], "/dev/") || own_disk(ctx, f[0]))
		return false;
	for (size_t i = 0; disks[i]; i++)
		if (span_prefix(f[0], disks[i]))
			return true;
	/* /dev/VolGroup00/LogVol01: a logical volume (RHEL's installs) */
	return memchr(f[0].p + 5, '/', f[0].n - 5) != NULL;
}

int fix_edit_fstab(const struct fix_ctx *ctx, const char *arg, const char *in,
		   size_t len, struct fix_buf *out)
{
	const char *fs = ctx->fs_type && *ctx->fs_type ? ctx->fs_type : "ext4";
	bool have_root = false, have_proc = false, have_sys = false,
	     have_pts = false;
	const char *pos = in, *line;
	char root[64];
	size_t ll;
	int r;

	r = fix_root_device(ctx, root, sizeof(root));
	if (r < 0)
		return r;
	while (fix_line_next(&pos, in + len, &line, &ll)) {
		struct fix_span f[6];
		size_t nf;

		if (fix_line_is_comment(line, ll)) {
			fix_buf_line(out, line, ll);
			continue;
		}
		nf = fix_fields(line, ll, f, 6);
		if (nf < 2) {
			fix_buf_line(out, line, ll);
			continue;
		}
		if (fix_span_eq(f[1], "/")) {
			if (have_root) {
				/* a second root line would mount over ours */
				fix_buf_add(out, "#", 1);
				fix_buf_line(out, line, ll);
				continue;
			}
			have_root = true;
			fix_buf_printf(out, "%s\t/\t%s\t", root, fs);
			if (nf >= 4 && nf >= 3 && ext_type(f[2]))
				fix_buf_add(out, f[3].p, f[3].n);
			else
				fix_buf_puts(out, "errors=remount-ro");
			fix_buf_puts(out, "\t");
			if (nf >= 5)
				fix_buf_add(out, f[4].p, f[4].n);
			else
				fix_buf_puts(out, "0");
			fix_buf_puts(out, "\t1\n");
			continue;
		}
		if (foreign_disk_line(ctx, f, nf)) {
			fix_buf_puts(out, "# domufs: disabled, a disk the domU "
					  "does not have:\n#");
			fix_buf_line(out, line, ll);
			continue;
		}
		have_proc |= fix_span_eq(f[1], "/proc");
		have_sys |= fix_span_eq(f[1], "/sys");
		have_pts |= fix_span_eq(f[1], "/dev/pts");
		fix_buf_line(out, line, ll);
	}
	if (!have_root)
		fix_buf_printf(out, "%s\t/\t%s\terrors=remount-ro\t0\t1\n",
			       root, fs);
	if (!have_proc)
		fix_buf_puts(out, "proc\t/proc\tproc\tdefaults\t0\t0\n");
	if (!have_sys)
		fix_buf_puts(out, "sysfs\t/sys\tsysfs\tdefaults\t0\t0\n");
	if (!have_pts)
		fix_buf_puts(
			out,
			"devpts\t/dev/pts\tdevpts\tgid=5,mode=620\t0\t0\n");
	return 0;
}

int fix_rule_fstab(struct fix_planner *p)
{
	return fix_plan_file(p, "/etc/fstab", FIX_OP_FSTAB, NULL,
			     FIX_MAY_CREATE, 0644, 0, 0);
}

/* ---- console ------------------------------------------------------------- */

/* "tty1", "/dev/tty12": a virtual terminal, which a domU does not have. */
static bool is_vt(struct fix_span s)
{
	size_t i;

	if (s.n > 5 && !memcmp(s.p, "/dev/", 5)) {
		s.p += 5;
		s.n -= 5;
	}
	if (s.n < 4 || memcmp(s.p, "tty", 3))
		return false;
	for (i = 3; i < s.n; i++)
		if (!isdigit((unsigned char)s.p[i]))
			return false;
	return true;
}

static bool is_dev(struct fix_span s, const char *dev)
{
	if (s.n > 5 && !memcmp(s.p, "/dev/", 5)) {
		s.p += 5;
		s.n -= 5;
	}
	return fix_span_eq(s, dev);
}

/* Splits "id:runlevels:action:process"; false when it is not such a line. */
static bool inittab_split(const char *s, size_t n, struct fix_span *id,
			  struct fix_span *action, struct fix_span *process)
{
	const char *c[3];
	const char *p = s, *end = s + n;

	for (int i = 0; i < 3; i++) {
		c[i] = memchr(p, ':', (size_t)(end - p));
		if (!c[i])
			return false;
		p = c[i] + 1;
	}
	*id = fix_span_trim(s, (size_t)(c[0] - s));
	*action = fix_span_trim(c[1] + 1, (size_t)(c[2] - c[1] - 1));
	process->p = c[2] + 1;
	process->n = (size_t)(end - process->p);
	return true;
}

static bool runs_getty(struct fix_span process, struct fix_span *f, size_t nf)
{
	if (!nf)
		return false;
	return memmem(f[0].p, f[0].n, "getty", 5) != NULL;
}

static void getty_command(struct fix_buf *out, const char *getty,
			  const char *dev)
{
	if (strstr(getty, "mingetty"))
		fix_buf_printf(out, "%s %s", getty, dev);
	else
		fix_buf_printf(out, "%s -L %s 115200 vt100", getty, dev);
}

/*
 * The Xen console @dev is not: a getty there, left by an earlier profile
 * (or carried in from a template), respawns too fast on a kernel that has
 * only @dev (2.6.18 has xvc0, pvops hvc0). NULL for ttyS0 (HVM).
 */
static const char *other_xen_console(const char *dev)
{
	if (!strcmp(dev, "hvc0"))
		return "xvc0";
	if (!strcmp(dev, "xvc0"))
		return "hvc0";
	return NULL;
}

/*
 * busybox init with no /etc/inittab runs its built-in one: rcS, shells
 * on the console and tty2-4, what to do at shutdown. What domufs writes
 * in its place keeps all but the shells (a getty on the Xen console
 * follows).
 */
static const char busybox_default_inittab[] =
	"# domufs: busybox init's built-in defaults (there was no inittab),\n"
	"# a getty on the Xen console in place of shells on the terminals\n"
	"::sysinit:/etc/init.d/rcS\n"
	"::ctrlaltdel:/sbin/reboot\n"
	"::shutdown:/sbin/swapoff -a\n"
	"::shutdown:/bin/umount -a -r\n"
	"::restart:/sbin/init\n";

/*
 * busybox: "::respawn:" and "::askfirst:" (no id: /dev/console) or
 * "console::respawn:" run on the console, which in a domU is the Xen
 * console: a second reader of the getty's terminal.
 */
static bool busybox_on_console(struct fix_span id, struct fix_span action)
{
	return (!id.n || is_dev(id, "console")) &&
	       (fix_span_eq(action, "respawn") ||
		fix_span_eq(action, "askfirst"));
}

int fix_edit_inittab(const struct fix_ctx *ctx, const char *arg, const char *in,
		     size_t len, struct fix_buf *out)
{
	const char *dev = fix_console_name(ctx),
		   *getty = arg ? arg : "/sbin/getty",
		   *other = other_xen_console(dev);
	enum fix_inittab style = fix_inittab_style(in, len);
	const char *pos = in, *line;
	bool have = false;
	size_t ll;

	if (style == FIX_INITTAB_NONE && ctx->facts)
		style = ctx->facts->init == FIX_INIT_BUSYBOX ?
				FIX_INITTAB_BUSYBOX :
				ctx->facts->inittab;
	if (!len && style == FIX_INITTAB_BUSYBOX)
		fix_buf_puts(out, busybox_default_inittab);
	while (fix_line_next(&pos, in + len, &line, &ll)) {
		struct fix_span id, action, process, f[16];
		bool vt = false, ours = false, stale = false, console = false;
		size_t nf;

		if (fix_line_is_comment(line, ll) ||
		    !inittab_split(line, ll, &id, &action, &process)) {
			fix_buf_line(out, line, ll);
			continue;
		}
		nf = fix_fields(process.p, process.n, f, 16);
		if (runs_getty(process, f, nf)) {
			for (size_t i = 1; i < nf; i++) {
				vt |= is_vt(f[i]);
				ours |= is_dev(f[i], dev);
				stale |= other && is_dev(f[i], other);
				console |= is_dev(f[i], "console");
			}
		}
		/* busybox: "tty2::askfirst:-/bin/sh" runs on tty2 too */
		if (style == FIX_INITTAB_BUSYBOX) {
			vt |= id.n && is_vt(id);
			ours |= id.n && is_dev(id, dev);
			stale |= id.n && other && is_dev(id, other);
			console |= busybox_on_console(id, action);
		}
		if (ours) {
			have = true;
		} else if (vt || stale || console) {
			fix_buf_add(out, "#", 1);
		}
		fix_buf_line(out, line, ll);
	}
	if (!have) {
		if (out->len && out->p[out->len - 1] != '\n')
			fix_buf_add(out, "\n", 1);
		if (style == FIX_INITTAB_BUSYBOX)
			fix_buf_printf(out, "%s::respawn:", dev);
		else
			fix_buf_printf(out, "%s:2345:respawn:",
				       strlen(dev) <= 4 ? dev : "co");
		getty_command(out, getty, dev);
		fix_buf_puts(out, "\n");
	}
	return 0;
}

int fix_edit_upstart_getty(const struct fix_ctx *ctx, const char *arg,
			   const char *in, size_t len, struct fix_buf *out)
{
	const char *dev = fix_console_name(ctx);

	fix_buf_printf(out,
		       "# %s - getty on the Xen console (written by domufs)\n"
		       "\n"
		       "start on stopped rc RUNLEVEL=[2345]\n"
		       "stop on runlevel [!2345]\n"
		       "\n"
		       "respawn\n"
		       "exec ",
		       dev);
	getty_command(out, arg ? arg : "/sbin/getty", dev);
	fix_buf_puts(out, "\n");
	return 0;
}

static const char *find_getty(struct fix_planner *p)
{
	static const char *const gettys[] = {
		"/sbin/agetty",	   "/sbin/getty",	 "/usr/sbin/agetty",
		"/usr/sbin/getty", "/bin/getty",	 "/usr/bin/getty",
		"/sbin/mingetty",  "/usr/sbin/mingetty", NULL
	};

	for (size_t i = 0; gettys[i]; i++)
		if (fix_has(p->rd, gettys[i], 0))
			return gettys[i];
	return "/sbin/getty";
}

/* "/lib/systemd/system/NAME" as the distribution spells it, or NULL. */
static const char *unit_dir(struct fix_planner *p, const char *name)
{
	static const char *const dirs[] = { "/lib/systemd/system",
					    "/usr/lib/systemd/system" };
	bool usr_first = p->ctx->facts &&
			 p->ctx->facts->family == FIX_FAMILY_RHEL;
	char path[256];

	for (size_t k = 0; k < 2; k++) {
		const char *d = dirs[usr_first ? 1 - k : k];

		snprintf(path, sizeof(path), "%s/%s", d, name);
		if (fix_has(p->rd, path, S_IFREG))
			return d;
	}
	return NULL;
}

int fix_rule_console(struct fix_planner *p)
{
	const struct fix_facts *f = p->ctx->facts;
	const char *dev = fix_console_name(p->ctx);
	char path[256], target[256];
	const char *dir;

	if (f->init == FIX_INIT_SYSTEMD) {
		dir = unit_dir(p, "serial-getty@.service");
		if (!dir)
			return 0;
		snprintf(path, sizeof(path),
			 "/etc/systemd/system/getty.target.wants/"
			 "serial-getty@%s.service",
			 dev);
		snprintf(target, sizeof(target), "%s/serial-getty@.service",
			 dir);
		return fix_plan_symlink(p, path, target);
	}
	if (f->init == FIX_INIT_UPSTART) {
		/* RHEL 6 starts a getty on the active console by itself
		   (/etc/init/serial.conf); Ubuntu needs a job. */
		if (fix_has(p->rd, "/etc/init/serial.conf", S_IFREG))
			return 0;
		snprintf(path, sizeof(path), "/etc/init/%s.conf", dev);
		return fix_plan_file(p, path, FIX_OP_UPSTART_GETTY,
				     find_getty(p), FIX_MAY_CREATE, 0644, 0, 0);
	}
	/* sysvinit, busybox init (without one, its built-in one), OpenRC */
	if (f->init == FIX_INIT_BUSYBOX)
		return fix_plan_file(p, "/etc/inittab", FIX_OP_INITTAB,
				     find_getty(p), FIX_MAY_CREATE, 0644, 0, 0);
	return fix_plan_file(p, "/etc/inittab", FIX_OP_INITTAB, find_getty(p),
			     FIX_MUST_EXIST, 0, 0, 0);
}

/* ---- securetty ----------------------------------------------------------- */

int fix_edit_securetty(const struct fix_ctx *ctx, const char *arg,
		       const char *in, size_t len, struct fix_buf *out)
{
	const char *dev = fix_console_name(ctx), *pos = in, *line;
	bool have = false;
	size_t ll;

	while (fix_line_next(&pos, in + len, &line, &ll)) {
		have |= fix_line_eq(line, ll, dev);
		fix_buf_line(out, line, ll);
	}
	if (!have)
		fix_buf_printf(out, "%s\n", dev);
	return 0;
}

int fix_rule_securetty(struct fix_planner *p)
{
	return fix_plan_file(p, "/etc/securetty", FIX_OP_SECURETTY, NULL,
			     FIX_MUST_EXIST, 0, 0, 0);
}

/* ---- modules ------------------------------------------------------------- */

/*
 * Ensures "alias scsi_hostadapter xenblk" and "alias eth0 xennet": an
 * existing alias of either name is rewritten, a missing one appended.
 */
int fix_edit_modprobe(const struct fix_ctx *ctx, const char *arg,
		      const char *in, size_t len, struct fix_buf *out)
{
	static const char *const want[][2] = {
		{ "scsi_hostadapter", "xenblk" },
		{ "eth0", "xennet" },
	};
	bool have[2] = { false, false };
	const char *pos = in, *line;
	size_t ll;

	if (!len)
		fix_buf_puts(out, "# Xen paravirtual drivers (domufs)\n");
	while (fix_line_next(&pos, in + len, &line, &ll)) {
		struct fix_span f[3];
		size_t nf = fix_fields(line, ll, f, 3);
		bool done = false;

		if (!fix_line_is_comment(line, ll) && nf >= 2 &&
		    fix_span_eq(f[0], "alias")) {
			for (size_t i = 0; i < 2; i++) {
				if (!fix_span_eq(f[1], want[i][0]))
					continue;
				if (!have[i])
					fix_buf_printf(out, "alias %s %s\n",
						       want[i][0], want[i][1]);
				have[i] = true;
				done = true;
			}
		}
		if (!done)
			fix_buf_line(out, line, ll);
	}
	for (size_t i = 0; i < 2; i++)
		if (!have[i])
			fix_buf_printf(out, "alias %s %s\n", want[i][0],
				       want[i][1]);
	return 0;
}

/* One module name a line (initramfs-tools/modules, /etc/modules). */
int fix_edit_modules_list(const struct fix_ctx *ctx, const char *arg,
			  const char *in, size_t len, struct fix_buf *out)
{
	char mods[128];
	struct fix_span want[8];
	size_t n;

	snprintf(mods, sizeof(mods), "%s", arg ? arg : "");
	n = fix_fields(mods, strlen(mods), want, 8);
	fix_buf_add(out, in, len);
	if (len && in[len - 1] != '\n')
		fix_buf_add(out, "\n", 1);
	for (size_t i = 0; i < n; i++) {
		const char *pos = in, *line;
		bool have = false;
		size_t ll;

		while (fix_line_next(&pos, in + len, &line, &ll)) {
			struct fix_span f[1];

			if (!fix_line_is_comment(line, ll) &&
			    fix_fields(line, ll, f, 1) == 1 &&
			    f[0].n == want[i].n &&
			    !memcmp(f[0].p, want[i].p, f[0].n))
				have = true;
		}
		if (!have)
			fix_buf_line(out, want[i].p, want[i].n);
	}
	return 0;
}

int fix_edit_dracut(const struct fix_ctx *ctx, const char *arg, const char *in,
		    size_t len, struct fix_buf *out)
{
	_cleanup_free_ char *want = NULL;
	const char *pos = in, *line;
	bool have = false;
	size_t ll;

	if (asprintf(&want, "add_drivers+=\" %s \"", arg ? arg : "") < 0)
		return -ENOMEM;
	if (!len)
		fix_buf_puts(out, "# Xen paravirtual drivers in the initramfs "
				  "(domufs)\n");
	while (fix_line_next(&pos, in + len, &line, &ll)) {
		have |= fix_line_eq(line, ll, want);
		fix_buf_line(out, line, ll);
	}
	if (!have)
		fix_buf_printf(out, "%s\n", want);
	return 0;
}

/*
 * Alpine's /etc/mkinitfs/mkinitfs.conf: the feature @arg in the
 * features="..." list (mkinitfs reads features.d/@arg.modules for it).
 * Without a features line mkinitfs uses its defaults: left alone.
 */
int fix_edit_mkinitfs_feature(const struct fix_ctx *ctx, const char *arg,
			      const char *in, size_t len, struct fix_buf *out)
{
	const char *pos = in, *line;
	size_t ll;

	while (fix_line_next(&pos, in + len, &line, &ll)) {
		const char *q, *end;
		size_t skip = 0;

		while (skip < ll && (line[skip] == ' ' || line[skip] == '\t'))
			skip++;
		if (ll - skip < 10 || memcmp(line + skip, "features=", 9) ||
		    (line[skip + 9] != '"' && line[skip + 9] != '\'')) {
			fix_buf_line(out, line, ll);
			continue;
		}
		q = line + skip + 10;
		end = memchr(q, line[skip + 9], (size_t)(line + ll - q));
		if (!end || fix_line_has_word(q, (size_t)(end - q), arg)) {
			fix_buf_line(out, line, ll);
			continue;
		}
		/* features="ata base ext4" -> features="ata base ext4 xen" */
		fix_buf_add(out, line, (size_t)(end - line));
		if (end > q && end[-1] != ' ')
			fix_buf_add(out, " ", 1);
		fix_buf_puts(out, arg);
		fix_buf_line(out, end, (size_t)(line + ll - end));
	}
	return 0;
}

static const char *xen_modules(const struct fix_facts *f)
{
	return f->classic_xen_kernel ? "xenblk xennet" :
				       "xen-blkfront xen-netfront";
}

int fix_rule_modules(struct fix_planner *p)
{
	static const char *const modular[] = { "/lib/modules", "/sbin/modprobe",
					       "/etc/modprobe.d",
					       "/etc/modprobe.conf", NULL };
	const struct fix_facts *f = p->ctx->facts;
	bool any = false;
	int r;

	for (size_t i = 0; modular[i]; i++)
		any |= fix_has(p->rd, modular[i], 0);
	if (!any)
		return 0; /* a kernel without modules, or none at all */

	/* modprobe.conf for the RHEL 5 generation (mkinitrd reads its
	   scsi_hostadapter aliases), modprobe.d for everyone else */
	if (fix_has(p->rd, "/etc/modprobe.conf", S_IFREG) ||
	    (f->family == FIX_FAMILY_RHEL && f->version_major &&
	     f->version_major <= 5))
		r = fix_plan_file(p, "/etc/modprobe.conf", FIX_OP_MODPROBE,
				  NULL, FIX_MAY_CREATE, 0644, 0, 0);
	else
		r = fix_plan_file(p, "/etc/modprobe.d/domufs-xen.conf",
				  FIX_OP_MODPROBE, NULL, FIX_MAY_CREATE, 0644,
				  0, 0);
	if (r < 0)
		return r;

	/* The kernel lives in the domU (PyGRUB): its initramfs, when it is
	   next rebuilt, must carry the PV drivers. */
	if (!p->ctx->profile->pygrub || !f->kernel[0])
		return 0;
	if (fix_has(p->rd, "/etc/initramfs-tools", S_IFDIR) ||
	    fix_has(p->rd, "/usr/sbin/update-initramfs", 0))
		return fix_plan_file(p, "/etc/initramfs-tools/modules",
				     FIX_OP_MODULES_LIST, xen_modules(f),
				     FIX_MAY_CREATE, 0644, 0, 0);
	if (fix_has(p->rd, "/etc/dracut.conf", 0) ||
	    fix_has(p->rd, "/etc/dracut.conf.d", S_IFDIR) ||
	    fix_has(p->rd, "/usr/bin/dracut", 0) ||
	    fix_has(p->rd, "/sbin/dracut", 0))
		return fix_plan_file(p, "/etc/dracut.conf.d/domufs-xen.conf",
				     FIX_OP_DRACUT, "xen-blkfront xen-netfront",
				     FIX_MAY_CREATE, 0644, 0, 0);
	/* Alpine: a mkinitfs feature of our own, switched on */
	if (fix_has(p->rd, "/etc/mkinitfs/mkinitfs.conf", S_IFREG)) {
		r = fix_plan_file(p, "/etc/mkinitfs/features.d/xen.modules",
				  FIX_OP_MODULES_LIST,
				  "kernel/drivers/block/xen-blkfront.ko* "
				  "kernel/drivers/net/xen-netfront.ko*",
				  FIX_MAY_CREATE, 0644, 0, 0);
		if (r < 0)
			return r;
		return fix_plan_file(p, "/etc/mkinitfs/mkinitfs.conf",
				     FIX_OP_MKINITFS_FEATURE, "xen",
				     FIX_MUST_EXIST, 0644, 0, 0);
	}
	return 0;
}

/* ---- udev ---------------------------------------------------------------- */

int fix_edit_empty(const struct fix_ctx *ctx, const char *arg, const char *in,
		   size_t len, struct fix_buf *out)
{
	return 0;
}

int fix_rule_udev(struct fix_planner *p)
{
	static const char *const saved[] = {
		"/etc/udev/rules.d/70-persistent-net.rules",
		"/etc/udev/rules.d/z25_persistent-net.rules", NULL
	};
	static const char *const generators[] = {
		"75-persistent-net-generator.rules",
		"z45_persistent-net-generator.rules", NULL
	};
	int r;

	/* The MACs of the machine the template was made on: with them the
	   domU's vif would become eth1. */
	for (size_t i = 0; saved[i]; i++) {
		r = fix_plan_hide(p, saved[i]);
		if (r < 0)
			return r;
	}
	if (p->ctx->profile->n_nics > 1)
		return 0;
	/* One NIC: nothing to keep stable, so no generator either. One in
	   /lib is masked by an empty file of the same name in /etc. */
	for (size_t i = 0; generators[i]; i++) {
		char lib[128], usr[128], etc[128];

		snprintf(lib, sizeof(lib), "/lib/udev/rules.d/%s",
			 generators[i]);
		snprintf(usr, sizeof(usr), "/usr/lib/udev/rules.d/%s",
			 generators[i]);
		snprintf(etc, sizeof(etc), "/etc/udev/rules.d/%s",
			 generators[i]);
		if (fix_has(p->rd, lib, S_IFREG) ||
		    fix_has(p->rd, usr, S_IFREG))
			r = fix_plan_file(p, etc, FIX_OP_EMPTY, NULL,
					  FIX_MAY_CREATE, 0644, 0, 0);
		else
			r = fix_plan_hide(p, etc);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- dirs ---------------------------------------------------------------- */

/* "xvdb3" -> disk index 1, partition 3; false for names we cannot map. */
static bool vbd_index(const char *vdev, const char *prefix, unsigned *ret_disk,
		      unsigned *ret_part)
{
	size_t pl = strlen(prefix);
	const char *s = vdev + pl;
	unsigned disk = 0, part = 0;

	if (strncmp(vdev, prefix, pl) || !islower((unsigned char)*s))
		return false;
	if (islower((unsigned char)s[1])) {
		/* xvdaa.. */
		disk = 26u * (unsigned)(s[0] - 'a' + 1) +
		       (unsigned)(s[1] - 'a');
		s += 2;
	} else {
		disk = (unsigned)(s[0] - 'a');
		s += 1;
	}
	while (isdigit((unsigned char)*s) && part < 1000)
		part = part * 10 + (unsigned)(*s++ - '0');
	if (*s || part > 15 || disk > 15)
		return false;
	*ret_disk = disk;
	*ret_part = part;
	return true;
}

static int plan_vbd_node(struct fix_planner *p, const char *vdev, bool part1,
			 gid_t disk_gid)
{
	bool classic = p->ctx->facts->classic_xen_kernel;
	unsigned major = 202, disk, part;
	char name[32], path[48];

	if (classic && vbd_index(vdev, "sd", &disk, &part)) {
		major = 8;
		snprintf(name, sizeof(name), "%s", vdev);
	} else if (vbd_index(vdev, "xvd", &disk, &part) ||
		   vbd_index(vdev, "sd", &disk, &part) ||
		   vbd_index(vdev, "hd", &disk, &part)) {
		snprintf(name, sizeof(name), "xvd%s",
			 vdev + 2 + (vdev[0] == 'x'));
	} else {
		return 0;
	}
	/* the whole disk, or the partition the vdev names */
	{
		const char *digits = name + strcspn(name, "0123456789");
		size_t base = (size_t)(digits - name);
		int r;

		snprintf(path, sizeof(path), "/dev/%s", name);
		r = fix_plan_mknod(p, path, S_IFBLK | 0660,
				   makedev(major, disk * 16 + part), 0,
				   disk_gid);
		if (r < 0 || part || !part1)
			return r;
		snprintf(path, sizeof(path), "/dev/%.*s1", (int)base, name);
		return fix_plan_mknod(p, path, S_IFBLK | 0660,
				      makedev(major, disk * 16 + 1), 0,
				      disk_gid);
	}
}

int fix_rule_dirs(struct fix_planner *p)
{
	static const struct {
		const char *path;
		mode_t mode;
	} dirs[] = {
		{ "/proc", 0555 }, { "/sys", 0555 }, { "/dev", 0755 },
		{ "/tmp", 01777 }, { "/run", 0755 },
	};
	const struct fix_facts *f = p->ctx->facts;
	const struct fix_profile *prof = p->ctx->profile;
	const char *dev = fix_console_name(p->ctx);
	gid_t disk_gid, tty_gid, dialout_gid;
	int r;

	for (size_t i = 0; i < DM_ARRAY_SIZE(dirs); i++) {
		r = fix_plan_mkdir(p, dirs[i].path, dirs[i].mode, 0, 0);
		if (r < 0)
			return r;
	}
	/* udev (and systemd, which needs devtmpfs) make nodes at boot */
	if (f->has_udev || f->init == FIX_INIT_SYSTEMD)
		return 0;
	disk_gid = fix_lookup_id(p->rd, "/etc/group", "disk", 6);
	tty_gid = fix_lookup_id(p->rd, "/etc/group", "tty", 5);
	dialout_gid = fix_lookup_id(p->rd, "/etc/group", "dialout", 20);
	r = fix_plan_mkdir(p, "/dev/pts", 0755, 0, 0);
	if (r < 0)
		return r;
	if (!prof->n_disks) {
		r = plan_vbd_node(p, "xvda", p->ctx->partitioned, disk_gid);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < prof->n_disks; i++) {
		r = plan_vbd_node(p, prof->disks[i],
				  i == 0 && p->ctx->partitioned, disk_gid);
		if (r < 0)
			return r;
	}
	if (!strcmp(dev, "xvc0"))
		r = fix_plan_mknod(p, "/dev/xvc0", S_IFCHR | 0620,
				   makedev(204, 191), 0, tty_gid);
	else if (!strcmp(dev, "hvc0"))
		r = fix_plan_mknod(p, "/dev/hvc0", S_IFCHR | 0620,
				   makedev(229, 0), 0, tty_gid);
	else if (!strcmp(dev, "ttyS0"))
		r = fix_plan_mknod(p, "/dev/ttyS0", S_IFCHR | 0660,
				   makedev(4, 64), 0, dialout_gid);
	if (r < 0)
		return r;
	r = fix_plan_mknod(p, "/dev/console", S_IFCHR | 0600, makedev(5, 1), 0,
			   0);
	if (r < 0)
		return r;
	return fix_plan_mknod(p, "/dev/null", S_IFCHR | 0666, makedev(1, 3), 0,
			      0);
}
