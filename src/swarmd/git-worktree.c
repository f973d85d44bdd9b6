/*
 * git-worktree.c: the git operations behind a chunk's worktree, each a
 * short sequence of git commands run off the loop (git.c), told once
 * when done.  Every step is safe to run again after a crash: adding
 * finds the branch and the worktree it made last time and takes them
 * as they are, a lock already held for the same reason is kept, and a
 * snapshot is a new commit that moves nothing but its own ref.
 *
 *   gitwt_add       the chunk's branch (made from base the first time,
 *                   then always reused), its worktree, checked to be a
 *                   worktree of that repository (git run inside it must
 *                   not find another checkout, and its index must not be
 *                   locked: a lock held by a git a killed swarmd left
 *                   running there is waited for), then locked.  The first
 *                   time, a branch already there is taken only when it
 *                   holds nothing base does not: it can then only be
 *                   ours, made just before a crash, or an empty name
 *                   someone else made, and nothing of theirs is touched
 *   gitwt_snapshot  what the worktree holds beyond its branch (changes
 *                   and untracked files, not ignored ones) as a commit
 *                   under refs/swarm/snapshots/..., made from a
 *                   temporary index: the branch, the index and the
 *                   files are untouched
 *
 *   gitwt_remove    unlocked, then `git worktree remove` (forced only
 *                   when asked, for a worktree whose content was kept
 *                   first); a path already gone is pruned from git's
 *                   list.  Never rm -rf: git refuses a path that is
 *                   not one of its worktrees.
 */
#include <sys/statvfs.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

#define LOCK_WAIT_MS 100 /* for a git of ours to release an index lock */
#define LOCK_WAITS 600   /* ... 60 s at most */

struct gitwt {
	char *repo, *base, *branch, *path, *reason, *ref, *msg;
	char *index;  /* the snapshot's temporary index file */
	char *common; /* repo's git common dir, as git reports it */
	char *tree;
	int snapshot; /* which sequence: a snapshot, else adding */
	int removing; /* ... or a removal */
	int fresh;    /* adding: the branch should not be there yet */
	int force;    /* removing: even with changes in it */
	int step;
	struct event *later; /* telling a failure to start, from the loop */
	struct event *wait;  /* for a git of ours that holds the index lock */
	int waits;
	struct git_run *run;
	gitwt_cb cb;
	void *arg;
	char err[512];
	char out[128]; /* the snapshot's commit id */
};

static void
gitwt_free(struct gitwt *w)
{
	if (w->index != NULL)
		unlink(w->index);
	free(w->repo);
	free(w->base);
	free(w->branch);
	free(w->path);
	free(w->reason);
	free(w->ref);
	free(w->msg);
	free(w->index);
	free(w->common);
	free(w->tree);
	if (w->later != NULL)
		event_free(w->later);
	if (w->wait != NULL)
		event_free(w->wait);
	free(w);
}

static void
on_later(evutil_socket_t fd, short what, void *arg)
{
	struct gitwt *w = arg;

	(void)fd;
	(void)what;
	w->cb(0, w->err, NULL, w->arg);
	gitwt_free(w);
}

static void
gitwt_end(struct gitwt *w, int ok)
{
	w->cb(ok, ok ? NULL : w->err, ok ? w->out : NULL, w->arg);
	gitwt_free(w);
}

/* Not wanted any more: git is stopped, and no one is told. */
void
gitwt_cancel(struct gitwt *w)
{
	if (w == NULL)
		return;
	git_cancel(w->run);
	gitwt_free(w);
}

/* The first line of what git said, for a message. */
static void
gitwt_fail(struct gitwt *w, const char *what, const struct git_result *r)
{
	const char *s = r != NULL && *r->err != '\0' ? r->err :
	    r != NULL                                ? r->out :
	                                               "";
	size_t n = strcspn(s, "\n");

	if (r != NULL && r->timed_out)
		s = "timed out", n = 9;
	snprintf(w->err, sizeof w->err, "%s: %.*s", what, (int)n, s);
	gitwt_end(w, 0);
}

static void on_step(const struct git_result *, void *);

#define WT_MARK "SWARM_WORKTREE_GIT" /* the worktree a git works on */

