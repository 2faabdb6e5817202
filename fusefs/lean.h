/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lean listings for read-only mounts: whether a READDIRPLUS reply gives the
 * kernel the attributes of the files it lists, or only their names and
 * types, as ext4's listings do.
 *
 * Each entry with attributes becomes a kernel inode and dentry at once,
 * which costs the lister more than the round trip: `find` spends most of
 * its time there and never looks at a file. An entry without (node id 0,
 * which the kernel skips) costs a LOOKUP later, if anyone asks; `tar`,
 * `ls -l`, `du` ask for every one. So listings start lean, and a LOOKUP of
 * something that is not a directory turns them full. While full, one
 * listing of every FLL_LEAN_PROBE_EVERY that has a file to spare lists it
 * lean, as a probe; when FLL_LEAN_QUIET probes in a row pass without a
 * LOOKUP of a file, nobody is asking: listings turn lean again. The
 * kernel keeps a listing (its readdir cache) as it got it: turning full
 * drops those it got lean, or `find` then `tar` would pay a LOOKUP a file.
 *
 * A hint shared by a mount's threads, not a lock: racing updates cost a
 * LOOKUP or an inode, never a wrong answer.
 */
#ifndef FLL_LEAN_H
#define FLL_LEAN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLL_LEAN_PROBE_EVERY 4u
#define FLL_LEAN_QUIET 4u
/* directories remembered as listed lean; the rest stay so (a LOOKUP a file) */
#define FLL_LEAN_DIRS_MAX (1u << 20)

struct fll_lean {
	atomic_bool full; /* listings give files' attributes */
	atomic_uint replies; /* full replies that could carry a probe */
	atomic_uint quiet; /* probes sent since a file was looked up */
	pthread_mutex_t lock; /* covers dirs */
	uint64_t *dirs; /* listed lean since listings last turned full */
	size_t ndirs, cap;
};

/* Lean to begin with. */
void fll_lean_init(struct fll_lean *l);

void fll_lean_free(struct fll_lean *l);

/* Whether this reply lists files with their attributes. */
bool fll_lean_full(struct fll_lean *l);

/*
 * A full reply has a file it can list lean (one the read-ahead has no use
 * for): whether to, as a probe. At most once per reply.
 */
bool fll_lean_probe(struct fll_lean *l);

/*
 * Something that is not a directory was looked up: whether that turned
 * listings full (the caller then drops what the kernel keeps of the
 * listings it got lean, so that they come again, full).
 */
bool fll_lean_looked_up(struct fll_lean *l);

/* A reply listed files of directory @dir lean (not as a probe). */
void fll_lean_listed(struct fll_lean *l, uint64_t dir);

/*
 * Hands over the directories listed lean since the last call (the caller
 * frees *@ret); how many.
 */
size_t fll_lean_take(struct fll_lean *l, uint64_t **ret);

#endif
