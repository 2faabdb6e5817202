/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A sequential writer that writes on a thread of its own, so that a
 * producer (a decompressor, an image builder) keeps its core busy while the
 * kernel copies buffers out. Append-only from the fd's
 * current offset. One producer thread; the writer thread is internal.
 */
#ifndef DM_SEQWRITER_H
#define DM_SEQWRITER_H

#include <stddef.h>
#include <stdint.h>

struct dm_seqw;

/* Buffers are aligned to this and @bufsize must be a multiple of it. */
#define DM_SEQW_ALIGN 4096u

/*
 * Writes around the page cache (O_DIRECT) where the file system allows it:
 * for a file written once and read later, if at all, in parts. Whole
 * buffers go out direct, a tail shorter than a block through the cache.
 * The fd's O_DIRECT is cleared again when finish or free returns.
 */
#define DM_SEQW_DIRECT 0x1u

/* @bufsize bytes per buffer, @nbufs buffers in flight (>= 2). */
int dm_seqw_new(int fd, size_t bufsize, unsigned nbufs, unsigned flags,
		struct dm_seqw **ret);

/* Copies @len bytes in; 0, or the first write error (-errno) seen so far. */
int dm_seqw_write(struct dm_seqw *w, const void *data, size_t len);

/* Writes out what is buffered and waits for it: 0 or the first -errno. */
int dm_seqw_finish(struct dm_seqw *w);

/* Stops the thread (discarding unwritten data); NULL-safe, returns NULL. */
struct dm_seqw *dm_seqw_free(struct dm_seqw *w);

#endif
