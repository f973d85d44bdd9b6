/*
 * verb-job.c: the operator verbs about jobs and chunks: submit, jobs,
 * show, pause, resume, pending and events.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

#define JOB_COLUMNS \
	"j.id, j.name, j.state, j.paused, j.created, " \
	"count(c.seq), " \
	"coalesce(sum(c.state = 'queued'), 0), " \
	"coalesce(sum(c.state = 'running'), 0), " \
	"coalesce(sum(c.state = 'done'), 0), " \
	"coalesce(sum(c.state = 'failed'), 0), " \
	"coalesce(sum(c.state = 'aborted'), 0), " \
	"j.workdir, j.concurrency, j.timeout, j.spec, " \
	"coalesce(sum(c.state = 'dead'), 0) "

static json_t *
job_row_json(sqlite3_stmt *st)
{
	char name[32];

	snprintf(name, sizeof name, "job-%lld",
	    (long long)sqlite3_column_int64(st, 0));
	return json_pack(
	    "{s:s, s:o, s:o, s:b, s:o, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
	    "job", name, "name", store_col_text(st, 1), "state",
	    store_col_text(st, 2), "paused", sqlite3_column_int(st, 3),
	    "created", store_col_ts(st, 4), "total",
	    (json_int_t)sqlite3_column_int64(st, 5), "counts", "queued",
	    (json_int_t)sqlite3_column_int64(st, 6), "running",
	    (json_int_t)sqlite3_column_int64(st, 7), "done",
	    (json_int_t)sqlite3_column_int64(st, 8), "failed",
	    (json_int_t)sqlite3_column_int64(st, 9), "aborted",
	    (json_int_t)sqlite3_column_int64(st, 10), "dead",
	    (json_int_t)sqlite3_column_int64(st, 15));
}

/*
 * The pre-flight plan: how many agents the quota left can carry if each
 * may use per_agent_tokens, how the ramp will bring them up, and how long
 * the window needs to supply the whole job at its refill rate.
 */
static json_t *
preflight_plan(struct jobspec *js, int64_t remaining, int64_t *safe)
{
	json_t *st = js->stagger;
	double batch = json_is_integer(json_object_get(st, "batch")) ?
	    (double)json_integer_value(json_object_get(st, "batch")) :
	    srv.cfg.stagger_batch;
	double interval = json_is_number(json_object_get(st, "interval")) ?
	    json_number_value(json_object_get(st, "interval")) :
	    srv.cfg.stagger_interval;
	double rate = srv.cfg.tokens_per_minute > 0 ?
	    (double)srv.cfg.tokens_per_minute / 60 :
	    (double)srv.cfg.window_tokens / srv.cfg.window;
	double need =
	    (double)js->per_agent_tokens * (double)json_array_size(js->chunks);
	int64_t fanout;
	double steps;

	*safe = (int64_t)((double)remaining / (double)js->per_agent_tokens *
	    srv.cfg.preflight_factor);
	fanout = *safe < js->concurrency ? *safe : js->concurrency;
	steps = fanout > 0 ? ceil((double)fanout / batch) : 0;
	return json_pack("{s:I, s:I, s:I, s:f, s:I, s:I, s:f, s:f, s:f}",
	    "remaining_tokens", (json_int_t)remaining, "per_agent_tokens",
	    (json_int_t)js->per_agent_tokens, "safe_fanout", (json_int_t)*safe,
	    "preflight_factor", srv.cfg.preflight_factor, "concurrency",
	    (json_int_t)fanout, "batches", (json_int_t)steps, "ramp_seconds",
	    steps > 1 ? (steps - 1) * interval : 0, "need_tokens", need,
	    "drain_seconds",
	    need > (double)remaining && rate > 0 ?
	        (need - (double)remaining) / rate :
	        0);
}