/*
 * git_run with EXTRA, and marked with the worktree's path: a git that a
 * killed swarmd left running there is told apart from a lock left by
 * one that died (add_checked).
 */
static struct git_run *
gitwt_run(struct gitwt *w, const char *dir, const char *const *args,
    const char *const *extra)
{
	char *sock = xasprintf(SWARM_ENV_SOCKET "=%s", srv.cfg.socket);
	char *mark = xasprintf(WT_MARK "=%s", w->path != NULL ? w->path : "");
	const char *env[12];
	struct git_run *run;
	size_t n = 0, i;

	for (i = 0; extra != NULL && extra[i] != NULL && n + 3 < nitems(env);
	     i++)
		env[n++] = extra[i];
	env[n++] = sock;
	env[n++] = mark;
	env[n] = NULL;
	run = git_run(dir, args, env, on_step, w, w->err, sizeof w->err);
	free(sock);
	free(mark);
	return run;
}

/* Run git in DIR for the next step; EXTRA as git_run. */
static void
gitwt_git(struct gitwt *w, const char *dir, const char *const *args,
    const char *const *extra)
{
	w->run = gitwt_run(w, dir, args, extra);
	if (w->run == NULL)
		gitwt_end(w, 0);
}

/* The first step; a failure to start is told from the loop, never
 * inside the call that began it. */
static struct gitwt *
gitwt_begin(struct gitwt *w, const char *dir, const char *const *args,
    const char *const *extra)
{
	struct timeval now = { 0, 0 };

	if (args != NULL)
		w->run = gitwt_run(w, dir, args, extra);
	if (w->run == NULL) {
		w->later = evtimer_new(srv.base, on_later, w);
		evtimer_add(w->later, &now);
	}
	return w;
}

/* Output without its newline, copied. */
static char *
line_of(const struct git_result *r)
{
	return xasprintf("%.*s", (int)strcspn(r->out, "\n"), r->out);
}

/* ---- adding: branch, worktree, check, lock ---- */

enum {
	ADD_COMMON,
	ADD_BRANCH_SEEN,
	ADD_BRANCH_FOREIGN,
	ADD_BRANCH_MADE,
	ADD_WORKTREE,
	ADD_CHECKED,
	ADD_LOCKED
};

static void
add_worktree(struct gitwt *w)
{
	const char *add[] = { "worktree", "add", "--quiet", w->path, w->branch,
		NULL };
	const char *top[] = { "rev-parse", "--is-inside-work-tree", NULL };

	/* There already: made by an earlier attempt (or a crash after). */
	w->step = ADD_WORKTREE;
	if (access(w->path, F_OK) == 0)
		gitwt_git(w, w->path, top, NULL);
	else
		gitwt_git(w, w->repo, add, NULL);
}

/*
 * `git worktree add` failed: the message names the path and, when git
 * could not write a file (it does not say why), how much room the file
 * system there has left.
 */
static void
add_failed(struct gitwt *w, const struct git_result *r)
{
	char *what, *dir = xstrdup(w->path), *slash = strrchr(dir, '/');
	char room[96] = "";
	struct statvfs sv;

	if (slash != NULL && slash != dir)
		*slash = '\0';
	if (strstr(r->err, "unable to write") != NULL && statvfs(dir, &sv) == 0)
		snprintf(room, sizeof room,
		    " (its file system has %.1f MiB free of %.1f MiB)",
		    (double)sv.f_bavail * (double)sv.f_frsize / 1048576,
		    (double)sv.f_blocks * (double)sv.f_frsize / 1048576);
	what = xasprintf("cannot add the worktree %s%s", w->path, room);
	gitwt_fail(w, what, r);
	free(what);
	free(dir);
}

/*
 * Isolation, checked: git itself, run inside PATH, must find PATH as
 * the top of a worktree of REPO (not its main checkout, not a checkout
 * around it), on BRANCH, with no index lock left in it.  0, or -1 with
 * what is wrong in w->err.
 */
