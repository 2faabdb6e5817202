/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fixups: the named, idempotent rewrite rules that make a template root boot
 * as a Xen domU (DESIGN.md, "Fixups"). Pure: rules see the tree only through
 * the caller's struct fix_reader and answer with a set of actions on paths;
 * the caller (the view) applies them. No I/O of its own, never prints.
 * A finished fix_set is immutable and may be read from any thread; fix_edit()
 * is reentrant.
 *
 * Life cycle, as the view uses it:
 *
 *	struct fix_facts facts;
 *	fix_detect(&rd, &facts);              // distribution, init, ...
 *	struct fix_ctx ctx = { &facts, &profile, "ext4", false };
 *	fix_plan(&ctx, &rd, &set);            // what changes where
 *	a = fix_set_find(set, "/etc/fstab");  // on lookup/readdir/read
 *	fix_edit(&ctx, a, in, len, &out, &outlen);  // EDIT: current content
 *	fix_set_free(set);
 *
 * Every function returns 0 (or a count) on success or a negative errno, and
 * writes its ret_* outputs only on success.
 */
#ifndef FIX_FIX_H
#define FIX_FIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- The rules ---------------------------------------------------------- */

/*
 * The catalog, in the order rules run. Names are the ones a profile's
 * `fixups = [ ... ]` list uses (fix_rule_name()).
 */
enum fix_rule {
	FIX_RULE_FSTAB, /* root device, fs type, proc/sysfs/devpts;
			   other disks of the template machine off */
	FIX_RULE_CONSOLE, /* getty on hvc0/xvc0; ttyN gettys off */
	FIX_RULE_SECURETTY, /* console device in /etc/securetty */
	FIX_RULE_MODULES, /* xenblk/xennet aliases; initramfs drivers */
	FIX_RULE_UDEV, /* persistent-net rules (and generator) hidden */
	FIX_RULE_DIRS, /* /proc /sys /dev /run /tmp; static /dev/xvd*
			  without udev */
	FIX_RULE_IDENTITY, /* hostname, hosts, machine-id, SSH host keys */
	FIX_RULE_NETWORK, /* interfaces/ifcfg/networkd/netplan, resolv.conf */
	FIX_RULE_ACCOUNTS, /* root password hash, authorized_keys */
	FIX_RULE_BOOTLOADER, /* menu.lst / grub.cfg for PyGRUB */
	FIX_RULE_FIRSTBOOT, /* run-once script: host keys, xenstore handshake */
	FIX_RULE_COUNT,
};

#define FIX_RULE_BIT(r) (UINT32_C(1) << (r))
#define FIX_RULES_ALL (FIX_RULE_BIT(FIX_RULE_COUNT) - 1)

/* "fstab", "console", ...; NULL when @r is out of range. */
const char *fix_rule_name(enum fix_rule r);

/* The rule called @name, or -ENOENT. */
int fix_rule_lookup(const char *name);

/*
 * Turns a profile's list of names into a mask of FIX_RULE_BIT()s. Items are
 * read in order: "all" switches every rule on, "none" every rule off, "NAME"
 * or "+NAME" one on, "-NAME" one off. A list whose first item is "-NAME"
 * starts from "all"; any other list starts from "none". An empty list
 * (n == 0) means "all". Returns 0, or -EINVAL with the index of the first
 * unknown item in *ret_bad (may be NULL).
 */
int fix_rules_select(const char *const *names, size_t n, uint32_t *ret_mask,
		     size_t *ret_bad);

/* ---- What the rules read ------------------------------------------------ */

/*
 * How rules see the underlying tree (template plus overlay, without the
 * fixups). Paths are absolute ("/etc/fstab"). The callbacks do not follow
 * symlinks in any component: the fixups resolve in-tree symlinks themselves
 * (through @readlink, relative to the tree's root, as RESOLVE_IN_ROOT does),
 * so the callbacks only ever see paths whose leading components are
 * directories. Each returns 0 or a negative errno; -ENOENT when the path
 * does not exist. Outputs are malloc'd and owned by the caller (the fixups,
 * which free them).
 *
 * read:     the contents of the regular file at @path (-EISDIR, -EINVAL for
 *           other types); *ret_data need not be NUL-terminated.
 * exists:   lstat: 0 and the st_mode (type and permission bits) in
 *           *ret_mode (may be NULL), or -ENOENT.
 * list:     the names in directory @dir, without "." and "..", as a
 *           NULL-terminated array; the array and each name are malloc'd.
 * readlink: the target of the symlink at @path, NUL-terminated (-EINVAL
 *           when it is not a symlink). May be NULL: symlinks then never
 *           resolve (a link is seen as itself only).
 *
 * NOTE: @readlink is an addition to the brief's shape: without it the
 * fixups could not tell where /sbin/init points, nor see through merged-/usr
 * links such as /lib -> usr/lib.
 */
