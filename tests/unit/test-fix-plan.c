// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the fixups as a whole: the rule catalog and its selection,
 * the fix_set (order, lookup, directory children, parents), and the
 * properties every rule must have on every family: each edit is a fixed
 * point, and the fixups applied to their own output plan nothing new.
 */
#include <sys/sysmacros.h>

#include "tests/unit/test-fix-tree.h"

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

static const struct fix_nic nics[] = {
	{ "00:16:3e:12:34:56", "192.0.2.10", 24 },
};
static const char *const disks[] = { "xvda" };
static const char *const nameservers[] = { "192.0.2.53" };
static const char *const keys[] = {
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZ2xlZ29vZ2xl admin@example",
	"from=\"192.0.2.0/24\" ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAB x",
};

static void profile_full(struct fix_profile *p)
{
	memset(p, 0, sizeof(*p));
	p->hostname = "banquo.example.org";
	p->disks = disks;
	p->n_disks = 1;
	p->nics = nics;
	p->n_nics = 1;
	p->gateway = "192.0.2.1";
	p->nameservers = nameservers;
	p->n_nameservers = 1;
	p->root_password_hash = "$y$j9T$abcdefghijklmnopqrstuv$"
				"0123456789012345678901234567890123456789012";
	p->ssh_keys = keys;
	p->n_ssh_keys = 2;
	p->pygrub = true;
	p->rules = FIX_RULES_ALL;
}

typedef struct mem_tree *(*tree_fn)(void);

static const struct {
	const char *name;
	tree_fn make;
} families[] = {
	{ "debian4", tree_debian4 },   { "debian12", tree_debian12 },
	{ "ubuntu14", tree_ubuntu14 }, { "ubuntu22", tree_ubuntu22 },
	{ "centos5", tree_centos5 },   { "centos6", tree_centos6 },
	{ "centos7", tree_centos7 },   { "alpine", tree_alpine },
	{ "busybox", tree_busybox },
};

/* ---- The catalog ---------------------------------------------------------- */

static void rule_names_round_trip(void **state)
{
	for (int i = 0; i < FIX_RULE_COUNT; i++) {
		const char *n = fix_rule_name(i);

		assert_non_null(n);
		assert_int_equal(fix_rule_lookup(n), i);
	}
	assert_null(fix_rule_name(FIX_RULE_COUNT));
	assert_int_equal(fix_rule_lookup("nosuch"), -ENOENT);
	assert_int_equal(fix_rule_lookup("fstab"), FIX_RULE_FSTAB);
	assert_int_equal(fix_rule_lookup("firstboot"), FIX_RULE_FIRSTBOOT);
}

static uint32_t select_ok(size_t n, const char *const *names)
{
	uint32_t mask = 0xdeadbeef;

	assert_int_equal(fix_rules_select(names, n, &mask, NULL), 0);
	return mask;
}

static void all_minus_udev_switches_one_rule_off(void **state)
{
	const char *const v[] = { "all", "-udev" };

	assert_int_equal(select_ok(2, v),
			 FIX_RULES_ALL & ~FIX_RULE_BIT(FIX_RULE_UDEV));
}

static void a_list_of_names_switches_only_those_on(void **state)
{
	const char *const v[] = { "fstab", "+console" };

	assert_int_equal(select_ok(2, v),
			 FIX_RULE_BIT(FIX_RULE_FSTAB) |
				 FIX_RULE_BIT(FIX_RULE_CONSOLE));
}

static void a_list_starting_with_minus_starts_from_all(void **state)
{
	const char *const v[] = { "-network", "-accounts" };

	assert_int_equal(select_ok(2, v),
			 FIX_RULES_ALL & ~FIX_RULE_BIT(FIX_RULE_NETWORK) &
				 ~FIX_RULE_BIT(FIX_RULE_ACCOUNTS));
}

static void none_then_a_name_and_empty_list(void **state)
{
	const char *const v[] = { "all", "none", "dirs" };

	assert_int_equal(select_ok(3, v), FIX_RULE_BIT(FIX_RULE_DIRS));
	assert_int_equal(select_ok(0, NULL), FIX_RULES_ALL);
}

