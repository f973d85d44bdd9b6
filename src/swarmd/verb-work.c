/*
 * verb-work.c: the operator verbs about the agents' work: worktrees,
 * clean, blame, merges and merge (pause or resume a merge queue), and
 * the part of submit that asks git about a job's
 * worktree.  worktrees and clean answer when keeper.c has asked git
 * about each worktree; until then the client's later lines wait.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

/* A request answered later, and whether its client is still there. */
struct later {
	struct client *client;
	json_t *id;
	struct jobspec js; /* submit */
	json_t *reply;     /* ... and what its checks already said */
	int dry_run;
	struct batch *batch; /* worktrees, clean */
	int gone;
};

static void
later_release(struct client *c, void *arg)
{
	struct later *l = arg;

	(void)c;
	l->gone = 1;
	if (l->batch != NULL)
		keeper_forget(l->batch);
}

static struct later *
later_new(struct verb_ctx *ctx)
{
	struct later *l = xcalloc(1, sizeof *l);

	l->client = ctx->client;
	l->id = json_incref(ctx->id);
	client_set_release(ctx->client, later_release, l);
	return l;
}

/* Answered: the client goes on with its next lines. */
static void
later_end(struct later *l)
{
	if (!l->gone) {
		client_set_release(l->client, NULL, NULL);
		client_resume(l->client);
	}
	json_decref(l->id);
	free(l);
}

static void
on_checked(const char *err, void *arg)
{
	struct later *l = arg;
	json_t *reply = l->reply;
	char msg[256];

	if (l->gone)
		jobspec_free(&l->js);
	else if (err != NULL) {
		json_t *extra = json_pack("{s:[s]}", "problems", err);

		client_error_extra(l->client, l->id, SWARM_E_INVALID_JOB, extra,
		    "the job has 1 problem; nothing was stored");
		json_decref(extra);
		jobspec_free(&l->js);
	} else if (verb_submit_store(
	               reply, &l->js, l->dry_run, msg, sizeof msg) == -1)
		client_error(l->client, l->id, SWARM_E_INTERNAL, "%s", msg);
	else
		client_reply(l->client, l->id, reply);
	json_decref(reply);
	later_end(l);
}

/* Submit, once git has said the repository and its base are there. */
enum verb_rc
verb_submit_worktree(struct verb_ctx *ctx, struct jobspec *js)
{
	struct later *l = later_new(ctx);

	l->js = *js;
	l->reply = json_incref(ctx->reply);
	l->dry_run = arg_bool(ctx, "dry_run");
	keeper_check(l->js.worktree, l->js.merge, l->js.chunks, on_checked, l);
	return VERB_DEFERRED;
}

static void
on_surveyed(json_t *rows, void *arg)
{
	struct later *l = arg;

	if (!l->gone) {
		json_t *reply = json_pack("{s:O}", "worktrees", rows);

		client_reply(l->client, l->id, reply);
		json_decref(reply);
	}
	later_end(l);
}

static enum verb_rc
survey(struct verb_ctx *ctx, int clean, int force)
{
	const char *name = arg_str(ctx, "job");
	struct later *l;
	int64_t job = 0;

	if (name != NULL && job_parse_id(name, &job) == -1)
		return verb_fail(
		    ctx, SWARM_E_NOT_FOUND, "no such job: \"%.128s\"", name);
	if (name != NULL && !job_exists(job))
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such job: job-%lld", (long long)job);
	l = later_new(ctx);
	l->batch = keeper_survey(job, clean, force, on_surveyed, l);
	return VERB_DEFERRED;
}

/* Every worktree, its state, and what keeps it. */
enum verb_rc
verb_worktrees(struct verb_ctx *ctx)
{
	return survey(ctx, 0, 0);
}

/* Remove the removable worktrees; with discard, the kept ones too. */
enum verb_rc
verb_clean(struct verb_ctx *ctx)
{
	return survey(ctx, 1, arg_bool(ctx, "discard"));
}

/* Which agent, job, chunk and attempt made a commit, and its cost. */
enum verb_rc
verb_blame(struct verb_ctx *ctx)
{
	const char *commit = arg_str(ctx, "commit");
	size_t n = strlen(commit), i;
	json_t *found, *c;

	if (n < 4 || n > 64 || strspn(commit, "0123456789abcdef") != n)
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "blame: \"%.64s\" is not a commit id (4 to 64 lowercase hex "
		    "digits)",
		    commit);
	found = worktree_blame_json(commit);
	if (json_array_size(found) == 0) {
		json_decref(found);
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no commit %s on any chunk's branch", commit);
	}
	json_array_foreach(found, i, c) {
		int64_t agent;

		if (agent_parse_id(
		        json_string_value(json_object_get(c, "agent")),
		        &agent) == 0)
			json_object_set_new(
			    c, "usage", quota_agent_json(agent));
	}
	json_object_set_new(ctx->reply, "commits", found);
	return VERB_OK;
}

/* The merge queues' entries: the waiting ones; with all, the ended too. */
enum verb_rc
verb_merges(struct verb_ctx *ctx)
{
	json_object_set_new(
	    ctx->reply, "merges", merge_list_json(arg_bool(ctx, "all")));
	return VERB_OK;
}

/* Pause or resume the merge queues of a target ("main", or "REPO:main"). */
enum verb_rc
verb_merge(struct verb_ctx *ctx)
{
	const char *action = arg_str(ctx, "action");
	const char *target = arg_str(ctx, "target");
	int pause = strcmp(action, "pause") == 0, n;

	if (!pause && strcmp(action, "resume") != 0)
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "merge: action must be \"pause\" or \"resume\", not "
		    "\"%.64s\"",
		    action);
	if ((n = keeper_merge_pause(target, pause)) == 0)
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no merge queue has the target %s", target);
	json_object_set_new(ctx->reply, "queues", json_integer(n));
	return VERB_OK;
}