struct fix_reader {
	void *ctx;
	int (*read)(void *ctx, const char *path, char **ret_data,
		    size_t *ret_len);
	int (*exists)(void *ctx, const char *path, mode_t *ret_mode);
	int (*list)(void *ctx, const char *dir, char ***ret_names);
	int (*readlink)(void *ctx, const char *path, char **ret_target);
};

/* ---- Facts about the template ------------------------------------------- */

enum fix_family {
	FIX_FAMILY_UNKNOWN = 0,
	FIX_FAMILY_DEBIAN, /* Debian and derivatives (ID_LIKE=debian) */
	FIX_FAMILY_UBUNTU,
	FIX_FAMILY_RHEL, /* RHEL, CentOS, Rocky, Alma, Scientific, Fedora */
	FIX_FAMILY_ALPINE,
	FIX_FAMILY_BUSYBOX, /* a bare busybox root */
};

enum fix_init {
	FIX_INIT_UNKNOWN = 0,
	FIX_INIT_SYSVINIT, /* /sbin/init a regular file, sysvinit inittab */
	FIX_INIT_BUSYBOX, /* /sbin/init -> busybox, ::sysinit: inittab */
	FIX_INIT_OPENRC, /* OpenRC (Alpine: on busybox init) */
	FIX_INIT_UPSTART, /* Ubuntu 6.10-14.10, RHEL/CentOS 6 */
	FIX_INIT_SYSTEMD, /* /sbin/init -> .../systemd */
};

enum fix_net {
	FIX_NET_NONE = 0, /* nothing found: no network configuration */
	FIX_NET_IFUPDOWN, /* /etc/network/interfaces (Debian, busybox) */
	FIX_NET_IFUPDOWN_NG, /* Alpine's ifupdown-ng (same file format) */
	FIX_NET_IFCFG, /* /etc/sysconfig/network-scripts/ifcfg-* */
	FIX_NET_NETWORKD, /* systemd-networkd .network files */
	FIX_NET_NETPLAN, /* Ubuntu >= 17.10 */
};

enum fix_inittab {
	FIX_INITTAB_NONE = 0,
	FIX_INITTAB_SYSV, /* id:runlevels:action:process, ids like "1" */
	FIX_INITTAB_BUSYBOX, /* tty:: style, ::sysinit: */
};

enum fix_grub {
	FIX_GRUB_NONE = 0, /* no configuration: menu.lst is written */
	FIX_GRUB_LEGACY, /* /boot/grub/menu.lst (or grub.conf) */
	FIX_GRUB2, /* /boot/grub/grub.cfg or /boot/grub2/grub.cfg */
};

/*
 * What fix_detect() found. A value, no pointers: copy it freely. Strings
 * are NUL-terminated and empty when unknown.
 */
struct fix_facts {
	enum fix_family family;
	char id[32]; /* os-release ID ("debian", "centos") or derived */
	unsigned version_major; /* 12 for Debian 12.5; 22 for Ubuntu 22.04 */
	unsigned version_minor; /* 5; 4; 0 when none */
	enum fix_init init;
	enum fix_inittab inittab; /* style of /etc/inittab, if any */
	bool has_udev; /* udevd present (systemd-udevd, udev, eudev) */
	bool has_mdev; /* busybox mdev configured in inittab/rcS */
	enum fix_net net;
	bool ifnames_xen; /* systemd >= 250 names Xen vifs enX<N> */
	bool classic_xen_kernel; /* 2.6.18-era xenified kernel: sda stays sda,
				    console xvc0, modules xenblk/xennet */
	enum fix_grub grub;
	char grub_cfg[64]; /* the PyGRUB configuration path to write */
	char kernel[256]; /* newest "/boot/vmlinuz-VERSION", or "" */
	char initrd[256]; /* its initrd ("/boot/initrd.img-VERSION",
			     "/boot/initramfs-VERSION.img"), or "" */
	unsigned n_kernels; /* kernels found in /boot */
};

