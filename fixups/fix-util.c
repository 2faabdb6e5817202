// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Helpers of the fixups: text buffers, lines and fields, and reading the
 * tree through the caller's fix_reader with symlinks resolved inside the
 * tree (never on the host). No I/O of its own.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "fixups/fix-internal.h"

/* ---- Text ---------------------------------------------------------------- */

static bool buf_grow(struct fix_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	if (n > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return false;
	}
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void fix_buf_add(struct fix_buf *b, const char *s, size_t n)
{
	if (!buf_grow(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void fix_buf_puts(struct fix_buf *b, const char *s)
{
	fix_buf_add(b, s, strlen(s));
}

void fix_buf_line(struct fix_buf *b, const char *s, size_t n)
{
	fix_buf_add(b, s, n);
	fix_buf_add(b, "\n", 1);
}

void fix_buf_printf(struct fix_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (!buf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int fix_buf_done(struct fix_buf *b, char **ret, size_t *ret_len)
{
	if (!b->oom && !b->p && buf_grow(b, 0))
		b->p[0] = '\0';
	if (b->oom) {
		fix_buf_clear(b);
		return -ENOMEM;
	}
	*ret = b->p;
	*ret_len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return 0;
}

void fix_buf_clear(struct fix_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void fix_buf_trim_blank_tail(struct fix_buf *b)
{
	/* b holds whole lines; drop the last while it is blank. */
	while (b->len) {
		size_t end = b->len, start;
		bool blank = true;

		if (b->p[end - 1] == '\n')
			end--;
		start = end;
		while (start > 0 && b->p[start - 1] != '\n')
			start--;
		for (size_t i = start; i < end; i++)
			if (b->p[i] != ' ' && b->p[i] != '\t' &&
			    b->p[i] != '\r')
				blank = false;
		if (!blank)
			break;
		b->len = start;
		b->p[b->len] = '\0';
	}
}

bool fix_line_next(const char **pos, const char *end, const char **ret,
		   size_t *ret_len)
{
	const char *p = *pos, *nl;

	if (!p || p >= end)
		return false;
	nl = memchr(p, '\n', (size_t)(end - p));
	*ret = p;
	if (nl) {
		*ret_len = (size_t)(nl - p);
		*pos = nl + 1;
	} else {
		*ret_len = (size_t)(end - p);
		*pos = end;
	}
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

size_t fix_fields(const char *s, size_t n, struct fix_span *out, size_t max)
{
	size_t i = 0, k = 0;

	while (i < n && k < max) {
		while (i < n && is_blank(s[i]))
			i++;
		if (i >= n)
			break;
		out[k].p = s + i;
		while (i < n && !is_blank(s[i]))
			i++;
		out[k].n = (size_t)(s + i - out[k].p);
		k++;
	}
	return k;
}

bool fix_span_eq(struct fix_span s, const char *str)
{
	return s.p && strlen(str) == s.n && !memcmp(s.p, str, s.n);
}

struct fix_span fix_span_trim(const char *s, size_t n)
{
	struct fix_span r = { s, n };

	while (r.n && is_blank(*r.p)) {
		r.p++;
		r.n--;
	}
	while (r.n && is_blank(r.p[r.n - 1]))
		r.n--;
	return r;
}

bool fix_line_is_comment(const char *s, size_t n)
{
	struct fix_span t = fix_span_trim(s, n);

	return !t.n || t.p[0] == '#';
}

bool fix_line_eq(const char *s, size_t n, const char *str)
{
	return fix_span_eq(fix_span_trim(s, n), str);
}

bool fix_line_has_word(const char *s, size_t n, const char *word)
{
	struct fix_span f[64];
	size_t k = fix_fields(s, n, f, 64);

	for (size_t i = 0; i < k; i++)
		if (fix_span_eq(f[i], word))
			return true;
	return false;
}

struct fix_span fix_shell_key(const char *s, size_t n)
{
	struct fix_span t = fix_span_trim(s, n), r = { NULL, 0 };
	size_t i = 0;

	if (t.n >= 7 && !memcmp(t.p, "export", 6) && is_blank(t.p[6])) {
		t = fix_span_trim(t.p + 7, t.n - 7);
	}
	while (i < t.n && (isalnum((unsigned char)t.p[i]) || t.p[i] == '_'))
		i++;
	if (i == 0 || i >= t.n || t.p[i] != '=' ||
	    isdigit((unsigned char)t.p[0]))
		return r;
	r.p = t.p;
	r.n = i;
	return r;
}

/*
 * Sets KEY=value lines in a shell-variable file (/etc/sysconfig/...): the
 * first assignment of each key in @set is rewritten, later ones and the
 * keys in @drop removed, missing ones appended. @set is "KEY=value" items.
 */
void fix_shell_vars(const char *in, size_t len, const char *const *set,
		    size_t n_set, const char *const *drop, struct fix_buf *out)
{
	bool done[32] = { false };
	const char *pos = in, *line;
	size_t ll;

	if (n_set > 32)
		n_set = 32;
	while (fix_line_next(&pos, in + len, &line, &ll)) {
		struct fix_span k = fix_shell_key(line, ll);
		bool handled = false;

		if (k.n) {
			for (size_t i = 0; i < n_set && !handled; i++) {
				if (strncmp(set[i], k.p, k.n) ||
				    set[i][k.n] != '=')
					continue;
				if (!done[i])
					fix_buf_printf(out, "%s\n", set[i]);
				done[i] = true;
				handled = true;
			}
			for (size_t i = 0; drop && drop[i] && !handled; i++)
				handled = fix_span_eq(k, drop[i]);
		}
		if (!handled)
			fix_buf_line(out, line, ll);
	}
	for (size_t i = 0; i < n_set; i++)
		if (!done[i])
			fix_buf_printf(out, "%s\n", set[i]);
}

void fix_prefix_netmask(unsigned prefix, char buf[16])
{
	uint32_t m = prefix >= 32 ? 0xffffffffu :
		     prefix == 0  ? 0 :
				    ~((UINT32_C(1) << (32 - prefix)) - 1);

	snprintf(buf, 16, "%u.%u.%u.%u", m >> 24, (m >> 16) & 255,
		 (m >> 8) & 255, m & 255);
}

int fix_vercmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			const char *ea, *eb;
			size_t la, lb;
			int c;

			while (*a == '0' && isdigit((unsigned char)a[1]))
				a++;
			while (*b == '0' && isdigit((unsigned char)b[1]))
				b++;
			for (ea = a; isdigit((unsigned char)*ea); ea++)
				;
			for (eb = b; isdigit((unsigned char)*eb); eb++)
				;
			la = (size_t)(ea - a);
			lb = (size_t)(eb - b);
			if (la != lb)
				return la < lb ? -1 : 1;
			c = memcmp(a, b, la);
			if (c)
				return c < 0 ? -1 : 1;
			a = ea;
			b = eb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	if (*a == *b)
		return 0;
	return *a ? 1 : -1;
}

/* ---- Reading the tree ---------------------------------------------------- */

#define FIX_MAX_LINKS 40

/* Appends component [s, s+n) to the canonical path in cur. */
static int path_push(char *cur, size_t *len, const char *s, size_t n)
{
	if (*len + 1 + n >= PATH_MAX)
		return -ENAMETOOLONG;
	if (*len == 0 || cur[*len - 1] != '/')
		cur[(*len)++] = '/';
	memcpy(cur + *len, s, n);
	*len += n;
	cur[*len] = '\0';
	return 0;
}

static void path_pop(char *cur, size_t *len)
{
	while (*len > 1 && cur[*len - 1] != '/')
		(*len)--;
	if (*len > 1)
		(*len)--;
	cur[*len] = '\0';
}

int fix_resolve(const struct fix_reader *rd, const char *path, bool follow,
		char **ret)
{
	_cleanup_free_ char *cur = malloc(PATH_MAX);
	_cleanup_free_ char *rest = malloc(PATH_MAX);
	size_t len = 1, links = 0;
	bool missing = false;
	char *p;

	if (!cur || !rest)
		return -ENOMEM;
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	strcpy(rest, path);
	strcpy(cur, "/");
	p = rest;
	for (;;) {
		const char *comp;
		size_t n;
		bool last;
		mode_t mode;
		int r;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		comp = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - comp);
		{
			const char *q = p;

			while (*q == '/')
				q++;
			last = !*q;
		}
		if (n == 1 && comp[0] == '.')
			continue;
		if (n == 2 && comp[0] == '.' && comp[1] == '.') {
			path_pop(cur, &len);
			continue;
		}
		r = path_push(cur, &len, comp, n);
		if (r < 0)
			return r;
		if (missing || (last && !follow))
			continue;
		r = rd->exists(rd->ctx, cur, &mode);
		if (r == -ENOENT || r == -ENOTDIR) {
			missing = true;
			continue;
		}
		if (r < 0)
			return r;
		if (S_ISLNK(mode) && rd->readlink) {
			_cleanup_free_ char *target = NULL;
			size_t tl, rl = strlen(p);

			if (++links > FIX_MAX_LINKS)
				return -ELOOP;
			r = rd->readlink(rd->ctx, cur, &target);
			if (r < 0)
				return r;
			tl = strlen(target);
			if (tl + rl + 2 >= PATH_MAX)
				return -ENAMETOOLONG;
			/* rest becomes target + "/" + what followed */
			memmove(rest + tl + 1, p, rl + 1);
			memcpy(rest, target, tl);
			rest[tl] = '/';
			p = rest;
			path_pop(cur, &len);
			if (target[0] == '/') {
				strcpy(cur, "/");
				len = 1;
			}
			continue;
		}
		if (!last && !S_ISDIR(mode) && !S_ISLNK(mode))
			missing = true;
	}
	*ret = strdup(cur);
	return *ret ? 0 : -ENOMEM;
}

int fix_stat(const struct fix_reader *rd, const char *path, bool follow,
	     mode_t *ret_mode)
{
	_cleanup_free_ char *real = NULL;
	int r = fix_resolve(rd, path, follow, &real);

	if (r < 0)
		return r;
	return rd->exists(rd->ctx, real, ret_mode);
}

int fix_read(const struct fix_reader *rd, const char *path, char **ret,
	     size_t *ret_len)
{
	_cleanup_free_ char *real = NULL;
	char *data = NULL, *copy;
	size_t len = 0;
	int r = fix_resolve(rd, path, true, &real);

	if (r < 0)
		return r;
	r = rd->read(rd->ctx, real, &data, &len);
	if (r < 0)
		return r;
	copy = realloc(data, len + 1);
	if (!copy) {
		free(data);
		return -ENOMEM;
	}
	copy[len] = '\0';
	*ret = copy;
	*ret_len = len;
	return 0;
}

bool fix_has(const struct fix_reader *rd, const char *path, mode_t type)
{
	mode_t mode = 0;

	if (fix_stat(rd, path, true, &mode) < 0)
		return false;
	return !type || (mode & S_IFMT) == type;
}

char **fix_strv_free(char **v)
{
	if (v)
		for (char **p = v; *p; p++)
			free(*p);
	free(v);
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int fix_list(const struct fix_reader *rd, const char *dir, char ***ret)
{
	_cleanup_free_ char *real = NULL;
	char **names = NULL;
	size_t n = 0;
	int r = fix_resolve(rd, dir, true, &real);

	if (r < 0)
		return r;
	r = rd->list(rd->ctx, real, &names);
	if (r < 0)
		return r;
	if (!names) {
		names = calloc(1, sizeof(*names));
		if (!names)
			return -ENOMEM;
	}
	while (names[n])
		n++;
	qsort(names, n, sizeof(*names), cmp_str);
	*ret = names;
	return 0;
}

int fix_readlink(const struct fix_reader *rd, const char *path, char **ret)
{
	_cleanup_free_ char *real = NULL;
	int r;

	if (!rd->readlink)
		return -EINVAL;
	r = fix_resolve(rd, path, false, &real);
	if (r < 0)
		return r;
	return rd->readlink(rd->ctx, real, ret);
}

unsigned fix_lookup_id(const struct fix_reader *rd, const char *file,
		       const char *name, unsigned def)
{
	_cleanup_free_ char *data = NULL;
	const char *pos, *line;
	size_t len, ll, nl = strlen(name);

	if (fix_read(rd, file, &data, &len) < 0)
		return def;
	pos = data;
	while (fix_line_next(&pos, data + len, &line, &ll)) {
		const char *c1, *c2;
		char *end;
		unsigned long v;

		if (ll <= nl || memcmp(line, name, nl) || line[nl] != ':')
			continue;
		c1 = memchr(line + nl + 1, ':', ll - nl - 1);
		if (!c1)
			continue;
		c2 = c1 + 1;
		v = strtoul(c2, &end, 10);
		if (end == c2 || (*end != ':' && *end != '\n'))
			continue;
		if (v > 0x7fffffff)
			continue;
		return (unsigned)v;
	}
	return def;
}
