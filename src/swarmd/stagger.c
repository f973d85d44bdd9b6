/*
 * stagger.c: the ramp.  A job may not go from zero to its full
 * concurrency at once: it starts one batch, and the number of agents it
 * may run grows by another batch only after the interval and once every
 * agent of the last batch has shown life (a heartbeat, output, usage).
 * A batch that shows none within stagger_confirm_timeout halts the ramp
 * and says why.  The ramp limits growth, not replacement: an agent that
 * takes the place of one that ended starts at once.
 */
#include <stdio.h>
#include <string.h>

#include "swarmd.h"

static struct event *tick;

static int
stagger_batch(struct job *j)
{
	json_t *s = json_object_get(j->spec, "stagger");
	json_int_t b = json_integer_value(json_object_get(s, "batch"));

	return b > 0 ? (int)b : srv.cfg.stagger_batch;
}

static double
stagger_interval(struct job *j)
{
	json_t *s = json_object_get(j->spec, "stagger");
	json_t *v = json_object_get(s, "interval");

	return json_is_number(v) ? json_number_value(v) :
	                           srv.cfg.stagger_interval;
}

void
stagger_start(struct job *j)
{
	j->ramp_level = stagger_batch(j);
	j->ramp_step_at = now_mono_ms();
	j->ramp_first = 0;
	j->ramp_halted = 0;
}

/* How many agents the job may run now. */
int
stagger_allowed(struct job *j)
{
	return j->ramp_level < j->concurrency ? j->ramp_level : j->concurrency;
}

/* A new agent of the job: the first of a step marks where it begins. */
void
stagger_spawned(struct job *j, struct agent *a)
{
	if (j->ramp_first == 0)
		j->ramp_first = a->id;
}

/* The agents of the current step that have not shown life, as a list. */
static int
step_silent(struct job *j, char *names, size_t len)
{
	struct agent *a;
	int n = 0;
	size_t off = 0;

	names[0] = '\0';
	TAILQ_FOREACH(a, &live_agents, entry) {
		if (a->job != j->id || a->id < j->ramp_first || a->alive ||
		    a->pid <= 0)
			continue;
		if (off < len)
			off += (size_t)snprintf(names + off, len - off,
			    "%sagent-%lld", n ? ", " : "", (long long)a->id);
		n++;
	}
	return n;
}

static void
stagger_check(struct job *j, int64_t now)
{
	char names[512];
	int silent;

	if (j->ramp_level >= j->concurrency || j->ramp_first == 0)
		return;
	silent = step_silent(j, names, sizeof names);
	if (silent == 0 &&
	    now - j->ramp_step_at >= (int64_t)(stagger_interval(j) * 1000)) {
		j->ramp_level += stagger_batch(j);
		j->ramp_step_at = now;
		j->ramp_first = 0;
		store_begin();
		evlog_add(j->ramp_halted ? "stagger_resumed" : "stagger_step",
		    j->id, NULL, 0, 0,
		    json_pack("{s:i, s:i}", "allowed", stagger_allowed(j),
		        "concurrency", j->concurrency));
		store_commit();
		j->ramp_halted = 0;
		j->halt_reason[0] = '\0';
		scheduler_kick();
	} else if (silent > 0 && !j->ramp_halted &&
	    now - j->ramp_step_at >
	        (int64_t)(srv.cfg.stagger_confirm_timeout * 1000)) {
		j->ramp_halted = 1;
		snprintf(j->halt_reason, sizeof j->halt_reason,
		    "%s showed no life within %g s", names,
		    srv.cfg.stagger_confirm_timeout);
		store_begin();
		evlog_add("stagger_halted", j->id, NULL, 0, 0,
		    json_pack("{s:s, s:i}", "reason", j->halt_reason, "allowed",
		        stagger_allowed(j)));
		store_commit();
		log_warnx("job-%lld: ramp halted at %d agents: %s",
		    (long long)j->id, stagger_allowed(j), j->halt_reason);
	}
}

void
stagger_check_all(void)
{
	int64_t now = now_mono_ms();
	struct job *j, *next;

	TAILQ_FOREACH_SAFE(j, &active_jobs, entry, next)
		stagger_check(j, now);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	stagger_check_all();
}

void
stagger_init(void)
{
	struct timeval tv = { 0, 250000 };

	tick = event_new(srv.base, -1, EV_PERSIST, on_tick, NULL);
	evtimer_add(tick, &tv);
}

void
stagger_free(void)
{
	if (tick != NULL)
		event_free(tick);
	tick = NULL;
}

json_t *
stagger_json(struct job *j)
{
	return json_pack("{s:i, s:i, s:f, s:b, s:s*}", "allowed",
	    stagger_allowed(j), "batch", stagger_batch(j), "interval",
	    stagger_interval(j), "halted", j->ramp_halted, "reason",
	    j->ramp_halted ? j->halt_reason : NULL);
}
