/*
 * keeper-merge.c: the merge queues.  A chunk whose gates passed, in a
 * job with "merge", joins the queue of its repository's target
 * (merge.c keeps the entries).  A queue works one round at a time, in
 * a worktree of its own (STATEDIR/merge/HASH, HEAD detached):
 *
 *   1. the oldest entries are taken: up to the job's merge batch, all
 *      of one job (the gates are the job's);
 *   2. the target's commit is read (OLD), the worktree reset to it;
 *   3. each entry's branch is stacked on the one before (rebased,
 *      merged or squashed); a conflict rejects that entry, whose chunk
 *      is reworked and told the paths and the diff (SWARM_REJECTION),
 *      and the others go on;
 *   4. the job's gates run on the top.  Passing, all land.  Failing,
 *      the batch is bisected on the prefixes already stacked: the
 *      longest passing prefix lands, the first failing entry is
 *      rejected, the rest go back to the queue, keeping their places;
 *   5. landing: the entries are marked landing (tip, OLD) before the
 *      target is moved from OLD by compare-and-swap.  If someone else
 *      moved it, they go back to the queue and the round starts over.
 *
 * After a rebase or a squash lands, each chunk's branch is moved to
 * what landed (its own head kept under refs/swarm/merged/), so the
 * branch reads as merged and its worktree becomes removable.
 *
 * A crash is settled at start: testing entries go back to the queue;
 * a landing entry is merged if its tip is on the target, else it goes
 * back.  The worktree is reset at the start of every round, so nothing
 * a crash left in it survives.  A queue with waiting entries and no
 * round for [merge] stall seconds is a missed wake-up: the watchdog
 * reports it (keeper_merge_check) and starts the round.
 *
 * One file, near 900 lines: a round is one chain of callbacks over one
 * struct mq (take, head, reset, stack, test, bisect, land), and the
 * start's recovery settles the same entries the same way (landed_one,
 * round_end); split, each half would need the other's statics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"
#include "keeper.h"

#define MERGE_MAX 64 /* largest batch a job may ask for */

struct mentry {
	struct merge_row row;
	struct wt_row wt;
	char *orig, *tip;
	int landed; /* found on the target after a crash */
};

struct mq {
	char *repo, *target, *path;
	char *remote, *mode; /* the batch's job's */
	int64_t job;
	struct mentry e[MERGE_MAX];
	size_t n, i;          /* entries; stacking: the next one */
	size_t lo, hi, mid;   /* bisecting: prefix lo passed, hi failed */
	char *old, *top, *at; /* the target; the top; the worktree's HEAD */
	int undone;           /* a conflict moved HEAD off the top */
	json_t *failure;      /* the last failing gates' document */
	struct gitmg *g;
	struct gates *gates;
	struct event *wait_ev; /* for a crash's git to finish */
	int started;           /* a crash's leftovers were looked for */
	int busy;
	int64_t idle_since; /* mono ms */
	TAILQ_ENTRY(mq) entry;
};
static TAILQ_HEAD(, mq) queues = TAILQ_HEAD_INITIALIZER(queues);

static void mq_kick(struct mq *);
static void on_reset(const struct gitmg_result *, void *);
static void stack_next(struct mq *);
static void test_prefix(struct mq *);

static void
set_str(char **p, const char *s)
{
	free(*p);
	*p = s != NULL ? xstrdup(s) : NULL;
}

static struct mq *
mq_get(const char *repo, const char *target)
{
	struct mq *q;
	uint8_t h[SHA256_LEN];
	char *key = xasprintf("%s:%s", repo, target), hex[17];
	int i;

	TAILQ_FOREACH(q, &queues, entry) {
		if (strcmp(q->repo, repo) == 0 &&
		    strcmp(q->target, target) == 0)
			break;
	}
	if (q == NULL) {
		sha256(key, strlen(key), h);
		for (i = 0; i < 8; i++)
			snprintf(hex + 2 * i, 3, "%02x", h[i]);
		q = xcalloc(1, sizeof *q);
		q->repo = xstrdup(repo);
		q->target = xstrdup(target);
		q->path = xasprintf("%s/merge/%s", srv.cfg.statedir, hex);
		q->idle_since = now_mono_ms();
		TAILQ_INSERT_TAIL(&queues, q, entry);
	}
	free(key);
	return q;
}

