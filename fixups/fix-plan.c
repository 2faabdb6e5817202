// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The rule table, rule selection, the planner that collects the rules'
 * actions into a sorted fix_set, and fix_edit()'s dispatch. A fix_set is
 * built by one thread and immutable afterwards.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "common/cleanup.h"
#include "fixups/fix-internal.h"

struct fix_set {
	struct fix_action *a;
	size_t n, cap;
};

/* ---- The catalog --------------------------------------------------------- */

static const struct {
	const char *name;
	int (*plan)(struct fix_planner *p);
} rules[FIX_RULE_COUNT] = {
	[FIX_RULE_FSTAB] = { "fstab", fix_rule_fstab },
	[FIX_RULE_CONSOLE] = { "console", fix_rule_console },
	[FIX_RULE_SECURETTY] = { "securetty", fix_rule_securetty },
	[FIX_RULE_MODULES] = { "modules", fix_rule_modules },
	[FIX_RULE_UDEV] = { "udev", fix_rule_udev },
	[FIX_RULE_DIRS] = { "dirs", fix_rule_dirs },
	[FIX_RULE_IDENTITY] = { "identity", fix_rule_identity },
	[FIX_RULE_NETWORK] = { "network", fix_rule_network },
	[FIX_RULE_ACCOUNTS] = { "accounts", fix_rule_accounts },
	[FIX_RULE_BOOTLOADER] = { "bootloader", fix_rule_bootloader },
	[FIX_RULE_FIRSTBOOT] = { "firstboot", fix_rule_firstboot },
};

static const fix_edit_fn edits[FIX_OP_COUNT] = {
	[FIX_OP_FSTAB] = fix_edit_fstab,
	[FIX_OP_INITTAB] = fix_edit_inittab,
	[FIX_OP_UPSTART_GETTY] = fix_edit_upstart_getty,
	[FIX_OP_SECURETTY] = fix_edit_securetty,
	[FIX_OP_MODPROBE] = fix_edit_modprobe,
	[FIX_OP_MODULES_LIST] = fix_edit_modules_list,
	[FIX_OP_DRACUT] = fix_edit_dracut,
	[FIX_OP_MKINITFS_FEATURE] = fix_edit_mkinitfs_feature,
	[FIX_OP_EMPTY] = fix_edit_empty,
	[FIX_OP_HOSTNAME] = fix_edit_hostname,
	[FIX_OP_HOSTS] = fix_edit_hosts,
	[FIX_OP_SYSCONFIG_HOSTNAME] = fix_edit_sysconfig_hostname,
	[FIX_OP_SSH_KEYGEN_SYSV] = fix_edit_ssh_keygen_sysv,
	[FIX_OP_SSH_KEYGEN_SYSTEMD] = fix_edit_ssh_keygen_systemd,
	[FIX_OP_SSH_KEYGEN_UPSTART] = fix_edit_ssh_keygen_upstart,
	[FIX_OP_INTERFACES] = fix_edit_interfaces,
	[FIX_OP_IFCFG] = fix_edit_ifcfg,
	[FIX_OP_NETWORKD] = fix_edit_networkd,
	[FIX_OP_NETPLAN] = fix_edit_netplan,
	[FIX_OP_RESOLV] = fix_edit_resolv,
	[FIX_OP_SHADOW] = fix_edit_shadow,
	[FIX_OP_PASSWD] = fix_edit_passwd,
	[FIX_OP_AUTHKEYS] = fix_edit_authkeys,
	[FIX_OP_MENU_LST] = fix_edit_menu_lst,
	[FIX_OP_GRUB_CFG] = fix_edit_grub_cfg,
	[FIX_OP_FIRSTBOOT_SCRIPT] = fix_edit_firstboot_script,
	[FIX_OP_FIRSTBOOT_SYSTEMD] = fix_edit_firstboot_systemd,
	[FIX_OP_FIRSTBOOT_SYSV] = fix_edit_firstboot_sysv,
	[FIX_OP_FIRSTBOOT_OPENRC] = fix_edit_firstboot_openrc,
	[FIX_OP_FIRSTBOOT_UPSTART] = fix_edit_firstboot_upstart,
	[FIX_OP_FIRSTBOOT_HOOK] = fix_edit_firstboot_hook,
	[FIX_OP_FIRSTBOOT_DEPEND] = fix_edit_firstboot_depend,
};

