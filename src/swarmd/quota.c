/*
 * quota.c: the shared quota meter.  Every usage record of every agent
 * (its stream-json output, its own reports, later the proxy) lands here,
 * attributed to agent, job, chunk and model, classes kept apart.  The
 * meter keeps three views the account is limited by: a token bucket per
 * minute, a rolling window, and spend per UTC day; any of them past
 * pause_at stops new spawns until all are back under resume_at.
 *
 * Windows count input, output and cache-creation tokens.  Cache reads are
 * recorded and priced but do not count, as the upstream input-token
 * limits do not count them.
 *
 * The file is one unit on purpose, past 800 lines: every section (the
 * views, the spawn gate, the proxy's wait and holds, the caps, the
 * records, the reports) reads and writes the meter `m`, which is static
 * here; split, it would become a global every part could write.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

struct slice {
	int64_t ts; /* wall ms */
	int64_t tokens;
};

struct meter {
	/* Rolling window: the slices inside it, oldest first. */
	struct slice *ring;
	size_t head, len, cap;
	int64_t window_used;

	/* Token bucket: what is available now, refilled continuously. */
	double bucket;
	int64_t bucket_at; /* mono ms of the last refill */

	/* Spend since UTC midnight. */
	int64_t day; /* days since the epoch */
	double usd_today;

	/* Held by proxied requests in flight until their usage is in. */
	int64_t held;
	double held_usd;

	/* The account's own windows, from rate_limit_event lines. */
	json_t *subscription; /* {"five_hour": {status, resets_at}} */
	char *proxy_listen;   /* the proxy's bound address, or NULL */

	int paused;
	char reason[256];
	struct event *tick;
	struct event *after; /* caps and the gate, after a batch */
};

static struct meter m;

/*
 * Tokens and spend per job and model since swarmd started, for the
 * metrics: counters in memory, so a scrape reads no usage rows.  Most
 * recent first, as the records of one job come together.
 */
struct spend {
	int64_t job;
	char *model; /* NULL: none named */
	struct usage use;
	double usd;
	TAILQ_ENTRY(spend) entry;
};
static TAILQ_HEAD(, spend) spends = TAILQ_HEAD_INITIALIZER(spends);

