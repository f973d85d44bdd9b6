/*
 * worktree.c: the records of the agents' work: a chunk's worktree and
 * its lifecycle (a table, the only writer of worktrees.state), the
 * snapshot each attempt left, and the commits found on the chunks'
 * branches.  keeper.c runs git and feeds the inputs.
 *
 *   preparing  an attempt was dispatched; its worktree is being made
 *   running    made, checked and locked: the attempt's agent is in it
 *   settling   the attempt ended; its snapshot and commits are owed
 *   kept       settled and unlocked, waiting for a retry or a clean
 *   removing   `git worktree remove` was asked
 *   removed    gone; the branch and the snapshots stay
 *
 * Every state a crash can leave is one a start finishes: preparing and
 * running become settling when their agent is found gone, settling
 * settles, removing removes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

#define X \
	{ \
		WT_INVALID, WA_NONE \
	}

static const struct wt_move {
	int next;
	enum wt_action action;
} wt_table[WT_NSTATES][WT_NINPUTS] = {
	/* PREPARE, READY, END, SETTLED, REMOVE, GONE */
	[WT_PREPARING] = { X, { WT_RUNNING, WA_MADE }, { WT_SETTLING, WA_NONE },
	    X, X, X },
	[WT_RUNNING] = { X, X, { WT_SETTLING, WA_NONE }, X, X, X },
	[WT_SETTLING] = { X, X, X, { WT_KEPT, WA_NONE }, X, X },
	[WT_KEPT] = { { WT_PREPARING, WA_ATTEMPT }, X, X, X,
	    { WT_REMOVING, WA_NONE }, X },
	[WT_REMOVING] = { X, X, X, { WT_KEPT, WA_NONE }, X,
	    { WT_REMOVED, WA_UNMADE } },
	[WT_REMOVED] = { { WT_PREPARING, WA_ATTEMPT }, X, X, X, X, X },
};
#undef X

static const char *wt_names[WT_NSTATES] = {
	"preparing",
	"running",
	"settling",
	"kept",
	"removing",
	"removed",
};

static const char *wt_input_names[WT_NINPUTS] = {
	"prepare",
	"ready",
	"end",
	"settled",
	"remove",
	"gone",
};

int
worktree_next(enum wt_state s, enum wt_input in)
{
	if ((int)s < 0 || s >= WT_NSTATES || (int)in < 0 || in >= WT_NINPUTS)
		return WT_INVALID;
	return wt_table[s][in].next;
}

const char *
worktree_state_name(enum wt_state s)
{
	return (int)s >= 0 && s < WT_NSTATES ? wt_names[s] : "invalid";
}

static int
wt_state_parse(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < WT_NSTATES; i++) {
		if (strcmp(wt_names[i], s) == 0)
			return i;
	}
	return WT_INVALID;
}

#define WT_COLS \
	"job, chunk, repo, path, branch, base, state, made, agent, attempt, " \
	"remote"

static void
wt_fill(sqlite3_stmt *st, struct wt_row *w)
{
	memset(w, 0, sizeof *w);
	w->job = sqlite3_column_int64(st, 0);
	w->chunk = xstrdup((const char *)sqlite3_column_text(st, 1));
	w->repo = xstrdup((const char *)sqlite3_column_text(st, 2));
	w->path = xstrdup((const char *)sqlite3_column_text(st, 3));
	w->branch = xstrdup((const char *)sqlite3_column_text(st, 4));
	w->base = xstrdup((const char *)sqlite3_column_text(st, 5));
	w->state = wt_state_parse((const char *)sqlite3_column_text(st, 6));
	w->made = sqlite3_column_int(st, 7);
	w->agent = sqlite3_column_int64(st, 8);
	w->attempt = sqlite3_column_int(st, 9);
	if (sqlite3_column_type(st, 10) != SQLITE_NULL)
		w->remote = xstrdup((const char *)sqlite3_column_text(st, 10));
}

