// SPDX-License-Identifier: LGPL-2.1-or-later
/* The decompressing sources' common part: detection, libarchive glue. */
#include "templates/tmpl-internal.h"

#include <archive.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The next buffer of @s; its failure comes after the bytes before it. */
static ssize_t source_next(struct tmpl_source *s, const void **buf)
{
	ssize_t n;

	if (s->error)
		return s->error;
	n = s->ops->read(s, buf);
	if (n < 0)
		s->error = (int)n;
	return n > 0 ? n : s->error;
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
	if (s)
		s->ops->free(s);
	return NULL;
}
