/*
 * prune.c: retention.  A finished job past its age goes whole: its rows,
 * each table's deleted by the module that owns it (ARCHITECTURE.md), and
 * its files under the state directory (agent logs, result files kept
 * there, checkpoint files, gate logs, its env file).  A job stays while
 * anything of it may still matter:
 *
 *   work not settled    a chunk queued, running, gating or merging,
 *                       an agent alive, a merge still in a queue
 *   a kept worktree     any worktree not removed (`clean` removes those
 *                       that hold no work); snapshot refs stay in git
 *   a person's turn     an open escalation, or a dead letter newer
 *                       than the cutoff
 *
 * A run works in steps of at most PRUNE_STEP rows or files, each one
 * transaction, the loop free between them: pruning a large job never
 * stalls the daemon for long.  Runs queue one behind another; [store]
 * keep starts one now and then, `swarmctl prune` on request.
 */
#include <sys/stat.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "swarmd.h"

#define PRUNE_STEP 500   /* rows or files a step, at most */
#define PRUNE_EVERY 3600 /* seconds between periodic runs, at most */
#define PRUNE_LISTED 100 /* jobs named in a report, at most */

/* The job-keyed tables, in the order they go; the jobs row goes last. */
static const struct {
	const char *name;
	int64_t (*fn)(int64_t, int64_t, int);
} by_job[] = {
	{ "events", evlog_prune_job },
	{ "checkpoints", checkpoint_prune_job },
	{ "escalations", escalate_prune_job },
	{ "worktrees", worktree_prune_job },
	{ "merges", merge_prune_job },
};

/* The agent-keyed ones, for each agent of the job before its row goes. */
static const struct {
	const char *name;
	int64_t (*fn)(int64_t, int64_t, int);
} by_agent[] = {
	{ "usage", quota_prune_agent },
	{ "messages", mailbox_prune_agent },
};

enum phase {
	P_FIND,     /* the next candidate, and whether it must stay */
	P_BY_JOB,   /* by_job[table] */
	P_BY_AGENT, /* by_agent[table] of agents[agent] */
	P_AGENTS,   /* the agents' rows and files */
	P_CHUNKS,
	P_FILES, /* the job's other files */
	P_JOB,
	P_DONE
};

struct prune_run {
	TAILQ_ENTRY(prune_run) entry;
	int64_t cutoff;
	double older_than;
	int dry;
	prune_cb cb;
	void *arg;

	enum phase phase;
	size_t table;
	int64_t job, after;
	int64_t *agents;
	size_t nagents, agent;

	json_t *rows, *pruned, *held;
	int64_t jobs, files, bytes, steps, longest_us;
};
static TAILQ_HEAD(, prune_run) runs = TAILQ_HEAD_INITIALIZER(runs);
static struct event *step_ev, *period_ev;
static int64_t busy_job; /* the job a run is taking apart */

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
count_rows(struct prune_run *r, const char *table, int64_t n)
{
	json_t *v = json_object_get(r->rows, table);

	json_object_set_new(
	    r->rows, table, json_integer(json_integer_value(v) + n));
}

/* Whether PATH is a file of our own, under the state directory. */
static int
in_statedir(const char *path)
{
	size_t n = strlen(srv.cfg.statedir);

	return path != NULL && strncmp(path, srv.cfg.statedir, n) == 0 &&
	    path[n] == '/' && strstr(path, "/../") == NULL;
}

/* One file of the job: counted, and removed unless dry. */
static void
prune_file(struct prune_run *r, const char *path)
{
	struct stat sb;

	if (!in_statedir(path) || lstat(path, &sb) == -1 ||
	    !S_ISREG(sb.st_mode))
		return;
	r->files++;
	r->bytes += sb.st_size;
	if (!r->dry && unlink(path) == -1 && errno != ENOENT)
		log_warn("prune: unlink %s", path);
}

/* The files PATTERN (under the state directory) matches; how many. */
static int64_t
prune_glob(struct prune_run *r, const char *fmt, int64_t job)
{
	char *pattern = xasprintf(fmt, srv.cfg.statedir, (long long)job);
	glob_t g;
	size_t i;
	int64_t n = 0;

	if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++)
			prune_file(r, g.gl_pathv[i]);
		n = (int64_t)g.gl_pathc;
		globfree(&g);
	}
	free(pattern);
	return n;
}

/* Why JOB must stay, or NULL when it may go. */
static const char *
prune_hold(int64_t job, int64_t cutoff)
{
	const char *why;

	if (job_find(job) != NULL)
		return "running";
	if ((why = chunk_prune_hold(job, cutoff)) != NULL)
		return why;
	if (agent_prune_hold(job) > 0)
		return "an agent still alive";
	if (merge_prune_hold(job) > 0)
		return "merges still queued";
	if (worktree_prune_hold(job) > 0)
		return "a worktree kept (clean removes those holding no work)";
	if (escalate_prune_hold(job) > 0)
		return "an open escalation";
	return NULL;
}

