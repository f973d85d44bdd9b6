/*
 * ratelimit.c: the account's limits as token buckets.  Each kind holds up
 * to its per-minute limit and refills continuously at limit/60 a second,
 * like the API's own limiter; a request is admitted only if every bucket
 * can pay its whole cost at once, and then all of them are charged.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fake-upstream.h"

struct bucket {
	double limit;
	double level;
};

static struct bucket buckets[RL_N];
static double refilled_at;

static const char *names[RL_N] = { "requests", "tokens", "input-tokens",
	"output-tokens" };

static double
clock_seconds(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
ratelimit_refill(void)
{
	double now = clock_seconds(CLOCK_MONOTONIC), dt = now - refilled_at;
	size_t i;

	for (i = 0; i < RL_N; i++) {
		buckets[i].level += buckets[i].limit / 60.0 * dt;
		if (buckets[i].level > buckets[i].limit)
			buckets[i].level = buckets[i].limit;
	}
	refilled_at = now;
}

void
ratelimit_init(const double limit[RL_N])
{
	size_t i;

	for (i = 0; i < RL_N; i++) {
		buckets[i].limit = limit[i];
		buckets[i].level = limit[i];
	}
	refilled_at = clock_seconds(CLOCK_MONOTONIC);
}

const char *
ratelimit_name(enum rl_kind k)
{
	return names[k];
}

/* What the bucket holds now. */
double
ratelimit_level(enum rl_kind k)
{
	ratelimit_refill();
	return buckets[k].level;
}

/*
 * Charge every bucket or none.  Refused: the seconds until the emptiest
 * bucket holds enough, and which one that is.  A cost above the limit
 * never fits; it is told to wait a minute, as good an answer as any.
 */
int
ratelimit_admit(
    const double cost[RL_N], long *retry_after, enum rl_kind *refused)
{
	double wait = 0, w;
	size_t i;

	ratelimit_refill();
	for (i = 0; i < RL_N; i++) {
		if (cost[i] <= buckets[i].level)
			continue;
		if (cost[i] > buckets[i].limit)
			w = 60;
		else
			w = (cost[i] - buckets[i].level) /
			    (buckets[i].limit / 60.0);
		if (w > wait) {
			wait = w;
			*refused = (enum rl_kind)i;
		}
	}
	if (wait > 0) {
		*retry_after = (long)ceil(wait);
		if (*retry_after < 1)
			*retry_after = 1;
		return -1;
	}
	for (i = 0; i < RL_N; i++)
		buckets[i].level -= cost[i];
	return 0;
}

/* When the bucket will be full again, as RFC 3339 UTC to the second. */
static void
rfc3339_after(double seconds, char *buf, size_t len)
{
	time_t t = (time_t)ceil(clock_seconds(CLOCK_REALTIME) + seconds);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
bucket_headers(struct evkeyvalq *h, enum rl_kind k)
{
	const struct bucket *b = &buckets[k];
	char name[64], value[64];
	double remaining = floor(b->level);

	/* The API shows token counts rounded down to thousands. */
	if (k != RL_REQUESTS)
		remaining = floor(remaining / 1000) * 1000;
	snprintf(name, sizeof name, "anthropic-ratelimit-%s-limit", names[k]);
	snprintf(value, sizeof value, "%.0f", b->limit);
	evhttp_add_header(h, name, value);
	snprintf(
	    name, sizeof name, "anthropic-ratelimit-%s-remaining", names[k]);
	snprintf(value, sizeof value, "%.0f", remaining);
	evhttp_add_header(h, name, value);
	snprintf(name, sizeof name, "anthropic-ratelimit-%s-reset", names[k]);
	rfc3339_after(
	    (b->limit - b->level) / (b->limit / 60.0), value, sizeof value);
	evhttp_add_header(h, name, value);
}

void
ratelimit_headers(struct evkeyvalq *h)
{
	size_t i;

	ratelimit_refill();
	for (i = 0; i < RL_N; i++)
		bucket_headers(h, (enum rl_kind)i);
}

/*
 * A duration as OpenAI writes its resets (Go's notation): "0s", "120ms",
 * "1s", "17.28s", "6m0s", "1h0m0s"; rounded up to the millisecond.
 */
static void
duration(double seconds, char *buf, size_t len)
{
	long ms = (long)ceil(seconds * 1000 - 1e-6), h, m;
	char sec[32];
	size_t n;

	if (ms <= 0) {
		snprintf(buf, len, "0s");
		return;
	}
	if (ms < 1000) {
		snprintf(buf, len, "%ldms", ms);
		return;
	}
	h = ms / 3600000;
	m = ms / 60000 % 60;
	snprintf(sec, sizeof sec, "%ld.%03ld", ms / 1000 % 60, ms % 1000);
	/* No trailing zeros, nor a bare point. */
	n = strlen(sec);
	while (sec[n - 1] == '0')
		sec[--n] = '\0';
	if (sec[n - 1] == '.')
		sec[--n] = '\0';
	if (h > 0)
		snprintf(buf, len, "%ldh%ldm%ss", h, m, sec);
	else if (m > 0)
		snprintf(buf, len, "%ldm%ss", m, sec);
	else
		snprintf(buf, len, "%ss", sec);
}

static void
openai_bucket(struct evkeyvalq *h, enum rl_kind k, const char *name)
{
	const struct bucket *b = &buckets[k];
	char hdr[64], value[64];

	snprintf(hdr, sizeof hdr, "x-ratelimit-limit-%s", name);
	snprintf(value, sizeof value, "%.0f", b->limit);
	evhttp_add_header(h, hdr, value);
	snprintf(hdr, sizeof hdr, "x-ratelimit-remaining-%s", name);
	snprintf(value, sizeof value, "%.0f", floor(b->level));
	evhttp_add_header(h, hdr, value);
	snprintf(hdr, sizeof hdr, "x-ratelimit-reset-%s", name);
	duration(
	    (b->limit - b->level) / (b->limit / 60.0), value, sizeof value);
	evhttp_add_header(h, hdr, value);
}

/* OpenAI shows two of the buckets, exactly, with resets as durations. */
void
ratelimit_openai_headers(struct evkeyvalq *h)
{
	ratelimit_refill();
	openai_bucket(h, RL_REQUESTS, "requests");
	openai_bucket(h, RL_TOKENS, "tokens");
}
