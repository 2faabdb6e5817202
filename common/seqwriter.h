/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A sequential writer that writes on a thread of its own, so that a
 * producer (a decompressor, an image builder) keeps its core busy while the
 * kernel copies buffers into the page cache. Append-only from the fd's
 * current offset. One producer thread; the writer thread is internal.
 */
#ifndef DM_SEQWRITER_H
#define DM_SEQWRITER_H

#include <stddef.h>
#include <stdint.h>

struct dm_seqw;

/* @bufsize bytes per buffer, @nbufs buffers in flight (>= 2). */
int dm_seqw_new(int fd, size_t bufsize, unsigned nbufs, struct dm_seqw **ret);

/* Copies @len bytes in; 0, or the first write error (-errno) seen so far. */
int dm_seqw_write(struct dm_seqw *w, const void *data, size_t len);

/* Writes out what is buffered and waits for it: 0 or the first -errno. */
int dm_seqw_finish(struct dm_seqw *w);

/* Stops the thread (discarding unwritten data); NULL-safe, returns NULL. */
struct dm_seqw *dm_seqw_free(struct dm_seqw *w);

#endif
