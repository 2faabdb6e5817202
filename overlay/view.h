/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The view: the one tree that both the mount (fusefs/) and the commit read.
 * It merges its layers (today: the template, read-only) and answers with
 * view inode numbers. Returns 0 or a count, or -errno; never prints.
 *
 * Where identifiers meet. A tar member becomes a template node id when the
 * index is built (hardlinked members share one id; ids are dense, 0 is the
 * root, fixed for the life of a cache entry). The view numbers inodes for
 * its users: a node that comes from the template alone has view inode
 * number id + 1, so the root is 1 (FUSE_ROOT_ID) and numbers are stable for
 * as long as the template is unchanged, across remounts too. FUSE hands
 * these numbers to the kernel unchanged as nodeids and as st_ino, so they
 * are never reused during a mount; a commit maps them to ext2 inode numbers
 * of its own (one per view inode, so hardlinks stay one inode).
 *
 * With an upper layer, nodes that exist only there get 2^61 plus their
 * upper file's inode number (the same in every mount; one above the
 * template's, for this mount only, should the upper filesystem reuse a
 * number still held); a template file that is copied up keeps its number
 * (the upper copy records its origin), so hardlinks and st_ino survive
 * copy-up and remounts.
 *
 * Thread safety: every call may run concurrently. A read-only view takes
 * no lock at all. A writable view serializes namespace and metadata
 * changes on one mutex (see merge.c); reads and writes through an open
 * handle take none.
 */
#ifndef OVL_VIEW_H
#define OVL_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/err.h"
#include "overlay/layer.h"

#define OVL_ROOT_INO 1u

struct ovl_view;
struct ovl_dir;
struct ovl_file;

struct fix_profile;

struct ovl_view_opts {
	/* the per-domain upper directory; NULL for a read-only view */
	const char *upper_dir;
	/* the domain's settings: the fixups apply on top; NULL for none */
	const struct fix_profile *profile;
	const char *fs_type; /* what the commit writes (fstab), NULL: ext4 */
	bool partitioned; /* the commit writes a partition table */
	/*
	 * Times of the entries the fixups create (the profile's mtime, so
	 * that a commit is reproducible); zero: the epoch.
	 */
	struct timespec fix_time;
	/* what a commit should know (a kernel too old for its fs); or NULL */
	dm_warn_fn warn;
	void *warn_ctx;
};

/* Who asks for a new node: it is owned by them (as on a local fs). */
struct ovl_cred {
	uid_t uid;
	gid_t gid;
	/*
	 * The caller's umask, applied unless the parent directory has a
	 * default ACL (which then decides, as on a local filesystem).
	 */
	mode_t umask;
};

enum {
	OVL_SET_MODE = 1 << 0,
	OVL_SET_UID = 1 << 1,
	OVL_SET_GID = 1 << 2,
	OVL_SET_SIZE = 1 << 3,
	OVL_SET_ATIME = 1 << 4,
	OVL_SET_MTIME = 1 << 5,
	OVL_SET_ATIME_NOW = 1 << 6,
	OVL_SET_MTIME_NOW = 1 << 7,
	OVL_SET_CTIME = 1 << 8,
};

struct ovl_setattr {
	unsigned valid; /* OVL_SET_* */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	off_t size;
	struct timespec atime, mtime;
};

/*
 * Takes nothing: @lower is copied, its data borrowed for the view's life.
 * @opts may be NULL (read-only). With an upper directory, every change
 * lands there and the view is writable; see overlay/upper.h for the
 * on-disk encoding.
 */
int ovl_view_new(const struct ovl_layer *lower,
		 const struct ovl_view_opts *opts, struct ovl_view **ret,
		 struct dm_err *err);
struct ovl_view *ovl_view_free(struct ovl_view *v);

/* True when the view is read-only (no upper layer): writes get -EROFS. */
bool ovl_view_readonly(const struct ovl_view *v);

