/*
 * cmd-top.c: swarmctl top, a full-screen live view of the swarm.
 *
 * One snapshot at start (jobs, ps, quota, and each shown job's cost),
 * then one events --follow stream that updates the view as each event
 * arrives: agents start, beat, turn suspect and end, chunks move, jobs
 * end.  Only what no event carries is asked for again on a timer: the
 * quota windows and the tokens and cost (TOP_SNAP_MS); a lost stream is
 * a new snapshot when swarmd answers again.  Drawn with plain ANSI
 * escapes on the alternate screen, every line cut to the terminal's
 * width and never wrapped; the terminal is in raw mode until swarmctl
 * ends, however it ends.  --once prints one frame, without escapes.
 */
#include <sys/ioctl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "swarm-protocol.h"
#include "util.h"
#include "client.h"
#include "cmd.h"
#include "format.h"

#define TOP_TICK_MS 1000  /* a redraw at least this often: ages move */
#define TOP_SNAP_MS 10000 /* quota windows, tokens and cost again */
#define TOP_EVENTS 50     /* kept for the bottom of the screen */
#define TOP_COST_JOBS 8   /* jobs whose cost is asked for */
#define TOP_BAR 20        /* a quota window's bar */
#define JOB_BAR 14        /* a job's: 80 columns hold its line */

enum top_sort { SORT_AGE, SORT_TOKENS, SORT_SEEN };
static const char *sort_names[] = { "age", "tokens", "seen" };

struct top {
	struct cmd_ctx *ctx;   /* requests */
	struct cmd_ctx follow; /* the events stream */
	int following;
	enum top_sort sort;
	int rows, cols;
	json_t *quota;  /* the last quota answer */
	json_t *jobs;   /* "job-N": the jobs answer's object, kept current */
	json_t *agents; /* "agent-N": ps's object, plus note and tokens */
	json_t *chunks; /* "job-N/CHUNK": its state, as events told */
	json_t *events; /* the last TOP_EVENTS lines */
	int64_t snapped;
	char status[128];
};

/* An object in a sorted list (qsort wants a size it can see). */
struct ref {
	json_t *o;
};

static volatile sig_atomic_t top_quit, top_winch;
static struct termios top_saved;
static int top_raw;

/* ---- the terminal ---- */

static void
term_restore(void)
{
	static const char leave[] = "\033[?25h\033[?1049l";

	if (!top_raw)
		return;
	top_raw = 0;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &top_saved);
	if (write(STDOUT_FILENO, leave, sizeof leave - 1) == -1)
		return; /* nothing left to tell it with */
}

static void
on_signal(int sig)
{
	if (sig == SIGWINCH)
		top_winch = 1;
	else
		top_quit = 1;
}

/* Raw input, the alternate screen, no cursor; undone by term_restore. */
static int
term_raw(void)
{
	struct termios t;
	struct sigaction sa;

	if (tcgetattr(STDIN_FILENO, &top_saved) == -1)
		return -1;
	t = top_saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == -1)
		return -1;
	top_raw = 1;
	atexit(term_restore);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: poll wakes */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	fputs("\033[?1049h\033[?25l", stdout);
	return 0;
}

/*
 * The terminal's size; for a frame (--once) LINES and COLUMNS first, as
 * a script sets them; else 80x24.  Live, the terminal's own, which
 * follows a resize.
 */
static void
term_size(struct top *t, int once)
{
	struct winsize ws;
	long long n;
	int got = 0;

	t->rows = 24;
	t->cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		t->rows = ws.ws_row;
		t->cols = ws.ws_col;
		got = 1;
	}
	if (got && !once)
		return;
	if (getenv("LINES") != NULL &&
	    parse_int(getenv("LINES"), 1, 10000, &n) == 0)
		t->rows = (int)n;
	if (getenv("COLUMNS") != NULL &&
	    parse_int(getenv("COLUMNS"), 1, 10000, &n) == 0)
		t->cols = (int)n;
}

/* ---- the model: what the snapshot said, moved on by events ---- */

static int64_t
ts_ms(json_t *v)
{
	int64_t ms;

	if (!json_is_string(v) || format_parse_ts(json_string_value(v), &ms))
		return 0;
	return ms;
}