static int
same_model(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Counters only rise: a proxy figure lower than the output's it
 * replaces (record_replace) leaves that class where it was. */
static void
spend_add(int64_t job, const char *model, const struct usage *u, double usd)
{
	struct spend *s;

	TAILQ_FOREACH(s, &spends, entry) {
		if (s->job == job && same_model(s->model, model))
			break;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->job = job;
		s->model = model != NULL ? xstrdup(model) : NULL;
	} else
		TAILQ_REMOVE(&spends, s, entry);
	TAILQ_INSERT_HEAD(&spends, s, entry);
	s->use.input += u->input > 0 ? u->input : 0;
	s->use.output += u->output > 0 ? u->output : 0;
	s->use.cache_creation += u->cache_creation > 0 ? u->cache_creation : 0;
	s->use.cache_read += u->cache_read > 0 ? u->cache_read : 0;
	s->usd += usd > 0 ? usd : 0;
}

void
quota_spend_each(void (*cb)(int64_t job, const char *model,
                     const struct usage *, double usd, void *),
    void *arg)
{
	struct spend *s;

	TAILQ_FOREACH(s, &spends, entry)
		cb(s->job, s->model, &s->use, s->usd, arg);
}

static void
spend_free(void)
{
	struct spend *s;

	while ((s = TAILQ_FIRST(&spends)) != NULL) {
		TAILQ_REMOVE(&spends, s, entry);
		free(s->model);
		free(s);
	}
}

int64_t
usage_counted(const struct usage *u)
{
	return u->input + u->output + u->cache_creation;
}

/* The length of MODEL's alias: a dated id ends in -YYYYMMDD. */
static size_t
alias_len(const char *model)
{
	size_t n = strlen(model);

	if (n > 9 && model[n - 9] == '-' &&
	    strspn(model + n - 8, "0123456789") == 8)
		return n - 9;
	return n;
}

/*
 * Whether the line of NAME prices MODEL (whose alias is N bytes long)
 * better than BEST: the alias of a dated MODEL, or the latest dated id
 * of MODEL as an alias.
 */
static int
price_stands_for(
    const char *name, const char *model, size_t n, const struct price *best)
{
	if (strncmp(name, model, n) != 0)
		return 0;
	if (n < strlen(model))
		return strlen(name) == n;
	return alias_len(name) == n && n < strlen(name) &&
	    (best == NULL || strcmp(name, best->model) > 0);
}

/*
 * MODEL's price: its own line; for a dated id (claude-sonnet-4-5-20250929,
 * as the API answers), the line of its alias; for an alias (as jobs name
 * models), the line of its latest dated id.  NULL: unpriced.
 */
static const struct price *
price_of(const char *model)
{
	const struct price *p, *best = NULL;
	size_t i, n;

	if (model == NULL)
		return NULL;
	n = alias_len(model);
	for (i = 0; i < srv.cfg.nprices; i++) {
		p = &srv.cfg.prices[i];
		if (strcmp(p->model, model) == 0)
			return p;
		if (price_stands_for(p->model, model, n, best))
			best = p;
	}
	return best;
}

int
quota_priced(const char *model)
{
	return price_of(model) != NULL;
}

double
quota_usd(const char *model, const struct usage *u)
{
	const struct price *p = price_of(model);

	if (p == NULL)
		return 0;
	return ((double)u->input * p->usd[0] + (double)u->output * p->usd[1] +
	           (double)u->cache_creation * p->usd[2] +
	           (double)u->cache_read * p->usd[3]) /
	    1e6;
}

/* ---- the three views ---- */

static void
window_expire(int64_t now)
{
	int64_t horizon = now - (int64_t)(srv.cfg.window * 1000);

	while (m.len > 0 && m.ring[m.head].ts <= horizon) {
		m.window_used -= m.ring[m.head].tokens;
		m.head = (m.head + 1) % m.cap;
		m.len--;
	}
}

static void
window_add(int64_t ts, int64_t tokens)
{
	size_t i;

	if (m.len == m.cap) {
		struct slice *n = xcalloc(m.cap ? m.cap * 2 : 256, sizeof *n);

		for (i = 0; i < m.len; i++)
			n[i] = m.ring[(m.head + i) % m.cap];
		free(m.ring);
		m.ring = n;
		m.head = 0;
		m.cap = m.cap ? m.cap * 2 : 256;
	}
	m.ring[(m.head + m.len) % m.cap] = (struct slice){ ts, tokens };
	m.len++;
	m.window_used += tokens;
}

static void
bucket_refill(void)
{
	int64_t now = now_mono_ms();
	double cap = (double)srv.cfg.tokens_per_minute;

	m.bucket += cap * (double)(now - m.bucket_at) / 60000.0;
	if (m.bucket > cap)
		m.bucket = cap;
	m.bucket_at = now;
}

static void
day_roll(int64_t now)
{
	int64_t day = now / 86400000;

	if (day != m.day) {
		m.day = day;
		m.usd_today = 0;
	}
}

/* Fill the views from the store: a restart forgets nothing spent. */
static void
meter_load(void)
{
	static const char sql[] = "SELECT ts, input + output + "
	                          "cache_creation, usd FROM usage "
	                          "WHERE ts > ? ORDER BY ts";
	int64_t now = now_wall_ms(),
	        since = now - (int64_t)(srv.cfg.window * 1000),
	        midnight = now - now % 86400000;
	sqlite3_stmt *st = store_prepare(sql);
	double refill = (double)srv.cfg.tokens_per_minute / 60000.0;

	m.day = now / 86400000;
	m.bucket = (double)srv.cfg.tokens_per_minute;
	m.bucket_at = now_mono_ms();
	sqlite3_bind_int64(st, 1, since < midnight ? since : midnight);
	while (store_step(st) == SQLITE_ROW) {
		int64_t ts = sqlite3_column_int64(st, 0);
		int64_t tok = sqlite3_column_int64(st, 1);

		if (ts > since)
			window_add(ts, tok);
		if (ts >= midnight)
			m.usd_today += sqlite3_column_double(st, 2);
		/* What the bucket has not yet earned back. */
		if (now - ts < 60000)
			m.bucket -= (double)tok - refill * (double)(now - ts);
	}
	sqlite3_reset(st);
	if (m.bucket > (double)srv.cfg.tokens_per_minute)
		m.bucket = (double)srv.cfg.tokens_per_minute;
}

/* ---- the views as numbers ---- */

static int
meter_views(struct quota_view v[4])
{
	int64_t now = now_wall_ms();
	int n = 0;

	window_expire(now);
	bucket_refill();
	day_roll(now);
	if (srv.cfg.tokens_per_minute > 0) {
		double cap = (double)srv.cfg.tokens_per_minute;

		v[n++] = (struct quota_view){ "tokens_per_minute", cap,
			cap - m.bucket, (cap - m.bucket) / (cap / 60) };
	}
	if (srv.cfg.window_tokens > 0)
		v[n++] = (struct quota_view){ "window",
			(double)srv.cfg.window_tokens, (double)m.window_used,
			m.len == 0 ?
			    0 :
			    (double)(m.ring[m.head].ts +
			        (int64_t)(srv.cfg.window * 1000) - now) /
			        1000 };
	if (srv.cfg.daily_usd > 0)
		v[n++] = (struct quota_view){ "daily_usd", srv.cfg.daily_usd,
			m.usd_today,
			(double)(86400000 - now % 86400000) / 1000 };
	return n;
}

/* The views that are set, for the metrics; at most 4. */
int
quota_views(struct quota_view v[4])
{
	return meter_views(v);
}

/* Tokens the tightest token view still allows; -1 when none is set. */
int64_t
quota_remaining(void)
{
	struct quota_view v[4];
	int n = meter_views(v), i;
	double best = -1;

	for (i = 0; i < n; i++) {
		if (strcmp(v[i].name, "daily_usd") == 0)
			continue;
		if (best < 0 || v[i].limit - v[i].used < best)
			best = v[i].limit - v[i].used;
	}
	return best < 0 ? -1 : best < 0.5 ? 0 : (int64_t)best;
}

/* ---- the spawn gate ---- */

static void
gate_set(int paused, const char *reason, json_t *numbers)
{
	if (paused == m.paused) {
		json_decref(numbers);
		return;
	}
	m.paused = paused;
	snprintf(m.reason, sizeof m.reason, "%s", reason);
	store_begin();
	evlog_add(
	    paused ? "quota_paused" : "quota_resumed", 0, NULL, 0, 0, numbers);
	store_commit();
	if (paused)
		log_notice("spawning paused: %s", reason);
	else {
		log_notice("spawning resumed: %s", reason);
		scheduler_kick();
	}
}

/*
 * An account window the CLI says is exhausted pauses us until it resets:
 * the latest such reset (wall ms) with that window's name in TYPE, or 0.
 */
static int64_t
subscription_blocked(char *name, size_t len)
{
	int64_t now = now_wall_ms(), until = 0, resets;
	const char *type;
	json_t *w;

	json_object_foreach(m.subscription, type, w) {
		const char *status =
		    json_string_value(json_object_get(w, "status"));

		resets =
		    json_integer_value(json_object_get(w, "resets_at")) * 1000;
		if (status != NULL && strcmp(status, "rejected") == 0 &&
		    resets > now && resets > until) {
			until = resets;
			snprintf(name, len, "%s", type);
		}
	}
	return until;
}

/* Pause past pause_at on any view; resume once all are under resume_at. */
static void
gate_evaluate(void)
{
	struct quota_view v[4];
	int n = meter_views(v), i, over = -1, under = 1;
	char why[256], name[64];
	int64_t until;

	for (i = 0; i < n; i++) {
		double share = v[i].used / v[i].limit;

		if (over < 0 &&
		    (share >= srv.cfg.pause_at ||
		        (strcmp(v[i].name, "daily_usd") == 0 && share >= 1)))
			over = i;
		if (share >= srv.cfg.resume_at)
			under = 0;
	}
	if (!m.paused && over >= 0) {
		snprintf(why, sizeof why,
		    "%s at %.1f%% (%.0f of %.0f), pause at %.0f%%",
		    v[over].name, 100 * v[over].used / v[over].limit,
		    v[over].used, v[over].limit, 100 * srv.cfg.pause_at);
		gate_set(1, why,
		    json_pack("{s:s, s:f, s:f, s:f}", "window", v[over].name,
		        "used", v[over].used, "limit", v[over].limit,
		        "pause_at", srv.cfg.pause_at));
	} else if (!m.paused &&
	    (until = subscription_blocked(name, sizeof name)) > 0) {
		snprintf(why, sizeof why, "%s window rejected until %lld", name,
		    (long long)(until / 1000));
		gate_set(1, why,
		    json_pack("{s:s, s:O}", "window", "subscription",
		        "subscription", m.subscription));
	} else if (m.paused && under &&
	    !subscription_blocked(name, sizeof name))
		gate_set(0, "every window under resume_at",
		    json_pack("{s:f}", "resume_at", srv.cfg.resume_at));
}

int
quota_spawn_open(void)
{
	return !m.paused;
}

const char *
quota_pause_reason(void)
{
	return m.paused ? m.reason : NULL;
}

/*
 * A proxied request about to leave holds H against the rolling window
 * and the day's budget until its usage is in (SIGN 1 holds, -1 lets go):
 * requests in flight together cannot overrun them by more than one.
 */
void
quota_hold(const struct quota_held *h, int sign)
{
	m.held += sign * h->tokens;
	m.held_usd += sign * h->usd;
	if (m.held < 0)
		m.held = 0;
	if (m.held_usd < 1e-9) /* sums of doubles do not come back to 0 */
		m.held_usd = 0;
}

/* What a request of MODEL, of IN tokens and at most OUT more, may cost. */
void
quota_estimate(const char *model, int64_t in, int64_t out, struct quota_held *h)
{
	struct usage u = { 0 };

	u.input = in;
	u.output = out;
	h->tokens = in + out;
	h->usd = quota_usd(model, &u);
}

/* Held in flight: a limit it fills frees as requests land, not later. */
#define HELD_RECHECK_MS 1000

/*
 * For the proxy: milliseconds until the account can take more work, 0
 * now, with the reason in WHY.  The spawn pause at pause_at leaves
 * running agents working; a window that is used up holds their requests
 * too, until it frees: the rolling window as its oldest records leave
 * it, the daily budget at UTC midnight, a rejected subscription window
 * at its reset.  The per-minute bucket is paced by the proxy itself.
 */
int64_t
quota_proxy_wait(char *why, size_t len)
{
	int64_t now = now_wall_ms(), wait = 0, resets;
	char sub[64];

	window_expire(now);
	if (srv.cfg.window_tokens > 0 &&
	    m.window_used + m.held >= srv.cfg.window_tokens) {
		wait = m.window_used >= srv.cfg.window_tokens && m.len > 0 ?
		    m.ring[m.head].ts + (int64_t)(srv.cfg.window * 1000) - now :
		    HELD_RECHECK_MS;
		snprintf(why, len, "the rolling window's %lld tokens are %s",
		    (long long)srv.cfg.window_tokens,
		    m.window_used >= srv.cfg.window_tokens ? "used" :
		                                             "used or held");
	}
	day_roll(now);
	if (srv.cfg.daily_usd > 0 &&
	    m.usd_today + m.held_usd >= srv.cfg.daily_usd) {
		int64_t w = m.usd_today >= srv.cfg.daily_usd ?
		    86400000 - now % 86400000 :
		    HELD_RECHECK_MS;

		if (w > wait) {
			wait = w;
			snprintf(why, len, "the daily budget of $%.2f is %s",
			    srv.cfg.daily_usd,
			    m.usd_today >= srv.cfg.daily_usd ? "spent" :
			                                       "spent or held");
		}
	}
	if ((resets = subscription_blocked(sub, sizeof sub)) - now > wait) {
		wait = resets - now;
		snprintf(why, len, "the %s window is rejected", sub);
	}
	return wait > 0 ? wait : 0;
}

/* ---- per-agent caps ---- */

/*
 * The job's per_agent_tokens if it set one, else an equal share of what
 * the rolling window has left above the reserve.  0 means no cap.  The
 * per-minute bucket refills as agents work, so what it holds at one
 * moment is no budget for an agent's whole life: capping by it killed
 * agents that the account could carry.  It is a rate, which the spawn
 * gate (and the proxy) enforce instead.
 */
int64_t
quota_cap_for(struct job *j, int running)
{
	json_int_t per =
	    json_integer_value(json_object_get(j->spec, "per_agent_tokens"));
	double limit = (double)srv.cfg.window_tokens, share;

	if (per > 0)
		return per;
	if (limit <= 0)
		return 0;
	window_expire(now_wall_ms());
	share = (limit - (double)m.window_used - srv.cfg.reserve * limit) /
	    (running > 0 ? running : 1);
	return share < 1 ? 1 : (int64_t)share;
}

static void
cap_check(struct agent *a)
{
	int64_t used = usage_counted(&a->use);
	struct job *j;
	char *text;

	/* A finished agent is past caring; the cap is a budget it may use
	 * whole, so only going past it aborts. */
	if (a->cap <= 0 || a->pid <= 0 || agent_is_ending(a))
		return;
	if (used > a->cap) {
		store_begin();
		evlog_add("cap_reached", a->job, a->chunk, a->id, a->attempt,
		    json_pack("{s:I, s:I}", "used", (json_int_t)used, "cap",
		        (json_int_t)a->cap));
		store_commit();
		agent_abort(a, srv.cfg.abort_grace, "token_cap");
		return;
	}
	if (a->cap_warned || used * 5 < a->cap * 4)
		return;
	a->cap_warned = 1;
	text = xasprintf(
	    "checkpoint: %lld of your %lld-token cap used; save your progress with swarmctl checkpoint",
	    (long long)used, (long long)a->cap);
	store_begin();
	mailbox_put(a, "swarmd", text);
	evlog_add("cap_warning", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:I, s:I}", "used", (json_int_t)used, "cap",
	        (json_int_t)a->cap));
	store_commit();
	free(text);
	agent_deliver(a);
	j = job_find(a->job);
	if (j != NULL && json_is_true(json_object_get(j->spec, "cap_signal")))
		kill(a->pid, SIGUSR1);
}

