/*
 * metrics.c: the Prometheus endpoint.  [metrics] listen serves GET
 * /metrics in the text exposition format (version 0.0.4) on an HTTP
 * server of its own; [metrics] on_proxy adds the same path to the
 * proxy's listener.  Any other path is 404, any other method 405.
 *
 * Each figure comes from the module that owns it, through an accessor
 * that reads memory or an indexed aggregate (agent_counts, chunk_counts,
 * quota_views, proxy_stats, ...): a scrape reads no history.  This file
 * only writes them out, and keeps one figure of its own: the event
 * loop's lag, from a timer that notes how late it fires.
 *
 * The job is a label named swarm_job: Prometheus gives every series of
 * a target a label named job of its own.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "swarmd.h"

#define METRICS_PATH "/metrics"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_MAX_HEADER 8192 /* a scraper sends a few short headers */
#define METRICS_MAX_BODY 1024   /* and no body */
#define LAG_INTERVAL 0.25       /* seconds between the lag timer's turns */

static struct evhttp *http;
static struct evhttp_bound_socket *bound;
static struct event *lag_ev;
static double lag_due; /* histo_now() the timer should fire */
static struct histo lag;
static int64_t started; /* wall ms */

/* ---- the text format ---- */

static void
family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(
	    b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the format says: \\, \" and \n. */
static void
label(struct evbuffer *b, const char *name, const char *value)
{
	const char *p;

	evbuffer_add_printf(b, "%s=\"", name);
	for (p = value; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			evbuffer_add_printf(b, "\\%c", *p);
		else if (*p == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* NAME{KEY="VALUE"} N, or NAME N when KEY is NULL. */
static void
sample(struct evbuffer *b, const char *name, const char *key, const char *value,
    double n)
{
	evbuffer_add_printf(b, "%s", name);
	if (key != NULL) {
		evbuffer_add(b, "{", 1);
		label(b, key, value);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add_printf(b, " %.17g\n", n);
}

/* A histogram's series; KEY="VALUE" labels them unless KEY is NULL. */
static void
histogram(struct evbuffer *b, const char *name, const char *key,
    const char *value, const struct histo *h)
{
	uint64_t cum = 0;
	int i;

	for (i = 0; i <= HISTO_BUCKETS; i++) {
		cum += h->counts[i];
		evbuffer_add_printf(b, "%s_bucket{", name);
		if (key != NULL) {
			label(b, key, value);
			evbuffer_add(b, ",", 1);
		}
		if (i < HISTO_BUCKETS)
			evbuffer_add_printf(b, "le=\"%g\"} %llu\n",
			    histo_bound(i), (unsigned long long)cum);
		else
			evbuffer_add_printf(
			    b, "le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "%s_sum", name);
	if (key != NULL) {
		evbuffer_add(b, "{", 1);
		label(b, key, value);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add_printf(b, " %.17g\n%s_count", h->sum, name);
	if (key != NULL) {
		evbuffer_add(b, "{", 1);
		label(b, key, value);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add_printf(b, " %llu\n", (unsigned long long)h->count);
}

/* ---- the figures, each from its owner ---- */

static void
write_agents(struct evbuffer *b)
{
	int64_t n[AGENT_NSTATES];
	int i;

	agent_counts(n);
	family(b, "swarmd_agents", "gauge",
	    "Agents by state: live ones (starting, running, suspect) and "
	    "every ended one in the store (exited, killed).");
	for (i = 0; i < AGENT_NSTATES; i++)
		sample(b, "swarmd_agents", "state", agent_state_name(i),
		    (double)n[i]);
}

static void
write_chunks(struct evbuffer *b)
{
	int64_t n[CHUNK_NSTATES];
	struct job *j;
	char name[32];
	int i, jobs = 0;

	family(b, "swarmd_chunks", "gauge",
	    "Chunks by state, of each job that has not ended.");
	TAILQ_FOREACH(j, &active_jobs, entry) {
		jobs++;
		chunk_counts(j->id, n);
		snprintf(name, sizeof name, "job-%lld", (long long)j->id);
		for (i = 0; i < CHUNK_NSTATES; i++) {
			evbuffer_add(b, "swarmd_chunks{", 14);
			label(b, "swarm_job", name);
			evbuffer_add(b, ",", 1);
			label(b, "state", chunk_state_name(i));
			evbuffer_add_printf(b, "} %lld\n", (long long)n[i]);
		}
	}
	family(b, "swarmd_jobs_active", "gauge", "Jobs that have not ended.");
	sample(b, "swarmd_jobs_active", NULL, NULL, jobs);
}

static void
write_quota(struct evbuffer *b)
{
	struct quota_view v[4];
	int n = quota_views(v), i;

	family(b, "swarmd_spawn_paused", "gauge",
	    "1 while the quota meter holds new spawns back, else 0.");
	sample(b, "swarmd_spawn_paused", NULL, NULL, !quota_spawn_open());
	family(b, "swarmd_quota_window_used_tokens", "gauge",
	    "Tokens counted in each token window of [quota] that is set.");
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].name, "daily_usd") != 0)
			sample(b, "swarmd_quota_window_used_tokens", "window",
			    v[i].name, v[i].used);
	}
	family(b, "swarmd_quota_window_limit_tokens", "gauge",
	    "Each token window's limit.");
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].name, "daily_usd") != 0)
			sample(b, "swarmd_quota_window_limit_tokens", "window",
			    v[i].name, v[i].limit);
	}
	family(b, "swarmd_quota_daily_spent_usd", "gauge",
	    "Spend since UTC midnight, when [quota] daily_usd is set.");
	family(b, "swarmd_quota_daily_limit_usd", "gauge",
	    "[quota] daily_usd, when set.");
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].name, "daily_usd") != 0)
			continue;
		sample(
		    b, "swarmd_quota_daily_spent_usd", NULL, NULL, v[i].used);
		sample(
		    b, "swarmd_quota_daily_limit_usd", NULL, NULL, v[i].limit);
	}
}