/* Cap the job's concurrency to what the quota can carry, or refuse. */
static enum verb_rc
preflight(struct verb_ctx *ctx, struct jobspec *js)
{
	int64_t remaining = quota_remaining(), safe;
	json_t *plan;
	char *msg;

	if (js->per_agent_tokens <= 0 || remaining < 0)
		return VERB_OK;
	plan = preflight_plan(js, remaining, &safe);
	json_object_set_new(ctx->reply, "plan", json_incref(plan));
	if (js->concurrency <= safe) {
		json_decref(plan);
		return VERB_OK;
	}
	if (safe < 1 || arg_bool(ctx, "strict")) {
		ctx->edetail = json_pack("{s:o}", "plan", plan);
		return verb_fail(ctx, SWARM_E_QUOTA,
		    "concurrency %d needs %lld tokens at %lld per agent; the quota left (%lld, of which a share of %g may be planned on) carries %lld",
		    js->concurrency,
		    (long long)js->per_agent_tokens * js->concurrency,
		    (long long)js->per_agent_tokens, (long long)remaining,
		    srv.cfg.preflight_factor, (long long)safe);
	}
	json_decref(plan);
	msg = xasprintf("concurrency capped at %lld (asked %d): %lld tokens "
	                "left, %lld per agent, preflight_factor %g",
	    (long long)safe, js->concurrency, (long long)remaining,
	    (long long)js->per_agent_tokens, srv.cfg.preflight_factor);
	json_object_set_new(ctx->reply, "warnings", json_pack("[s]", msg));
	free(msg);
	js->concurrency = (int)safe;
	return VERB_OK;
}

enum verb_rc
verb_submit(struct verb_ctx *ctx)
{
	json_t *problems = json_array();
	struct jobspec js;
	char err[256] = "";
	char name[32];
	int64_t id;

	if (jobspec_parse(json_object_get(ctx->args, "job"),
	        srv.cfg.default_concurrency, &js, problems) == -1) {
		ctx->edetail = json_pack("{s:o}", "problems", problems);
		return verb_fail(ctx, SWARM_E_INVALID_JOB,
		    "the job has %zu problem%s; nothing was stored",
		    json_array_size(problems),
		    json_array_size(problems) == 1 ? "" : "s");
	}
	json_decref(problems);
	if (preflight(ctx, &js) != VERB_OK) {
		jobspec_free(&js);
		return VERB_ERROR;
	}
	json_object_set_new(ctx->reply, "chunks",
	    json_integer((json_int_t)json_array_size(js.chunks)));
	json_object_set_new(
	    ctx->reply, "concurrency", json_integer(js.concurrency));
	if (arg_bool(ctx, "dry_run")) {
		json_object_set_new(ctx->reply, "dry_run", json_true());
		jobspec_free(&js);
		return VERB_OK;
	}
	id = job_submit(&js, err, sizeof err);
	jobspec_free(&js);
	if (id == 0)
		return verb_fail(ctx, SWARM_E_INTERNAL, "%s", err);
	snprintf(name, sizeof name, "job-%lld", (long long)id);
	json_object_set_new(ctx->reply, "job", json_string(name));
	return VERB_OK;
}

enum verb_rc
verb_jobs(struct verb_ctx *ctx)
{
	static const char sql[] = "SELECT " JOB_COLUMNS "FROM jobs j "
	                          "LEFT JOIN chunks c ON c.job = j.id "
	                          "GROUP BY j.id ORDER BY j.id";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();

	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(arr, job_row_json(st));
	sqlite3_reset(st);
	json_object_set_new(ctx->reply, "jobs", arr);
	return VERB_OK;
}

static enum verb_rc
show_agent(struct verb_ctx *ctx, int64_t id)
{
	static const char sql[] = "SELECT " AGENT_COLUMNS " FROM agents a "
	                          "WHERE a.id = ?";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such agent: agent-%lld", (long long)id);
	}
	json_object_set_new(ctx->reply, "agent", agent_json(st));
	sqlite3_reset(st);
	json_object_set_new(json_object_get(ctx->reply, "agent"), "usage",
	    quota_agent_json(id));
	return VERB_OK;
}

