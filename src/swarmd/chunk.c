/*
 * chunk.c: the chunk lifecycle as a table.  A chunk is queued, then
 * running under one agent; the agent's end settles it.  A failed chunk is
 * routed by its failure class: back to the queue for another attempt, or
 * to the dead letters.  An agent cut off by swarmd itself (a stop, a lost
 * process, a watchdog restart) requeues its chunk; an operator's retry
 * requeues a failed, aborted or dead one.  A job with gates runs them
 * on a chunk whose attempt succeeded (gating) before it is done; a
 * failing gate fails the chunk, routed like any failure (class gate:
 * rework).  A job that merges queues a chunk whose gates passed
 * (merging) until its commits land on the target (merged), or a
 * conflict or the gates on the target fail it (class gate again).
 * Anything not in the table is an illegal transition: refused,
 * logged, never forced.
 *
 * chunk_apply is the only writer of chunks.state.  A chunk becomes dead
 * here, on the dead-letter input: from running (a watchdog kill) or from
 * failed (route.c found no retry left for its failure class).
 */
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

#define X \
	{ \
		CHUNK_INVALID, CA_NONE \
	}

static const struct chunk_move {
	int next;
	enum chunk_action action;
} chunk_table[CHUNK_NSTATES][CHUNK_NINPUTS] = {
	/* DISPATCH, EXIT_OK, EXIT_FAIL, ABORT, DROP, RETRY, REQUEUE, DEADLETTER,
	 * GATE, GATE_PASS, GATE_FAIL, GATE_MERGE, MERGED, MERGE_FAIL */
	[CHUNK_QUEUED] = { { CHUNK_RUNNING, CA_DISPATCH }, X, X, X,
	    { CHUNK_ABORTED, CA_NONE }, X, X, X, X, X, X, X, X, X },
	[CHUNK_RUNNING] = { X, { CHUNK_DONE, CA_OUTPUT },
	    { CHUNK_FAILED, CA_NONE }, { CHUNK_ABORTED, CA_NONE }, X, X,
	    { CHUNK_QUEUED, CA_NONE }, { CHUNK_DEAD, CA_NONE },
	    { CHUNK_GATING, CA_OUTPUT }, X, X, X, X, X },
	[CHUNK_DONE] = { X, X, X, X, X, X, X, X, X, X, X, X, X, X },
	[CHUNK_FAILED] = { X, X, X, X, X, { CHUNK_QUEUED, CA_NONE }, X,
	    { CHUNK_DEAD, CA_NONE }, X, X, X, X, X, X },
	[CHUNK_ABORTED] = { X, X, X, X, X, { CHUNK_QUEUED, CA_NONE }, X, X, X,
	    X, X, X, X, X },
	[CHUNK_DEAD] = { X, X, X, X, X, { CHUNK_QUEUED, CA_NONE }, X, X, X, X,
	    X, X, X, X },
	[CHUNK_GATING] = { X, X, X, { CHUNK_ABORTED, CA_NONE }, X, X, X, X, X,
	    { CHUNK_DONE, CA_NONE }, { CHUNK_FAILED, CA_NONE },
	    { CHUNK_MERGING, CA_NONE }, X, X },
	[CHUNK_MERGING] = { X, X, X, { CHUNK_ABORTED, CA_NONE }, X, X, X, X, X,
	    X, X, X, { CHUNK_MERGED, CA_NONE }, { CHUNK_FAILED, CA_NONE } },
	[CHUNK_MERGED] = { X, X, X, X, X, X, X, X, X, X, X, X, X, X },
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
	"gate",
	"gates passed",
	"gate failed",
	"gates passed, to merge",
	"merged",
	"merge failed",
};

static const char *chunk_names[CHUNK_NSTATES] = {
	"queued",
	"running",
	"done",
	"failed",
	"aborted",
	"dead",
	"gating",
	"merging",
	"merged",
};

