/*
 * proxy.c: the metering proxy.  Agents reach the model APIs through
 * swarmd: ANTHROPIC_BASE_URL (and OPENAI_BASE_URL) point here, at a path
 * carrying the agent's token, so every request is attributed as it
 * happens and one place decides when to back off.  Requests go upstream
 * through libcurl on the event loop (curlev.c); server-sent events are
 * passed on as they arrive and read on the way for their usage.
 *
 * The agent's API key headers are forwarded untouched and never logged
 * or stored: nothing here prints a header.
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
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "swarmd.h"

#define PROXY_MAX_BODY (32 * 1024 * 1024)
#define PROXY_CONNECT_TIMEOUT 10L /* seconds to reach upstream */

/* One agent's requests waiting for their upstream. */
struct flow {
	int64_t agent;
	TAILQ_HEAD(, preq) q;
	TAILQ_ENTRY(flow) entry;
};

/* One upstream API: its learned buckets, its backoff, its fair queue. */
struct upstream {
	const char *name;
	struct pace pace;
	TAILQ_HEAD(, flow) flows; /* round robin: the head goes next */
	int queued;
	int inflight;
	int64_t hold_until; /* mono ms; upstream asked to wait */
	int probing;        /* after a backoff: PROBE_WANTED, PROBE_SENT */
	struct event *pump;
	int64_t requests, absorbed, refused; /* since start */
	char view[PACE_ACCOUNT][3][48]; /* its rate-limit headers, as sent */
};

enum { UP_ANTHROPIC, UP_OPENAI, UP_N };
enum { PROBE_NONE, PROBE_WANTED, PROBE_SENT };
static struct upstream ups[UP_N];

/* One request on its way through. */
struct preq {
	struct evhttp_request *req; /* NULL once the client is gone */
	struct evhttp_connection *evcon;
	int64_t agent;
	struct upstream *up;
	struct flow *flow;    /* while it waits */
	int64_t queued_at;    /* mono ms */
	struct pace_cost est; /* charged while in flight */
	int inflight;
	int probe;  /* the first request after a backoff */
	int synced; /* its answer's headers settled the charge */
	char *url;
	char *body;
	size_t body_len;
	struct curl_slist *headers;
	CURL *easy;
	struct event *idle; /* upstream silent for [proxy] timeout */

	/* The response. */
	int status;
	int headers_done;
	int sse;
	int replying;           /* evhttp_send_reply_start was called */
	int retry_after;        /* seconds, 0 none */
	struct pace_seen seen;  /* its rate-limit headers */
	struct evbuffer *resp;  /* a non-streaming body, sent whole */
	struct evbuffer *lines; /* SSE not yet split into lines */

	/* What it used. */
	char *msgid;
	char *model;
	struct usage use;
	int seen_usage;
	int complete;
	TAILQ_ENTRY(preq) entry;
};

static struct evhttp *http;
static char *base_addr; /* 127.0.0.1:PORT as bound, or localhost */
static char *sock_path; /* [proxy] listen as a Unix socket */

/*
 * The triage hook asks a model through the proxy too, paced and metered
 * with the rest; its requests carry a token of swarmd's own (never
 * stored) and count as agent 0, "triage", in the account's windows.
 */
static char hook_token[65];
static struct agent watcher;

/* Spent easy handles, reset, for the next requests: making one is a
 * good part of a small request's cost.  Connections live in the multi. */
#define EASY_POOL 64
static CURL *easy_pool[EASY_POOL];
static int easy_pooled;

static CURL *
easy_get(void)
{
	return easy_pooled > 0 ? easy_pool[--easy_pooled] : curl_easy_init();
}

static void
easy_put(CURL *e)
{
	if (easy_pooled == EASY_POOL) {
		curl_easy_cleanup(e);
		return;
	}
	curl_easy_reset(e);
	easy_pool[easy_pooled++] = e;
}

