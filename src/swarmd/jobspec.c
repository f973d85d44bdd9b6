/*
 * jobspec.c: validate a job document as a whole before anything of it is
 * stored.  Every problem is named by its JSON path, so one round trip
 * shows the operator everything that is wrong.
 */
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

#define MAX_CHUNK_ID 128
#define MAX_NAME 256
#define MAX_CHUNKS 1000000

static const char *job_members[] = {
	"name",
	"command",
	"workdir",
	"env",
	"concurrency",
	"timeout",
	"chunks",
	"per_agent_tokens",
	"stagger",
	"cap_signal",
	"result",
	"agent",
	"session_resume",
};
static const char *result_members[] = { "path", "schema" };
static const char *stagger_members[] = { "batch", "interval" };
static const char *chunk_members[] = { "id", "task" };

static void
problem(json_t *problems, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	if (s != NULL) {
		json_array_append_new(problems, json_string(s));
		free(s);
	}
}

static int
known(const char *key, const char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(key, names[i]) == 0)
			return 1;
	}
	return 0;
}

static void
check_unknown(json_t *o, const char *prefix, const char **names, size_t n,
    json_t *problems)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		if (!known(key, names, n))
			problem(problems, "%s%s: unknown field", prefix, key);
	}
}

static int
chunk_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_CHUNK_ID)
		return 0;
	return strspn(s,
	           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") ==
	    n;
}

static void
parse_int_member(json_t *j, const char *key, long long min, long long max,
    int *out, json_t *problems)
{
	json_t *v = json_object_get(j, key);

	if (v == NULL)
		return;
	if (!json_is_integer(v))
		problem(problems, "%s: expected an integer", key);
	else if (json_integer_value(v) < min || json_integer_value(v) > max)
		problem(problems, "%s: must be between %lld and %lld", key, min,
		    max);
	else
		*out = (int)json_integer_value(v);
}

static void
parse_command(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *cmd = json_object_get(j, "command"), *v;
	size_t i;

	if (cmd == NULL) {
		problem(problems, "command: required");
		return;
	}
	if (!json_is_array(cmd) || json_array_size(cmd) == 0) {
		problem(
		    problems, "command: expected a non-empty array of strings");
		return;
	}
	json_array_foreach(cmd, i, v) {
		if (!json_is_string(v))
			problem(problems, "command[%zu]: expected a string", i);
	}
	if (json_is_string(json_array_get(cmd, 0)) &&
	    *json_string_value(json_array_get(cmd, 0)) == '\0')
		problem(problems, "command[0]: empty");
	js->command = json_incref(cmd);
}

static void
parse_workdir(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *v = json_object_get(j, "workdir");
	struct stat sb;
	const char *s;

	if (v == NULL)
		return;
	if (!json_is_string(v)) {
		problem(problems, "workdir: expected a string");
		return;
	}
	s = json_string_value(v);
	if (*s != '/')
		problem(problems,
		    "workdir: must be an absolute path, not \"%s\"", s);
	else if (stat(s, &sb) == -1 || !S_ISDIR(sb.st_mode))
		problem(problems, "workdir: no such directory \"%s\"", s);
	else
		js->workdir = xstrdup(s);
}

static void
parse_env(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *env = json_object_get(j, "env"), *v;
	const char *key;

	if (env == NULL)
		return;
	if (!json_is_object(env)) {
		problem(problems, "env: expected an object of strings");
		return;
	}
	json_object_foreach(env, key, v) {
		if (*key == '\0' || strchr(key, '=') != NULL)
			problem(problems, "env: bad variable name \"%s\"", key);
		else if (strncmp(key, "SWARM_", 6) == 0)
			problem(problems,
			    "env.%s: SWARM_ variables are set by swarmd", key);
		else if (!json_is_string(v))
			problem(problems, "env.%s: expected a string", key);
	}
	js->env = json_incref(env);
}

