/*
 * jobspec.c: validate a job document as a whole before anything of it is
 * stored.  Every problem is named by its JSON path, so one round trip
 * shows the operator everything that is wrong.
 */
#include <sys/stat.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

#define MAX_CHUNK_ID 128
#define MAX_NAME 256
#define MAX_CHUNKS 1000000
#define MAX_FIELD 64 /* a chunk field's name */

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
	"worktree",
	"gates",
	"gate_retries",
	"merge",
	"agent",
	"session_resume",
};
static const char *gate_members[] = { "name", "command", "timeout" };
static const char *merge_members[] = { "into", "mode", "push", "priority",
	"batch" };
static const char *merge_modes[] = { "rebase", "merge", "squash" };
static const char *worktree_members[] = { "repo", "base", "branch", "root",
	"email", "remote" };
static const char *result_members[] = { "path", "schema" };
static const char *stagger_members[] = { "batch", "interval" };
static const char *chunk_members[] = { "id", "task" };
/* The placeholders swarmd fills in itself. */
static const char *builtin_names[] = { "task", "chunk", "job", "agent" };

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

/* [A-Za-z_][A-Za-z0-9_]*, at most MAX_FIELD bytes: a placeholder's name. */
static int
field_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > MAX_FIELD || isdigit((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	}
	return 1;
}

/*
 * A chunk's own fields, beside id and task: strings, each the value of
 * the placeholder of its name.  One that would hide a placeholder of
 * swarmd's own is refused.
 */
static void
check_fields(json_t *c, size_t i, json_t *problems)
{
	const char *key;
	json_t *v;

	json_object_foreach(c, key, v) {
		if (known(key, chunk_members, nitems(chunk_members)))
			continue;
		if (!field_name_ok(key, strlen(key)) || !json_is_string(v))
			problem(problems,
			    "chunks[%zu].%s: unknown field; a chunk's own fields "
			    "are strings named [A-Za-z_][A-Za-z0-9_]* (at most "
			    "%d bytes), for the {placeholders} of command",
			    i, key, MAX_FIELD);
		else if (known(key, builtin_names, nitems(builtin_names)))
			problem(problems,
			    "chunks[%zu].%s: swarmd sets {%s} itself; name the "
			    "field otherwise",
			    i, key, key);
	}
}

static void
parse_chunk(json_t *c, size_t i, json_t *seen, json_t *problems)
{
	json_t *id, *task;

	if (!json_is_object(c)) {
		problem(problems, "chunks[%zu]: expected an object", i);
		return;
	}
	check_fields(c, i, problems);
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

/* A name git takes as a ref or revision, never as an option. */
static void
ref_name(
    json_t *o, const char *what, const char *key, int need, json_t *problems)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);

	if (v == NULL && need)
		problem(problems, "%s.%s: required", what, key);
	else if (v != NULL &&
	    (s == NULL || *s == '\0' || *s == '-' || strlen(s) > MAX_NAME))
		problem(problems,
		    "%s.%s: expected a name of 1-%d bytes, not starting "
		    "with '-'",
		    what, key, MAX_NAME);
}

static void
wt_path(json_t *wt, const char *key, int need, json_t *problems)
{
	json_t *v = json_object_get(wt, key);
	const char *s = json_string_value(v);
	struct stat sb;

	if (v == NULL && need)
		problem(problems, "worktree.%s: required", key);
	else if (v != NULL && (s == NULL || *s != '/'))
		problem(
		    problems, "worktree.%s: expected an absolute path", key);
	else if (v != NULL && need &&
	    (stat(s, &sb) == -1 || !S_ISDIR(sb.st_mode)))
		problem(
		    problems, "worktree.%s: no such directory \"%s\"", key, s);
}

/* A chunk id that is also a path component and a ref component. */
static int
chunk_ref_ok(const char *s)
{
	size_t n = strlen(s);

	return *s != '.' && strstr(s, "..") == NULL && strchr(s, ':') == NULL &&
	    s[n - 1] != '.' && (n < 5 || strcmp(s + n - 5, ".lock") != 0);
}

/*
 * "worktree": {"repo", "base", "branch", "root", "email", "remote"}.
 * What only git can tell (a repository, its base) is asked at submit.
 */
