/*
 * test_lifecycle.c: the chunk and agent lifecycle tables, and the table
 * of what an agent's end makes of its chunk.  Every legal transition is
 * listed here once; every other (state, input) pair must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "swarmd.h"

struct move {
	int from, input, to, action;
};

static const struct move chunk_moves[] = {
	{ CHUNK_QUEUED, CI_DISPATCH, CHUNK_RUNNING, CA_DISPATCH },
	{ CHUNK_QUEUED, CI_DROP, CHUNK_ABORTED, CA_NONE },
	{ CHUNK_RUNNING, CI_EXIT_OK, CHUNK_DONE, CA_OUTPUT },
	{ CHUNK_RUNNING, CI_EXIT_FAIL, CHUNK_FAILED, CA_NONE },
	{ CHUNK_RUNNING, CI_ABORT, CHUNK_ABORTED, CA_NONE },
	{ CHUNK_RUNNING, CI_REQUEUE, CHUNK_QUEUED, CA_NONE },
	{ CHUNK_RUNNING, CI_DEADLETTER, CHUNK_DEAD, CA_NONE },
	{ CHUNK_FAILED, CI_DEADLETTER, CHUNK_DEAD, CA_NONE },
	{ CHUNK_DEAD, CI_RETRY, CHUNK_QUEUED, CA_NONE },
	{ CHUNK_RUNNING, CI_GATE, CHUNK_GATING, CA_OUTPUT },
	{ CHUNK_GATING, CI_GATE_PASS, CHUNK_DONE, CA_NONE },
	{ CHUNK_GATING, CI_GATE_FAIL, CHUNK_FAILED, CA_NONE },
	{ CHUNK_GATING, CI_ABORT, CHUNK_ABORTED, CA_NONE },
	{ CHUNK_GATING, CI_GATE_MERGE, CHUNK_MERGING, CA_NONE },
	{ CHUNK_MERGING, CI_MERGED, CHUNK_MERGED, CA_NONE },
	{ CHUNK_MERGING, CI_MERGE_FAIL, CHUNK_FAILED, CA_NONE },
	{ CHUNK_MERGING, CI_ABORT, CHUNK_ABORTED, CA_NONE },
	{ CHUNK_FAILED, CI_RETRY, CHUNK_QUEUED, CA_NONE },
	{ CHUNK_ABORTED, CI_RETRY, CHUNK_QUEUED, CA_NONE },
};

static const struct move agent_moves[] = {
	{ AGENT_STARTING, AI_SPAWNED, AGENT_RUNNING, AA_STARTED },
	{ AGENT_STARTING, AI_SPAWN_FAILED, AGENT_EXITED, AA_ENDED },
	{ AGENT_STARTING, AI_EXIT, AGENT_EXITED, AA_ENDED },
	{ AGENT_STARTING, AI_KILLED, AGENT_KILLED, AA_ENDED },
	{ AGENT_RUNNING, AI_SUSPECT, AGENT_SUSPECT, AA_STATE },
	{ AGENT_RUNNING, AI_EXIT, AGENT_EXITED, AA_ENDED },
	{ AGENT_RUNNING, AI_KILLED, AGENT_KILLED, AA_ENDED },
	{ AGENT_SUSPECT, AI_CLEAR, AGENT_RUNNING, AA_STATE },
	{ AGENT_SUSPECT, AI_EXIT, AGENT_EXITED, AA_ENDED },
	{ AGENT_SUSPECT, AI_KILLED, AGENT_KILLED, AA_ENDED },
};

/* The listed move of (S, IN), or NULL when the pair is not listed. */
static const struct move *
listed(const struct move *m, size_t n, int s, int in)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (m[i].from == s && m[i].input == in)
			return &m[i];
	}
	return NULL;
}

/* The listed target of (S, IN), or INVALID when the pair is not listed. */
static int
expected(const struct move *m, size_t n, int s, int in, int invalid)
{
	const struct move *l = listed(m, n, s, in);

	return l != NULL ? l->to : invalid;
}

/* The listed action of (S, IN); a refused pair has none (0). */
static int
expected_action(const struct move *m, size_t n, int s, int in)
{
	const struct move *l = listed(m, n, s, in);

	return l != NULL ? l->action : 0;
}

