/*
 * test_pace.c: the proxy's copy of an upstream's buckets: the rate-limit
 * headers of both APIs read into it, a sole answer taken as the truth and
 * a crowded one only pulling it down, refill at limit/60 a second, the
 * wait a request must make, and settling an estimate by the real usage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "swarmd.h"

static void
learn(struct pace *p, int sole, int64_t now, const char **hdr)
{
	struct pace_seen s;

	memset(&s, 0, sizeof s);
	for (; *hdr != NULL; hdr += 2)
		pace_header(&s, hdr[0], hdr[1]);
	pace_learn(p, &s, sole, now);
}

static void
test_headers(void **state)
{
	struct pace_seen s;
	int k, f;

	(void)state;
	memset(&s, 0, sizeof s);
	assert_int_equal(
	    pace_header(&s, "anthropic-ratelimit-input-tokens-limit", "2000"),
	    1);
	assert_int_equal(
	    pace_header(&s, "Anthropic-RateLimit-Tokens-Remaining", "1000"), 1);
	assert_int_equal(
	    pace_header(&s, "x-ratelimit-remaining-requests", "7"), 1);
	assert_int_equal(
	    pace_header(&s, "x-ratelimit-limit-tokens", "90000"), 1);
	/* Resets are not read; others are not ours; junk is refused. */
	assert_int_equal(pace_header(&s, "anthropic-ratelimit-tokens-reset",
	                     "2026-01-01T00:00:00Z"),
	    0);
	assert_int_equal(pace_header(&s, "retry-after", "3"), 0);
	assert_int_equal(
	    pace_header(&s, "anthropic-ratelimit-tokens-limit", "lots"), 0);
	assert_int_equal(
	    pace_header(&s, "anthropic-ratelimit-widgets-limit", "5"), 0);
	/* The name alone, resets included, for the upstream's view. */
	assert_int_equal(
	    pace_header_name("x-ratelimit-reset-tokens", &k, &f), 1);
	assert_int_equal(k, PACE_TOKENS);
	assert_int_equal(f, PACE_RESET);
	assert_int_equal(
	    pace_header_name(
	        "anthropic-ratelimit-output-tokens-remaining", &k, &f),
	    1);
	assert_int_equal(k, PACE_OUTPUT);
	assert_int_equal(f, PACE_REMAINING);
	assert_int_equal(
	    pace_header_name("anthropic-ratelimit-tokens", &k, &f), 0);
	assert_int_equal(pace_header_name("x-ratelimit-limit", &k, &f), 0);
	assert_true(s.limit[PACE_INPUT] == 2000);
	assert_int_equal(s.seen[PACE_INPUT], 1);
	assert_true(s.remaining[PACE_TOKENS] == 1000);
	assert_int_equal(s.seen[PACE_TOKENS], 3); /* both APIs: 1 | 2 */
	assert_true(s.remaining[PACE_REQUESTS] == 7);
	assert_true(s.limit[PACE_TOKENS] == 90000);
	assert_int_equal(s.seen[PACE_OUTPUT], 0);
}

static void
test_learn_and_wait(void **state)
{
	const char *h[] = { "anthropic-ratelimit-tokens-limit", "60000",
		"anthropic-ratelimit-tokens-remaining", "6000", NULL };
	struct pace_cost c;
	struct pace p;

	(void)state;
	pace_init(&p, 0, 0);
	/* Nothing known: nothing waits. */
	pace_estimate(&p, 400, 100, &c);
	assert_true(c.v[PACE_INPUT] == 100);  /* four bytes a token */
	assert_true(c.v[PACE_OUTPUT] == 100); /* capped by max_tokens */
	assert_int_equal(pace_wait(&p, &c, 0), 0);

	/* A sole answer says the level: 6,000 of 60,000, refilling 1/ms. */
	learn(&p, 1, 0, h);
	c.v[PACE_TOKENS] = 8000;
	assert_int_equal(pace_wait(&p, &c, 0), 2000);
	assert_int_equal(pace_wait(&p, &c, 1500), 500);
	assert_int_equal(pace_wait(&p, &c, 2000), 0);
	/* Never above the limit. */
	assert_int_equal(pace_wait(&p, &c, 600000), 0);
	assert_true(p.b[PACE_TOKENS].level == 60000);

	/* A charge is a debt the refill pays off. */
	c.v[PACE_TOKENS] = 60000;
	pace_charge(&p, &c, 1);
	c.v[PACE_TOKENS] = 1000;
	assert_int_equal(pace_wait(&p, &c, 600000), 1000);
	pace_charge(&p, &c, -1);
	assert_true(p.b[PACE_TOKENS].level == 1000);
	/* A cost above the limit waits for a full bucket, no more. */
	c.v[PACE_TOKENS] = 1e9;
	assert_int_equal(pace_wait(&p, &c, 600000), 59000);
}

