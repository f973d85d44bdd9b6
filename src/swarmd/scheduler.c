/*
 * scheduler.c: turn queued chunks into running agents and settle them when
 * they end.  Intent is durable before action: a batch of dispatches is
 * committed before any of its agents is spawned, and each end is recorded
 * in one transaction with its chunk's new state and completion event.
 */
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

static struct event *kick_ev, *sigchld_ev, *flush_ev;
static int nlive;

static void on_timeout(evutil_socket_t, short, void *);
static int agent_unprepare(struct agent *);

struct dispatch {
	struct spawn_req req;
	char *task;
	int refused; /* its worktree could not be claimed: req.error */
	int later;   /* spawned when its worktree is ready */
};

static void
dispatch_clear(struct dispatch *d)
{
	char **e;

	free(d->task);
	free(d->req.checkpoint);
	free(d->req.rejection);
	free(d->req.dir);
	for (e = d->req.env; e != NULL && *e != NULL; e++)
		free(*e);
	free(d->req.env);
}

void
scheduler_kick(void)
{
	if (kick_ev != NULL && !srv.shutting_down)
		event_active(kick_ev, EV_TIMEOUT, 0);
}

/* The exit as the table reads it, and its words for a reason. */
static enum agent_exit
exit_class(int status, int *code, int *sig, char *text, size_t len)
{
	*code = -1;
	*sig = 0;
	if (WIFEXITED(status)) {
		*code = WEXITSTATUS(status);
		snprintf(text, len, "exit status %d", *code);
		return *code == 0 ? EXIT_ZERO : EXIT_FAIL;
	}
	*sig = WTERMSIG(status);
	snprintf(text, len, "killed by signal %d (%s)", *sig, strsignal(*sig));
	return *sig == SIGKILL ? EXIT_SIGKILL : EXIT_FAIL;
}

/* Whether its result holds, read the way its exit allows. */
static int
finish_result_valid(struct agent *a, enum agent_exit x, char *why, size_t len)
{
	if (x == EXIT_UNSEEN)
		return recover_result_ok(a, why, len);
	return result_settle(a, job_find(a->job), a->result_path, why, len) ==
	    0;
}

/* Why it ended, in words, for its row and its chunk's. */
static void
finish_reason(struct agent *a, enum agent_exit x, char *buf, size_t len)
{
	const char *r = a->end_reason;
	int seen = x != EXIT_UNSEEN;

	switch (a->end) {
	case END_TIMED_OUT:
		if (seen)
			snprintf(buf, len, "timeout after %d s", a->timeout);
		else
			snprintf(buf, len, "timeout");
		break;
	case END_ABORTED:
	case END_RESTARTED:
	case END_KILLED:
		if (seen) {
			snprintf(buf, len, "aborted%s%s", r != NULL ? ": " : "",
			    r != NULL ? r : "");
			break;
		}
		/* FALLTHROUGH */
	case END_INTERRUPTED:
		if (seen)
			snprintf(buf, len, "interrupted: swarmd stopped");
		else
			snprintf(buf, len, "%s", r != NULL ? r : "aborted");
		break;
	case END_LOST:
		snprintf(buf, len, "lost: ended while swarmd was down");
		break;
	case END_NONE:
	case END_FAILED:
	case END_FAILED_TRANSIENT:
	case END_FAILED_ACCOUNT:
		if (!seen)
			snprintf(buf, len,
			    "exited while re-adopted, status unknown, no valid result");
		else if (a->end != END_NONE && r != NULL)
			snprintf(buf, len, "%s", r);
		break;
	case END_SPAWN_FAILED:
		snprintf(buf, len, "%s", r != NULL ? r : "spawn failed");
		break;
	default:
		break;
	}
}

/* Its row, its chunk's move and the event, for OUTCOME O. */
static void
finish_record(struct agent *a, const struct agent_outcome *o, int code, int sig,
    const char *reason)
{
	json_t *ev;

	a->end_word = agent_end_word(a->end, o->chunk);
	a->end_class = o->cls;
	agent_apply(a, o->agent, code, sig, reason);
	ev = json_pack("{s:o, s:o, s:s*}", "exit_code",
	    code >= 0 ? json_integer(code) : json_null(), "signal",
	    sig > 0 ? json_integer(sig) : json_null(), "reason", reason);
	if (o->chunk == CHUNK_NINPUTS)
		evlog_add(
		    "subagent_exited", a->job, a->chunk, a->id, a->attempt, ev);
	else if (chunk_complete(a, o->chunk, o->cls, reason,
	             agent_output_file(a), ev) != -1 &&
	    o->chunk == CI_EXIT_FAIL) {
		route_failure(a->job, a->chunk, o->cls, reason, NULL);
		if (o->cls == FAIL_ACCOUNT)
			route_account(a, reason);
	}
	log_info("agent-%lld (job-%lld/%s) %s: %s", (long long)a->id,
	    (long long)a->job, a->chunk, agent_state_name(a->state),
	    reason != NULL ? reason : "exit status 0");
}

