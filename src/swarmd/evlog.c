/*
 * evlog.c: the append-only event log.  Every decision is a row with its
 * job, chunk, agent, attempt and time.  The layers above subscribe at
 * start and are told of each new row as it is written (the followers of
 * events --follow, systemd's STATUS=); the log never calls them by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

static struct notify_list subs = TAILQ_HEAD_INITIALIZER(subs);

#define EVENT_COLUMNS "seq, ts, event, job, chunk, agent, attempt, data"

static void
name_id(
    json_t *o, const char *key, const char *prefix, sqlite3_stmt *st, int col)
{
	char buf[48];

	if (sqlite3_column_type(st, col) == SQLITE_NULL) {
		json_object_set_new(o, key, json_null());
		return;
	}
	snprintf(buf, sizeof buf, "%s%lld", prefix,
	    (long long)sqlite3_column_int64(st, col));
	json_object_set_new(o, key, json_string(buf));
}

/* One row of EVENT_COLUMNS as the protocol's EVENT object. */
static json_t *
evlog_row_json(sqlite3_stmt *st)
{
	const char *data = (const char *)sqlite3_column_text(st, 7);
	json_t *o, *extra;

	o = json_pack("{s:I, s:o, s:s}", "seq",
	    (json_int_t)sqlite3_column_int64(st, 0), "ts", store_col_ts(st, 1),
	    "event", (const char *)sqlite3_column_text(st, 2));
	name_id(o, "job", "job-", st, 3);
	json_object_set_new(o, "chunk_id", store_col_text(st, 4));
	name_id(o, "agent", "agent-", st, 5);
	json_object_set_new(o, "attempt", store_col_int(st, 6));
	if (data != NULL && (extra = json_loads(data, 0, NULL)) != NULL) {
		json_object_update_missing(o, extra);
		json_decref(extra);
	}
	return o;
}

/* Event SEQ as the protocol's EVENT object, or NULL if there is none. */
json_t *
evlog_get(int64_t seq)
{
	static const char sql[] =
	    "SELECT " EVENT_COLUMNS " FROM events WHERE seq = ?";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *ev = NULL;

	sqlite3_bind_int64(st, 1, seq);
	if (store_step(st) == SQLITE_ROW)
		ev = evlog_row_json(st);
	sqlite3_reset(st);
	return ev;
}

static void
evlog_notify(const struct evlog_entry *e)
{
	struct notify *n, *next;

	TAILQ_FOREACH_SAFE(n, &subs, entry, next)
		((evlog_cb)n->fn)(e, n->arg);
}

/* Events worth more than info in the journal. */
static const struct {
	const char *name;
	int prio;
} event_prios[] = {
	{ "spawn_failed", LOG_P_WARNING },
	{ "timeout", LOG_P_WARNING },
	{ "cap_reached", LOG_P_WARNING },
	{ "quota_paused", LOG_P_WARNING },
	{ "rate_limit_event", LOG_P_WARNING },
	{ "abort_requested", LOG_P_NOTICE },
	{ "job_aborted", LOG_P_NOTICE },
	{ "cap_warning", LOG_P_NOTICE },
	{ "stagger_halted", LOG_P_NOTICE },
	{ "escalated", LOG_P_ALERT },
	{ "escalation_renotified", LOG_P_ALERT },
	{ "triage_failed", LOG_P_WARNING },
	{ "watchdog_suspect", LOG_P_NOTICE },
	{ "resource_limit", LOG_P_WARNING },
	{ "merge_conflict", LOG_P_NOTICE },
	{ "merge_failed", LOG_P_NOTICE },
	{ "merge_paused", LOG_P_WARNING },
	{ "merge_stalled", LOG_P_WARNING },
};

static int
evlog_prio(const char *name, json_t *extra)
{
	size_t i;

	if (json_is_false(json_object_get(extra, "success")))
		return LOG_P_NOTICE; /* a chunk failed */
	for (i = 0; i < nitems(event_prios); i++) {
		if (strcmp(event_prios[i].name, name) == 0)
			return event_prios[i].prio;
	}
	return LOG_P_INFO;
}

/* "subagent_started job-1/c7 agent-3 attempt 1: {...}" to the journal. */
static void
evlog_log(int prio, const char *name, int64_t job, const char *chunk,
    int64_t agent, int attempt, const char *data)
{
	char *msg = NULL;
	size_t len;
	FILE *f;

	if ((f = open_memstream(&msg, &len)) == NULL)
		return;
	fputs(name, f);
	if (job != 0)
		fprintf(f, " job-%lld", (long long)job);
	if (chunk != NULL)
		fprintf(f, "%s%s", job != 0 ? "/" : " ", chunk);
	if (agent != 0)
		fprintf(f, " agent-%lld", (long long)agent);
	if (attempt != 0)
		fprintf(f, " attempt %d", attempt);
	if (data != NULL)
		fprintf(f, ": %s", data);
	if (fclose(f) == 0)
		log_event(prio, name, job, chunk, agent, attempt, msg);
	free(msg);
}