/* One (job, model): its four classes, then its spend. */
struct spend_out {
	struct evbuffer *tokens, *usd;
};

static void
spend_labels(struct evbuffer *b, int64_t job, const char *model)
{
	char name[32];

	if (job == 0)
		snprintf(name, sizeof name, "triage");
	else
		snprintf(name, sizeof name, "job-%lld", (long long)job);
	label(b, "swarm_job", name);
	evbuffer_add(b, ",", 1);
	label(b, "model", model != NULL ? model : "unknown");
}

static void
spend_one(int64_t job, const char *model, const struct usage *u, double usd,
    void *arg)
{
	static const char *classes[] = { "input", "output", "cache_write",
		"cache_read" };
	const int64_t v[] = { u->input, u->output, u->cache_creation,
		u->cache_read };
	struct spend_out *o = arg;
	size_t i;

	for (i = 0; i < nitems(classes); i++) {
		evbuffer_add(o->tokens, "swarmd_tokens_total{", 20);
		spend_labels(o->tokens, job, model);
		evbuffer_add(o->tokens, ",", 1);
		label(o->tokens, "class", classes[i]);
		evbuffer_add_printf(o->tokens, "} %lld\n", (long long)v[i]);
	}
	evbuffer_add(o->usd, "swarmd_spend_usd_total{", 23);
	spend_labels(o->usd, job, model);
	evbuffer_add_printf(o->usd, "} %.17g\n", usd);
}

static void
write_spend(struct evbuffer *b)
{
	struct spend_out o = { evbuffer_new(), evbuffer_new() };

	quota_spend_each(spend_one, &o);
	family(b, "swarmd_tokens_total", "counter",
	    "Tokens metered since swarmd started, by job, model and class "
	    "(input, output, cache_write, cache_read).");
	evbuffer_add_buffer(b, o.tokens);
	family(b, "swarmd_spend_usd_total", "counter",
	    "USD metered since swarmd started, by job and model, at [prices] "
	    "(0 for a model it does not price).");
	evbuffer_add_buffer(b, o.usd);
	evbuffer_free(o.tokens);
	evbuffer_free(o.usd);
}