static int
add_checked(struct gitwt *w, const struct git_result *r, const char *ref)
{
	char *out = xstrdup(r->out), *p = out, *f[4], *lock = NULL;
	size_t n = strlen(w->common);
	int i, rc = -1;

	for (i = 0; i < 4; i++)
		f[i] = strsep(&p, "\n");
	if (r->exit != 0 || f[3] == NULL)
		snprintf(w->err, sizeof w->err,
		    "%s is not a worktree: git says %.*s", w->path,
		    (int)strcspn(r->err, "\n"), r->err);
	else if (strcmp(f[0], w->path) != 0)
		snprintf(w->err, sizeof w->err,
		    "%s is not the top of a worktree: git finds %s", w->path,
		    f[0]);
	else if (strcmp(f[2], w->common) != 0)
		snprintf(w->err, sizeof w->err,
		    "%s belongs to another repository (%s), not %s", w->path,
		    f[2], w->repo);
	else if (strncmp(f[1], w->common, n) != 0 ||
	    strncmp(f[1] + n, "/worktrees/", 11) != 0)
		snprintf(w->err, sizeof w->err,
		    "%s is not one of the worktrees of %s (its git dir is %s)",
		    w->path, w->repo, f[1]);
	else if (strcmp(f[3], ref) != 0)
		snprintf(w->err, sizeof w->err, "%s is on %s, not on %s",
		    w->path, f[3], ref);
	else if (access((lock = xasprintf("%s/index.lock", f[1])), F_OK) == 0) {
		snprintf(w->err, sizeof w->err,
		    "the index of %s is locked (%s): a git command runs there, "
		    "or died and left the lock",
		    w->path, lock);
		/* One of ours, left by a killed swarmd: it will be done. */
		if (proc_find_env(WT_MARK, w->path, srv.cfg.socket) > 0)
			rc = -2;
	} else
		rc = 0;
	free(lock);
	free(out);
	return rc;
}

static void
on_wait(evutil_socket_t fd, short what, void *arg)
{
	struct gitwt *w = arg;
	const char *check[] = { "rev-parse", "--path-format=absolute",
		"--show-toplevel", "--git-dir", "--git-common-dir",
		"--symbolic-full-name", "HEAD", NULL };

	(void)fd;
	(void)what;
	gitwt_git(w, w->path, check, NULL);
}

/* The check again in a moment, when the git that holds the lock is done. */
static void
add_wait(struct gitwt *w)
{
	struct timeval tv = { 0, LOCK_WAIT_MS * 1000 };

	if (w->wait == NULL)
		w->wait = evtimer_new(srv.base, on_wait, w);
	evtimer_add(w->wait, &tv);
}

static void
add_step(struct gitwt *w, const struct git_result *r)
{
	const char *seen[] = { "rev-parse", "--verify", "--quiet", NULL, NULL };
	const char *make[] = { "branch", "--no-track", w->branch, w->base,
		NULL };
	const char *lock[] = { "worktree", "lock", "--reason", w->reason,
		w->path, NULL };
	const char *ahead[] = { "rev-list", "--count", w->branch, "--not",
		w->base, "--", NULL };
	const char *check[] = { "rev-parse", "--path-format=absolute",
		"--show-toplevel", "--git-dir", "--git-common-dir",
		"--symbolic-full-name", "HEAD", NULL };
	char *ref = xasprintf("refs/heads/%s", w->branch);
	int rc;

	switch (w->step) {
	case ADD_COMMON:
		if (r->exit != 0) {
			gitwt_fail(w, "repo is not a git repository", r);
			break;
		}
		w->common = line_of(r);
		seen[3] = ref;
		w->step = ADD_BRANCH_SEEN;
		gitwt_git(w, w->repo, seen, NULL);
		break;
	case ADD_BRANCH_SEEN:
		if (r->exit == 0 && !w->fresh) {
			add_worktree(w); /* a later attempt: its own branch */
			break;
		}
		if (r->exit == 0) {
			w->step = ADD_BRANCH_FOREIGN;
			gitwt_git(w, w->repo, ahead, NULL);
			break;
		}
		w->step = ADD_BRANCH_MADE;
		gitwt_git(w, w->repo, make, NULL);
		break;
	case ADD_BRANCH_FOREIGN:
		if (r->exit != 0)
			gitwt_fail(w, "cannot compare the branch with base", r);
		else if (strcmp(r->out, "0\n") != 0) {
			snprintf(w->err, sizeof w->err,
			    "branch %s already exists in %s with %.*s commits "
			    "not on %s, and this chunk did not make it",
			    w->branch, w->repo, (int)strcspn(r->out, "\n"),
			    r->out, w->base);
			gitwt_end(w, 0);
		} else
			add_worktree(w);
		break;
	case ADD_BRANCH_MADE:
		if (r->exit != 0)
			gitwt_fail(w, "cannot make the branch from base", r);
		else
			add_worktree(w);
		break;
	case ADD_WORKTREE:
		if (r->exit != 0) {
			add_failed(w, r);
			break;
		}
		w->step = ADD_CHECKED;
		gitwt_git(w, w->path, check, NULL);
		break;
	case ADD_CHECKED:
		if ((rc = add_checked(w, r, ref)) == -2 &&
		    w->waits++ < LOCK_WAITS) {
			add_wait(w);
			break;
		}
		if (rc != 0) {
			gitwt_end(w, 0);
			break;
		}
		w->step = ADD_LOCKED;
		gitwt_git(w, w->repo, lock, NULL);
		break;
	case ADD_LOCKED:
		if (r->exit != 0 && strstr(r->err, "already locked") == NULL)
			gitwt_fail(w, "cannot lock the worktree", r);
		else
			gitwt_end(w, 1);
		break;
	}
	free(ref);
}