void
worktree_row_free(struct wt_row *w)
{
	free(w->chunk);
	free(w->repo);
	free(w->path);
	free(w->branch);
	free(w->base);
	free(w->remote);
	memset(w, 0, sizeof *w);
}

/* The row of JOB's CHUNK: 0, or -1 when it has none. */
int
worktree_get(int64_t job, const char *chunk, struct wt_row *w)
{
	static const char sql[] = "SELECT " WT_COLS " FROM worktrees "
	                          "WHERE job = ? AND chunk = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int rc = -1;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) == SQLITE_ROW) {
		wt_fill(st, w);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

/* Each row, of JOB (0: every job), in order. */
void
worktree_each(int64_t job, void (*cb)(const struct wt_row *, void *), void *arg)
{
	static const char sql[] =
	    "SELECT " WT_COLS " FROM worktrees "
	    "WHERE ?1 = 0 OR job = ?1 ORDER BY job, chunk";
	sqlite3_stmt *st = store_prepare(sql);
	struct wt_row *rows = NULL;
	size_t n = 0, i;

	/* Read all first: a callback may write the table. */
	sqlite3_bind_int64(st, 1, job);
	while (store_step(st) == SQLITE_ROW) {
		rows = xrealloc(rows, (n + 1) * sizeof *rows);
		wt_fill(st, &rows[n++]);
	}
	sqlite3_reset(st);
	for (i = 0; i < n; i++) {
		cb(&rows[i], arg);
		worktree_row_free(&rows[i]);
	}
	free(rows);
}

/* Who else has BRANCH of REPO: the job's id, or 0 for no one. */
int64_t
worktree_branch_owner(const char *repo, const char *branch)
{
	static const char sql[] = "SELECT job FROM worktrees "
	                          "WHERE repo = ? AND branch = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t job = 0;

	store_bind_text(st, 1, repo);
	store_bind_text(st, 2, branch);
	if (store_step(st) == SQLITE_ROW)
		job = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return job;
}

/*
 * The first attempt's claim on its chunk's worktree, in the dispatch's
 * transaction: a new row, preparing.  A later attempt finds the row
 * there and is moved to preparing when its turn comes (keeper.c), after
 * the previous attempt's snapshot.  1 if the row is new.
 */
int
worktree_claim(const struct wt_row *w)
{
	static const char ins[] =
	    "INSERT OR IGNORE INTO worktrees (job, chunk, repo, path, branch, "
	    "base, state, agent, attempt, changed, remote) "
	    "VALUES (?, ?, ?, ?, ?, ?, 'preparing', ?, ?, ?, ?)";
	sqlite3_stmt *st = store_prepare(ins);

	sqlite3_bind_int64(st, 1, w->job);
	store_bind_text(st, 2, w->chunk);
	store_bind_text(st, 3, w->repo);
	store_bind_text(st, 4, w->path);
	store_bind_text(st, 5, w->branch);
	store_bind_text(st, 6, w->base);
	sqlite3_bind_int64(st, 7, w->agent);
	sqlite3_bind_int(st, 8, w->attempt);
	sqlite3_bind_int64(st, 9, now_wall_ms());
	store_bind_text(st, 10, w->remote);
	store_step(st);
	return sqlite3_changes(store.db) == 1;
}

/* Move JOB/CHUNK's worktree on IN; the next state, or -1 refused. */
int
worktree_apply(int64_t job, const char *chunk, enum wt_input in, int64_t agent,
    int attempt)
{
	static const char set[] = "UPDATE worktrees SET state = ?, "
	                          "changed = ? WHERE job = ? AND chunk = ?";
	static const char who[] = "UPDATE worktrees SET agent = ?, attempt = ? "
	                          "WHERE job = ? AND chunk = ?";
	static const char made[] = "UPDATE worktrees SET made = ?1 "
	                           "WHERE job = ?3 AND chunk = ?4";
	struct wt_row w;
	sqlite3_stmt *st;
	int next;

	if (worktree_get(job, chunk, &w) == -1)
		return -1;
	next = worktree_next(w.state, in);
	if (next == WT_INVALID) {
		log_warnx("job-%lld/%s: worktree: no transition from %s on %s",
		    (long long)job, chunk, worktree_state_name(w.state),
		    (int)in >= 0 && in < WT_NINPUTS ? wt_input_names[in] :
		                                      "invalid input");
		worktree_row_free(&w);
		return -1;
	}
	switch (wt_table[w.state][in].action) {
	case WA_ATTEMPT:
		st = store_prepare(who);
		sqlite3_bind_int64(st, 1, agent);
		sqlite3_bind_int(st, 2, attempt);
		break;
	case WA_MADE:
	case WA_UNMADE:
		st = store_prepare(made);
		sqlite3_bind_int(
		    st, 1, wt_table[w.state][in].action == WA_MADE);
		break;
	default:
		st = NULL;
		break;
	}
	if (st != NULL) {
		sqlite3_bind_int64(st, 3, job);
		store_bind_text(st, 4, chunk);
		store_step(st);
	}
	st = store_prepare(set);
	sqlite3_bind_text(st, 1, wt_names[next], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_wall_ms());
	sqlite3_bind_int64(st, 3, job);
	store_bind_text(st, 4, chunk);
	store_step(st);
	worktree_row_free(&w);
	return next;
}

/* ---- snapshots ---- */

void
worktree_snapshot_add(int64_t job, const char *chunk, int attempt,
    int64_t agent, const char *ref, const char *commit)
{
	static const char sql[] =
	    "INSERT OR REPLACE INTO snapshots (job, chunk, attempt, agent, "
	    "ref, commit_id, taken) VALUES (?, ?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	sqlite3_bind_int(st, 3, attempt);
	sqlite3_bind_int64(st, 4, agent);
	store_bind_text(st, 5, ref);
	store_bind_text(st, 6, commit);
	sqlite3_bind_int64(st, 7, now_wall_ms());
	store_step(st);
}

/* The chunk's latest snapshot's commit (to free), or NULL. */
char *
worktree_snapshot_latest(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT commit_id FROM snapshots "
	                          "WHERE job = ? AND chunk = ? "
	                          "ORDER BY attempt DESC LIMIT 1";
	sqlite3_stmt *st = store_prepare(sql);
	char *id = NULL;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) == SQLITE_ROW)
		id = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return id;
}

