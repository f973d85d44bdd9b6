/*
 * proxy.h: the metering proxy's own types, shared by its files and by
 * no one else:
 *
 *   proxy.c           listeners, reload, the JSON views, and requests
 *                     from agents: the token, the route, the body
 *   proxy-gate.c      each request line, before libevent reads the
 *                     request: no body read without a live token
 *   proxy-queue.c     each upstream's fair queue, its pacing and holds
 *   proxy-upstream.c  requests in flight and the response as libcurl
 *                     delivers it
 *   proxy-meter.c     what a response used: JSON documents, SSE lines
 */
#ifndef PROXY_H
#define PROXY_H

#include <curl/curl.h>
#include <event2/http.h>

#include "swarmd.h"

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
	struct histo added; /* arrival to its last sending upstream */
	char view[PACE_ACCOUNT][3][48]; /* its rate-limit headers, as sent */
};

enum { UP_ANTHROPIC, UP_OPENAI, UP_N };
enum { PROBE_NONE, PROBE_WANTED, PROBE_SENT };

/* One request on its way through. */
struct preq {
	struct evhttp_request *req; /* NULL once the client is gone */
	struct evhttp_connection *evcon;
	int64_t agent;
	struct upstream *up;
	struct flow *flow;      /* while it waits */
	int64_t queued_at;      /* mono ms */
	double arrived, sent;   /* histo_now(): came in, last sent upstream */
	struct pace_cost est;   /* charged while in flight */
	struct quota_held hold; /* its most: held against cap and account */
	int holding;            /* hold is on the account (in flight) */
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

/* proxy.c */
void proxy_reply_error(struct evhttp_request *, int status, const char *type,
    const char *message, int retry_after);
int proxy_hop_by_hop(const char *name);
struct agent *proxy_agent(int64_t id);
struct agent *proxy_token_agent(const char *token);

/* proxy-gate.c */
int proxy_gate_line_ok(const char *line, size_t len);
void proxy_gate_answered(struct evhttp_connection *);
struct bufferevent *proxy_gate_bev(struct event_base *, void *);
void proxy_gate_free(void);

/* proxy-queue.c */
void queue_init(struct upstream *);
void queue_free(struct upstream *);
void queue_put(struct preq *, int front);
void queue_take(struct preq *);
int64_t queue_wait(struct upstream *, struct preq *, int64_t now);
void queue_refuse(struct preq *, int64_t wait);
void queue_pump(struct upstream *);
void queue_kick(struct upstream *);
void queue_hold(struct upstream *, int retry_after);

/* proxy-upstream.c */
void preq_start(struct preq *);
void preq_free(struct preq *);
void preq_pool_free(void);

/* proxy-meter.c */
void meter_doc(struct preq *, json_t *);
void meter_sse(struct preq *, const char *buf, size_t len);
void meter_record(struct preq *);

#endif