/*
 * The one completion path for an agent that is gone: its end and its
 * exit give the outcome (agent-end.c); the agent's row and its chunk
 * move through their tables, in the caller's transaction.  EXITED is the
 * exit in words, or NULL when it was not seen.  Frees the agent.
 */
void
agent_finish(
    struct agent *a, enum agent_exit x, int code, int sig, const char *exited)
{
	const struct agent_outcome *o;
	struct job *j = job_find(a->job);
	char reason[1024];
	int valid = 1;

	snprintf(reason, sizeof reason, "%s", exited != NULL ? exited : "");
	output_unwatch(a);
	spawn_status_forget(a);
	claude_exit_check(a, x);
	if (agent_outcome_needs_result(a->end, x))
		valid = finish_result_valid(a, x, reason, sizeof reason);
	o = agent_outcome(a->end, x, valid);
	if (valid || o->cls != FAIL_SCHEMA)
		finish_reason(a, x, reason, sizeof reason);
	/* No reason for a success, nor for a settled agent's clean exit. */
	if (o->chunk == CI_EXIT_OK ||
	    (o->chunk == CHUNK_NINPUTS && (x == EXIT_ZERO || x == EXIT_UNSEEN)))
		finish_record(a, o, code, sig, NULL);
	else
		finish_record(a, o, code, sig, reason);
	/* Its worktree settled, then its chunk gated if it is gating. */
	keeper_ended(a);
	agent_deliver(a);
	nlive--;
	if (j != NULL)
		j->running--;
	watchdog_agent_free(a);
	agent_free(a);
	if (j != NULL)
		job_check_done(j);
}

static void
on_kill(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)what;
	if (proc_group_alive(a->pid)) {
		log_notice(
		    "agent-%lld: still alive after the grace period; SIGKILL",
		    (long long)a->id);
		proc_signal_group(a->pid, SIGKILL);
	}
}

/* SIGTERM now, SIGKILL after GRACE seconds. */
static void
agent_terminate(struct agent *a, double grace)
{
	struct timeval tv;

	proc_signal_group(a->pid, SIGTERM);
	if (a->kill_ev == NULL)
		a->kill_ev = evtimer_new(srv.base, on_kill, a);
	tv.tv_sec = (time_t)grace;
	tv.tv_usec = (suseconds_t)((grace - (double)tv.tv_sec) * 1e6);
	evtimer_add(a->kill_ev, &tv);
}

void
agent_arm_timeout(struct agent *a, int64_t elapsed_ms)
{
	int64_t left = (int64_t)a->timeout * 1000 - elapsed_ms;
	struct timeval tv;

	if (a->timeout <= 0)
		return;
	if (left < 0)
		left = 0;
	a->timeout_ev = evtimer_new(srv.base, on_timeout, a);
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000 * 1000);
	evtimer_add(a->timeout_ev, &tv);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)what;
	agent_end_set(a, END_TIMED_OUT, NULL);
	store_begin();
	evlog_add("timeout", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:i}", "timeout", a->timeout));
	store_commit();
	log_notice("agent-%lld: timeout after %d s; terminating",
	    (long long)a->id, a->timeout);
	agent_terminate(a, srv.cfg.abort_grace);
}

/* Record the abort request and the mailbox message first, then signal. */
int
agent_abort(struct agent *a, double grace, const char *reason)
{
	return agent_abort_as(a, grace, reason, END_ABORTED);
}

/* The same, with what the chunk becomes: aborted, requeued or dead. */
int
agent_abort_as(
    struct agent *a, double grace, const char *reason, enum agent_end end)
{
	char *text;

