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
 * quota.c), and the rlimits and cgroup limits (limits.c), which the
 * kernel enforces.
 *
 * Each agent's watch moves through its phases by one table: a phase and
 * an input give the next phase and the action that carries it out.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

struct watch {
	enum watch_phase phase; /* written by watch_apply only */
	char reason[24];        /* what tier 1 saw */
	char summary[256];      /* the same in a sentence */
	json_t *tier1;          /* its evidence */
	json_t *verdict;        /* the latest verdict, or NULL */
	int64_t since;          /* wall ms the phase began */
	int64_t window_from;    /* silence counts from here at the earliest */
	int64_t use;            /* tokens at the last tick */
	int64_t last_rise;      /* wall ms usage last rose */
	int64_t rise_from;      /* first rise after the latest progress; 0 */
	int64_t progress_at;    /* latest progress mark seen (wall ms) */
	int64_t seen;           /* last_seen at the last look */
	int context_asked;
	struct triage *triage;
	int64_t handoff_seq; /* the chunk's latest checkpoint when asked */
	int64_t deadline;    /* of the handoff, wall ms */
};

/* What an input carries; the JSON members are stolen by watch_apply. */
struct watch_arg {
	const char *why;
	const char *message; /* of a nudge or a handoff, or NULL */
	const char *reason;  /* of a rule: its name, */
	const char *summary; /* ... what it saw, */
	json_t *evidence;    /* ... and why it thinks so */
	json_t *tried;       /* for an escalation: what was tried */
};

typedef void watch_action(struct agent *, struct watch *, enum watch_phase from,
    const struct watch_arg *);

static watch_action act_triage, act_ask, act_clear, act_nudge, act_restart,
    act_kill, act_handoff, act_handoff_ended, act_escalate;

static struct event *tick_ev;

/* What each tier did since start, for the metrics. */
static const char *rule_names[WD_NRULES] = { "stalled", "zombie",
	"context_exhausted" };
static const char *verdict_names[WD_NVERDICTS] = { "continue", "nudge",
	"restart", "handoff", "kill", "escalate", "none" };
static int64_t rules_fired[WD_NRULES], verdicts_seen[WD_NVERDICTS];

static void
count_in(const char *names[], int64_t counts[], int n, const char *name)
{
	int i;

	for (i = 0; i < n - 1 && strcmp(names[i], name) != 0; i++)
		;
	counts[i]++; /* an unknown name counts as the last */
}

/* ---- the phase table ---- */

/*
 * A missing cell is refused.  A rule fires only in W_WATCH, life counts
 * only while suspect, a handoff ends only in W_HANDOFF, and the hook fails
 * only while it is asked.  A verdict or a person may act in any phase but
 * W_DONE, which is final: the agent is ending.
 */
#define VERDICTS \
	[WI_CONTINUE] = { W_WATCH, act_clear }, \
	[WI_NUDGE] = { W_WATCH, act_nudge }, \
	[WI_RESTART] = { W_DONE, act_restart }, \
	[WI_KILL] = { W_DONE, act_kill }, \
	[WI_HANDOFF] = { W_HANDOFF, act_handoff }, \
	[WI_ESCALATE] = { W_ESCALATED, act_escalate }

static const struct watch_cell {
	enum watch_phase next;
	watch_action *act;
} watch_table[W_NPHASES][W_NINPUTS] = {
	[W_WATCH] = {
		[WI_RULE] = { W_TRIAGE, act_triage },
		[WI_RULE_NO_HOOK] = { W_ESCALATED, act_ask },
		VERDICTS,
	},
	[W_TRIAGE] = {
		[WI_LIFE] = { W_WATCH, act_clear },
		[WI_TRIAGE_FAILED] = { W_ESCALATED, act_escalate },
		VERDICTS,
	},
	[W_HANDOFF] = {
		[WI_HANDOFF_ENDED] = { W_DONE, act_handoff_ended },
		VERDICTS,
	},
	[W_ESCALATED] = {
		[WI_LIFE] = { W_WATCH, act_clear },
		VERDICTS,
	},
	[W_DONE] = { { 0 } }, /* final */
};
#undef VERDICTS

static const char *phase_names[W_NPHASES] = { "watch", "triage", "handoff",
	"escalated", "done" };

