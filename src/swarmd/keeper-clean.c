/*
 * keeper-clean.c: the worktrees surveyed and removed, and a job's
 * worktree checked at submit.  A survey asks git, for each worktree,
 * what it holds beyond its base (commits not merged, changes not
 * committed); only one that holds nothing, with no agent in it, is
 * removed, with `git worktree remove`.  --discard removes the others
 * too, each after a snapshot of what it held; branches and snapshots
 * are never deleted.
 */
#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"
#include "keeper.h"

static void
batch_done(struct batch *b)
{
	if (--b->pending > 0)
		return;
	if (b->cb != NULL)
		b->cb(b->rows, b->arg);
	json_decref(b->rows);
	free(b);
}

/* Why O's worktree must stay, in words; none: it is removable. */
static json_t *
kept_because(const struct op *o)
{
	json_t *why = json_array();

	if (o->row.state == WT_PREPARING || o->row.state == WT_RUNNING)
		json_array_append_new(why,
		    json_sprintf("locked: agent-%lld works in it",
		        (long long)o->row.agent));
	else if (o->row.state != WT_KEPT)
		json_array_append_new(
		    why, json_string(worktree_state_name(o->row.state)));
	if (o->unmerged > 0)
		json_array_append_new(why,
		    json_sprintf("%d commit%s not merged into %s", o->unmerged,
		        o->unmerged == 1 ? "" : "s", o->row.base));
	if (o->dirty > 0)
		json_array_append_new(why, json_string("uncommitted changes"));
	if (o->lost > 0)
		json_array_append_new(why,
		    json_string(
		        "a snapshot of it is missing from the repository"));
	if (o->row.state == WT_KEPT && (o->unmerged < 0 || o->dirty < 0))
		json_array_append_new(
		    why, json_sprintf("cannot tell: %s", o->err));
	return why;
}

static void
batch_add(struct op *o, const char *state, json_t *why, const char *done)
{
	json_t *row = json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:o}",
	    "job", json_sprintf("job-%lld", (long long)o->job), "chunk",
	    o->chunk, "path", o->row.path, "branch", o->row.branch, "base",
	    o->row.base, "state", state, "kept_because", why, "snapshots",
	    worktree_snapshots_json(o->job, o->chunk));

	if (o->row.agent > 0)
		json_object_set_new(row, "agent",
		    json_sprintf("agent-%lld", (long long)o->row.agent));
	if (o->unmerged >= 0)
		json_object_set_new(row, "unmerged", json_integer(o->unmerged));
	if (done != NULL)
		json_object_set_new(row, "done", json_string(done));
	json_array_append_new(o->batch->rows, row);
}

/* What a discarded worktree held, and where it is kept now. */
static json_t *
held(const struct op *o)
{
	json_t *h = json_array();

	if (o->unmerged > 0)
		json_array_append_new(h,
		    json_sprintf("%d commit%s not merged into %s, on %s",
		        o->unmerged, o->unmerged == 1 ? "" : "s", o->row.base,
		        o->row.branch));
	if (o->snapshot != NULL)
		json_array_append_new(h,
		    json_sprintf("uncommitted changes, kept in %.12s "
		                 "(refs/swarm/snapshots/job-%lld/%s/discarded)",
		        o->snapshot, (long long)o->job, o->chunk));
	return h;
}

static void
on_removed(int ok, const char *err, const char *out, void *arg)
{
	struct op *o = arg;

	(void)out;
	o->wt = NULL;
	store_begin();
	if (ok) {
		worktree_apply(o->job, o->chunk, WI_GONE, 0, 0);
		keeper_op_event(o, "worktree_removed",
		    json_pack("{s:s, s:b}", "path", o->row.path, "discarded",
		        o->force));
	} else /* back to kept: it is all still there */
		worktree_apply(o->job, o->chunk, WI_SETTLED, 0, 0);
	store_commit();
	if (o->batch != NULL) {
		batch_add(o, ok ? "removed" : "kept",
		    ok ? json_array() : json_pack("[s]", err),
		    ok ? (o->force ? "discarded" : "removed") : NULL);
		if (ok && o->force)
			json_object_set_new(
			    json_array_get(o->batch->rows,
			        json_array_size(o->batch->rows) - 1),
			    "held", held(o));
		batch_done(o->batch);
	}
	keeper_op_done(o);
}

