/*
 * openai.c: POST /v1/chat/completions, OpenAI's API on the same engine.
 * A request is checked as OpenAI checks it (a bearer key, the body, the
 * fields), then the fail fault, then the same rate limiter; the reply is
 * planned and counted as a message is (plan.c, count.c) and sent by
 * reply.c in OpenAI's shapes, built here.  Every answer carries an
 * x-request-id and the x-ratelimit-* headers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fake-upstream.h"

#define FINGERPRINT "fp_fake0001"

/* A check that failed: what OpenAI says, and about which parameter. */
struct oerr {
	char message[512];
	char param[128];  /* "": null */
	const char *code; /* NULL: null */
};

static void
openai_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char rid[48];

	id_make(rid, sizeof rid, "req_", 32);
	evhttp_add_header(h, "x-request-id", rid);
	evhttp_add_header(h, "openai-version", "2020-10-01");
	ratelimit_openai_headers(h);
}

static void
openai_error(struct evhttp_request *req, int status, const char *type,
    const struct oerr *e)
{
	openai_headers(req);
	api_send_json(req, status,
	    json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message",
	        e->message, "type", type, "param",
	        e->param[0] != '\0' ? e->param : NULL, "code", e->code));
}

static int fail(struct oerr *e, const char *param, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct oerr *e, const char *param, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	snprintf(e->param, sizeof e->param, "%s", param != NULL ? param : "");
	e->code = code;
	return -1;
}

static const char *
type_name(json_t *v)
{
	if (v == NULL)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a decimal";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static int
wrong_type(struct oerr *e, const char *param, const char *want, json_t *v)
{
	return fail(e, param, "invalid_type",
	    "Invalid type for '%s': expected %s, but got %s instead.", param,
	    want, type_name(v));
}

static int
missing(struct oerr *e, const char *param)
{
	return fail(e, param, "missing_required_parameter",
	    "Missing required parameter: '%s'.", param);
}

static int
check_parts(json_t *content, const char *where, struct oerr *e)
{
	char param[128];
	json_t *part;
	size_t i;

	json_array_foreach(content, i, part) {
		snprintf(param, sizeof param, "%s.content[%zu]", where, i);
		if (!json_is_object(part))
			return wrong_type(e, param, "an object", part);
		if (!json_is_string(json_object_get(part, "type"))) {
			snprintf(param, sizeof param, "%s.content[%zu].type",
			    where, i);
			return missing(e, param);
		}
	}
	return 0;
}

static int
check_message(json_t *m, size_t i, struct oerr *e)
{
	static const char *roles[] = { "system", "developer", "user",
		"assistant", "tool", "function" };
	char where[64], param[128];
	json_t *content;
	const char *role;
	size_t r;

	snprintf(where, sizeof where, "messages[%zu]", i);
	if (!json_is_object(m))
		return wrong_type(e, where, "an object", m);
	snprintf(param, sizeof param, "%s.role", where);
	if ((role = json_string_value(json_object_get(m, "role"))) == NULL)
		return missing(e, param);
	for (r = 0; r < nitems(roles); r++)
		if (strcmp(role, roles[r]) == 0)
			break;
	if (r == nitems(roles))
		return fail(e, param, "invalid_value",
		    "Invalid value: '%.64s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
		    role);
	snprintf(param, sizeof param, "%s.content", where);
	content = json_object_get(m, "content");
	/* Only an assistant turn (with its tool calls) may go without. */
	if ((content == NULL || json_is_null(content)) &&
	    strcmp(role, "assistant") != 0)
		return missing(e, param);
	if (content != NULL && !json_is_null(content) &&
	    !json_is_string(content) && !json_is_array(content))
		return wrong_type(
		    e, param, "one of a string or array", content);
	if (strcmp(role, "tool") == 0 &&
	    !json_is_string(json_object_get(m, "tool_call_id"))) {
		snprintf(param, sizeof param, "%s.tool_call_id", where);
		return missing(e, param);
	}
	return check_parts(content, where, e);
}

static int
check_messages(json_t *msgs, struct oerr *e)
{
	json_t *m;
	size_t i;

	if (msgs == NULL)
		return missing(e, "messages");
	if (!json_is_array(msgs))
		return wrong_type(e, "messages", "an array", msgs);
	if (json_array_size(msgs) == 0)
		return fail(e, "messages", "empty_array",
		    "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.");
	json_array_foreach(msgs, i, m) {
		if (check_message(m, i, e) == -1)
			return -1;
	}
	return 0;
}

static int
check_tools(json_t *tools, struct oerr *e)
{
	char param[64];
	json_t *t, *fn;
	size_t i;

	if (tools == NULL)
		return 0;
	if (!json_is_array(tools))
		return wrong_type(e, "tools", "an array", tools);
	json_array_foreach(tools, i, t) {
		snprintf(param, sizeof param, "tools[%zu].function", i);
		fn = json_object_get(t, "function");
		if (!json_is_object(fn))
			return missing(e, param);
		snprintf(param, sizeof param, "tools[%zu].function.name", i);
		if (!json_is_string(json_object_get(fn, "name")))
			return missing(e, param);
	}
	return 0;
}

static int
check_max(json_t *o, const char *key, struct oerr *e)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return wrong_type(e, key, "an integer", v);
	if (json_integer_value(v) < 1)
		return fail(e, key, "integer_below_min_value",
		    "Invalid '%s': integer below minimum value. Expected a value >= 1, but got %lld instead.",
		    key, (long long)json_integer_value(v));
	return 0;
}

