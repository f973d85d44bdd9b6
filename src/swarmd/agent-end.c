/*
 * agent-end.c: why an agent ends, and what that makes of its chunk.
 *
 * An agent's end is one value (enum agent_end), set when its cause is
 * known: the agent's own word (done, fail), swarmd's (an abort, a
 * timeout, a stop) or recovery's (lost).  Causes rank: a later one
 * replaces an earlier one only when it ranks higher, so an abort outranks
 * a failure report and a stop outranks an abort.
 *
 * When the agent is gone, one table maps (end, how it exited, whether its
 * result holds) to the agent's input, the chunk's input and the failure
 * class; the chunk's table (chunk.c) takes it from there.
 */
#include <stdlib.h>

#include "swarmd.h"

static const struct {
	const char *name;
	int rank;
} ends[AGENT_NENDS] = {
	[END_NONE] = { "none", 0 },
	[END_FAILED] = { "failed", 1 },
	[END_FAILED_TRANSIENT] = { "failed transient", 1 },
	[END_FAILED_ACCOUNT] = { "failed account", 1 },
	[END_TIMED_OUT] = { "timed out", 2 },
	[END_ABORTED] = { "aborted", 3 },
	[END_RESTARTED] = { "restarted", 3 },
	[END_KILLED] = { "killed", 3 },
	[END_INTERRUPTED] = { "interrupted", 4 },
	[END_LOST] = { "lost", 5 },
	[END_SPAWN_FAILED] = { "spawn failed", 5 },
	[END_DONE] = { "done", 6 },
};

/* Failure reports may be revised; any other cause keeps its first word. */
#define RANK_REVISABLE 1

const char *
agent_end_name(enum agent_end e)
{
	return (int)e >= 0 && e < AGENT_NENDS ? ends[e].name : "invalid";
}

/*
 * How an ended agent ended, in one word for ps --all and show: its end,
 * and where its exit decided (no end of its own, lost, a failure report
 * whose result held after all) what the exit made of its chunk: CI, the
 * chunk's input from agent_outcome(); done when its chunk is done.
 */
const char *
agent_end_word(enum agent_end e, enum chunk_input ci)
{
	static const char *words[AGENT_NENDS] = {
		[END_NONE] = "failed",
		[END_FAILED] = "failed",
		[END_FAILED_TRANSIENT] = "failed",
		[END_FAILED_ACCOUNT] = "failed",
		[END_TIMED_OUT] = "timed out",
		[END_ABORTED] = "aborted",
		[END_RESTARTED] = "restarted",
		[END_KILLED] = "killed",
		[END_INTERRUPTED] = "interrupted",
		[END_LOST] = "lost",
		[END_SPAWN_FAILED] = "spawn failed",
		[END_DONE] = "done",
	};

	if ((int)e < 0 || e >= AGENT_NENDS || words[e] == NULL)
		return "invalid";
	if (ci == CI_EXIT_OK)
		return "done";
	return words[e];
}

/* 1 when E became the agent's end, 0 when its end ranks as high already. */
int
agent_end_set(struct agent *a, enum agent_end e, const char *reason)
{
	int r = ends[e].rank, cur = ends[a->end].rank;

	if (r < cur || (r == cur && r != RANK_REVISABLE))
		return 0;
	a->end = e;
	free(a->end_reason);
	a->end_reason = reason != NULL ? xstrdup(reason) : NULL;
	return 1;
}

/* An abort is under way: the chunk's fate is decided. */
int
agent_is_aborting(const struct agent *a)
{
	return ends[a->end].rank == ends[END_ABORTED].rank;
}

/* Done, or an abort under way: nothing more to decide about it. */
int
agent_is_ending(const struct agent *a)
{
	return a->end == END_DONE ||
	    ends[a->end].rank >= ends[END_ABORTED].rank;
}

#define O(ai, ci, c) \
	{ \
		AI_##ai, CI_##ci, FAIL_##c \
	}
#define SETTLED \
	{ \
		AI_EXIT, CHUNK_NINPUTS, FAIL_NONE \
	}
#define ALL(o) \
	{ \
		{ o, o }, { o, o }, { o, o }, \
		{ \
			o, o \
		} \
	}

#define UNSEEN_OK(o) \
	{ \
		{ o, o }, { o, o }, { o, o }, \
		{ \
			o, O(EXIT, EXIT_OK, NONE) \
		} \
	}

/*
 * [end][exit][result valid].  The result is read only where the two
 * columns differ: an exit 0, and any exit swarmd did not see.
 */
