/*
 * store.c: the state database.  One SQLite file in WAL mode; the schema
 * carries a version (PRAGMA user_version) and moves forward through the
 * migrations below, never back.  Statements are prepared once and cached.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

struct store store;

static int depth;   /* of nested store_begin() calls */
static int pending; /* grouped work not yet committed */
static struct event *flush_ev;

/* Who hears of each commit (the server, to send the replies it held). */
static struct notify_list subs = TAILQ_HEAD_INITIALIZER(subs);

/* Migration N takes the schema from version N to N + 1. */
static const char *migrations[] = {
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL,"
	"  spec TEXT NOT NULL,"
	"  workdir TEXT NOT NULL,"
	"  concurrency INTEGER NOT NULL,"
	"  timeout INTEGER NOT NULL,"
	"  state TEXT NOT NULL,"
	"  paused INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL,"
	"  finished INTEGER);"
	"CREATE TABLE chunks ("
	"  job INTEGER NOT NULL REFERENCES jobs(id),"
	"  seq INTEGER NOT NULL,"
	"  id TEXT NOT NULL,"
	"  task TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  agent INTEGER,"
	"  reason TEXT,"
	"  output_file TEXT,"
	"  updated INTEGER,"
	"  PRIMARY KEY (job, seq),"
	"  UNIQUE (job, id));"
	"CREATE INDEX chunks_by_state ON chunks (job, state, seq);"
	"CREATE TABLE agents ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  job INTEGER NOT NULL REFERENCES jobs(id),"
	"  chunk TEXT NOT NULL,"
	"  attempt INTEGER NOT NULL,"
	"  state TEXT NOT NULL,"
	"  pid INTEGER,"
	"  token_hash BLOB,"
	"  started INTEGER,"
	"  last_seen INTEGER,"
	"  ended INTEGER,"
	"  exit_code INTEGER,"
	"  signal INTEGER,"
	"  reason TEXT,"
	"  abort_requested INTEGER NOT NULL DEFAULT 0,"
	"  log TEXT);"
	"CREATE INDEX agents_by_job ON agents (job, chunk);"
	"CREATE INDEX agents_by_state ON agents (state);"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER NOT NULL,"
	"  event TEXT NOT NULL,"
	"  job INTEGER,"
	"  chunk TEXT,"
	"  agent INTEGER,"
	"  attempt INTEGER,"
	"  data TEXT);"
	"CREATE INDEX events_by_job ON events (job, seq);"
	"CREATE INDEX events_by_agent ON events (agent, event);"
	"CREATE TABLE messages ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  agent INTEGER NOT NULL REFERENCES agents(id),"
	"  ts INTEGER NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  text TEXT NOT NULL,"
	"  delivered INTEGER);"
	"CREATE INDEX messages_unread ON messages (agent, delivered, seq);"
	"CREATE TABLE checkpoints ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  job INTEGER NOT NULL REFERENCES jobs(id),"
	"  chunk TEXT NOT NULL,"
	"  agent INTEGER NOT NULL REFERENCES agents(id),"
	"  ts INTEGER NOT NULL,"
	"  note TEXT,"
	"  data BLOB,"
	"  size INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX checkpoints_by_chunk ON checkpoints (job, chunk, seq);",

	/* 2: the process start time, so a pid is never mistaken for ours. */
	"ALTER TABLE agents ADD COLUMN pid_start INTEGER;",

	/* 3: the quota meter's records and each agent's cap. */
	"CREATE TABLE usage ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER NOT NULL,"
	"  agent INTEGER,"
	"  job INTEGER,"
	"  chunk TEXT,"
	"  model TEXT,"
	"  source TEXT NOT NULL,"
	"  message_id TEXT,"
	"  input INTEGER NOT NULL DEFAULT 0,"
	"  output INTEGER NOT NULL DEFAULT 0,"
	"  cache_creation INTEGER NOT NULL DEFAULT 0,"
	"  cache_read INTEGER NOT NULL DEFAULT 0,"
	"  usd REAL NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX usage_by_message ON usage (agent, message_id) "
	"  WHERE message_id IS NOT NULL;"
	"CREATE INDEX usage_by_ts ON usage (ts);"
	"CREATE INDEX usage_by_agent ON usage (agent);"
	"ALTER TABLE agents ADD COLUMN token_cap INTEGER;",

	/* 4: failure routing. */
	"ALTER TABLE chunks ADD COLUMN fail_class TEXT;ALTER TABLE chunks ADD COLUMN not_before INTEGER;ALTER TABLE chunks ADD COLUMN rejection TEXT;ALTER TABLE chunks ADD COLUMN transient_failures INTEGER NOT NULL "
	"  DEFAULT 0;"
	"ALTER TABLE chunks ADD COLUMN schema_failures INTEGER NOT NULL "
	"  DEFAULT 0;"
	"CREATE INDEX chunks_delayed ON chunks (not_before) "
	"  WHERE not_before IS NOT NULL;",

	/* 5: the result contract and checkpoints kept by path. */
	"ALTER TABLE agents ADD COLUMN result_path TEXT;ALTER TABLE checkpoints ADD COLUMN path TEXT;ALTER TABLE checkpoints ADD COLUMN sha256 TEXT;",

	/* 6: the watchdog's escalations to a person. */
	"CREATE TABLE escalations ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER NOT NULL,"
	"  job INTEGER,"
	"  chunk TEXT,"
	"  agent INTEGER,"
	"  attempt INTEGER,"
	"  state TEXT NOT NULL,"
	"  summary TEXT NOT NULL,"
	"  evidence TEXT,"
	"  tried TEXT,"
	"  verdict TEXT,"
	"  status TEXT NOT NULL,"
	"  notified INTEGER,"
	"  notifications INTEGER NOT NULL DEFAULT 0,"
	"  resolved INTEGER,"
	"  action TEXT,"
	"  note TEXT,"
	"  outcome TEXT);"
	"CREATE INDEX escalations_open ON escalations (status, notified);"
	"CREATE INDEX escalations_by_agent ON escalations (agent, status);",

	/*
	 * 7: a cheaper usage row, one per proxied response: no AUTOINCREMENT
	 * (its sequence was one more B-tree to write; no usage row is ever
	 * deleted, so seq still only grows), and the unique index serves
	 * the by-agent lookups too (NULL message ids never collide).
	 */
	"CREATE TABLE usage7 ("
	"  seq INTEGER PRIMARY KEY,"
	"  ts INTEGER NOT NULL,"
	"  agent INTEGER,"
	"  job INTEGER,"
	"  chunk TEXT,"
	"  model TEXT,"
	"  source TEXT NOT NULL,"
	"  message_id TEXT,"
	"  input INTEGER NOT NULL DEFAULT 0,"
	"  output INTEGER NOT NULL DEFAULT 0,"
	"  cache_creation INTEGER NOT NULL DEFAULT 0,"
	"  cache_read INTEGER NOT NULL DEFAULT 0,"
	"  usd REAL NOT NULL DEFAULT 0);"
	"INSERT INTO usage7 SELECT * FROM usage;"
	"DROP TABLE usage;"
	"ALTER TABLE usage7 RENAME TO usage;"
	"CREATE UNIQUE INDEX usage_by_message ON usage (agent, message_id);"
	"CREATE INDEX usage_by_ts ON usage (ts);",

	/*
	 * 8: the proxy key's hash, apart from SWARM_TOKEN's.  Agents that
	 * outlived an older swarmd hold one secret for both; it stays good
	 * for the proxy until they end.
	 */
	"ALTER TABLE agents ADD COLUMN proxy_hash BLOB;"
	"UPDATE agents SET proxy_hash = token_hash;",
	/* 9: each agent's shim, the parent that records its exit status. */
	"ALTER TABLE agents ADD COLUMN shim_pid INTEGER;"
	"ALTER TABLE agents ADD COLUMN shim_start INTEGER;",

	/*
	 * 10: the agents' work (worktree.c): a chunk's worktree and where
	 * its lifecycle is, the snapshot each attempt left, and every
	 * commit found on a chunk's branch, by the trailers it carries;
	 * the chunks' gate failures, and the log of the last one.
	 */
	"CREATE TABLE worktrees ("
	"  job INTEGER NOT NULL,"
	"  chunk TEXT NOT NULL,"
	"  repo TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  branch TEXT NOT NULL,"
	"  base TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  made INTEGER NOT NULL DEFAULT 0,"
	"  agent INTEGER,"
	"  attempt INTEGER,"
	"  changed INTEGER NOT NULL,"
	"  remote TEXT,"
	"  PRIMARY KEY (job, chunk));"
	"CREATE UNIQUE INDEX worktrees_by_branch ON worktrees (repo, branch);"
	"CREATE TABLE snapshots ("
	"  job INTEGER NOT NULL,"
	"  chunk TEXT NOT NULL,"
	"  attempt INTEGER NOT NULL,"
	"  agent INTEGER,"
	"  ref TEXT NOT NULL,"
	"  commit_id TEXT NOT NULL,"
	"  taken INTEGER NOT NULL,"
	"  PRIMARY KEY (job, chunk, attempt));"
	"CREATE TABLE commits ("
	"  commit_id TEXT NOT NULL,"
	"  job INTEGER NOT NULL,"
	"  chunk TEXT NOT NULL,"
	"  agent INTEGER,"
	"  attempt INTEGER,"
	"  author TEXT,"
	"  subject TEXT,"
	"  at INTEGER,"
	"  PRIMARY KEY (commit_id, job));"
	"CREATE INDEX commits_by_chunk ON commits (job, chunk);"
	"ALTER TABLE chunks ADD COLUMN gate_failures INTEGER NOT NULL "
	"DEFAULT 0;"
	"ALTER TABLE chunks ADD COLUMN gate_log TEXT;",

	/* 11: a chunk's own fields, its placeholders' values (JSON). */
	"ALTER TABLE chunks ADD COLUMN fields TEXT;",

	/* 12: the Claude Code session each agent ran, to resume a retry. */
	"ALTER TABLE agents ADD COLUMN session_id TEXT;",

	/*
	 * 13: the merge queues (merge.c): one entry per chunk's turn in
	 * the queue of its repository's target, and each queue's pause.
	 */
	"CREATE TABLE merges ("
	"  id INTEGER PRIMARY KEY,"
	"  job INTEGER NOT NULL,"
	"  chunk TEXT NOT NULL,"
	"  repo TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  rank INTEGER NOT NULL,"
	"  queued INTEGER NOT NULL,"
	"  changed INTEGER NOT NULL,"
	"  rounds INTEGER NOT NULL DEFAULT 0,"
	"  tip TEXT,"
	"  old TEXT,"
	"  result TEXT);"
	"CREATE INDEX merges_by_queue ON merges (repo, target, state, rank);"
	"CREATE INDEX merges_by_chunk ON merges (job, chunk);"
	"CREATE TABLE merge_queues ("
	"  repo TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  paused INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (repo, target));",

	/* 14: the commits a merge round made anew (rebase, squash) are
	 * recorded too, with the target they landed on; a merged entry
	 * owed that (and its branch's move) until adopted. */
	"ALTER TABLE commits ADD COLUMN landed TEXT;"
	"ALTER TABLE merges ADD COLUMN adopted INTEGER NOT NULL DEFAULT 1;"
	"CREATE INDEX merges_unadopted ON merges (id) WHERE adopted = 0;",

	/*
	 * 15: each attempt's story (show job-N/CHUNK, ps --all): how it
	 * ended in a word, its failure class, the summary it reported.
	 */
	"ALTER TABLE agents ADD COLUMN outcome TEXT;"
	"ALTER TABLE agents ADD COLUMN fail_class TEXT;"
	"ALTER TABLE agents ADD COLUMN summary TEXT;",
	/*
	 * 16: the bytes cut from the head of each agent's log as it
	 * rotated ([spawn] log_max), so `logs` offsets stay the same.
	 */
	"ALTER TABLE agents ADD COLUMN log_dropped INTEGER NOT NULL "
	"DEFAULT 0;",
};

