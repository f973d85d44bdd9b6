/*
 * merge.c: the merge queues' records.  Each chunk whose gates passed in
 * a job that merges has an entry in the queue of its repository's
 * target; the entry's lifecycle is a table, the only writer of
 * merges.state.  keeper-merge.c runs git and feeds the inputs.
 *
 *   queued    waiting its turn; the queue is ordered by rank: the time
 *             it was queued less its priority's head start (a minute
 *             a point), so no entry waits behind newer ones forever
 *   testing   stacked onto the target with the rest of its batch; the
 *             gates run on the top
 *   landing   the target is being moved to include it (from old to a
 *             commit that holds tip): written before git moves it, so
 *             a crash in between is settled by asking git
 *   merged    on the target
 *   rejected  a conflict, or the gates failed on it: its chunk is
 *             reworked and comes back as a new entry
 *   dropped   its chunk was aborted, or its job went away
 *
 * Going back to queued keeps the rank: an entry that went round (the
 * target moved, its batch was bisected, swarmd restarted) is still the
 * oldest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

#define X \
	{ \
		MS_INVALID, MA_NONE \
	}

static const struct merge_move {
	int next;
	enum merge_action action;
} merge_table[MS_NSTATES][MI_NINPUTS] = {
	/* TAKE, LAND, LANDED, BACK, REJECT, DROP */
	[MS_QUEUED] = { { MS_TESTING, MA_NONE }, X, X, X, X,
	    { MS_DROPPED, MA_NONE } },
	[MS_TESTING] = { X, { MS_LANDING, MA_TIP }, { MS_MERGED, MA_TIP },
	    { MS_QUEUED, MA_ROUND }, { MS_REJECTED, MA_NONE },
	    { MS_DROPPED, MA_NONE } },
	[MS_LANDING] = { X, X, { MS_MERGED, MA_NONE }, { MS_QUEUED, MA_ROUND },
	    X, X },
	[MS_MERGED] = { X, X, X, X, X, X },
	[MS_REJECTED] = { X, X, X, X, X, X },
	[MS_DROPPED] = { X, X, X, X, X, X },
};
#undef X

static const char *merge_names[MS_NSTATES] = {
	"queued",
	"testing",
	"landing",
	"merged",
	"rejected",
	"dropped",
};

static const char *merge_input_names[MI_NINPUTS] = {
	"take",
	"land",
	"landed",
	"back",
	"reject",
	"drop",
};

int
merge_next(enum merge_state s, enum merge_input in)
{
	if ((int)s < 0 || s >= MS_NSTATES || (int)in < 0 || in >= MI_NINPUTS)
		return MS_INVALID;
	return merge_table[s][in].next;
}

const char *
merge_state_name(enum merge_state s)
{
	return (int)s >= 0 && s < MS_NSTATES ? merge_names[s] : "invalid";
}

static int
merge_state_parse(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < MS_NSTATES; i++) {
		if (strcmp(merge_names[i], s) == 0)
			return i;
	}
	return MS_INVALID;
}

/* The states of an entry still in its queue. */
#define MERGE_LIVE "('queued', 'testing', 'landing')"

#define MERGE_COLS \
	"id, job, chunk, repo, target, state, rounds, queued, tip, old, " \
	"result"

static char *
col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s != NULL ? xstrdup((const char *)s) : NULL;
}

static void
merge_fill(sqlite3_stmt *st, struct merge_row *m)
{
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(st, 0);
	m->job = sqlite3_column_int64(st, 1);
	m->chunk = col_dup(st, 2);
	m->repo = col_dup(st, 3);
	m->target = col_dup(st, 4);
	m->state = merge_state_parse((const char *)sqlite3_column_text(st, 5));
	m->rounds = sqlite3_column_int(st, 6);
	m->queued = sqlite3_column_int64(st, 7);
	m->tip = col_dup(st, 8);
	m->old = col_dup(st, 9);
	m->result = col_dup(st, 10);
}

void
merge_row_free(struct merge_row *m)
{
	free(m->chunk);
	free(m->repo);
	free(m->target);
	free(m->tip);
	free(m->old);
	free(m->result);
	memset(m, 0, sizeof *m);
}

/* JOB/CHUNK joins the queue of REPO's TARGET (made on first use). */
int64_t
merge_enqueue(int64_t job, const char *chunk, const char *repo,
    const char *target, int priority)
{
	static const char ins[] =
	    "INSERT INTO merges (job, chunk, repo, target, state, rank, "
	    "queued, changed) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)";
	static const char queue[] = "INSERT OR IGNORE INTO merge_queues "
	                            "(repo, target) VALUES (?, ?)";
	int64_t now = now_wall_ms();
	sqlite3_stmt *st = store_prepare(ins);

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	store_bind_text(st, 3, repo);
	store_bind_text(st, 4, target);
	sqlite3_bind_int64(st, 5, now - (int64_t)priority * 60000);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 7, now);
	store_step(st);
	st = store_prepare(queue);
	store_bind_text(st, 1, repo);
	store_bind_text(st, 2, target);
	store_step(st);
	return store_last_id();
}

