/*
 * git-merge.c: the git operations behind the merge queue, each a short
 * sequence of git commands run off the loop (git.c), told once when
 * done.  They work in the queue's own worktree, whose HEAD is always
 * detached (it never holds a branch), and move the target only by
 * compare-and-swap.  Repository hooks do not run there: the gates are
 * the checks.
 *
 *   gitmg_head      the target's commit: the local branch, or the
 *                   remote's after a fetch
 *   gitmg_reset     the queue's worktree made (the first time) or
 *                   forced clean at a commit; a rebase or merge a crash
 *                   left half done is dropped
 *   gitmg_stack     a chunk's branch applied onto HEAD: rebased, merged
 *                   (--no-ff) or squashed.  A conflict is described
 *                   (the paths, and the diff with its markers), then
 *                   undone: nothing is ever resolved by taking one side
 *   gitmg_land      the target moved from OLD to NEW only if it is still
 *                   OLD: `update-ref REF NEW OLD`, or a push with
 *                   --force-with-lease=REF:OLD
 *   gitmg_adopt     after a rebase or a squash landed, the chunk's
 *                   branch moved to what landed (`reset --keep` in its
 *                   worktree), its own head kept under refs/swarm/merged
 *   gitmg_contains  whether a commit is on the target (a crash between
 *                   moving the target and recording it)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

#define DIFF_MAX (64 * 1024) /* of a conflict's diff, in a rejection */

enum gitmg_op { G_HEAD, G_RESET, G_STACK, G_LAND, G_ADOPT, G_CONTAINS };

struct gitmg {
	enum gitmg_op op;
	char *repo, *path, *target, *remote, *commit, *old, *msg, *branch;
	char *mode, *keep;
	char *orig;        /* G_STACK: the branch's head */
	json_t *conflicts; /* G_STACK: what conflicted */
	int step;
	struct event *later; /* the first step, from the loop */
	struct git_run *run;
	struct gitmg_result res;
	gitmg_cb cb;
	void *arg;
	char err[512];
	char out[64];
};

#define MG_MARK "SWARM_MERGE_GIT" /* names the queue a git runs for */

static void step(struct gitmg *, const struct git_result *);

static void
gitmg_free(struct gitmg *g)
{
	free(g->repo);
	free(g->path);
	free(g->target);
	free(g->remote);
	free(g->commit);
	free(g->old);
	free(g->msg);
	free(g->branch);
	free(g->mode);
	free(g->keep);
	free(g->orig);
	json_decref(g->conflicts);
	if (g->later != NULL)
		event_free(g->later);
	free(g);
}

/* At a shutdown: the git running is left to finish (git_detach). */
void
gitmg_detach(struct gitmg *g)
{
	if (g == NULL)
		return;
	git_detach(g->run);
	g->run = NULL;
	gitmg_free(g);
}

static void
gitmg_end(struct gitmg *g, int ok)
{
	g->res.ok = ok;
	g->res.err = ok ? NULL : g->err;
	g->res.commit = ok && *g->out != '\0' ? g->out : NULL;
	g->res.orig = g->orig;
	g->res.conflicts = g->conflicts;
	g->cb(&g->res, g->arg);
	gitmg_free(g);
}

/* WHAT failed: the first line git said. */
static void
gitmg_fail(struct gitmg *g, const char *what, const struct git_result *r)
{
	const char *s = r == NULL ? "" : *r->err != '\0' ? r->err : r->out;

	if (r != NULL && r->timed_out)
		s = "timed out";
	snprintf(
	    g->err, sizeof g->err, "%s: %.*s", what, (int)strcspn(s, "\n"), s);
	gitmg_end(g, 0);
}

static void
on_git(const struct git_result *r, void *arg)
{
	struct gitmg *g = arg;

	g->run = NULL;
	g->step++;
	step(g, r);
}

/*
 * Run git in DIR as the next step: no hooks, swarmd the committer of
 * what it makes, and marked with the queue's worktree (MG_MARK) so a
 * git a crash left running there is waited for (gitmg_running).
 */
