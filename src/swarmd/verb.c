/*
 * verb.c: the verb table and the checks every request passes before its
 * verb runs: shape, verb, role, token and arguments.  Each verb's
 * arguments are declared in its table entry, so a verb's exec function
 * sees only well-typed, known members.  Here too is what a target
 * names (an agent, a chunk, a job), for every verb that takes one.  It
 * holds one verb: hello.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "swarmd.h"

/*
 * Every string argument has a size limit in bytes (swarmd-protocol(7)):
 * what is stored, and written to the journal with its event, stays small.
 */
/* clang-format off */
#define ARG_OPT(name, type) { name, type, 0, 0 }
#define ARG_NEED(name, type) { name, type, 1, 0 }
#define ARG_STR(name, max) { name, A_STRING, 0, max }
#define ARG_NEED_STR(name, max) { name, A_STRING, 1, max }
#define ARG_END { NULL, A_ANY, 0, 0 }
/* clang-format on */

static const struct verb_arg no_args[] = { ARG_END };
static const struct verb_arg hello_args[] = { ARG_OPT("version", A_INT),
	ARG_END };
static const struct verb_arg submit_args[] = { ARG_NEED("job", A_ANY),
	ARG_OPT("dry_run", A_BOOL), ARG_OPT("strict", A_BOOL), ARG_END };
static const struct verb_arg ps_args[] = { ARG_STR("job", ARG_MAX_NAME),
	ARG_OPT("all", A_BOOL), ARG_END };
static const struct verb_arg target_args[] = {
	ARG_NEED_STR("target", ARG_MAX_NAME), ARG_END
};
static const struct verb_arg abort_args[] = { ARG_NEED_STR(
	                                          "target", ARG_MAX_NAME),
	ARG_OPT("grace", A_NUMBER), ARG_STR("reason", ARG_MAX_NOTE), ARG_END };
static const struct verb_arg send_args[] = { ARG_NEED_STR(
	                                         "target", ARG_MAX_NAME),
	ARG_NEED_STR("text", ARG_MAX_TEXT), ARG_END };
static const struct verb_arg job_args[] = { ARG_NEED_STR("job", ARG_MAX_NAME),
	ARG_END };
static const struct verb_arg optjob_args[] = { ARG_STR("job", ARG_MAX_NAME),
	ARG_END };
static const struct verb_arg events_args[] = { ARG_STR("job", ARG_MAX_NAME),
	ARG_OPT("after", A_INT), ARG_OPT("limit", A_INT),
	ARG_OPT("follow", A_BOOL), ARG_STR("agent", ARG_MAX_NAME),
	ARG_STR("type", ARG_MAX_NAME), ARG_STR("since", ARG_MAX_NAME),
	ARG_END };
static const struct verb_arg logs_args[] = {
	ARG_NEED_STR("agent", ARG_MAX_NAME), ARG_OPT("offset", A_INT),
	ARG_OPT("wait", A_NUMBER), ARG_OPT("tail", A_INT), ARG_END
};
static const struct verb_arg jobs_args[] = { ARG_STR("state", ARG_MAX_NAME),
	ARG_END };
static const struct verb_arg heartbeat_args[] = { ARG_STR("note", ARG_MAX_NOTE),
	ARG_END };
static const struct verb_arg recv_args[] = { ARG_OPT("wait", A_NUMBER),
	ARG_END };
/* The data's own limit is [store] checkpoint_max, checked by the verb. */
static const struct verb_arg checkpoint_args[] = {
	ARG_STR("note", ARG_MAX_NOTE), ARG_STR("data", SWARM_MAX_LINE),
	ARG_STR("encoding", ARG_MAX_NAME), ARG_STR("path", ARG_MAX_PATH),
	ARG_STR("sha256", ARG_MAX_NAME), ARG_OPT("size", A_INT), ARG_END
};
static const struct verb_arg report_args[] = { ARG_OPT("input", A_INT),
	ARG_OPT("output", A_INT), ARG_OPT("cache_read", A_INT),
	ARG_OPT("cache_creation", A_INT), ARG_STR("model", ARG_MAX_NAME),
	ARG_END };