static void
parse_worktree(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *wt = json_object_get(j, "worktree"), *c;
	const char *branch;
	size_t i;

	if (wt == NULL)
		return;
	if (!json_is_object(wt)) {
		problem(problems, "worktree: expected an object");
		return;
	}
	check_unknown(wt, "worktree.", worktree_members,
	    nitems(worktree_members), problems);
	wt_path(wt, "repo", 1, problems);
	ref_name(wt, "worktree", "base", 1, problems);
	ref_name(wt, "worktree", "branch", 0, problems);
	ref_name(wt, "worktree", "remote", 0, problems);
	wt_path(wt, "root", 0, problems);
	if (json_object_get(wt, "email") != NULL &&
	    !json_is_string(json_object_get(wt, "email")))
		problem(problems, "worktree.email: expected a string");
	branch = json_string_value(json_object_get(wt, "branch"));
	if (branch != NULL && strstr(branch, "{chunk}") == NULL)
		problem(problems,
		    "worktree.branch: must contain {chunk}: each chunk has a "
		    "branch of its own");
	json_array_foreach(js->chunks, i, c) {
		const char *id = json_string_value(json_object_get(c, "id"));

		if (id != NULL && chunk_id_ok(id) && !chunk_ref_ok(id))
			problem(problems,
			    "chunks[%zu].id: \"%s\" cannot name a branch or a "
			    "worktree (a leading or trailing '.', \"..\", ':' or "
			    "\".lock\")",
			    i, id);
	}
	js->worktree = json_incref(wt);
}

static void
parse_gate(json_t *g, size_t i, json_t *seen, json_t *problems)
{
	json_t *name = json_object_get(g, "name"), *cmd, *v;
	char prefix[32];
	size_t k;

	snprintf(prefix, sizeof prefix, "gates[%zu].", i);
	if (!json_is_object(g)) {
		problem(problems, "gates[%zu]: expected an object", i);
		return;
	}
	check_unknown(g, prefix, gate_members, nitems(gate_members), problems);
	if (!json_is_string(name) || !chunk_id_ok(json_string_value(name)))
		problem(problems,
		    "gates[%zu].name: expected 1-%d of "
		    "[A-Za-z0-9._:-]",
		    i, MAX_CHUNK_ID);
	else if (json_object_get(seen, json_string_value(name)) != NULL)
		problem(problems, "gates[%zu].name: duplicate \"%s\"", i,
		    json_string_value(name));
	else
		json_object_set_new(seen, json_string_value(name), json_true());
	cmd = json_object_get(g, "command");
	if (!json_is_array(cmd) || json_array_size(cmd) == 0)
		problem(problems,
		    "gates[%zu].command: expected a non-empty array of strings",
		    i);
	json_array_foreach(cmd, k, v) {
		if (!json_is_string(v) ||
		    (k == 0 && *json_string_value(v) == '\0'))
			problem(problems,
			    "gates[%zu].command[%zu]: expected a "
			    "string",
			    i, k);
	}
	v = json_object_get(g, "timeout");
	if (v != NULL &&
	    (!json_is_integer(v) || json_integer_value(v) < 1 ||
	        json_integer_value(v) > 86400))
		problem(problems,
		    "gates[%zu].timeout: expected 1-86400 seconds", i);
}

/*
 * "gates": [{"name", "command", "timeout"}], run in order in the chunk's
 * worktree once an attempt succeeds; so a job with gates has one.
 */
static void
parse_gates(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *gates = json_object_get(j, "gates"), *g, *seen;
	int retries = -1;
	size_t i;

	parse_int_member(j, "gate_retries", 0, 100, &retries, problems);
	js->gate_retries = retries;
	if (gates == NULL)
		return;
	if (!json_is_array(gates)) {
		problem(problems, "gates: expected an array");
		return;
	}
	if (json_object_get(j, "worktree") == NULL)
		problem(problems,
		    "gates: need a worktree (gates run in the "
		    "chunk's worktree)");
	seen = json_object();
	json_array_foreach(gates, i, g)
		parse_gate(g, i, seen, problems);
	json_decref(seen);
	js->gates = json_incref(gates);
}

/* An integer member of "merge" within [MIN, MAX], when given. */
static void
merge_int(json_t *m, const char *key, int min, int max, json_t *problems)
{
	json_t *v = json_object_get(m, key);

	if (v != NULL &&
	    (!json_is_integer(v) || json_integer_value(v) < min ||
	        json_integer_value(v) > max))
		problem(problems, "merge.%s: expected an integer from %d to %d",
		    key, min, max);
}

/*
 * "merge": {"into", "mode", "push", "priority", "batch"}: a chunk whose
 * gates pass goes through the merge queue of its repository's INTO; so
 * a job that merges has a worktree.
 */
