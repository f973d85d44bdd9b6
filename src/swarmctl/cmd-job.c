/*
 * cmd-job.c: the verbs about jobs and chunks, and their printers: submit,
 * jobs, show, pause, resume, events, pending, dead and retry.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm-protocol.h"
#include "util.h"
#include "client.h"
#include "cmd.h"
#include "format.h"

static int
load_job(const char *path, json_t **job)
{
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	json_error_t jerr;
	size_t len;
	char *buf;

	if (cmd_read_file(path, CMD_MAX_FILE, &buf, &len) == -1) {
		fprintf(stderr, "swarmctl: %s: %s\n", name, strerror(errno));
		return SWARM_EXIT_ERROR;
	}
	/*
	 * Any value: the daemon says what a job must be.  Duplicate keys
	 * are refused here, as the daemon refuses them in a request.
	 */
	*job = json_loadb(
	    buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (*job == NULL) {
		fprintf(stderr, "swarmctl: %s:%d:%d: %s\n", name, jerr.line,
		    jerr.column, jerr.text);
		return SWARM_EXIT_ERROR;
	}
	return 0;
}

/* The pre-flight plan, as submit --dry-run shows it in text. */
static void
print_plan(json_t *plan)
{
	json_int_t fanout, asked;

	if (!json_is_object(plan))
		return;
	fanout = json_integer_value(json_object_get(plan, "concurrency"));
	asked = json_integer_value(json_object_get(plan, "safe_fanout"));
	printf("plan: %lld agents at once (the quota left, %lld tokens, "
	       "carries %lld at %lld each)\n",
	    (long long)fanout,
	    (long long)json_integer_value(
	        json_object_get(plan, "remaining_tokens")),
	    (long long)asked,
	    (long long)json_integer_value(
	        json_object_get(plan, "per_agent_tokens")));
	printf("      %lld batches over %.15g s; the job needs %.15g tokens, "
	       "%.15g s of refill past what is left\n",
	    (long long)json_integer_value(json_object_get(plan, "batches")),
	    json_number_value(json_object_get(plan, "ramp_seconds")),
	    json_number_value(json_object_get(plan, "need_tokens")),
	    json_number_value(json_object_get(plan, "drain_seconds")));
}

int
cmd_submit(struct cmd_ctx *ctx)
{
	json_t *job, *args, *resp, *warnings;
	const char *id;
	size_t i;
	int rc;

	if ((rc = load_job(ctx->argv[0], &job)) != 0)
		return rc;
	args = json_pack("{s:o}", "job", job);
	if (cmd_opt(ctx, "dry-run") != NULL)
		json_object_set_new(args, "dry_run", json_true());
	if (cmd_opt(ctx, "strict") != NULL)
		json_object_set_new(args, "strict", json_true());
	if ((rc = client_call(ctx, "submit", args, &resp)) != 0)
		return rc;
	warnings = json_object_get(resp, "warnings");
	for (i = 0; i < json_array_size(warnings); i++) {
		json_t *w = json_array_get(warnings, i);

		if (json_is_string(w))
			fprintf(stderr, "swarmctl: warning: %s\n",
			    json_string_value(w));
	}
	if (ctx->json)
		format_reply(resp);
	else if ((id = format_member(resp, "job")) != NULL)
		printf("%s\n", id);
	else {
		printf("valid: %" JSON_INTEGER_FORMAT
		       " chunks; nothing was stored (dry run)\n",
		    json_integer_value(json_object_get(resp, "chunks")));
		print_plan(json_object_get(resp, "plan"));
	}
	json_decref(resp);
	return 0;
}

/*
 * A job's state as people read it: a job that is over but left chunks
 * failed, aborted or dead is no plain "done" ("done (2 dead)").  The
 * JSON keeps the state as swarmd gives it, beside the counts.
 */