static const struct verb_arg fail_args[] = { ARG_OPT("transient", A_BOOL),
	ARG_STR("reason", ARG_MAX_NOTE), ARG_STR("class", ARG_MAX_NAME),
	ARG_END };
static const struct verb_arg retry_args[] = {
	ARG_NEED_STR("target", ARG_MAX_NAME), ARG_OPT("dead", A_BOOL), ARG_END
};
static const struct verb_arg escalations_args[] = { ARG_OPT("all", A_BOOL),
	ARG_END };
static const struct verb_arg resolve_args[] = { ARG_NEED_STR(
	                                            "target", ARG_MAX_NAME),
	ARG_NEED_STR("action", ARG_MAX_NAME), ARG_STR("note", ARG_MAX_NOTE),
	ARG_END };
static const struct verb_arg done_args[] = { ARG_STR("summary", ARG_MAX_TEXT),
	ARG_STR("result", ARG_MAX_PATH), ARG_END };
static const struct verb_arg clean_args[] = { ARG_STR("job", ARG_MAX_NAME),
	ARG_OPT("discard", A_BOOL), ARG_END };
static const struct verb_arg blame_args[] = {
	ARG_NEED_STR("commit", ARG_MAX_NAME), ARG_END
};
static const struct verb_arg merges_args[] = { ARG_OPT("all", A_BOOL),
	ARG_END };
static const struct verb_arg merge_args[] = { ARG_NEED_STR(
	                                          "action", ARG_MAX_NAME),
	ARG_NEED_STR("target", ARG_MAX_PATH), ARG_END };
static const struct verb_arg cost_args[] = { ARG_STR("job", ARG_MAX_NAME),
	ARG_STR("by", ARG_MAX_NAME), ARG_STR("since", ARG_MAX_NAME), ARG_END };
/* older_than may pass a day: verb_prune() checks it. */
static const struct verb_arg prune_args[] = { ARG_OPT("older_than", A_ANY),
	ARG_OPT("dry_run", A_BOOL), ARG_END };

/* One entry per verb. */
static const struct verb verbs[] = {
	{ "hello", V_ANY, hello_args, verb_hello },
	{ "submit", V_OPERATOR, submit_args, verb_submit },
	{ "ps", V_OPERATOR, ps_args, verb_ps },
	{ "jobs", V_OPERATOR, jobs_args, verb_jobs },
	{ "show", V_OPERATOR, target_args, verb_show },
	{ "abort", V_OPERATOR, abort_args, verb_abort },
	{ "send", V_OPERATOR, send_args, verb_send },
	{ "pause", V_OPERATOR, job_args, verb_pause },
	{ "resume", V_OPERATOR, job_args, verb_resume },
	{ "events", V_OPERATOR, events_args, verb_events },
	{ "pending", V_OPERATOR, optjob_args, verb_pending },
	{ "logs", V_OPERATOR, logs_args, verb_logs },
	{ "heartbeat", V_AGENT, heartbeat_args, verb_heartbeat },
	{ "recv", V_AGENT, recv_args, verb_recv },
	{ "checkpoint", V_AGENT, checkpoint_args, verb_checkpoint },
	{ "done", V_AGENT, done_args, verb_done },
	{ "report", V_AGENT, report_args, verb_report },
	{ "task", V_AGENT, no_args, verb_task },
	{ "quota", V_OPERATOR, no_args, verb_quota },
	{ "fail", V_AGENT, fail_args, verb_failed },
	{ "dead", V_OPERATOR, optjob_args, verb_dead },
	{ "retry", V_OPERATOR, retry_args, verb_retry },
	{ "escalations", V_OPERATOR, escalations_args, verb_escalations },
	{ "resolve", V_OPERATOR, resolve_args, verb_resolve },
	{ "worktrees", V_OPERATOR, optjob_args, verb_worktrees },
	{ "clean", V_OPERATOR, clean_args, verb_clean },
	{ "blame", V_OPERATOR, blame_args, verb_blame },
	{ "merges", V_OPERATOR, merges_args, verb_merges },
	{ "merge", V_OPERATOR, merge_args, verb_merge },
	{ "cost", V_OPERATOR, cost_args, verb_cost },
	{ "prune", V_OPERATOR, prune_args, verb_prune },
};

