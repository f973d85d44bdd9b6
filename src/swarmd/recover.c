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

/*
 * A re-adopted agent has ended.  It is not our child, so its exit status
 * is unknown: its result decides, as for an agent found gone at start.
 */
static void
on_adopted_exit(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)what;
	proc_signal_group(a->pid, SIGKILL);
	store_begin();
	agent_finish(a, EXIT_UNSEEN, -1, 0, NULL);
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
	if (chunk_state_of(a->job, a->chunk) == CHUNK_DONE)
		agent_end_set(a, END_DONE, NULL);
	a->timeout = job_find(a->job) != NULL ? job_find(a->job)->timeout : 0;
	agent_arm_timeout(a, now_wall_ms() - a->started);
	quota_usage_restore(a);
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
	pid_t orphan;
	int waited = 0;

	scheduler_adopted(a);
	if (chunk_state_of(a->job, a->chunk) == CHUNK_DONE) {
		agent_end_set(a, END_DONE, NULL);
		agent_finish(a, EXIT_UNSEEN, -1, 0, NULL);
		return;
	}
	/*
	 * Spawned but never recorded as started: its process may still run.
	 * Stop it first, so that no result it writes comes after the chunk
	 * is requeued and another attempt runs.
	 */
	if (a->pid <= 0 &&
	    (orphan = proc_find_agent(a->id, srv.cfg.socket)) > 0) {
		log_notice(
		    "agent-%lld (job-%lld/%s): pid %d was never recorded; killed",
		    (long long)a->id, (long long)a->job, a->chunk, (int)orphan);
		proc_signal_group(orphan, SIGKILL);
		while (kill(orphan, 0) == 0 && proc_start_time(orphan) >= 0 &&
		    waited++ < 1000)
			usleep(1000);
	}
	/* Said here; agent_finish's table reads the result again to settle. */
	if (recover_result_ok(a, reason, sizeof reason)) {
		evlog_add("recovered", a->job, a->chunk, a->id, a->attempt,
		    json_pack("{s:s}", "output_file", a->result_path));
		log_notice(
		    "agent-%lld (job-%lld/%s) ended while swarmd was down, leaving a valid result: recovered",
		    (long long)a->id, (long long)a->job, a->chunk);
	} else
		log_warnx(
		    "agent-%lld (job-%lld/%s) ended while swarmd was down, with no valid result; chunk requeued",
		    (long long)a->id, (long long)a->job, a->chunk);
	agent_end_set(a, END_LOST, NULL);
	agent_finish(a, EXIT_UNSEEN, -1, 0, NULL);
}

void
recover_agents(void)
{
	struct agent *a, *next;

	agent_load_live();
	store_begin();
	TAILQ_FOREACH_SAFE(a, &live_agents, entry, next) {
		if (a->pid > 0 && a->pid_start >= 0 &&
		    proc_start_time(a->pid) == a->pid_start && readopt(a) == 0)
			continue;
		inspect_gone(a);
	}
	store_commit();
}