static const char *fail_names[] = {
	"none",
	"transient",
	"schema",
	"unknown",
	"gate",
	"account",
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

/* What the move (S, IN) writes besides the state; CA_NONE if refused. */
int
chunk_action(enum chunk_state s, enum chunk_input in)
{
	if (chunk_next(s, in) == CHUNK_INVALID)
		return CA_NONE;
	return chunk_table[s][in].action;
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
 * adds members to the event.  The chunk's new state (gating, not done,
 * when its job has gates), or -1, with nothing written, when refused.
 */
int
chunk_complete(const struct agent *a, enum chunk_input in, enum fail_class cls,
    const char *reason, const char *output, json_t *extra)
{
	struct chunk_args args = { reason, 0, output };
	json_t *ev = extra != NULL ? extra : json_object();
	struct job *j = job_find(a->job);
	int next;

	/* A success of a job with gates is gated before it is done; so is
	 * one that merges: only what its branch holds can land. */
	if (in == CI_EXIT_OK && j != NULL &&
	    (json_array_size(json_object_get(j->spec, "gates")) > 0 ||
	        json_object_get(j->spec, "merge") != NULL))
		in = CI_GATE;
	if ((next = chunk_move(a->job, a->chunk, in, &args)) == -1) {
		json_decref(ev);
		return -1;
	}
	json_object_set_new(
	    ev, "success", json_boolean(in == CI_EXIT_OK || in == CI_GATE));
	if (in == CI_GATE) /* the attempt succeeded; its gates decide */
		json_object_set_new(ev, "gating", json_true());
	json_object_set_new(ev, "output_file",
	    output != NULL ? json_string(output) : json_null());
	if (cls != FAIL_NONE)
		json_object_set_new(
		    ev, "class", json_string(fail_class_name(cls)));
	evlog_add(
	    "subagent_completed", a->job, a->chunk, a->id, a->attempt, ev);
	return next;
}

/* ---- the chunks table: queries and updates for the other modules ---- */

/* Each queued chunk of JOB that is due at NOW, in order, up to LIMIT. */
void
chunk_each_due(int64_t job, int64_t now, int limit,
    void (*cb)(void *, const char *id, const char *task, int attempts),
    void *arg)
{
	static const char sql[] = "SELECT id, task, attempts FROM chunks "
	                          "WHERE job = ? AND state = 'queued' AND "
	                          "(not_before IS NULL OR not_before <= ?) "
	                          "ORDER BY seq LIMIT ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_int64(st, 1, job);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, limit);
	while (store_step(st) == SQLITE_ROW)
		cb(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int(st, 2));
	sqlite3_reset(st);
}

/* Every job's queued and done chunks, for systemd's STATUS=. */
void
chunk_totals(int64_t *queued, int64_t *done)
{
	static const char sql[] = "SELECT coalesce(sum(state = 'queued'), 0), "
	                          "coalesce(sum(state = 'done'), 0) "
	                          "FROM chunks";
	sqlite3_stmt *st = store_prepare(sql);

	if (store_step(st) == SQLITE_ROW) {
		*queued = sqlite3_column_int64(st, 0);
		*done = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
}

/* When the first queued chunk waiting out a backoff is due; 0 if none. */
int64_t
chunk_next_due(void)
{
	static const char sql[] = "SELECT min(not_before) FROM chunks "
	                          "WHERE not_before IS NOT NULL AND "
	                          "state = 'queued'";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t due = 0;

	if (store_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		due = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return due;
}

/* One text column of JOB's CHUNK, by SQL (job, id bound); NULL: none. */
static char *
chunk_text(int64_t job, const char *chunk, const char *sql)
{
	sqlite3_stmt *st = store_prepare(sql);
	const unsigned char *t;
	char *out = NULL;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) == SQLITE_ROW &&
	    (t = sqlite3_column_text(st, 0)) != NULL)
		out = xstrdup((const char *)t);
	sqlite3_reset(st);
	return out;
}

/* Why the chunk's last result was refused, for its next attempt. */
char *
chunk_rejection(int64_t job, const char *chunk)
{
	return chunk_text(job, chunk,
	    "SELECT rejection FROM chunks WHERE job = ? AND id = ?");
}

/* A chunk's own fields (all but id and task) as JSON text, or NULL. */
static char *
chunk_fields_text(json_t *c)
{
	json_t *fields = json_deep_copy(c);
	char *text = NULL;

	json_object_del(fields, "id");
	json_object_del(fields, "task");
	if (json_object_size(fields) > 0)
		text = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(fields);
	return text;
}

/* Store a new job's chunks, queued, in the caller's transaction. */
void
chunk_add_all(int64_t job, json_t *chunks)
{
	static const char sql[] = "INSERT INTO chunks (job, seq, id, task, "
	                          "state, updated, fields) VALUES (?, ?, ?, "
	                          "?, 'queued', ?, ?)";
	sqlite3_stmt *st;
	int64_t now = now_wall_ms();
	char *fields;
	json_t *c;
	size_t i;

	json_array_foreach(chunks, i, c) {
		st = store_prepare(sql);
		sqlite3_bind_int64(st, 1, job);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		store_bind_text(
		    st, 3, json_string_value(json_object_get(c, "id")));
		store_bind_text(
		    st, 4, json_string_value(json_object_get(c, "task")));
		sqlite3_bind_int64(st, 5, now);
		fields = chunk_fields_text(c);
		store_bind_text(st, 6, fields);
		store_step(st);
		free(fields);
	}
}

/* The chunk's own fields, the values of its placeholders; NULL: none. */
json_t *
chunk_fields_json(int64_t job, const char *chunk)
{
	char *text = chunk_text(
	    job, chunk, "SELECT fields FROM chunks WHERE job = ? AND id = ?");
	json_t *fields = text != NULL ? json_loads(text, 0, NULL) : NULL;

	free(text);
	return fields;
}

/* Count of JOB's chunks in state STATE. */
int64_t
chunk_count(int64_t job, const char *state)
{
	static const char sql[] = "SELECT count(*) FROM chunks "
	                          "WHERE job = ? AND state = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t n;

	sqlite3_bind_int64(st, 1, job);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	store_step(st);
	n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

/* JOB's chunks by state, for the metrics: its part of chunks_by_state
 * only, however long the history. */
void
chunk_counts(int64_t job, int64_t n[CHUNK_NSTATES])
{
	static const char sql[] = "SELECT state, count(*) FROM chunks "
	                          "WHERE job = ? GROUP BY state";
	sqlite3_stmt *st = store_prepare(sql);
	int s;

	memset(n, 0, CHUNK_NSTATES * sizeof *n);
	sqlite3_bind_int64(st, 1, job);
	while (store_step(st) == SQLITE_ROW) {
		s = chunk_state_parse((const char *)sqlite3_column_text(st, 0));
		if (s >= 0 && s < CHUNK_NSTATES)
			n[s] = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
}

/* The chunk's task as a JSON string, or null. */
json_t *
chunk_task_json(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT task FROM chunks WHERE job = ? AND "
	                          "id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *task = json_null();

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) == SQLITE_ROW) {
		json_decref(task);
		task = store_col_text(st, 0);
	}
	sqlite3_reset(st);
	return task;
}

/* A job's chunks in order, as the show verb lists them. */
json_t *
chunk_list_json(int64_t job)
{
	static const char sql[] = "SELECT id, state, agent, attempts, reason "
	                          "FROM chunks WHERE job = ? ORDER BY seq";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();
	char agent[32];

	sqlite3_bind_int64(st, 1, job);
	while (store_step(st) == SQLITE_ROW) {
		snprintf(agent, sizeof agent, "agent-%lld",
		    (long long)sqlite3_column_int64(st, 2));
		json_array_append_new(arr,
		    json_pack("{s:o, s:o, s:o, s:i, s:o}", "id",
		        store_col_text(st, 0), "state", store_col_text(st, 1),
		        "agent",
		        sqlite3_column_type(st, 2) == SQLITE_NULL ?
		            json_null() :
		            json_string(agent),
		        "attempts", sqlite3_column_int(st, 3), "reason",
		        store_col_text(st, 4)));
	}
	sqlite3_reset(st);
	return arr;
}

/* One chunk, as show job-N/CHUNK starts it; NULL if there is none. */
json_t *
chunk_show_json(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT id, task, state, attempts, agent, "
	                          "reason FROM chunks WHERE job = ? AND id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	char jobname[32], agent[32];
	json_t *o;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return NULL;
	}
	snprintf(jobname, sizeof jobname, "job-%lld", (long long)job);
	snprintf(agent, sizeof agent, "agent-%lld",
	    (long long)sqlite3_column_int64(st, 4));
	o = json_pack("{s:s, s:o, s:o, s:o, s:i, s:o, s:o}", "job", jobname,
	    "id", store_col_text(st, 0), "task", store_col_text(st, 1), "state",
	    store_col_text(st, 2), "attempts", sqlite3_column_int(st, 3),
	    "agent",
	    sqlite3_column_type(st, 4) == SQLITE_NULL ? json_null() :
	                                                json_string(agent),
	    "reason", store_col_text(st, 5));
	sqlite3_reset(st);
	return o;
}

