/*
 * reply.c: sending an admitted request's reply.  A stream is written as
 * the API writes it (message_start, content_block_start, ping, deltas,
 * content_block_stop, message_delta with the cumulative usage,
 * message_stop; OpenAI's chunks are built in openai.c), one event per
 * timer tick so that a client sees it arrive in pieces.  Faults cut it:
 * a delay before the first byte, an error event in place of the rest, or
 * a connection reset.
 */
#include <sys/socket.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "fake-upstream.h"

struct reply {
	struct evhttp_request *req;
	struct event *timer;
	struct plan plan;
	struct reply_to to;
	int started; /* the status line is out */
	struct frames fr;
	size_t next;
	size_t reset_at; /* frame index; SIZE_MAX: never */
	TAILQ_ENTRY(reply) entry;
};
static TAILQ_HEAD(, reply) replies = TAILQ_HEAD_INITIALIZER(replies);

static void reply_tick(evutil_socket_t, short, void *);

/* Takes text; told NULL: the frame tells no usage. */
void
frames_push(struct frames *fr, enum frame_kind kind, char *text,
    const struct usage *told)
{
	struct frame *f;

	fr->v = xreallocarray(fr->v, fr->n + 1, sizeof *fr->v);
	f = &fr->v[fr->n++];
	memset(f, 0, sizeof *f);
	f->kind = kind;
	f->text = text;
	if (told != NULL)
		f->told = *told;
}

static void
frame_add(struct reply *r, enum frame_kind kind, const char *event,
    json_t *data, const struct usage *told)
{
	char *s = json_dumps(data, JSON_COMPACT);

	frames_push(
	    &r->fr, kind, xasprintf("event: %s\ndata: %s\n\n", event, s), told);
	free(s);
	json_decref(data);
}

/* The API spells these two with spaces after the colons. */
static void
frame_raw(struct reply *r, enum frame_kind kind, const char *text)
{
	frames_push(&r->fr, kind, xstrdup(text), NULL);
}

static json_t *
usage_json(const struct usage *u, long output)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:s}", "input_tokens",
	    (json_int_t)u->input, "cache_creation_input_tokens",
	    (json_int_t)u->cache_creation, "cache_read_input_tokens",
	    (json_int_t)u->cache_read, "output_tokens", (json_int_t)output,
	    "service_tier", "standard");
}

static json_t *
message_json(
    const struct plan *p, json_t *content, const char *stop, long output)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s?, s:n, s:o}", "id",
	    p->id, "type", "message", "role", "assistant", "model", p->model,
	    "content", content, "stop_reason", stop, "stop_sequence", "usage",
	    usage_json(&p->usage, output));
}

/* The next piece: at most max bytes, ending before a space if one fits. */
size_t
reply_piece(const char *s, size_t len, size_t max, int words)
{
	size_t i, n;

	if (len <= max)
		return len;
	for (i = max; words && i > 0; i--)
		if (s[i] == ' ')
			return i;
	n = utf8_cut(s, len, max);
	if (n == 0) /* max is less than one character: take it whole */
		for (n = 1; n < len && ((unsigned char)s[n] & 0xc0) == 0x80;)
			n++;
	return n;
}

static void
frames_deltas(struct reply *r, int index, const char *s, int text)
{
	size_t len = strlen(s), n;
	char *piece;

	for (; len > 0; s += n, len -= n) {
		n = reply_piece(s, len, (size_t)cfg.delta_bytes, text);
		piece = xasprintf("%.*s", (int)n, s);
		frame_add(r, FR_DELTA, "content_block_delta",
		    json_pack("{s:s, s:i, s:{s:s, s:s}}", "type",
		        "content_block_delta", "index", index, "delta", "type",
		        text ? "text_delta" : "input_json_delta",
		        text ? "text" : "partial_json", piece),
		    NULL);
		free(piece);
	}
}

static void
frames_tool(struct reply *r, const struct plan *p)
{
	frame_add(r, FR_OTHER, "content_block_start",
	    json_pack("{s:s, s:i, s:{s:s, s:s, s:s, s:{s:s}, s:{}}}", "type",
	        "content_block_start", "index", 1, "content_block", "type",
	        "tool_use", "id", p->tool_id, "name", p->tool_name, "caller",
	        "type", "direct", "input"),
	    NULL);
	/* Like the API, an empty partial_json comes first. */
	frame_add(r, FR_DELTA, "content_block_delta",
	    json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_delta",
	        "index", 1, "delta", "type", "input_json_delta", "partial_json",
	        ""),
	    NULL);
	frames_deltas(r, 1, p->tool_input, 0);
	frame_add(r, FR_OTHER, "content_block_stop",
	    json_pack("{s:s, s:i}", "type", "content_block_stop", "index", 1),
	    NULL);
}

