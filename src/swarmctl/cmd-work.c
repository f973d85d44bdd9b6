/*
 * cmd-work.c: the verbs about the agents' work: worktrees, clean,
 * blame, merges and merge (pause, resume), and the commits `show` prints for an agent in a worktree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm-protocol.h"
#include "util.h"
#include "client.h"
#include "cmd.h"
#include "format.h"

/* Its reasons to be kept, joined: "3 commits not merged into main; ..." */
static char *
kept_text(json_t *why)
{
	size_t i, len = 0;
	char *s = xstrdup("");
	json_t *v;

	json_array_foreach(why, i, v) {
		const char *t = json_string_value(v);
		char *n;

		if (t == NULL)
			continue;
		n = xasprintf("%s%s%s", s, len > 0 ? "; " : "", t);
		free(s);
		s = n;
		len = strlen(s);
	}
	return s;
}

static void
print_worktrees(json_t *rows, int clean)
{
	struct table *t = format_table_new(clean ?
	        "JOB CHUNK DONE BRANCH PATH KEPT_BECAUSE_OR_HELD" :
	        "JOB CHUNK STATE BRANCH PATH KEPT_BECAUSE");
	size_t i;
	json_t *r;

	json_array_foreach(rows, i, r) {
		char *why = kept_text(json_object_get(r,
		    json_object_get(r, "held") != NULL ? "held" :
		                                         "kept_because"));

		format_table_row(t);
		format_table_cell(t, format_member(r, "job"));
		format_table_cell(t, format_member(r, "chunk"));
		format_table_cell(t,
		    clean && format_member(r, "done") != NULL ?
		        format_member(r, "done") :
		        format_member(r, "state"));
		format_table_cell(t, format_member(r, "branch"));
		format_table_cell(t, format_member(r, "path"));
		format_table_cell(t, *why != '\0' ? why : "-");
		free(why);
	}
	format_table_print(t, stdout);
	format_table_free(t);
}

static int
work_call(struct cmd_ctx *ctx, const char *verb, json_t *args)
{
	json_t *resp, *rows;
	int rc;

	if (ctx->argc > 0)
		json_object_set_new(args, "job", json_string(ctx->argv[0]));
	if ((rc = client_call(ctx, verb, args, &resp)) != 0)
		return rc;
	rows = json_object_get(resp, "worktrees");
	if (ctx->json)
		format_json(rows);
	else
		print_worktrees(rows, strcmp(verb, "clean") == 0);
	json_decref(resp);
	return 0;
}

int
cmd_worktrees(struct cmd_ctx *ctx)
{
	return work_call(ctx, "worktrees", json_object());
}

int
cmd_clean(struct cmd_ctx *ctx)
{
	json_t *args = json_object();

	if (cmd_opt(ctx, "discard") != NULL)
		json_object_set_new(args, "discard", json_true());
	return work_call(ctx, "clean", args);
}

/* What the attempt that made it cost, from the meter. */
static void
print_usage(json_t *u)
{
	const char *k[] = { "input", "output", "cache_creation", "cache_read",
		"usd" };
	const char *v[5];
	size_t i;

	for (i = 0; i < 5; i++)
		v[i] = format_member(u, k[i]) != NULL ? format_member(u, k[i]) :
		                                        "0";
	printf("  cost:    %s input, %s output, %s cache write, %s cache "
	       "read tokens; $%s\n",
	    v[0], v[1], v[2], v[3], v[4]);
}

int
cmd_blame(struct cmd_ctx *ctx)
{
	json_t *resp, *commits, *c;
	size_t i;
	int rc;

	rc = client_call(
	    ctx, "blame", json_pack("{s:s}", "commit", ctx->argv[0]), &resp);
	if (rc != 0)
		return rc;
	commits = json_object_get(resp, "commits");
	if (ctx->json) {
		format_json(commits);
		json_decref(resp);
		return 0;
	}
	json_array_foreach(commits, i, c) {
		printf("%s%s\n", i > 0 ? "\n" : "", format_member(c, "commit"));
		printf("  subject: %s\n", format_member(c, "subject"));
		if (format_member(c, "agent") != NULL)
			printf("  agent:   %s (attempt %lld)\n",
			    format_member(c, "agent"),
			    (long long)json_integer_value(
			        json_object_get(c, "attempt")));
		else
			printf(
			    "  agent:   unattributed (no Swarm-Agent trailer)\n");
		printf("  chunk:   %s/%s\n", format_member(c, "job"),
		    format_member(c, "chunk"));
		printf("  author:  %s\n", format_member(c, "author"));
		if (format_member(c, "landed") != NULL)
			printf(
			    "  landed:  on %s, made anew by the merge queue\n",
			    format_member(c, "landed"));
		if (json_object_get(c, "usage") != NULL)
			print_usage(json_object_get(c, "usage"));
	}
	json_decref(resp);
	return 0;
}

