/*
 * test_git.c: running git off the loop (git.c) with its exit reported
 * through the child registry (child.c), against a real repository made
 * here: the output and the status come back, a failure carries git's
 * message, the caller's environment is added, and swarmd's own GIT_*
 * variables never reach git.  Then a chunk's worktree (git-worktree.c):
 * made from base, reused by a later attempt, locked and checked, refused
 * for a missing base, a branch checked out elsewhere or no repository;
 * and a snapshot that keeps changes and untracked files (not ignored
 * ones) while the branch, the index and the files stay as they were.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	snprintf(cmd, sizeof cmd, "rm -rf %s %s-wt", dir, dir);
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

/* ---- worktrees ---- */

struct told {
	int done, ok;
	char err[512], out[128];
};

static void
on_wt(int ok, const char *err, const char *out, void *arg)
{
	struct told *t = arg;

	t->done++;
	t->ok = ok;
	snprintf(t->err, sizeof t->err, "%s", err != NULL ? err : "");
	snprintf(t->out, sizeof t->out, "%s", out != NULL ? out : "");
}

static void
wait_told(struct told *t)
{
	int turns = 0;

	while (!t->done && turns++ < 100000)
		event_base_loop(srv.base, EVLOOP_ONCE);
	assert_int_equal(t->done, 1);
}

static void
add_as(const char *base, const char *branch, const char *path, int fresh,
    struct told *t)
{
	memset(t, 0, sizeof *t);
	gitwt_add(dir, base, branch, path, "swarmd agent-1", fresh, on_wt, t);
	wait_told(t);
}

static void
add(const char *base, const char *branch, const char *path, struct told *t)
{
	add_as(base, branch, path, 0, t);
}

/* sh -c CMD (formatted) in the test's repository; its first line. */
static char *
sh(const char *fmt, ...)
{
	static char line[512];
	char cmd[1024];
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	line[0] = '\0';
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fgets(line, sizeof line, p) == NULL)
		line[0] = '\0';
	line[strcspn(line, "\n")] = '\0';
	pclose(p);
	return line;
}

static void
commit_one(void)
{
	sh("cd %s && git -c user.name=t -c user.email=t@t commit -q "
	   "--allow-empty -m first && git branch -M main",
	    dir);
}

static void
test_worktree_add(void **state)
{
	char path[128], other[128];
	struct told t;

	(void)state;
	commit_one();
	snprintf(path, sizeof path, "%s-wt/c0", dir);
	add("main", "swarm/job-1/c0", path, &t);
	assert_true(t.ok);
	assert_string_equal(sh("git -C %s symbolic-ref HEAD", path),
	    "refs/heads/swarm/job-1/c0");
	assert_string_equal(sh("git -C %s worktree list --porcelain | "
	                       "grep -A4 '^worktree %s$' | grep ^locked",
	                        dir, path),
	    "locked swarmd agent-1");
	/* A later attempt: the same branch and worktree, its work kept. */
	sh("cd %s && echo work >mine && git add mine && git -c user.name=a "
	   "-c user.email=a@a commit -q -m mine",
	    path);
	add("main", "swarm/job-1/c0", path, &t);
	assert_true(t.ok);
	assert_string_equal(sh("git -C %s log -1 --format=%%s", path), "mine");
	/* The branch of another chunk's worktree is not taken. */
	snprintf(other, sizeof other, "%s-wt/c1", dir);
	add("main", "swarm/job-1/c0", other, &t);
	assert_false(t.ok);
	assert_non_null(strstr(t.err, "cannot add the worktree"));
	/* No base, no repository. */
	add("nope", "swarm/job-1/c2", other, &t);
	assert_false(t.ok);
	assert_non_null(strstr(t.err, "cannot make the branch from base"));
	memset(&t, 0, sizeof t);
	gitwt_add("/", "main", "b", other, "r", 0, on_wt, &t);
	wait_told(&t);
	assert_false(t.ok);
	assert_non_null(strstr(t.err, "repo is not a git repository"));
}

static void
snapshot(const char *path, struct told *t)
{
	memset(t, 0, sizeof *t);
	gitwt_snapshot(
	    path, "refs/swarm/snapshots/job-1/c0/1", "snap", on_wt, t);
	wait_told(t);
}

static void
test_snapshot(void **state)
{
	char path[128], before[512], head[64];
	struct told t;

	(void)state;
	snprintf(path, sizeof path, "%s-wt/s0", dir);
	add("main", "swarm/job-1/s0", path, &t);
	assert_true(t.ok);
	snapshot(path, &t);
	assert_true(t.ok);
	assert_string_equal(t.out, ""); /* clean: nothing to keep */
	sh("cd %s && echo '*.o' >.gitignore && echo a >tracked && git add "
	   ".gitignore tracked && git -c user.name=a -c user.email=a@a commit "
	   "-q -m base && echo changed >tracked && echo new >untracked && "
	   "echo obj >x.o && echo staged >staged && git add staged",
	    path);
	snprintf(before, sizeof before, "%s",
	    sh("git -C %s status --porcelain | tr '\n' ' '", path));
	snprintf(head, sizeof head, "%s", sh("git -C %s rev-parse HEAD", path));
	snapshot(path, &t);
	assert_true(t.ok);
	assert_int_equal(strlen(t.out), 40);
	assert_string_equal(
	    sh("git -C %s rev-parse refs/swarm/snapshots/job-1/c0/1", dir),
	    t.out);
	assert_string_equal(
	    sh("git -C %s show --format= --name-only %s | sort | "
	       "tr '\n' ' '",
	        dir, t.out),
	    "staged tracked untracked ");
	assert_string_equal(
	    sh("git -C %s show %s:tracked", dir, t.out), "changed");
	/* Nothing of the worktree moved. */
	assert_string_equal(sh("git -C %s rev-parse HEAD", path), head);
	assert_string_equal(
	    sh("git -C %s status --porcelain | tr '\n' ' '", path), before);
	assert_string_equal(sh("cat %s/tracked", path), "changed");
}

