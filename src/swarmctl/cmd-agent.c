/*
 * cmd-agent.c: the verbs about agents, and their printers: ps, abort,
 * send, logs and quota.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm-protocol.h"
#include "util.h"
#include "client.h"
#include "cmd.h"
#include "format.h"

/* How long each logs --follow request waits for new output. */
#define CMD_LOGS_WAIT 5

int
cmd_ps(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	cmd_opt_arg(ctx, args, "job", "job");
	if (cmd_opt(ctx, "all") != NULL)
		json_object_set_new(args, "all", json_true());
	if ((rc = client_call(ctx, "ps", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_json(json_object_get(resp, "agents"));
	else
		format_agents(json_object_get(resp, "agents"),
		    cmd_opt(ctx, "all") != NULL);
	json_decref(resp);
	return 0;
}

/* "agent-1, agent-2" from an array of names. */
static char *
join_names(json_t *names)
{
	char *s = xstrdup(""), *next;
	size_t i;

	for (i = 0; i < json_array_size(names); i++) {
		json_t *n = json_array_get(names, i);

		if (!json_is_string(n))
			continue;
		next = xasprintf(
		    "%s%s%s", s, *s != '\0' ? ", " : "", json_string_value(n));
		free(s);
		s = next;
	}
	return s;
}

int
cmd_abort(struct cmd_ctx *ctx)
{
	json_t *args, *resp;
	const char *msg;
	char *names;
	int rc;

	args = json_pack("{s:s}", "target", ctx->argv[0]);
	if (cmd_opt_seconds(ctx, "grace", args, "grace") == -1) {
		json_decref(args);
		return cmd_usage_error(ctx,
		    "bad --grace \"%s\": expected seconds (30, 30s, 2m)",
		    cmd_opt(ctx, "grace"));
	}
	cmd_opt_arg(ctx, args, "reason", "reason");
	if ((rc = client_call(ctx, "abort", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	else if ((msg = format_member(resp, "message")) != NULL)
		printf("%s\n", msg);
	else {
		names = join_names(json_object_get(resp, "aborted"));
		printf("aborted: %s\n", *names != '\0' ? names : "none");
		free(names);
	}
	json_decref(resp);
	return 0;
}

int
cmd_send(struct cmd_ctx *ctx)
{
	json_t *resp;
	char *text = xstrdup(ctx->argv[1]), *next;
	int i, rc;

	for (i = 2; i < ctx->argc; i++) {
		next = xasprintf("%s %s", text, ctx->argv[i]);
		free(text);
		text = next;
	}
	rc = client_call(ctx, "send",
	    json_pack("{s:s, s:s}", "target", ctx->argv[0], "text", text),
	    &resp);
	free(text);
	if (rc != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	else {
		char *names = join_names(json_object_get(resp, "sent"));

		if (*names != '\0')
			printf("sent to %s\n", names);
		else
			printf("sent to no agent: none is running\n");
		free(names);
	}
	json_decref(resp);
	return 0;
}

/*
 * One logs request for *NAME from OFFSET (with TAIL >= 0, from its last
 * TAIL lines instead); *NEXT is where the next one starts.  A chunk's
 * name becomes the agent swarmd answered for, so a follower stays with
 * one attempt's log.
 */
static int
logs_once(struct cmd_ctx *ctx, char **name, json_int_t offset, long long tail,
    int wait, json_int_t *next, int *more)
{
	json_t *args, *resp, *data, *off;
	const char *agent;
	size_t len;
	int rc;

	args = json_pack("{s:s}", "agent", *name);
	if (tail >= 0)
		json_object_set_new(args, "tail", json_integer(tail));
	else
		json_object_set_new(args, "offset", json_integer(offset));
	if (wait)
		json_object_set_new(args, "wait", json_integer(CMD_LOGS_WAIT));
	if ((rc = client_call(ctx, "logs", args, &resp)) != 0)
		return rc;
	data = json_object_get(resp, "data");
	len = json_string_length(data);
	if (ctx->json)
		format_reply(resp);
	else
		format_write(json_string_value(data), len);
	format_flush();
	if ((agent = format_member(resp, "agent")) != NULL) {
		free(*name);
		*name = xstrdup(agent);
	}
	off = json_object_get(resp, "offset");
	*next = json_integer_value(off);
	/* Done once the agent ended and its log has nothing more. */
	*more = json_is_integer(off) &&
	    (len > 0 || !json_is_true(json_object_get(resp, "ended")));
	json_decref(resp);
	return 0;
}

/* One agent's log (its last TAIL lines if TAIL >= 0), then following. */
static int
logs_agent(struct cmd_ctx *ctx, const char *target, long long tail, int follow)
{
	char *name = xstrdup(target);
	json_int_t offset = 0;
	int more, rc;

	rc = logs_once(ctx, &name, offset, tail, 0, &offset, &more);
	while (rc == 0 && follow && more)
		rc = logs_once(ctx, &name, offset, -1, 1, &offset, &more);
	free(name);
	return rc;
}

/* The attempts at the chunk TARGET names (itself, or an agent's). */
static int
logs_attempts(struct cmd_ctx *ctx, const char *target, json_t **agents)
{
	json_t *resp, *a;
	char *chunk;
	int rc;

	if (strchr(target, '/') != NULL)
		chunk = xstrdup(target);
	else {
		rc = client_call(
		    ctx, "show", json_pack("{s:s}", "target", target), &resp);
		if (rc != 0)
			return rc;
		a = json_object_get(resp, "agent");
		chunk = xasprintf("%s/%s", format_member(a, "job"),
		    format_member(a, "chunk"));
		json_decref(resp);
	}
	rc = client_call(
	    ctx, "show", json_pack("{s:s}", "target", chunk), &resp);
	free(chunk);
	if (rc != 0)
		return rc;
	*agents = json_incref(
	    json_object_get(json_object_get(resp, "chunk"), "agents"));
	json_decref(resp);
	return 0;
}

/* --all: every attempt's log, oldest first, each under a header. */
static int
logs_all(struct cmd_ctx *ctx, long long tail, int follow)
{
	json_t *agents, *a;
	size_t i, n;
	int rc;

	if ((rc = logs_attempts(ctx, ctx->argv[0], &agents)) != 0)
		return rc;
	/* Never ran: swarmd says so for the chunk's name. */
	if ((n = json_array_size(agents)) == 0)
		rc = logs_agent(ctx, ctx->argv[0], tail, follow);
	for (i = 0; rc == 0 && i < n; i++) {
		a = json_array_get(agents, i);
		if (!ctx->json) {
			printf("%s==> %s (attempt %lld, %s) <==\n",
			    i > 0 ? "\n" : "", format_member(a, "agent"),
			    (long long)json_integer_value(
			        json_object_get(a, "attempt")),
			    format_member(a, "state"));
			format_flush();
		}
		rc = logs_agent(
		    ctx, format_member(a, "agent"), tail, follow && i == n - 1);
	}
	json_decref(agents);
	return rc;
}

/*
 * With --follow, ask again from the new offset until the agent ended;
 * --tail N starts at its last N lines; --all shows every attempt.
 */
int
cmd_logs(struct cmd_ctx *ctx)
{
	const char *tail = cmd_opt(ctx, "tail");
	int follow = cmd_opt(ctx, "follow") != NULL;
	long long n = -1;

	if (tail != NULL && parse_int(tail, 0, LLONG_MAX, &n) == -1)
		return cmd_usage_error(
		    ctx, "bad --tail \"%s\": expected a count of lines", tail);
	if (cmd_opt(ctx, "all") != NULL)
		return logs_all(ctx, n, follow);
	return logs_agent(ctx, ctx->argv[0], n, follow);
}

/* The proxy's queues: what waits, what upstream refused on the way. */
static void
print_proxy_queues(json_t *pq)
{
	const char *name;
	json_t *v;

	json_object_foreach(pq, name, v) {
		json_int_t req =
		    json_integer_value(json_object_get(v, "requests"));
		double hold =
		    json_number_value(json_object_get(v, "hold_seconds"));

		if (req == 0 && hold == 0)
			continue;
		printf("proxy %s: %lld queued, %lld in flight", name,
		    (long long)json_integer_value(json_object_get(v, "queued")),
		    (long long)json_integer_value(
		        json_object_get(v, "in_flight")));
		if (hold > 0)
			printf(", holding %.1f s", hold);
		printf(
		    "; %lld requests, %lld 429s absorbed, %lld sent to agents\n",
		    (long long)req,
		    (long long)json_integer_value(
		        json_object_get(v, "absorbed_429")),
		    (long long)json_integer_value(
		        json_object_get(v, "refused_429")));
	}
}

/* The quota windows: how much of each is used, and when it refills. */
static void
print_quota_windows(json_t *w)
{
	char pct[32], refill[FORMAT_AGE_LEN];
	struct table *t;
	size_t i;

	t = format_table_new("WINDOW LIMIT USED PERCENT REFILL");
	for (i = 0; i < json_array_size(w); i++) {
		json_t *r = json_array_get(w, i);

		/* Tokens are whole; only the day's spend has cents. */
		const char *name = format_member(r, "name");
		const char *fmt =
		    name != NULL && strcmp(name, "daily_usd") == 0 ? "%.2f" :
		                                                     "%.0f";

		format_table_row(t);
		format_table_cell(t, format_member(r, "name"));
		snprintf(pct, sizeof pct, fmt,
		    json_number_value(json_object_get(r, "limit")));
		format_table_cell(t, pct);
		snprintf(pct, sizeof pct, fmt,
		    json_number_value(json_object_get(r, "used")));
		format_table_cell(t, pct);
		snprintf(pct, sizeof pct, "%.1f%%",
		    json_number_value(json_object_get(r, "percent")));
		format_table_cell(t, pct);
		format_table_cell(t,
		    format_age((int64_t)(1000 *
		                   json_number_value(
		                       json_object_get(r, "refill_seconds"))),
		        refill));
	}
	if (json_array_size(w) == 0)
		printf(
		    "no quota windows configured ([quota] in swarmd.conf)\n");
	else
		format_table_print(t, stdout);
	format_table_free(t);
}

/* Whether agents may be spawned, and the subscriptions' states. */
static void
print_quota_spawn(json_t *spawn, json_t *sub)
{
	const char *type;
	json_t *v;
	void *it;

	printf("spawn: %s", format_member(spawn, "state"));
	if (json_is_string(json_object_get(spawn, "reason")))
		printf(" (%s)", format_member(spawn, "reason"));
	printf("\n");
	for (it = json_object_iter(sub); it != NULL;
	     it = json_object_iter_next(sub, it)) {
		type = json_object_iter_key(it);
		v = json_object_iter_value(it);
		printf("subscription %s: %s, resets at %lld\n", type,
		    format_member(v, "status"),
		    (long long)json_integer_value(
		        json_object_get(v, "resets_at")));
	}
}

/* The upstream's own view, as its rate-limit headers last said. */
static void
print_quota_upstream(json_t *sub)
{
	const char *kinds[] = { "requests", "tokens", "input-tokens",
		"output-tokens" };
	const char *type;
	json_t *v, *lim, *rem;
	char key[64];
	void *it;
	size_t k;

	for (it = json_object_iter(sub); it != NULL;
	     it = json_object_iter_next(sub, it)) {
		type = json_object_iter_key(it);
		v = json_object_iter_value(it);
		for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
			snprintf(key, sizeof key, "%s-limit", kinds[k]);
			lim = json_object_get(v, key);
			snprintf(key, sizeof key, "%s-remaining", kinds[k]);
			rem = json_object_get(v, key);
			if (!json_is_integer(lim) || !json_is_integer(rem))
				continue;
			snprintf(key, sizeof key, "%s-reset", kinds[k]);
			printf("upstream %s %s: %lld of %lld left, reset %s\n",
			    type, kinds[k], (long long)json_integer_value(rem),
			    (long long)json_integer_value(lim),
			    json_is_string(json_object_get(v, key)) ?
			        format_member(v, key) :
			        "-");
		}
	}
}

/* The agents that spent the most in the window, if any did. */
static void
print_quota_top(json_t *top)
{
	struct table *t;
	char usd[32];
	size_t i;

	if (json_array_size(top) == 0)
		return;
	t = format_table_new(
	    "AGENT TOTAL INPUT OUTPUT CACHE_WRITE CACHE_READ USD");
	for (i = 0; i < json_array_size(top); i++) {
		json_t *r = json_array_get(top, i);

		format_table_row(t);
		format_table_cell(t, format_member(r, "agent"));
		format_table_json(t, json_object_get(r, "total"));
		format_table_json(t, json_object_get(r, "input"));
		format_table_json(t, json_object_get(r, "output"));
		format_table_json(t, json_object_get(r, "cache_creation"));
		format_table_json(t, json_object_get(r, "cache_read"));
		snprintf(usd, sizeof usd, "%.4f",
		    json_number_value(json_object_get(r, "usd")));
		format_table_cell(t, usd);
	}
	printf("\ntop consumers in the window:\n");
	format_table_print(t, stdout);
	format_table_free(t);
}

/* Spend on these is unknown: daily_usd cannot see it. */
static void
print_quota_unpriced(json_t *models)
{
	size_t i;

	for (i = 0; i < json_array_size(models); i++)
		printf("warning: model %s has no price in [prices]: its spend "
		       "is unknown, and daily_usd cannot be enforced for it\n",
		    json_string_value(json_array_get(models, i)));
}

static void
print_quota(json_t *q)
{
	print_quota_windows(json_object_get(q, "windows"));
	print_quota_unpriced(json_object_get(q, "unpriced_models"));
	print_quota_spawn(
	    json_object_get(q, "spawn"), json_object_get(q, "subscription"));
	print_quota_upstream(json_object_get(q, "upstream"));
	print_proxy_queues(json_object_get(q, "proxy_queues"));
	print_quota_top(json_object_get(q, "top"));
}

int
cmd_quota(struct cmd_ctx *ctx)
{
	json_t *resp;
	int rc;

	if ((rc = client_call(ctx, "quota", json_object(), &resp)) != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	else
		print_quota(resp);
	json_decref(resp);
	return 0;
}

/* ---- cost ---- */

/* USD as the cost tables show it: "?" when a price is missing. */
static const char *
cost_usd(json_t *o, char *buf, size_t len)
{
	json_t *v = json_object_get(o, "usd");

	if (!json_is_number(v))
		return "?";
	snprintf(buf, len, "%.4f", json_number_value(v));
	return buf;
}

/* The cells that name a row: its job, chunk, agent or model. */
static void
cost_row_name(struct table *t, const char *by, json_t *r)
{
	char *chunk;

	if (strcmp(by, "chunk") == 0) {
		chunk = xasprintf("%s/%s", format_member(r, "job"),
		    format_member(r, "chunk"));
		format_table_cell(t, chunk);
		free(chunk);
	} else if (strcmp(by, "agent") == 0) {
		format_table_cell(t, format_member(r, "agent"));
		chunk = xasprintf("%s/%s",
		    format_member(r, "job") != NULL ? format_member(r, "job") :
		                                      "-",
		    format_member(r, "chunk"));
		format_table_cell(t, chunk);
		free(chunk);
		format_table_json(t, json_object_get(r, "attempt"));
		format_table_cell(t,
		    json_is_true(json_object_get(r, "failed")) ? "yes" : "no");
	} else
		format_table_json(t, json_object_get(r, by));
}

static void
cost_row(struct table *t, const char *by, json_t *r, int total)
{
	char usd[32], retry[32];

	format_table_row(t);
	if (total) {
		format_table_cell(t, "total");
		if (strcmp(by, "agent") == 0) {
			format_table_cell(t, "");
			format_table_cell(t, "");
			format_table_cell(t, "");
		}
	} else
		cost_row_name(t, by, r);
	format_table_json(t, json_object_get(r, "input"));
	format_table_json(t, json_object_get(r, "output"));
	format_table_json(t, json_object_get(r, "cache_creation"));
	format_table_json(t, json_object_get(r, "cache_read"));
	format_table_cell(t, cost_usd(r, usd, sizeof usd));
	format_table_cell(
	    t, cost_usd(json_object_get(r, "retries"), retry, sizeof retry));
}

/* Spend on these is unknown: "?" in the USD columns says where. */
static void
print_cost_unpriced(json_t *total)
{
	json_t *models = json_object_get(total, "unpriced_models");
	size_t i;

	for (i = 0; i < json_array_size(models); i++)
		printf("warning: model %s has no price in [prices]: its spend "
		       "is unknown\n",
		    json_string_value(json_array_get(models, i)));
}

static void
print_cost(json_t *resp)
{
	const char *by = format_member(resp, "by");
	json_t *rows = json_object_get(resp, "rows");
	struct table *t;
	char head[128];
	size_t i;

	if (by == NULL)
		by = "job";
	snprintf(head, sizeof head,
	    "%s INPUT OUTPUT CACHE_WRITE CACHE_READ USD RETRIES_USD",
	    strcmp(by, "agent") == 0     ? "AGENT CHUNK ATTEMPT FAILED" :
	        strcmp(by, "chunk") == 0 ? "CHUNK" :
	        strcmp(by, "model") == 0 ? "MODEL" :
	                                   "JOB");
	t = format_table_new(head);
	for (i = 0; i < json_array_size(rows); i++)
		cost_row(t, by, json_array_get(rows, i), 0);
	cost_row(t, by, json_object_get(resp, "total"), 1);
	format_table_print(t, stdout);
	format_table_free(t);
	print_cost_unpriced(json_object_get(resp, "total"));
}

/* A COST object on one line: show job-N's totals. */
void
cmd_print_cost(const char *label, json_t *c)
{
	char usd[32], retry[32];

	if (!json_is_object(c))
		return;
	printf("%s: $%s (retries $%s); tokens in %lld, out %lld, cache write "
	       "%lld, cache read %lld\n",
	    label, cost_usd(c, usd, sizeof usd),
	    cost_usd(json_object_get(c, "retries"), retry, sizeof retry),
	    (long long)json_integer_value(json_object_get(c, "input")),
	    (long long)json_integer_value(json_object_get(c, "output")),
	    (long long)json_integer_value(json_object_get(c, "cache_creation")),
	    (long long)json_integer_value(json_object_get(c, "cache_read")));
	print_cost_unpriced(c);
}

int
cmd_cost(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	if (ctx->argc > 0)
		json_object_set_new(args, "job", json_string(ctx->argv[0]));
	cmd_opt_arg(ctx, args, "by", "by");
	if ((rc = cmd_opt_since(ctx, args)) != 0) {
		json_decref(args);
		return rc;
	}
	if ((rc = client_call(ctx, "cost", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	else
		print_cost(resp);
	json_decref(resp);
	return 0;
}
