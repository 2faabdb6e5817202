// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The template writer: members in, a pax tarball out (libarchive), through
 * a temporary file renamed into place at the end. POSIX ACL xattrs are
 * turned back into libarchive ACL entries (SCHILY.acl.* records, which the
 * indexer and GNU tar read); every other xattr is stored as it is. Holds
 * no state beyond one archive; never prints.
 */
#include "templates/tmpl-write.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/atomic.h"

#define CHUNK (1u << 20)

struct tmpl_writer {
	struct archive *a;
	int fd;
	char *path;
	char tmp[4096];
	void *buf; /* CHUNK bytes */
	void *zeros; /* CHUNK zero bytes, fed for holes */
};

static int fail(struct tmpl_writer *w, struct dm_err *err, const char *what)
{
	int code = archive_errno(w->a);

	if (code <= 0)
		code = EIO;
	return dm_err_set(err, code, "%s: %s: %s", w->path, what,
			  archive_error_string(w->a) ?
				  archive_error_string(w->a) :
				  strerror(code));
}

struct tmpl_writer *tmpl_writer_free(struct tmpl_writer *w)
{
	if (!w)
		return NULL;
	if (w->a)
		archive_write_free(w->a);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp[0])
		unlink(w->tmp);
	free(w->path);
	free(w->buf);
	free(w->zeros);
	free(w);
	return NULL;
}

