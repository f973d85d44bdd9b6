/*
 * test_route.c: the retry backoff.  Full jitter draws each delay from
 * [0, min(max, base * 2^(n-1))]: the top of that range doubles with each
 * attempt until it meets the bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "swarmd.h"

/* The largest of 2000 draws for attempt N: near the top of its range. */
static double
largest(int n, double base, double max)
{
	double d, top = 0;
	int i;

	for (i = 0; i < 2000; i++) {
		d = route_backoff(n, base, max);
		assert_true(d >= 0);
		if (d > top)
			top = d;
	}
	return top;
}

/*
 * Each range is [0, cap], cap doubling: the largest draw is at most the
 * cap and, over 2000 draws, above 90% of it (a miss has odds 0.9^2000).
 */
static void
test_doubles(void **state)
{
	double cap = 0.5, top;
	int n;

	(void)state;
	for (n = 1; n <= 5; n++, cap *= 2) {
		top = largest(n, 0.5, 100);
		if (top > cap || top < 0.9 * cap)
			fail_msg(
			    "attempt %d: largest delay %.3f, range [0, %.3f]",
			    n, top, cap);
	}
}

/* Past the bound the range stops growing. */
static void
test_bounded(void **state)
{
	double top;

	(void)state;
	top = largest(10, 0.5, 3);
	assert_true(top <= 3 && top > 2.7);
	/* The first attempt waits at most the base. */
	assert_true(largest(0, 0.5, 3) <= 0.5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubles),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
