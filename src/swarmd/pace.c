/*
 * pace.c: what an upstream will take.  The proxy keeps its own copy of
 * each upstream's buckets, learned from the rate-limit headers, charges
 * it with an estimate when a request leaves and settles it with the real
 * usage when the answer is in.  A request the copy cannot pay waits in
 * swarmd instead of being refused upstream.  The configured [quota]
 * tokens_per_minute is one more bucket, known from the start.
 *
 * Both APIs state their limits per minute and refill continuously, so a
 * bucket refills at limit/60 a second.  Token `remaining` is rounded down
 * to thousands upstream, which only makes the copy cautious.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "swarmd.h"

/* Header names of the kinds: anthropic-ratelimit-KIND-FIELD and
 * x-ratelimit-FIELD-KIND (OpenAI). */
static const char *kind_names[PACE_N] = { "requests", "tokens", "input-tokens",
	"output-tokens", "account" };

void
pace_init(struct pace *p, double account_per_minute, int64_t now)
{
	memset(p, 0, sizeof *p);
	p->in_per_byte = 0.25; /* about four bytes a token, before any answer */
	p->out_avg = -1;
	p->at = now;
	pace_account(p, account_per_minute);
}

/* The configured [quota] tokens_per_minute, at start or a reload: a new
 * bucket starts full, a smaller one keeps no more than it holds. */
void
pace_account(struct pace *p, double per_minute)
{
	struct pace_bucket *b = &p->b[PACE_ACCOUNT];

	if (!b->known || b->level > per_minute)
		b->level = per_minute;
	b->limit = per_minute;
	b->known = per_minute > 0;
}

static void
pace_refill(struct pace *p, int64_t now)
{
	double dt = (double)(now - p->at);
	int k;

	if (dt <= 0)
		return;
	for (k = 0; k < PACE_N; k++) {
		struct pace_bucket *b = &p->b[k];

		if (!b->known)
			continue;
		b->level += b->limit / 60000.0 * dt;
		if (b->level > b->limit)
			b->level = b->limit;
	}
	p->at = now;
}

/*
 * What a request will cost: its input from its size at the ratio the
 * last answers showed (a cached conversation costs little of its size),
 * its output as the answers so far averaged, never above max_tokens.
 */
void
pace_estimate(const struct pace *p, size_t body_len, int64_t max_tokens,
    struct pace_cost *c)
{
	double in = ceil((double)body_len * p->in_per_byte);
	double out = p->out_avg < 0 ? 1024 : ceil(p->out_avg);

	if (max_tokens >= 0 && out > (double)max_tokens)
		out = (double)max_tokens;
	c->v[PACE_REQUESTS] = 1;
	c->v[PACE_TOKENS] = in + out;
	c->v[PACE_INPUT] = in;
	c->v[PACE_OUTPUT] = out;
	c->v[PACE_ACCOUNT] = in + out;
}

/* Milliseconds until every known bucket can pay C; 0 now.  A cost above
 * a limit waits for a full bucket and is left to the upstream. */
int64_t
pace_wait(struct pace *p, const struct pace_cost *c, int64_t now)
{
	double wait = 0, need;
	int k;

	pace_refill(p, now);
	for (k = 0; k < PACE_N; k++) {
		const struct pace_bucket *b = &p->b[k];

		if (!b->known || b->limit <= 0)
			continue;
		need = (c->v[k] > b->limit ? b->limit : c->v[k]) - b->level;
		if (need > 0 && need / (b->limit / 60000.0) > wait)
			wait = need / (b->limit / 60000.0);
	}
	return (int64_t)ceil(wait);
}

/* SIGN 1 charges C, -1 gives it back. */
void
pace_charge(struct pace *p, const struct pace_cost *c, int sign)
{
	int k;

	for (k = 0; k < PACE_N; k++) {
		if (p->b[k].known)
			p->b[k].level -= sign * c->v[k];
	}
}

const char *
pace_kind_name(int kind)
{
	return kind_names[kind];
}

/*
 * Which rate-limit header NAME is: its kind (PACE_REQUESTS to
 * PACE_OUTPUT) and field (PACE_LIMIT, PACE_REMAINING, PACE_RESET), for
 * either API's spelling; 0 when it is none of them.
 */
