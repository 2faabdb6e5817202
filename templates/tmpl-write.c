// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The template writer: members in, a pax tarball out (libarchive), through
 * a temporary file renamed into place at the end. POSIX ACL xattrs are
 * turned back into libarchive ACL entries (SCHILY.acl.* records, which the
 * indexer and GNU tar read); every other xattr is stored as it is, as a
 * SCHILY.xattr record only (GNU tar warns about LIBARCHIVE.xattr ones).
 * Holds no state beyond one archive; never prints.
 *
 * libarchive keeps an entry's mode and its ACL's group:: entry in one
 * field, so the header of a member with an ACL mask would say group::
 * where stat says the mask. GNU tar writes the mode as stat shows it, and
 * so must this: the pax writer (@a) hands its bytes to a callback that
 * sets the mode of a member's header right, then passes them on to a
 * second archive (@out, format raw: bytes as they are) that compresses
 * them into the file.
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
#define TAR_BLOCK 512u

struct tmpl_writer {
	struct archive *a; /* the pax writer, unblocked, into pass() */
	struct archive *out; /* raw: compression and the file */
	int fd;
	char *path;
	char tmp[4096];
	void *buf; /* CHUNK bytes */
	void *zeros; /* CHUNK zero bytes, fed for holes */
	/* while a header is written: its bytes, held back for fix_mode() */
	bool holding;
	unsigned char *held;
	size_t nheld, cap_held;
};

/*
 * Whether libarchive's errno @code comes from a system call: its own
 * errors say EILSEQ (bad format), EINVAL (misuse) or -1 (others).
 */
static bool system_errno(int code)
{
	return code > 0 && code != EILSEQ && code != EINVAL;
}

/* @a's error about @what; a system error says which ("Write error: No
 * space left on device"). */
static int fail(struct tmpl_writer *w, struct archive *a, struct dm_err *err,
		const char *what)
{
	int code = archive_errno(a);
	const char *msg = archive_error_string(a);

	if (!system_errno(code))
		return dm_err_set(err, code > 0 ? code : EIO, "%s: %s: %s",
				  w->path, what, msg ? msg : strerror(EIO));
	if (msg && !strstr(msg, strerror(code)))
		return dm_err_set(err, code, "%s: %s: %s: %s", w->path, what,
				  msg, strerror(code));
	return dm_err_set(err, code, "%s: %s: %s", w->path, what,
			  msg ? msg : strerror(code));
}

/* The pax writer's output: held while a header is written, else passed on. */
static la_ssize_t pass(struct archive *a, void *ctx, const void *buf,
		       size_t len)
{
	struct tmpl_writer *w = ctx;
	la_ssize_t k;

	if (w->holding) {
		if (w->nheld + len > w->cap_held) {
			size_t nc = w->cap_held ? w->cap_held : 4096;
			void *p;

			while (nc < w->nheld + len)
				nc *= 2;
			p = realloc(w->held, nc);
			if (!p) {
				archive_set_error(a, ENOMEM, "%s",
						  strerror(ENOMEM));
				return -1;
			}
			w->held = p;
			w->cap_held = nc;
		}
		memcpy(w->held + w->nheld, buf, len);
		w->nheld += len;
		return (la_ssize_t)len;
	}
	k = archive_write_data(w->out, buf, len);
	if (k < 0 || (size_t)k != len) {
		int code = archive_errno(w->out);
		const char *msg = archive_error_string(w->out);

		archive_set_error(a, code > 0 ? code : EIO, "%s",
				  msg ? msg : strerror(EIO));
		return -1;
	}
	return k;
}

static unsigned header_sum(const unsigned char *h)
{
	unsigned sum = 0;

	for (unsigned i = 0; i < TAR_BLOCK; i++)
		sum += i >= 148 && i < 156 ? ' ' : h[i];
	return sum;
}

/*
 * Sets the mode field (6 octal digits) of the ustar header @h to @mode and
 * its checksum; false when @h is no ustar header libarchive made.
 */
static bool fix_mode(unsigned char *h, mode_t mode)
{
	char field[9];

	snprintf(field, sizeof(field), "%06o", (unsigned)(mode & 07777));
	if (memcmp(h + 257, "ustar", 6) || h[106] != ' ' ||
	    strtoul((const char *)h + 148, NULL, 8) != header_sum(h))
		return false;
	memcpy(h + 100, field, 6);
	snprintf(field, sizeof(field), "%06o", header_sum(h));
	memcpy(h + 148, field, 6);
	h[154] = '\0';
	h[155] = ' ';
	return true;
}

