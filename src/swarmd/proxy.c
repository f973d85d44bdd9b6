/*
 * proxy.c: the metering proxy.  Agents reach the model APIs through
 * swarmd: ANTHROPIC_BASE_URL (and OPENAI_BASE_URL) point here, at a path
 * carrying the agent's token, so every request is attributed as it
 * happens and one place decides when to back off.  Requests go upstream
 * through libcurl on the event loop (curlev.c); server-sent events are
 * passed on as they arrive and read on the way for their usage.
 *
 * The agent's API key headers are forwarded untouched and never logged
 * or stored: nothing in the proxy prints a header.
 *
 * This file holds the listeners, reload, the JSON views and the requests
 * from agents (their token, route and body); the queue, the requests in
 * flight and the metering have files of their own (proxy.h).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"

static struct upstream ups[UP_N];
static struct evhttp *http;
static struct evhttp_bound_socket *bound;
static char *base_addr; /* 127.0.0.1:PORT as bound, or localhost */
static char *sock_path; /* [proxy] listen as a Unix socket */

/*
 * The triage hook asks a model through the proxy too, paced and metered
 * with the rest; its requests carry a token of swarmd's own (never
 * stored) and count as agent 0, "triage", in the account's windows.
 */
static char hook_token[65];
static struct agent watcher;

/* The agent a request counts for: 0 is the triage hook. */
struct agent *
proxy_agent(int64_t id)
{
	return id == 0 ? &watcher : agent_find(id);
}

const char *
proxy_address(void)
{
	return base_addr;
}

const char *
proxy_socket(void)
{
	return sock_path;
}

/*
 * What each upstream's rate-limit headers last said, as KIND-FIELD
 * whichever API spelled them: {"anthropic": {"tokens-limit": N, ...}}.
 */
json_t *
proxy_upstream_json(void)
{
	static const char *fields[] = { "limit", "remaining", "reset" };
	json_t *o = json_object(), *u;
	long long n;
	char key[64];
	int i, k, f;

	for (i = 0; i < UP_N; i++) {
		u = json_object();
		for (k = 0; k < PACE_ACCOUNT; k++) {
			for (f = 0; f < 3; f++) {
				const char *v = ups[i].view[k][f];

				if (*v == '\0')
					continue;
				snprintf(key, sizeof key, "%s-%s",
				    pace_kind_name(k), fields[f]);
				json_object_set_new(u, key,
				    parse_int(v, 0, INT64_MAX, &n) == 0 ?
				        json_integer(n) :
				        json_string(v));
			}
		}
		if (json_object_size(u) > 0 && ups[i].name != NULL)
			json_object_set_new(o, ups[i].name, u);
		else
			json_decref(u);
	}
	return o;
}

/* Not on a Unix socket: a hook is any program, most speak only TCP. */
char *
proxy_hook_url(void)
{
	if (base_addr == NULL || sock_path != NULL)
		return NULL;
	return xasprintf("http://%s/a/%s", base_addr, hook_token);
}

/* An answer in the Anthropic error shape, which every SDK understands. */
void
proxy_reply_error(struct evhttp_request *req, int status, const char *type,
    const char *message, int retry_after)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();
	json_t *j = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error",
	    "type", type, "message", message);
	char *s = json_dumps(j, JSON_COMPACT), num[32];

	evbuffer_add(b, s, strlen(s));
	evhttp_add_header(out, "Content-Type", "application/json");
	if (retry_after > 0) {
		snprintf(num, sizeof num, "%d", retry_after);
		evhttp_add_header(out, "retry-after", num);
	}
	/* libevent 2.1 has no phrase of its own for 431. */
	evhttp_send_reply(req, status,
	    status == 431 ? "Request Header Fields Too Large" : NULL, b);
	evbuffer_free(b);
	free(s);
	json_decref(j);
}

/* A header of one connection, passed on neither way. */
int
proxy_hop_by_hop(const char *name)
{
	static const char *names[] = { "connection", "keep-alive",
		"proxy-authenticate", "proxy-authorization", "proxy-connection",
		"te", "trailer", "transfer-encoding", "upgrade", "host",
		"content-length", "expect", "accept-encoding" };
	size_t i;

	for (i = 0; i < nitems(names); i++) {
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	}
	return 0;
}

