/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read-ahead across files: see prefetch.h.
 *
 * The table maps a view inode number to the regular files listed before
 * and after it (and the latter's size): direct-mapped, a newer listing
 * overwrites, so it stays a fixed size whatever the tree. One thread walks
 * it from the file the kernel started reading, storing a window's worth of
 * the files that follow; a newer first read (the reader moved on, or caught
 * up with the thread) restarts the walk from there.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/thread.h"
#include "fusefs/iomax.h"
#include "fusefs/prefetch.h"
#include "overlay/view.h"

#define PF_SLOTS (1u << 15)
/*
 * How far ahead of the reader, in bytes of file data: PF_WINDOW_MIN after
 * a read that does not follow the one before in its listing, doubling up
 * to PF_WINDOW_MAX while they do.
 */
#define PF_WINDOW_MIN (512u << 10)
#define PF_WINDOW_MAX (8u << 20)
/* larger files are left to the kernel's own read-ahead */
#define PF_FILE_MAX (2u << 20)
#define PF_CHUNK FLL_IO_MAX
/*
 * A file stored longer ago than this is stored again when a walk passes
 * it: the kernel may have dropped its pages since (a walk starts where the
 * kernel found a page missing).
 */
#define PF_FRESH_NS (2 * 1000000000ull)

struct pf_slot {
	uint64_t ino; /* 0: empty */
	uint64_t prev; /* 0: the first file of its listing */
	uint64_t next; /* 0: the last file of its listing */
	uint64_t next_size;
	uint64_t stored; /* when stored or first read by the kernel, or 0 */
};

struct fll_pf {
	struct ovl_view *v;
	struct fuse_session *se;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool joined; /* fll_pf_stop() has joined the thread */
	uint64_t kick; /* a first read not yet walked from, or 0 */
	uint64_t window; /* bytes to store from the kick on */
	struct pf_slot *slot;
	char *buf; /* PF_CHUNK, for data that is not in a file */
};

static struct pf_slot *slot_of(struct fll_pf *pf, uint64_t ino)
{
	return &pf->slot[dm_hash64(&ino, sizeof(ino), 0) & (PF_SLOTS - 1)];
}

/* The slot of @ino if the table still knows it. */
static struct pf_slot *find(struct fll_pf *pf, uint64_t ino)
{
	struct pf_slot *s = slot_of(pf, ino);

	return s->ino == ino ? s : NULL;
}

void fll_pf_listed(struct fll_pf *pf, const struct fll_pf_file *f, size_t n)
{
	if (!pf || n == 0)
		return;
	pthread_mutex_lock(&pf->lock);
	for (size_t i = 0; i < n; i++) {
		struct pf_slot *s = slot_of(pf, f[i].ino);

		if (s->ino != f[i].ino)
			*s = (struct pf_slot){ .ino = f[i].ino };
		s->prev = i > 0 ? f[i - 1].ino : 0;
		s->next = i + 1 < n ? f[i + 1].ino : 0;
		s->next_size = i + 1 < n ? f[i + 1].size : 0;
	}
	pthread_mutex_unlock(&pf->lock);
}

void fll_pf_first_read(struct fll_pf *pf, uint64_t ino)
{
	struct pf_slot *s;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	s = find(pf, ino);
	if (s) {
		struct pf_slot *p = s->prev ? find(pf, s->prev) : NULL;

		/*
		 * A reader going through the listing in order reads the file
		 * before this one first (or had it stored); the first file
		 * of a listing keeps the window the reader had.
		 */
		if (p && p->stored)
			pf->window = pf->window < PF_WINDOW_MAX / 2 ?
					     pf->window * 2 :
					     PF_WINDOW_MAX;
		else if (s->prev)
			pf->window = PF_WINDOW_MIN;
		s->stored = dm_now_ns();
		pf->kick = ino;
		pthread_cond_signal(&pf->cond);
	}
	pthread_mutex_unlock(&pf->lock);
}

/*
 * Stores @size bytes of @ino into the kernel's page cache, from its start.
 * Stops at the first failure (the kernel forgot the inode: ENOENT).
 */
static void store(struct fll_pf *pf, uint64_t ino, uint64_t size)
{
	uint64_t off = 0;

	while (off < size) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
		uint64_t pos, len;
		int fd, r;

		r = ovl_view_map(pf->v, ino, off, &fd, &pos, &len);
		if (r < 0)
			return;
		if (len > PF_CHUNK)
			len = PF_CHUNK;
		if (len > size - off)
			len = size - off;
		bv.buf[0].size = len;
		if (fd >= 0) {
			bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
			bv.buf[0].fd = fd;
			bv.buf[0].pos = (off_t)pos;
		} else {
			memset(pf->buf, 0, len);
			bv.buf[0].mem = pf->buf;
		}
		if (fuse_lowlevel_notify_store(pf->se, ino, (off_t)off, &bv,
					       0) != 0)
			return;
		off += len;
	}
}

static void *pf_main(void *arg)
{
	struct fll_pf *pf = arg;

	pthread_mutex_lock(&pf->lock);
	while (!pf->stop) {
		uint64_t cur = pf->kick, budget = pf->window;

		if (!cur) {
			pthread_cond_wait(&pf->cond, &pf->lock);
			continue;
		}
		pf->kick = 0;
		while (!pf->stop && !pf->kick && budget > 0) {
			struct pf_slot *s = find(pf, cur), *t;
			uint64_t next, size;

			if (!s || !s->next)
				break;
			next = s->next;
			size = s->next_size;
			cur = next;
			t = find(pf, next);
			if (!t || size == 0 || size > PF_FILE_MAX ||
			    (t->stored &&
			     dm_now_ns() - t->stored < PF_FRESH_NS))
				continue;
			t->stored = dm_now_ns();
			pthread_mutex_unlock(&pf->lock);
			store(pf, next, size);
			pthread_mutex_lock(&pf->lock);
			budget = size < budget ? budget - size : 0;
		}
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

struct fll_pf *fll_pf_new(struct ovl_view *v, struct fuse_session *se)
{
	struct fll_pf *pf = calloc(1, sizeof(*pf));
	int r = -1;

	if (!pf)
		return NULL;
	pf->v = v;
	pf->se = se;
	pf->window = PF_WINDOW_MIN;
	pf->slot = calloc(PF_SLOTS, sizeof(*pf->slot));
	pf->buf = malloc(PF_CHUNK);
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->cond, NULL);
	if (pf->slot && pf->buf)
		r = dm_thread_start(&pf->thread, pf_main, pf);
	if (r != 0) {
		pthread_cond_destroy(&pf->cond);
		pthread_mutex_destroy(&pf->lock);
		free(pf->buf);
		free(pf->slot);
		free(pf);
		return NULL;
	}
	return pf;
}

void fll_pf_stop(struct fll_pf *pf)
{
	if (!pf || pf->joined)
		return;
	pthread_mutex_lock(&pf->lock);
	pf->stop = true;
	pthread_cond_signal(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	pthread_join(pf->thread, NULL);
	pf->joined = true;
}

void fll_pf_free(struct fll_pf *pf)
{
	if (!pf)
		return;
	fll_pf_stop(pf);
	pthread_cond_destroy(&pf->cond);
	pthread_mutex_destroy(&pf->lock);
	free(pf->buf);
	free(pf->slot);
	free(pf);
}