	if (agent_is_aborting(a)) {
		if (!agent_unprepare(a))
			agent_terminate(a, grace);
		return 0;
	}
	text = xasprintf("abort%s%s", reason != NULL ? ": " : "",
	    reason != NULL ? reason : "");
	store_begin();
	agent_store_abort(a);
	mailbox_put(a, "swarmd", text);
	evlog_add("abort_requested", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:s*, s:f}", "reason", reason, "grace", grace));
	store_commit();
	free(text);
	agent_end_set(a, end, reason);
	log_notice("agent-%lld: abort requested%s%s", (long long)a->id,
	    reason != NULL ? ": " : "", reason != NULL ? reason : "");
	agent_deliver(a);
	if (!agent_unprepare(a))
		agent_terminate(a, grace);
	return 0;
}

/* Its worktree is still being made, so nothing of it runs yet. */
int
agent_preparing(const struct agent *a)
{
	return a->pid <= 0 && a->state == AGENT_STARTING && a->shim <= 0;
}

/*
 * An agent ended before it started, while its worktree was being made:
 * that stops, and the agent is finished (as its end says).  1 if so.
 */
static int
agent_unprepare(struct agent *a)
{
	struct dispatch *d;

	if (!agent_preparing(a) || (d = keeper_cancel(a)) == NULL)
		return 0;
	store_begin();
	if (a->end == END_NONE)
		agent_end_set(a, END_SPAWN_FAILED, "ended before it started");
	agent_finish(a, EXIT_FAIL, -1, 0, NULL);
	store_commit();
	dispatch_clear(d);
	free(d);
	return 1;
}

struct pick {
	struct dispatch *d;
	size_t n, cap;
	struct job *job;
};

static void
pick_one(void *arg, const char *chunk, const char *task, int attempts)
{
	struct pick *p = arg;

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->d = xrealloc(p->d, p->cap * sizeof *p->d);
	}
	memset(&p->d[p->n], 0, sizeof p->d[p->n]);
	p->d[p->n].req.agent = agent_new(0, p->job->id, chunk, attempts + 1);
	p->d[p->n].task = xstrdup(task);
	p->job->running++;
	p->n++;
}

/* Pick queued chunks for every job with free slots, in job order. */
static size_t
schedule_pick(struct dispatch **out)
{
	struct pick p = { NULL, 0, 0, NULL };
	int slots;

	/* Past a quota window's pause_at no agent starts at all. */
	if (!quota_spawn_open()) {
		*out = NULL;
		return 0;
	}
	TAILQ_FOREACH(p.job, &active_jobs, entry) {
		slots = stagger_allowed(p.job) - p.job->running;
		if (slots > srv.cfg.max_agents - nlive - (int)p.n)
			slots = srv.cfg.max_agents - nlive - (int)p.n;
		if (p.job->paused || p.job->aborted || slots <= 0)
			continue;
		chunk_each_due(p.job->id, now_wall_ms(), slots, pick_one, &p);
	}
	*out = p.d;
	return p.n;
}

/* Intent: the agent row, the chunk's move to running, the event. */
static void
schedule_record(struct dispatch *d, size_t n)
{
	struct agent *a;
	struct job *j;
	size_t i;

	store_begin();
	for (i = 0; i < n; i++) {
		a = d[i].req.agent;
		agent_insert(a);
		if ((j = job_find(a->job)) != NULL) {
			stagger_spawned(j, a);
			a->result_path = result_path_for(j, a);
		}
		agent_store_result_path(a);
		if (a->attempt > 1) {
			d[i].req.checkpoint =
			    checkpoint_resume_file(a->job, a->chunk);
			d[i].req.rejection = chunk_rejection(a->job, a->chunk);
		}
		chunk_dispatch(a->job, a->chunk, a->id);
		evlog_add("subagent_dispatched", a->job, a->chunk, a->id,
		    a->attempt, NULL);
		if (keeper_claim(a, d[i].req.error, sizeof d[i].req.error) ==
		    -1)
			d[i].refused = 1;
		if (a->attempt > 1)
			mailbox_forward(a);
	}
	store_commit();
}

/* Outcome: running with a pid, or ended with the reason it could not start. */
static void
schedule_started(struct dispatch *d)
{
	struct agent *a = d->req.agent;
	struct job *j = job_find(a->job);

	a->started = a->last_seen = now_wall_ms();
	a->pid_start = proc_start_time(a->pid);
	a->shim_start = a->shim > 0 ? proc_start_time(a->shim) : -1;
	a->cap = j != NULL ? quota_cap_for(j, j->running) : 0;
	output_watch(a);
	agent_apply(a, AI_SPAWNED, -1, 0, NULL);
	evlog_add("subagent_started", a->job, a->chunk, a->id, a->attempt,
	    a->cap > 0 ? json_pack("{s:i, s:I}", "pid", (int)a->pid,
	                     "token_cap", (json_int_t)a->cap) :
	                 json_pack("{s:i}", "pid", (int)a->pid));
	log_info("agent-%lld started: job-%lld/%s attempt %d, pid %d",
	    (long long)a->id, (long long)a->job, a->chunk, a->attempt,
	    (int)a->pid);
	agent_arm_timeout(a, 0);
	watchdog_started(a);
}