static json_t *
merge_spec(int64_t job)
{
	struct job *j = job_find(job);

	return j != NULL ? json_object_get(j->spec, "merge") : NULL;
}

static void
mq_event(struct mq *q, const struct mentry *e, const char *type, json_t *data)
{
	if (data == NULL)
		data = json_object();
	json_object_set_new(data, "target", json_string(q->target));
	json_object_set_new(data, "repo", json_string(q->repo));
	evlog_add(type, e != NULL ? e->row.job : q->job,
	    e != NULL ? e->row.chunk : NULL, 0, e != NULL ? e->wt.attempt : 0,
	    data);
}

static void
entry_free(struct mentry *e)
{
	merge_row_free(&e->row);
	worktree_row_free(&e->wt);
	free(e->orig);
	free(e->tip);
	memset(e, 0, sizeof *e);
}

/* The round is over: the next one, if anything waits. */
static void
round_end(struct mq *q)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		entry_free(&q->e[i]);
	q->n = q->i = 0;
	json_decref(q->failure);
	q->failure = NULL;
	q->busy = 0;
	q->idle_since = now_mono_ms();
	scheduler_kick();
	mq_kick(q);
}

/* Entries FROM..TO (exclusive) go back to the queue, keeping their
 * places, in the caller's transaction. */
static void
mq_back(struct mq *q, size_t from, size_t to, const char *why)
{
	size_t i;

	for (i = from; i < to; i++)
		merge_apply(q->e[i].row.id, MI_BACK, NULL, NULL, why);
}

/*
 * A round cannot go on (the target is gone, git failed in the queue's
 * worktree): its entries go back, and the queue pauses until an
 * operator resumes it, rather than spin.
 */
static void
mq_broken(struct mq *q, size_t from, size_t to, const char *err)
{
	char *key = xasprintf("%s:%s", q->repo, q->target);

	log_warnx("merge queue %s: %s; paused", key, err);
	store_begin();
	mq_back(q, from, to, err);
	merge_set_paused(key, 1);
	mq_event(q, NULL, "merge_paused", json_pack("{s:s}", "reason", err));
	store_commit();
	free(key);
	round_end(q);
}

/* Entry I out of the round, the others moved down. */
static void
mq_remove(struct mq *q, size_t i)
{
	entry_free(&q->e[i]);
	memmove(&q->e[i], &q->e[i + 1], (q->n - i - 1) * sizeof q->e[0]);
	q->n--;
	memset(&q->e[q->n], 0, sizeof q->e[0]);
}

/*
 * Entry I rejected (a conflict, or the gates failed on it): its chunk
 * fails with class gate and is reworked (route.c), its next attempt
 * told DOC.  In the caller's transaction.
 */
static void
mq_reject(
    struct mq *q, size_t i, const char *type, const char *why, json_t *doc)
{
	struct mentry *e = &q->e[i];
	struct job *j;
	char *text = json_dumps(doc, JSON_COMPACT);

	merge_apply(e->row.id, MI_REJECT, NULL, NULL, why);
	mq_event(q, e, type, json_pack("{s:s}", "reason", why));
	/* Aborted meanwhile: it stays so, never reworked. */
	if (chunk_apply(e->row.job, e->row.chunk, CI_MERGE_FAIL, why) != -1) {
		if (json_object_get(doc, "log") != NULL)
			chunk_set_gate_log(e->row.job, e->row.chunk,
			    json_string_value(json_object_get(doc, "log")));
		route_failure(e->row.job, e->row.chunk, FAIL_GATE, why, text);
	}
	if ((j = job_find(e->row.job)) != NULL)
		job_check_done(j);
	free(text);
}

/* ---- a round: take, reset, stack ---- */

/*
 * The head of the queue into the round: up to the job's batch of
 * entries of one job, in order, stopping at another job's.  Entries
 * whose chunk no longer waits to merge (aborted, its job gone) are
 * dropped on the way.
 */
