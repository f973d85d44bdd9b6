/*
 * agent.c: the agent lifecycle as a table, and the table of live agents.
 * An agent is one spawned attempt at one chunk: starting until its
 * process exists, running (or suspect, when the watchdog doubts it), then
 * exited on its own or killed by swarmd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "swarmd.h"

#define X \
	{ \
		AGENT_INVALID, AA_NONE \
	}

static const struct agent_move {
	int next;
	enum agent_action action;
} agent_table[AGENT_NSTATES][AGENT_NINPUTS] = {
	/* SPAWNED, SPAWN_FAILED, SUSPECT, CLEAR, EXIT, KILLED */
	[AGENT_STARTING] = { { AGENT_RUNNING, AA_STARTED },
	    { AGENT_EXITED, AA_ENDED }, X, X, { AGENT_EXITED, AA_ENDED },
	    { AGENT_KILLED, AA_ENDED } },
	[AGENT_RUNNING] = { X, X, { AGENT_SUSPECT, AA_STATE }, X,
	    { AGENT_EXITED, AA_ENDED }, { AGENT_KILLED, AA_ENDED } },
	[AGENT_SUSPECT] = { X, X, X, { AGENT_RUNNING, AA_STATE },
	    { AGENT_EXITED, AA_ENDED }, { AGENT_KILLED, AA_ENDED } },
	[AGENT_EXITED] = { X, X, X, X, X, X },
	[AGENT_KILLED] = { X, X, X, X, X, X },
};
#undef X

static const char *agent_input_names[AGENT_NINPUTS] = {
	"spawned",
	"spawn failed",
	"suspect",
	"clear",
	"exit",
	"killed",
};

static const char *agent_names[AGENT_NSTATES] = {
	"starting",
	"running",
	"suspect",
	"exited",
	"killed",
};

struct agents live_agents = TAILQ_HEAD_INITIALIZER(live_agents);

/* Ended agents in the store by state, counted at start and at each end,
 * so the metrics need not count the whole history. */
static int64_t ended[AGENT_NSTATES];

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
	return agent_table[s][in].next;
}

/* What the move (S, IN) stores; AA_NONE if refused. */
int
agent_action(enum agent_state s, enum agent_input in)
{
	if (agent_next(s, in) == AGENT_INVALID)
		return AA_NONE;
	return agent_table[s][in].action;
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
static void
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
	if (a->pidfd_ev != NULL)
		event_free(a->pidfd_ev);
	if (a->pidfd > 0)
		close(a->pidfd);
	free(a->chunk);
	free(a->log);
	free(a->result_path);
	free(a->end_reason);
	free(a->model);
	free(a->session);
	free(a->out_part);
	free(a);
}

/* The agents columns an AGENT object is made of (agent_json). */
#define AGENT_COLUMNS \
	"a.id, a.job, a.chunk, a.attempt, a.state, a.pid, " \
	"a.started, a.last_seen, a.ended, a.exit_code, a.signal, a.reason, " \
	"a.log, a.outcome, a.fail_class, a.summary, a.result_path"

/* Column COL, a path, as JSON: null unless a file is there. */
static json_t *
agent_col_file(sqlite3_stmt *st, int col)
{
	const char *path = (const char *)sqlite3_column_text(st, col);

	return path != NULL && access(path, F_OK) == 0 ? json_string(path) :
	                                                 json_null();
}

/* One row of AGENT_COLUMNS as the protocol's AGENT object. */
static json_t *
agent_json(sqlite3_stmt *st)
{
	int64_t id = sqlite3_column_int64(st, 0);
	struct agent *live = agent_find(id);
	char name[32], job[32];
	json_t *o;

	snprintf(name, sizeof name, "agent-%lld", (long long)id);
	snprintf(job, sizeof job, "job-%lld",
	    (long long)sqlite3_column_int64(st, 1));
	o = json_pack(
	    "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "agent", name, "job", job, "chunk", store_col_text(st, 2),
	    "attempt", store_col_int(st, 3), "state", store_col_text(st, 4),
	    "pid", store_col_int(st, 5), "started", store_col_ts(st, 6),
	    "last_seen",
	    live != NULL ? json_ts(live->last_seen) : store_col_ts(st, 7),
	    "ended", store_col_ts(st, 8), "exit_code", store_col_int(st, 9),
	    "signal", store_col_int(st, 10), "reason", store_col_text(st, 11),
	    "log", store_col_text(st, 12));

	/* How it ended, in a word and a class, and what it left. */
	json_object_set_new(o, "end", store_col_text(st, 13));
	json_object_set_new(o, "class", store_col_text(st, 14));
	json_object_set_new(o, "summary", store_col_text(st, 15));
	json_object_set_new(o, "result", agent_col_file(st, 16));
	return o;
}