/*
 * Reads os-release and friends, /sbin/init, inittab, udev, /boot and the
 * network configuration through @rd and fills *ret. Missing files are not
 * errors (the facts say "unknown"); other reader errors are returned.
 */
int fix_detect(const struct fix_reader *rd, struct fix_facts *ret);

/* "debian", "ubuntu", "rhel", "alpine", "busybox" or "unknown". */
const char *fix_family_name(enum fix_family f);
/* "sysvinit", "busybox", "openrc", "upstart", "systemd" or "unknown". */
const char *fix_init_name(enum fix_init i);

/* ---- The profile, as the fixups need it --------------------------------- */

/*
 * One network interface, vif N of the profile (the guest's Nth NIC).
 * Strings are borrowed; the caller validated them (xen/profile.c does).
 */
struct fix_nic {
	const char *mac; /* "00:16:3e:12:34:56", or NULL */
	const char *ip; /* IPv4 dotted quad, or NULL for DHCP */
	unsigned prefix; /* prefix length for @ip (1..32) */
};

/*
 * The domain's settings the rules use. Filled by the caller (for example
 * from a struct xen_profile with xen_profile_to_fix()), so this module
 * does not depend on xen/. All strings and arrays are borrowed and must
 * outlive every fix_set and fix_edit() call made with them; they must be
 * free of newlines, quotes and control characters (the profile reader
 * refuses such values).
 */
struct fix_profile {
	const char *hostname; /* RFC 1123; NULL: identity leaves names */
	const char *console; /* "hvc0", "xvc0" or "ttyS0" (HVM); NULL: xvc0
				for RHEL 5's kernel-xen, else hvc0
				(fix_console_name()) */
	const char *const *disks; /* vdevs ("xvda"), disks[0] is the root */
	size_t n_disks; /* 0: root is "xvda" */
	const struct fix_nic *nics;
	size_t n_nics;
	const char *gateway; /* IPv4 or NULL */
	const char *const *nameservers; /* IPv4 */
	size_t n_nameservers;
	const char *root_password_hash; /* crypt(3) hash or NULL: unchanged */
	const char *const *ssh_keys; /* authorized_keys lines */
	size_t n_ssh_keys;
	bool pygrub; /* bootloader = "pygrub": the kernel lives in the domU */
	const char *extra; /* extra kernel command line, or NULL */
	uint32_t rules; /* enabled rules: FIX_RULE_BIT()s; see
			   fix_rules_select() */
};

/*
 * Everything a rule decides from. Borrowed by fix_plan() and fix_edit();
 * pass the same context to both.
 */
struct fix_ctx {
	const struct fix_facts *facts;
	const struct fix_profile *profile;
	const char *fs_type; /* "ext2", "ext3", "ext4"; NULL means "ext4" */
	bool partitioned; /* the commit writes an msdos label: root is xvda1 */
};

/*
 * The root device the rules write into fstab and root=: "/dev/xvda", or
 * "/dev/xvda1" when partitioned; sdX/hdX vdevs become xvdX except for
 * classic xenified kernels. Writes at most @size bytes; returns 0 or
 * -ENAMETOOLONG.
 */
int fix_root_device(const struct fix_ctx *ctx, char *buf, size_t size);

/*
 * Why the template's own kernel (the newest in /boot, booted by PyGRUB)
 * cannot mount the file system a commit writes (@ctx->fs_type "ext4", as
 * mke2fs makes it today: metadata checksums, 64-bit), written into @buf;
 * NULL when it can, or when that is not known.
 */
const char *fix_fs_unsupported(const struct fix_ctx *ctx, char *buf,
			       size_t size);

/* The console device the rules configure: "hvc0", "xvc0" or "ttyS0". */
const char *fix_console_name(const struct fix_ctx *ctx);

/*
 * The name the guest's kernel and udev will give vif @i: "enX<i>" on
 * systemd >= 250 (Debian 12, Ubuntu 22.10+, EL9), else "eth<i>";
 * net.ifnames=0 in the profile's extra forces "eth<i>".
 */
void fix_nic_name(const struct fix_ctx *ctx, size_t i, char buf[16]);

/* ---- Actions ------------------------------------------------------------- */

