// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests for fusefs/lean.h: when listings give files' attributes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "fusefs/lean.h"

/* How many of @n full replies with a file to spare list it as a probe. */
static unsigned probes(struct fll_lean *l, unsigned n)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++)
		k += fll_lean_probe(l);
	return k;
}

static void lean_until_a_file_is_looked_up(void **state)
{
	struct fll_lean l;

	fll_lean_init(&l);
	assert_false(fll_lean_full(&l));
	/* the lookup that turns it says so, once */
	assert_true(fll_lean_looked_up(&l));
	assert_true(fll_lean_full(&l));
	assert_false(fll_lean_looked_up(&l));
	assert_true(fll_lean_full(&l));
	fll_lean_free(&l);
}

static void full_probes_one_reply_in_four(void **state)
{
	struct fll_lean l;

	fll_lean_init(&l);
	fll_lean_looked_up(&l);
	for (int round = 0; round < 10; round++) {
		assert_int_equal(probes(&l, FLL_LEAN_PROBE_EVERY - 1), 0);
		assert_true(fll_lean_probe(&l));
		/* each probe is looked up: a reader that stats everything */
		fll_lean_looked_up(&l);
		assert_true(fll_lean_full(&l));
	}
	fll_lean_free(&l);
}

static void probes_nobody_asks_for_turn_it_lean(void **state)
{
	struct fll_lean l;

	fll_lean_init(&l);
	fll_lean_looked_up(&l);
	assert_int_equal(probes(&l,
				FLL_LEAN_PROBE_EVERY * (FLL_LEAN_QUIET - 1)),
			 FLL_LEAN_QUIET - 1);
	assert_true(fll_lean_full(&l));
	/* a lookup before the last probe keeps it full, and counts anew */
	fll_lean_looked_up(&l);
	assert_int_equal(probes(&l,
				FLL_LEAN_PROBE_EVERY * (FLL_LEAN_QUIET - 1)),
			 FLL_LEAN_QUIET - 1);
	assert_true(fll_lean_full(&l));
	assert_int_equal(probes(&l, FLL_LEAN_PROBE_EVERY), 1);
	assert_false(fll_lean_full(&l));
	/* and the next lookup turns it full again, from a fresh count */
	assert_true(fll_lean_looked_up(&l));
	assert_int_equal(probes(&l, FLL_LEAN_PROBE_EVERY - 1), 0);
	assert_true(fll_lean_probe(&l));
	fll_lean_free(&l);
}

static void lean_listings_handed_over_once(void **state)
{
	struct fll_lean l;
	uint64_t *dirs;
	size_t n;

	fll_lean_init(&l);
	fll_lean_listed(&l, 7);
	fll_lean_listed(&l, 7); /* the same listing's next reply */
	for (uint64_t d = 100; d < 1100; d++)
		fll_lean_listed(&l, d);
	n = fll_lean_take(&l, &dirs);
	assert_int_equal(n, 1001);
	assert_int_equal(dirs[0], 7);
	assert_int_equal(dirs[1], 100);
	assert_int_equal(dirs[1000], 1099);
	free(dirs);
	assert_int_equal(fll_lean_take(&l, &dirs), 0);
	free(dirs);
	fll_lean_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lean_until_a_file_is_looked_up),
		cmocka_unit_test(full_probes_one_reply_in_four),
		cmocka_unit_test(probes_nobody_asks_for_turn_it_lean),
		cmocka_unit_test(lean_listings_handed_over_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
