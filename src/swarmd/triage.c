/*
 * triage.c: tier 2, the triage hook.  The hook is a command line, run by
 * /bin/sh -c in a process group of its own.  It reads one JSON document
 * about a suspect agent on stdin and prints one JSON verdict on stdout:
 *
 *   {"state": "working|stalled|zombie|confused|context_exhausted",
 *    "action": "continue|nudge|restart|handoff|kill|escalate",
 *    "message": "...", "reason": "..."}
 *
 * Nothing here blocks the loop: the document is written and the verdict
 * read as the pipes allow, the exit status comes from the scheduler's
 * SIGCHLD reaping (triage_reaped), and a timer bounds the run.  A hook
 * that exits nonzero, times out or prints anything but one valid verdict
 * has failed, and the watchdog escalates.
 *
 * The document's evidence comes from the tables' owners: heartbeats and
 * earlier verdicts from evlog.c, checkpoints from checkpoint.c, the usage
 * trend from quota.c and the task from chunk.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "swarmd.h"

#define VERDICT_MAX (64 * 1024) /* more stdout than this is no verdict */
#define MESSAGE_MAX 4096
#define REASON_MAX 1024
#define STDERR_KEEP 1024 /* the end of the hook's stderr */
#define TAIL_LINES 200

extern char **environ;

struct triage {
	pid_t pid;
	int in, out, err; /* our ends of its pipes; -1 once closed */
	struct event *in_ev, *out_ev, *err_ev, *timer, *done_ev;
	char *doc;
	size_t doclen, docoff;
	char *obuf;
	size_t olen;
	int over; /* stdout overflowed VERDICT_MAX */
	char ebuf[STDERR_KEEP];
	size_t elen;
	int reaped, status, timed_out;
	char failure[256]; /* why it could not run */
	int64_t started;   /* mono ms */
	double timeout;
	char *hook;
	triage_cb cb;
	void *arg;
	LIST_ENTRY(triage) entry;
};
static LIST_HEAD(, triage) triages = LIST_HEAD_INITIALIZER(triages);

/* ---- the verdict ---- */

static const char *verdict_states[] = { "working", "stalled", "zombie",
	"confused", "context_exhausted" };
static const char *verdict_actions[] = { "continue", "nudge", "restart",
	"handoff", "kill", "escalate" };

static int
one_of(const char *s, const char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(s, list[i]) == 0)
			return 1;
	}
	return 0;
}

static int
verdict_check(json_t *j, char *err, size_t errlen)
{
	const char *key, *state, *action, *msg;
	json_t *v;

	if (!json_is_object(j))
		return snprintf(err, errlen, "not a JSON object"), -1;
	json_object_foreach(j, key, v) {
		if (strcmp(key, "state") != 0 && strcmp(key, "action") != 0 &&
		    strcmp(key, "message") != 0 && strcmp(key, "reason") != 0)
			return snprintf(err, errlen, "unknown member \"%.64s\"",
			           key),
			       -1;
		if (!json_is_string(v))
			return snprintf(
			           err, errlen, "\"%s\" must be a string", key),
			       -1;
	}
	state = json_string_value(json_object_get(j, "state"));
	action = json_string_value(json_object_get(j, "action"));
	msg = json_string_value(json_object_get(j, "message"));
	if (state == NULL ||
	    !one_of(state, verdict_states, nitems(verdict_states)))
		return snprintf(err, errlen,
		           "\"state\" must be one of working, stalled, zombie, confused, context_exhausted"),
		       -1;
	if (action == NULL ||
	    !one_of(action, verdict_actions, nitems(verdict_actions)))
		return snprintf(err, errlen,
		           "\"action\" must be one of continue, nudge, restart, handoff, kill, escalate"),
		       -1;
	if (strcmp(action, "nudge") == 0 && (msg == NULL || *msg == '\0'))
		return snprintf(err, errlen, "a nudge needs a \"message\""), -1;
	if (msg != NULL && strlen(msg) > MESSAGE_MAX)
		return snprintf(err, errlen,
		           "\"message\" is longer than %d bytes", MESSAGE_MAX),
		       -1;
	if (json_string_length(json_object_get(j, "reason")) > REASON_MAX)
		return snprintf(err, errlen,
		           "\"reason\" is longer than %d bytes", REASON_MAX),
		       -1;
	return 0;
}

