/*
 * job.c: jobs, and the jobs table.  A job is stored whole, with its
 * chunks (chunk.c), in one transaction or not at all; the in-memory
 * struct job is a cache of the immutable spec plus the live-agent count,
 * rebuilt from the store at start.  A job ends when its chunks are
 * settled.  The queries the verbs list and show jobs with are here too.
 *
 * A job's env often carries an API key, so its values are not stored in
 * the database: the spec there names the variables only, and the values
 * are kept in STATE/secrets/job-N.json (0600, in a 0700 directory), read
 * back when the job is loaded.
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

struct jobs active_jobs = TAILQ_HEAD_INITIALIZER(active_jobs);

struct job *
job_find(int64_t id)
{
	struct job *j;

	TAILQ_FOREACH(j, &active_jobs, entry) {
		if (j->id == id)
			return j;
	}
	return NULL;
}

/* "job-3" -> 3. */
int
job_parse_id(const char *s, int64_t *id)
{
	long long n;

	if (s == NULL || strncmp(s, "job-", 4) != 0 ||
	    parse_int(s + 4, 1, INT64_MAX, &n) == -1)
		return -1;
	*id = n;
	return 0;
}

/* The policy layer's hooks: a job joined the cache; work may be runnable. */
static void (*job_added)(struct job *);
static void (*job_runnable)(void);

void
job_set_hooks(void (*added)(struct job *), void (*runnable)(void))
{
	job_added = added;
	job_runnable = runnable;
}

static void
job_kick(void)
{
	if (job_runnable != NULL)
		job_runnable();
}

/* ---- env values, kept out of the database ---- */

static char *
env_path(int64_t id)
{
	return xasprintf(
	    "%s/secrets/job-%lld.json", srv.cfg.statedir, (long long)id);
}

