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
#include "templates/tmpl.h"

struct tmpl_build_result {
	bool in_place;
	uint64_t data_size; /* bytes written to the data file, header included */
	uint64_t entries, nodes, bytes;
};

/*
 * Reads the archive on @tpl_fd (positioned anywhere; read from offset 0)
 * and writes a complete index to @idx_fd and, for compressed archives,
 * member data to @data_fd. @st is the template's stat, recorded as its
 * identity; @name is used in messages; @opts's warn and cancel are used.
 * Returns 0 or -errno with @err set (-ECANCELED once *opts->cancel is set).
 */
int tmpl_build(int tpl_fd, const struct stat *st, const char *name, int idx_fd,
	       int data_fd, uint64_t build_id,
	       const struct tmpl_open_opts *opts, struct tmpl_build_result *ret,
	       struct dm_err *err);

/*
 * Converts libarchive's ACL of an entry to a system.posix_acl_* value
 * (*ret NULL when there is none). An entry that names its user or group
 * without a numeric id (GNU tar's text ACLs: "user:www-data:rwx") takes the
 * id this host gives the name, as extraction's acl_from_text() would; when
 * the host knows no such name, *ret stays NULL and *ret_unknown is that
 * name (valid until @e changes): extraction drops such an ACL.
 */
struct archive_entry;
int tmpl_acl_to_xattr(struct archive_entry *e, int type, void **ret,
		      size_t *ret_len, const char **ret_unknown);

/*
 * A decompressing source that libarchive reads the tar stream from, where
 * libarchive's own filters fall short: gzip with every member's CRC-32
 * checked (tmpl-gzip.c), zstd decompressed on a thread of its own
 * (tmpl-zstd.c), xz with all that came out before an error handed on
 * (tmpl-xz.c); any other compression through libarchive's filters on a
 * reader of its own (tmpl-source.c), so that its bytes, too, pass where
 * header blocks can be kept for reading again. Errors are kept on the
 * source as one message that names the compressed offset.
 */
struct archive;
struct tmpl_source;
struct tmpl_source_ops {
	/*
	 * Up to one buffer of the stream (valid until the next call); 0: end.
	 * On a failure: -errno, or the bytes that came out before it with
	 * s->error set, which the caller then gets at its next call.
	 */
	ssize_t (*read)(struct tmpl_source *s, const void **ret);
	void (*free)(struct tmpl_source *s);
};
struct tmpl_source {
	const struct tmpl_source_ops *ops;
	char err[256];
	int error; /* -errno once the source failed */
	/*
	 * What was handed to libarchive, for reading header blocks again
	 * (tmpl_source_reread): the latest buffer, [end - cur_len, end) of
	 * the stream, and a copy of earlier bytes from keep_from on.
	 */
	const unsigned char *cur;
	size_t cur_len;
	uint64_t end;
	uint64_t keep_from;
	unsigned char *kept;
	size_t kept_len, kept_cap;
	uint64_t kept_start;
};

/*
 * The source @fd's magic calls for, opened on @a; *ret stays NULL (and 0
 * is returned) when libarchive reads @fd itself. -EIO: archive_read_open()
 * failed, see archive_error_string().
 */
int tmpl_source_open(struct archive *a, int fd, struct tmpl_source **ret);
/*
 * A source's read of compressed input: up to @size bytes of @fd, EINTR
 * retried; on failure -errno, and the source's message says so.
 */
ssize_t tmpl_source_input(struct tmpl_source *s, int fd, void *buf,
			  size_t size);
/*
 * Keep the stream's bytes from @from on for tmpl_source_reread (UINT64_MAX:
 * none); bytes before @from are let go. @from must not lie before the
 * latest buffer handed out, unless it was kept already.
 */
void tmpl_source_keep(struct tmpl_source *s, uint64_t from);
/* Copies @len bytes of the stream from @at; -ENODATA when not kept. */
int tmpl_source_reread(struct tmpl_source *s, uint64_t at, void *buf,
		       size_t len);
/* Reads to the end of the stream, so the last trailer is checked too. */
int tmpl_source_drain(struct tmpl_source *s);
const char *tmpl_source_error(const struct tmpl_source *s);
struct tmpl_source *tmpl_source_free(struct tmpl_source *s);

bool tmpl_gz_detect(int fd);
int tmpl_gz_new(int fd, struct tmpl_source **ret);
bool tmpl_zstd_detect(int fd);
int tmpl_zstd_new(int fd, struct tmpl_source **ret);
bool tmpl_xz_detect(int fd);
int tmpl_xz_new(int fd, struct tmpl_source **ret);
/*
 * Any other compression libarchive knows (bzip2, lzip, lz4, ...), read
 * through libarchive's filters on a reader of its own; *ret stays NULL
 * (and 0 is returned) when @fd is not compressed.
 */
int tmpl_filtered_new(int fd, struct tmpl_source **ret);

uint64_t tmpl_header_checksum(const struct tmpl_dheader *h);

#endif