static void unknown_fixup_name_is_refused_with_its_index(void **state)
{
	const char *const v[] = { "all", "-udev", "-bogus" };
	uint32_t mask = 7;
	size_t bad = 99;

	assert_int_equal(fix_rules_select(v, 3, &mask, &bad), -EINVAL);
	assert_int_equal(bad, 2);
	assert_int_equal(mask, 7); /* untouched on failure */
}

/* ---- Names ---------------------------------------------------------------- */

static void root_device_follows_vdev_and_partitioning(void **state)
{
	static const char *const part[] = { "xvdb2" };
	struct fix_facts facts = { 0 };
	struct fix_profile prof;
	struct fix_ctx ctx = { &facts, &prof, "ext4", false };
	char dev[32], small[6];

	profile_full(&prof);
	assert_int_equal(fix_root_device(&ctx, dev, sizeof(dev)), 0);
	assert_string_equal(dev, "/dev/xvda");
	ctx.partitioned = true;
	assert_int_equal(fix_root_device(&ctx, dev, sizeof(dev)), 0);
	assert_string_equal(dev, "/dev/xvda1");
	prof.disks = part; /* names its partition already */
	assert_int_equal(fix_root_device(&ctx, dev, sizeof(dev)), 0);
	assert_string_equal(dev, "/dev/xvdb2");
	prof.n_disks = 0; /* no disk: xvda */
	assert_int_equal(fix_root_device(&ctx, dev, sizeof(dev)), 0);
	assert_string_equal(dev, "/dev/xvda1");
	assert_int_equal(fix_root_device(&ctx, small, sizeof(small)),
			 -ENAMETOOLONG);
}

static void ext4_too_new_for_an_old_kernel_booted_by_pygrub(void **state)
{
	struct fix_facts facts = { 0 };
	struct fix_profile prof;
	struct fix_ctx ctx = { &facts, &prof, "ext4", false };
	char why[160];

	profile_full(&prof);
	prof.pygrub = true;
	strcpy(facts.kernel, "/boot/vmlinuz-2.6.18-xen");
	assert_non_null(fix_fs_unsupported(&ctx, why, sizeof(why)));
	assert_non_null(strstr(why, "2.6.18-xen has no ext4"));
	strcpy(facts.kernel, "/boot/vmlinuz-2.6.32-754.el6.x86_64");
	assert_non_null(fix_fs_unsupported(&ctx, why, sizeof(why)));
	assert_non_null(strstr(why, "metadata checksums"));
	strcpy(facts.kernel, "/boot/vmlinuz-3.6.0");
	assert_null(fix_fs_unsupported(&ctx, why, sizeof(why)));
	strcpy(facts.kernel, "/boot/vmlinuz-6.1.0-28-amd64");
	assert_null(fix_fs_unsupported(&ctx, why, sizeof(why)));
	strcpy(facts.kernel, "/boot/vmlinuz-lts"); /* no version: not known */
	assert_null(fix_fs_unsupported(&ctx, why, sizeof(why)));
	strcpy(facts.kernel, "/boot/vmlinuz-2.6.18-xen");
	ctx.fs_type = "ext3";
	assert_null(fix_fs_unsupported(&ctx, why, sizeof(why)));
	ctx.fs_type = NULL; /* a mount, not a commit */
	assert_null(fix_fs_unsupported(&ctx, why, sizeof(why)));
	ctx.fs_type = "ext4";
	prof.pygrub = false; /* dom0's kernel boots it */
	assert_null(fix_fs_unsupported(&ctx, why, sizeof(why)));
}

static void nic_names_follow_the_naming_scheme(void **state)
{
	struct fix_facts facts = { 0 };
	struct fix_profile prof;
	struct fix_ctx ctx = { &facts, &prof, NULL, false };
	char name[16];

	profile_full(&prof);
	fix_nic_name(&ctx, 1, name);
	assert_string_equal(name, "eth1");
	facts.ifnames_xen = true;
	fix_nic_name(&ctx, 0, name);
	assert_string_equal(name, "enX0");
	prof.extra = "console=hvc0 net.ifnames=0";
	fix_nic_name(&ctx, 0, name);
	assert_string_equal(name, "eth0");
}