/* After a batch of records: caps and the gate, outside its transaction. */
static void
on_after(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a, *next;

	(void)fd;
	(void)what;
	(void)arg;
	TAILQ_FOREACH_SAFE(a, &live_agents, entry, next)
		cap_check(a);
	gate_evaluate();
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	gate_evaluate();
}

/* ---- recording ---- */

/* Count U (may be negative: a correction) into the agent and the views. */
static void
meter_add(struct agent *a, const char *model, const struct usage *u, double usd,
    int64_t now)
{
	spend_add(a->job, model, u, usd);
	a->use.input += u->input;
	a->use.output += u->output;
	a->use.cache_creation += u->cache_creation;
	a->use.cache_read += u->cache_read;
	a->last_seen = now;
	a->seen_dirty = 1;
	a->alive = 1;
	window_expire(now);
	window_add(now, usage_counted(u));
	bucket_refill();
	m.bucket -= (double)usage_counted(u);
	day_roll(now);
	m.usd_today += usd;
	event_active(m.after, EV_TIMEOUT, 0);
}

/*
 * A proxy record for a message already counted from the agent's output:
 * the proxy saw the response itself, so its figures replace the others
 * and the totals move by the difference.  Returns 1 when replaced.
 */
static int
record_replace(struct agent *a, const char *model, const char *msgid,
    const struct usage *u, int64_t now)
{
	static const char sel[] =
	    "SELECT rowid, source, input, output, cache_creation, cache_read, "
	    "usd FROM usage WHERE agent = ? AND message_id = ?";
	static const char upd[] =
	    "UPDATE usage SET source = 'proxy', model = ?, input = ?, "
	    "output = ?, cache_creation = ?, cache_read = ?, usd = ? "
	    "WHERE rowid = ?";
	sqlite3_stmt *st = store_prepare(sel);
	struct usage d = { 0, 0, 0, 0 };
	const char *source;
	int64_t rowid = 0;
	double usd = quota_usd(model, u), old_usd = 0;

	sqlite3_bind_int64(st, 1, a->id);
	store_bind_text(st, 2, msgid);
	if (store_step(st) == SQLITE_ROW) {
		source = (const char *)sqlite3_column_text(st, 1);
		if (source == NULL || strcmp(source, "proxy") != 0) {
			rowid = sqlite3_column_int64(st, 0);
			d.input = u->input - sqlite3_column_int64(st, 2);
			d.output = u->output - sqlite3_column_int64(st, 3);
			d.cache_creation =
			    u->cache_creation - sqlite3_column_int64(st, 4);
			d.cache_read =
			    u->cache_read - sqlite3_column_int64(st, 5);
			old_usd = sqlite3_column_double(st, 6);
		}
	}
	sqlite3_reset(st);
	if (rowid == 0)
		return 0;
	st = store_prepare(upd);
	store_bind_text(st, 1, model);
	sqlite3_bind_int64(st, 2, u->input);
	sqlite3_bind_int64(st, 3, u->output);
	sqlite3_bind_int64(st, 4, u->cache_creation);
	sqlite3_bind_int64(st, 5, u->cache_read);
	sqlite3_bind_double(st, 6, usd);
	sqlite3_bind_int64(st, 7, rowid);
	store_step(st);
	meter_add(a, model, &d, usd - old_usd, now);
	return 1;
}

