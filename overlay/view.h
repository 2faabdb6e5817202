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
 * Thread safety: every call may run concurrently; template-only nodes are
 * immutable, so no lock is taken on the read path.
 */
#ifndef OVL_VIEW_H
#define OVL_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "overlay/layer.h"

#define OVL_ROOT_INO 1u

struct ovl_view;
struct ovl_dir;

/* Takes nothing: @lower is copied, its data borrowed for the view's life. */
int ovl_view_new(const struct ovl_layer *lower, struct ovl_view **ret);
struct ovl_view *ovl_view_free(struct ovl_view *v);

/* True when the view is read-only (no upper layer): writes get -EROFS. */
bool ovl_view_readonly(const struct ovl_view *v);

/* True when the node cannot change during the view's life. */
bool ovl_view_immutable(const struct ovl_view *v, uint64_t ino);

/* Looks @name up in directory @dir; fills *ret_st (st_ino set). */
int ovl_view_lookup(struct ovl_view *v, uint64_t dir, const char *name,
		    struct stat *ret_st);

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

/* Checks that @ino can be opened with @flags (O_ACCMODE, O_TRUNC...). */
int ovl_view_open(struct ovl_view *v, uint64_t ino, int flags);

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

/* Totals for statfs. */
void ovl_view_statfs(struct ovl_view *v, uint64_t *ret_files,
		     uint64_t *ret_bytes);

#endif