struct cached {
	const char *sql;
	sqlite3_stmt *st;
};
static struct cached *cache;
static size_t ncache;

static void
store_die(const char *what)
{
	fatalx("store: %s: %s", what, sqlite3_errmsg(store.db));
}

void
store_exec(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(store.db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("store: %s", msg != NULL ? msg : "?");
		sqlite3_free(msg);
		fatalx("store: cannot run: %.60s", sql);
	}
}

int
store_schema_version(void)
{
	sqlite3_stmt *st = store_prepare("PRAGMA user_version");
	int v = 0;

	if (store_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return v;
}

static int
store_migrate(char *err, size_t errlen)
{
	int v = store_schema_version(), from = v;
	char sql[64];

	if (v > (int)nitems(migrations)) {
		snprintf(err, errlen,
		    "%s: schema version %d is newer than this swarmd (%zu)",
		    store.path, v, nitems(migrations));
		return -1;
	}
	for (; v < (int)nitems(migrations); v++) {
		store_begin();
		store_exec(migrations[v]);
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		store_exec(sql);
		store_commit();
	}
	/* One line: a new state says so, an old one says from where. */
	if (from == 0)
		log_info("store: new database at schema version %d", v);
	else if (from < v)
		log_info(
		    "store: schema migrated from version %d to %d", from, v);
	return 0;
}

/*
 * The database holds jobs' specs and agents' token hashes: only swarmd's
 * user reads it.  Made 0600 before SQLite opens it (its -wal and -shm
 * take the database's mode), and tightened if an older swarmd left it,
 * or its companions, readable by others.
 */
static int
store_private(const char *path, char *err, size_t errlen)
{
	static const char *const companions[] = { "-wal", "-shm" };
	char other[PATH_MAX];
	size_t i;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1 || fchmod(fd, 0600) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	for (i = 0; i < nitems(companions); i++) {
		snprintf(other, sizeof other, "%s%s", path, companions[i]);
		if (chmod(other, 0600) == -1 && errno != ENOENT)
			log_warn("store: chmod %s", other);
	}
	return 0;
}

int
store_open(
    const char *statedir, const char *synchronous, char *err, size_t errlen)
{
	char sql[64];

	store.path = xasprintf("%s/swarmd.db", statedir);
	if (store_private(store.path, err, errlen) == -1)
		return -1;
	if (sqlite3_open_v2(store.path, &store.db,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	            SQLITE_OPEN_NOMUTEX,
	        NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", store.path,
		    sqlite3_errmsg(store.db));
		return -1;
	}
	sqlite3_busy_timeout(store.db, 5000);
	store_exec("PRAGMA journal_mode = WAL");
	store_exec("PRAGMA foreign_keys = ON");
	snprintf(sql, sizeof sql, "PRAGMA synchronous = %s", synchronous);
	store_exec(sql);
	return store_migrate(err, errlen);
}

void
store_close(void)
{
	size_t i;

	store_flush();
	store_wal_stop();
	if (flush_ev != NULL)
		event_free(flush_ev);
	flush_ev = NULL;
	for (i = 0; i < ncache; i++)
		sqlite3_finalize(cache[i].st);
	free(cache);
	cache = NULL;
	ncache = 0;
	if (store.db != NULL)
		sqlite3_close(store.db);
	store.db = NULL;
	free(store.path);
	store.path = NULL;
}

/* Call CB after each commit; upper layers subscribe at start. */
void
store_subscribe(store_commit_cb cb, void *arg)
{
	notify_add(&subs, (notify_fn)cb, arg);
}

void
store_unsubscribe(store_commit_cb cb, void *arg)
{
	notify_remove(&subs, (notify_fn)cb, arg);
}

/* How long each COMMIT took, for the metrics. */
static struct histo commit_times;

const struct histo *
store_commit_histo(void)
{
	return &commit_times;
}

/* COMMIT, timed, then tell the subscribers. */
static void
store_commit_now(void)
{
	struct notify *n, *next;
	double t0 = histo_now();

	store_exec("COMMIT");
	histo_add(&commit_times, histo_now() - t0);
	TAILQ_FOREACH_SAFE(n, &subs, entry, next)
		((store_commit_cb)n->fn)(n->arg);
}

/*
 * Transactions nest: only the outermost begin and commit reach SQLite, so
 * a helper that writes can be called alone or inside a larger change.
 *
 * Group commit: a request whose only act is its reply (a heartbeat note,
 * a checkpoint, a usage report) commits with store_commit_grouped().  The
 * transaction stays open for the other requests of this turn of the event
 * loop and is committed once, at its end, by store_flush(); their replies
 * wait until then (server.c holds them and, subscribed to the commits,
 * sends them after), so nothing is acknowledged before it is durable.
 * One fsync then covers many requests.  Any plain store_begin() commits
 * pending grouped work first: intent that precedes an act (a spawn, a
 * signal) is never held back.
 */

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	store_flush();
}