/* What a completion points at: the result if there is one, else the log. */
const char *
agent_output_file(const struct agent *a)
{
	if (a->result_path != NULL && access(a->result_path, F_OK) == 0)
		return a->result_path;
	return a->log;
}

/* ---- the agents table ---- */

static void
agent_store_state(struct agent *a)
{
	static const char sql[] = "UPDATE agents SET state = ? WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_text(st, 1, agent_state_name(a->state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a->id);
	store_step(st);
}

static void
agent_store_started(struct agent *a)
{
	static const char sql[] =
	    "UPDATE agents SET state = ?, "
	    "pid = ?, token_hash = ?, started = ?, "
	    "last_seen = ?, log = ?, pid_start = ?, "
	    "token_cap = ?, proxy_hash = ?, shim_pid = ?, "
	    "shim_start = ? WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_text(st, 1, agent_state_name(a->state), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, a->pid);
	sqlite3_bind_blob(st, 3, a->token_hash, SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, a->started);
	sqlite3_bind_int64(st, 5, a->last_seen);
	store_bind_text(st, 6, a->log);
	sqlite3_bind_int64(st, 7, a->pid_start);
	if (a->cap > 0)
		sqlite3_bind_int64(st, 8, a->cap);
	sqlite3_bind_blob(st, 9, a->proxy_hash, SHA256_LEN, SQLITE_STATIC);
	if (a->shim > 0) {
		sqlite3_bind_int(st, 10, a->shim);
		sqlite3_bind_int64(st, 11, a->shim_start);
	}
	sqlite3_bind_int64(st, 12, a->id);
	store_step(st);
}

static void
agent_store_ended(struct agent *a, int code, int sig, const char *reason)
{
	static const char sql[] = "UPDATE agents SET state = ?, ended = ?, "
	                          "exit_code = ?, signal = ?, reason = ?, "
	                          "last_seen = ?, outcome = ?, "
	                          "fail_class = ? WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_text(st, 1, agent_state_name(a->state), -1, SQLITE_STATIC);
	/* Its shim's time when it saw the end (swarmd may have been down). */
	sqlite3_bind_int64(st, 2, a->ended > 0 ? a->ended : now_wall_ms());
	if (code >= 0)
		sqlite3_bind_int(st, 3, code);
	if (sig > 0)
		sqlite3_bind_int(st, 4, sig);
	store_bind_text(st, 5, reason);
	sqlite3_bind_int64(st, 6, a->last_seen);
	store_bind_text(st, 7, a->end_word);
	if (a->end_class != FAIL_NONE)
		sqlite3_bind_text(
		    st, 8, fail_class_name(a->end_class), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, a->id);
	store_step(st);
}

/*
 * Move the agent through its table and store what the move says, in the
 * caller's transaction: the only writer of agents.state.  CODE, SIG and
 * REASON are for an end (-1, 0, NULL otherwise).  A refused move is
 * logged and changes nothing.
 */
int
agent_apply(
    struct agent *a, enum agent_input in, int code, int sig, const char *reason)
{
	const struct agent_move *m;

	if ((int)a->state < 0 || a->state >= AGENT_NSTATES || (int)in < 0 ||
	    in >= AGENT_NINPUTS ||
	    (m = &agent_table[a->state][in])->next == AGENT_INVALID) {
		log_warnx("agent-%lld: no transition from %s on %s",
		    (long long)a->id, agent_state_name(a->state),
		    (int)in >= 0 && in < AGENT_NINPUTS ? agent_input_names[in] :
		                                         "invalid input");
		return -1;
	}
	a->state = m->next;
	switch (m->action) {
	case AA_STATE:
		agent_store_state(a);
		break;
	case AA_STARTED:
		agent_store_started(a);
		break;
	case AA_ENDED:
		agent_store_ended(a, code, sig, reason);
		ended[a->state]++;
		break;
	case AA_NONE:
		break;
	}
	return 0;
}