static void
mq_take(struct mq *q)
{
	struct merge_row rows[MERGE_MAX];
	size_t n = merge_head(q->repo, q->target, "queued", rows, MERGE_MAX);
	size_t i, batch = 0;
	json_t *m;

	store_begin();
	for (i = 0; i < n; i++) {
		struct mentry *e = &q->e[q->n];

		m = merge_spec(rows[i].job);
		if (m == NULL ||
		    chunk_state_of(rows[i].job, rows[i].chunk) !=
		        CHUNK_MERGING ||
		    worktree_get(rows[i].job, rows[i].chunk, &e->wt) == -1) {
			merge_apply(rows[i].id, MI_DROP, NULL, NULL,
			    "its chunk no longer waits to merge");
			merge_row_free(&rows[i]);
			continue;
		}
		if (q->n == 0) {
			q->job = rows[i].job;
			batch = json_object_get(m, "batch") != NULL ?
			    (size_t)json_integer_value(
			        json_object_get(m, "batch")) :
			    (size_t)srv.cfg.merge_batch;
			set_str(&q->mode, keeper_spec_str(m, "mode", "rebase"));
			set_str(&q->remote, keeper_spec_str(m, "push", NULL));
		} else if (rows[i].job != q->job || q->n >= batch) {
			worktree_row_free(&e->wt);
			break;
		}
		e->row = rows[i];
		memset(&rows[i], 0, sizeof rows[i]);
		merge_apply(e->row.id, MI_TAKE, NULL, NULL, "testing");
		q->n++;
	}
	for (; i < n; i++)
		merge_row_free(&rows[i]);
	store_commit();
}

static void
on_head(const struct gitmg_result *r, void *arg)
{
	struct mq *q = arg;

	q->g = NULL;
	if (!r->ok) {
		mq_broken(q, 0, q->n, r->err);
		return;
	}
	set_str(&q->old, r->commit);
	set_str(&q->top, r->commit);
	q->g = gitmg_reset(q->repo, q->path, q->old, on_reset, q);
}

static void
on_wait(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mq_kick(arg);
}

/*
 * A git that a killed swarmd left running in the worktree (a rebase, a
 * reset) is waited for before the first round: two gits in one worktree
 * would trip on each other's locks.  1 when there is one, and the kick
 * is tried again.
 */
static int
mq_orphans(struct mq *q)
{
	struct timeval tv = { 0, 100000 };

	if (q->started || !gitmg_running(q->path))
		return 0;
	if (q->wait_ev == NULL) {
		q->wait_ev = evtimer_new(srv.base, on_wait, q);
		log_notice("merge queue %s:%s: waiting for a git a stopped "
		           "swarmd left running in %s",
		    q->repo, q->target, q->path);
	}
	evtimer_add(q->wait_ev, &tv);
	return 1;
}

/* A round begins, if the queue is free, not paused, and not empty. */
static void
mq_kick(struct mq *q)
{
	if (q->busy || srv.shutting_down ||
	    merge_queue_paused(q->repo, q->target) || mq_orphans(q))
		return;
	mq_take(q);
	if (q->n == 0)
		return;
	q->busy = 1;
	q->undone = 0;
	q->lo = 0;
	q->hi = q->n + 1; /* no prefix known to fail */
	if (!q->started)  /* once a start: only a crash leaves them */
		keeper_gates_leftovers(q->path);
	q->started = 1;
	log_info("merge queue %s:%s: testing %zu entr%s of job-%lld", q->repo,
	    q->target, q->n, q->n == 1 ? "y" : "ies", (long long)q->job);
	q->g = gitmg_head(q->repo, q->target, q->remote, on_head, q);
}

static void
on_reset(const struct gitmg_result *r, void *arg)
{
	struct mq *q = arg;

	q->g = NULL;
	if (!r->ok) {
		mq_broken(q, 0, q->n, r->err);
		return;
	}
	set_str(&q->at, q->old);
	q->i = 0;
	stack_next(q);
}

/* What a rejected entry's next attempt is told (SWARM_REJECTION). */
static json_t *
conflict_doc(struct mq *q, const struct mentry *e, const struct gitmg_result *r)
{
	json_t *c = r->conflicts;

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:O*, s:o, s:i, s:s}",
	    "gate", "merge", "stage", "merge", "target", q->target, "onto",
	    q->top, "status", c != NULL ? "conflict with the target" : r->err,
	    "conflicts", json_object_get(c, "paths"), "output",
	    c != NULL ? json_incref(json_object_get(c, "diff")) :
	                json_string(r->err),
	    "attempt", e->wt.attempt, "hint",
	    "bring the target's changes into the branch (in rebase mode, "
	    "rebase the branch onto the target), resolve the conflict "
	    "keeping both sides' changes, and commit");
}

