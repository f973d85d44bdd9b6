/*
 * api.c: POST /v1/messages and /v1/messages/count_tokens.  A request is
 * checked the way the API checks it (key, version header, body, fields),
 * then the fail fault, then the rate limiter; what passes goes to reply.c.
 * Every answer carries a request-id and the anthropic-ratelimit-* headers.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fake-upstream.h"

static const struct {
	int status;
	const char *type;
	const char *reason;
} statuses[] = {
	{ 200, "", "OK" },
	{ 400, "invalid_request_error", "Bad Request" },
	{ 401, "authentication_error", "Unauthorized" },
	{ 403, "permission_error", "Forbidden" },
	{ 404, "not_found_error", "Not Found" },
	{ 405, "invalid_request_error", "Method Not Allowed" },
	{ 413, "request_too_large", "Payload Too Large" },
	{ 429, "rate_limit_error", "Too Many Requests" },
	{ 500, "api_error", "Internal Server Error" },
	{ 502, "api_error", "Bad Gateway" },
	{ 503, "api_error", "Service Unavailable" },
	{ 504, "api_error", "Gateway Timeout" },
	{ 529, "overloaded_error", "Overloaded" },
};

static size_t
status_find(int status)
{
	size_t i;

	for (i = 0; i < nitems(statuses); i++)
		if (statuses[i].status == status)
			return i;
	return nitems(statuses);
}

/* Both are added before any body: the state after this request. */
static void
api_headers(struct evhttp_request *req, char *rid, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	id_make(rid, len, "req_011C", 20);
	evhttp_add_header(h, "request-id", rid);
	ratelimit_headers(h);
}

void
api_send_json(struct evhttp_request *req, int status, json_t *o)
{
	struct evbuffer *buf = evbuffer_new();
	char *s = json_dumps(o, JSON_COMPACT);
	size_t i = status_find(status);

	evbuffer_add(buf, s, strlen(s));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "content-type", "application/json");
	evhttp_send_reply(req, status,
	    i < nitems(statuses) ? statuses[i].reason : "Error", buf);
	stats_status(status);
	evbuffer_free(buf);
	free(s);
	json_decref(o);
}

/* An error in the API's shape; type NULL: the one the status implies. */
void
api_error(
    struct evhttp_request *req, int status, const char *type, const char *msg)
{
	char rid[40];
	size_t i = status_find(status);

	if (type == NULL)
		type = i < nitems(statuses) ? statuses[i].type : "api_error";
	api_headers(req, rid, sizeof rid);
	api_send_json(req, status,
	    json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "error", "error",
	        "type", type, "message", msg, "request_id", rid));
}

void
api_not_found(struct evhttp_request *req)
{
	api_error(req, 404, NULL, "Not Found");
}

/*
 * The key a request presents: x-api-key, or else a bearer token; OpenAI
 * takes only the bearer token.
 */
const char *
api_key(struct evhttp_request *req, enum api api)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *key = NULL;
	const char *auth = evhttp_find_header(h, "authorization");

	if (api == API_ANTHROPIC)
		key = evhttp_find_header(h, "x-api-key");
	if (key == NULL && auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
		key = auth + 7;
	return key != NULL && *key != '\0' ? key : NULL;
}

static int
api_auth(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *key = api_key(req, API_ANTHROPIC);

	if (key == NULL) {
		api_error(req, 401, NULL, "x-api-key header is required");
		return -1;
	}
	if (cfg.api_key != NULL && strcmp(key, cfg.api_key) != 0) {
		api_error(req, 401, NULL, "invalid x-api-key");
		return -1;
	}
	if (cfg.require_version &&
	    evhttp_find_header(h, "anthropic-version") == NULL) {
		api_error(
		    req, 400, NULL, "anthropic-version: header is required");
		return -1;
	}
	return 0;
}

/* The body as JSON, or NULL with je set. */
json_t *
api_load(struct evhttp_request *req, json_error_t *je)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);

	/* An empty buffer pulls up to NULL, which jansson refuses as such. */
	return json_loadb(
	    len > 0 ? (const char *)evbuffer_pullup(in, -1) : "", len, 0, je);
}

