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

struct dispatch {
	struct spawn_req req;
	char *task;
};

void
scheduler_kick(void)
{
	if (kick_ev != NULL && !srv.shutting_down)
		event_active(kick_ev, EV_TIMEOUT, 0);
}

/* Move a chunk through its table; an illegal move is logged, not made. */
int
chunk_apply(
    int64_t job, const char *chunk, enum chunk_input in, const char *reason)
{
	static const char get[] = "SELECT state FROM chunks "
	                          "WHERE job = ? AND id = ?";
	static const char set[] = "UPDATE chunks SET state = ?, reason = ?, "
	                          "updated = ? WHERE job = ? AND id = ?";
	sqlite3_stmt *st = store_prepare(get);
	int cur = CHUNK_INVALID, next;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) == SQLITE_ROW)
		cur =
		    chunk_state_parse((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if ((next = chunk_next(cur, in)) == CHUNK_INVALID) {
		log_warnx("job-%lld/%s: no transition from %s on input %d",
		    (long long)job, chunk, chunk_state_name(cur), in);
		return -1;
	}
	st = store_prepare(set);
	sqlite3_bind_text(st, 1, chunk_state_name(next), -1, SQLITE_STATIC);
	store_bind_text(st, 2, reason);
	sqlite3_bind_int64(st, 3, now_wall_ms());
	sqlite3_bind_int64(st, 4, job);
	store_bind_text(st, 5, chunk);
	store_step(st);
	return next;
}

/* What a completion points at: the result if there is one, else the log. */
const char *
agent_output_file(struct agent *a)
{
	if (a->result_path != NULL && access(a->result_path, F_OK) == 0)
		return a->result_path;
	return a->log;
}

void
chunk_set_output(int64_t job, const char *chunk, const char *path)
{
	static const char sql[] = "UPDATE chunks SET output_file = ? "
	                          "WHERE job = ? AND id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	store_bind_text(st, 1, path);
	sqlite3_bind_int64(st, 2, job);
	store_bind_text(st, 3, chunk);
	store_step(st);
}

/*
 * Record an agent's end: its row, its chunk's state and the completion
 * event, in the caller's transaction.  Frees the agent.
 */
void
agent_finish(struct agent *a, enum agent_input ain, enum chunk_input cin,
    enum fail_class cls, int code, int sig, const char *reason)
{
	static const char sql[] = "UPDATE agents SET state = ?, ended = ?, "
	                          "exit_code = ?, signal = ?, reason = ?, "
	                          "last_seen = ? WHERE id = ?";
	struct job *j = job_find(a->job);
	sqlite3_stmt *st;
	int state = agent_next(a->state, ain);
	json_t *ev;

	output_unwatch(a);
	st = store_prepare(sql);
	if (state == AGENT_INVALID)
		state = ain == AI_KILLED ? AGENT_KILLED : AGENT_EXITED;
	sqlite3_bind_text(st, 1, agent_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_wall_ms());
	if (code >= 0)
		sqlite3_bind_int(st, 3, code);
	if (sig > 0)
		sqlite3_bind_int(st, 4, sig);
	store_bind_text(st, 5, reason);
	sqlite3_bind_int64(st, 6, a->last_seen);
	sqlite3_bind_int64(st, 7, a->id);
	store_step(st);

	ev = json_pack("{s:o, s:o, s:s*}", "exit_code",
	    code >= 0 ? json_integer(code) : json_null(), "signal",
	    sig > 0 ? json_integer(sig) : json_null(), "reason", reason);
	if (a->completed)
		evlog_add(
		    "subagent_exited", a->job, a->chunk, a->id, a->attempt, ev);
	else {
		const char *out = agent_output_file(a);

		chunk_apply(a->job, a->chunk, cin, reason);
		if (cin == CI_EXIT_OK)
			chunk_set_output(a->job, a->chunk, out);
		json_object_set_new(
		    ev, "success", json_boolean(cin == CI_EXIT_OK));
		json_object_set_new(ev, "output_file",
		    out != NULL ? json_string(out) : json_null());
		if (cls != FAIL_NONE)
			json_object_set_new(
			    ev, "class", json_string(fail_class_name(cls)));
		evlog_add("subagent_completed", a->job, a->chunk, a->id,
		    a->attempt, ev);
		if (cin == CI_EXIT_FAIL)
			route_failure(a->job, a->chunk, cls, reason);
	}
	log_info("agent-%lld (job-%lld/%s) %s: %s", (long long)a->id,
	    (long long)a->job, a->chunk, agent_state_name(state),
	    reason != NULL ? reason : "exit status 0");
	a->state = state;
	agent_deliver(a);
	nlive--;
	if (j != NULL) {
		j->running--;
		agent_free(a);
		job_check_done(j);
	} else
		agent_free(a);
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
	a->timed_out = 1;
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
	return agent_abort_as(a, grace, reason, DISP_ABORT);
}

/* The same, with what the chunk becomes: aborted, requeued or dead. */
int
agent_abort_as(
    struct agent *a, double grace, const char *reason, enum disposition disp)
{
	static const char upd[] = "UPDATE agents SET abort_requested = 1 "
	                          "WHERE id = ?";
	sqlite3_stmt *st;
	char *text;

	if (a->abort_requested) {
		agent_terminate(a, grace);
		return 0;
	}
	text = xasprintf("abort%s%s", reason != NULL ? ": " : "",
	    reason != NULL ? reason : "");
	store_begin();
	st = store_prepare(upd);
	sqlite3_bind_int64(st, 1, a->id);
	store_step(st);
	mailbox_put(a, "swarmd", text);
	evlog_add("abort_requested", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:s*, s:f}", "reason", reason, "grace", grace));
	store_commit();
	free(text);
	a->abort_requested = 1;
	a->disposition = disp;
	a->abort_reason = reason != NULL ? xstrdup(reason) : NULL;
	log_notice("agent-%lld: abort requested%s%s", (long long)a->id,
	    reason != NULL ? ": " : "", reason != NULL ? reason : "");
	agent_deliver(a);
	agent_terminate(a, grace);
	return 0;
}

/* Pick queued chunks for every job with free slots, in job order. */
static size_t
schedule_pick(struct dispatch **out)
{
	static const char sql[] = "SELECT id, task, attempts FROM chunks "
	                          "WHERE job = ? AND state = 'queued' AND "
	                          "(not_before IS NULL OR not_before <= ?) "
	                          "ORDER BY seq LIMIT ?";
	struct dispatch *d = NULL;
	size_t n = 0, cap = 0;
	struct job *j;
	sqlite3_stmt *st;
	int slots;

	/* Past a quota window's pause_at no agent starts at all. */
	if (!quota_spawn_open()) {
		*out = NULL;
		return 0;
	}
	TAILQ_FOREACH(j, &active_jobs, entry) {
		slots = stagger_allowed(j) - j->running;
		if (slots > srv.cfg.max_agents - nlive - (int)n)
			slots = srv.cfg.max_agents - nlive - (int)n;
		if (j->paused || j->aborted || slots <= 0)
			continue;
		st = store_prepare(sql);
		sqlite3_bind_int64(st, 1, j->id);
		sqlite3_bind_int64(st, 2, now_wall_ms());
		sqlite3_bind_int(st, 3, slots);
		while (store_step(st) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				d = xrealloc(d, cap * sizeof *d);
			}
			memset(&d[n], 0, sizeof d[n]);
			d[n].req.agent = agent_new(0, j->id,
			    (const char *)sqlite3_column_text(st, 0),
			    sqlite3_column_int(st, 2) + 1);
			d[n].task =
			    xstrdup((const char *)sqlite3_column_text(st, 1));
			j->running++;
			n++;
		}
		sqlite3_reset(st);
	}
	*out = d;
	return n;
}

