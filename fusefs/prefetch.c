/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read-ahead across files: see prefetch.h.
 *
 * The table maps a view inode number to the files listed before and after
 * it and to its size: a few slots per hash value, a newer listing taking
 * the one listed longest ago, so it stays a fixed size whatever the tree.
 * One thread walks it from the file the kernel started reading, storing a
 * window's worth of the files that follow; a newer first read (the reader
 * moved on, or caught up with the thread) restarts the walk from there,
 * and so does the end of a listing while a reader is at work (from the
 * listing's first file: a tree walker lists a directory, then reads what
 * is in it).
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/thread.h"
#include "fusefs/iomax.h"
#include "fusefs/prefetch.h"
#include "overlay/view.h"

#define PF_SLOTS (1u << 15)
#define PF_WAYS 4u /* slots an inode number may take (one bucket) */
/*
 * How far ahead of the reader, in bytes of page cache (a file counts in
 * whole PF_PAGEs): PF_WINDOW_MIN after a read that does not follow the one
 * before in its listing, doubling up to PF_WINDOW_MAX while they do.
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
/*
 * A reader is at work while the kernel started reading a file less than
 * this ago, and the walks that ends of listings started have stored less
 * than PF_WINDOW_MAX since: only then does the end of a listing start a
 * walk. A find or ls -R alone stores nothing; one right after a read
 * stores at most that much.
 */
#define PF_ACTIVE_NS (1000000000ull)
#define PF_PAGE 4096u /* the kernel's page cache holds whole pages */
#define PF_NICE 19 /* the thread's nice value: it takes what CPU is left */

struct pf_slot {
	uint64_t ino; /* 0: empty */
	uint64_t prev; /* 0: the first file of its listing */
	uint64_t next; /* 0: the last file of its listing */
	uint64_t size;
	uint64_t stored; /* when stored or first read by the kernel, or 0 */
	uint64_t seq; /* when listed (a counter) */
};

struct fll_pf {
	struct ovl_view *v;
	struct fuse_session *se;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool joined; /* fll_pf_stop() has joined the thread */
	atomic_bool storing; /* a walk is under way (read without the lock) */
	uint64_t kick; /* a first read not yet walked from, or 0 */
	bool kick_self; /* the walk stores the kick's own file first */
	uint64_t window; /* bytes to store from the kick on */
	uint64_t last_read; /* when the kernel last started a file, or 0 */
	uint64_t unasked; /* bytes stored by walks from listings since */
	uint64_t seq; /* listings so far */
	struct pf_slot *slot;
	char *buf; /* PF_CHUNK, for data that is not in a file */
};

/* The bucket of @ino: PF_WAYS slots. */
static struct pf_slot *bucket_of(struct fll_pf *pf, uint64_t ino)
{
	uint64_t h = dm_hash64(&ino, sizeof(ino), 0) & (PF_SLOTS / PF_WAYS - 1);

	return &pf->slot[h * PF_WAYS];
}

/* The slot of @ino if the table still knows it. */
static struct pf_slot *find(struct fll_pf *pf, uint64_t ino)
{
	struct pf_slot *b = bucket_of(pf, ino);

	for (unsigned w = 0; w < PF_WAYS; w++)
		if (b[w].ino == ino)
			return &b[w];
	return NULL;
}

/* A slot for @ino: its own, or the one listed longest ago in its bucket. */
static struct pf_slot *take(struct fll_pf *pf, uint64_t ino)
{
	struct pf_slot *b = bucket_of(pf, ino), *s = b;

	for (unsigned w = 0; w < PF_WAYS; w++) {
		if (b[w].ino == ino)
			return &b[w];
		if (b[w].seq < s->seq)
			s = &b[w];
	}
	*s = (struct pf_slot){ .ino = ino };
	return s;
}

void fll_pf_listed(struct fll_pf *pf, uint64_t before,
		   const struct fll_pf_file *f, size_t n)
{
	struct pf_slot *b;

	if (!pf || n == 0)
		return;
	pthread_mutex_lock(&pf->lock);
	pf->seq++;
	for (size_t i = 0; i < n; i++) {
		struct pf_slot *s = take(pf, f[i].ino);

		s->seq = pf->seq;
		s->prev = i > 0 ? f[i - 1].ino : before;
		s->next = i + 1 < n ? f[i + 1].ino : 0;
		s->size = f[i].size;
	}
	b = before ? find(pf, before) : NULL;
	if (b)
		b->next = f[0].ino;
	pthread_mutex_unlock(&pf->lock);
}

static bool fresh(const struct pf_slot *s, uint64_t now)
{
	return s->stored && now - s->stored < PF_FRESH_NS;
}

void fll_pf_listing_end(struct fll_pf *pf, uint64_t first)
{
	struct pf_slot *s;
	uint64_t now;

	if (!pf || !first)
		return;
	now = dm_now_ns();
	pthread_mutex_lock(&pf->lock);
	s = find(pf, first);
	if (s && pf->last_read && now - pf->last_read < PF_ACTIVE_NS &&
	    pf->unasked < PF_WINDOW_MAX && !fresh(s, now)) {
		pf->kick = first;
		pf->kick_self = true;
		pthread_cond_signal(&pf->cond);
	}
	pthread_mutex_unlock(&pf->lock);
}

void fll_pf_first_read(struct fll_pf *pf, uint64_t ino)
{
	struct pf_slot *s;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	pf->last_read = dm_now_ns();
	pf->unasked = 0;
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
		s->stored = pf->last_read;
		pf->kick = ino;
		pf->kick_self = false;
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

	/*
	 * Stores run ahead of need: a CPU wanted by a thread answering a
	 * request, or by the caller, goes to that first (Linux: the nice
	 * value of this thread alone; full read 0.97x in alternating runs).
	 */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), PF_NICE);
	pthread_mutex_lock(&pf->lock);
	while (!pf->stop) {
		uint64_t cur = pf->kick, budget = pf->window;
		bool self = pf->kick_self, listing = self;

		if (!cur) {
			atomic_store(&pf->storing, false);
			pthread_cond_wait(&pf->cond, &pf->lock);
			continue;
		}
		atomic_store(&pf->storing, true);
		pf->kick = 0;
		pf->kick_self = false;
		while (!pf->stop && !pf->kick && budget > 0) {
			struct pf_slot *t;
			uint64_t now, size, cost;

			if (!self) {
				struct pf_slot *s = find(pf, cur);

				if (!s || !s->next)
					break;
				cur = s->next;
			}
			self = false;
			t = find(pf, cur);
			now = dm_now_ns();
			if (!t || t->size == 0 || t->size > PF_FILE_MAX ||
			    fresh(t, now))
				continue;
			t->stored = now;
			size = t->size;
			pthread_mutex_unlock(&pf->lock);
			store(pf, cur, size);
			pthread_mutex_lock(&pf->lock);
			cost = (size + PF_PAGE - 1) / PF_PAGE * PF_PAGE;
			budget = cost < budget ? budget - cost : 0;
			if (listing)
				pf->unasked += cost;
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

bool fll_pf_storing(struct fll_pf *pf)
{
	return pf && atomic_load(&pf->storing);
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
