/*
 * check.c: swarmd --check STATEDIR.  Verify a state database without
 * changing it: SQLite's own integrity and foreign-key checks, then the
 * invariants swarmd keeps (every dispatch completes at most once, a
 * running chunk has a live agent, counts agree), and the worktrees the
 * store records against what git lists (`git worktree list --porcelain`
 * of each repository).  It may run beside a live daemon: WAL readers
 * never block the writer.
 */
#include <sys/wait.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "swarmd.h"

struct rule {
	const char *what;
	const char *sql; /* each row is one inconsistency */
};

static const struct rule rules[] = {
	{ "running chunk without a live agent",
	    "SELECT 'job-' || c.job || '/' || c.id FROM chunks c "
	    "LEFT JOIN agents a ON a.id = c.agent WHERE c.state = 'running' "
	    "AND (a.id IS NULL OR a.state NOT IN "
	    "('starting', 'running', 'suspect'))" },
	{ "live agent whose chunk is not running",
	    "SELECT 'agent-' || a.id || ' (job-' || a.job || '/' || a.chunk || "
	    "' is ' || c.state || ')' FROM agents a JOIN chunks c "
	    "ON c.job = a.job AND c.id = a.chunk WHERE a.state IN "
	    "('starting', 'running', 'suspect') AND c.state NOT IN "
	    "('running', 'gating', 'done', 'merging', 'merged') AND "
	    "c.agent = a.id" },
	{ "chunk completed more than once",
	    "SELECT 'job-' || job || '/' || chunk || ' (' || count(*) || "
	    "' times)' FROM events WHERE (event = 'subagent_completed' AND "
	    "json_extract(data, '$.success') = 1 AND "
	    "json_extract(data, '$.gating') IS NULL) OR event = "
	    "'gates_passed' GROUP BY job, chunk HAVING count(*) > 1" },
	{ "chunk merged more than once",
	    "SELECT 'job-' || job || '/' || chunk || ' (' || count(*) || "
	    "' times)' FROM events WHERE event = 'merged' "
	    "GROUP BY job, chunk HAVING count(*) > 1" },
	{ "dispatch with more than one completion",
	    "SELECT 'agent-' || agent FROM events WHERE event = "
	    "'subagent_completed' GROUP BY agent HAVING count(*) > 1" },
	{ "dispatch of an agent the agents table lacks",
	    "SELECT 'agent-' || e.agent FROM events e LEFT JOIN agents a "
	    "ON a.id = e.agent WHERE e.event = 'subagent_dispatched' AND "
	    "a.id IS NULL" },
	{ "attempt count that disagrees with the agents",
	    "SELECT 'job-' || c.job || '/' || c.id || ' (' || c.attempts || "
	    "' vs ' || count(a.id) || ')' FROM chunks c LEFT JOIN agents a "
	    "ON a.job = c.job AND a.chunk = c.id GROUP BY c.job, c.id "
	    "HAVING c.attempts != count(a.id)" },
	{ "finished job with unfinished chunks",
	    "SELECT 'job-' || j.id FROM jobs j JOIN chunks c ON c.job = j.id "
	    "WHERE j.state != 'running' AND c.state IN ('queued', 'running', "
	    "'gating', 'merging') GROUP BY j.id" },
	{ "worktree in use by an agent that is not live",
	    "SELECT 'job-' || w.job || '/' || w.chunk || ' (agent-' || w.agent "
	    "|| ')' FROM worktrees w LEFT JOIN agents a ON a.id = w.agent "
	    "WHERE w.state IN ('preparing', 'running') AND (a.id IS NULL OR "
	    "a.state NOT IN ('starting', 'running', 'suspect'))" },
	{ "chunk in a state swarmd does not know",
	    "SELECT 'job-' || job || '/' || id || ' (' || state || ')' "
	    "FROM chunks WHERE state NOT IN ('queued', 'running', 'gating', "
	    "'merging', 'merged', 'done', 'failed', 'aborted', 'dead')" },
};

static int
check_rows(sqlite3 *db, const char *what, const char *sql)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		printf("cannot check %s: %s\n", what, sqlite3_errmsg(db));
		return 1;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *row = (const char *)sqlite3_column_text(st, 0);

		/* SQLite's own checks answer "ok" when all is well. */
		if (row != NULL && strcmp(row, "ok") == 0)
			continue;
		printf("%s: %s\n", what, row != NULL ? row : "?");
		n++;
	}
	sqlite3_finalize(st);
	return n;
}

