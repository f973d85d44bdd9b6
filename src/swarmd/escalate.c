/*
 * escalate.c: tier 3, the human.  An escalation is a row of the
 * escalations table, which this file owns, with what happened, what
 * tier 1 saw, what was tried and the triage verdict.  Opening one is an
 * "escalated" event, which the journal gets at PRIORITY=1 with the
 * SWARM_ fields, and a JSON POST to escalation_webhook (Slack-compatible:
 * a "text" member) through libcurl's multi interface driven by the event
 * loop, retried with backoff.  Open escalations notify again every
 * `renotify` until a person resolves them (verb-watch.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "swarmd.h"

#define WEBHOOK_TRIES 6     /* 1 + 5 retries: 1, 2, 4, 8, 16 s apart */
#define WEBHOOK_TIMEOUT 10L /* seconds for one POST */

#define ESC_COLUMNS \
	"id, ts, job, chunk, agent, attempt, state, summary, " \
	"evidence, tried, verdict, status, notified, notifications, " \
	"resolved, action, note, outcome"

struct post {
	int64_t esc;
	int attempt;
	char *body;
	CURL *easy;
	struct curl_slist *headers;
	struct event *retry_ev;
	LIST_ENTRY(post) entry;
};
static LIST_HEAD(, post) posts = LIST_HEAD_INITIALIZER(posts);

static struct event *renotify_ev;

/* ---- records ---- */

int
escalate_parse_id(const char *s, int64_t *id)
{
	long long n;

	if (s == NULL || strncmp(s, "esc-", 4) != 0 ||
	    parse_int(s + 4, 1, INT64_MAX, &n) == -1)
		return -1;
	*id = n;
	return 0;
}

static json_t *
col_json(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	json_t *j = text != NULL ? json_loads(text, 0, NULL) : NULL;

	return j != NULL ? j : json_null();
}

static json_t *
col_name(sqlite3_stmt *st, int col, const char *prefix)
{
	char buf[48];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	snprintf(buf, sizeof buf, "%s%lld", prefix,
	    (long long)sqlite3_column_int64(st, col));
	return json_string(buf);
}

/* One row of ESC_COLUMNS as the protocol's ESCALATION object. */
static json_t *
escalation_json(sqlite3_stmt *st)
{
	return json_pack(
	    "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "escalation", col_name(st, 0, "esc-"), "ts", store_col_ts(st, 1),
	    "job", col_name(st, 2, "job-"), "chunk", store_col_text(st, 3),
	    "agent", col_name(st, 4, "agent-"), "attempt", store_col_int(st, 5),
	    "state", store_col_text(st, 6), "summary", store_col_text(st, 7),
	    "evidence", col_json(st, 8), "tried", col_json(st, 9), "verdict",
	    col_json(st, 10), "status", store_col_text(st, 11), "notified",
	    store_col_ts(st, 12), "notifications", store_col_int(st, 13),
	    "resolved", store_col_ts(st, 14), "action", store_col_text(st, 15),
	    "note", store_col_text(st, 16), "outcome", store_col_text(st, 17));
}

json_t *
escalate_get(int64_t id)
{
	static const char sql[] = "SELECT " ESC_COLUMNS " FROM escalations "
	                          "WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *e = NULL;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW)
		e = escalation_json(st);
	sqlite3_reset(st);
	return e;
}

json_t *
escalate_list(int all)
{
	static const char sql[] = "SELECT " ESC_COLUMNS " FROM escalations "
	                          "WHERE ? OR status = 'open' ORDER BY id";
	sqlite3_stmt *st = store_prepare(sql);
	json_t *arr = json_array();

	sqlite3_bind_int(st, 1, all);
	while (store_step(st) == SQLITE_ROW)
		json_array_append_new(arr, escalation_json(st));
	sqlite3_reset(st);
	return arr;
}

