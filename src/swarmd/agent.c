/*
 * agent.c: the agent lifecycle as a table, and the table of live agents.
 * An agent is one spawned attempt at one chunk: starting until its
 * process exists, running (or suspect, when the watchdog doubts it), then
 * exited on its own or killed by swarmd.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

#define X AGENT_INVALID

static const int agent_table[AGENT_NSTATES][AGENT_NINPUTS] = {
	/* SPAWNED, SPAWN_FAILED, SUSPECT, CLEAR, EXIT, KILLED */
	[AGENT_STARTING] = { AGENT_RUNNING, AGENT_EXITED, X, X, AGENT_EXITED,
	    AGENT_KILLED },
	[AGENT_RUNNING] = { X, X, AGENT_SUSPECT, X, AGENT_EXITED,
	    AGENT_KILLED },
	[AGENT_SUSPECT] = { X, X, X, AGENT_RUNNING, AGENT_EXITED,
	    AGENT_KILLED },
	[AGENT_EXITED] = { X, X, X, X, X, X },
	[AGENT_KILLED] = { X, X, X, X, X, X },
};

static const char *agent_names[AGENT_NSTATES] = {
	"starting",
	"running",
	"suspect",
	"exited",
	"killed",
};

struct agents live_agents = TAILQ_HEAD_INITIALIZER(live_agents);

/* Live agents by id: every heartbeat and every ps row looks one up. */
#define AGENT_BUCKETS 1024
static LIST_HEAD(, agent) agent_hash[AGENT_BUCKETS];

static void
agent_hash_put(struct agent *a)
{
	LIST_INSERT_HEAD(
	    &agent_hash[(uint64_t)a->id % AGENT_BUCKETS], a, hentry);
}

int
agent_next(enum agent_state s, enum agent_input in)
{
	if ((int)s < 0 || s >= AGENT_NSTATES || (int)in < 0 ||
	    in >= AGENT_NINPUTS)
		return AGENT_INVALID;
	return agent_table[s][in];
}

const char *
agent_state_name(enum agent_state s)
{
	if ((int)s < 0 || s >= AGENT_NSTATES)
		return "invalid";
	return agent_names[s];
}

/* "agent-17" -> 17. */
int
agent_parse_id(const char *s, int64_t *id)
{
	long long n;

	if (s == NULL || strncmp(s, "agent-", 6) != 0 ||
	    parse_int(s + 6, 1, INT64_MAX, &n) == -1)
		return -1;
	*id = n;
	return 0;
}

struct agent *
agent_find(int64_t id)
{
	struct agent *a;

	LIST_FOREACH(a, &agent_hash[(uint64_t)id % AGENT_BUCKETS], hentry) {
		if (a->id == id)
			return a;
	}
	return NULL;
}

/* An agent gets its number when its dispatch is stored. */
void
agent_set_id(struct agent *a, int64_t id)
{
	LIST_REMOVE(a, hentry);
	a->id = id;
	agent_hash_put(a);
}

struct agent *
agent_new(int64_t id, int64_t job, const char *chunk, int attempt)
{
	struct agent *a = xcalloc(1, sizeof *a);

	a->id = id;
	a->job = job;
	a->chunk = xstrdup(chunk);
	a->attempt = attempt;
	a->state = AGENT_STARTING;
	a->out_wd = -1;
	TAILQ_INIT(&a->waiters);
	TAILQ_INSERT_TAIL(&live_agents, a, entry);
	agent_hash_put(a);
	return a;
}

void
agent_free(struct agent *a)
{
	TAILQ_REMOVE(&live_agents, a, entry);
	LIST_REMOVE(a, hentry);
	if (a->timeout_ev != NULL)
		event_free(a->timeout_ev);
	if (a->kill_ev != NULL)
		event_free(a->kill_ev);
	watchdog_agent_free(a);
	if (a->pidfd_ev != NULL)
		event_free(a->pidfd_ev);
	if (a->pidfd > 0)
		close(a->pidfd);
	free(a->chunk);
	free(a->log);
	free(a->result_path);
	free(a->abort_reason);
	free(a->fail_reason);
	free(a->model);
	free(a->out_part);
	free(a);
}

