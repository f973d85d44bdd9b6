/*
 * config.c: the config file (JSON, every member optional, unknown members
 * refused) and the fault set, which the control endpoint replaces too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-upstream.h"

struct config cfg;

void
config_defaults(void)
{
	memset(&cfg, 0, sizeof cfg);
	snprintf(cfg.listen, sizeof cfg.listen, "127.0.0.1:0");
	cfg.require_version = 1;
	/* Roughly a high tier's Sonnet limits. */
	cfg.limit[RL_REQUESTS] = 4000;
	cfg.limit[RL_INPUT] = 2000000;
	cfg.limit[RL_OUTPUT] = 400000;
	cfg.limit[RL_TOKENS] = 2400000;
	cfg.gap_ms = 2;
	cfg.delta_bytes = 8;
	cfg.cache = 1;
	cfg.max_body = 32 * 1024 * 1024;
}

void
config_free(void)
{
	free(cfg.api_key);
	free(cfg.reply);
	cfg.api_key = cfg.reply = NULL;
}

static int
check_members(json_t *o, const char *path, const char *const *allowed,
    char *err, size_t len)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(o)) {
		snprintf(err, len, "%s: must be an object", path);
		return -1;
	}
	json_object_foreach(o, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			snprintf(err, len, "%s%s%s: unknown member", path,
			    *path != '\0' ? "." : "", key);
			return -1;
		}
	}
	return 0;
}

/* An absent member keeps the value already there. */
static int
get_int(json_t *o, const char *path, const char *key, long min, long max,
    long *out, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(err, len, "%s%s%s: must be an integer from %ld to %ld",
		    path, *path != '\0' ? "." : "", key, min, max);
		return -1;
	}
	*out = (long)json_integer_value(v);
	return 0;
}

static int
get_bool(json_t *o, const char *path, const char *key, int *out, char *err,
    size_t len)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, len, "%s%s%s: must be true or false", path,
		    *path != '\0' ? "." : "", key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* A string member; null clears it. */
static int
get_string(json_t *o, const char *key, char **out, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v) && !json_is_null(v)) {
		snprintf(err, len, "%s: must be a string", key);
		return -1;
	}
	free(*out);
	*out = json_is_null(v) ? NULL : xstrdup(json_string_value(v));
	return 0;
}

static int
fault_parse(
    json_t *o, enum fault_kind k, struct fault *f, char *err, size_t len)
{
	static const char *const allowed[FAULT_N][6] = {
		{ "count", "status", "retry_after", "skip", "message" },
		{ "count", "after", "type", NULL },
		{ "count", "delay_ms", "jitter_ms", NULL },
		{ "count", "after", NULL },
	};
	static const char *paths[FAULT_N] = { "faults.fail",
		"faults.stream_error", "faults.slow_first_byte",
		"faults.reset" };
	const char *p = paths[k];
	json_t *type, *msg;

	memset(f, 0, sizeof *f);
	f->count = 1;
	f->after = k == FAULT_STREAM_ERROR ? 1 : 0;
	snprintf(f->type, sizeof f->type, "overloaded_error");
	if (check_members(o, p, allowed[k], err, len) == -1 ||
	    get_int(o, p, "count", -1, 1000000000, &f->count, err, len) ||
	    get_int(o, p, "after", 0, 1000000000, &f->after, err, len) ||
	    get_int(o, p, "retry_after", 0, 86400, &f->retry_after, err, len) ||
	    get_int(o, p, "skip", 0, 1000000000, &f->skip, err, len) ||
	    get_int(o, p, "delay_ms", 0, 3600000, &f->delay_ms, err, len) ||
	    get_int(o, p, "jitter_ms", 0, 3600000, &f->jitter_ms, err, len) ||
	    get_int(o, p, "status", 400, 599, &f->status, err, len))
		return -1;
	if (k == FAULT_FAIL && f->status == 0) {
		snprintf(err, len, "%s.status: required", p);
		return -1;
	}
	type = json_object_get(o, "type");
	if (type != NULL &&
	    (!json_is_string(type) ||
	        json_string_length(type) >= sizeof f->type)) {
		snprintf(err, len, "%s.type: must be a short string", p);
		return -1;
	}
	if (type != NULL)
		snprintf(
		    f->type, sizeof f->type, "%s", json_string_value(type));
	msg = json_object_get(o, "message");
	if (msg != NULL &&
	    (!json_is_string(msg) ||
	        json_string_length(msg) >= sizeof f->message)) {
		snprintf(err, len, "%s.message: must be a string (< %zu bytes)",
		    p, sizeof f->message);
		return -1;
	}
	if (msg != NULL)
		snprintf(f->message, sizeof f->message, "%s",
		    json_string_value(msg));
	return 0;
}

static const char *const fault_names[FAULT_N + 1] = { "fail", "stream_error",
	"slow_first_byte", "reset", NULL };

/* A whole fault set: the faults it names, every other one off. */
int
faults_parse(json_t *o, struct fault *out, char *err, size_t len)
{
	struct fault set[FAULT_N];
	json_t *v;
	size_t i;

	memset(set, 0, sizeof set);
	if (check_members(o, "faults", fault_names, err, len) == -1)
		return -1;
	for (i = 0; i < FAULT_N; i++) {
		v = json_object_get(o, fault_names[i]);
		if (v != NULL && !json_is_null(v) &&
		    fault_parse(v, (enum fault_kind)i, &set[i], err, len) == -1)
			return -1;
	}
	memcpy(out, set, sizeof set);
	return 0;
}