static const char *type_names[] = {
	[A_STRING] = "a string",
	[A_INT] = "an integer",
	[A_NUMBER] = "a number",
	[A_BOOL] = "a boolean",
	[A_OBJECT] = "an object",
	[A_ANY] = "a value",
};

enum verb_rc
verb_fail(struct verb_ctx *ctx, const char *code, const char *fmt, ...)
{
	va_list ap;

	ctx->ecode = code;
	va_start(ap, fmt);
	vsnprintf(ctx->emsg, sizeof ctx->emsg, fmt, ap);
	va_end(ap);
	return VERB_ERROR;
}

static int
type_ok(json_t *v, enum arg_type t)
{
	switch (t) {
	case A_STRING:
		return json_is_string(v);
	case A_INT:
		return json_is_integer(v);
	case A_NUMBER:
		/* Durations and waits: non-negative, at most a day. */
		return json_is_number(v) && json_number_value(v) >= 0 &&
		    json_number_value(v) <= 86400;
	case A_BOOL:
		return json_is_boolean(v);
	case A_OBJECT:
		return json_is_object(v);
	case A_ANY:
		return 1;
	}
	return 0;
}

static int
check_args(struct verb_ctx *ctx, const struct verb *v)
{
	const struct verb_arg *a;
	const char *key;
	json_t *val;

	json_object_foreach(ctx->args, key, val) {
		for (a = v->args; a->name != NULL; a++) {
			if (strcmp(a->name, key) == 0)
				break;
		}
		if (a->name == NULL) {
			verb_fail(ctx, SWARM_E_BAD_ARGS,
			    "%s: unknown argument \"%s\"", v->name, key);
			return -1;
		}
		if (!type_ok(val, a->type)) {
			verb_fail(ctx, SWARM_E_BAD_ARGS,
			    "%s: argument \"%s\" must be %s%s", v->name, key,
			    type_names[a->type],
			    a->type == A_NUMBER ? " from 0 to 86400" : "");
			return -1;
		}
		if (a->type == A_STRING && json_string_length(val) > a->max) {
			verb_fail(ctx, SWARM_E_BAD_ARGS,
			    "%s: argument \"%s\" is %zu bytes; the limit is %zu",
			    v->name, key, json_string_length(val), a->max);
			return -1;
		}
	}
	for (a = v->args; a->name != NULL; a++) {
		if (a->required &&
		    json_object_get(ctx->args, a->name) == NULL) {
			verb_fail(ctx, SWARM_E_BAD_ARGS,
			    "%s: argument \"%s\" is required", v->name,
			    a->name);
			return -1;
		}
	}
	return 0;
}

/*
 * A warning about a peer overstepping, at most ten a minute: an agent
 * that keeps trying must not flood the journal.
 */
