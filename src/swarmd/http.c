/*
 * http.c: the web dashboard ([http] listen).  One page from the files in
 * [http] root, its JSON (the control verbs' own builders: jobs, ps, quota,
 * escalations, events) and its live feed (http-sse.c).  It only reads,
 * but for three buttons (abort, send, resolve), which need the operator
 * token in a header: a cookie would let any other site press them.  Off
 * loopback every data path needs the bearer token of [http] token_file.
 */
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "swarmd.h"

#define HTTP_MAX_HEADER (16 * 1024)
#define HTTP_MAX_BODY (2 * ARG_MAX_TEXT)
#define HTTP_MAX_FILE (4 * 1024 * 1024)
#define HTTP_EVENTS_TIMELINE 500 /* an agent's newest events */
#define HTTP_EVENTS_LAST 50      /* the snapshot's newest events */
#define HTTP_JOBS 20             /* the page's jobs, with their cost */

static struct evhttp *http;
static struct evhttp_bound_socket *bound;
static char *root;
static int have_token, have_operator;
static uint8_t token_hash[SHA256_LEN], operator_hash[SHA256_LEN];

static void
http_reply(struct evhttp_request *req, int code, const char *type,
    struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_send_reply(req, code, NULL, body);
}

/* A clear error: the status and one line of text saying why. */
static void __attribute__((format(printf, 3, 4)))
http_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
	struct evbuffer *b = evbuffer_new();
	va_list ap;

	evbuffer_add_printf(b, "swarmd: ");
	va_start(ap, fmt);
	evbuffer_add_vprintf(b, fmt, ap);
	va_end(ap);
	evbuffer_add(b, "\n", 1);
	if (code == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"swarmd\"");
	http_reply(req, code, "text/plain; charset=utf-8", b);
	evbuffer_free(b);
}

static int
dump_to_evbuffer(const char *buf, size_t len, void *arg)
{
	return evbuffer_add(arg, buf, len);
}

static void
http_json(struct evhttp_request *req, int code, json_t *j)
{
	struct evbuffer *b = evbuffer_new();

	json_dump_callback(j, dump_to_evbuffer, b, JSON_COMPACT);
	http_reply(req, code, "application/json", b);
	evbuffer_free(b);
}

static const char *
http_peer(struct evhttp_request *req, char *buf, size_t len)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *host = NULL;
	ev_uint16_t port = 0;

	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &host, &port);
	snprintf(buf, len, "%s:%u", host != NULL ? host : "?", port);
	return buf;
}

/* ---- who may see and press ---- */

static int
token_is(const char *tok, const uint8_t *hash)
{
	uint8_t h[SHA256_LEN];

	if (tok == NULL)
		return 0;
	sha256(tok, strlen(tok), h);
	return ct_equal(h, hash, SHA256_LEN);
}

/* The bearer token: the Authorization header, or ?access_token= for the
 * browser's EventSource, which cannot set a header (RFC 6750, 2.3). */
static int
http_bearer_ok(struct evhttp_request *req)
{
	const char *auth = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	const char *query =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq q;
	int ok = 0;

	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
		ok = token_is(auth + 7, token_hash) ||
		    (have_operator && token_is(auth + 7, operator_hash));
	if (!ok && query != NULL && evhttp_parse_query_str(query, &q) == 0) {
		const char *t = evhttp_find_header(&q, "access_token");

		ok = token_is(t, token_hash) ||
		    (have_operator && token_is(t, operator_hash));
		evhttp_clear_headers(&q);
	}
	return ok;
}

/*
 * Without a token only loopback clients get here, but a page on another
 * site can reach 127.0.0.1 under its own name (DNS rebinding): the Host
 * must be a loopback name too.
 */
static int
http_host_ok(struct evhttp_request *req)
{
	const char *host =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	char name[64];
	struct in_addr in;
	size_t n;

	if (host == NULL)
		return 0;
	if (strncmp(host, "[::1]", 5) == 0)
		return host[5] == '\0' || host[5] == ':';
	/* The name without its port: a loopback address, or localhost. */
	n = strcspn(host, ":");
	if (n >= sizeof name)
		return 0;
	memcpy(name, host, n);
	name[n] = '\0';
	if (strcmp(name, "localhost") == 0)
		return 1;
	return inet_pton(AF_INET, name, &in) == 1 &&
	    (ntohl(in.s_addr) >> 24) == 127;
}

