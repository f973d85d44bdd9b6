/*
 * plan.c: what a request's reply says, decided before a byte is sent so
 * that its whole cost is known at admission.  The rules are in count.c's
 * header comment.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-upstream.h"

#define ECHO_MAX 200
#define FILLER_MAX 1000000

/*
 * The last user message's last text, and whether it returns a tool
 * result: in a tool_result block, or (OpenAI) as a later "tool" message.
 */
static const char *
plan_prompt(json_t *req, int *tool_turn)
{
	json_t *msgs = json_object_get(req, "messages"), *m, *b, *content;
	const char *text = "", *role;
	size_t i, j;

	*tool_turn = 0;
	for (i = json_array_size(msgs); i > 0; i--) {
		m = json_array_get(msgs, i - 1);
		role = json_string_value(json_object_get(m, "role"));
		if (strcmp(role, "tool") == 0) {
			*tool_turn = 1;
			return text;
		}
		if (strcmp(role, "user") == 0)
			break;
	}
	if (i == 0)
		return text;
	content = json_object_get(m, "content");
	if (json_is_string(content))
		return json_string_value(content);
	json_array_foreach(content, j, b) {
		const char *type =
		    json_string_value(json_object_get(b, "type"));

		if (type != NULL && strcmp(type, "tool_result") == 0)
			*tool_turn = 1;
		if (type != NULL && strcmp(type, "text") == 0 &&
		    json_is_string(json_object_get(b, "text")))
			text = json_string_value(json_object_get(b, "text"));
	}
	return text;
}

/* At most max bytes, not ending inside a UTF-8 sequence. */
size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static char *
plan_echo(const char *prompt)
{
	char *flat = xmalloc(strlen(prompt) + 1), *out;
	const char *s;
	size_t n = 0;

	for (s = prompt; *s != '\0'; s++) {
		if (!isspace((unsigned char)*s))
			flat[n++] = *s;
		else if (n > 0 && flat[n - 1] != ' ')
			flat[n++] = ' ';
	}
	if (n > 0 && flat[n - 1] == ' ')
		n--;
	flat[utf8_cut(flat, n, ECHO_MAX)] = '\0';
	out = xasprintf("Hello! You said: %s", flat);
	free(flat);
	return out;
}

/* Filler of exactly 4 * tokens bytes. */
static char *
plan_filler(long tokens)
{
	static const char words[] = "lorem ipsum dolor sit amet consectetur "
	                            "adipiscing elit sed do eiusmod tempor ";
	size_t n = (size_t)tokens * 4, i;
	char *out = xmalloc(n + 1);

	for (i = 0; i < n; i++)
		out[i] = words[i % (sizeof words - 1)];
	out[n] = '\0';
	return out;
}

/* An object with the schema's required properties, shallowly. */
static json_t *
plan_instance(json_t *schema)
{
	json_t *props = json_object_get(schema, "properties"), *input, *name;
	const char *type;
	size_t i;

	input = json_object();
	json_array_foreach(json_object_get(schema, "required"), i, name) {
		if (!json_is_string(name))
			continue;
		type = json_string_value(json_object_get(
		    json_object_get(props, json_string_value(name)), "type"));
		if (type == NULL)
			type = "";
		json_object_set_new(input, json_string_value(name),
		    strcmp(type, "string") == 0      ? json_string("fake") :
		        strcmp(type, "integer") == 0 ? json_integer(1) :
		        strcmp(type, "number") == 0  ? json_integer(1) :
		        strcmp(type, "boolean") == 0 ? json_true() :
		        strcmp(type, "array") == 0   ? json_array() :
		        strcmp(type, "object") == 0  ? json_object() :
		                                       json_null());
	}
	return input;
}

/* The schema of a structured output the request asks for, or NULL. */
static json_t *
plan_schema(json_t *req)
{
	json_t *format =
	    json_object_get(json_object_get(req, "output_config"), "format");
	const char *type = json_string_value(json_object_get(format, "type"));

	if (type != NULL && strcmp(type, "json_schema") == 0)
		return json_object_get(format, "schema");
	/* OpenAI's response_format. */
	format = json_object_get(req, "response_format");
	type = json_string_value(json_object_get(format, "type"));
	if (type != NULL && strcmp(type, "json_schema") == 0)
		return json_object_get(
		    json_object_get(format, "json_schema"), "schema");
	return NULL;
}

/* The text block: fixed, filler, JSON for a structured output, an echo. */
static char *
plan_text(json_t *req, const char *prompt, int tool_turn)
{
	json_t *schema = plan_schema(req), *o;
	const char *p = strstr(prompt, "fake:tokens ");
	char *s;
	long n;

	if (cfg.reply != NULL)
		return xstrdup(cfg.reply);
	if (p != NULL) {
		n = strtol(p + strlen("fake:tokens "), NULL, 10);
		if (n >= 1 && n <= FILLER_MAX)
			return plan_filler(n);
	}
	if (schema != NULL) {
		o = plan_instance(schema);
		s = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		return s != NULL ? s : xstrdup("{}");
	}
	if (tool_turn)
		return xstrdup("Done: the tool returned its result.");
	return plan_echo(prompt);
}