static const struct agent_outcome
    outcomes[AGENT_NENDS][AGENT_NEXITS][2] = {
	    [END_NONE] = { [EXIT_ZERO] = { O(EXIT, EXIT_FAIL, SCHEMA),
	                       O(EXIT, EXIT_OK, NONE) },
	        [EXIT_FAIL] = { O(EXIT, EXIT_FAIL, UNKNOWN),
	            O(EXIT, EXIT_FAIL, UNKNOWN) },
	        [EXIT_SIGKILL] = { O(EXIT, EXIT_FAIL, TRANSIENT),
	            O(EXIT, EXIT_FAIL, TRANSIENT) },
	        [EXIT_UNSEEN] = { O(EXIT, EXIT_FAIL, TRANSIENT),
	            O(EXIT, EXIT_OK, NONE) } },
	    [END_FAILED] = { [EXIT_ZERO] = { O(EXIT, EXIT_FAIL, UNKNOWN),
	                         O(EXIT, EXIT_FAIL, UNKNOWN) },
	        [EXIT_FAIL] = { O(EXIT, EXIT_FAIL, UNKNOWN),
	            O(EXIT, EXIT_FAIL, UNKNOWN) },
	        [EXIT_SIGKILL] = { O(EXIT, EXIT_FAIL, TRANSIENT),
	            O(EXIT, EXIT_FAIL, TRANSIENT) },
	        [EXIT_UNSEEN] = { O(EXIT, EXIT_FAIL, TRANSIENT),
	            O(EXIT, EXIT_OK, NONE) } },
	    [END_FAILED_TRANSIENT] = { [EXIT_ZERO] = { O(EXIT, EXIT_FAIL,
	                                                   TRANSIENT),
	                                   O(EXIT, EXIT_FAIL, TRANSIENT) },
	        [EXIT_FAIL] = { O(EXIT, EXIT_FAIL, TRANSIENT),
	            O(EXIT, EXIT_FAIL, TRANSIENT) },
	        [EXIT_SIGKILL] = { O(EXIT, EXIT_FAIL, TRANSIENT),
	            O(EXIT, EXIT_FAIL, TRANSIENT) },
	        [EXIT_UNSEEN] = { O(EXIT, EXIT_FAIL, TRANSIENT),
	            O(EXIT, EXIT_OK, NONE) } },
	    /* The agent's word stands: only a valid result unseen wins. */
	    [END_FAILED_ACCOUNT] = UNSEEN_OK(O(EXIT, EXIT_FAIL, ACCOUNT)),
	    [END_TIMED_OUT] = ALL(O(KILLED, EXIT_FAIL, TRANSIENT)),
	    [END_ABORTED] = ALL(O(KILLED, ABORT, NONE)),
	    [END_RESTARTED] = ALL(O(KILLED, REQUEUE, NONE)),
	    [END_KILLED] = ALL(O(KILLED, DEADLETTER, NONE)),
	    [END_INTERRUPTED] = ALL(O(KILLED, REQUEUE, NONE)),
	    [END_LOST] = { [EXIT_ZERO] = { O(EXIT, REQUEUE, NONE),
	                       O(EXIT, EXIT_OK, NONE) },
	        [EXIT_FAIL] = { O(EXIT, REQUEUE, NONE),
	            O(EXIT, EXIT_OK, NONE) },
	        [EXIT_SIGKILL] = { O(EXIT, REQUEUE, NONE),
	            O(EXIT, EXIT_OK, NONE) },
	        [EXIT_UNSEEN] = { O(EXIT, REQUEUE, NONE),
	            O(EXIT, EXIT_OK, NONE) } },
	    [END_SPAWN_FAILED] = ALL(O(SPAWN_FAILED, EXIT_FAIL, UNKNOWN)),
	    [END_DONE] = ALL(SETTLED),
    };

#undef O
#undef SETTLED
#undef ALL
#undef UNSEEN_OK

const struct agent_outcome *
agent_outcome(enum agent_end e, enum agent_exit x, int result_valid)
{
	if ((int)e < 0 || e >= AGENT_NENDS || (int)x < 0 || x >= AGENT_NEXITS)
		return NULL;
	return &outcomes[e][x][result_valid != 0];
}

/* Whether the result decides: only then is it worth reading. */
int
agent_outcome_needs_result(enum agent_end e, enum agent_exit x)
{
	const struct agent_outcome *bad = agent_outcome(e, x, 0);
	const struct agent_outcome *good = agent_outcome(e, x, 1);

	return bad != NULL &&
	    (bad->agent != good->agent || bad->chunk != good->chunk ||
	        bad->cls != good->cls);
}