static void
collect_agent(int64_t id, const char *log, const char *result, void *arg)
{
	struct prune_run *r = arg;

	(void)log;
	(void)result;
	r->agents = xrealloc(r->agents, (r->nagents + 1) * sizeof *r->agents);
	r->agents[r->nagents++] = id;
}

/*
 * An agent's files: its log, its Claude Code settings.  Its result, when
 * it is ours (results/job-N), goes with the job's files; one in the
 * job's workdir (result.path) is the operator's and stays.
 */
static void
agent_files(int64_t id, const char *log, const char *result, void *arg)
{
	struct prune_run *r = arg;
	char *settings = xasprintf("%s/logs/agent-%lld.settings.json",
	    srv.cfg.statedir, (long long)id);

	(void)result;
	prune_file(r, log);
	prune_file(r, settings);
	free(settings);
}

/* The next job that ended before the cutoff, or the end of the run. */
static int64_t
step_find(struct prune_run *r)
{
	const char *why;

	if ((r->job = job_prune_next(r->after, r->cutoff)) == 0) {
		r->phase = P_DONE;
		return 1;
	}
	r->after = r->job;
	if ((why = prune_hold(r->job, r->cutoff)) != NULL) {
		if (json_array_size(r->held) < PRUNE_LISTED)
			json_array_append_new(r->held,
			    json_pack("{s:o, s:s}", "job",
			        json_sprintf("job-%lld", (long long)r->job),
			        "because", why));
		return 1;
	}
	r->nagents = r->agent = r->table = 0;
	agent_prune_job(r->job, 0, 1, collect_agent, r);
	busy_job = r->dry ? 0 : r->job;
	r->phase = P_BY_JOB;
	return 1 + (int64_t)r->nagents / 16;
}

/* One job's files beside its rows. */
static int64_t
step_files(struct prune_run *r)
{
	int64_t n = 0;
	char *dir;

	n += prune_glob(r, "%s/logs/gate-job-%lld-*", r->job);
	n += prune_glob(r, "%s/checkpoints/job-%lld.*", r->job);
	n += prune_glob(r, "%s/results/job-%lld/*", r->job);
	if (!r->dry) {
		/* Empty now, or the job's own workdir left empty. */
		dir = xasprintf(
		    "%s/results/job-%lld", srv.cfg.statedir, (long long)r->job);
		(void)rmdir(dir);
		free(dir);
		dir = xasprintf(
		    "%s/work/job-%lld", srv.cfg.statedir, (long long)r->job);
		(void)rmdir(dir);
		free(dir);
	}
	return n + 1;
}

static void
step_job(struct prune_run *r)
{
	int64_t n = job_prune(r->job, r->dry, &r->bytes);

	count_rows(r, "jobs", n);
	r->jobs++;
	if (json_array_size(r->pruned) < PRUNE_LISTED)
		json_array_append_new(
		    r->pruned, json_sprintf("job-%lld", (long long)r->job));
	if (!r->dry)
		evlog_add("job_pruned", 0, NULL, 0, 0,
		    json_pack("{s:o}", "pruned",
		        json_sprintf("job-%lld", (long long)r->job)));
	busy_job = 0;
	r->phase = P_FIND;
}

/*
 * A table's rows of the job or of its current agent, up to BUDGET;
 * moves on once a call deletes fewer than asked (with DRY, counted whole
 * at once).
 */
static int64_t
step_table(struct prune_run *r, int64_t budget)
{
	int64_t n;

	if (r->phase == P_BY_JOB) {
		n = by_job[r->table].fn(r->job, budget, r->dry);
		count_rows(r, by_job[r->table].name, n);
		if ((r->dry || n < budget) && ++r->table == nitems(by_job)) {
			r->table = 0;
			r->phase = P_BY_AGENT;
		}
		return n;
	}
	if (r->agent == r->nagents) {
		r->phase = P_AGENTS;
		return 1;
	}
	n = by_agent[r->table].fn(r->agents[r->agent], budget, r->dry);
	count_rows(r, by_agent[r->table].name, n);
	if ((r->dry || n < budget) && ++r->table == nitems(by_agent)) {
		r->table = 0;
		r->agent++;
	}
	return n;
}

/* Some of the run's work, about BUDGET rows or files; what it took. */
static int64_t
step_some(struct prune_run *r, int64_t budget)
{
	int64_t n;

	switch (r->phase) {
	case P_FIND:
		return step_find(r);
	case P_BY_JOB:
	case P_BY_AGENT:
		return step_table(r, budget);
	case P_AGENTS:
		n = agent_prune_job(r->job, budget, r->dry, agent_files, r);
		count_rows(r, "agents", n);
		if (r->dry || n < budget)
			r->phase = P_CHUNKS;
		return 2 * n; /* a row and its files */
	case P_CHUNKS:
		n = chunk_prune_job(r->job, budget, r->dry);
		count_rows(r, "chunks", n);
		if (r->dry || n < budget)
			r->phase = P_FILES;
		return n;
	case P_FILES:
		r->phase = P_JOB;
		return step_files(r);
	case P_JOB:
		step_job(r);
		return 1;
	case P_DONE:
		break;
	}
	return 1;
}