enum fix_kind {
	/*
	 * The file at @path exists and its content is rewritten by
	 * fix_edit(). Mode, owner and times stay the file's own. When the
	 * underlying file changes (a write to the overlay), run fix_edit()
	 * again on the new content: it is idempotent, so a file that already
	 * carries the fix comes back unchanged. When the underlying file is
	 * deleted, the action no longer applies.
	 */
	FIX_EDIT,
	/*
	 * The file at @path does not exist in the tree; it appears with
	 * @data/@len, @mode (permission bits), @uid and @gid. @data is
	 * fix_edit(ctx, a, "", 0): should the file later appear underneath
	 * (written to the overlay), treat the action as an EDIT of it.
	 */
	FIX_CREATE,
	/* A symlink at @path to @target (uid/gid set; mode 0777). */
	FIX_SYMLINK,
	/* A directory at @path with @mode, @uid, @gid. */
	FIX_MKDIR,
	/* A device node: @mode has S_IFBLK or S_IFCHR and permission bits. */
	FIX_MKNOD,
	/*
	 * @path vanishes from lookups and listings (a whiteout the fixups
	 * own). It may be a symlink. If the file is written again through
	 * the mount, the overlay's copy shows (fix_set_find() still returns
	 * the action; the view decides). With @stale, the file is one
	 * domufs wrote (it carries our marker) for a setting the profile no
	 * longer has: it is hidden even where the overlay holds it, until
	 * it is written again during the mount.
	 */
	FIX_HIDE,
};

struct fix_action {
	enum fix_kind kind;
	const char *rule; /* static rule name, for `domufs diff` labels */
	char *path; /* absolute; no component is a symlink in the tree */
	mode_t mode; /* CREATE/MKDIR: permission bits; MKNOD: type + bits */
	uid_t uid; /* CREATE, SYMLINK, MKDIR, MKNOD */
	gid_t gid;
	dev_t rdev; /* MKNOD */
	char *target; /* SYMLINK */
	char *data; /* CREATE: the content; not NUL-terminated */
	size_t len;
	bool stale; /* HIDE: our own file, left from an earlier profile */
	/* Private to fix_edit(): which transform, and what it was planned
	   with (a getty path, interface names...). */
	int op;
	char *arg;
};

struct fix_set;

/*
 * Runs the enabled rules (ctx->profile->rules) that apply to this tree and
 * collects their actions into *ret: at most one action per path (the
 * first rule in catalog order wins), sorted so that the entries of one
 * directory are adjacent, parents before children. Missing parent
 * directories of created entries get MKDIR actions of their own. Paths
 * are canonical: a rule that names /lib/udev/... on a merged-/usr tree
 * acts on /usr/lib/udev/...; a file that is a symlink is left alone.
 * Paths the tree cannot resolve (missing, symlink loops, too long) are
 * skipped, not errors: a hostile template cannot stop the plan.
 * Returns 0, -ENOMEM, or another error of the reader (-EIO...).
 */
int fix_plan(const struct fix_ctx *ctx, const struct fix_reader *rd,
	     struct fix_set **ret);

/* NULL-safe; returns NULL. */
struct fix_set *fix_set_free(struct fix_set *set);

/* Number of actions; fix_set_at(set, i) for 0 <= i < count, in order. */
size_t fix_set_count(const struct fix_set *set);
const struct fix_action *fix_set_at(const struct fix_set *set, size_t i);

/* The action on exactly @path ("/etc/fstab"), or NULL. O(log n). */
const struct fix_action *fix_set_find(const struct fix_set *set,
				      const char *path);

/*
 * The actions on the entries directly inside directory @dir ("/" or
 * "/etc", no trailing slash): their number, the first one's index in
 * *ret_first. For merging a directory listing: CREATE, SYMLINK, MKDIR and
 * MKNOD add names, HIDE removes one, EDIT changes only a size.
 */
size_t fix_set_children(const struct fix_set *set, const char *dir,
			size_t *ret_first);

/*
 * The content an EDIT (or CREATE) action gives a file whose current
 * content is @in/@len (NULL/0 for empty; any bytes): a malloc'd buffer in
 * *ret, NUL-terminated for convenience, and its length (without the NUL)
 * in *ret_len. Idempotent: editing the output again returns it unchanged.
 * A pure function of @ctx, the action and @in: call it again whenever the
 * underlying file changes. Returns 0, -ENOMEM, or -EINVAL for actions of
 * other kinds.
 */
int fix_edit(const struct fix_ctx *ctx, const struct fix_action *a,
	     const char *in, size_t len, char **ret, size_t *ret_len);

#endif