/*
 * The dead letters of JOB (0: of every job), with their last output.
 * Two statements, not "(?1 = 0 OR c.job = ?1)": planned once, that would
 * scan every chunk for one job's; this way it uses chunks_by_state.
 */
#define DEAD_SELECT \
	"SELECT c.job, c.id, c.fail_class, c.reason, c.attempts, c.agent, " \
	"coalesce(c.gate_log, a.log) FROM chunks c " \
	"LEFT JOIN agents a ON a.id = c.agent WHERE c.state = 'dead' "

json_t *
chunk_dead_json(int64_t job)
{
	static const char all[] = DEAD_SELECT "ORDER BY c.job, c.seq";
	static const char one[] = DEAD_SELECT "AND c.job = ?1 "
	                                      "ORDER BY c.job, c.seq";
	json_t *arr = json_array();
	sqlite3_stmt *st;
	char *name, agent[32];

	st = store_prepare(job != 0 ? one : all);
	if (job != 0)
		sqlite3_bind_int64(st, 1, job);
	while (store_step(st) == SQLITE_ROW) {
		name = xasprintf("job-%lld/%s",
		    (long long)sqlite3_column_int64(st, 0),
		    sqlite3_column_text(st, 1));
		snprintf(agent, sizeof agent, "agent-%lld",
		    (long long)sqlite3_column_int64(st, 5));
		json_array_append_new(arr,
		    json_pack("{s:s, s:o, s:o, s:i, s:s, s:o}", "chunk", name,
		        "class", store_col_text(st, 2), "reason",
		        store_col_text(st, 3), "attempts",
		        sqlite3_column_int(st, 4), "agent", agent,
		        "last_output",
		        log_tail((const char *)sqlite3_column_text(st, 6), 5)));
		free(name);
	}
	sqlite3_reset(st);
	return arr;
}