static void
write_proxy(struct evbuffer *b)
{
	struct proxy_stat st[4];
	int n = proxy_stats(st, 4), i;

	family(b, "swarmd_proxy_requests_total", "counter",
	    "Requests the proxy sent upstream, each attempt counted.");
	for (i = 0; i < n; i++)
		sample(b, "swarmd_proxy_requests_total", "upstream",
		    st[i].upstream, (double)st[i].requests);
	family(b, "swarmd_proxy_queued", "gauge",
	    "Requests waiting in the proxy's queue.");
	for (i = 0; i < n; i++)
		sample(b, "swarmd_proxy_queued", "upstream", st[i].upstream,
		    st[i].queued);
	family(b, "swarmd_proxy_in_flight", "gauge",
	    "Requests sent upstream and not yet answered.");
	for (i = 0; i < n; i++)
		sample(b, "swarmd_proxy_in_flight", "upstream", st[i].upstream,
		    st[i].inflight);
	family(b, "swarmd_proxy_429_absorbed_total", "counter",
	    "429s and 529s from upstream the proxy held and sent again, "
	    "which the agent never saw.");
	for (i = 0; i < n; i++)
		sample(b, "swarmd_proxy_429_absorbed_total", "upstream",
		    st[i].upstream, (double)st[i].absorbed);
	family(b, "swarmd_proxy_429_refused_total", "counter",
	    "429s the proxy answered itself after [proxy] max_hold.");
	for (i = 0; i < n; i++)
		sample(b, "swarmd_proxy_429_refused_total", "upstream",
		    st[i].upstream, (double)st[i].refused);
	family(b, "swarmd_proxy_added_latency_seconds", "histogram",
	    "From a request's arrival to its last sending upstream: the "
	    "queue, the pacing and any absorbed 429.");
	for (i = 0; i < n; i++)
		histogram(b, "swarmd_proxy_added_latency_seconds", "upstream",
		    st[i].upstream, st[i].added);
}

static void
write_watchdog(struct evbuffer *b)
{
	struct watchdog_counts c;
	int64_t opened, open;
	int i;

	watchdog_counts(&c);
	family(b, "swarmd_watchdog_agents", "gauge",
	    "Running agents by watchdog phase.");
	for (i = 0; i < W_NPHASES; i++)
		sample(b, "swarmd_watchdog_agents", "phase",
		    watch_phase_name(i), (double)c.phase[i]);
	family(b, "swarmd_watchdog_suspects_total", "counter",
	    "Tier 1: agents a rule made suspect, by rule.");
	for (i = 0; i < WD_NRULES; i++)
		sample(b, "swarmd_watchdog_suspects_total", "rule",
		    watchdog_rule_name(i), (double)c.rules[i]);
	family(b, "swarmd_watchdog_verdicts_total", "counter",
	    "Tier 2: the triage hook's verdicts by action; none when it "
	    "gave none.");
	for (i = 0; i < WD_NVERDICTS; i++)
		sample(b, "swarmd_watchdog_verdicts_total", "verdict",
		    watchdog_verdict_name(i), (double)c.verdicts[i]);
	escalate_counts(&opened, &open);
	family(b, "swarmd_escalations_opened_total", "counter",
	    "Tier 3: escalations opened for a person.");
	sample(
	    b, "swarmd_escalations_opened_total", NULL, NULL, (double)opened);
	family(b, "swarmd_escalations_open", "gauge",
	    "Escalations open now, waiting for a person.");
	sample(b, "swarmd_escalations_open", NULL, NULL, (double)open);
}

static void
write_daemon(struct evbuffer *b)
{
	family(b, "swarmd_start_time_seconds", "gauge",
	    "When swarmd started, in seconds since the epoch; the counters "
	    "count from then.");
	sample(
	    b, "swarmd_start_time_seconds", NULL, NULL, (double)started / 1000);
	family(b, "swarmd_store_commit_seconds", "histogram",
	    "How long each SQLite commit took.");
	histogram(
	    b, "swarmd_store_commit_seconds", NULL, NULL, store_commit_histo());
	family(b, "swarmd_event_loop_lag_seconds", "histogram",
	    "How late a timer due every 0.25 s fired: time the event loop "
	    "was busy elsewhere.");
	histogram(b, "swarmd_event_loop_lag_seconds", NULL, NULL, &lag);
}