/* May REQ see the swarm?  Answers it when not. */
static int
http_may_read(struct evhttp_request *req)
{
	if (have_token) {
		if (http_bearer_ok(req))
			return 1;
		http_error(req, 401, "a bearer token is needed (token_file)");
		return 0;
	}
	if (!http_host_ok(req)) {
		http_error(req, 403, "Host is not a loopback name");
		return 0;
	}
	return 1;
}

static int
http_is_operator(struct evhttp_request *req)
{
	return have_operator &&
	    token_is(evhttp_find_header(evhttp_request_get_input_headers(req),
	                 "X-Swarmd-Operator"),
	        operator_hash);
}

/* ---- the page's files ---- */

static const char *
http_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".png", "image/png" },
		{ ".svg", "image/svg+xml" },
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot != NULL && i < nitems(types); i++) {
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* A file of the root's own, by a plain name: no directory, no dot first. */
static int
http_name_ok(const char *name)
{
	const char *p;

	if (*name == '\0' || *name == '.')
		return 0;
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		        (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
		        *p == '_'))
			return 0;
	}
	return strstr(name, "..") == NULL;
}

static void
http_static(struct evhttp_request *req, const char *name)
{
	struct evbuffer *b;
	struct stat st;
	char *path;
	int fd;

	if (!http_name_ok(name)) {
		http_error(req, 400, "bad path: only the page's own files");
		return;
	}
	path = xasprintf("%s/%s", root, name);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	free(path);
	if (fd == -1) {
		http_error(req, 404, "no such file: %s", name);
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > HTTP_MAX_FILE) {
		close(fd);
		http_error(req, 404, "no such file: %s", name);
		return;
	}
	b = evbuffer_new();
	if (evbuffer_add_file(b, fd, 0, st.st_size) == -1) {
		evbuffer_free(b);
		http_error(req, 500, "cannot read %s", name);
		return;
	}
	/* The page runs its own files only: no inline script, no other site. */
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Security-Policy",
	    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
	http_reply(req, 200, http_type(name), b);
	evbuffer_free(b);
}

/* ---- what the page shows ---- */

static void
add_json(struct evbuffer *b, const char *key, json_t *j)
{
	evbuffer_add_printf(b, ",\"%s\":", key);
	json_dump_callback(
	    j, dump_to_evbuffer, b, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
}

/* The newest event's seq, 0 for none. */
static int64_t
latest_seq(void)
{
	struct evlog_filter f;
	json_t *evs;
	int64_t seq;
	int more;

	memset(&f, 0, sizeof f);
	evs = evlog_list_json(&f, NULL, 1, &more);
	seq =
	    json_integer_value(json_object_get(json_array_get(evs, 0), "seq"));
	json_decref(evs);
	return seq;
}

/* The jobs the page shows (the newest HTTP_JOBS) carry their cost. */
static json_t *
jobs_with_cost(void)
{
	json_t *jobs = job_list_json(NULL), *j;
	size_t i, n = json_array_size(jobs);
	int64_t id;

	for (i = n > HTTP_JOBS ? n - HTTP_JOBS : 0; i < n; i++) {
		j = json_array_get(jobs, i);
		if (job_parse_id(
		        json_string_value(json_object_get(j, "job")), &id) == 0)
			json_object_set_new(j, "cost", cost_job_json(id));
	}
	return jobs;
}

/* What top shows, at once: jobs, live agents, quota, escalations and the
 * newest events; SEQ is the newest, where the page's feed takes over. */
static void
http_snapshot(struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	struct evlog_filter f;
	json_t *evs, *q;
	int more;

	memset(&f, 0, sizeof f);
	evs = evlog_list_json(&f, NULL, HTTP_EVENTS_LAST, &more);
	evbuffer_add_printf(b, "{\"seq\":%lld", (long long)latest_seq());
	add_json(b, "jobs", jobs_with_cost());
	evbuffer_add_printf(b, ",\"agents\":");
	agent_list_text(0, 0, b);
	q = quota_json();
	json_object_set_new(q, "upstream", proxy_upstream_json());
	json_object_set_new(q, "proxy_queues", proxy_json());
	add_json(b, "quota", q);
	add_json(b, "escalations", escalate_list(0));
	add_json(b, "events", evs);
	evbuffer_add(b, "}", 1);
	http_reply(req, 200, "application/json", b);
	evbuffer_free(b);
}

static int
http_status_of(json_t *r)
{
	const char *code = json_string_value(
	    json_object_get(json_object_get(r, "error"), "code"));

	if (code == NULL)
		return 200;
	if (strcmp(code, SWARM_E_NOT_FOUND) == 0)
		return 404;
	if (strcmp(code, SWARM_E_CONFLICT) == 0)
		return 409;
	if (strcmp(code, SWARM_E_INTERNAL) == 0)
		return 500;
	return 400;
}

/* An agent's timeline: the show verb's answer (its usage, its notes) and
 * its newest events. */
static void
http_agent(struct evhttp_request *req, const char *name)
{
	struct evlog_filter f;
	json_t *args, *r;
	int64_t id;
	int more;

	if (agent_parse_id(name, &id) == -1) {
		http_error(req, 404, "no such agent");
		return;
	}
	args = json_pack("{s:s}", "target", name);
	r = verb_call("show", args);
	json_decref(args);
	if (json_is_true(json_object_get(r, "ok"))) {
		memset(&f, 0, sizeof f);
		f.agent = id;
		json_object_set_new(r, "events",
		    evlog_list_json(&f, NULL, HTTP_EVENTS_TIMELINE, &more));
		json_object_set_new(r, "more", json_boolean(more));
	}
	http_json(req, http_status_of(r), r);
	json_decref(r);
}

/* POST /api/VERB: a button; its body is the verb's arguments. */
static void
http_button(struct evhttp_request *req, const char *verb)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *type = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Type");
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	json_t *args, *r;
	char peer[80];

	if (!http_is_operator(req)) {
		http_error(req, 403,
		    have_operator ?
		        "the operator token is needed (X-Swarmd-Operator)" :
		        "read-only: no [http] operator_token_file");
		return;
	}
	if (type == NULL || strncmp(type, "application/json", 16) != 0) {
		http_error(req, 415, "the body must be application/json");
		return;
	}
	args = json_loadb((const char *)evbuffer_pullup(in, -1), len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(args)) {
		json_decref(args);
		http_error(req, 400, "the body must be a JSON object");
		return;
	}
	log_info("http: operator %s from %s", verb,
	    http_peer(req, peer, sizeof peer));
	r = verb_call(verb, args);
	json_decref(args);
	http_json(req, http_status_of(r), r);
	json_decref(r);
}

