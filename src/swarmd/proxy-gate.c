/*
 * proxy-gate.c: no body is read without a live token.  libevent 2.1
 * reads a server request whole before proxy.c sees it and has no hook
 * between its head and its body, so the gate watches each connection's
 * input buffer instead: when a request line is in, and before libevent
 * parses it, the line must be a POST to /a/TOKEN of a live agent (or
 * the triage hook).  Then the gate steps aside and the request goes on
 * as it came, untouched and uncopied.  Any other request is cut to its
 * request line with "Connection: close": proxy.c answers it as it always
 * did (404, 401, 405), whatever followed is dropped unread, and the
 * connection closes after the answer.
 *
 * Closing a socket with unread input resets it, and a reset can cost
 * the client the answer it was sent: once a refusal is answered, the
 * socket is kept (a dup), shut for writing and drained for a moment
 * while libevent lets it go, as a lingering close does.
 *
 * The gate is armed when a connection opens and again when an answer is
 * done (proxy_gate_answered), so each request of a kept-alive connection is
 * looked at.  A request line longer than [proxy] max_header is left to
 * libevent, which refuses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "proxy.h"

static void gate_check(
    struct evbuffer *, const struct evbuffer_cb_info *, void *);

/* A refused connection drained before it closes, for at most
 * LINGER_MS; no more than LINGER_MAX at once. */
#define LINGER_MAX 256
#define LINGER_MS 2000
struct lingerer {
	int fd;
	int64_t until; /* mono ms */
	struct event *ev;
	TAILQ_ENTRY(lingerer) entry;
};
static TAILQ_HEAD(, lingerer) lingers = TAILQ_HEAD_INITIALIZER(lingers);
static int nlingers;

static void
linger_end(struct lingerer *l)
{
	TAILQ_REMOVE(&lingers, l, entry);
	nlingers--;
	if (l->ev != NULL)
		event_free(l->ev);
	close(l->fd);
	free(l);
}

static void
linger_read(evutil_socket_t fd, short what, void *arg)
{
	struct lingerer *l = arg;
	char buf[16384];
	ssize_t n = 0;

	if (what & EV_READ)
		n = read(fd, buf, sizeof buf);
	if ((n > 0 || (n == -1 && errno == EAGAIN)) && now_mono_ms() < l->until)
		return;
	linger_end(l);
}

/* Keep FD's socket open, its answer sent and its end shut, and drain
 * it until the client is done. */
static void
linger_start(int fd)
{
	struct timeval tv = { LINGER_MS / 1000, 0 };
	struct lingerer *l;
	int dup_fd;

	if (fd == -1 || nlingers >= LINGER_MAX ||
	    (dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return;
	shutdown(dup_fd, SHUT_WR);
	l = xcalloc(1, sizeof *l);
	l->fd = dup_fd;
	l->until = now_mono_ms() + LINGER_MS;
	l->ev =
	    event_new(srv.base, dup_fd, EV_READ | EV_PERSIST, linger_read, l);
	TAILQ_INSERT_TAIL(&lingers, l, entry);
	nlingers++;
	if (l->ev == NULL || event_add(l->ev, &tv) == -1)
		linger_end(l);
}

void
proxy_gate_free(void)
{
	struct lingerer *l, *next;

	TAILQ_FOREACH_SAFE(l, &lingers, entry, next)
		linger_end(l);
}

/* A refused request was answered from its line: drop what follows. */
static void
gate_drop(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	(void)arg;
	if (info->n_added > 0)
		evbuffer_drain(in, evbuffer_get_length(in));
}

/* "POST /a/TOKEN/..." or "POST /a/TOKEN ..." with a token we know. */
int
proxy_gate_line_ok(const char *s, size_t len)
{
	char token[65];

	if (len < 5 + 3 + 64 + 1 || memcmp(s, "POST /a/", 8) != 0 ||
	    (s[72] != '/' && s[72] != ' '))
		return 0;
	memcpy(token, s + 8, 64);
	token[64] = '\0';
	return proxy_token_agent(token) != NULL;
}

/* Keep only the request line, and close after its answer. */
static void
gate_refuse(struct bufferevent *bev, struct evbuffer *in, size_t eol)
{
	char line[128];
	size_t n = eol < sizeof line ? eol : sizeof line - 1;

	/* libevent's parser needs "METHOD URI VERSION": keep what we need
	 * of the line to be answered, refuse anything longer as unknown. */
	evbuffer_copyout(in, line, n);
	line[n] = '\0';
	if (n < eol)
		snprintf(line, sizeof line, "POST / HTTP/1.1");
	evbuffer_remove_cb(in, gate_check, bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	/* A bufferevent's input takes bytes only while it reads: this may
	 * be a request that came early (proxy_gate_answered), not a read. */
	evbuffer_unfreeze(in, 0);
	evbuffer_add_printf(in, "%s\r\nConnection: close\r\n\r\n", line);
	evbuffer_freeze(in, 0);
	evbuffer_add_cb(in, gate_drop, bev);
}

static void
gate_check(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct evbuffer_ptr eol;
	char head[80];
	size_t n, eollen;

	if (info->n_added == 0)
		return;
	eol = evbuffer_search_eol(in, NULL, &eollen, EVBUFFER_EOL_CRLF);
	if (eol.pos == -1)
		return; /* not yet: libevent bounds how long it may grow */
	n = (size_t)eol.pos < sizeof head ? (size_t)eol.pos : sizeof head;
	evbuffer_copyout(in, head, n);
	if (proxy_gate_line_ok(head, n))
		evbuffer_remove_cb(in, gate_check, arg);
	else
		gate_refuse(arg, in, (size_t)eol.pos);
}

/* An answer on EVCON is sent: look at the next request before libevent
 * does, or, after a refusal, linger while libevent closes. */
void
proxy_gate_answered(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_cb_info info = { 0, 0, 0 };

	if (evbuffer_remove_cb(in, gate_drop, bev) == 0) {
		linger_start(bufferevent_getfd(bev));
		return;
	}

	evbuffer_remove_cb(in, gate_check, bev);
	evbuffer_add_cb(in, gate_check, bev);
	/* A request sent before the last answer was done is in already. */
	info.n_added = evbuffer_get_length(in);
	gate_check(in, &info, bev);
}

/* Each connection's buffers, made so the gate watches from the start. */
struct bufferevent *
proxy_gate_bev(struct event_base *base, void *arg)
{
	struct bufferevent *bev;

	(void)arg;
	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL)
		evbuffer_add_cb(bufferevent_get_input(bev), gate_check, bev);
	return bev;
}
