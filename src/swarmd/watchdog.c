/*
 * watchdog.c: tier 1 of the watchdog, always on and cheap, and the hand
 * that carries out what tier 2 (triage.c) or a person (escalate.c)
 * decided.  On every tick each running agent is held to three rules, all
 * from numbers already in memory:
 *
 *   stalled            no heartbeat, output or usage for heartbeat_timeout
 *   zombie             tokens flowing for no_progress_timeout while no
 *                      heartbeat note, checkpoint or result appeared
 *   context_exhausted  its latest message used more than
 *                      context_threshold of its model's context window
 *
 * A rule that fires marks the agent suspect and asks the triage hook, or
 * a person when there is no hook.  A suspect agent that shows life again
 * (or progress, for a zombie) goes back to running.  Hard limits act at
 * once without asking: the job's timeout and token caps (scheduler.c,
 * quota.c), and the rlimits and cgroup limits set here, which the kernel
 * enforces.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

enum phase {
	W_WATCH,     /* running, under the rules */
	W_TRIAGE,    /* suspect, the hook is deciding */
	W_HANDOFF,   /* asked for a checkpoint before a restart */
	W_ESCALATED, /* suspect, waiting for a person */
	W_DONE,      /* being restarted or killed */
};

struct watch {
	enum phase phase;
	char reason[24];     /* what tier 1 saw */
	char summary[256];   /* the same in a sentence */
	json_t *tier1;       /* its evidence */
	json_t *verdict;     /* the latest verdict, or NULL */
	int64_t since;       /* wall ms the phase began */
	int64_t window_from; /* silence counts from here at the earliest */
	int64_t use;         /* tokens at the last tick */
	int64_t last_rise;   /* wall ms usage last rose */
	int64_t rise_from;   /* first rise after the latest progress; 0 */
	int64_t progress_at; /* latest progress mark seen (wall ms) */
	int64_t seen;        /* last_seen at the last look */
	int context_asked;
	struct triage *triage;
	int64_t handoff_seq; /* the chunk's latest checkpoint when asked */
	int64_t deadline;    /* of the handoff, wall ms */
	char *cgroup;        /* the agent's cgroup directory, or NULL */
};

static struct event *tick_ev;
static char *cg_base; /* our delegated cgroup v2, or NULL */
static int cg_tried;

static void watch_escalate(struct agent *, json_t *tried);
static void cgroup_relimit(void);

/* ---- small helpers ---- */

static int64_t
usage_all(const struct agent *a)
{
	return a->use.input + a->use.output + a->use.cache_creation +
	    a->use.cache_read;
}

static int64_t
max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static struct watch *
watch_get(struct agent *a)
{
	struct watch *w = a->wd;

	if (w != NULL)
		return w;
	w = a->wd = xcalloc(1, sizeof *w);
	/* A re-adopted agent gets a fresh window, as does a new one. */
	w->window_from = now_wall_ms();
	w->use = usage_all(a);
	w->seen = a->last_seen;
	return w;
}

static void
watch_phase(struct watch *w, enum phase p)
{
	w->phase = p;
	w->since = now_wall_ms();
}

/* The latest heartbeat note, checkpoint or result of the agent. */
static int64_t
progress_latest(struct agent *a)
{
	static const char sql[] = "SELECT max(ts) FROM events WHERE agent = ? "
	                          "AND event IN ('heartbeat', 'checkpoint', "
	                          "'subagent_completed')";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t ts = 0;

	sqlite3_bind_int64(st, 1, a->id);
	if (store_step(st) == SQLITE_ROW)
		ts = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return ts;
}