/* The request's JSON object, or NULL once an error has been sent. */
static json_t *
api_body(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char msg[256];
	json_error_t je;
	json_t *o;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		api_error(req, 405, NULL, "Method Not Allowed");
		return NULL;
	}
	if (api_auth(req) == -1)
		return NULL;
	if (len > (size_t)cfg.max_body) {
		api_error(req, 413, NULL, "Request exceeds the maximum size");
		return NULL;
	}
	if ((o = api_load(req, &je)) == NULL) {
		snprintf(msg, sizeof msg,
		    "There was an error parsing the body: %s", je.text);
		api_error(req, 400, NULL, msg);
		return NULL;
	}
	if (!json_is_object(o)) {
		api_error(req, 400, NULL, "body: Input should be an object");
		json_decref(o);
		return NULL;
	}
	return o;
}

static int
check_content(json_t *content, size_t m, char *msg, size_t len)
{
	json_t *b;
	size_t i;

	if (json_is_string(content))
		return 0;
	if (!json_is_array(content)) {
		snprintf(msg, len, "messages.%zu.content: Field required", m);
		return -1;
	}
	json_array_foreach(content, i, b) {
		if (!json_is_string(json_object_get(b, "type"))) {
			snprintf(msg, len,
			    "messages.%zu.content.%zu.type: Field required", m,
			    i);
			return -1;
		}
	}
	return 0;
}

static int
check_messages(json_t *msgs, char *msg, size_t len)
{
	const char *role;
	json_t *m;
	size_t i;

	if (!json_is_array(msgs)) {
		snprintf(msg, len, "messages: Field required");
		return -1;
	}
	if (json_array_size(msgs) == 0) {
		snprintf(
		    msg, len, "messages: at least one message is required");
		return -1;
	}
	json_array_foreach(msgs, i, m) {
		role = json_string_value(json_object_get(m, "role"));
		/* "system" turns come with a beta Claude Code uses. */
		if (role == NULL ||
		    (strcmp(role, "user") != 0 &&
		        strcmp(role, "assistant") != 0 &&
		        strcmp(role, "system") != 0)) {
			snprintf(msg, len,
			    "messages.%zu.role: Input should be 'user' or 'assistant'",
			    i);
			return -1;
		}
		if (check_content(json_object_get(m, "content"), i, msg, len) ==
		    -1)
			return -1;
	}
	return 0;
}

static int
check_tools(json_t *tools, char *msg, size_t len)
{
	json_t *t;
	size_t i;

	if (tools == NULL)
		return 0;
	if (!json_is_array(tools)) {
		snprintf(msg, len, "tools: Input should be a valid list");
		return -1;
	}
	json_array_foreach(tools, i, t) {
		if (!json_is_string(json_object_get(t, "name"))) {
			snprintf(msg, len, "tools.%zu.name: Field required", i);
			return -1;
		}
	}
	return 0;
}

/* The checks the API makes; count_tokens needs no max_tokens. */
static int
check_request(json_t *o, int need_max, char *msg, size_t len)
{
	json_t *model = json_object_get(o, "model");
	json_t *max = json_object_get(o, "max_tokens");
	json_t *v;

	if (!json_is_string(model) || json_string_length(model) == 0) {
		snprintf(msg, len, "model: Field required");
		return -1;
	}
	if (need_max && max == NULL) {
		snprintf(msg, len, "max_tokens: Field required");
		return -1;
	}
	if (need_max &&
	    (!json_is_integer(max) || json_integer_value(max) < 1)) {
		snprintf(msg, len,
		    "max_tokens: Input should be an integer greater than or equal to 1");
		return -1;
	}
	if ((v = json_object_get(o, "stream")) != NULL && !json_is_boolean(v)) {
		snprintf(msg, len, "stream: Input should be a valid boolean");
		return -1;
	}
	v = json_object_get(o, "system");
	if (v != NULL && !json_is_string(v) && !json_is_array(v)) {
		snprintf(msg, len, "system: Input should be a valid string");
		return -1;
	}
	if (check_messages(json_object_get(o, "messages"), msg, len) == -1)
		return -1;
	return check_tools(json_object_get(o, "tools"), msg, len);
}

static const char *
fail_message(long status)
{
	if (status == 529)
		return "Overloaded";
	if (status == 429)
		return "Number of requests has exceeded your rate limit";
	if (status >= 500)
		return "Internal server error";
	return "Injected fault";
}