/* Keep ENV's values for job ID in its private file. */
static int
env_keep(int64_t id, json_t *env, char *err, size_t errlen)
{
	char *dir = xasprintf("%s/secrets", srv.cfg.statedir), *path, *text;
	int rc = -1;

	if ((mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    chmod(dir, 0700) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	path = env_path(id);
	text = json_dumps(env, JSON_COMPACT);
	rc = file_write_private(path, text, strlen(text), err, errlen);
	free(text);
	free(path);
	free(dir);
	return rc;
}

/* The spec as stored: ENV's names, not its values. */
static json_t *
env_names(json_t *env)
{
	json_t *names = json_array(), *v;
	const char *key;

	json_object_foreach(env, key, v)
		json_array_append_new(names, json_string(key));
	return names;
}

/* Put back the values of a stored spec's env (names) from their file. */
static void
env_restore(int64_t id, json_t *spec)
{
	json_t *env = json_object_get(spec, "env"), *vals;
	json_error_t jerr;
	char *path;

	if (!json_is_array(env))
		return;
	path = env_path(id);
	vals = json_load_file(path, 0, &jerr);
	if (!json_is_object(vals)) {
		log_warnx("job-%lld: its env is lost (%s: %s); its agents "
		          "start without it",
		    (long long)id, path, jerr.text);
		json_decref(vals);
		vals = json_object();
	}
	json_object_set_new(spec, "env", vals);
	free(path);
}

static struct job *
job_cache(int64_t id, const char *name, json_t *spec, const char *workdir,
    int concurrency, int timeout, int paused)
{
	struct job *j = xcalloc(1, sizeof *j);

	j->id = id;
	j->name = xstrdup(name);
	j->spec = spec;
	j->workdir = xstrdup(workdir);
	j->concurrency = concurrency;
	j->timeout = timeout;
	j->paused = paused;
	if (job_added != NULL)
		job_added(j);
	TAILQ_INSERT_TAIL(&active_jobs, j, entry);
	return j;
}

void
job_free(struct job *j)
{
	TAILQ_REMOVE(&active_jobs, j, entry);
	json_decref(j->spec);
	free(j->name);
	free(j->workdir);
	free(j);
}

/* Store a validated job whole; returns its id, or 0 (with ERR) on failure. */
int64_t
job_submit(struct jobspec *js, char *err, size_t errlen)
{
	static const char sql[] = "INSERT INTO jobs (name, spec, workdir, "
	                          "concurrency, timeout, state, created) "
	                          "VALUES (?, ?, ?, ?, ?, 'running', ?)";
	static const char upd[] = "UPDATE jobs SET workdir = ? WHERE id = ?";
	json_t *spec;
	char *text, *workdir;
	sqlite3_stmt *st;
	int64_t id;

	spec = json_pack("{s:s, s:O, s:o*, s:i, s:i, s:O*, s:b, s:O*}", "name",
	    js->name, "command", js->command, "env",
	    js->env != NULL ? env_names(js->env) : NULL, "concurrency",
	    js->concurrency, "timeout", js->timeout, "stagger", js->stagger,
	    "cap_signal", js->cap_signal, "result", js->result);
	if (js->per_agent_tokens > 0)
		json_object_set_new(spec, "per_agent_tokens",
		    json_integer(js->per_agent_tokens));
	if (js->worktree != NULL)
		json_object_set(spec, "worktree", js->worktree);
	if (js->gates != NULL)
		json_object_set(spec, "gates", js->gates);
	if (js->merge != NULL)
		json_object_set(spec, "merge", js->merge);
	if (js->gate_retries >= 0)
		json_object_set_new(
		    spec, "gate_retries", json_integer(js->gate_retries));
	if (js->preset != NULL)
		json_object_update(spec, js->preset);
	text = json_dumps(spec, JSON_COMPACT);
	if (js->env != NULL)
		json_object_set(spec, "env", js->env);
	store_begin();
	st = store_prepare(sql);
	store_bind_text(st, 1, js->name);
	store_bind_text(st, 2, text);
	store_bind_text(st, 3, js->workdir != NULL ? js->workdir : "");
	sqlite3_bind_int(st, 4, js->concurrency);
	sqlite3_bind_int(st, 5, js->timeout);
	sqlite3_bind_int64(st, 6, now_wall_ms());
	store_step(st);
	id = store_last_id();
	free(text);
	if (js->env != NULL && env_keep(id, js->env, err, errlen) == -1) {
		store_rollback();
		json_decref(spec);
		return 0;
	}
	if (js->workdir != NULL)
		workdir = xstrdup(js->workdir);
	else {
		workdir = xasprintf(
		    "%s/work/job-%lld", srv.cfg.statedir, (long long)id);
		if (mkdir(workdir, 0750) == -1 && errno != EEXIST) {
			snprintf(
			    err, errlen, "%s: %s", workdir, strerror(errno));
			store_rollback();
			free(workdir);
			json_decref(spec);
			return 0;
		}
		st = store_prepare(upd);
		store_bind_text(st, 1, workdir);
		sqlite3_bind_int64(st, 2, id);
		store_step(st);
	}
	chunk_add_all(id, js->chunks);
	evlog_add("job_submitted", id, NULL, 0, 0,
	    json_pack("{s:s, s:I}", "name", js->name, "chunks",
	        (json_int_t)json_array_size(js->chunks)));
	store_commit();
	log_info("job-%lld submitted: \"%s\", %zu chunks, concurrency %d",
	    (long long)id, js->name, json_array_size(js->chunks),
	    js->concurrency);
	job_cache(id, js->name, spec, workdir, js->concurrency, js->timeout, 0);
	free(workdir);
	job_kick();
	return id;
}

/* Rebuild the cache of unfinished jobs (or of job ONLY) from the store. */
static void
job_load(int64_t only)
{
	static const char sql[] =
	    "SELECT id, name, spec, workdir, "
	    "concurrency, timeout, paused FROM jobs "
	    "WHERE state = 'running' AND (?1 = 0 OR id = ?1) ORDER BY id";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *spec;

	sqlite3_bind_int64(st, 1, only);
	while (store_step(st) == SQLITE_ROW) {
		spec = json_loads(
		    (const char *)sqlite3_column_text(st, 2), 0, NULL);
		if (spec == NULL) {
			log_err("job-%lld: stored spec is not JSON; skipped",
			    (long long)sqlite3_column_int64(st, 0));
			continue;
		}
		env_restore(sqlite3_column_int64(st, 0), spec);
		job_cache(sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1), spec,
		    (const char *)sqlite3_column_text(st, 3),
		    sqlite3_column_int(st, 4), sqlite3_column_int(st, 5),
		    sqlite3_column_int(st, 6));
	}
	sqlite3_reset(st);
}

/*
 * Jobs stored before env values were kept apart: move the values out,
 * overwriting what the database held (secure_delete), and shrink the
 * write-ahead log that still had them.
 */
static void
env_seal_old(void)
{
	static const char sel[] = "SELECT id, spec FROM jobs "
	                          "WHERE json_type(spec, '$.env') = 'object'";
	static const char upd[] = "UPDATE jobs SET spec = ? WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sel);
	json_t *old = json_array(), *row;
	char err[256], *text;
	size_t i;

	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(old,
		    json_pack("{s:I, s:s}", "id",
		        (json_int_t)sqlite3_column_int64(st, 0), "spec",
		        (const char *)sqlite3_column_text(st, 1)));
	sqlite3_reset(st);
	if (json_array_size(old) > 0)
		store_exec("PRAGMA secure_delete = ON");
	json_array_foreach(old, i, row) {
		int64_t id = json_integer_value(json_object_get(row, "id"));
		json_t *spec = json_loads(
		    json_string_value(json_object_get(row, "spec")), 0, NULL);
		json_t *env = json_object_get(spec, "env");

		if (env == NULL || env_keep(id, env, err, sizeof err) == -1) {
			log_warnx("job-%lld: env left in the database: %s",
			    (long long)id, env == NULL ? "bad spec" : err);
			json_decref(spec);
			continue;
		}
		json_object_set_new(spec, "env", env_names(env));
		text = json_dumps(spec, JSON_COMPACT);
		store_begin();
		st = store_prepare(upd);
		store_bind_text(st, 1, text);
		sqlite3_bind_int64(st, 2, id);
		store_step(st);
		store_commit();
		free(text);
		json_decref(spec);
		log_info("job-%lld: env values moved out of the database",
		    (long long)id);
	}
	if (json_array_size(old) > 0) {
		store_exec("PRAGMA secure_delete = OFF");
		store_exec("PRAGMA wal_checkpoint(TRUNCATE)");
	}
	json_decref(old);
}

void
job_load_all(void)
{
	env_seal_old();
	job_load(0);
}

/* An ended job gets work again (a retry): it runs again, same id. */
struct job *
job_reopen(int64_t id)
{
	static const char sql[] = "UPDATE jobs SET state = 'running', "
	                          "finished = NULL WHERE id = ?";
	sqlite3_stmt *st;

	if (job_find(id) != NULL)
		return job_find(id);
	st = store_prepare(sql);
	sqlite3_bind_int64(st, 1, id);
	store_step(st);
	job_load(id);
	return job_find(id);
}

/*
 * A job is done when none of its chunks is queued or running and none of
 * its agents is still alive.  Runs inside the caller's transaction.
 */
void
job_check_done(struct job *j)
{
	static const char sql[] = "UPDATE jobs SET state = ?, finished = ? "
	                          "WHERE id = ?";
	sqlite3_stmt *st;
	int64_t done, merged, failed, aborted, dead;

	if (j->running > 0 || chunk_count(j->id, "queued") > 0 ||
	    chunk_count(j->id, "running") > 0 ||
	    chunk_count(j->id, "gating") > 0 ||
	    chunk_count(j->id, "merging") > 0)
		return;
	done = chunk_count(j->id, "done");
	merged = chunk_count(j->id, "merged");
	failed = chunk_count(j->id, "failed");
	aborted = chunk_count(j->id, "aborted");
	dead = chunk_count(j->id, "dead");
	st = store_prepare(sql);
	sqlite3_bind_text(
	    st, 1, j->aborted ? "aborted" : "done", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_wall_ms());
	sqlite3_bind_int64(st, 3, j->id);
	store_step(st);
	evlog_add("job_done", j->id, NULL, 0, 0,
	    json_pack("{s:I, s:I, s:I, s:I, s:I}", "done", (json_int_t)done,
	        "merged", (json_int_t)merged, "failed", (json_int_t)failed,
	        "aborted", (json_int_t)aborted, "dead", (json_int_t)dead));
	log_info("job-%lld %s: %lld done, %lld merged, %lld failed, "
	         "%lld aborted, %lld dead",
	    (long long)j->id, j->aborted ? "aborted" : "done", (long long)done,
	    (long long)merged, (long long)failed, (long long)aborted,
	    (long long)dead);
	job_free(j);
}

#define JOB_COLUMNS \
	"j.id, j.name, j.state, j.paused, j.created, " \
	"count(c.seq), " \
	"coalesce(sum(c.state = 'queued'), 0), " \
	"coalesce(sum(c.state = 'running'), 0), " \
	"coalesce(sum(c.state = 'done'), 0), " \
	"coalesce(sum(c.state = 'failed'), 0), " \
	"coalesce(sum(c.state = 'aborted'), 0), " \
	"j.workdir, j.concurrency, j.timeout, j.spec, " \
	"coalesce(sum(c.state = 'dead'), 0), " \
	"coalesce(sum(c.state = 'gating'), 0), " \
	"coalesce(sum(c.state = 'merging'), 0), " \
	"coalesce(sum(c.state = 'merged'), 0) "

/* One row of JOB_COLUMNS as the protocol's JOB object. */
static json_t *
job_row_json(sqlite3_stmt *st)
{
	char name[32];

	snprintf(name, sizeof name, "job-%lld",
	    (long long)sqlite3_column_int64(st, 0));
	return json_pack(
	    "{s:s, s:o, s:o, s:b, s:o, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I}}",
	    "job", name, "name", store_col_text(st, 1), "state",
	    store_col_text(st, 2), "paused", sqlite3_column_int(st, 3),
	    "created", store_col_ts(st, 4), "total",
	    (json_int_t)sqlite3_column_int64(st, 5), "counts", "queued",
	    (json_int_t)sqlite3_column_int64(st, 6), "running",
	    (json_int_t)sqlite3_column_int64(st, 7), "done",
	    (json_int_t)sqlite3_column_int64(st, 8), "failed",
	    (json_int_t)sqlite3_column_int64(st, 9), "aborted",
	    (json_int_t)sqlite3_column_int64(st, 10), "dead",
	    (json_int_t)sqlite3_column_int64(st, 15), "gating",
	    (json_int_t)sqlite3_column_int64(st, 16), "merging",
	    (json_int_t)sqlite3_column_int64(st, 17), "merged",
	    (json_int_t)sqlite3_column_int64(st, 18));
}

/*
 * Every job ever submitted, in order, with its chunk counts; only those
 * in STATE unless it is NULL.
 */
json_t *
job_list_json(const char *state)
{
	static const char all[] = "SELECT " JOB_COLUMNS "FROM jobs j "
	                          "LEFT JOIN chunks c ON c.job = j.id "
	                          "GROUP BY j.id ORDER BY j.id";
	static const char in_state[] = "SELECT " JOB_COLUMNS "FROM jobs j "
	                               "LEFT JOIN chunks c ON c.job = j.id "
	                               "WHERE j.state = ? "
	                               "GROUP BY j.id ORDER BY j.id";
	sqlite3_stmt *st = store_prepare(state != NULL ? in_state : all);
	json_t *arr = json_array();

	if (state != NULL)
		sqlite3_bind_text(st, 1, state, -1, SQLITE_TRANSIENT);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(arr, job_row_json(st));
	sqlite3_reset(st);
	return arr;
}

/* Job ID with its settings and command, or NULL if there is none. */
json_t *
job_show_json(int64_t id)
{
	static const char sql[] = "SELECT " JOB_COLUMNS "FROM jobs j "
	                          "LEFT JOIN chunks c ON c.job = j.id "
	                          "WHERE j.id = ? GROUP BY j.id";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *job, *spec;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return NULL;
	}
	job = job_row_json(st);
	spec = json_loads((const char *)sqlite3_column_text(st, 14), 0, NULL);
	json_object_set_new(job, "workdir", store_col_text(st, 11));
	json_object_set_new(job, "concurrency", store_col_int(st, 12));
	json_object_set_new(job, "timeout", store_col_int(st, 13));
	json_object_set(job, "command", json_object_get(spec, "command"));
	json_decref(spec);
	sqlite3_reset(st);
	return job;
}