static void
test_chunk_table(void **state)
{
	int s, in, got, want;

	(void)state;
	for (s = 0; s < CHUNK_NSTATES; s++) {
		for (in = 0; in < CHUNK_NINPUTS; in++) {
			got = chunk_next(s, in);
			want = expected(chunk_moves, nitems(chunk_moves), s, in,
			    CHUNK_INVALID);
			if (got != want)
				fail_msg(
				    "chunk %s on input %d: got %d, want %d",
				    chunk_state_name(s), in, got, want);
			got = chunk_action(s, in);
			want = expected_action(
			    chunk_moves, nitems(chunk_moves), s, in);
			if (got != want)
				fail_msg(
				    "chunk %s on input %d: action %d, want %d",
				    chunk_state_name(s), in, got, want);
		}
	}
}

static void
test_chunk_out_of_range(void **state)
{
	(void)state;
	assert_int_equal(chunk_next(CHUNK_INVALID, CI_DISPATCH), CHUNK_INVALID);
	assert_int_equal(chunk_next(CHUNK_NSTATES, CI_DISPATCH), CHUNK_INVALID);
	assert_int_equal(
	    chunk_next(CHUNK_NSTATES + 100, CI_RETRY), CHUNK_INVALID);
	assert_int_equal(
	    chunk_next(CHUNK_QUEUED, (enum chunk_input) - 1), CHUNK_INVALID);
	assert_int_equal(
	    chunk_next(CHUNK_QUEUED, CHUNK_NINPUTS), CHUNK_INVALID);
	assert_int_equal(
	    chunk_next(CHUNK_FAILED, CHUNK_NINPUTS + 1), CHUNK_INVALID);
}

/* Only done and merged are final; every other state can still move. */
static void
test_chunk_terminal(void **state)
{
	int s, in, moves;

	(void)state;
	for (s = 0; s < CHUNK_NSTATES; s++) {
		moves = 0;
		for (in = 0; in < CHUNK_NINPUTS; in++)
			moves += chunk_next(s, in) != CHUNK_INVALID;
		assert_int_equal(
		    moves == 0, s == CHUNK_DONE || s == CHUNK_MERGED);
	}
}

static void
test_chunk_names(void **state)
{
	const char *names[] = { "queued", "running", "done", "failed",
		"aborted", "dead", "gating", "merging", "merged" };
	int s;

	(void)state;
	assert_int_equal(nitems(names), CHUNK_NSTATES);
	for (s = 0; s < CHUNK_NSTATES; s++) {
		assert_string_equal(chunk_state_name(s), names[s]);
		assert_int_equal(chunk_state_parse(names[s]), s);
	}
	assert_string_equal(chunk_state_name(CHUNK_INVALID), "invalid");
	assert_string_equal(chunk_state_name(CHUNK_NSTATES), "invalid");
	assert_int_equal(chunk_state_parse("invalid"), CHUNK_INVALID);
	assert_int_equal(chunk_state_parse(""), CHUNK_INVALID);
	assert_int_equal(chunk_state_parse("Queued"), CHUNK_INVALID);
	assert_int_equal(chunk_state_parse("done "), CHUNK_INVALID);
}

static void
test_agent_table(void **state)
{
	int s, in, got, want;

	(void)state;
	for (s = 0; s < AGENT_NSTATES; s++) {
		for (in = 0; in < AGENT_NINPUTS; in++) {
			got = agent_next(s, in);
			want = expected(agent_moves, nitems(agent_moves), s, in,
			    AGENT_INVALID);
			if (got != want)
				fail_msg(
				    "agent %s on input %d: got %d, want %d",
				    agent_state_name(s), in, got, want);
			got = agent_action(s, in);
			want = expected_action(
			    agent_moves, nitems(agent_moves), s, in);
			if (got != want)
				fail_msg(
				    "agent %s on input %d: action %d, want %d",
				    agent_state_name(s), in, got, want);
		}
	}
}

static void
test_agent_out_of_range(void **state)
{
	(void)state;
	assert_int_equal(agent_next(AGENT_INVALID, AI_EXIT), AGENT_INVALID);
	assert_int_equal(agent_next(AGENT_NSTATES, AI_EXIT), AGENT_INVALID);
	assert_int_equal(
	    agent_next(AGENT_RUNNING, (enum agent_input) - 1), AGENT_INVALID);
	assert_int_equal(
	    agent_next(AGENT_RUNNING, AGENT_NINPUTS), AGENT_INVALID);
}

/* Exited and killed are final; the others can still move. */
static void
test_agent_terminal(void **state)
{
	int s, in, moves;

	(void)state;
	for (s = 0; s < AGENT_NSTATES; s++) {
		moves = 0;
		for (in = 0; in < AGENT_NINPUTS; in++)
			moves += agent_next(s, in) != AGENT_INVALID;
		assert_int_equal(
		    moves == 0, s == AGENT_EXITED || s == AGENT_KILLED);
	}
}

