// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A gzip source for libarchive that checks what libarchive's own gzip
 * filter does not: each member's CRC-32 and length trailer (zlib does it
 * with windowBits 16+15). Concatenated members are read one after the
 * other; the caller drains the stream after the tar end marker so that the
 * last trailer is checked too. Errors are kept on the source as a message.
 */
#include "templates/tmpl-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define GZ_IN_SIZE (256u << 10)
#define GZ_OUT_SIZE (1u << 20)

struct tmpl_gz {
	struct tmpl_source src; /* first: the source is the struct */
	int fd;
	z_stream zs;
	bool zs_init;
	bool in_eof; /* no more input from the file */
	bool done; /* last member ended */
	uint64_t in_pos; /* file offset of zs.next_in */
	unsigned char *in, *out;
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
	n = tmpl_source_input(&g->src, g->fd, g->in, GZ_IN_SIZE);
	if (n < 0)
		return (int)n;
	if (n == 0)
		g->in_eof = true;
	g->zs.next_in = g->in;
	g->zs.avail_in = (uInt)n;
	return 0;
}

/*
 * Decompresses up to one output buffer; 0 bytes means end of stream. What
 * came out before an error is handed on with src.error set.
 */
static ssize_t gz_read(struct tmpl_source *s, const void **ret)
{
	struct tmpl_gz *g = (struct tmpl_gz *)s;

	g->zs.next_out = g->out;
	g->zs.avail_out = GZ_OUT_SIZE;
	while (g->zs.avail_out == GZ_OUT_SIZE && !g->done && !s->error) {
		int z;

		if (fill(g) < 0) {
			s->error = -EIO;
			break;
		}
		if (!g->zs.avail_in && g->in_eof) {
			snprintf(g->src.err, sizeof(g->src.err),
				 "gzip stream truncated at byte %llu",
				 (unsigned long long)g->in_pos);
			s->error = -EIO;
			break;
		}
		{
			uInt before = g->zs.avail_in;

			z = inflate(&g->zs, Z_NO_FLUSH);
			g->in_pos += before - g->zs.avail_in;
		}
		if (z == Z_STREAM_END) {
			/* Trailer checked by zlib. Another member? */
			if (fill(g) < 0) {
				s->error = -EIO;
				break;
			}
			if (!g->zs.avail_in || g->zs.next_in[0] != 0x1f) {
				/* end, or trailing padding as gzip allows */
				g->done = true;
				break;
			}
			inflateReset(&g->zs);
			continue;
		}
		if (z != Z_OK && z != Z_BUF_ERROR) {
			snprintf(g->src.err, sizeof(g->src.err),
				 "gzip data corrupt near byte %llu: %s",
				 (unsigned long long)g->in_pos,
				 g->zs.msg ? g->zs.msg : "inflate failed");
			s->error = -EIO;
		}
	}
	*ret = g->out;
	return (ssize_t)(GZ_OUT_SIZE - g->zs.avail_out);
}

static void gz_free(struct tmpl_source *s)
{
	struct tmpl_gz *g = (struct tmpl_gz *)s;

	if (g->zs_init)
		inflateEnd(&g->zs);
	free(g->in);
	free(g->out);
	free(g);
}

static const struct tmpl_source_ops gz_ops = {
	.read = gz_read,
	.free = gz_free,
};

int tmpl_gz_new(int fd, struct tmpl_source **ret)
{
	struct tmpl_gz *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->src.ops = &gz_ops;
	g->fd = fd;
	g->in = malloc(GZ_IN_SIZE);
	g->out = malloc(GZ_OUT_SIZE);
	if (!g->in || !g->out || inflateInit2(&g->zs, 16 + MAX_WBITS) != Z_OK) {
		gz_free(&g->src);
		return -ENOMEM;
	}
	g->zs_init = true;
	*ret = &g->src;
	return 0;
}