/* The open escalation about AGENT, or 0. */
int64_t
escalate_open_for(int64_t agent)
{
	static const char sql[] = "SELECT max(id) FROM escalations "
	                          "WHERE agent = ? AND status = 'open'";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t id = 0;

	sqlite3_bind_int64(st, 1, agent);
	if (store_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

/* ---- the webhook ---- */

static void post_start(struct post *);
static void renotify_arm(void);

static void
post_free(struct post *p)
{
	LIST_REMOVE(p, entry);
	if (p->easy != NULL) {
		curlev_remove(p->easy);
		curl_easy_cleanup(p->easy);
	}
	curl_slist_free_all(p->headers);
	if (p->retry_ev != NULL)
		event_free(p->retry_ev);
	free(p->body);
	free(p);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	if (*srv.cfg.escalation_webhook == '\0')
		post_free(arg); /* unset by a reload */
	else
		post_start(arg);
}

/* An event about escalation ID, with its job, chunk, agent and attempt. */
static void
esc_event(int64_t id, const char *name, json_t *extra)
{
	static const char sql[] = "SELECT job, chunk, agent, attempt FROM "
	                          "escalations WHERE id = ?";
	sqlite3_stmt *st = store_prepare(sql);
	char *chunk = NULL;
	int64_t job = 0, agent = 0;
	int attempt = 0;

	sqlite3_bind_int64(st, 1, id);
	if (store_step(st) == SQLITE_ROW) {
		job = sqlite3_column_int64(st, 0);
		if (sqlite3_column_text(st, 1) != NULL)
			chunk =
			    xstrdup((const char *)sqlite3_column_text(st, 1));
		agent = sqlite3_column_int64(st, 2);
		attempt = sqlite3_column_int(st, 3);
	}
	sqlite3_reset(st);
	store_begin();
	evlog_add(name, job, chunk, agent, attempt, extra);
	store_commit();
	free(chunk);
}

/* A POST ended: an event either way; a retry after a backoff if it failed. */
static void
post_done(void *easy, int code, void *arg)
{
	struct post *p = arg;
	CURLcode rc = (CURLcode)code;
	long status = 0;
	int ok;
	struct timeval tv = { 0, 0 };
	json_t *ev;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	ok = rc == CURLE_OK && status >= 200 && status < 300;

	/* "try": an event's "attempt" is the agent's. */
	ev = json_pack("{s:o, s:s, s:i, s:b}", "escalation",
	    json_sprintf("esc-%lld", (long long)p->esc), "channel", "webhook",
	    "try", p->attempt, "ok", ok);
	if (status > 0)
		json_object_set_new(ev, "status", json_integer(status));
	if (rc != CURLE_OK)
		json_object_set_new(
		    ev, "error", json_string(curl_easy_strerror(rc)));
	esc_event(p->esc, "escalation_notified", ev);
	curl_easy_cleanup(p->easy);
	p->easy = NULL;
	if (ok || p->attempt >= WEBHOOK_TRIES) {
		if (!ok)
			log_warnx(
			    "esc-%lld: webhook failed %d times; giving up until the next renotify",
			    (long long)p->esc, p->attempt);
		post_free(p);
		return;
	}
	tv.tv_sec = 1L << (p->attempt - 1);
	if (p->retry_ev == NULL)
		p->retry_ev = evtimer_new(srv.base, on_retry, p);
	evtimer_add(p->retry_ev, &tv);
}

static size_t
discard(char *ptr, size_t size, size_t n, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * n;
}

static void
post_start(struct post *p)
{
	p->attempt++;
	p->easy = curl_easy_init();
	if (p->headers == NULL)
		p->headers =
		    curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(p->easy, CURLOPT_URL, srv.cfg.escalation_webhook);
	curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(p->easy, CURLOPT_POSTFIELDS, p->body);
	curl_easy_setopt(p->easy, CURLOPT_TIMEOUT, WEBHOOK_TIMEOUT);
	curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(p->easy, CURLOPT_USERAGENT, "swarmd/" SWARM_VERSION);
	curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, discard);
	curlev_add(p->easy, post_done, p);
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

/* What was tried, in a few words for the text. */
static void
tried_text(FILE *f, json_t *tried)
{
	json_t *t, *v;
	size_t i;

	json_array_foreach(tried, i, t) {
		v = json_object_get(t, "verdict");
		if (json_is_object(v))
			fprintf(f, " Triage said %s: %s.", str(v, "action"),
			    json_is_string(json_object_get(v, "reason")) ?
			        str(v, "reason") :
			        str(v, "state"));
		else if (json_is_string(json_object_get(t, "failure")))
			fprintf(f, " The triage hook failed: %s.",
			    str(t, "failure"));
		else if (json_is_string(json_object_get(t, "note")))
			fprintf(f, " %s.", str(t, "note"));
	}
}

/* The document: "text" for Slack and people, "escalation" for programs. */
static char *
webhook_body(json_t *e, int again)
{
	char *text = NULL, *body;
	json_t *doc;
	size_t len;
	FILE *f;

	if ((f = open_memstream(&text, &len)) == NULL)
		return NULL;
	fprintf(f, "swarmd: %s%s: %s (%s/%s, attempt %lld) %s: %s.",
	    again ? "still open: " : "", str(e, "escalation"), str(e, "agent"),
	    str(e, "job"), str(e, "chunk"),
	    (long long)json_integer_value(json_object_get(e, "attempt")),
	    str(e, "state"), str(e, "summary"));
	tried_text(f, json_object_get(e, "tried"));
	/* The account's agent has ended: only the chunk's retry is left. */
	if (strcmp(str(e, "state"), "account") == 0)
		fprintf(f,
		    " Fix the account, then: swarmctl retry %s/%s; swarmctl "
		    "resolve %s --action continue",
		    str(e, "job"), str(e, "chunk"), str(e, "escalation"));
	else
		fprintf(f,
		    " Resolve: swarmctl resolve %s --action "
		    "restart|kill|continue",
		    str(e, "escalation"));
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	doc = json_pack("{s:s, s:O}", "text", text, "escalation", e);
	body = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	free(text);
	return body;
}

static void
notify(int64_t id, int again)
{
	struct post *p;
	json_t *e;

	if (*srv.cfg.escalation_webhook == '\0' ||
	    (e = escalate_get(id)) == NULL)
		return;
	p = xcalloc(1, sizeof *p);
	p->esc = id;
	p->body = webhook_body(e, again);
	json_decref(e);
	LIST_INSERT_HEAD(&posts, p, entry);
	if (p->body == NULL) {
		post_free(p);
		return;
	}
	post_start(p);
}

/* ---- opening, closing, renotifying ---- */

static int64_t opened; /* since start, for the metrics */

/* Escalations opened since start, and open now (escalations_open). */
void
escalate_counts(int64_t *opened_since_start, int64_t *open_now)
{
	static const char sql[] = "SELECT count(*) FROM escalations "
	                          "WHERE status = 'open'";
	sqlite3_stmt *st = store_prepare(sql);

	*opened_since_start = opened;
	*open_now =
	    store_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
}

/*
 * Open an escalation about agent A (EVIDENCE, TRIED and VERDICT taken;
 * VERDICT may be NULL), and notify.  Returns its id.
 */
int64_t
escalate_open(struct agent *a, const char *state, const char *summary,
    json_t *evidence, json_t *tried, json_t *verdict)
{
	static const char sql[] =
	    "INSERT INTO escalations (ts, job, chunk, "
	    "agent, attempt, state, summary, evidence, "
	    "tried, verdict, status, notified, notifications) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'open', ?1, 1)";
	sqlite3_stmt *st = store_prepare(sql);
	char *ev = json_dumps(evidence, JSON_COMPACT);
	char *tr = json_dumps(tried, JSON_COMPACT);
	char *vd = verdict != NULL ? json_dumps(verdict, JSON_COMPACT) : NULL;
	int64_t id;

	store_begin();
	sqlite3_bind_int64(st, 1, now_wall_ms());
	sqlite3_bind_int64(st, 2, a->job);
	store_bind_text(st, 3, a->chunk);
	sqlite3_bind_int64(st, 4, a->id);
	sqlite3_bind_int(st, 5, a->attempt);
	store_bind_text(st, 6, state);
	store_bind_text(st, 7, summary);
	store_bind_text(st, 8, ev);
	store_bind_text(st, 9, tr);
	store_bind_text(st, 10, vd);
	store_step(st);
	id = store_last_id();
	opened++;
	evlog_add("escalated", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:o, s:s, s:s, s:o, s:o, s:o}", "escalation",
	        json_sprintf("esc-%lld", (long long)id), "state", state,
	        "summary", summary, "evidence", evidence, "tried", tried,
	        "verdict", verdict != NULL ? verdict : json_null()));
	store_commit();
	free(ev);
	free(tr);
	free(vd);
	notify(id, 0);
	renotify_arm();
	return id;
}

