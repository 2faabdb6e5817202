/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "common/thread.h"

#include <signal.h>

int dm_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int r;

	/* a new thread inherits the mask of the thread that creates it */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}