static const char *
job_state_text(json_t *j, char *buf, size_t len)
{
	static const char *bad[] = { "failed", "aborted", "dead" };
	const char *state = format_member(j, "state");
	json_t *c = json_object_get(j, "counts");
	size_t i, n;
	int opened = 0;
	json_int_t v;

	if (state == NULL || strcmp(state, "done") != 0)
		return state;
	n = (size_t)snprintf(buf, len, "done");
	for (i = 0; i < nitems(bad) && n < len; i++) {
		if ((v = json_integer_value(json_object_get(c, bad[i]))) > 0)
			n += (size_t)snprintf(buf + n, len - n, "%s%lld %s",
			    opened++ ? ", " : " (", (long long)v, bad[i]);
	}
	if (opened && n < len)
		snprintf(buf + n, len - n, ")");
	return buf;
}

static void
print_jobs(json_t *jobs)
{
	static const char *counts[] = { "queued", "running", "gating",
		"merging", "merged", "done", "failed", "aborted", "dead" };
	char age[FORMAT_AGE_LEN];
	struct table *t;
	size_t i, k;

	t = format_table_new(
	    "JOB NAME STATE AGE TOTAL QUEUED RUNNING GATING MERGING MERGED "
	    "DONE FAILED ABORTED DEAD");
	for (i = 0; i < json_array_size(jobs); i++) {
		json_t *j = json_array_get(jobs, i);

		char text[96];
		const char *state = job_state_text(j, text, sizeof text);
		json_t *c = json_object_get(j, "counts");

		/* Paused matters only while the job can still run chunks. */
		if (json_is_true(json_object_get(j, "paused")) &&
		    state != NULL && strcmp(state, "done") != 0 &&
		    strcmp(state, "aborted") != 0)
			state = "paused";
		format_table_row(t);
		format_table_cell(t, format_member(j, "job"));
		format_table_cell(t, format_member(j, "name"));
		format_table_cell(t, state);
		format_table_cell(
		    t, format_since(json_object_get(j, "created"), age));
		format_table_json(t, json_object_get(j, "total"));
		for (k = 0; k < nitems(counts); k++)
			format_table_json(t, json_object_get(c, counts[k]));
	}
	format_table_print(t, stdout);
	format_table_free(t);
}