static void step_arm(void);

/* A run out of the queue. */
static void
run_free(struct prune_run *r)
{
	json_decref(r->rows);
	json_decref(r->pruned);
	json_decref(r->held);
	free(r->agents);
	free(r);
}

static void
prune_finish(struct prune_run *r)
{
	json_t *report = json_pack("{s:b, s:f, s:o, s:I, s:O, s:I, s:I, "
	                           "s:O, s:O, s:I, s:f}",
	    "dry_run", r->dry, "older_than", r->older_than, "cutoff",
	    json_ts(r->cutoff), "jobs", (json_int_t)r->jobs, "rows", r->rows,
	    "files", (json_int_t)r->files, "bytes", (json_int_t)r->bytes,
	    "pruned", r->pruned, "held", r->held, "steps", (json_int_t)r->steps,
	    "longest_step_ms", (double)r->longest_us / 1000.0);

	if (!r->dry && (r->jobs > 0 || r->cb != NULL)) {
		store_begin();
		evlog_add("prune_done", 0, NULL, 0, 0,
		    json_pack("{s:I, s:O, s:I, s:I, s:I, s:f}", "jobs",
		        (json_int_t)r->jobs, "rows", r->rows, "files",
		        (json_int_t)r->files, "bytes", (json_int_t)r->bytes,
		        "held", (json_int_t)json_array_size(r->held),
		        "longest_step_ms", (double)r->longest_us / 1000.0));
		store_commit();
	}
	TAILQ_REMOVE(&runs, r, entry);
	if (r->cb != NULL)
		r->cb(report, r->arg);
	json_decref(report);
	run_free(r);
	step_arm();
}

/* One step of the first run: one transaction, then the loop again. */
static void
on_step(evutil_socket_t fd, short what, void *arg)
{
	struct prune_run *r = TAILQ_FIRST(&runs);
	int64_t budget = PRUNE_STEP, t0 = mono_us(), us;

	(void)fd;
	(void)what;
	(void)arg;
	if (r == NULL)
		return;
	if (!r->dry)
		store_begin();
	while (budget > 0 && r->phase != P_DONE)
		budget -= step_some(r, budget) + 1;
	if (!r->dry)
		store_commit();
	us = mono_us() - t0;
	r->steps++;
	if (us > r->longest_us)
		r->longest_us = us;
	if (r->phase == P_DONE)
		prune_finish(r);
	else
		step_arm();
}

static void
step_arm(void)
{
	struct timeval now = { 0, 0 };

	if (!TAILQ_EMPTY(&runs) && step_ev != NULL)
		evtimer_add(step_ev, &now);
}

/*
 * Prune the jobs that ended OLDER_THAN seconds ago or earlier; with DRY,
 * count only.  CB hears the report (NULL if swarmd stops first); an
 * asker that goes away first calls prune_forget().
 */
struct prune_run *
prune_start(double older_than, int dry, prune_cb cb, void *arg)
{
	struct prune_run *r = xcalloc(1, sizeof *r);

	r->older_than = older_than;
	r->cutoff = now_wall_ms() - (int64_t)(older_than * 1000);
	r->dry = dry;
	r->cb = cb;
	r->arg = arg;
	r->rows = json_object();
	r->pruned = json_array();
	r->held = json_array();
	TAILQ_INSERT_TAIL(&runs, r, entry);
	step_arm();
	return r;
}

void
prune_forget(struct prune_run *r)
{
	r->cb = NULL;
}

/* Whether a run is taking job ID apart now (a retry must wait). */
int
prune_busy(int64_t id)
{
	return id != 0 && id == busy_job;
}

/* How often [store] keep runs: a quarter of it, from 1 s to an hour. */
static void
period_arm(void)
{
	double every = srv.cfg.keep / 4;
	struct timeval tv;

	if (srv.cfg.keep <= 0 || period_ev == NULL)
		return;
	if (every > PRUNE_EVERY)
		every = PRUNE_EVERY;
	if (every < 1)
		every = 1;
	tv.tv_sec = (time_t)every;
	tv.tv_usec = 0;
	evtimer_add(period_ev, &tv);
}

static void
on_period(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* One periodic run at a time: skip a turn while one is queued. */
	if (TAILQ_EMPTY(&runs) && srv.cfg.keep > 0)
		prune_start(srv.cfg.keep, 0, NULL, NULL);
	period_arm();
}

void
prune_init(void)
{
	step_ev = evtimer_new(srv.base, on_step, NULL);
	period_ev = evtimer_new(srv.base, on_period, NULL);
	period_arm();
}

void
prune_free(void)
{
	struct prune_run *r;

	/* A waiting asker hears no report: swarmd is stopping. */
	while ((r = TAILQ_FIRST(&runs)) != NULL) {
		TAILQ_REMOVE(&runs, r, entry);
		if (r->cb != NULL)
			r->cb(NULL, r->arg);
		run_free(r);
	}
	if (step_ev != NULL)
		event_free(step_ev);
	if (period_ev != NULL)
		event_free(period_ev);
	step_ev = period_ev = NULL;
	busy_job = 0;
}
