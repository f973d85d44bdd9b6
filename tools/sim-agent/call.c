/*
 * call.c: one Messages API call, retried the way the official SDKs retry
 * (Python and TypeScript alike): at most max_retries more attempts after
 * the first, for a connection error or timeout, or a status that asks
 * for it (x-should-retry: true; else 408, 409, 429 and any 5xx, unless
 * x-should-retry: false).  Before each retry it sleeps retry-after-ms, or
 * retry-after (seconds or an HTTP date) when that is over 0 and at most
 * 60 s; otherwise min(0.5 s * 2^n, 8 s) for the n-th retry (from 0),
 * less up to 25% of jitter.
 *
 * A stream that started is never retried: an SDK hands it to the caller
 * once the status is 200, and an error event or a cut after that is the
 * caller's failure.  One curl handle serves every call, so the connection
 * is kept alive between them as an SDK's pool keeps it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sim-agent.h"

#define INITIAL_RETRY_DELAY 0.5
#define MAX_RETRY_DELAY 8.0
#define MAX_RETRY_AFTER 60.0
#define CONNECT_TIMEOUT_MS 5000
#define BODY_MAX (64 * 1024 * 1024)

/* One attempt's response. */
struct xfer {
	struct message *msg;
	struct sse sse;
	int is_sse;
	char *body; /* anything that is not an event stream */
	size_t blen;
	size_t bcap;
	size_t received;
	long status;
	double retry_after; /* seconds; < 0: none given */
	int should_retry;   /* x-should-retry: 1, 0; -1 absent */
	double t0;
	double tfirst; /* first byte of the body; 0: none yet */
};

static CURL *curl;

int
call_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	curl = curl_easy_init();
	return curl != NULL ? 0 : -1;
}

void
call_cleanup(void)
{
	curl_easy_cleanup(curl);
	curl_global_cleanup();
}

/* "Name: value" if the line is that header: the value, trimmed. */
static int
header_is(const char *line, size_t len, const char *name, char *v, size_t vlen)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return 0;
	line += n + 1;
	len -= n + 1;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len > 0 &&
	    (line[len - 1] == '\r' || line[len - 1] == '\n' ||
	        line[len - 1] == ' '))
		len--;
	snprintf(v, vlen, "%.*s", (int)len, line);
	return 1;
}

/* retry-after: seconds (a float is taken too, as the SDKs do) or a date. */
static double
parse_retry_after(const char *v)
{
	char *end;
	double d = strtod(v, &end);
	time_t t;

	if (end != v && *end == '\0')
		return d;
	if ((t = curl_getdate(v, NULL)) == -1)
		return -1;
	return difftime(t, time(NULL));
}

static size_t
on_header(char *line, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	const char *sp;
	char v[256];
	double ms;

	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a 100, say): forget the last one's. */
		sp = memchr(line, ' ', len);
		x->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
		x->retry_after = -1;
		x->should_retry = -1;
		x->is_sse = 0;
	} else if (header_is(line, len, "retry-after-ms", v, sizeof v)) {
		ms = strtod(v, NULL);
		x->retry_after = ms / 1000.0;
	} else if (header_is(line, len, "retry-after", v, sizeof v)) {
		if (x->retry_after < 0)
			x->retry_after = parse_retry_after(v);
	} else if (header_is(line, len, "x-should-retry", v, sizeof v))
		x->should_retry = strcmp(v, "true") == 0 ? 1 :
		    strcmp(v, "false") == 0              ? 0 :
		                                           -1;
	else if (header_is(line, len, "content-type", v, sizeof v))
		x->is_sse = strncasecmp(v, "text/event-stream", 17) == 0;
	return len;
}

static size_t
on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->tfirst == 0)
		x->tfirst = now_ms();
	x->received += len;
	if (x->is_sse && x->status == 200) {
		sse_feed(&x->sse, buf, len);
		return len;
	}
	if (x->blen + len > BODY_MAX)
		return 0; /* ends the transfer with an error */
	if (x->blen + len + 1 > x->bcap) {
		x->bcap = (x->blen + len + 1) * 2;
		x->body = xrealloc(x->body, x->bcap);
	}
	memcpy(x->body + x->blen, buf, len);
	x->blen += len;
	return len;
}