/* ---- requests from agents ---- */

/* The agent (or the triage hook) a 64-character token is for, or NULL. */
struct agent *
proxy_token_agent(const char *token)
{
	uint8_t h[SHA256_LEN];
	struct agent *a;

	if (*hook_token != '\0' && strcmp(token, hook_token) == 0)
		return &watcher;
	sha256(token, 64, h);
	TAILQ_FOREACH(a, &live_agents, entry) {
		if (memcmp(a->proxy_hash, h, sizeof h) == 0)
			return a;
	}
	return NULL;
}

/* The request's headers, less those that belong to one connection. */
static struct curl_slist *
request_headers(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct curl_slist *l = NULL;
	struct evkeyval *h;
	char small[512], *s;
	size_t kn, vn;

	TAILQ_FOREACH(h, in, next) {
		if (proxy_hop_by_hop(h->key))
			continue;
		kn = strlen(h->key);
		vn = strlen(h->value);
		s = kn + vn + 3 <= sizeof small ? small : xmalloc(kn + vn + 3);
		memcpy(s, h->key, kn);
		s[kn] = ':';
		s[kn + 1] = ' ';
		memcpy(s + kn + 2, h->value, vn + 1);
		l = curl_slist_append(l, s);
		if (s != small)
			free(s);
	}
	/* No 100-continue round trip, and no compression we cannot meter. */
	l = curl_slist_append(l, "Expect:");
	return l;
}

/* Which upstream a path goes to; NULL for none.  *COUNT: token counting,
 * which costs no tokens. */
static struct upstream *
route_path(const char *rest, int *count)
{
	size_t plen = strcspn(rest, "?");

	*count =
	    plen == 25 && strncmp(rest, "/v1/messages/count_tokens", plen) == 0;
	if (*count || (plen == 12 && strncmp(rest, "/v1/messages", plen) == 0))
		return &ups[UP_ANTHROPIC];
	if (plen == 20 && strncmp(rest, "/v1/chat/completions", plen) == 0)
		return &ups[UP_OPENAI];
	return NULL;
}

/* The agent a request is for, or an error answer and NULL. */
static struct agent *
request_agent(struct evhttp_request *req, const char **rest)
{
	const char *uri = evhttp_request_get_uri(req);
	struct agent *a;
	char token[65];

	if (strncmp(uri, "/a/", 3) != 0 || strlen(uri + 3) < 64 ||
	    (uri[67] != '/' && uri[67] != '\0')) {
		proxy_reply_error(
		    req, 404, "not_found_error", "swarmd: no such path", 0);
		return NULL;
	}
	memcpy(token, uri + 3, 64);
	token[64] = '\0';
	if ((a = proxy_token_agent(token)) == NULL) {
		proxy_reply_error(req, 401, "authentication_error",
		    "swarmd: unknown agent token", 0);
		return NULL;
	}
	*rest = uri + 67;
	return a;
}

/* The body must be a JSON object; its max_tokens bounds the estimate. */
static int
request_body(struct evhttp_request *req, struct preq *p, int64_t *max_tokens)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	json_error_t jerr;
	json_t *j, *mt;
	char msg[256];

	p->body_len = evbuffer_get_length(in);
	p->body = xmalloc(p->body_len + 1);
	evbuffer_remove(in, p->body, p->body_len);
	p->body[p->body_len] = '\0';
	j = json_loadb(p->body, p->body_len, 0, &jerr);
	if (!json_is_object(j)) {
		snprintf(msg, sizeof msg,
		    "swarmd: the request body is not a JSON object%s%s",
		    j == NULL ? ": " : "", j == NULL ? jerr.text : "");
		proxy_reply_error(req, 400, "invalid_request_error", msg, 0);
		json_decref(j);
		return -1;
	}
	mt = json_object_get(j, "max_tokens");
	if (mt == NULL)
		mt = json_object_get(j, "max_completion_tokens");
	*max_tokens = json_is_integer(mt) ? json_integer_value(mt) : -1;
	if (json_is_string(json_object_get(j, "model")))
		p->model =
		    xstrdup(json_string_value(json_object_get(j, "model")));
	json_decref(j);
	return 0;
}