/*
 * The worktree PATH of REPO on BRANCH (made from BASE if it is not
 * there), locked for REASON and checked; PATH must be absolute and
 * canonical (as git prints it).  FRESH: the chunk never had it, so a
 * branch found there must hold nothing beyond BASE.
 */
struct gitwt *
gitwt_add(const char *repo, const char *base, const char *branch,
    const char *path, const char *reason, int fresh, gitwt_cb cb, void *arg)
{
	const char *common[] = { "rev-parse", "--path-format=absolute",
		"--git-common-dir", NULL };
	struct gitwt *w = xcalloc(1, sizeof *w);

	w->repo = xstrdup(repo);
	w->base = xstrdup(base);
	w->branch = xstrdup(branch);
	w->path = xstrdup(path);
	w->reason = xstrdup(reason);
	w->fresh = fresh;
	w->cb = cb;
	w->arg = arg;
	w->step = ADD_COMMON;
	return gitwt_begin(w, w->repo, common, NULL);
}

/* ---- snapshots ---- */

enum { SNAP_STATUS, SNAP_READ, SNAP_ADD, SNAP_TREE, SNAP_COMMIT, SNAP_REF };

static void
snap_git(struct gitwt *w, int step, const char *const *args,
    const char *const *ident)
{
	char *index = xasprintf("GIT_INDEX_FILE=%s", w->index);
	const char *env[8];
	size_t n = 0, i;

	env[n++] = index;
	for (i = 0; ident != NULL && ident[i] != NULL && n + 1 < nitems(env);
	     i++)
		env[n++] = ident[i];
	env[n] = NULL;
	w->step = step;
	gitwt_git(w, w->path, args, env);
	free(index);
}

static void
snap_step(struct gitwt *w, const struct git_result *r)
{
	const char *read[] = { "read-tree", "HEAD", NULL };
	const char *add[] = { "add", "--all", NULL };
	const char *tree[] = { "write-tree", NULL };
	const char *commit[] = { "commit-tree", w->tree, "-p", "HEAD", "-m",
		w->msg, NULL };
	const char *ref[] = { "update-ref", w->ref, w->out, NULL };
	const char *ident[] = { "GIT_AUTHOR_NAME=swarmd",
		"GIT_AUTHOR_EMAIL=swarmd@localhost",
		"GIT_COMMITTER_NAME=swarmd",
		"GIT_COMMITTER_EMAIL=swarmd@localhost", NULL };
	static const char *what[] = { "git status", "git read-tree", "git add",
		"git write-tree", "git commit-tree", "git update-ref" };

	if (r->exit != 0) {
		gitwt_fail(w, what[w->step], r);
		return;
	}
	switch (w->step) {
	case SNAP_STATUS:
		if (r->outlen == 0) {
			gitwt_end(w, 1); /* nothing beyond the branch */
			return;
		}
		snap_git(w, SNAP_READ, read, NULL);
		break;
	case SNAP_READ:
		snap_git(w, SNAP_ADD, add, NULL);
		break;
	case SNAP_ADD:
		snap_git(w, SNAP_TREE, tree, NULL);
		break;
	case SNAP_TREE:
		w->tree = line_of(r);
		commit[1] = w->tree;
		snap_git(w, SNAP_COMMIT, commit, ident);
		break;
	case SNAP_COMMIT:
		snprintf(w->out, sizeof w->out, "%.*s",
		    (int)strcspn(r->out, "\n"), r->out);
		snap_git(w, SNAP_REF, ref, NULL);
		break;
	case SNAP_REF:
		gitwt_end(w, 1);
		break;
	}
}

