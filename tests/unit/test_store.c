/*
 * test_store.c: the state database: creation, pragmas, migrations and
 * nested transactions.  store.c dies on SQL errors, so every statement
 * here is valid.
 */
#include <sys/stat.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "swarmd.h"

/* The number of migrations in store.c; bump it with each new one. */
#define SCHEMA_VERSION 16

#define INSERT_JOB \
	"INSERT INTO jobs (name, spec, workdir, concurrency, timeout, " \
	"state, created) VALUES ('j', '{}', '/w', 1, 0, 'running', 1)"

struct fixture {
	char dir[128];
	char db[160];
	char err[512];
};

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fixture *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "%s/swarmd-store-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->db, sizeof fx->db, "%s/swarmd.db", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	static const char *suffix[] = { "", "-wal", "-shm", "-journal" };
	struct fixture *fx = *state;
	char path[200];
	size_t i;
	int rc;

	store_close();
	for (i = 0; i < nitems(suffix); i++) {
		snprintf(path, sizeof path, "%s%s", fx->db, suffix[i]);
		unlink(path);
	}
	rc = rmdir(fx->dir);
	free(fx);
	return rc;
}

static void
open_store(struct fixture *fx, const char *synchronous)
{
	if (store_open(fx->dir, synchronous, fx->err, sizeof fx->err) != 0)
		fail_msg("store_open: %s", fx->err);
}

/* The first column of the first row of SQL on DB, as an integer. */
static int64_t
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
query_text(sqlite3 *db, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static int64_t
count_jobs(sqlite3 *db)
{
	return query_int(db, "SELECT count(*) FROM jobs");
}

/* Open the store with stderr (where log.c writes) captured into OUT. */
static int
open_logged(struct fixture *fx, char *out, size_t outlen)
{
	char path[200];
	ssize_t n;
	int saved, fd, rc;

	snprintf(path, sizeof path, "%s/stderr", fx->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd != -1);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	rc = store_open(fx->dir, "full", fx->err, sizeof fx->err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return rc;
}

static void
test_open_creates_schema(void **state)
{
	struct fixture *fx = *state;
	struct stat sb;

	open_store(fx, "full");
	assert_int_equal(stat(fx->db, &sb), 0);
	assert_string_equal(store.path, fx->db);
	assert_int_equal(store_schema_version(), SCHEMA_VERSION);
	assert_int_equal(
	    query_int(store.db, "PRAGMA user_version"), SCHEMA_VERSION);
	assert_int_equal(query_int(store.db,
	                     "SELECT count(*) FROM sqlite_master WHERE "
	                     "type = 'table' AND name IN ('jobs', 'chunks', "
	                     "'agents', 'events', 'messages', 'checkpoints')"),
	    6);
}

static void
test_pragmas(void **state)
{
	struct fixture *fx = *state;
	char mode[16];

	open_store(fx, "full");
	query_text(store.db, "PRAGMA journal_mode", mode, sizeof mode);
	assert_string_equal(mode, "wal");
	assert_int_equal(query_int(store.db, "PRAGMA foreign_keys"), 1);
	assert_int_equal(query_int(store.db, "PRAGMA synchronous"), 2);
	store_close();
	open_store(fx, "normal");
	assert_int_equal(query_int(store.db, "PRAGMA synchronous"), 1);
}

static void
test_migration_logged_once(void **state)
{
	struct fixture *fx = *state;
	char log[4096], want[64];

	log_set_level("info");
	snprintf(want, sizeof want, "store: new database at schema version %d",
	    SCHEMA_VERSION);
	assert_int_equal(open_logged(fx, log, sizeof log), 0);
	/* A fresh start: one line, not one per migration. */
	assert_non_null(strstr(log, want));
	assert_null(strstr(log, "migrated"));
	assert_non_null(strchr(log, '\n'));
	assert_null(strchr(strchr(log, '\n') + 1, '\n'));
	store_close();
	assert_int_equal(open_logged(fx, log, sizeof log), 0);
	assert_null(strstr(log, "migrated"));
	assert_null(strstr(log, "new database"));
	assert_int_equal(store_schema_version(), SCHEMA_VERSION);
	log_set_level("notice");
}

static void
test_reopen_keeps_data(void **state)
{
	struct fixture *fx = *state;

	open_store(fx, "full");
	store_exec(INSERT_JOB);
	store_close();
	open_store(fx, "full");
	assert_int_equal(count_jobs(store.db), 1);
	assert_int_equal(store_schema_version(), SCHEMA_VERSION);
}

/* The inner commit does not reach SQLite; only the outer one does. */
static void
test_nested_commit(void **state)
{
	struct fixture *fx = *state;
	sqlite3 *other;

	open_store(fx, "full");
	assert_int_equal(sqlite3_open(fx->db, &other), SQLITE_OK);
	store_begin();
	store_begin();
	store_exec(INSERT_JOB);
	store_commit();
	assert_int_equal(sqlite3_get_autocommit(store.db), 0);
	assert_int_equal(count_jobs(other), 0);
	store_commit();
	assert_int_equal(sqlite3_get_autocommit(store.db), 1);
	assert_int_equal(count_jobs(other), 1);
	sqlite3_close(other);
}

/* A rollback after an inner commit undoes the inner write too. */
static void
test_nested_rollback(void **state)
{
	struct fixture *fx = *state;

	open_store(fx, "full");
	store_begin();
	store_begin();
	store_exec(INSERT_JOB);
	store_commit();
	store_rollback();
	assert_int_equal(sqlite3_get_autocommit(store.db), 1);
	assert_int_equal(count_jobs(store.db), 0);
	/* The nesting depth starts over after a rollback. */
	store_begin();
	assert_int_equal(sqlite3_get_autocommit(store.db), 0);
	store_exec(INSERT_JOB);
	store_commit();
	assert_int_equal(sqlite3_get_autocommit(store.db), 1);
	assert_int_equal(count_jobs(store.db), 1);
}

static void
test_newer_schema_refused(void **state)
{
	struct fixture *fx = *state;
	char sql[64], want[256];
	sqlite3 *db;

	assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
	snprintf(
	    sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION + 1);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(
	    store_open(fx->dir, "full", fx->err, sizeof fx->err), -1);
	assert_non_null(strstr(fx->err, "newer"));
	snprintf(want, sizeof want,
	    "%s: schema version %d is newer than "
	    "this swarmd (%d)",
	    fx->db, SCHEMA_VERSION + 1, SCHEMA_VERSION);
	assert_string_equal(fx->err, want);
	store_close();
	/* Refused means untouched. */
	assert_int_equal(
	    query_int(db, "PRAGMA user_version"), SCHEMA_VERSION + 1);
	assert_int_equal(
	    query_int(db, "SELECT count(*) FROM sqlite_master"), 0);
	sqlite3_close(db);
}

static void
test_open_missing_dir(void **state)
{
	struct fixture *fx = *state;
	char dir[200], want[256];

	snprintf(dir, sizeof dir, "%s/none", fx->dir);
	assert_int_equal(store_open(dir, "full", fx->err, sizeof fx->err), -1);
	snprintf(want, sizeof want, "%s/swarmd.db: ", dir);
	assert_memory_equal(fx->err, want, strlen(want));
	store_close();
	assert_null(store.db);
	assert_null(store.path);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_creates_schema),
		T(test_pragmas),
		T(test_migration_logged_once),
		T(test_reopen_keeps_data),
		T(test_nested_commit),
		T(test_nested_rollback),
		T(test_newer_schema_refused),
		T(test_open_missing_dir),
	};

	log_set_level("notice"); /* quiet, but for the test that listens */
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