/* The stored state of job ID, or NULL when there is no such job. */
char *
job_state(int64_t id)
{
	static const char sql[] = "SELECT state FROM jobs WHERE id = ?";

	return store_text_by_id(sql, id);
}

int
job_exists(int64_t id)
{
	static const char sql[] = "SELECT 1 FROM jobs WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int found;

	sqlite3_bind_int64(st, 1, id);
	found = store_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return found;
}

/* Pause or resume J, stored and logged; a resumed job is scheduled. */
void
job_set_paused(struct job *j, int paused)
{
	static const char sql[] = "UPDATE jobs SET paused = ? WHERE id = ?";
	sqlite3_stmt *st;

	if (j->paused == paused)
		return;
	store_begin();
	st = store_prepare(sql);
	sqlite3_bind_int(st, 1, paused);
	sqlite3_bind_int64(st, 2, j->id);
	store_step(st);
	evlog_add(
	    paused ? "job_paused" : "job_resumed", j->id, NULL, 0, 0, NULL);
	store_commit();
	j->paused = paused;
	log_info(
	    "job-%lld %s", (long long)j->id, paused ? "paused" : "resumed");
	if (!paused)
		job_kick();
}

/* ---- retention (prune.c) ---- */

/*
 * The first job after AFTER that ended (or, still running, began) at or
 * before CUTOFF; 0: none.  prune.c says why a running one stays.
 */
int64_t
job_prune_next(int64_t after, int64_t cutoff)
{
	static const char sql[] = "SELECT id FROM jobs WHERE id > ?1 AND "
	                          "coalesce(finished, created) <= ?2 "
	                          "ORDER BY id LIMIT 1";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t id = 0;

	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, cutoff);
	if (store_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

/*
 * Job ID's row, the last of it to go, and its env file; with DRY only
 * counted.  *BYTES grows by the file's size.
 */
int64_t
job_prune(int64_t id, int dry, int64_t *bytes)
{
	static const char del[] = "DELETE FROM jobs WHERE id = ?1";
	static const char cnt[] = "SELECT count(*) FROM jobs WHERE id = ?1";
	char *path = env_path(id);
	struct stat sb;
	int64_t n;

	if (stat(path, &sb) == 0) {
		*bytes += sb.st_size;
		if (!dry && unlink(path) == -1)
			log_warn("unlink %s", path);
	}
	free(path);
	n = store_prune(dry ? cnt : del, id, 1, dry);
	return n;
}