/* The intent: a row in state starting, which gives the agent its id. */
void
agent_insert(struct agent *a)
{
	static const char ins[] = "INSERT INTO agents (job, chunk, attempt, "
	                          "state) VALUES (?, ?, ?, ?)";
	sqlite3_stmt *st = store_prepare(ins);

	sqlite3_bind_int64(st, 1, a->job);
	store_bind_text(st, 2, a->chunk);
	sqlite3_bind_int(st, 3, a->attempt);
	sqlite3_bind_text(
	    st, 4, agent_state_name(AGENT_STARTING), -1, SQLITE_STATIC);
	store_step(st);
	agent_set_id(a, store_last_id());
}

void
agent_store_result_path(struct agent *a)
{
	static const char sql[] = "UPDATE agents SET result_path = ? "
	                          "WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	store_bind_text(st, 1, a->result_path);
	sqlite3_bind_int64(st, 2, a->id);
	store_step(st);
}

/* The Claude Code session it runs, from its stream-json init line. */
void
agent_store_session(struct agent *a, const char *session)
{
	static const char sql[] = "UPDATE agents SET session_id = ? "
	                          "WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	store_bind_text(st, 1, session);
	sqlite3_bind_int64(st, 2, a->id);
	store_step(st);
}

/*
 * What it reported done with: its summary, and RESULT, the file it named
 * with done --result (NULL: its own SWARM_RESULT stays the one shown).
 */
void
agent_store_done(struct agent *a, const char *summary, const char *result)
{
	static const char sql[] = "UPDATE agents SET summary = ?, "
	                          "result_path = coalesce(?, result_path) "
	                          "WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	store_bind_text(st, 1, summary);
	store_bind_text(st, 2, result);
	sqlite3_bind_int64(st, 3, a->id);
	store_step(st);
}

/*
 * The agent before A on A's chunk: its session (NULL: none recorded),
 * its id and why it ended (*REASON, NULL if none), both for the caller
 * to free.
 */
