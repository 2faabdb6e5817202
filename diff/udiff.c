// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Line diff: split both texts into lines, run Myers' greedy O(ND) search
 * keeping every V vector for the backtrack, then group the edit script into
 * hunks with context. Lines are compared by hash, then by bytes.
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
 * Myers: returns the edit script as ops (KEEP/DEL/ADD in order) in *ret.
 * Memory O((N+M) * D) for the kept V vectors.
 */
static int myers(const struct line *a, size_t n, const struct line *b, size_t m,
		 unsigned char **ret, size_t *ret_len)
{
	size_t max = n + m, off = max + 1;
	int64_t *v = calloc(2 * max + 3, sizeof(*v));
	int64_t **trace = NULL;
	size_t d, ntrace = 0;
	unsigned char *ops;
	size_t nops = 0;
	int64_t x, y;

	if (!v)
		return -ENOMEM;
	for (d = 0; d <= max; d++) {
		int64_t **q;

		if ((d + 1) * (2 * max + 3) * sizeof(*v) > (256u << 20)) {
			/* too far apart to search: replace the whole text */
			for (size_t i = 0; i < ntrace; i++)
				free(trace[i]);
			free(trace);
			free(v);
			ops = malloc(n + m + 1);
			if (!ops)
				return -ENOMEM;
			memset(ops, OP_DEL, n);
			memset(ops + n, OP_ADD, m);
			*ret = ops;
			*ret_len = n + m;
			return 0;
		}
		q = realloc(trace, (ntrace + 1) * sizeof(*trace));

		if (!q)
			goto out_nomem;
		trace = q;
		trace[ntrace] = malloc((2 * max + 3) * sizeof(*v));
		if (!trace[ntrace])
			goto out_nomem;
		memcpy(trace[ntrace++], v, (2 * max + 3) * sizeof(*v));
		for (int64_t k = -(int64_t)d; k <= (int64_t)d; k += 2) {
			if (k == -(int64_t)d ||
			    (k != (int64_t)d &&
			     v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			y = x - k;
			while ((size_t)x < n && (size_t)y < m &&
			       same(&a[x], &b[y])) {
				x++;
				y++;
			}
			v[off + k] = x;
			if ((size_t)x >= n && (size_t)y >= m)
				goto found;
		}
	}
found:
	ops = malloc(n + m + 1);
	if (!ops)
		goto out_nomem;
	/* Backtrack from (n, m) through the saved vectors. */
	x = (int64_t)n;
	y = (int64_t)m;
	for (size_t dd = d + 1; dd-- > 0;) {
		int64_t *vv = trace[dd];
		int64_t k = x - y, pk, px, py;

		if (dd == 0) {
			while (x > 0 && y > 0) {
				ops[nops++] = OP_KEEP;
				x--;
				y--;
			}
			break;
		}
		if (k == -(int64_t)dd ||
		    (k != (int64_t)dd && vv[off + k - 1] < vv[off + k + 1]))
			pk = k + 1;
		else
			pk = k - 1;
		px = vv[off + pk];
		py = px - pk;
		while (x > px && y > py) {
			ops[nops++] = OP_KEEP;
			x--;
			y--;
		}
		if (x == px)
			ops[nops++] = OP_ADD;
		else
			ops[nops++] = OP_DEL;
		x = px;
		y = py;
	}
	/* reverse into forward order */
	for (size_t i = 0; i < nops / 2; i++) {
		unsigned char t = ops[i];

		ops[i] = ops[nops - 1 - i];
		ops[nops - 1 - i] = t;
	}
	for (size_t i = 0; i < ntrace; i++)
		free(trace[i]);
	free(trace);
	free(v);
	*ret = ops;
	*ret_len = nops;
	return 0;
out_nomem:
	for (size_t i = 0; i < ntrace; i++)
		free(trace[i]);
	free(trace);
	free(v);
	return -ENOMEM;
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
		r = myers(la, na, lb, nb, &ops, &nops);
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
