/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read-ahead across files for read-only mounts. The kernel reads ahead
 * within a file; a reader walking a tree (tar, cp -a, rsync) still waits
 * for one READ round trip per file. When a template file is read from its
 * start, a background thread stores the files listed after it in the same
 * directory (in the order READDIRPLUS sent them) into the kernel's page
 * cache (FUSE_NOTIFY_STORE), so that their reads find their pages there.
 * While such a reader is at work, a directory listed to its end has its
 * first files stored the same way: a tree walker lists a directory, then
 * reads what is in it.
 *
 * Only for views that cannot change (the stored pages are never stale)
 * and mounts without OPEN (the kernel keeps the pages). What it knows of
 * listings is a bounded, lossy table: a forgotten entry costs a READ.
 */
#ifndef FLL_PREFETCH_H
#define FLL_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_session;
struct ovl_view;
struct fll_pf;

/* Starts the thread; NULL (and no read-ahead) when that fails. */
struct fll_pf *fll_pf_new(struct ovl_view *v, struct fuse_session *se);

/*
 * Ends the thread after the store it is in and joins it; later calls do
 * nothing. That store may wait for a READ the kernel sent for the same
 * pages: requests must still be answered until this returns. The other
 * calls stay safe (and do nothing useful) until fll_pf_free().
 */
void fll_pf_stop(struct fll_pf *pf);

/* Stops the thread (see above) and frees. NULL is a no-op. */
void fll_pf_free(struct fll_pf *pf);

/* A regular file listed by a READDIRPLUS reply (view inode number). */
struct fll_pf_file {
	uint64_t ino;
	uint64_t size;
};

/*
 * A READDIRPLUS reply listed these files of one directory, in this order;
 * @before: the file listed last before them (an earlier reply), or 0.
 */
void fll_pf_listed(struct fll_pf *pf, uint64_t before,
		   const struct fll_pf_file *f, size_t n);

/* A listing reached its end; @first: its first file, or 0. */
void fll_pf_listing_end(struct fll_pf *pf, uint64_t first);

/* The kernel asked for the first bytes of @ino. */
void fll_pf_first_read(struct fll_pf *pf, uint64_t ino);

/*
 * Whether the read-ahead is storing files now (false for NULL): a reader
 * is at work, and the CPU is better left to the stores than polled.
 */
bool fll_pf_storing(struct fll_pf *pf);

#endif