/* A tool's name and input schema; OpenAI's are in "function". */
static const char *
tool_name(json_t *tool)
{
	json_t *fn = json_object_get(tool, "function");

	if (json_is_object(fn))
		return json_string_value(json_object_get(fn, "name"));
	return json_string_value(json_object_get(tool, "name"));
}

static json_t *
tool_schema(json_t *tool)
{
	json_t *fn = json_object_get(tool, "function");

	if (json_is_object(fn))
		return json_object_get(fn, "parameters");
	return json_object_get(tool, "input_schema");
}

static json_t *
plan_find_tool(json_t *req, const char *name, size_t len)
{
	json_t *tool;
	const char *n;
	size_t i;

	json_array_foreach(json_object_get(req, "tools"), i, tool) {
		n = tool_name(tool);
		if (n != NULL &&
		    (name == NULL ||
		        (strlen(n) == len && strncmp(n, name, len) == 0)))
			return tool;
	}
	return NULL;
}

/* "fake:tool NAME [{...}]" in the prompt, or any tool if cfg.tool_use. */
static int
plan_tool(json_t *req, enum api api, const char *prompt, struct plan *p)
{
	const char *s = strstr(prompt, "fake:tool "), *name;
	json_t *tool = NULL, *input = NULL;
	size_t len;

	if (s != NULL) {
		name = s + strlen("fake:tool ");
		len = strspn(name,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
		tool = plan_find_tool(req, name, len);
		s = name + len + strspn(name + len, " \t");
		if (tool != NULL && *s == '{')
			input = json_loads(s, JSON_DISABLE_EOF_CHECK, NULL);
	} else if (cfg.tool_use)
		tool = plan_find_tool(req, NULL, 0);
	if (tool == NULL)
		return 0;
	if (!json_is_object(input)) {
		json_decref(input);
		input = plan_instance(tool_schema(tool));
	}
	p->tool_name = xstrdup(tool_name(tool));
	p->tool_input = json_dumps(input, JSON_COMPACT);
	json_decref(input);
	if (api == API_OPENAI)
		id_make(p->tool_id, sizeof p->tool_id, "call_", 24);
	else
		id_make(p->tool_id, sizeof p->tool_id, "toolu_01", 22);
	p->text = xasprintf("Calling %s.", p->tool_name);
	return 1;
}

static long
plan_output(const struct plan *p)
{
	long n = (long)(strlen(p->text) + 3) / 4;

	if (p->tool_name != NULL)
		n += (long)(strlen(p->tool_name) + strlen(p->tool_input) + 3) /
		    4;
	return n > 0 ? n : 1;
}

/* Past max_tokens the tool call goes first, then the text's tail. */
static void
plan_clamp(struct plan *p, long max_tokens)
{
	size_t len;

	if (p->usage.output <= max_tokens)
		return;
	p->stop_reason = "max_tokens";
	free(p->tool_name);
	free(p->tool_input);
	p->tool_name = p->tool_input = NULL;
	len = strlen(p->text);
	p->text[utf8_cut(p->text, len, (size_t)max_tokens * 4)] = '\0';
	p->usage.output = plan_output(p);
}

/* The output limit; OpenAI's is optional, under either of two names. */
static long
plan_max_tokens(json_t *req, enum api api)
{
	json_t *v = json_object_get(req, "max_tokens");

	if (api == API_OPENAI) {
		if (json_is_integer(
		        json_object_get(req, "max_completion_tokens")))
			v = json_object_get(req, "max_completion_tokens");
		if (!json_is_integer(v))
			return LONG_MAX;
	}
	return (long)json_integer_value(v);
}

/*
 * OpenAI names no cache writes: its prompt_tokens hold them as input,
 * and they are counted as such everywhere.  It reads a cache only for a
 * prompt of 1024 tokens or more, in steps of 128.
 */
static void
plan_openai_cache(struct usage *u)
{
	long total = u->input + u->cache_creation + u->cache_read;

	u->cache_read = total < 1024 ? 0 : u->cache_read / 128 * 128;
	u->cache_creation = 0;
	u->input = total - u->cache_read;
}

void
plan_make(json_t *req, enum api api, struct plan *p)
{
	const char *prompt;
	int tool_turn;

	memset(p, 0, sizeof *p);
	if (api == API_OPENAI)
		id_make(p->id, sizeof p->id, "chatcmpl-", 29);
	else
		id_make(p->id, sizeof p->id, "msg_01", 22);
	p->model = xstrdup(json_string_value(json_object_get(req, "model")));
	count_input(req, api == API_OPENAI, &p->usage, p->cache_keys);
	if (api == API_OPENAI)
		plan_openai_cache(&p->usage);
	prompt = plan_prompt(req, &tool_turn);
	p->stop_reason = "end_turn";
	if (!tool_turn && plan_tool(req, api, prompt, p))
		p->stop_reason = "tool_use";
	else
		p->text = plan_text(req, prompt, tool_turn);
	p->usage.output = plan_output(p);
	plan_clamp(p, plan_max_tokens(req, api));
}

void
plan_free(struct plan *p)
{
	free(p->model);
	free(p->text);
	free(p->tool_name);
	free(p->tool_input);
	memset(p, 0, sizeof *p);
}
