// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * An xz source for libarchive. libarchive's own xz filter drops what it has
 * decompressed when the stream then fails, so a truncated or damaged
 * .tar.xz was reported at a member (or a header at byte 0) before the
 * place where the stream really breaks off. Here every byte that came out
 * reaches the parser before the error does. Concatenated streams and
 * stream padding are read as xz(1) reads them (LZMA_CONCATENATED); each
 * block's check is verified by liblzma; the caller drains the stream after
 * the tar end marker so that the last index and footer are checked too.
 * Errors are kept on the source as a message naming the compressed offset.
 */
#include "templates/tmpl-internal.h"

#include <errno.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XZ_IN_SIZE (256u << 10)
#define XZ_OUT_SIZE (1u << 20)

struct tmpl_xz {
	struct tmpl_source src; /* first: the source is the struct */
	int fd;
	lzma_stream ls;
	bool ls_init;
	bool in_eof; /* no more input from the file */
	bool done; /* the last stream ended */
	uint64_t in_pos; /* file offset of ls.next_in */
	uint8_t *in, *out;
};

bool tmpl_xz_detect(int fd)
{
	static const unsigned char magic[6] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	unsigned char m[6];

	return pread(fd, m, 6, 0) == 6 && !memcmp(m, magic, 6);
}

static int fill(struct tmpl_xz *x)
{
	ssize_t n;

	if (x->ls.avail_in || x->in_eof)
		return 0;
	n = tmpl_source_input(&x->src, x->fd, x->in, XZ_IN_SIZE);
	if (n < 0)
		return (int)n;
	if (n == 0)
		x->in_eof = true;
	x->ls.next_in = x->in;
	x->ls.avail_in = (size_t)n;
	return 0;
}

static const char *lzma_msg(lzma_ret r)
{
	switch (r) {
	case LZMA_FORMAT_ERROR:
		return "not xz data";
	case LZMA_OPTIONS_ERROR:
		return "unsupported options";
	case LZMA_DATA_ERROR:
		return "compressed data is corrupt";
	case LZMA_BUF_ERROR:
		return "unexpected end of input";
	case LZMA_MEM_ERROR:
		return "out of memory";
	default:
		return "decoder error";
	}
}

/*
 * Decompresses up to one output buffer; 0 bytes means end of stream. What
 * came out before an error is handed on with src.error set.
 */
static ssize_t xz_read(struct tmpl_source *s, const void **ret)
{
	struct tmpl_xz *x = (struct tmpl_xz *)s;

	x->ls.next_out = x->out;
	x->ls.avail_out = XZ_OUT_SIZE;
	while (x->ls.avail_out == XZ_OUT_SIZE && !x->done) {
		size_t before;
		lzma_ret r;

		if (fill(x) < 0) {
			s->error = -EIO;
			break;
		}
		before = x->ls.avail_in;
		r = lzma_code(&x->ls, x->in_eof ? LZMA_FINISH : LZMA_RUN);
		x->in_pos += before - x->ls.avail_in;
		if (r == LZMA_STREAM_END) {
			x->done = true;
		} else if (r == LZMA_BUF_ERROR && x->in_eof) {
			snprintf(x->src.err, sizeof(x->src.err),
				 "xz stream truncated at byte %llu",
				 (unsigned long long)x->in_pos);
			s->error = -EIO;
		} else if (r != LZMA_OK && r != LZMA_BUF_ERROR) {
			snprintf(x->src.err, sizeof(x->src.err),
				 "xz data corrupt near byte %llu: %s",
				 (unsigned long long)x->in_pos, lzma_msg(r));
			s->error = r == LZMA_MEM_ERROR ? -ENOMEM : -EIO;
		}
		if (s->error)
			break;
	}
	*ret = x->out;
	return (ssize_t)(XZ_OUT_SIZE - x->ls.avail_out);
}

static void xz_free(struct tmpl_source *s)
{
	struct tmpl_xz *x = (struct tmpl_xz *)s;

	if (x->ls_init)
		lzma_end(&x->ls);
	free(x->in);
	free(x->out);
	free(x);
}

static const struct tmpl_source_ops xz_ops = {
	.read = xz_read,
	.free = xz_free,
};

int tmpl_xz_new(int fd, struct tmpl_source **ret)
{
	struct tmpl_xz *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	x->src.ops = &xz_ops;
	x->fd = fd;
	x->ls = (lzma_stream)LZMA_STREAM_INIT;
	x->in = malloc(XZ_IN_SIZE);
	x->out = malloc(XZ_OUT_SIZE);
	/*
	 * One thread: liblzma's threaded decoder halves the time for streams
	 * of many blocks (xz -T) but holds a block per thread, which took
	 * the peak RSS of an index from 45 to 165 MiB.
	 */
	if (!x->in || !x->out ||
	    lzma_stream_decoder(&x->ls, UINT64_MAX, LZMA_CONCATENATED) !=
		    LZMA_OK) {
		xz_free(&x->src);
		return -ENOMEM;
	}
	x->ls_init = true;
	*ret = &x->src;
	return 0;
}
