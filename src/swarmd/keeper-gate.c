/*
 * keeper-gate.c: a chunk's gates.  When an attempt of a job with gates
 * succeeds, its chunk is gating; once the attempt's worktree is settled
 * (keeper.c: the gate is the next operation on the chunk), the gates
 * run in the worktree, in order, each a child process (gate.c).  Only
 * what the branch holds can land, so work left uncommitted fails first,
 * as the gate "clean".  All passing: the chunk is done, or queued to
 * merge when its job merges (keeper-merge.c, which runs the same gates
 * on the target with keeper_gates_run()).  One failing:
 * the chunk fails with class gate and is reworked, its next attempt told
 * in SWARM_REJECTION which gate failed and what it said; or, its gate
 * retries spent, it is dead, `swarmctl dead` showing the gate's output.
 */
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"
#include "keeper.h"

#define GATE_TIMEOUT 600 /* seconds, when a gate gives none */
#define GATE_TAIL 200    /* lines of its output a rejection carries */

extern char **environ;

struct gates {
	int64_t job, agent;
	char *chunk; /* NULL: the merge queue's */
	int attempt;
	char *dir, *branch, *of, *stem;
	size_t step;
	struct gate_run *run;
	struct event *later;
	int64_t t0;
	char *log;
	gates_cb cb;
	void *arg;
	char err[256];
};

static void gates_next(struct gates *);

static json_t *
gates_of(int64_t job)
{
	struct job *j = job_find(job);

	return j != NULL ? json_object_get(j->spec, "gates") : NULL;
}

/* The last N lines of the file PATH, as one string. */
static json_t *
tail_text(const char *path, int n)
{
	json_t *lines = log_tail(path, n), *l;
	char *s = xstrdup(""), *t;
	size_t i;

	json_array_foreach(lines, i, l) {
		t = xasprintf("%s%s\n", s, json_string_value(l));
		free(s);
		s = t;
	}
	json_decref(lines);
	l = json_string(s);
	free(s);
	return l;
}

void
keeper_gates_cancel(struct gates *g)
{
	if (g == NULL)
		return;
	gate_cancel(g->run);
	if (g->later != NULL)
		event_free(g->later);
	free(g->chunk);
	free(g->dir);
	free(g->branch);
	free(g->of);
	free(g->stem);
	free(g->log);
	free(g);
}

static void
gates_end(struct gates *g, json_t *failed)
{
	g->cb(failed, g->log, g->arg);
	json_decref(failed);
	keeper_gates_cancel(g);
}

static void
gates_event(struct gates *g, const char *type, json_t *data)
{
	store_begin();
	evlog_add(type, g->job, g->chunk, g->agent, g->attempt, data);
	store_commit();
}

/* A gate failed: what the next attempt is told (SWARM_REJECTION). */
static json_t *
gate_failure(struct gates *g, json_t *gate, const char *status)
{
	return json_pack("{s:O, s:O, s:s, s:o, s:i, s:s}", "gate",
	    json_object_get(gate, "name"), "command",
	    json_object_get(gate, "command"), "status", status, "output",
	    tail_text(g->log, GATE_TAIL), "attempt", g->attempt, "log", g->log);
}