/* `git -C REPO worktree list --porcelain`, all of it; NULL if git fails. */
static char *
git_worktrees(const char *repo)
{
	char *argv[] = { "git", "-C", (char *)repo, "worktree", "list",
		"--porcelain", NULL };
	posix_spawn_file_actions_t fa;
	char *out = NULL;
	size_t len = 0;
	ssize_t n;
	int p[2], status;
	pid_t pid;
	char buf[4096];

	if (pipe(p) == -1)
		return NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	if (posix_spawnp(&pid, "git", &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	while (pid > 0 && (n = read(p[0], buf, sizeof buf)) > 0) {
		out = xrealloc(out, len + (size_t)n + 1);
		memcpy(out + len, buf, (size_t)n);
		out[len += (size_t)n] = '\0';
	}
	close(p[0]);
	if (pid <= 0 || waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		free(out);
		return NULL;
	}
	return out != NULL ? out : xstrdup("");
}

/* The porcelain record of worktree PATH in LIST, or NULL. */
static char *
git_record(const char *list, const char *path)
{
	char *head = xasprintf("worktree %s\n", path), *p, *end, *rec;

	for (p = strstr(list, head); p != NULL && p != list && p[-1] != '\n';
	     p = strstr(p + 1, head))
		;
	free(head);
	if (p == NULL)
		return NULL;
	end = strstr(p, "\n\n");
	rec = end != NULL ? xasprintf("%.*s\n", (int)(end - p), p) : xstrdup(p);
	return rec;
}

/* A difference between the store and git, said: 1. */
#define differ(...) \
	(printf("worktree: "), printf(__VA_ARGS__), putchar('\n'), 1)

/* One worktree row against git's list: the differences found. */
static int
check_worktree(sqlite3_stmt *st)
{
	const char *chunk = (const char *)sqlite3_column_text(st, 1);
	const char *repo = (const char *)sqlite3_column_text(st, 2);
	const char *path = (const char *)sqlite3_column_text(st, 3);
	const char *branch = (const char *)sqlite3_column_text(st, 4);
	const char *state = (const char *)sqlite3_column_text(st, 5);
	long long job = sqlite3_column_int64(st, 0);
	long long agent = sqlite3_column_int64(st, 6);
	int made = sqlite3_column_int(st, 7);
	int removed = strcmp(state, "removed") == 0;
	int locked_want = strcmp(state, "running") == 0;
	char *list = git_worktrees(repo), *rec, *want;
	int bad = 0;

	if (list == NULL) {
		return differ(
		    "job-%lld/%s: git cannot list the worktrees of %s", job,
		    chunk, repo);
	}
	rec = git_record(list, path);
	if (removed && rec != NULL)
		bad += differ(
		    "job-%lld/%s: removed, but git lists %s", job, chunk, path);
	if (!removed && made && rec == NULL &&
	    strcmp(state, "preparing") != 0 && strcmp(state, "settling") != 0)
		bad += differ("job-%lld/%s: %s, but git does not list %s", job,
		    chunk, state, path);
	want = xasprintf("branch refs/heads/%s\n", branch);
	if (rec != NULL && strstr(rec, want) == NULL)
		bad += differ("job-%lld/%s: git has %s on another branch "
		              "than %s",
		    job, chunk, path, branch);
	free(want);
	want = xasprintf("locked swarmd agent-%lld\n", agent);
	if (rec != NULL && locked_want && strstr(rec, want) == NULL)
		bad += differ("job-%lld/%s: running, but not locked for "
		              "agent-%lld",
		    job, chunk, agent);
	if (rec != NULL && !locked_want && strcmp(state, "preparing") != 0 &&
	    strcmp(state, "settling") != 0 &&
	    strstr(rec, "\nlocked swarmd ") != NULL)
		bad += differ("job-%lld/%s: %s, but still locked by swarmd",
		    job, chunk, state);
	free(want);
	free(rec);
	free(list);
	return bad;
}

static int
check_worktrees(sqlite3 *db)
{
	sqlite3_stmt *st;
	int bad = 0;

	/* A database from before worktrees has nothing to compare. */
	if (sqlite3_prepare_v2(db,
	        "SELECT job, chunk, repo, path, branch, state, agent, made "
	        "FROM worktrees ORDER BY job, chunk",
	        -1, &st, NULL) != SQLITE_OK)
		return 0;
	while (sqlite3_step(st) == SQLITE_ROW)
		bad += check_worktree(st);
	sqlite3_finalize(st);
	return bad;
}

/* Exit status: 0 consistent, 1 inconsistencies found or unreadable. */
int
check_statedir(const char *statedir)
{
	char *path = xasprintf("%s/swarmd.db", statedir);
	sqlite3 *db;
	size_t i;
	int bad = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		printf("%s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		free(path);
		return 1;
	}
	sqlite3_busy_timeout(db, 5000);
	bad += check_rows(db, "integrity", "PRAGMA integrity_check");
	bad += check_rows(db, "foreign key",
	    "SELECT \"table\" || ' row ' || rowid || ' -> ' || parent "
	    "FROM pragma_foreign_key_check");
	for (i = 0; i < nitems(rules); i++)
		bad += check_rows(db, rules[i].what, rules[i].sql);
	bad += check_worktrees(db);
	sqlite3_close(db);
	printf("%s: %d inconsistenc%s\n", path, bad, bad == 1 ? "y" : "ies");
	free(path);
	return bad > 0;
}
