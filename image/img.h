/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image module: `domufs commit`. Writes exactly the view (overlay/view.h)
 * into a new ext2/3/4 filesystem built with libext2fs (image files and block
 * devices, optionally behind an MBR), or into a new template tarball through
 * templates/tmpl-write.h. It reads the tree only through the view API.
 *
 * Returns 0 or -errno with a struct dm_err naming the target or the path
 * concerned; never prints. Progress is reported through a callback, which
 * may also cancel. One commit runs on the calling thread.
 */
#ifndef IMG_H
#define IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct ovl_view;

enum img_fs {
	IMG_FS_EXT2,
	IMG_FS_EXT3,
	IMG_FS_EXT4,
};

enum img_partition {
	IMG_PART_NONE,
	IMG_PART_MSDOS, /* one bootable Linux partition from 1 MiB on */
};

enum img_tar_compression {
	IMG_TAR_NONE,
	IMG_TAR_GZIP,
	IMG_TAR_ZSTD,
};

struct img_progress {
	const char *phase; /* "scan", "write", "sync" */
	uint64_t entries, entries_total; /* names in the tree */
	uint64_t bytes, bytes_total; /* regular file data */
};

/*
 * Called often (after each inode); throttling is the callee's job. Returns
 * 0 to go on, or -errno (-ECANCELED) to abort the commit cleanly.
 */
typedef int (*img_progress_fn)(void *ctx, const struct img_progress *p);

/*
 * Asked about every existing target (image file or block device) after the
 * mount checks and before anything is written. Returns 0 to go on, or
 * -errno with one line in @err naming the target (and why) to refuse it.
 * The CLI passes one that refuses the disk of a running Xen domain (the
 * vbd backends in xenstore); image/ itself knows nothing of Xen.
 */
typedef int (*img_target_check_fn)(void *ctx, const char *target,
				   struct dm_err *err);

/* A file that a block device target must not be backed by. */
struct img_protect {
	const char *path; /* NULL: none */
	const char *what; /* "the template" */
};

#define IMG_PROTECT_MAX 2

struct img_commit_opts {
	enum img_fs fs;
	enum img_partition partition;
	uint64_t size; /* bytes; 0: the block device's size, or computed */
	const char *label; /* NULL: none; at most 16 bytes */
	bool have_uuid;
	uint8_t uuid[16];
	bool have_epoch; /* SOURCE_DATE_EPOCH: fixed times, UUID, seeds */
	int64_t epoch;
	/*
	 * With @have_epoch and no @have_uuid: what tells this commit from
	 * those of other domains (the domain, the overlay, the template),
	 * mixed into the UUID derived from @epoch; NULL: the epoch alone.
	 */
	const char *identity;
	bool force; /* overwrite a target that holds a filesystem */
	bool no_discard; /* a block device is not discarded before the write */
	/*
	 * Files the commit reads (the template, its cache data file): a block
	 * device backed by one of them through loop devices (stacked ones
	 * too) is refused even with @force.
	 */
	struct img_protect protect[IMG_PROTECT_MAX];
	img_progress_fn progress; /* may be NULL */
	void *progress_ctx;
	img_target_check_fn check_target; /* may be NULL */
	void *check_ctx;
	dm_warn_fn warn; /* may be NULL: what --force lets through */
	void *warn_ctx;
};

struct img_commit_result {
	uint64_t size; /* bytes of the target in use, partition table included */
	uint64_t fs_size; /* bytes of the filesystem */
	bool size_computed; /* the size came from the tree */
	bool block_device;
	/*
	 * A block device's old signatures are (being) wiped: set on failure
	 * too, once the old filesystem may be gone (the device then holds
	 * none).
	 */
	bool wiped;
	uint64_t entries; /* names written */
	uint64_t inodes; /* inodes written (hardlinks share one) */
	uint64_t bytes; /* regular file bytes */
	double seconds;
};

/*
 * Writes the view into a new filesystem on @target. An image file (new or
 * existing) is built as a temporary file beside it, synced and renamed into
 * place; a block device is written in place, opened O_EXCL, and holds a
 * valid superblock only once everything else is on disk. Refuses, before
 * writing anything, a target that is mounted or in use, one that already
 * holds a filesystem or partition table (unless @force), one that
 * @o->check_target refuses, and one too small (the message says how much
 * is needed). A failure after a block device's wipe (@ret->wiped) says in
 * @err that the device holds no filesystem now (-ECANCELED aside: the
 * caller says it).
 */
int img_commit(struct ovl_view *v, const char *target,
	       const struct img_commit_opts *o, struct img_commit_result *ret,
	       struct dm_err *err);

/*
 * Exports the view as a template tarball (pax: xattrs, ACLs, hardlinks,
 * sparse members, numeric owners) at @out, through a temporary file that
 * is renamed into place. Equal views give equal archives. Refuses, before
 * writing anything, an @out that exists and is not a regular file, backs
 * a mounted loop device, is refused by @o->check_target, or holds a
 * filesystem or partition table (unless @o->force). Of the rest of @o only
 * the progress callback is used.
 */
int img_export_tar(struct ovl_view *v, const char *out,
		   enum img_tar_compression c, const struct img_commit_opts *o,
		   struct img_commit_result *ret, struct dm_err *err);

/* Parses "K/M/G/T"-suffixed sizes (powers of 1024); -EINVAL, -ERANGE. */
int img_parse_size(const char *s, uint64_t *ret);

/* Parses a UUID in 8-4-4-4-12 hex form; -EINVAL. */
int img_parse_uuid(const char *s, uint8_t ret[16]);

#endif