static json_t *
job_chunks(int64_t id)
{
	static const char sql[] = "SELECT id, state, agent, attempts, reason "
	                          "FROM chunks WHERE job = ? ORDER BY seq";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();
	char agent[32];

	sqlite3_bind_int64(st, 1, id);
	while (store_step(st) == SQLITE_ROW) {
		snprintf(agent, sizeof agent, "agent-%lld",
		    (long long)sqlite3_column_int64(st, 2));
		json_array_append_new(arr,
		    json_pack("{s:o, s:o, s:o, s:i, s:o}", "id",
		        store_col_text(st, 0), "state", store_col_text(st, 1),
		        "agent",
		        sqlite3_column_type(st, 2) == SQLITE_NULL ?
		            json_null() :
		            json_string(agent),
		        "attempts", sqlite3_column_int(st, 3), "reason",
		        store_col_text(st, 4)));
	}
	sqlite3_reset(st);
	return arr;
}

static enum verb_rc
show_job(struct verb_ctx *ctx, int64_t id)
{
	static const char sql[] = "SELECT " JOB_COLUMNS "FROM jobs j "
	                          "LEFT JOIN chunks c ON c.job = j.id "
	                          "WHERE j.id = ? GROUP BY j.id";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *job, *spec;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such job: job-%lld", (long long)id);
	}
	job = job_row_json(st);
	spec = json_loads((const char *)sqlite3_column_text(st, 14), 0, NULL);
	json_object_set_new(job, "workdir", store_col_text(st, 11));
	json_object_set_new(job, "concurrency", store_col_int(st, 12));
	json_object_set_new(job, "timeout", store_col_int(st, 13));
	json_object_set(job, "command", json_object_get(spec, "command"));
	json_decref(spec);
	sqlite3_reset(st);
	json_object_set_new(job, "chunks", job_chunks(id));
	if (job_find(id) != NULL)
		json_object_set_new(job, "stagger", stagger_json(job_find(id)));
	json_object_set_new(ctx->reply, "job", job);
	return VERB_OK;
}

static json_t *
chunk_agents(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT " AGENT_COLUMNS " FROM agents a "
	                          "WHERE a.job = ? AND a.chunk = ? "
	                          "ORDER BY a.id";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(arr, agent_json(st));
	sqlite3_reset(st);
	return arr;
}

static json_t *
chunk_checkpoints(int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT seq, ts, agent, note, size "
	                          "FROM checkpoints WHERE job = ? AND "
	                          "chunk = ? ORDER BY seq";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();
	char agent[32];

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	while (store_step(st) == SQLITE_ROW) {
		snprintf(agent, sizeof agent, "agent-%lld",
		    (long long)sqlite3_column_int64(st, 2));
		json_array_append_new(arr,
		    json_pack("{s:I, s:o, s:s, s:o, s:I}", "seq",
		        (json_int_t)sqlite3_column_int64(st, 0), "ts",
		        store_col_ts(st, 1), "agent", agent, "note",
		        store_col_text(st, 3), "size",
		        (json_int_t)sqlite3_column_int64(st, 4)));
	}
	sqlite3_reset(st);
	return arr;
}

static enum verb_rc
show_chunk(struct verb_ctx *ctx, int64_t job, const char *chunk)
{
	static const char sql[] = "SELECT id, task, state, attempts, agent, "
	                          "reason FROM chunks WHERE job = ? AND id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	char jobname[32], agent[32];
	json_t *o;

	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	if (store_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such chunk: job-%lld/%s", (long long)job, chunk);
	}
	snprintf(jobname, sizeof jobname, "job-%lld", (long long)job);
	snprintf(agent, sizeof agent, "agent-%lld",
	    (long long)sqlite3_column_int64(st, 4));
	o = json_pack("{s:s, s:o, s:o, s:o, s:i, s:o, s:o}", "job", jobname,
	    "id", store_col_text(st, 0), "task", store_col_text(st, 1), "state",
	    store_col_text(st, 2), "attempts", sqlite3_column_int(st, 3),
	    "agent",
	    sqlite3_column_type(st, 4) == SQLITE_NULL ? json_null() :
	                                                json_string(agent),
	    "reason", store_col_text(st, 5));
	sqlite3_reset(st);
	json_object_set_new(o, "agents", chunk_agents(job, chunk));
	json_object_set_new(o, "checkpoints", chunk_checkpoints(job, chunk));
	json_object_set_new(ctx->reply, "chunk", o);
	return VERB_OK;
}