int
store_pending(void)
{
	return pending;
}

void
store_flush(void)
{
	if (!pending || depth > 0)
		return;
	pending = 0;
	store_commit_now();
}

void
store_begin(void)
{
	if (depth == 0)
		store_flush();
	if (depth++ == 0)
		store_exec("BEGIN IMMEDIATE");
}

/* Join the open group if there is one. */
void
store_begin_grouped(void)
{
	if (depth++ == 0 && !pending)
		store_exec("BEGIN IMMEDIATE");
}

void
store_commit(void)
{
	if (depth > 0 && --depth == 0) {
		pending = 0;
		store_commit_now();
	}
}

void
store_commit_grouped(void)
{
	if (depth > 0 && --depth == 0) {
		pending = 1;
		if (flush_ev == NULL) {
			flush_ev = event_new(srv.base, -1, 0, on_flush, NULL);
			/* The lowest priority: after this turn's requests. */
			event_priority_set(flush_ev, STORE_FLUSH_PRIORITY);
		}
		event_active(flush_ev, EV_TIMEOUT, 0);
	}
}

/*
 * Abandons the whole outermost transaction.  Never inside a group: that
 * would drop other requests' work whose replies are waiting.
 */
void
store_rollback(void)
{
	if (depth > 0) {
		depth = 0;
		pending = 0;
		store_exec("ROLLBACK");
	}
}

