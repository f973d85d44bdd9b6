/*
 * recover.c: what a start does with the agents the store says were
 * running, and what an agent's end is when swarmd did not see the exit
 * itself.  The gap between what was dispatched and what was recorded as
 * complete is exactly the work to inspect:
 *
 *   - an agent whose shim is still alive (the same pid and the same
 *     process start time), or, without a shim, that is still alive
 *     itself, is re-adopted: swarmd watches the shim through a pidfd and
 *     supervises the agent as before, so agents outlive a daemon restart;
 *   - an agent that is gone is inspected before anything is retried: the
 *     exit status its shim recorded settles it as if swarmd had reaped
 *     it; with none (the shim was killed too), a valid result at its
 *     deterministic path completes the chunk (event "recovered"), and
 *     otherwise the chunk goes back to the queue, its next attempt
 *     resuming from the latest checkpoint.
 *
 * When a shim ends, re-adopted or reaped, its status file says how the
 * agent exited, so a chunk that finished during a restart is completed
 * once, with its real status.  A chunk already recorded done is never
 * run again.
 */
#include <sys/syscall.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

static void
on_watched_exit(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)what;
	store_begin();
	recover_ended(a);
	store_commit();
	scheduler_kick();
}

static int
pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Watch PID, not our child (any more), for its end through a pidfd. */
static int
recover_watch(struct agent *a, pid_t pid)
{
	int fd = pidfd_open(pid);

	if (fd == -1) {
		log_warn(
		    "agent-%lld: pidfd_open(%d)", (long long)a->id, (int)pid);
		return -1;
	}
	if (a->pidfd_ev != NULL)
		event_free(a->pidfd_ev);
	if (a->pidfd > 0)
		close(a->pidfd);
	a->pidfd = fd;
	a->pidfd_ev = event_new(srv.base, fd, EV_READ, on_watched_exit, a);
	event_add(a->pidfd_ev, NULL);
	return 0;
}

static int
alive(pid_t pid, long long start)
{
	return pid > 0 && start >= 0 && proc_start_time(pid) == start;
}

/*
 * What swarmd watched for agent A has ended: its shim (reaped, or seen
 * through a pidfd), or, with no shim, the agent itself.  A shim leaves
 * the agent's exit status: that settles it.  Without one the shim was
 * killed: an agent still running is watched on its own; one gone too
 * ends with its status unknown, its result deciding.  In the caller's
 * transaction.
 */
void
recover_ended(struct agent *a)
{
	int status;

	if (a->shim > 0) {
		a->shim = 0;
		if (spawn_status_read(a, &status) == 0) {
			agent_exited(a, status);
			return;
		}
		if (alive(a->pid, a->pid_start) &&
		    recover_watch(a, a->pid) == 0) {
			log_warnx(
			    "agent-%lld: its shim ended without its exit status; watching pid %d",
			    (long long)a->id, (int)a->pid);
			return;
		}
	}
	proc_signal_group(a->pid, SIGKILL);
	agent_finish(a, EXIT_UNSEEN, -1, 0, NULL);
}

static int
readopt(struct agent *a)
{
	if (recover_watch(a, a->shim > 0 ? a->shim : a->pid) == -1)
		return -1;
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

/*
 * Spawned but never recorded as started: its shim and the agent may still
 * run (each found by the agent's environment).  Stop them first, so that
 * no result the agent writes comes after the chunk is requeued and
 * another attempt runs.
 */
static void
kill_unrecorded(struct agent *a)
{
	pid_t orphan;
	int n, waited;

	for (n = 0;
	     n < 4 && (orphan = proc_find_agent(a->id, srv.cfg.socket)) > 0;
	     n++) {
		log_notice(
		    "agent-%lld (job-%lld/%s): pid %d was never recorded; killed",
		    (long long)a->id, (long long)a->job, a->chunk, (int)orphan);
		proc_signal_group(orphan, SIGKILL);
		waited = 0;
		while (kill(orphan, 0) == 0 && proc_start_time(orphan) >= 0 &&
		    waited++ < 1000)
			usleep(1000);
	}
}

/* Gone while swarmd was down, its shim's status file says how. */
static void
recover_status(struct agent *a, int status)
{
	char reason[1024];

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    recover_result_ok(a, reason, sizeof reason))
		evlog_add("recovered", a->job, a->chunk, a->id, a->attempt,
		    json_pack("{s:s}", "output_file", a->result_path));
	log_notice(
	    "agent-%lld (job-%lld/%s) ended while swarmd was down: %s %d",
	    (long long)a->id, (long long)a->job, a->chunk,
	    WIFEXITED(status) ? "exit status" : "killed by signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	agent_exited(a, status);
}

/* Gone while swarmd was down: inspect, then complete or requeue. */
static void
inspect_gone(struct agent *a)
{
	char reason[1024];
	int status;

	scheduler_adopted(a);
	if (chunk_state_of(a->job, a->chunk) == CHUNK_DONE) {
		agent_end_set(a, END_DONE, NULL);
		agent_finish(a, EXIT_UNSEEN, -1, 0, NULL);
		return;
	}
	if (a->pid <= 0)
		kill_unrecorded(a);
	else if (spawn_status_read(a, &status) == 0) {
		recover_status(a, status);
		return;
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
		/* A dead shim leaves its status file, or nothing to watch. */
		if (!alive(a->shim, a->shim_start))
			a->shim = 0;
		if ((a->shim > 0 || alive(a->pid, a->pid_start)) &&
		    readopt(a) == 0)
			continue;
		inspect_gone(a);
	}
	store_commit();
	spawn_status_sweep();
}