/*
 * Chunks waiting out a retry backoff: wake the scheduler when the first
 * is due.  Asked on every pass, so a timer that fires a hair early, or a
 * restart, never strands one.
 */
static void
schedule_wake_delayed(void)
{
	int64_t due = chunk_next_due();

	if (due > 0)
		route_wake_at(due + 1);
}

/*
 * Spawn N dispatches at once (their shims start together, then each
 * says its agent's pid) and record how each went.
 */
static void
schedule_spawn(struct dispatch *d, size_t n)
{
	struct agent *a;
	size_t i;
	int failed = 0;

	for (i = 0; i < n; i++) {
		if (d[i].later)
			continue;
		a = d[i].req.agent;
		d[i].req.task = d[i].task;
		d[i].req.proxy = proxy_address();
		d[i].req.proxy_socket = proxy_socket();
		a->timeout =
		    job_find(a->job) != NULL ? job_find(a->job)->timeout : 0;
		/* Apart from SWARM_TOKEN: neither works in the other's place. */
		spawn_token(d[i].req.proxy_key);
		sha256(d[i].req.proxy_key, 64, a->proxy_hash);
		if (d[i].refused || spawn_agent(&d[i].req) == -1)
			a->pid = 0;
		/* The agent has its secrets; we keep their hashes alone. */
		explicit_bzero(d[i].req.token, sizeof d[i].req.token);
		explicit_bzero(d[i].req.proxy_key, sizeof d[i].req.proxy_key);
	}
	for (i = 0; i < n; i++) {
		if (!d[i].later && !d[i].refused && spawn_wait(&d[i].req) == -1)
			d[i].req.agent->pid = 0;
	}
	store_begin();
	for (i = 0; i < n; i++) {
		if (d[i].later)
			continue;
		a = d[i].req.agent;
		if (a->pid > 0)
			schedule_started(&d[i]);
		else {
			evlog_add("spawn_failed", a->job, a->chunk, a->id,
			    a->attempt,
			    json_pack("{s:s}", "reason", d[i].req.error));
			agent_end_set(a, END_SPAWN_FAILED, d[i].req.error);
			agent_finish(a, EXIT_FAIL, -1, 0, NULL);
			failed = 1;
		}
		dispatch_clear(&d[i]);
	}
	store_commit();
	if (failed)
		scheduler_kick();
}

/* A's worktree is ready (or could not be made): spawn it now. */
static void
on_prepared(struct agent *a, int ok, const char *err, void *arg)
{
	struct dispatch *d = arg;

	d->later = 0;
	if (!ok) {
		d->refused = 1;
		snprintf(d->req.error, sizeof d->req.error, "%s", err);
	} else
		d->req.env = keeper_env(a, &d->req.dir);
	schedule_spawn(d, 1);
	free(d);
}

static void
schedule(evutil_socket_t fd, short what, void *arg)
{
	struct dispatch *d, *one;
	size_t n, i;

	(void)fd;
	(void)what;
	(void)arg;
	schedule_wake_delayed();
	if ((n = schedule_pick(&d)) == 0)
		return;
	nlive += (int)n;
	schedule_record(d, n);
	/* Those with a worktree start when it is ready, off the loop. */
	for (i = 0; i < n; i++) {
		if (d[i].refused ||
		    !keeper_wants(job_find(d[i].req.agent->job)))
			continue;
		one = xmalloc(sizeof *one);
		*one = d[i];
		d[i].later = 1;
		keeper_prepare(one->req.agent, on_prepared, one);
	}
	schedule_spawn(d, n);
	free(d);
}

/* The agent whose child PID is: its shim, or the agent itself. */
static struct agent *
agent_by_pid(pid_t pid)
{
	struct agent *a;

	TAILQ_FOREACH(a, &live_agents, entry) {
		if ((a->shim > 0 ? a->shim : a->pid) == pid)
			return a;
	}
	return NULL;
}

/*
 * Settle an agent that exited with wait(2) STATUS, reaped or read from
 * its shim's status file (inside the caller's transaction).
 */