/*
 * Record one usage record.  A record with a message id already seen for
 * this agent is the same API message again and is not counted twice,
 * except that the proxy's figures replace those of the agent's output.
 * Returns 1 when counted.  Runs inside the caller's transaction.
 */
int
quota_record(struct agent *a, const char *model, const char *source,
    const char *msgid, const struct usage *u)
{
	static const char sql[] =
	    "INSERT OR IGNORE INTO usage (ts, agent, job, chunk, model, "
	    "source, message_id, input, output, cache_creation, cache_read, "
	    "usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t now = now_wall_ms();
	double usd = quota_usd(model, u);

	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, a->id);
	sqlite3_bind_int64(st, 3, a->job);
	store_bind_text(st, 4, a->chunk);
	store_bind_text(st, 5, model);
	store_bind_text(st, 6, source);
	store_bind_text(st, 7, msgid);
	sqlite3_bind_int64(st, 8, u->input);
	sqlite3_bind_int64(st, 9, u->output);
	sqlite3_bind_int64(st, 10, u->cache_creation);
	sqlite3_bind_int64(st, 11, u->cache_read);
	sqlite3_bind_double(st, 12, usd);
	store_step(st);
	if (sqlite3_changes(store.db) == 0) {
		if (msgid != NULL && strcmp(source, "proxy") == 0)
			return record_replace(a, model, msgid, u, now);
		return 0;
	}
	meter_add(a, model, u, usd, now);
	return 1;
}

