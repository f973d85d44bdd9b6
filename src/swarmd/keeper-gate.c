/*
 * keeper-gate.c: a chunk's gates.  When an attempt of a job with gates
 * succeeds, its chunk is gating; once the attempt's worktree is settled
 * (keeper.c: the gate is the next operation on the chunk), the gates
 * run in the worktree, in order, each a child process (gate.c).  Only
 * what the branch holds can land, so work left uncommitted fails first,
 * as the gate "clean".  All passing: the chunk is done.  One failing:
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

static void gate_next(struct op *);

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

/* The end of the gating: the chunk done, or failed and routed. */
static void
gate_end(struct op *o, json_t *failed)
{
	struct job *j;
	char *why, *doc;

	store_begin();
	if (failed == NULL) {
		chunk_apply(o->job, o->chunk, CI_GATE_PASS, NULL);
		keeper_op_event(o, "gates_passed", NULL);
	} else {
		why = xasprintf("gate %s failed: %s",
		    json_string_value(json_object_get(failed, "gate")),
		    json_string_value(json_object_get(failed, "status")));
		doc = json_dumps(failed, JSON_COMPACT);
		chunk_apply(o->job, o->chunk, CI_GATE_FAIL, why);
		chunk_set_gate_log(o->job, o->chunk, o->log);
		route_failure(o->job, o->chunk, FAIL_GATE, why, doc);
		free(why);
		free(doc);
		json_decref(failed);
	}
	if ((j = job_find(o->job)) != NULL)
		job_check_done(j);
	store_commit();
	scheduler_kick();
	keeper_op_done(o);
}

/* A gate failed: what the next attempt is told (SWARM_REJECTION). */
static json_t *
gate_failure(struct op *o, json_t *gate, const char *status)
{
	return json_pack("{s:O, s:O, s:s, s:o, s:i, s:s}", "gate",
	    json_object_get(gate, "name"), "command",
	    json_object_get(gate, "command"), "status", status, "output",
	    tail_text(o->log, GATE_TAIL), "attempt", o->row.attempt, "log",
	    o->log);
}

static void
on_gate(int status, int timed_out, void *arg)
{
	struct op *o = arg;
	json_t *gate = json_array_get(gates_of(o->job), (size_t)o->step);
	char what[96];

	o->gate = NULL;
	if (gate == NULL) { /* the job went away */
		gate_end(o,
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
	store_begin();
	keeper_op_event(o,
	    status == 0 && !timed_out ? "gate_passed" : "gate_failed",
	    json_pack("{s:O, s:s, s:I, s:s}", "gate",
	        json_object_get(gate, "name"), "status",
	        status == 0 && !timed_out ? "passed" : what, "duration_ms",
	        (json_int_t)(now_mono_ms() - o->t0), "log", o->log));
	store_commit();
	if (status != 0 || timed_out) {
		gate_end(o, gate_failure(o, gate, what));
		return;
	}
	o->step++;
	gate_next(o);
}

/* The daemon's environment less SWARM_* and GIT_*, the job's, then ours. */
static char **
gate_env(struct op *o, const char *name)
{
	struct job *j = job_find(o->job);
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
	    &env, &n, xasprintf(SWARM_ENV_JOB "=job-%lld", (long long)o->job));
	keeper_strv_add(&env, &n, xasprintf(SWARM_ENV_CHUNK "=%s", o->chunk));
	keeper_strv_add(
	    &env, &n, xasprintf(SWARM_ENV_ATTEMPT "=%d", o->row.attempt));
	keeper_strv_add(&env, &n, xasprintf("SWARM_WORKTREE=%s", o->row.path));
	keeper_strv_add(&env, &n, xasprintf("SWARM_BRANCH=%s", o->row.branch));
	keeper_strv_add(&env, &n, xasprintf("SWARM_GATE=%s", name));
	keeper_strv_add(&env, &n,
	    xasprintf(
	        "SWARM_GATE_OF=job-%lld/%s", (long long)o->job, o->chunk));
	return env;
}

/* Start gate number o->step, or end: all passed. */
static void
gate_next(struct op *o)
{
	json_t *gate = json_array_get(gates_of(o->job), (size_t)o->step), *v;
	json_t *t = json_object_get(gate, "timeout");
	const char *name = json_string_value(json_object_get(gate, "name"));
	char **argv = NULL, **env;
	size_t n = 0, i;

	if (gate == NULL) {
		gate_end(o, NULL);
		return;
	}
	json_array_foreach(json_object_get(gate, "command"), i, v)
		keeper_strv_add(&argv, &n,
		    keeper_expand(
		        json_string_value(v), o->job, o->chunk, o->row.agent));
	env = gate_env(o, name);
	free(o->log);
	o->log =
	    xasprintf("%s/logs/gate-job-%lld-%s-%d-%s.log", srv.cfg.statedir,
	        (long long)o->job, o->chunk, o->row.attempt, name);
	o->t0 = now_mono_ms();
	store_begin();
	keeper_op_event(o, "gate_started",
	    json_pack("{s:s, s:O, s:s}", "gate", name, "command",
	        json_object_get(gate, "command"), "log", o->log));
	store_commit();
	o->gate = gate_run(o->row.path, argv, env, o->log,
	    t != NULL ? (int)json_integer_value(t) : GATE_TIMEOUT, on_gate, o,
	    o->err, sizeof o->err);
	keeper_strv_free(argv);
	keeper_strv_free(env);
	if (o->gate == NULL)
		gate_end(o,
		    json_pack("{s:s, s:O, s:s, s:i}", "gate", name, "command",
		        json_object_get(gate, "command"), "status", o->err,
		        "attempt", o->row.attempt));
}

/* Only what the branch holds can land: uncommitted work fails first. */
static void
on_clean(const struct git_result *r, void *arg)
{
	struct op *o = arg;
	json_t *failed;

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
		free(o->log);
		o->log = NULL;
		gate_end(o, failed);
		return;
	}
	o->step = 0;
	gate_next(o);
}

/* Gates a crash left running in this chunk's worktree: stopped first. */
static void
gate_leftovers(struct op *o)
{
	char *of = xasprintf("job-%lld/%s", (long long)o->job, o->chunk);
	pid_t pid;
	int n;

	for (n = 0; n < 8 &&
	     (pid = proc_find_env("SWARM_GATE_OF", of, srv.cfg.socket)) > 0;
	     n++) {
		log_notice("job-%lld/%s: a gate left running (pid %d); killed",
		    (long long)o->job, o->chunk, (int)pid);
		proc_signal_group(
		    getpgid(pid) > 1 ? getpgid(pid) : pid, SIGKILL);
		kill(pid, SIGKILL);
		usleep(10000);
	}
	free(of);
}

void
keeper_gate_run(struct op *o)
{
	const char *status[] = { "status", "--porcelain",
		"--untracked-files=all", NULL };

	if (worktree_get(o->job, o->chunk, &o->row) == -1 ||
	    chunk_state_of(o->job, o->chunk) != CHUNK_GATING) {
		keeper_op_done(o);
		return;
	}
	gate_leftovers(o);
	o->run = git_run(
	    o->row.path, status, NULL, on_clean, o, o->err, sizeof o->err);
	if (o->run == NULL)
		gate_end(o,
		    json_pack("{s:s, s:s, s:i}", "gate", "clean", "status",
		        o->err, "attempt", o->row.attempt));
}
