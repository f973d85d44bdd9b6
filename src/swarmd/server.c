/*
 * server.c: the control socket.  Clients send one JSON request per line and
 * get one response per line.  A request that must wait (recv --wait,
 * events --follow) holds its connection's later lines until it answers.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "swarmd.h"

/* A client that cannot keep up with its output is dropped past this. */
#define MAX_OUTPUT (16 * 1024 * 1024)

struct client {
	struct bufferevent *bev;
	pid_t pid;
	uid_t uid;
	int64_t agent; /* peer_agent(): fixed at accept, outlives the agent */
	int is_operator;
	int busy;              /* a deferred request is outstanding */
	int closing;           /* close once the output is flushed */
	size_t scanned;        /* input bytes known to hold no newline */
	struct evbuffer *held; /* replies waiting for the group commit */
	int is_held;
	TAILQ_ENTRY(client) held_entry;
	void (*release)(struct client *, void *);
	void *release_arg;
	TAILQ_ENTRY(client) entry;
};
static TAILQ_HEAD(, client) clients = TAILQ_HEAD_INITIALIZER(clients);
static TAILQ_HEAD(, client) held = TAILQ_HEAD_INITIALIZER(held);
static struct evconnlistener *listener;
static int activated; /* the socket came from systemd */

static void client_process(struct client *);

static void
client_free(struct client *c)
{
	void (*release)(struct client *, void *) = c->release;

	c->release = NULL;
	if (release != NULL)
		release(c, c->release_arg);
	TAILQ_REMOVE(&clients, c, entry);
	if (c->is_held)
		TAILQ_REMOVE(&held, c, held_entry);
	if (c->held != NULL)
		evbuffer_free(c->held);
	bufferevent_free(c->bev);
	free(c);
}

void
client_set_release(
    struct client *c, void (*fn)(struct client *, void *), void *arg)
{
	c->release = fn;
	c->release_arg = arg;
	c->busy = fn != NULL;
}

/* A deferred request has answered: go on with the client's next lines. */
void
client_resume(struct client *c)
{
	client_set_release(c, NULL, NULL);
	if (!c->closing)
		client_process(c);
}

/* jansson writes straight into the output buffer: no copy of a big reply. */
static int
dump_to_evbuffer(const char *buf, size_t len, void *arg)
{
	return evbuffer_add(arg, buf, len);
}

/* What waits to reach the client: its output, and replies held for the
 * group commit, which join it after; both count against MAX_OUTPUT. */
static size_t
client_queued(struct client *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (c->held != NULL ? evbuffer_get_length(c->held) : 0);
}

/* Where a reply to C goes now, or NULL when C is closing or not reading. */
static struct evbuffer *
client_out(struct client *c)
{
	if (c->closing)
		return NULL;
	if (client_queued(c) > MAX_OUTPUT) {
		log_warnx("client pid %d is not reading its output; dropped",
		    (int)c->pid);
		c->closing = 1;
		bufferevent_disable(c->bev, EV_READ);
		return NULL;
	}
	/* Not a word about work the group commit has yet to make durable. */
	if (store_pending()) {
		if (c->held == NULL)
			c->held = evbuffer_new();
		if (!c->is_held) {
			TAILQ_INSERT_TAIL(&held, c, held_entry);
			c->is_held = 1;
		}
		return c->held;
	}
	return bufferevent_get_output(c->bev);
}

int
client_write_line(struct client *c, json_t *j)
{
	struct evbuffer *out = client_out(c);

	if (out == NULL ||
	    json_dump_callback(j, dump_to_evbuffer, out, JSON_COMPACT) == -1)
		return -1;
	evbuffer_add(out, "\n", 1);
	return 0;
}

/*
 * A success reply with one member, KEY, whose value TEXT is JSON text
 * already (drained): a listing of thousands of rows costs less written
 * as text than built as a tree of objects first (ps).
 */
int
client_reply_text(
    struct client *c, json_t *id, const char *key, struct evbuffer *text)
{
	struct evbuffer *out = client_out(c);
	char *ids = json_dumps(
	    id != NULL ? id : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);

	if (out == NULL || ids == NULL) {
		free(ids);
		return -1;
	}
	evbuffer_add_printf(out, "{\"id\":%s,\"ok\":true,\"%s\":", ids, key);
	evbuffer_add_buffer(out, text);
	evbuffer_add(out, "}\n", 2);
	free(ids);
	return 0;
}

/* The group commit is durable: send what waited for it. */
static void
server_release_held(void *arg)
{
	struct client *c;

	(void)arg;
	while ((c = TAILQ_FIRST(&held)) != NULL) {
		TAILQ_REMOVE(&held, c, held_entry);
		c->is_held = 0;
		evbuffer_add_buffer(bufferevent_get_output(c->bev), c->held);
	}
}

void
client_reply(struct client *c, json_t *id, json_t *body)
{
	json_t *r = json_pack(
	    "{s:O, s:b}", "id", id != NULL ? id : json_null(), "ok", 1);

	if (body != NULL)
		json_object_update_missing(r, body);
	client_write_line(c, r);
	json_decref(r);
}

/*
 * An error reply.  MSG is cut at whole characters first: jansson takes
 * only UTF-8, and a message a bound or the parser's "near" cut mid
 * character would void the reply, leaving the client waiting forever.
 */
json_t *
server_error_json(json_t *id, const char *code, json_t *extra, char *msg)
{
	json_t *e;

	utf8_trunc(msg);
	e = json_pack("{s:s, s:s}", "code", code, "message", msg);
	if (extra != NULL)
		json_object_update(e, extra);
	return json_pack("{s:O, s:b, s:o}", "id", id != NULL ? id : json_null(),
	    "ok", 0, "error", e);
}