static void
parse_merge(json_t *j, struct jobspec *js, json_t *problems)
{
	json_t *m = json_object_get(j, "merge");
	const char *mode;
	size_t i;

	if (m == NULL)
		return;
	if (!json_is_object(m)) {
		problem(problems, "merge: expected an object");
		return;
	}
	check_unknown(
	    m, "merge.", merge_members, nitems(merge_members), problems);
	if (json_object_get(j, "worktree") == NULL)
		problem(problems,
		    "merge: needs a worktree (what lands is the chunk's "
		    "branch)");
	ref_name(m, "merge", "into", 1, problems);
	ref_name(m, "merge", "push", 0, problems);
	mode = json_string_value(json_object_get(m, "mode"));
	for (i = 0; mode != NULL && i < nitems(merge_modes); i++)
		if (strcmp(mode, merge_modes[i]) == 0)
			break;
	if (json_object_get(m, "mode") != NULL &&
	    (mode == NULL || i == nitems(merge_modes)))
		problem(problems,
		    "merge.mode: expected \"rebase\", \"merge\" or "
		    "\"squash\"");
	merge_int(m, "priority", -1000, 1000, problems);
	merge_int(m, "batch", 1, 64, problems);
	js->merge = json_incref(m);
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

/*
 * The next placeholder at or after P in TMPL: "{name}", its name of
 * [A-Za-z_][A-Za-z0-9_]*, not right after a "$" (the shell's ${NAME} is
 * left to the shell).  Its "{" or NULL; *LEN is the name's length.
 */
static const char *
placeholder_next(const char *tmpl, const char *p, size_t *len)
{
	const char *close;

	for (; (p = strchr(p, '{')) != NULL; p++) {
		if (p > tmpl && p[-1] == '$')
			continue;
		if ((close = strchr(p + 1, '}')) == NULL)
			return NULL;
		*len = (size_t)(close - p - 1);
		if (*len <= MAX_FIELD && field_name_ok(p + 1, *len))
			return p;
	}
	return NULL;
}

/* The chunks without a string field NAME: how many, and the first. */
static size_t
chunks_lacking(json_t *chunks, const char *name, size_t *first)
{
	size_t i, n = 0;
	json_t *c;

	json_array_foreach(chunks, i, c) {
		if (json_is_string(json_object_get(c, name)) &&
		    !known(name, chunk_members, nitems(chunk_members)))
			continue;
		if (n++ == 0)
			*first = i;
	}
	return n;
}

/*
 * Every placeholder of command must have a value: one of swarmd's own
 * ({task}, {chunk}, {job}, {agent}) or a field every chunk carries.  An
 * unknown one is named with its word, not left in an agent's argv.
 */
static void
check_placeholders(json_t *cmd, json_t *chunks, json_t *problems)
{
	char name[MAX_FIELD + 1];
	const char *w, *p;
	size_t i, len, first = 0, n;
	json_t *v;

	json_array_foreach(cmd, i, v) {
		if ((w = json_string_value(v)) == NULL)
			continue;
		for (p = w; (p = placeholder_next(w, p, &len)) != NULL;
		     p += len + 2) {
			snprintf(name, sizeof name, "%.*s", (int)len, p + 1);
			if (known(name, builtin_names, nitems(builtin_names)))
				continue;
			n = chunks_lacking(chunks, name, &first);
			if (n == json_array_size(chunks))
				problem(problems,
				    "command[%zu]: unknown placeholder {%s}: "
				    "not {task}, {chunk}, {job}, {agent} nor a "
				    "field of the chunks",
				    i, name);
			else if (n > 0)
				problem(problems,
				    "command[%zu]: {%s} has no value in "
				    "chunks[%zu] (a string field \"%s\"; %zu "
				    "chunks lack it)",
				    i, name, first, name, n);
		}
	}
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
	if (js->command != NULL && js->chunks != NULL)
		check_placeholders(js->command, js->chunks, problems);
	parse_quota(j, js, problems);
	parse_result(j, js, problems);
	parse_worktree(j, js, problems);
	parse_gates(j, js, problems);
	parse_merge(j, js, problems);
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
	json_decref(js->worktree);
	json_decref(js->gates);
	json_decref(js->merge);
	json_decref(js->preset);
	memset(js, 0, sizeof *js);
}

static void
append(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*out = xrealloc(*out, *cap);
	}
	memcpy(*out + *len, s, n);
	*len += n;
}

/*
 * Replace {task}, {chunk}, {job}, {agent} and the chunk's own FIELDS (an
 * object of strings, or NULL) in TMPL; leave other text, and placeholders
 * without a value, as they are.  Values go in verbatim, never expanded.
 */
char *
jobspec_expand(const char *tmpl, const char *task, const char *chunk,
    const char *job, const char *agent, json_t *fields)
{
	const char *values[] = { task, chunk, job, agent };
	size_t len = 0, cap = strlen(tmpl) + 1, n, i;
	char *out = xmalloc(cap), name[MAX_FIELD + 1];
	const char *p = tmpl, *at, *value;

	while ((at = placeholder_next(tmpl, p, &n)) != NULL) {
		snprintf(name, sizeof name, "%.*s", (int)n, at + 1);
		value = json_string_value(json_object_get(fields, name));
		for (i = 0; i < nitems(builtin_names); i++) {
			if (strcmp(name, builtin_names[i]) == 0)
				value = values[i];
		}
		append(&out, &len, &cap, p, (size_t)(at - p));
		if (value != NULL)
			append(&out, &len, &cap, value, strlen(value));
		else
			append(&out, &len, &cap, at, n + 2);
		p = at + n + 2;
	}
	append(&out, &len, &cap, p, strlen(p));
	out[len] = '\0';
	return out;
}
