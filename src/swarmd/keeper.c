/*
 * keeper.c: the agents' work, kept.  A job with a "worktree" runs each
 * chunk in a git worktree of its own, on a branch of its own; this file
 * drives git (git-worktree.c, off the loop) around each attempt and
 * feeds the worktree table (worktree.c):
 *
 *   before an attempt  the branch (made from base the first time, then
 *                      the chunk's own) and its worktree, locked for the
 *                      agent and checked to be that repository's
 *   after it           whatever the way it ended: a snapshot of what
 *                      the worktree holds beyond its branch, the
 *                      branch's new commits recorded by their trailers,
 *                      the lock let go
 *   on request         removal, only when nothing can be lost
 *
 * Operations on one chunk's worktree run one at a time, in the order
 * asked: a retry's preparation waits for the previous attempt's
 * snapshot.  Each is recorded before git runs, so a start after a crash
 * finds it in the table and finishes it (keeper_start).
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

#define EMAIL_DEFAULT "{agent}@{job}.swarmd.invalid"

/* Git sequences at once: enough to keep 2 cores busy, few ref locks. */
#define KEEP_PAR 8

static TAILQ_HEAD(, op) ops = TAILQ_HEAD_INITIALIZER(ops);
static int nrunning;

static void op_run(struct op *);

static json_t *
wt_spec(int64_t job)
{
	struct job *j = job_find(job);

	return j != NULL ? json_object_get(j->spec, "worktree") : NULL;
}

int
keeper_wants(const struct job *j)
{
	return j != NULL && json_object_get(j->spec, "worktree") != NULL;
}

const char *
keeper_spec_str(json_t *spec, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(spec, key));

	return s != NULL ? s : dflt;
}

char *
keeper_expand(const char *tmpl, int64_t job, const char *chunk, int64_t agent)
{
	char jn[32], an[32];

	snprintf(jn, sizeof jn, "job-%lld", (long long)job);
	snprintf(an, sizeof an, "agent-%lld", (long long)agent);
	return jobspec_expand(tmpl, "", chunk, jn, an, NULL);
}

/* mkdir -p, each new directory 0750. */
static int
mkdirs(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -1;
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0750) == -1 && errno != EEXIST ? -1 : 0;
}