/*
 * True when @ino and, for a directory, everything below it are exactly the
 * template's (nothing of them in the upper layer): a diff may skip them.
 */
bool ovl_view_pristine(struct ovl_view *v, uint64_t ino);

/*
 * True when the upper layer holds @ino itself (a copy-up, or a node made
 * through the view), whatever the fixups show on top of it.
 */
bool ovl_view_in_upper(struct ovl_view *v, uint64_t ino);

/* True when the node cannot change during the view's life. */
bool ovl_view_immutable(const struct ovl_view *v, uint64_t ino);

/*
 * True when @ino comes from the template (as it is, or copied up into the
 * upper layer); false for a node created through the view.
 */
bool ovl_view_from_template(struct ovl_view *v, uint64_t ino);

/* True when the fixups rewrite or create @name in @dir. */
bool ovl_view_fixed_name(struct ovl_view *v, uint64_t dir, const char *name);

/*
 * Looks @name up in directory @dir; fills *ret_st (st_ino is the view
 * inode number). Takes one lookup reference on it, as a FUSE lookup does.
 */
int ovl_view_lookup(struct ovl_view *v, uint64_t dir, const char *name,
		    struct stat *ret_st);

/* Takes one more lookup reference (a readdirplus entry that was sent). */
void ovl_view_ref(struct ovl_view *v, uint64_t ino);

/* The kernel dropped @n references to @ino (lookup-count discipline). */
void ovl_view_forget(struct ovl_view *v, uint64_t ino, uint64_t n);

int ovl_view_getattr(struct ovl_view *v, uint64_t ino, struct stat *ret);

/* Copies the target (not NUL-terminated) and returns its length. */
ssize_t ovl_view_readlink(struct ovl_view *v, uint64_t ino, char *buf,
			  size_t size);

/*
 * Directory handles list a directory as it was at opendir: offsets are
 * stable for the handle's life. Entry 0 is ".", 1 is "..".
 */
int ovl_view_opendir(struct ovl_view *v, uint64_t ino, struct ovl_dir **ret);
struct ovl_dir *ovl_dir_close(struct ovl_dir *d);
uint64_t ovl_dir_count(const struct ovl_dir *d);
/* Borrowed name valid while the handle is open; *ret_st has st_ino, mode. */
int ovl_dir_entry(struct ovl_dir *d, uint64_t i, const char **ret_name,
		  struct stat *ret_st);
/* Entry @i's name alone (nothing looked up), or NULL past the end. */
const char *ovl_dir_name(struct ovl_dir *d, uint64_t i);

/*
 * Opens @ino with open(2) @flags (O_ACCMODE, O_TRUNC, ...): a template file
 * opened for writing is copied up first. The handle keeps working after
 * the name is unlinked.
 */
int ovl_view_open(struct ovl_view *v, uint64_t ino, int flags,
		  struct ovl_file **ret);
struct ovl_file *ovl_file_close(struct ovl_file *f);
ssize_t ovl_file_read(struct ovl_file *f, void *buf, size_t size, uint64_t off);
int ovl_file_map(struct ovl_file *f, uint64_t off, int *ret_fd,
		 uint64_t *ret_pos, uint64_t *ret_len);
ssize_t ovl_file_write(struct ovl_file *f, const void *buf, size_t size,
		       uint64_t off);
int ovl_file_fsync(struct ovl_file *f, int datasync);
int ovl_file_fallocate(struct ovl_file *f, int mode, off_t off, off_t len);
int ovl_file_lseek(struct ovl_file *f, int64_t off, int whence, int64_t *ret);
/* The upper fd behind a writable handle (for splicing), or -EBADF. */
int ovl_file_fd(const struct ovl_file *f);
/*
 * @n bytes were written at @off to ovl_file_fd() (ovl_file_write() says so
 * itself): write-behind. A file written in one sequential run has each
 * OVL_WRITE_BEHIND bytes of it sent to the disk, without waiting, once
 * written, as PostgreSQL's *_flush_after settings do: a large file's data
 * is then mostly on the disk already when it is fsync'd or closed, and
 * dirty pages do not pile up. Small files and random writes are left to
 * the kernel.
 */