int
pace_header_name(const char *name, int *kind, int *field)
{
	const char *f, *k;
	int i;

	if (strncasecmp(name, "anthropic-ratelimit-", 20) == 0) {
		k = name + 20;
		if ((f = strrchr(k, '-')) == NULL)
			return 0;
		f++;
	} else if (strncasecmp(name, "x-ratelimit-", 12) == 0) {
		f = name + 12;
		if ((k = strchr(f, '-')) == NULL)
			return 0;
		k++;
	} else
		return 0;
	if (strncasecmp(f, "limit", 5) == 0)
		*field = PACE_LIMIT;
	else if (strncasecmp(f, "remaining", 9) == 0)
		*field = PACE_REMAINING;
	else if (strncasecmp(f, "reset", 5) == 0)
		*field = PACE_RESET;
	else
		return 0;
	for (i = 0; i < PACE_ACCOUNT; i++) {
		size_t n = strlen(kind_names[i]);

		/* The kind ends where the field begins, or at the end. */
		if (strncasecmp(k, kind_names[i], n) == 0 &&
		    (k[n] == '\0' || k + n + 1 == f)) {
			*kind = i;
			return 1;
		}
	}
	return 0;
}

/* One rate-limit header's limit or remaining into S; 0 when it is none. */
int
pace_header(struct pace_seen *s, const char *name, const char *value)
{
	char *end;
	double v;
	int k, f;

	if (!pace_header_name(name, &k, &f) || f == PACE_RESET)
		return 0;
	v = strtod(value, &end);
	if (end == value || v < 0)
		return 0;
	if (f == PACE_LIMIT)
		s->limit[k] = v;
	else
		s->remaining[k] = v;
	s->seen[k] |= 1 << f;
	return 1;
}

/*
 * What one answer's headers said.  With no other request in flight its
 * `remaining` is the upstream's level, taken as it is (returns 1: this
 * request's charge is settled by it).  With others in flight it may not
 * count them yet, so it only pulls a copy that is clearly too high down:
 * someone else is spending on the account.
 */
int
pace_learn(struct pace *p, const struct pace_seen *s, int sole, int64_t now)
{
	int k, synced = 0;
	double slack;

	pace_refill(p, now);
	for (k = 0; k < PACE_ACCOUNT; k++) {
		struct pace_bucket *b = &p->b[k];

		if (s->seen[k] & 1) {
			if (!b->known)
				b->level = s->limit[k];
			b->limit = s->limit[k];
			b->known = s->limit[k] > 0;
		}
		if (!b->known || !(s->seen[k] & 2))
			continue;
		slack = k == PACE_REQUESTS ? 1 : 1000;
		if (sole) {
			b->level = s->remaining[k];
			synced = 1;
		} else if (b->level > s->remaining[k] + slack)
			b->level = s->remaining[k];
	}
	return synced;
}

/*
 * The answer is in: correct the charge by what it really used (unless
 * the headers already did), and let the estimates learn from it; a
 * BODY_LEN of 0 only settles.
 */
void
pace_settle(struct pace *p, const struct pace_cost *est, const struct usage *u,
    size_t body_len, int synced)
{
	double in = (double)(u->input + u->cache_creation);
	double out = (double)u->output;
	struct pace_cost real = { { 1, in + out, in, out, in + out } };
	int k, first;

	if (!synced) {
		for (k = 0; k < PACE_N; k++) {
			if (p->b[k].known)
				p->b[k].level += est->v[k] - real.v[k];
		}
	}
	if (body_len == 0)
		return; /* a cut answer teaches nothing */
	first = p->out_avg < 0;
	p->in_per_byte = first ?
	    in / (double)body_len :
	    0.7 * p->in_per_byte + 0.3 * in / (double)body_len;
	p->out_avg = first ? out : 0.7 * p->out_avg + 0.3 * out;
}

json_t *
pace_json(const struct pace *p)
{
	json_t *o = json_object();
	int k;

	for (k = 0; k < PACE_N; k++) {
		if (p->b[k].known)
			json_object_set_new(o, kind_names[k],
			    json_pack("{s:f, s:f}", "limit", p->b[k].limit,
			        "level", p->b[k].level));
	}
	return o;
}