void
agent_exited(struct agent *a, int status)
{
	char exited[128];
	int code, sig;
	enum agent_exit x =
	    exit_class(status, &code, &sig, exited, sizeof exited);

	agent_finish(a, x, code, sig, exited);
}

/*
 * Reap every exited child.  Peek first (WNOWAIT) so the pid, and with it
 * the process group id, stays reserved while we kill what the agent left
 * behind in its group; then reap for real.  A shim has done that for its
 * agent already: its end settles the agent from its status file.
 */
void
scheduler_reap(void)
{
	siginfo_t si;
	struct agent *a;
	int status, began = 0;

	for (;;) {
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
		    si.si_pid == 0)
			break;
		a = agent_by_pid(si.si_pid);
		if (a != NULL && a->shim <= 0)
			proc_signal_group(si.si_pid, SIGKILL);
		if (waitpid(si.si_pid, &status, 0) == -1)
			continue;
		if (a == NULL) {
			/* A watched child (git), the checkpoint helper, or a
			 * triage hook. */
			if (!child_reaped(si.si_pid, status) &&
			    !store_wal_reaped(si.si_pid, status))
				triage_reaped(si.si_pid, status);
			continue;
		}
		if (!began) {
			store_begin();
			began = 1;
		}
		if (a->shim > 0)
			recover_ended(a);
		else
			agent_exited(a, status);
	}
	if (began) {
		store_commit();
		scheduler_kick();
	}
	if (srv.shutting_down && nlive == 0)
		event_base_loopexit(srv.base, NULL);
}

static void
on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	scheduler_reap();
}

/* last_seen moves with every heartbeat; write it in batches. */
void
scheduler_flush_seen(void)
{
	struct agent *a;
	int began = 0;

	TAILQ_FOREACH(a, &live_agents, entry) {
		if (!a->seen_dirty)
			continue;
		if (!began) {
			store_begin();
			began = 1;
		}
		agent_store_seen(a);
	}
	if (began)
		store_commit();
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	scheduler_flush_seen();
}

void
scheduler_init(void)
{
	struct timeval tv;

	kick_ev = event_new(srv.base, -1, 0, schedule, NULL);
	sigchld_ev = evsignal_new(srv.base, SIGCHLD, on_sigchld, NULL);
	evsignal_add(sigchld_ev, NULL);
	flush_ev = event_new(srv.base, -1, EV_PERSIST, on_flush, NULL);
	tv.tv_sec = (time_t)srv.cfg.heartbeat_flush;
	tv.tv_usec = 0;
	if (tv.tv_sec < 1)
		tv.tv_sec = 1;
	evtimer_add(flush_ev, &tv);
	job_set_hooks(stagger_start, scheduler_kick);
	job_load_all();
	recover_agents();
	scheduler_kick();
}

/*
 * Stop.  By default agents outlive swarmd: they go on working and the
 * next start re-adopts them, so a restart costs nothing in flight.  With
 * [spawn] stop_agents each is cut off (its chunk goes back to the queue),
 * told with SIGTERM and killed after GRACE; the caller leaves the loop
 * when scheduler_live() reaches zero.
 */
void
scheduler_stop(double grace)
{
	struct agent *a, *next;

	if (!srv.cfg.stop_agents) {
		log_notice(
		    "leaving %d agents running; the next start re-adopts them",
		    nlive);
		TAILQ_FOREACH_SAFE(a, &live_agents, entry, next)
			output_unwatch(a);
		nlive = 0;
		return;
	}
	TAILQ_FOREACH_SAFE(a, &live_agents, entry, next) {
		if (a->pid <= 0 && !agent_preparing(a))
			continue;
		agent_end_set(a, END_INTERRUPTED, NULL);
		if (!agent_unprepare(a))
			agent_terminate(a, grace);
	}
}

int
scheduler_live(void)
{
	return nlive;
}

/* An agent recovery re-adopted counts as running again. */
void
scheduler_adopted(struct agent *a)
{
	struct job *j = job_find(a->job);

	nlive++;
	if (j != NULL)
		j->running++;
}

void
scheduler_free(void)
{
	struct job *j;

	scheduler_flush_seen();
	if (kick_ev != NULL)
		event_free(kick_ev);
	if (sigchld_ev != NULL)
		event_free(sigchld_ev);
	if (flush_ev != NULL)
		event_free(flush_ev);
	kick_ev = sigchld_ev = flush_ev = NULL;
	while ((j = TAILQ_FIRST(&active_jobs)) != NULL)
		job_free(j);
}
