/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whether a bet keeps paying: a moving average of the tries that won, for
 * a thread that polls for work instead of sleeping (a poll that finds a
 * request wins; one that times out cost its CPU time for nothing). Below
 * half, only one chance in DM_PAYOFF_RETRY tries again, to notice when the
 * bet starts paying again. One thread counts at a time; any may ask.
 */
#ifndef DM_PAYOFF_H
#define DM_PAYOFF_H

#include <stdatomic.h>
#include <stdbool.h>

#define DM_PAYOFF_SCALE 1024
#define DM_PAYOFF_RETRY 16

struct dm_payoff {
	atomic_int avg; /* of wins, DM_PAYOFF_SCALE: all of them */
	atomic_uint chances;
};

static inline void dm_payoff_init(struct dm_payoff *p)
{
	atomic_init(&p->avg, DM_PAYOFF_SCALE);
	atomic_init(&p->chances, 0);
}

static inline bool dm_payoff_try(struct dm_payoff *p)
{
	return atomic_load(&p->avg) >= DM_PAYOFF_SCALE / 2 ||
	       atomic_fetch_add(&p->chances, 1) % DM_PAYOFF_RETRY == 0;
}

/* Weighs the latest try an eighth. */
static inline void dm_payoff_count(struct dm_payoff *p, bool won)
{
	int a = atomic_load(&p->avg);

	atomic_store(&p->avg, won ? a + (DM_PAYOFF_SCALE - a) / 8 : a - a / 8);
}

#endif
