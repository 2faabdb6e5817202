/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The template layer: a tar archive indexed once into a cache, then served
 * read-only. This is the only module that includes <archive.h>.
 *
 * Node identifiers: a template node id (uint32_t) names one inode of the
 * template; hardlinked members share one id. Ids are dense, 0 is the root, and
 * they are fixed for the life of a cache entry (the index is immutable). Upper
 * layers map them to their own inode numbers; see overlay/view.h.
 *
 * Thread safety: an opened struct tmpl_index is immutable; every query may
 * run concurrently from any thread. Nothing here prints.
 */
#ifndef TMPL_H
#define TMPL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/err.h"

#define TMPL_ROOT_ID 0u

struct tmpl_index;

enum {
	TMPL_OPEN_REBUILD = 1 << 0, /* ignore an existing cache entry */
};

struct tmpl_open_opts {
	const char *cache_dir; /* required: where index and data are cached */
	unsigned flags; /* TMPL_OPEN_* */
	dm_warn_fn warn; /* hostile or odd members; may be NULL */
	void *warn_ctx;
	/*
	 * May be NULL; once *cancel is nonzero, a build in progress stops,
	 * removes what it wrote and fails with -ECANCELED (a signal handler
	 * sets it: an interrupted index leaves nothing behind).
	 */
	const volatile sig_atomic_t *cancel;
};

struct tmpl_info {
	uint64_t entries; /* names in the tree, root included */
	uint64_t nodes; /* distinct inodes */
	uint64_t bytes; /* sum of regular file sizes (each inode once) */
	uint64_t data_bytes; /* bytes stored in the cache's data file */
	bool built; /* this open built the cache entry */
	bool in_place; /* member data is read from the template itself */
	double seconds; /* time spent building or verifying */
	char index_path[4096];
};

/*
 * Opens the template at @path through its cache entry, building the entry
 * when missing or stale (keyed on the template's identity: device, inode,
 * size, mtime and ctime). Concurrent callers on one cache share one build.
 * Returns 0 and the index in *ret, or -errno with @err naming the template
 * and the member or offset concerned.
 */
int tmpl_index_open(const char *path, const struct tmpl_open_opts *opts,
		    struct tmpl_index **ret, struct dm_err *err);

/* NULL-safe; returns NULL. */
struct tmpl_index *tmpl_index_free(struct tmpl_index *idx);

void tmpl_index_info(const struct tmpl_index *idx, struct tmpl_info *ret);

/* Number of node ids; valid ids are 0 .. count-1. */
uint32_t tmpl_index_nodes(const struct tmpl_index *idx);

/* Fills *ret (st_ino is left 0: the caller numbers inodes). */
int tmpl_node_stat(const struct tmpl_index *idx, uint32_t id, struct stat *ret);

/* -ENOTDIR, -ENOENT, -ENAMETOOLONG, or 0 with the child's id. */
int tmpl_dir_lookup(const struct tmpl_index *idx, uint32_t dir,
		    const char *name, size_t len, uint32_t *ret_id);

/* Entry count of a directory (without "." and ".."), or -ENOTDIR. */
int64_t tmpl_dir_count(const struct tmpl_index *idx, uint32_t dir);

/*
 * The i-th entry of a directory, in sorted byte order. The name is borrowed
 * from the index (valid while it is open) and NUL-terminated.
 */
int tmpl_dir_entry(const struct tmpl_index *idx, uint32_t dir, uint64_t i,
		   const char **ret_name, size_t *ret_len, uint32_t *ret_id);

/* Parent directory id of a directory (the root is its own parent). */
uint32_t tmpl_dir_parent(const struct tmpl_index *idx, uint32_t dir);

/* Borrowed, NUL-terminated symlink target; -EINVAL if not a symlink. */
int tmpl_node_readlink(const struct tmpl_index *idx, uint32_t id,
		       const char **ret, size_t *ret_len);

/* pread semantics: bytes read (0 at EOF), holes read as zeros, or -errno. */
ssize_t tmpl_node_read(const struct tmpl_index *idx, uint32_t id, void *buf,
		       size_t size, uint64_t off);

/*
 * Where the bytes at @off live, for zero-copy: on success *ret_fd and
 * *ret_pos name a file range of *ret_len bytes (never 0) holding the data
 * from @off on, or *ret_fd is -1 and *ret_len bytes from @off on are a hole.
 * Returns -ENXIO at or past EOF.
 */
int tmpl_node_map(const struct tmpl_index *idx, uint32_t id, uint64_t off,
		  int *ret_fd, uint64_t *ret_pos, uint64_t *ret_len);

/* SEEK_DATA / SEEK_HOLE over the node's extents; -ENXIO as lseek(2). */
int tmpl_node_lseek(const struct tmpl_index *idx, uint32_t id, int64_t off,
		    int whence, int64_t *ret);

/*
 * listxattr(2) semantics: with size 0 returns the size needed; -ERANGE when
 * @size is too small.
 */
ssize_t tmpl_node_listxattr(const struct tmpl_index *idx, uint32_t id,
			    char *buf, size_t size);

/* getxattr(2) semantics; -ENODATA when absent. */
ssize_t tmpl_node_getxattr(const struct tmpl_index *idx, uint32_t id,
			   const char *name, void *buf, size_t size);

/*
 * Default cache directory: $XDG_CACHE_HOME/domufs, ~/.cache/domufs, or
 * /var/cache/domufs for root. Writes into @buf; -ENAMETOOLONG on overflow.
 */
int tmpl_cache_default_dir(char *buf, size_t size);

#endif