static void
on_discard_snapshot(int ok, const char *err, const char *out, void *arg)
{
	struct op *o = arg;
	char *ref = xasprintf("refs/swarm/snapshots/job-%lld/%s/discarded",
	    (long long)o->job, o->chunk);

	o->wt = NULL;
	if (!ok) {
		batch_add(o, "kept", json_pack("[s]", err), NULL);
		batch_done(o->batch);
		keeper_op_done(o);
	} else {
		store_begin();
		if (*out != '\0') { /* attempt 0: taken at the discard */
			worktree_snapshot_add(
			    o->job, o->chunk, 0, o->row.agent, ref, out);
			o->snapshot = xstrdup(out);
		}
		worktree_apply(o->job, o->chunk, WI_REMOVE, 0, 0);
		store_commit();
		o->wt =
		    gitwt_remove(o->row.repo, o->row.path, 1, on_removed, o);
	}
	free(ref);
}

/* Remove O's worktree: asked only when nothing is lost by it. */
static void
remove_run(struct op *o)
{
	char *ref;

	if (o->force) {
		ref = xasprintf("refs/swarm/snapshots/job-%lld/%s/discarded",
		    (long long)o->job, o->chunk);
		o->wt = gitwt_snapshot(o->row.path, ref,
		    "swarmd: kept before the worktree was discarded",
		    on_discard_snapshot, o);
		free(ref);
		return;
	}
	store_begin();
	worktree_apply(o->job, o->chunk, WI_REMOVE, 0, 0);
	store_commit();
	o->wt = gitwt_remove(o->row.repo, o->row.path, 0, on_removed, o);
}

/* The survey is in: listed, or removed when the batch cleans. */
static void
survey_end(struct op *o)
{
	json_t *why = kept_because(o);
	int removable = o->row.state == WT_KEPT && json_array_size(why) == 0;
	struct op *rm;

	if (o->batch->clean && o->row.state == WT_KEPT &&
	    (removable || o->batch->force)) {
		rm = keeper_op_new(OP_REMOVE, o->job, o->chunk);
		rm->batch = o->batch;
		rm->force = !removable;
		rm->unmerged = o->unmerged;
		rm->dirty = o->dirty;
		json_decref(why);
	} else {
		batch_add(o,
		    removable ? "removable" :
		        o->row.state == WT_KEPT ?
		                "kept" :
		                worktree_state_name(o->row.state),
		    why, NULL);
		batch_done(o->batch);
	}
	keeper_op_done(o);
}

static void survey_next(struct op *);

static void
on_survey_git(const struct git_result *r, void *arg)
{
	struct op *o = arg;
	int n = r->exit == 0 ? atoi(r->out) : -1;

	o->run = NULL;
	if (r->exit != 0)
		snprintf(o->err, sizeof o->err, "%.*s",
		    (int)strcspn(r->err, "\n"), r->err);
	if (o->step == 0)
		o->unmerged = n;
	else if (o->step == 1)
		o->dirty = r->exit == 0 ? r->outlen > 0 : -1;
	else
		o->lost = r->exit != 0;
	o->step++;
	survey_next(o);
}

/* `git rev-list --no-walk` of every snapshot the chunk's attempts left:
 * it fails if one is not in the repository.  NULL when there are none. */
static char **
snapshot_args(const struct op *o)
{
	json_t *snaps = worktree_snapshots_json(o->job, o->chunk), *s;
	size_t n = json_array_size(snaps), i;
	char **args;

	if (n == 0) {
		json_decref(snaps);
		return NULL;
	}
	args = xcalloc(n + 4, sizeof *args);
	args[0] = xstrdup("rev-list");
	args[1] = xstrdup("--no-walk");
	args[2] = xstrdup("--quiet");
	json_array_foreach(snaps, i, s)
		args[3 + i] =
		    xstrdup(json_string_value(json_object_get(s, "commit")));
	json_decref(snaps);
	return args;
}