/* Close an open escalation.  -1 when it is not open. */
int
escalate_close(
    int64_t id, const char *action, const char *note, const char *outcome)
{
	static const char sql[] =
	    "UPDATE escalations SET status = 'resolved', "
	    "resolved = ?, action = ?, note = ?, "
	    "outcome = ? WHERE id = ? AND status = 'open' RETURNING job, chunk, agent, attempt";
	sqlite3_stmt *st = store_prepare(sql);
	int found;

	store_begin();
	sqlite3_bind_int64(st, 1, now_wall_ms());
	store_bind_text(st, 2, action);
	store_bind_text(st, 3, note);
	store_bind_text(st, 4, outcome);
	sqlite3_bind_int64(st, 5, id);
	if ((found = store_step(st) == SQLITE_ROW))
		evlog_add("escalation_resolved", sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3),
		    json_pack("{s:o, s:s, s:s*, s:s*}", "escalation",
		        json_sprintf("esc-%lld", (long long)id), "action",
		        action, "note", note, "outcome", outcome));
	sqlite3_reset(st);
	store_commit();
	renotify_arm();
	return found ? 0 : -1;
}

static void
on_renotify(evutil_socket_t fd, short what, void *arg)
{
	static const char due[] =
	    "UPDATE escalations SET notified = ?1, "
	    "notifications = notifications + 1 "
	    "WHERE status = 'open' AND notified <= ?2 RETURNING id, job, chunk, agent, attempt, notifications";
	int64_t now = now_wall_ms(), *ids = NULL;
	size_t n = 0, i;
	sqlite3_stmt *st;

	(void)fd;
	(void)what;
	(void)arg;
	store_begin();
	st = store_prepare(due);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, now - (int64_t)(srv.cfg.renotify * 1000));
	while (store_step(st) == SQLITE_ROW) {
		ids = xrealloc(ids, (n + 1) * sizeof *ids);
		ids[n++] = sqlite3_column_int64(st, 0);
		evlog_add("escalation_renotified", sqlite3_column_int64(st, 1),
		    (const char *)sqlite3_column_text(st, 2),
		    sqlite3_column_int64(st, 3), sqlite3_column_int(st, 4),
		    json_pack("{s:o, s:i}", "escalation",
		        json_sprintf("esc-%lld", (long long)ids[n - 1]),
		        "notifications", sqlite3_column_int(st, 5)));
	}
	sqlite3_reset(st);
	store_commit();
	for (i = 0; i < n; i++)
		notify(ids[i], 1);
	free(ids);
	renotify_arm();
}