static void preq_start(struct preq *);
static void preq_free(struct preq *);
static void preq_done(void *, int, void *);
static void queue_kick(struct upstream *);

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
static void
reply_error(struct evhttp_request *req, int status, const char *type,
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
	evhttp_send_reply(req, status, NULL, b);
	evbuffer_free(b);
	free(s);
	json_decref(j);
}

/* ---- metering ---- */

static void
usage_take(json_t *o, const char *key, int64_t *slot)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		*slot = json_integer_value(v);
}

static void
set_str(char **slot, json_t *v)
{
	if (!json_is_string(v))
		return;
	free(*slot);
	*slot = xstrdup(json_string_value(v));
}

/*
 * One JSON document of the response: a whole message, an SSE event or an
 * OpenAI chunk.  message_delta usage is cumulative, so each replaces
 * what came before, input fields included when it repeats them.
 */
static void
meter_doc(struct preq *p, json_t *j)
{
	const char *type = json_string_value(json_object_get(j, "type"));
	const char *object = json_string_value(json_object_get(j, "object"));
	json_t *msg, *u;

	if (type != NULL && strcmp(type, "message_start") == 0) {
		msg = json_object_get(j, "message");
		set_str(&p->msgid, json_object_get(msg, "id"));
		set_str(&p->model, json_object_get(msg, "model"));
		u = json_object_get(msg, "usage");
	} else if (type != NULL && strcmp(type, "message_delta") == 0)
		u = json_object_get(j, "usage");
	else if (type != NULL && strcmp(type, "message_stop") == 0) {
		p->complete = 1;
		return;
	} else if (type != NULL && strcmp(type, "message") == 0) {
		set_str(&p->msgid, json_object_get(j, "id"));
		set_str(&p->model, json_object_get(j, "model"));
		u = json_object_get(j, "usage");
		p->complete = 1;
	} else if (object != NULL &&
	    strncmp(object, "chat.completion", 15) == 0) {
		int64_t cached = 0;

		set_str(&p->msgid, json_object_get(j, "id"));
		set_str(&p->model, json_object_get(j, "model"));
		if (strcmp(object, "chat.completion") == 0)
			p->complete = 1;
		u = json_object_get(j, "usage");
		if (!json_is_object(u))
			return;
		usage_take(u, "prompt_tokens", &p->use.input);
		usage_take(u, "completion_tokens", &p->use.output);
		usage_take(json_object_get(u, "prompt_tokens_details"),
		    "cached_tokens", &cached);
		/* OpenAI counts cached tokens inside prompt_tokens. */
		p->use.cache_read = cached;
		p->use.input -= cached < p->use.input ? cached : p->use.input;
		p->seen_usage = 1;
		p->complete = 1;
		return;
	} else
		return;
	if (!json_is_object(u))
		return;
	usage_take(u, "input_tokens", &p->use.input);
	usage_take(u, "output_tokens", &p->use.output);
	usage_take(u, "cache_creation_input_tokens", &p->use.cache_creation);
	usage_take(u, "cache_read_input_tokens", &p->use.cache_read);
	p->seen_usage = 1;
}

static void
meter_line(struct preq *p, const char *line, size_t len)
{
	json_t *j;

	if (len < 5 || strncmp(line, "data:", 5) != 0)
		return;
	line += 5;
	len -= 5;
	while (len > 0 && *line == ' ') {
		line++;
		len--;
	}
	if (len == 6 && strncmp(line, "[DONE]", 6) == 0)
		p->complete = 1; /* the end of an OpenAI stream */
	if ((j = json_loadb(line, len, 0, NULL)) == NULL)
		return;
	meter_doc(p, j);
	json_decref(j);
}