static void
gitmg_git(struct gitmg *g, const char *dir, const char *const *args)
{
	char *sock = xasprintf(SWARM_ENV_SOCKET "=%s", srv.cfg.socket);
	char *mark = xasprintf(MG_MARK "=%s", g->path != NULL ? g->path : "");
	const char *env[] = { "GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=core.hooksPath",
		"GIT_CONFIG_VALUE_0=/dev/null", "GIT_AUTHOR_NAME=swarmd",
		"GIT_AUTHOR_EMAIL=swarmd@localhost",
		"GIT_COMMITTER_NAME=swarmd",
		"GIT_COMMITTER_EMAIL=swarmd@localhost", sock, mark, NULL };

	g->run = git_run(dir, args, env, on_git, g, g->err, sizeof g->err);
	free(sock);
	free(mark);
	if (g->run == NULL)
		gitmg_end(g, 0);
}

/* Whether a git (of a swarmd before this one) still runs in the
 * queue's worktree PATH. */
int
gitmg_running(const char *path)
{
	return proc_find_env(MG_MARK, path, srv.cfg.socket) > 0;
}

static void
on_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	step(arg, NULL);
}

/* A new operation; its first step runs from the loop, so its caller is
 * never told inside the call that began it. */
static struct gitmg *
gitmg_new(enum gitmg_op op, gitmg_cb cb, void *arg)
{
	struct gitmg *g = xcalloc(1, sizeof *g);
	struct timeval now = { 0, 0 };

	g->op = op;
	g->cb = cb;
	g->arg = arg;
	g->later = evtimer_new(srv.base, on_later, g);
	evtimer_add(g->later, &now);
	return g;
}

static void
out_line(struct gitmg *g, const struct git_result *r)
{
	snprintf(
	    g->out, sizeof g->out, "%.*s", (int)strcspn(r->out, "\n"), r->out);
}

/* ---- the target's commit ---- */

static void
head_step(struct gitmg *g, const struct git_result *r)
{
	char *spec = g->remote != NULL ?
	    xasprintf("+refs/heads/%s:refs/remotes/%s/%s", g->target, g->remote,
	        g->target) :
	    NULL;
	char *ref = g->remote != NULL ?
	    xasprintf("refs/remotes/%s/%s^{commit}", g->remote, g->target) :
	    xasprintf("refs/heads/%s^{commit}", g->target);
	const char *fetch[] = { "fetch", "--quiet", "--no-tags", g->remote,
		spec, NULL };
	const char *parse[] = { "rev-parse", "--verify", "--quiet", ref, NULL };

	if (r == NULL && g->remote != NULL)
		gitmg_git(g, g->repo, fetch);
	else if (r == NULL || (g->step == 1 && g->remote != NULL)) {
		if (r != NULL && r->exit != 0)
			gitmg_fail(g, "cannot fetch the target", r);
		else {
			g->step = 1;
			gitmg_git(g, g->repo, parse);
		}
	} else if (r->exit != 0)
		gitmg_fail(g, "no such target", r);
	else {
		out_line(g, r);
		gitmg_end(g, 1);
	}
	free(spec);
	free(ref);
}

struct gitmg *
gitmg_head(const char *repo, const char *target, const char *remote,
    gitmg_cb cb, void *arg)
{
	struct gitmg *g = gitmg_new(G_HEAD, cb, arg);

	g->repo = xstrdup(repo);
	g->target = xstrdup(target);
	g->remote = remote != NULL ? xstrdup(remote) : NULL;
	return g;
}

/* ---- the queue's worktree, clean at a commit ---- */