/*
 * An agent at its token cap asks no more of the account.  What its
 * requests in flight may still use is held against the cap, so requests
 * sent together overrun it by one at most.
 */
static int
request_capped(struct evhttp_request *req, struct agent *a)
{
	int64_t used = usage_counted(&a->use);
	char msg[320];

	if (a->cap <= 0 || used + a->held < a->cap)
		return 0;
	snprintf(msg, sizeof msg,
	    "swarmd: agent-%lld has used %lld of its %lld-token cap "
	    "(per_agent_tokens), %lld more held by its requests in flight; "
	    "no more requests",
	    (long long)a->id, (long long)used, (long long)a->cap,
	    (long long)a->held);
	proxy_reply_error(req, 403, "permission_error", msg, 0);
	return 1;
}

/* The client went away: stop the transfer, count what it saw. */
static void
on_client_close(struct evhttp_connection *evcon, void *arg)
{
	struct preq *p = arg;

	(void)evcon;
	/* A request libevent was not done with is let go, ours to free;
	 * one still on the connection (at shutdown) goes with it. */
	if (evhttp_request_get_connection(p->req) == NULL)
		evhttp_request_free(p->req);
	p->req = NULL;
	if (p->easy != NULL)
		meter_record(p);
	preq_free(p);
}

/* [proxy] client_timeout, or NULL for none. */
static const struct timeval *
client_timeout(struct timeval *tv)
{
	double t = srv.cfg.proxy_client_timeout;

	if (t <= 0)
		return NULL;
	tv->tv_sec = (time_t)t;
	tv->tv_usec = (suseconds_t)((t - (double)tv->tv_sec) * 1e6);
	return tv;
}

/* Answered: the connection waits for its next request, for so long,
 * and the gate looks at that request first. */
static void
on_answered(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct timeval tv;

	(void)arg;
	if (evcon == NULL)
		return;
	proxy_gate_answered(evcon);
	if (client_timeout(&tv) != NULL)
		evhttp_connection_set_timeout_tv(evcon, &tv);
	else
		bufferevent_set_timeouts(
		    evhttp_connection_get_bufferevent(evcon), NULL, NULL);
}

/*
 * Another path on the proxy's listener, for the control layer (GET
 * /metrics).  The gate lets only agents' requests through whole, so it
 * comes as a refused request does: its line alone, answered, then the
 * connection closes (on_answered lingers).
 */
static proxy_serve_cb served_cb;

static void
on_served(struct evhttp_request *req, void *arg)
{
	evhttp_request_set_on_complete_cb(req, on_answered, NULL);
	served_cb(req, arg);
}

int
proxy_serve(const char *path, proxy_serve_cb cb, void *arg)
{
	if (http == NULL)
		return -1;
	served_cb = cb;
	return evhttp_set_cb(http, path, on_served, arg) == 0 ? 0 : -1;
}

/*
 * While the answer is waited for and streamed the agent sends nothing:
 * no read timeout then ([proxy] timeout bounds upstream's silence), but
 * one that stops reading what it is sent is dropped.
 */
