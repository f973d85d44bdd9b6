/*
 * http-sse.c: the web dashboard's live feed, GET /events as Server-Sent
 * Events.  Each event goes out once it is committed, as "id: SEQ" and its
 * JSON (the events verb's shape); a browser that reconnects sends the
 * last id it saw (Last-Event-ID) and is sent what it missed first.  A
 * subscriber that stops reading is dropped past SSE_MAX_OUTPUT: the loop
 * never waits for one, and memory stays bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "swarmd.h"

/* A subscriber that cannot keep up is dropped past this. */
#define SSE_MAX_OUTPUT (4 * 1024 * 1024)
/* A comment this often: proxies keep the stream, dead peers show. */
#define SSE_KEEPALIVE_S 15
/* After a restart the browser waits this long before it reconnects. */
#define SSE_RETRY_MS 1000
/* Committed events go out at most this often: one write a subscriber
 * for many events, however busy the swarm. */
#define SSE_FLUSH_MS 50

struct sse {
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	int64_t after; /* what it has, from its backlog */
	char peer[64];
	TAILQ_ENTRY(sse) entry;
};
static TAILQ_HEAD(, sse) subs = TAILQ_HEAD_INITIALIZER(subs);

/* An event, formatted: pending while its transaction is open, then
 * ready, committed, until the next flush sends it. */
struct sse_msg {
	int64_t seq;
	struct evbuffer *text;
	TAILQ_ENTRY(sse_msg) entry;
};
TAILQ_HEAD(sse_msgs, sse_msg);
static struct sse_msgs pending = TAILQ_HEAD_INITIALIZER(pending);
static struct sse_msgs ready = TAILQ_HEAD_INITIALIZER(ready);
static struct event *keepalive, *flush;

static void
sse_free(struct sse *s)
{
	TAILQ_REMOVE(&subs, s, entry);
	free(s);
	if (TAILQ_EMPTY(&subs) && keepalive != NULL)
		evtimer_del(keepalive);
}

/*
 * The peer went away (or an error): libevent has let go of the request
 * it was streaming, which is ours to end (and free) now.
 */
static void
sse_closed(struct evhttp_connection *evcon, void *arg)
{
	struct sse *s = arg;
	struct evhttp_request *req = s->req;

	(void)evcon;
	sse_free(s);
	if (evhttp_request_get_connection(req) == NULL)
		evhttp_send_reply_end(req);
}

/* What waits in S's connection for the peer to read. */
static size_t
sse_queued(struct sse *s)
{
	return evbuffer_get_length(bufferevent_get_output(
	    evhttp_connection_get_bufferevent(s->evcon)));
}

/* Send B (drained) to S, or drop S if it is not reading: 0, -1. */
static int
sse_write(struct sse *s, struct evbuffer *b)
{
	if (sse_queued(s) > SSE_MAX_OUTPUT) {
		log_warnx("http: event stream of %s is not reading; dropped",
		    s->peer);
		evhttp_connection_set_closecb(s->evcon, NULL, NULL);
		evhttp_connection_free(s->evcon);
		sse_free(s);
		return -1;
	}
	evhttp_send_reply_chunk(s->req, b);
	return 0;
}

static void
sse_format(struct evbuffer *out, json_t *ev)
{
	char *data = json_dumps(ev, JSON_COMPACT);

	/* Compact JSON holds no newline: one data line. */
	evbuffer_add_printf(out, "id: %lld\ndata: %s\n\n",
	    (long long)json_integer_value(json_object_get(ev, "seq")),
	    data != NULL ? data : "{}");
	free(data);
}

static void
sse_msgs_free(struct sse_msgs *q)
{
	struct sse_msg *m, *next;

	TAILQ_FOREACH_SAFE(m, q, entry, next) {
		TAILQ_REMOVE(q, m, entry);
		evbuffer_free(m->text);
		free(m);
	}
}

/* What is ready goes to every subscriber, one chunk each (a new one has
 * those its backlog held already). */
static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct sse_msg *m;
	struct sse *s, *next;
	struct evbuffer *b = evbuffer_new();

	(void)fd;
	(void)what;
	(void)arg;
	TAILQ_FOREACH_SAFE(s, &subs, entry, next) {
		TAILQ_FOREACH(m, &ready, entry) {
			if (m->seq > s->after)
				evbuffer_add(b, evbuffer_pullup(m->text, -1),
				    evbuffer_get_length(m->text));
		}
		if (evbuffer_get_length(b) > 0)
			sse_write(s, b);
		evbuffer_drain(b, evbuffer_get_length(b));
	}
	evbuffer_free(b);
	sse_msgs_free(&ready);
}

