/*
 * proxy-gate.c: each connection's bytes on their way to the proxy's HTTP
 * server.  libevent reads a request whole, body and all, before proxy.c
 * sees it, and 2.1 has no hook between a server request's head and its
 * body.  So the gate watches each connection's input buffer: new bytes
 * are taken out as they arrive and put back only once the request's head
 * (up to [proxy] max_header) is read.  Only a POST whose path carries a
 * live token goes on as it came.  Any other request goes on as its
 * request line alone, which proxy.c refuses as it always did (404, 401,
 * 405), and a body it came with is dropped unread; the connection then
 * closes.  A head over the limit, or slower than [proxy] client_timeout,
 * becomes a request proxy.c answers 431 or 408.
 *
 * The gate frames requests as libevent does: a chunked body, else
 * Content-Length (the first one), else none.  After a chunked body it
 * passes the rest of the connection unread: its sender showed a token.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "proxy.h"

enum gate_state {
	G_HEAD, /* reading a request's head */
	G_BODY, /* passing LEFT bytes of an admitted body */
	G_OPEN, /* after an admitted chunked body: all of it */
	G_DROP  /* refused with a body: drop the rest; libevent closes */
};

struct gate {
	struct bufferevent *bev;
	struct evhttp_connection *evcon;
	void (*closecb)(struct evhttp_connection *, void *); /* proxy.c's */
	void *closearg;
	struct evbuffer *held;  /* taken out, not yet passed on */
	struct evbuffer *front; /* scratch: what libevent has yet to read */
	int busy;               /* our own changes to the input */
	int64_t since;          /* mono ms the head's first byte came */

	enum gate_state state;
	size_t line;    /* where the head's next line starts */
	size_t scanned; /* bytes from LINE known to hold no newline */
	size_t first;   /* the request line's length with its end */
	int lines;
	int admit;  /* a POST with a live token */
	int unsure; /* a folded header, or a length libevent would refuse */
	int te_seen, chunked;
	int64_t length; /* the first Content-Length; -1 none */
	int64_t left;
	TAILQ_ENTRY(gate) entry;
};
static TAILQ_HEAD(, gate) gates = TAILQ_HEAD_INITIALIZER(gates);

/* Ready for the next request's head. */
static void
gate_reset(struct gate *g)
{
	g->state = G_HEAD;
	g->line = g->scanned = g->first = 0;
	g->lines = g->admit = g->unsure = g->te_seen = g->chunked = 0;
	g->length = -1;
	g->left = 0;
}

/* "POST /a/TOKEN/..." with a token swarmd knows. */
static void
gate_request_line(struct gate *g, const char *s)
{
	const char *path = s + 5;
	char token[65];

	if (strncmp(s, "POST ", 5) != 0 || strncmp(path, "/a/", 3) != 0 ||
	    strnlen(path, 68) < 68 || (path[67] != '/' && path[67] != ' '))
		return;
	memcpy(token, path + 3, 64);
	token[64] = '\0';
	g->admit = proxy_token_agent(token) != NULL;
}

/* A header's value as libevent keeps it: leading spaces and trailing
 * blanks gone. */