/* The ids of JOB's dead chunks, in order, as JSON strings. */
json_t *
chunk_dead_ids(int64_t job)
{
	static const char sql[] = "SELECT id FROM chunks WHERE job = ? AND "
	                          "state = 'dead' ORDER BY seq";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *ids = json_array();

	sqlite3_bind_int64(st, 1, job);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(ids, store_col_text(st, 0));
	sqlite3_reset(st);
	return ids;
}

/*
 * An operator's retry: requeue the chunk with fresh failure counters.
 * The caller holds the transaction.  Returns the new state, or -1.
 */
int
chunk_retry(int64_t job, const char *chunk)
{
	static const char reset[] = "UPDATE chunks SET not_before = NULL, "
	                            "transient_failures = 0, "
	                            "schema_failures = 0, gate_failures = 0, "
	                            "rejection = NULL "
	                            "WHERE job = ? AND id = ?";
	sqlite3_stmt *st;
	int next;

	if ((next = chunk_apply(job, chunk, CI_RETRY, NULL)) == -1)
		return -1;
	st = store_prepare(reset);
	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	store_step(st);
	return next;
}

/*
 * An aborted job's queued chunks, all in one statement, to the state the
 * table gives a dropped chunk.  Returns how many were dropped.
 */
int64_t
chunk_drop_queued(int64_t job, const char *reason)
{
	static const char sql[] = "UPDATE chunks SET state = ?, reason = ?, "
	                          "updated = ? WHERE job = ? AND state = ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_text(st, 1,
	    chunk_state_name(chunk_next(CHUNK_QUEUED, CI_DROP)), -1,
	    SQLITE_STATIC);
	store_bind_text(st, 2, reason);
	sqlite3_bind_int64(st, 3, now_wall_ms());
	sqlite3_bind_int64(st, 4, job);
	sqlite3_bind_text(
	    st, 5, chunk_state_name(CHUNK_QUEUED), -1, SQLITE_STATIC);
	store_step(st);
	return sqlite3_changes(store.db);
}

/* JOB's chunks waiting to merge, aborted (its job was): how many. */
int64_t
chunk_abort_merging(int64_t job, const char *reason)
{
	static const char sql[] = "SELECT id FROM chunks "
	                          "WHERE job = ? AND state = 'merging'";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *ids = json_array(), *id;
	size_t i;
	int64_t n = 0;

	/* Read all first: each move writes the table. */
	sqlite3_bind_int64(st, 1, job);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(ids, store_col_text(st, 0));
	sqlite3_reset(st);
	json_array_foreach(ids, i, id)
		n += chunk_apply(
		         job, json_string_value(id), CI_ABORT, reason) != -1;
	json_decref(ids);
	return n;
}

