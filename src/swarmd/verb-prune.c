/*
 * verb-prune.c: the prune verb, an operator's retention run on request
 * (prune.c).  It answers when the run ends; the run goes on in steps,
 * so other clients are served meanwhile.
 */
#include <stdlib.h>

#include "swarmd.h"

struct asked {
	struct client *client;
	json_t *id;
	struct prune_run *run;
};

static void
asked_release(struct client *c, void *arg)
{
	struct asked *a = arg;

	(void)c;
	prune_forget(a->run);
	json_decref(a->id);
	free(a);
}

static void
on_pruned(json_t *report, void *arg)
{
	struct asked *a = arg;

	if (report != NULL)
		client_reply(a->client, a->id, report);
	else
		client_error(a->client, a->id, SWARM_E_INTERNAL,
		    "swarmd is stopping; the prune was cut short");
	client_set_release(a->client, NULL, NULL);
	client_resume(a->client);
	json_decref(a->id);
	free(a);
}

/* older_than (seconds; [store] keep without it), dry_run. */
enum verb_rc
verb_prune(struct verb_ctx *ctx)
{
	json_t *v = json_object_get(ctx->args, "older_than");
	double older = v != NULL ? json_number_value(v) : srv.cfg.keep;
	struct asked *a;

	if (v != NULL &&
	    (!json_is_number(v) ||
	        !(older >= 0 && older <= 100.0 * 365 * 86400)))
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "prune: \"older_than\" is seconds, from 0 to 100 years");
	if (v == NULL && srv.cfg.keep <= 0)
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "prune: [store] keep is off; say how old (--older-than)");
	a = xcalloc(1, sizeof *a);
	a->client = ctx->client;
	a->id = json_incref(ctx->id);
	client_set_release(ctx->client, asked_release, a);
	a->run = prune_start(older, arg_bool(ctx, "dry_run"), on_pruned, a);
	return VERB_DEFERRED;
}