/* Where the proxy listens, for swarmctl quota and the tests. */
void
quota_proxy_listen(const char *addr)
{
	free(m.proxy_listen);
	m.proxy_listen = addr != NULL ? xstrdup(addr) : NULL;
}

/* A rate_limit_event from the CLI: the account's own view of a window. */
void
quota_subscription(const char *type, const char *status, int64_t resets_at,
    json_t *utilization)
{
	json_t *w = json_pack("{s:s, s:I, s:O*}", "status", status, "resets_at",
	    (json_int_t)resets_at, "utilization", utilization);
	json_t *old = json_object_get(m.subscription, type);

	if (old == NULL || !json_equal(old, w)) {
		store_begin();
		evlog_add("rate_limit_event", 0, NULL, 0, 0,
		    json_pack("{s:s, s:O}", "type", type, "window", w));
		store_commit();
	}
	json_object_set_new(m.subscription, type, w);
	event_active(m.after, EV_TIMEOUT, 0);
}

/* ---- reports ---- */

static json_t *
top_agents(void)
{
	static const char sql[] =
	    "SELECT agent, sum(input), sum(output), sum(cache_creation), "
	    "sum(cache_read), sum(usd), sum(input + output + cache_creation) "
	    "AS t FROM usage WHERE ts > ? GROUP BY agent ORDER BY t DESC "
	    "LIMIT 10";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();
	char name[32];

	sqlite3_bind_int64(
	    st, 1, now_wall_ms() - (int64_t)(srv.cfg.window * 1000));
	while (store_step(st) == SQLITE_ROW) {
		/* Agent 0 is swarmd's own triage hook, through the proxy. */
		if (sqlite3_column_int64(st, 0) == 0)
			snprintf(name, sizeof name, "triage");
		else
			snprintf(name, sizeof name, "agent-%lld",
			    (long long)sqlite3_column_int64(st, 0));
		json_array_append_new(arr,
		    json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:I}", "agent",
		        name, "input", (json_int_t)sqlite3_column_int64(st, 1),
		        "output", (json_int_t)sqlite3_column_int64(st, 2),
		        "cache_creation",
		        (json_int_t)sqlite3_column_int64(st, 3), "cache_read",
		        (json_int_t)sqlite3_column_int64(st, 4), "usd",
		        sqlite3_column_double(st, 5), "total",
		        (json_int_t)sqlite3_column_int64(st, 6)));
	}
	sqlite3_reset(st);
	return arr;
}