static void
on_stacked(const struct gitmg_result *r, void *arg)
{
	struct mq *q = arg;
	struct mentry *e = &q->e[q->i];
	json_t *doc;
	char *why;

	q->g = NULL;
	if (r->ok) {
		set_str(&e->orig, r->orig);
		set_str(&e->tip, r->commit);
		set_str(&q->top, r->commit);
		set_str(&q->at, r->commit);
		q->i++;
		stack_next(q);
		return;
	}
	doc = conflict_doc(q, e, r);
	why = r->conflicts != NULL ?
	    xasprintf("conflict with %s in %s", q->target,
	        json_string_value(json_array_get(
	            json_object_get(r->conflicts, "paths"), 0))) :
	    xasprintf("cannot merge into %s: %s", q->target, r->err);
	store_begin();
	mq_reject(q, q->i,
	    r->conflicts != NULL ? "merge_conflict" : "merge_failed", why, doc);
	store_commit();
	json_decref(doc);
	free(why);
	mq_remove(q, q->i);
	q->undone = 1; /* the worktree's HEAD is no longer the top */
	stack_next(q);
}

static void
stack_next(struct mq *q)
{
	struct mentry *e = &q->e[q->i];
	char *msg;

	if (q->i == q->n) {
		q->hi = q->n + 1;
		q->mid = q->n;
		test_prefix(q);
		return;
	}
	msg = xasprintf("Merge %s (job-%lld/%s)\n\nSwarm-Job: job-%lld\n"
	                "Swarm-Chunk: %s\n",
	    e->wt.branch, (long long)e->row.job, e->row.chunk,
	    (long long)e->row.job, e->row.chunk);
	q->g = gitmg_stack(
	    q->path, q->mode, e->wt.branch, q->top, msg, on_stacked, q);
	free(msg);
}

/* ---- testing: the gates on a prefix of the round ---- */

/* The commit that the round's first K entries end at. */
static const char *
prefix_commit(const struct mq *q, size_t k)
{
	return k == 0 ? q->old : q->e[k - 1].tip;
}

static void land(struct mq *);

static void
landed_one(struct mq *q, struct mentry *e)
{
	char *why = xasprintf("merged as %.12s", e->tip);
	struct job *j;

	merge_apply(e->row.id, MI_LANDED, e->tip, q->old, why);
	chunk_apply(e->row.job, e->row.chunk, CI_MERGED, why);
	mq_event(q, e, "merged",
	    json_pack("{s:s, s:s, s:i}", "commit", e->tip, "onto", q->old,
	        "rounds", e->row.rounds));
	if ((j = job_find(e->row.job)) != NULL)
		job_check_done(j);
	free(why);
}

/*
 * A rebase or a squash made new commits for entry ID on TARGET (TIP, from
 * OLD on): the chunk's branch is moved to them and they are recorded as
 * its own.  Owed in the store (merges.adopted) until done, so a start
 * finishes what a crash cut short.
 */
static void
adopt(int64_t id, int64_t job, const char *chunk, const char *target,
    const char *tip, const char *old)
{
	struct op *o = keeper_op_new(OP_ADOPT, job, chunk);

	o->merge = id;
	o->tip = xstrdup(tip);
	o->onto = xstrdup(old);
	o->target = xstrdup(target);
}

static void
adopt_owed(const struct merge_row *m, void *arg)
{
	(void)arg;
	adopt(m->id, m->job, m->chunk, m->target, m->tip, m->old);
}

/* Entry E landed; MOVED: the target moved for it now, and a rebase or a
 * squash owes it its adoption. */
static void
landed_moved(struct mq *q, struct mentry *e, int moved)
{
	landed_one(q, e);
	if (moved && strcmp(q->mode, "merge") != 0) {
		merge_set_adopted(e->row.id, 0);
		adopt(e->row.id, e->row.job, e->row.chunk, q->target, e->tip,
		    q->old);
	}
}

/* The round's first K entries are on the target; MOVED: the target
 * moved for them now (not found there at a start). */
static void
landed(struct mq *q, size_t k, int moved)
{
	size_t i;

	store_begin();
	for (i = 0; i < k; i++)
		landed_moved(q, &q->e[i], moved);
	store_commit();
	keeper_op_kick();
}

/* Entry hi - 1 is the first whose prefix fails: rejected; the longest
 * passing prefix lands; the entries after go back to the queue. */