static void
parse_chunk(json_t *c, size_t i, json_t *seen, json_t *problems)
{
	json_t *id, *task;
	char prefix[48];

	if (!json_is_object(c)) {
		problem(problems, "chunks[%zu]: expected an object", i);
		return;
	}
	snprintf(prefix, sizeof prefix, "chunks[%zu].", i);
	check_unknown(
	    c, prefix, chunk_members, nitems(chunk_members), problems);
	id = json_object_get(c, "id");
	task = json_object_get(c, "task");
	if (id == NULL)
		problem(problems, "chunks[%zu].id: required", i);
	else if (!json_is_string(id))
		problem(problems, "chunks[%zu].id: expected a string", i);
	else if (!chunk_id_ok(json_string_value(id)))
		problem(problems,
		    "chunks[%zu].id: \"%s\" is not 1-%d of [A-Za-z0-9._:-]", i,
		    json_string_value(id), MAX_CHUNK_ID);
	else if (json_object_get(seen, json_string_value(id)) != NULL)
		problem(problems, "chunks[%zu].id: duplicate \"%s\"", i,
		    json_string_value(id));
	else
		json_object_set_new(seen, json_string_value(id), json_true());
	if (task == NULL)
		problem(problems, "chunks[%zu].task: required", i);
	else if (!json_is_string(task))
		problem(problems, "chunks[%zu].task: expected a string", i);
}

static void
parse_chunks(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *chunks = json_object_get(j, "chunks"), *seen, *c;
	size_t i;

	if (chunks == NULL) {
		problem(problems, "chunks: required");
		return;
	}
	if (!json_is_array(chunks) || json_array_size(chunks) == 0) {
		problem(problems, "chunks: expected a non-empty array");
		return;
	}
	if (json_array_size(chunks) > MAX_CHUNKS) {
		problem(problems, "chunks: more than %d chunks", MAX_CHUNKS);
		return;
	}
	seen = json_object();
	json_array_foreach(chunks, i, c)
		parse_chunk(c, i, seen, problems);
	json_decref(seen);
	js->chunks = json_incref(chunks);
}

/* "stagger": {"batch": N, "interval": SECONDS}, both optional. */
static void
parse_stagger(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *s = json_object_get(j, "stagger"), *b, *i;

	if (s == NULL)
		return;
	if (!json_is_object(s)) {
		problem(problems, "stagger: expected an object");
		return;
	}
	check_unknown(
	    s, "stagger.", stagger_members, nitems(stagger_members), problems);
	b = json_object_get(s, "batch");
	i = json_object_get(s, "interval");
	if (b != NULL &&
	    (!json_is_integer(b) || json_integer_value(b) < 1 ||
	        json_integer_value(b) > 100000))
		problem(problems,
		    "stagger.batch: expected an integer from 1 to 100000");
	if (i != NULL &&
	    (!json_is_number(i) || json_number_value(i) < 0 ||
	        json_number_value(i) > 86400))
		problem(problems,
		    "stagger.interval: expected seconds from 0 to 86400");
	js->stagger = json_incref(s);
}

/* "result": {"path": RELATIVE, "schema": {...}}, both optional. */
static void
parse_result(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *r = json_object_get(j, "result"), *p, *schema;

	if (r == NULL)
		return;
	if (!json_is_object(r)) {
		problem(problems, "result: expected an object");
		return;
	}
	check_unknown(
	    r, "result.", result_members, nitems(result_members), problems);
	p = json_object_get(r, "path");
	if (p != NULL &&
	    (!json_is_string(p) || *json_string_value(p) == '\0' ||
	        *json_string_value(p) == '/'))
		problem(problems,
		    "result.path: expected a path relative to the workdir");
	if ((schema = json_object_get(r, "schema")) != NULL)
		result_schema_check(schema, "result.schema", problems);
	js->result = json_incref(r);
}