#define OVL_WRITE_BEHIND (8u << 20)
void ovl_file_wrote(struct ovl_file *f, uint64_t off, size_t n);

/* fstat of the handle (works on unlinked files); st_ino left to caller. */
int ovl_file_stat(struct ovl_file *f, struct stat *ret);

/*
 * Namespace changes. Each returns the new node's attributes in *ret (and
 * takes a lookup reference on it) where it creates one. -EROFS on a
 * read-only view. Permission checks are the kernel's (default_permissions).
 */
int ovl_view_create(struct ovl_view *v, const struct ovl_cred *cred,
		    uint64_t dir, const char *name, mode_t mode, int flags,
		    struct stat *ret_st, struct ovl_file **ret);
int ovl_view_mknod(struct ovl_view *v, const struct ovl_cred *cred,
		   uint64_t dir, const char *name, mode_t mode, dev_t rdev,
		   struct stat *ret);
int ovl_view_mkdir(struct ovl_view *v, const struct ovl_cred *cred,
		   uint64_t dir, const char *name, mode_t mode,
		   struct stat *ret);
int ovl_view_symlink(struct ovl_view *v, const struct ovl_cred *cred,
		     uint64_t dir, const char *name, const char *target,
		     struct stat *ret);
int ovl_view_link(struct ovl_view *v, uint64_t ino, uint64_t newdir,
		  const char *newname, struct stat *ret);
int ovl_view_unlink(struct ovl_view *v, uint64_t dir, const char *name);
int ovl_view_rmdir(struct ovl_view *v, uint64_t dir, const char *name);
/* @flags: RENAME_NOREPLACE, RENAME_EXCHANGE. */
int ovl_view_rename(struct ovl_view *v, uint64_t dir, const char *name,
		    uint64_t newdir, const char *newname, unsigned flags);
/* @f may be NULL; it is used for a size change on an open file. */
int ovl_view_setattr(struct ovl_view *v, uint64_t ino,
		     const struct ovl_setattr *attr, struct ovl_file *f,
		     struct stat *ret);
int ovl_view_setxattr(struct ovl_view *v, uint64_t ino, const char *name,
		      const void *value, size_t size, int flags);
int ovl_view_removexattr(struct ovl_view *v, uint64_t ino, const char *name);
int ovl_view_fsyncdir(struct ovl_view *v, uint64_t ino, int datasync);

ssize_t ovl_view_read(struct ovl_view *v, uint64_t ino, void *buf, size_t size,
		      uint64_t off);

/* As tmpl_node_map(): where bytes from @off live, for zero-copy reads. */
int ovl_view_map(struct ovl_view *v, uint64_t ino, uint64_t off, int *ret_fd,
		 uint64_t *ret_pos, uint64_t *ret_len);

int ovl_view_lseek(struct ovl_view *v, uint64_t ino, int64_t off, int whence,
		   int64_t *ret);

ssize_t ovl_view_listxattr(struct ovl_view *v, uint64_t ino, char *buf,
			   size_t size);
ssize_t ovl_view_getxattr(struct ovl_view *v, uint64_t ino, const char *name,
			  void *buf, size_t size);

/*
 * With fixups: the rule that changes @path ("etc/fstab"), or NULL; and a
 * one-line description of what detection found (for messages).
 */
const char *ovl_view_fixup_rule(struct ovl_view *v, const char *path);
void ovl_view_describe(struct ovl_view *v, char *buf, size_t size);

/* Totals for statfs: inodes, bytes used, bytes free for writing. */
void ovl_view_statfs(struct ovl_view *v, uint64_t *ret_files,
		     uint64_t *ret_bytes, uint64_t *ret_free);

#endif