static void
test_agent_names(void **state)
{
	const char *names[] = { "starting", "running", "suspect", "exited",
		"killed" };
	int s;

	(void)state;
	assert_int_equal(nitems(names), AGENT_NSTATES);
	for (s = 0; s < AGENT_NSTATES; s++)
		assert_string_equal(agent_state_name(s), names[s]);
	assert_string_equal(agent_state_name(AGENT_INVALID), "invalid");
	assert_string_equal(agent_state_name(AGENT_NSTATES), "invalid");
}

static void
test_agent_parse_id(void **state)
{
	int64_t id = -5;

	(void)state;
	assert_int_equal(agent_parse_id("agent-17", &id), 0);
	assert_int_equal(id, 17);
	assert_int_equal(agent_parse_id("agent-9223372036854775807", &id), 0);
	assert_true(id == INT64_MAX);
	id = -5;
	assert_int_equal(agent_parse_id(NULL, &id), -1);
	assert_int_equal(agent_parse_id("agent-", &id), -1);
	assert_int_equal(agent_parse_id("agent-0", &id), -1);
	assert_int_equal(agent_parse_id("agent--1", &id), -1);
	assert_int_equal(agent_parse_id("agent-1x", &id), -1);
	assert_int_equal(agent_parse_id("Agent-1", &id), -1);
	assert_int_equal(agent_parse_id("job-1", &id), -1);
	assert_int_equal(agent_parse_id("17", &id), -1);
	assert_int_equal(id, -5);
}

/*
 * The outcome of an end, written as rules rather than as a table, to
 * check every cell of agent-end.c's table against.
 */
static struct agent_outcome
outcome_rule(int e, int x, int valid)
{
	struct agent_outcome o = { AI_EXIT, CI_EXIT_FAIL, FAIL_UNKNOWN };

	switch (e) {
	case END_DONE:
		return (
		    struct agent_outcome){ AI_EXIT, CHUNK_NINPUTS, FAIL_NONE };
	case END_SPAWN_FAILED:
		o.agent = AI_SPAWN_FAILED;
		return o;
	case END_TIMED_OUT:
		return (struct agent_outcome){ AI_KILLED, CI_EXIT_FAIL,
			FAIL_TRANSIENT };
	case END_ABORTED:
		return (struct agent_outcome){ AI_KILLED, CI_ABORT, FAIL_NONE };
	case END_RESTARTED:
	case END_INTERRUPTED:
		return (
		    struct agent_outcome){ AI_KILLED, CI_REQUEUE, FAIL_NONE };
	case END_KILLED:
		return (struct agent_outcome){ AI_KILLED, CI_DEADLETTER,
			FAIL_NONE };
	case END_LOST:
		o.chunk = valid ? CI_EXIT_OK : CI_REQUEUE;
		o.cls = FAIL_NONE;
		return o;
	case END_FAILED_ACCOUNT:
		/* The agent's word stands; only a valid result unseen wins. */
		if (x == EXIT_UNSEEN && valid)
			return (struct agent_outcome){ AI_EXIT, CI_EXIT_OK,
				FAIL_NONE };
		o.cls = FAIL_ACCOUNT;
		return o;
	}
	/* none, failed, failed transient: the exit speaks */
	if (x == EXIT_UNSEEN || (e == END_NONE && x == EXIT_ZERO)) {
		if (valid)
			return (struct agent_outcome){ AI_EXIT, CI_EXIT_OK,
				FAIL_NONE };
		o.cls = x == EXIT_UNSEEN ? FAIL_TRANSIENT : FAIL_SCHEMA;
	} else if (x == EXIT_SIGKILL || e == END_FAILED_TRANSIENT)
		o.cls = FAIL_TRANSIENT;
	return o;
}

static void
test_outcome_table(void **state)
{
	const struct agent_outcome *got;
	struct agent_outcome want;
	int e, x, v, differ;

	(void)state;
	for (e = 0; e < AGENT_NENDS; e++) {
		for (x = 0; x < AGENT_NEXITS; x++) {
			for (v = 0; v < 2; v++) {
				got = agent_outcome(e, x, v);
				want = outcome_rule(e, x, v);
				assert_non_null(got);
				if (got->agent != want.agent ||
				    got->chunk != want.chunk ||
				    got->cls != want.cls)
					fail_msg("end %s, exit %d, valid %d: "
					         "got %d/%d/%d want %d/%d/%d",
					    agent_end_name(e), x, v, got->agent,
					    got->chunk, got->cls, want.agent,
					    want.chunk, want.cls);
			}
			want = outcome_rule(e, x, 0);
			got = agent_outcome(e, x, 1);
			differ = want.agent != got->agent ||
			    want.chunk != got->chunk || want.cls != got->cls;
			assert_int_equal(
			    agent_outcome_needs_result(e, x), differ);
		}
	}
	assert_null(agent_outcome(AGENT_NENDS, EXIT_ZERO, 1));
	assert_null(agent_outcome(END_NONE, AGENT_NEXITS, 1));
	assert_null(agent_outcome((enum agent_end) - 1, EXIT_ZERO, 0));
	assert_int_equal(agent_outcome_needs_result(AGENT_NENDS, EXIT_ZERO), 0);
}