static void
bisected(struct mq *q)
{
	size_t c = q->hi - 1;
	json_t *doc = json_deep_copy(q->failure);
	char *why = xasprintf("gate %s failed on %s: %s",
	    json_string_value(json_object_get(doc, "gate")), q->target,
	    json_string_value(json_object_get(doc, "status")));

	json_object_set_new(doc, "stage", json_string("merge"));
	json_object_set_new(doc, "target", json_string(q->target));
	json_object_set_new(doc, "onto", json_string(prefix_commit(q, c)));
	json_object_set_new(doc, "attempt", json_integer(q->e[c].wt.attempt));
	store_begin();
	mq_reject(q, c, "merge_failed", why, doc);
	mq_back(q, q->hi, q->n, "its batch was bisected; queued again");
	store_commit();
	json_decref(doc);
	free(why);
	if (q->lo > 0)
		land(q);
	else
		round_end(q);
}

static void
tested(struct mq *q, int pass)
{
	if (pass)
		q->lo = q->mid;
	else
		q->hi = q->mid;
	if (pass && q->mid == q->n)
		land(q);
	else if (q->hi - q->lo > 1) {
		q->mid = (q->lo + q->hi) / 2;
		test_prefix(q);
	} else
		bisected(q);
}

static void
on_gates(json_t *failed, const char *log, void *arg)
{
	struct mq *q = arg;

	(void)log;
	q->gates = NULL;
	if (failed != NULL) {
		json_decref(q->failure);
		q->failure = json_incref(failed);
	}
	tested(q, failed == NULL);
}

static void
run_gates(struct mq *q)
{
	char *stem = xasprintf("%s/logs/merge-%s-%lld-%zu", srv.cfg.statedir,
	    strrchr(q->path, '/') + 1, (long long)q->e[0].row.id, q->mid);

	q->gates = keeper_gates_run(
	    q->job, NULL, 0, 0, q->path, NULL, q->path, stem, on_gates, q);
	free(stem);
}

static void
on_checkout(const struct gitmg_result *r, void *arg)
{
	struct mq *q = arg;

	q->g = NULL;
	if (!r->ok) {
		mq_broken(q, 0, q->n, r->err);
		return;
	}
	q->undone = 0;
	set_str(&q->at, prefix_commit(q, q->mid));
	run_gates(q);
}

/* Test the round's first q->mid entries: the worktree there, then the
 * gates.  Nothing stacked, or nothing new: settled without a test. */
static void
test_prefix(struct mq *q)
{
	const char *at = prefix_commit(q, q->mid);

	if (q->n == 0 || q->top == NULL || q->old == NULL)
		round_end(q);
	else if (q->mid == q->n && strcmp(q->top, q->old) == 0) {
		landed(q, q->n, 0); /* all of it on the target already */
		round_end(q);
	} else if (q->undone || q->at == NULL || strcmp(q->at, at) != 0)
		q->g = gitmg_reset(q->repo, q->path, at, on_checkout, q);
	else
		run_gates(q);
}

/* ---- landing ---- */

static void
on_land(const struct gitmg_result *r, void *arg)
{
	struct mq *q = arg;

	q->g = NULL;
	if (r->ok) {
		landed(q, q->lo, 1);
		round_end(q);
	} else if (!r->moved)
		mq_broken(q, 0, q->lo, r->err);
	else {
		store_begin();
		mq_back(q, 0, q->lo, "the target moved; queued again");
		mq_event(q, NULL, "merge_retry",
		    json_pack("{s:s}", "reason", "the target moved"));
		store_commit();
		round_end(q);
	}
}

/* The round's first q->lo entries land: marked first, then the target
 * moved from old by compare-and-swap.  If one of them was aborted in
 * the meantime, nothing lands: it is dropped and the rest go round. */
static void
land(struct mq *q)
{
	size_t i;

	for (i = 0; i < q->lo; i++)
		if (chunk_state_of(q->e[i].row.job, q->e[i].row.chunk) !=
		    CHUNK_MERGING)
			break;
	if (i < q->lo) {
		store_begin();
		merge_apply(q->e[i].row.id, MI_DROP, NULL, NULL,
		    "its chunk no longer waits to merge");
		mq_back(q, 0, i, "a chunk of its batch was aborted");
		mq_back(q, i + 1, q->lo, "a chunk of its batch was aborted");
		store_commit();
		round_end(q);
		return;
	}
	store_begin();
	for (i = 0; i < q->lo; i++)
		merge_apply(
		    q->e[i].row.id, MI_LAND, q->e[i].tip, q->old, "landing");
	store_commit();
	q->g = gitmg_land(q->repo, q->target, q->remote,
	    prefix_commit(q, q->lo), q->old, on_land, q);
}