int64_t
evlog_add(const char *name, int64_t job, const char *chunk, int64_t agent,
    int attempt, json_t *extra)
{
	static const char sql[] = "INSERT INTO events (ts, event, job, chunk, "
	                          "agent, attempt, data) "
	                          "VALUES (?, ?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_prepare(sql);
	char *data = NULL;
	struct evlog_entry e;
	int prio = evlog_prio(name, extra);

	if (extra != NULL) {
		data = json_dumps(extra, JSON_COMPACT);
		json_decref(extra);
	}
	sqlite3_bind_int64(st, 1, now_wall_ms());
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (job != 0)
		sqlite3_bind_int64(st, 3, job);
	store_bind_text(st, 4, chunk);
	if (agent != 0)
		sqlite3_bind_int64(st, 5, agent);
	if (attempt != 0)
		sqlite3_bind_int(st, 6, attempt);
	store_bind_text(st, 7, data);
	store_step(st);
	sqlite3_reset(st);
	e.seq = store_last_id();
	evlog_log(prio, name, job, chunk, agent, attempt, data);
	e.name = name;
	e.job = job;
	e.chunk = chunk;
	e.agent = agent;
	e.attempt = attempt;
	e.data = data;
	evlog_notify(&e);
	free(data);
	return e.seq;
}

/* Call CB with each new event; upper layers subscribe at start. */
void
evlog_subscribe(evlog_cb cb, void *arg)
{
	notify_add(&subs, (notify_fn)cb, arg);
}

void
evlog_unsubscribe(evlog_cb cb, void *arg)
{
	notify_remove(&subs, (notify_fn)cb, arg);
}

/* ---- the events table: queries for the verbs and for triage ---- */

/*
 * The event listings.  A statement per shape (which filters are given)
 * rather than one with optional filters: SQLite plans a statement once,
 * and "(?1 = 0 OR job = ?1)" would make a listing of one job a scan of
 * every event ever logged.  Those of one job use events_by_job, those of
 * one agent events_by_agent; a time or a type alone is a scan in seq
 * order, which a page's LIMIT ends early.
 */
#define EVENTS_SELECT \
	"SELECT seq, ts, event, job, chunk, agent, attempt, data FROM events "
#define PENDING_SELECT \
	"SELECT DISTINCT d.job, d.chunk FROM events d " \
	"WHERE d.event = 'subagent_dispatched' "
#define PENDING_OPEN \
	"AND NOT EXISTS (" \
	"  SELECT 1 FROM events c WHERE c.agent = d.agent " \
	"  AND c.event = 'subagent_completed') " \
	"ORDER BY d.job, d.seq"

enum {
	EV_JOB = 1,
	EV_AGENT = 2,
	EV_TYPE = 4,
	EV_SINCE = 8,
	EV_AFTER = 16,
	EV_SHAPES = 32
};

/* The statement of SHAPE, built once: its text is its cache key. */
static const char *
events_sql(int shape)
{
	static char sql[EV_SHAPES][320];

	if (sql[shape][0] == '\0')
		snprintf(sql[shape], sizeof sql[shape],
		    EVENTS_SELECT "WHERE 1%s%s%s%s%s ORDER BY seq%s LIMIT ?3",
		    shape & EV_JOB ? " AND job = ?1" : "",
		    shape & EV_AGENT ? " AND agent = ?4" : "",
		    shape & EV_TYPE ? " AND event = ?5" : "",
		    shape & EV_SINCE ? " AND ts >= ?6" : "",
		    shape & EV_AFTER ? " AND seq > ?2" : "",
		    shape & EV_AFTER ? "" : " DESC");
	return sql[shape];
}

static sqlite3_stmt *
events_prepare(const struct evlog_filter *f, const int64_t *after)
{
	int shape = (f->job != 0 ? EV_JOB : 0) |
	    (f->agent != 0 ? EV_AGENT : 0) | (f->type != NULL ? EV_TYPE : 0) |
	    (f->since != 0 ? EV_SINCE : 0) | (after != NULL ? EV_AFTER : 0);
	sqlite3_stmt *st = store_prepare(events_sql(shape));

	if (f->job != 0)
		sqlite3_bind_int64(st, 1, f->job);
	if (after != NULL)
		sqlite3_bind_int64(st, 2, *after);
	if (f->agent != 0)
		sqlite3_bind_int64(st, 4, f->agent);
	if (f->type != NULL)
		sqlite3_bind_text(st, 5, f->type, -1, SQLITE_TRANSIENT);
	if (f->since != 0)
		sqlite3_bind_int64(st, 6, f->since);
	return st;
}

/* Whether a new event passes F: a follower's filter. */
int
evlog_match(const struct evlog_filter *f, const struct evlog_entry *e)
{
	return (f->job == 0 || f->job == e->job) &&
	    (f->agent == 0 || f->agent == e->agent) &&
	    (f->type == NULL || strcmp(f->type, e->name) == 0) &&
	    (f->since == 0 || now_wall_ms() >= f->since);
}

/* A page's rows in seq order: those of the newest-first listing reversed. */
static void
reverse(json_t *arr)
{
	size_t i, n = json_array_size(arr);
	json_t *a, *b;

	for (i = 0; i < n / 2; i++) {
		a = json_incref(json_array_get(arr, i));
		b = json_incref(json_array_get(arr, n - 1 - i));
		json_array_set_new(arr, i, b);
		json_array_set_new(arr, n - 1 - i, a);
	}
}