/*
 * git's own race with a worktree being added ("failed to read
 * .git/worktrees/X/commondir") is run again, not answered; any other
 * failure is answered at once.  A stand-in git first in PATH fails the
 * way the race does, twice, then runs the real one.
 */
static void
test_race_retried(void **state)
{
	const char *args[] = { "rev-parse", "--is-inside-work-tree", NULL };
	const char *other[] = { "no-such-command", NULL };
	char bin[128], path[4096], *old = strdup(getenv("PATH"));
	struct seen s;
	FILE *f;

	(void)state;
	snprintf(bin, sizeof bin, "%s-bin", dir);
	mkdir(bin, 0755);
	snprintf(path, sizeof path, "%s/git", bin);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
	    "#!/bin/sh\nn=$(cat %s/n 2>/dev/null || echo 0)\n"
	    "echo $((n + 1)) >%s/n\n"
	    "if [ $n -lt 2 ]; then echo 'fatal: failed to read "
	    ".git/worktrees/w5/commondir: Success' >&2; exit 128; fi\n"
	    "PATH=%s exec git \"$@\"\n",
	    bin, bin, old);
	fclose(f);
	chmod(path, 0755);
	snprintf(path, sizeof path, "%s:%s", bin, old);
	setenv("PATH", path, 1);
	run(args, NULL, &s);
	assert_int_equal(s.exit, 0);
	assert_string_equal(s.out, "true\n");
	assert_string_equal(sh("cat %s/n", bin), "3");
	/* Not the race: told at once, with git's words. */
	run(other, NULL, &s);
	assert_int_not_equal(s.exit, 0);
	assert_string_equal(sh("cat %s/n", bin), "4");
	setenv("PATH", old, 1);
	free(old);
	sh("rm -rf %s", bin);
}

/*
 * A chunk's first attempt: a branch of that name already there is taken
 * only when it holds nothing beyond base (made by us before a crash);
 * one with work of its own is refused, and left as it was.
 */
static void
test_worktree_fresh(void **state)
{
	char path[128], tip[64];
	struct told t;

	(void)state;
	sh("git -C %s branch swarm/job-2/empty main", dir);
	snprintf(path, sizeof path, "%s-wt/f0", dir);
	add_as("main", "swarm/job-2/empty", path, 1, &t);
	assert_true(t.ok);
	sh("git -C %s branch swarm/job-2/theirs main && git -C %s "
	   "-c user.name=o -c user.email=o@o commit-tree -p main -m x "
	   "main^{tree} | xargs git -C %s update-ref "
	   "refs/heads/swarm/job-2/theirs",
	    dir, dir, dir);
	snprintf(tip, sizeof tip, "%s",
	    sh("git -C %s rev-parse swarm/job-2/theirs", dir));
	snprintf(path, sizeof path, "%s-wt/f1", dir);
	add_as("main", "swarm/job-2/theirs", path, 1, &t);
	assert_false(t.ok);
	assert_non_null(strstr(t.err, "already exists"));
	assert_non_null(strstr(t.err, "1 commits not on main"));
	assert_string_equal(
	    sh("git -C %s rev-parse swarm/job-2/theirs", dir), tip);
	assert_string_equal(sh("test -e %s || echo absent", path), "absent");
}

static void
removed(const char *path, int force, struct told *t)
{
	memset(t, 0, sizeof *t);
	gitwt_remove(dir, path, force, on_wt, t);
	wait_told(t);
}

/*
 * Removal: a locked worktree with changes stays unless forced (git's own
 * refusal); a clean one goes, its branch kept; a path already gone is
 * pruned from git's list; a directory that is no worktree is refused.
 */
static void
test_worktree_remove(void **state)
{
	char path[128], plain[128];
	struct told t;

	(void)state;
	snprintf(path, sizeof path, "%s-wt/r0", dir);
	add("main", "swarm/job-3/r0", path, &t);
	assert_true(t.ok);
	sh("echo dirty >%s/d", path);
	removed(path, 0, &t);
	assert_false(t.ok);
	assert_non_null(strstr(t.err, "git worktree remove"));
	assert_string_equal(sh("cat %s/d", path), "dirty");
	sh("rm %s/d", path);
	removed(path, 0, &t);
	assert_true(t.ok);
	assert_string_equal(sh("test -e %s || echo gone", path), "gone");
	assert_string_equal(
	    sh("git -C %s rev-parse --verify -q swarm/job-3/r0 >/dev/null "
	       "&& echo kept",
	        dir),
	    "kept");
	snprintf(path, sizeof path, "%s-wt/r1", dir);
	add("main", "swarm/job-3/r1", path, &t);
	sh("rm -rf %s", path);
	removed(path, 0, &t);
	assert_true(t.ok);
	assert_string_equal(
	    sh("git -C %s worktree list --porcelain | grep -c r1$", dir), "0");
	snprintf(plain, sizeof plain, "%s-wt/plain", dir);
	sh("mkdir -p %s && echo mine >%s/f", plain, plain);
	removed(plain, 1, &t);
	assert_false(t.ok);
	assert_string_equal(sh("cat %s/f", plain), "mine");
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
		cmocka_unit_test(test_worktree_add),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_race_retried),
		cmocka_unit_test(test_worktree_fresh),
		cmocka_unit_test(test_worktree_remove),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
