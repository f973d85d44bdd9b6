/*
 * sse.c: a server-sent event stream, read as it arrives.  Bytes come in
 * whatever pieces the transfer delivers; they are cut into lines, the
 * event: and data: fields are collected, and a blank line hands the
 * event to the message it describes:
 *
 *   message_start  the id and the first usage
 *   message_delta  the stop reason and the usage so far: cumulative, so
 *                  it replaces what came before, never adds to it
 *   message_stop   the end of a complete stream
 *   error          an error event: the stream ends without a stop
 *
 * The same JSON reading serves a whole (non-streamed) message or an
 * error body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sim-agent.h"

void
sse_init(struct sse *s, struct message *msg)
{
	memset(s, 0, sizeof *s);
	s->msg = msg;
}

void
sse_free(struct sse *s)
{
	free(s->line);
	free(s->data);
	memset(s, 0, sizeof *s);
}

static void
copy_string(char *dst, size_t len, json_t *v)
{
	if (json_is_string(v))
		snprintf(dst, len, "%s", json_string_value(v));
}

/* Only the members present replace what is known: a delta may carry
 * output_tokens alone. */
static void
usage_update(struct usage *u, json_t *o)
{
	json_t *v;

	if (!json_is_object(o))
		return;
	if (json_is_integer(v = json_object_get(o, "input_tokens")))
		u->input = (long)json_integer_value(v);
	if (json_is_integer(v = json_object_get(o, "output_tokens")))
		u->output = (long)json_integer_value(v);
	if (json_is_integer(
	        v = json_object_get(o, "cache_creation_input_tokens")))
		u->cache_creation = (long)json_integer_value(v);
	if (json_is_integer(v = json_object_get(o, "cache_read_input_tokens")))
		u->cache_read = (long)json_integer_value(v);
}

static void
message_update(struct message *m, json_t *o)
{
	copy_string(m->id, sizeof m->id, json_object_get(o, "id"));
	copy_string(m->stop_reason, sizeof m->stop_reason,
	    json_object_get(o, "stop_reason"));
	usage_update(&m->usage, json_object_get(o, "usage"));
}

/* A whole message, or an error body: {"type": "error", "error": {...}}. */
void
message_from_json(struct message *m, const char *buf, size_t len)
{
	json_t *o = json_loadb(buf, len, 0, NULL);
	const char *type;

	if (o == NULL)
		return;
	type = json_string_value(json_object_get(o, "type"));
	if (type != NULL && strcmp(type, "message") == 0) {
		message_update(m, o);
		m->stopped = 1;
	} else if (type != NULL && strcmp(type, "error") == 0)
		copy_string(m->error_type, sizeof m->error_type,
		    json_object_get(json_object_get(o, "error"), "type"));
	json_decref(o);
}

static void
sse_event(struct sse *s, json_t *o)
{
	struct message *m = s->msg;
	const char *type = json_string_value(json_object_get(o, "type"));

	if (type == NULL)
		type = s->event;
	if (strcmp(type, "message_start") == 0)
		message_update(m, json_object_get(o, "message"));
	else if (strcmp(type, "message_delta") == 0) {
		message_update(m, json_object_get(o, "delta"));
		usage_update(&m->usage, json_object_get(o, "usage"));
	} else if (strcmp(type, "message_stop") == 0)
		m->stopped = 1;
	else if (strcmp(type, "error") == 0) {
		copy_string(m->error_type, sizeof m->error_type,
		    json_object_get(json_object_get(o, "error"), "type"));
		if (m->error_type[0] == '\0')
			snprintf(m->error_type, sizeof m->error_type, "error");
	}
}

static void
sse_dispatch(struct sse *s)
{
	json_t *o;

	if (s->dlen > 0 &&
	    (o = json_loadb(s->data, s->dlen, 0, NULL)) != NULL) {
		sse_event(s, o);
		json_decref(o);
	}
	s->event[0] = '\0';
	s->dlen = 0;
}

static void
sse_data(struct sse *s, const char *v, size_t len)
{
	if (s->dlen + len + 1 > s->dcap) {
		s->dcap = (s->dlen + len + 1) * 2;
		s->data = xrealloc(s->data, s->dcap);
	}
	if (s->dlen > 0)
		s->data[s->dlen++] = '\n';
	memcpy(s->data + s->dlen, v, len);
	s->dlen += len;
}

/* One line, without its end; a blank one ends the event. */
static void
sse_line(struct sse *s, const char *l, size_t len)
{
	const char *colon, *v;
	size_t nlen, vlen;

	if (len > 0 && l[len - 1] == '\r')
		len--;
	if (len == 0) {
		sse_dispatch(s);
		return;
	}
	if (l[0] == ':') /* a comment */
		return;
	colon = memchr(l, ':', len);
	nlen = colon != NULL ? (size_t)(colon - l) : len;
	v = l + nlen;
	vlen = len - nlen;
	if (vlen > 0) { /* past the colon and one optional space */
		v++;
		vlen--;
		if (vlen > 0 && v[0] == ' ') {
			v++;
			vlen--;
		}
	}
	if (nlen == 5 && memcmp(l, "event", 5) == 0)
		snprintf(s->event, sizeof s->event, "%.*s", (int)vlen, v);
	else if (nlen == 4 && memcmp(l, "data", 4) == 0)
		sse_data(s, v, vlen);
}

void
sse_feed(struct sse *s, const char *buf, size_t len)
{
	const char *nl;
	size_t n;

	while (len > 0) {
		nl = memchr(buf, '\n', len);
		n = nl != NULL ? (size_t)(nl - buf) : len;
		if (s->len + n + 1 > s->cap) {
			s->cap = (s->len + n + 1) * 2;
			s->line = xrealloc(s->line, s->cap);
		}
		memcpy(s->line + s->len, buf, n);
		s->len += n;
		if (nl == NULL)
			return;
		sse_line(s, s->line, s->len);
		s->len = 0;
		buf += n + 1;
		len -= n + 1;
	}
}
