/*
 * checkpoint.c: handing a chunk's latest checkpoint to its next attempt.
 * Small checkpoints live in the database; the next attempt gets a file
 * written from it.  Large ones were kept by path and hash, and the next
 * attempt gets that path.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

static char *
write_file(const char *path, const void *data, size_t len)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd == -1 || write(fd, data, len) != (ssize_t)len ||
	    close(fd) == -1 || rename(tmp, path) == -1) {
		log_warn("checkpoint file %s", path);
		free(tmp);
		return NULL;
	}
	free(tmp);
	return xstrdup(path);
}

/* The file holding the chunk's latest checkpoint, or NULL if it has none. */
char *
checkpoint_resume_file(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT data, path FROM checkpoints "
	                          "WHERE job = ? AND chunk = ? "
	                          "AND (data IS NOT NULL OR path IS NOT NULL) "
	                          "ORDER BY seq DESC LIMIT 1";
	sqlite3_stmt *st = store_prepare(sql);
	char *dir, *path, *out = NULL;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return NULL;
	}
	if (sqlite3_column_type(st, 1) != SQLITE_NULL)
		out = xstrdup((const char *)sqlite3_column_text(st, 1));
	else {
		dir = xasprintf("%s/checkpoints", srv.cfg.statedir);
		if (mkdir(dir, 0750) == -1 && errno != EEXIST)
			log_warn("mkdir %s", dir);
		path = xasprintf("%s/job-%lld.%s", dir, (long long)job, chunk);
		out = write_file(path, sqlite3_column_blob(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0));
		free(path);
		free(dir);
	}
	sqlite3_reset(st);
	return out;
}

/* ---- the checkpoints table: queries and the insert ---- */

static json_t *
checkpoint_row(sqlite3_stmt *st, const char *seqkey)
{
	char agent[32];

	snprintf(agent, sizeof agent, "agent-%lld",
	    (long long)sqlite3_column_int64(st, 2));
	return json_pack("{s:I, s:o, s:s, s:o, s:I}", seqkey,
	    (json_int_t)sqlite3_column_int64(st, 0), "ts", store_col_ts(st, 1),
	    "agent", agent, "note", store_col_text(st, 3), "size",
	    (json_int_t)sqlite3_column_int64(st, 4));
}

/* Every checkpoint of the chunk, oldest first, as show lists them. */
json_t *
checkpoint_list_json(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT seq, ts, agent, note, size "
	                          "FROM checkpoints WHERE job = ? AND "
	                          "chunk = ? ORDER BY seq";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(arr, checkpoint_row(st, "seq"));
	sqlite3_reset(st);
	return arr;
}

/* The chunk's last ten checkpoints, oldest first, for a triage document. */
json_t *
checkpoint_recent_json(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT seq, ts, agent, note, size FROM "
	                          "checkpoints WHERE job = ? AND chunk = ? "
	                          "ORDER BY seq DESC LIMIT 10";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	while (store_step(st) == SQLITE_ROW)
		json_array_insert_new(arr, 0, checkpoint_row(st, "checkpoint"));
	sqlite3_reset(st);
	return arr;
}

/*
 * Keep agent A's checkpoint, stamped with its last_seen: SIZE bytes of
 * DATA, or (DATA NULL) a file at PATH with its sha256 HEX.  In a grouped
 * transaction, with its event.  Returns its seq.
 */
int64_t
checkpoint_add(struct agent *a, const char *note, const void *data, size_t size,
    const char *path, const char *hex)
{
	static const char sql[] = "INSERT INTO checkpoints (job, chunk, agent, "
	                          "ts, note, data, size, path, sha256) "
	                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st;
	int64_t seq;

	store_begin_grouped();
	st = store_prepare(sql);
	sqlite3_bind_int64(st, 1, a->job);
	store_bind_text(st, 2, a->chunk);
	sqlite3_bind_int64(st, 3, a->id);
	sqlite3_bind_int64(st, 4, a->last_seen);
	store_bind_text(st, 5, note);
	if (data != NULL)
		sqlite3_bind_blob(st, 6, data, (int)size, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)size);
	store_bind_text(st, 8, path);
	store_bind_text(st, 9, path != NULL ? hex : NULL);
	store_step(st);
	seq = store_last_id();
	evlog_add("checkpoint", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:I, s:s*, s:I, s:s*}", "checkpoint", (json_int_t)seq,
	        "note", note, "size", (json_int_t)size, "path", path));
	store_commit_grouped();
	return seq;
}

/*
 * Agent AGENT's latest checkpoint on the chunk, the one a retry after it
 * resumes from, or null; show lists it beside the attempt.
 */
json_t *
checkpoint_of_agent_json(int64_t job, const char *chunk, int64_t agent)
{
	static const char sql[] = "SELECT seq, ts, agent, note, size "
	                          "FROM checkpoints WHERE job = ? AND "
	                          "chunk = ? AND agent = ? "
	                          "ORDER BY seq DESC LIMIT 1";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *o = json_null();

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	sqlite3_bind_int64(st, 3, agent);
	if (store_step(st) == SQLITE_ROW) {
		o = checkpoint_row(st, "seq");
		json_object_del(o, "agent");
	}
	sqlite3_reset(st);
	return o;
}

/* ---- queries for the watchdog ---- */

/* The seq of the chunk's latest checkpoint, or 0. */
int64_t
checkpoint_latest_seq(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT max(seq) FROM checkpoints "
	                          "WHERE job = ? AND chunk = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t seq = 0;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return seq;
}

/* ---- retention (prune.c) ---- */

/* JOB's checkpoints: up to LIMIT deleted, or all counted with DRY. */
int64_t
checkpoint_prune_job(int64_t job, int64_t limit, int dry)
{
	static const char del[] = "DELETE FROM checkpoints WHERE seq IN "
	                          "(SELECT seq FROM checkpoints WHERE job = ?1 "
	                          "LIMIT ?2)";
	static const char cnt[] = "SELECT count(*) FROM checkpoints "
	                          "WHERE job = ?1";

	return store_prune(dry ? cnt : del, job, limit, dry);
}