static const char *input_names[W_NINPUTS] = { "rule", "rule_no_hook", "life",
	"triage_failed", "continue", "nudge", "restart", "kill", "handoff",
	"escalate", "handoff_ended" };

static const struct watch_cell *
watch_cell(enum watch_phase p, enum watch_input in)
{
	if ((int)p < 0 || p >= W_NPHASES || (int)in < 0 || in >= W_NINPUTS ||
	    watch_table[p][in].act == NULL)
		return NULL;
	return &watch_table[p][in];
}

int
watch_next(enum watch_phase p, enum watch_input in)
{
	const struct watch_cell *c = watch_cell(p, in);

	return c != NULL ? (int)c->next : W_INVALID;
}

const char *
watch_phase_name(enum watch_phase p)
{
	if ((int)p < 0 || p >= W_NPHASES)
		return "invalid";
	return phase_names[p];
}

const char *
watch_input_name(enum watch_input in)
{
	if ((int)in < 0 || in >= W_NINPUTS)
		return "invalid";
	return input_names[in];
}

/*
 * The one writer of w->phase.  The phase moves before the action runs,
 * which may count from w->since (a handoff's deadline).  Returns 0, or -1
 * when the table refuses IN in the current phase (logged; nothing moves).
 */
static int
watch_apply(struct agent *a, struct watch *w, enum watch_input in,
    const struct watch_arg *arg)
{
	enum watch_phase from = w->phase;
	const struct watch_cell *c = watch_cell(from, in);

	if (c == NULL) {
		log_warnx("agent-%lld: watchdog refused input %s in phase %s",
		    (long long)a->id, watch_input_name(in),
		    watch_phase_name(from));
		json_decref(arg->evidence);
		json_decref(arg->tried);
		return -1;
	}
	w->phase = c->next;
	w->since = now_wall_ms();
	c->act(a, w, from, arg);
	return 0;
}

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

/* A new watch is zeroed: in W_WATCH. */
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
	struct watch_arg arg = { .reason = reason, .evidence = evidence };
	char summary[sizeof a->wd->summary];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(summary, sizeof summary, fmt, ap);
	va_end(ap);
	arg.summary = summary;
	if (*srv.cfg.triage_hook == '\0') {
		arg.tried = json_array();
		watch_apply(a, a->wd, WI_RULE_NO_HOOK, &arg);
	} else
		watch_apply(a, a->wd, WI_RULE, &arg);
}

/* What a rule saw becomes the agent's record; it is suspect now. */
static void
suspect_mark(struct agent *a, struct watch *w, const struct watch_arg *arg)
{
	json_t *evidence = arg->evidence;

	count_in(rule_names, rules_fired, WD_NRULES, arg->reason);
	snprintf(w->reason, sizeof w->reason, "%s", arg->reason);
	snprintf(w->summary, sizeof w->summary, "%s", arg->summary);
	json_object_set_new(evidence, "reason", json_string(arg->reason));
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
}

static void
act_triage(struct agent *a, struct watch *w, enum watch_phase from,
    const struct watch_arg *arg)
{
	(void)from;
	suspect_mark(a, w, arg);
	store_begin();
	evlog_add("triage_started", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:s, s:s}", "reason", arg->reason, "hook",
	        srv.cfg.triage_hook));
	store_commit();
	w->triage =
	    triage_start(srv.cfg.triage_hook, triage_document(a, w->tier1),
	        srv.cfg.triage_timeout, on_verdict, (void *)(intptr_t)a->id);
}

/* No hook: a person is asked at once. */
static void
act_ask(struct agent *a, struct watch *w, enum watch_phase from,
    const struct watch_arg *arg)
{
	suspect_mark(a, w, arg);
	act_escalate(a, w, from, arg);
}

