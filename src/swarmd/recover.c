/*
 * recover.c: what a start does with the agents the store says were
 * running.  The gap between what was dispatched and what was recorded as
 * complete is exactly the work to inspect:
 *
 *   - an agent still alive (the same pid and the same process start time)
 *     is re-adopted: swarmd watches it through a pidfd and supervises it
 *     as before, so agents outlive a daemon restart;
 *   - an agent that is gone is inspected before anything is retried: a
 *     valid result at its deterministic path completes the chunk (event
 *     "recovered"); otherwise the chunk goes back to the queue, and its
 *     next attempt resumes from the latest checkpoint.
 *
 * A chunk already recorded done is never run again.
 */
#include <sys/syscall.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

#define AGENT_ROW \
	"id, job, chunk, attempt, pid, pid_start, token_hash, " \
	"log, result_path, started, last_seen, token_cap"

static struct agent *
agent_from_row(sqlite3_stmt *st)
{
	struct agent *a =
	    agent_new(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
	        (const char *)sqlite3_column_text(st, 2),
	        sqlite3_column_int(st, 3));
	const void *hash = sqlite3_column_blob(st, 6);

	a->state = AGENT_RUNNING;
	a->pid = sqlite3_column_int(st, 4);
	a->pid_start = sqlite3_column_type(st, 5) == SQLITE_NULL ?
	    -2 :
	    sqlite3_column_int64(st, 5);
	if (hash != NULL && sqlite3_column_bytes(st, 6) == SHA256_LEN)
		memcpy(a->token_hash, hash, SHA256_LEN);
	if (sqlite3_column_type(st, 7) != SQLITE_NULL)
		a->log = xstrdup((const char *)sqlite3_column_text(st, 7));
	if (sqlite3_column_type(st, 8) != SQLITE_NULL)
		a->result_path =
		    xstrdup((const char *)sqlite3_column_text(st, 8));
	a->started = sqlite3_column_int64(st, 9);
	a->last_seen = sqlite3_column_int64(st, 10);
	a->cap = sqlite3_column_int64(st, 11);
	return a;
}