struct tmpl_writer *tmpl_writer_free(struct tmpl_writer *w)
{
	if (!w)
		return NULL;
	if (w->a)
		archive_write_free(w->a);
	if (w->out)
		archive_write_free(w->out);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp[0])
		unlink(w->tmp);
	free(w->path);
	free(w->buf);
	free(w->zeros);
	free(w->held);
	free(w);
	return NULL;
}

/* @w->out: the raw stream of one entry, compressed @c, into @w->fd. */
static int open_out(struct tmpl_writer *w, enum tmpl_compression c,
		    unsigned flags)
{
	struct archive_entry *e = archive_entry_new();
	int r = archive_write_set_format_raw(w->out);

	if (r == ARCHIVE_OK) {
		switch (c) {
		case TMPL_COMPRESS_NONE:
			break;
		case TMPL_COMPRESS_GZIP:
			r = archive_write_add_filter_gzip(w->out);
			if (r == ARCHIVE_OK &&
			    (flags & TMPL_WRITE_REPRODUCIBLE))
				r = archive_write_set_filter_option(
					w->out, "gzip", "timestamp", NULL);
			break;
		case TMPL_COMPRESS_ZSTD:
			r = archive_write_add_filter_zstd(w->out);
			break;
		}
	}
	if (r == ARCHIVE_OK)
		r = archive_write_open_fd(w->out, w->fd);
	if (r == ARCHIVE_OK && !e) {
		archive_set_error(w->out, ENOMEM, "%s", strerror(ENOMEM));
		r = ARCHIVE_FATAL;
	}
	if (r == ARCHIVE_OK) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_pathname(e, "tar");
		r = archive_write_header(w->out, e);
	}
	archive_entry_free(e);
	return r;
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
	w->out = archive_write_new();
	if (!w->a || !w->out) {
		tmpl_writer_free(w);
		return dm_err_set(err, ENOMEM, "%s: %s", path,
				  strerror(ENOMEM));
	}
	if (open_out(w, c, flags) != ARCHIVE_OK) {
		r = fail(w, w->out, err, "opening the archive");
		tmpl_writer_free(w);
		return r;
	}
	r = archive_write_set_format_pax(w->a);
	if (r == ARCHIVE_OK)
		r = archive_write_set_format_option(w->a, "pax", "xattrheader",
						    "SCHILY");
	/* blocks are @out's business: pass() gets each write as it comes */
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_per_block(w->a, 0);
	if (r == ARCHIVE_OK)
		r = archive_write_open2(w->a, w, NULL, pass, NULL, NULL);
	if (r != ARCHIVE_OK) {
		r = fail(w, w->a, err, "opening the archive");
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
			return fail(w, w->a, err, m->path);
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
	w->holding = true;
	w->nheld = 0;
	r = archive_write_header(w->a, e);
	w->holding = false;
	/* the member's own header comes last, after any pax header */
	if (r >= ARCHIVE_WARN && archive_entry_acl_types(e) &&
	    (archive_entry_mode(e) & 07777) != (st->st_mode & 07777) &&
	    (w->nheld < TAR_BLOCK || w->nheld % TAR_BLOCK ||
	     !fix_mode(w->held + w->nheld - TAR_BLOCK, st->st_mode))) {
		archive_entry_free(e);
		return dm_err_set(err, EIO,
				  "%s: %s: no tar header to set "
				  "the mode in",
				  w->path, m->path);
	}
	archive_entry_free(e);
	if (r >= ARCHIVE_WARN && w->nheld &&
	    pass(w->a, w, w->held, w->nheld) < 0)
		r = ARCHIVE_FATAL;
	if (r < ARCHIVE_WARN)
		return fail(w, w->a, err, m->path);
	if (data)
		return write_data(w, m, err);
	return 0;
}

int tmpl_writer_close(struct tmpl_writer *w, struct dm_err *err)
{
	int r = 0;

	if (archive_write_close(w->a) != ARCHIVE_OK)
		r = fail(w, w->a, err, "finishing the archive");
	else if (archive_write_close(w->out) != ARCHIVE_OK)
		r = fail(w, w->out, err, "finishing the archive");
	else
		r = dm_atomic_commit(w->fd, w->tmp, w->path, err);
	tmpl_writer_free(w);
	return r;
}