static int
check_stream(json_t *o, struct oerr *e)
{
	json_t *stream = json_object_get(o, "stream");
	json_t *opts = json_object_get(o, "stream_options"), *v;

	if (stream != NULL && !json_is_null(stream) && !json_is_boolean(stream))
		return wrong_type(e, "stream", "a boolean", stream);
	if (opts == NULL || json_is_null(opts))
		return 0;
	if (!json_is_true(stream))
		return fail(e, "stream_options", NULL,
		    "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
	if (!json_is_object(opts))
		return wrong_type(e, "stream_options", "an object", opts);
	v = json_object_get(opts, "include_usage");
	if (v != NULL && !json_is_boolean(v))
		return wrong_type(
		    e, "stream_options.include_usage", "a boolean", v);
	return 0;
}

static int
check_request(json_t *o, struct oerr *e)
{
	json_t *model = json_object_get(o, "model");

	if (model == NULL || json_is_null(model))
		return fail(
		    e, NULL, NULL, "you must provide a model parameter");
	if (!json_is_string(model))
		return wrong_type(e, "model", "a string", model);
	if (check_messages(json_object_get(o, "messages"), e) == -1 ||
	    check_max(o, "max_tokens", e) == -1 ||
	    check_max(o, "max_completion_tokens", e) == -1 ||
	    check_stream(o, e) == -1)
		return -1;
	return check_tools(json_object_get(o, "tools"), e);
}

/* sk-abc...wxyz: OpenAI never echoes a whole key. */
static void
mask_key(const char *key, char *buf, size_t len)
{
	size_t n = strlen(key);

	if (n <= 8)
		snprintf(buf, len, "%.*s", (int)n, "********");
	else
		snprintf(buf, len, "%.3s****%s", key, key + n - 4);
}

static int
openai_auth(struct evhttp_request *req, struct oerr *e)
{
	const char *key = api_key(req, API_OPENAI);
	char masked[64];

	if (key == NULL) {
		fail(e, NULL, NULL,
		    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth "
		    "(i.e. Authorization: Bearer YOUR_KEY).");
		return 401;
	}
	if (cfg.api_key != NULL && strcmp(key, cfg.api_key) != 0) {
		mask_key(key, masked, sizeof masked);
		fail(e, NULL, "invalid_api_key",
		    "Incorrect API key provided: %s.", masked);
		return 401;
	}
	return 0;
}

/* The request's JSON object, or NULL once an error has been sent. */
static json_t *
openai_body(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct oerr e;
	json_error_t je;
	json_t *o;
	int status;

	memset(&e, 0, sizeof e);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		fail(&e, NULL, NULL, "Method Not Allowed");
		openai_error(req, 405, "invalid_request_error", &e);
		return NULL;
	}
	if ((status = openai_auth(req, &e)) != 0) {
		openai_error(req, status, "invalid_request_error", &e);
		return NULL;
	}
	if (evbuffer_get_length(in) > (size_t)cfg.max_body) {
		fail(&e, NULL, NULL, "Request too large.");
		openai_error(req, 413, "invalid_request_error", &e);
		return NULL;
	}
	if ((o = api_load(req, &je)) == NULL) {
		fail(&e, NULL, NULL,
		    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)");
		openai_error(req, 400, "invalid_request_error", &e);
		return NULL;
	}
	if (!json_is_object(o)) {
		wrong_type(&e, "body", "an object", o);
		openai_error(req, 400, "invalid_request_error", &e);
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The fail fault in OpenAI's words. */
static void
openai_fail(struct evhttp_request *req, const struct fault *f)
{
	struct oerr e;
	const char *type = "invalid_request_error";
	char v[32];

	memset(&e, 0, sizeof e);
	stats.injected++;
	if (f->retry_after > 0) {
		snprintf(v, sizeof v, "%ld", f->retry_after);
		evhttp_add_header(
		    evhttp_request_get_output_headers(req), "retry-after", v);
	}
	if (f->status == 429) {
		type = "requests";
		fail(&e, NULL, "rate_limit_exceeded",
		    "Rate limit reached for requests.");
	} else if (f->status == 503 || f->status == 529) {
		type = "server_error";
		fail(&e, NULL, NULL,
		    "The engine is currently overloaded, please try again later.");
	} else if (f->status >= 500) {
		type = "server_error";
		fail(&e, NULL, NULL,
		    "The server had an error while processing your request. Sorry about that!");
	} else
		fail(&e, NULL, NULL, "Injected fault.");
	openai_error(req, (int)f->status, type, &e);
}

static void
openai_rate_limited(struct evhttp_request *req, const char *model,
    const double cost[RL_N], long wait, enum rl_kind k)
{
	struct oerr e;
	double limit = cfg.limit[k];
	char v[32];

	memset(&e, 0, sizeof e);
	stats.rate_limited++;
	snprintf(v, sizeof v, "%ld", wait);
	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "retry-after", v);
	fail(&e, NULL, "rate_limit_exceeded",
	    "Rate limit reached for %.64s in organization org-fake on %s per min (%s): Limit %.0f, Used %.0f, Requested %.0f. Please try again in %lds. Visit https://platform.openai.com/account/rate-limits to learn more.",
	    model, k == RL_REQUESTS ? "requests" : "tokens",
	    k == RL_REQUESTS ? "RPM" : "TPM", limit, limit - ratelimit_level(k),
	    cost[k], wait);
	openai_error(req, 429, k == RL_REQUESTS ? "requests" : "tokens", &e);
}

static void
openai_reply_to(json_t *o, struct evhttp_request *req, struct reply_to *to)
{
	memset(to, 0, sizeof *to);
	to->api = API_OPENAI;
	to->stream = json_is_true(json_object_get(o, "stream"));
	to->include_usage = json_is_true(json_object_get(
	    json_object_get(o, "stream_options"), "include_usage"));
	to->key = stats_key(api_key(req, API_OPENAI));
}

void
openai_chat(struct evhttp_request *req)
{
	struct reply_faults rf;
	struct reply_to to;
	struct plan plan;
	struct oerr e;
	const struct fault *f;
	double cost[RL_N];
	enum rl_kind refused = RL_REQUESTS;
	json_t *o;
	long wait;

	stats.chat_completions++;
	if ((o = openai_body(req)) == NULL)
		return;
	memset(&e, 0, sizeof e);
	if (check_request(o, &e) == -1) {
		openai_error(req, 400, "invalid_request_error", &e);
		json_decref(o);
		return;
	}
	openai_reply_to(o, req, &to);
	if ((f = fault_take(FAULT_FAIL)) != NULL) {
		openai_fail(req, f);
		json_decref(o);
		return;
	}
	plan_make(o, API_OPENAI, &plan);
	json_decref(o);
	/* Cache reads are free here too; there are no cache writes. */
	cost[RL_REQUESTS] = 1;
	cost[RL_INPUT] = plan.usage.input;
	cost[RL_OUTPUT] = plan.usage.output;
	cost[RL_TOKENS] = cost[RL_INPUT] + cost[RL_OUTPUT];
	if (ratelimit_admit(cost, &wait, &refused) == -1) {
		openai_rate_limited(req, plan.model, cost, wait, refused);
		plan_free(&plan);
		return;
	}
	cache_remember(plan.cache_keys);
	api_faults(to.stream, &rf);
	openai_headers(req);
	reply_start(req, &plan, &to, &rf);
}

/* ---- the reply's shapes ---- */

static const char *
finish_reason(const char *stop_reason)
{
	if (strcmp(stop_reason, "max_tokens") == 0)
		return "length";
	if (strcmp(stop_reason, "tool_use") == 0)
		return "tool_calls";
	return "stop";
}

static json_t *
usage_json(const struct usage *u)
{
	long prompt = u->input + u->cache_creation + u->cache_read;

	return json_pack(
	    "{s:I, s:I, s:I, s:{s:I, s:i}, s:{s:i, s:i, s:i, s:i}}",
	    "prompt_tokens", (json_int_t)prompt, "completion_tokens",
	    (json_int_t)u->output, "total_tokens",
	    (json_int_t)prompt + u->output, "prompt_tokens_details",
	    "cached_tokens", (json_int_t)u->cache_read, "audio_tokens", 0,
	    "completion_tokens_details", "reasoning_tokens", 0, "audio_tokens",
	    0, "accepted_prediction_tokens", 0, "rejected_prediction_tokens",
	    0);
}

static json_t *
tool_call_json(const struct plan *p)
{
	return json_pack("[{s:i, s:s, s:s, s:{s:s, s:s}}]", "index", 0, "id",
	    p->tool_id, "type", "function", "function", "name", p->tool_name,
	    "arguments", "");
}

json_t *
openai_completion(const struct plan *p)
{
	json_t *msg, *calls;

	msg = json_pack("{s:s, s:s, s:n, s:[]}", "role", "assistant", "content",
	    p->text, "refusal", "annotations");
	if (p->tool_name != NULL) {
		calls = tool_call_json(p);
		json_object_del(json_array_get(calls, 0), "index");
		json_object_set_new(
		    json_object_get(json_array_get(calls, 0), "function"),
		    "arguments", json_string(p->tool_input));
		json_object_set_new(msg, "tool_calls", calls);
	}
	return json_pack(
	    "{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s}], s:o, s:s, s:s}",
	    "id", p->id, "object", "chat.completion", "created",
	    (json_int_t)time(NULL), "model", p->model, "choices", "index", 0,
	    "message", msg, "logprobs", "finish_reason",
	    finish_reason(p->stop_reason), "usage", usage_json(&p->usage),
	    "service_tier", "default", "system_fingerprint", FINGERPRINT);
}

/* One chunk; choices NULL: the usage chunk, with none. */
static void
chunk_push(struct frames *fr, enum frame_kind kind, const struct plan *p,
    json_t *delta, const char *finish, int include_usage,
    const struct usage *told)
{
	json_t *c;
	char *s;

	c = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "id", p->id, "object",
	    "chat.completion.chunk", "created", (json_int_t)time(NULL), "model",
	    p->model, "service_tier", "default", "system_fingerprint",
	    FINGERPRINT);
	if (delta != NULL)
		json_object_set_new(c, "choices",
		    json_pack("[{s:i, s:o, s:n, s:s?}]", "index", 0, "delta",
		        delta, "logprobs", "finish_reason", finish));
	else
		json_object_set_new(c, "choices", json_array());
	/* With include_usage every chunk has "usage", null but the last. */
	if (told != NULL)
		json_object_set_new(c, "usage", usage_json(told));
	else if (include_usage)
		json_object_set_new(c, "usage", json_null());
	s = json_dumps(c, JSON_COMPACT);
	frames_push(fr, kind, xasprintf("data: %s\n\n", s), told);
	free(s);
	json_decref(c);
}

