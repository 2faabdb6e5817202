/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The writable view: template below, per-domain upper directory above.
 * Private to overlay/; view.c dispatches here when the view has an upper
 * layer. Same conventions as view.h.
 */
#ifndef OVL_MERGE_H
#define OVL_MERGE_H

#include "overlay/view.h"

struct ovl_merge;
struct ovl_mdir;
struct mnode;

/*
 * An open file: an upper fd, a template node read through its layer, or
 * (fixups) content held in memory.
 */
struct ovl_file {
	int fd;
	uint32_t lower;
	const struct ovl_layer *layer;
	char *mem; /* when not NULL: the content, read-only */
	size_t mem_len;
	struct ovl_merge *m; /* writable view: the node it keeps open */
	struct mnode *node;
	/* write-behind: the sequential run written since the last kick */
	uint64_t wb_start, wb_end;
};

/* A handle of @node closes (an unlinked file's space is freed then). */
void ovl_merge_file_closed(struct ovl_merge *m, struct mnode *node);

int ovl_merge_new(const struct ovl_layer *lower, const char *upper_dir,
		  struct ovl_merge **ret, struct dm_err *err);
struct ovl_merge *ovl_merge_free(struct ovl_merge *m);

int ovl_merge_lookup(struct ovl_merge *m, uint64_t dir, const char *name,
		     struct stat *ret);
void ovl_merge_forget(struct ovl_merge *m, uint64_t ino, uint64_t n);
void ovl_merge_ref(struct ovl_merge *m, uint64_t ino);
bool ovl_merge_pristine(struct ovl_merge *m, uint64_t ino);
bool ovl_merge_from_template(struct ovl_merge *m, uint64_t ino);
int ovl_merge_getattr(struct ovl_merge *m, uint64_t ino, struct stat *ret);
ssize_t ovl_merge_readlink(struct ovl_merge *m, uint64_t ino, char *buf,
			   size_t size);
int ovl_merge_opendir(struct ovl_merge *m, uint64_t ino, struct ovl_mdir **ret);
struct ovl_mdir *ovl_merge_dir_close(struct ovl_mdir *d);
uint64_t ovl_merge_dir_count(const struct ovl_mdir *d);
int ovl_merge_dir_entry(struct ovl_mdir *d, uint64_t i, const char **ret_name,
			struct stat *ret_st);
const char *ovl_merge_dir_name(const struct ovl_mdir *d, uint64_t i);
ssize_t ovl_merge_listxattr(struct ovl_merge *m, uint64_t ino, char *buf,
			    size_t size);
ssize_t ovl_merge_getxattr(struct ovl_merge *m, uint64_t ino, const char *name,
			   void *buf, size_t size);
void ovl_merge_statfs(struct ovl_merge *m, uint64_t *ret_files,
		      uint64_t *ret_bytes, uint64_t *ret_free);

int ovl_merge_open(struct ovl_merge *m, uint64_t ino, int flags,
		   struct ovl_file **ret);
int ovl_merge_create(struct ovl_merge *m, const struct ovl_cred *cred,
		     uint64_t dir, const char *name, mode_t mode, int flags,
		     struct stat *ret_st, struct ovl_file **ret);
int ovl_merge_mknod(struct ovl_merge *m, const struct ovl_cred *cred,
		    uint64_t dir, const char *name, mode_t mode, dev_t rdev,
		    struct stat *ret);
int ovl_merge_mkdir(struct ovl_merge *m, const struct ovl_cred *cred,
		    uint64_t dir, const char *name, mode_t mode,
		    struct stat *ret);
int ovl_merge_symlink(struct ovl_merge *m, const struct ovl_cred *cred,
		      uint64_t dir, const char *name, const char *target,
		      struct stat *ret);
int ovl_merge_link(struct ovl_merge *m, uint64_t ino, uint64_t newdir,
		   const char *newname, struct stat *ret);
int ovl_merge_unlink(struct ovl_merge *m, uint64_t dir, const char *name);
int ovl_merge_rmdir(struct ovl_merge *m, uint64_t dir, const char *name);
int ovl_merge_rename(struct ovl_merge *m, uint64_t dir, const char *name,
		     uint64_t newdir, const char *newname, unsigned flags);
int ovl_merge_setattr(struct ovl_merge *m, uint64_t ino,
		      const struct ovl_setattr *attr, struct ovl_file *f,
		      struct stat *ret);
int ovl_merge_setxattr(struct ovl_merge *m, uint64_t ino, const char *name,
		       const void *value, size_t size, int flags);
int ovl_merge_removexattr(struct ovl_merge *m, uint64_t ino, const char *name);
int ovl_merge_fsyncdir(struct ovl_merge *m, uint64_t ino, int datasync);

/* Reads a node's data without a handle (the commit's path). */
ssize_t ovl_merge_read(struct ovl_merge *m, uint64_t ino, void *buf,
		       size_t size, uint64_t off);
int ovl_merge_map(struct ovl_merge *m, uint64_t ino, uint64_t off, int *ret_fd,
		  uint64_t *ret_pos, uint64_t *ret_len);
int ovl_merge_lseek(struct ovl_merge *m, uint64_t ino, int64_t off, int whence,
		    int64_t *ret);

#endif