/*
 * The events F lets through after seq AFTER, oldest first; with AFTER
 * NULL, the newest of them.  A page holds at most LIMIT events and about
 * EVENTS_PAGE_BYTES of their data (always one); *MORE says whether more
 * lie beyond it: newer ones after AFTER, older ones without it.
 */
json_t *
evlog_list_json(const struct evlog_filter *f, const int64_t *after,
    int64_t limit, int *more)
{
	sqlite3_stmt *st = events_prepare(f, after);
	json_t *arr = json_array();
	size_t bytes = 0;

	sqlite3_bind_int64(st, 3, limit + 1); /* one more tells of more */
	*more = 0;
	while (store_step(st) == SQLITE_ROW) {
		if ((int64_t)json_array_size(arr) == limit ||
		    (bytes > EVENTS_PAGE_BYTES && json_array_size(arr) > 0)) {
			*more = 1;
			break;
		}
		bytes += 128 + (size_t)sqlite3_column_bytes(st, 7);
		json_array_append_new(arr, evlog_row_json(st));
	}
	sqlite3_reset(st);
	if (after == NULL)
		reverse(arr);
	return arr;
}

/* Dispatched and never completed: the set difference recovery builds on. */
json_t *
evlog_pending_json(int64_t job)
{
	static const char all[] = PENDING_SELECT PENDING_OPEN;
	static const char one[] = PENDING_SELECT "AND d.job = ?1 " PENDING_OPEN;
	json_t *arr = json_array();
	sqlite3_stmt *st;
	char *s;

	st = store_prepare(job != 0 ? one : all);
	if (job != 0)
		sqlite3_bind_int64(st, 1, job);
	while (store_step(st) == SQLITE_ROW) {
		s = xasprintf("job-%lld/%s",
		    (long long)sqlite3_column_int64(st, 0),
		    sqlite3_column_text(st, 1));
		json_array_append_new(arr, json_string(s));
		free(s);
	}
	sqlite3_reset(st);
	return arr;
}

/* The agent's last 20 heartbeat notes, oldest first. */
json_t *
evlog_heartbeats_json(int64_t agent)
{
	static const char sql[] = "SELECT ts, data FROM events WHERE agent = ? "
	                          "AND event = 'heartbeat' ORDER BY seq DESC "
	                          "LIMIT 20";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array(), *data;
	const char *text;

	sqlite3_bind_int64(st, 1, agent);
	while (store_step(st) == SQLITE_ROW) {
		text = (const char *)sqlite3_column_text(st, 1);
		data = text != NULL ? json_loads(text, 0, NULL) : NULL;
		json_array_insert_new(arr, 0,
		    json_pack("{s:o, s:O*}", "ts", store_col_ts(st, 0), "note",
		        json_object_get(data, "note")));
		json_decref(data);
	}
	sqlite3_reset(st);
	return arr;
}

/* The chunk's last 20 triage verdicts, over all its attempts, oldest first. */
json_t *
evlog_verdicts_json(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT ts, agent, attempt, data FROM events "
	                          "WHERE job = ? AND chunk = ? AND event = "
	                          "'triage_verdict' ORDER BY seq DESC LIMIT 20";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array(), *data;
	const char *text;
	char name[32];

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	while (store_step(st) == SQLITE_ROW) {
		text = (const char *)sqlite3_column_text(st, 3);
		data = text != NULL ? json_loads(text, 0, NULL) : NULL;
		if (data == NULL)
			data = json_object();
		snprintf(name, sizeof name, "agent-%lld",
		    (long long)sqlite3_column_int64(st, 1));
		json_object_set_new(data, "ts", store_col_ts(st, 0));
		json_object_set_new(data, "agent", json_string(name));
		json_object_set_new(data, "attempt", store_col_int(st, 2));
		json_array_insert_new(arr, 0, data);
	}
	sqlite3_reset(st);
	return arr;
}

/* ---- queries for the watchdog ---- */

/* Wall ms of the agent's latest heartbeat note, checkpoint or result. */
int64_t
evlog_progress_latest(int64_t agent)
{
	static const char sql[] = "SELECT max(ts) FROM events WHERE agent = ? "
	                          "AND event IN ('heartbeat', 'checkpoint', "
	                          "'subagent_completed')";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t ts = 0;

	sqlite3_bind_int64(st, 1, agent);
	if (store_step(st) == SQLITE_ROW)
		ts = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return ts;
}

/* ---- retention (prune.c) ---- */

/* JOB's events: up to LIMIT deleted, or all counted with DRY. */
int64_t
evlog_prune_job(int64_t job, int64_t limit, int dry)
{
	static const char del[] = "DELETE FROM events WHERE seq IN "
	                          "(SELECT seq FROM events WHERE job = ?1 "
	                          "LIMIT ?2)";
	static const char cnt[] = "SELECT count(*) FROM events WHERE job = ?1";

	return store_prune(dry ? cnt : del, job, limit, dry);
}