/* Each piece of s as its own delta: content, or a tool call's arguments. */
static void
chunk_pieces(struct frames *fr, const struct plan *p, const char *s, int text,
    int include_usage)
{
	size_t len = strlen(s), n;
	json_t *delta;
	char *piece;

	for (; len > 0; s += n, len -= n) {
		n = reply_piece(s, len, (size_t)cfg.delta_bytes, text);
		piece = xasprintf("%.*s", (int)n, s);
		if (text)
			delta = json_pack("{s:s}", "content", piece);
		else
			delta = json_pack("{s:[{s:i, s:{s:s}}]}", "tool_calls",
			    "index", 0, "function", "arguments", piece);
		chunk_push(fr, FR_DELTA, p, delta, NULL, include_usage, NULL);
		free(piece);
	}
}

/*
 * The stream as OpenAI writes it: a role chunk, content deltas, [a tool
 * call and its argument deltas], a chunk with finish_reason, with
 * include_usage a chunk with no choices and the usage, then [DONE].  Only
 * that usage chunk tells the client what it used.
 */
void
openai_frames(struct frames *fr, const struct plan *p, int include_usage)
{
	chunk_push(fr, FR_START, p,
	    json_pack("{s:s, s:s, s:n}", "role", "assistant", "content", "",
	        "refusal"),
	    NULL, include_usage, NULL);
	chunk_pieces(fr, p, p->text, 1, include_usage);
	if (p->tool_name != NULL) {
		chunk_push(fr, FR_OTHER, p,
		    json_pack("{s:o}", "tool_calls", tool_call_json(p)), NULL,
		    include_usage, NULL);
		chunk_pieces(fr, p, p->tool_input, 0, include_usage);
	}
	chunk_push(fr, FR_END, p, json_object(), finish_reason(p->stop_reason),
	    include_usage, NULL);
	if (include_usage)
		chunk_push(fr, FR_OTHER, p, NULL, NULL, 1, &p->usage);
	frames_push(fr, FR_STOP, xstrdup("data: [DONE]\n\n"), NULL);
}

/* A stream cut by an error: OpenAI sends the error as data, then ends. */
char *
openai_error_event(const char *type)
{
	json_t *o;
	char *s, *text;

	/* The fault's default types are Anthropic's. */
	if (strcmp(type, "overloaded_error") == 0 ||
	    strcmp(type, "api_error") == 0)
		type = "server_error";
	o = json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message",
	    "The server had an error while processing your request. Sorry about that!",
	    "type", type, "param", "code");
	s = json_dumps(o, JSON_COMPACT);
	text = xasprintf("data: %s\n\n", s);
	free(s);
	json_decref(o);
	return text;
}