json_t *
worktree_snapshots_json(int64_t job, const char *chunk)
{
	static const char sql[] =
	    "SELECT attempt, agent, ref, commit_id, taken "
	    "FROM snapshots WHERE job = ? AND chunk = ? "
	    "ORDER BY attempt";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *a = json_array();

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(a,
		    json_pack("{s:i, s:s+, s:o, s:o, s:I}", "attempt",
		        sqlite3_column_int(st, 0), "agent", "agent-",
		        (const char *)sqlite3_column_text(st, 1), "ref",
		        store_col_text(st, 2), "commit", store_col_text(st, 3),
		        "taken", (json_int_t)sqlite3_column_int64(st, 4)));
	sqlite3_reset(st);
	return a;
}

/* ---- commits ---- */

void
worktree_commit_add(const struct wt_commit *c)
{
	static const char sql[] =
	    "INSERT OR IGNORE INTO commits (commit_id, job, chunk, agent, "
	    "attempt, author, subject, at, landed) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_prepare(sql);

	store_bind_text(st, 1, c->id);
	sqlite3_bind_int64(st, 2, c->job);
	store_bind_text(st, 3, c->chunk);
	if (c->agent > 0)
		sqlite3_bind_int64(st, 4, c->agent);
	if (c->attempt > 0)
		sqlite3_bind_int(st, 5, c->attempt);
	store_bind_text(st, 6, c->author);
	store_bind_text(st, 7, c->subject);
	sqlite3_bind_int64(st, 8, c->at);
	store_bind_text(st, 9, c->landed);
	store_step(st);
}