static char *
gate_value(char *s)
{
	size_t n;

	s += strspn(s, " ");
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* The headers that frame the body; CUT: S is only the line's start. */
static void
gate_header(struct gate *g, char *s, int cut)
{
	char *v, *end;
	long long n;

	if (*s == ' ' || *s == '\t') {
		g->unsure = 1; /* folded onto the last header */
		return;
	}
	if (strncasecmp(s, "content-length:", 15) == 0 && g->length == -1) {
		v = gate_value(s + 15);
		errno = 0;
		n = strtoll(v, &end, 10);
		if (cut || *v == '\0' || *end != '\0' || errno != 0 || n < 0)
			g->unsure = 1;
		g->length = n < 0 ? 0 : n;
	} else if (strncasecmp(s, "transfer-encoding:", 18) == 0 &&
	    !g->te_seen) {
		g->te_seen = 1;
		g->chunked =
		    !cut && strcasecmp(gate_value(s + 18), "chunked") == 0;
	}
}

/* A head over max_header or too slow: what is left is dropped, and
 * proxy.c answers the request PATH. */
static int
gate_refuse_head(struct gate *g, struct evbuffer *src, struct evbuffer *dst,
    const char *path)
{
	evbuffer_drain(src, evbuffer_get_length(src));
	evbuffer_add_printf(
	    dst, "GET %s HTTP/1.1\r\nConnection: close\r\n\r\n", path);
	g->state = G_DROP;
	return 1;
}

/* The head is in: on as it came, or its request line alone. */
static int
gate_decide(struct gate *g, struct evbuffer *src, struct evbuffer *dst)
{
	int body = g->chunked || g->length > 0 || g->unsure;

	if (g->admit && !g->unsure) {
		evbuffer_remove_buffer(src, dst, g->line);
		if (g->chunked)
			g->state = G_OPEN;
		else if (g->length > srv.cfg.proxy_max_body)
			g->state = G_DROP; /* libevent answers 413 at once */
		else if (g->length > 0) {
			g->left = g->length;
			g->state = G_BODY;
		} else
			gate_reset(g);
		return 1;
	}
	evbuffer_remove_buffer(src, dst, g->first);
	evbuffer_add_printf(dst, "%s\r\n", body ? "Connection: close\r\n" : "");
	evbuffer_drain(src, g->line - g->first);
	if (body)
		g->state = G_DROP;
	else
		gate_reset(g);
	return 1;
}

/* Read the head's complete lines; 1 once it is decided, 0 for more. */
static int
gate_head(struct gate *g, struct evbuffer *src, struct evbuffer *dst)
{
	size_t len = evbuffer_get_length(src), n, got;
	size_t max = (size_t)srv.cfg.proxy_max_header;
	struct evbuffer_ptr at, lf;
	char s[256];

	for (;;) {
		lf.pos = -1;
		if (g->line + g->scanned < len &&
		    evbuffer_ptr_set(
		        src, &at, g->line + g->scanned, EVBUFFER_PTR_SET) == 0)
			lf = evbuffer_search(src, "\n", 1, &at);
		if (lf.pos == -1) {
			g->scanned = len - g->line;
			return len > max ?
			    gate_refuse_head(g, src, dst, GATE_TOO_LARGE) :
			    0;
		}
		n = (size_t)lf.pos - g->line;
		got = n < sizeof s - 1 ? n : sizeof s - 1;
		evbuffer_ptr_set(src, &at, g->line, EVBUFFER_PTR_SET);
		evbuffer_copyout_from(src, &at, s, got);
		s[got] = '\0';
		if (got == n && n > 0 && s[n - 1] == '\r') {
			s[--n] = '\0';
			got = n;
		}
		g->line = (size_t)lf.pos + 1;
		g->scanned = 0;
		if (g->line > max)
			return gate_refuse_head(g, src, dst, GATE_TOO_LARGE);
		if (g->lines++ == 0) {
			gate_request_line(g, s);
			g->first = g->line;
		} else if (n == 0)
			return gate_decide(g, src, dst);
		else
			gate_header(g, s, got < n);
	}
}

/* Pass on from SRC to DST what may go on, as far as SRC goes. */
static void
gate_run(struct gate *g, struct evbuffer *src, struct evbuffer *dst)
{
	size_t n;

	while ((n = evbuffer_get_length(src)) > 0) {
		if (g->state == G_HEAD) {
			if (!gate_head(g, src, dst))
				break;
			continue;
		}
		if (g->state == G_DROP) {
			evbuffer_drain(src, n);
			break;
		}
		if (g->state == G_BODY && (int64_t)n > g->left)
			n = (size_t)g->left;
		evbuffer_remove_buffer(src, dst, n);
		if (g->state == G_BODY && (g->left -= (int64_t)n) == 0)
			gate_reset(g);
	}
}

/* Move the last N bytes of IN (the ones just read) to TO, or drop them. */
static void
gate_take(struct gate *g, struct evbuffer *in, size_t n, struct evbuffer *to)
{
	evbuffer_remove_buffer(in, g->front, evbuffer_get_length(in) - n);
	if (to != NULL)
		evbuffer_add_buffer(to, in);
	else
		evbuffer_drain(in, n);
	evbuffer_add_buffer(in, g->front);
}

/* A head that has been arriving for longer than client_timeout. */
static int
gate_slow(struct gate *g, int64_t now)
{
	double t = srv.cfg.proxy_client_timeout;

	if (g->state != G_HEAD || evbuffer_get_length(g->held) == 0) {
		g->since = now;
		return 0;
	}
	return t > 0 && (double)(now - g->since) > t * 1000;
}

/*
 * Bytes came into a connection's input: a body's go on where they are,
 * up to its length; the rest wait in HELD until their head is decided.
 * The input is libevent's, read from inside its read; our own changes
 * call us again (BUSY).
 */
static void
gate_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct gate *g = arg;
	size_t n = info->n_added;
	int slow;

	if (g->busy || n == 0)
		return;
	g->busy = 1;
	if (g->state == G_OPEN)
		n = 0;
	else if (g->state == G_BODY && (int64_t)n <= g->left) {
		g->left -= (int64_t)n;
		if (g->left == 0)
			gate_reset(g);
		n = 0;
	} else if (g->state == G_BODY) {
		n -= (size_t)g->left; /* the rest is the next request's */
		gate_reset(g);
	}
	if (n > 0 && g->state == G_DROP)
		gate_take(g, in, n, NULL);
	else if (n > 0) {
		slow = gate_slow(g, now_mono_ms());
		gate_take(g, in, n, g->held);
		if (slow)
			gate_refuse_head(g, g->held, in, GATE_TOO_SLOW);
		else
			gate_run(g, g->held, in);
	}
	g->busy = 0;
}