static void
parse_quota(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *per = json_object_get(j, "per_agent_tokens");
	json_t *sig = json_object_get(j, "cap_signal");

	if (per != NULL &&
	    (!json_is_integer(per) || json_integer_value(per) < 1))
		problem(
		    problems, "per_agent_tokens: expected a positive integer");
	else if (per != NULL)
		js->per_agent_tokens = json_integer_value(per);
	if (sig != NULL && !json_is_boolean(sig))
		problem(problems, "cap_signal: expected true or false");
	js->cap_signal = json_is_true(sig);
	parse_stagger(j, js, problems);
}

/* "agent": "claude-code" (claude.c) and its "session_resume" switch. */
static void
parse_agent(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *agent = json_object_get(j, "agent");
	json_t *resume = json_object_get(j, "session_resume");

	if (agent != NULL &&
	    (!json_is_string(agent) ||
	        strcmp(json_string_value(agent), "claude-code") != 0))
		problem(problems, "agent: the one preset is \"claude-code\"");
	if (resume != NULL && !json_is_boolean(resume))
		problem(problems, "session_resume: expected true or false");
	js->preset =
	    json_pack("{s:O*, s:O*}", "agent", agent, "session_resume", resume);
}

int
jobspec_parse(
    json_t *j, int default_concurrency, struct jobspec *js, json_t *problems)
{
	json_t *name;

	memset(js, 0, sizeof *js);
	js->concurrency = default_concurrency;
	if (!json_is_object(j)) {
		problem(problems, "$: expected a JSON object");
		return -1;
	}
	check_unknown(j, "", job_members, nitems(job_members), problems);
	name = json_object_get(j, "name");
	if (name == NULL)
		problem(problems, "name: required");
	else if (!json_is_string(name) || *json_string_value(name) == '\0' ||
	    strlen(json_string_value(name)) > MAX_NAME)
		problem(problems, "name: expected a string of 1-%d bytes",
		    MAX_NAME);
	else
		js->name = xstrdup(json_string_value(name));
	parse_command(j, js, problems);
	parse_workdir(j, js, problems);
	parse_env(j, js, problems);
	parse_int_member(
	    j, "concurrency", 1, 100000, &js->concurrency, problems);
	parse_int_member(j, "timeout", 0, 30 * 86400, &js->timeout, problems);
	parse_chunks(j, js, problems);
	parse_quota(j, js, problems);
	parse_result(j, js, problems);
	parse_agent(j, js, problems);
	if (json_array_size(problems) != 0) {
		jobspec_free(js);
		return -1;
	}
	return 0;
}

void
jobspec_free(struct jobspec *js)
{
	free(js->name);
	free(js->workdir);
	json_decref(js->command);
	json_decref(js->env);
	json_decref(js->chunks);
	json_decref(js->stagger);
	json_decref(js->result);
	json_decref(js->preset);
	memset(js, 0, sizeof *js);
}

/* Replace {task}, {chunk}, {job} and {agent} in TMPL; leave other text. */
char *
jobspec_expand(const char *tmpl, const char *task, const char *chunk,
    const char *job, const char *agent)
{
	const struct {
		const char *key;
		const char *value;
	} subst[] = {
		{ "{task}", task },
		{ "{chunk}", chunk },
		{ "{job}", job },
		{ "{agent}", agent },
	};
	size_t len = 0, cap = strlen(tmpl) + 1, i, n;
	char *out = xmalloc(cap);
	const char *p = tmpl, *add;

	while (*p != '\0') {
		add = NULL;
		n = 1;
		for (i = 0; i < nitems(subst); i++) {
			if (strncmp(p, subst[i].key, strlen(subst[i].key)) ==
			    0) {
				add = subst[i].value;
				n = strlen(subst[i].key);
				break;
			}
		}
		if (add == NULL) {
			add = p;
			i = 1;
		} else
			i = strlen(add);
		if (len + i + 1 > cap) {
			cap = (len + i + 1) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + len, add, i);
		len += i;
		p += n;
	}
	out[len] = '\0';
	return out;
}
