// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Line diff: split both texts into lines, number them by equivalence class
 * (compared by hash, then by bytes), find the edit script with Myers' O(ND)
 * search in linear space (divide and conquer on the "middle snake", with a
 * cost limit for texts too far apart), then group it into hunks with
 * context.
 */
#include "diff/udiff.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

int dif_buf_printf(struct dif_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 256;
		char *q;

		while (c < b->len + (size_t)n + 1)
			c *= 2;
		q = realloc(b->p, c);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = c;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void dif_buf_free(struct dif_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

bool dif_is_text(const char *data, size_t len)
{
	return !memchr(data, '\0', len < 8192 ? len : 8192);
}

struct line {
	const char *p;
	size_t len; /* without the newline */
	uint64_t h;
	bool nl; /* ends with a newline */
};

static int split(const char *s, size_t len, struct line **ret, size_t *ret_n)
{
	size_t n = 0, cap = 64;
	struct line *v = malloc(cap * sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (s + i)) : len - i;

		if (n == cap) {
			struct line *q = realloc(v, (cap *= 2) * sizeof(*v));

			if (!q) {
				free(v);
				return -ENOMEM;
			}
			v = q;
		}
		v[n].p = s + i;
		v[n].len = l;
		v[n].nl = nl != NULL;
		v[n].h = dm_hash64(s + i, l, nl != NULL);
		n++;
		i += l + (nl ? 1 : 0);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static bool same(const struct line *x, const struct line *y)
{
	return x->h == y->h && x->len == y->len && x->nl == y->nl &&
	       memcmp(x->p, y->p, x->len) == 0;
}

enum op { OP_KEEP, OP_DEL, OP_ADD };

/*
 * The search state. Lines are numbered by equivalence class; only the lines
 * whose class occurs in the other text too are searched (a line nothing in
 * the other text equals is changed in any script), @amap and @bmap giving
 * their numbers in the texts. @fd and @bd hold, per diagonal k = x - y, the
 * furthest x reached by the forward search and the least x reached by the
 * backward one; they are offset so that any k in [-m - 1, n + 1] indexes
 * them.
 */
struct search {
	const int64_t *a, *b;
	const size_t *amap, *bmap;
	unsigned char *ca, *cb; /* per text line: changed */
	int64_t *fd, *bd;
	int64_t limit; /* edits each way before settling for a good split */
};

#define FD_NONE (-1)
#define BD_NONE INT64_MAX

/*
 * Finds a point other than the corners that an edit script from (xl, yl) to
 * (xh, yh) goes through, by searching forward from the top left corner
 * and backward from the bottom right one, one edit each way in turn, until
 * the paths meet (Myers' "middle snake": then the point is on a minimal
 * script). Past @limit edits each way it settles for the point, forward or
 * backward, that got furthest along its diagonal: the script stays correct,
 * perhaps not minimal, and the cost is bounded. The caller has stripped the
 * common first and last lines, so the box is not a corner to corner snake.
 */
static void middle(const struct search *s, int64_t xl, int64_t xh, int64_t yl,
		   int64_t yh, int64_t *xm, int64_t *ym)
{
	const int64_t dmin = xl - yh, dmax = xh - yl;
	const int64_t fmid = xl - yl, bmid = xh - yh;
	const bool odd = (bmid - fmid) & 1;
	int64_t fmin = fmid, fmax = fmid, bmin = bmid, bmax = bmid;
	int64_t *fd = s->fd, *bd = s->bd;

	fd[fmid] = xl;
	bd[bmid] = xh;
	for (int64_t e = 1;; e++) {
		int64_t best, bx = xl, by = yl;

		/* forward: the diagonals one more edit reaches */
		if (fmin > dmin)
			fd[--fmin - 1] = FD_NONE;
		else
			fmin++;
		if (fmax < dmax)
			fd[++fmax + 1] = FD_NONE;
		else
			fmax--;
		for (int64_t k = fmax; k >= fmin; k -= 2) {
			/* a deletion from k - 1 or an insertion from k + 1 */
			int64_t x = fd[k - 1] >= fd[k + 1] ? fd[k - 1] + 1 :
							     fd[k + 1];
			int64_t y;

			if (x > xh)
				x = xh;
			if (x > yh + k)
				x = yh + k;
			y = x - k;
			while (x < xh && y < yh && s->a[x] == s->b[y]) {
				x++;
				y++;
			}
			fd[k] = x;
			if (odd && k >= bmin && k <= bmax && bd[k] <= x) {
				*xm = x;
				*ym = y;
				return;
			}
		}
		/* backward, the same from the other corner */
		if (bmin > dmin)
			bd[--bmin - 1] = BD_NONE;
		else
			bmin++;
		if (bmax < dmax)
			bd[++bmax + 1] = BD_NONE;
		else
			bmax--;
		for (int64_t k = bmax; k >= bmin; k -= 2) {
			/* a deletion to k + 1 or an insertion to k - 1 */
			int64_t x = bd[k - 1] < bd[k + 1] ? bd[k - 1] :
							    bd[k + 1] - 1;
			int64_t y;

			if (x < xl)
				x = xl;
			if (x < yl + k)
				x = yl + k;
			y = x - k;
			while (x > xl && y > yl && s->a[x - 1] == s->b[y - 1]) {
				x--;
				y--;
			}
			bd[k] = x;
			if (!odd && k >= fmin && k <= fmax && x <= fd[k]) {
				*xm = x;
				*ym = y;
				return;
			}
		}
		if (e < s->limit)
			continue;
		/* too costly: the point that got furthest, either way */
		best = -1;
		for (int64_t k = fmax; k >= fmin; k -= 2) {
			if (fd[k] - xl + (fd[k] - k) - yl > best) {
				best = fd[k] - xl + (fd[k] - k) - yl;
				bx = fd[k];
				by = fd[k] - k;
			}
		}
		for (int64_t k = bmax; k >= bmin; k -= 2) {
			if (xh - bd[k] + yh - (bd[k] - k) > best) {
				best = xh - bd[k] + yh - (bd[k] - k);
				bx = bd[k];
				by = bd[k] - k;
			}
		}
		*xm = bx;
		*ym = by;
		return;
	}
}

static void keep(const struct search *s, int64_t x, int64_t y)
{
	s->ca[s->amap[x]] = 0;
	s->cb[s->bmap[y]] = 0;
}

/*
 * Clears the changed flag of the lines a script from (xl, yl) to (xh, yh)
 * keeps: common first and last lines, then the two boxes around a middle
 * point, the smaller one by recursion (the depth stays logarithmic), the
 * other by looping.
 */
static void compare(const struct search *s, int64_t xl, int64_t xh, int64_t yl,
		    int64_t yh)
{
	for (;;) {
		int64_t xm, ym;

		while (xl < xh && yl < yh && s->a[xl] == s->b[yl])
			keep(s, xl++, yl++);
		while (xl < xh && yl < yh && s->a[xh - 1] == s->b[yh - 1])
			keep(s, --xh, --yh);
		if (xl == xh || yl == yh)
			return; /* only deletions or only insertions left */
		middle(s, xl, xh, yl, yh, &xm, &ym);
		if ((xm == xl && ym == yl) || (xm == xh && ym == yh))
			return; /* cannot happen; all changed is correct */
		if (xm - xl + ym - yl < xh - xm + yh - ym) {
			compare(s, xl, xm, yl, ym);
			xl = xm;
			yl = ym;
		} else {
			compare(s, xm, xh, ym, yh);
			xh = xm;
			yh = ym;
		}
	}
}

/*
 * Numbers the lines of both texts by equivalence class into @ida and @idb
 * and counts, per class, its lines in each text into @cnt (two per class).
 */
static int classify(const struct line *a, size_t n, const struct line *b,
		    size_t m, int64_t *ida, int64_t *idb, size_t **ret_cnt)
{
	size_t size = 16, nclass = 0, *tab, *cnt;
	const struct line **rep;

	while (size < 2 * (n + m))
		size *= 2;
	tab = calloc(size, sizeof(*tab));
	rep = malloc((n + m + 1) * sizeof(*rep));
	cnt = calloc(2 * (n + m) + 2, sizeof(*cnt));
	if (!tab || !rep || !cnt) {
		free(tab);
		free(rep);
		free(cnt);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n + m; i++) {
		const struct line *l = i < n ? &a[i] : &b[i - n];
		size_t slot = l->h & (size - 1);

		/* open addressing; a slot holds its class + 1 */
		while (tab[slot] && !same(rep[tab[slot] - 1], l))
			slot = (slot + 1) & (size - 1);
		if (!tab[slot]) {
			rep[nclass] = l;
			tab[slot] = ++nclass;
		}
		if (i < n)
			ida[i] = (int64_t)tab[slot] - 1;
		else
			idb[i - n] = (int64_t)tab[slot] - 1;
		cnt[2 * (tab[slot] - 1) + (i >= n)]++;
	}
	free(tab);
	free(rep);
	*ret_cnt = cnt;
	return 0;
}

/*
 * The edit script turning @a into @b as ops (KEEP/DEL/ADD in order) in
 * *ret, the deletions of each change before its insertions, as diff -u
 * prints them. Myers' O(ND) search in linear space: memory O(N + M).
 */
static int script(const struct line *a, size_t n, const struct line *b,
		  size_t m, unsigned char **ret, size_t *ret_len)
{
	int64_t *ida = malloc((n + 1) * sizeof(*ida));
	int64_t *idb = malloc((m + 1) * sizeof(*idb));
	size_t *amap = malloc((n + 1) * sizeof(*amap));
	size_t *bmap = malloc((m + 1) * sizeof(*bmap));
	int64_t *fd = malloc((n + m + 3) * sizeof(*fd));
	int64_t *bd = malloc((n + m + 3) * sizeof(*bd));
	unsigned char *ca = malloc(n + 1), *cb = malloc(m + 1);
	unsigned char *ops = malloc(n + m + 1);
	struct search s;
	size_t *cnt = NULL, rn = 0, rm = 0, i, j, nops = 0;
	int r = -ENOMEM;

	if (!ida || !idb || !amap || !bmap || !fd || !bd || !ca || !cb || !ops)
		goto out;
	r = classify(a, n, b, m, ida, idb, &cnt);
	if (r < 0)
		goto out;
	/* the lines worth searching, packed, ids in place */
	for (i = 0; i < n; i++) {
		if (cnt[2 * ida[i] + 1]) {
			ida[rn] = ida[i];
			amap[rn++] = i;
		}
	}
	for (j = 0; j < m; j++) {
		if (cnt[2 * idb[j]]) {
			idb[rm] = idb[j];
			bmap[rm++] = j;
		}
	}
	memset(ca, 1, n);
	memset(cb, 1, m);
	s.a = ida;
	s.b = idb;
	s.amap = amap;
	s.bmap = bmap;
	s.ca = ca;
	s.cb = cb;
	s.fd = fd + rm + 1;
	s.bd = bd + rm + 1;
	/* about 2 * sqrt(N + M), as GNU diff; at least 4096 */
	s.limit = 1;
	for (size_t d = rn + rm + 3; d; d >>= 2)
		s.limit <<= 1;
	if (s.limit < 4096)
		s.limit = 4096;
	compare(&s, 0, (int64_t)rn, 0, (int64_t)rm);
	/* the lines left unchanged pair up in order, equal */
	for (i = j = 0; i < n || j < m;) {
		if (i < n && ca[i]) {
			ops[nops++] = OP_DEL;
			i++;
		} else if (j < m && (cb[j] || i == n)) {
			ops[nops++] = OP_ADD;
			j++;
		} else {
			ops[nops++] = OP_KEEP;
			i++;
			j++;
		}
	}
	*ret = ops;
	*ret_len = nops;
	ops = NULL;
out:
	free(ida);
	free(idb);
	free(amap);
	free(bmap);
	free(fd);
	free(bd);
	free(ca);
	free(cb);
	free(ops);
	free(cnt);
	return r;
}

static int emit_line(struct dif_buf *out, char tag, const struct line *l)
{
	int r = dif_buf_printf(out, "%c%.*s\n", tag, (int)l->len, l->p);

	if (r == 0 && !l->nl)
		r = dif_buf_printf(out, "\\ No newline at end of file\n");
	return r;
}

static void range(struct dif_buf *out, size_t start, size_t count)
{
	/* unified format: "start,count", start 0 when count is 0 */
	if (count == 1)
		dif_buf_printf(out, "%zu", start + 1);
	else
		dif_buf_printf(out, "%zu,%zu", count ? start + 1 : start,
			       count);
}

int dif_unified(const char *a, size_t alen, const char *b, size_t blen,
		unsigned context, const char *label, struct dif_buf *out)
{
	struct line *la = NULL, *lb = NULL;
	size_t na = 0, nb = 0, nops = 0;
	unsigned char *ops = NULL;
	size_t *ai = NULL, *bi = NULL;
	int hunks = 0, r;

	r = split(a, alen, &la, &na);
	if (r == 0)
		r = split(b, blen, &lb, &nb);
	if (r == 0)
		r = script(la, na, lb, nb, &ops, &nops);
	if (r < 0)
		goto out_free;
	/* line positions before each op */
	ai = malloc((nops + 1) * sizeof(*ai));
	bi = malloc((nops + 1) * sizeof(*bi));
	if (!ai || !bi) {
		r = -ENOMEM;
		goto out_free;
	}
	ai[0] = bi[0] = 0;
	for (size_t i = 0; i < nops; i++) {
		ai[i + 1] = ai[i] + (ops[i] != OP_ADD);
		bi[i + 1] = bi[i] + (ops[i] != OP_DEL);
	}
	for (size_t i = 0; i < nops;) {
		size_t start, end, last_change;

		if (ops[i] == OP_KEEP) {
			i++;
			continue;
		}
		/* a hunk: changes joined while separated by <= 2*context */
		start = i > context ? i - context : 0;
		last_change = i;
		end = i;
		while (end < nops) {
			if (ops[end] != OP_KEEP)
				last_change = end;
			else if (end - last_change > 2 * (size_t)context)
				break;
			end++;
		}
		end = last_change + 1 + context;
		if (end > nops)
			end = nops;
		r = dif_buf_printf(out, "@@ -");
		range(out, ai[start], ai[end] - ai[start]);
		dif_buf_printf(out, " +");
		range(out, bi[start], bi[end] - bi[start]);
		r = dif_buf_printf(out, " @@%s%s\n", label ? " " : "",
				   label ? label : "");
		for (size_t k = start; r == 0 && k < end; k++) {
			if (ops[k] == OP_KEEP)
				r = emit_line(out, ' ', &la[ai[k]]);
			else if (ops[k] == OP_DEL)
				r = emit_line(out, '-', &la[ai[k]]);
			else
				r = emit_line(out, '+', &lb[bi[k]]);
		}
		if (r < 0)
			goto out_free;
		hunks++;
		i = end;
	}
	r = hunks;
out_free:
	free(la);
	free(lb);
	free(ops);
	free(ai);
	free(bi);
	return r;
}