/* ---- The set -------------------------------------------------------------- */

static struct fix_set *plan_family(struct mem_tree *t, struct fix_facts *f,
				   struct fix_profile *prof,
				   struct fix_ctx *ctx)
{
	struct fix_set *set = NULL;

	assert_int_equal(fix_detect(&t->rd, f), 0);
	ctx->facts = f;
	ctx->profile = prof;
	assert_int_equal(fix_plan(ctx, &t->rd, &set), 0);
	return set;
}

static void dir_of(const char *path, char *buf, size_t size)
{
	const char *s = strrchr(path, '/');

	if (s == path)
		snprintf(buf, size, "/");
	else
		snprintf(buf, size, "%.*s", (int)(s - path), path);
}

static void set_is_sorted_by_directory_parents_first(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct fix_facts f;
	struct fix_profile prof;
	struct fix_ctx ctx = { .fs_type = "ext4" };
	struct fix_set *set;
	size_t n;

	profile_full(&prof);
	set = plan_family(t, &f, &prof, &ctx);
	n = fix_set_count(set);
	assert_true(n > 10);
	for (size_t i = 0; i < n; i++) {
		const struct fix_action *a = fix_set_at(set, i);
		char dir[256];
		size_t first = 0, cnt;
		bool found = false;

		assert_int_equal(a->path[0], '/');
		assert_non_null(a->rule);
		assert_int_equal(fix_rule_lookup(a->rule) >= 0, 1);
		assert_ptr_equal(fix_set_find(set, a->path), a);
		/* its directory's entries are adjacent and include it */
		dir_of(a->path, dir, sizeof(dir));
		cnt = fix_set_children(set, dir, &first);
		for (size_t k = first; k < first + cnt; k++)
			found |= fix_set_at(set, k) == a;
		assert_true(found);
		/* a created parent comes before its children */
		if (strcmp(dir, "/")) {
			const struct fix_action *pa = fix_set_find(set, dir);

			if (pa)
				assert_true(pa < a);
		}
		/* one action per path */
		for (size_t k = i + 1; k < n; k++)
			assert_string_not_equal(fix_set_at(set, k)->path,
						a->path);
	}
	assert_null(fix_set_find(set, "/etc/nosuch"));
	assert_null(fix_set_at(set, n));
	assert_int_equal(fix_set_children(set, "/nosuch", NULL), 0);
	assert_null(fix_set_free(set));
	free(t);
}

static void children_of_etc_ssh_are_the_hidden_keys(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct fix_facts f;
	struct fix_profile prof;
	struct fix_ctx ctx = { 0 };
	struct fix_set *set;
	size_t first, cnt;

	profile_full(&prof);
	prof.rules = FIX_RULE_BIT(FIX_RULE_IDENTITY);
	set = plan_family(t, &f, &prof, &ctx);
	cnt = fix_set_children(set, "/etc/ssh/", &first);
	assert_int_equal(cnt, 6);
	for (size_t i = first; i < first + cnt; i++)
		assert_int_equal(fix_set_at(set, i)->kind, FIX_HIDE);
	fix_set_free(set);
	free(t);
}

static void no_rules_no_actions_and_null_safety(void **state)
{
	struct mem_tree *t = tree_debian4();
	struct fix_facts f;
	struct fix_profile prof;
	struct fix_ctx ctx = { 0 };
	struct fix_set *set;

	profile_full(&prof);
	prof.rules = 0;
	set = plan_family(t, &f, &prof, &ctx);
	assert_int_equal(fix_set_count(set), 0);
	assert_int_equal(fix_set_children(set, "/", NULL), 0);
	fix_set_free(set);
	prof.rules = FIX_RULE_BIT(FIX_RULE_FIRSTBOOT); /* that one only */
	set = plan_family(t, &f, &prof, &ctx);
	assert_true(fix_set_count(set) > 0);
	for (size_t i = 0; i < fix_set_count(set); i++)
		assert_string_equal(fix_set_at(set, i)->rule, "firstboot");
	fix_set_free(set);
	assert_null(fix_set_free(NULL));
	assert_int_equal(fix_set_count(NULL), 0);
	assert_null(fix_set_find(NULL, "/etc"));
	free(t);
}