char *
agent_prev_session(const struct agent *a, int64_t *prev, char **reason)
{
	static const char sql[] = "SELECT session_id, reason, id FROM agents "
	                          "WHERE job = ? AND chunk = ? AND id < ? "
	                          "ORDER BY id DESC LIMIT 1";
	sqlite3_stmt *st = store_prepare(sql);
	const unsigned char *t;
	char *session = NULL;

	*reason = NULL;
	*prev = 0;
	sqlite3_bind_int64(st, 1, a->job);
	store_bind_text(st, 2, a->chunk);
	sqlite3_bind_int64(st, 3, a->id);
	if (store_step(st) == SQLITE_ROW) {
		if ((t = sqlite3_column_text(st, 0)) != NULL)
			session = xstrdup((const char *)t);
		if ((t = sqlite3_column_text(st, 1)) != NULL)
			*reason = xstrdup((const char *)t);
		*prev = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return session;
}

void
agent_store_abort(struct agent *a)
{
	static const char sql[] = "UPDATE agents SET abort_requested = 1 "
	                          "WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_int64(st, 1, a->id);
	store_step(st);
}

/* last_seen moves with every heartbeat; it is written in batches. */
void
agent_store_seen(struct agent *a)
{
	static const char sql[] = "UPDATE agents SET last_seen = ? "
	                          "WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_int64(st, 1, a->last_seen);
	sqlite3_bind_int64(st, 2, a->id);
	store_step(st);
	a->seen_dirty = 0;
}

/* ---- loading the live agents at start ---- */

#define AGENT_ROW \
	"id, job, chunk, attempt, pid, pid_start, token_hash, " \
	"log, result_path, started, last_seen, token_cap, proxy_hash, " \
	"shim_pid, shim_start, log_dropped"

static struct agent *
agent_from_row(sqlite3_stmt *st)
{
	struct agent *a =
	    agent_new(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
	        (const char *)sqlite3_column_text(st, 2),
	        sqlite3_column_int(st, 3));
	const void *hash = sqlite3_column_blob(st, 6),
	           *proxy = sqlite3_column_blob(st, 12);

	a->state = AGENT_RUNNING;
	a->pid = sqlite3_column_int(st, 4);
	a->pid_start = sqlite3_column_type(st, 5) == SQLITE_NULL ?
	    -2 :
	    sqlite3_column_int64(st, 5);
	if (hash != NULL && sqlite3_column_bytes(st, 6) == SHA256_LEN)
		memcpy(a->token_hash, hash, SHA256_LEN);
	if (proxy != NULL && sqlite3_column_bytes(st, 12) == SHA256_LEN)
		memcpy(a->proxy_hash, proxy, SHA256_LEN);
	if (sqlite3_column_type(st, 7) != SQLITE_NULL)
		a->log = xstrdup((const char *)sqlite3_column_text(st, 7));
	if (sqlite3_column_type(st, 8) != SQLITE_NULL)
		a->result_path =
		    xstrdup((const char *)sqlite3_column_text(st, 8));
	a->started = sqlite3_column_int64(st, 9);
	a->last_seen = sqlite3_column_int64(st, 10);
	a->cap = sqlite3_column_int64(st, 11);
	a->shim = sqlite3_column_int(st, 13);
	a->shim_start = sqlite3_column_type(st, 14) == SQLITE_NULL ?
	    -2 :
	    sqlite3_column_int64(st, 14);
	a->log_dropped = sqlite3_column_int64(st, 15);
	return a;
}

/* The ended agents by state, once at start (agents_by_state). */
static void
agent_count_ended(void)
{
	static const char sql[] = "SELECT state, count(*) FROM agents "
	                          "WHERE state IN ('exited', 'killed') "
	                          "GROUP BY state";
	sqlite3_stmt *st = store_prepare(sql);
	const char *state;
	int i;

	memset(ended, 0, sizeof ended);
	while (store_step(st) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(st, 0);
		for (i = AGENT_EXITED; i < AGENT_NSTATES; i++) {
			if (state != NULL && strcmp(state, agent_names[i]) == 0)
				ended[i] = sqlite3_column_int64(st, 1);
		}
	}
	sqlite3_reset(st);
}

/* The agents the store says were live when swarmd last stopped. */
void
agent_load_live(void)
{
	static const char sql[] = "SELECT " AGENT_ROW " FROM agents WHERE "
	                          "state IN ('starting', 'running', "
	                          "'suspect') ORDER BY id";
	sqlite3_stmt *st = store_prepare(sql);

	while (store_step(st) == SQLITE_ROW)
		agent_from_row(st);
	sqlite3_reset(st);
	agent_count_ended();
}

/* Agents by state, for the metrics: the live from memory, the ended
 * as counted (an ended agent still in live_agents is counted there). */
void
agent_counts(int64_t n[AGENT_NSTATES])
{
	struct agent *a;
	int i;

	for (i = 0; i < AGENT_NSTATES; i++)
		n[i] = i >= AGENT_EXITED ? ended[i] : 0;
	TAILQ_FOREACH(a, &live_agents, entry) {
		if ((int)a->state >= 0 && a->state < AGENT_EXITED)
			n[a->state]++;
	}
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

/* S as a JSON string, escaped as jansson escapes it. */
static void
text_str(struct evbuffer *out, const unsigned char *s)
{
	const unsigned char *run;

	if (s == NULL) {
		evbuffer_add(out, "null", 4);
		return;
	}
	evbuffer_add(out, "\"", 1);
	for (;;) {
		for (run = s; *s >= 0x20 && *s != '"' && *s != '\\'; s++)
			;
		evbuffer_add(out, run, (size_t)(s - run));
		if (*s == '\0')
			break;
		switch (*s) {
		case '"':
		case '\\':
			evbuffer_add_printf(out, "\\%c", *s);
			break;
		case '\b':
			evbuffer_add(out, "\\b", 2);
			break;
		case '\f':
			evbuffer_add(out, "\\f", 2);
			break;
		case '\n':
			evbuffer_add(out, "\\n", 2);
			break;
		case '\r':
			evbuffer_add(out, "\\r", 2);
			break;
		case '\t':
			evbuffer_add(out, "\\t", 2);
			break;
		default:
			evbuffer_add_printf(out, "\\u%04x", *s);
		}
		s++;
	}
	evbuffer_add(out, "\"", 1);
}

/* A timestamp (wall ms, 0: none) as JSON. */
static void
text_ts(struct evbuffer *out, int64_t ms)
{
	char buf[TS_LEN];

	if (ms == 0)
		evbuffer_add(out, "null", 4);
	else
		evbuffer_add_printf(out, "\"%s\"", ts_format(ms, buf));
}

/* Column COL, an integer or NULL, as JSON. */
static void
text_int(struct evbuffer *out, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		evbuffer_add(out, "null", 4);
	else
		evbuffer_add_printf(
		    out, "%lld", (long long)sqlite3_column_int64(st, col));
}

/*
 * A ps row, the AGENT fields a listing needs, written as JSON text: at
 * 1,000 live agents a tree of jansson objects cost more than the query
 * and the socket together (BENCHMARKS.md, "ps at 1,000 live agents").
 */
static void
agent_ps_row(struct evbuffer *out, sqlite3_stmt *st)
{
	int64_t id = sqlite3_column_int64(st, 0);
	struct agent *live = agent_find(id);

	evbuffer_add_printf(out,
	    "{\"agent\":\"agent-%lld\",\"job\":\"job-%lld\",\"chunk\":",
	    (long long)id, (long long)sqlite3_column_int64(st, 1));
	text_str(out, sqlite3_column_text(st, 2));
	evbuffer_add(out, ",\"attempt\":", 11);
	text_int(out, st, 3);
	evbuffer_add(out, ",\"state\":", 9);
	text_str(out, sqlite3_column_text(st, 4));
	evbuffer_add(out, ",\"pid\":", 7);
	text_int(out, st, 5);
	evbuffer_add(out, ",\"started\":", 11);
	text_ts(out, sqlite3_column_int64(st, 6));
	evbuffer_add(out, ",\"last_seen\":", 13);
	text_ts(
	    out, live != NULL ? live->last_seen : sqlite3_column_int64(st, 7));
	evbuffer_add(out, ",\"ended\":", 9);
	text_ts(out, sqlite3_column_int64(st, 8));
	evbuffer_add(out, ",\"end\":", 7);
	text_str(out, sqlite3_column_text(st, 9));
	evbuffer_add(out, "}", 1);
}

/*
 * Four statements rather than one with optional filters: SQLite plans a
 * statement once, and "(?1 = 0 OR job = ?1)" would make every listing a
 * scan of all agents ever run.  Each of these uses an index.
 */
#define PS_COLUMNS \
	"SELECT a.id, a.job, a.chunk, a.attempt, a.state, " \
	"a.pid, a.started, a.last_seen, a.ended, a.outcome FROM agents a "
#define PS_LIVE "a.state IN ('starting', 'running', 'suspect') "

/*
 * The ps listing, a JSON array appended to OUT: JOB's agents (0: every
 * job's), live ones unless ALL.
 */
void
agent_list_text(int64_t job, int all, struct evbuffer *out)
{
	static const char live[] = PS_COLUMNS "WHERE " PS_LIVE "ORDER BY a.id";
	static const char every[] = PS_COLUMNS "ORDER BY a.id";
	static const char job_live[] =
	    PS_COLUMNS "WHERE a.job = ?1 AND " PS_LIVE "ORDER BY a.id";
	static const char job_all[] = PS_COLUMNS "WHERE a.job = ?1 "
	                                         "ORDER BY a.id";
	sqlite3_stmt *st;
	int n = 0;

	if (job != 0) {
		st = store_prepare(all ? job_all : job_live);
		sqlite3_bind_int64(st, 1, job);
	} else
		st = store_prepare(all ? every : live);
	evbuffer_add(out, "[", 1);
	while (store_step(st) == SQLITE_ROW) {
		if (n++ > 0)
			evbuffer_add(out, ",", 1);
		agent_ps_row(out, st);
	}
	sqlite3_reset(st);
	evbuffer_add(out, "]", 1);
}

/* The stored state of agent ID, or NULL when there is no such agent. */
char *
agent_stored_state(int64_t id)
{
	static const char sql[] = "SELECT state FROM agents WHERE id = ?";

	return store_text_by_id(sql, id);
}

/* Agent ID's log file, or NULL if there is no such agent or it never ran. */
char *
agent_log_path(int64_t id)
{
	static const char sql[] = "SELECT log FROM agents WHERE id = ?";

	return store_text_by_id(sql, id);
}

/* How many bytes agent ID's log lost from its head as it rotated. */
int64_t
agent_log_dropped(int64_t id)
{
	static const char sql[] = "SELECT log_dropped FROM agents "
	                          "WHERE id = ?1";
	struct agent *a = agent_find(id);
	sqlite3_stmt *st;
	int64_t n = 0;

	if (a != NULL)
		return a->log_dropped;
	st = store_prepare(sql);
	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

/* A's log lost BYTES more from its head (output.c rotated it). */
void
agent_log_cut(struct agent *a, int64_t bytes)
{
	static const char sql[] = "UPDATE agents SET log_dropped = ? "
	                          "WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	a->log_dropped += bytes;
	sqlite3_bind_int64(st, 1, a->log_dropped);
	sqlite3_bind_int64(st, 2, a->id);
	store_step(st);
	sqlite3_reset(st);
}

/*
 * The agent a chunk's name stands for: its live one, else its latest
 * attempt.  0 when the chunk never had an agent.  Uses agents_by_job.
 */
int64_t
agent_of_chunk(int64_t job, const char *chunk)
{
	static const char sql[] =
	    "SELECT a.id FROM agents a WHERE a.job = ? AND a.chunk = ? "
	    "ORDER BY a.state IN ('starting', 'running', 'suspect') DESC, "
	    "a.id DESC LIMIT 1";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t id = 0;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

/* Agent ID's job and chunk (the caller frees it), or NULL if none. */
char *
agent_chunk_of(int64_t id, int64_t *job)
{
	static const char sql[] = "SELECT job, chunk FROM agents WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	char *chunk = NULL;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW) {
		*job = sqlite3_column_int64(st, 0);
		chunk = xstrdup((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_reset(st);
	return chunk;
}

/*
 * The attempts cost tells apart: a failed attempt ended without its
 * chunk done by it (failed, aborted, dead, requeued, or its work
 * redone by a later attempt), so what it spent bought nothing kept.
 * An attempt that still runs, or whose chunk it took to done (or on to
 * its gates and merge), is not failed.  Uses agents_by_job and the
 * chunks' key.
 */
#define ATTEMPT_SELECT \
	"SELECT a.id, a.job, a.chunk, a.attempt, " \
	"a.state NOT IN ('starting', 'running', 'suspect') AND NOT " \
	"coalesce(c.agent = a.id AND c.state IN ('done', 'gating', " \
	"'merging', 'merged'), 0) FROM agents a " \
	"LEFT JOIN chunks c ON c.job = a.job AND c.id = a.chunk "

static void
attempt_from_row(sqlite3_stmt *st, struct agent_attempt *at)
{
	at->id = sqlite3_column_int64(st, 0);
	at->job = sqlite3_column_int64(st, 1);
	snprintf(at->chunk, sizeof at->chunk, "%s",
	    (const char *)sqlite3_column_text(st, 2));
	at->attempt = sqlite3_column_int(st, 3);
	at->failed = sqlite3_column_int(st, 4);
}

/* Each attempt at JOB's chunks, oldest first. */
void
agent_attempts_each(
    int64_t job, void (*cb)(void *, const struct agent_attempt *), void *arg)
{
	static const char sql[] =
	    ATTEMPT_SELECT "WHERE a.job = ? ORDER BY a.id";
	sqlite3_stmt *st = store_prepare(sql);
	struct agent_attempt at;

	sqlite3_bind_int64(st, 1, job);
	while (store_step(st) == SQLITE_ROW) {
		attempt_from_row(st, &at);
		cb(arg, &at);
	}
	sqlite3_reset(st);
}

/* Attempt ID into *AT; -1 if there is no such agent. */
int
agent_attempt_get(int64_t id, struct agent_attempt *at)
{
	static const char sql[] = ATTEMPT_SELECT "WHERE a.id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int rc = -1;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW) {
		attempt_from_row(st, at);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

/* ---- retention (prune.c) ---- */

/* JOB's agents not yet ended: the job stays while there are. */
int64_t
agent_prune_hold(int64_t job)
{
	static const char sql[] = "SELECT count(*) FROM agents WHERE job = ?1 "
	                          "AND state IN ('starting', 'running', "
	                          "'suspect')";

	return store_prune(sql, job, 0, 1);
}

/*
 * JOB's agents, up to LIMIT of them (all with DRY): EACH is told of
 * every one first (its id, log and result path, to take its rows in other
 * tables and its files), then, without DRY, their rows are deleted.
 * Returns how many.
 */
int64_t
agent_prune_job(int64_t job, int64_t limit, int dry,
    void (*each)(int64_t, const char *, const char *, void *), void *arg)
{
	static const char sel[] = "SELECT id, log, result_path FROM agents "
	                          "WHERE job = ?1 ORDER BY id LIMIT ?2";
	static const char del[] = "DELETE FROM agents WHERE id IN "
	                          "(SELECT id FROM agents WHERE job = ?1 "
	                          "ORDER BY id LIMIT ?2)";
	sqlite3_stmt *st = store_prepare(sel);
	int64_t n = 0;

	sqlite3_bind_int64(st, 1, job);
	sqlite3_bind_int64(st, 2, dry ? -1 : limit);
	while (store_step(st) == SQLITE_ROW) {
		each(sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2), arg);
		n++;
	}
	sqlite3_reset(st);
	if (!dry && n > 0)
		store_prune(del, job, limit, 0);
	return n;
}