static void
reset_step(struct gitmg *g, const struct git_result *r)
{
	char *dotgit = xasprintf("%s/.git", g->path);
	const char *add[] = { "worktree", "add", "--quiet", "--detach",
		"--lock", "--reason", "swarmd merge queue", g->path, g->commit,
		NULL };
	const char *quit[] = { "rebase", "--quit", NULL };
	const char *co[] = { "checkout", "--quiet", "--detach", "--force",
		g->commit, NULL };
	const char *hard[] = { "reset", "--quiet", "--hard", NULL };
	const char *clean[] = { "clean", "--quiet", "-ffdx", NULL };

	if (r == NULL && access(dotgit, F_OK) != 0) {
		g->step = 10; /* made fresh: nothing else to do */
		gitmg_git(g, g->repo, add);
	} else if (r == NULL) /* a rebase left by a crash: forgotten */
		gitmg_git(g, g->path, quit);
	else if (g->step != 1 && r->exit != 0) /* --quit may find none */
		gitmg_fail(g, "cannot reset the merge worktree", r);
	else if (g->step == 1)
		gitmg_git(g, g->path, co);
	else if (g->step == 2)
		gitmg_git(g, g->path, hard);
	else if (g->step == 3)
		gitmg_git(g, g->path, clean);
	else
		gitmg_end(g, 1);
	free(dotgit);
}

struct gitmg *
gitmg_reset(const char *repo, const char *path, const char *commit, gitmg_cb cb,
    void *arg)
{
	struct gitmg *g = gitmg_new(G_RESET, cb, arg);

	g->repo = xstrdup(repo);
	g->path = xstrdup(path);
	g->commit = xstrdup(commit);
	return g;
}

/* ---- a chunk's branch, applied onto HEAD ---- */

enum {
	ST_ORIG = 1,  /* the branch's head is known */
	ST_APPLIED,   /* rebased, merged or squashed: or a conflict */
	ST_STAGED,    /* squash: anything to commit? */
	ST_COMMITTED, /* squash: committed */
	ST_HEAD,      /* the new HEAD is known */
	ST_PATHS,     /* failed: the paths in conflict */
	ST_DIFF,      /* failed: the diff, with its markers */
	ST_UNDONE     /* failed: undone */
};

/* The conflict's diff, at most DIFF_MAX of it. */
static json_t *
diff_of(const struct git_result *r)
{
	size_t n = r->outlen > DIFF_MAX ? DIFF_MAX : r->outlen;
	json_t *s = json_stringn(r->out, n);

	return s != NULL ? s : json_string("(the diff is not UTF-8 text)");
}

