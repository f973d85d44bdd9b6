/*
 * request.c: the control protocol's request lines, as a client sends them
 * (server.c reads one JSON object a line, verb.c checks it against the
 * verb table).  Each line is checked as an operator and as a stranger;
 * agent-1 is live with token "fuzz-token", so the seeds reach the argument
 * checks of the agent verbs.  A refused request must always get its error
 * reply: a reply that cannot be built leaves the client waiting forever.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"
#include "swarm-protocol.h"
#include "fuzz.h"

#define TOKEN "fuzz-token"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct agent *a;

	(void)argc;
	(void)argv;
	config_defaults(&srv.cfg);
	srv.uid = getuid();
	a = agent_new(1, 1, "c1", 1);
	a->pid = getpid();
	sha256(TOKEN, strlen(TOKEN), a->token_hash);
	return 0;
}

/* The error reply server.c sends: it must always be built. */
static void
error_reply(json_t *id, const char *code, json_t *extra, char *msg)
{
	json_t *r;
	char *s;

	if (code == NULL)
		abort(); /* a refusal without its code */
	r = server_error_json(id, code, extra, msg);
	if (r == NULL || (s = json_dumps(r, JSON_COMPACT)) == NULL)
		abort(); /* not UTF-8, say: no reply would be sent */
	free(s);
	json_decref(r);
}

static void
request_line(const char *line, size_t len)
{
	const struct verb *v;
	struct verb_ctx ctx;
	json_error_t jerr;
	char msg[1024];
	json_t *req;
	int op;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		/* client_line's message */
		snprintf(msg, sizeof msg, "not JSON: %s at column %d",
		    jerr.text, jerr.column);
		error_reply(NULL, SWARM_E_BAD_REQUEST, NULL, msg);
		return;
	}
	for (op = 0; op <= 1; op++) {
		memset(&ctx, 0, sizeof ctx);
		ctx.is_operator = op;
		if (verb_check(&ctx, req, &v) == 0) {
			if (v == NULL || v->exec == NULL)
				abort();
			json_decref(ctx.args);
		} else
			error_reply(ctx.id, ctx.ecode, ctx.edetail, ctx.emsg);
		json_decref(ctx.edetail);
	}
	json_decref(req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;

	/* One request a line; a line over the limit is refused unread. */
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl > p && (size_t)(nl - p) <= SWARM_MAX_LINE)
			request_line(p, (size_t)(nl - p));
	}
	return 0;
}
