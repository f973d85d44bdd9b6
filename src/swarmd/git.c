/*
 * git.c: running git.  swarmd does not reimplement git; it runs the git
 * program (`git -C DIR ARGS...`) in a child process, never on the loop:
 * its output is read as the pipe allows, its exit status comes through
 * child.c, and a run that takes longer than GIT_TIMEOUT is killed.  The
 * caller is told once, with the status, stdout (up to GIT_OUT_MAX) and
 * the end of stderr (for the message when it fails).
 *
 * One failure is git's own race, not an answer: a command that lists
 * the worktrees while another `git worktree add` has made its entry but
 * not yet filled it dies with "failed to read .git/worktrees/X/...".
 * Such a run is started again, a few times, after a short wait.
 *
 * git gets swarmd's environment less anything that would point it at
 * another repository (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE...), in the
 * C locale so its messages parse, never prompting, plus what the caller
 * adds (a temporary index for a snapshot, an identity for a commit).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "swarmd.h"

#define GIT_OUT_MAX (16 * 1024 * 1024)
#define GIT_ERR_KEEP 2048
#define GIT_TIMEOUT 300 /* seconds */
#define GIT_RACE_TRIES 6
#define GIT_RACE_WAIT_MS 20 /* doubled each try */

extern char **environ;

struct git_run {
	char **argv, **env; /* to start it again */
	pid_t pid;
	int status; /* -1 until reaped */
	int out_fd, err_fd;
	struct event *out_ev, *err_ev, *timer, *again;
	struct evbuffer *out, *err;
	int truncated, timed_out, tries;
	git_cb cb;
	void *arg;
};

static int git_start(struct git_run *, char *err, size_t errlen);
static void git_free(struct git_run *);

/* swarmd's environment for git: no repository of its own, no prompts. */
static char **
git_env(const char *const *extra)
{
	size_t n = 0, i;
	char **env, **e;

	for (e = environ; *e != NULL; e++)
		n++;
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		n++;
	env = xcalloc(n + 4, sizeof *env);
	n = 0;
	for (e = environ; *e != NULL; e++) {
		if (strncmp(*e, "GIT_", 4) != 0 &&
		    strncmp(*e, "LC_ALL=", 7) != 0)
			env[n++] = xstrdup(*e);
	}
	env[n++] = xstrdup("LC_ALL=C");
	env[n++] = xstrdup("GIT_TERMINAL_PROMPT=0");
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		env[n++] = xstrdup(extra[i]);
	env[n] = NULL;
	return env;
}

static void
env_free(char **env)
{
	char **e;

	for (e = env; e != NULL && *e != NULL; e++)
		free(*e);
	free(env);
}

/* The pipes and events of the run now ending; the rest is kept. */
static void
git_stop(struct git_run *g)
{
	if (g->pid > 0 && g->status == -1) {
		child_forget(g->pid);
		proc_signal_group(g->pid, SIGKILL);
	}
	if (g->out_ev != NULL)
		event_free(g->out_ev);
	if (g->err_ev != NULL)
		event_free(g->err_ev);
	if (g->out_fd != -1)
		close(g->out_fd);
	if (g->err_fd != -1)
		close(g->err_fd);
	if (g->timer != NULL)
		event_free(g->timer);
	g->out_ev = g->err_ev = g->timer = NULL;
	g->out_fd = g->err_fd = -1;
	g->pid = -1;
}

/* git lost the race with a worktree being added: not its answer. */
static int
git_raced(struct git_run *g)
{
	size_t n = evbuffer_get_length(g->err);
	char *e = (char *)evbuffer_pullup(g->err, -1);

	return WIFEXITED(g->status) && WEXITSTATUS(g->status) != 0 &&
	    g->tries < GIT_RACE_TRIES && n > 0 && e != NULL &&
	    memmem(e, n, "failed to read ", 15) != NULL &&
	    memmem(e, n, "/worktrees/", 11) != NULL;
}

static void
git_again(evutil_socket_t fd, short what, void *arg)
{
	struct git_run *g = arg;
	struct git_result r;
	char err[256];

	(void)fd;
	(void)what;
	evbuffer_drain(g->out, evbuffer_get_length(g->out));
	evbuffer_drain(g->err, evbuffer_get_length(g->err));
	if (git_start(g, err, sizeof err) == 0)
		return;
	memset(&r, 0, sizeof r);
	r.exit = -1;
	r.out = "";
	r.err = err;
	g->cb(&r, g->arg);
	git_cancel(g);
}

/* Told once, when both pipes are at their end and the status is in. */
static void
git_maybe_done(struct git_run *g)
{
	struct git_result r;
	size_t n;

	if (g->out_fd != -1 || g->err_fd != -1 || g->status == -1)
		return;
	if (git_raced(g)) {
		struct timeval tv = { 0,
			(GIT_RACE_WAIT_MS * 1000) << g->tries };

		g->tries++;
		git_stop(g);
		if (g->again == NULL)
			g->again = evtimer_new(srv.base, git_again, g);
		evtimer_add(g->again, &tv);
		return;
	}
	memset(&r, 0, sizeof r);
	r.exit = WIFEXITED(g->status) ? WEXITSTATUS(g->status) : -1;
	r.signal = WIFSIGNALED(g->status) ? WTERMSIG(g->status) : 0;
	r.timed_out = g->timed_out;
	r.truncated = g->truncated;
	evbuffer_add(g->out, "", 1);
	r.outlen = evbuffer_get_length(g->out) - 1;
	r.out = (char *)evbuffer_pullup(g->out, -1);
	n = evbuffer_get_length(g->err);
	if (n > GIT_ERR_KEEP)
		evbuffer_drain(g->err, n - GIT_ERR_KEEP);
	evbuffer_add(g->err, "", 1);
	r.err = (char *)evbuffer_pullup(g->err, -1);
	g->cb(&r, g->arg);
	g->pid = -1;
	git_cancel(g);
}