/* One row of AGENT_COLUMNS as the protocol's AGENT object. */
json_t *
agent_json(sqlite3_stmt *st)
{
	int64_t id = sqlite3_column_int64(st, 0);
	struct agent *live = agent_find(id);
	char name[32], job[32];

	snprintf(name, sizeof name, "agent-%lld", (long long)id);
	snprintf(job, sizeof job, "job-%lld",
	    (long long)sqlite3_column_int64(st, 1));
	return json_pack(
	    "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "agent", name, "job", job, "chunk", store_col_text(st, 2),
	    "attempt", store_col_int(st, 3), "state", store_col_text(st, 4),
	    "pid", store_col_int(st, 5), "started", store_col_ts(st, 6),
	    "last_seen",
	    live != NULL ? json_ts(live->last_seen) : store_col_ts(st, 7),
	    "ended", store_col_ts(st, 8), "exit_code", store_col_int(st, 9),
	    "signal", store_col_int(st, 10), "reason", store_col_text(st, 11),
	    "log", store_col_text(st, 12));
}

/* ---- the agents table: queries for the verbs ---- */

/* Agent ID as the protocol's AGENT object, or NULL if there is none. */
json_t *
agent_show_json(int64_t id)
{
	static const char sql[] = "SELECT " AGENT_COLUMNS " FROM agents a "
	                          "WHERE a.id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *o = NULL;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW)
		o = agent_json(st);
	sqlite3_reset(st);
	return o;
}

/* Every attempt at one chunk, oldest first. */
json_t *
agent_chunk_list_json(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT " AGENT_COLUMNS " FROM agents a "
	                          "WHERE a.job = ? AND a.chunk = ? "
	                          "ORDER BY a.id";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(arr, agent_json(st));
	sqlite3_reset(st);
	return arr;
}

/* A ps row: the AGENT fields a listing needs, built without json_pack. */
static json_t *
agent_ps_row(sqlite3_stmt *st)
{
	int64_t id = sqlite3_column_int64(st, 0);
	struct agent *live = agent_find(id);
	json_t *o = json_object();
	char buf[32];

	snprintf(buf, sizeof buf, "agent-%lld", (long long)id);
	json_object_set_new(o, "agent", json_string(buf));
	snprintf(buf, sizeof buf, "job-%lld",
	    (long long)sqlite3_column_int64(st, 1));
	json_object_set_new(o, "job", json_string(buf));
	json_object_set_new(o, "chunk", store_col_text(st, 2));
	json_object_set_new(o, "attempt", store_col_int(st, 3));
	json_object_set_new(o, "state", store_col_text(st, 4));
	json_object_set_new(o, "pid", store_col_int(st, 5));
	json_object_set_new(o, "started", store_col_ts(st, 6));
	json_object_set_new(o, "last_seen",
	    live != NULL ? json_ts(live->last_seen) : store_col_ts(st, 7));
	json_object_set_new(o, "ended", store_col_ts(st, 8));
	return o;
}

/*
 * Four statements rather than one with optional filters: SQLite plans a
 * statement once, and "(?1 = 0 OR job = ?1)" would make every listing a
 * scan of all agents ever run.  Each of these uses an index.
 */
#define PS_COLUMNS \
	"SELECT a.id, a.job, a.chunk, a.attempt, a.state, " \
	"a.pid, a.started, a.last_seen, a.ended FROM agents a "
#define PS_LIVE "a.state IN ('starting', 'running', 'suspect') "

/* The ps listing: JOB's agents (0: every job's), live ones unless ALL. */
json_t *
agent_list_json(int64_t job, int all)
{
	static const char live[] = PS_COLUMNS "WHERE " PS_LIVE "ORDER BY a.id";
	static const char every[] = PS_COLUMNS "ORDER BY a.id";
	static const char job_live[] =
	    PS_COLUMNS "WHERE a.job = ?1 AND " PS_LIVE "ORDER BY a.id";
	static const char job_all[] = PS_COLUMNS "WHERE a.job = ?1 "
	                                         "ORDER BY a.id";
	json_t *arr = json_array();
	sqlite3_stmt *st;

	if (job != 0) {
		st = store_prepare(all ? job_all : job_live);
		sqlite3_bind_int64(st, 1, job);
	} else
		st = store_prepare(all ? every : live);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(arr, agent_ps_row(st));
	sqlite3_reset(st);
	return arr;
}

/* The stored state of agent ID, or NULL when there is no such agent. */
char *
agent_stored_state(int64_t id)
{
	static const char sql[] = "SELECT state FROM agents WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	char *s = NULL;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW)
		s = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return s;
}

/* Agent ID's log file, or NULL if there is no such agent or it never ran. */
char *
agent_log_path(int64_t id)
{
	static const char sql[] = "SELECT log FROM agents WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	char *path = NULL;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		path = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return path;
}