static int64_t
checkpoint_latest(struct agent *a)
{
	static const char sql[] = "SELECT max(seq) FROM checkpoints "
	                          "WHERE job = ? AND chunk = ?";
	sqlite3_stmt *st = store_prepare(sql);
	int64_t seq = 0;

	sqlite3_bind_int64(st, 1, a->job);
	store_bind_text(st, 2, a->chunk);
	if (store_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return seq;
}

/* Suspect and clear only where the table has them (agent.c stores it). */
static void
watch_transition(struct agent *a, enum agent_input in)
{
	if (agent_next(a->state, in) != AGENT_INVALID)
		agent_apply(a, in, -1, 0, NULL);
}

int64_t
watchdog_context_window(const char *model)
{
	size_t i, best = 0, len;
	int64_t tokens = srv.cfg.context_window;

	/* An exact name, else the longest listed prefix of it. */
	for (i = 0; model != NULL && i < srv.cfg.nmodels; i++) {
		len = strlen(srv.cfg.models[i].model);
		if (strcmp(srv.cfg.models[i].model, model) == 0)
			return srv.cfg.models[i].tokens;
		if (len > best &&
		    strncmp(srv.cfg.models[i].model, model, len) == 0) {
			best = len;
			tokens = srv.cfg.models[i].tokens;
		}
	}
	return tokens;
}

/* ---- tier 1 ---- */

static void on_verdict(void *, const struct verdict *, const char *, json_t *);

/* Soft anomaly: suspect, then the hook or a person. */
static void watch_suspect(struct agent *a, const char *reason, json_t *evidence,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
watch_suspect(
    struct agent *a, const char *reason, json_t *evidence, const char *fmt, ...)
{
	struct watch *w = a->wd;
	va_list ap;

	snprintf(w->reason, sizeof w->reason, "%s", reason);
	va_start(ap, fmt);
	vsnprintf(w->summary, sizeof w->summary, fmt, ap);
	va_end(ap);
	json_object_set_new(evidence, "reason", json_string(reason));
	json_object_set_new(evidence, "summary", json_string(w->summary));
	json_decref(w->tier1);
	w->tier1 = evidence;
	json_decref(w->verdict);
	w->verdict = NULL;
	store_begin();
	watch_transition(a, AI_SUSPECT);
	evlog_add("watchdog_suspect", a->job, a->chunk, a->id, a->attempt,
	    json_deep_copy(evidence));
	store_commit();
	log_notice("agent-%lld suspect: %s", (long long)a->id, w->summary);
	if (*srv.cfg.triage_hook == '\0') {
		watch_escalate(a, json_array());
		return;
	}
	watch_phase(w, W_TRIAGE);
	store_begin();
	evlog_add("triage_started", a->job, a->chunk, a->id, a->attempt,
	    json_pack(
	        "{s:s, s:s}", "reason", reason, "hook", srv.cfg.triage_hook));
	store_commit();
	w->triage =
	    triage_start(srv.cfg.triage_hook, triage_document(a, evidence),
	        srv.cfg.triage_timeout, on_verdict, (void *)(intptr_t)a->id);
}

/* Back to running with a fresh window: life, a verdict, or a person. */
static void
watch_clear(struct agent *a, const char *why)
{
	struct watch *w = a->wd;
	int64_t esc;

	if (w->triage != NULL) {
		triage_cancel(w->triage);
		w->triage = NULL;
	}
	/* Nobody needs to come: the agent is fine again. */
	if (w->phase == W_ESCALATED && (esc = escalate_open_for(a->id)) != 0)
		escalate_close(esc, "recovered", NULL, why);
	store_begin();
	watch_transition(a, AI_CLEAR);
	evlog_add("watchdog_cleared", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:s, s:s}", "reason", w->reason, "why", why));
	store_commit();
	watch_phase(w, W_WATCH);
	w->window_from = now_wall_ms();
	w->rise_from = 0;
	w->progress_at = max64(w->progress_at, w->window_from);
}

static int64_t
life_latest(struct agent *a)
{
	int64_t t = max64(a->last_seen, a->last_output);

	/* A recv --wait in progress is an agent waiting for its mail. */
	if (!TAILQ_EMPTY(&a->waiters))
		t = now_wall_ms();
	return max64(t, a->started);
}

/* Usage since the last tick; moves the no-progress clock. */
static void
watch_usage(struct agent *a, struct watch *w, int64_t now)
{
	int64_t use = usage_all(a), p;

	if (use == w->use)
		return;
	w->use = use;
	w->last_rise = now;
	if ((p = progress_latest(a)) > w->progress_at) {
		w->progress_at = p;
		w->rise_from = 0;
	} else if (w->rise_from == 0)
		w->rise_from = now;
}

static int
rule_stalled(struct agent *a, struct watch *w, int64_t now)
{
	double hbt = srv.cfg.heartbeat_timeout;
	int64_t life = max64(life_latest(a), w->window_from);
	double silent = (double)(now - life) / 1000;

	if (hbt <= 0 || silent < hbt)
		return 0;
	watch_suspect(a, "stalled",
	    json_pack("{s:I, s:f, s:o, s:o, s:I}", "silent_ms",
	        (json_int_t)(now - life), "heartbeat_timeout", hbt, "last_seen",
	        json_ts(a->last_seen), "last_output", json_ts(a->last_output),
	        "tokens", (json_int_t)w->use),
	    "no heartbeat, output or usage for %.0f s (heartbeat_timeout %.0f s)",
	    silent, hbt);
	return 1;
}

static int
rule_zombie(struct agent *a, struct watch *w, int64_t now)
{
	double npt = srv.cfg.no_progress_timeout;
	int64_t p;
	double flowing;

	if (npt <= 0 || w->rise_from == 0 ||
	    (double)(now - w->last_rise) >= npt * 1000)
		return 0;
	if ((flowing = (double)(now - w->rise_from) / 1000) < npt)
		return 0;
	/* Progress between ticks without usage: look once more. */
	if ((p = progress_latest(a)) > w->progress_at) {
		w->progress_at = p;
		w->rise_from = 0;
		return 0;
	}
	watch_suspect(a, "zombie",
	    json_pack("{s:I, s:f, s:I, s:o, s:o}", "flowing_ms",
	        (json_int_t)(now - w->rise_from), "no_progress_timeout", npt,
	        "tokens", (json_int_t)w->use, "last_progress",
	        json_ts(w->progress_at), "last_usage", json_ts(w->last_rise)),
	    "tokens flowing for %.0f s "
	    "with no heartbeat note, checkpoint or result "
	    "(no_progress_timeout %.0f s)",
	    flowing, npt);
	return 1;
}

static int
rule_context(struct agent *a, struct watch *w)
{
	int64_t window = watchdog_context_window(a->model);
	double share;

	if (w->context_asked || a->last_msg_context <= 0 || window <= 0)
		return 0;
	share = (double)a->last_msg_context / (double)window;
	if (share < srv.cfg.context_threshold)
		return 0;
	w->context_asked = 1;
	watch_suspect(a, "context_exhausted",
	    json_pack("{s:I, s:I, s:f, s:f, s:s*}", "context_tokens",
	        (json_int_t)a->last_msg_context, "context_window",
	        (json_int_t)window, "share", share, "context_threshold",
	        srv.cfg.context_threshold, "model", a->model),
	    "latest message used %lld of %lld context tokens "
	    "(%.0f%%, threshold %.0f%%)",
	    (long long)a->last_msg_context, (long long)window, 100 * share,
	    100 * srv.cfg.context_threshold);
	return 1;
}

static void
restart(struct agent *a, const char *how, enum agent_end end, const char *why)
{
	struct watch *w = a->wd;
	char reason[512];

	snprintf(reason, sizeof reason, "watchdog %s: %s (%s)", how,
	    w->reason[0] != '\0' ? w->reason : "suspect", why);
	watch_phase(w, W_DONE);
	agent_abort_as(a, srv.cfg.abort_grace, reason, end);
}

/* A handoff ends with the checkpoint it asked for, or at its deadline. */
static void
check_handoff(struct agent *a, struct watch *w, int64_t now)
{
	int64_t seq = 0;
	int timed_out = now >= w->deadline;

	if (a->last_seen == w->seen && !timed_out)
		return;
	w->seen = a->last_seen;
	if ((seq = checkpoint_latest(a)) <= w->handoff_seq && !timed_out)
		return;
	store_begin();
	evlog_add(timed_out && seq <= w->handoff_seq ? "handoff_timeout" :
	                                               "handoff_checkpointed",
	    a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:I, s:I}", "checkpoint", (json_int_t)seq, "waited_ms",
	        (json_int_t)(now - w->since)));
	store_commit();
	restart(a, "handoff", END_RESTARTED,
	    seq > w->handoff_seq ? "checkpointed" : "no checkpoint in time");
}

