/*
 * job.c: jobs and their chunks.  A job is stored whole in one transaction
 * or not at all; the in-memory struct job is a cache of the immutable spec
 * plus the live-agent count, rebuilt from the store at start.
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	stagger_start(j);
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

static void
job_store_chunks(int64_t id, json_t *chunks)
{
	static const char sql[] = "INSERT INTO chunks (job, seq, id, task, "
	                          "state, updated) VALUES (?, ?, ?, ?, "
	                          "'queued', ?)";
	sqlite3_stmt *st;
	int64_t now = now_wall_ms();
	json_t *c;
	size_t i;

	json_array_foreach(chunks, i, c) {
		st = store_prepare(sql);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		store_bind_text(
		    st, 3, json_string_value(json_object_get(c, "id")));
		store_bind_text(
		    st, 4, json_string_value(json_object_get(c, "task")));
		sqlite3_bind_int64(st, 5, now);
		store_step(st);
	}
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

	spec = json_pack("{s:s, s:O, s:O*, s:i, s:i, s:O*, s:b, s:O*}", "name",
	    js->name, "command", js->command, "env", js->env, "concurrency",
	    js->concurrency, "timeout", js->timeout, "stagger", js->stagger,
	    "cap_signal", js->cap_signal, "result", js->result);
	if (js->per_agent_tokens > 0)
		json_object_set_new(spec, "per_agent_tokens",
		    json_integer(js->per_agent_tokens));
	text = json_dumps(spec, JSON_COMPACT);
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
	job_store_chunks(id, js->chunks);
	evlog_add("job_submitted", id, NULL, 0, 0,
	    json_pack("{s:s, s:I}", "name", js->name, "chunks",
	        (json_int_t)json_array_size(js->chunks)));
	store_commit();
	log_info("job-%lld submitted: \"%s\", %zu chunks, concurrency %d",
	    (long long)id, js->name, json_array_size(js->chunks),
	    js->concurrency);
	job_cache(id, js->name, spec, workdir, js->concurrency, js->timeout, 0);
	free(workdir);
	scheduler_kick();
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
		job_cache(sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1), spec,
		    (const char *)sqlite3_column_text(st, 3),
		    sqlite3_column_int(st, 4), sqlite3_column_int(st, 5),
		    sqlite3_column_int(st, 6));
	}
	sqlite3_reset(st);
}

void
job_load_all(void)
{
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

/* Count of J's chunks in state S. */
static int64_t
job_count(int64_t id, const char *state)
{
	static const char sql[] = "SELECT count(*) FROM chunks "
	                          "WHERE job = ? AND state = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t n;

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	store_step(st);
	n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
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
	int64_t done, failed, aborted, dead;

	if (j->running > 0 || job_count(j->id, "queued") > 0 ||
	    job_count(j->id, "running") > 0)
		return;
	done = job_count(j->id, "done");
	failed = job_count(j->id, "failed");
	aborted = job_count(j->id, "aborted");
	dead = job_count(j->id, "dead");
	st = store_prepare(sql);
	sqlite3_bind_text(
	    st, 1, j->aborted ? "aborted" : "done", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_wall_ms());
	sqlite3_bind_int64(st, 3, j->id);
	store_step(st);
	evlog_add("job_done", j->id, NULL, 0, 0,
	    json_pack("{s:I, s:I, s:I, s:I}", "done", (json_int_t)done,
	        "failed", (json_int_t)failed, "aborted", (json_int_t)aborted,
	        "dead", (json_int_t)dead));
	log_info("job-%lld %s: %lld done, %lld failed, %lld aborted, %lld dead",
	    (long long)j->id, j->aborted ? "aborted" : "done", (long long)done,
	    (long long)failed, (long long)aborted, (long long)dead);
	job_free(j);
}