/* Set E with REASON on A; return whether it took. */
static int
end_set(struct agent *a, int e, const char *reason)
{
	return agent_end_set(a, e, reason);
}

static void
test_end_ranks(void **state)
{
	struct agent a;

	(void)state;
	memset(&a, 0, sizeof a);
	/* A failure report may be revised, and an abort outranks it. */
	assert_int_equal(end_set(&a, END_FAILED, "first"), 1);
	assert_int_equal(end_set(&a, END_FAILED_TRANSIENT, "second"), 1);
	assert_int_equal(a.end, END_FAILED_TRANSIENT);
	assert_string_equal(a.end_reason, "second");
	assert_int_equal(end_set(&a, END_TIMED_OUT, NULL), 1);
	assert_null(a.end_reason);
	assert_int_equal(end_set(&a, END_FAILED, "late"), 0);
	assert_int_equal(end_set(&a, END_ABORTED, "operator"), 1);
	/* The first abort's word stands. */
	assert_int_equal(end_set(&a, END_KILLED, "watchdog"), 0);
	assert_int_equal(end_set(&a, END_TIMED_OUT, NULL), 0);
	assert_int_equal(a.end, END_ABORTED);
	assert_string_equal(a.end_reason, "operator");
	assert_true(agent_is_aborting(&a));
	assert_true(agent_is_ending(&a));
	/* A stop outranks an abort; done outranks everything. */
	assert_int_equal(end_set(&a, END_INTERRUPTED, NULL), 1);
	assert_false(agent_is_aborting(&a));
	assert_true(agent_is_ending(&a));
	assert_int_equal(end_set(&a, END_DONE, NULL), 1);
	assert_int_equal(end_set(&a, END_ABORTED, "too late"), 0);
	assert_int_equal(end_set(&a, END_DONE, NULL), 0);
	assert_int_equal(a.end, END_DONE);
	assert_true(agent_is_ending(&a));
	free(a.end_reason);

	memset(&a, 0, sizeof a);
	assert_false(agent_is_ending(&a));
	assert_int_equal(end_set(&a, END_TIMED_OUT, NULL), 1);
	assert_false(agent_is_ending(&a));
	assert_int_equal(end_set(&a, END_RESTARTED, "handoff"), 1);
	assert_true(agent_is_aborting(&a));
	free(a.end_reason);
}

static void
test_end_names(void **state)
{
	int e;

	(void)state;
	for (e = 0; e < AGENT_NENDS; e++)
		assert_string_not_equal(agent_end_name(e), "invalid");
	assert_string_equal(agent_end_name(AGENT_NENDS), "invalid");
	assert_string_equal(agent_end_name(END_DONE), "done");
}

/*
 * The word ps --all and show print: every outcome of the table has one,
 * and it is done exactly where the outcome leaves the chunk done.
 */
static void
test_end_words(void **state)
{
	const struct agent_outcome *o;
	const char *w;
	int e, x, v;

	(void)state;
	for (e = 0; e < AGENT_NENDS; e++)
		for (x = 0; x < AGENT_NEXITS; x++)
			for (v = 0; v < 2; v++) {
				o = agent_outcome(e, x, v);
				w = agent_end_word(e, o->chunk);
				assert_string_not_equal(w, "invalid");
				assert_int_equal(strcmp(w, "done") == 0,
				    o->chunk == CI_EXIT_OK || e == END_DONE);
			}
	assert_string_equal(
	    agent_end_word(END_TIMED_OUT, CI_EXIT_FAIL), "timed out");
	assert_string_equal(agent_end_word(END_ABORTED, CI_ABORT), "aborted");
	assert_string_equal(
	    agent_end_word(END_KILLED, CI_DEADLETTER), "killed");
	assert_string_equal(agent_end_word(END_NONE, CI_EXIT_FAIL), "failed");
	assert_string_equal(agent_end_word(END_LOST, CI_REQUEUE), "lost");
	assert_string_equal(agent_end_word(AGENT_NENDS, CI_EXIT_OK), "invalid");
}