/* A suspect agent that shows life (or, a zombie, progress) recovers. */
static void
check_suspect(struct agent *a, struct watch *w)
{
	int64_t p;

	if (strcmp(w->reason, "stalled") == 0) {
		if (life_latest(a) > w->since)
			watch_clear(a, "showed life again");
	} else if (strcmp(w->reason, "zombie") == 0 &&
	    a->last_seen != w->seen) {
		w->seen = a->last_seen;
		if ((p = progress_latest(a)) > w->since) {
			w->progress_at = p;
			watch_clear(a, "made progress");
		}
	}
}

static void
watch_one(struct agent *a, int64_t now)
{
	struct watch *w;

	if (a->pid <= 0 || agent_is_ending(a) ||
	    (a->state != AGENT_RUNNING && a->state != AGENT_SUSPECT))
		return;
	w = watch_get(a);
	watch_usage(a, w, now);
	switch (w->phase) {
	case W_WATCH:
		if (!rule_stalled(a, w, now) && !rule_zombie(a, w, now))
			rule_context(a, w);
		break;
	case W_TRIAGE:
	case W_ESCALATED:
		check_suspect(a, w);
		break;
	case W_HANDOFF:
		check_handoff(a, w, now);
		break;
	case W_DONE:
		break;
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a, *next;
	int64_t now = now_wall_ms();

	(void)fd;
	(void)what;
	(void)arg;
	if (srv.shutting_down)
		return;
	TAILQ_FOREACH_SAFE(a, &live_agents, entry, next)
		watch_one(a, now);
}

/* ---- carrying out verdicts ---- */

static void
watch_escalate(struct agent *a, json_t *tried)
{
	struct watch *w = a->wd;

	watch_phase(w, W_ESCALATED);
	escalate_open(a, w->reason, w->summary, json_incref(w->tier1), tried,
	    w->verdict != NULL ? json_incref(w->verdict) : NULL);
}

static void
on_verdict(
    void *arg, const struct verdict *v, const char *failure, json_t *info)
{
	struct agent *a = agent_find((int64_t)(intptr_t)arg);
	struct watch *w;
	char why[256];
	int moot;

	if (a == NULL || (w = a->wd) == NULL || w->triage == NULL) {
		json_decref(info);
		return;
	}
	w->triage = NULL;
	if (v != NULL) {
		json_decref(w->verdict);
		w->verdict = verdict_json(v);
		json_object_update(info, w->verdict);
	} else
		json_object_set_new(info, "failure", json_string(failure));
	if ((moot = agent_is_ending(a)))
		json_object_set_new(info, "ignored",
		    json_string("the agent has finished or is being aborted"));
	store_begin();
	evlog_add(v != NULL ? "triage_verdict" : "triage_failed", a->job,
	    a->chunk, a->id, a->attempt, json_deep_copy(info));
	store_commit();
	if (moot || v != NULL)
		json_decref(info);
	if (moot)
		return;
	if (v == NULL) {
		json_object_set_new(info, "tier", json_integer(2));
		watch_escalate(a, json_pack("[o]", info));
		return;
	}
	snprintf(why, sizeof why, "triage: %s",
	    v->reason != NULL ? v->reason : v->state);
	if (strcmp(v->action, "escalate") == 0)
		watch_escalate(a,
		    json_pack(
		        "[{s:i, s:O}]", "tier", 2, "verdict", w->verdict));
	else
		watchdog_act(a, v->action, v->message, why);
}

/*
 * Carry out ACTION on a live agent, for a verdict or a person.  Returns
 * 0, or -1 for an action it does not know.
 */
int
watchdog_act(
    struct agent *a, const char *action, const char *message, const char *why)
{
	struct watch *w = watch_get(a);
	char *text;

	if (strcmp(action, "continue") == 0) {
		if (w->phase != W_WATCH || a->state == AGENT_SUSPECT)
			watch_clear(a, why);
	} else if (strcmp(action, "nudge") == 0) {
		store_begin();
		mailbox_put(a, "swarmd",
		    message != NULL ?
		        message :
		        "swarmd: are you still working? report with swarmctl heartbeat --note");
		store_commit();
		agent_deliver(a);
		watch_clear(a, why);
	} else if (strcmp(action, "restart") == 0)
		restart(a, "restart", END_RESTARTED, why);
	else if (strcmp(action, "kill") == 0)
		restart(a, "kill", END_KILLED, why);
	else if (strcmp(action, "handoff") == 0) {
		w->handoff_seq = checkpoint_latest(a);
		w->seen = a->last_seen;
		watch_phase(w, W_HANDOFF);
		w->deadline =
		    w->since + (int64_t)(srv.cfg.handoff_timeout * 1000);
		text = xasprintf(
		    "checkpoint: %s; save your progress now with swarmctl checkpoint: the chunk restarts from it",
		    message != NULL ? message : "your context is nearly full");
		store_begin();
		mailbox_put(a, "swarmd", text);
		evlog_add("handoff_requested", a->job, a->chunk, a->id,
		    a->attempt,
		    json_pack("{s:I, s:f}", "after_checkpoint",
		        (json_int_t)w->handoff_seq, "timeout",
		        srv.cfg.handoff_timeout));
		store_commit();
		free(text);
		agent_deliver(a);
	} else if (strcmp(action, "escalate") == 0)
		watch_escalate(a, json_array());
	else
		return -1;
	return 0;
}

/* ---- resource limits ---- */

/* "0::/system.slice/swarmd.service" -> that path under the v2 mount. */
static char *
cgroup_own(void)
{
	char line[4096], mnt[PATH_MAX] = "", *p, *path = NULL;
	FILE *f;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return NULL;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, " - cgroup2 ") == NULL)
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1)
			break;
	}
	fclose(f);
	if (*mnt == '\0' || (f = fopen("/proc/self/cgroup", "re")) == NULL)
		return NULL;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		path = xasprintf(
		    "%s%s", mnt, strcmp(line + 3, "/") == 0 ? "" : line + 3);
		break;
	}
	fclose(f);
	/* After a restart we may already sit in our own leaf. */
	if (path != NULL && (p = strrchr(path, '/')) != NULL &&
	    strcmp(p, "/swarmd-daemon") == 0)
		*p = '\0';
	return path;
}