/* GET /events: from Last-Event-ID, else ?after=, else from now on. */
static void
http_events(struct evhttp_request *req)
{
	const char *last = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Last-Event-ID");
	const char *query =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq q;
	long long after = -1;
	char peer[80];

	if (last != NULL && parse_int(last, 0, INT64_MAX, &after) == -1) {
		http_error(req, 400, "Last-Event-ID: expected an event seq");
		return;
	}
	if (after < 0 && query != NULL &&
	    evhttp_parse_query_str(query, &q) == 0) {
		const char *a = evhttp_find_header(&q, "after");
		int bad = a != NULL && parse_int(a, 0, INT64_MAX, &after) == -1;

		evhttp_clear_headers(&q);
		if (bad) {
			http_error(req, 400, "after: expected an event seq");
			return;
		}
	}
	/* None, or one past the log's end (a new state): from now on. */
	if (after < 0 || after > latest_seq())
		after = latest_seq();
	http_sse_start(req, after, http_peer(req, peer, sizeof peer));
}

/* The routes: the page, its data, its feed, its buttons. */
static void
on_request(struct evhttp_request *req, void *arg)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *raw =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	size_t len;
	char *path;

	(void)arg;
	if (raw == NULL || (path = evhttp_uridecode(raw, 0, &len)) == NULL) {
		http_error(req, 400, "bad path");
		return;
	}
	if (strlen(path) != len || *path != '/')
		http_error(req, 400, "bad path");
	else if (cmd == EVHTTP_REQ_POST) {
		if (strcmp(path, "/api/abort") != 0 &&
		    strcmp(path, "/api/send") != 0 &&
		    strcmp(path, "/api/resolve") != 0)
			http_error(req, 404, "no such button");
		else if (http_may_read(req))
			http_button(req, path + 5);
	} else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
		http_error(req, 405, "only GET, HEAD and POST");
	else if (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/events") != 0)
		/* The page's files show nothing of the swarm: no token. */
		http_static(
		    req, strcmp(path, "/") == 0 ? "index.html" : path + 1);
	else if (!http_may_read(req))
		;
	else if (strcmp(path, "/api/snapshot") == 0)
		http_snapshot(req);
	else if (strcmp(path, "/api/session") == 0) {
		json_t *o =
		    json_pack("{s:b}", "operator", http_is_operator(req));

		http_json(req, 200, o);
		json_decref(o);
	} else if (strncmp(path, "/api/agent/", 11) == 0)
		http_agent(req, path + 11);
	else if (strcmp(path, "/events") == 0 && cmd == EVHTTP_REQ_GET)
		http_events(req);
	else
		http_error(req, 404, "no such path");
	free(path);
}

