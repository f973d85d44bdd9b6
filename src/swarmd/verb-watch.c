/*
 * verb-watch.c: the operator verbs of the watchdog's tier 3: escalations
 * lists them, resolve closes one and carries out what the person decided.
 */
#include <stdio.h>
#include <string.h>

#include "swarmd.h"

enum verb_rc
verb_escalations(struct verb_ctx *ctx)
{
	json_object_set_new(
	    ctx->reply, "escalations", escalate_list(arg_bool(ctx, "all")));
	return VERB_OK;
}

/* The escalation's agent, if it is alive and not already ending. */
static struct agent *
resolve_agent(json_t *e)
{
	int64_t id;
	struct agent *a;

	if (agent_parse_id(
	        json_string_value(json_object_get(e, "agent")), &id) == -1 ||
	    (a = agent_find(id)) == NULL || a->pid <= 0 || agent_is_ending(a))
		return NULL;
	return a;
}

enum verb_rc
verb_resolve(struct verb_ctx *ctx)
{
	const char *target = arg_str(ctx, "target");
	const char *action = arg_str(ctx, "action");
	const char *note = arg_str(ctx, "note");
	const char *agent, *status;
	char outcome[256], why[128];
	struct agent *a;
	int64_t id;
	json_t *e;

	if (escalate_parse_id(target, &id) == -1 ||
	    (e = escalate_get(id)) == NULL)
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such escalation: \"%.128s\"", target);
	agent = json_string_value(json_object_get(e, "agent"));
	status = json_string_value(json_object_get(e, "status"));
	if (strcmp(status, "open") != 0) {
		json_decref(e);
		return verb_fail(
		    ctx, SWARM_E_CONFLICT, "%s is resolved already", target);
	}
	if (strcmp(action, "restart") != 0 && strcmp(action, "kill") != 0 &&
	    strcmp(action, "continue") != 0) {
		json_decref(e);
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "resolve: --action must be restart, kill or continue");
	}
	if ((a = resolve_agent(e)) == NULL && strcmp(action, "continue") != 0) {
		verb_fail(ctx, SWARM_E_CONFLICT,
		    "%s has ended or is being aborted: nothing to %s; close %s with --action continue "
		    "(swarmctl retry runs a chunk again)",
		    agent, action, target);
		json_decref(e);
		return VERB_ERROR;
	}
	if (a == NULL)
		snprintf(outcome, sizeof outcome, "%s had ended", agent);
	else if (strcmp(action, "continue") == 0)
		snprintf(outcome, sizeof outcome, "%s back to running", agent);
	else
		snprintf(outcome, sizeof outcome, "%s aborted; its chunk %s",
		    agent,
		    strcmp(action, "kill") == 0 ? "goes to the dead letters" :
		                                  "runs again");
	/* Closed first: the agent's recovery would close it otherwise. */
	escalate_close(id, action, note, outcome);
	snprintf(why, sizeof why, "operator resolved %s", target);
	if (a != NULL)
		watchdog_act(a, action, NULL, why);
	json_object_set_new(ctx->reply, "escalation", json_string(target));
	json_object_set_new(ctx->reply, "action", json_string(action));
	json_object_set_new(
	    ctx->reply, "agent", json_incref(json_object_get(e, "agent")));
	json_object_set_new(ctx->reply, "outcome", json_string(outcome));
	json_decref(e);
	return VERB_OK;
}