static void
meter_sse(struct preq *p, const char *buf, size_t len)
{
	size_t n;
	char *line;

	evbuffer_add(p->lines, buf, len);
	while (
	    (line = evbuffer_readln(p->lines, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		meter_line(p, line, n);
		free(line);
	}
}

/* Count what the response used; a cut stream counts what it showed. */
static void
meter_record(struct preq *p)
{
	struct agent *a = p->agent == 0 ? &watcher : agent_find(p->agent);

	if (!p->seen_usage)
		return;
	if (a == NULL) {
		log_warnx("proxy: agent-%lld is gone; its last response "
		          "(%s) is not metered",
		    (long long)p->agent, p->msgid != NULL ? p->msgid : "no id");
		return;
	}
	if (p->model != NULL) {
		free(a->model);
		a->model = xstrdup(p->model);
	}
	/* Nothing waits on this record: one commit a loop turn covers
	 * every response of the turn (a sync each was the proxy's limit). */
	store_begin_grouped();
	quota_record(a, p->model, "proxy", p->msgid, &p->use);
	if (!p->complete)
		evlog_add("proxy_incomplete", a->job, a->chunk, a->id,
		    a->attempt,
		    json_pack("{s:s*, s:s, s:I, s:I}", "message_id", p->msgid,
		        "upstream", p->up->name, "input",
		        (json_int_t)p->use.input, "output",
		        (json_int_t)p->use.output));
	store_commit_grouped();
}

/* ---- the fair queue ---- */

static void
queue_put(struct preq *p, int front)
{
	struct upstream *up = p->up;
	struct flow *f;

	TAILQ_FOREACH(f, &up->flows, entry) {
		if (f->agent == p->agent)
			break;
	}
	if (f == NULL) {
		f = xcalloc(1, sizeof *f);
		f->agent = p->agent;
		TAILQ_INIT(&f->q);
		TAILQ_INSERT_TAIL(&up->flows, f, entry);
	}
	if (front) {
		/* A request sent back by upstream has waited its turn. */
		TAILQ_REMOVE(&up->flows, f, entry);
		TAILQ_INSERT_HEAD(&up->flows, f, entry);
		TAILQ_INSERT_HEAD(&f->q, p, entry);
	} else
		TAILQ_INSERT_TAIL(&f->q, p, entry);
	p->flow = f;
	up->queued++;
}

static void
queue_take(struct preq *p)
{
	struct upstream *up = p->up;
	struct flow *f = p->flow;

	TAILQ_REMOVE(&f->q, p, entry);
	p->flow = NULL;
	up->queued--;
	if (TAILQ_EMPTY(&f->q)) {
		TAILQ_REMOVE(&up->flows, f, entry);
		free(f);
	}
}

/* Milliseconds until P may go: the backoff, the account, the buckets. */
static int64_t
queue_wait(struct upstream *up, struct preq *p, int64_t now)
{
	char why[128];
	int64_t w = quota_proxy_wait(why, sizeof why), v;

	if (up->hold_until - now > w)
		w = up->hold_until - now;
	if ((v = pace_wait(&up->pace, &p->est, now)) > w)
		w = v;
	return w;
}

/* Waited max_hold: an Anthropic-shaped 429, so the SDK waits in turn. */
static void
queue_refuse(struct preq *p, int64_t wait)
{
	char msg[256], why[128] = "";

	if (quota_proxy_wait(why, sizeof why) == 0)
		snprintf(why, sizeof why, "upstream %s is at its limit",
		    p->up->name);
	snprintf(msg, sizeof msg, "swarmd: %s; retry after the hint", why);
	if (p->evcon != NULL)
		evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	reply_error(p->req, 429, "rate_limit_error", msg,
	    (int)((wait < 1000 ? 1000 : wait + 999) / 1000));
	p->up->refused++;
	p->req = NULL;
	preq_free(p);
}

static void
queue_expire(struct upstream *up, int64_t now, int64_t *next)
{
	int64_t hold = (int64_t)(srv.cfg.proxy_max_hold * 1000), left;
	struct flow *f, *fnext;
	struct preq *p, *pnext;

	TAILQ_FOREACH_SAFE(f, &up->flows, entry, fnext) {
		TAILQ_FOREACH_SAFE(p, &f->q, entry, pnext) {
			left = p->queued_at + hold - now;
			if (left <= 0)
				queue_refuse(p, queue_wait(up, p, now));
			else if (*next < 0 || left < *next)
				*next = left;
		}
	}
}

/*
 * Send what may go, agent by agent in turn; the head of the line waits
 * for what it needs and the rest wait behind it.  After a backoff one
 * request goes first and the rest follow its answer, so a wall that is
 * still there costs one request, not thirty.
 */
static void
queue_pump(struct upstream *up)
{
	int64_t now = now_mono_ms(), next = -1, w;
	struct timeval tv;
	struct flow *f;
	struct preq *p;

	queue_expire(up, now, &next);
	while ((f = TAILQ_FIRST(&up->flows)) != NULL) {
		if (up->probing == PROBE_SENT)
			break;
		p = TAILQ_FIRST(&f->q);
		if ((w = queue_wait(up, p, now)) > 0) {
			if (next < 0 || w < next)
				next = w;
			break;
		}
		/* Its agent goes to the back of the line. */
		if (TAILQ_NEXT(p, entry) != NULL) {
			TAILQ_REMOVE(&up->flows, f, entry);
			TAILQ_INSERT_TAIL(&up->flows, f, entry);
		}
		queue_take(p);
		preq_start(p);
	}
	if (next >= 0) {
		tv.tv_sec = next / 1000;
		tv.tv_usec = next % 1000 * 1000;
		evtimer_add(up->pump, &tv);
	}
}

static void
on_pump(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	queue_pump(arg);
}

/* Pump from the loop, never from inside a libcurl callback. */
static void
queue_kick(struct upstream *up)
{
	if (up->pump != NULL) /* NULL once proxy_free is done with it */
		event_active(up->pump, EV_TIMEOUT, 0);
}

/*
 * Upstream said to wait: every agent's new requests wait with it, so one
 * 429 does not become thirty.  The jitter spreads the release a little
 * past the hint, as each SDK would have done on its own.
 */
static void
hold_set(struct upstream *up, int retry_after)
{
	int64_t now = now_mono_ms(), jitter, until;

	jitter = retry_after * 100 > 1000 ? 1000 : retry_after * 100;
	until = now + (int64_t)retry_after * 1000 +
	    (jitter > 0 ? random() % jitter : 0);
	if (up->probing == PROBE_NONE)
		up->probing = PROBE_WANTED;
	if (until <= up->hold_until)
		return;
	up->hold_until = until;
	store_begin();
	evlog_add("proxy_hold", 0, NULL, 0, 0,
	    json_pack("{s:s, s:i, s:i}", "upstream", up->name, "retry_after",
	        retry_after, "queued", up->queued));
	store_commit();
	log_notice("proxy: %s asked to wait %d s; holding new requests",
	    up->name, retry_after);
}

/* ---- requests in flight ---- */

/* The probe is answered (or lost): the rest may follow. */
static void
probe_done(struct preq *p)
{
	p->probe = 0;
	p->up->probing = PROBE_NONE;
	queue_kick(p->up);
}

/* Off the wire: settle its charge by what it used, or give it back if
 * upstream refused it; nothing seen keeps the charge, to be safe. */
static void
preq_landed(struct preq *p)
{
	struct upstream *up = p->up;

	p->inflight = 0;
	up->inflight--;
	if (p->probe)
		probe_done(p);
	if (p->seen_usage)
		pace_settle(&up->pace, &p->est, &p->use,
		    p->complete ? p->body_len : 0, p->synced);
	else if (!p->synced && p->status >= 400)
		pace_charge(&up->pace, &p->est, -1);
	queue_kick(up);
}

static void
preq_free(struct preq *p)
{
	if (p->flow != NULL)
		queue_take(p);
	if (p->easy != NULL) {
		curlev_remove(p->easy);
		easy_put(p->easy);
	}
	if (p->idle != NULL)
		event_free(p->idle);
	if (p->inflight)
		preq_landed(p);
	if (p->req != NULL)
		evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	curl_slist_free_all(p->headers);
	evbuffer_free(p->resp);
	evbuffer_free(p->lines);
	free(p->url);
	free(p->body);
	free(p->msgid);
	free(p->model);
	free(p);
}

/*
 * A 429 or 529 that came back before anything reached the agent goes
 * back to the head of its line when the backoff fits in what is left of
 * max_hold: the agent sees one slow answer instead of an error.
 */
static int
preq_absorb(struct preq *p)
{
	struct upstream *up = p->up;
	int ra = p->retry_after > 0 ? p->retry_after : 1;

	if ((p->status != 429 && p->status != 529) || p->replying ||
	    now_mono_ms() - p->queued_at + ra * 1000 >
	        (int64_t)(srv.cfg.proxy_max_hold * 1000))
		return 0;
	if (!p->synced)
		pace_charge(&up->pace, &p->est, -1);
	p->synced = 1; /* nothing to settle */
	preq_landed(p);
	hold_set(up, ra);
	up->absorbed++;
	evhttp_clear_headers(evhttp_request_get_output_headers(p->req));
	evbuffer_drain(p->resp, evbuffer_get_length(p->resp));
	queue_put(p, 1);
	return 1;
}

/* ---- the response, as libcurl delivers it ---- */

static int
hop_by_hop(const char *name)
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

static void
response_header(struct preq *p, char *name, char *value)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(p->req);
	int k, f;

	if (strcasecmp(name, "retry-after") == 0)
		p->retry_after = atoi(value);
	/* Kept as sent, for the upstream's own view in swarmctl quota. */
	if (pace_header_name(name, &k, &f)) {
		char *view = p->up->view[k][f];
		size_t n = strnlen(value, sizeof p->up->view[k][f] - 1);

		pace_header(&p->seen, name, value);
		memcpy(view, value, n);
		view[n] = '\0';
	}
	if (strcasecmp(name, "content-type") == 0 &&
	    strncasecmp(value, "text/event-stream", 17) == 0)
		p->sse = 1;
	if (!hop_by_hop(name))
		evhttp_add_header(out, name, value);
}

/* The headers are in: learn from them, and start a stream's reply. */
static void
response_headers_done(struct preq *p)
{
	struct upstream *up = p->up;

	p->headers_done = 1;
	p->synced =
	    pace_learn(&up->pace, &p->seen, up->inflight == 1, now_mono_ms());
	if (p->probe && p->status != 429 && p->status != 529)
		probe_done(p);
	if (p->sse) {
		evhttp_send_reply_start(p->req, p->status, NULL);
		p->replying = 1;
	}
}

/*
 * Silence, not length, is the fault: a stream may run for minutes, but
 * an upstream that sends nothing for [proxy] timeout is given up.
 * (libcurl's low-speed check counts the upload too, so it is late.)
 */
static void
on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct preq *p = arg;
	CURL *e = p->easy;

	(void)fd;
	(void)what;
	curlev_remove(e);
	preq_done(e, CURLE_OPERATION_TIMEDOUT, p);
}