static void
answer_timeouts(struct preq *p)
{
	struct timeval tv;

	bufferevent_set_timeouts(evhttp_connection_get_bufferevent(p->evcon),
	    NULL, client_timeout(&tv));
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	const char *rest;
	struct upstream *up;
	struct agent *a;
	struct preq *p;
	int64_t max_tokens, now = now_mono_ms(), wait;
	int count;

	(void)arg;
	evhttp_request_set_on_complete_cb(req, on_answered, NULL);
	if ((a = request_agent(req, &rest)) == NULL)
		return;
	if ((up = route_path(rest, &count)) == NULL) {
		proxy_reply_error(
		    req, 404, "not_found_error", "swarmd: no such path", 0);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		proxy_reply_error(req, 405, "invalid_request_error",
		    "swarmd: only POST is proxied", 0);
		return;
	}
	a->proxied = 1;
	a->last_seen = now_wall_ms();
	a->seen_dirty = 1;
	if (request_capped(req, a))
		return;
	p = xcalloc(1, sizeof *p);
	p->arrived = histo_now();
	p->agent = a->id;
	p->up = up;
	p->resp = evbuffer_new();
	p->lines = evbuffer_new();
	if (request_body(req, p, &max_tokens) == -1) {
		preq_free(p);
		return;
	}
	if (!count) {
		pace_estimate(&up->pace, p->body_len, max_tokens, &p->est);
		/* At most: its input and all the output it asked for. */
		quota_estimate(p->model, (int64_t)p->est.v[PACE_INPUT],
		    max_tokens >= 0 ? max_tokens :
		                      (int64_t)p->est.v[PACE_OUTPUT],
		    &p->hold);
		a->held += p->hold.tokens;
	}
	if ((wait = queue_wait(up, p, now)) >
	    (int64_t)(srv.cfg.proxy_max_hold * 1000)) {
		p->req = req;
		queue_refuse(p, wait);
		return;
	}
	p->req = req;
	p->evcon = evhttp_request_get_connection(req);
	p->queued_at = now;
	p->url = xasprintf("%s%s",
	    up == &ups[UP_OPENAI] ? srv.cfg.proxy_openai_upstream :
	                            srv.cfg.proxy_upstream,
	    rest);
	p->headers = request_headers(req);
	evhttp_connection_set_closecb(p->evcon, on_client_close, p);
	answer_timeouts(p);
	queue_put(p, 0);
	queue_pump(up);
}

/* The queues and what each upstream has taught us, for swarmctl quota. */
json_t *
proxy_json(void)
{
	json_t *o = json_object();
	int64_t now = now_mono_ms();
	int i;

	if (http == NULL)
		return o;
	for (i = 0; i < UP_N; i++) {
		struct upstream *up = &ups[i];

		json_object_set_new(o, up->name,
		    json_pack("{s:i, s:i, s:f, s:I, s:I, s:I, s:o}", "queued",
		        up->queued, "in_flight", up->inflight, "hold_seconds",
		        up->hold_until > now ?
		            (double)(up->hold_until - now) / 1000 :
		            0.0,
		        "requests", (json_int_t)up->requests, "absorbed_429",
		        (json_int_t)up->absorbed, "refused_429",
		        (json_int_t)up->refused, "buckets",
		        pace_json(&up->pace)));
	}
	return o;
}

/* Each upstream's figures, for the metrics; 0 when the proxy is off. */
int
proxy_stats(struct proxy_stat st[], int max)
{
	int i;

	if (http == NULL)
		return 0;
	for (i = 0; i < UP_N && i < max; i++) {
		st[i].upstream = ups[i].name;
		st[i].queued = ups[i].queued;
		st[i].inflight = ups[i].inflight;
		st[i].requests = ups[i].requests;
		st[i].absorbed = ups[i].absorbed;
		st[i].refused = ups[i].refused;
		st[i].added = &ups[i].added;
	}
	return i;
}

/*
 * A Unix socket, made like the control socket (socket_mode, socket_group):
 * agents reach it with SWARM_PROXY_SOCKET (curl --unix-socket, libcurl's
 * CURLOPT_UNIX_SOCKET_PATH); their base URLs name localhost.
 */
static int
proxy_listen_unix(char *err, size_t errlen)
{
	int fd;

	if ((fd = server_bind(srv.cfg.proxy_listen, err, errlen)) == -1)
		return -1;
	if ((bound = evhttp_accept_socket_with_handle(http, fd)) == NULL) {
		snprintf(err, errlen, "[proxy] listen %s: cannot accept",
		    srv.cfg.proxy_listen);
		close(fd);
		return -1;
	}
	sock_guard_accept(evhttp_bound_socket_get_listener(bound), "proxy");
	sock_path = xstrdup(srv.cfg.proxy_listen);
	base_addr = xstrdup("localhost");
	quota_proxy_listen(sock_path);
	log_notice("proxy listening on %s", sock_path);
	return 0;
}

/*
 * Port 0 picks one, but the agents of the last run outlive a restart
 * with its port in their base URLs: bind that one again if it is free.
 */