static void __attribute__((format(printf, 1, 2)))
verb_warn(const char *fmt, ...)
{
	static int64_t window;
	static unsigned n, dropped;
	int64_t now = now_mono_ms();
	char msg[512];
	va_list ap;

	if (window == 0 || now - window >= 60000) {
		window = now;
		n = 0;
	}
	if (n++ >= 10) {
		dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (dropped > 0)
		log_warnx("%s (%u more like it not logged)", msg, dropped);
	else
		log_warnx("%s", msg);
	dropped = 0;
}

/* "agent-N's process", or the peer that could not be told from one. */
static const char *
peer_words(struct verb_ctx *ctx, char *buf, size_t len)
{
	if (ctx->peer == PEER_UNKNOWN)
		return "could not be told apart from an agent's process";
	snprintf(buf, len, "is agent-%lld's process", (long long)ctx->peer);
	return buf;
}

/* The caller must hold the live agent's token; it then acts as that agent. */
static int
check_auth(struct verb_ctx *ctx, json_t *auth)
{
	const char *name = json_string_value(json_object_get(auth, "agent"));
	const char *token = json_string_value(json_object_get(auth, "token"));
	uint8_t hash[SHA256_LEN];
	struct agent *a;
	int64_t id;

	if (!json_is_object(auth) || name == NULL || token == NULL) {
		verb_fail(ctx, SWARM_E_UNAUTHORIZED,
		    "agent verbs need auth {\"agent\", \"token\"} from the agent's environment");
		return -1;
	}
	sha256(token, strlen(token), hash);
	if (agent_parse_id(name, &id) == -1 || (a = agent_find(id)) == NULL ||
	    a->pid <= 0 || !ct_equal(hash, a->token_hash, SHA256_LEN)) {
		verb_fail(ctx, SWARM_E_UNAUTHORIZED,
		    "token is not valid for a live agent named %s", name);
		return -1;
	}
	/* A token works only in its own agent's processes. */
	if (ctx->peer > 0 && a->id != ctx->peer) {
		verb_warn("agent-%lld's process presented agent-%lld's token; "
		          "refused",
		    (long long)ctx->peer, (long long)a->id);
		verb_fail(ctx, SWARM_E_UNAUTHORIZED,
		    "this process is agent-%lld's: agent-%lld's token is not "
		    "good here",
		    (long long)ctx->peer, (long long)a->id);
		return -1;
	}
	ctx->self = a;
	return 0;
}

static const struct verb *
verb_find(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(verbs); i++) {
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	}
	return NULL;
}

static int
check_request(struct verb_ctx *ctx, json_t *req, const struct verb **vp)
{
	const char *key, *name;
	json_t *val;

	if (!json_is_object(req))
		return verb_fail(ctx, SWARM_E_BAD_REQUEST,
		           "a request is a JSON object"),
		       -1;
	json_object_foreach(req, key, val) {
		if (strcmp(key, "id") != 0 && strcmp(key, "verb") != 0 &&
		    strcmp(key, "args") != 0 && strcmp(key, "auth") != 0)
			return verb_fail(ctx, SWARM_E_BAD_REQUEST,
			           "unknown request member \"%s\"", key),
			       -1;
	}
	if ((name = json_string_value(json_object_get(req, "verb"))) == NULL)
		return verb_fail(ctx, SWARM_E_BAD_REQUEST,
		           "\"verb\" must be a string"),
		       -1;
	if ((*vp = verb_find(name)) == NULL)
		return verb_fail(ctx, SWARM_E_UNKNOWN_VERB,
		           "no such verb: %.64s", name),
		       -1;
	if (ctx->args != NULL && !json_is_object(ctx->args))
		return verb_fail(ctx, SWARM_E_BAD_REQUEST,
		           "\"args\" must be an object"),
		       -1;
	if (((*vp)->flags & V_OPERATOR) && ctx->peer != PEER_OUTSIDE) {
		char words[64];

		verb_warn("%s refused: the peer %s", name,
		    peer_words(ctx, words, sizeof words));
		return verb_fail(ctx, SWARM_E_FORBIDDEN,
		           "agents are not operators: %s is an operator verb, "
		           "and this peer %s",
		           name, peer_words(ctx, words, sizeof words)),
		       -1;
	}
	if (((*vp)->flags & V_OPERATOR) && !ctx->is_operator)
		return verb_fail(ctx, SWARM_E_FORBIDDEN,
		           "%s is an operator verb: it needs root, uid %d or group %s",
		           name, (int)srv.uid, srv.cfg.operator_group),
		       -1;
	if (((*vp)->flags & V_AGENT) &&
	    check_auth(ctx, json_object_get(req, "auth")) == -1)
		return -1;
	return 0;
}