static void only_enabled_rules_act(void **state)
{
	for (size_t fam = 0; fam < ARRAY_N(families); fam++) {
		struct mem_tree *t = families[fam].make();
		struct fix_facts f;
		struct fix_profile prof;
		struct fix_ctx ctx = { 0 };
		struct fix_set *set;

		profile_full(&prof);
		prof.rules = FIX_RULES_ALL & ~FIX_RULE_BIT(FIX_RULE_NETWORK) &
			     ~FIX_RULE_BIT(FIX_RULE_UDEV) &
			     ~FIX_RULE_BIT(FIX_RULE_FIRSTBOOT);
		set = plan_family(t, &f, &prof, &ctx);
		for (size_t i = 0; i < fix_set_count(set); i++) {
			const char *rule = fix_set_at(set, i)->rule;

			assert_string_not_equal(rule, "network");
			assert_string_not_equal(rule, "udev");
			assert_string_not_equal(rule, "firstboot");
		}
		assert_null(fix_set_find(set, "/usr/lib/domufs/firstboot"));
		fix_set_free(set);
		free(t);
	}
}

static void edit_refuses_actions_without_a_transform(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct fix_facts f;
	struct fix_profile prof;
	struct fix_ctx ctx = { 0 };
	struct fix_set *set;
	char *out = NULL;
	size_t len = 0;

	profile_full(&prof);
	set = plan_family(t, &f, &prof, &ctx);
	for (size_t i = 0; i < fix_set_count(set); i++) {
		const struct fix_action *a = fix_set_at(set, i);

		if (a->kind == FIX_EDIT || a->kind == FIX_CREATE)
			continue;
		assert_int_equal(fix_edit(&ctx, a, "x", 1, &out, &len),
				 -EINVAL);
	}
	assert_int_equal(fix_edit(&ctx, NULL, "x", 1, &out, &len), -EINVAL);
	assert_null(out);
	fix_set_free(set);
	free(t);
}

/* ---- Properties on every family ------------------------------------------ */

/* Odd contents a file may have when the view re-runs an edit. */
static const char *const odd_inputs[] = {
	"",
	"\n",
	"no newline at the end",
	"\n\n\n",
	"# only a comment\n",
	"crlf line\r\nsecond\r\n",
	"  \t  \n\t\n",
	"root:x\n",
	"::\n:::\n",
	"id:2:initdefault:\n1:2345:respawn:/sbin/getty 38400 tty1",
	"/ / / / / /\n/dev/xvda / ext4\n/dev/sdb1 /\n",
	("auto eth0 enX0 lo\niface eth0 inet dhcp\niface enX0 inet6 auto\n"
	 "\taddress ::1\n# domufs: vif 0\nallow-hotplug\n"),
	"127.0.1.1\n127.0.1.1 a b\n127.0.0.1\n",
	"HOSTNAME=x\nHOSTNAME=y\nexport DEVICE=eth9\n=bad\n9X=1\n",
	"nameserver\nnameserver 1.1.1.1\n",
	"alias\nalias eth0\nalias scsi_hostadapter a b\n",
	"binary\0zero\n",
};

static void check_edit_is_fixed_point(const struct fix_ctx *ctx,
				      const struct fix_action *a,
				      const char *in, size_t inlen,
				      const char *family)
{
	char *once = NULL, *twice = NULL;
	size_t l1 = 0, l2 = 0;

	assert_int_equal(fix_edit(ctx, a, in, inlen, &once, &l1), 0);
	assert_non_null(once);
	assert_int_equal(once[l1], '\0');
	assert_int_equal(fix_edit(ctx, a, once, l1, &twice, &l2), 0);
	if (l1 != l2 || memcmp(once, twice, l1))
		fail_msg("%s %s (%s): not idempotent on %.*s\n--- once\n%.*s"
			 "--- twice\n%.*s",
			 family, a->path, a->rule, (int)inlen, in, (int)l1,
			 once, (int)l2, twice);
	free(once);
	free(twice);
}