static void
idle_reset(struct preq *p)
{
	struct timeval tv;

	tv.tv_sec = (time_t)srv.cfg.proxy_timeout;
	tv.tv_usec =
	    (suseconds_t)((srv.cfg.proxy_timeout - (double)tv.tv_sec) * 1e6);
	if (p->idle == NULL)
		p->idle = evtimer_new(srv.base, on_idle, p);
	evtimer_add(p->idle, &tv);
}

static size_t
on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct preq *p = arg;
	size_t len = size * n;
	char small[512], *line, *colon, *value;

	if (p->req == NULL)
		return 0;
	idle_reset(p);
	line = len < sizeof small ? small : xmalloc(len + 1);
	memcpy(line, buf, len);
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		/* A new block: after a 1xx, only the last one counts. */
		evhttp_clear_headers(evhttp_request_get_output_headers(p->req));
		p->sse = 0;
		p->retry_after = 0;
		memset(&p->seen, 0, sizeof p->seen);
		value = strchr(line, ' ');
		p->status = value != NULL ? atoi(value + 1) : 502;
	} else if (*line == '\0') {
		if (p->status >= 200)
			response_headers_done(p);
	} else if ((colon = strchr(line, ':')) != NULL) {
		*colon = '\0';
		value = colon + 1;
		value += strspn(value, " \t");
		response_header(p, line, value);
	}
	if (line != small)
		free(line);
	return len;
}

