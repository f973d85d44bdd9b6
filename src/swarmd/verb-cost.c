/*
 * verb-cost.c: what the usage cost, for swarmctl cost and show job-N.
 * The meter's records (quota.c) come summed by agent and model; each
 * agent is an attempt told failed or not (agent.c); the sums are then
 * grouped by job, chunk, agent or model into rows and a total.  What a
 * failed attempt spent is the retries' share.  Spend on a model without
 * a price is unknown: its row's USD is null, not $0, and names it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

enum cost_by { BY_JOB, BY_CHUNK, BY_AGENT, BY_MODEL, BY_TOTAL };

static const char *by_names[] = { "job", "chunk", "agent", "model" };

struct cost_sum {
	struct usage use, retry;
	double usd, retry_usd;
	int retry_unknown;
	json_t *unpriced; /* the models without a price, once each */
};

struct cost_row {
	json_t *id; /* the members that name the row */
	struct cost_sum sum;
};

struct cost {
	enum cost_by by;
	int64_t since;
	json_t *index; /* a row's key to its number */
	struct cost_row *rows;
	size_t nrows, cap;
	struct cost_sum total;
	struct agent_attempt at; /* the attempt of the records at hand */
};

static void
usage_plus(struct usage *to, const struct usage *u)
{
	to->input += u->input;
	to->output += u->output;
	to->cache_creation += u->cache_creation;
	to->cache_read += u->cache_read;
}

static void
sum_add(struct cost_sum *s, const struct quota_cost *c, int failed)
{
	json_t *m;
	size_t i;

	usage_plus(&s->use, &c->use);
	s->usd += c->usd;
	if (!c->priced) {
		if (s->unpriced == NULL)
			s->unpriced = json_array();
		json_array_foreach(s->unpriced, i, m) {
			if (strcmp(json_string_value(m), c->model) == 0)
				break;
		}
		if (i == json_array_size(s->unpriced))
			json_array_append_new(
			    s->unpriced, json_string(c->model));
	}
	if (!failed)
		return;
	usage_plus(&s->retry, &c->use);
	s->retry_usd += c->usd;
	s->retry_unknown |= !c->priced;
}

static json_t *
usage_json(const struct usage *u, double usd, int known)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:o}", "input",
	    (json_int_t)u->input, "output", (json_int_t)u->output,
	    "cache_creation", (json_int_t)u->cache_creation, "cache_read",
	    (json_int_t)u->cache_read, "usd",
	    known ? json_real(usd) : json_null());
}

/* A sum as the protocol's COST object; into O if not NULL. */
static json_t *
sum_json(json_t *o, const struct cost_sum *s)
{
	json_t *u = usage_json(&s->use, s->usd, s->unpriced == NULL);

	if (o == NULL)
		o = json_object();
	json_object_update(o, u);
	json_decref(u);
	if (s->unpriced != NULL)
		json_object_set(o, "unpriced_models", s->unpriced);
	json_object_set_new(o, "retries",
	    usage_json(&s->retry, s->retry_usd, !s->retry_unknown));
	return o;
}

static json_t *
name_of(const char *prefix, int64_t id)
{
	char buf[48];

	if (id == 0)
		return json_null();
	snprintf(buf, sizeof buf, "%s%lld", prefix, (long long)id);
	return json_string(buf);
}

/* The members that name the row of C, and its key (KEY, LEN bytes). */
static json_t *
row_id(const struct cost *k, const struct quota_cost *c, char *key, size_t len)
{
	const struct agent_attempt *at = &k->at;

	key[0] = '\0';
	switch (k->by) {
	case BY_JOB:
		snprintf(key, len, "%lld", (long long)at->job);
		return json_pack("{s:o}", "job", name_of("job-", at->job));
	case BY_CHUNK:
		snprintf(key, len, "%lld/%s", (long long)at->job, at->chunk);
		return json_pack("{s:o, s:s}", "job", name_of("job-", at->job),
		    "chunk", at->chunk);
	case BY_AGENT:
		snprintf(key, len, "%lld", (long long)at->id);
		/* Agent 0 is swarmd's own triage hook, through the proxy. */
		return json_pack("{s:o, s:o, s:s, s:i, s:b}", "agent",
		    at->id == 0 ? json_string("triage") :
		                  name_of("agent-", at->id),
		    "job", name_of("job-", at->job), "chunk", at->chunk,
		    "attempt", at->attempt, "failed", at->failed);
	case BY_MODEL:
		snprintf(key, len, "%s%s", c->model != NULL ? "=" : "",
		    c->model != NULL ? c->model : "");
		return json_pack("{s:s?}", "model", c->model);
	case BY_TOTAL:
		break;
	}
	return NULL;
}

