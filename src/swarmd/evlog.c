/*
 * event.c: the append-only event log.  Every decision is a row with its
 * job, chunk, agent, attempt and time; followers (events --follow) get
 * each new row as it is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

struct follower {
	struct client *client;
	json_t *id;
	int64_t job; /* 0: all jobs */
	TAILQ_ENTRY(follower) entry;
};
static TAILQ_HEAD(, follower) followers = TAILQ_HEAD_INITIALIZER(followers);

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
json_t *
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

static void
evlog_fanout(int64_t seq, int64_t job)
{
	static const char sql[] =
	    "SELECT " EVENT_COLUMNS " FROM events WHERE seq = ?";
	struct follower *f, *next;
	sqlite3_stmt *st;
	json_t *ev;

	if (TAILQ_EMPTY(&followers))
		return;
	st = store_prepare(sql);
	sqlite3_bind_int64(st, 1, seq);
	if (store_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return;
	}
	ev = evlog_row_json(st);
	sqlite3_reset(st);
	TAILQ_FOREACH_SAFE(f, &followers, entry, next) {
		json_t *line;

		if (f->job != 0 && f->job != job)
			continue;
		line = json_pack("{s:O, s:O}", "id", f->id, "event", ev);
		client_write_line(f->client, line);
		json_decref(line);
	}
	json_decref(ev);
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
	int64_t seq;
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
	seq = store_last_id();
	evlog_log(prio, name, job, chunk, agent, attempt, data);
	free(data);
	evlog_fanout(seq, job);
	systemd_status_changed();
	return seq;
}

static void
evlog_release(struct client *c, void *arg)
{
	struct follower *f = arg;

	(void)c;
	TAILQ_REMOVE(&followers, f, entry);
	json_decref(f->id);
	free(f);
}

void
evlog_follow(struct client *c, json_t *id, int64_t job)
{
	struct follower *f = xcalloc(1, sizeof *f);

	f->client = c;
	f->id = json_incref(id);
	f->job = job;
	TAILQ_INSERT_TAIL(&followers, f, entry);
	client_set_release(c, evlog_release, f);
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