/* Every family, in the order of swarmd-metrics(7). */
void
metrics_write(struct evbuffer *b)
{
	write_agents(b);
	write_chunks(b);
	write_quota(b);
	write_spend(b);
	write_proxy(b);
	write_watchdog(b);
	write_daemon(b);
}

/* ---- HTTP ---- */

static void
reply_text(struct evhttp_request *req, int code, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add_printf(b, "%s\n", text);
	evhttp_send_reply(req, code, NULL, b);
	evbuffer_free(b);
}

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *b;

	(void)arg;
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		reply_text(req, 405, "swarmd: only GET is served here");
		return;
	}
	b = evbuffer_new();
	metrics_write(b);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", METRICS_TYPE);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	reply_text(
	    req, 404, "swarmd: no such path; the metrics are at " METRICS_PATH);
}

/* ---- the event loop's lag ---- */

static void
lag_arm(void)
{
	struct timeval tv = { 0, (suseconds_t)(LAG_INTERVAL * 1e6) };

	lag_due = histo_now() + LAG_INTERVAL;
	evtimer_add(lag_ev, &tv);
}

static void
on_lag(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	histo_add(&lag, histo_now() - lag_due);
	lag_arm();
}

/* ---- life of the module ---- */

/* Bind [metrics] listen: ADDRESS:PORT, IPv6 in brackets (config.c). */
static int
metrics_bind(char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t slen = sizeof ss;
	char *host = xstrdup(srv.cfg.metrics_listen), *colon, addr[64];
	int port;

	colon = strrchr(host, ':');
	*colon = '\0';
	port = atoi(colon + 1);
	if (*host == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	bound = evhttp_bind_socket_with_handle(http, host, (uint16_t)port);
	free(host);
	if (bound == NULL) {
		snprintf(err, errlen, "[metrics] listen %s: cannot bind",
		    srv.cfg.metrics_listen);
		return -1;
	}
	sock_guard_accept(evhttp_bound_socket_get_listener(bound), "metrics");
	/* Port 0 picks one: say which. */
	memset(&ss, 0, sizeof ss);
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	        (struct sockaddr *)&ss, &slen) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
			log_notice("metrics listening on [%s]:%d", addr,
			    ntohs(s6->sin6_port));
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr);
			log_notice("metrics listening on %s:%d", addr,
			    ntohs(s4->sin_port));
		}
	}
	return 0;
}

/* After the proxy: on_proxy adds the path to its listener. */
int
metrics_init(char *err, size_t errlen)
{
	struct timeval tv;
	double t = srv.cfg.metrics_timeout;

	started = now_wall_ms();
	if (*srv.cfg.metrics_listen == '\0' && !srv.cfg.metrics_on_proxy)
		return 0;
	lag_ev = evtimer_new(srv.base, on_lag, NULL);
	lag_arm();
	if (srv.cfg.metrics_on_proxy &&
	    proxy_serve(METRICS_PATH, on_metrics, NULL) == -1) {
		snprintf(err, errlen, "[metrics] on_proxy: the proxy is off");
		return -1;
	}
	if (*srv.cfg.metrics_listen == '\0')
		return 0;
	http = evhttp_new(srv.base);
	evhttp_set_max_headers_size(http, METRICS_MAX_HEADER);
	evhttp_set_max_body_size(http, METRICS_MAX_BODY);
	tv.tv_sec = (time_t)t;
	tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
	evhttp_set_timeout_tv(http, &tv);
	/* Every method reaches on_metrics, which answers 405 with Allow. */
	evhttp_set_allowed_methods(http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	        EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_cb(http, METRICS_PATH, on_metrics, NULL);
	evhttp_set_gencb(http, on_other, NULL);
	return metrics_bind(err, errlen);
}

void
metrics_free(void)
{
	if (bound != NULL)
		sock_unguard_accept(evhttp_bound_socket_get_listener(bound));
	bound = NULL;
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
	if (lag_ev != NULL)
		event_free(lag_ev);
	lag_ev = NULL;
}