/*
 * Check REQ against the verb table without running it: its members, the
 * verb, the caller's right to it and the arguments.  On success *VP is
 * the verb and ctx->args a reference the caller drops.  The fuzz target
 * "request" calls this too.
 */
int
verb_check(struct verb_ctx *ctx, json_t *req, const struct verb **vp)
{
	json_t *id = json_object_get(req, "id");

	ctx->id = id != NULL && (json_is_integer(id) || json_is_string(id)) ?
	    id :
	    json_null();
	ctx->args = json_object_get(req, "args");
	if (check_request(ctx, req, vp) == -1) {
		ctx->args = NULL;
		return -1;
	}
	if (ctx->args == NULL)
		ctx->args = json_object();
	else
		json_incref(ctx->args);
	if (check_args(ctx, *vp) == -1) {
		json_decref(ctx->args);
		ctx->args = NULL;
		return -1;
	}
	return 0;
}

void
verb_dispatch(struct client *c, int is_operator, int64_t peer, json_t *req)
{
	struct verb_ctx ctx;
	const struct verb *v;
	enum verb_rc rc;

	memset(&ctx, 0, sizeof ctx);
	ctx.client = c;
	ctx.is_operator = is_operator;
	ctx.peer = peer;
	if (verb_check(&ctx, req, &v) == 0) {
		ctx.reply = json_object();
		rc = v->exec(&ctx);
		json_decref(ctx.args);
	} else
		rc = VERB_ERROR;
	if (rc == VERB_OK)
		client_reply(c, ctx.id, ctx.reply);
	else if (rc == VERB_ERROR)
		client_error_extra(
		    c, ctx.id, ctx.ecode, ctx.edetail, "%s", ctx.emsg);
	json_decref(ctx.reply);
	json_decref(ctx.edetail);
}

/*
 * Run operator verb NAME with ARGS for a caller beside the control socket
 * (the dashboard's buttons, http.c), through the same checks: the reply,
 * with "ok", as a client would read it.  Only verbs that answer at once:
 * one that defers needs a client.
 */
json_t *
verb_call(const char *name, json_t *args)
{
	struct verb_ctx ctx;
	const struct verb *v;
	enum verb_rc rc = VERB_ERROR;
	json_t *req, *r;

	memset(&ctx, 0, sizeof ctx);
	ctx.is_operator = 1;
	ctx.peer = PEER_OUTSIDE;
	req = json_pack("{s:s, s:O}", "verb", name, "args", args);
	if (verb_check(&ctx, req, &v) == 0) {
		ctx.reply = json_object();
		rc = v->exec(&ctx);
		json_decref(ctx.args);
	}
	json_decref(req);
	if (rc == VERB_OK) {
		r = json_pack("{s:b}", "ok", 1);
		json_object_update_missing(r, ctx.reply);
	} else {
		if (rc != VERB_ERROR)
			verb_fail(
			    &ctx, SWARM_E_INTERNAL, "%s needs a client", name);
		r = server_error_json(NULL, ctx.ecode, ctx.edetail, ctx.emsg);
	}
	json_decref(ctx.reply);
	json_decref(ctx.edetail);
	return r;
}

const char *
arg_str(struct verb_ctx *ctx, const char *name)
{
	return json_string_value(json_object_get(ctx->args, name));
}

int
arg_bool(struct verb_ctx *ctx, const char *name)
{
	return json_is_true(json_object_get(ctx->args, name));
}

double
arg_num(struct verb_ctx *ctx, const char *name, double dflt)
{
	json_t *v = json_object_get(ctx->args, name);

	return v != NULL ? json_number_value(v) : dflt;
}