enum verb_rc
verb_show(struct verb_ctx *ctx)
{
	const char *target = arg_str(ctx, "target");
	const char *slash = strchr(target, '/');
	int64_t id;
	char *job;
	int rc;

	if (agent_parse_id(target, &id) == 0)
		return show_agent(ctx, id);
	if (slash == NULL) {
		if (job_parse_id(target, &id) == 0)
			return show_job(ctx, id);
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such agent or job: \"%.128s\" (expected agent-N, job-N or job-N/CHUNK)",
		    target);
	}
	job = xstrdup(target);
	job[slash - target] = '\0';
	rc = job_parse_id(job, &id);
	free(job);
	if (rc == -1)
		return verb_fail(
		    ctx, SWARM_E_NOT_FOUND, "no such job: \"%.128s\"", target);
	return show_chunk(ctx, id, slash + 1);
}

/* Resolve "job-N" to an unfinished job, or fail the request. */
static struct job *
active_job(struct verb_ctx *ctx, const char *name)
{
	static const char sql[] = "SELECT state FROM jobs WHERE id = ?";
	sqlite3_stmt *st;
	struct job *j;
	int64_t id;

	if (job_parse_id(name, &id) == -1) {
		verb_fail(
		    ctx, SWARM_E_NOT_FOUND, "no such job: \"%.128s\"", name);
		return NULL;
	}
	if ((j = job_find(id)) != NULL)
		return j;
	st = store_prepare(sql);
	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW)
		verb_fail(ctx, SWARM_E_CONFLICT, "job-%lld has ended (%s)",
		    (long long)id, sqlite3_column_text(st, 0));
	else
		verb_fail(ctx, SWARM_E_NOT_FOUND, "no such job: job-%lld",
		    (long long)id);
	sqlite3_reset(st);
	return NULL;
}

static enum verb_rc
set_paused(struct verb_ctx *ctx, int paused)
{
	static const char sql[] = "UPDATE jobs SET paused = ? WHERE id = ?";
	struct job *j = active_job(ctx, arg_str(ctx, "job"));
	sqlite3_stmt *st;
	char name[32];

	if (j == NULL)
		return VERB_ERROR;
	if (j->paused != paused) {
		store_begin();
		st = store_prepare(sql);
		sqlite3_bind_int(st, 1, paused);
		sqlite3_bind_int64(st, 2, j->id);
		store_step(st);
		evlog_add(paused ? "job_paused" : "job_resumed", j->id, NULL, 0,
		    0, NULL);
		store_commit();
		j->paused = paused;
		log_info("job-%lld %s", (long long)j->id,
		    paused ? "paused" : "resumed");
		if (!paused)
			scheduler_kick();
	}
	snprintf(name, sizeof name, "job-%lld", (long long)j->id);
	json_object_set_new(ctx->reply, "job", json_string(name));
	json_object_set_new(ctx->reply, "paused", json_boolean(paused));
	return VERB_OK;
}

enum verb_rc
verb_pause(struct verb_ctx *ctx)
{
	return set_paused(ctx, 1);
}

enum verb_rc
verb_resume(struct verb_ctx *ctx)
{
	return set_paused(ctx, 0);
}

/* An optional "job" argument: 0 for none, -1 (request failed) if bad. */
static int64_t
opt_job(struct verb_ctx *ctx)
{
	static const char sql[] = "SELECT 1 FROM jobs WHERE id = ?";
	const char *name = arg_str(ctx, "job");
	sqlite3_stmt *st;
	int64_t id;
	int found;

	if (name == NULL)
		return 0;
	if (job_parse_id(name, &id) == -1) {
		verb_fail(
		    ctx, SWARM_E_NOT_FOUND, "no such job: \"%.128s\"", name);
		return -1;
	}
	st = store_prepare(sql);
	sqlite3_bind_int64(st, 1, id);
	found = store_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (!found) {
		verb_fail(ctx, SWARM_E_NOT_FOUND, "no such job: job-%lld",
		    (long long)id);
		return -1;
	}
	return id;
}

