/*
 * gate.c: running one gate, a command a job names to check a chunk's
 * work (a build, a test suite).  It runs off the loop, in a process
 * group of its own, in the chunk's worktree, its stdout and stderr
 * appended to a log file; its exit comes through child.c.  A gate still
 * running at its timeout is killed, group and all.  The caller is told
 * once, with the wait status and whether the timeout struck.  A gate
 * runs code from an agent's branch (a build, its tests), so its
 * processes are no operator on the control socket (server-peer.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

struct gate_run {
	pid_t pid;
	struct event *timer;
	int timed_out;
	gate_cb cb;
	void *arg;
	TAILQ_ENTRY(gate_run) entry;
};
/* The gates running: server-peer.c tells their processes from an
 * operator's. */
static TAILQ_HEAD(, gate_run) gates = TAILQ_HEAD_INITIALIZER(gates);

/* Whether KEY is a running gate's pid, which leads its process group. */
int
gate_running(pid_t key)
{
	struct gate_run *g;

	TAILQ_FOREACH(g, &gates, entry) {
		if (g->pid > 0 && g->pid == key)
			return 1;
	}
	return 0;
}

static void
gate_reaped(pid_t pid, int status, void *arg)
{
	struct gate_run *g = arg;

	(void)pid;
	/* Whatever it left in its group goes with it. */
	proc_signal_group(g->pid, SIGKILL);
	g->pid = -1;
	g->cb(status, g->timed_out, g->arg);
	gate_cancel(g);
}

static void
gate_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct gate_run *g = arg;

	(void)fd;
	(void)what;
	g->timed_out = 1;
	proc_signal_group(g->pid, SIGKILL);
}

/*
 * Run ARGV (argv[0] looked up in the PATH of ENV's caller) in DIR with
 * environment ENV, output appended to LOG, killed after TIMEOUT seconds.
 * NULL (and ERR) when it cannot be started.
 */
struct gate_run *
gate_run(const char *dir, char *const *argv, char *const *env, const char *log,
    int timeout, gate_cb cb, void *arg, char *err, size_t errlen)
{
	struct timeval tv = { timeout, 0 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct gate_run *g;
	int fd, rc;

	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", log, strerror(errno));
		return NULL;
	}
	g = xcalloc(1, sizeof *g);
	proc_spawn_attr(&attr);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	posix_spawn_file_actions_addchdir_np(&fa, dir);
	rc = posix_spawnp(&g->pid, argv[0], &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(fd);
	if (rc != 0) {
		snprintf(err, errlen, "cannot run \"%s\" in %s: %s", argv[0],
		    dir, strerror(rc));
		free(g);
		return NULL;
	}
	g->cb = cb;
	g->arg = arg;
	g->timer = evtimer_new(srv.base, gate_timeout, g);
	evtimer_add(g->timer, &tv);
	child_watch(g->pid, gate_reaped, g);
	TAILQ_INSERT_TAIL(&gates, g, entry);
	return g;
}

/* Not wanted any more: a gate still running is killed, no one told. */
void
gate_cancel(struct gate_run *g)
{
	if (g == NULL)
		return;
	TAILQ_REMOVE(&gates, g, entry);
	if (g->pid > 0) {
		child_forget(g->pid);
		proc_signal_group(g->pid, SIGKILL);
	}
	event_free(g->timer);
	free(g);
}
