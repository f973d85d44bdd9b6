/*
 * verb-job.c: the operator verbs about jobs and chunks: submit, jobs,
 * show, pause, resume, pending, events, dead and retry.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

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

/* The model a job names: --model in its command, else ANTHROPIC_MODEL. */
static const char *
job_model(struct jobspec *js)
{
	const char *s, *model = NULL;
	json_t *v;
	size_t i;

	json_array_foreach(js->command, i, v) {
		s = json_string_value(v);
		if (s != NULL && strcmp(s, "--model") == 0)
			model = json_string_value(
			    json_array_get(js->command, i + 1));
		else if (s != NULL && strncmp(s, "--model=", 8) == 0)
			model = s + 8;
	}
	if (model == NULL)
		model = json_string_value(
		    json_object_get(js->env, "ANTHROPIC_MODEL"));
	return model;
}

/* A model without a price: its spend is unknown, daily_usd blind to it. */
static void
price_warning(struct verb_ctx *ctx, struct jobspec *js)
{
	const char *model = job_model(js);
	json_t *w;

	if (model == NULL || *model == '\0' || quota_priced(model))
		return;
	if ((w = json_object_get(ctx->reply, "warnings")) == NULL) {
		w = json_array();
		json_object_set_new(ctx->reply, "warnings", w);
	}
	json_array_append_new(w,
	    json_sprintf("model %s has no price in [prices]: its spend counts "
	                 "as unknown, and daily_usd cannot be enforced for it",
	        model));
}

enum verb_rc
verb_submit(struct verb_ctx *ctx)
{
	json_t *problems = json_array();
	struct jobspec js;
	char err[256] = "";

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
	price_warning(ctx, &js);
	/* Its repository is asked first, off the loop. */
	if (js.worktree != NULL)
		return verb_submit_worktree(ctx, &js);
	if (verb_submit_store(ctx->reply, &js, arg_bool(ctx, "dry_run"), err,
	        sizeof err) == -1)
		return verb_fail(ctx, SWARM_E_INTERNAL, "%s", err);
	return VERB_OK;
}

/* A checked job stored (or only counted, for a dry run); JS is freed. */
int
verb_submit_store(
    json_t *reply, struct jobspec *js, int dry_run, char *err, size_t errlen)
{
	char name[32];
	int64_t id;

	json_object_set_new(reply, "chunks",
	    json_integer((json_int_t)json_array_size(js->chunks)));
	json_object_set_new(
	    reply, "concurrency", json_integer(js->concurrency));
	if (dry_run) {
		json_object_set_new(reply, "dry_run", json_true());
		jobspec_free(js);
		return 0;
	}
	id = job_submit(js, err, errlen);
	jobspec_free(js);
	if (id == 0)
		return -1;
	snprintf(name, sizeof name, "job-%lld", (long long)id);
	json_object_set_new(reply, "job", json_string(name));
	return 0;
}

enum verb_rc
verb_jobs(struct verb_ctx *ctx)
{
	const char *state = arg_str(ctx, "state");

	if (state != NULL && strcmp(state, "running") != 0 &&
	    strcmp(state, "done") != 0 && strcmp(state, "aborted") != 0)
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "jobs: state \"%.128s\" is not running, done or aborted",
		    state);
	json_object_set_new(ctx->reply, "jobs", job_list_json(state));
	return VERB_OK;
}

/* A chunk in a worktree, or its agent: the chunk's worktree, commits
 * and snapshots, added to O. */
static void
show_work(json_t *o, int64_t job, const char *chunk)
{
	struct wt_row w;

	if (chunk == NULL || worktree_get(job, chunk, &w) == -1)
		return;
	json_object_set_new(o, "worktree",
	    json_pack("{s:s, s:s, s:s}", "path", w.path, "branch", w.branch,
	        "state", worktree_state_name(w.state)));
	json_object_set_new(o, "commits", worktree_commits_json(job, chunk));
	json_object_set_new(
	    o, "snapshots", worktree_snapshots_json(job, chunk));
	worktree_row_free(&w);
}

static enum verb_rc
show_agent(struct verb_ctx *ctx, int64_t id)
{
	json_t *agent = agent_show_json(id);
	int64_t job;

	if (agent == NULL)
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such agent: agent-%lld", (long long)id);
	json_object_set_new(ctx->reply, "agent", agent);
	json_object_set_new(agent, "usage", quota_agent_json(id));
	if (job_parse_id(
	        json_string_value(json_object_get(agent, "job")), &job) == 0)
		show_work(agent, job,
		    json_string_value(json_object_get(agent, "chunk")));
	/* Its notes: a hook's tools and subagents among them. */
	json_object_set_new(agent, "heartbeats", evlog_heartbeats_json(id));
	return VERB_OK;
}

