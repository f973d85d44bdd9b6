/*
 * chunk.c: the chunk lifecycle as a table.  A chunk is queued, then
 * running under one agent; the agent's end settles it.  A failed chunk is
 * routed by its failure class: back to the queue for another attempt, or
 * to the dead letters.  An agent cut off by swarmd itself (a stop, a lost
 * process, a watchdog restart) requeues its chunk; an operator's retry
 * requeues a failed, aborted or dead one.  Anything not in the table is an
 * illegal transition: refused, logged, never forced.
 *
 * chunk_apply is the only writer of chunks.state.  A chunk becomes dead
 * here, on the dead-letter input: from running (a watchdog kill) or from
 * failed (route.c found no retry left for its failure class).
 */
#include <string.h>

#include "swarmd.h"

#define X \
	{ \
		CHUNK_INVALID, CA_NONE \
	}

/* What a move writes besides the state and its reason. */
enum chunk_action {
	CA_NONE,
	CA_DISPATCH, /* one more attempt, by this agent, due now */
	CA_OUTPUT,   /* where its output is */
};

static const struct chunk_move {
	int next;
	enum chunk_action action;
} chunk_table[CHUNK_NSTATES][CHUNK_NINPUTS] = {
	/* DISPATCH, EXIT_OK, EXIT_FAIL, ABORT, DROP, RETRY, REQUEUE, DEADLETTER */
	[CHUNK_QUEUED] = { { CHUNK_RUNNING, CA_DISPATCH }, X, X, X,
	    { CHUNK_ABORTED, CA_NONE }, X, X, X },
	[CHUNK_RUNNING] = { X, { CHUNK_DONE, CA_OUTPUT },
	    { CHUNK_FAILED, CA_NONE }, { CHUNK_ABORTED, CA_NONE }, X, X,
	    { CHUNK_QUEUED, CA_NONE }, { CHUNK_DEAD, CA_NONE } },
	[CHUNK_DONE] = { X, X, X, X, X, X, X, X },
	[CHUNK_FAILED] = { X, X, X, X, X, { CHUNK_QUEUED, CA_NONE }, X,
	    { CHUNK_DEAD, CA_NONE } },
	[CHUNK_ABORTED] = { X, X, X, X, X, { CHUNK_QUEUED, CA_NONE }, X, X },
	[CHUNK_DEAD] = { X, X, X, X, X, { CHUNK_QUEUED, CA_NONE }, X, X },
};
#undef X

static const char *chunk_input_names[CHUNK_NINPUTS] = {
	"dispatch",
	"exit ok",
	"exit fail",
	"abort",
	"drop",
	"retry",
	"requeue",
	"dead letter",
};

static const char *chunk_names[CHUNK_NSTATES] = {
	"queued",
	"running",
	"done",
	"failed",
	"aborted",
	"dead",
};

static const char *fail_names[] = {
	"none",
	"transient",
	"schema",
	"unknown",
};

const char *
fail_class_name(enum fail_class c)
{
	return (int)c >= 0 && (size_t)c < nitems(fail_names) ? fail_names[c] :
	                                                       "unknown";
}

int
chunk_next(enum chunk_state s, enum chunk_input in)
{
	if ((int)s < 0 || s >= CHUNK_NSTATES || (int)in < 0 ||
	    in >= CHUNK_NINPUTS)
		return CHUNK_INVALID;
	return chunk_table[s][in].next;
}

const char *
chunk_state_name(enum chunk_state s)
{
	if ((int)s < 0 || s >= CHUNK_NSTATES)
		return "invalid";
	return chunk_names[s];
}

int
chunk_state_parse(const char *name)
{
	int i;

	for (i = 0; i < CHUNK_NSTATES; i++) {
		if (strcmp(chunk_names[i], name) == 0)
			return i;
	}
	return CHUNK_INVALID;
}

/* ---- the chunks table's lifecycle columns ---- */