/*
 * "job-N/CHUNK" as an existing chunk: *JOB and *CHUNK (into TARGET).  -1
 * with the request failed when it names no job or no chunk of it.
 */
static int
chunk_name(
    struct verb_ctx *ctx, const char *target, int64_t *job, const char **chunk)
{
	const char *slash = strchr(target, '/');
	char jobname[ARG_MAX_NAME + 1];

	snprintf(
	    jobname, sizeof jobname, "%.*s", (int)(slash - target), target);
	if (job_parse_id(jobname, job) == -1) {
		verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such chunk: \"%.128s\" (expected job-N/CHUNK)", target);
		return -1;
	}
	if (!job_exists(*job)) {
		verb_fail(ctx, SWARM_E_NOT_FOUND, "no such job: job-%lld",
		    (long long)*job);
		return -1;
	}
	*chunk = slash + 1;
	if (chunk_state_of(*job, *chunk) == CHUNK_INVALID) {
		verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such chunk: job-%lld has no chunk \"%.128s\"",
		    (long long)*job, *chunk);
		return -1;
	}
	return 0;
}

/*
 * TARGET as one agent: "agent-N", or "job-N/CHUNK" for the chunk's live
 * agent, else its latest attempt (an agent's id changes with every
 * attempt, a chunk's does not).  1 with *ID; 0 when TARGET is neither
 * form; -1 with the request failed when it names no job, no chunk, or a
 * chunk that never ran.
 */
int
verb_target_agent(struct verb_ctx *ctx, const char *target, int64_t *id)
{
	const char *chunk;
	int64_t job;

	if (agent_parse_id(target, id) == 0)
		return 1;
	if (strchr(target, '/') == NULL)
		return 0;
	if (chunk_name(ctx, target, &job, &chunk) == -1)
		return -1;
	if ((*id = agent_of_chunk(job, chunk)) == 0) {
		verb_fail(ctx, SWARM_E_CONFLICT,
		    "job-%lld/%.128s has no agent: it has not run yet",
		    (long long)job, chunk);
		return -1;
	}
	return 1;
}

/*
 * TARGET as one chunk: "job-N/CHUNK", or "agent-N" for the chunk it ran.
 * 1 with *JOB and *CHUNK (the caller frees it); 0 when TARGET is neither
 * form; -1 with the request failed when no such job, chunk or agent.
 */
int
verb_target_chunk(
    struct verb_ctx *ctx, const char *target, int64_t *job, char **chunk)
{
	const char *name;
	int64_t id;

	if (agent_parse_id(target, &id) == 0) {
		if ((*chunk = agent_chunk_of(id, job)) != NULL)
			return 1;
		verb_fail(ctx, SWARM_E_NOT_FOUND, "no such agent: agent-%lld",
		    (long long)id);
		return -1;
	}
	if (strchr(target, '/') == NULL)
		return 0;
	if (chunk_name(ctx, target, job, &name) == -1)
		return -1;
	*chunk = xstrdup(name);
	return 1;
}

enum verb_rc
verb_hello(struct verb_ctx *ctx)
{
	json_t *v = json_object_get(ctx->args, "version");

	if (v != NULL && json_integer_value(v) != SWARM_PROTOCOL_VERSION)
		return verb_fail(ctx, SWARM_E_VERSION,
		    "protocol version %lld is not supported; this swarmd speaks %d",
		    (long long)json_integer_value(v), SWARM_PROTOCOL_VERSION);
	json_object_set_new(
	    ctx->reply, "version", json_integer(SWARM_PROTOCOL_VERSION));
	json_object_set_new(
	    ctx->reply, "server", json_string("swarmd " SWARM_VERSION));
	json_object_set_new(
	    ctx->reply, "operator", json_boolean(ctx->is_operator));
	if (ctx->peer > 0)
		json_object_set_new(ctx->reply, "agent",
		    json_sprintf("agent-%lld", (long long)ctx->peer));
	return VERB_OK;
}