static void every_edit_is_a_fixed_point_on_every_family(void **state)
{
	static const bool parts[] = { false, true };

	for (size_t fam = 0; fam < ARRAY_N(families); fam++)
		for (size_t pi = 0; pi < 2; pi++) {
			struct mem_tree *t = families[fam].make();
			struct fix_facts f;
			struct fix_profile prof;
			struct fix_ctx ctx = { .fs_type = "ext3",
					       .partitioned = parts[pi] };
			struct fix_set *set;

			profile_full(&prof);
			set = plan_family(t, &f, &prof, &ctx);
			for (size_t i = 0; i < fix_set_count(set); i++) {
				const struct fix_action *a = fix_set_at(set, i);
				const char *in;

				if (a->kind != FIX_EDIT &&
				    a->kind != FIX_CREATE)
					continue;
				in = a->kind == FIX_EDIT ?
					     tree_data(t, a->path) :
					     "";
				assert_non_null(in);
				check_edit_is_fixed_point(&ctx, a, in,
							  strlen(in),
							  families[fam].name);
				for (size_t k = 0; k < ARRAY_N(odd_inputs);
				     k++) {
					size_t len = strlen(odd_inputs[k]);

					if (!strncmp(odd_inputs[k], "binary",
						     6))
						len = 12;
					check_edit_is_fixed_point(
						&ctx, a, odd_inputs[k], len,
						families[fam].name);
				}
			}
			fix_set_free(set);
			free(t);
		}
}

/* Applies @set to @t as the view would show it. Buffers kept in @bufs. */
static void apply(struct mem_tree *t, const struct fix_ctx *ctx,
		  const struct fix_set *set, char **bufs, size_t *n_bufs)
{
	for (size_t i = 0; i < fix_set_count(set); i++) {
		const struct fix_action *a = fix_set_at(set, i);
		struct mem_entry *e;
		const char *in;
		char *out;
		size_t len;

		switch (a->kind) {
		case FIX_EDIT:
			in = tree_data(t, a->path);
			assert_non_null(in);
			assert_int_equal(fix_edit(ctx, a, in, strlen(in), &out,
						  &len),
					 0);
			bufs[(*n_bufs)++] = out;
			tree_get(t, a->path)->data = out;
			break;
		case FIX_CREATE:
			out = strndup(a->data, a->len);
			bufs[(*n_bufs)++] = out;
			e = tree_put(t, a->path, S_IFREG | a->mode, out);
			(void)e;
			break;
		case FIX_SYMLINK:
			tree_link(t, a->path, a->target);
			break;
		case FIX_MKDIR:
			tree_put(t, a->path, S_IFDIR | a->mode, NULL);
			break;
		case FIX_MKNOD:
			tree_put(t, a->path, a->mode, NULL);
			break;
		case FIX_HIDE:
			tree_remove(t, a->path);
			break;
		}
		assert_true(*n_bufs < 256);
	}
}

static void fixups_applied_to_their_output_change_nothing(void **state)
{
	for (size_t fam = 0; fam < ARRAY_N(families); fam++) {
		struct mem_tree *t = families[fam].make();
		struct fix_facts f, f2;
		struct fix_profile prof;
		struct fix_ctx ctx = { .fs_type = "ext4" };
		struct fix_set *set, *again;
		char *bufs[256];
		size_t n_bufs = 0;

		profile_full(&prof);
		set = plan_family(t, &f, &prof, &ctx);
		apply(t, &ctx, set, bufs, &n_bufs);
		/* the same facts from the fixed tree */
		again = plan_family(t, &f2, &prof, &ctx);
		assert_int_equal(f2.family, f.family);
		assert_int_equal(f2.init, f.init);
		assert_int_equal(f2.net, f.net);
		for (size_t i = 0; i < fix_set_count(again); i++) {
			const struct fix_action *a = fix_set_at(again, i);
			const char *in;
			char *out;
			size_t len;

			if (a->kind != FIX_EDIT)
				fail_msg("%s: %s planned again (kind %d, %s)",
					 families[fam].name, a->path, a->kind,
					 a->rule);
			in = tree_data(t, a->path);
			assert_int_equal(fix_edit(&ctx, a, in, strlen(in), &out,
						  &len),
					 0);
			if (len != strlen(in) || memcmp(in, out, len))
				fail_msg("%s: %s changes again:\n%s---\n%s",
					 families[fam].name, a->path, in, out);
			free(out);
		}
		fix_set_free(again);
		fix_set_free(set);
		for (size_t i = 0; i < n_bufs; i++)
			free(bufs[i]);
		free(t);
	}
}