static void
api_fail(struct evhttp_request *req, const struct fault *f)
{
	char v[32];

	stats.injected++;
	if (f->retry_after > 0) {
		snprintf(v, sizeof v, "%ld", f->retry_after);
		evhttp_add_header(
		    evhttp_request_get_output_headers(req), "retry-after", v);
	}
	api_error(req, (int)f->status, NULL,
	    f->message[0] != '\0' ? f->message : fail_message(f->status));
}

static void
api_rate_limited(struct evhttp_request *req, long wait, enum rl_kind k)
{
	char v[32], msg[256];

	stats.rate_limited++;
	snprintf(v, sizeof v, "%ld", wait);
	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "retry-after", v);
	snprintf(msg, sizeof msg,
	    "This request would exceed your "
	    "organization's rate limit of %.0f %s per minute. Please retry "
	    "after %ld seconds.",
	    cfg.limit[k], ratelimit_name(k), wait);
	api_error(req, 429, NULL, msg);
}

/* The faults this request will suffer, each taken (counted) once. */
void
api_faults(int stream, struct reply_faults *rf)
{
	const struct fault *f;

	memset(rf, 0, sizeof *rf);
	rf->reset_after = rf->error_after = -1;
	/* A model's time to answer varies; a fixed delay would move every
	 * client in lockstep. */
	if ((f = fault_take(FAULT_SLOW)) != NULL)
		rf->delay_ms = f->delay_ms +
		    (f->jitter_ms > 0 ? random() % (f->jitter_ms + 1) : 0);
	if ((f = fault_take(FAULT_RESET)) != NULL)
		rf->reset_after = f->after;
	if (stream && (f = fault_take(FAULT_STREAM_ERROR)) != NULL) {
		rf->error_after = f->after;
		snprintf(rf->error_type, sizeof rf->error_type, "%s", f->type);
	}
}

void
api_messages(struct evhttp_request *req)
{
	struct reply_faults rf;
	struct reply_to to;
	struct plan plan;
	const struct fault *f;
	double cost[RL_N];
	enum rl_kind refused = RL_REQUESTS;
	char msg[256], rid[40];
	json_t *o;
	long wait;
	int stream;

	stats.messages++;
	if ((o = api_body(req)) == NULL)
		return;
	if (check_request(o, 1, msg, sizeof msg) == -1) {
		api_error(req, 400, NULL, msg);
		json_decref(o);
		return;
	}
	control_record(api_key(req, API_ANTHROPIC), o);
	stream = json_is_true(json_object_get(o, "stream"));
	if ((f = fault_take(FAULT_FAIL)) != NULL) {
		api_fail(req, f);
		json_decref(o);
		return;
	}
	plan_make(o, API_ANTHROPIC, &plan);
	json_decref(o);
	/* Cache reads do not count toward the input limit. */
	cost[RL_REQUESTS] = 1;
	cost[RL_INPUT] = plan.usage.input + plan.usage.cache_creation;
	cost[RL_OUTPUT] = plan.usage.output;
	cost[RL_TOKENS] = cost[RL_INPUT] + cost[RL_OUTPUT];
	if (ratelimit_admit(cost, &wait, &refused) == -1) {
		api_rate_limited(req, wait, refused);
		plan_free(&plan);
		return;
	}
	cache_remember(plan.cache_keys);
	api_faults(stream, &rf);
	api_headers(req, rid, sizeof rid);
	memset(&to, 0, sizeof to);
	to.api = API_ANTHROPIC;
	to.stream = stream;
	to.key = stats_key(api_key(req, API_ANTHROPIC));
	reply_start(req, &plan, &to, &rf);
}

void
api_count_tokens(struct evhttp_request *req)
{
	char msg[256], rid[40];
	json_t *o;

	stats.count_tokens++;
	if ((o = api_body(req)) == NULL)
		return;
	if (check_request(o, 0, msg, sizeof msg) == -1) {
		api_error(req, 400, NULL, msg);
		json_decref(o);
		return;
	}
	api_headers(req, rid, sizeof rid);
	api_send_json(req, 200,
	    json_pack("{s:I}", "input_tokens", (json_int_t)count_total(o)));
	json_decref(o);
}
