/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-domain upper directory on disk. Every access is relative to the
 * overlay root's directory fd, resolved by the kernel with openat2()
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, and final components are handled
 * with *at() calls that do not follow symlinks: nothing planted in the
 * overlay or the template can lead outside it.
 *
 * The encoding (compatible with kernel overlayfs and fuse-overlayfs):
 *  - whiteout: a character device 0/0 named like the hidden entry (root),
 *    or an empty file ".wh.NAME" (ordinary users, as fuse-overlayfs);
 *  - opaque directory: xattr {trusted,user}.overlay.opaque = "y";
 *  - renamed template directory: {trusted,user}.overlay.redirect = the
 *    absolute path of the template directory it continues;
 *  - copied-up template file: {trusted,user}.domufs.origin = its absolute
 *    path in the template (keeps its inode number and hardlink group);
 *  - metadata-only copy-up: {trusted,user}.overlay.metacopy (empty), the
 *    upper file holds metadata and size but no data, which still comes
 *    from the origin; removed once the data has been copied in full;
 *  - ordinary users: ownership, mode and device numbers that cannot be
 *    set for real go to user.containers.override_stat = "uid:gid:mode:type"
 *    (containers/storage and fuse-overlayfs convention);
 *  - the root of the tree: the overlay directory, kept 0700 on disk, its
 *    owner and mode as the view shows them in the override xattr
 *    (trusted.domufs.override_stat as root).
 * trusted.* is used when the daemon runs as root, user.* otherwise; both
 * are read (see ovl_upper_user_ok()).
 */
#ifndef OVL_UPPER_H
#define OVL_UPPER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define OVL_WH_PREFIX ".wh."
#define OVL_WH_OPAQUE ".wh..wh..opq"

enum ovl_xa {
	OVL_XA_OPAQUE,
	OVL_XA_REDIRECT,
	OVL_XA_ORIGIN,
	OVL_XA_OVERRIDE,
	OVL_XA_METACOPY,
};

struct ovl_upper {
	int root_fd; /* O_PATH | O_DIRECTORY */
	bool privileged; /* running as root: trusted.*, mknod, chown */
	uid_t euid; /* the daemon's */
	uid_t owner; /* the overlay directory's owner */
};

int ovl_upper_open(const char *dir, struct ovl_upper *ret);
void ovl_upper_close(struct ovl_upper *u);

/* Opens directory @rel ("" for the root) as O_PATH; -errno (ELOOP: a symlink). */
int ovl_upper_opendir(const struct ovl_upper *u, const char *rel, int flags);

/*
 * Whom the overlay believes. trusted.* xattrs only root can set; user.*
 * ones, ".wh." files and 0/0 devices anyone who can write there can make,
 * so they count only on entries of the overlay's owner or of the daemon's
 * user, whiteouts on root's too (user.* never on root's: root's own are
 * trusted.*). An
 * overlay that others can reach (the overlay directory is kept 0700, but
 * older ones or an admin's chmod) cannot be made to show what they plant:
 * another's file as a view of the template's /etc/shadow, a whiteout, a
 * forged owner and mode.
 */
bool ovl_upper_user_ok(const struct ovl_upper *u, const struct stat *st);
/* May the ".wh." entry @name in @dirfd white out its namesake? */
bool ovl_upper_wh_entry_ok(const struct ovl_upper *u, int dirfd,
			   const char *name);

/* True when @name in @dirfd is a whiteout (either encoding). */
bool ovl_upper_is_whiteout(const struct ovl_upper *u, int dirfd,
			   const char *name, const struct stat *st);

/* Makes @name in @dirfd a whiteout (replacing nothing: it must not exist). */
int ovl_upper_whiteout(const struct ovl_upper *u, int dirfd, const char *name);

/* Removes a whiteout of @name if there is one. */
int ovl_upper_clear_whiteout(int dirfd, const char *name);

/*
 * Private xattrs of @name in @dirfd (name NULL: the file @dirfd itself).
 * get: value length or -errno (-ENODATA when absent).
 */
ssize_t ovl_upper_getxa(int dirfd, const char *name, enum ovl_xa which,
			bool user, char *buf, size_t size);
int ovl_upper_setxa(const struct ovl_upper *u, int dirfd, const char *name,
		    enum ovl_xa which, const char *value, size_t size);
int ovl_upper_rmxa(int dirfd, const char *name, enum ovl_xa which);

/*
 * Which private xattrs @name in @dirfd carries, as a mask of
 * 1u << OVL_XA_* (either namespace), from one list call: what a lookup
 * asks for, without a failed get per absent one. Every bit is set when the
 * list cannot be read in one go (each must then be asked for).
 */
#define OVL_XA_ALL 0xffffffffu
unsigned ovl_upper_xa_present(int dirfd, const char *name, bool user);

/*
 * True for names in the overlay's own xattr namespaces. The visible-xattr
 * calls below store such names escaped one level deeper, as kernel
 * overlayfs does, and hide the overlay's own.
 */
bool ovl_upper_private_xattr(const char *name);

/* User xattrs on any file type, through /proc/self/fd (no symlink follow). */
ssize_t ovl_upper_listxattr(int dirfd, const char *name, char *buf,
			    size_t size);
ssize_t ovl_upper_getxattr(int dirfd, const char *name, const char *xname,
			   void *buf, size_t size);
int ovl_upper_setxattr(int dirfd, const char *name, const char *xname,
		       const void *value, size_t size, int flags);
int ovl_upper_removexattr(int dirfd, const char *name, const char *xname);

/*
 * Calls @fn(@arg, @fd, name, d_type) for every entry but "." and ".." of
 * directory @name in @dirfd (@name NULL: @dirfd itself, any fd of it, O_PATH
 * too; a symlink is not followed), read with getdents64, no DIR stream;
 * @fd is the listing's own, for *at() calls on the entry. Returns 0, the
 * first negative value of @fn, or -errno.
 */
int ovl_upper_scan(int dirfd, const char *name,
		   int (*fn)(void *arg, int fd, const char *name,
			     unsigned char type),
		   void *arg);

/*
 * Applies the override xattr to @st (the entry's own attributes) when
 * present and believed (ovl_upper_user_ok() for the user.* one).
 */
void ovl_upper_apply_override(const struct ovl_upper *u, int dirfd,
			      const char *name, struct stat *st);
/* Records owner, mode and type for a non-root overlay. */
int ovl_upper_set_override(const struct ovl_upper *u, int dirfd,
			   const char *name, uid_t uid, gid_t gid, mode_t mode,
			   dev_t rdev);

#endif