/*
 * message_start tells the input usage and a placeholder output of 1;
 * message_delta the rest of the output.
 */
static void
frames_build(struct reply *r)
{
	const struct plan *p = &r->plan;
	struct usage start = p->usage, rest;
	json_t *usage;

	start.output = 1;
	memset(&rest, 0, sizeof rest);
	rest.output = p->usage.output - 1;
	frame_add(r, FR_START, "message_start",
	    json_pack("{s:s, s:o}", "type", "message_start", "message",
	        message_json(p, json_array(), NULL, 1)),
	    &start);
	frame_add(r, FR_OTHER, "content_block_start",
	    json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_start",
	        "index", 0, "content_block", "type", "text", "text", ""),
	    NULL);
	frame_raw(r, FR_OTHER, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
	frames_deltas(r, 0, p->text, 1);
	frame_add(r, FR_OTHER, "content_block_stop",
	    json_pack("{s:s, s:i}", "type", "content_block_stop", "index", 0),
	    NULL);
	if (p->tool_name != NULL)
		frames_tool(r, p);
	if (cfg.delta_input_usage) {
		usage = usage_json(&p->usage, p->usage.output);
		json_object_del(usage, "service_tier");
	} else
		usage = json_pack(
		    "{s:I}", "output_tokens", (json_int_t)p->usage.output);
	frame_add(r, FR_END, "message_delta",
	    json_pack("{s:s, s:{s:s, s:n}, s:o}", "type", "message_delta",
	        "delta", "stop_reason", p->stop_reason, "stop_sequence",
	        "usage", usage),
	    &rest);
	frame_add(r, FR_STOP, "message_stop",
	    json_pack("{s:s}", "type", "message_stop"), NULL);
}

/* Where a fault "after n deltas" strikes: before the next delta, or
 * before the end frame if the stream has no more. */
static size_t
frames_cut(const struct reply *r, long after)
{
	size_t i;
	long seen = 0;

	for (i = 0; i < r->fr.n; i++) {
		if (r->fr.v[i].kind == FR_DELTA && seen++ == after)
			return i;
		if (r->fr.v[i].kind == FR_END)
			return i;
	}
	return r->fr.n;
}

static void
frames_error(struct reply *r, long after, const char *type)
{
	size_t cut = frames_cut(r, after), i;

	for (i = cut; i < r->fr.n; i++)
		free(r->fr.v[i].text);
	r->fr.n = cut;
	if (r->to.api == API_OPENAI) {
		frames_push(&r->fr, FR_ERROR, openai_error_event(type), NULL);
		return;
	}
	frames_push(&r->fr, FR_ERROR,
	    xasprintf(
	        "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"%s\", \"message\": \"%s\"}}\n\n",
	        type,
	        strcmp(type, "overloaded_error") == 0 ?
	            "Overloaded" :
	            "Internal server error"),
	    NULL);
}

static void
reply_free(struct reply *r)
{
	size_t i;

	TAILQ_REMOVE(&replies, r, entry);
	event_free(r->timer);
	for (i = 0; i < r->fr.n; i++)
		free(r->fr.v[i].text);
	free(r->fr.v);
	plan_free(&r->plan);
	free(r);
}

size_t
reply_inflight(void)
{
	const struct reply *r;
	size_t n = 0;

	TAILQ_FOREACH(r, &replies, entry)
		n++;
	return n;
}

/* Replies still waiting out a slow_first_byte delay. */
size_t
reply_held(void)
{
	const struct reply *r;
	size_t n = 0;

	TAILQ_FOREACH(r, &replies, entry) {
		if (!r->started && evtimer_pending(r->timer, NULL))
			n++;
	}
	return n;
}

/* Cut every such delay short: a test holds a request, acts, lets go. */
size_t
reply_release(void)
{
	struct reply *r;
	size_t n = 0;

	TAILQ_FOREACH(r, &replies, entry) {
		if (!r->started && evtimer_pending(r->timer, NULL)) {
			evtimer_del(r->timer);
			event_active(r->timer, EV_TIMEOUT, 0);
			n++;
		}
	}
	return n;
}

/* Every reply in flight; evhttp_free frees their requests. */
void
reply_shutdown(void)
{
	while (!TAILQ_EMPTY(&replies))
		reply_free(TAILQ_FIRST(&replies));
}

static void
reply_reset(struct reply *r)
{
	struct evhttp_connection *evcon;
	struct linger lg = { 1, 0 };
	int fd, null;

	stats.resets++;
	evcon = evhttp_request_get_connection(r->req);
	if (evcon == NULL) {
		evhttp_send_reply_end(r->req); /* frees the orphan */
		reply_free(r);
		return;
	}
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	/*
	 * Linger 0 makes the close a RST.  Closing by dup2 sends no FIN
	 * first (evhttp_connection_free would shut down the write side),
	 * and keeps the descriptor number taken, as /dev/null, until
	 * evhttp closes it.
	 */
	if (fd != -1 &&
	    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0 &&
	    (null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, fd);
		close(null);
	}
	evhttp_connection_free(evcon); /* and the request with it */
	reply_free(r);
}