static void
client_verror(struct client *c, json_t *id, const char *code, json_t *extra,
    const char *fmt, va_list ap)
{
	char msg[1024];
	json_t *r;

	vsnprintf(msg, sizeof msg, fmt, ap);
	r = server_error_json(id, code, extra, msg);
	client_write_line(c, r);
	json_decref(r);
}

void
client_error(
    struct client *c, json_t *id, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	client_verror(c, id, code, NULL, fmt, ap);
	va_end(ap);
}

void
client_error_extra(struct client *c, json_t *id, const char *code,
    json_t *extra, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	client_verror(c, id, code, extra, fmt, ap);
	va_end(ap);
}

static void
client_line(struct client *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		client_error(c, NULL, SWARM_E_BAD_REQUEST,
		    "not JSON: %s at column %d", jerr.text, jerr.column);
		return;
	}
	verb_dispatch(c, c->is_operator, c->agent, req);
	json_decref(req);
}

/* Handle complete lines until one defers or the input runs dry. */
static void
client_process(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr from, eol;
	size_t len;
	char *line;

	while (!c->busy && !c->closing) {
		/* Search only the new bytes: a long line arrives in pieces. */
		evbuffer_ptr_set(in, &from, c->scanned, EVBUFFER_PTR_SET);
		eol = evbuffer_search_eol(in, &from, NULL, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			c->scanned = evbuffer_get_length(in);
			if (c->scanned > SWARM_MAX_LINE)
				goto too_large;
			return;
		}
		c->scanned = 0;
		if ((size_t)eol.pos > SWARM_MAX_LINE)
			goto too_large;
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
		if (line == NULL)
			return;
		if (len > 0)
			client_line(c, line, len);
		free(line);
	}
	return;

too_large:
	client_error(c, NULL, SWARM_E_TOO_LARGE, "request line over %d bytes",
	    SWARM_MAX_LINE);
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	client_process(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_free(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(arg);
}

/* Root, our own uid, or a member of the operator group. */
static int
peer_is_operator(int fd, const struct ucred *cr)
{
	gid_t groups[256];
	socklen_t len = sizeof groups;
	size_t i;

	if (cr->uid == 0 || cr->uid == srv.uid)
		return 1;
	if (srv.operator_gid == (gid_t)-1)
		return 0;
	if (cr->gid == srv.operator_gid)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return 0;
	for (i = 0; i < len / sizeof groups[0]; i++) {
		if (groups[i] == srv.operator_gid)
			return 1;
	}
	return 0;
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct ucred cr;
	socklen_t len = sizeof cr;
	struct client *c;

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1) {
		log_warnx(
		    "SO_PEERCRED: %s; connection refused", strerror(errno));
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->pid = cr.pid;
	c->uid = cr.uid;
	/* An agent's process is no operator, whatever its uid. */
	c->agent = peer_agent(cr.pid);
	c->is_operator = c->agent == PEER_OUTSIDE && peer_is_operator(fd, &cr);
	c->bev = bufferevent_socket_new(srv.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&clients, c, entry);
}

/* systemd's socket: its path is the one agents must be given. */
static void
server_adopt(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof sun;
	size_t n;
	char *path;

	activated = 1;
	memset(&sun, 0, sizeof sun);
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == -1 ||
	    len <= offsetof(struct sockaddr_un, sun_path) ||
	    sun.sun_path[0] == '\0')
		return; /* unnamed or abstract: keep the configured path */
	n = len - offsetof(struct sockaddr_un, sun_path);
	path = xasprintf("%.*s",
	    (int)(n < sizeof sun.sun_path ? n : sizeof sun.sun_path),
	    sun.sun_path);
	if (strcmp(path, srv.cfg.socket) != 0) {
		log_notice("socket activation: %s, not the configured %s", path,
		    srv.cfg.socket);
		free(srv.cfg.socket);
		srv.cfg.socket = path;
	} else
		free(path);
}

/* Listen on the socket systemd passed us, or bind our own. */
int
server_listen(char *err, size_t errlen)
{
	int fd;

	if ((fd = systemd_listen_fd(err, errlen)) == -2)
		return -1;
	if (fd >= 0)
		server_adopt(fd);
	else if ((fd = server_bind(srv.cfg.socket, err, errlen)) == -1)
		return -1;
	listener = evconnlistener_new(srv.base, on_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (listener == NULL) {
		snprintf(err, errlen, "evconnlistener_new failed");
		close(fd);
		return -1;
	}
	sock_guard_accept(listener, "control socket");
	store_subscribe(server_release_held, NULL);
	log_info("listening on %s%s", srv.cfg.socket,
	    activated ? " (socket activation)" : "");
	return 0;
}

void
server_close(void)
{
	struct client *c, *next;

	store_unsubscribe(server_release_held, NULL);
	if (listener != NULL) {
		sock_unguard_accept(listener);
		evconnlistener_free(listener);
		listener = NULL;
		if (!activated) /* systemd's socket outlives us */
			unlink(srv.cfg.socket);
	}
	TAILQ_FOREACH_SAFE(c, &clients, entry, next) {
		client_free(c);
	}
}

/* Stop accepting; the clients we have are served until the loop ends. */
void
server_stop_accepting(void)
{
	if (listener != NULL) {
		sock_unguard_accept(listener);
		evconnlistener_disable(listener);
	}
}