/* Back to running with a fresh window: life, a verdict, or a person. */
static void
act_clear(struct agent *a, struct watch *w, enum watch_phase from,
    const struct watch_arg *arg)
{
	int64_t esc;

	if (w->triage != NULL) {
		triage_cancel(w->triage);
		w->triage = NULL;
	}
	/* Nobody needs to come: the agent is fine again. */
	if (from == W_ESCALATED && (esc = escalate_open_for(a->id)) != 0)
		escalate_close(esc, "recovered", NULL, arg->why);
	store_begin();
	watch_transition(a, AI_CLEAR);
	evlog_add("watchdog_cleared", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:s, s:s}", "reason", w->reason, "why", arg->why));
	store_commit();
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
	if ((p = evlog_progress_latest(a->id)) > w->progress_at) {
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
	if ((p = evlog_progress_latest(a->id)) > w->progress_at) {
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
watch_restart(struct agent *a, struct watch *w, const char *how,
    enum agent_end end, const char *why)
{
	char reason[512];

	snprintf(reason, sizeof reason, "watchdog %s: %s (%s)", how,
	    w->reason[0] != '\0' ? w->reason : "suspect", why);
	agent_abort_as(a, srv.cfg.abort_grace, reason, end);
}

static void
act_restart(struct agent *a, struct watch *w, enum watch_phase from,
    const struct watch_arg *arg)
{
	(void)from;
	watch_restart(a, w, "restart", END_RESTARTED, arg->why);
}

static void
act_kill(struct agent *a, struct watch *w, enum watch_phase from,
    const struct watch_arg *arg)
{
	(void)from;
	watch_restart(a, w, "kill", END_KILLED, arg->why);
}

static void
act_handoff_ended(struct agent *a, struct watch *w, enum watch_phase from,
    const struct watch_arg *arg)
{
	(void)from;
	watch_restart(a, w, "handoff", END_RESTARTED, arg->why);
}

/* A handoff ends with the checkpoint it asked for, or at its deadline. */
static void
check_handoff(struct agent *a, struct watch *w, int64_t now)
{
	struct watch_arg arg = { 0 };
	int64_t seq = 0;
	int timed_out = now >= w->deadline;

	if (a->last_seen == w->seen && !timed_out)
		return;
	w->seen = a->last_seen;
	if ((seq = checkpoint_latest_seq(a->job, a->chunk)) <= w->handoff_seq &&
	    !timed_out)
		return;
	store_begin();
	evlog_add(timed_out && seq <= w->handoff_seq ? "handoff_timeout" :
	                                               "handoff_checkpointed",
	    a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:I, s:I}", "checkpoint", (json_int_t)seq, "waited_ms",
	        (json_int_t)(now - w->since)));
	store_commit();
	arg.why =
	    seq > w->handoff_seq ? "checkpointed" : "no checkpoint in time";
	watch_apply(a, w, WI_HANDOFF_ENDED, &arg);
}

/* A suspect agent that shows life (or, a zombie, progress) recovers. */
static void
check_suspect(struct agent *a, struct watch *w)
{
	struct watch_arg arg = { 0 };
	int64_t p;

	if (strcmp(w->reason, "stalled") == 0) {
		if (life_latest(a) > w->since) {
			arg.why = "showed life again";
			watch_apply(a, w, WI_LIFE, &arg);
		}
	} else if (strcmp(w->reason, "zombie") == 0 &&
	    a->last_seen != w->seen) {
		w->seen = a->last_seen;
		if ((p = evlog_progress_latest(a->id)) > w->since) {
			w->progress_at = p;
			arg.why = "made progress";
			watch_apply(a, w, WI_LIFE, &arg);
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
	default: /* W_DONE: ending */
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
	keeper_merge_check();
	escalate_check();
}

/* ---- carrying out verdicts ---- */

static void
act_escalate(struct agent *a, struct watch *w, enum watch_phase from,
    const struct watch_arg *arg)
{
	(void)from;
	escalate_open(a, w->reason, w->summary, json_incref(w->tier1),
	    arg->tried, w->verdict != NULL ? json_incref(w->verdict) : NULL);
}

static void
act_nudge(struct agent *a, struct watch *w, enum watch_phase from,
    const struct watch_arg *arg)
{
	store_begin();
	mailbox_put(a, "swarmd",
	    arg->message != NULL ?
	        arg->message :
	        "swarmd: are you still working? report with swarmctl heartbeat --note");
	store_commit();
	agent_deliver(a);
	act_clear(a, w, from, arg);
}

/* Ask for a checkpoint; the chunk restarts once it comes, or at the end. */
static void
act_handoff(struct agent *a, struct watch *w, enum watch_phase from,
    const struct watch_arg *arg)
{
	char *text;

	(void)from;
	w->handoff_seq = checkpoint_latest_seq(a->job, a->chunk);
	w->seen = a->last_seen;
	w->deadline = w->since + (int64_t)(srv.cfg.handoff_timeout * 1000);
	text = xasprintf(
	    "checkpoint: %s; save your progress now with swarmctl checkpoint: the chunk restarts from it",
	    arg->message != NULL ? arg->message :
	                           "your context is nearly full");
	store_begin();
	mailbox_put(a, "swarmd", text);
	evlog_add("handoff_requested", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:I, s:f}", "after_checkpoint",
	        (json_int_t)w->handoff_seq, "timeout",
	        srv.cfg.handoff_timeout));
	store_commit();
	free(text);
	agent_deliver(a);
}

static void
on_verdict(
    void *arg, const struct verdict *v, const char *failure, json_t *info)
{
	struct agent *a = agent_find((int64_t)(intptr_t)arg);
	struct watch_arg in = { 0 };
	struct watch *w;
	char why[256];
	int moot;

	if (a == NULL || (w = a->wd) == NULL || w->triage == NULL) {
		json_decref(info);
		return;
	}
	w->triage = NULL;
	count_in(verdict_names, verdicts_seen, WD_NVERDICTS,
	    v != NULL ? v->action : "none");
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
		in.tried = json_pack("[o]", info);
		watch_apply(a, w, WI_TRIAGE_FAILED, &in);
		return;
	}
	snprintf(why, sizeof why, "triage: %s",
	    v->reason != NULL ? v->reason : v->state);
	if (strcmp(v->action, "escalate") == 0) {
		in.tried =
		    json_pack("[{s:i, s:O}]", "tier", 2, "verdict", w->verdict);
		watch_apply(a, w, WI_ESCALATE, &in);
	} else
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
	static const struct {
		const char *name;
		enum watch_input in;
	} acts[] = {
		{ "continue", WI_CONTINUE },
		{ "nudge", WI_NUDGE },
		{ "restart", WI_RESTART },
		{ "kill", WI_KILL },
		{ "handoff", WI_HANDOFF },
		{ "escalate", WI_ESCALATE },
	};
	struct watch *w = watch_get(a);
	struct watch_arg arg = { .why = why, .message = message };
	size_t i;

	for (i = 0; i < nitems(acts); i++) {
		if (strcmp(action, acts[i].name) == 0)
			break;
	}
	if (i == nitems(acts))
		return -1;
	/* Continue on an agent nobody doubts: nothing to clear. */
	if (acts[i].in == WI_CONTINUE && w->phase == W_WATCH &&
	    a->state != AGENT_SUSPECT)
		return 0;
	if (acts[i].in == WI_ESCALATE)
		arg.tried = json_array();
	watch_apply(a, w, acts[i].in, &arg);
	return 0;
}

