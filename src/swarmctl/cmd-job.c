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
	else
		printf("valid: %" JSON_INTEGER_FORMAT
		       " chunks; nothing was stored (dry run)\n",
		    json_integer_value(json_object_get(resp, "chunks")));
	json_decref(resp);
	return 0;
}

static void
print_jobs(json_t *jobs)
{
	static const char *counts[] = { "queued", "running", "done", "failed",
		"aborted", "dead" };
	struct table *t;
	size_t i, k;

	t = format_table_new(
	    "JOB NAME STATE TOTAL QUEUED RUNNING DONE FAILED ABORTED DEAD");
	for (i = 0; i < json_array_size(jobs); i++) {
		json_t *j = json_array_get(jobs, i);

		const char *state = format_member(j, "state");
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
	json_t *resp;
	int rc;

	if ((rc = client_call(ctx, "jobs", json_object(), &resp)) != 0)
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
	struct table *t;
	size_t i;

	format_object(stdout, job);
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

static void
print_chunk(json_t *chunk)
{
	json_t *agents = json_object_get(chunk, "agents");
	json_t *cps = json_object_get(chunk, "checkpoints");
	struct table *t;
	size_t i;

	format_object(stdout, chunk);
	if (json_array_size(agents) > 0) {
		fputc('\n', stdout);
		format_agents(agents);
	}
	if (json_array_size(cps) == 0)
		return;
	t = format_table_new("CHECKPOINT TS AGENT SIZE NOTE");
	for (i = 0; i < json_array_size(cps); i++) {
		json_t *c = json_array_get(cps, i);

		format_table_row(t);
		format_table_json(t, json_object_get(c, "seq"));
		format_table_cell(t, format_member(c, "ts"));
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
		else
			format_object(stdout, o);
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
	char *head, *clean, *v;
	size_t i;

	head = xasprintf("%s %-18s %s%s%s %s",
	    format_member(ev, "ts") != NULL ? format_member(ev, "ts") : "-",
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
		if ((v = json_dumps(m, JSON_ENCODE_ANY | JSON_COMPACT)) != NULL)
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
	json_t *args, *resp;
	json_int_t last = 0;
	long long n = 0;

	if (limit != NULL && parse_int(limit, 0, LLONG_MAX, &n) == -1)
		return cmd_usage_error(
		    ctx, "bad --limit \"%s\": expected a count", limit);
	do {
		args = json_object();
		if (limit != NULL)
			json_object_set_new(args, "limit", json_integer(n));
		else
			json_object_set_new(args, "after", json_integer(last));
		cmd_opt_arg(ctx, args, "job", "job");
		if (follow)
			json_object_set_new(args, "follow", json_true());
		if ((rc = client_call(ctx, "events", args, &resp)) != 0)
			return rc;
		show_page(ctx, json_object_get(resp, "events"), &last);
		more = limit == NULL &&
		    json_is_true(json_object_get(resp, "more"));
		json_decref(resp);
	} while (more);
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