/* ---- a landed chunk's branch ---- */

/* The new commits recorded as the chunk's, so `blame` knows them. */
static void
on_landed_log(const struct git_result *r, void *arg)
{
	struct op *o = arg;

	o->run = NULL;
	if (r->exit != 0)
		log_warnx("job-%lld/%s: its landed commits are not recorded "
		          "(%s)",
		    (long long)o->job, o->chunk, r->err);
	else {
		keeper_commits_add(o, r->out, o->target);
		store_begin();
		merge_set_adopted(o->merge, 1);
		store_commit();
	}
	keeper_op_done(o);
}

static void
on_adopted(const struct gitmg_result *r, void *arg)
{
	struct op *o = arg;
	const char *log[] = { "log", KEEPER_LOG_FORMAT, o->tip, "--not",
		o->onto, "--", NULL };

	o->mg = NULL;
	if (!r->ok)
		log_warnx("job-%lld/%s: its branch stays as it was (%s)",
		    (long long)o->job, o->chunk, r->err);
	o->run = git_run(
	    o->row.repo, log, NULL, on_landed_log, o, o->err, sizeof o->err);
	if (o->run == NULL)
		keeper_op_done(o);
}

void
keeper_merge_adopt_run(struct op *o)
{
	char *keep;

	if (worktree_get(o->job, o->chunk, &o->row) == -1) {
		keeper_op_done(o);
		return;
	}
	keep = xasprintf(
	    "refs/swarm/merged/job-%lld/%s", (long long)o->job, o->chunk);
	o->mg = gitmg_adopt(o->row.repo,
	    o->row.state == WT_REMOVED ? NULL : o->row.path, o->row.branch,
	    o->tip, keep, on_adopted, o);
	free(keep);
}

/* ---- joining, waking, pausing ---- */

static struct event *kick_ev;

static void
kick_one(
    const char *repo, const char *target, int paused, int64_t live, void *arg)
{
	(void)arg;
	if (!paused && live > 0)
		mq_kick(mq_get(repo, target));
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	merge_queues_each(kick_one, NULL);
}

/* Every queue looks for work, from the loop (a caller may be inside a
 * transaction). */
void
keeper_merge_kick(void)
{
	struct timeval now = { 0, 0 };

	if (kick_ev == NULL)
		kick_ev = evtimer_new(srv.base, on_kick, NULL);
	evtimer_add(kick_ev, &now);
}

/* O's chunk passed its gates: into its target's queue (in the caller's
 * transaction). */
void
keeper_merge_enqueue(struct op *o)
{
	json_t *m = merge_spec(o->job);
	const char *target = keeper_spec_str(m, "into", "main");
	int64_t id = merge_enqueue(o->job, o->chunk, o->row.repo, target,
	    (int)json_integer_value(json_object_get(m, "priority")));

	keeper_op_event(o, "merge_queued",
	    json_pack("{s:s, s:s, s:I}", "target", target, "repo", o->row.repo,
	        "entry", (json_int_t)id));
	keeper_merge_kick();
}

/* Pause or resume the queues of TARGET ("REPO:TARGET" for one repo's
 * only); the number of queues, 0 when none has that target. */
int
keeper_merge_pause(const char *target, int paused)
{
	int n;

	store_begin();
	if ((n = merge_set_paused(target, paused)) > 0)
		evlog_add(paused ? "merge_paused" : "merge_resumed", 0, NULL, 0,
		    0,
		    json_pack("{s:s, s:s}", "target", target, "reason",
		        "an operator asked"));
	store_commit();
	if (!paused)
		keeper_merge_kick();
	return n;
}

/* The watchdog's look: a queue whose oldest waiting entry and whose
 * last round are both older than [merge] stall, with no round going,
 * missed a wake-up.  Said, and the round started. */