const char *fix_rule_name(enum fix_rule r)
{
	if ((unsigned)r >= FIX_RULE_COUNT)
		return NULL;
	return rules[r].name;
}

int fix_rule_lookup(const char *name)
{
	for (int i = 0; i < FIX_RULE_COUNT; i++)
		if (!strcmp(rules[i].name, name))
			return i;
	return -ENOENT;
}

int fix_rules_select(const char *const *names, size_t n, uint32_t *ret_mask,
		     size_t *ret_bad)
{
	uint32_t mask;

	if (n == 0) {
		*ret_mask = FIX_RULES_ALL;
		return 0;
	}
	mask = names[0][0] == '-' ? FIX_RULES_ALL : 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = names[i];
		bool off = false;
		int r;

		if (!strcmp(s, "all")) {
			mask = FIX_RULES_ALL;
			continue;
		}
		if (!strcmp(s, "none")) {
			mask = 0;
			continue;
		}
		if (s[0] == '-' || s[0] == '+') {
			off = s[0] == '-';
			s++;
		}
		r = fix_rule_lookup(s);
		if (r < 0) {
			if (ret_bad)
				*ret_bad = i;
			return -EINVAL;
		}
		if (off)
			mask &= ~FIX_RULE_BIT(r);
		else
			mask |= FIX_RULE_BIT(r);
	}
	*ret_mask = mask;
	return 0;
}

const char *fix_family_name(enum fix_family f)
{
	switch (f) {
	case FIX_FAMILY_DEBIAN:
		return "debian";
	case FIX_FAMILY_UBUNTU:
		return "ubuntu";
	case FIX_FAMILY_RHEL:
		return "rhel";
	case FIX_FAMILY_ALPINE:
		return "alpine";
	case FIX_FAMILY_BUSYBOX:
		return "busybox";
	case FIX_FAMILY_UNKNOWN:
		break;
	}
	return "unknown";
}

const char *fix_init_name(enum fix_init i)
{
	switch (i) {
	case FIX_INIT_SYSVINIT:
		return "sysvinit";
	case FIX_INIT_BUSYBOX:
		return "busybox";
	case FIX_INIT_OPENRC:
		return "openrc";
	case FIX_INIT_UPSTART:
		return "upstart";
	case FIX_INIT_SYSTEMD:
		return "systemd";
	case FIX_INIT_UNKNOWN:
		break;
	}
	return "unknown";
}

/* ---- Names shared by the rules ------------------------------------------- */

const char *fix_console_name(const struct fix_ctx *ctx)
{
	const char *c = ctx->profile ? ctx->profile->console : NULL;
	const struct fix_facts *f = ctx->facts;

	if (c && *c)
		return c;
	/* Red Hat's 2.6.18 kernel-xen calls the Xen console xvc0 */
	if (f && f->classic_xen_kernel && f->family == FIX_FAMILY_RHEL)
		return "xvc0";
	return "hvc0";
}

const char *fix_fs_unsupported(const struct fix_ctx *ctx, char *buf,
			       size_t size)
{
	const struct fix_facts *f = ctx->facts;
	unsigned major, minor, patch = 0;
	unsigned long v;
	const char *k;

	/* only a kernel of the template's boots the tree (PyGRUB) */
	if (!ctx->fs_type || strcmp(ctx->fs_type, "ext4") || !f ||
	    !ctx->profile || !ctx->profile->pygrub)
		return NULL;
	k = strstr(f->kernel, "vmlinuz-");
	if (!k || sscanf(k + 8, "%u.%u.%u", &major, &minor, &patch) < 2)
		return NULL;
	k += 8;
	v = major * 1000000ul + minor * 1000ul + patch;
	if (v < 2006028) /* ext4 came with 2.6.28 */
		snprintf(buf, size, "its kernel %s has no ext4 (Linux 2.6.28)",
			 k);
	else if (v < 3006000) /* metadata_csum with 3.6 */
		snprintf(
			buf, size,
			"its kernel %s cannot mount ext4 with metadata checksums (Linux 3.6)",
			k);
	else
		return NULL;
	return buf;
}

