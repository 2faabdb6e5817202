// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A gzip source for libarchive that checks what libarchive's own gzip
 * filter does not: each member's CRC-32 and length trailer (zlib does it
 * with windowBits 16+15). Concatenated members are read one after the
 * other; the caller drains the stream after the tar end marker so that the
 * last trailer is checked too. Errors are kept on the source as a message.
 */
#include "templates/tmpl-internal.h"

#include <archive.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define GZ_IN_SIZE (256u << 10)
#define GZ_OUT_SIZE (1u << 20)

struct tmpl_gz {
	int fd;
	z_stream zs;
	bool zs_init;
	bool in_eof; /* no more input from the file */
	bool done; /* last member ended */
	uint64_t in_pos; /* file offset of zs.next_in */
	unsigned char *in, *out;
	char err[256];
};

bool tmpl_gz_detect(int fd)
{
	unsigned char m[2];

	return pread(fd, m, 2, 0) == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static int fill(struct tmpl_gz *g)
{
	ssize_t n;

	if (g->zs.avail_in || g->in_eof)
		return 0;
	do
		n = read(g->fd, g->in, GZ_IN_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(g->err, sizeof(g->err), "read error: %s",
			 strerror(errno));
		return -errno;
	}
	if (n == 0)
		g->in_eof = true;
	g->zs.next_in = g->in;
	g->zs.avail_in = (uInt)n;
	return 0;
}

/* Decompresses up to one output buffer; 0 bytes means end of stream. */
ssize_t tmpl_gz_read(struct tmpl_gz *g, const void **ret)
{
	g->zs.next_out = g->out;
	g->zs.avail_out = GZ_OUT_SIZE;
	while (g->zs.avail_out == GZ_OUT_SIZE && !g->done) {
		int z;

		if (fill(g) < 0)
			return -EIO;
		if (!g->zs.avail_in && g->in_eof) {
			snprintf(g->err, sizeof(g->err),
				 "gzip stream truncated at byte %llu",
				 (unsigned long long)g->in_pos);
			return -EIO;
		}
		{
			uInt before = g->zs.avail_in;

			z = inflate(&g->zs, Z_NO_FLUSH);
			g->in_pos += before - g->zs.avail_in;
		}
		if (z == Z_STREAM_END) {
			/* Trailer checked by zlib. Another member? */
			if (fill(g) < 0)
				return -EIO;
			if (!g->zs.avail_in || g->zs.next_in[0] != 0x1f) {
				/* end, or trailing padding as gzip allows */
				g->done = true;
				break;
			}
			inflateReset(&g->zs);
			continue;
		}
		if (z != Z_OK && z != Z_BUF_ERROR) {
			snprintf(g->err, sizeof(g->err),
				 "gzip data corrupt near byte %llu: %s",
				 (unsigned long long)g->in_pos,
				 g->zs.msg ? g->zs.msg : "inflate failed");
			return -EIO;
		}
	}
	*ret = g->out;
	return (ssize_t)(GZ_OUT_SIZE - g->zs.avail_out);
}

int tmpl_gz_drain(struct tmpl_gz *g)
{
	const void *p;
	ssize_t n;

	while ((n = tmpl_gz_read(g, &p)) > 0)
		;
	return n < 0 ? (int)n : 0;
}

const char *tmpl_gz_error(const struct tmpl_gz *g)
{
	return g->err[0] ? g->err : NULL;
}

static la_ssize_t gz_archive_read(struct archive *a, void *data,
				  const void **buf)
{
	struct tmpl_gz *g = data;
	ssize_t n = tmpl_gz_read(g, buf);

	if (n < 0) {
		archive_set_error(a, EIO, "%s", g->err);
		return ARCHIVE_FATAL;
	}
	return n;
}

int tmpl_gz_open(struct archive *a, int fd, struct tmpl_gz **ret)
{
	struct tmpl_gz *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->fd = fd;
	g->in = malloc(GZ_IN_SIZE);
	g->out = malloc(GZ_OUT_SIZE);
	if (!g->in || !g->out || inflateInit2(&g->zs, 16 + MAX_WBITS) != Z_OK) {
		tmpl_gz_free(g);
		return -ENOMEM;
	}
	g->zs_init = true;
	if (archive_read_open(a, g, NULL, gz_archive_read, NULL) !=
	    ARCHIVE_OK) {
		/* the caller reports archive_error_string() */
		*ret = g;
		return -EIO;
	}
	*ret = g;
	return 0;
}

struct tmpl_gz *tmpl_gz_free(struct tmpl_gz *g)
{
	if (!g)
		return NULL;
	if (g->zs_init)
		inflateEnd(&g->zs);
	free(g->in);
	free(g->out);
	free(g);
	return NULL;
}
