/*
 * proxy-upstream.c: requests in flight.  A request leaves through
 * libcurl on the event loop (curlev.c); its response's headers teach the
 * upstream's buckets and are passed on, a stream is passed on as it
 * arrives (and metered on the way), a whole body is metered and sent at
 * the end.  A 429 that fits in what is left of max_hold goes back to the
 * queue instead of to the agent.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"

#define PROXY_CONNECT_TIMEOUT 10L /* seconds to reach upstream */

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

/* At shutdown. */
void
preq_pool_free(void)
{
	while (easy_pooled > 0)
		curl_easy_cleanup(easy_pool[--easy_pooled]);
}

static void preq_done(void *, int, void *);

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
	if (p->holding)
		quota_hold(&p->hold, -1);
	p->holding = 0;
	if (p->probe)
		probe_done(p);
	if (p->seen_usage)
		pace_settle(&up->pace, &p->est, &p->use,
		    p->complete ? p->body_len : 0, p->synced);
	else if (!p->synced && p->status >= 400)
		pace_charge(&up->pace, &p->est, -1);
	queue_kick(up);
}

void
preq_free(struct preq *p)
{
	struct agent *a = proxy_agent(p->agent);

	if (a != NULL)
		a->held -= p->hold.tokens;
	/* What swarmd added: its queue, its pacing, the 429s it absorbed. */
	if (p->sent > 0)
		histo_add(&p->up->added, p->sent - p->arrived);
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
	queue_hold(up, ra);
	up->absorbed++;
	evhttp_clear_headers(evhttp_request_get_output_headers(p->req));
	evbuffer_drain(p->resp, evbuffer_get_length(p->resp));
	queue_put(p, 1);
	return 1;
}

/* ---- the response, as libcurl delivers it ---- */

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
	if (!proxy_hop_by_hop(name))
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
		proxy_reply_error(p->req, 504, "timeout_error", msg, 0);
	else
		proxy_reply_error(p->req, 502, "api_error", msg, 0);
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
			queue_hold(p->up, p->retry_after);
	}
	meter_record(p);
	preq_free(p);
}

/* Send P upstream, charged with its estimate until its answer settles it. */
void
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
	p->sent = histo_now();
	pace_charge(&p->up->pace, &p->est, 1);
	quota_hold(&p->hold, 1);
	p->holding = 1;
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