static enum verb_rc
show_job(struct verb_ctx *ctx, int64_t id)
{
	json_t *job = job_show_json(id);

	if (job == NULL)
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such job: job-%lld", (long long)id);
	json_object_set_new(job, "chunks", chunk_list_json(id));
	json_object_set_new(job, "cost", cost_job_json(id));
	if (job_find(id) != NULL)
		json_object_set_new(job, "stagger", stagger_json(job_find(id)));
	json_object_set_new(ctx->reply, "job", job);
	return VERB_OK;
}

/*
 * The chunk's attempts, oldest first: each agent's row (how it ended,
 * its summary and result) with its latest checkpoint and what it spent.
 */
static json_t *
show_attempts(int64_t job, const char *chunk)
{
	json_t *agents = agent_chunk_list_json(job, chunk), *a;
	int64_t id;
	size_t i;

	json_array_foreach(agents, i, a) {
		if (agent_parse_id(
		        json_string_value(json_object_get(a, "agent")), &id) ==
		    -1)
			continue;
		json_object_set_new(
		    a, "checkpoint", checkpoint_of_agent_json(job, chunk, id));
		json_object_set_new(a, "usage", quota_agent_json(id));
	}
	return agents;
}

static enum verb_rc
show_chunk(struct verb_ctx *ctx, int64_t job, const char *chunk)
{
	json_t *o = chunk_show_json(job, chunk);

	if (o == NULL)
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such chunk: job-%lld/%s", (long long)job, chunk);
	json_object_set_new(o, "agents", show_attempts(job, chunk));
	json_object_set_new(o, "checkpoints", checkpoint_list_json(job, chunk));
	show_work(o, job, chunk);
	json_object_set_new(ctx->reply, "chunk", o);
	return VERB_OK;
}

enum verb_rc
verb_show(struct verb_ctx *ctx)
{
	const char *target = arg_str(ctx, "target");
	enum verb_rc vrc;
	int64_t id;
	char *chunk;
	int rc;

	if (agent_parse_id(target, &id) == 0)
		return show_agent(ctx, id);
	if ((rc = verb_target_chunk(ctx, target, &id, &chunk)) == -1)
		return VERB_ERROR;
	if (rc == 1) {
		vrc = show_chunk(ctx, id, chunk);
		free(chunk);
		return vrc;
	}
	if (job_parse_id(target, &id) == 0)
		return show_job(ctx, id);
	return verb_fail(ctx, SWARM_E_NOT_FOUND,
	    "no such agent or job: \"%.128s\" (expected agent-N, job-N or job-N/CHUNK)",
	    target);
}

/* Resolve "job-N" to an unfinished job, or fail the request. */
static struct job *
active_job(struct verb_ctx *ctx, const char *name)
{
	struct job *j;
	int64_t id;
	char *state;

	if (job_parse_id(name, &id) == -1) {
		verb_fail(
		    ctx, SWARM_E_NOT_FOUND, "no such job: \"%.128s\"", name);
		return NULL;
	}
	if ((j = job_find(id)) != NULL)
		return j;
	if ((state = job_state(id)) != NULL)
		verb_fail(ctx, SWARM_E_CONFLICT, "job-%lld has ended (%s)",
		    (long long)id, state);
	else
		verb_fail(ctx, SWARM_E_NOT_FOUND, "no such job: job-%lld",
		    (long long)id);
	free(state);
	return NULL;
}

static enum verb_rc
set_paused(struct verb_ctx *ctx, int paused)
{
	struct job *j = active_job(ctx, arg_str(ctx, "job"));
	char name[32];

	if (j == NULL)
		return VERB_ERROR;
	job_set_paused(j, paused);
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
	const char *name = arg_str(ctx, "job");
	int64_t id;

	if (name == NULL)
		return 0;
	if (job_parse_id(name, &id) == -1) {
		verb_fail(
		    ctx, SWARM_E_NOT_FOUND, "no such job: \"%.128s\"", name);
		return -1;
	}
	if (!job_exists(id)) {
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
	int64_t job = opt_job(ctx);

	if (job == -1)
		return VERB_ERROR;
	json_object_set_new(ctx->reply, "pending", evlog_pending_json(job));
	return VERB_OK;
}

/*
 * The events arguments that narrow the log: job, agent (agent-N, or a
 * chunk's name for its agent), type and since (an ISO-8601 time or a
 * duration before now).  -1 with the request failed if one is bad.
 */
static int
events_filter(struct verb_ctx *ctx, struct evlog_filter *f)
{
	const char *agent = arg_str(ctx, "agent");
	const char *since = arg_str(ctx, "since");
	char *state;

	memset(f, 0, sizeof *f);
	if ((f->job = opt_job(ctx)) == -1)
		return -1;
	if (agent != NULL) {
		int rc = verb_target_agent(ctx, agent, &f->agent);

		if (rc == 0)
			verb_fail(ctx, SWARM_E_NOT_FOUND,
			    "no such agent: \"%.128s\" (expected agent-N or job-N/CHUNK)",
			    agent);
		if (rc != 1)
			return -1;
		if ((state = agent_stored_state(f->agent)) == NULL) {
			verb_fail(ctx, SWARM_E_NOT_FOUND,
			    "no such agent: agent-%lld", (long long)f->agent);
			return -1;
		}
		free(state);
	}
	f->type = arg_str(ctx, "type");
	if (since != NULL &&
	    (parse_time(since, now_wall_ms(), &f->since) == -1 ||
	        f->since <= 0)) {
		verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "events: since \"%.128s\" is neither an ISO-8601 time "
		    "(2026-11-23T12:00:00Z) nor a duration (90s, 10m, 2h, 1d)",
		    since);
		return -1;
	}
	return 0;
}