/* libevent closes the connection: proxy.c's callback, and the gate goes. */
static void
gate_closed(struct evhttp_connection *evcon, void *arg)
{
	struct gate *g = arg;
	void (*cb)(struct evhttp_connection *, void *) = g->closecb;
	void *cbarg = g->closearg;

	evbuffer_remove_cb(bufferevent_get_input(g->bev), gate_input, g);
	TAILQ_REMOVE(&gates, g, entry);
	evbuffer_free(g->held);
	evbuffer_free(g->front);
	free(g);
	if (cb != NULL)
		cb(evcon, cbarg);
}

/*
 * A connection's first bytes: its gate.  Made only now, so that one that
 * never sends costs nothing; libevent's own close callback, which it
 * calls once as it closes the connection, frees it.  evhttp passes its
 * connection as the buffer's callback argument.
 */
static void
gate_first(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct bufferevent *bev = arg;
	struct gate *g;
	void *evcon = NULL;

	if (info->n_added == 0)
		return;
	bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
	if (evcon == NULL)
		return;
	g = xcalloc(1, sizeof *g);
	g->bev = bev;
	g->evcon = evcon;
	g->held = evbuffer_new();
	g->front = evbuffer_new();
	g->since = now_mono_ms();
	gate_reset(g);
	TAILQ_INSERT_TAIL(&gates, g, entry);
	evhttp_connection_set_closecb(g->evcon, gate_closed, g);
	evbuffer_remove_cb(in, gate_first, bev);
	evbuffer_add_cb(in, gate_input, g);
	gate_input(in, info, g);
}

/* proxy.c's close callback for a connection, kept by its gate. */
void
gate_set_closecb(struct evhttp_connection *evcon,
    void (*cb)(struct evhttp_connection *, void *), void *arg)
{
	struct gate *g;

	TAILQ_FOREACH(g, &gates, entry) {
		if (g->evcon == evcon) {
			g->closecb = cb;
			g->closearg = arg;
			return;
		}
	}
	evhttp_connection_set_closecb(evcon, cb, arg);
}

/* evhttp_set_bevcb: each new connection's buffer, watched by a gate. */
struct bufferevent *
gate_new(struct event_base *base, void *arg)
{
	struct bufferevent *bev;

	(void)arg;
	/* NULL would have libevent make a buffer of its own, ungated. */
	if ((bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		fatalx("proxy: cannot make a connection's buffer");
	evbuffer_add_cb(bufferevent_get_input(bev), gate_first, bev);
	return bev;
}
