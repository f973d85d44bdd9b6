/*
 * route.c: what follows a failed attempt, by failure class.
 *
 *   transient  a 429, 5xx or network error, a timeout, an OOM kill, or the
 *              agent's own "swarmctl fail --transient": retried after an
 *              exponential backoff with full jitter, up to
 *              [retries] transient times
 *   schema     the result file is missing or invalid: one fresh attempt
 *              told why (SWARM_REJECTION), then the dead letters
 *   gate       a gate failed on the attempt's work: rework, a fresh
 *              attempt on the same branch told which gate and what it
 *              said (SWARM_REJECTION), up to the job's gate_retries
 *              ([retries] gate) times, then the dead letters
 *   account    the agent's account needs a person (its key refused,
 *              its credit spent: "swarmctl fail --class account"): the
 *              dead letters at once, since a retry would fail the same
 *              way and spend quota, and an escalation (route_account)
 *   unknown    anything else: the dead letters at once
 *
 * A dead chunk stays until an operator retries it.
 */
#include <sys/random.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

static struct event *wake_ev;
static int64_t wake_at; /* wall ms the timer is set for */

static void
on_retry_due(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	scheduler_kick();
}

/* Kick the scheduler when a delayed chunk becomes due: one timer, set for
 * the earliest chunk asked about. */
void
route_wake_at(int64_t due_wall_ms)
{
	int64_t delay = due_wall_ms - now_wall_ms();
	struct timeval tv;

	if (wake_ev == NULL)
		wake_ev = evtimer_new(srv.base, on_retry_due, NULL);
	if (evtimer_pending(wake_ev, NULL) && wake_at <= due_wall_ms)
		return;
	if (delay < 0)
		delay = 0;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000 * 1000);
	wake_at = due_wall_ms;
	evtimer_add(wake_ev, &tv);
}

void
route_free(void)
{
	if (wake_ev != NULL)
		event_free(wake_ev);
	wake_ev = NULL;
}

/* Full jitter: uniform in [0, min(max, base * 2^(n-1))] seconds. */
double
route_backoff(int n, double base, double max)
{
	double cap = base * pow(2, n > 0 ? n - 1 : 0);
	uint32_t r;

	if (cap > max)
		cap = max;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (uint32_t)now_mono_ms();
	return cap * ((double)r / 4294967295.0);
}

static void
requeue_later(int64_t job, const char *chunk, enum fail_class cls, double delay,
    const char *rejection)
{
	int64_t due = now_wall_ms() + (int64_t)(delay * 1000);

	chunk_apply(job, chunk, CI_RETRY, NULL);
	chunk_set_retry(job, chunk, due, cls, rejection);
	evlog_add("retry_scheduled", job, chunk, 0, 0,
	    json_pack("{s:s, s:f, s:o}", "class", fail_class_name(cls), "delay",
	        delay, "not_before", json_ts(due)));
	route_wake_at(due + 1);
}

static void
dead_letter(
    int64_t job, const char *chunk, enum fail_class cls, const char *reason)
{
	chunk_apply(job, chunk, CI_DEADLETTER, reason);
	chunk_set_fail_class(job, chunk, cls);
	evlog_add("dead_lettered", job, chunk, 0, 0,
	    json_pack("{s:s, s:s*}", "class", fail_class_name(cls), "reason",
	        reason));
	log_notice("job-%lld/%s: dead letter (%s): %s", (long long)job, chunk,
	    fail_class_name(cls), reason != NULL ? reason : "");
}

/* The gate retries of JOB: its own gate_retries, else [retries] gate. */
static int
gate_retries(int64_t job)
{
	struct job *j = job_find(job);
	json_t *v = j != NULL ? json_object_get(j->spec, "gate_retries") : NULL;

	return v != NULL ? (int)json_integer_value(v) : srv.cfg.retries_gate;
}

/*
 * The chunk's attempt has just failed (state failed): retry it or send it
 * to the dead letters.  REJECTION (or, for a schema failure, REASON) is
 * what the next attempt is told.  Runs inside the caller's transaction.
 */
void
route_failure(int64_t job, const char *chunk, enum fail_class cls,
    const char *reason, const char *rejection)
{
	int n;

	switch (cls) {
	case FAIL_TRANSIENT:
		n = chunk_add_failure(job, chunk, cls);
		if (n <= srv.cfg.retries_transient) {
			requeue_later(job, chunk, cls,
			    route_backoff(
			        n, srv.cfg.backoff_base, srv.cfg.backoff_max),
			    NULL);
			return;
		}
		break;
	case FAIL_SCHEMA:
		n = chunk_add_failure(job, chunk, cls);
		if (n <= srv.cfg.retries_schema) {
			requeue_later(job, chunk, cls, 0,
			    rejection != NULL ? rejection : reason);
			return;
		}
		break;
	case FAIL_GATE:
		n = chunk_add_failure(job, chunk, cls);
		if (n <= gate_retries(job)) {
			requeue_later(job, chunk, cls, 0, rejection);
			return;
		}
		break;
	default:
		break;
	}
	dead_letter(job, chunk, cls, reason);
}

/*
 * Agent A failed for its account: its chunk is in the dead letters
 * (route_failure), and a person hears of it as an escalation, the only
 * one who can fix a key or a bill.  The agent asked for none: swarmd
 * opens it, from the failure's class.
 */
void
route_account(struct agent *a, const char *reason)
{
	char *note = xasprintf("not retried: a retry would fail the same way "
	                       "and spend quota; once the account is fixed, "
	                       "swarmctl retry job-%lld/%s",
	    (long long)a->job, a->chunk);

	escalate_open(a, "account", reason != NULL ? reason : "account",
	    json_pack("{s:s, s:s*}", "class", "account", "reason", reason),
	    json_pack("[{s:i, s:s}]", "tier", 0, "note", note), NULL);
	free(note);
}
