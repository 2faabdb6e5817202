/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The monotonic clock in nanoseconds, for measuring short intervals
 * (polling windows, gaps between requests).
 */
#ifndef DM_CLOCK_H
#define DM_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t dm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