static struct evhttp_bound_socket *
proxy_bind(const char *host, int port, const char *keep)
{
	struct evhttp_bound_socket *bs = NULL;
	FILE *f;
	int last;

	if (port == 0 && (f = fopen(keep, "r")) != NULL) {
		if (fscanf(f, "%d", &last) == 1 && last > 0 && last < 65536)
			bs = evhttp_bind_socket_with_handle(
			    http, host, (uint16_t)last);
		fclose(f);
	}
	if (bs == NULL)
		bs = evhttp_bind_socket_with_handle(http, host, (uint16_t)port);
	return bs;
}

/* What a connection may send, and how slowly (new connections). */
static void
proxy_limits(void)
{
	struct timeval tv;

	evhttp_set_max_headers_size(http, (ev_ssize_t)srv.cfg.proxy_max_header);
	evhttp_set_max_body_size(http, (ev_ssize_t)srv.cfg.proxy_max_body);
	evhttp_set_timeout_tv(http, client_timeout(&tv));
}

/* Listen when [proxy] listen is set (see quota for where). */
int
proxy_init(char *err, size_t errlen)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t slen = sizeof sin;
	char *host, *colon, *keep;
	FILE *f;
	int i, port;

	ups[UP_ANTHROPIC].name = "anthropic";
	ups[UP_OPENAI].name = "openai";
	for (i = 0; i < UP_N; i++) {
		queue_init(&ups[i]);
		pace_init(&ups[i].pace, (double)srv.cfg.tokens_per_minute,
		    now_mono_ms());
	}
	if (*srv.cfg.proxy_listen == '\0')
		return 0;
	spawn_token(hook_token);
	http = evhttp_new(srv.base);
	proxy_limits();
	evhttp_set_bevcb(http, proxy_gate_bev, NULL);
	evhttp_set_gencb(http, on_request, NULL);
	if (*srv.cfg.proxy_listen == '/')
		return proxy_listen_unix(err, errlen);
	/* 127.0.0.1:PORT, as config.c checked. */
	host = xstrdup(srv.cfg.proxy_listen);
	colon = strrchr(host, ':');
	*colon = '\0';
	port = atoi(colon + 1);
	keep = xasprintf("%s/proxy-port", srv.cfg.statedir);
	if ((bs = proxy_bind(host, port, keep)) == NULL) {
		snprintf(err, errlen, "[proxy] listen %s: cannot bind",
		    srv.cfg.proxy_listen);
		free(host);
		free(keep);
		return -1;
	}
	bound = bs;
	sock_guard_accept(evhttp_bound_socket_get_listener(bs), "proxy");
	/* clang-tidy cannot see getsockname fill it. */
	memset(&sin, 0, sizeof sin);
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin,
	        &slen) == 0)
		port = ntohs(sin.sin_port);
	base_addr = xasprintf("%s:%d", host, port);
	if ((f = fopen(keep, "w")) != NULL) {
		fprintf(f, "%d\n", port);
		fclose(f);
	}
	free(host);
	free(keep);
	quota_proxy_listen(base_addr);
	log_notice("proxy listening on %s", base_addr);
	return 0;
}

/* After SIGHUP: the account's bucket follows [quota] tokens_per_minute,
 * new connections the limits; the address stays (a restart moves it). */
void
proxy_reload(void)
{
	int i;

	for (i = 0; i < UP_N; i++)
		pace_account(&ups[i].pace, (double)srv.cfg.tokens_per_minute);
	if (http != NULL)
		proxy_limits();
}

void
proxy_free(void)
{
	int i;

	/* First the connections: their requests' close callbacks free what
	 * they hold, and that still pumps the queues. */
	if (bound != NULL)
		sock_unguard_accept(evhttp_bound_socket_get_listener(bound));
	bound = NULL;
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
	proxy_gate_free();
	for (i = 0; i < UP_N; i++)
		queue_free(&ups[i]);
	free(watcher.model);
	watcher.model = NULL;
	preq_pool_free();
	if (sock_path != NULL)
		unlink(sock_path);
	free(sock_path);
	sock_path = NULL;
	free(base_addr);
	base_addr = NULL;
}