static size_t
on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct preq *p = arg;
	size_t len = size * n;
	struct evbuffer *chunk;

	if (p->req == NULL)
		return 0;
	idle_reset(p);
	if (!p->replying) {
		evbuffer_add(p->resp, buf, len);
		return len;
	}
	meter_sse(p, buf, len);
	chunk = evbuffer_new();
	evbuffer_add(chunk, buf, len);
	evhttp_send_reply_chunk(p->req, chunk);
	evbuffer_free(chunk);
	return len;
}

/* The transfer failed before any answer: 504 for silence, else 502. */
static void
reply_failed(struct preq *p, int code)
{
	char msg[256];

	snprintf(msg, sizeof msg, "swarmd: upstream %s: %s", p->up->name,
	    curl_easy_strerror((CURLcode)code));
	if (code == CURLE_OPERATION_TIMEDOUT)
		reply_error(p->req, 504, "timeout_error", msg, 0);
	else
		reply_error(p->req, 502, "api_error", msg, 0);
}

static void
preq_done(void *easy, int code, void *arg)
{
	struct preq *p = arg;
	size_t len;
	json_t *j;

	easy_put(easy);
	p->easy = NULL;
	evtimer_del(p->idle);
	if (code == CURLE_OK && preq_absorb(p))
		return;
	evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	if (p->replying)
		evhttp_send_reply_end(p->req);
	else if (code != CURLE_OK && !p->headers_done)
		reply_failed(p, code);
	else {
		len = evbuffer_get_length(p->resp);
		j = json_loadb(
		    (const char *)evbuffer_pullup(p->resp, -1), len, 0, NULL);
		if (json_is_object(j) && p->status / 100 == 2)
			meter_doc(p, j);
		json_decref(j);
		evhttp_send_reply(p->req, p->status, NULL, p->resp);
	}
	p->req = NULL;
	if (p->status == 429 || p->status == 529) {
		p->up->refused++;
		if (p->retry_after > 0)
			hold_set(p->up, p->retry_after);
	}
	meter_record(p);
	preq_free(p);
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

static void
preq_start(struct preq *p)
{
	CURL *e = easy_get();

	p->easy = e;
	p->status = 0;
	p->headers_done = p->sse = p->replying = p->synced = 0;
	p->inflight = 1;
	p->up->inflight++;
	if (p->up->probing == PROBE_WANTED) {
		p->probe = 1;
		p->up->probing = PROBE_SENT;
	}
	p->up->requests++;
	pace_charge(&p->up->pace, &p->est, 1);
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(
	    e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body_len);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, p);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, PROXY_CONNECT_TIMEOUT);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curlev_add(e, preq_done, p);
	idle_reset(p);
}

