// SPDX-License-Identifier: LGPL-2.1-or-later
/* Global pax headers (see tmpl-pax.h). */
#include "templates/tmpl-pax.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define NSEC_PER_SEC 1000000000u

/* An octal header field: leading spaces or NULs, digits, then an end. */
static bool octal(const unsigned char *f, size_t n, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i = 0;
	bool any = false;

	while (i < n && (f[i] == ' ' || f[i] == '\0'))
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return false;
		v = v * 8 + (uint64_t)(f[i] - '0');
		any = true;
	}
	if (i < n && f[i] != ' ' && f[i] != '\0')
		return false;
	*ret = v;
	return any;
}

/* A numeric field, octal or GNU base-256 (high bit set; not negative). */
static bool number(const unsigned char *f, size_t n, uint64_t *ret)
{
	uint64_t v;

	if (!(f[0] & 0x80))
		return octal(f, n, ret);
	if (f[0] & 0x40)
		return false; /* negative */
	v = f[0] & 0x3f;
	for (size_t i = 1; i < n; i++) {
		if (v >> 55)
			return false;
		v = v << 8 | f[i];
	}
	*ret = v;
	return true;
}

/* The checksum as tar writers compute it: unsigned, or signed (old tars). */
static bool is_header(const unsigned char *h)
{
	uint64_t want;
	uint64_t us = 0;
	int64_t ss = 0;

	if (!octal(h + 148, 8, &want))
		return false;
	for (size_t i = 0; i < TMPL_PAX_BLOCK; i++) {
		unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];

		us += c;
		ss += (signed char)c;
	}
	return want == us || (int64_t)want == ss;
}

/* Header types libarchive consumes before a member's own header. */
static bool is_extension(unsigned char type)
{
	return type && strchr("gxXLKAV", type);
}

bool tmpl_pax_parse_time(const char *s, size_t len, struct tmpl_pax_time *t)
{
	size_t i = 0;
	uint64_t sec = 0, frac = 0, scale = NSEC_PER_SEC;
	bool neg = false, any = false;

	if (i < len && s[i] == '-') {
		neg = true;
		i++;
	}
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (sec > (uint64_t)INT64_MAX / 10 - 1)
			return false;
		sec = sec * 10 + (uint64_t)(s[i] - '0');
		any = true;
	}
	if (!any)
		return false;
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(s[i] - '0') * scale;
			}
		}
	}
	if (i != len)
		return false;
	if (!neg) {
		t->sec = (int64_t)sec;
		t->nsec = (uint32_t)frac;
	} else if (frac) {
		t->sec = -(int64_t)sec - 1;
		t->nsec = (uint32_t)(NSEC_PER_SEC - frac);
	} else {
		t->sec = -(int64_t)sec;
		t->nsec = 0;
	}
	return true;
}

static bool parse_id(const char *s, size_t len, uint32_t *ret)
{
	uint64_t v = 0;

	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*ret = (uint32_t)v;
	return true;
}

typedef int (*record_fn)(void *ctx, const char *key, size_t klen,
			 const char *val, size_t vlen);

/*
 * The records of an extended header body, "LEN KEY=VALUE\n" each, LEN the
 * record's own length. Returns what @fn returned when it was not 0, 1 for
 * a malformed record (the walk stops there), 0 at the end.
 */
static int records(const unsigned char *p, size_t n, record_fn fn, void *ctx)
{
	while (n && *p) {
		size_t len = 0, i = 0, k;
		int r;

		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
			len = len * 10 + (size_t)(p[i] - '0');
			if (len > n)
				return 1;
		}
		if (!i || i >= n || p[i] != ' ' || len < i + 4 ||
		    p[len - 1] != '\n')
			return 1;
		k = ++i;
		while (i < len - 1 && p[i] != '=')
			i++;
		if (i == len - 1 || i == k)
			return 1;
		r = fn(ctx, (const char *)p + k, i - k, (const char *)p + i + 1,
		       len - 2 - i);
		if (r)
			return r;
		p += len;
		n -= len;
	}
	return 0;
}

static bool key_is(const char *key, size_t klen, const char *want)
{
	return strlen(want) == klen && !memcmp(key, want, klen);
}

#define XATTR_PREFIX "SCHILY.xattr."

struct scan {
	struct tmpl_pax_global *g;
	const char *name;
	uint64_t at; /* the header's byte in the stream */
	unsigned local;
	dm_warn_fn warn;
	void *warn_ctx;
	struct dm_err *err;
};

static int xattr_set(struct tmpl_pax_global *g, const char *name, size_t nlen,
		     const char *val, size_t vlen)
{
	struct tmpl_pax_xattr *x = NULL;
	unsigned char *v;

	for (size_t i = 0; i < g->nxattrs; i++)
		if (strlen(g->xattrs[i].name) == nlen &&
		    !memcmp(g->xattrs[i].name, name, nlen))
			x = &g->xattrs[i];
	if (!vlen) {
		/* an empty value deletes the keyword (POSIX pax) */
		if (x) {
			free(x->name);
			free(x->value);
			*x = g->xattrs[--g->nxattrs];
		}
		return 0;
	}
	v = malloc(vlen);
	if (!v)
		return -ENOMEM;
	memcpy(v, val, vlen);
	if (!x) {
		struct tmpl_pax_xattr *q = realloc(
			g->xattrs, (g->nxattrs + 1) * sizeof(*g->xattrs));
		char *nm = strndup(name, nlen);

		if (q)
			g->xattrs = q;
		if (!q || !nm) {
			free(nm);
			free(v);
			return -ENOMEM;
		}
		x = &g->xattrs[g->nxattrs++];
		x->name = nm;
	} else {
		free(x->value);
	}
	x->value = v;
	x->len = vlen;
	return 0;
}