/* ---- the figures, for the metrics ---- */

void
watchdog_counts(struct watchdog_counts *c)
{
	struct agent *a;

	memset(c, 0, sizeof *c);
	memcpy(c->rules, rules_fired, sizeof c->rules);
	memcpy(c->verdicts, verdicts_seen, sizeof c->verdicts);
	TAILQ_FOREACH(a, &live_agents, entry) {
		/* Not yet looked at, an agent is watched all the same. */
		if (a->state == AGENT_RUNNING || a->state == AGENT_SUSPECT)
			c->phase[a->wd != NULL ? a->wd->phase : W_WATCH]++;
	}
}

const char *
watchdog_rule_name(int i)
{
	return i >= 0 && i < WD_NRULES ? rule_names[i] : "invalid";
}

const char *
watchdog_verdict_name(int i)
{
	return i >= 0 && i < WD_NVERDICTS ? verdict_names[i] : "invalid";
}

/* ---- life of the module ---- */

/* Rlimits and cgroup limits (limits.c). */
void
watchdog_started(struct agent *a)
{
	/* An agent placed in a cgroup is watched from its start. */
	if (limits_apply(a))
		(void)watch_get(a);
}

void
watchdog_agent_free(struct agent *a)
{
	struct watch *w = a->wd;

	if (w != NULL && w->triage != NULL)
		triage_cancel(w->triage);
	limits_release(a);
	if (w == NULL)
		return;
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

void
watchdog_init(void)
{
	watchdog_arm();
	escalate_init();
	limits_init();
}

/* SIGHUP: timeouts may have moved; cgroup limits are tried again. */
void
watchdog_reload(void)
{
	limits_reload();
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
	limits_free();
}