/* One JSON object, nothing else but white space around it. */
int
verdict_parse(
    const char *buf, size_t len, struct verdict *v, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j, *m;

	memset(v, 0, sizeof *v);
	if (len > VERDICT_MAX)
		return snprintf(
		           err, errlen, "longer than %d bytes", VERDICT_MAX),
		       -1;
	if ((j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return snprintf(
		           err, errlen, "not one JSON object: %s", jerr.text),
		       -1;
	if (verdict_check(j, err, errlen) == -1) {
		json_decref(j);
		return -1;
	}
	v->state = xstrdup(json_string_value(json_object_get(j, "state")));
	v->action = xstrdup(json_string_value(json_object_get(j, "action")));
	if ((m = json_object_get(j, "message")) != NULL)
		v->message = xstrdup(json_string_value(m));
	if ((m = json_object_get(j, "reason")) != NULL)
		v->reason = xstrdup(json_string_value(m));
	json_decref(j);
	return 0;
}

void
verdict_free(struct verdict *v)
{
	free(v->state);
	free(v->action);
	free(v->message);
	free(v->reason);
	memset(v, 0, sizeof *v);
}

json_t *
verdict_json(const struct verdict *v)
{
	return json_pack("{s:s, s:s, s:s*, s:s*}", "state", v->state, "action",
	    v->action, "message", v->message, "reason", v->reason);
}

/* ---- the document ---- */

/* Tokens per minute over the last ten minutes, newest last. */
static json_t *
usage_trend(struct agent *a)
{
	json_t *per = quota_per_minute_json(a->id);

	return json_pack("{s:{s:I, s:I, s:I, s:I}, s:o}", "total", "input",
	    (json_int_t)a->use.input, "output", (json_int_t)a->use.output,
	    "cache_creation", (json_int_t)a->use.cache_creation, "cache_read",
	    (json_int_t)a->use.cache_read, "per_minute", per);
}

/* What the hook reads: the agent, what tier 1 saw, and the evidence. */
json_t *
triage_document(struct agent *a, json_t *tier1)
{
	char name[32], job[32];

	snprintf(name, sizeof name, "agent-%lld", (long long)a->id);
	snprintf(job, sizeof job, "job-%lld", (long long)a->job);
	return json_pack(
	    "{s:i, s:{s:s, s:s, s:s, s:i, s:f, s:i, s:s, s:s*, s:s*, s:o}, s:O, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "version", 1, "agent", "id", name, "job", job, "chunk", a->chunk,
	    "attempt", a->attempt, "age",
	    (double)(now_wall_ms() - a->started) / 1000, "pid", (int)a->pid,
	    "state", agent_state_name(a->state), "model", a->model, "log",
	    a->log, "last_seen", json_ts(a->last_seen), "tier1", tier1, "task",
	    chunk_task_json(a->job, a->chunk), "output",
	    log_tail(a->log, TAIL_LINES), "heartbeats",
	    evlog_heartbeats_json(a->id), "checkpoints",
	    checkpoint_recent_json(a->job, a->chunk), "usage", usage_trend(a),
	    "verdicts", evlog_verdicts_json(a->job, a->chunk));
}

/* ---- running the hook ---- */

static void triage_finish(struct triage *);

static void
fd_close(int *fd, struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

static void
triage_maybe_done(struct triage *t)
{
	if (t->out == -1 && t->reaped)
		triage_finish(t);
}

static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct triage *t = arg;
	ssize_t n;

	(void)what;
	while (t->docoff < t->doclen) {
		n = write(fd, t->doc + t->docoff, t->doclen - t->docoff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			break; /* EPIPE: it stopped reading; fine */
		t->docoff += (size_t)n;
	}
	fd_close(&t->in, &t->in_ev);
}

static void
on_stdout(evutil_socket_t fd, short what, void *arg)
{
	struct triage *t = arg;
	char buf[8192];
	ssize_t n;

	(void)what;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		if (t->olen + (size_t)n > VERDICT_MAX) {
			t->over = 1;
			continue;
		}
		t->obuf = xrealloc(t->obuf, t->olen + (size_t)n);
		memcpy(t->obuf + t->olen, buf, (size_t)n);
		t->olen += (size_t)n;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	fd_close(&t->out, &t->out_ev);
	triage_maybe_done(t);
}

/* Keep the end of stderr: that is where a traceback says what failed. */
static void
on_stderr(evutil_socket_t fd, short what, void *arg)
{
	struct triage *t = arg;
	char buf[4096];
	size_t keep;
	ssize_t n;

	(void)what;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		if ((size_t)n >= sizeof t->ebuf) {
			memcpy(
			    t->ebuf, buf + n - sizeof t->ebuf, sizeof t->ebuf);
			t->elen = sizeof t->ebuf;
			continue;
		}
		if (t->elen + (size_t)n > sizeof t->ebuf) {
			keep = sizeof t->ebuf - (size_t)n;
			memmove(t->ebuf, t->ebuf + t->elen - keep, keep);
			t->elen = keep;
		}
		memcpy(t->ebuf + t->elen, buf, (size_t)n);
		t->elen += (size_t)n;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	fd_close(&t->err, &t->err_ev);
}

/*
 * The whole group, while it may still exist: the hook unreaped, or
 * something it started still holding its stdout.
 */
static void
triage_kill(struct triage *t)
{
	if (t->pid > 0 && (!t->reaped || t->out != -1))
		kill(-t->pid, SIGKILL);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct triage *t = arg;

	(void)fd;
	(void)what;
	t->timed_out = 1;
	triage_kill(t);
	triage_finish(t);
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	triage_finish(arg);
}

/* The daemon's environment less SWARM_*, plus the socket to ask on. */
static char **
hook_env(void)
{
	size_t n = 0;
	char **env, **e;

	char *url = proxy_hook_url();

	for (e = environ; *e != NULL; e++)
		n++;
	env = xcalloc(n + 3, sizeof *env);
	for (n = 0, e = environ; *e != NULL; e++) {
		if (strncmp(*e, "SWARM_", 6) != 0 &&
		    strncmp(*e, "NOTIFY_SOCKET=", 14) != 0 &&
		    (url == NULL ||
		        strncmp(*e, "ANTHROPIC_BASE_URL=", 19) != 0))
			env[n++] = xstrdup(*e);
	}
	env[n++] = xasprintf(SWARM_ENV_SOCKET "=%s", srv.cfg.socket);
	/* With the proxy on, a model-asking hook goes through it. */
	if (url != NULL)
		env[n++] = xasprintf("ANTHROPIC_BASE_URL=%s", url);
	env[n] = NULL;
	free(url);
	return env;
}

static void
strv_free(char **v)
{
	char **p;

	for (p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

/* posix_spawn /bin/sh -c HOOK with pipes on 0, 1 and 2. */
static int
hook_spawn(struct triage *t, int pin[2], int pout[2], int perr[2])
{
	char *argv[] = { "sh", "-c", t->hook, NULL }, **env = hook_env();
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int rc;

	proc_spawn_attr(&attr);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	rc = posix_spawn(&t->pid, "/bin/sh", &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	strv_free(env);
	if (rc != 0)
		snprintf(t->failure, sizeof t->failure,
		    "cannot run /bin/sh: %s", strerror(rc));
	return rc == 0 ? 0 : -1;
}

static int
pipe_ours(int p[2], int ours)
{
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	return fcntl(p[ours], F_SETFL, O_NONBLOCK);
}

static void
triage_watch(struct triage *t)
{
	struct timeval tv;

	t->in_ev =
	    event_new(srv.base, t->in, EV_WRITE | EV_PERSIST, on_stdin, t);
	t->out_ev =
	    event_new(srv.base, t->out, EV_READ | EV_PERSIST, on_stdout, t);
	t->err_ev =
	    event_new(srv.base, t->err, EV_READ | EV_PERSIST, on_stderr, t);
	event_add(t->in_ev, NULL);
	event_add(t->out_ev, NULL);
	event_add(t->err_ev, NULL);
	if (t->timeout > 0) {
		t->timer = evtimer_new(srv.base, on_timer, t);
		tv.tv_sec = (time_t)t->timeout;
		tv.tv_usec =
		    (suseconds_t)((t->timeout - (double)tv.tv_sec) * 1e6);
		evtimer_add(t->timer, &tv);
	}
}

/*
 * Start HOOK with DOC (taken) on its stdin.  CB is called once, later,
 * from the loop: never from here, even when the hook cannot start.
 */
struct triage *
triage_start(
    const char *hook, json_t *doc, double timeout, triage_cb cb, void *arg)
{
	struct triage *t = xcalloc(1, sizeof *t);
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	char *text = json_dumps(doc, JSON_COMPACT);

	json_decref(doc);
	t->doc = xasprintf("%s\n", text != NULL ? text : "{}");
	free(text);
	t->doclen = strlen(t->doc);
	t->hook = xstrdup(hook);
	t->timeout = timeout;
	t->cb = cb;
	t->arg = arg;
	t->started = now_mono_ms();
	t->in = t->out = t->err = -1;
	t->done_ev = event_new(srv.base, -1, 0, on_done, t);
	LIST_INSERT_HEAD(&triages, t, entry);
	if (pipe_ours(pin, 1) == -1 || pipe_ours(pout, 0) == -1 ||
	    pipe_ours(perr, 0) == -1)
		snprintf(
		    t->failure, sizeof t->failure, "pipe: %s", strerror(errno));
	else if (hook_spawn(t, pin, pout, perr) == 0) {
		t->in = pin[1];
		t->out = pout[0];
		t->err = perr[0];
		pin[1] = pout[0] = perr[0] = -1;
		triage_watch(t);
	}
	for (int i = 0; i < 2; i++) {
		if (pin[i] != -1)
			close(pin[i]);
		if (pout[i] != -1)
			close(pout[i]);
		if (perr[i] != -1)
			close(perr[i]);
	}
	if (*t->failure != '\0')
		event_active(t->done_ev, EV_TIMEOUT, 0);
	return t;
}

static void
triage_release(struct triage *t)
{
	LIST_REMOVE(t, entry);
	fd_close(&t->in, &t->in_ev);
	fd_close(&t->out, &t->out_ev);
	fd_close(&t->err, &t->err_ev);
	if (t->timer != NULL)
		event_free(t->timer);
	event_free(t->done_ev);
	free(t->doc);
	free(t->obuf);
	free(t->hook);
	free(t);
}

/* Why the run is no verdict, or "" when its stdout should be one. */
static void
triage_outcome(struct triage *t, char *why, size_t len)
{
	*why = '\0';
	if (*t->failure != '\0')
		snprintf(why, len, "%s", t->failure);
	else if (t->timed_out)
		snprintf(why, len, "timeout after %g s", t->timeout);
	else if (WIFSIGNALED(t->status))
		snprintf(why, len, "killed by signal %d", WTERMSIG(t->status));
	else if (WEXITSTATUS(t->status) != 0)
		snprintf(why, len, "exit status %d", WEXITSTATUS(t->status));
	else if (t->over)
		snprintf(why, len, "invalid verdict: longer than %d bytes",
		    VERDICT_MAX);
}

static void
triage_finish(struct triage *t)
{
	struct verdict v;
	char why[512], err[256];
	json_t *info;
	triage_cb cb;
	void *arg;

	triage_outcome(t, why, sizeof why);
	if (*why == '\0' &&
	    verdict_parse(
	        t->olen > 0 ? t->obuf : "", t->olen, &v, err, sizeof err) == -1)
		snprintf(why, sizeof why, "invalid verdict: %s", err);
	info = json_pack("{s:s, s:I}", "hook", t->hook, "duration_ms",
	    (json_int_t)(now_mono_ms() - t->started));
	if (t->elen > 0)
		json_object_set_new(
		    info, "stderr", log_json_text(t->ebuf, t->elen));
	if (*why != '\0' && t->olen > 0)
		json_object_set_new(info, "stdout",
		    log_json_text(t->obuf, t->olen > 512 ? 512 : t->olen));
	cb = t->cb;
	arg = t->arg;
	triage_release(t);
	if (*why != '\0')
		cb(arg, NULL, why, info);
	else {
		cb(arg, &v, NULL, info);
		verdict_free(&v);
	}
}

/* From the scheduler's reaping: 1 if PID was a hook. */
int
triage_reaped(pid_t pid, int status)
{
	struct triage *t;

	LIST_FOREACH(t, &triages, entry) {
		if (t->pid == pid && !t->reaped) {
			t->reaped = 1;
			t->status = status;
			triage_maybe_done(t);
			return 1;
		}
	}
	return 0;
}

/* Forget a run: its hook is killed, its callback never called. */
void
triage_cancel(struct triage *t)
{
	triage_kill(t);
	triage_release(t);
}

void
triage_free_all(void)
{
	struct triage *t, *next;

	LIST_FOREACH_SAFE(t, &triages, entry, next) {
		triage_cancel(t);
	}
}
