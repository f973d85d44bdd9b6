/*
 * store-wal.c: SQLite's WAL checkpoints, off the event loop.
 *
 * A commit appends pages to the write-ahead log; a checkpoint copies them
 * back into the database and syncs it.  SQLite runs one inside the commit
 * that takes the log past 1000 pages, on the committing thread: swarmd's
 * one loop, stalled for milliseconds while every agent and every proxied
 * request waits, longer as the usage table grows.  So a helper process,
 * swarmd itself run as `swarmd --wal-checkpointer DB SYNC`, does them on
 * a connection of its own (a PASSIVE checkpoint never blocks the writer).
 * The loop wakes it with a byte on a pipe when the log is long; it exits
 * when the pipe closes, so it never outlives swarmd.  Should it die,
 * SQLite's own checkpoints come back.  A fresh exec, not a fork: SQLite's
 * locks must not be shared with a copy of the parent's connection.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

#define WAL_KICK 1000           /* log pages: time for a checkpoint */
#define WAL_MAX (10 * WAL_KICK) /* the helper is not keeping up */

static pid_t wal_pid = -1;
static int wal_fd = -1; /* the write end of the helper's stdin */

/* After each commit: PAGES are in the log. */
static int
on_wal(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)arg;
	(void)name;
	if (pages < WAL_KICK)
		return SQLITE_OK;
	/* A full pipe means a wake-up is already on its way. */
	if (pages < WAL_MAX && wal_fd != -1 &&
	    (write(wal_fd, "c", 1) == 1 || errno == EAGAIN))
		return SQLITE_OK;
	sqlite3_wal_checkpoint_v2(
	    db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

/* Start the helper; without one, SQLite checkpoints on the loop. */
void
store_wal_start(const char *synchronous)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[5];
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("store: checkpoint helper: pipe");
		return;
	}
	argv[0] = (char *)"swarmd";
	argv[1] = (char *)"--wal-checkpointer";
	argv[2] = store.path;
	argv[3] = (char *)synchronous;
	argv[4] = NULL;
	proc_spawn_attr(&attr);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc = posix_spawn(&wal_pid, "/proc/self/exe", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[0]);
	if (rc != 0) {
		log_warnx("store: checkpoint helper: %s", strerror(rc));
		close(p[1]);
		wal_pid = -1;
		return;
	}
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	wal_fd = p[1];
	/* Replaces SQLite's own auto-checkpoint, which is a WAL hook too. */
	sqlite3_wal_hook(store.db, on_wal, NULL);
}

/* A child exited: if it was the helper, checkpoint here from now on. */
int
store_wal_reaped(pid_t pid, int status)
{
	if (pid != wal_pid)
		return 0;
	wal_pid = -1;
	if (wal_fd != -1)
		close(wal_fd);
	wal_fd = -1;
	log_warnx(
	    "store: the checkpoint helper %s %d; checkpoints run in swarmd again",
	    WIFSIGNALED(status) ? "was killed by signal" : "exited",
	    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	sqlite3_wal_autocheckpoint(store.db, WAL_KICK);
	return 1;
}

/* Before the database closes: the helper's last checkpoint ends first. */
void
store_wal_stop(void)
{
	if (wal_fd != -1)
		close(wal_fd);
	wal_fd = -1;
	if (wal_pid != -1)
		waitpid(wal_pid, NULL, 0);
	wal_pid = -1;
}

/* swarmd --wal-checkpointer DB SYNC: the helper itself. */
int
store_wal_main(int argc, char **argv)
{
	char buf[64], sql[64];
	sqlite3 *db;
	ssize_t n;

	if (argc != 4) {
		fprintf(stderr, "usage: swarmd --wal-checkpointer DB SYNC\n");
		return 2;
	}
	if (sqlite3_open_v2(argv[2], &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "swarmd: checkpoint helper: %s: %s\n", argv[2],
		    sqlite3_errmsg(db));
		return 1;
	}
	sqlite3_busy_timeout(db, 5000);
	/* The checkpoint syncs the database as swarmd's commits would. */
	snprintf(sql, sizeof sql, "PRAGMA synchronous = %s", argv[3]);
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	while ((n = read(0, buf, sizeof buf)) != 0) {
		if (n == -1 && errno != EINTR)
			break;
		if (n > 0)
			sqlite3_wal_checkpoint_v2(
			    db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	sqlite3_close(db);
	return 0;
}
