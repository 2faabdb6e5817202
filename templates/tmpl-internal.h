/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private interfaces between the builder, the cache and the reader. */
#ifndef TMPL_INTERNAL_H
#define TMPL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/err.h"
#include "templates/tmpl-format.h"

struct tmpl_build_result {
	bool in_place;
	uint64_t data_size; /* bytes written to the data file, header included */
	uint64_t entries, nodes, bytes;
};

/*
 * Reads the archive on @tpl_fd (positioned anywhere; read from offset 0)
 * and writes a complete index to @idx_fd and, for compressed archives,
 * member data to @data_fd. @st is the template's stat, recorded as its
 * identity; @name is used in messages. Returns 0 or -errno with @err set.
 */
int tmpl_build(int tpl_fd, const struct stat *st, const char *name, int idx_fd,
	       int data_fd, uint64_t build_id, dm_warn_fn warn, void *warn_ctx,
	       struct tmpl_build_result *ret, struct dm_err *err);

/*
 * Converts libarchive's ACL of an entry to a system.posix_acl_* value
 * (*ret NULL when there is none).
 */
struct archive_entry;
int tmpl_acl_to_xattr(struct archive_entry *e, int type, void **ret,
		      size_t *ret_len);

/*
 * gzip read with CRC checks (tmpl-gzip.c); libarchive reads the
 * decompressed stream through tmpl_gz_open()'s callbacks.
 */
struct archive;
struct tmpl_gz;
bool tmpl_gz_detect(int fd);
int tmpl_gz_open(struct archive *a, int fd, struct tmpl_gz **ret);
ssize_t tmpl_gz_read(struct tmpl_gz *g, const void **ret);
/* Reads to the end of the stream, so the last trailer is checked. */
int tmpl_gz_drain(struct tmpl_gz *g);
const char *tmpl_gz_error(const struct tmpl_gz *g);
struct tmpl_gz *tmpl_gz_free(struct tmpl_gz *g);

uint64_t tmpl_header_checksum(const struct tmpl_dheader *h);

#endif