static void
git_read(evutil_socket_t fd, short what, void *arg)
{
	struct git_run *g = arg;
	int is_out = fd == g->out_fd;
	struct evbuffer *b = is_out ? g->out : g->err;
	int n;

	(void)what;
	n = evbuffer_read(b, fd, 65536);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (is_out && evbuffer_get_length(b) > GIT_OUT_MAX) {
		g->truncated = 1;
		n = 0; /* more than any answer we ask for: stop reading */
	}
	if (!is_out && evbuffer_get_length(b) > 4 * GIT_ERR_KEEP)
		evbuffer_drain(b, evbuffer_get_length(b) - GIT_ERR_KEEP);
	if (n > 0)
		return;
	event_free(is_out ? g->out_ev : g->err_ev);
	*(is_out ? &g->out_ev : &g->err_ev) = NULL;
	close(fd);
	*(is_out ? &g->out_fd : &g->err_fd) = -1;
	git_maybe_done(g);
}

static void
git_reaped(pid_t pid, int status, void *arg)
{
	struct git_run *g = arg;

	(void)pid;
	g->status = status;
	git_maybe_done(g);
}

static void
git_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct git_run *g = arg;

	(void)fd;
	(void)what;
	g->timed_out = 1;
	proc_signal_group(g->pid, SIGKILL);
}

/* `git -C DIR ARGS...`, as it is run (and run again). */
static char **
git_argv(const char *dir, const char *const *args)
{
	size_t n = 0, i;
	char **argv;

	while (args[n] != NULL)
		n++;
	argv = xcalloc(n + 4, sizeof *argv);
	argv[0] = xstrdup("git");
	argv[1] = xstrdup("-C");
	argv[2] = xstrdup(dir);
	for (i = 0; i < n; i++)
		argv[3 + i] = xstrdup(args[i]);
	return argv;
}

static int
git_spawn(struct git_run *g, int pout[2], int perr[2])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int rc;

	proc_spawn_attr(&attr);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	rc = posix_spawnp(&g->pid, "git", &fa, &attr, g->argv, g->env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return rc;
}

/* Start (or start again) the run G: its pipes, events and timeout. */
static int
git_start(struct git_run *g, char *err, size_t errlen)
{
	struct timeval tv = { GIT_TIMEOUT, 0 };
	int pout[2], perr[2], rc;

	if (pipe2(pout, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(perr, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(pout[0]);
		close(pout[1]);
		return -1;
	}
	g->status = -1;
	rc = git_spawn(g, pout, perr);
	close(pout[1]);
	close(perr[1]);
	if (rc != 0) {
		snprintf(err, errlen, "cannot run git: %s", strerror(rc));
		close(pout[0]);
		close(perr[0]);
		g->pid = -1;
		return -1;
	}
	g->out_fd = pout[0];
	g->err_fd = perr[0];
	fcntl(g->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(g->err_fd, F_SETFL, O_NONBLOCK);
	g->out_ev =
	    event_new(srv.base, g->out_fd, EV_READ | EV_PERSIST, git_read, g);
	g->err_ev =
	    event_new(srv.base, g->err_fd, EV_READ | EV_PERSIST, git_read, g);
	g->timer = evtimer_new(srv.base, git_timeout, g);
	event_add(g->out_ev, NULL);
	event_add(g->err_ev, NULL);
	evtimer_add(g->timer, &tv);
	child_watch(g->pid, git_reaped, g);
	return 0;
}

/*
 * Run `git -C DIR ARGS...` with EXTRA ("NAME=value") added to its
 * environment; CB is told how it went.  NULL (and ERR) when git cannot
 * be started at all.
 */
struct git_run *
git_run(const char *dir, const char *const *args, const char *const *extra,
    git_cb cb, void *arg, char *err, size_t errlen)
{
	struct git_run *g = xcalloc(1, sizeof *g);

	g->argv = git_argv(dir, args);
	g->env = git_env(extra);
	g->out_fd = g->err_fd = -1;
	g->cb = cb;
	g->arg = arg;
	g->out = evbuffer_new();
	g->err = evbuffer_new();
	if (git_start(g, err, errlen) == -1) {
		git_cancel(g);
		return NULL;
	}
	return g;
}

/* Stop caring: a run still going is killed (and reaped by the loop). */
void
git_cancel(struct git_run *g)
{
	if (g == NULL)
		return;
	git_stop(g);
	git_free(g);
}

/*
 * Not wanted any more, but left to finish: git killed in the middle of
 * moving a ref or writing an index leaves its lock file behind, which
 * stops every later git there (a person's too).  At a shutdown, the
 * merge queue's git is let go this way; the next start waits for it.
 */
void
git_detach(struct git_run *g)
{
	if (g == NULL)
		return;
	if (g->pid > 0 && g->status == -1)
		child_forget(g->pid);
	g->pid = -1;
	git_stop(g);
	git_free(g);
}

static void
git_free(struct git_run *g)
{
	if (g->again != NULL)
		event_free(g->again);
	evbuffer_free(g->out);
	evbuffer_free(g->err);
	env_free(g->argv);
	env_free(g->env);
	free(g);
}