/* The keywords applied from global headers, and their TMPL_PAX_* bits. */
static unsigned applied_bit(const char *key, size_t klen)
{
	static const struct {
		const char *key;
		unsigned bit;
	} applied[] = {
		{ "uid", TMPL_PAX_UID },     { "gid", TMPL_PAX_GID },
		{ "mtime", TMPL_PAX_MTIME }, { "atime", TMPL_PAX_ATIME },
		{ "ctime", TMPL_PAX_CTIME },
	};

	for (size_t i = 0; i < sizeof(applied) / sizeof(applied[0]); i++)
		if (key_is(key, klen, applied[i].key))
			return applied[i].bit;
	return 0;
}

static int global_record(void *ctx, const char *key, size_t klen,
			 const char *val, size_t vlen)
{
	static const char *const refused[] = { "path", "linkpath", "size" };
	static const char *const quiet[] = { "comment", "charset", "hdrcharset",
					     "uname", "gname" };
	struct scan *s = ctx;
	struct tmpl_pax_global *g = s->g;
	unsigned bit = applied_bit(key, klen);

	if (bit) {
		bool ok = true;

		if (!vlen)
			g->set &= ~bit; /* an empty value deletes it */
		else if (bit & (TMPL_PAX_UID | TMPL_PAX_GID))
			ok = parse_id(val, vlen,
				      bit == TMPL_PAX_UID ? &g->uid : &g->gid);
		else
			ok = tmpl_pax_parse_time(
				val, vlen,
				bit == TMPL_PAX_MTIME ? &g->mtime :
				bit == TMPL_PAX_ATIME ? &g->atime :
							&g->ctime);
		if (vlen && ok)
			g->set |= bit;
		if (!ok)
			dm_warn(s->warn, s->warn_ctx,
				"%s: global pax header at byte %" PRIu64
				": bad value for '%.*s', ignored",
				s->name, s->at, (int)klen, key);
		return 0;
	}
	if (klen > strlen(XATTR_PREFIX) &&
	    !memcmp(key, XATTR_PREFIX, strlen(XATTR_PREFIX)))
		return xattr_set(g, key + strlen(XATTR_PREFIX),
				 klen - strlen(XATTR_PREFIX), val, vlen);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (key_is(key, klen, refused[i]))
			return !vlen ? 0 :
				       dm_err_set(
					       s->err, EINVAL,
					       "%s: global pax header at byte %" PRIu64
					       " sets '%s' for every member that follows: not supported",
					       s->name, s->at, refused[i]);
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		if (key_is(key, klen, quiet[i]))
			return 0;
	dm_warn(s->warn, s->warn_ctx,
		"%s: global pax header at byte %" PRIu64
		": keyword '%.*s' ignored",
		s->name, s->at, (int)klen, key);
	return 0;
}

static int local_record(void *ctx, const char *key, size_t klen,
			const char *val, size_t vlen)
{
	struct scan *s = ctx;

	(void)val;
	(void)vlen;
	s->local |= applied_bit(key, klen);
	return 0;
}

int tmpl_pax_scan(struct tmpl_pax_global *g, const unsigned char *chain,
		  size_t len, uint64_t at, const char *name,
		  unsigned *ret_local, dm_warn_fn warn, void *warn_ctx,
		  struct dm_err *err)
{
	struct scan s = {
		.g = g,
		.name = name,
		.warn = warn,
		.warn_ctx = warn_ctx,
		.err = err,
	};
	size_t off = 0;

	while (len - off >= TMPL_PAX_BLOCK) {
		const unsigned char *h = chain + off;
		size_t body = off + TMPL_PAX_BLOCK;
		uint64_t size;
		int r = 0;

		if (!is_header(h) || !is_extension(h[156]) ||
		    !number(h + 124, 12, &size) || size > len - body)
			break;
		s.at = at + off;
		if (h[156] == 'g') {
			r = records(chain + body, (size_t)size, global_record,
				    &s);
			if (r == 1)
				dm_warn(warn, warn_ctx,
					"%s: global pax header at byte %" PRIu64
					": malformed record, the rest ignored",
					name, s.at);
		} else if (h[156] == 'x' || h[156] == 'X') {
			r = records(chain + body, (size_t)size, local_record,
				    &s);
		}
		if (r < 0)
			return r;
		off = body + (((size_t)size + TMPL_PAX_BLOCK - 1) &
			      ~(size_t)(TMPL_PAX_BLOCK - 1));
		if (off > len)
			break;
	}
	*ret_local = s.local;
	return 0;
}

void tmpl_pax_global_free(struct tmpl_pax_global *g)
{
	for (size_t i = 0; i < g->nxattrs; i++) {
		free(g->xattrs[i].name);
		free(g->xattrs[i].value);
	}
	free(g->xattrs);
	memset(g, 0, sizeof(*g));
}
