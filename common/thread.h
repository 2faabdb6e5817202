/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helper threads that never take a signal: the thread that serves the
 * session reads the stop signals (a signalfd), and a signal delivered to
 * any other thread would interrupt it or be lost.
 */
#ifndef DM_THREAD_H
#define DM_THREAD_H

#include <pthread.h>

/* pthread_create() with every signal blocked in the new thread. */
int dm_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
