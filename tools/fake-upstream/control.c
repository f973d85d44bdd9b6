/*
 * control.c: the test's side door, outside the API and its limits.
 *   GET  /_fake/stats    the counters
 *   GET  /_fake/faults   the fault set, with what is left of each count
 *   POST /_fake/faults   replace the fault set (faults not named: off)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "fake-upstream.h"

struct stats stats;
static TAILQ_HEAD(, keystat) keys = TAILQ_HEAD_INITIALIZER(keys);

void
stats_status(int status)
{
	if (status >= 0 && (size_t)status < nitems(stats.status))
		stats.status[status]++;
}

/* A key's counters, made on first sight; a test uses a few keys. */
struct keystat *
stats_key(const char *key)
{
	struct keystat *k;

	TAILQ_FOREACH(k, &keys, entry) {
		if (strcmp(k->key, key) == 0)
			return k;
	}
	k = xcalloc(1, sizeof *k);
	k->key = xstrdup(key);
	TAILQ_INSERT_TAIL(&keys, k, entry);
	return k;
}

static void
usage_add(struct usage *to, const struct usage *u)
{
	to->input += u->input;
	to->cache_creation += u->cache_creation;
	to->cache_read += u->cache_read;
	to->output += u->output;
}

/* Usage a client has been told: the totals and its key's. */
void
stats_told(struct keystat *k, const struct usage *u)
{
	usage_add(&stats.tokens, u);
	if (k != NULL)
		usage_add(&k->tokens, u);
}

/* The latest valid message requests, bodies whole, for the tests. */
#define RECORD_MAX 256
static json_t *recorded;

void
control_record(const char *key, json_t *body)
{
	if (recorded == NULL)
		recorded = json_array();
	if (json_array_size(recorded) == RECORD_MAX)
		json_array_remove(recorded, 0);
	json_array_append_new(
	    recorded, json_pack("{s:s*, s:O}", "key", key, "body", body));
}

void
stats_free(void)
{
	struct keystat *k;

	json_decref(recorded);
	recorded = NULL;
	while ((k = TAILQ_FIRST(&keys)) != NULL) {
		TAILQ_REMOVE(&keys, k, entry);
		free(k->key);
		free(k);
	}
}

static void
put(json_t *o, const char *key, uint64_t v)
{
	json_object_set_new(o, key, json_integer((json_int_t)v));
}

static json_t *
tokens_json(const struct usage *u)
{
	json_t *o = json_object();

	put(o, "input", (uint64_t)u->input);
	put(o, "cache_creation_input", (uint64_t)u->cache_creation);
	put(o, "cache_read_input", (uint64_t)u->cache_read);
	put(o, "output", (uint64_t)u->output);
	return o;
}

static json_t *
by_key_json(void)
{
	const struct keystat *k;
	json_t *o = json_object(), *v;

	TAILQ_FOREACH(k, &keys, entry) {
		v = json_object();
		put(v, "requests", k->requests);
		json_object_set_new(v, "tokens", tokens_json(&k->tokens));
		json_object_set_new(o, k->key, v);
	}
	return o;
}

static json_t *
stats_json(void)
{
	json_t *o = json_object(), *by = json_object(), *streams;
	char key[8];
	size_t i;

	for (i = 0; i < nitems(stats.status); i++) {
		if (stats.status[i] == 0)
			continue;
		snprintf(key, sizeof key, "%zu", i);
		put(by, key, stats.status[i]);
	}
	put(o, "requests", stats.requests);
	put(o, "messages", stats.messages);
	put(o, "chat_completions", stats.chat_completions);
	put(o, "count_tokens", stats.count_tokens);
	put(o, "rate_limited", stats.rate_limited);
	put(o, "injected", stats.injected);
	json_object_set_new(o, "status", by);
	streams = json_object();
	put(streams, "started", stats.streams);
	put(streams, "completed", stats.streams_done);
	put(streams, "error_events", stats.stream_errors);
	put(streams, "resets", stats.resets);
	put(streams, "client_closed", stats.client_closed);
	put(streams, "in_flight", reply_inflight());
	put(streams, "held", reply_held());
	put(streams, "without_usage", stats.untold);
	json_object_set_new(o, "streams", streams);
	json_object_set_new(o, "tokens", tokens_json(&stats.tokens));
	json_object_set_new(o, "by_key", by_key_json());
	return o;
}

static void
control_send(struct evhttp_request *req, int status, json_t *o)
{
	struct evbuffer *buf = evbuffer_new();
	char *s = json_dumps(o, JSON_COMPACT);

	evbuffer_add_printf(buf, "%s\n", s);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "content-type", "application/json");
	evhttp_send_reply(req, status,
	    status == 200     ? "OK" :
	        status == 404 ? "Not Found" :
	                        "Bad Request",
	    buf);
	evbuffer_free(buf);
	free(s);
	json_decref(o);
}

static void
control_faults(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char err[256];
	json_error_t je;
	json_t *o;

	o = json_loadb(
	    len > 0 ? (const char *)evbuffer_pullup(in, -1) : "", len, 0, &je);
	if (o == NULL) {
		control_send(req, 400, json_pack("{s:s}", "error", je.text));
		return;
	}
	if (faults_parse(o, cfg.faults, err, sizeof err) == -1) {
		control_send(req, 400, json_pack("{s:s}", "error", err));
		json_decref(o);
		return;
	}
	json_decref(o);
	control_send(req, 200, faults_json(cfg.faults));
}

void
control_handle(struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (strcmp(path, "/_fake/stats") == 0 && cmd == EVHTTP_REQ_GET)
		control_send(req, 200, stats_json());
	else if (strcmp(path, "/_fake/faults") == 0 && cmd == EVHTTP_REQ_GET)
		control_send(req, 200, faults_json(cfg.faults));
	else if (strcmp(path, "/_fake/faults") == 0 && cmd == EVHTTP_REQ_POST)
		control_faults(req);
	else if (strcmp(path, "/_fake/requests") == 0 && cmd == EVHTTP_REQ_GET)
		control_send(req, 200,
		    json_pack("{s:o}", "requests",
		        recorded != NULL ? json_deep_copy(recorded) :
		                           json_array()));
	else if (strcmp(path, "/_fake/release") == 0 && cmd == EVHTTP_REQ_POST)
		control_send(req, 200,
		    json_pack(
		        "{s:I}", "released", (json_int_t)reply_release()));
	else
		control_send(req, 404,
		    json_pack("{s:s}", "error", "no such control endpoint"));
}