int tmpl_writer_open(const char *path, enum tmpl_compression c, unsigned flags,
		     struct tmpl_writer **ret, struct dm_err *err)
{
	struct tmpl_writer *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return dm_err_set(err, ENOMEM, "%s: %s", path,
				  strerror(ENOMEM));
	w->fd = -1;
	w->path = strdup(path);
	w->buf = malloc(CHUNK);
	w->zeros = calloc(1, CHUNK);
	if (!w->path || !w->buf || !w->zeros) {
		tmpl_writer_free(w);
		return dm_err_set(err, ENOMEM, "%s: %s", path,
				  strerror(ENOMEM));
	}
	/* 0600 when new: a domain's tree holds its /etc/shadow, as an image */
	w->fd = dm_atomic_create(path, 0600 & dm_file_mode(), w->tmp,
				 sizeof(w->tmp), err);
	if (w->fd < 0) {
		r = w->fd;
		tmpl_writer_free(w);
		return r;
	}
	w->a = archive_write_new();
	if (!w->a) {
		tmpl_writer_free(w);
		return dm_err_set(err, ENOMEM, "%s: %s", path,
				  strerror(ENOMEM));
	}
	r = archive_write_set_format_pax(w->a);
	if (r == ARCHIVE_OK) {
		switch (c) {
		case TMPL_COMPRESS_NONE:
			break;
		case TMPL_COMPRESS_GZIP:
			r = archive_write_add_filter_gzip(w->a);
			if (r == ARCHIVE_OK &&
			    (flags & TMPL_WRITE_REPRODUCIBLE))
				r = archive_write_set_filter_option(
					w->a, "gzip", "timestamp", NULL);
			break;
		case TMPL_COMPRESS_ZSTD:
			r = archive_write_add_filter_zstd(w->a);
			break;
		}
	}
	if (r == ARCHIVE_OK)
		r = archive_write_open_fd(w->a, w->fd);
	if (r != ARCHIVE_OK) {
		r = fail(w, err, "opening the archive");
		tmpl_writer_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

/* The kernel's system.posix_acl_* value as libarchive ACL entries. */
static int add_acl(struct archive_entry *e, int type, const uint8_t *v,
		   size_t len)
{
	if (len < 4 || (len - 4) % 8)
		return -EINVAL;
	for (size_t p = 4; p + 8 <= len; p += 8) {
		uint16_t tag, perm;
		uint32_t id;
		int atag;

		memcpy(&tag, v + p, 2);
		memcpy(&perm, v + p + 2, 2);
		memcpy(&id, v + p + 4, 4);
		switch (tag) {
		case 0x01:
			atag = ARCHIVE_ENTRY_ACL_USER_OBJ;
			break;
		case 0x02:
			atag = ARCHIVE_ENTRY_ACL_USER;
			break;
		case 0x04:
			atag = ARCHIVE_ENTRY_ACL_GROUP_OBJ;
			break;
		case 0x08:
			atag = ARCHIVE_ENTRY_ACL_GROUP;
			break;
		case 0x10:
			atag = ARCHIVE_ENTRY_ACL_MASK;
			break;
		case 0x20:
			atag = ARCHIVE_ENTRY_ACL_OTHER;
			break;
		default:
			return -EINVAL;
		}
		if (archive_entry_acl_add_entry(
			    e, type,
			    (perm & 4 ? ARCHIVE_ENTRY_ACL_READ : 0) |
				    (perm & 2 ? ARCHIVE_ENTRY_ACL_WRITE : 0) |
				    (perm & 1 ? ARCHIVE_ENTRY_ACL_EXECUTE : 0),
			    atag,
			    atag == ARCHIVE_ENTRY_ACL_USER ||
					    atag == ARCHIVE_ENTRY_ACL_GROUP ?
				    (int)id :
				    -1,
			    NULL) != ARCHIVE_OK)
			return -EINVAL;
	}
	return 0;
}

static int set_xattrs(struct archive_entry *e, const struct tmpl_member *m,
		      const char **bad)
{
	for (size_t i = 0; i < m->nxattrs; i++) {
		const struct tmpl_xattr *x = &m->xattrs[i];
		int type = 0;

		if (!strcmp(x->name, "system.posix_acl_access"))
			type = ARCHIVE_ENTRY_ACL_TYPE_ACCESS;
		else if (!strcmp(x->name, "system.posix_acl_default"))
			type = ARCHIVE_ENTRY_ACL_TYPE_DEFAULT;
		if (type) {
			if (add_acl(e, type, x->value, x->len) < 0) {
				*bad = x->name;
				return -EINVAL;
			}
			continue;
		}
		archive_entry_xattr_add_entry(e, x->name, x->value, x->len);
	}
	return 0;
}

/* Feeds @len bytes from @off: data read through m->read, or zeros. */
static int feed(struct tmpl_writer *w, const struct tmpl_member *m,
		uint64_t off, uint64_t len, bool hole, struct dm_err *err)
{
	while (len > 0) {
		size_t n = len > CHUNK ? CHUNK : (size_t)len;
		const void *p = w->zeros;
		la_ssize_t k;

		if (!hole) {
			size_t got = 0;

			while (got < n) {
				ssize_t r = m->read(m->read_ctx,
						    (char *)w->buf + got,
						    n - got, off + got);

				if (r < 0)
					return dm_err_set(err, (int)-r,
							  "%s: reading: %s",
							  m->path,
							  strerror((int)-r));
				if (r == 0)
					return dm_err_set(err, EIO,
							  "%s: reading: file "
							  "shrank",
							  m->path);
				got += (size_t)r;
			}
			p = w->buf;
		}
		k = archive_write_data(w->a, p, n);
		if (k < 0 || (size_t)k != n)
			return fail(w, err, m->path);
		off += n;
		len -= n;
	}
	return 0;
}

static int write_data(struct tmpl_writer *w, const struct tmpl_member *m,
		      struct dm_err *err)
{
	uint64_t size = (uint64_t)m->st->st_size, pos = 0;
	int r;

	if (!m->regions)
		return feed(w, m, 0, size, false, err);
	/* pax sparse: libarchive takes the whole file and skips the holes */
	for (size_t i = 0; i < m->nregions; i++) {
		const struct tmpl_region *g = &m->regions[i];

		if (g->off > pos) {
			r = feed(w, m, pos, g->off - pos, true, err);
			if (r < 0)
				return r;
		}
		r = feed(w, m, g->off, g->len, false, err);
		if (r < 0)
			return r;
		pos = g->off + g->len;
	}
	if (pos < size)
		return feed(w, m, pos, size - pos, true, err);
	return 0;
}

/*
 * libarchive before 3.8 writes a pax time as "-" |sec| "." nsec, so
 * (-2 s, +0.5 s) would read back as -2.5: it wants the seconds rounded
 * towards zero. A time in (-1, 0) has no such form and loses its sign.
 */
static void pax_time(int64_t *sec, long nsec)
{
	if (*sec < 0 && nsec > 0 && archive_version_number() < 3008000)
		(*sec)++;
}

int tmpl_writer_add(struct tmpl_writer *w, const struct tmpl_member *m,
		    struct dm_err *err)
{
	struct archive_entry *e = archive_entry_new();
	const struct stat *st = m->st;
	const char *bad = NULL;
	bool data = false;
	int r;

	if (!e)
		return dm_err_set(err, ENOMEM, "%s: %s", m->path,
				  strerror(ENOMEM));
	archive_entry_set_pathname(e, m->path);
	archive_entry_set_mode(e, st->st_mode);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	{
		int64_t ms = st->st_mtim.tv_sec, as = st->st_atim.tv_sec,
			cs = st->st_ctim.tv_sec;

		pax_time(&ms, st->st_mtim.tv_nsec);
		pax_time(&as, st->st_atim.tv_nsec);
		pax_time(&cs, st->st_ctim.tv_nsec);
		archive_entry_set_mtime(e, ms, st->st_mtim.tv_nsec);
		archive_entry_set_atime(e, as, st->st_atim.tv_nsec);
		archive_entry_set_ctime(e, cs, st->st_ctim.tv_nsec);
	}
	if (m->hardlink) {
		archive_entry_set_hardlink(e, m->link);
		archive_entry_set_size(e, 0);
	} else {
		switch (st->st_mode & S_IFMT) {
		case S_IFREG:
			archive_entry_set_size(e, st->st_size);
			data = st->st_size > 0;
			for (size_t i = 0; m->regions && i < m->nregions; i++)
				archive_entry_sparse_add_entry(
					e, (la_int64_t)m->regions[i].off,
					(la_int64_t)m->regions[i].len);
			if (m->regions && m->nregions == 0 && st->st_size > 0)
				/* all hole: an empty region at the end */
				archive_entry_sparse_add_entry(e, st->st_size,
							       0);
			break;
		case S_IFLNK:
			archive_entry_set_symlink(e, m->link);
			break;
		case S_IFCHR:
		case S_IFBLK:
			archive_entry_set_rdevmajor(e, major(st->st_rdev));
			archive_entry_set_rdevminor(e, minor(st->st_rdev));
			break;
		}
		if (set_xattrs(e, m, &bad) < 0) {
			archive_entry_free(e);
			return dm_err_set(err, EINVAL, "%s: bad ACL in '%s'",
					  m->path, bad);
		}
	}
	r = archive_write_header(w->a, e);
	archive_entry_free(e);
	if (r < ARCHIVE_WARN)
		return fail(w, err, m->path);
	if (data)
		return write_data(w, m, err);
	return 0;
}

int tmpl_writer_close(struct tmpl_writer *w, struct dm_err *err)
{
	int r = 0;

	if (archive_write_close(w->a) != ARCHIVE_OK)
		r = fail(w, err, "finishing the archive");
	else
		r = dm_atomic_commit(w->fd, w->tmp, w->path, err);
	tmpl_writer_free(w);
	return r;
}