/* The store committed: what was pending is ready, and soon sent. */
static void
sse_committed(void *arg)
{
	struct timeval tv = { 0, SSE_FLUSH_MS * 1000 };
	struct sse_msg *m;

	(void)arg;
	if (TAILQ_EMPTY(&pending))
		return;
	while ((m = TAILQ_FIRST(&pending)) != NULL) {
		TAILQ_REMOVE(&pending, m, entry);
		TAILQ_INSERT_TAIL(&ready, m, entry);
	}
	if (flush == NULL)
		flush = evtimer_new(srv.base, on_flush, NULL);
	if (!evtimer_pending(flush, NULL))
		evtimer_add(flush, &tv);
}

static void
sse_event(const struct evlog_entry *e, void *arg)
{
	struct sse_msg *m;
	json_t *ev;

	(void)arg;
	/* No one watches: not even the row is read back. */
	if (TAILQ_EMPTY(&subs) || (ev = evlog_get(e->seq)) == NULL)
		return;
	m = xcalloc(1, sizeof *m);
	m->seq = e->seq;
	m->text = evbuffer_new();
	sse_format(m->text, ev);
	json_decref(ev);
	TAILQ_INSERT_TAIL(&pending, m, entry);
	/* Outside a transaction the row is durable already. */
	if (sqlite3_get_autocommit(store.db))
		sse_committed(NULL);
}

static void
on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	static const char ping[] = ": keepalive\n\n";
	struct evbuffer *b = evbuffer_new();
	struct sse *s, *next;

	(void)fd;
	(void)what;
	(void)arg;
	TAILQ_FOREACH_SAFE(s, &subs, entry, next) {
		evbuffer_add(b, ping, sizeof ping - 1);
		sse_write(s, b);
		evbuffer_drain(b, evbuffer_get_length(b));
	}
	evbuffer_free(b);
}

/*
 * What S missed after seq S->after: those sent already (the others come
 * with the next flush).  Past a page it is told to resync: the
 * page reloads its snapshot and follows on from there.
 */
static void
sse_backlog(struct sse *s)
{
	struct evlog_filter f;
	struct evbuffer *out = evbuffer_new();
	int64_t limit = !TAILQ_EMPTY(&ready) ? TAILQ_FIRST(&ready)->seq :
	    !TAILQ_EMPTY(&pending)           ? TAILQ_FIRST(&pending)->seq :
	                                       INT64_MAX;
	json_t *evs, *ev;
	size_t i;
	int more;

	memset(&f, 0, sizeof f);
	evs = evlog_list_json(&f, &s->after, EVENTS_PAGE, &more);
	json_array_foreach(evs, i, ev) {
		int64_t seq = json_integer_value(json_object_get(ev, "seq"));

		if (seq >= limit)
			break;
		sse_format(out, ev);
		s->after = seq;
	}
	if (more)
		evbuffer_add_printf(out, "event: resync\ndata: {}\n\n");
	json_decref(evs);
	evhttp_send_reply_chunk(s->req, out);
	evbuffer_free(out);
}

/*
 * GET /events: AFTER is where the browser's Last-Event-ID (or the page's
 * ?after=, its snapshot's seq) says it stopped.
 */
void
http_sse_start(struct evhttp_request *req, int64_t after, const char *peer)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *hello = evbuffer_new();
	struct timeval tv = { SSE_KEEPALIVE_S, 0 };
	struct sse *s = xcalloc(1, sizeof *s);

	s->req = req;
	s->evcon = evhttp_request_get_connection(req);
	s->after = after;
	snprintf(s->peer, sizeof s->peer, "%s", peer);
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(req, 200, "OK");
	/* It sends nothing more; it must read what it is sent. */
	bufferevent_set_timeouts(
	    evhttp_connection_get_bufferevent(s->evcon), NULL, NULL);
	evhttp_connection_set_closecb(s->evcon, sse_closed, s);
	evbuffer_add_printf(hello, "retry: %d\n\n", SSE_RETRY_MS);
	evhttp_send_reply_chunk(req, hello);
	evbuffer_free(hello);
	TAILQ_INSERT_TAIL(&subs, s, entry);
	sse_backlog(s);
	if (keepalive == NULL)
		keepalive =
		    event_new(srv.base, -1, EV_PERSIST, on_keepalive, NULL);
	if (!evtimer_pending(keepalive, NULL))
		evtimer_add(keepalive, &tv);
}

void
http_sse_init(void)
{
	evlog_subscribe(sse_event, NULL);
	store_subscribe(sse_committed, NULL);
}

/* Before evhttp_free, which closes the connections. */
void
http_sse_free(void)
{
	struct sse *s, *next;

	evlog_unsubscribe(sse_event, NULL);
	store_unsubscribe(sse_committed, NULL);
	TAILQ_FOREACH_SAFE(s, &subs, entry, next) {
		evhttp_connection_set_closecb(s->evcon, NULL, NULL);
		sse_free(s);
	}
	sse_msgs_free(&pending);
	sse_msgs_free(&ready);
	if (flush != NULL)
		event_free(flush);
	flush = NULL;
	if (keepalive != NULL)
		event_free(keepalive);
	keepalive = NULL;
}