static int
cgroup_write(const char *dir, const char *file, const char *value)
{
	char *path = xasprintf("%s/%s", dir, file);
	int fd, rc = -1, err;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) != -1) {
		if (write(fd, value, strlen(value)) == (ssize_t)strlen(value))
			rc = 0;
		err = errno;
		close(fd);
	} else
		err = errno;
	free(path);
	errno = err; /* for the caller's message */
	return rc;
}

static int
cgroup_has(const char *dir, const char *controller)
{
	char *path = xasprintf("%s/cgroup.controllers", dir), buf[512], *w,
	     *save = NULL;
	int fd, found = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (w = strtok_r(buf, " \n", &save); w != NULL && !found;
	     w = strtok_r(NULL, " \n", &save))
		found = strcmp(w, controller) == 0;
	return found;
}

static const char *
cgroup_check(const char *base)
{
	char *ctl;
	int ok;

	if (base == NULL)
		return "no cgroup v2 hierarchy";
	ctl = xasprintf("%s/cgroup.subtree_control", base);
	ok = access(ctl, W_OK) == 0;
	free(ctl);
	if (!ok)
		return "the cgroup is not delegated to swarmd";
	if ((srv.cfg.cgroup_memory_max > 0 && !cgroup_has(base, "memory")) ||
	    (srv.cfg.cgroup_pids_max > 0 && !cgroup_has(base, "pids")))
		return "the memory or pids controller is not available";
	return NULL;
}

