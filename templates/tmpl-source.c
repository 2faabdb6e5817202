// SPDX-License-Identifier: LGPL-2.1-or-later
/* The decompressing sources' common part: detection, libarchive glue. */
#include "templates/tmpl-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Before the latest buffer goes: a copy of what of it is to be kept. */
static void keep_latest(struct tmpl_source *s)
{
	uint64_t start = s->end - s->cur_len, from;
	size_t n;

	if (s->keep_from >= s->end || !s->cur_len)
		return;
	from = s->keep_from > start ? s->keep_from : start;
	/* not contiguous: the older copy is of no use */
	if (s->kept_len && s->kept_start + s->kept_len != from)
		s->kept_len = 0;
	if (!s->kept_len)
		s->kept_start = from;
	n = (size_t)(s->end - from);
	if (s->kept_len + n > s->kept_cap) {
		size_t cap = s->kept_cap ? s->kept_cap : 4096;
		unsigned char *q;

		while (cap < s->kept_len + n)
			cap *= 2;
		q = realloc(s->kept, cap);
		if (!q) {
			/* tmpl_source_reread() says so later */
			s->kept_len = 0;
			return;
		}
		s->kept = q;
		s->kept_cap = cap;
	}
	memcpy(s->kept + s->kept_len, s->cur + (from - start), n);
	s->kept_len += n;
}

/* The next buffer of @s; its failure comes after the bytes before it. */
static ssize_t source_next(struct tmpl_source *s, const void **buf)
{
	ssize_t n;

	if (s->error)
		return s->error;
	keep_latest(s);
	s->cur = NULL;
	s->cur_len = 0;
	n = s->ops->read(s, buf);
	if (n < 0)
		s->error = (int)n;
	if (n > 0) {
		s->cur = *buf;
		s->cur_len = (size_t)n;
		s->end += (uint64_t)n;
	}
	return n > 0 ? n : s->error;
}

void tmpl_source_keep(struct tmpl_source *s, uint64_t from)
{
	uint64_t kept_end = s->kept_start + s->kept_len;

	s->keep_from = from;
	if (from >= kept_end) {
		s->kept_len = 0;
	} else if (from > s->kept_start) {
		memmove(s->kept, s->kept + (from - s->kept_start),
			(size_t)(kept_end - from));
		s->kept_len = (size_t)(kept_end - from);
		s->kept_start = from;
	}
}

int tmpl_source_reread(struct tmpl_source *s, uint64_t at, void *buf,
		       size_t len)
{
	uint64_t cur_start = s->end - s->cur_len;
	unsigned char *out = buf;

	while (len) {
		size_t n;

		if (s->kept_len && at >= s->kept_start &&
		    at < s->kept_start + s->kept_len) {
			n = (size_t)(s->kept_start + s->kept_len - at);
			if (n > len)
				n = len;
			memcpy(out, s->kept + (at - s->kept_start), n);
		} else if (s->cur_len && at >= cur_start && at < s->end) {
			n = (size_t)(s->end - at);
			if (n > len)
				n = len;
			memcpy(out, s->cur + (at - cur_start), n);
		} else {
			return -ENODATA;
		}
		at += n;
		out += n;
		len -= n;
	}
	return 0;
}

static la_ssize_t source_read(struct archive *a, void *data, const void **buf)
{
	struct tmpl_source *s = data;
	ssize_t n = source_next(s, buf);

	if (n < 0) {
		archive_set_error(a, EIO, "%s", s->err);
		return ARCHIVE_FATAL;
	}
	return n;
}

int tmpl_source_open(struct archive *a, int fd, struct tmpl_source **ret)
{
	int r = 0;

	*ret = NULL;
	if (tmpl_gz_detect(fd))
		r = tmpl_gz_new(fd, ret);
	else if (tmpl_zstd_detect(fd))
		r = tmpl_zstd_new(fd, ret);
	else if (tmpl_xz_detect(fd))
		r = tmpl_xz_new(fd, ret);
	else
		r = tmpl_filtered_new(fd, ret);
	if (r < 0 || !*ret)
		return r;
	if (archive_read_open(a, *ret, NULL, source_read, NULL) != ARCHIVE_OK)
		return -EIO;
	return 0;
}

ssize_t tmpl_source_input(struct tmpl_source *s, int fd, void *buf, size_t size)
{
	ssize_t n;

	do
		n = read(fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;

		snprintf(s->err, sizeof(s->err), "read error: %s", strerror(e));
		return -e;
	}
	return n;
}

int tmpl_source_drain(struct tmpl_source *s)
{
	const void *p;
	ssize_t n;

	while ((n = source_next(s, &p)) > 0)
		;
	return n < 0 ? (int)n : 0;
}

const char *tmpl_source_error(const struct tmpl_source *s)
{
	return s->err[0] ? s->err : NULL;
}

struct tmpl_source *tmpl_source_free(struct tmpl_source *s)
{
	if (s) {
		free(s->kept);
		s->ops->free(s);
	}
	return NULL;
}

/* --- any other compression, through libarchive's filters --- */

struct tmpl_filtered {
	struct tmpl_source src; /* first: the source is the struct */
	struct archive *a; /* filters, then the "raw" format */
};

static ssize_t filtered_read(struct tmpl_source *s, const void **ret)
{
	struct tmpl_filtered *f = (struct tmpl_filtered *)s;

	for (;;) {
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(f->a, ret, &len, &off);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			const char *msg = archive_error_string(f->a);

			snprintf(s->err, sizeof(s->err),
				 "%s (at compressed byte %lld)",
				 msg ? msg : "damaged compressed data",
				 (long long)archive_filter_bytes(f->a, -1));
			return -EIO;
		}
		if (len)
			return (ssize_t)len;
	}
}

static void filtered_free(struct tmpl_source *s)
{
	struct tmpl_filtered *f = (struct tmpl_filtered *)s;

	archive_read_free(f->a);
	free(f);
}

static const struct tmpl_source_ops filtered_ops = {
	.read = filtered_read,
	.free = filtered_free,
};

int tmpl_filtered_new(int fd, struct tmpl_source **ret)
{
	struct tmpl_filtered *f;
	struct archive_entry *e;
	struct archive *a = archive_read_new();

	*ret = NULL;
	if (!a)
		return -ENOMEM;
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_fd(a, fd, 64 << 10) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK ||
	    archive_filter_count(a) <= 1 ||
	    archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE) {
		/* not compressed, or not readable: the tar reader says which */
		archive_read_free(a);
		return lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		archive_read_free(a);
		return -ENOMEM;
	}
	f->src.ops = &filtered_ops;
	f->a = a;
	*ret = &f->src;
	return 0;
}
