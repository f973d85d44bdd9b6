/*
 * cmd-watch.c: the verbs of the watchdog's tier 3, and their printers:
 * escalations lists what the watchdog handed to a person, resolve
 * closes one with the person's decision.
 */
#include <stdio.h>
#include <stdlib.h>

#include "swarm-protocol.h"
#include "util.h"
#include "client.h"
#include "cmd.h"
#include "format.h"

static void
print_escalations(json_t *escs)
{
	char buf[FORMAT_AGE_LEN];
	struct table *t;
	size_t i;

	t = format_table_new("ESCALATION AGENT CHUNK STATE STATUS AGE SUMMARY");
	for (i = 0; i < json_array_size(escs); i++) {
		json_t *e = json_array_get(escs, i);
		char *chunk = xasprintf("%s/%s", format_member(e, "job"),
		    format_member(e, "chunk"));

		format_table_row(t);
		format_table_cell(t, format_member(e, "escalation"));
		format_table_cell(t, format_member(e, "agent"));
		format_table_cell(t, chunk);
		format_table_cell(t, format_member(e, "state"));
		format_table_cell(t, format_member(e, "status"));
		format_table_cell(
		    t, format_since(json_object_get(e, "ts"), buf));
		format_table_cell(t, format_member(e, "summary"));
		free(chunk);
	}
	format_table_print(t, stdout);
	format_table_free(t);
}

int
cmd_escalations(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	if (cmd_opt(ctx, "all") != NULL)
		json_object_set_new(args, "all", json_true());
	if ((rc = client_call(ctx, "escalations", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_json(json_object_get(resp, "escalations"));
	else
		print_escalations(json_object_get(resp, "escalations"));
	json_decref(resp);
	return 0;
}

int
cmd_resolve(struct cmd_ctx *ctx)
{
	const char *action = cmd_opt(ctx, "action");
	json_t *args, *resp;
	int rc;

	if (action == NULL)
		return cmd_usage_error(ctx, "missing --action");
	args =
	    json_pack("{s:s, s:s}", "target", ctx->argv[0], "action", action);
	cmd_opt_arg(ctx, args, "note", "note");
	if ((rc = client_call(ctx, "resolve", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	else
		printf("%s resolved: %s\n", format_member(resp, "escalation"),
		    format_member(resp, "outcome"));
	json_decref(resp);
	return 0;
}