static json_int_t
member_int(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* The jobs answer: the newest first, the running ones before them. */
static void
model_jobs(struct top *t, json_t *jobs)
{
	json_t *j;
	size_t i;

	json_object_clear(t->jobs);
	json_array_foreach(jobs, i, j) {
		if (format_member(j, "job") != NULL)
			json_object_set(t->jobs, format_member(j, "job"), j);
	}
	json_object_clear(t->chunks);
}

static void
model_agents(struct top *t, json_t *agents)
{
	json_t *a, *old;
	size_t i;

	json_array_foreach(agents, i, a) {
		const char *id = format_member(a, "agent");

		if (id == NULL)
			continue;
		/* What no ps row says: the last note, the tokens. */
		if ((old = json_object_get(t->agents, id)) != NULL) {
			json_object_set(
			    a, "note", json_object_get(old, "note"));
			json_object_set(
			    a, "tokens", json_object_get(old, "tokens"));
		}
		json_object_set(t->agents, id, a);
	}
}

/* Counted tokens, as the quota windows count them: no cache reads. */
static json_int_t
cost_tokens(json_t *c)
{
	return member_int(c, "input") + member_int(c, "output") +
	    member_int(c, "cache_creation");
}

/* A job's cost, by agent: its totals and its live agents' tokens. */
static void
model_cost(struct top *t, json_t *job, json_t *cost)
{
	json_t *r, *a, *total = json_object_get(cost, "total");
	size_t i;

	json_object_set_new(job, "tokens", json_integer(cost_tokens(total)));
	json_object_set(job, "usd", json_object_get(total, "usd"));
	json_array_foreach(json_object_get(cost, "rows"), i, r) {
		if ((a = json_object_get(
		         t->agents, format_member(r, "agent"))) != NULL)
			json_object_set_new(
			    a, "tokens", json_integer(cost_tokens(r)));
	}
}

/* COUNTS[STATE] += D, never below 0. */
static void
count_add(json_t *job, const char *state, int d)
{
	json_t *c = json_object_get(job, "counts");
	json_int_t n = member_int(c, state) + d;

	if (c == NULL)
		json_object_set_new(job, "counts", c = json_object());
	json_object_set_new(c, state, json_integer(n > 0 ? n : 0));
}

/*
 * A chunk moved to NEXT.  Where from: what an earlier event said, else
 * FROM, the one state the event's move starts from.
 */
static void
chunk_to(struct top *t, json_t *ev, const char *from, const char *next)
{
	const char *jname = format_member(ev, "job");
	const char *chunk = format_member(ev, "chunk_id");
	json_t *job = jname != NULL ? json_object_get(t->jobs, jname) : NULL;
	char *key;

	if (job == NULL || chunk == NULL)
		return;
	key = xasprintf("%s/%s", jname, chunk);
	if (json_is_string(json_object_get(t->chunks, key)))
		from = json_string_value(json_object_get(t->chunks, key));
	if (strcmp(from, next) != 0) {
		count_add(job, from, -1);
		count_add(job, next, 1);
	}
	json_object_set_new(t->chunks, key, json_string(next));
	free(key);
}

static json_t *
agent_of_event(struct top *t, json_t *ev, int add)
{
	const char *id = format_member(ev, "agent");
	json_t *a;

	if (id == NULL)
		return NULL;
	if ((a = json_object_get(t->agents, id)) != NULL || !add)
		return a;
	a = json_pack("{s:s, s:O, s:O, s:O, s:s, s:O, s:O}", "agent", id, "job",
	    json_object_get(ev, "job"), "chunk",
	    json_object_get(ev, "chunk_id"), "attempt",
	    json_object_get(ev, "attempt"), "state", "starting", "started",
	    json_object_get(ev, "ts"), "last_seen", json_object_get(ev, "ts"));
	json_object_set_new(t->agents, id, a);
	return a;
}

static void
event_agent(struct top *t, const char *name, json_t *ev)
{
	json_t *a;

	if (strcmp(name, "subagent_dispatched") == 0 ||
	    strcmp(name, "subagent_started") == 0) {
		a = agent_of_event(t, ev, 1);
		if (strcmp(name, "subagent_started") == 0)
			json_object_set_new(a, "state", json_string("running"));
	} else if (strcmp(name, "heartbeat") == 0 &&
	    (a = agent_of_event(t, ev, 0)) != NULL) {
		json_object_set(a, "last_seen", json_object_get(ev, "ts"));
		json_object_set(a, "note", json_object_get(ev, "note"));
	} else if (strcmp(name, "watchdog_suspect") == 0 &&
	    (a = agent_of_event(t, ev, 0)) != NULL)
		json_object_set_new(a, "state", json_string("suspect"));
	else if (strcmp(name, "watchdog_cleared") == 0 &&
	    (a = agent_of_event(t, ev, 0)) != NULL)
		json_object_set_new(a, "state", json_string("running"));
	else if ((strcmp(name, "subagent_completed") == 0 ||
	             strcmp(name, "subagent_exited") == 0 ||
	             strcmp(name, "spawn_failed") == 0) &&
	    format_member(ev, "agent") != NULL)
		json_object_del(t->agents, format_member(ev, "agent"));
}

static void
event_chunk(struct top *t, const char *name, json_t *ev)
{
	if (strcmp(name, "subagent_dispatched") == 0)
		chunk_to(t, ev, "queued", "running");
	else if (strcmp(name, "subagent_completed") == 0)
		chunk_to(t, ev, "running",
		    !json_is_true(json_object_get(ev, "success"))   ? "failed" :
		        json_is_true(json_object_get(ev, "gating")) ? "gating" :
		                                                      "done");
	else if (strcmp(name, "retry_scheduled") == 0)
		chunk_to(t, ev, "failed", "queued");
	else if (strcmp(name, "dead_lettered") == 0)
		chunk_to(t, ev, "failed", "dead");
}

static void
event_job(struct top *t, const char *name, json_t *ev)
{
	const char *id = format_member(ev, "job");
	json_t *job = id != NULL ? json_object_get(t->jobs, id) : NULL;

	if (strcmp(name, "job_submitted") == 0 && id != NULL && job == NULL)
		json_object_set_new(t->jobs, id,
		    json_pack("{s:s, s:O, s:s, s:b, s:O, s:{s:O}}", "job", id,
		        "name", json_object_get(ev, "name"), "state", "running",
		        "paused", 0, "total", json_object_get(ev, "chunks"),
		        "counts", "queued", json_object_get(ev, "chunks")));
	if (job == NULL)
		return;
	if (strcmp(name, "job_done") == 0)
		json_object_set_new(job, "state", json_string("done"));
	else if (strcmp(name, "job_aborted") == 0)
		json_object_set_new(job, "state", json_string("aborted"));
	else if (strcmp(name, "job_paused") == 0)
		json_object_set_new(job, "paused", json_true());
	else if (strcmp(name, "job_resumed") == 0)
		json_object_set_new(job, "paused", json_false());
}

/* "12:00:05 heartbeat job-1/c0 agent-3 call 2/3: 200" */
static void
event_line(struct top *t, const char *name, json_t *ev)
{
	static const char *extra[] = { "note", "reason", "class" };
	const char *ts = format_member(ev, "ts"), *job, *chunk, *agent, *x;
	char *line;
	size_t i;

	job = format_member(ev, "job");
	chunk = format_member(ev, "chunk_id");
	agent = format_member(ev, "agent");
	for (x = "", i = 0; i < nitems(extra) && *x == '\0'; i++)
		if (format_member(ev, extra[i]) != NULL)
			x = format_member(ev, extra[i]);
	line = xasprintf("%.8s %s%s%s%s%s%s%s%s",
	    ts != NULL && strlen(ts) > 11 ? ts + 11 : "-", name,
	    job != NULL ? " " : "", job != NULL ? job : "",
	    chunk != NULL ? "/" : "", chunk != NULL ? chunk : "",
	    agent != NULL ? " " : "", agent != NULL ? agent : "",
	    json_is_false(json_object_get(ev, "success")) ? " failed" : "");
	if (*x != '\0') {
		char *l = xasprintf("%s: %s", line, x);

		free(line);
		line = l;
	}
	json_array_append_new(t->events, json_string(line));
	free(line);
	while (json_array_size(t->events) > TOP_EVENTS)
		json_array_remove(t->events, 0);
}

static void
model_event(struct top *t, json_t *ev)
{
	const char *name = format_member(ev, "event");

	if (name == NULL)
		return;
	event_job(t, name, ev);
	event_chunk(t, name, ev);
	event_agent(t, name, ev);
	event_line(t, name, ev);
}

/* ---- talking to swarmd ---- */

static int
top_call(struct top *t, const char *verb, json_t *args, json_t **resp)
{
	int rc = client_call(t->ctx, verb, args, resp);

	if (rc != 0) {
		client_close(t->ctx->client);
		t->ctx->client = NULL;
	}
	return rc;
}

static struct ref *jobs_sorted(struct top *, size_t *);

/* The tokens and cost of the jobs shown first: running, then newest. */
static int
snap_cost(struct top *t)
{
	struct ref *v;
	json_t *resp;
	size_t i, n;
	int rc = 0;

	v = jobs_sorted(t, &n);
	for (i = 0; i < n && i < TOP_COST_JOBS && rc == 0; i++) {
		rc = top_call(t, "cost",
		    json_pack("{s:s, s:s}", "job", format_member(v[i].o, "job"),
		        "by", "agent"),
		    &resp);
		if (rc == 0) {
			model_cost(t, v[i].o, resp);
			json_decref(resp);
		}
	}
	free(v);
	return rc;
}

/*
 * The quota windows, tokens and cost: what no event carries.  The jobs'
 * counts too, for the moves no event names a state for (a gate passed,
 * a merge landed, an operator's retry, a job's abort).
 */
static int
snap_timed(struct top *t)
{
	json_t *resp;
	int rc;

	if ((rc = top_call(t, "jobs", json_object(), &resp)) != 0)
		return rc;
	model_jobs(t, json_object_get(resp, "jobs"));
	json_decref(resp);
	if ((rc = top_call(t, "quota", json_object(), &resp)) != 0)
		return rc;
	json_decref(t->quota);
	t->quota = resp;
	t->snapped = now_wall_ms();
	return snap_cost(t);
}

/* Everything, from the start: at start and after a lost stream. */
static int
snap_all(struct top *t)
{
	json_t *resp;
	int rc;

	if ((rc = top_call(t, "ps", json_object(), &resp)) != 0)
		return rc;
	json_object_clear(t->agents);
	model_agents(t, json_object_get(resp, "agents"));
	json_decref(resp);
	return snap_timed(t);
}

/*
 * The last events, for the bottom of the screen, and the seq of the
 * newest into *LAST: asked before the snapshot, so that following from
 * there misses nothing the snapshot does not hold.
 */
static int
snap_page(struct top *t, json_t **page, json_int_t *last)
{
	json_t *resp, *ev;
	size_t i;
	int rc;

	rc = client_call(&t->follow, "events",
	    json_pack("{s:i}", "limit", TOP_EVENTS), &resp);
	if (rc != 0)
		return rc;
	*page = json_incref(json_object_get(resp, "events"));
	*last = 0;
	json_array_foreach(*page, i, ev)
		*last = json_integer_value(json_object_get(ev, "seq"));
	json_decref(resp);
	return 0;
}

/* The page's lines, and the notes ps does not carry. */
static void
show_page(struct top *t, json_t *page)
{
	const char *name;
	json_t *ev;
	size_t i;

	json_array_clear(t->events);
	json_array_foreach(page, i, ev) {
		if ((name = format_member(ev, "event")) == NULL)
			continue;
		if (strcmp(name, "heartbeat") == 0)
			event_agent(t, name, ev);
		event_line(t, name, ev);
	}
}

/*
 * Every event after seq LAST into the view, a page at a time, then each
 * new one as it comes: swarmd follows once a page reaches the newest.
 */
static int
snap_follow(struct top *t, json_int_t last)
{
	json_t *resp, *ev;
	size_t i;
	int rc, following = 0;

	while (!following) {
		rc = client_call(&t->follow, "events",
		    json_pack("{s:I, s:b}", "after", last, "follow", 1), &resp);
		if (rc != 0)
			return rc;
		json_array_foreach(json_object_get(resp, "events"), i, ev) {
			model_event(t, ev);
			last = json_integer_value(json_object_get(ev, "seq"));
		}
		following = json_is_true(json_object_get(resp, "following"));
		json_decref(resp);
	}
	t->following = 1;
	return 0;
}

/* The page, the snapshot, and with FOLLOW the stream from the page on. */
static int
snap_start(struct top *t, int follow)
{
	json_t *page = NULL;
	json_int_t last;
	int rc;

	if ((rc = snap_page(t, &page, &last)) == 0 && (rc = snap_all(t)) == 0) {
		show_page(t, page);
		if (follow)
			rc = snap_follow(t, last);
	}
	json_decref(page);
	return rc;
}

/* ---- drawing ---- */

/* One line of the frame at row *ROW, cut to the width, never wrapped. */
static void out_line(struct top *t, int *row, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
out_line(struct top *t, int *row, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL, *clean;
	int n, cols = 0;
	size_t i;

	if (*row >= t->rows)
		return;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	clean = format_clean(s);
	free(s);
	/* Cut at the width in characters, not bytes: UTF-8 notes. */
	for (i = 0; clean[i] != '\0'; i++) {
		if (((unsigned char)clean[i] & 0xc0) != 0x80 &&
		    cols++ == t->cols)
			break;
	}
	clean[i] = '\0';
	fputs(clean, stdout);
	fputs(t->following ? "\033[K\n" : "\n", stdout);
	free(clean);
	(*row)++;
}

static void
bar(char *buf, int width, const int *parts, const char *marks, int nparts,
    int total)
{
	int i, k, n, at = 0;

	for (i = 0; i < nparts && total > 0; i++) {
		n = (int)((long long)parts[i] * width / total);
		for (k = 0; k < n && at < width; k++)
			buf[at++] = marks[i];
	}
	/* Rounding down leaves a gap: the last nonzero part fills it. */
	for (i = nparts - 1; i >= 0 && at < width && total > 0; i--) {
		if (parts[i] > 0) {
			while (at < width)
				buf[at++] = marks[i];
		}
	}
	while (at < width)
		buf[at++] = ' ';
	buf[at] = '\0';
}

/* Why spawning is paused, or NULL. */
static const char *
spawn_reason(json_t *q)
{
	return format_member(json_object_get(q, "spawn"), "reason");
}

static void
draw_header(struct top *t, int *row)
{
	json_t *q = t->quota, *w, *pq, *v;
	char b[TOP_BAR + 1], refill[FORMAT_AGE_LEN], tm[TS_LEN];
	json_int_t queued = 0, flight = 0;
	const char *name;
	size_t i;
	int used;

	json_object_foreach(pq = json_object_get(q, "proxy_queues"), name, v) {
		queued += member_int(v, "queued");
		flight += member_int(v, "in_flight");
	}
	ts_format(now_wall_ms(), tm);
	out_line(t, row,
	    "swarmd top %.8s%s%s  spawn %s  proxy %lld queued, %lld in flight"
	    "  sort %s",
	    tm + 11, *t->status != '\0' ? "  " : "", t->status,
	    format_member(json_object_get(q, "spawn"), "state"),
	    (long long)queued, (long long)flight, sort_names[t->sort]);
	if (spawn_reason(q) != NULL)
		out_line(t, row, "spawn paused: %s", spawn_reason(q));
	json_array_foreach(json_object_get(q, "windows"), i, w) {
		double pct = json_number_value(json_object_get(w, "percent"));

		used = pct > 100 ? TOP_BAR :
		    pct < 0      ? 0 :
		                   (int)(pct * TOP_BAR / 100);
		memset(b, '#', (size_t)used);
		memset(b + used, '.', (size_t)(TOP_BAR - used));
		b[TOP_BAR] = '\0';
		out_line(t, row, "%-17s [%s] %5.1f%%  refill %s",
		    format_member(w, "name"), b, pct,
		    format_age((int64_t)(1000 *
		                   json_number_value(
		                       json_object_get(w, "refill_seconds"))),
		        refill));
	}
	if (json_array_size(json_object_get(q, "windows")) == 0)
		out_line(t, row, "no quota windows configured");
}

static void
draw_job(struct top *t, int *row, json_t *j)
{
	static const char marks[] = "=>.x";
	json_t *c = json_object_get(j, "counts");
	int parts[4], total = (int)member_int(j, "total");
	char b[JOB_BAR + 1], usd[32];
	const char *state = format_member(j, "state");

	parts[0] = (int)(member_int(c, "done") + member_int(c, "merged"));
	parts[1] = (int)(member_int(c, "running") + member_int(c, "gating") +
	    member_int(c, "merging"));
	parts[2] = (int)member_int(c, "queued");
	parts[3] = (int)(member_int(c, "dead") + member_int(c, "failed") +
	    member_int(c, "aborted"));
	bar(b, JOB_BAR, parts, marks, 4, total);
	if (json_is_number(json_object_get(j, "usd")))
		snprintf(usd, sizeof usd, "$%.2f",
		    json_number_value(json_object_get(j, "usd")));
	else
		snprintf(usd, sizeof usd,
		    json_object_get(j, "usd") != NULL ? "$?" : "-");
	out_line(t, row,
	    "%-6s %-8.8s %-7.7s [%s] %4d/%-4d %3d %3d %3d %8lld %7s",
	    format_member(j, "job"), format_member(j, "name"),
	    json_is_true(json_object_get(j, "paused")) &&
	            strcmp(state, "running") == 0 ?
	        "paused" :
	        state,
	    b, parts[0], total, parts[1], parts[2], parts[3],
	    (long long)member_int(j, "tokens"), usd);
}

static long long
id_of(json_t *o, const char *key)
{
	const char *s = format_member(o, key), *dash;

	return s != NULL && (dash = strrchr(s, '-')) != NULL ?
	    strtoll(dash + 1, NULL, 10) :
	    0;
}

static int
job_order(const void *a, const void *b)
{
	json_t *x = ((const struct ref *)a)->o, *y = ((const struct ref *)b)->o;
	int rx = strcmp(format_member(x, "state"), "running") == 0;
	int ry = strcmp(format_member(y, "state"), "running") == 0;
	long long ix = id_of(x, "job"), iy = id_of(y, "job");

	if (rx != ry)
		return ry - rx;
	return ix < iy ? 1 : ix > iy ? -1 : 0;
}

/* The jobs as shown: running first, then the newest; caller frees. */
static struct ref *
jobs_sorted(struct top *t, size_t *n)
{
	struct ref *v = xcalloc(json_object_size(t->jobs) + 1, sizeof *v);
	const char *key;
	json_t *j;

	*n = 0;
	json_object_foreach(t->jobs, key, j) {
		if (format_member(j, "state") != NULL)
			v[(*n)++].o = j;
	}
	qsort(v, *n, sizeof *v, job_order);
	return v;
}

static void
draw_jobs(struct top *t, int *row, int max)
{
	struct ref *v;
	size_t i, n;

	out_line(t, row, "%-6s %-8s %-7s %-*s %9s %3s %3s %3s %8s %7s", "JOB",
	    "NAME", "STATE", JOB_BAR + 2, "PROGRESS", "DONE", "RUN", "QUE",
	    "BAD", "TOKENS", "USD");
	v = jobs_sorted(t, &n);
	for (i = 0; i < n && (int)i < max; i++)
		draw_job(t, row, v[i].o);
	free(v);
}

static enum top_sort agent_sort_key; /* qsort has no argument */

static int
agent_order(const void *a, const void *b)
{
	json_t *x = ((const struct ref *)a)->o, *y = ((const struct ref *)b)->o;
	long long kx, ky;

	switch (agent_sort_key) {
	case SORT_TOKENS: /* the most first */
		kx = -member_int(x, "tokens");
		ky = -member_int(y, "tokens");
		break;
	case SORT_SEEN: /* the longest silent first */
		kx = ts_ms(json_object_get(x, "last_seen"));
		ky = ts_ms(json_object_get(y, "last_seen"));
		break;
	default: /* the oldest first */
		kx = ts_ms(json_object_get(x, "started"));
		ky = ts_ms(json_object_get(y, "started"));
		break;
	}
	if (kx == ky) {
		kx = id_of(x, "agent");
		ky = id_of(y, "agent");
	}
	return kx < ky ? -1 : kx > ky ? 1 : 0;
}

static void
draw_agents(struct top *t, int *row, int max)
{
	char age[FORMAT_AGE_LEN], seen[FORMAT_AGE_LEN], *chunk;
	struct ref *v;
	const char *key;
	json_t *a;
	size_t i, n = 0;
	int64_t now = now_wall_ms();

	out_line(t, row, "%-10s %-18s %-3s %-8s %6s %6s %9s %s", "AGENT",
	    "CHUNK", "TRY", "STATE", "AGE", "SEEN", "TOKENS", "NOTE");
	v = xcalloc(json_object_size(t->agents) + 1, sizeof *v);
	json_object_foreach(t->agents, key, a)
		v[n++].o = a;
	agent_sort_key = t->sort;
	qsort(v, n, sizeof *v, agent_order);
	for (i = 0; i < n && (int)i < max; i++) {
		a = v[i].o;
		chunk = xasprintf("%s/%s", format_member(a, "job"),
		    format_member(a, "chunk"));
		out_line(t, row, "%-10s %-18.18s %3lld %-8s %6s %6s %9lld %s",
		    format_member(a, "agent"), chunk,
		    (long long)member_int(a, "attempt"),
		    format_member(a, "state"),
		    format_age(now - ts_ms(json_object_get(a, "started")), age),
		    format_age(
		        now - ts_ms(json_object_get(a, "last_seen")), seen),
		    (long long)member_int(a, "tokens"),
		    format_member(a, "note") != NULL ?
		        format_member(a, "note") :
		        "");
		free(chunk);
	}
	if (n > i)
		out_line(t, row, "  ... %zu more", n - i);
	free(v);
}

static void
draw_events(struct top *t, int *row, int max)
{
	size_t n = json_array_size(t->events), i;

	out_line(t, row, "EVENTS");
	for (i = n > (size_t)max ? n - (size_t)max : 0; i < n; i++)
		out_line(t, row, "%s",
		    json_string_value(json_array_get(t->events, i)));
}

/*
 * One frame: the header, the jobs, the agents, the last events at the
 * bottom.  The agents take what the others leave.
 */
static void
draw(struct top *t)
{
	int row = 0, njobs = (int)json_object_size(t->jobs), nev, nag;
	int head =
	    1 + (int)json_array_size(json_object_get(t->quota, "windows"));

	if (head == 1)
		head = 2;
	head += spawn_reason(t->quota) != NULL;
	if (njobs > 6)
		njobs = 6;
	nev = t->rows >= 20 ? 5 : t->rows >= 12 ? 2 : 0;
	nag = t->rows - head - (1 + njobs) - (nev > 0 ? 1 + nev : 0) - 1;
	if (nag < 1)
		nag = 1;
	if (t->following)
		fputs("[H", stdout);
	draw_header(t, &row);
	draw_jobs(t, &row, njobs);
	draw_agents(t, &row, nag);
	if (nev > 0) {
		/* The events sit at the bottom of the screen. */
		while (row < t->rows - 1 - nev)
			out_line(t, &row, "%s", "");
		draw_events(t, &row, nev);
	}
	while (row < t->rows) /* a frame is the whole screen */
		out_line(t, &row, "%s", "");
	if (t->following)
		fputs("[J", stdout);
	format_flush();
}

/* ---- the loop ---- */

/* Keys: q quits; a, t and l sort the agents by age, tokens, last seen. */
static void
on_keys(struct top *t)
{
	char buf[64];
	ssize_t n, i;

	while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == 'q' || buf[i] == 'Q')
				top_quit = 1;
			else if (buf[i] == 'a')
				t->sort = SORT_AGE;
			else if (buf[i] == 't')
				t->sort = SORT_TOKENS;
			else if (buf[i] == 'l')
				t->sort = SORT_SEEN;
		}
	}
}