static void
print_merges(json_t *rows)
{
	struct table *t =
	    format_table_new("TARGET POS CHUNK STATE AGE ROUNDS RESULT");
	char age[FORMAT_AGE_LEN];
	size_t i;
	json_t *r;

	json_array_foreach(rows, i, r) {
		const char *target = format_member(r, "target");
		char *tgt = json_is_true(json_object_get(r, "paused")) ?
		    xasprintf("%s (paused)", target) :
		    xstrdup(target);
		char *chunk = xasprintf("%s/%s", format_member(r, "job"),
		    format_member(r, "chunk"));

		format_table_row(t);
		format_table_cell(t, tgt);
		format_table_json(t, json_object_get(r, "position"));
		format_table_cell(t, chunk);
		format_table_cell(t, format_member(r, "state"));
		format_table_cell(
		    t, format_since(json_object_get(r, "queued"), age));
		format_table_json(t, json_object_get(r, "rounds"));
		format_table_cell(t, format_member(r, "result"));
		free(tgt);
		free(chunk);
	}
	format_table_print(t, stdout);
	format_table_free(t);
}

/* The merge queues: the waiting entries, in order (--all: the ended). */
int
cmd_merges(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	if (cmd_opt(ctx, "all") != NULL)
		json_object_set_new(args, "all", json_true());
	if ((rc = client_call(ctx, "merges", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_json(json_object_get(resp, "merges"));
	else
		print_merges(json_object_get(resp, "merges"));
	json_decref(resp);
	return 0;
}

/* merge pause|resume TARGET */
int
cmd_merge(struct cmd_ctx *ctx)
{
	json_t *resp;
	int rc;

	if (strcmp(ctx->argv[0], "pause") != 0 &&
	    strcmp(ctx->argv[0], "resume") != 0) {
		fprintf(stderr,
		    "swarmctl: merge: expected pause or resume, not \"%s\"\n",
		    ctx->argv[0]);
		return SWARM_EXIT_USAGE;
	}
	rc = client_call(ctx, "merge",
	    json_pack(
	        "{s:s, s:s}", "action", ctx->argv[0], "target", ctx->argv[1]),
	    &resp);
	if (rc != 0)
		return rc;
	if (ctx->json)
		format_json(resp);
	else
		printf("%s: %s (%lld queue%s)\n", ctx->argv[1],
		    strcmp(ctx->argv[0], "pause") == 0 ? "paused" : "resumed",
		    (long long)json_integer_value(
		        json_object_get(resp, "queues")),
		    json_integer_value(json_object_get(resp, "queues")) == 1 ?
		        "" :
		        "s");
	json_decref(resp);
	return 0;
}

/* show agent-N: its chunk's commits, when it worked in a worktree. */
void
cmd_print_commits(json_t *agent)
{
	json_t *commits = json_object_get(agent, "commits"), *c;
	size_t i;

	if (commits == NULL)
		return;
	printf("commits: %zu on %s\n", json_array_size(commits),
	    format_member(json_object_get(agent, "worktree"), "branch"));
	json_array_foreach(commits, i, c) {
		const char *id = format_member(c, "commit");

		const char *landed = format_member(c, "landed");

		printf("  %.12s %s %s%s%s%s\n", id != NULL ? id : "?",
		    format_member(c, "agent") != NULL ?
		        format_member(c, "agent") :
		        "-",
		    format_member(c, "subject"), landed != NULL ? " (on " : "",
		    landed != NULL ? landed : "", landed != NULL ? ")" : "");
	}
}

/* A count of the report R, as a number. */
static long long
pruned_n(json_t *r, const char *key)
{
	return (long long)json_integer_value(json_object_get(r, key));
}

/* The report of a prune: what went (or would), and what stays and why. */
static void
print_pruned(json_t *r)
{
	int dry = json_is_true(json_object_get(r, "dry_run"));
	json_t *rows = json_object_get(r, "rows"), *v;
	const char *table;
	long long total = 0;
	size_t i;

	json_object_foreach(rows, table, v)
		total += (long long)json_integer_value(v);
	printf("%s %lld job%s: %lld rows, %lld files, %lld bytes\n",
	    dry ? "would prune" : "pruned", pruned_n(r, "jobs"),
	    pruned_n(r, "jobs") == 1 ? "" : "s", total, pruned_n(r, "files"),
	    pruned_n(r, "bytes"));
	json_object_foreach(rows, table, v) {
		if (json_integer_value(v) > 0)
			printf("  %-12s %lld\n", table,
			    (long long)json_integer_value(v));
	}
	json_array_foreach(json_object_get(r, "held"), i, v)
		printf("  kept %s: %s\n", format_member(v, "job"),
		    format_member(v, "because"));
}

int
cmd_prune(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	if (cmd_opt_seconds(ctx, "older-than", args, "older_than") == -1) {
		json_decref(args);
		return cmd_usage_error(
		    ctx, "--older-than: expected a duration (30d, 12h, 0s)");
	}
	if (cmd_opt(ctx, "dry-run") != NULL)
		json_object_set_new(args, "dry_run", json_true());
	if ((rc = client_call(ctx, "prune", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	else
		print_pruned(resp);
	json_decref(resp);
	return 0;
}