/*
 * Use our cgroup only if it is delegated to us (we may write its
 * subtree_control).  The daemon moves into a leaf of its own first: a
 * cgroup v2 with processes in it cannot enable controllers for children.
 */
static void
cgroup_setup(void)
{
	char *base = cgroup_own(), *leaf, pid[32], ctl[32], msg[128];
	const char *why = cgroup_check(base), *step = NULL;

	cg_tried = 1;
	snprintf(ctl, sizeof ctl, "%s%s%s",
	    srv.cfg.cgroup_memory_max > 0 ? "+memory" : "",
	    srv.cfg.cgroup_memory_max > 0 && srv.cfg.cgroup_pids_max > 0 ? " " :
	                                                                   "",
	    srv.cfg.cgroup_pids_max > 0 ? "+pids" : "");
	if (why == NULL) {
		leaf = xasprintf("%s/swarmd-daemon", base);
		snprintf(pid, sizeof pid, "%d", (int)getpid());
		if (mkdir(leaf, 0755) == -1 && errno != EEXIST)
			step = "create swarmd-daemon";
		else if (cgroup_write(leaf, "cgroup.procs", pid) == -1)
			step = "move into swarmd-daemon";
		else if (cgroup_write(base, "cgroup.subtree_control", ctl) < 0)
			step = "enable the controllers";
		if (step != NULL) {
			/* EBUSY here: a process other than ours is in it. */
			snprintf(msg, sizeof msg, "cannot %s: %s", step,
			    strerror(errno));
			why = msg;
		}
		free(leaf);
	}
	if (why != NULL) {
		log_notice("cgroup limits off: %s%s%s", why,
		    base != NULL ? ": " : "", base != NULL ? base : "");
		free(base);
		return;
	}
	cg_base = base;
	log_info("cgroup limits on: agents in %s/agent-N", cg_base);
	cgroup_relimit();
}

