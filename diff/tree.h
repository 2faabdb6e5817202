/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tree diff: everything a view changes relative to its template, as a
 * unified diff in the manner of `git diff` (file headers with path names
 * quoted as git quotes them, mode, owner, device, link count, time and
 * xattr lines, hunks). Reads both trees through the view API only; writes
 * through the caller's sink, never prints by itself.
 */
#ifndef DIF_TREE_H
#define DIF_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct stat;
struct ovl_view;

struct dif_tree_opts {
	/*
	 * receives the diff text; 0, or -errno, which ends the walk:
	 * dif_tree() returns it, @err naming no path (the sink is the
	 * caller's to name)
	 */
	int (*emit)(void *ctx, const char *data, size_t len);
	void *emit_ctx;
	/*
	 * names what changed a path ("overlay", a fixup name); may be NULL.
	 * @st: the path in the view (NULL when the view has it no more).
	 */
	const char *(*label)(void *ctx, const char *path,
			     const struct stat *st);
	void *label_ctx;
	unsigned context; /* lines of context, 3 as diff -u */
};

/*
 * Compares @view with @base (the template alone). Returns the number of
 * changed paths (0: none) or -errno with @err naming the path concerned.
 */
int dif_tree(struct ovl_view *base, struct ovl_view *view,
	     const struct dif_tree_opts *opts, struct dm_err *err);

#endif