/* Models used since UTC midnight that [prices] does not price. */
static json_t *
unpriced_today(void)
{
	static const char sql[] = "SELECT DISTINCT model FROM usage "
	                          "WHERE ts >= ? AND model IS NOT NULL";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t now = now_wall_ms();
	json_t *arr = json_array();
	const char *model;

	sqlite3_bind_int64(st, 1, now - now % 86400000);
	while (store_step(st) == SQLITE_ROW) {
		model = (const char *)sqlite3_column_text(st, 0);
		if (model != NULL && price_of(model) == NULL)
			json_array_append_new(arr, json_string(model));
	}
	sqlite3_reset(st);
	return arr;
}

json_t *
quota_json(void)
{
	struct quota_view v[4];
	int n = meter_views(v), i;
	json_t *windows = json_array();

	json_t *unpriced = unpriced_today(), *w;

	for (i = 0; i < n; i++) {
		w = json_pack("{s:s, s:f, s:f, s:f, s:f}", "name", v[i].name,
		    "limit", v[i].limit, "used", v[i].used, "percent",
		    100 * v[i].used / v[i].limit, "refill_seconds",
		    v[i].refill_s > 0 ? v[i].refill_s : 0);
		/* Spend on a model without a price is unknown, not $0. */
		if (strcmp(v[i].name, "daily_usd") == 0 &&
		    json_array_size(unpriced) > 0)
			json_object_set(w, "not_enforced_for", unpriced);
		json_array_append_new(windows, w);
	}
	return json_pack("{s:o, s:o, s:{s:s, s:s*, s:f, s:f}, s:O, s:s*, s:o}",
	    "unpriced_models", unpriced, "windows", windows, "spawn", "state",
	    m.paused ? "paused" : "open", "reason", m.paused ? m.reason : NULL,
	    "pause_at", srv.cfg.pause_at, "resume_at", srv.cfg.resume_at,
	    "subscription", m.subscription, "proxy", m.proxy_listen, "top",
	    top_agents());
}