static void
reply_later(struct reply *r, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(r->timer, &tv);
}

static void
reply_whole(struct reply *r)
{
	const struct plan *p = &r->plan;
	json_t *content;

	stats_told(r->to.key, &p->usage);
	if (r->to.api == API_OPENAI) {
		api_send_json(r->req, 200, openai_completion(p));
		reply_free(r);
		return;
	}
	content = json_array();

	json_array_append_new(
	    content, json_pack("{s:s, s:s}", "type", "text", "text", p->text));
	if (p->tool_name != NULL)
		json_array_append_new(content,
		    json_pack("{s:s, s:s, s:s, s:{s:s}, s:o}", "type",
		        "tool_use", "id", p->tool_id, "name", p->tool_name,
		        "caller", "type", "direct", "input",
		        json_loads(p->tool_input, 0, NULL)));
	api_send_json(r->req, 200,
	    message_json(p, content, p->stop_reason, p->usage.output));
	reply_free(r);
}

/* The first byte is due. */
static void
reply_begin(struct reply *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	if (r->reset_at == 0) {
		reply_reset(r);
		return;
	}
	if (!r->to.stream) {
		reply_whole(r);
		return;
	}
	evhttp_add_header(
	    h, "content-type", "text/event-stream; charset=utf-8");
	evhttp_add_header(h, "cache-control", "no-cache");
	evhttp_send_reply_start(r->req, 200, "OK");
	stats_status(200);
	stats.streams++;
	if (r->to.api == API_OPENAI && !r->to.include_usage)
		stats.untold++;
	r->started = 1;
	reply_later(r, 0);
}

/* What the client has now been told, for the counters. */
static void
reply_account(struct reply *r, const struct frame *f)
{
	stats_told(r->to.key, &f->told);
	switch (f->kind) {
	case FR_STOP:
		stats.streams_done++;
		break;
	case FR_ERROR:
		stats.stream_errors++;
		break;
	default:
		break;
	}
}

static void
reply_tick(evutil_socket_t fd, short what, void *arg)
{
	struct reply *r = arg;
	struct evhttp_connection *evcon;
	struct evbuffer *buf;
	const struct frame *f;

	(void)fd;
	(void)what;
	if (!r->started) {
		reply_begin(r);
		return;
	}
	if ((evcon = evhttp_request_get_connection(r->req)) == NULL) {
		stats.client_closed++;
		evhttp_send_reply_end(r->req); /* frees the orphan */
		reply_free(r);
		return;
	}
	if (r->next == r->reset_at) {
		/* Let what was sent reach the client first. */
		if (evbuffer_get_length(bufferevent_get_output(
		        evhttp_connection_get_bufferevent(evcon))) > 0)
			reply_later(r, 1);
		else
			reply_reset(r);
		return;
	}
	f = &r->fr.v[r->next++];
	buf = evbuffer_new();
	evbuffer_add(buf, f->text, strlen(f->text));
	evhttp_send_reply_chunk(r->req, buf);
	evbuffer_free(buf);
	reply_account(r, f);
	if (r->next < r->fr.n || r->next == r->reset_at) {
		reply_later(r, cfg.gap_ms);
		return;
	}
	evhttp_send_reply_end(r->req);
	reply_free(r);
}

/* Takes the plan's contents; the request's headers are already set. */
void
reply_start(struct evhttp_request *req, struct plan *plan,
    const struct reply_to *to, const struct reply_faults *rf)
{
	struct reply *r = xcalloc(1, sizeof *r);
	int stream = to->stream;

	r->req = req;
	r->plan = *plan;
	memset(plan, 0, sizeof *plan);
	r->to = *to;
	r->timer = evtimer_new(base, reply_tick, r);
	r->reset_at = SIZE_MAX;
	TAILQ_INSERT_TAIL(&replies, r, entry);
	if (stream) {
		if (to->api == API_OPENAI)
			openai_frames(&r->fr, &r->plan, to->include_usage);
		else
			frames_build(r);
		if (rf->error_after >= 0)
			frames_error(r, rf->error_after, rf->error_type);
	}
	if (rf->reset_after == 0 || (rf->reset_after > 0 && !stream))
		r->reset_at = 0;
	else if (rf->reset_after > 0)
		r->reset_at = frames_cut(r, rf->reset_after);
	if (rf->delay_ms > 0)
		reply_later(r, rf->delay_ms);
	else
		reply_begin(r);
}