/*
 * A page of events: the newest LIMIT, or LIMIT after seq AFTER, and
 * whether there are more.  A follower is followed from the newest event
 * only: a page that stops short of it is answered without following, and
 * the client asks again after its last event.
 */
enum verb_rc
verb_events(struct verb_ctx *ctx)
{
	json_t *after = json_object_get(ctx->args, "after");
	json_t *limit = json_object_get(ctx->args, "limit");
	int64_t from, n = EVENTS_PAGE;
	int more, follow = arg_bool(ctx, "follow");
	struct evlog_filter f;

	if (limit != NULL) {
		n = json_integer_value(limit);
		if (n < 0 || n > EVENTS_LIMIT_MAX)
			return verb_fail(ctx, SWARM_E_BAD_ARGS,
			    "events: limit must be from 0 to %d; page with \"after\" for more",
			    EVENTS_LIMIT_MAX);
	}
	if (events_filter(ctx, &f) == -1)
		return VERB_ERROR;
	from = after != NULL ? json_integer_value(after) : 0;
	json_object_set_new(ctx->reply, "events",
	    evlog_list_json(&f, after != NULL ? &from : NULL, n, &more));
	json_object_set_new(ctx->reply, "more", json_boolean(more));
	if (!follow)
		return VERB_OK;
	follow = !more || after == NULL;
	json_object_set_new(ctx->reply, "following", json_boolean(follow));
	if (!follow)
		return VERB_OK;
	client_reply(ctx->client, ctx->id, ctx->reply);
	evlog_follow(ctx->client, ctx->id, &f);
	return VERB_DEFERRED;
}

enum verb_rc
verb_dead(struct verb_ctx *ctx)
{
	int64_t job = opt_job(ctx);

	if (job == -1)
		return VERB_ERROR;
	json_object_set_new(ctx->reply, "dead", chunk_dead_json(job));
	return VERB_OK;
}

/* Requeue one chunk; the caller holds the transaction. 1 if it moved. */
static int
retry_chunk(int64_t job, const char *chunk)
{
	if (chunk_retry(job, chunk) == -1)
		return 0;
	evlog_add("retry_requested", job, chunk, 0, 0, NULL);
	return 1;
}

/* Every dead chunk of job ID back to the queue; the names moved. */
static json_t *
retry_dead(int64_t id)
{
	json_t *moved = json_array(), *ids = chunk_dead_ids(id), *v;
	size_t i;

	json_array_foreach(ids, i, v) {
		if (retry_chunk(id, json_string_value(v)))
			json_array_append_new(moved,
			    json_sprintf("job-%lld/%s", (long long)id,
			        json_string_value(v)));
	}
	json_decref(ids);
	return moved;
}

/* TARGET: job-N/CHUNK or agent-N (its chunk), or job-N with dead. */
enum verb_rc
verb_retry(struct verb_ctx *ctx)
{
	const char *target = arg_str(ctx, "target");
	int dead = arg_bool(ctx, "dead");
	json_t *moved;
	char *chunk = NULL;
	int64_t id;
	int rc;

	if ((rc = verb_target_chunk(ctx, target, &id, &chunk)) == -1)
		return VERB_ERROR;
	if (rc == 0 && job_parse_id(target, &id) == -1)
		rc = -1; /* no name at all */
	if (rc == -1 || (rc == 1) == dead) {
		free(chunk);
		return verb_fail(ctx,
		    rc == -1 ? SWARM_E_NOT_FOUND : SWARM_E_BAD_ARGS,
		    "retry takes job-N/CHUNK or agent-N, or --dead job-N; not \"%.128s\"",
		    target);
	}
	if (prune_busy(id)) {
		free(chunk);
		return verb_fail(ctx, SWARM_E_CONFLICT,
		    "job-%lld is being pruned", (long long)id);
	}
	store_begin();
	if (chunk != NULL) {
		moved = json_array();
		if (retry_chunk(id, chunk))
			json_array_append_new(moved,
			    json_sprintf("job-%lld/%s", (long long)id, chunk));
	} else
		moved = retry_dead(id);
	if (json_array_size(moved) > 0 && job_reopen(id) == NULL) {
		store_rollback();
		json_decref(moved);
		free(chunk);
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such job: job-%lld", (long long)id);
	}
	store_commit();
	free(chunk);
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