/* An agent's spend is unknown while any of its models has no price. */
static void
agent_unpriced(int64_t agent, json_t *o)
{
	static const char sql[] = "SELECT DISTINCT model FROM usage "
	                          "WHERE agent = ? AND model IS NOT NULL";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();
	const char *model;

	sqlite3_bind_int64(st, 1, agent);
	while (store_step(st) == SQLITE_ROW) {
		model = (const char *)sqlite3_column_text(st, 0);
		if (model != NULL && price_of(model) == NULL)
			json_array_append_new(arr, json_string(model));
	}
	sqlite3_reset(st);
	if (json_array_size(arr) > 0) {
		json_object_set_new(o, "usd", json_null());
		json_object_set_new(o, "unpriced_models", arr);
	} else
		json_decref(arr);
}

/* An agent's usage by class, from the store (it may have ended). */
json_t *
quota_agent_json(int64_t agent)
{
	static const char sql[] =
	    "SELECT coalesce(sum(input), 0), coalesce(sum(output), 0), "
	    "coalesce(sum(cache_creation), 0), coalesce(sum(cache_read), 0), "
	    "coalesce(sum(usd), 0), count(*) FROM usage WHERE agent = ?";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *o;

	sqlite3_bind_int64(st, 1, agent);
	store_step(st);
	o = json_pack("{s:I, s:I, s:I, s:I, s:f, s:I}", "input",
	    (json_int_t)sqlite3_column_int64(st, 0), "output",
	    (json_int_t)sqlite3_column_int64(st, 1), "cache_creation",
	    (json_int_t)sqlite3_column_int64(st, 2), "cache_read",
	    (json_int_t)sqlite3_column_int64(st, 3), "usd",
	    sqlite3_column_double(st, 4), "records",
	    (json_int_t)sqlite3_column_int64(st, 5));
	sqlite3_reset(st);
	agent_unpriced(agent, o);
	return o;
}

/* An agent's tokens per minute over the last ten minutes, newest last. */
json_t *
quota_per_minute_json(int64_t agent)
{
	static const char sql[] = "SELECT (?1 - ts) / 60000 AS m, "
	                          "sum(input + output + cache_creation), "
	                          "sum(cache_read) FROM usage WHERE agent = ?2 "
	                          "AND ts > ?1 - 600000 GROUP BY m "
	                          "ORDER BY m DESC";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *per = json_array();

	sqlite3_bind_int64(st, 1, now_wall_ms());
	sqlite3_bind_int64(st, 2, agent);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(per,
		    json_pack("{s:I, s:I, s:I}", "minutes_ago",
		        (json_int_t)sqlite3_column_int64(st, 0), "tokens",
		        (json_int_t)sqlite3_column_int64(st, 1), "cache_read",
		        (json_int_t)sqlite3_column_int64(st, 2)));
	sqlite3_reset(st);
	return per;
}

/* ---- cost: what the records cost, for swarmctl cost ---- */

#define COST_SELECT \
	"SELECT agent, job, chunk, model, sum(input), sum(output), " \
	"sum(cache_creation), sum(cache_read), sum(usd) FROM usage "

/*
 * The records of agent AGENT (0: every agent's) from wall ms SINCE on,
 * summed by agent and model: one call of CB each.  A model without a
 * price counts as unknown (priced 0), not as $0.  One agent's records
 * come by usage_by_message, every agent's since a time by usage_by_ts;
 * only every agent's ever is a scan, as it must be.
 */