/* Intent: the agent row, the chunk's move to running, the event. */
static void
schedule_record(struct dispatch *d, size_t n)
{
	static const char ins[] = "INSERT INTO agents (job, chunk, attempt, "
	                          "state) VALUES (?, ?, ?, 'starting')";
	static const char upd[] = "UPDATE chunks SET attempts = attempts + 1, "
	                          "agent = ?, not_before = NULL "
	                          "WHERE job = ? AND id = ?";
	static const char res[] = "UPDATE agents SET result_path = ? "
	                          "WHERE id = ?";
	struct agent *a;
	struct job *j;
	sqlite3_stmt *st;
	size_t i;

	store_begin();
	for (i = 0; i < n; i++) {
		a = d[i].req.agent;
		st = store_prepare(ins);
		sqlite3_bind_int64(st, 1, a->job);
		store_bind_text(st, 2, a->chunk);
		sqlite3_bind_int(st, 3, a->attempt);
		store_step(st);
		agent_set_id(a, store_last_id());
		if ((j = job_find(a->job)) != NULL) {
			stagger_spawned(j, a);
			a->result_path = result_path_for(j, a);
		}
		st = store_prepare(res);
		store_bind_text(st, 1, a->result_path);
		sqlite3_bind_int64(st, 2, a->id);
		store_step(st);
		if (a->attempt > 1) {
			d[i].req.checkpoint =
			    checkpoint_resume_file(a->job, a->chunk);
			d[i].req.rejection =
			    checkpoint_rejection(a->job, a->chunk);
		}
		st = store_prepare(upd);
		sqlite3_bind_int64(st, 1, a->id);
		sqlite3_bind_int64(st, 2, a->job);
		store_bind_text(st, 3, a->chunk);
		store_step(st);
		chunk_apply(a->job, a->chunk, CI_DISPATCH, NULL);
		evlog_add("subagent_dispatched", a->job, a->chunk, a->id,
		    a->attempt, NULL);
		if (a->attempt > 1)
			mailbox_forward(a);
	}
	store_commit();
}