static void
survey_next(struct op *o)
{
	char *remotes = o->row.remote != NULL ?
	    xasprintf("--remotes=%s", o->row.remote) :
	    NULL;
	const char *count[] = { "rev-list", "--count", o->row.branch, "--not",
		o->row.base, remotes, NULL };
	const char *status[] = { "status", "--porcelain",
		"--untracked-files=all", NULL };

	char **snaps = NULL;

	if (o->step == 1 && access(o->row.path, F_OK) != 0) {
		o->dirty = 0; /* no worktree: nothing uncommitted */
		o->step++;
	}
	if (o->step == 2 && (snaps = snapshot_args(o)) == NULL)
		o->step++; /* no snapshot to look for */
	if (o->step > 2) {
		free(remotes);
		survey_end(o);
		return;
	}
	o->run = git_run(o->step == 1 ? o->row.path : o->row.repo,
	    o->step == 0     ? count :
	        o->step == 1 ? status :
	                       (const char *const *)snaps,
	    NULL, on_survey_git, o, o->err, sizeof o->err);
	free(remotes);
	keeper_strv_free(snaps);
	if (o->run == NULL)
		survey_end(o);
}

void
keeper_survey_run(struct op *o)
{
	if (worktree_get(o->job, o->chunk, &o->row) == -1) {
		batch_done(o->batch);
		keeper_op_done(o);
		return;
	}
	if (o->row.state == WT_REMOVED) {
		o->unmerged = o->dirty = 0;
		batch_add(o, "removed", json_array(), NULL);
		batch_done(o->batch);
		keeper_op_done(o);
		return;
	}
	o->step = 0;
	survey_next(o);
}

static void
survey_one(const struct wt_row *w, void *arg)
{
	struct batch *b = arg;
	struct op *o = keeper_op_new(OP_SURVEY, w->job, w->chunk);

	o->batch = b;
	b->pending++;
}

/*
 * Every worktree of JOB (0: all), surveyed: its state, and why it is
 * kept.  CLEAN: the removable ones removed; FORCE: the kept ones too,
 * each after a snapshot of what it held.  CB gets the rows; a batch
 * whose asker left (keeper_forget) finishes without telling.
 */
static void
survey_release(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	batch_done(arg);
}

struct batch *
keeper_survey(int64_t job, int clean, int force, keeper_done_cb cb, void *arg)
{
	struct timeval now = { 0, 0 };
	struct batch *b = xcalloc(1, sizeof *b);

	b->rows = json_array();
	b->clean = clean;
	b->force = force;
	b->cb = cb;
	b->arg = arg;
	b->pending = 1;
	worktree_each(job, survey_one, b);
	keeper_op_kick();
	/* Its own hold, let go from the loop: never told inside this call. */
	event_base_once(srv.base, -1, EV_TIMEOUT, survey_release, b, &now);
	return b;
}

void
keeper_forget(struct batch *b)
{
	b->cb = NULL;
}

void
keeper_remove_run(struct op *o)
{
	if (worktree_get(o->job, o->chunk, &o->row) == -1)
		o->row.state = WT_INVALID;
	if (o->row.state == WT_KEPT)
		remove_run(o);
	else if (o->row.state == WT_REMOVING) /* after a crash */
		o->wt =
		    gitwt_remove(o->row.repo, o->row.path, 0, on_removed, o);
	else {
		if (o->batch != NULL)
			batch_done(o->batch);
		keeper_op_done(o);
	}
}

/* ---- a job's worktree, checked at submit ---- */

struct check {
	char *repo, *base;
	char *into, *push; /* the job's merge, or NULL */
	int step;
	struct git_run *run;
	keeper_check_cb cb;
	void *arg;
	char err[512];
};

static void
check_end(struct check *c, const char *err)
{
	if (c->cb != NULL)
		c->cb(err, c->arg);
	free(c->repo);
	free(c->base);
	free(c->into);
	free(c->push);
	free(c);
}

static void
on_check_later(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;

	(void)fd;
	(void)what;
	check_end(c, c->err);
}

/* Found wanting before git ran: told from the loop, not from here. */
static void
check_later(struct check *c)
{
	struct timeval now = { 0, 0 };

	event_base_once(srv.base, -1, EV_TIMEOUT, on_check_later, c, &now);
}

static void on_check_git(const struct git_result *, void *);

static void
check_git(struct check *c, const char *const *args)
{
	c->run = git_run(
	    c->repo, args, NULL, on_check_git, c, c->err, sizeof c->err);
	if (c->run == NULL)
		check_end(c, c->err);
}