void
quota_cost_each(int64_t agent, int64_t since, quota_cost_cb cb, void *arg)
{
	static const char one[] = COST_SELECT "WHERE agent = ?1 AND ts >= ?2 "
	                                      "GROUP BY model";
	/* Left to itself, SQLite walks usage_by_message for the order. */
	static const char all[] = COST_SELECT "INDEXED BY usage_by_ts "
	                                      "WHERE ts >= ?2 "
	                                      "GROUP BY agent, model";
	/* A scan in rowid order and a sort: in agent order through the
	 * index, each record was a seek (bench/cost.sh: 3.2 s, now 1.4 s). */
	static const char ever[] = COST_SELECT "NOT INDEXED "
	                                       "GROUP BY agent, model";
	sqlite3_stmt *st;
	struct quota_cost c;

	st = store_prepare(agent != 0 ? one : since > 0 ? all : ever);
	if (agent != 0)
		sqlite3_bind_int64(st, 1, agent);
	if (agent != 0 || since > 0)
		sqlite3_bind_int64(st, 2, since);
	while (store_step(st) == SQLITE_ROW) {
		c.agent = sqlite3_column_int64(st, 0);
		c.job = sqlite3_column_int64(st, 1);
		c.chunk = (const char *)sqlite3_column_text(st, 2);
		c.model = (const char *)sqlite3_column_text(st, 3);
		c.use = (struct usage){ sqlite3_column_int64(st, 4),
			sqlite3_column_int64(st, 5),
			sqlite3_column_int64(st, 6),
			sqlite3_column_int64(st, 7) };
		c.usd = sqlite3_column_double(st, 8);
		/* As agent_unpriced(): no model named is no unknown price. */
		c.priced = c.model == NULL || price_of(c.model) != NULL;
		cb(arg, &c);
	}
	sqlite3_reset(st);
}

void
quota_init(void)
{
	struct timeval tv = { 1, 0 };

	m.subscription = json_object();
	meter_load();
	m.after = event_new(srv.base, -1, 0, on_after, NULL);
	m.tick = event_new(srv.base, -1, EV_PERSIST, on_tick, NULL);
	evtimer_add(m.tick, &tv);
	gate_evaluate();
}

/* SIGHUP: limits may have moved; the views keep their history. */
void
quota_reload(void)
{
	if (m.bucket > (double)srv.cfg.tokens_per_minute)
		m.bucket = (double)srv.cfg.tokens_per_minute;
	gate_evaluate();
}

void
quota_free(void)
{
	if (m.tick != NULL)
		event_free(m.tick);
	if (m.after != NULL)
		event_free(m.after);
	json_decref(m.subscription);
	free(m.proxy_listen);
	free(m.ring);
	spend_free();
	memset(&m, 0, sizeof m);
}

/* What the meter had counted for the agent, so nothing counts twice. */
void
quota_usage_restore(struct agent *a)
{
	static const char sql[] =
	    "SELECT source IN ('stream', 'result'), sum(input), sum(output), "
	    "sum(cache_creation), sum(cache_read) FROM usage WHERE agent = ? "
	    "GROUP BY 1";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_int64(st, 1, a->id);
	while (store_step(st) == SQLITE_ROW) {
		struct usage u = { sqlite3_column_int64(st, 1),
			sqlite3_column_int64(st, 2),
			sqlite3_column_int64(st, 3),
			sqlite3_column_int64(st, 4) };

		if (sqlite3_column_int(st, 0))
			a->stream_use = u;
		a->use.input += u.input;
		a->use.output += u.output;
		a->use.cache_creation += u.cache_creation;
		a->use.cache_read += u.cache_read;
	}
	sqlite3_reset(st);
}

/* ---- retention (prune.c) ---- */

/*
 * AGENT's usage rows: up to LIMIT deleted, or all counted with DRY; only
 * those older than what meter_load() reads back at a start (the window,
 * or since UTC midnight), so a prune never lowers what the quota counts.
 */
int64_t
quota_prune_agent(int64_t agent, int64_t limit, int dry)
{
	static const char del[] = "DELETE FROM usage WHERE seq IN "
	                          "(SELECT seq FROM usage WHERE agent = ?1 "
	                          "AND ts <= ?3 LIMIT ?2)";
	static const char cnt[] = "SELECT count(*) FROM usage "
	                          "WHERE agent = ?1 AND ts <= ?3";
	int64_t now = now_wall_ms(),
	        since = now - (int64_t)(srv.cfg.window * 1000),
	        midnight = now - now % 86400000, n = 0;
	sqlite3_stmt *st = store_prepare(dry ? cnt : del);

	sqlite3_bind_int64(st, 1, agent);
	sqlite3_bind_int64(st, 3, since < midnight ? since : midnight);
	if (!dry)
		sqlite3_bind_int64(st, 2, limit);
	if (store_step(st) == SQLITE_ROW && dry)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return dry ? n : sqlite3_changes(store.db);
}