int
cmd_jobs(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	cmd_opt_arg(ctx, args, "state", "state");
	if ((rc = client_call(ctx, "jobs", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_json(json_object_get(resp, "jobs"));
	else
		print_jobs(json_object_get(resp, "jobs"));
	json_decref(resp);
	return 0;
}

static void
print_job(json_t *job)
{
	json_t *chunks = json_object_get(job, "chunks");
	json_t *shown = json_copy(job);
	char text[96];
	struct table *t;
	size_t i;

	json_object_set_new(shown, "state",
	    json_string(job_state_text(job, text, sizeof text)));
	format_object(stdout, shown);
	json_decref(shown);
	cmd_print_cost("cost", json_object_get(job, "cost"));
	if (json_array_size(chunks) == 0)
		return;
	t = format_table_new("CHUNK STATE AGENT ATTEMPTS REASON");
	for (i = 0; i < json_array_size(chunks); i++) {
		json_t *c = json_array_get(chunks, i);

		format_table_row(t);
		format_table_cell(t, format_member(c, "id"));
		format_table_cell(t, format_member(c, "state"));
		format_table_cell(t, format_member(c, "agent"));
		format_table_json(t, json_object_get(c, "attempts"));
		format_table_cell(t, format_member(c, "reason"));
	}
	fputc('\n', stdout);
	format_table_print(t, stdout);
	format_table_free(t);
}

/* How an attempt exited: "exit 3", "signal 9", or "-" not (yet) seen. */
static void
attempt_exit(struct table *t, json_t *a)
{
	json_t *code = json_object_get(a, "exit_code");
	json_t *sig = json_object_get(a, "signal");
	char buf[48];

	if (json_is_integer(sig))
		snprintf(buf, sizeof buf, "signal %lld",
		    (long long)json_integer_value(sig));
	else if (json_is_integer(code))
		snprintf(buf, sizeof buf, "exit %lld",
		    (long long)json_integer_value(code));
	else
		snprintf(buf, sizeof buf, "-");
	format_table_cell(t, buf);
}

/* Its tokens, all classes, and its spend: "unknown" without a price. */
static void
attempt_usage(struct table *t, json_t *u)
{
	static const char *classes[] = { "input", "output", "cache_creation",
		"cache_read" };
	json_int_t tokens = 0;
	json_t *usd = json_object_get(u, "usd");
	char buf[48];
	size_t i;

	for (i = 0; i < nitems(classes); i++)
		tokens += json_integer_value(json_object_get(u, classes[i]));
	snprintf(buf, sizeof buf, "%lld", (long long)tokens);
	format_table_cell(t, buf);
	if (json_is_number(usd))
		snprintf(buf, sizeof buf, "%.4f", json_number_value(usd));
	else
		snprintf(buf, sizeof buf, "%s", u != NULL ? "unknown" : "-");
	format_table_cell(t, buf);
}

/* One line "agent-N KEY: VALUE", the value cleaned; none if it is null. */
static void
attempt_line(const char *agent, const char *key, const char *value)
{
	char *clean;

	if (value == NULL || *value == '\0')
		return;
	clean = format_clean(value);
	printf("%s %s: %s\n", agent, key, clean);
	free(clean);
}

/* Its latest checkpoint: "3 (note), 12 bytes, 59s ago". */
static void
attempt_checkpoint(const char *agent, json_t *c)
{
	char when[FORMAT_AGE_LEN], *line;
	const char *at = format_when(json_object_get(c, "ts"), when);
	const char *note = format_member(c, "note");

	if (!json_is_object(c))
		return;
	line = xasprintf("%lld%s%s%s, %lld bytes, %s",
	    (long long)json_integer_value(json_object_get(c, "seq")),
	    note != NULL ? " (" : "", note != NULL ? note : "",
	    note != NULL ? ")" : "",
	    (long long)json_integer_value(json_object_get(c, "size")),
	    at != NULL ? at : "-");
	attempt_line(agent, "checkpoint", line);
	free(line);
}

/*
 * A chunk's story, an attempt a row: when it started and ended, how it
 * ended and exited, its failure class, tokens and spend; then each
 * one's reason, summary, result and latest checkpoint on lines of their
 * own, as "agent-N key: value".
 */
static void
print_attempts(json_t *agents)
{
	struct table *t = format_table_new(
	    "ATTEMPT AGENT STARTED ENDED END EXIT CLASS TOKENS USD");
	char buf[FORMAT_AGE_LEN];
	const char *agent;
	json_t *a;
	size_t i;

	json_array_foreach(agents, i, a) {
		format_table_row(t);
		format_table_json(t, json_object_get(a, "attempt"));
		format_table_cell(t, format_member(a, "agent"));
		format_table_cell(
		    t, format_when(json_object_get(a, "started"), buf));
		format_table_cell(
		    t, format_when(json_object_get(a, "ended"), buf));
		format_table_cell(t, format_member(a, "end"));
		attempt_exit(t, a);
		format_table_cell(t, format_member(a, "class"));
		attempt_usage(t, json_object_get(a, "usage"));
	}
	fputc('\n', stdout);
	format_table_print(t, stdout);
	format_table_free(t);
	json_array_foreach(agents, i, a) {
		if ((agent = format_member(a, "agent")) == NULL)
			continue;
		attempt_line(agent, "reason", format_member(a, "reason"));
		attempt_line(agent, "summary", format_member(a, "summary"));
		attempt_line(agent, "result", format_member(a, "result"));
		attempt_checkpoint(agent, json_object_get(a, "checkpoint"));
	}
}

static void
print_chunk(json_t *chunk)
{
	json_t *agents = json_object_get(chunk, "agents");
	json_t *cps = json_object_get(chunk, "checkpoints");
	char buf[FORMAT_AGE_LEN];
	struct table *t;
	size_t i;

	format_object(stdout, chunk);
	cmd_print_commits(chunk);
	if (json_array_size(agents) > 0)
		print_attempts(agents);
	if (json_array_size(cps) == 0)
		return;
	t = format_table_new("CHECKPOINT TS AGENT SIZE NOTE");
	for (i = 0; i < json_array_size(cps); i++) {
		json_t *c = json_array_get(cps, i);

		format_table_row(t);
		format_table_json(t, json_object_get(c, "seq"));
		format_table_cell(
		    t, format_when(json_object_get(c, "ts"), buf));
		format_table_cell(t, format_member(c, "agent"));
		format_table_json(t, json_object_get(c, "size"));
		format_table_cell(t, format_member(c, "note"));
	}
	fputc('\n', stdout);
	format_table_print(t, stdout);
	format_table_free(t);
}

int
cmd_show(struct cmd_ctx *ctx)
{
	json_t *resp, *o;
	int rc;

	rc = client_call(
	    ctx, "show", json_pack("{s:s}", "target", ctx->argv[0]), &resp);
	if (rc != 0)
		return rc;
	if ((o = json_object_get(resp, "agent")) != NULL) {
		if (ctx->json)
			format_json(o);
		else {
			format_object(stdout, o);
			cmd_print_commits(o);
		}
	} else if ((o = json_object_get(resp, "job")) != NULL) {
		if (ctx->json)
			format_json(o);
		else
			print_job(o);
	} else if ((o = json_object_get(resp, "chunk")) != NULL) {
		if (ctx->json)
			format_json(o);
		else
			print_chunk(o);
	} else
		format_reply(resp);
	json_decref(resp);
	return 0;
}

/* pause and resume: the verb's name is the request's. */
int
cmd_pause(struct cmd_ctx *ctx)
{
	json_t *resp;
	int rc;

	rc = client_call(ctx, ctx->entry->name,
	    json_pack("{s:s}", "job", ctx->argv[0]), &resp);
	if (rc != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	else
		printf("%s %s\n",
		    format_member(resp, "job") != NULL ?
		        format_member(resp, "job") :
		        ctx->argv[0],
		    json_is_true(json_object_get(resp, "paused")) ? "paused" :
		                                                    "resumed");
	json_decref(resp);
	return 0;
}

/* TS EVENT JOB/CHUNK AGENT, then what the event adds, as key=JSON. */
static void
print_event(json_t *ev)
{
	static const char *extra[] = { "success", "exit_code", "signal",
		"reason", "note", "summary", "text", "dropped" };
	const char *job = format_member(ev, "job");
	const char *chunk = format_member(ev, "chunk_id");
	const char *agent = format_member(ev, "agent");
	char buf[FORMAT_AGE_LEN], *head, *clean, *v;
	const char *when;
	size_t i;

	when = format_when(json_object_get(ev, "ts"), buf);
	/* "3m04s ago" is as wide as 10, an ISO-8601 moment always 24. */
	head = xasprintf("%-10s %-18s %s%s%s %s", when != NULL ? when : "-",
	    format_member(ev, "event") != NULL ? format_member(ev, "event") :
	                                         "-",
	    job != NULL ? job : "-", chunk != NULL ? "/" : "",
	    chunk != NULL ? chunk : "", agent != NULL ? agent : "-");
	clean = format_clean(head);
	fputs(clean, stdout);
	free(clean);
	free(head);
	for (i = 0; i < nitems(extra); i++) {
		json_t *m = json_object_get(ev, extra[i]);

		if (m == NULL || json_is_null(m))
			continue;
		/* JSON quoting keeps the line one line and unambiguous. */
		if ((v = json_dumps(m, JSON_ENCODE_ANY | FORMAT_JSON_FLAGS)) !=
		    NULL)
			printf(" %s=%s", extra[i], v);
		free(v);
	}
	fputc('\n', stdout);
}

static void
show_event(struct cmd_ctx *ctx, json_t *ev)
{
	if (ctx->json)
		format_json(ev);
	else
		print_event(ev);
}

/* Print a page of events; the seq of its last one into *LAST. */
static void
show_page(struct cmd_ctx *ctx, json_t *events, json_int_t *last)
{
	json_t *ev;
	size_t i;

	json_array_foreach(events, i, ev) {
		show_event(ctx, ev);
		*last = json_integer_value(json_object_get(ev, "seq"));
	}
}

/* The filters of events, as arguments. */
static int
events_filter(struct cmd_ctx *ctx, json_t *filter)
{
	cmd_opt_arg(ctx, filter, "job", "job");
	cmd_opt_arg(ctx, filter, "agent", "agent");
	cmd_opt_arg(ctx, filter, "type", "type");
	return cmd_opt_since(ctx, filter);
}

/*
 * The whole log, a page at a time after the last seq seen, as swarmd
 * answers with a page and whether there is more; with --follow, swarmd
 * follows once a page reaches the newest event.  With --limit, the newest
 * N in one answer.
 */
int
cmd_events(struct cmd_ctx *ctx)
{
	const char *limit = cmd_opt(ctx, "limit");
	int follow = cmd_opt(ctx, "follow") != NULL, more, rc;
	json_t *args, *resp, *filter = json_object();
	json_int_t last = 0;
	long long n = 0;

	if (limit != NULL && parse_int(limit, 0, LLONG_MAX, &n) == -1) {
		json_decref(filter);
		return cmd_usage_error(
		    ctx, "bad --limit \"%s\": expected a count", limit);
	}
	if ((rc = events_filter(ctx, filter)) != 0) {
		json_decref(filter);
		return rc;
	}
	do {
		args = json_deep_copy(filter);
		if (limit != NULL)
			json_object_set_new(args, "limit", json_integer(n));
		else
			json_object_set_new(args, "after", json_integer(last));
		if (follow)
			json_object_set_new(args, "follow", json_true());
		if ((rc = client_call(ctx, "events", args, &resp)) != 0) {
			json_decref(filter);
			return rc;
		}
		show_page(ctx, json_object_get(resp, "events"), &last);
		more = limit == NULL &&
		    json_is_true(json_object_get(resp, "more"));
		json_decref(resp);
	} while (more);
	json_decref(filter);
	if (!follow)
		return 0;
	format_flush();
	return client_follow(ctx, "event", show_event);
}

int
cmd_pending(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp, *pending;
	size_t i;
	int rc;

	cmd_opt_arg(ctx, args, "job", "job");
	if ((rc = client_call(ctx, "pending", args, &resp)) != 0)
		return rc;
	pending = json_object_get(resp, "pending");
	if (ctx->json)
		format_json(pending);
	for (i = 0; !ctx->json && i < json_array_size(pending); i++) {
		json_t *p = json_array_get(pending, i);

		if (json_is_string(p))
			printf("%s\n", json_string_value(p));
	}
	json_decref(resp);
	return 0;
}

int
cmd_dead(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp, *dead;
	struct table *t;
	size_t i, k;
	int rc;

	cmd_opt_arg(ctx, args, "job", "job");
	if ((rc = client_call(ctx, "dead", args, &resp)) != 0)
		return rc;
	dead = json_object_get(resp, "dead");
	if (ctx->json) {
		format_json(dead);
		json_decref(resp);
		return 0;
	}
	t = format_table_new("CHUNK CLASS ATTEMPTS AGENT REASON");
	for (i = 0; i < json_array_size(dead); i++) {
		json_t *d = json_array_get(dead, i);

		format_table_row(t);
		format_table_cell(t, format_member(d, "chunk"));
		format_table_cell(t, format_member(d, "class"));
		format_table_json(t, json_object_get(d, "attempts"));
		format_table_cell(t, format_member(d, "agent"));
		format_table_cell(t, format_member(d, "reason"));
	}
	format_table_print(t, stdout);
	format_table_free(t);
	for (i = 0; i < json_array_size(dead); i++) {
		json_t *d = json_array_get(dead, i);
		json_t *lines = json_object_get(d, "last_output");

		if (json_array_size(lines) == 0)
			continue;
		printf("\n%s, last output:\n", format_member(d, "chunk"));
		for (k = 0; k < json_array_size(lines); k++) {
			char *clean = format_clean(
			    json_string_value(json_array_get(lines, k)));

			printf("  %s\n", clean);
			free(clean);
		}
	}
	json_decref(resp);
	return 0;
}

int
cmd_retry(struct cmd_ctx *ctx)
{
	json_t *args, *resp, *moved;
	size_t i;
	int rc;

	args = json_pack("{s:s}", "target", ctx->argv[0]);
	if (cmd_opt(ctx, "dead") != NULL)
		json_object_set_new(args, "dead", json_true());
	if ((rc = client_call(ctx, "retry", args, &resp)) != 0)
		return rc;
	moved = json_object_get(resp, "requeued");
	if (ctx->json)
		format_json(moved);
	else
		for (i = 0; i < json_array_size(moved); i++)
			printf("requeued %s\n",
			    json_string_value(json_array_get(moved, i)));
	json_decref(resp);
	return 0;
}

/* ---- wait ---- */

/* The job's show answer, or NULL after a message (*RC the status). */
static json_t *
wait_show(struct cmd_ctx *ctx, const char *job, int *rc)
{
	json_t *resp, *o;

	*rc =
	    client_call(ctx, "show", json_pack("{s:s}", "target", job), &resp);
	if (*rc != 0)
		return NULL;
	o = json_incref(json_object_get(resp, "job"));
	json_decref(resp);
	return o;
}

/* How many jobs of WAITING are still running; their states asked. */
static int
wait_count(struct cmd_ctx *ctx, json_t *waiting, int *rc)
{
	const char *job;
	json_t *v, *o;
	void *tmp;
	int left = 0;

	json_object_foreach_safe(waiting, tmp, job, v) {
		if ((o = wait_show(ctx, job, rc)) == NULL)
			return -1;
		if (strcmp(format_member(o, "state"), "running") != 0)
			json_object_del(waiting, job);
		else
			left++;
		json_decref(o);
	}
	return left;
}

/* One event: a job_done of a job we wait for ends its wait. */
static void
wait_event(json_t *ev, json_t *waiting, json_int_t *last)
{
	const char *type = format_member(ev, "event");
	const char *job = format_member(ev, "job");

	*last = json_integer_value(json_object_get(ev, "seq"));
	if (type != NULL && job != NULL && strcmp(type, "job_done") == 0)
		json_object_del(waiting, job);
}

/* Follow the log from LAST until no job of WAITING runs, or DEADLINE. */
static int
wait_follow(
    struct cmd_ctx *ctx, json_t *waiting, json_int_t last, int64_t deadline)
{
	json_t *args, *resp, *line, *ev;
	int rc, more;
	size_t i;

	do {
		args = json_pack("{s:I, s:b}", "after", last, "follow", 1);
		if ((rc = client_call(ctx, "events", args, &resp)) != 0)
			return rc;
		json_array_foreach(json_object_get(resp, "events"), i, ev)
			wait_event(ev, waiting, &last);
		more = json_is_true(json_object_get(resp, "more"));
		json_decref(resp);
	} while (more && json_object_size(waiting) > 0);
	while (json_object_size(waiting) > 0) {
		int64_t left = deadline < 0 ? -1 : deadline - now_mono_ms();

		if (deadline >= 0 && left <= 0)
			return SWARM_EXIT_TIMEOUT;
		if (client_wait(ctx, (int)left, 0) == CLIENT_TIMEOUT)
			return SWARM_EXIT_TIMEOUT;
		if ((rc = client_next(ctx, &line)) != 0)
			return rc == -1 ? SWARM_EXIT_UNAVAILABLE : rc;
		if (json_is_object(ev = json_object_get(line, "event")))
			wait_event(ev, waiting, &last);
		json_decref(line);
	}
	return 0;
}

/* The jobs' ends: printed, and whether any chunk did not end done. */
static int
wait_report(struct cmd_ctx *ctx, int argc, char **argv, int *bad)
{
	static const char *ends[] = { "done", "merged", "failed", "aborted",
		"dead" };
	json_t *all = json_object(), *o, *counts;
	int rc = 0, i;
	size_t k;

	*bad = 0;
	for (i = 0; i < argc && rc == 0; i++) {
		if ((o = wait_show(ctx, argv[i], &rc)) == NULL)
			break;
		counts = json_object_get(o, "counts");
		for (k = 2; k < nitems(ends); k++)
			*bad |= json_integer_value(
			            json_object_get(counts, ends[k])) > 0;
		if (!ctx->json) {
			printf("%s", argv[i]);
			for (k = 0; k < nitems(ends); k++)
				/* merged only where a job merges */
				if (k != 1 ||
				    json_integer_value(
				        json_object_get(counts, ends[k])) > 0)
					printf("%s %lld %s", k == 0 ? ":" : ",",
					    (long long)json_integer_value(
					        json_object_get(
					            counts, ends[k])),
					    ends[k]);
			printf("\n");
		}
		json_object_set(all, argv[i], counts);
		json_decref(o);
	}
	if (rc == 0 && ctx->json)
		format_json(all);
	json_decref(all);
	return rc;
}

/*
 * Block until every job named has ended.  Exit 0 when every chunk ended
 * done, 1 when any ended failed, aborted or dead, 124 past --timeout.
 */
int
cmd_wait(struct cmd_ctx *ctx)
{
	const char *tv = cmd_opt(ctx, "timeout");
	json_t *waiting = json_object(), *resp, *ev;
	json_int_t last = 0;
	int64_t deadline = -1;
	int rc, i, bad;
	size_t k;
	double secs;

	if (tv != NULL) {
		if (parse_duration(tv, &secs) == -1) {
			json_decref(waiting);
			return cmd_usage_error(ctx,
			    "bad --timeout \"%s\": expected seconds (10, 10s, 1m)",
			    tv);
		}
		deadline = now_mono_ms() + (int64_t)(secs * 1000);
	}
	for (i = 0; i < ctx->argc; i++)
		json_object_set_new(waiting, ctx->argv[i], json_true());
	/* The newest event before looking: a job that ends after it ends
	 * in the log after it, where the follow below finds it. */
	rc = client_call(ctx, "events", json_pack("{s:i}", "limit", 1), &resp);
	if (rc == 0) {
		json_array_foreach(json_object_get(resp, "events"), k, ev)
			last = json_integer_value(json_object_get(ev, "seq"));
		json_decref(resp);
		if (wait_count(ctx, waiting, &rc) > 0) {
			rc = wait_follow(ctx, waiting, last, deadline);
			client_close(ctx->client); /* it was following */
			ctx->client = NULL;
		}
	}
	json_decref(waiting);
	if (rc == SWARM_EXIT_TIMEOUT)
		fprintf(stderr, "swarmctl: wait: timed out after %s\n", tv);
	if (rc != 0)
		return rc;
	if ((rc = wait_report(ctx, ctx->argc, ctx->argv, &bad)) != 0)
		return rc;
	return bad ? SWARM_EXIT_ERROR : 0;
}