/* When the open escalation due first is due (wall ms), or -1: none. */
static int64_t
renotify_due(void)
{
	static const char sql[] = "SELECT min(notified) FROM escalations "
	                          "WHERE status = 'open'";
	sqlite3_stmt *st;
	int64_t due = -1;

	if (srv.cfg.renotify <= 0)
		return -1;
	st = store_prepare(sql);
	if (store_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		due = sqlite3_column_int64(st, 0) +
		    (int64_t)(srv.cfg.renotify * 1000);
	sqlite3_reset(st);
	return due;
}

/* One timer, for the open escalation due first. */
static void
renotify_arm(void)
{
	struct timeval tv;
	int64_t due, delay;

	if (renotify_ev == NULL)
		return;
	evtimer_del(renotify_ev);
	if ((due = renotify_due()) == -1)
		return;
	delay = due - now_wall_ms();
	if (delay < 0)
		delay = 0;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000 * 1000);
	evtimer_add(renotify_ev, &tv);
}

/*
 * The timer's backstop, from the watchdog's tick: a renotification a
 * second overdue was missed by the timer (seen once, under ASan on a
 * loaded machine; the cause is not found yet).  Said, and sent now.
 */
void
escalate_check(void)
{
	int64_t due, late;

	if (renotify_ev == NULL || (due = renotify_due()) == -1 ||
	    (late = now_wall_ms() - due) < 1000)
		return;
	log_warnx("escalations: renotify %lld ms late (timer %s); sent now",
	    (long long)late,
	    evtimer_pending(renotify_ev, NULL) ? "pending" : "not pending");
	on_renotify(-1, 0, NULL);
}

void
escalate_init(void)
{
	if (renotify_ev == NULL)
		renotify_ev = evtimer_new(srv.base, on_renotify, NULL);
	renotify_arm();
}

void
escalate_free(void)
{
	struct post *p, *next;

	LIST_FOREACH_SAFE(p, &posts, entry, next) {
		post_free(p);
	}
	if (renotify_ev != NULL)
		event_free(renotify_ev);
	renotify_ev = NULL;
}

/* ---- retention (prune.c) ---- */

/* JOB's open escalations: a person has yet to answer, so it stays. */
int64_t
escalate_prune_hold(int64_t job)
{
	static const char sql[] = "SELECT count(*) FROM escalations "
	                          "WHERE job = ?1 AND status = 'open'";

	return store_prune(sql, job, 0, 1);
}

/* JOB's escalations: up to LIMIT deleted, or all counted with DRY. */
int64_t
escalate_prune_job(int64_t job, int64_t limit, int dry)
{
	static const char del[] = "DELETE FROM escalations WHERE id IN "
	                          "(SELECT id FROM escalations WHERE job = ?1 "
	                          "LIMIT ?2)";
	static const char cnt[] = "SELECT count(*) FROM escalations "
	                          "WHERE job = ?1";

	return store_prune(dry ? cnt : del, job, limit, dry);
}
