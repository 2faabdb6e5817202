// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests for common/payoff.h: when polling is still worth trying. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/payoff.h"

/* How many of @n chances dm_payoff_try() takes. */
static unsigned taken(struct dm_payoff *p, unsigned n)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++)
		k += dm_payoff_try(p);
	return k;
}

static void a_new_bet_is_tried_every_time(void **state)
{
	struct dm_payoff p;

	dm_payoff_init(&p);
	assert_int_equal(taken(&p, 100), 100);
}

static void wins_keep_it_tried(void **state)
{
	struct dm_payoff p;

	dm_payoff_init(&p);
	for (int i = 0; i < 1000; i++)
		dm_payoff_count(&p, true);
	assert_int_equal(taken(&p, 64), 64);
	/* one loss in three does not stop it either */
	for (int i = 0; i < 300; i++)
		dm_payoff_count(&p, i % 3 != 0);
	assert_int_equal(taken(&p, 64), 64);
}

static void losses_leave_one_chance_in_sixteen(void **state)
{
	struct dm_payoff p;

	dm_payoff_init(&p);
	/* an eighth per loss: from all to below half takes six losses */
	for (int i = 0; i < 5; i++)
		dm_payoff_count(&p, false);
	assert_int_equal(taken(&p, 64), 64);
	dm_payoff_count(&p, false);
	assert_int_equal(taken(&p, 16 * 10), 10);
}

static void wins_after_losses_bring_it_back(void **state)
{
	struct dm_payoff p;

	dm_payoff_init(&p);
	for (int i = 0; i < 100; i++)
		dm_payoff_count(&p, false);
	assert_true(taken(&p, 64) < 64);
	for (int i = 0; i < 8; i++)
		dm_payoff_count(&p, true);
	assert_int_equal(taken(&p, 64), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_new_bet_is_tried_every_time),
		cmocka_unit_test(wins_keep_it_tried),
		cmocka_unit_test(losses_leave_one_chance_in_sixteen),
		cmocka_unit_test(wins_after_losses_bring_it_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