/* A token file: its first line, of which only the hash is kept. */
static int
read_token(const char *file, uint8_t *hash, char *err, size_t errlen)
{
	char buf[1024];
	size_t n;
	FILE *f;

	if ((f = fopen(file, "re")) == NULL) {
		snprintf(err, errlen, "[http] %s: %s", file, strerror(errno));
		return -1;
	}
	if (fgets(buf, sizeof buf, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n < 16) {
		explicit_bzero(buf, sizeof buf);
		snprintf(err, errlen,
		    "[http] %s: a token of at least 16 characters is needed",
		    file);
		return -1;
	}
	sha256(buf, n, hash);
	explicit_bzero(buf, sizeof buf);
	return 0;
}

static int
http_tokens(char *err, size_t errlen)
{
	if (*srv.cfg.http_token_file != '\0') {
		if (read_token(
		        srv.cfg.http_token_file, token_hash, err, errlen) == -1)
			return -1;
		have_token = 1;
	}
	if (*srv.cfg.http_operator_token_file != '\0') {
		if (read_token(srv.cfg.http_operator_token_file, operator_hash,
		        err, errlen) == -1)
			return -1;
		have_operator = 1;
	}
	return 0;
}

/* Bind HOST:PORT ([::1] without its brackets); port 0 picks one. */
static int
http_bind(char *err, size_t errlen)
{
	char *host = xstrdup(srv.cfg.http_listen), *colon = strrchr(host, ':');
	struct sockaddr_storage ss;
	socklen_t slen = sizeof ss;
	char *h = host, name[64];
	int port;

	*colon = '\0';
	port = atoi(colon + 1);
	if (*h == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = '\0';
		h++;
	}
	if ((bound = evhttp_bind_socket_with_handle(http, h, (uint16_t)port)) ==
	    NULL) {
		snprintf(err, errlen, "[http] listen %s: cannot bind",
		    srv.cfg.http_listen);
		free(host);
		return -1;
	}
	memset(&ss, 0, sizeof ss);
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	        (struct sockaddr *)&ss, &slen) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ?
		        ((struct sockaddr_in6 *)&ss)->sin6_port :
		        ((struct sockaddr_in *)&ss)->sin_port);
	snprintf(name, sizeof name, "%s", h);
	log_notice("http: dashboard on http://%s%s%s:%d/%s",
	    strchr(name, ':') != NULL ? "[" : "", name,
	    strchr(name, ':') != NULL ? "]" : "", port,
	    have_token ? " (bearer token)" : "");
	free(host);
	return 0;
}

/* Serve the dashboard when [http] listen is set. */
int
http_init(char *err, size_t errlen)
{
	struct timeval tv;

	if (*srv.cfg.http_listen == '\0')
		return 0;
	if (http_tokens(err, errlen) == -1)
		return -1;
	root = xstrdup(
	    *srv.cfg.http_root != '\0' ? srv.cfg.http_root : SWARM_WEB_ROOT);
	http = evhttp_new(srv.base);
	evhttp_set_max_headers_size(http, HTTP_MAX_HEADER);
	evhttp_set_max_body_size(http, HTTP_MAX_BODY);
	tv.tv_sec = (time_t)srv.cfg.http_timeout;
	tv.tv_usec =
	    (suseconds_t)((srv.cfg.http_timeout - (double)tv.tv_sec) * 1e6);
	evhttp_set_timeout_tv(http, &tv);
	evhttp_set_allowed_methods(http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	        EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, on_request, NULL);
	if (http_bind(err, errlen) == -1) {
		evhttp_free(http);
		http = NULL;
		return -1;
	}
	sock_guard_accept(evhttp_bound_socket_get_listener(bound), "http");
	http_sse_init();
	return 0;
}

void
http_free(void)
{
	if (http == NULL)
		return;
	http_sse_free();
	sock_unguard_accept(evhttp_bound_socket_get_listener(bound));
	evhttp_free(http);
	http = NULL;
	bound = NULL;
	free(root);
	root = NULL;
	explicit_bzero(token_hash, sizeof token_hash);
	explicit_bzero(operator_hash, sizeof operator_hash);
	have_token = have_operator = 0;
}