/* Dispatched and never completed: the set difference recovery builds on. */
enum verb_rc
verb_pending(struct verb_ctx *ctx)
{
	static const char sql[] =
	    "SELECT DISTINCT d.job, d.chunk FROM events d "
	    "WHERE d.event = 'subagent_dispatched' "
	    "AND (?1 = 0 OR d.job = ?1) AND NOT EXISTS ("
	    "  SELECT 1 FROM events c WHERE c.agent = d.agent "
	    "  AND c.event = 'subagent_completed') "
	    "ORDER BY d.job, d.seq";
	int64_t job = opt_job(ctx);
	json_t *arr = json_array();
	sqlite3_stmt *st;
	char *s;

	if (job == -1) {
		json_decref(arr);
		return VERB_ERROR;
	}
	st = store_prepare(sql);
	sqlite3_bind_int64(st, 1, job);
	while (store_step(st) == SQLITE_ROW) {
		s = xasprintf("job-%lld/%s",
		    (long long)sqlite3_column_int64(st, 0),
		    sqlite3_column_text(st, 1));
		json_array_append_new(arr, json_string(s));
		free(s);
	}
	sqlite3_reset(st);
	json_object_set_new(ctx->reply, "pending", arr);
	return VERB_OK;
}

enum verb_rc
verb_events(struct verb_ctx *ctx)
{
	static const char after_sql[] =
	    "SELECT seq, ts, event, job, chunk, agent, attempt, data "
	    "FROM events WHERE (?1 = 0 OR job = ?1) AND seq > ?2 "
	    "ORDER BY seq LIMIT ?3";
	static const char last_sql[] =
	    "SELECT * FROM (SELECT seq, ts, event, job, chunk, agent, "
	    "attempt, data FROM events WHERE (?1 = 0 OR job = ?1) "
	    "ORDER BY seq DESC LIMIT ?3) ORDER BY seq";
	json_t *after = json_object_get(ctx->args, "after");
	json_t *limit = json_object_get(ctx->args, "limit");
	int64_t job = opt_job(ctx);
	json_t *arr;
	sqlite3_stmt *st;

	if (job == -1)
		return VERB_ERROR;
	st = store_prepare(after != NULL ? after_sql : last_sql);
	sqlite3_bind_int64(st, 1, job);
	sqlite3_bind_int64(
	    st, 2, after != NULL ? json_integer_value(after) : 0);
	sqlite3_bind_int64(
	    st, 3, limit != NULL ? json_integer_value(limit) : 100000);
	arr = json_array();
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(arr, evlog_row_json(st));
	sqlite3_reset(st);
	json_object_set_new(ctx->reply, "events", arr);
	if (!arg_bool(ctx, "follow"))
		return VERB_OK;
	client_reply(ctx->client, ctx->id, ctx->reply);
	evlog_follow(ctx->client, ctx->id, job);
	return VERB_DEFERRED;
}

enum verb_rc
verb_dead(struct verb_ctx *ctx)
{
	static const char sql[] =
	    "SELECT c.job, c.id, c.fail_class, c.reason, c.attempts, c.agent, "
	    "a.log FROM chunks c LEFT JOIN agents a ON a.id = c.agent "
	    "WHERE c.state = 'dead' AND (?1 = 0 OR c.job = ?1) "
	    "ORDER BY c.job, c.seq";
	int64_t job = opt_job(ctx);
	json_t *arr;
	sqlite3_stmt *st;
	char *name, agent[32];

	if (job == -1)
		return VERB_ERROR;
	arr = json_array();
	st = store_prepare(sql);
	sqlite3_bind_int64(st, 1, job);
	while (store_step(st) == SQLITE_ROW) {
		name = xasprintf("job-%lld/%s",
		    (long long)sqlite3_column_int64(st, 0),
		    sqlite3_column_text(st, 1));
		snprintf(agent, sizeof agent, "agent-%lld",
		    (long long)sqlite3_column_int64(st, 5));
		json_array_append_new(arr,
		    json_pack("{s:s, s:o, s:o, s:i, s:s, s:o}", "chunk", name,
		        "class", store_col_text(st, 2), "reason",
		        store_col_text(st, 3), "attempts",
		        sqlite3_column_int(st, 4), "agent", agent,
		        "last_output",
		        log_tail((const char *)sqlite3_column_text(st, 6), 5)));
		free(name);
	}
	sqlite3_reset(st);
	json_object_set_new(ctx->reply, "dead", arr);
	return VERB_OK;
}