/* One more failure of class CLS; returns how many of that class so far. */
int
chunk_add_failure(int64_t job, const char *chunk, enum fail_class cls)
{
	static const char transient[] =
	    "UPDATE chunks SET transient_failures "
	    "= transient_failures + 1 WHERE "
	    "job = ?1 AND id = ?2 RETURNING transient_failures";
	static const char schema[] = "UPDATE chunks SET schema_failures = "
	                             "schema_failures + 1 WHERE job = ?1 AND "
	                             "id = ?2 RETURNING schema_failures";
	static const char gate[] = "UPDATE chunks SET gate_failures = "
	                           "gate_failures + 1 WHERE job = ?1 AND "
	                           "id = ?2 RETURNING gate_failures";
	sqlite3_stmt *st;
	int n = 0;

	if (cls != FAIL_TRANSIENT && cls != FAIL_SCHEMA && cls != FAIL_GATE)
		return 0;
	st = store_prepare(cls == FAIL_TRANSIENT ? transient :
	        cls == FAIL_SCHEMA               ? schema :
	                                           gate);
	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return n;
}

/* A requeued chunk waits until NOT_BEFORE (wall ms), told REJECTION. */
void
chunk_set_retry(int64_t job, const char *chunk, int64_t not_before,
    enum fail_class cls, const char *rejection)
{
	static const char sql[] = "UPDATE chunks SET not_before = ?, "
	                          "fail_class = ?, rejection = ? "
	                          "WHERE job = ? AND id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_int64(st, 1, not_before);
	sqlite3_bind_text(st, 2, fail_class_name(cls), -1, SQLITE_STATIC);
	store_bind_text(st, 3, rejection);
	sqlite3_bind_int64(st, 4, job);
	store_bind_text(st, 5, chunk);
	store_step(st);
}

void
chunk_set_fail_class(int64_t job, const char *chunk, enum fail_class cls)
{
	static const char sql[] = "UPDATE chunks SET fail_class = ? "
	                          "WHERE job = ? AND id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_text(st, 1, fail_class_name(cls), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, job);
	store_bind_text(st, 3, chunk);
	store_step(st);
}

/* The log of the gate that failed JOB's CHUNK last (NULL: none). */
void
chunk_set_gate_log(int64_t job, const char *chunk, const char *log)
{
	static const char sql[] = "UPDATE chunks SET gate_log = ? "
	                          "WHERE job = ? AND id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	store_bind_text(st, 1, log);
	sqlite3_bind_int64(st, 2, job);
	store_bind_text(st, 3, chunk);
	store_step(st);
}

/* The class of the chunk's latest failure ("transient"...), or NULL. */
char *
chunk_fail_class_of(int64_t job, const char *chunk)
{
	return chunk_text(job, chunk,
	    "SELECT fail_class FROM chunks WHERE job = ? AND id = ?");
}

/* ---- retention (prune.c) ---- */

/*
 * Why JOB's chunks keep it from a prune with CUTOFF, or NULL: work not
 * settled, or a dead letter that changed after the cutoff.
 */
const char *
chunk_prune_hold(int64_t job, int64_t cutoff)
{
	static const char sql[] = "SELECT coalesce(sum(state IN ('queued', "
	                          "'running', 'gating', 'merging')), 0), "
	                          "coalesce(sum(state = 'dead' AND "
	                          "coalesce(updated, 0) > ?2), 0) "
	                          "FROM chunks WHERE job = ?1";
	sqlite3_stmt *st = store_prepare(sql);
	const char *why = NULL;

	sqlite3_bind_int64(st, 1, job);
	sqlite3_bind_int64(st, 2, cutoff);
	if (store_step(st) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 0) > 0)
			why = "queued, running, gating or merging work";
		else if (sqlite3_column_int64(st, 1) > 0)
			why = "a dead letter newer than the cutoff";
	}
	sqlite3_reset(st);
	return why;
}

/* JOB's chunks: up to LIMIT deleted, or all counted with DRY. */
int64_t
chunk_prune_job(int64_t job, int64_t limit, int dry)
{
	static const char del[] =
	    "DELETE FROM chunks WHERE job = ?1 AND seq IN "
	    "(SELECT seq FROM chunks WHERE job = ?1 "
	    "LIMIT ?2)";
	static const char cnt[] = "SELECT count(*) FROM chunks WHERE job = ?1";

	return store_prune(dry ? cnt : del, job, limit, dry);
}