int fix_root_device(const struct fix_ctx *ctx, char *buf, size_t size)
{
	const char *vdev = "xvda";
	char name[64];
	size_t n;
	int r;

	if (ctx->profile && ctx->profile->n_disks && ctx->profile->disks[0] &&
	    *ctx->profile->disks[0])
		vdev = ctx->profile->disks[0];
	/* Linux pvops blkfront names every vbd xvdX; only the old xenified
	   kernels honour sdX/hdX. */
	if ((!strncmp(vdev, "sd", 2) || !strncmp(vdev, "hd", 2)) &&
	    !(ctx->facts && ctx->facts->classic_xen_kernel))
		r = snprintf(name, sizeof(name), "xvd%s", vdev + 2);
	else
		r = snprintf(name, sizeof(name), "%s", vdev);
	if (r < 0 || (size_t)r >= sizeof(name))
		return -ENAMETOOLONG;
	n = strlen(name);
	if (ctx->partitioned && n &&
	    !(name[n - 1] >= '0' && name[n - 1] <= '9'))
		r = snprintf(buf, size, "/dev/%s1", name);
	else
		r = snprintf(buf, size, "/dev/%s", name);
	if (r < 0 || (size_t)r >= size)
		return -ENAMETOOLONG;
	return 0;
}

void fix_nic_name(const struct fix_ctx *ctx, size_t i, char buf[16])
{
	const char *extra = ctx->profile ? ctx->profile->extra : NULL;
	bool enx = ctx->facts && ctx->facts->ifnames_xen;

	if (extra && (strstr(extra, "net.ifnames=0") ||
		      strstr(extra, "net.naming-scheme=v24")))
		enx = false;
	snprintf(buf, 16, "%s%zu", enx ? "enX" : "eth", i % 100000);
}

/* ---- The set ------------------------------------------------------------- */

struct path_key {
	const char *dir;
	size_t dir_len;
	const char *name;
};

static struct path_key key_of(const char *path)
{
	const char *s = strrchr(path, '/');
	struct path_key k;

	if (!s) {
		k.dir = "";
		k.dir_len = 0;
		k.name = path;
	} else if (s == path) {
		k.dir = "/";
		k.dir_len = 1;
		k.name = s + 1;
	} else {
		k.dir = path;
		k.dir_len = (size_t)(s - path);
		k.name = s + 1;
	}
	return k;
}

static int dir_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

static int path_cmp(const char *a, const char *b)
{
	struct path_key ka = key_of(a), kb = key_of(b);
	int c = dir_cmp(ka.dir, ka.dir_len, kb.dir, kb.dir_len);

	return c ? c : strcmp(ka.name, kb.name);
}

static int action_cmp(const void *a, const void *b)
{
	return path_cmp(((const struct fix_action *)a)->path,
			((const struct fix_action *)b)->path);
}

static void action_clear(struct fix_action *a)
{
	free(a->path);
	free(a->target);
	free(a->data);
	free(a->arg);
	memset(a, 0, sizeof(*a));
}

struct fix_set *fix_set_free(struct fix_set *set)
{
	if (!set)
		return NULL;
	for (size_t i = 0; i < set->n; i++)
		action_clear(&set->a[i]);
	free(set->a);
	free(set);
	return NULL;
}

size_t fix_set_count(const struct fix_set *set)
{
	return set ? set->n : 0;
}

const struct fix_action *fix_set_at(const struct fix_set *set, size_t i)
{
	return set && i < set->n ? &set->a[i] : NULL;
}