static void
on_gate(int status, int timed_out, void *arg)
{
	struct gates *g = arg;
	json_t *gate = json_array_get(gates_of(g->job), g->step);
	int ok = status == 0 && !timed_out;
	char what[96];

	g->run = NULL;
	if (gate == NULL) { /* the job went away */
		gates_end(g,
		    json_pack("{s:s, s:s}", "gate", "?", "status",
		        "the job is gone"));
		return;
	}
	if (timed_out)
		snprintf(what, sizeof what, "timed out after %lld s",
		    (long long)json_integer_value(
		        json_object_get(gate, "timeout")));
	else if (WIFEXITED(status))
		snprintf(
		    what, sizeof what, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(
		    what, sizeof what, "killed by signal %d", WTERMSIG(status));
	gates_event(g, ok ? "gate_passed" : "gate_failed",
	    json_pack("{s:O, s:s, s:I, s:s}", "gate",
	        json_object_get(gate, "name"), "status", ok ? "passed" : what,
	        "duration_ms", (json_int_t)(now_mono_ms() - g->t0), "log",
	        g->log));
	if (!ok) {
		gates_end(g, gate_failure(g, gate, what));
		return;
	}
	g->step++;
	gates_next(g);
}

/* The daemon's environment less SWARM_* and GIT_*, the job's, then ours. */
static char **
gate_env(struct gates *g, const char *name)
{
	struct job *j = job_find(g->job);
	json_t *jenv = j != NULL ? json_object_get(j->spec, "env") : NULL, *v;
	const char *key;
	char **env = NULL, **e;
	size_t n = 0;

	for (e = environ; *e != NULL; e++) {
		const char *eq = strchr(*e, '=');

		if (eq == NULL || strncmp(*e, "SWARM_", 6) == 0 ||
		    strncmp(*e, "GIT_", 4) == 0 ||
		    strncmp(*e, "NOTIFY_SOCKET=", 14) == 0 ||
		    json_object_getn(jenv, *e, (size_t)(eq - *e)) != NULL)
			continue;
		keeper_strv_add(&env, &n, xstrdup(*e));
	}
	json_object_foreach(jenv, key, v)
		keeper_strv_add(
		    &env, &n, xasprintf("%s=%s", key, json_string_value(v)));
	keeper_strv_add(
	    &env, &n, xasprintf(SWARM_ENV_SOCKET "=%s", srv.cfg.socket));
	keeper_strv_add(
	    &env, &n, xasprintf(SWARM_ENV_JOB "=job-%lld", (long long)g->job));
	if (g->chunk != NULL) {
		keeper_strv_add(
		    &env, &n, xasprintf(SWARM_ENV_CHUNK "=%s", g->chunk));
		keeper_strv_add(
		    &env, &n, xasprintf(SWARM_ENV_ATTEMPT "=%d", g->attempt));
	}
	keeper_strv_add(&env, &n, xasprintf("SWARM_WORKTREE=%s", g->dir));
	if (g->branch != NULL)
		keeper_strv_add(
		    &env, &n, xasprintf("SWARM_BRANCH=%s", g->branch));
	keeper_strv_add(&env, &n, xasprintf("SWARM_GATE=%s", name));
	keeper_strv_add(&env, &n, xasprintf("SWARM_GATE_OF=%s", g->of));
	return env;
}

/* Start gate number g->step, or end: all passed. */
static void
gates_next(struct gates *g)
{
	json_t *gate = json_array_get(gates_of(g->job), g->step), *v;
	json_t *t = json_object_get(gate, "timeout");
	const char *name = json_string_value(json_object_get(gate, "name"));
	char **argv = NULL, **env;
	size_t n = 0, i;

	if (gate == NULL) {
		gates_end(g, NULL);
		return;
	}
	json_array_foreach(json_object_get(gate, "command"), i, v)
		keeper_strv_add(&argv, &n,
		    keeper_expand(json_string_value(v), g->job,
		        g->chunk != NULL ? g->chunk : "", g->agent));
	env = gate_env(g, name);
	free(g->log);
	g->log = xasprintf("%s-%s.log", g->stem, name);
	g->t0 = now_mono_ms();
	gates_event(g, "gate_started",
	    json_pack("{s:s, s:O, s:s}", "gate", name, "command",
	        json_object_get(gate, "command"), "log", g->log));
	g->run = gate_run(g->dir, argv, env, g->log,
	    t != NULL ? (int)json_integer_value(t) : GATE_TIMEOUT, on_gate, g,
	    g->err, sizeof g->err);
	keeper_strv_free(argv);
	keeper_strv_free(env);
	if (g->run == NULL)
		gates_end(g,
		    json_pack("{s:s, s:O, s:s, s:i}", "gate", name, "command",
		        json_object_get(gate, "command"), "status", g->err,
		        "attempt", g->attempt));
}

static void
on_later(evutil_socket_t fd, short what, void *arg)
{
	struct gates *g = arg;

	(void)fd;
	(void)what;
	event_free(g->later);
	g->later = NULL;
	gates_next(g);
}

/*
 * JOB's gates, in order, in DIR; CB told once, with NULL when all
 * passed, else the failure's document, and the last gate's log.  Each
 * gate's log is STEM-NAME.log; OF marks the gates' processes
 * (SWARM_GATE_OF) so a crash's leftovers can be found.  CHUNK NULL:
 * the merge queue's, run on the target.  The first gate starts from
 * the loop, never inside this call.
 */
struct gates *
keeper_gates_run(int64_t job, const char *chunk, int64_t agent, int attempt,
    const char *dir, const char *branch, const char *of, const char *stem,
    gates_cb cb, void *arg)
{
	struct gates *g = xcalloc(1, sizeof *g);
	struct timeval now = { 0, 0 };

	g->job = job;
	g->chunk = chunk != NULL ? xstrdup(chunk) : NULL;
	g->agent = agent;
	g->attempt = attempt;
	g->dir = xstrdup(dir);
	g->branch = branch != NULL ? xstrdup(branch) : NULL;
	g->of = xstrdup(of);
	g->stem = xstrdup(stem);
	g->cb = cb;
	g->arg = arg;
	g->later = evtimer_new(srv.base, on_later, g);
	evtimer_add(g->later, &now);
	return g;
}

/* Gates a crash left running with SWARM_GATE_OF=OF: stopped first. */
void
keeper_gates_leftovers(const char *of)
{
	pid_t pid;
	int n;

	for (n = 0; n < 8 &&
	     (pid = proc_find_env("SWARM_GATE_OF", of, srv.cfg.socket)) > 0;
	     n++) {
		log_notice(
		    "%s: a gate left running (pid %d); killed", of, (int)pid);
		proc_signal_group(
		    getpgid(pid) > 1 ? getpgid(pid) : pid, SIGKILL);
		kill(pid, SIGKILL);
		usleep(10000);
	}
}

/* ---- a chunk's gates, in its worktree ---- */

/* The end of the gating: the chunk done or queued to merge, or failed
 * and routed. */
static void
gate_end(struct op *o, json_t *failed, const char *log)
{
	struct job *j = job_find(o->job);
	char *why, *doc;

	store_begin();
	if (failed == NULL && j != NULL &&
	    json_object_get(j->spec, "merge") != NULL) {
		chunk_apply(o->job, o->chunk, CI_GATE_MERGE, NULL);
		keeper_op_event(o, "gates_passed", NULL);
		keeper_merge_enqueue(o);
	} else if (failed == NULL) {
		chunk_apply(o->job, o->chunk, CI_GATE_PASS, NULL);
		keeper_op_event(o, "gates_passed", NULL);
	} else {
		why = xasprintf("gate %s failed: %s",
		    json_string_value(json_object_get(failed, "gate")),
		    json_string_value(json_object_get(failed, "status")));
		doc = json_dumps(failed, JSON_COMPACT);
		chunk_apply(o->job, o->chunk, CI_GATE_FAIL, why);
		chunk_set_gate_log(o->job, o->chunk, log);
		route_failure(o->job, o->chunk, FAIL_GATE, why, doc);
		free(why);
		free(doc);
	}
	if ((j = job_find(o->job)) != NULL)
		job_check_done(j);
	store_commit();
	scheduler_kick();
	keeper_op_done(o);
}

static void
on_gates(json_t *failed, const char *log, void *arg)
{
	struct op *o = arg;

	o->gates = NULL;
	gate_end(o, failed, log);
}

static char *
gate_of(const struct op *o)
{
	return xasprintf("job-%lld/%s", (long long)o->job, o->chunk);
}

/* Only what the branch holds can land: uncommitted work fails first. */
static void
on_clean(const struct git_result *r, void *arg)
{
	struct op *o = arg;
	json_t *failed;
	char *of, *stem;

	o->run = NULL;
	if (r->exit != 0 || r->outlen > 0) {
		failed = json_pack("{s:s, s:[s,s,s], s:s, s:s, s:i}", "gate",
		    "clean", "command", "git", "status", "--porcelain",
		    "status",
		    r->exit != 0 ? "git status failed" :
		                   "uncommitted changes: commit the work, or "
		                   "remove what is not part of it",
		    "output", r->exit != 0 ? r->err : r->out, "attempt",
		    o->row.attempt);
		store_begin();
		keeper_op_event(o, "gate_failed",
		    json_pack("{s:s, s:s}", "gate", "clean", "status",
		        json_string_value(json_object_get(failed, "status"))));
		store_commit();
		gate_end(o, failed, NULL);
		json_decref(failed);
		return;
	}
	of = gate_of(o);
	stem = xasprintf("%s/logs/gate-job-%lld-%s-%d", srv.cfg.statedir,
	    (long long)o->job, o->chunk, o->row.attempt);
	o->gates = keeper_gates_run(o->job, o->chunk, o->row.agent,
	    o->row.attempt, o->row.path, o->row.branch, of, stem, on_gates, o);
	free(of);
	free(stem);
}

void
keeper_gate_run(struct op *o)
{
	const char *status[] = { "status", "--porcelain",
		"--untracked-files=all", NULL };
	char *of;

	if (worktree_get(o->job, o->chunk, &o->row) == -1 ||
	    chunk_state_of(o->job, o->chunk) != CHUNK_GATING) {
		keeper_op_done(o);
		return;
	}
	of = gate_of(o);
	keeper_gates_leftovers(of);
	free(of);
	o->run = git_run(
	    o->row.path, status, NULL, on_clean, o, o->err, sizeof o->err);
	if (o->run == NULL) {
		json_t *failed = json_pack("{s:s, s:s, s:i}", "gate", "clean",
		    "status", o->err, "attempt", o->row.attempt);

		gate_end(o, failed, NULL);
		json_decref(failed);
	}
}