json_t *
faults_json(const struct fault *set)
{
	json_t *o = json_object(), *f;
	size_t i;

	for (i = 0; i < FAULT_N; i++) {
		if (set[i].count == 0)
			continue;
		f = json_pack("{s:I}", "count", (json_int_t)set[i].count);
		if (i == FAULT_FAIL)
			json_object_set_new(
			    f, "status", json_integer(set[i].status));
		if (i == FAULT_FAIL && set[i].retry_after > 0)
			json_object_set_new(
			    f, "retry_after", json_integer(set[i].retry_after));
		if (i == FAULT_FAIL && set[i].skip > 0)
			json_object_set_new(
			    f, "skip", json_integer(set[i].skip));
		if (i == FAULT_FAIL && set[i].message[0] != '\0')
			json_object_set_new(
			    f, "message", json_string(set[i].message));
		if (i == FAULT_STREAM_ERROR || i == FAULT_RESET)
			json_object_set_new(
			    f, "after", json_integer(set[i].after));
		if (i == FAULT_STREAM_ERROR)
			json_object_set_new(
			    f, "type", json_string(set[i].type));
		if (i == FAULT_SLOW)
			json_object_set_new(
			    f, "delay_ms", json_integer(set[i].delay_ms));
		if (i == FAULT_SLOW && set[i].jitter_ms > 0)
			json_object_set_new(
			    f, "jitter_ms", json_integer(set[i].jitter_ms));
		json_object_set_new(o, fault_names[i], f);
	}
	return o;
}

/* The fault to apply to this request, if any; it counts as used. */
const struct fault *
fault_take(enum fault_kind k)
{
	struct fault *f = &cfg.faults[k];

	if (f->count == 0)
		return NULL;
	if (f->skip > 0) {
		f->skip--;
		return NULL;
	}
	if (f->count > 0)
		f->count--;
	return f;
}

static int
limits_parse(json_t *o, char *err, size_t len)
{
	static const char *const keys[RL_N] = { "requests_per_minute",
		"tokens_per_minute", "input_tokens_per_minute",
		"output_tokens_per_minute" };
	static const char *const allowed[] = { "requests_per_minute",
		"tokens_per_minute", "input_tokens_per_minute",
		"output_tokens_per_minute", NULL };
	json_t *v;
	size_t i;

	if (check_members(o, "limits", allowed, err, len) == -1)
		return -1;
	for (i = 0; i < RL_N; i++) {
		v = json_object_get(o, keys[i]);
		if (v == NULL)
			continue;
		if (!json_is_number(v) || json_number_value(v) < 1 ||
		    json_number_value(v) > 1e12) {
			snprintf(err, len, "limits.%s: must be a number >= 1",
			    keys[i]);
			return -1;
		}
		cfg.limit[i] = json_number_value(v);
	}
	/* The combined bucket follows its parts unless it is given. */
	if (json_object_get(o, "tokens_per_minute") == NULL)
		cfg.limit[RL_TOKENS] =
		    cfg.limit[RL_INPUT] + cfg.limit[RL_OUTPUT];
	return 0;
}

static int
stream_parse(json_t *o, char *err, size_t len)
{
	static const char *const allowed[] = { "gap_ms", "delta_bytes",
		"delta_input_usage", NULL };

	if (check_members(o, "stream", allowed, err, len) == -1 ||
	    get_int(o, "stream", "gap_ms", 0, 60000, &cfg.gap_ms, err, len) ||
	    get_int(o, "stream", "delta_bytes", 1, 1 << 20, &cfg.delta_bytes,
	        err, len) ||
	    get_bool(o, "stream", "delta_input_usage", &cfg.delta_input_usage,
	        err, len))
		return -1;
	return 0;
}

static int
config_apply(json_t *o, char *err, size_t len)
{
	static const char *const allowed[] = { "listen", "api_key",
		"require_version", "limits", "stream", "reply", "tool_use",
		"cache", "seed", "max_body", "faults", NULL };
	json_t *v;
	long seed = 0;
	char *listen = NULL;

	if (check_members(o, "", allowed, err, len) == -1 ||
	    get_string(o, "listen", &listen, err, len) ||
	    get_string(o, "api_key", &cfg.api_key, err, len) ||
	    get_string(o, "reply", &cfg.reply, err, len) ||
	    get_bool(
	        o, "", "require_version", &cfg.require_version, err, len) ||
	    get_bool(o, "", "tool_use", &cfg.tool_use, err, len) ||
	    get_bool(o, "", "cache", &cfg.cache, err, len) ||
	    get_int(o, "", "seed", 0, 0x7fffffffL, &seed, err, len) ||
	    get_int(o, "", "max_body", 1, 1L << 30, &cfg.max_body, err, len))
		goto fail;
	cfg.seed = (uint64_t)seed;
	if (listen != NULL)
		snprintf(cfg.listen, sizeof cfg.listen, "%s", listen);
	free(listen);
	if ((v = json_object_get(o, "limits")) != NULL &&
	    limits_parse(v, err, len) == -1)
		return -1;
	if ((v = json_object_get(o, "stream")) != NULL &&
	    stream_parse(v, err, len) == -1)
		return -1;
	if ((v = json_object_get(o, "faults")) != NULL &&
	    faults_parse(v, cfg.faults, err, len) == -1)
		return -1;
	return 0;
fail:
	free(listen);
	return -1;
}

int
config_load(const char *path, char *err, size_t len)
{
	json_error_t je;
	json_t *o;
	int rc;

	o = json_load_file(path, 0, &je);
	if (o == NULL) {
		snprintf(err, len, "%s:%d: %s", path, je.line, je.text);
		return -1;
	}
	rc = config_apply(o, err, len);
	json_decref(o);
	return rc;
}
