/*
 * proxy-queue.c: each upstream's fair queue.  Requests wait here, one
 * line per agent taken in turn, until the account, the upstream's learned
 * buckets (pace.c) and any backoff it asked for let them go; one waiting
 * past [proxy] max_hold is answered 429 by swarmd itself.
 */
#include <stdio.h>
#include <stdlib.h>

#include "proxy.h"

void
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

void
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
int64_t
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
void
queue_refuse(struct preq *p, int64_t wait)
{
	char msg[256], why[128] = "";

	if (quota_proxy_wait(why, sizeof why) == 0)
		snprintf(why, sizeof why, "upstream %s is at its limit",
		    p->up->name);
	snprintf(msg, sizeof msg, "swarmd: %s; retry after the hint", why);
	if (p->evcon != NULL)
		evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	proxy_reply_error(p->req, 429, "rate_limit_error", msg,
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
void
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
void
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
void
queue_hold(struct upstream *up, int retry_after)
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

void
queue_init(struct upstream *up)
{
	TAILQ_INIT(&up->flows);
	up->pump = evtimer_new(srv.base, on_pump, up);
}

/* At shutdown: what still waits is let go. */
void
queue_free(struct upstream *up)
{
	struct flow *f, *fnext;
	struct preq *p, *pnext;

	/* The last preq_free of a flow frees the flow. */
	TAILQ_FOREACH_SAFE(f, &up->flows, entry, fnext) {
		TAILQ_FOREACH_SAFE(p, &f->q, entry, pnext) {
			preq_free(p);
		}
	}
	if (up->pump != NULL)
		event_free(up->pump);
	up->pump = NULL;
}