const struct fix_action *fix_set_find(const struct fix_set *set,
				      const char *path)
{
	size_t lo = 0, hi;

	if (!set)
		return NULL;
	hi = set->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = path_cmp(path, set->a[mid].path);

		if (!c)
			return &set->a[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t fix_set_children(const struct fix_set *set, const char *dir,
			size_t *ret_first)
{
	size_t dn = strlen(dir), lo = 0, hi, first;

	if (!set)
		return 0;
	if (dn > 1 && dir[dn - 1] == '/')
		dn--;
	hi = set->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct path_key k = key_of(set->a[mid].path);

		if (dir_cmp(k.dir, k.dir_len, dir, dn) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	while (lo < set->n) {
		struct path_key k = key_of(set->a[lo].path);

		if (dir_cmp(k.dir, k.dir_len, dir, dn))
			break;
		lo++;
	}
	if (ret_first)
		*ret_first = first;
	return lo - first;
}

static struct fix_action *set_find_mut(struct fix_set *set, const char *path)
{
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->a[i].path, path))
			return &set->a[i];
	return NULL;
}

/*
 * Adds an action on @path (taken). Returns it, or NULL with *r = 0 when
 * the path already has one (the earlier rule wins), -ENOMEM otherwise.
 */
static struct fix_action *set_add(struct fix_planner *p, enum fix_kind kind,
				  char *path, int *r)
{
	struct fix_set *set = p->set;
	struct fix_action *a;

	*r = 0;
	if (set_find_mut(set, path)) {
		free(path);
		return NULL;
	}
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct fix_action *na = realloc(set->a, cap * sizeof(*na));

		if (!na) {
			free(path);
			*r = -ENOMEM;
			return NULL;
		}
		set->a = na;
		set->cap = cap;
	}
	a = &set->a[set->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->rule = p->rule;
	a->path = path;
	return a;
}

/* ---- Planner helpers ----------------------------------------------------- */

const struct fix_action *fix_plan_find(struct fix_planner *p, const char *path)
{
	_cleanup_free_ char *real = NULL;

	if (fix_resolve(p->rd, path, false, &real) < 0)
		return NULL;
	return set_find_mut(p->set, real);
}

int fix_plan_file(struct fix_planner *p, const char *path, int op,
		  const char *arg, unsigned flags, mode_t mode, uid_t uid,
		  gid_t gid)
{
	char *real = NULL;
	struct fix_action *a;
	mode_t m = 0;
	int r;

	r = fix_resolve(p->rd, path, false, &real);
	if (r < 0)
		return fix_absent(r) ? 0 : r;
	r = p->rd->exists(p->rd->ctx, real, &m);
	if (r == 0 && !S_ISREG(m)) {
		free(real);
		return 0;
	}
	if (fix_absent(r)) {
		if (!(flags & FIX_MAY_CREATE)) {
			free(real);
			return 0;
		}
	} else if (r < 0) {
		free(real);
		return r;
	}
	a = set_add(p, r == 0 ? FIX_EDIT : FIX_CREATE, real, &r);
	if (!a)
		return r;
	a->op = op;
	if (arg) {
		a->arg = strdup(arg);
		if (!a->arg)
			return -ENOMEM;
	}
	if (a->kind == FIX_CREATE) {
		a->mode = mode & 07777;
		a->uid = uid;
		a->gid = gid;
		r = fix_edit(p->ctx, a, NULL, 0, &a->data, &a->len);
		if (r < 0)
			return r;
	}
	return 0;
}

static int plan_hide(struct fix_planner *p, const char *path, bool stale)
{
	struct fix_action *a;
	char *real = NULL;
	int r = fix_resolve(p->rd, path, false, &real);

	if (r < 0)
		return fix_absent(r) ? 0 : r;
	r = p->rd->exists(p->rd->ctx, real, NULL);
	if (fix_absent(r)) {
		free(real);
		return 0;
	}
	if (r < 0) {
		free(real);
		return r;
	}
	a = set_add(p, FIX_HIDE, real, &r);
	if (a)
		a->stale = stale;
	return r;
}

int fix_plan_hide(struct fix_planner *p, const char *path)
{
	return plan_hide(p, path, false);
}

int fix_plan_hide_stale(struct fix_planner *p, const char *path)
{
	return plan_hide(p, path, true);
}

/* Resolves @path's parents; *ret_absent tells whether it is absent. */
static int resolve_absent(struct fix_planner *p, const char *path,
			  char **ret_real, bool *ret_absent)
{
	char *real = NULL;
	int r = fix_resolve(p->rd, path, false, &real);

	if (r < 0 && fix_absent(r)) {
		/* unreachable through the tree's links: leave it */
		*ret_absent = false;
		*ret_real = NULL;
		return 0;
	}
	if (r < 0)
		return r;
	r = p->rd->exists(p->rd->ctx, real, NULL);
	if (r < 0 && !fix_absent(r)) {
		free(real);
		return r;
	}
	*ret_absent = r < 0;
	*ret_real = real;
	return 0;
}

int fix_plan_mkdir(struct fix_planner *p, const char *path, mode_t mode,
		   uid_t uid, gid_t gid)
{
	struct fix_action *a;
	char *real;
	bool absent;
	int r = resolve_absent(p, path, &real, &absent);

	if (r < 0)
		return r;
	if (!absent) {
		free(real);
		return 0;
	}
	a = set_add(p, FIX_MKDIR, real, &r);
	if (a) {
		a->mode = mode & 07777;
		a->uid = uid;
		a->gid = gid;
	}
	return r;
}

int fix_plan_symlink(struct fix_planner *p, const char *path,
		     const char *target)
{
	struct fix_action *a;
	char *real;
	bool absent;
	int r = resolve_absent(p, path, &real, &absent);

	if (r < 0)
		return r;
	if (!absent) {
		free(real);
		return 0;
	}
	a = set_add(p, FIX_SYMLINK, real, &r);
	if (a) {
		a->mode = 0777;
		a->target = strdup(target);
		if (!a->target)
			return -ENOMEM;
	}
	return r;
}

int fix_plan_mknod(struct fix_planner *p, const char *path, mode_t mode,
		   dev_t rdev, uid_t uid, gid_t gid)
{
	struct fix_action *a;
	char *real;
	bool absent;
	int r = resolve_absent(p, path, &real, &absent);

	if (r < 0)
		return r;
	if (!absent) {
		free(real);
		return 0;
	}
	a = set_add(p, FIX_MKNOD, real, &r);
	if (a) {
		a->mode = mode;
		a->rdev = rdev;
		a->uid = uid;
		a->gid = gid;
	}
	return r;
}

/*
 * Entries that add a name need their parent directory: add MKDIR actions
 * for missing parents, and drop entries whose parent is not a directory
 * (or is hidden).
 */
static int add_parents(struct fix_planner *p)
{
	struct fix_set *set = p->set;
	size_t i, k;

	for (i = 0; i < set->n; i++) {
		struct fix_action *a = &set->a[i];
		struct path_key key;
		const struct fix_action *pa;
		char *parent;
		mode_t mode;
		int r;

		if (a->kind == FIX_EDIT || a->kind == FIX_HIDE)
			continue;
		key = key_of(a->path);
		if (key.dir_len <= 1)
			continue;
		parent = strndup(key.dir, key.dir_len);
		if (!parent)
			return -ENOMEM;
		pa = set_find_mut(set, parent);
		if (pa) {
			if (pa->kind != FIX_MKDIR)
				a->kind = (enum fix_kind) - 1;
			free(parent);
			continue;
		}
		r = p->rd->exists(p->rd->ctx, parent, &mode);
		if (r == 0) {
			if (!S_ISDIR(mode))
				a->kind = (enum fix_kind) - 1;
			free(parent);
			continue;
		}
		if (!fix_absent(r)) {
			free(parent);
			return r;
		}
		p->rule = a->rule;
		a = set_add(p, FIX_MKDIR, parent, &r);
		if (!a)
			return r;
		a->mode = 0755;
	}
	for (i = k = 0; i < set->n; i++) {
		if (set->a[i].kind == (enum fix_kind) - 1) {
			action_clear(&set->a[i]);
			continue;
		}
		set->a[k++] = set->a[i];
	}
	set->n = k;
	return 0;
}

int fix_plan(const struct fix_ctx *ctx, const struct fix_reader *rd,
	     struct fix_set **ret)
{
	struct fix_planner p = { .ctx = ctx, .rd = rd };
	uint32_t mask = ctx->profile ? ctx->profile->rules : 0;
	int r;

	p.set = calloc(1, sizeof(*p.set));
	if (!p.set)
		return -ENOMEM;
	for (int i = 0; i < FIX_RULE_COUNT; i++) {
		if (!(mask & FIX_RULE_BIT(i)) || !rules[i].plan)
			continue;
		p.rule = rules[i].name;
		r = rules[i].plan(&p);
		if (r < 0)
			goto out_free;
	}
	r = add_parents(&p);
	if (r < 0)
		goto out_free;
	if (p.set->n)
		qsort(p.set->a, p.set->n, sizeof(*p.set->a), action_cmp);
	*ret = p.set;
	return 0;

out_free:
	fix_set_free(p.set);
	return r;
}

int fix_edit(const struct fix_ctx *ctx, const struct fix_action *a,
	     const char *in, size_t len, char **ret, size_t *ret_len)
{
	struct fix_buf out = { 0 };
	int r;

	if (!a || (a->kind != FIX_EDIT && a->kind != FIX_CREATE) ||
	    a->op <= FIX_OP_NONE || a->op >= FIX_OP_COUNT || !edits[a->op])
		return -EINVAL;
	if (!in) {
		in = "";
		len = 0;
	}
	r = edits[a->op](ctx, a->arg, in, len, &out);
	if (r < 0) {
		fix_buf_clear(&out);
		return r;
	}
	return fix_buf_done(&out, ret, ret_len);
}
