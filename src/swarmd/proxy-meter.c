/*
 * proxy-meter.c: what a response used, read on its way to the agent.  A
 * whole message, each server-sent event and each OpenAI chunk is a JSON
 * document that may carry the model, the message id and the usage; when
 * the response is done (or cut) what it showed is recorded with the
 * quota meter.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy.h"

static void
set_str(char **slot, json_t *v)
{
	if (!json_is_string(v))
		return;
	free(*slot);
	*slot = xstrdup(json_string_value(v));
}

/*
 * One JSON document of the response: a whole message, an SSE event or an
 * OpenAI chunk.  message_delta usage is cumulative, so each replaces
 * what came before, input fields included when it repeats them.
 */
void
meter_doc(struct preq *p, json_t *j)
{
	const char *type = json_string_value(json_object_get(j, "type"));
	const char *object = json_string_value(json_object_get(j, "object"));
	json_t *msg, *u;

	if (type != NULL && strcmp(type, "message_start") == 0) {
		msg = json_object_get(j, "message");
		set_str(&p->msgid, json_object_get(msg, "id"));
		set_str(&p->model, json_object_get(msg, "model"));
		u = json_object_get(msg, "usage");
	} else if (type != NULL && strcmp(type, "message_delta") == 0)
		u = json_object_get(j, "usage");
	else if (type != NULL && strcmp(type, "message_stop") == 0) {
		p->complete = 1;
		return;
	} else if (type != NULL && strcmp(type, "message") == 0) {
		set_str(&p->msgid, json_object_get(j, "id"));
		set_str(&p->model, json_object_get(j, "model"));
		u = json_object_get(j, "usage");
		p->complete = 1;
	} else if (object != NULL &&
	    strncmp(object, "chat.completion", 15) == 0) {
		set_str(&p->msgid, json_object_get(j, "id"));
		set_str(&p->model, json_object_get(j, "model"));
		if (strcmp(object, "chat.completion") == 0)
			p->complete = 1;
		u = json_object_get(j, "usage");
		if (usage_parse_openai(u, &p->use) == -1)
			return;
		p->seen_usage = 1;
		p->complete = 1;
		return;
	} else
		return;
	if (usage_parse(u, &p->use) == -1)
		return;
	p->seen_usage = 1;
}

static void
meter_line(struct preq *p, const char *line, size_t len)
{
	json_t *j;

	if (len < 5 || strncmp(line, "data:", 5) != 0)
		return;
	line += 5;
	len -= 5;
	while (len > 0 && *line == ' ') {
		line++;
		len--;
	}
	if (len == 6 && strncmp(line, "[DONE]", 6) == 0)
		p->complete = 1; /* the end of an OpenAI stream */
	if ((j = json_loadb(line, len, 0, NULL)) == NULL)
		return;
	meter_doc(p, j);
	json_decref(j);
}

void
meter_sse(struct preq *p, const char *buf, size_t len)
{
	size_t n;
	char *line;

	evbuffer_add(p->lines, buf, len);
	while (
	    (line = evbuffer_readln(p->lines, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		meter_line(p, line, n);
		free(line);
	}
}

/* Count what the response used; a cut stream counts what it showed. */
void
meter_record(struct preq *p)
{
	struct agent *a = proxy_agent(p->agent);

	if (!p->seen_usage)
		return;
	if (a == NULL) {
		log_warnx("proxy: agent-%lld is gone; its last response "
		          "(%s) is not metered",
		    (long long)p->agent, p->msgid != NULL ? p->msgid : "no id");
		return;
	}
	if (p->model != NULL) {
		free(a->model);
		a->model = xstrdup(p->model);
	}
	/* Nothing waits on this record: one commit a loop turn covers
	 * every response of the turn (a sync each was the proxy's limit). */
	store_begin_grouped();
	quota_record(a, p->model, "proxy", p->msgid, &p->use);
	if (!p->complete)
		evlog_add("proxy_incomplete", a->job, a->chunk, a->id,
		    a->attempt,
		    json_pack("{s:s*, s:s, s:I, s:I}", "message_id", p->msgid,
		        "upstream", p->up->name, "input",
		        (json_int_t)p->use.input, "output",
		        (json_int_t)p->use.output));
	store_commit_grouped();
}
