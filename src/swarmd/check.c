/*
 * check.c: swarmd --check STATEDIR.  Verify a state database without
 * changing it: SQLite's own integrity and foreign-key checks, then the
 * invariants swarmd keeps (every dispatch completes at most once, a
 * running chunk has a live agent, counts agree).  It may run beside a
 * live daemon: WAL readers never block the writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	    "('running', 'done') AND c.agent = a.id" },
	{ "chunk completed more than once",
	    "SELECT 'job-' || job || '/' || chunk || ' (' || count(*) || "
	    "' times)' FROM events WHERE event = 'subagent_completed' AND "
	    "json_extract(data, '$.success') = 1 GROUP BY job, chunk "
	    "HAVING count(*) > 1" },
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
	    "WHERE j.state != 'running' AND c.state IN ('queued', 'running') "
	    "GROUP BY j.id" },
	{ "chunk in a state swarmd does not know",
	    "SELECT 'job-' || job || '/' || id || ' (' || state || ')' "
	    "FROM chunks WHERE state NOT IN ('queued', 'running', 'done', "
	    "'failed', 'aborted', 'dead')" },
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
	sqlite3_close(db);
	printf("%s: %d inconsistenc%s\n", path, bad, bad == 1 ? "y" : "ies");
	free(path);
	return bad > 0;
}