/*
 * Statements are cached by the address of their SQL text, which is always
 * a string literal, so a lookup is a pointer comparison.
 */
sqlite3_stmt *
store_prepare(const char *sql)
{
	sqlite3_stmt *st;
	size_t i;

	for (i = 0; i < ncache; i++) {
		if (cache[i].sql == sql) {
			sqlite3_reset(cache[i].st);
			sqlite3_clear_bindings(cache[i].st);
			return cache[i].st;
		}
	}
	if (sqlite3_prepare_v3(store.db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	        &st, NULL) != SQLITE_OK)
		store_die(sql);
	cache = xrealloc(cache, (ncache + 1) * sizeof *cache);
	cache[ncache].sql = sql;
	cache[ncache].st = st;
	ncache++;
	return st;
}

/* Column 0 of the row SQL (one ?, an id) finds, copied; NULL for none. */
char *
store_text_by_id(const char *sql, int64_t id)
{
	sqlite3_stmt *st = store_prepare(sql);
	char *s = NULL;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		s = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return s;
}

int
store_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		store_die(sqlite3_sql(st));
	return rc;
}

void
store_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/*
 * Retention, for the tables' owners: with DRY, SQL counts the rows of
 * KEY (column 0); else it deletes at most LIMIT of them (?2), and the
 * rows it changed are returned.
 */
int64_t
store_prune(const char *sql, int64_t key, int64_t limit, int dry)
{
	sqlite3_stmt *st = store_prepare(sql);
	int64_t n = 0;

	sqlite3_bind_int64(st, 1, key);
	if (!dry)
		sqlite3_bind_int64(st, 2, limit);
	if (store_step(st) == SQLITE_ROW && dry)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return dry ? n : sqlite3_changes(store.db);
}

int64_t
store_last_id(void)
{
	return sqlite3_last_insert_rowid(store.db);
}

json_t *
json_ts(int64_t ms)
{
	char buf[TS_LEN];

	return ms == 0 ? json_null() : json_string(ts_format(ms, buf));
}

json_t *
store_col_ts(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_ts(sqlite3_column_int64(st, col));
}

json_t *
store_col_int(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, col));
}

json_t *
store_col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s == NULL ? json_null() : json_string((const char *)s);
}
