// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Walks a view and its template side by side, in name order. Subtrees the
 * view reports pristine (nothing of them in the overlay) are skipped, so a
 * diff costs what was changed, not the size of the template.
 */
#include "diff/tree.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "common/cleanup.h"
#include "diff/udiff.h"
#include "overlay/view.h"

#define MAX_TEXT (64u << 20)

struct walk {
	struct ovl_view *base, *view;
	const struct dif_tree_opts *o;
	struct dm_err *err;
	int changes;
	bool emit_failed; /* the caller's sink: its error names no path */
};

struct entry {
	char *name;
	struct stat st;
};

static int emit(struct walk *w, struct dif_buf *b)
{
	int r = 0;

	if (b->len)
		r = w->o->emit(w->o->emit_ctx, b->p, b->len);
	b->len = 0;
	w->emit_failed = r < 0;
	return r;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
		      ((const struct entry *)b)->name);
}

static void entries_free(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

static int list(struct ovl_view *v, uint64_t ino, struct entry **ret,
		size_t *ret_n)
{
	struct ovl_dir *d;
	struct entry *e;
	size_t n = 0;
	int r = ovl_view_opendir(v, ino, &d);
	uint64_t cnt;

	if (r < 0)
		return r;
	cnt = ovl_dir_count(d);
	e = calloc(cnt ? cnt : 1, sizeof(*e));
	if (!e) {
		ovl_dir_close(d);
		return -ENOMEM;
	}
	for (uint64_t i = 2; i < cnt; i++) {
		const char *name;

		r = ovl_dir_entry(d, i, &name, &e[n].st);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			break;
		e[n].name = strdup(name);
		if (!e[n].name) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	ovl_dir_close(d);
	if (r < 0 && r != -ENOENT) {
		entries_free(e, n);
		return r;
	}
	qsort(e, n, sizeof(*e), entry_cmp);
	*ret = e;
	*ret_n = n;
	return 0;
}

/* Reads @size bytes of @ino at @off, fewer at its end; how many, or -errno. */
static ssize_t read_full(struct ovl_view *v, uint64_t ino, char *buf,
			 size_t size, uint64_t off)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n =
			ovl_view_read(v, ino, buf + got, size - got, off + got);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Whole content of a node (regular: data; symlink: target). */
static int content(struct ovl_view *v, const struct stat *st, char **ret,
		   size_t *ret_len)
{
	size_t size = S_ISLNK(st->st_mode) ? 4096 : (size_t)st->st_size;
	char *buf;
	ssize_t n;

	*ret = NULL;
	*ret_len = 0;
	if (!S_ISREG(st->st_mode) && !S_ISLNK(st->st_mode))
		return 0;
	if (size > MAX_TEXT)
		return -EFBIG;
	buf = malloc(size + 1);
	if (!buf)
		return -ENOMEM;
	if (S_ISLNK(st->st_mode))
		n = ovl_view_readlink(v, st->st_ino, buf, size);
	else
		n = read_full(v, st->st_ino, buf, size, 0);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	buf[n] = '\0';
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

/* Whether @st is a regular file too large to hold whole (compared by chunks). */
static bool too_big(const struct stat *st)
{
	return st && S_ISREG(st->st_mode) && (uint64_t)st->st_size > MAX_TEXT;
}

/*
 * For a file too large to hold: 1 when @a (of the base) and @b (of the
 * view; either may be NULL or not a regular file) hold the same bytes, 0
 * when not, -errno.
 */
static int same_data(struct walk *w, const struct stat *a, const struct stat *b)
{
	enum { CHUNK = 1u << 20 };
	_cleanup_free_ char *ba = NULL, *bb = NULL;
	uint64_t size, off = 0;

	if (!a || !b || !S_ISREG(a->st_mode) || !S_ISREG(b->st_mode) ||
	    a->st_size != b->st_size)
		return 0;
	size = (uint64_t)a->st_size;
	ba = malloc(CHUNK);
	bb = malloc(CHUNK);
	if (!ba || !bb)
		return -ENOMEM;
	while (off < size) {
		size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		ssize_t na = read_full(w->base, a->st_ino, ba, want, off);
		ssize_t nb = read_full(w->view, b->st_ino, bb, want, off);

		if (na < 0)
			return (int)na;
		if (nb < 0)
			return (int)nb;
		if (na != nb || memcmp(ba, bb, (size_t)na) != 0)
			return 0;
		if ((size_t)na < want)
			break; /* both ended early: the same */
		off += want;
	}
	return 1;
}

static const char *kind(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "symlink";
	case S_IFCHR:
		return "character device";
	case S_IFBLK:
		return "block device";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	}
	return "file";
}

/*
 * Reads @what of @ino, sized by asking with no buffer first: a list of
 * xattr names (@name NULL) or the value of @name, into *@ret (malloc'd).
 * Its length, or -errno. One that grew between the two calls is asked
 * for again, a few times.
 */
static ssize_t xattr_read(struct ovl_view *v, uint64_t ino, const char *name,
			  char **ret)
{
	*ret = NULL;
	for (int tries = 0; tries < 8; tries++) {
		ssize_t size = name ? ovl_view_getxattr(v, ino, name, NULL, 0) :
				      ovl_view_listxattr(v, ino, NULL, 0);
		char *buf;
		ssize_t n;

		if (size < 0)
			return size;
		buf = malloc((size_t)size + 1);
		if (!buf)
			return -ENOMEM;
		n = name ? ovl_view_getxattr(v, ino, name, buf, (size_t)size) :
			   ovl_view_listxattr(v, ino, buf, (size_t)size);
		if (n >= 0) {
			buf[n] = '\0';
			*ret = buf;
			return n;
		}
		free(buf);
		if (n != -ERANGE)
			return n;
	}
	return -ERANGE;
}

/*
 * Appends @len bytes of @s in base64, as getfattr's "0s" encoding.
 */
static int base64(struct dif_buf *out, const unsigned char *s, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int r = 0;

	for (size_t i = 0; r == 0 && i < len; i += 3) {
		unsigned v = (unsigned)s[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		r = dif_buf_printf(out, "%c%c%c%c", abc[v >> 18 & 63],
				   abc[v >> 12 & 63],
				   i + 1 < len ? abc[v >> 6 & 63] : '=',
				   i + 2 < len ? abc[v & 63] : '=');
	}
	return r;
}

/*
 * Appends one "name=value" line, in getfattr's encodings: bytes of the
 * name that would break the line (control bytes, bytes from 0x7f on, '\'
 * and '=') as \ooo; a value of printable ASCII as "text" ('"' and '\'
 * escaped by a backslash), any other as 0s and base64.
 */
static int xattr_line(struct dif_buf *out, const char *name,
		      const unsigned char *val, size_t len)
{
	bool text = true;
	int r = 0;

	for (const unsigned char *c = (const unsigned char *)name; r == 0 && *c;
	     c++) {
		if (*c < 0x20 || *c >= 0x7f || *c == '\\' || *c == '=')
			r = dif_buf_printf(out, "\\%03o", *c);
		else
			r = dif_buf_printf(out, "%c", *c);
	}
	for (size_t k = 0; k < len; k++)
		if (val[k] < 0x20 || val[k] > 0x7e)
			text = false;
	if (r == 0)
		r = dif_buf_printf(out, text ? "=\"" : "=0s");
	for (size_t k = 0; text && r == 0 && k < len; k++)
		r = dif_buf_printf(out, "%s%c",
				   val[k] == '"' || val[k] == '\\' ? "\\" : "",
				   val[k]);
	if (r == 0 && !text)
		r = base64(out, val, len);
	return r ? r : dif_buf_printf(out, text ? "\"\n" : "\n");
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends "name=value" lines for every xattr, sorted by name. */
static int xattrs(struct ovl_view *v, uint64_t ino, struct dif_buf *out)
{
	_cleanup_free_ char *names = NULL;
	ssize_t n = xattr_read(v, ino, NULL, &names);
	char **sorted = NULL;
	size_t cnt = 0;
	int r = 0;

	if (n <= 0)
		return n < 0 && n != -ENOTSUP ? (int)n : 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1)
		cnt++;
	sorted = calloc(cnt, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	cnt = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1)
		sorted[cnt++] = names + i;
	qsort(sorted, cnt, sizeof(*sorted), name_cmp);
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		_cleanup_free_ char *val = NULL;
		ssize_t vl = xattr_read(v, ino, sorted[i], &val);

		if (vl == -ENODATA)
			continue; /* removed since it was listed */
		if (vl < 0)
			r = (int)vl;
		else
			r = xattr_line(out, sorted[i],
				       (const unsigned char *)val, (size_t)vl);
	}
	free(sorted);
	return r;
}

/*
 * @prefix@path as git prints a path name (core.quotePath, its default):
 * as it is, or in double quotes with C escapes when it holds a control
 * byte, a byte from 0x7f on, '"' or '\' (\n \t \" \\ and the like, \ooo
 * for the others). GNU patch reads both. NULL when out of memory.
 */
static char *quoted(const char *prefix, const char *path)
{
	size_t len = strlen(prefix) + strlen(path);
	char *q = malloc(4 * len + 3), *p = q;
	bool quote = false;

	if (!q)
		return NULL;
	for (const char *s = path; *s; s++) {
		unsigned char c = (unsigned char)*s;

		quote |= c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
	}
	if (!quote) {
		sprintf(q, "%s%s", prefix, path);
		return q;
	}
	*p++ = '"';
	p = stpcpy(p, prefix);
	for (const char *s = path; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			p += sprintf(p, "\\%c", c);
		else if (c >= '\a' && c <= '\r')
			p += sprintf(p, "\\%c", "abtnvfr"[c - '\a']);
		else if (c < 0x20 || c >= 0x7f)
			p += sprintf(p, "\\%03o", c);
		else
			*p++ = (char)c;
	}
	strcpy(p, "\"");
	return q;
}

/*
 * WHAT KIND mode MODE owner UID:GID, and a device's numbers: a node added,
 * deleted, or one side of a change of type.
 */
static int node_line(struct dif_buf *b, const char *what, const struct stat *st)
{
	int r = dif_buf_printf(b, "%s %s mode %04o owner %u:%u", what,
			       kind(st->st_mode), st->st_mode & 07777,
			       st->st_uid, st->st_gid);

	if (r == 0 && (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)))
		r = dif_buf_printf(b, " device %u,%u", major(st->st_rdev),
				   minor(st->st_rdev));
	return r ? r : dif_buf_printf(b, "\n");
}

/* WHAT mtime in ISO 8601, UTC, to the nanosecond. */
static int mtime_line(struct dif_buf *b, const char *what,
		      const struct stat *st)
{
	char when[64];
	struct tm tm;

	if (!gmtime_r(&st->st_mtim.tv_sec, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(when, sizeof(when), "@%lld",
			 (long long)st->st_mtim.tv_sec);
	return dif_buf_printf(b, "%s mtime %s.%09ldZ\n", what, when,
			      st->st_mtim.tv_nsec);
}

/* The mode, owner, device and link count lines of a node on both sides. */
static int meta_lines(struct dif_buf *out, const struct stat *a,
		      const struct stat *b, bool *changed)
{
	int r = 0;

	if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT)) {
		*changed = true;
		r = dif_buf_printf(out, "type %s -> %s\n", kind(a->st_mode),
				   kind(b->st_mode));
		if (r == 0)
			r = node_line(out, "old", a);
		return r ? r : node_line(out, "new", b);
	}
	if ((a->st_mode & 07777) != (b->st_mode & 07777)) {
		*changed = true;
		r = dif_buf_printf(out, "old mode %04o\nnew mode %04o\n",
				   a->st_mode & 07777, b->st_mode & 07777);
	}
	if (r == 0 && (a->st_uid != b->st_uid || a->st_gid != b->st_gid)) {
		*changed = true;
		r = dif_buf_printf(out, "old owner %u:%u\nnew owner %u:%u\n",
				   a->st_uid, a->st_gid, b->st_uid, b->st_gid);
	}
	if (r == 0 && (S_ISCHR(a->st_mode) || S_ISBLK(a->st_mode)) &&
	    a->st_rdev != b->st_rdev) {
		*changed = true;
		r = dif_buf_printf(out, "device %u,%u -> %u,%u\n",
				   major(a->st_rdev), minor(a->st_rdev),
				   major(b->st_rdev), minor(b->st_rdev));
	}
	/* a directory's count is its number of subdirectories */
	if (r == 0 && !S_ISDIR(a->st_mode) && a->st_nlink != b->st_nlink) {
		*changed = true;
		r = dif_buf_printf(out, "old links %ju\nnew links %ju\n",
				   (uintmax_t)a->st_nlink,
				   (uintmax_t)b->st_nlink);
	}
	return r;
}

static const char *label_of(struct walk *w, const char *path,
			    const struct stat *st)
{
	return w->o->label ? w->o->label(w->o->label_ctx, path, st) : NULL;
}

/* One path present on both sides, or on one (the other stat NULL). */
static int compare(struct walk *w, const char *path, const struct stat *a,
		   const struct stat *b)
{
	struct dif_buf out = { 0 }, xa = { 0 }, xb = { 0 };
	_cleanup_free_ char *ca = NULL, *cb = NULL;
	_cleanup_free_ char *qa = quoted("a/", path), *qb = quoted("b/", path);
	const char *tab = strchr(path, ' ') ? "\t" : ""; /* ends the name */
	const char *label = NULL;
	size_t la = 0, lb = 0;
	bool changed = false, data_changed = false, binary = false;
	int r = 0, h;

	if (!qa || !qb)
		r = -ENOMEM;
	if (r == 0)
		r = dif_buf_printf(&out, "diff --domufs %s %s\n", qa, qb);
	if (r == 0 && (!a || !b)) {
		r = node_line(&out, a ? "deleted" : "new", a ? a : b);
		changed = true;
	} else if (r == 0) {
		r = meta_lines(&out, a, b, &changed);
	}
	if (r == 0 && a)
		r = xattrs(w->base, a->st_ino, &xa);
	if (r == 0 && b)
		r = xattrs(w->view, b->st_ino, &xb);
	if (r == 0 &&
	    (xa.len != xb.len || (xa.len && memcmp(xa.p, xb.p, xa.len) != 0))) {
		h = dif_unified(xa.p ? xa.p : "", xa.len, xb.p ? xb.p : "",
				xb.len, 0, "xattrs", &out);
		r = h < 0 ? h : 0;
		changed = true;
	}
	if (r == 0 && (too_big(a) || too_big(b))) {
		/* compared a chunk at a time, shown as binary (as git does) */
		r = same_data(w, a, b);
		data_changed = r == 0;
		binary = true;
		r = r < 0 ? r : 0;
	} else if (r == 0) {
		if (a)
			r = content(w->base, a, &ca, &la);
		if (r == 0 && b)
			r = content(w->view, b, &cb, &lb);
		data_changed = la != lb || (la && memcmp(ca, cb, la) != 0);
		binary = (ca && !dif_is_text(ca, la)) ||
			 (cb && !dif_is_text(cb, lb));
	}
	if (r == 0 && (changed || data_changed))
		label = label_of(w, path, b);
	if (r == 0 && data_changed) {
		changed = true;
		if (binary) {
			r = dif_buf_printf(&out,
					   "Binary files %s and %s differ\n",
					   a ? qa : "/dev/null",
					   b ? qb : "/dev/null");
		} else {
			r = dif_buf_printf(&out, "--- %s%s\n+++ %s%s\n",
					   a ? qa : "/dev/null", a ? tab : "",
					   b ? qb : "/dev/null", b ? tab : "");
			if (r == 0) {
				h = dif_unified(ca ? ca : "", la, cb ? cb : "",
						lb, w->o->context, label, &out);
				r = h < 0 ? h : 0;
			}
		}
	}
	/*
	 * Times only when nothing else shows: a commit writes them, but
	 * with another change they are noise; a directory's follows its
	 * entries.
	 */
	if (r == 0 && !changed && !S_ISDIR(b->st_mode) &&
	    (a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	     a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)) {
		r = mtime_line(&out, "old", a);
		if (r == 0)
			r = mtime_line(&out, "new", b);
		changed = true;
		label = label_of(w, path, b);
	}
	if (r == 0 && changed) {
		/* where no hunk carries it */
		if (label && (!data_changed || binary))
			r = dif_buf_printf(&out, "# %s\n", label);
		if (r == 0)
			r = emit(w, &out);
		w->changes++;
	}
	if (r < 0 && w->emit_failed)
		dm_err_set(w->err, -r, "%s", strerror(-r));
	else if (r < 0)
		dm_err_set(w->err, -r, "%s: %s", path, strerror(-r));
	dif_buf_free(&out);
	dif_buf_free(&xa);
	dif_buf_free(&xb);
	return r;
}

static int walk_dir(struct walk *w, uint64_t bino, uint64_t vino,
		    const char *path);

/* A subtree on one side only: each entry reported, parents first. */
static int one_side(struct walk *w, const char *path, const struct stat *a,
		    const struct stat *b)
{
	int r = compare(w, path, a, b);

	if (r < 0)
		return r;
	if (S_ISDIR((a ? a : b)->st_mode))
		return walk_dir(w, a ? a->st_ino : 0, b ? b->st_ino : 0, path);
	return 0;
}

static int walk_dir(struct walk *w, uint64_t bino, uint64_t vino,
		    const char *path)
{
	struct entry *ea = NULL, *eb = NULL;
	size_t na = 0, nb = 0, i = 0, k = 0;
	int r = 0;

	if (bino)
		r = list(w->base, bino, &ea, &na);
	if (r == 0 && vino)
		r = list(w->view, vino, &eb, &nb);
	if (r < 0) {
		dm_err_set(w->err, -r, "%s: %s", *path ? path : "/",
			   strerror(-r));
		goto out_free;
	}
	while (r == 0 && (i < na || k < nb)) {
		int c = i >= na ? 1 :
			k >= nb ? -1 :
				  strcmp(ea[i].name, eb[k].name);
		_cleanup_free_ char *sub = NULL;

		if (asprintf(&sub, "%s%s%s", path, *path ? "/" : "",
			     c <= 0 ? ea[i].name : eb[k].name) < 0) {
			r = -ENOMEM;
			break;
		}
		if (c < 0) {
			r = one_side(w, sub, &ea[i++].st, NULL);
		} else if (c > 0) {
			r = one_side(w, sub, NULL, &eb[k++].st);
		} else {
			struct stat *a = &ea[i++].st, *b = &eb[k++].st;

			if (ovl_view_pristine(w->view, b->st_ino))
				continue;
			r = compare(w, sub, a, b);
			if (r == 0 && S_ISDIR(a->st_mode) &&
			    S_ISDIR(b->st_mode))
				r = walk_dir(w, a->st_ino, b->st_ino, sub);
			else if (r == 0 && S_ISDIR(a->st_mode))
				r = walk_dir(w, a->st_ino, 0, sub);
			else if (r == 0 && S_ISDIR(b->st_mode))
				r = walk_dir(w, 0, b->st_ino, sub);
		}
	}
out_free:
	entries_free(ea, na);
	entries_free(eb, nb);
	return r;
}

int dif_tree(struct ovl_view *base, struct ovl_view *view,
	     const struct dif_tree_opts *opts, struct dm_err *err)
{
	struct walk w = {
		.base = base,
		.view = view,
		.o = opts,
		.err = err,
	};
	struct stat a, b;
	int r;

	r = ovl_view_getattr(base, OVL_ROOT_INO, &a);
	if (r == 0)
		r = ovl_view_getattr(view, OVL_ROOT_INO, &b);
	if (r < 0)
		return dm_err_set(err, -r, "/: %s", strerror(-r));
	if (!ovl_view_pristine(view, OVL_ROOT_INO)) {
		r = compare(&w, ".", &a, &b);
		if (r == 0)
			r = walk_dir(&w, OVL_ROOT_INO, OVL_ROOT_INO, "");
	}
	return r < 0 ? r : w.changes;
}
