// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The PM QoS CPU latency request of a mount (see cpulat.h). The device
 * takes the latency bound in microseconds as a binary s32; writing the
 * kernel's default (2000 s) is as good as no request, and closing the
 * device (also when the process dies) withdraws it.
 */
#include "fusefs/cpulat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/thread.h"

#define CPULAT_DEVICE "/dev/cpu_dma_latency"
#define CPULAT_AWAKE 0 /* us: idle CPUs poll */
#define CPULAT_NONE 2000000000 /* us: the kernel's default, no bound */

struct fll_cpulat {
	int fd;
	pthread_t thread;
	pthread_mutex_t lock; /* covers stop and the device's state */
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	bool stop;
	atomic_bool held; /* the device holds CPULAT_AWAKE */
	_Atomic uint64_t last; /* when the latest request came (ns) */
};

static void put_bound(struct fll_cpulat *c, int32_t us)
{
	ssize_t n;

	do
		n = write(c->fd, &us, sizeof(us));
	while (n < 0 && errno == EINTR);
}

static struct timespec ts_of(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000u),
				  .tv_nsec = (long)(ns % 1000000000u) };
}

/* Lets go once FLL_CPULAT_HOLD_NS passed without a request. */
static void *keeper(void *arg)
{
	struct fll_cpulat *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		uint64_t due;
		struct timespec ts;

		if (!atomic_load(&c->held)) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		due = atomic_load(&c->last) + FLL_CPULAT_HOLD_NS;
		if (dm_now_ns() >= due) {
			put_bound(c, CPULAT_NONE);
			atomic_store(&c->held, false);
			continue;
		}
		ts = ts_of(due);
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

struct fll_cpulat *fll_cpulat_new(void)
{
	struct fll_cpulat *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (!c)
		return NULL;
	c->fd = open(CPULAT_DEVICE, O_WRONLY | O_CLOEXEC);
	if (c->fd < 0) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* opening the device made a request of the default: none yet */
	if (dm_thread_start(&c->thread, keeper, c) != 0) {
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
		close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

void fll_cpulat_free(struct fll_cpulat *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	close(c->fd); /* withdraws the request */
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void fll_cpulat_request(struct fll_cpulat *c, uint64_t now_ns, uint64_t gap_ns)
{
	if (!c)
		return;
	atomic_store(&c->last, now_ns);
	if (atomic_load(&c->held) || gap_ns >= FLL_CPULAT_HOLD_NS)
		return;
	pthread_mutex_lock(&c->lock);
	if (!c->stop && !atomic_load(&c->held)) {
		put_bound(c, CPULAT_AWAKE);
		atomic_store(&c->held, true);
		pthread_cond_signal(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
}

bool fll_cpulat_held(const struct fll_cpulat *c)
{
	return c && atomic_load(&c->held);
}