static void
check_one(
    const char *repo, const char *target, int paused, int64_t live, void *arg)
{
	struct mq *q = mq_get(repo, target);
	int64_t stall = (int64_t)(srv.cfg.merge_stall * 1000);
	struct merge_row r;

	(void)arg;
	if (paused || live == 0 || q->busy ||
	    now_mono_ms() - q->idle_since < stall ||
	    merge_head(repo, target, "queued", &r, 1) == 0)
		return;
	if (now_wall_ms() - r.queued >= stall) {
		log_warnx("merge queue %s:%s: job-%lld/%s has waited %lld s "
		          "with no round going (a missed wake-up)",
		    repo, target, (long long)r.job, r.chunk,
		    (long long)((now_wall_ms() - r.queued) / 1000));
		store_begin();
		evlog_add("merge_stalled", r.job, r.chunk, 0, 0,
		    json_pack("{s:s, s:s, s:I}", "target", target, "repo", repo,
		        "waited_ms", (json_int_t)(now_wall_ms() - r.queued)));
		store_commit();
		mq_kick(q);
	}
	merge_row_free(&r);
}

void
keeper_merge_check(void)
{
	static int64_t last;

	if (now_mono_ms() - last < 1000)
		return;
	last = now_mono_ms();
	merge_queues_each(check_one, NULL);
}

/* ---- the start: what a crash left ---- */

/* Each landing entry asked about: landed, or back to the queue. */
static void
recover_done(struct mq *q)
{
	size_t i;

	store_begin();
	for (i = 0; i < q->n; i++) {
		if (q->e[i].landed) {
			set_str(&q->old, q->e[i].row.old);
			landed_moved(q, &q->e[i], 1);
		} else
			merge_apply(q->e[i].row.id, MI_BACK, NULL, NULL,
			    "swarmd stopped while it landed; it is not on "
			    "the target");
	}
	store_commit();
	keeper_op_kick();
	round_end(q);
}

static void
on_recover(const struct gitmg_result *r, void *arg)
{
	struct mq *q = arg;

	q->g = NULL;
	if (!r->ok) {
		mq_broken(q, 0, q->n, r->err);
		return;
	}
	if (q->i > 0) /* the answer about entry i - 1 */
		q->e[q->i - 1].landed = r->yes;
	if (q->i == q->n) {
		recover_done(q);
		return;
	}
	set_str(&q->e[q->i].tip, q->e[q->i].row.tip);
	q->g = gitmg_contains(
	    q->repo, q->target, q->remote, q->e[q->i++].tip, on_recover, q);
}

static void
recover_one(
    const char *repo, const char *target, int paused, int64_t live, void *arg)
{
	struct mq *q = mq_get(repo, target);
	struct merge_row rows[MERGE_MAX];
	size_t n, i;
	json_t *m;

	(void)paused;
	(void)arg;
	store_begin();
	while ((n = merge_head(repo, target, "testing", rows, MERGE_MAX)) > 0)
		for (i = 0; i < n; i++) {
			merge_apply(rows[i].id, MI_BACK, NULL, NULL,
			    "swarmd restarted; queued again");
			merge_row_free(&rows[i]);
		}
	store_commit();
	if (live == 0 ||
	    (n = merge_head(repo, target, "landing", rows, MERGE_MAX)) == 0)
		return;
	for (i = 0; i < n; i++) {
		q->e[i].row = rows[i];
		(void)worktree_get(rows[i].job, rows[i].chunk, &q->e[i].wt);
	}
	q->n = n;
	m = merge_spec(rows[0].job);
	set_str(&q->mode, keeper_spec_str(m, "mode", "rebase"));
	set_str(&q->remote, keeper_spec_str(m, "push", NULL));
	q->busy = 1;
	q->i = 0;
	/* The target first (fetched, when it is a remote's). */
	q->g = gitmg_head(repo, target, q->remote, on_recover, q);
}

void
keeper_merge_start(void)
{
	merge_unadopted_each(adopt_owed, NULL);
	keeper_op_kick();
	merge_queues_each(recover_one, NULL);
	keeper_merge_kick();
}

void
keeper_merge_free(void)
{
	struct mq *q;

	while ((q = TAILQ_FIRST(&queues)) != NULL) {
		TAILQ_REMOVE(&queues, q, entry);
		gitmg_detach(q->g);
		keeper_gates_cancel(q->gates);
		if (q->wait_ev != NULL)
			event_free(q->wait_ev);
		q->busy = 1;
		while (q->n > 0)
			entry_free(&q->e[--q->n]);
		json_decref(q->failure);
		free(q->repo);
		free(q->target);
		free(q->path);
		free(q->remote);
		free(q->mode);
		free(q->old);
		free(q->top);
		free(q->at);
		free(q);
	}
	if (kick_ev != NULL)
		event_free(kick_ev);
	kick_ev = NULL;
}