/* Requeue one chunk; the caller holds the transaction. 1 if it moved. */
static int
retry_chunk(int64_t job, const char *chunk)
{
	static const char reset[] = "UPDATE chunks SET not_before = NULL, "
	                            "transient_failures = 0, "
	                            "schema_failures = 0, rejection = NULL "
	                            "WHERE job = ? AND id = ?";
	sqlite3_stmt *st;

	if (chunk_apply(job, chunk, CI_RETRY, NULL) == -1)
		return 0;
	st = store_prepare(reset);
	sqlite3_bind_int64(st, 1, job);
	store_bind_text(st, 2, chunk);
	store_step(st);
	evlog_add("retry_requested", job, chunk, 0, 0, NULL);
	return 1;
}

enum verb_rc
verb_retry(struct verb_ctx *ctx)
{
	static const char dead[] = "SELECT id FROM chunks WHERE job = ? AND "
	                           "state = 'dead' ORDER BY seq";
	static const char state[] = "SELECT state FROM chunks WHERE job = ? "
	                            "AND id = ?";
	const char *target = arg_str(ctx, "target");
	const char *slash = strchr(target, '/');
	json_t *moved = json_array();
	sqlite3_stmt *st;
	char jobname[64];
	int64_t id;
	int rc;

	snprintf(jobname, sizeof jobname, "%.*s",
	    slash != NULL ? (int)(slash - target) : (int)strlen(target),
	    target);
	rc = job_parse_id(jobname, &id);
	if (rc == -1 || (slash == NULL) != arg_bool(ctx, "dead")) {
		json_decref(moved);
		return verb_fail(ctx,
		    rc == -1 ? SWARM_E_NOT_FOUND : SWARM_E_BAD_ARGS,
		    "retry takes job-N/CHUNK, or --dead job-N; not \"%.128s\"",
		    target);
	}
	store_begin();
	if (slash != NULL) {
		st = store_prepare(state);
		sqlite3_bind_int64(st, 1, id);
		store_bind_text(st, 2, slash + 1);
		rc = store_step(st) == SQLITE_ROW;
		sqlite3_reset(st);
		if (!rc) {
			store_rollback();
			json_decref(moved);
			return verb_fail(ctx, SWARM_E_NOT_FOUND,
			    "no such chunk: %.128s", target);
		}
		if (retry_chunk(id, slash + 1))
			json_array_append_new(moved, json_string(target));
	} else {
		json_t *ids = json_array(), *v;
		size_t i;

		st = store_prepare(dead);
		sqlite3_bind_int64(st, 1, id);
		while (store_step(st) == SQLITE_ROW)
			json_array_append_new(ids, store_col_text(st, 0));
		sqlite3_reset(st);
		json_array_foreach(ids, i, v) {
			if (retry_chunk(id, json_string_value(v)))
				json_array_append_new(moved,
				    json_sprintf("job-%lld/%s", (long long)id,
				        json_string_value(v)));
		}
		json_decref(ids);
	}
	if (json_array_size(moved) > 0 && job_reopen(id) == NULL) {
		store_rollback();
		json_decref(moved);
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such job: job-%lld", (long long)id);
	}
	store_commit();
	if (json_array_size(moved) == 0) {
		json_decref(moved);
		return verb_fail(ctx, SWARM_E_CONFLICT,
		    "nothing to retry in %.128s: only failed, aborted or dead chunks are retried",
		    target);
	}
	scheduler_kick();
	json_object_set_new(ctx->reply, "requeued", moved);
	return VERB_OK;
}