static struct curl_slist *
call_headers(const struct call_opts *o)
{
	struct curl_slist *h = NULL;
	char *key;
	size_t len = strlen(o->api_key) + sizeof "x-api-key: ";

	key = xmalloc(len);
	snprintf(key, len, "x-api-key: %s", o->api_key);
	h = curl_slist_append(h, key);
	free(key);
	h = curl_slist_append(h, "anthropic-version: 2023-06-01");
	h = curl_slist_append(h, "content-type: application/json");
	h = curl_slist_append(h, "accept: application/json");
	/* curl would wait for a 100 Continue before a large body. */
	h = curl_slist_append(h, "Expect:");
	return h;
}

static void
xfer_setup(const struct call_opts *o, struct curl_slist *h, struct xfer *x,
    char *errbuf)
{
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, o->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, o->body);
	curl_easy_setopt(
	    curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(o->body));
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "sim-agent/1");
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(
	    curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	if (o->unix_socket != NULL && *o->unix_socket != '\0')
		curl_easy_setopt(
		    curl, CURLOPT_UNIX_SOCKET_PATH, o->unix_socket);
}

static void
xfer_init(struct xfer *x, struct message *msg)
{
	memset(x, 0, sizeof *x);
	memset(msg, 0, sizeof *msg);
	x->msg = msg;
	sse_init(&x->sse, msg);
	x->retry_after = -1;
	x->should_retry = -1;
}

static void
xfer_free(struct xfer *x)
{
	sse_free(&x->sse);
	free(x->body);
}

static int
status_retryable(const struct xfer *x)
{
	if (x->should_retry != -1)
		return x->should_retry;
	return x->status == 408 || x->status == 409 || x->status == 429 ||
	    x->status >= 500;
}

/* Judge one finished attempt: 1 done (c->ok says how), 0 retryable. */
static int
attempt_judge(const struct call_opts *o, struct call *c, struct xfer *x,
    CURLcode res, const char *errbuf)
{
	if (x->status == 429)
		c->n429++;
	else if (x->status >= 500)
		c->n5xx++;
	c->status = x->status;
	if (res != CURLE_OK) {
		snprintf(c->error, sizeof c->error, "%s",
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(res));
		/* A stream already handed over is the caller's to lose. */
		if (x->status == 200 && x->is_sse)
			return 1;
		c->nconn++;
		return 0;
	}
	if (x->status != 200) {
		message_from_json(x->msg, x->body, x->blen);
		snprintf(c->error, sizeof c->error, "HTTP %ld %s", x->status,
		    x->msg->error_type);
		return !status_retryable(x);
	}
	if (!x->is_sse)
		message_from_json(x->msg, x->body, x->blen);
	if (x->msg->error_type[0] != '\0')
		snprintf(c->error, sizeof c->error, "error event: %s",
		    x->msg->error_type);
	else if (!x->msg->stopped)
		snprintf(c->error, sizeof c->error, "%s",
		    o->stream ? "stream ended without message_stop" :
		                "no message in the body");
	else {
		c->error[0] = '\0';
		c->ok = 1;
	}
	return 1;
}

static double
retry_delay(const struct xfer *x, int retries_done)
{
	double d;

	if (x->retry_after > 0 && x->retry_after <= MAX_RETRY_AFTER)
		return x->retry_after;
	d = INITIAL_RETRY_DELAY * pow(2.0, retries_done);
	if (d > MAX_RETRY_DELAY)
		d = MAX_RETRY_DELAY;
	return d * (1 - 0.25 * drand48());
}

static void
sleep_seconds(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void
call_run(const struct call_opts *o, struct call *c)
{
	struct curl_slist *h = call_headers(o);
	char errbuf[CURL_ERROR_SIZE];
	double t0 = now_ms(), d;
	struct xfer x;
	CURLcode res;
	int done;

	memset(c, 0, sizeof *c);
	for (;;) {
		xfer_init(&x, &c->msg);
		errbuf[0] = '\0';
		xfer_setup(o, h, &x, errbuf);
		x.t0 = now_ms();
		res = curl_easy_perform(curl);
		c->attempts++;
		done = attempt_judge(o, c, &x, res, errbuf);
		c->ttfb_ms = x.tfirst > 0 ? x.tfirst - x.t0 : 0;
		if (done || c->attempts > o->max_retries) {
			xfer_free(&x);
			break;
		}
		d = retry_delay(&x, c->attempts - 1);
		xfer_free(&x);
		sleep_seconds(d);
		c->waited_ms += d * 1000.0;
	}
	curl_slist_free_all(h);
	c->ms = now_ms() - t0;
}
