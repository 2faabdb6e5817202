// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The request loop (see loop.h). Modelled on libfuse's multithreaded loop
 * (workers that block every signal, cancelled only while they wait for a
 * request), with a fixed pool instead of threads started on demand, one
 * reader at a time instead of all of them, and bounded polling in place of
 * an immediate sleep.
 *
 * Why one reader: the kernel wakes the worker that has waited longest in
 * read(), so with every idle worker there, a caller working through a tree
 * one call at a time is served by each worker in turn, each with its
 * stack, buffer and CPU gone cold. One worker in read() is served again
 * and again while the others sleep (`find` of the Debian root of
 * BENCHMARKS.md, bench/ab.sh: daemon CPU time 18 ms instead of 25 ms, wall
 * time 0.86x). A request that may wait (see fll_loop_hooks.quick)
 * makes its worker hand the reader's place over first, so that one slow
 * request never holds the others up.
 */
#define FUSE_USE_VERSION 314
#include "fusefs/loop.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/payoff.h"
#include "common/thread.h"

#define MAX_THREADS 64

struct loop {
	struct fuse_session *se;
	int fd;
	uint64_t poll_ns;
	const struct fll_loop_hooks *h;
	atomic_bool reader; /* a worker holds the reader's place */
	atomic_uint parked; /* workers waiting for that place */
	sem_t wake; /* posted when the place is given up while one waits */
	/* polls that found a request: below half, mostly none (a reader
	 * copying file data out sends its next request later than poll_ns) */
	struct dm_payoff pays;
	_Atomic uint64_t last_reply; /* when the latest reply went out (ns) */
	_Atomic uint64_t last_gap; /* from a reply to the next request (ns) */
	atomic_int error;
	int ended; /* eventfd: a worker ended */
};

struct worker {
	struct loop *l;
	pthread_t thread;
	struct fuse_buf buf; /* freed after the join: it may be cancelled */
};

/*
 * Until a request is there (or the device fails), or poll_ns passed;
 * whether one came. Giving way between looks: the caller of the request
 * just answered is often woken on this CPU, and runs at once rather than
 * when the scheduler preempts the poll (`find` of the Debian root of
 * BENCHMARKS.md right after the mount: 0.11-0.13 s instead of 0.14-0.18 s;
 * no clear gain once the mount sat idle for a while).
 */
static bool poll_briefly(struct loop *l)
{
	struct pollfd p = { .fd = l->fd, .events = POLLIN };
	uint64_t start = dm_now_ns();

	do {
		if (poll(&p, 1, 0) != 0)
			return true;
		sched_yield();
	} while (dm_now_ns() - start < l->poll_ns);
	return false;
}

/*
 * Whether the calling worker got the reader's place; if not, it waited
 * until the place was given up (or a stray post came), and tries again.
 * A worker that gives the place up and one that comes to wait for it each
 * look at what the other wrote first (sequentially consistent atomics):
 * either the waiter sees the place free, or the giver sees the waiter.
 *
 * Cancellation unwinds the frames of this and work() without running
 * their epilogues; an ASan build would leave their stack poisoned behind
 * them and then trip over that in the thread's teardown. So: nothing in
 * them has its address taken, and they are not instrumented (what they
 * call is).
 */
__attribute__((no_sanitize_address)) static bool take_place(struct loop *l)
{
	if (!atomic_exchange(&l->reader, true))
		return true;
	atomic_fetch_add(&l->parked, 1);
	if (!atomic_exchange(&l->reader, true)) {
		atomic_fetch_sub(&l->parked, 1);
		return true;
	}
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	while (sem_wait(&l->wake) != 0 && errno == EINTR)
		;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	atomic_fetch_sub(&l->parked, 1);
	return false;
}

static void give_place(struct loop *l)
{
	atomic_store(&l->reader, false);
	if (atomic_load(&l->parked) > 0)
		sem_post(&l->wake);
}