/* Each line the stream holds now; -1 when it ended. */
static int
on_stream(struct top *t)
{
	json_t *line;

	while (client_wait(&t->follow, 0, 0) == CLIENT_READY) {
		if (client_next(&t->follow, &line) != 0)
			return -1;
		if (json_is_object(json_object_get(line, "event")))
			model_event(t, json_object_get(line, "event"));
		json_decref(line);
	}
	return 0;
}

static void
top_disconnect(struct top *t)
{
	client_close(t->follow.client);
	t->follow.client = NULL;
	client_close(t->ctx->client);
	t->ctx->client = NULL;
	snprintf(t->status, sizeof t->status, "swarmd unreachable, retrying");
}

/* A fresh snapshot and stream: at start, and after either was lost. */
static int
top_connect(struct top *t)
{
	int rc;

	if ((rc = snap_start(t, 1)) != 0) {
		top_disconnect(t);
		return rc;
	}
	t->status[0] = '\0';
	return 0;
}

static int
top_live(struct top *t)
{
	struct pollfd pfd[2];
	int64_t now, last_try = now_wall_ms();

	t->following = 1;
	draw(t);
	while (!top_quit) {
		pfd[0] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
		pfd[1] = (struct pollfd){ t->follow.client != NULL ?
			    client_fd(t->follow.client) :
			    -1,
			POLLIN, 0 };
		if (poll(pfd, 2, TOP_TICK_MS) > 0) {
			if (pfd[0].revents & POLLIN)
				on_keys(t);
			if ((pfd[1].revents & (POLLIN | POLLHUP)) &&
			    on_stream(t) == -1)
				top_disconnect(t);
		}
		if (top_winch) {
			top_winch = 0;
			term_size(t, 0);
		}
		now = now_wall_ms();
		if (t->follow.client == NULL && now - last_try >= TOP_TICK_MS) {
			last_try = now;
			top_connect(t);
		} else if (t->follow.client != NULL &&
		    now - t->snapped >= TOP_SNAP_MS && snap_timed(t) != 0)
			top_disconnect(t);
		t->following = 1;
		draw(t);
	}
	return SWARM_EXIT_OK;
}

