/*
 * test_watchdog.c: the watchdog's phase table.  Every legal move is
 * listed here once; every other (phase, input) pair must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "swarmd.h"

struct move {
	int from, input, to;
};

static const struct move moves[] = {
	/* Tier 1 fires only while watching. */
	{ W_WATCH, WI_RULE, W_TRIAGE },
	{ W_WATCH, WI_RULE_NO_HOOK, W_ESCALATED },
	/* Life or progress clears a suspect. */
	{ W_TRIAGE, WI_LIFE, W_WATCH },
	{ W_ESCALATED, WI_LIFE, W_WATCH },
	/* The hook fails only while it is asked. */
	{ W_TRIAGE, WI_TRIAGE_FAILED, W_ESCALATED },
	/* A handoff ends only in a handoff. */
	{ W_HANDOFF, WI_HANDOFF_ENDED, W_DONE },
	/* A verdict or a person, in every phase but done. */
	{ W_WATCH, WI_CONTINUE, W_WATCH },
	{ W_WATCH, WI_NUDGE, W_WATCH },
	{ W_WATCH, WI_RESTART, W_DONE },
	{ W_WATCH, WI_KILL, W_DONE },
	{ W_WATCH, WI_HANDOFF, W_HANDOFF },
	{ W_WATCH, WI_ESCALATE, W_ESCALATED },
	{ W_TRIAGE, WI_CONTINUE, W_WATCH },
	{ W_TRIAGE, WI_NUDGE, W_WATCH },
	{ W_TRIAGE, WI_RESTART, W_DONE },
	{ W_TRIAGE, WI_KILL, W_DONE },
	{ W_TRIAGE, WI_HANDOFF, W_HANDOFF },
	{ W_TRIAGE, WI_ESCALATE, W_ESCALATED },
	{ W_HANDOFF, WI_CONTINUE, W_WATCH },
	{ W_HANDOFF, WI_NUDGE, W_WATCH },
	{ W_HANDOFF, WI_RESTART, W_DONE },
	{ W_HANDOFF, WI_KILL, W_DONE },
	{ W_HANDOFF, WI_HANDOFF, W_HANDOFF },
	{ W_HANDOFF, WI_ESCALATE, W_ESCALATED },
	{ W_ESCALATED, WI_CONTINUE, W_WATCH },
	{ W_ESCALATED, WI_NUDGE, W_WATCH },
	{ W_ESCALATED, WI_RESTART, W_DONE },
	{ W_ESCALATED, WI_KILL, W_DONE },
	{ W_ESCALATED, WI_HANDOFF, W_HANDOFF },
	{ W_ESCALATED, WI_ESCALATE, W_ESCALATED },
};

/* The listed target of (P, IN), or W_INVALID when the pair is not listed. */
static int
expected(int p, int in)
{
	size_t i;

	for (i = 0; i < nitems(moves); i++) {
		if (moves[i].from == p && moves[i].input == in)
			return moves[i].to;
	}
	return W_INVALID;
}

/* Every cell, the refused ones included. */
static void
test_table(void **state)
{
	int p, in, got, want, cells = 0;

	(void)state;
	for (p = 0; p < W_NPHASES; p++) {
		for (in = 0; in < W_NINPUTS; in++) {
			got = watch_next(p, in);
			want = expected(p, in);
			if (got != want)
				fail_msg("%s on %s: got %d, want %d",
				    watch_phase_name(p), watch_input_name(in),
				    got, want);
			cells++;
		}
	}
	assert_int_equal(cells, W_NPHASES * W_NINPUTS);
}

/* Each move is listed once. */
static void
test_moves_unique(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < nitems(moves); i++) {
		for (j = i + 1; j < nitems(moves); j++) {
			if (moves[i].from == moves[j].from &&
			    moves[i].input == moves[j].input)
				fail_msg("move %zu listed again at %zu", i, j);
		}
	}
}

static void
test_out_of_range(void **state)
{
	(void)state;
	assert_int_equal(watch_next(W_INVALID, WI_RULE), W_INVALID);
	assert_int_equal(watch_next(W_NPHASES, WI_RULE), W_INVALID);
	assert_int_equal(watch_next(W_NPHASES + 100, WI_KILL), W_INVALID);
	assert_int_equal(
	    watch_next(W_WATCH, (enum watch_input) - 1), W_INVALID);
	assert_int_equal(watch_next(W_WATCH, W_NINPUTS), W_INVALID);
	assert_int_equal(watch_next(W_TRIAGE, W_NINPUTS + 1), W_INVALID);
}

/* Only done is final; every other phase can still move. */
static void
test_terminal(void **state)
{
	int p, in, n;

	(void)state;
	for (p = 0; p < W_NPHASES; p++) {
		n = 0;
		for (in = 0; in < W_NINPUTS; in++)
			n += watch_next(p, in) != W_INVALID;
		assert_int_equal(n == 0, p == W_DONE);
	}
}

static void
test_names(void **state)
{
	const char *phases[] = { "watch", "triage", "handoff", "escalated",
		"done" };
	const char *inputs[] = { "rule", "rule_no_hook", "life",
		"triage_failed", "continue", "nudge", "restart", "kill",
		"handoff", "escalate", "handoff_ended" };
	int i;

	(void)state;
	assert_int_equal(nitems(phases), W_NPHASES);
	assert_int_equal(nitems(inputs), W_NINPUTS);
	for (i = 0; i < W_NPHASES; i++)
		assert_string_equal(watch_phase_name(i), phases[i]);
	for (i = 0; i < W_NINPUTS; i++)
		assert_string_equal(watch_input_name(i), inputs[i]);
	assert_string_equal(watch_phase_name(W_INVALID), "invalid");
	assert_string_equal(watch_phase_name(W_NPHASES), "invalid");
	assert_string_equal(
	    watch_input_name((enum watch_input) - 1), "invalid");
	assert_string_equal(watch_input_name(W_NINPUTS), "invalid");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_moves_unique),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_terminal),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("watchdog", tests, NULL, NULL);
}
