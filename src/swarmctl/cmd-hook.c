/*
 * cmd-hook.c: swarmctl hook claude-code EVENT, the program the
 * claude-code preset's hooks run (swarmd's claude.c writes them into
 * each attempt's settings).  It reads Claude Code's hook JSON on stdin
 * and answers on stdout in Claude Code's format, using only the verbs
 * an agent has on itself (heartbeat, recv, checkpoint, done, fail,
 * task): an agent is no operator, and neither are its hooks.
 *
 * A hook must never hold the agent up: whatever happens, it exits 0
 * within its deadline, saying nothing when swarmd is slow or gone or
 * the hook runs outside an agent.  Exit status 2 would mean "block" to
 * Claude Code, so no error here ever becomes one.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarm-protocol.h"
#include "util.h"
#include "client.h"
#include "cmd.h"

#define HOOK_DEADLINE 5           /* seconds, unless --deadline */
#define HOOK_MAX_INPUT (1 << 20)  /* the hook JSON on stdin */
#define HOOK_MAX_TEXT (60 * 1024) /* a summary, within ARG_MAX_TEXT */

static void
hook_expired(int sig)
{
	(void)sig;
	_exit(0);
}

/* Call VERB as the agent; NULL on any failure (said on stderr). */
static json_t *
hook_call(struct cmd_ctx *ctx, const char *verb, json_t *args)
{
	json_t *resp;

	if (client_call(ctx, verb, args, &resp) != 0)
		return NULL;
	return resp;
}

static void
hook_heartbeat(
    struct cmd_ctx *ctx, const char *fmt, const char *a, const char *b)
{
	char note[512];

	snprintf(
	    note, sizeof note, fmt, a != NULL ? a : "?", b != NULL ? b : "?");
	json_decref(
	    hook_call(ctx, "heartbeat", json_pack("{s:s}", "note", note)));
}

/* Unread mail as one text, marked read; NULL when there is none. */
static char *
hook_mail(struct cmd_ctx *ctx)
{
	json_t *resp, *msgs, *m;
	char *text = NULL, *next;
	const char *from, *body;
	size_t i;

	while ((resp = hook_call(ctx, "recv", json_object())) != NULL) {
		msgs = json_object_get(resp, "messages");
		json_array_foreach(msgs, i, m) {
			from = json_string_value(json_object_get(m, "from"));
			body = json_string_value(json_object_get(m, "text"));
			next = xasprintf("%s%sMessage from %s: %s",
			    text != NULL ? text : "", text != NULL ? "\n" : "",
			    from != NULL ? from : "swarmd",
			    body != NULL ? body : "");
			free(text);
			text = next;
		}
		i = json_is_true(json_object_get(resp, "more"));
		json_decref(resp);
		if (!i)
			break;
	}
	return text;
}