static int
merge_get(int64_t id, struct merge_row *m)
{
	static const char sql[] = "SELECT " MERGE_COLS " FROM merges "
	                          "WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int rc = -1;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW) {
		merge_fill(st, m);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * Move entry ID on IN, noting RESULT (NULL: kept) and, where the table
 * says, the TIP it was stacked to on OLD.  The next state, or -1.
 */
int
merge_apply(int64_t id, enum merge_input in, const char *tip, const char *old,
    const char *result)
{
	static const char set[] = "UPDATE merges SET state = ?, changed = ?, "
	                          "result = coalesce(?, result) WHERE id = ?";
	static const char settip[] = "UPDATE merges SET tip = ?, old = ? "
	                             "WHERE id = ?";
	static const char round[] = "UPDATE merges SET rounds = rounds + 1, "
	                            "tip = NULL, old = NULL WHERE id = ?";
	struct merge_row m;
	sqlite3_stmt *st;
	int next;

	if (merge_get(id, &m) == -1)
		return -1;
	if ((next = merge_next(m.state, in)) == MS_INVALID) {
		log_warnx(
		    "merge %lld (job-%lld/%s): no transition from %s on %s",
		    (long long)id, (long long)m.job, m.chunk,
		    merge_state_name(m.state),
		    (int)in >= 0 && in < MI_NINPUTS ? merge_input_names[in] :
		                                      "invalid input");
		merge_row_free(&m);
		return -1;
	}
	if (merge_table[m.state][in].action == MA_TIP) {
		st = store_prepare(settip);
		store_bind_text(st, 1, tip);
		store_bind_text(st, 2, old);
		sqlite3_bind_int64(st, 3, id);
		store_step(st);
	} else if (merge_table[m.state][in].action == MA_ROUND) {
		st = store_prepare(round);
		sqlite3_bind_int64(st, 1, id);
		store_step(st);
	}
	st = store_prepare(set);
	sqlite3_bind_text(st, 1, merge_names[next], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_wall_ms());
	store_bind_text(st, 3, result);
	sqlite3_bind_int64(st, 4, id);
	store_step(st);
	merge_row_free(&m);
	return next;
}

/*
 * Up to LIMIT entries of REPO's TARGET queue in STATE (NULL: every live
 * one), in queue order, into ROWS (each to merge_row_free).
 */
size_t
merge_head(const char *repo, const char *target, const char *state,
    struct merge_row *rows, size_t limit)
{
	static const char sql[] =
	    "SELECT " MERGE_COLS " FROM merges WHERE repo = ?1 AND "
	    "target = ?2 AND (?3 IS NULL AND state IN " MERGE_LIVE " OR "
	    "state = ?3) ORDER BY rank, id LIMIT ?4";
	sqlite3_stmt *st = store_prepare(sql);
	size_t n = 0;

	store_bind_text(st, 1, repo);
	store_bind_text(st, 2, target);
	store_bind_text(st, 3, state);
	sqlite3_bind_int64(st, 4, (int64_t)limit);
	while (n < limit && store_step(st) == SQLITE_ROW)
		merge_fill(st, &rows[n++]);
	sqlite3_reset(st);
	return n;
}

/*
 * A merged entry whose landing made new commits (rebase, squash) is owed
 * its adoption (the chunk's branch moved, the commits recorded) until
 * ADOPTED is set; a start finds those still owed.
 */
void
merge_set_adopted(int64_t id, int adopted)
{
	static const char sql[] = "UPDATE merges SET adopted = ? WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_int(st, 1, adopted);
	sqlite3_bind_int64(st, 2, id);
	store_step(st);
}

void
merge_unadopted_each(void (*cb)(const struct merge_row *, void *), void *arg)
{
	static const char sql[] = "SELECT " MERGE_COLS " FROM merges "
	                          "WHERE adopted = 0 AND state = 'merged'";
	sqlite3_stmt *st = store_prepare(sql);
	struct merge_row m;

	while (store_step(st) == SQLITE_ROW) {
		merge_fill(st, &m);
		cb(&m, arg);
		merge_row_free(&m);
	}
	sqlite3_reset(st);
}

/* Each queue: its repository, target, pause, and live entries. */
void
merge_queues_each(void (*cb)(const char *repo, const char *target, int paused,
                      int64_t live, void *),
    void *arg)
{
	static const char sql[] =
	    "SELECT q.repo, q.target, q.paused, (SELECT count(*) FROM "
	    "merges m WHERE m.repo = q.repo AND m.target = q.target AND "
	    "m.state IN " MERGE_LIVE ") "
	    "FROM merge_queues q ORDER BY q.repo, q.target";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *rows = json_array(), *r;
	size_t i;

	/* Read all first: a callback may write the tables. */
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(rows,
		    json_pack("[s, s, i, I]", sqlite3_column_text(st, 0),
		        sqlite3_column_text(st, 1), sqlite3_column_int(st, 2),
		        (json_int_t)sqlite3_column_int64(st, 3)));
	sqlite3_reset(st);
	json_array_foreach(rows, i, r)
		cb(json_string_value(json_array_get(r, 0)),
		    json_string_value(json_array_get(r, 1)),
		    (int)json_integer_value(json_array_get(r, 2)),
		    json_integer_value(json_array_get(r, 3)), arg);
	json_decref(rows);
}

int
merge_queue_paused(const char *repo, const char *target)
{
	static const char sql[] = "SELECT paused FROM merge_queues "
	                          "WHERE repo = ? AND target = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int paused = 0;

	store_bind_text(st, 1, repo);
	store_bind_text(st, 2, target);
	if (store_step(st) == SQLITE_ROW)
		paused = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return paused;
}

/*
 * Pause or resume every queue whose target is TARGET, or whose
 * "REPO:TARGET" is; "REPO:TARGET" names a queue before its first entry
 * too (to pause it ahead).  The number of queues matched.
 */
int
merge_set_paused(const char *target, int paused)
{
	static const char sql[] =
	    "UPDATE merge_queues SET paused = ?1 "
	    "WHERE target = ?2 OR repo || ':' || target = ?2";
	static const char ins[] = "INSERT INTO merge_queues (repo, target, "
	                          "paused) VALUES (?, ?, ?)";
	sqlite3_stmt *st = store_prepare(sql);
	const char *colon = strrchr(target, ':');
	char *repo;
	int n;

	sqlite3_bind_int(st, 1, paused);
	store_bind_text(st, 2, target);
	store_step(st);
	if ((n = sqlite3_changes(store.db)) > 0 || colon == NULL ||
	    target[0] != '/' || colon[1] == '\0')
		return n;
	repo = xasprintf("%.*s", (int)(colon - target), target);
	st = store_prepare(ins);
	store_bind_text(st, 1, repo);
	store_bind_text(st, 2, colon + 1);
	sqlite3_bind_int(st, 3, paused);
	store_step(st);
	free(repo);
	return 1;
}

/* The entries as `swarmctl merges` shows them: the live ones in queue
 * order, each queue's position from 1; ALL: the ended ones too. */
json_t *
merge_list_json(int all)
{
	static const char sql[] =
	    "SELECT m.id, m.job, m.chunk, m.repo, m.target, m.state, "
	    "m.rounds, m.queued, m.changed, m.tip, m.result, q.paused "
	    "FROM merges m JOIN merge_queues q ON q.repo = m.repo AND "
	    "q.target = m.target WHERE ?1 OR m.state IN " MERGE_LIVE " "
	    "ORDER BY m.repo, m.target, m.state IN " MERGE_LIVE " DESC, "
	    "m.rank, m.id";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *rows = json_array(), *r;
	char *prev = NULL, *key;
	int pos = 0;

	sqlite3_bind_int(st, 1, all);
	while (store_step(st) == SQLITE_ROW) {
		int live = merge_state_parse((const char *)sqlite3_column_text(
		               st, 5)) <= MS_LANDING;

		key = xasprintf("%s:%s", sqlite3_column_text(st, 3),
		    sqlite3_column_text(st, 4));
		pos = prev != NULL && strcmp(prev, key) == 0 ? pos + 1 : 1;
		free(prev);
		prev = key;
		r = json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:i, s:o, s:o, "
		              "s:o, s:o, s:b}",
		    "id", (json_int_t)sqlite3_column_int64(st, 0), "job",
		    json_sprintf(
		        "job-%lld", (long long)sqlite3_column_int64(st, 1)),
		    "chunk", sqlite3_column_text(st, 2), "repo",
		    sqlite3_column_text(st, 3), "target",
		    sqlite3_column_text(st, 4), "state",
		    sqlite3_column_text(st, 5), "rounds",
		    sqlite3_column_int(st, 6), "queued", store_col_ts(st, 7),
		    "changed", store_col_ts(st, 8), "tip",
		    store_col_text(st, 9), "result", store_col_text(st, 10),
		    "paused", sqlite3_column_int(st, 11));
		if (live)
			json_object_set_new(r, "position", json_integer(pos));
		json_array_append_new(rows, r);
	}
	sqlite3_reset(st);
	free(prev);
	return rows;
}

/* ---- retention (prune.c) ---- */

/* JOB's merge entries still in a queue: the job stays while there are. */
int64_t
merge_prune_hold(int64_t job)
{
	static const char sql[] = "SELECT count(*) FROM merges "
	                          "WHERE job = ?1 AND state IN " MERGE_LIVE;

	return store_prune(sql, job, 0, 1);
}

/* JOB's merge entries: up to LIMIT deleted, or all counted with DRY. */
int64_t
merge_prune_job(int64_t job, int64_t limit, int dry)
{
	static const char del[] = "DELETE FROM merges WHERE id IN "
	                          "(SELECT id FROM merges WHERE job = ?1 "
	                          "LIMIT ?2)";
	static const char cnt[] = "SELECT count(*) FROM merges WHERE job = ?1";

	return store_prune(dry ? cnt : del, job, limit, dry);
}