/* The chunk's stored state, as recorded before the stop. */
static int
chunk_state(struct agent *a)
{
	static const char sql[] = "SELECT state FROM chunks "
	                          "WHERE job = ? AND id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int s = CHUNK_INVALID;

	sqlite3_bind_int64(st, 1, a->job);
	store_bind_text(st, 2, a->chunk);
	if (store_step(st) == SQLITE_ROW)
		s = chunk_state_parse((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return s;
}

/* What the meter had counted for the agent, so nothing counts twice. */
static void
usage_restore(struct agent *a)
{
	static const char sql[] =
	    "SELECT source IN ('stream', 'result'), sum(input), sum(output), "
	    "sum(cache_creation), sum(cache_read) FROM usage WHERE agent = ? "
	    "GROUP BY 1";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_int64(st, 1, a->id);
	while (store_step(st) == SQLITE_ROW) {
		struct usage u = { sqlite3_column_int64(st, 1),
			sqlite3_column_int64(st, 2),
			sqlite3_column_int64(st, 3),
			sqlite3_column_int64(st, 4) };

		if (sqlite3_column_int(st, 0))
			a->stream_use = u;
		a->use.input += u.input;
		a->use.output += u.output;
		a->use.cache_creation += u.cache_creation;
		a->use.cache_read += u.cache_read;
	}
	sqlite3_reset(st);
}

/*
 * A re-adopted agent has ended.  It is not our child, so its exit status
 * is unknown: its result decides, as for an agent found gone at start.
 */
static void
on_adopted_exit(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	char reason[1024];

	(void)fd;
	(void)what;
	proc_signal_group(a->pid, SIGKILL);
	store_begin();
	/* Its word that it was done, then why it was stopped, then its result. */
	if (a->completed) /* NOLINTNEXTLINE(bugprone-branch-clone) */
		agent_finish(a, AI_EXIT, CI_EXIT_OK, FAIL_NONE, -1, 0, NULL);
	else if (a->abort_requested || a->interrupted)
		agent_finish(a, AI_KILLED,
		    a->interrupted || a->disposition == DISP_REQUEUE ?
		        CI_REQUEUE :
		        a->disposition == DISP_DEAD ? CI_DEADLETTER :
		                                      CI_ABORT,
		    FAIL_NONE, -1, 0,
		    a->abort_reason != NULL ? a->abort_reason : "aborted");
	else if (a->timed_out)
		agent_finish(a, AI_KILLED, CI_EXIT_FAIL, FAIL_TRANSIENT, -1, 0,
		    "timeout");
	else if (recover_result_ok(a, reason, sizeof reason))
		agent_finish(a, AI_EXIT, CI_EXIT_OK, FAIL_NONE, -1, 0, NULL);
	else
		agent_finish(a, AI_EXIT, CI_EXIT_FAIL, FAIL_TRANSIENT, -1, 0,
		    "exited while re-adopted, status unknown, no valid result");
	store_commit();
	scheduler_kick();
}

static int
pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int
readopt(struct agent *a)
{
	int fd = pidfd_open(a->pid);

	if (fd == -1) {
		log_warn("agent-%lld: pidfd_open(%d)", (long long)a->id,
		    (int)a->pid);
		return -1;
	}
	a->pidfd = fd;
	a->pidfd_ev = event_new(srv.base, fd, EV_READ, on_adopted_exit, a);
	event_add(a->pidfd_ev, NULL);
	a->completed = chunk_state(a) == CHUNK_DONE;
	a->timeout = job_find(a->job) != NULL ? job_find(a->job)->timeout : 0;
	agent_arm_timeout(a, now_wall_ms() - a->started);
	usage_restore(a);
	output_watch(a);
	scheduler_adopted(a);
	evlog_add("subagent_readopted", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:i}", "pid", (int)a->pid));
	log_notice(
	    "agent-%lld (job-%lld/%s) still running as pid %d: re-adopted",
	    (long long)a->id, (long long)a->job, a->chunk, (int)a->pid);
	return 0;
}

/*
 * A result that counts: the contract's, when the job has one; otherwise
 * any JSON document left at SWARM_RESULT.
 */
int
recover_result_ok(struct agent *a, char *reason, size_t len)
{
	struct job *j = job_find(a->job);

	if (j != NULL && json_object_get(j->spec, "result") != NULL)
		return result_settle(a, j, a->result_path, reason, len) == 0;
	return a->result_path != NULL && access(a->result_path, F_OK) == 0 &&
	    result_check(a->result_path, NULL, reason, len) == 0;
}

/* Gone while swarmd was down: inspect, then complete or requeue. */
static void
inspect_gone(struct agent *a)
{
	char reason[1024];
	int s = chunk_state(a);

	scheduler_adopted(a);
	if (s == CHUNK_DONE) {
		a->completed = 1;
		agent_finish(a, AI_EXIT, CI_EXIT_OK, FAIL_NONE, -1, 0, NULL);
	} else if (recover_result_ok(a, reason, sizeof reason)) {
		evlog_add("recovered", a->job, a->chunk, a->id, a->attempt,
		    json_pack("{s:s}", "output_file", a->result_path));
		log_notice(
		    "agent-%lld (job-%lld/%s) ended while swarmd was down, leaving a valid result: recovered",
		    (long long)a->id, (long long)a->job, a->chunk);
		agent_finish(a, AI_EXIT, CI_EXIT_OK, FAIL_NONE, -1, 0, NULL);
	} else {
		log_warnx(
		    "agent-%lld (job-%lld/%s) ended while swarmd was down, with no valid result; chunk requeued",
		    (long long)a->id, (long long)a->job, a->chunk);
		agent_finish(a, AI_EXIT, CI_REQUEUE, FAIL_NONE, -1, 0,
		    "lost: ended while swarmd was down");
	}
}

void
recover_agents(void)
{
	static const char sql[] = "SELECT " AGENT_ROW " FROM agents WHERE "
	                          "state IN ('starting', 'running', "
	                          "'suspect') ORDER BY id";
	sqlite3_stmt *st = store_prepare(sql);
	struct agent *a, *next;

	while (store_step(st) == SQLITE_ROW)
		agent_from_row(st);
	sqlite3_reset(st);
	store_begin();
	TAILQ_FOREACH_SAFE(a, &live_agents, entry, next) {
		if (a->pid > 0 && a->pid_start >= 0 &&
		    proc_start_time(a->pid) == a->pid_start && readopt(a) == 0)
			continue;
		inspect_gone(a);
	}
	store_commit();
}