struct chunk_args {
	const char *reason;
	int64_t agent;      /* CA_DISPATCH */
	const char *output; /* CA_OUTPUT */
};

int
chunk_state_of(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT state FROM chunks "
	                          "WHERE job = ? AND id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int s = CHUNK_INVALID;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) == SQLITE_ROW)
		s = chunk_state_parse((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return s;
}

static void
chunk_act(int64_t job, const char *chunk, enum chunk_action action,
    const struct chunk_args *args)
{
	static const char dispatch[] = "UPDATE chunks SET "
	                               "attempts = attempts + 1, agent = ?, "
	                               "not_before = NULL "
	                               "WHERE job = ? AND id = ?";
	static const char output[] = "UPDATE chunks SET output_file = ? "
	                             "WHERE job = ? AND id = ?";
	sqlite3_stmt *st;

	switch (action) {
	case CA_DISPATCH:
		st = store_prepare(dispatch);
		sqlite3_bind_int64(st, 1, args->agent);
		break;
	case CA_OUTPUT:
		st = store_prepare(output);
		store_bind_text(st, 1, args->output);
		break;
	default:
		return;
	}
	sqlite3_bind_int64(st, 2, job);
	store_bind_text(st, 3, chunk);
	store_step(st);
}

/* Move a chunk through its table (in the caller's transaction). */
static int
chunk_move(int64_t job, const char *chunk, enum chunk_input in,
    const struct chunk_args *args)
{
	static const char set[] = "UPDATE chunks SET state = ?, reason = ?, "
	                          "updated = ? WHERE job = ? AND id = ?";
	int cur = chunk_state_of(job, chunk), next = chunk_next(cur, in);
	sqlite3_stmt *st;

	if (next == CHUNK_INVALID) {
		log_warnx("job-%lld/%s: no transition from %s on %s",
		    (long long)job, chunk, chunk_state_name(cur),
		    (int)in >= 0 && in < CHUNK_NINPUTS ? chunk_input_names[in] :
		                                         "invalid input");
		return -1;
	}
	st = store_prepare(set);
	sqlite3_bind_text(st, 1, chunk_state_name(next), -1, SQLITE_STATIC);
	store_bind_text(st, 2, args->reason);
	sqlite3_bind_int64(st, 3, now_wall_ms());
	sqlite3_bind_int64(st, 4, job);
	store_bind_text(st, 5, chunk);
	store_step(st);
	chunk_act(job, chunk, chunk_table[cur][in].action, args);
	return next;
}

/* The next state, or -1 when the table refuses the input. */
int
chunk_apply(
    int64_t job, const char *chunk, enum chunk_input in, const char *reason)
{
	struct chunk_args args = { reason, 0, NULL };

	return chunk_move(job, chunk, in, &args);
}

int
chunk_dispatch(int64_t job, const char *chunk, int64_t agent)
{
	struct chunk_args args = { NULL, agent, NULL };

	return chunk_move(job, chunk, CI_DISPATCH, &args);
}

/*
 * An attempt's completion, by its agent's word (done) or by its end: the
 * chunk's move and the completion event.  EXTRA (stolen, may be NULL)
 * adds members to the event.  -1, with nothing written, when refused.
 */
int
chunk_complete(const struct agent *a, enum chunk_input in, enum fail_class cls,
    const char *reason, const char *output, json_t *extra)
{
	struct chunk_args args = { reason, 0, output };
	json_t *ev = extra != NULL ? extra : json_object();

	if (chunk_move(a->job, a->chunk, in, &args) == -1) {
		json_decref(ev);
		return -1;
	}
	json_object_set_new(ev, "success", json_boolean(in == CI_EXIT_OK));
	json_object_set_new(ev, "output_file",
	    output != NULL ? json_string(output) : json_null());
	if (cls != FAIL_NONE)
		json_object_set_new(
		    ev, "class", json_string(fail_class_name(cls)));
	evlog_add(
	    "subagent_completed", a->job, a->chunk, a->id, a->attempt, ev);
	return 0;
}