/*
 * Keep what the worktree PATH holds beyond its branch as a commit under
 * REF, with message MSG.  Told the commit's id, or "" when there was
 * nothing to keep.  Nothing of the worktree moves.
 */
struct gitwt *
gitwt_snapshot(
    const char *path, const char *ref, const char *msg, gitwt_cb cb, void *arg)
{
	const char *status[] = { "status", "--porcelain",
		"--untracked-files=all", NULL };
	const char *tmp = getenv("TMPDIR");
	struct gitwt *w = xcalloc(1, sizeof *w);
	int fd;

	w->path = xstrdup(path);
	w->ref = xstrdup(ref);
	w->msg = xstrdup(msg);
	w->index = xasprintf("%s/swarmd-index-XXXXXX",
	    tmp != NULL && *tmp == '/' ? tmp : "/tmp");
	w->cb = cb;
	w->arg = arg;
	w->snapshot = 1;
	/* A name of our own; git makes the file (it must not exist). */
	if ((fd = mkstemp(w->index)) == -1) {
		snprintf(w->err, sizeof w->err, "temporary index: %s",
		    strerror(errno));
		return gitwt_begin(w, NULL, NULL, NULL);
	}
	close(fd);
	unlink(w->index);
	w->step = SNAP_STATUS;
	return gitwt_begin(w, w->path, status, NULL);
}

/* ---- removing ---- */

enum { RM_UNLOCK, RM_REMOVE, RM_PRUNE };

static void
rm_step(struct gitwt *w, const struct git_result *r)
{
	const char *rm[] = { "worktree", "remove", w->path, NULL, NULL };
	const char *rmf[] = { "worktree", "remove", "--force", "--force",
		w->path, NULL };
	const char *prune[] = { "worktree", "prune", NULL };

	switch (w->step) {
	case RM_UNLOCK: /* not locked is as good */
		w->step = access(w->path, F_OK) == 0 ? RM_REMOVE : RM_PRUNE;
		if (w->step == RM_PRUNE)
			gitwt_git(w, w->repo, prune, NULL);
		else
			gitwt_git(w, w->repo, w->force ? rmf : rm, NULL);
		break;
	case RM_REMOVE:
	case RM_PRUNE:
		if (r->exit != 0)
			gitwt_fail(w,
			    w->step == RM_PRUNE ? "git worktree prune" :
			                          "git worktree remove",
			    r);
		else
			gitwt_end(w, 1);
		break;
	}
}

/*
 * Remove the worktree PATH of REPO; FORCE even with changes in it (the
 * caller kept them first).  A path that is gone is pruned.
 */
struct gitwt *
gitwt_remove(
    const char *repo, const char *path, int force, gitwt_cb cb, void *arg)
{
	const char *unlock[] = { "worktree", "unlock", path, NULL };
	struct gitwt *w = xcalloc(1, sizeof *w);

	w->repo = xstrdup(repo);
	w->path = xstrdup(path);
	w->force = force;
	w->removing = 1;
	w->cb = cb;
	w->arg = arg;
	w->step = RM_UNLOCK;
	return gitwt_begin(w, w->repo, unlock, NULL);
}

static void
on_step(const struct git_result *r, void *arg)
{
	struct gitwt *w = arg;

	w->run = NULL;
	if (w->snapshot)
		snap_step(w, r);
	else if (w->removing)
		rm_step(w, r);
	else
		add_step(w, r);
}