static void
test_crowded(void **state)
{
	const char *low[] = { "anthropic-ratelimit-tokens-limit", "60000",
		"anthropic-ratelimit-tokens-remaining", "30000", NULL };
	const char *near[] = { "anthropic-ratelimit-tokens-limit", "60000",
		"anthropic-ratelimit-tokens-remaining", "49500", NULL };
	struct pace p;

	(void)state;
	pace_init(&p, 0, 0);
	learn(&p, 0, 0, low); /* first sight: the limit, then the level */
	assert_true(p.b[PACE_TOKENS].known);
	assert_true(p.b[PACE_TOKENS].level == 30000);
	p.b[PACE_TOKENS].level = 50000;
	/* Within the rounding of thousands: left alone. */
	learn(&p, 0, 0, near);
	assert_true(p.b[PACE_TOKENS].level == 50000);
	/* Clearly lower: someone else spends; pulled down.  Never up. */
	learn(&p, 0, 0, low);
	assert_true(p.b[PACE_TOKENS].level == 30000);
	p.b[PACE_TOKENS].level = 1000;
	learn(&p, 0, 0, low);
	assert_true(p.b[PACE_TOKENS].level == 1000);
}

static void
test_settle(void **state)
{
	const char *h[] = { "anthropic-ratelimit-tokens-limit", "60000",
		"anthropic-ratelimit-tokens-remaining", "60000", NULL };
	struct usage u = { 300, 50, 100, 5000 };
	struct pace_cost c;
	struct pace p;

	(void)state;
	pace_init(&p, 120000, 0);
	assert_true(p.b[PACE_ACCOUNT].known); /* [quota] tokens_per_minute */
	/* A reload: smaller keeps no more than it may hold; 0 forgets it. */
	pace_account(&p, 60000);
	assert_true(p.b[PACE_ACCOUNT].level == 60000);
	pace_account(&p, 0);
	assert_false(p.b[PACE_ACCOUNT].known);
	pace_account(&p, 120000);
	assert_true(p.b[PACE_ACCOUNT].level == 120000);
	learn(&p, 1, 0, h);
	pace_estimate(&p, 4000, 4096, &c);
	assert_true(c.v[PACE_TOKENS] == 1000 + 1024);
	pace_charge(&p, &c, 1);
	/* Input + cache writes + output; cache reads are free. */
	pace_settle(&p, &c, &u, 4000, 0);
	assert_true(p.b[PACE_TOKENS].level == 60000 - 450);
	assert_true(p.b[PACE_ACCOUNT].level == 120000 - 450);
	/* The next estimate has learned: 400 of 4,000 bytes, 50 out. */
	pace_estimate(&p, 8000, 4096, &c);
	assert_true(c.v[PACE_INPUT] == 800);
	assert_true(c.v[PACE_OUTPUT] == 50);
	/* Settled by the headers already: only the learning. */
	pace_charge(&p, &c, 1);
	pace_settle(&p, &c, &u, 0, 1);
	assert_true(p.b[PACE_TOKENS].level == 60000 - 450 - 850);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_learn_and_wait),
		cmocka_unit_test(test_crowded),
		cmocka_unit_test(test_settle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