/*
 * The worktree table, as worktree.c's head describes it: every listed
 * move and no other.  Running is left only on its agent's end, and
 * removal only from kept: a worktree with an agent in it, or an
 * attempt not yet settled, is never removed.
 */
static const struct move wt_moves[] = {
	{ WT_PREPARING, WI_READY, WT_RUNNING, WA_MADE },
	{ WT_PREPARING, WI_END, WT_SETTLING, WA_NONE },
	{ WT_RUNNING, WI_END, WT_SETTLING, WA_NONE },
	{ WT_SETTLING, WI_SETTLED, WT_KEPT, WA_NONE },
	{ WT_KEPT, WI_PREPARE, WT_PREPARING, WA_ATTEMPT },
	{ WT_KEPT, WI_REMOVE, WT_REMOVING, WA_NONE },
	{ WT_REMOVING, WI_SETTLED, WT_KEPT, WA_NONE },
	{ WT_REMOVING, WI_GONE, WT_REMOVED, WA_UNMADE },
	{ WT_REMOVED, WI_PREPARE, WT_PREPARING, WA_ATTEMPT },
};

static void
test_worktree_table(void **state)
{
	int s, in, got, want;

	(void)state;
	for (s = 0; s < WT_NSTATES; s++) {
		for (in = 0; in < WT_NINPUTS; in++) {
			got = worktree_next(s, in);
			want = expected(
			    wt_moves, nitems(wt_moves), s, in, WT_INVALID);
			if (got != want)
				fail_msg(
				    "worktree %s on input %d: got %d, want %d",
				    worktree_state_name(s), in, got, want);
		}
	}
	assert_int_equal(worktree_next(WT_INVALID, WI_END), WT_INVALID);
	assert_int_equal(worktree_next(WT_KEPT, WT_NINPUTS), WT_INVALID);
	assert_string_equal(worktree_state_name(WT_SETTLING), "settling");
	assert_string_equal(worktree_state_name(WT_NSTATES), "invalid");
}

/*
 * The merge queue's entries, as merge.c's head describes them: a
 * landing entry is settled only by git's answer (merged, or back to
 * the queue), never rejected or dropped, and merged is final.
 */
static const struct move merge_moves[] = {
	{ MS_QUEUED, MI_TAKE, MS_TESTING, MA_NONE },
	{ MS_QUEUED, MI_DROP, MS_DROPPED, MA_NONE },
	{ MS_TESTING, MI_LAND, MS_LANDING, MA_TIP },
	{ MS_TESTING, MI_LANDED, MS_MERGED, MA_TIP },
	{ MS_TESTING, MI_BACK, MS_QUEUED, MA_ROUND },
	{ MS_TESTING, MI_REJECT, MS_REJECTED, MA_NONE },
	{ MS_TESTING, MI_DROP, MS_DROPPED, MA_NONE },
	{ MS_LANDING, MI_LANDED, MS_MERGED, MA_NONE },
	{ MS_LANDING, MI_BACK, MS_QUEUED, MA_ROUND },
};

static void
test_merge_table(void **state)
{
	int s, in, got, want;

	(void)state;
	for (s = 0; s < MS_NSTATES; s++) {
		for (in = 0; in < MI_NINPUTS; in++) {
			got = merge_next(s, in);
			want = expected(merge_moves, nitems(merge_moves), s, in,
			    MS_INVALID);
			if (got != want)
				fail_msg(
				    "merge %s on input %d: got %d, want %d",
				    merge_state_name(s), in, got, want);
		}
	}
	assert_int_equal(merge_next(MS_INVALID, MI_TAKE), MS_INVALID);
	assert_int_equal(merge_next(MS_QUEUED, MI_NINPUTS), MS_INVALID);
	assert_string_equal(merge_state_name(MS_LANDING), "landing");
	assert_string_equal(merge_state_name(MS_NSTATES), "invalid");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_table),
		cmocka_unit_test(test_chunk_out_of_range),
		cmocka_unit_test(test_chunk_terminal),
		cmocka_unit_test(test_chunk_names),
		cmocka_unit_test(test_agent_table),
		cmocka_unit_test(test_agent_out_of_range),
		cmocka_unit_test(test_agent_terminal),
		cmocka_unit_test(test_agent_names),
		cmocka_unit_test(test_end_words),
		cmocka_unit_test(test_agent_parse_id),
		cmocka_unit_test(test_outcome_table),
		cmocka_unit_test(test_end_ranks),
		cmocka_unit_test(test_end_names),
		cmocka_unit_test(test_worktree_table),
		cmocka_unit_test(test_merge_table),
	};

	return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