/* Print O as the hook's answer (the deadline no longer applies). */
static void
hook_answer(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	alarm(0);
	if (s != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

static void
hook_context(const char *event, const char *text)
{
	hook_answer(json_pack("{s:{s:s, s:s}}", "hookSpecificOutput",
	    "hookEventName", event, "additionalContext", text));
}

static void
on_post_tool_use(struct cmd_ctx *ctx, json_t *in)
{
	char *mail;

	hook_heartbeat(ctx, "tool: %s%s",
	    json_string_value(json_object_get(in, "tool_name")), "");
	if ((mail = hook_mail(ctx)) != NULL)
		hook_context("PostToolUse", mail);
	free(mail);
}

/* Mail keeps the agent going; otherwise its last message is the summary. */
static void
on_stop(struct cmd_ctx *ctx, json_t *in)
{
	const char *last =
	    json_string_value(json_object_get(in, "last_assistant_message"));
	char *mail, *summary;

	if ((mail = hook_mail(ctx)) != NULL) {
		hook_answer(json_pack(
		    "{s:s, s:s}", "decision", "block", "reason", mail));
		free(mail);
		return;
	}
	/* A result contract still decides: swarmd refuses a bad result. */
	summary = xstrdup(last != NULL ? last : "");
	if (strlen(summary) > HOOK_MAX_TEXT) {
		summary[HOOK_MAX_TEXT] = '\0';
		utf8_trunc(summary);
	}
	json_decref(
	    hook_call(ctx, "done", json_pack("{s:s}", "summary", summary)));
	free(summary);
}

static void
on_pre_compact(struct cmd_ctx *ctx, json_t *in)
{
	const char *trigger = json_string_value(json_object_get(in, "trigger"));
	const char *path =
	    json_string_value(json_object_get(in, "transcript_path"));
	char note[1024];

	snprintf(note, sizeof note,
	    "claude-code compaction (%s): transcript %s",
	    trigger != NULL ? trigger : "?", path != NULL ? path : "?");
	json_decref(
	    hook_call(ctx, "checkpoint", json_pack("{s:s}", "note", note)));
}

/* After a compaction: the task, and the latest note of the agent's own. */
static void
on_session_start(struct cmd_ctx *ctx, json_t *in)
{
	const char *source = json_string_value(json_object_get(in, "source"));
	const char *task, *note = NULL, *n;
	json_t *resp, *c;
	char *text;
	size_t i;

	if (source == NULL || strcmp(source, "compact") != 0 ||
	    (resp = hook_call(ctx, "task", json_object())) == NULL)
		return;
	task = json_string_value(json_object_get(resp, "task"));
	json_array_foreach(json_object_get(resp, "checkpoints"), i, c) {
		n = json_string_value(json_object_get(c, "note"));
		if (n != NULL && strncmp(n, "claude-code compaction", 22) != 0)
			note = n;
	}
	text = xasprintf("Your task, from swarmd (unchanged by the "
	                 "compaction):\n%s%s%s",
	    task != NULL ? task : "",
	    note != NULL ? "\n\nYour latest checkpoint note: " : "",
	    note != NULL ? note : "");
	hook_context("SessionStart", text);
	free(text);
	json_decref(resp);
}

/*
 * A turn that ended on an API error: a retry, a person, or a failure.
 * The hook names the class; swarmd decides what follows (for account:
 * the dead letters and an escalation, which no agent may open itself).
 */
static void
on_stop_failure(struct cmd_ctx *ctx, json_t *in)
{
	const char *err = json_string_value(json_object_get(in, "error"));
	const char *cls = NULL;
	char reason[256];
	json_t *args;

	if (err == NULL)
		err = "unknown";
	if (strcmp(err, "rate_limit") == 0 ||
	    strcmp(err, "server_error") == 0 ||
	    strcmp(err, "overloaded") == 0 ||
	    strcmp(err, "overloaded_error") == 0)
		cls = "transient";
	if (strcmp(err, "authentication_failed") == 0 ||
	    strcmp(err, "billing_error") == 0 ||
	    strcmp(err, "oauth_org_not_allowed") == 0)
		cls = "account";
	if (cls != NULL && strcmp(cls, "account") == 0)
		snprintf(reason, sizeof reason,
		    "claude-code: %s: needs a person (the account)", err);
	else
		snprintf(reason, sizeof reason, "claude-code: %s", err);
	args = json_pack("{s:s}", "reason", reason);
	if (cls != NULL)
		json_object_set_new(args, "class", json_string(cls));
	json_decref(hook_call(ctx, "fail", args));
}

static void
on_subagent(struct cmd_ctx *ctx, json_t *in, const char *how)
{
	hook_heartbeat(ctx, how,
	    json_string_value(json_object_get(in, "agent_type")),
	    json_string_value(json_object_get(in, "agent_id")));
}

static json_t *
hook_input(void)
{
	size_t len;
	char *buf;
	json_t *in;

	if (cmd_read_file("-", HOOK_MAX_INPUT, &buf, &len) == -1)
		return NULL;
	in = json_loadb(buf, len, 0, NULL);
	free(buf);
	if (!json_is_object(in)) {
		json_decref(in);
		return NULL;
	}
	return in;
}

static void
hook_dispatch(struct cmd_ctx *ctx, const char *event, json_t *in)
{
	if (strcmp(event, "PostToolUse") == 0)
		on_post_tool_use(ctx, in);
	else if (strcmp(event, "Stop") == 0)
		on_stop(ctx, in);
	else if (strcmp(event, "PreCompact") == 0)
		on_pre_compact(ctx, in);
	else if (strcmp(event, "SessionStart") == 0)
		on_session_start(ctx, in);
	else if (strcmp(event, "StopFailure") == 0)
		on_stop_failure(ctx, in);
	else if (strcmp(event, "SubagentStart") == 0)
		on_subagent(ctx, in, "subagent started: %s (%s)");
	else if (strcmp(event, "SubagentStop") == 0)
		on_subagent(ctx, in, "subagent stopped: %s (%s)");
}

int
cmd_hook(struct cmd_ctx *ctx)
{
	const char *d = cmd_opt(ctx, "deadline"), *event = ctx->argv[1];
	double secs = HOOK_DEADLINE;
	json_t *in;

	if (strcmp(ctx->argv[0], "claude-code") != 0)
		return cmd_usage_error(ctx,
		    "unknown agent \"%s\"; the one is "
		    "claude-code",
		    ctx->argv[0]);
	if (d != NULL &&
	    (parse_duration(d, &secs) == -1 || secs < 1 || secs > 600))
		return cmd_usage_error(
		    ctx, "bad --deadline \"%s\": expected 1 to 600 seconds", d);
	signal(SIGALRM, hook_expired);
	alarm((unsigned)secs);
	ctx->agent = getenv(SWARM_ENV_AGENT);
	ctx->token = getenv(SWARM_ENV_TOKEN);
	/* Outside an agent there is no one to speak for: nothing to do. */
	if (ctx->agent == NULL || *ctx->agent == '\0' || ctx->token == NULL ||
	    *ctx->token == '\0' || !cmd_is_utf8(ctx->agent) ||
	    !cmd_is_utf8(ctx->token) || (in = hook_input()) == NULL)
		return SWARM_EXIT_OK;
	hook_dispatch(ctx, event, in);
	json_decref(in);
	fflush(stdout);
	return SWARM_EXIT_OK;
}