static void created_entries_have_a_parent(void **state)
{
	for (size_t fam = 0; fam < ARRAY_N(families); fam++) {
		struct mem_tree *t = families[fam].make();
		struct fix_facts f;
		struct fix_profile prof;
		struct fix_ctx ctx = { 0 };
		struct fix_set *set;

		profile_full(&prof);
		set = plan_family(t, &f, &prof, &ctx);
		for (size_t i = 0; i < fix_set_count(set); i++) {
			const struct fix_action *a = fix_set_at(set, i);
			const struct fix_action *pa;
			struct mem_entry *pe;
			char dir[256];

			if (a->kind == FIX_EDIT || a->kind == FIX_HIDE)
				continue;
			dir_of(a->path, dir, sizeof(dir));
			if (!strcmp(dir, "/"))
				continue;
			pe = tree_get(t, dir);
			pa = fix_set_find(set, dir);
			if (!(pe && S_ISDIR(pe->mode)) &&
			    !(pa && pa->kind == FIX_MKDIR))
				fail_msg("%s: %s has no parent",
					 families[fam].name, a->path);
		}
		fix_set_free(set);
		free(t);
	}
}

static void busybox_template_plan_is_complete(void **state)
{
	/* the repository's default template, as `domufs diff` shows it */
	static const char *const want[] = {
		"/dev/console",
		"/dev/hvc0",
		"/dev/pts",
		"/dev/xvda",
		"/etc/fstab",
		"/etc/hostname",
		"/etc/hosts",
		"/etc/init.d/rcS",
		"/etc/inittab",
		"/etc/network/interfaces",
		"/etc/resolv.conf",
		"/etc/securetty",
		"/etc/shadow",
		"/root/.ssh",
		"/root/.ssh/authorized_keys",
		"/run",
		"/usr",
		"/usr/lib",
		"/usr/lib/domufs",
		"/usr/lib/domufs/firstboot",
		NULL,
	};
	struct mem_tree *t = tree_busybox();
	struct fix_facts f;
	struct fix_profile prof;
	struct fix_ctx ctx = { 0 };
	struct fix_set *set;
	size_t n = 0;

	profile_full(&prof);
	set = plan_family(t, &f, &prof, &ctx);
	for (size_t i = 0; want[i]; i++) {
		if (!fix_set_find(set, want[i]))
			fail_msg("no action on %s", want[i]);
		n++;
	}
	assert_non_null(fix_set_find(set, "/dev/null"));
	assert_int_equal(fix_set_count(set), n + 1);
	fix_set_free(set);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rule_names_round_trip),
		cmocka_unit_test(all_minus_udev_switches_one_rule_off),
		cmocka_unit_test(a_list_of_names_switches_only_those_on),
		cmocka_unit_test(a_list_starting_with_minus_starts_from_all),
		cmocka_unit_test(none_then_a_name_and_empty_list),
		cmocka_unit_test(unknown_fixup_name_is_refused_with_its_index),
		cmocka_unit_test(root_device_follows_vdev_and_partitioning),
		cmocka_unit_test(
			ext4_too_new_for_an_old_kernel_booted_by_pygrub),
		cmocka_unit_test(nic_names_follow_the_naming_scheme),
		cmocka_unit_test(set_is_sorted_by_directory_parents_first),
		cmocka_unit_test(children_of_etc_ssh_are_the_hidden_keys),
		cmocka_unit_test(no_rules_no_actions_and_null_safety),
		cmocka_unit_test(only_enabled_rules_act),
		cmocka_unit_test(edit_refuses_actions_without_a_transform),
		cmocka_unit_test(every_edit_is_a_fixed_point_on_every_family),
		cmocka_unit_test(fixups_applied_to_their_output_change_nothing),
		cmocka_unit_test(created_entries_have_a_parent),
		cmocka_unit_test(busybox_template_plan_is_complete),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