static struct cost_row *
row_of(struct cost *k, const struct quota_cost *c)
{
	char key[512];
	json_t *id = row_id(k, c, key, sizeof key), *n;
	struct cost_row *r;

	if ((n = json_object_get(k->index, key)) != NULL) {
		json_decref(id);
		return &k->rows[json_integer_value(n)];
	}
	json_object_set_new(k->index, key, json_integer((json_int_t)k->nrows));
	if (k->nrows == k->cap) {
		k->cap = k->cap != 0 ? 2 * k->cap : 16;
		k->rows = xrealloc(k->rows, k->cap * sizeof *k->rows);
	}
	r = &k->rows[k->nrows++];
	memset(r, 0, sizeof *r);
	r->id = id;
	return r;
}

/* One agent's records of one model, into its row and the total. */
static void
on_cost(void *arg, const struct quota_cost *c)
{
	struct cost *k = arg;

	/* Every agent's records come in agent order: one lookup each. */
	if (c->agent != k->at.id || k->at.job == -1) {
		memset(&k->at, 0, sizeof k->at);
		if (c->agent == 0 ||
		    agent_attempt_get(c->agent, &k->at) == -1) {
			k->at.id = c->agent;
			k->at.job = c->job;
			snprintf(k->at.chunk, sizeof k->at.chunk, "%s",
			    c->chunk != NULL ? c->chunk : "");
		}
	}
	if (k->by != BY_TOTAL)
		sum_add(&row_of(k, c)->sum, c, k->at.failed);
	sum_add(&k->total, c, k->at.failed);
}

static void
on_attempt(void *arg, const struct agent_attempt *at)
{
	struct cost *k = arg;

	k->at = *at;
	quota_cost_each(at->id, k->since, on_cost, k);
}

/* The records of JOB (0: every job's) from SINCE on, into K. */
static void
cost_run(struct cost *k, int64_t job)
{
	k->index = json_object();
	k->at.job = -1;
	if (job != 0)
		agent_attempts_each(job, on_attempt, k);
	else
		quota_cost_each(0, k->since, on_cost, k);
}

static void
cost_free(struct cost *k)
{
	size_t i;

	for (i = 0; i < k->nrows; i++) {
		json_decref(k->rows[i].id);
		json_decref(k->rows[i].sum.unpriced);
	}
	free(k->rows);
	json_decref(k->total.unpriced);
	json_decref(k->index);
}

/* JOB's cost as a COST object: show job-N's totals. */
json_t *
cost_job_json(int64_t job)
{
	struct cost k;
	json_t *o;

	memset(&k, 0, sizeof k);
	k.by = BY_TOTAL;
	cost_run(&k, job);
	o = sum_json(NULL, &k.total);
	cost_free(&k);
	return o;
}

static int
cost_by_parse(const char *s, enum cost_by *by)
{
	size_t i;

	for (i = 0; i < nitems(by_names); i++) {
		if (strcmp(s, by_names[i]) == 0) {
			*by = (enum cost_by)i;
			return 0;
		}
	}
	return -1;
}

/* The arguments: job, by and since; -1 with the request failed. */
static int
cost_args(struct verb_ctx *ctx, struct cost *k, int64_t *job)
{
	const char *name = arg_str(ctx, "job"), *by = arg_str(ctx, "by");
	const char *since = arg_str(ctx, "since");

	*job = 0;
	if (name != NULL &&
	    (job_parse_id(name, job) == -1 || !job_exists(*job))) {
		verb_fail(
		    ctx, SWARM_E_NOT_FOUND, "no such job: \"%.128s\"", name);
		return -1;
	}
	k->by = *job != 0 ? BY_CHUNK : BY_JOB;
	if (by != NULL && cost_by_parse(by, &k->by) == -1) {
		verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "cost: by \"%.128s\" is not job, chunk, agent or model",
		    by);
		return -1;
	}
	if (since != NULL &&
	    (parse_time(since, now_wall_ms(), &k->since) == -1 ||
	        k->since <= 0)) {
		verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "cost: since \"%.128s\" is neither an ISO-8601 time "
		    "(2026-11-23T12:00:00Z) nor a duration (90s, 10m, 2h, 1d)",
		    since);
		return -1;
	}
	return 0;
}

enum verb_rc
verb_cost(struct verb_ctx *ctx)
{
	struct cost k;
	json_t *rows;
	int64_t job;
	size_t i;

	memset(&k, 0, sizeof k);
	if (cost_args(ctx, &k, &job) == -1)
		return VERB_ERROR;
	cost_run(&k, job);
	rows = json_array();
	for (i = 0; i < k.nrows; i++)
		json_array_append_new(
		    rows, sum_json(json_incref(k.rows[i].id), &k.rows[i].sum));
	json_object_set_new(ctx->reply, "by", json_string(by_names[k.by]));
	json_object_set_new(ctx->reply, "rows", rows);
	json_object_set_new(ctx->reply, "total", sum_json(NULL, &k.total));
	cost_free(&k);
	return VERB_OK;
}