/* Each step's question: the repository, its base, the merge's target. */
static void
check_next(struct check *c)
{
	char *rev = c->step == 1 ? xasprintf("%s^{commit}", c->base) :
	                           xasprintf("refs/heads/%s^{commit}", c->into);
	const char *verify[] = { "rev-parse", "--verify", "--quiet", rev,
		NULL };
	const char *remote[] = { "remote", "get-url", c->push, NULL };

	if (c->step == 2 && c->into == NULL)
		check_end(c, NULL);
	else
		check_git(c, c->step == 2 && c->push != NULL ? remote : verify);
	free(rev);
}

static void
on_check_git(const struct git_result *r, void *arg)
{
	struct check *c = arg;

	c->run = NULL;
	if (r->exit != 0 && c->step == 0)
		snprintf(c->err, sizeof c->err,
		    "worktree.repo: %s is not a git repository: %.*s", c->repo,
		    (int)strcspn(r->err, "\n"), r->err);
	else if (r->exit != 0 && c->step == 1)
		snprintf(c->err, sizeof c->err,
		    "worktree.base: no commit \"%s\" in %s", c->base, c->repo);
	else if (r->exit != 0 && c->push != NULL)
		snprintf(c->err, sizeof c->err,
		    "merge.push: no remote \"%s\" in %s", c->push, c->repo);
	else if (r->exit != 0)
		snprintf(c->err, sizeof c->err,
		    "merge.into: no branch \"%s\" in %s", c->into, c->repo);
	if (r->exit != 0 || c->step == 2) {
		check_end(c, r->exit != 0 ? c->err : NULL);
		return;
	}
	c->step++;
	check_next(c);
}

/* The nearest directory of PATH that exists is one we may write in. */
static int
root_ok(const char *root, char *err, size_t errlen)
{
	char buf[PATH_MAX], *slash;
	struct stat sb;

	snprintf(buf, sizeof buf, "%s", root);
	while (stat(buf, &sb) == -1 && (slash = strrchr(buf, '/')) != NULL &&
	    slash != buf)
		*slash = '\0';
	if (!S_ISDIR(sb.st_mode) || access(buf, W_OK | X_OK) == -1) {
		snprintf(err, errlen,
		    "worktree.root: cannot make %.200s: %.200s is %s", root,
		    buf,
		    !S_ISDIR(sb.st_mode) ? "not a directory" : "not writable");
		return -1;
	}
	return 0;
}

/*
 * What only running git (or the store) can tell of a job's worktree
 * SPEC, checked before it is stored: the repository, its base, the
 * root, branches no other job has, and its MERGE's target (or remote).
 * CB gets NULL, or the problem, always from the loop, never inside
 * this call.
 */
void
keeper_check(
    json_t *spec, json_t *merge, json_t *chunks, keeper_check_cb cb, void *arg)
{
	const char *common[] = { "rev-parse", "--git-common-dir", NULL };
	const char *root = json_string_value(json_object_get(spec, "root"));
	const char *pattern = keeper_spec_str(spec, "branch", BRANCH_DEFAULT);
	struct check *c = xcalloc(1, sizeof *c);
	char *branch;
	int64_t owner;
	json_t *ch;
	size_t i;

	c->repo = xstrdup(keeper_spec_str(spec, "repo", ""));
	c->base = xstrdup(keeper_spec_str(spec, "base", ""));
	if (merge != NULL) {
		c->into = xstrdup(keeper_spec_str(merge, "into", "main"));
		if (keeper_spec_str(merge, "push", NULL) != NULL)
			c->push = xstrdup(keeper_spec_str(merge, "push", NULL));
	}
	c->cb = cb;
	c->arg = arg;
	if (root != NULL && root_ok(root, c->err, sizeof c->err) == -1) {
		check_later(c);
		return;
	}
	json_array_foreach(chunks, i, ch) {
		if (strstr(pattern, "{job}") != NULL)
			break;
		branch = keeper_expand(pattern, 0,
		    json_string_value(json_object_get(ch, "id")), 0);
		owner = worktree_branch_owner(c->repo, branch);
		if (owner != 0)
			snprintf(c->err, sizeof c->err,
			    "worktree.branch: %s of %s belongs to job-%lld",
			    branch, c->repo, (long long)owner);
		free(branch);
		if (owner != 0) {
			check_later(c);
			return;
		}
	}
	c->run = git_run(
	    c->repo, common, NULL, on_check_git, c, c->err, sizeof c->err);
	if (c->run == NULL)
		check_later(c);
}
