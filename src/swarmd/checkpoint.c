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

/* Why the chunk's last result was refused, for its next attempt. */
char *
checkpoint_rejection(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT rejection FROM chunks "
	                          "WHERE job = ? AND id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	char *out = NULL;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		out = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return out;
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
