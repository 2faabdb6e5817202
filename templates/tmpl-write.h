/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small tar writer for new templates: pax format, numeric owners,
 * nanosecond times, xattrs (SCHILY.xattr records; POSIX ACL xattrs become
 * pax ACL records, and the header mode is st_mode, group bits the ACL
 * mask's, as GNU tar writes them), hardlink members, sparse members.
 * Knows nothing of
 * views: its caller hands it one member at a time. The archive goes to a
 * temporary file beside @path, renamed into place by tmpl_writer_close().
 * Returns 0 or -errno with @err naming the archive or member; never prints.
 * One thread per writer.
 */
#ifndef TMPL_WRITE_H
#define TMPL_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/err.h"

enum tmpl_compression {
	TMPL_COMPRESS_NONE,
	TMPL_COMPRESS_GZIP,
	TMPL_COMPRESS_ZSTD,
};

struct tmpl_writer;

struct tmpl_xattr {
	const char *name;
	const void *value;
	size_t len;
};

/* A byte range of a regular file that holds data; the rest is holes. */
struct tmpl_region {
	uint64_t off, len;
};

/*
 * Reads file bytes as pread(2) does: 0 at the end, holes as zeros, or
 * -errno.
 */
typedef ssize_t (*tmpl_read_fn)(void *ctx, void *buf, size_t size,
				uint64_t off);

struct tmpl_member {
	const char *path; /* the member name, as stored */
	const struct stat *st; /* type, mode, owners, times, size, rdev */
	const char *link; /* symlink target; or, with hardlink, the member
			   * this one is a further name of */
	bool hardlink;
	const struct tmpl_xattr *xattrs;
	size_t nxattrs;
	/* regular files: the data regions (NULL: all of st_size is data) */
	const struct tmpl_region *regions;
	size_t nregions;
	tmpl_read_fn read;
	void *read_ctx;
};

enum {
	TMPL_WRITE_REPRODUCIBLE = 1 << 0, /* no timestamp in gzip headers */
};

int tmpl_writer_open(const char *path, enum tmpl_compression c, unsigned flags,
		     struct tmpl_writer **ret, struct dm_err *err);

int tmpl_writer_add(struct tmpl_writer *w, const struct tmpl_member *m,
		    struct dm_err *err);

/* Finishes the archive, syncs it and renames it into place; frees @w. */
int tmpl_writer_close(struct tmpl_writer *w, struct dm_err *err);

/* Abandons the archive (the temporary file is removed); NULL-safe. */
struct tmpl_writer *tmpl_writer_free(struct tmpl_writer *w);

#endif
