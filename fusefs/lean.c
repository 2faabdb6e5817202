// SPDX-License-Identifier: LGPL-2.1-or-later
/* Lean listings: when READDIRPLUS gives files' attributes (see lean.h). */
#include "fusefs/lean.h"

#include <stdlib.h>

#include "common/array.h"

void fll_lean_init(struct fll_lean *l)
{
	atomic_init(&l->full, false);
	atomic_init(&l->replies, 0);
	atomic_init(&l->quiet, 0);
	pthread_mutex_init(&l->lock, NULL);
	l->dirs = NULL;
	l->ndirs = l->cap = 0;
}

void fll_lean_free(struct fll_lean *l)
{
	free(l->dirs);
	l->dirs = NULL;
	l->ndirs = l->cap = 0;
	pthread_mutex_destroy(&l->lock);
}

bool fll_lean_full(struct fll_lean *l)
{
	return atomic_load_explicit(&l->full, memory_order_relaxed);
}

bool fll_lean_probe(struct fll_lean *l)
{
	unsigned n =
		atomic_fetch_add_explicit(&l->replies, 1, memory_order_relaxed);

	if (n % FLL_LEAN_PROBE_EVERY != FLL_LEAN_PROBE_EVERY - 1)
		return false;
	if (atomic_fetch_add_explicit(&l->quiet, 1, memory_order_relaxed) + 1 >=
	    FLL_LEAN_QUIET)
		atomic_store_explicit(&l->full, false, memory_order_relaxed);
	return true;
}

bool fll_lean_looked_up(struct fll_lean *l)
{
	/* the common case, while full: nothing to write */
	if (atomic_load_explicit(&l->quiet, memory_order_relaxed))
		atomic_store_explicit(&l->quiet, 0, memory_order_relaxed);
	if (atomic_load_explicit(&l->full, memory_order_relaxed))
		return false;
	atomic_store_explicit(&l->replies, 0, memory_order_relaxed);
	/* one of racing lookups turns it */
	return !atomic_exchange_explicit(&l->full, true, memory_order_relaxed);
}

void fll_lean_listed(struct fll_lean *l, uint64_t dir)
{
	pthread_mutex_lock(&l->lock);
	/* a listing in several replies: once is enough */
	if (l->ndirs && l->dirs[l->ndirs - 1] == dir)
		goto out;
	if ((l->ndirs < l->cap || l->cap < FLL_LEAN_DIRS_MAX) &&
	    dm_grow((void **)&l->dirs, &l->cap, l->ndirs, sizeof(*l->dirs),
		    256) == 0)
		l->dirs[l->ndirs++] = dir;
out:
	pthread_mutex_unlock(&l->lock);
}

size_t fll_lean_take(struct fll_lean *l, uint64_t **ret)
{
	size_t n;

	pthread_mutex_lock(&l->lock);
	*ret = l->dirs;
	n = l->ndirs;
	l->dirs = NULL;
	l->ndirs = l->cap = 0;
	pthread_mutex_unlock(&l->lock);
	return n;
}