/* Whether the request in @buf (@len bytes) is one to serve as the reader. */
static bool quick(const struct loop *l, const struct fuse_buf *buf, size_t len)
{
	return l->h->quick && !(buf->flags & FUSE_BUF_IS_FD) &&
	       l->h->quick(l->h->arg, buf->mem, len);
}

__attribute__((no_sanitize_address)) static void *work(void *arg)
{
	struct worker *w = arg;
	struct loop *l = w->l;
	bool reader = false;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	while (!fuse_session_exited(l->se)) {
		uint64_t t, last, gap;
		int res;

		if (!reader && !(reader = take_place(l)))
			continue;
		if (l->poll_ns && atomic_load(&l->last_gap) < l->poll_ns &&
		    (!l->h->may_poll || l->h->may_poll(l->h->arg)) &&
		    dm_payoff_try(&l->pays))
			dm_payoff_count(&l->pays, poll_briefly(l));
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		res = fuse_session_receive_buf(l->se, &w->buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (res == -EINTR || res == -EAGAIN)
			continue;
		if (res <= 0) {
			/* 0: unmounted */
			if (res < 0)
				atomic_store(&l->error, res);
			fuse_session_exit(l->se);
			break;
		}
		t = dm_now_ns();
		last = atomic_load(&l->last_reply);
		gap = t > last ? t - last : 0;
		atomic_store(&l->last_gap, gap);
		if (l->h->received)
			l->h->received(l->h->arg, t, gap);
		if (!quick(l, &w->buf, (size_t)res)) {
			give_place(l);
			reader = false;
		}
		fuse_session_process_buf(l->se, &w->buf);
		atomic_store(&l->last_reply, dm_now_ns());
	}
	eventfd_write(l->ended, 1);
	return NULL;
}

/*
 * Until the session ends (a worker saw the unmount or a failure) or a stop
 * signal comes: SIGTERM, SIGINT and SIGHUP are blocked in every thread
 * and read here, so that the workers still answer requests while @drain
 * runs (libfuse drops what it reads once the session has ended).
 */
static void wait_for_stop(struct loop *l, int sigfd)
{
	while (!fuse_session_exited(l->se)) {
		struct pollfd p[2] = { { .fd = sigfd, .events = POLLIN },
				       { .fd = l->ended, .events = POLLIN } };
		struct signalfd_siginfo si;
		eventfd_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if ((p[0].revents & POLLIN) &&
		    read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			return;
		if (p[1].revents & POLLIN)
			eventfd_read(l->ended, &n);
	}
}

int fll_loop(struct fuse_session *se, unsigned nthreads, unsigned poll_us,
	     const struct fll_loop_hooks *h)
{
	static const struct fll_loop_hooks none;
	struct loop l = { .se = se,
			  .fd = fuse_session_fd(se),
			  .poll_ns = (uint64_t)poll_us * 1000,
			  .h = h ? h : &none };
	struct worker w[MAX_THREADS] = { 0 };
	sigset_t stop, old;
	unsigned started = 0;
	int sigfd, r = 0;

	dm_payoff_init(&l.pays);
	if (sem_init(&l.wake, 0, 0) != 0)
		return -errno;
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	sigfd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
	l.ended = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sigfd < 0 || l.ended < 0) {
		r = -errno;
		goto out;
	}
	for (; started < nthreads; started++) {
		w[started].l = &l;
		if (dm_thread_start(&w[started].thread, work, &w[started]) != 0)
			break;
	}
	if (!started) {
		r = -EAGAIN;
		goto out;
	}
	wait_for_stop(&l, sigfd);
	if (l.h->drain)
		l.h->drain(l.h->arg);
	fuse_session_exit(se);
	for (unsigned i = 0; i < started; i++)
		pthread_cancel(w[i].thread);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(w[i].thread, NULL);
		free(w[i].buf.mem);
	}
	r = atomic_load(&l.error);
	fuse_session_reset(se);
out:
	if (sigfd >= 0)
		close(sigfd);
	if (l.ended >= 0)
		close(l.ended);
	sem_destroy(&l.wake);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}
