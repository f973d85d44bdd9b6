/*
 * test_git.c: running git off the loop (git.c) with its exit reported
 * through the child registry (child.c), against a real repository made
 * here: the output and the status come back, a failure carries git's
 * message, the caller's environment is added, and swarmd's own GIT_*
 * variables never reach git.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "swarmd.h"

static char dir[64];
static struct event *sigchld;

struct seen {
	int done;
	int exit;
	char out[4096];
	char err[4096];
};

static void
on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	pid_t pid;
	int status;

	(void)fd;
	(void)what;
	(void)arg;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		child_reaped(pid, status);
}

static void
on_git(const struct git_result *r, void *arg)
{
	struct seen *s = arg;

	s->done++;
	s->exit = r->exit;
	snprintf(s->out, sizeof s->out, "%s", r->out);
	snprintf(s->err, sizeof s->err, "%s", r->err);
}

/* Run git in DIR and wait (the loop turns) until it is told. */
static void
run(const char *const *args, const char *const *extra, struct seen *s)
{
	char err[256];
	struct git_run *g;
	int turns = 0;

	memset(s, 0, sizeof *s);
	g = git_run(dir, args, extra, on_git, s, err, sizeof err);
	assert_non_null(g);
	while (!s->done && turns++ < 100000)
		event_base_loop(srv.base, EVLOOP_ONCE);
	assert_int_equal(s->done, 1);
}

static int
setup(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/swarmd-git-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof cmd, "git init -q %s", dir);
	if (system(cmd) != 0)
		return -1;
	srv.base = event_base_new();
	sigchld = evsignal_new(srv.base, SIGCHLD, on_sigchld, NULL);
	event_add(sigchld, NULL);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	event_free(sigchld);
	event_base_free(srv.base);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_output(void **state)
{
	const char *args[] = { "rev-parse", "--show-toplevel", NULL };
	char want[128];
	struct seen s;

	(void)state;
	run(args, NULL, &s);
	assert_int_equal(s.exit, 0);
	snprintf(want, sizeof want, "%s\n", dir);
	assert_string_equal(s.out, want);
}

static void
test_failure(void **state)
{
	const char *args[] = { "rev-parse", "--verify", "no-such-branch",
		NULL };
	struct seen s;

	(void)state;
	run(args, NULL, &s);
	assert_int_equal(s.exit, 128);
	assert_string_equal(s.out, "");
	assert_non_null(strstr(s.err, "Needed a single revision"));
}

static void
test_extra_env(void **state)
{
	const char *args[] = { "var", "GIT_AUTHOR_IDENT", NULL };
	const char *extra[] = { "GIT_AUTHOR_NAME=agent-7",
		"GIT_AUTHOR_EMAIL=agent-7@job-3.swarm", NULL };
	struct seen s;

	(void)state;
	run(args, extra, &s);
	assert_int_equal(s.exit, 0);
	assert_memory_equal(s.out, "agent-7 <agent-7@job-3.swarm>", 29);
}

/* A GIT_DIR in swarmd's environment must not send git elsewhere. */
static void
test_env_isolated(void **state)
{
	const char *args[] = { "rev-parse", "--show-toplevel", NULL };
	char want[128];
	struct seen s;

	(void)state;
	setenv("GIT_DIR", "/nonexistent", 1);
	setenv("GIT_WORK_TREE", "/", 1);
	run(args, NULL, &s);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	assert_int_equal(s.exit, 0);
	snprintf(want, sizeof want, "%s\n", dir);
	assert_string_equal(s.out, want);
}

/* No git at all: told at once, no run. */
static void
test_no_git(void **state)
{
	const char *args[] = { "status", NULL };
	const char *path = getenv("PATH");
	char *saved = strdup(path != NULL ? path : "");
	char err[256] = "";
	struct seen s;

	(void)state;
	setenv("PATH", "/nonexistent", 1);
	assert_null(git_run(dir, args, NULL, on_git, &s, err, sizeof err));
	setenv("PATH", saved, 1);
	free(saved);
	assert_non_null(strstr(err, "cannot run git"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output),
		cmocka_unit_test(test_failure),
		cmocka_unit_test(test_extra_env),
		cmocka_unit_test(test_env_isolated),
		cmocka_unit_test(test_no_git),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
