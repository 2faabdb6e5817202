/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the rule files of fixups/: a growing text buffer, line and field
 * helpers, reading the tree through a struct fix_reader with in-tree symlink
 * resolution, and the planner the rules add their actions to. Not installed;
 * nothing here does I/O of its own.
 */
#ifndef FIX_INTERNAL_H
#define FIX_INTERNAL_H

#include <stdbool.h>
#include <errno.h>
#include <stddef.h>
#include <sys/stat.h>

#include "fixups/fix.h"

/* ---- Text ---------------------------------------------------------------- */

/* A growing buffer; the first allocation failure sticks (fix_buf_done). */
struct fix_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void fix_buf_add(struct fix_buf *b, const char *s, size_t n);
void fix_buf_puts(struct fix_buf *b, const char *s);
void fix_buf_printf(struct fix_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Adds a line (without its newline) and a newline. */
void fix_buf_line(struct fix_buf *b, const char *s, size_t n);
/* Hands the content over (NUL-terminated, never NULL) or -ENOMEM. */
int fix_buf_done(struct fix_buf *b, char **ret, size_t *ret_len);
void fix_buf_clear(struct fix_buf *b);

/* Iterates the lines of [*pos, end): the next line without its '\n'. */
bool fix_line_next(const char **pos, const char *end, const char **ret,
		   size_t *ret_len);

struct fix_span {
	const char *p;
	size_t n;
};

/* Splits on blanks (space, tab); returns the number of fields (<= max). */
size_t fix_fields(const char *s, size_t n, struct fix_span *out, size_t max);
bool fix_span_eq(struct fix_span s, const char *str);
/* Skips leading blanks. */
struct fix_span fix_span_trim(const char *s, size_t n);
/* The line is blank or a '#' comment. */
bool fix_line_is_comment(const char *s, size_t n);
/* The line equals @str once blanks at both ends are dropped. */
bool fix_line_eq(const char *s, size_t n, const char *str);
/* Does the line contain @needle as a whole blank-separated word? */
bool fix_line_has_word(const char *s, size_t n, const char *word);

/* Drops trailing blank lines of b (keeps a final '\n'). */
void fix_buf_trim_blank_tail(struct fix_buf *b);

/* The "KEY=" of a shell-variable assignment line, or an empty span. */
struct fix_span fix_shell_key(const char *s, size_t n);

/*
 * Sets KEY=value lines in a shell-variable file (/etc/sysconfig/...): the
 * first assignment of each key in @set ("KEY=value" items, at most 32) is
 * rewritten, later ones and the keys in @drop (NULL-terminated, may be
 * NULL) removed, missing ones appended.
 */
void fix_shell_vars(const char *in, size_t len, const char *const *set,
		    size_t n_set, const char *const *drop, struct fix_buf *out);

/* Dotted netmask of a prefix length (0..32) into buf[16]. */
void fix_prefix_netmask(unsigned prefix, char buf[16]);

/* Version compare as `sort -V` for kernel names: <0, 0, >0. */
int fix_vercmp(const char *a, const char *b);

/* The style of an /etc/inittab's content. */
enum fix_inittab fix_inittab_style(const char *data, size_t len);

/* ---- Reading the tree ---------------------------------------------------- */

/*
 * Canonical path of @path in the tree: symlinks in leading components (and
 * the last one too when @follow) resolved through rd->readlink inside the
 * tree, "." and ".." removed. Components after a missing one are kept
 * lexically. Returns 0 and a malloc'd path, -ELOOP, -ENAMETOOLONG, or an
 * error of the reader.
 */
int fix_resolve(const struct fix_reader *rd, const char *path, bool follow,
		char **ret);

/*
 * Errors that mean "not there" to a rule: missing, not a directory on the
 * way, a symlink loop or a path too long (a hostile template may have
 * those; they must not stop the fixups).
 */
static inline bool fix_absent(int r)
{
	return r == -ENOENT || r == -ENOTDIR || r == -ELOOP ||
	       r == -ENAMETOOLONG;
}

/* lstat (follow = false) or stat of @path: 0 and the mode, or -ENOENT... */
int fix_stat(const struct fix_reader *rd, const char *path, bool follow,
	     mode_t *ret_mode);
/* Contents of a regular file, following symlinks; NUL-terminated copy. */
int fix_read(const struct fix_reader *rd, const char *path, char **ret,
	     size_t *ret_len);
/* True when @path exists (following symlinks) and has type @type (0: any). */
bool fix_has(const struct fix_reader *rd, const char *path, mode_t type);
/* Directory listing, following symlinks; NULL-terminated, sorted. */
int fix_list(const struct fix_reader *rd, const char *dir, char ***ret);
char **fix_strv_free(char **v);
/* Target of the symlink @path (its parents resolved), or an error. */
int fix_readlink(const struct fix_reader *rd, const char *path, char **ret);

/* Numeric id of @name in /etc/group (group) or /etc/passwd, or @def. */
unsigned fix_lookup_id(const struct fix_reader *rd, const char *file,
		       const char *name, unsigned def);

/* ---- Edit operations ----------------------------------------------------- */

/*
 * The transforms fix_edit() dispatches on (fix_action.op). Each appends the
 * new content for @in to @out and must be idempotent.
 */
enum fix_op {
	FIX_OP_NONE = 0,
	FIX_OP_FSTAB,
	FIX_OP_INITTAB, /* arg: getty program */
	FIX_OP_UPSTART_GETTY, /* arg: getty program */
	FIX_OP_SECURETTY,
	FIX_OP_MODPROBE, /* arg: "xenblk xennet" aliases for that kernel */
	FIX_OP_MODULES_LIST, /* arg: module names, one per word */
	FIX_OP_DRACUT, /* arg: module names */
	FIX_OP_MKINITFS_FEATURE, /* arg: a feature for features="..." */
	FIX_OP_EMPTY, /* the file becomes empty */
	FIX_OP_HOSTNAME,
	FIX_OP_HOSTS,
	FIX_OP_SYSCONFIG_HOSTNAME,
	FIX_OP_SSH_KEYGEN_SYSV, /* arg: key types */
	FIX_OP_SSH_KEYGEN_SYSTEMD,
	FIX_OP_SSH_KEYGEN_UPSTART,
	FIX_OP_INTERFACES, /* arg: "auto" or "allow-hotplug" */
	FIX_OP_IFCFG, /* arg: index of the nic */
	FIX_OP_NETWORKD, /* arg: index of the nic */
	FIX_OP_NETPLAN,
	FIX_OP_RESOLV,
	FIX_OP_SHADOW,
	FIX_OP_PASSWD,
	FIX_OP_AUTHKEYS,
	FIX_OP_MENU_LST,
	FIX_OP_GRUB_CFG,
	FIX_OP_FIRSTBOOT_SCRIPT, /* arg: its hooks, "rm:PATH unhook:PATH" */
	FIX_OP_FIRSTBOOT_SYSTEMD,
	FIX_OP_FIRSTBOOT_SYSV,
	FIX_OP_FIRSTBOOT_OPENRC, /* arg: the openrc-run interpreter */
	FIX_OP_FIRSTBOOT_UPSTART,
	FIX_OP_FIRSTBOOT_HOOK, /* a busybox sysinit script */
	FIX_OP_FIRSTBOOT_DEPEND, /* insserv's .depend.start */
	FIX_OP_COUNT,
};

typedef int (*fix_edit_fn)(const struct fix_ctx *ctx, const char *arg,
			   const char *in, size_t len, struct fix_buf *out);

int fix_edit_fstab(const struct fix_ctx *, const char *, const char *, size_t,
		   struct fix_buf *);
int fix_edit_inittab(const struct fix_ctx *, const char *, const char *, size_t,
		     struct fix_buf *);
int fix_edit_upstart_getty(const struct fix_ctx *, const char *, const char *,
			   size_t, struct fix_buf *);
int fix_edit_securetty(const struct fix_ctx *, const char *, const char *,
		       size_t, struct fix_buf *);
int fix_edit_modprobe(const struct fix_ctx *, const char *, const char *,
		      size_t, struct fix_buf *);
int fix_edit_modules_list(const struct fix_ctx *, const char *, const char *,
			  size_t, struct fix_buf *);
int fix_edit_mkinitfs_feature(const struct fix_ctx *, const char *,
			      const char *, size_t, struct fix_buf *);
int fix_edit_dracut(const struct fix_ctx *, const char *, const char *, size_t,
		    struct fix_buf *);
int fix_edit_empty(const struct fix_ctx *, const char *, const char *, size_t,
		   struct fix_buf *);
int fix_edit_hostname(const struct fix_ctx *, const char *, const char *,
		      size_t, struct fix_buf *);
int fix_edit_hosts(const struct fix_ctx *, const char *, const char *, size_t,
		   struct fix_buf *);
int fix_edit_sysconfig_hostname(const struct fix_ctx *, const char *,
				const char *, size_t, struct fix_buf *);
int fix_edit_ssh_keygen_sysv(const struct fix_ctx *, const char *, const char *,
			     size_t, struct fix_buf *);
int fix_edit_ssh_keygen_systemd(const struct fix_ctx *, const char *,
				const char *, size_t, struct fix_buf *);
int fix_edit_ssh_keygen_upstart(const struct fix_ctx *, const char *,
				const char *, size_t, struct fix_buf *);
int fix_edit_interfaces(const struct fix_ctx *, const char *, const char *,
			size_t, struct fix_buf *);
int fix_edit_ifcfg(const struct fix_ctx *, const char *, const char *, size_t,
		   struct fix_buf *);
int fix_edit_networkd(const struct fix_ctx *, const char *, const char *,
		      size_t, struct fix_buf *);
int fix_edit_netplan(const struct fix_ctx *, const char *, const char *, size_t,
		     struct fix_buf *);
int fix_edit_resolv(const struct fix_ctx *, const char *, const char *, size_t,
		    struct fix_buf *);
int fix_edit_shadow(const struct fix_ctx *, const char *, const char *, size_t,
		    struct fix_buf *);
int fix_edit_passwd(const struct fix_ctx *, const char *, const char *, size_t,
		    struct fix_buf *);
int fix_edit_authkeys(const struct fix_ctx *, const char *, const char *,
		      size_t, struct fix_buf *);
int fix_edit_menu_lst(const struct fix_ctx *, const char *, const char *,
		      size_t, struct fix_buf *);
int fix_edit_grub_cfg(const struct fix_ctx *, const char *, const char *,
		      size_t, struct fix_buf *);
int fix_edit_firstboot_script(const struct fix_ctx *, const char *,
			      const char *, size_t, struct fix_buf *);
int fix_edit_firstboot_systemd(const struct fix_ctx *, const char *,
			       const char *, size_t, struct fix_buf *);
int fix_edit_firstboot_sysv(const struct fix_ctx *, const char *, const char *,
			    size_t, struct fix_buf *);
int fix_edit_firstboot_openrc(const struct fix_ctx *, const char *,
			      const char *, size_t, struct fix_buf *);
int fix_edit_firstboot_upstart(const struct fix_ctx *, const char *,
			       const char *, size_t, struct fix_buf *);
int fix_edit_firstboot_hook(const struct fix_ctx *, const char *, const char *,
			    size_t, struct fix_buf *);
int fix_edit_firstboot_depend(const struct fix_ctx *, const char *,
			      const char *, size_t, struct fix_buf *);

/* ---- The planner --------------------------------------------------------- */

struct fix_planner {
	const struct fix_ctx *ctx;
	const struct fix_reader *rd;
	struct fix_set *set;
	const char *rule; /* name of the rule running */
};

enum {
	FIX_MAY_CREATE = 1 << 0, /* absent: CREATE it */
	FIX_MUST_EXIST = 0, /* absent: nothing */
};

/*
 * Plans an EDIT of @path with @op/@arg when it is a regular file; when it
 * is absent and FIX_MAY_CREATE, a CREATE with @mode/@uid/@gid whose data is
 * the edit of empty content. A symlink or other type at @path: nothing.
 */
int fix_plan_file(struct fix_planner *p, const char *path, int op,
		  const char *arg, unsigned flags, mode_t mode, uid_t uid,
		  gid_t gid);
/* The action an earlier rule planned on @path, or NULL. */
const struct fix_action *fix_plan_find(struct fix_planner *p, const char *path);
/* HIDE @path when it exists (any type, not followed). */
int fix_plan_hide(struct fix_planner *p, const char *path);
/*
 * The same for a file domufs wrote itself (it carries our marker) that the
 * profile no longer asks for: hidden even where the overlay holds it.
 */
int fix_plan_hide_stale(struct fix_planner *p, const char *path);
/* MKDIR when @path is absent. */
int fix_plan_mkdir(struct fix_planner *p, const char *path, mode_t mode,
		   uid_t uid, gid_t gid);
/* SYMLINK when @path is absent. */
int fix_plan_symlink(struct fix_planner *p, const char *path,
		     const char *target);
/* MKNOD when @path is absent. */
int fix_plan_mknod(struct fix_planner *p, const char *path, mode_t mode,
		   dev_t rdev, uid_t uid, gid_t gid);

/* The rules: each adds the actions it needs through the planner. */
int fix_rule_fstab(struct fix_planner *p);
int fix_rule_console(struct fix_planner *p);
int fix_rule_securetty(struct fix_planner *p);
int fix_rule_modules(struct fix_planner *p);
int fix_rule_udev(struct fix_planner *p);
int fix_rule_dirs(struct fix_planner *p);
int fix_rule_identity(struct fix_planner *p);
int fix_rule_network(struct fix_planner *p);
int fix_rule_accounts(struct fix_planner *p);
int fix_rule_bootloader(struct fix_planner *p);
int fix_rule_firstboot(struct fix_planner *p);

#endif