/* The root of JOB's worktrees, made and canonical (as git prints it). */
static char *
job_root(int64_t job, json_t *spec, char *err, size_t errlen)
{
	const char *root = json_string_value(json_object_get(spec, "root"));
	char *dir, real[PATH_MAX];

	dir = root != NULL ? xasprintf("%s/job-%lld", root, (long long)job) :
	                     xasprintf("%s/worktrees/job-%lld",
	                         srv.cfg.statedir, (long long)job);
	if (mkdirs(dir) == -1 || realpath(dir, real) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	free(dir);
	return xstrdup(real);
}

/*
 * Agent A's claim on its chunk's worktree, in the dispatch transaction:
 * recorded before git runs.  -1 with ERR when it cannot be had.
 */
int
keeper_claim(struct agent *a, char *err, size_t errlen)
{
	json_t *spec = wt_spec(a->job);
	struct wt_row w;
	int64_t owner;
	char *root;
	int rc;

	if (spec == NULL)
		return 0;
	if ((root = job_root(a->job, spec, err, errlen)) == NULL)
		return -1;
	memset(&w, 0, sizeof w);
	w.job = a->job;
	w.chunk = a->chunk;
	w.repo = (char *)keeper_spec_str(spec, "repo", "");
	w.base = (char *)keeper_spec_str(spec, "base", "");
	w.branch =
	    keeper_expand(keeper_spec_str(spec, "branch", BRANCH_DEFAULT),
	        a->job, a->chunk, a->id);
	w.path = xasprintf("%s/%s", root, a->chunk);
	w.remote = (char *)json_string_value(json_object_get(spec, "remote"));
	w.agent = a->id;
	w.attempt = a->attempt;
	owner = worktree_branch_owner(w.repo, w.branch);
	rc = 0;
	if (owner != 0 && owner != a->job) {
		snprintf(err, errlen, "branch %s of %s belongs to job-%lld",
		    w.branch, w.repo, (long long)owner);
		rc = -1;
	} else
		worktree_claim(&w);
	free(w.branch);
	free(w.path);
	free(root);
	return rc == -1 ? -1 : 0;
}

/* ---- the queue of operations, one at a time per chunk ---- */

/* Whether an operation before O works on O's chunk. */
static int
op_waits(const struct op *o)
{
	struct op *p;

	TAILQ_FOREACH(p, &ops, entry) {
		if (p == o)
			return 0;
		if (p->job == o->job && strcmp(p->chunk, o->chunk) == 0)
			return 1;
	}
	return 0;
}

/* The first operation that may start now, or NULL. */
static struct op *
op_startable(void)
{
	struct op *o;

	TAILQ_FOREACH(o, &ops, entry) {
		if (!o->running && !op_waits(o))
			return o;
	}
	return NULL;
}

/*
 * Start what may start, in the order asked; not while stopping.  An
 * operation may end at once and ask again: that is taken up here, not
 * inside, so the list never changes under a walk.
 */
void
keeper_op_kick(void)
{
	static int kicking;
	struct op *o;

	if (kicking)
		return;
	kicking = 1;
	while (nrunning < KEEP_PAR && !srv.shutting_down &&
	    (o = op_startable()) != NULL) {
		o->running = 1;
		nrunning++;
		op_run(o);
	}
	kicking = 0;
}

struct op *
keeper_op_new(enum op_kind kind, int64_t job, const char *chunk)
{
	struct op *o = xcalloc(1, sizeof *o);

	o->kind = kind;
	o->job = job;
	o->chunk = xstrdup(chunk);
	o->dirty = o->unmerged = -1;
	TAILQ_INSERT_TAIL(&ops, o, entry);
	return o;
}

static void
op_free(struct op *o)
{
	gitwt_cancel(o->wt);
	git_cancel(o->run);
	keeper_gates_cancel(o->gates);
	gitmg_detach(o->mg); /* moving a branch: let it finish */
	free(o->tip);
	free(o->onto);
	free(o->target);
	worktree_row_free(&o->row);
	free(o->chunk);
	free(o->snapshot);
	free(o);
}

/* O is over (or never ran): the next operations may run. */
void
keeper_op_done(struct op *o)
{
	TAILQ_REMOVE(&ops, o, entry);
	if (o->running)
		nrunning--;
	op_free(o);
	keeper_op_kick();
}

void
keeper_op_event(struct op *o, const char *type, json_t *data)
{
	evlog_add(type, o->job, o->chunk, o->row.agent, o->row.attempt, data);
}

/* ---- preparing: the worktree an attempt runs in ---- */

static void
on_added(int ok, const char *err, const char *out, void *arg)
{
	struct op *o = arg;
	struct agent *a = o->agent;

	(void)out;
	o->wt = NULL;
	store_begin();
	if (ok) {
		worktree_apply(o->job, o->chunk, WI_READY, 0, 0);
		keeper_op_event(o, "worktree_ready",
		    json_pack("{s:s, s:s}", "path", o->row.path, "branch",
		        o->row.branch));
	} else
		keeper_op_event(
		    o, "worktree_failed", json_pack("{s:s}", "reason", err));
	store_commit();
	o->cb(a, ok, err, o->arg);
	keeper_op_done(o);
}

static void
prepare_run(struct op *o)
{
	struct agent *a = o->agent;
	char *reason;
	int moved = 0;

	if (worktree_get(o->job, o->chunk, &o->row) == 0 &&
	    (o->row.state != WT_PREPARING || o->row.agent != a->id)) {
		/* A later attempt: its turn, after the last one's snapshot. */
		store_begin();
		moved = worktree_apply(o->job, o->chunk, WI_PREPARE, a->id,
		            a->attempt) != -1;
		store_commit();
		worktree_row_free(&o->row);
		if (moved)
			worktree_get(o->job, o->chunk, &o->row);
	} else
		moved = o->row.path != NULL;
	if (!moved) {
		o->cb(a, 0, "the chunk's worktree cannot be prepared now",
		    o->arg);
		keeper_op_done(o);
		return;
	}
	reason = xasprintf("swarmd agent-%lld", (long long)o->agent->id);
	o->wt = gitwt_add(o->row.repo, o->row.base, o->row.branch, o->row.path,
	    reason, !o->row.made, on_added, o);
	free(reason);
}

/*
 * Make agent A's worktree ready (claimed already); CB is told once,
 * after the previous attempt's snapshot if one is still being taken.
 */
void
keeper_prepare(struct agent *a, keeper_cb cb, void *arg)
{
	struct op *o = keeper_op_new(OP_PREPARE, a->job, a->chunk);

	o->agent = a;
	o->cb = cb;
	o->arg = arg;
	keeper_op_kick();
}

/*
 * A's preparation is no longer wanted (an abort, a stop): stopped, its
 * callback never told.  Its ARG, or NULL when there was none.
 */
void *
keeper_cancel(struct agent *a)
{
	struct op *o;
	void *arg;

	TAILQ_FOREACH(o, &ops, entry) {
		if (o->kind == OP_PREPARE && o->agent == a) {
			arg = o->arg;
			keeper_op_done(o);
			return arg;
		}
	}
	return NULL;
}

/* ---- what an agent in a worktree is given ---- */

/* A NULL-ended list of strings, one more; and freed. */
void
keeper_strv_add(char ***env, size_t *n, char *s)
{
	*env = xrealloc(*env, (*n + 2) * sizeof **env);
	(*env)[(*n)++] = s;
	(*env)[*n] = NULL;
}

void
keeper_strv_free(char **v)
{
	char **p;

	for (p = v; p != NULL && *p != NULL; p++)
		free(*p);
	free(v);
}

/*
 * Agent A's directory (its worktree) and what its environment gains:
 * where it is, the snapshot to start from, git kept inside the worktree
 * and committing as the agent, through swarmd's hooks, which add the
 * trailers.  NULL when A's job has no worktree.
 */
char **
keeper_env(const struct agent *a, char **dir)
{
	json_t *spec = wt_spec(a->job);
	char **env = NULL, *email, *snap, *slash;
	struct wt_row w;
	size_t n = 0;

	*dir = NULL;
	if (spec == NULL || worktree_get(a->job, a->chunk, &w) == -1)
		return NULL;
	*dir = xstrdup(w.path);
	email = keeper_expand(keeper_spec_str(spec, "email", EMAIL_DEFAULT),
	    a->job, a->chunk, a->id);
	keeper_strv_add(&env, &n, xasprintf("SWARM_WORKTREE=%s", w.path));
	keeper_strv_add(&env, &n, xasprintf("SWARM_BRANCH=%s", w.branch));
	if ((snap = worktree_snapshot_latest(a->job, a->chunk)) != NULL)
		keeper_strv_add(&env, &n, xasprintf("SWARM_SNAPSHOT=%s", snap));
	/* git stops at the worktree's parent: no falling through. */
	slash = strrchr(w.path, '/');
	keeper_strv_add(&env, &n,
	    xasprintf("GIT_CEILING_DIRECTORIES=%.*s",
	        (int)(slash != NULL ? slash - w.path : 0), w.path));
	keeper_strv_add(&env, &n,
	    xasprintf("GIT_AUTHOR_NAME=agent-%lld", (long long)a->id));
	keeper_strv_add(&env, &n, xasprintf("GIT_AUTHOR_EMAIL=%s", email));
	keeper_strv_add(&env, &n,
	    xasprintf("GIT_COMMITTER_NAME=agent-%lld", (long long)a->id));
	keeper_strv_add(&env, &n, xasprintf("GIT_COMMITTER_EMAIL=%s", email));
	keeper_strv_add(&env, &n, xstrdup("GIT_CONFIG_COUNT=1"));
	keeper_strv_add(&env, &n, xstrdup("GIT_CONFIG_KEY_0=core.hooksPath"));
	keeper_strv_add(&env, &n,
	    xasprintf("GIT_CONFIG_VALUE_0=%s/git-hooks", srv.cfg.statedir));
	free(snap);
	free(email);
	worktree_row_free(&w);
	return env;
}

/* ---- settling: what an attempt leaves is kept ---- */

enum { SETTLE_SNAP, SETTLE_LOG, SETTLE_UNLOCK, SETTLE_END, SETTLE_UNMAKE };

static void settle_next(struct op *);

static void
settle_end(struct op *o)
{
	store_begin();
	worktree_apply(o->job, o->chunk, WI_SETTLED, 0, 0);
	keeper_op_event(o, "worktree_settled",
	    json_pack("{s:s?, s:i}", "snapshot", o->snapshot, "commits",
	        o->ncommits));
	store_commit();
	keeper_op_done(o);
}

/*
 * One line of `git log` (fields apart by 0x1f) recorded as a commit.
 * LANDED names the target a merge round made it on: then only the
 * commits whose trailers name the op's chunk are its own.
 */
static void
commit_line(struct op *o, char *line, const char *landed)
{
	char *f[8], *want;
	struct wt_commit c;
	int i, theirs;

	for (i = 0; i < 8; i++)
		f[i] = strsep(&line, "\x1f");
	if (f[7] == NULL || strlen(f[0]) < 40)
		return;
	want = xasprintf("job-%lld", (long long)o->job);
	theirs = strcmp(f[6], want) == 0 && strcmp(f[7], o->chunk) == 0;
	free(want);
	if (landed != NULL && !theirs)
		return;
	memset(&c, 0, sizeof c);
	c.id = f[0];
	c.job = o->job;
	c.chunk = o->chunk;
	c.author = f[1];
	c.at = strtoll(f[2], NULL, 10) * 1000;
	c.subject = f[3];
	if (agent_parse_id(f[4], &c.agent) == -1)
		c.agent = 0;
	c.attempt = atoi(f[5]);
	c.landed = landed;
	worktree_commit_add(&c);
	o->ncommits++;
}

/* The commits `git log --format=KEEPER_LOG_FORMAT` printed, recorded. */
void
keeper_commits_add(struct op *o, const char *text, const char *landed)
{
	char *out = xstrdup(text), *p = out, *line;

	store_begin();
	while ((line = strsep(&p, "\n")) != NULL) {
		if (*line != '\0')
			commit_line(o, line, landed);
	}
	store_commit();
	free(out);
}

/* A step's git failed: said, and the settling goes on. */
static void
settle_warn(struct op *o, const char *what, const char *err)
{
	log_warnx("job-%lld/%s: worktree: %s: %.*s", (long long)o->job,
	    o->chunk, what, (int)strcspn(err, "\n"), err);
}

static void
on_settle_git(const struct git_result *r, void *arg)
{
	struct op *o = arg;

	o->run = NULL;
	if (r->exit != 0)
		settle_warn(o,
		    o->step == SETTLE_LOG ? "git log" : "git worktree unlock",
		    r->err);
	else if (o->step == SETTLE_LOG)
		keeper_commits_add(o, r->out, NULL);
	o->step++;
	settle_next(o);
}

static void
on_snapshot(int ok, const char *err, const char *out, void *arg)
{
	struct op *o = arg;
	char *ref;

	o->wt = NULL;
	store_begin();
	if (!ok)
		keeper_op_event(
		    o, "snapshot_failed", json_pack("{s:s}", "reason", err));
	else if (*out != '\0') {
		ref = xasprintf("refs/swarm/snapshots/job-%lld/%s/%d",
		    (long long)o->job, o->chunk, o->row.attempt);
		o->snapshot = xstrdup(out);
		worktree_snapshot_add(
		    o->job, o->chunk, o->row.attempt, o->row.agent, ref, out);
		keeper_op_event(o, "snapshot",
		    json_pack("{s:s, s:s}", "ref", ref, "commit", out));
		free(ref);
	}
	store_commit();
	/* Never made whole (a crash while adding): kept, then undone. */
	o->step = o->row.made ? SETTLE_LOG : SETTLE_UNMAKE;
	settle_next(o);
}

static void on_unmade(int, const char *, const char *, void *);

static void
settle_next(struct op *o)
{
	const char *log[] = { "log", KEEPER_LOG_FORMAT, o->row.branch, "--not",
		o->row.base, "--", NULL };
	const char *unlock[] = { "worktree", "unlock", o->row.path, NULL };
	char *ref, *msg;

	if (o->step == SETTLE_SNAP && access(o->row.path, F_OK) != 0) {
		if (o->row.made) { /* someone removed it: nothing to keep */
			store_begin();
			keeper_op_event(o, "worktree_missing",
			    json_pack("{s:s}", "path", o->row.path));
			store_commit();
		}
		o->step = o->row.made ? SETTLE_LOG : SETTLE_UNMAKE;
	}
	switch (o->step) {
	case SETTLE_SNAP:
		ref = xasprintf("refs/swarm/snapshots/job-%lld/%s/%d",
		    (long long)o->job, o->chunk, o->row.attempt);
		msg = xasprintf("swarmd: what agent-%lld left in job-%lld/%s, "
		                "attempt %d",
		    (long long)o->row.agent, (long long)o->job, o->chunk,
		    o->row.attempt);
		o->wt = gitwt_snapshot(o->row.path, ref, msg, on_snapshot, o);
		free(ref);
		free(msg);
		return;
	case SETTLE_LOG:
	case SETTLE_UNLOCK:
		o->run =
		    git_run(o->row.repo, o->step == SETTLE_LOG ? log : unlock,
		        NULL, on_settle_git, o, o->err, sizeof o->err);
		if (o->run == NULL) {
			settle_warn(o, "git", o->err);
			o->step++;
			settle_next(o);
		}
		return;
	case SETTLE_UNMAKE:
		o->wt = gitwt_remove(o->row.repo, o->row.path, 1, on_unmade, o);
		return;
	default:
		settle_end(o);
		return;
	}
}

/* Removed, or it was not there: the next attempt adds it afresh. */
static void
on_unmade(int ok, const char *err, const char *out, void *arg)
{
	struct op *o = arg;

	(void)ok;
	(void)err;
	(void)out;
	o->wt = NULL;
	settle_end(o);
}

static void
settle_run(struct op *o)
{
	if (worktree_get(o->job, o->chunk, &o->row) == -1 ||
	    o->row.state != WT_SETTLING) {
		keeper_op_done(o);
		return;
	}
	o->step = SETTLE_SNAP;
	settle_next(o);
}

/*
 * Agent A has ended, whatever the way: its worktree is settled (in the
 * caller's transaction it becomes settling; git runs after).
 */
void
keeper_ended(const struct agent *a)
{
	struct wt_row w;
	int mine;

	if (!keeper_wants(job_find(a->job)) ||
	    worktree_get(a->job, a->chunk, &w) == -1)
		return;
	/* Not its turn yet (it never got the worktree): nothing to keep. */
	mine = w.agent == a->id &&
	    (w.state == WT_PREPARING || w.state == WT_RUNNING);
	worktree_row_free(&w);
	if (!mine || worktree_apply(a->job, a->chunk, WI_END, 0, 0) == -1)
		return;
	keeper_op_new(OP_SETTLE, a->job, a->chunk);
	/* Its success is gated, on the worktree as it left it. */
	if (chunk_state_of(a->job, a->chunk) == CHUNK_GATING)
		keeper_op_new(OP_GATE, a->job, a->chunk);
	keeper_op_kick();
}

/* ---- the operations, and the start ---- */

static void
op_run(struct op *o)
{
	switch (o->kind) {
	case OP_PREPARE:
		prepare_run(o);
		break;
	case OP_SETTLE:
		settle_run(o);
		break;
	case OP_SURVEY:
		keeper_survey_run(o);
		break;
	case OP_REMOVE:
		keeper_remove_run(o);
		break;
	case OP_GATE:
		keeper_gate_run(o);
		break;
	case OP_ADOPT:
		keeper_merge_adopt_run(o);
		break;
	}
}

/* What a crash left: settlings to finish, removals to finish. */
static void
resume_one(const struct wt_row *w, void *arg)
{
	(void)arg;
	if (w->state == WT_SETTLING)
		keeper_op_new(OP_SETTLE, w->job, w->chunk);
	else if (w->state == WT_REMOVING)
		keeper_op_new(OP_REMOVE, w->job, w->chunk);
	/* Gating when swarmd stopped: the gates run again, from the first. */
	if (chunk_state_of(w->job, w->chunk) == CHUNK_GATING)
		keeper_op_new(OP_GATE, w->job, w->chunk);
}

void
keeper_start(void)
{
	worktree_each(0, resume_one, NULL);
	keeper_op_kick();
	keeper_merge_start();
}

void
keeper_free(void)
{
	struct op *o;

	while ((o = TAILQ_FIRST(&ops)) != NULL) {
		TAILQ_REMOVE(&ops, o, entry);
		op_free(o);
	}
	nrunning = 0;
	keeper_merge_free();
}

/* ---- the hooks every agent's git runs ---- */

/*
 * One script under every hook name swarmd takes over (core.hooksPath,
 * set in the agents' environment alone): prepare-commit-msg adds the
 * trailers (it runs even under --no-verify); then the repository's own
 * hook of that name runs, from where it would have run without us.
 */
static const char hook_script[] =
    "#!/bin/sh\n"
    "# swarmd: attribute an agent's commits, then run the repository's\n"
    "# own hook.  Written by swarmd at start; changes are overwritten.\n"
    "hook=${0##*/}\n"
    "if [ \"$hook\" = prepare-commit-msg ] && [ -n \"$SWARM_AGENT\" ]; then\n"
    "\tgit interpret-trailers --in-place --if-exists replace \\\n"
    "\t    --trailer \"Swarm-Agent: $SWARM_AGENT\" \\\n"
    "\t    --trailer \"Swarm-Job: $SWARM_JOB\" \\\n"
    "\t    --trailer \"Swarm-Chunk: $SWARM_CHUNK\" \\\n"
    "\t    --trailer \"Swarm-Attempt: $SWARM_ATTEMPT\" \"$1\" || exit 1\n"
    "fi\n"
    "own=$(GIT_CONFIG_COUNT=0 git config core.hooksPath) ||\n"
    "\town=$(git rev-parse --path-format=absolute --git-common-dir)/hooks\n"
    "case $own in /*) ;; *) own=$(git rev-parse --show-toplevel)/$own ;; esac\n"
    "[ \"$own\" != \"${0%/*}\" ] && [ -x \"$own/$hook\" ] && exec \"$own/$hook\" \"$@\"\n"
    "exit 0\n";

static const char *hook_names[] = {
	"applypatch-msg",
	"pre-applypatch",
	"post-applypatch",
	"pre-commit",
	"pre-merge-commit",
	"prepare-commit-msg",
	"commit-msg",
	"post-commit",
	"pre-rebase",
	"post-checkout",
	"post-merge",
	"pre-push",
	"post-rewrite",
};

/* STATEDIR/git-hooks, written afresh at each start. */
int
keeper_init(char *err, size_t errlen)
{
	char *dir = xasprintf("%s/git-hooks", srv.cfg.statedir), *path;
	size_t i;
	int rc = 0;

	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	for (i = 0; i < nitems(hook_names) && rc == 0; i++) {
		path = xasprintf("%s/%s", dir, hook_names[i]);
		if (file_write_mode(path, hook_script, strlen(hook_script),
		        0755, err, errlen) == -1)
			rc = -1;
		free(path);
	}
	free(dir);
	return rc;
}
