// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Buffers cycle between the producer and the writer thread. w->lock
 * protects head/count/error/stop; a buffer in the queue belongs to the
 * writer until it is dequeued and written, the current fill buffer to the
 * producer.
 */
#include "common/seqwriter.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dm_seqw {
	int fd;
	bool direct; /* the fd has O_DIRECT set (writer thread) */
	size_t bufsize;
	unsigned nbufs;
	char **bufs;
	size_t *lens;
	unsigned fill; /* producer's buffer */
	size_t used; /* bytes in bufs[fill] */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned head; /* oldest queued buffer (lock) */
	unsigned count; /* queued buffers (lock) */
	int error; /* first write error, -errno (lock) */
	bool stop; /* (lock) */
};

/* 0 or -errno; *@done says how much went out either way. */
static int write_all(int fd, const char *p, size_t len, size_t *done)
{
	*done = 0;
	while (*done < len) {
		ssize_t n = write(fd, p + *done, len - *done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		*done += (size_t)n;
	}
	return 0;
}

/*
 * Clears O_DIRECT: for a tail that is not a whole number of blocks, or a
 * file system that accepted the flag but not the write.
 */
static void drop_direct(struct dm_seqw *w)
{
	int fl = fcntl(w->fd, F_GETFL);

	if (fl >= 0)
		(void)fcntl(w->fd, F_SETFL, fl & ~O_DIRECT);
	w->direct = false;
}

static int write_buf(struct dm_seqw *w, const char *p, size_t len)
{
	size_t done = 0, more;
	int r;

	if (w->direct && len % DM_SEQW_ALIGN)
		drop_direct(w);
	if (w->direct) {
		r = write_all(w->fd, p, len, &done);
		if (r != -EINVAL)
			return r;
		drop_direct(w);
	}
	return write_all(w->fd, p + done, len - done, &more);
}

static void *writer_main(void *arg)
{
	struct dm_seqw *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		unsigned i;
		bool failed;
		int r;

		while (!w->count && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->count)
			break;
		i = w->head;
		/* (read here: a cancelling dm_seqw_free() sets it) */
		failed = w->error != 0;
		pthread_mutex_unlock(&w->lock);
		r = failed ? 0 : write_buf(w, w->bufs[i], w->lens[i]);
		pthread_mutex_lock(&w->lock);
		if (r < 0 && !w->error)
			w->error = r;
		w->head = (w->head + 1) % w->nbufs;
		w->count--;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int dm_seqw_new(int fd, size_t bufsize, unsigned nbufs, unsigned flags,
		struct dm_seqw **ret)
{
	struct dm_seqw *w;

	if (nbufs < 2 || bufsize == 0 || bufsize % DM_SEQW_ALIGN)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->bufsize = bufsize;
	w->nbufs = nbufs;
	w->bufs = calloc(nbufs, sizeof(*w->bufs));
	w->lens = calloc(nbufs, sizeof(*w->lens));
	if (!w->bufs || !w->lens)
		goto out_free;
	for (unsigned i = 0; i < nbufs; i++) {
		void *p;

		if (posix_memalign(&p, DM_SEQW_ALIGN, bufsize) != 0)
			goto out_free;
		w->bufs[i] = p;
	}
	if (flags & DM_SEQW_DIRECT) {
		int fl = fcntl(fd, F_GETFL);

		w->direct = fl >= 0 &&
			    (lseek(fd, 0, SEEK_CUR) % DM_SEQW_ALIGN) == 0 &&
			    fcntl(fd, F_SETFL, fl | O_DIRECT) == 0;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
		goto out_free;
	w->started = true;
	*ret = w;
	return 0;
out_free:
	dm_seqw_free(w);
	return -ENOMEM;
}

/* Queues the fill buffer and waits for a free one. Caller holds no lock. */
static int submit(struct dm_seqw *w)
{
	int r;

	pthread_mutex_lock(&w->lock);
	w->lens[w->fill] = w->used;
	w->count++;
	pthread_cond_broadcast(&w->cond);
	while (w->count == w->nbufs)
		pthread_cond_wait(&w->cond, &w->lock);
	r = w->error;
	pthread_mutex_unlock(&w->lock);
	w->fill = (w->fill + 1) % w->nbufs;
	w->used = 0;
	return r;
}

int dm_seqw_write(struct dm_seqw *w, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		size_t n = w->bufsize - w->used;

		if (n > len)
			n = len;
		memcpy(w->bufs[w->fill] + w->used, p, n);
		w->used += n;
		p += n;
		len -= n;
		if (w->used == w->bufsize) {
			int r = submit(w);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

int dm_seqw_finish(struct dm_seqw *w)
{
	int r;

	if (w->used) {
		r = submit(w);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&w->lock);
	while (w->count)
		pthread_cond_wait(&w->cond, &w->lock);
	r = w->error;
	if (w->direct)
		drop_direct(w); /* the writer is idle: the caller's fd again */
	pthread_mutex_unlock(&w->lock);
	return r;
}

struct dm_seqw *dm_seqw_free(struct dm_seqw *w)
{
	if (!w)
		return NULL;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		w->error = w->error ? w->error : -ECANCELED;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		if (w->direct)
			drop_direct(w);
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
	}
	for (unsigned i = 0; w->bufs && i < w->nbufs; i++)
		free(w->bufs[i]);
	free(w->bufs);
	free(w->lens);
	free(w);
	return NULL;
}