static json_t *
lines_of(const struct git_result *r)
{
	json_t *list = json_array();
	char *s = xasprintf("%.*s", (int)r->outlen, r->out), *line,
	     *save = NULL;

	for (line = strtok_r(s, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		json_array_append_new(list, json_string(line));
	free(s);
	return list;
}

/* Applying failed (g->err says how): what conflicted, then undone. */
static void
stack_undo(struct gitmg *g, const struct git_result *r)
{
	const char *paths[] = { "diff", "--name-only", "--diff-filter=U",
		NULL };
	const char *diff[] = { "diff", "--no-color", NULL };
	const char *rebase[] = { "rebase", "--abort", NULL };
	const char *hard[] = { "reset", "--quiet", "--hard", NULL };
	json_t *list;

	if (g->step == ST_APPLIED) {
		g->step = ST_PATHS - 1;
		gitmg_git(g, g->path, paths);
	} else if (g->step == ST_PATHS) {
		list = lines_of(r);
		/* No path in conflict: a failure, not a conflict. */
		if (json_array_size(list) == 0) {
			json_decref(list);
			g->step = ST_DIFF;
			gitmg_git(g, g->path,
			    strcmp(g->mode, "rebase") == 0 ? rebase : hard);
			return;
		}
		g->conflicts = json_pack("{s:o}", "paths", list);
		gitmg_git(g, g->path, diff);
	} else if (g->step == ST_DIFF) {
		json_object_set_new(g->conflicts, "diff", diff_of(r));
		gitmg_git(
		    g, g->path, strcmp(g->mode, "rebase") == 0 ? rebase : hard);
	} else if (r->exit != 0)
		gitmg_fail(g, "cannot undo the failed merge", r);
	else
		gitmg_end(g, 0);
}

static void
stack_apply(struct gitmg *g)
{
	const char *rebase[] = { "rebase", "--quiet", g->commit, g->orig,
		NULL };
	const char *merge[] = { "merge", "--quiet", "--no-ff", "--no-edit",
		"-m", g->msg, g->orig, NULL };
	const char *squash[] = { "merge", "--quiet", "--squash", g->orig,
		NULL };

	gitmg_git(g, g->path,
	    strcmp(g->mode, "rebase") == 0    ? rebase :
	        strcmp(g->mode, "merge") == 0 ? merge :
	                                        squash);
}

static void
stack_step(struct gitmg *g, const struct git_result *r)
{
	char *ref = xasprintf("refs/heads/%s^{commit}", g->branch);
	const char *parse[] = { "rev-parse", "--verify", "--quiet", ref, NULL };
	const char *head[] = { "rev-parse", "HEAD", NULL };
	const char *staged[] = { "diff", "--cached", "--quiet", NULL };
	const char *commit[] = { "commit", "--quiet", "--no-verify", "-m",
		g->msg, NULL };
	const char *said = r == NULL ? "" : *r->out != '\0' ? r->out : r->err;

	if (r == NULL)
		gitmg_git(g, g->path, parse);
	else if (g->step == ST_ORIG && r->exit != 0)
		gitmg_fail(g, "no such branch", r);
	else if (g->step == ST_ORIG) {
		out_line(g, r);
		g->orig = xstrdup(g->out);
		*g->out = '\0';
		stack_apply(g);
	} else if (g->step == ST_APPLIED && r->exit != 0) {
		snprintf(g->err, sizeof g->err, "%.*s",
		    (int)strcspn(said, "\n"), said);
		stack_undo(g, r);
	} else if (g->step == ST_APPLIED && strcmp(g->mode, "squash") == 0)
		gitmg_git(g, g->path, staged);
	else if (g->step == ST_STAGED && r->exit == 1)
		gitmg_git(g, g->path, commit);
	else if ((g->step == ST_STAGED || g->step == ST_COMMITTED) &&
	    r->exit != 0)
		gitmg_fail(g, "cannot commit the squash", r);
	else if (g->step < ST_HEAD) {
		g->step = ST_HEAD - 1;
		gitmg_git(g, g->path, head);
	} else if (g->step == ST_HEAD) {
		out_line(g, r);
		gitmg_end(g, 1);
	} else
		stack_undo(g, r);
	free(ref);
}

struct gitmg *
gitmg_stack(const char *path, const char *mode, const char *branch,
    const char *onto, const char *msg, gitmg_cb cb, void *arg)
{
	struct gitmg *g = gitmg_new(G_STACK, cb, arg);

	g->path = xstrdup(path);
	g->mode = xstrdup(mode);
	g->branch = xstrdup(branch);
	g->commit = xstrdup(onto);
	g->msg = xstrdup(msg);
	return g;
}

/* ---- the target moved, by compare-and-swap ---- */

static void
land_step(struct gitmg *g, const struct git_result *r)
{
	char *ref = xasprintf("refs/heads/%s", g->target);
	char *lease = xasprintf("--force-with-lease=%s:%s", ref, g->old);
	char *spec = xasprintf("%s:%s", g->commit, ref);
	const char *update[] = { "update-ref", "-m", "swarmd: merge queue", ref,
		g->commit, g->old, NULL };
	const char *push[] = { "push", "--quiet", "--porcelain", lease,
		g->remote, spec, NULL };

	if (r == NULL)
		gitmg_git(g, g->repo, g->remote != NULL ? push : update);
	else if (r->exit != 0) {
		/* Not OLD any more, or refused: either way, not moved. */
		g->res.moved = strstr(r->err, "but expected") != NULL ||
		    strstr(r->out, "stale info") != NULL ||
		    strstr(r->err, "stale info") != NULL ||
		    strstr(r->out, "fetch first") != NULL;
		gitmg_fail(g,
		    g->res.moved ? "the target moved" :
		                   "cannot move the target",
		    r);
	} else
		gitmg_end(g, 1);
	free(ref);
	free(lease);
	free(spec);
}

struct gitmg *
gitmg_land(const char *repo, const char *target, const char *remote,
    const char *commit, const char *old, gitmg_cb cb, void *arg)
{
	struct gitmg *g = gitmg_new(G_LAND, cb, arg);

	g->repo = xstrdup(repo);
	g->target = xstrdup(target);
	g->remote = remote != NULL ? xstrdup(remote) : NULL;
	g->commit = xstrdup(commit);
	g->old = xstrdup(old);
	return g;
}

/* ---- the chunk's branch moved to what landed ---- */

static void
adopt_step(struct gitmg *g, const struct git_result *r)
{
	char *ref = xasprintf("refs/heads/%s", g->branch);
	const char *parse[] = { "rev-parse", "--verify", "--quiet", ref, NULL };
	const char *reset[] = { "reset", "--quiet", "--keep", g->commit, NULL };
	const char *move[] = { "update-ref", ref, g->commit, g->orig, NULL };

	if (r == NULL)
		gitmg_git(g, g->repo, parse);
	else if (r->exit != 0)
		gitmg_fail(g,
		    g->step == 1     ? "no such branch" :
		        g->step == 2 ? "cannot keep the branch's head" :
		                       "cannot move the branch",
		    r);
	else if (g->step == 1) {
		const char *keep[] = { "update-ref", g->keep, g->out, NULL };

		out_line(g, r);
		g->orig = xstrdup(g->out);
		if (strcmp(g->orig, g->commit) == 0) /* moved already */
			gitmg_end(g, 1);
		else
			gitmg_git(g, g->repo, keep);
	} else if (g->step == 2 && g->path != NULL &&
	    access(g->path, F_OK) == 0)
		gitmg_git(g, g->path, reset);
	else if (g->step == 2)
		gitmg_git(g, g->repo, move);
	else
		gitmg_end(g, 1);
	free(ref);
}

/* PATH: the chunk's worktree, or NULL when it was removed. */
struct gitmg *
gitmg_adopt(const char *repo, const char *path, const char *branch,
    const char *commit, const char *keep, gitmg_cb cb, void *arg)
{
	struct gitmg *g = gitmg_new(G_ADOPT, cb, arg);

	g->repo = xstrdup(repo);
	g->path = path != NULL ? xstrdup(path) : NULL;
	g->branch = xstrdup(branch);
	g->commit = xstrdup(commit);
	g->keep = xstrdup(keep);
	return g;
}

/* ---- is it there? ---- */

static void
contains_step(struct gitmg *g, const struct git_result *r)
{
	char *ref = g->remote != NULL ?
	    xasprintf("refs/remotes/%s/%s", g->remote, g->target) :
	    xasprintf("refs/heads/%s", g->target);
	const char *is[] = { "merge-base", "--is-ancestor", g->commit, ref,
		NULL };

	if (r == NULL)
		gitmg_git(g, g->repo, is);
	else if (r->exit != 0 && r->exit != 1)
		gitmg_fail(g, "cannot tell", r);
	else {
		g->res.yes = r->exit == 0;
		gitmg_end(g, 1);
	}
	free(ref);
}

struct gitmg *
gitmg_contains(const char *repo, const char *target, const char *remote,
    const char *commit, gitmg_cb cb, void *arg)
{
	struct gitmg *g = gitmg_new(G_CONTAINS, cb, arg);

	g->repo = xstrdup(repo);
	g->target = xstrdup(target);
	g->remote = remote != NULL ? xstrdup(remote) : NULL;
	g->commit = xstrdup(commit);
	return g;
}

static void
step(struct gitmg *g, const struct git_result *r)
{
	static void (*const steps[])(
	    struct gitmg *, const struct git_result *) = { head_step,
		reset_step, stack_step, land_step, adopt_step, contains_step };

	steps[g->op](g, r);
}