/* Outcome: running with a pid, or ended with the reason it could not start. */
static void
schedule_started(struct dispatch *d)
{
	static const char sql[] =
	    "UPDATE agents SET state = 'running', "
	    "pid = ?, token_hash = ?, started = ?, "
	    "last_seen = ?, log = ?, pid_start = ?, token_cap = ? WHERE id = ?";
	struct agent *a = d->req.agent;
	struct job *j = job_find(a->job);
	sqlite3_stmt *st = store_prepare(sql);

	a->state = agent_next(a->state, AI_SPAWNED);
	a->started = a->last_seen = now_wall_ms();
	a->pid_start = proc_start_time(a->pid);
	a->cap = j != NULL ? quota_cap_for(j, j->running) : 0;
	output_watch(a);
	sqlite3_bind_int(st, 1, a->pid);
	sqlite3_bind_blob(st, 2, a->token_hash, SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, a->started);
	sqlite3_bind_int64(st, 4, a->last_seen);
	store_bind_text(st, 5, a->log);
	sqlite3_bind_int64(st, 6, a->pid_start);
	if (a->cap > 0)
		sqlite3_bind_int64(st, 7, a->cap);
	sqlite3_bind_int64(st, 8, a->id);
	store_step(st);
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
	static const char sql[] = "SELECT min(not_before) FROM chunks "
	                          "WHERE not_before IS NOT NULL AND "
	                          "state = 'queued'";
	sqlite3_stmt *st = store_prepare(sql);

	if (store_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		route_wake_at(sqlite3_column_int64(st, 0) + 1);
	sqlite3_reset(st);
}

static void
schedule(evutil_socket_t fd, short what, void *arg)
{
	struct dispatch *d;
	size_t n, i;
	int failed = 0;

	(void)fd;
	(void)what;
	(void)arg;
	schedule_wake_delayed();
	if ((n = schedule_pick(&d)) == 0)
		return;
	nlive += (int)n;
	schedule_record(d, n);
	for (i = 0; i < n; i++) {
		struct job *j = job_find(d[i].req.agent->job);

		d[i].req.task = d[i].task;
		d[i].req.agent->timeout = j != NULL ? j->timeout : 0;
		if (spawn_agent(&d[i].req) == -1)
			d[i].req.agent->pid = 0;
	}
	store_begin();
	for (i = 0; i < n; i++) {
		if (d[i].req.agent->pid > 0)
			schedule_started(&d[i]);
		else {
			evlog_add("spawn_failed", d[i].req.agent->job,
			    d[i].req.agent->chunk, d[i].req.agent->id,
			    d[i].req.agent->attempt,
			    json_pack("{s:s}", "reason", d[i].req.error));
			agent_finish(d[i].req.agent, AI_SPAWN_FAILED,
			    CI_EXIT_FAIL, FAIL_UNKNOWN, -1, 0, d[i].req.error);
			failed = 1;
		}
		free(d[i].task);
		free(d[i].req.checkpoint);
		free(d[i].req.rejection);
	}
	store_commit();
	free(d);
	if (failed)
		scheduler_kick();
}

static struct agent *
agent_by_pid(pid_t pid)
{
	struct agent *a;

	TAILQ_FOREACH(a, &live_agents, entry) {
		if (a->pid == pid)
			return a;
	}
	return NULL;
}

/* Settle one reaped agent (inside the caller's transaction). */
static void
reap_one(struct agent *a, int status)
{
	static const enum chunk_input by_disposition[] = {
		[DISP_ABORT] = CI_ABORT,
		[DISP_REQUEUE] = CI_REQUEUE,
		[DISP_DEAD] = CI_DEADLETTER,
	};
	enum fail_class cls = FAIL_NONE;
	enum chunk_input cin;
	char reason[256];
	int code = -1, sig = 0;

	if (WIFEXITED(status)) {
		code = WEXITSTATUS(status);
		snprintf(reason, sizeof reason, "exit status %d", code);
	} else {
		sig = WTERMSIG(status);
		snprintf(reason, sizeof reason, "killed by signal %d (%s)", sig,
		    strsignal(sig));
	}
	if (a->interrupted) {
		cin = CI_REQUEUE;
		snprintf(reason, sizeof reason, "interrupted: swarmd stopped");
	} else if (a->abort_requested) {
		cin = by_disposition[a->disposition];
		snprintf(reason, sizeof reason, "aborted%s%s",
		    a->abort_reason != NULL ? ": " : "",
		    a->abort_reason != NULL ? a->abort_reason : "");
	} else if (a->timed_out) {
		cin = CI_EXIT_FAIL;
		cls = FAIL_TRANSIENT;
		snprintf(
		    reason, sizeof reason, "timeout after %d s", a->timeout);
	} else if (code == 0 && !a->fail_reported) {
		/* Exit 0 is done only with the result the job asked for. */
		if (result_settle(a, job_find(a->job), a->result_path, reason,
		        sizeof reason) == 0)
			cin = CI_EXIT_OK;
		else {
			cin = CI_EXIT_FAIL;
			cls = FAIL_SCHEMA;
		}
	} else {
		cin = CI_EXIT_FAIL;
		/* A SIGKILL swarmd did not send is most likely the OOM killer. */
		cls = a->fail_transient || sig == SIGKILL ? FAIL_TRANSIENT :
		                                            FAIL_UNKNOWN;
		if (a->fail_reported && a->fail_reason != NULL)
			snprintf(reason, sizeof reason, "%s", a->fail_reason);
	}
	agent_finish(a,
	    a->abort_requested || a->timed_out || a->interrupted ? AI_KILLED :
	                                                           AI_EXIT,
	    cin, cls, code, sig, cin == CI_EXIT_OK ? NULL : reason);
}

/*
 * Reap every exited child.  Peek first (WNOWAIT) so the pid, and with it
 * the process group id, stays reserved while we kill what the agent left
 * behind in its group; then reap for real.
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
		if (a != NULL)
			proc_signal_group(si.si_pid, SIGKILL);
		if (waitpid(si.si_pid, &status, 0) == -1)
			continue;
		if (a == NULL) {
			/* The checkpoint helper, or a triage hook. */
			if (!store_wal_reaped(si.si_pid, status))
				triage_reaped(si.si_pid, status);
			continue;
		}
		if (!began) {
			store_begin();
			began = 1;
		}
		reap_one(a, status);
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
	static const char sql[] = "UPDATE agents SET last_seen = ? "
	                          "WHERE id = ?";
	struct agent *a;
	sqlite3_stmt *st;
	int began = 0;

	TAILQ_FOREACH(a, &live_agents, entry) {
		if (!a->seen_dirty)
			continue;
		if (!began) {
			store_begin();
			began = 1;
		}
		st = store_prepare(sql);
		sqlite3_bind_int64(st, 1, a->last_seen);
		sqlite3_bind_int64(st, 2, a->id);
		store_step(st);
		a->seen_dirty = 0;
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
	TAILQ_FOREACH(a, &live_agents, entry) {
		if (a->pid <= 0)
			continue;
		a->interrupted = 1;
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