/* The live view, in raw mode; swarmd's absence is said in the header,
 * so client errors go nowhere until the terminal is given back. */
static int
top_screen(struct top *t)
{
	int rc, err, null;

	if (term_raw() == -1) {
		fprintf(stderr, "swarmctl: top: %s\n", strerror(errno));
		return SWARM_EXIT_ERROR;
	}
	err = dup(STDERR_FILENO);
	if ((null = open("/dev/null", O_WRONLY | O_CLOEXEC)) != -1)
		dup2(null, STDERR_FILENO);
	rc = top_live(t);
	term_restore();
	if (err != -1) {
		dup2(err, STDERR_FILENO);
		close(err);
	}
	if (null != -1)
		close(null);
	return rc;
}

static void
top_free(struct top *t)
{
	client_close(t->follow.client);
	json_decref(t->quota);
	json_decref(t->jobs);
	json_decref(t->agents);
	json_decref(t->chunks);
	json_decref(t->events);
}

int
cmd_top(struct cmd_ctx *ctx)
{
	const char *sort = cmd_opt(ctx, "sort");
	struct top t;
	size_t i;
	int rc, once = cmd_opt(ctx, "once") != NULL;

	memset(&t, 0, sizeof t);
	for (i = 0; sort != NULL && i < nitems(sort_names); i++)
		if (strcmp(sort, sort_names[i]) == 0)
			break;
	if (sort != NULL && i == nitems(sort_names))
		return cmd_usage_error(ctx,
		    "bad --sort \"%s\": expected age, tokens or seen", sort);
	t.sort = sort != NULL ? (enum top_sort)i : SORT_AGE;
	if (!once && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr,
		    "swarmctl: top: not a terminal; "
		    "swarmctl top --once prints one frame\n");
		return SWARM_EXIT_USAGE;
	}
	t.ctx = ctx;
	t.follow = *ctx;
	t.follow.client = NULL;
	t.jobs = json_object();
	t.agents = json_object();
	t.chunks = json_object();
	t.events = json_array();
	term_size(&t, once);
	if ((rc = snap_start(&t, !once)) == 0) {
		if (once)
			draw(&t);
		else
			rc = top_screen(&t);
	}
	top_free(&t);
	return rc;
}