/* ---- requests from agents ---- */

static struct agent *
agent_by_token(const char *token)
{
	uint8_t h[SHA256_LEN];
	struct agent *a;

	sha256(token, 64, h);
	TAILQ_FOREACH(a, &live_agents, entry) {
		if (memcmp(a->token_hash, h, sizeof h) == 0)
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
		if (hop_by_hop(h->key))
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
		reply_error(
		    req, 404, "not_found_error", "swarmd: no such path", 0);
		return NULL;
	}
	memcpy(token, uri + 3, 64);
	token[64] = '\0';
	if (*hook_token != '\0' && strcmp(token, hook_token) == 0)
		a = &watcher;
	else if ((a = agent_by_token(token)) == NULL) {
		reply_error(req, 401, "authentication_error",
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
		reply_error(req, 400, "invalid_request_error", msg, 0);
		json_decref(j);
		return -1;
	}
	mt = json_object_get(j, "max_tokens");
	if (mt == NULL)
		mt = json_object_get(j, "max_completion_tokens");
	*max_tokens = json_is_integer(mt) ? json_integer_value(mt) : -1;
	json_decref(j);
	return 0;
}

/* An agent past its token cap asks no more of the account. */
static int
request_capped(struct evhttp_request *req, struct agent *a)
{
	int64_t used = usage_counted(&a->use);
	char msg[256];

	if (a->cap <= 0 || used < a->cap)
		return 0;
	snprintf(msg, sizeof msg,
	    "swarmd: agent-%lld has used %lld of its %lld-token cap "
	    "(per_agent_tokens); no more requests",
	    (long long)a->id, (long long)used, (long long)a->cap);
	reply_error(req, 403, "permission_error", msg, 0);
	return 1;
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
	if ((a = request_agent(req, &rest)) == NULL)
		return;
	if ((up = route_path(rest, &count)) == NULL) {
		reply_error(
		    req, 404, "not_found_error", "swarmd: no such path", 0);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		reply_error(req, 405, "invalid_request_error",
		    "swarmd: only POST is proxied", 0);
		return;
	}
	a->proxied = 1;
	a->last_seen = now_wall_ms();
	a->seen_dirty = 1;
	if (request_capped(req, a))
		return;
	p = xcalloc(1, sizeof *p);
	p->agent = a->id;
	p->up = up;
	p->resp = evbuffer_new();
	p->lines = evbuffer_new();
	if (request_body(req, p, &max_tokens) == -1) {
		preq_free(p);
		return;
	}
	if (!count)
		pace_estimate(&up->pace, p->body_len, max_tokens, &p->est);
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
	if (evhttp_accept_socket_with_handle(http, fd) == NULL) {
		snprintf(err, errlen, "[proxy] listen %s: cannot accept",
		    srv.cfg.proxy_listen);
		close(fd);
		return -1;
	}
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
		TAILQ_INIT(&ups[i].flows);
		ups[i].pump = evtimer_new(srv.base, on_pump, &ups[i]);
		pace_init(&ups[i].pace, (double)srv.cfg.tokens_per_minute,
		    now_mono_ms());
	}
	if (*srv.cfg.proxy_listen == '\0')
		return 0;
	spawn_token(hook_token);
	http = evhttp_new(srv.base);
	evhttp_set_max_body_size(http, PROXY_MAX_BODY);
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

/* After SIGHUP: the account's bucket follows [quota] tokens_per_minute;
 * the address stays (a restart moves it). */
void
proxy_reload(void)
{
	int i;

	for (i = 0; i < UP_N; i++)
		pace_account(&ups[i].pace, (double)srv.cfg.tokens_per_minute);
}

void
proxy_free(void)
{
	struct flow *f, *fnext;
	struct preq *p, *pnext;
	int i;

	/* First the connections: their requests' close callbacks free what
	 * they hold, and that still pumps the queues. */
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
	for (i = 0; i < UP_N; i++) {
		/* The last preq_free of a flow frees the flow. */
		TAILQ_FOREACH_SAFE(f, &ups[i].flows, entry, fnext) {
			TAILQ_FOREACH_SAFE(p, &f->q, entry, pnext) {
				preq_free(p);
			}
		}
		if (ups[i].pump != NULL)
			event_free(ups[i].pump);
		ups[i].pump = NULL;
	}
	free(watcher.model);
	watcher.model = NULL;
	while (easy_pooled > 0)
		curl_easy_cleanup(easy_pool[--easy_pooled]);
	if (sock_path != NULL)
		unlink(sock_path);
	free(sock_path);
	sock_path = NULL;
	free(base_addr);
	base_addr = NULL;
}
