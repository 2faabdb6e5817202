/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unified diffs of two texts (Myers' O(ND) algorithm on lines). Pure: text
 * in, text out, no I/O. Used by `domufs diff`.
 */
#ifndef DIF_UDIFF_H
#define DIF_UDIFF_H

#include <stdbool.h>
#include <stddef.h>

struct dif_buf {
	char *p;
	size_t len, cap;
};

/* Appends printf-style text; -ENOMEM on failure. */
int dif_buf_printf(struct dif_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void dif_buf_free(struct dif_buf *b);

/* True when the data looks like text (no NUL in its first 8 KiB). */
bool dif_is_text(const char *data, size_t len);

/*
 * Appends the hunks (no file header) turning @a into @b to @out, with
 * @context lines of context; @label, if not NULL, follows each "@@ ... @@".
 * Returns the number of hunks (0: equal), or -ENOMEM.
 */
int dif_unified(const char *a, size_t alen, const char *b, size_t blen,
		unsigned context, const char *label, struct dif_buf *out);

#endif