static json_t *
commit_json(sqlite3_stmt *st)
{
	json_t *c = json_pack("{s:o, s:s+, s:o, s:o, s:o, s:I}", "commit",
	    store_col_text(st, 0), "job", "job-",
	    (const char *)sqlite3_column_text(st, 1), "chunk",
	    store_col_text(st, 2), "author", store_col_text(st, 5), "subject",
	    store_col_text(st, 6), "at",
	    (json_int_t)sqlite3_column_int64(st, 7));

	json_object_set_new(c, "agent",
	    sqlite3_column_type(st, 3) == SQLITE_NULL ?
	        json_null() :
	        json_sprintf(
	            "agent-%lld", (long long)sqlite3_column_int64(st, 3)));
	json_object_set_new(c, "attempt",
	    sqlite3_column_type(st, 4) == SQLITE_NULL ?
	        json_null() :
	        json_integer(sqlite3_column_int(st, 4)));
	json_object_set_new(c, "landed", store_col_text(st, 8));
	return c;
}

#define COMMIT_COLS \
	"commit_id, job, chunk, agent, attempt, author, subject, at, landed"

json_t *
worktree_commits_json(int64_t job, const char *chunk)
{
	static const char sql[] =
	    "SELECT " COMMIT_COLS " FROM commits "
	    "WHERE job = ? AND chunk = ? ORDER BY at, rowid";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *a = json_array();

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(a, commit_json(st));
	sqlite3_reset(st);
	return a;
}

/* The commits whose id starts with PREFIX (hex, at least 4). */
json_t *
worktree_blame_json(const char *prefix)
{
	static const char sql[] = "SELECT " COMMIT_COLS " FROM commits "
	                          "WHERE commit_id >= ?1 AND commit_id < ?2 "
	                          "ORDER BY commit_id LIMIT 10";
	sqlite3_stmt *st = store_prepare(sql);
	char *hi = xasprintf("%s~", prefix); /* '~' sorts after every hex */
	json_t *a = json_array();

	store_bind_text(st, 1, prefix);
	store_bind_text(st, 2, hi);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(a, commit_json(st));
	sqlite3_reset(st);
	free(hi);
	return a;
}

/* ---- retention (prune.c) ---- */

/*
 * JOB's worktrees not removed: a worktree on disk may hold work not
 * merged or not committed, so its job and rows stay until `clean`.
 */
int64_t
worktree_prune_hold(int64_t job)
{
	static const char sql[] = "SELECT count(*) FROM worktrees "
	                          "WHERE job = ?1 AND state != 'removed'";

	return store_prune(sql, job, 0, 1);
}

/*
 * JOB's records of its work: up to LIMIT rows deleted, or all counted
 * with DRY.  The snapshots' refs and the branches stay in git.
 */
int64_t
worktree_prune_job(int64_t job, int64_t limit, int dry)
{
	static const char *del[] = {
		"DELETE FROM commits WHERE job = ?1 AND commit_id IN "
		"(SELECT commit_id FROM commits WHERE job = ?1 LIMIT ?2)",
		"DELETE FROM snapshots WHERE job = ?1 AND rowid IN "
		"(SELECT rowid FROM snapshots WHERE job = ?1 LIMIT ?2)",
		"DELETE FROM worktrees WHERE job = ?1 AND state = 'removed' "
		"AND chunk IN (SELECT chunk FROM worktrees WHERE job = ?1 "
		"LIMIT ?2)",
	};
	static const char *cnt[] = {
		"SELECT count(*) FROM commits WHERE job = ?1",
		"SELECT count(*) FROM snapshots WHERE job = ?1",
		"SELECT count(*) FROM worktrees WHERE job = ?1",
	};
	int64_t n = 0;
	size_t i;

	for (i = 0; i < nitems(del) && (dry || n < limit); i++)
		n += store_prune(dry ? cnt[i] : del[i], job, limit - n, dry);
	return n;
}
