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