/* The configured limits on an agent's cgroup DIR. */
static void
cgroup_limit(const char *dir, json_t *applied)
{
	char val[32];

	if (srv.cfg.cgroup_memory_max > 0) {
		snprintf(val, sizeof val, "%lld", srv.cfg.cgroup_memory_max);
		if (cgroup_write(dir, "memory.max", val) == 0 &&
		    applied != NULL)
			json_object_set_new(applied, "cgroup_memory_max",
			    json_integer(srv.cfg.cgroup_memory_max));
	}
	if (srv.cfg.cgroup_pids_max > 0) {
		snprintf(val, sizeof val, "%lld", srv.cfg.cgroup_pids_max);
		if (cgroup_write(dir, "pids.max", val) == 0 && applied != NULL)
			json_object_set_new(applied, "cgroup_pids_max",
			    json_integer(srv.cfg.cgroup_pids_max));
	}
}

/*
 * Agents that outlived the last swarmd lost their limits when the unit
 * gave the controllers back (its ExecStopPost): set them again, and
 * remove the cgroups of those that ended meanwhile.
 */
static void
cgroup_relimit(void)
{
	struct dirent *e;
	char *dir;
	DIR *d;

	if ((d = opendir(cg_base)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "agent-", 6) != 0)
			continue;
		dir = xasprintf("%s/%s", cg_base, e->d_name);
		if (rmdir(dir) == -1)
			cgroup_limit(dir, NULL);
		free(dir);
	}
	closedir(d);
}

static void
cgroup_place(struct agent *a, json_t *applied)
{
	char *dir, val[32];

	if (!cg_tried &&
	    (srv.cfg.cgroup_memory_max > 0 || srv.cfg.cgroup_pids_max > 0))
		cgroup_setup();
	if (cg_base == NULL ||
	    (srv.cfg.cgroup_memory_max <= 0 && srv.cfg.cgroup_pids_max <= 0))
		return;
	dir = xasprintf("%s/agent-%lld", cg_base, (long long)a->id);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_warn("agent-%lld: mkdir %s", (long long)a->id, dir);
		free(dir);
		return;
	}
	cgroup_limit(dir, applied);
	snprintf(val, sizeof val, "%d", (int)a->pid);
	if (cgroup_write(dir, "cgroup.procs", val) == -1)
		log_warnx("agent-%lld: cannot move pid %d into %s",
		    (long long)a->id, (int)a->pid, dir);
	watch_get(a)->cgroup = dir;
}

/* An ended agent's cgroup: did a limit bite?  Then remove it. */
static void
cgroup_done(struct agent *a, struct watch *w)
{
	static const char *files[][2] = { { "memory.events", "oom_kill " },
		{ "pids.events", "max " } };
	char *path, line[128];
	long long n;
	size_t i, klen;
	FILE *f;

	for (i = 0; i < nitems(files); i++) {
		klen = strlen(files[i][1]);
		path = xasprintf("%s/%s", w->cgroup, files[i][0]);
		f = fopen(path, "re");
		free(path);
		while (f != NULL && fgets(line, sizeof line, f) != NULL) {
			if (strncmp(line, files[i][1], klen) != 0 ||
			    (n = atoll(line + klen)) <= 0)
				continue;
			evlog_add("resource_limit", a->job, a->chunk, a->id,
			    a->attempt,
			    json_pack("{s:s, s:I}", "limit", files[i][0],
			        "count", (json_int_t)n));
		}
		if (f != NULL)
			fclose(f);
	}
	if (rmdir(w->cgroup) == -1 && errno != ENOENT)
		log_debug("rmdir %s: %s", w->cgroup, strerror(errno));
	free(w->cgroup);
	w->cgroup = NULL;
}

/*
 * Limits for a new agent.  posix_spawn cannot set rlimits, so they are
 * set here with prlimit(2) right after it returns.  That leaves a race:
 * the child has already exec'd and runs for a moment unlimited, and a
 * process it forks in that moment keeps no limit.  The same holds for
 * the cgroup placement.  Good enough for runaway agents; not a sandbox.
 */
void
watchdog_started(struct agent *a)
{
	struct {
		int res;
		const char *name;
		rlim_t v;
	} lim[] = {
		{ RLIMIT_AS, "rlimit_as", (rlim_t)srv.cfg.rlimit_as },
		{ RLIMIT_CPU, "rlimit_cpu", (rlim_t)ceil(srv.cfg.rlimit_cpu) },
		{ RLIMIT_NPROC, "rlimit_nproc", (rlim_t)srv.cfg.rlimit_nproc },
	};
	json_t *applied = json_object();
	struct rlimit rl;
	size_t i;

	for (i = 0; a->pid > 0 && i < nitems(lim); i++) {
		if (lim[i].v == 0)
			continue;
		/* CPU: SIGXCPU at the limit, SIGKILL a second later. */
		rl.rlim_cur = lim[i].v;
		rl.rlim_max = lim[i].v + (lim[i].res == RLIMIT_CPU);
		if (prlimit(a->pid, lim[i].res, &rl, NULL) == -1)
			log_warn("agent-%lld: prlimit %s", (long long)a->id,
			    lim[i].name);
		else
			json_object_set_new(applied, lim[i].name,
			    json_integer((json_int_t)lim[i].v));
	}
	if (a->pid > 0)
		cgroup_place(a, applied);
	if (json_object_size(applied) > 0)
		evlog_add("limits_applied", a->job, a->chunk, a->id, a->attempt,
		    applied);
	else
		json_decref(applied);
}

/* ---- life of the module ---- */

void
watchdog_agent_free(struct agent *a)
{
	struct watch *w = a->wd;

	if (w == NULL)
		return;
	if (w->triage != NULL)
		triage_cancel(w->triage);
	if (w->cgroup != NULL)
		cgroup_done(a, w);
	json_decref(w->tier1);
	json_decref(w->verdict);
	free(w);
	a->wd = NULL;
}

/* Tick often enough to see the shortest timeout within a quarter of it. */
static void
watchdog_arm(void)
{
	double t = 1, m;
	struct timeval tv;

	m = srv.cfg.heartbeat_timeout;
	if (srv.cfg.no_progress_timeout > 0 &&
	    (m <= 0 || srv.cfg.no_progress_timeout < m))
		m = srv.cfg.no_progress_timeout;
	if (m > 0 && m / 4 < t)
		t = m / 4 < 0.05 ? 0.05 : m / 4;
	tv.tv_sec = (time_t)t;
	tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
	if (tick_ev == NULL)
		tick_ev = event_new(srv.base, -1, EV_PERSIST, on_tick, NULL);
	evtimer_add(tick_ev, &tv);
}

/*
 * Set the cgroup up before any agent starts: one spawned while the daemon
 * still sits in its cgroup stays there, and a cgroup with a process in it
 * cannot enable the memory controller for its children.
 */
static void
cgroup_init(void)
{
	if (cg_base != NULL)
		return;
	cg_tried = 0;
	if (srv.cfg.cgroup_memory_max > 0 || srv.cfg.cgroup_pids_max > 0)
		cgroup_setup();
}

void
watchdog_init(void)
{
	watchdog_arm();
	escalate_init();
	cgroup_init();
}

/* SIGHUP: timeouts may have moved; cgroup limits are tried again. */
void
watchdog_reload(void)
{
	cgroup_init();
	watchdog_arm();
}

void
watchdog_free(void)
{
	struct agent *a;

	TAILQ_FOREACH(a, &live_agents, entry) {
		if (a->wd != NULL && a->wd->triage != NULL) {
			triage_cancel(a->wd->triage);
			a->wd->triage = NULL;
		}
	}
	triage_free_all();
	escalate_free();
	if (tick_ev != NULL)
		event_free(tick_ev);
	tick_ev = NULL;
	free(cg_base);
	cg_base = NULL;
	cg_tried = 0;
}
