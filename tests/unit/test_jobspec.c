/*
 * test_jobspec.c: job document validation, one exact "path: message" per
 * problem, and command template expansion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "swarmd.h"

#define VALID \
	"{\"name\": \"j\", \"command\": [\"echo\", \"{task}\"], " \
	"\"chunks\": [{\"id\": \"a\", \"task\": \"t\"}]}"

#define CHUNK_FIELD \
	"unknown field; a chunk's own fields are strings named " \
	"[A-Za-z_][A-Za-z0-9_]* (at most 64 bytes), for the {placeholders} " \
	"of command"

/* A mkdtemp/mkstemp template under $TMPDIR. */
static void
tmp_template(char *buf, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(buf, len, "%s/swarmd-jobspec-XXXXXX",
	    tmp != NULL && *tmp == '/' ? tmp : "/tmp");
}

static json_t *
load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	if (j == NULL)
		fail_msg("bad test JSON: %s: %s", e.text, text);
	return j;
}

static int
problems_match(json_t *problems, const char **want)
{
	size_t i;

	for (i = 0; want[i] != NULL; i++) {
		if (i >= json_array_size(problems) ||
		    strcmp(json_string_value(json_array_get(problems, i)),
		        want[i]) != 0)
			return 0;
	}
	return i == json_array_size(problems);
}

/* Parse J; expect failure with exactly the problems in WANT (NULL ends). */
static void
assert_problems_json(json_t *j, const char **want)
{
	json_t *problems = json_array();
	struct jobspec js;
	size_t i;

	assert_int_equal(jobspec_parse(j, 4, &js, problems), -1);
	if (!problems_match(problems, want)) {
		for (i = 0; want[i] != NULL; i++)
			print_error("want: %s\n", want[i]);
		for (i = 0; i < json_array_size(problems); i++)
			print_error("got:  %s\n",
			    json_string_value(json_array_get(problems, i)));
		fail_msg("problems differ");
	}
	/* A failed parse leaves nothing behind. */
	assert_null(js.name);
	assert_null(js.command);
	assert_null(js.workdir);
	assert_null(js.env);
	assert_null(js.chunks);
	json_decref(problems);
}

static void
assert_problems(const char *text, const char **want)
{
	json_t *j = load(text);

	assert_problems_json(j, want);
	json_decref(j);
}

/*
 * The valid job with member KEY replaced by the JSON text VALUE (removed
 * when VALUE is NULL) must fail with exactly the one problem WANT.
 */
static void
assert_member(const char *key, const char *value, const char *want)
{
	const char *w[] = { want, NULL };
	json_t *j = load(VALID);

	if (value == NULL)
		json_object_del(j, key);
	else
		json_object_set_new(j, key, load(value));
	assert_problems_json(j, w);
	json_decref(j);
}

/* The valid job with member KEY set to VALUE must parse. */
static void
assert_member_ok(const char *key, const char *value, struct jobspec *js)
{
	json_t *j = load(VALID), *problems = json_array();

	json_object_set_new(j, key, load(value));
	assert_int_equal(jobspec_parse(j, 4, js, problems), 0);
	assert_int_equal(json_array_size(problems), 0);
	json_decref(problems);
	json_decref(j);
}

static void
test_valid_defaults(void **state)
{
	json_t *j = load(VALID), *problems = json_array();
	struct jobspec js;

	(void)state;
	assert_int_equal(jobspec_parse(j, 7, &js, problems), 0);
	assert_int_equal(json_array_size(problems), 0);
	assert_string_equal(js.name, "j");
	assert_ptr_equal(js.command, json_object_get(j, "command"));
	assert_ptr_equal(js.chunks, json_object_get(j, "chunks"));
	assert_null(js.env);
	assert_null(js.workdir);
	assert_int_equal(js.concurrency, 7);
	assert_int_equal(js.timeout, 0);
	json_decref(j);
	/* js holds its own references. */
	assert_string_equal(
	    json_string_value(json_array_get(js.command, 0)), "echo");
	jobspec_free(&js);
	assert_null(js.name);
	json_decref(problems);
}

static void
test_valid_everything(void **state)
{
	char dir[128], text[512];
	json_t *j, *problems = json_array();
	struct jobspec js;

	(void)state;
	tmp_template(dir, sizeof dir);
	assert_non_null(mkdtemp(dir));
	snprintf(text, sizeof text,
	    "{\"name\": \"full\", \"command\": [\"sh\", \"-c\", \"x\"], "
	    "\"workdir\": \"%s\", \"env\": {\"A\": \"1\", \"B_2\": \"\"}, "
	    "\"concurrency\": 3, \"timeout\": 60, \"chunks\": "
	    "[{\"id\": \"a.b:c-d_9\", \"task\": \"t\"}, "
	    "{\"id\": \"b\", \"task\": \"\"}]}",
	    dir);
	j = load(text);
	assert_int_equal(jobspec_parse(j, 7, &js, problems), 0);
	assert_string_equal(js.workdir, dir);
	assert_int_equal(js.concurrency, 3);
	assert_int_equal(js.timeout, 60);
	assert_string_equal(
	    json_string_value(json_object_get(js.env, "A")), "1");
	assert_int_equal(json_array_size(js.chunks), 2);
	jobspec_free(&js);
	json_decref(j);
	json_decref(problems);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_limits_accepted(void **state)
{
	char id[129], value[200];
	struct jobspec js;

	(void)state;
	assert_member_ok("concurrency", "100000", &js);
	assert_int_equal(js.concurrency, 100000);
	jobspec_free(&js);
	assert_member_ok("concurrency", "1", &js);
	assert_int_equal(js.concurrency, 1);
	jobspec_free(&js);
	assert_member_ok("timeout", "2592000", &js);
	assert_int_equal(js.timeout, 2592000);
	jobspec_free(&js);
	memset(id, 'i', 128);
	id[128] = '\0';
	snprintf(
	    value, sizeof value, "[{\"id\": \"%s\", \"task\": \"t\"}]", id);
	assert_member_ok("chunks", value, &js);
	jobspec_free(&js);
}

static void
test_name_length(void **state)
{
	char value[300];
	struct jobspec js;

	(void)state;
	value[0] = '"';
	memset(value + 1, 'n', 256);
	strcpy(value + 257, "\"");
	assert_member_ok("name", value, &js);
	assert_int_equal(strlen(js.name), 256);
	jobspec_free(&js);
	strcpy(value + 257, "n\"");
	assert_member("name", value, "name: expected a string of 1-256 bytes");
}

static void
test_not_object(void **state)
{
	const char *want[] = { "$: expected a JSON object", NULL };
	json_t *problems = json_array();
	struct jobspec js;

	(void)state;
	assert_problems("[]", want);
	assert_problems("\"job\"", want);
	assert_int_equal(jobspec_parse(NULL, 4, &js, problems), -1);
	assert_int_equal(json_array_size(problems), 1);
	json_decref(problems);
}

static void
test_unknown_field(void **state)
{
	(void)state;
	assert_member("bogus", "1", "bogus: unknown field");
	assert_member("chunks", "[{\"id\": \"a\", \"task\": \"t\", \"x\": 1}]",
	    "chunks[0].x: " CHUNK_FIELD);
}

static void
test_name(void **state)
{
	(void)state;
	assert_member("name", NULL, "name: required");
	assert_member("name", "\"\"", "name: expected a string of 1-256 bytes");
	assert_member("name", "5", "name: expected a string of 1-256 bytes");
}

static void
test_command(void **state)
{
	const char *nonempty = "command: expected a non-empty array of strings";

	(void)state;
	assert_member("command", NULL, "command: required");
	assert_member("command", "\"echo hi\"", nonempty);
	assert_member("command", "[]", nonempty);
	assert_member(
	    "command", "[\"echo\", 1]", "command[1]: expected a string");
	assert_member("command", "[null]", "command[0]: expected a string");
	assert_member("command", "[\"\", \"x\"]", "command[0]: empty");
}

static void
test_workdir(void **state)
{
	char dir[128], value[160], want[200];

	(void)state;
	assert_member("workdir", "5", "workdir: expected a string");
	assert_member("workdir", "\"rel/dir\"",
	    "workdir: must be an absolute path, not \"rel/dir\"");
	assert_member(
	    "workdir", "\"\"", "workdir: must be an absolute path, not \"\"");
	tmp_template(dir, sizeof dir);
	assert_non_null(mkdtemp(dir));
	snprintf(value, sizeof value, "\"%s/none\"", dir);
	snprintf(
	    want, sizeof want, "workdir: no such directory \"%s/none\"", dir);
	assert_member("workdir", value, want);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_workdir_is_file(void **state)
{
	char file[128], value[160], want[200];
	int fd;

	(void)state;
	tmp_template(file, sizeof file);
	assert_true((fd = mkstemp(file)) != -1);
	close(fd);
	snprintf(value, sizeof value, "\"%s\"", file);
	snprintf(want, sizeof want, "workdir: no such directory \"%s\"", file);
	assert_member("workdir", value, want);
	assert_int_equal(unlink(file), 0);
}

static void
test_env(void **state)
{
	(void)state;
	assert_member("env", "[\"A=1\"]", "env: expected an object of strings");
	assert_member("env", "\"A=1\"", "env: expected an object of strings");
	assert_member("env", "{\"A\": 1}", "env.A: expected a string");
	assert_member("env", "{\"A\": null}", "env.A: expected a string");
	assert_member("env", "{\"SWARM_X\": \"1\"}",
	    "env.SWARM_X: SWARM_ variables are set by swarmd");
	assert_member("env", "{\"SWARM_TOKEN\": 1}",
	    "env.SWARM_TOKEN: SWARM_ variables are set by swarmd");
	assert_member(
	    "env", "{\"A=B\": \"1\"}", "env: bad variable name \"A=B\"");
	assert_member("env", "{\"\": \"1\"}", "env: bad variable name \"\"");
}

static void
test_concurrency(void **state)
{
	const char *range = "concurrency: must be between 1 and 100000";

	(void)state;
	assert_member(
	    "concurrency", "\"4\"", "concurrency: expected an integer");
	assert_member("concurrency", "2.0", "concurrency: expected an integer");
	assert_member(
	    "concurrency", "true", "concurrency: expected an integer");
	assert_member("concurrency", "0", range);
	assert_member("concurrency", "-1", range);
	assert_member("concurrency", "100001", range);
	assert_member("concurrency", "4294967297", range);
}

static void
test_timeout(void **state)
{
	const char *range = "timeout: must be between 0 and 2592000";

	(void)state;
	assert_member("timeout", "\"60\"", "timeout: expected an integer");
	assert_member("timeout", "-1", range);
	assert_member("timeout", "2592001", range);
}

static void
test_chunks_shape(void **state)
{
	(void)state;
	assert_member("chunks", NULL, "chunks: required");
	assert_member("chunks", "[]", "chunks: expected a non-empty array");
	assert_member("chunks", "{\"id\": \"a\", \"task\": \"t\"}",
	    "chunks: expected a non-empty array");
	assert_member("chunks", "[1]", "chunks[0]: expected an object");
	assert_member("chunks", "[{\"id\": \"a\", \"task\": \"t\"}, \"b\"]",
	    "chunks[1]: expected an object");
}

static void
test_chunk_id(void **state)
{
	char id[130], value[200], want[300];

	(void)state;
	assert_member(
	    "chunks", "[{\"task\": \"t\"}]", "chunks[0].id: required");
	assert_member("chunks", "[{\"id\": 1, \"task\": \"t\"}]",
	    "chunks[0].id: expected a string");
	assert_member("chunks", "[{\"id\": \"a b\", \"task\": \"t\"}]",
	    "chunks[0].id: \"a b\" is not 1-128 of [A-Za-z0-9._:-]");
	assert_member("chunks", "[{\"id\": \"a/b\", \"task\": \"t\"}]",
	    "chunks[0].id: \"a/b\" is not 1-128 of [A-Za-z0-9._:-]");
	assert_member("chunks", "[{\"id\": \"\", \"task\": \"t\"}]",
	    "chunks[0].id: \"\" is not 1-128 of [A-Za-z0-9._:-]");
	memset(id, 'i', 129);
	id[129] = '\0';
	snprintf(
	    value, sizeof value, "[{\"id\": \"%s\", \"task\": \"t\"}]", id);
	snprintf(want, sizeof want,
	    "chunks[0].id: \"%s\" is not 1-128 of [A-Za-z0-9._:-]", id);
	assert_member("chunks", value, want);
}

static void
test_chunk_duplicate(void **state)
{
	(void)state;
	assert_member("chunks",
	    "[{\"id\": \"a\", \"task\": \"1\"}, {\"id\": \"b\", "
	    "\"task\": \"2\"}, "
	    "{\"id\": \"a\", \"task\": \"3\"}]",
	    "chunks[2].id: duplicate \"a\"");
}

static void
test_chunk_task(void **state)
{
	(void)state;
	assert_member(
	    "chunks", "[{\"id\": \"a\"}]", "chunks[0].task: required");
	assert_member("chunks", "[{\"id\": \"a\", \"task\": 5}]",
	    "chunks[0].task: expected a string");
}

static void
test_all_problems_at_once(void **state)
{
	const char *want[] = {
		"bogus: unknown field",
		"name: required",
		"command: expected a non-empty array of strings",
		"workdir: must be an absolute path, not \"w\"",
		"env.SWARM_JOB: SWARM_ variables are set by swarmd",
		"concurrency: expected an integer",
		"timeout: must be between 0 and 2592000",
		"chunks[0].task: required",
		"chunks[1].id: duplicate \"a\"",
		"chunks[2]: expected an object",
		NULL,
	};

	(void)state;
	assert_problems(
	    "{\"bogus\": 1, \"command\": [], \"workdir\": \"w\", "
	    "\"env\": {\"SWARM_JOB\": \"x\"}, \"concurrency\": null, "
	    "\"timeout\": -5, \"chunks\": [{\"id\": \"a\"}, "
	    "{\"id\": \"a\", \"task\": \"t\"}, []]}",
	    want);
}

/* A chunk with two problems reports both. */
static void
test_chunk_two_problems(void **state)
{
	const char *want[] = {
		"chunks[0].z: " CHUNK_FIELD,
		"chunks[0].id: required",
		"chunks[0].task: expected a string",
		NULL,
	};

	(void)state;
	assert_problems("{\"name\": \"j\", \"command\": [\"c\"], "
	                "\"chunks\": [{\"z\": 0, \"task\": []}]}",
	    want);
}

/* A chunk's own string fields are placeholders; others are refused. */
static void
test_chunk_fields(void **state)
{
	struct jobspec js;

	(void)state;
	assert_member_ok("chunks",
	    "[{\"id\": \"a\", \"task\": \"t\", \"file\": \"src/a.c\", "
	    "\"_n2\": \"\"}]",
	    &js);
	jobspec_free(&js);
	assert_member("chunks",
	    "[{\"id\": \"a\", \"task\": \"t\", \"file\": [\"x\"]}]",
	    "chunks[0].file: " CHUNK_FIELD);
	assert_member("chunks",
	    "[{\"id\": \"a\", \"task\": \"t\", \"a-b\": \"x\"}]",
	    "chunks[0].a-b: " CHUNK_FIELD);
	assert_member("chunks",
	    "[{\"id\": \"a\", \"task\": \"t\", \"2x\": \"x\"}]",
	    "chunks[0].2x: " CHUNK_FIELD);
	assert_member("chunks",
	    "[{\"id\": \"a\", \"task\": \"t\", \"job\": \"x\"}]",
	    "chunks[0].job: swarmd sets {job} itself; name the field "
	    "otherwise");
}

/* Every placeholder of command has a value, or the job is refused. */
static void
test_placeholders(void **state)
{
	struct jobspec js;

	(void)state;
	assert_member_ok("command",
	    "[\"x\", \"{task} {chunk} {job} {agent}\", \"${HOME} {x y} {}\", "
	    "\"{ task }\", \"awk {print $1}\"]",
	    &js);
	jobspec_free(&js);
	assert_member("command", "[\"x\", \"--file={file}\"]",
	    "command[1]: unknown placeholder {file}: not {task}, {chunk}, "
	    "{job}, {agent} nor a field of the chunks");
	assert_member("command", "[\"{tsak}\"]",
	    "command[0]: unknown placeholder {tsak}: not {task}, {chunk}, "
	    "{job}, {agent} nor a field of the chunks");
	/* {id} is no placeholder: {chunk} is the chunk's id. */
	assert_member("command", "[\"x\", \"{id}\"]",
	    "command[1]: unknown placeholder {id}: not {task}, {chunk}, "
	    "{job}, {agent} nor a field of the chunks");
}

/* A field some chunks lack is named, with the first chunk lacking it. */
static void
test_placeholder_partial(void **state)
{
	const char *want[] = {
		"command[1]: {file} has no value in chunks[1] (a string field "
		"\"file\"; 2 chunks lack it)",
		NULL,
	};
	struct jobspec js;
	json_t *problems = json_array();
	json_t *j =
	    load("{\"name\": \"j\", \"command\": [\"x\", \"{file}\"], "
	         "\"chunks\": [{\"id\": \"a\", \"task\": \"t\", "
	         "\"file\": \"a.c\"}, {\"id\": \"b\", \"task\": \"t\"}, "
	         "{\"id\": \"c\", \"task\": \"t\", \"file\": \"c.c\"}, "
	         "{\"id\": \"d\", \"task\": \"t\"}]}");

	(void)state;
	assert_problems_json(j, want);
	json_object_set_new(j, "chunks",
	    load("[{\"id\": \"a\", \"task\": \"t\", \"file\": \"a.c\"}]"));
	assert_int_equal(jobspec_parse(j, 4, &js, problems), 0);
	jobspec_free(&js);
	json_decref(problems);
	json_decref(j);
}

static void
test_expand_fields(void **state)
{
	json_t *fields = load("{\"file\": \"src/a.c\", \"n\": \"{task}\"}");
	char *got;

	(void)state;
	got = jobspec_expand("--file={file} {n} {task} {none} ${file}", "T",
	    "c", "j", "a", fields);
	assert_string_equal(got, "--file=src/a.c {task} T {none} ${file}");
	free(got);
	json_decref(fields);
}

static void
assert_expand(const char *tmpl, const char *want)
{
	char *got =
	    jobspec_expand(tmpl, "TASK", "c1", "job-3", "agent-9", NULL);

	assert_string_equal(got, want);
	free(got);
}

static void
test_expand_placeholders(void **state)
{
	(void)state;
	assert_expand("{task}", "TASK");
	assert_expand("{chunk}", "c1");
	assert_expand("{job}", "job-3");
	assert_expand("{agent}", "agent-9");
	assert_expand("do {task} on {chunk} for {job} as {agent}.",
	    "do TASK on c1 for job-3 as agent-9.");
}

static void
test_expand_repeated(void **state)
{
	(void)state;
	assert_expand("{task}{task}-{task}", "TASKTASK-TASK");
	assert_expand("{chunk}/{chunk}", "c1/c1");
	assert_expand("{{task}}", "{TASK}");
}

static void
test_expand_leaves_other_text(void **state)
{
	(void)state;
	assert_expand("", "");
	assert_expand("plain", "plain");
	assert_expand("{x} {Task} {task {}", "{x} {Task} {task {}");
	assert_expand("{", "{");
	assert_expand("}{task", "}{task");
}

/* Values are inserted as they are, never expanded again. */
static void
test_expand_values_verbatim(void **state)
{
	char *got;

	(void)state;
	got = jobspec_expand("<{task}>", "{chunk}", "c1", "j", "a", NULL);
	assert_string_equal(got, "<{chunk}>");
	free(got);
	got = jobspec_expand("[{task}]", "", "c1", "j", "a", NULL);
	assert_string_equal(got, "[]");
	free(got);
}

static void
test_expand_grows(void **state)
{
	char big[5001], want[10010];
	char *got;

	(void)state;
	memset(big, 'x', 5000);
	big[5000] = '\0';
	snprintf(want, sizeof want, "%s:%s!", big, big);
	got = jobspec_expand("{task}:{task}!", big, "c", "j", "a", NULL);
	assert_string_equal(got, want);
	free(got);
}

/* A job's worktree: refused by path for each kind of bad member. */
static void
test_worktree(void **state)
{
	(void)state;
	assert_member("worktree", "[]", "worktree: expected an object");
	assert_member("worktree", "{\"repo\": \"rel\", \"base\": \"main\"}",
	    "worktree.repo: expected an absolute path");
	assert_member(
	    "worktree", "{\"repo\": \"/\"}", "worktree.base: required");
	assert_member("worktree", "{\"repo\": \"/\", \"base\": \"-x\"}",
	    "worktree.base: expected a name of 1-256 bytes, not starting "
	    "with '-'");
	assert_member("worktree",
	    "{\"repo\": \"/\", \"base\": \"main\", \"branch\": \"b\"}",
	    "worktree.branch: must contain {chunk}: each chunk has a branch "
	    "of its own");
	assert_member("worktree",
	    "{\"repo\": \"/\", \"base\": \"main\", \"colour\": 1}",
	    "worktree.colour: unknown field");
}

/* VALID with a worktree and GATES (JSON text) must fail with WANT. */
static void
assert_gates(const char *gates, const char *want)
{
	const char *w[] = { want, NULL };
	json_t *j = load(VALID);

	json_object_set_new(
	    j, "worktree", load("{\"repo\": \"/\", \"base\": \"main\"}"));
	json_object_set_new(j, "gates", load(gates));
	assert_problems_json(j, w);
	json_decref(j);
}

static void
test_gates(void **state)
{
	(void)state;
	assert_member("gates", "[{\"name\": \"t\", \"command\": [\"make\"]}]",
	    "gates: need a worktree (gates run in the chunk's worktree)");
	assert_gates("{}", "gates: expected an array");
	assert_gates("[{\"name\": \"t\", \"command\": [\"make\"]}, "
	             "{\"name\": \"t\", \"command\": [\"make\"]}]",
	    "gates[1].name: duplicate \"t\"");
	assert_gates(
	    "[{\"name\": \"t\", \"command\": [\"make\"], \"timeout\": 0}]",
	    "gates[0].timeout: expected 1-86400 seconds");
	assert_gates("[{\"name\": \"a b\", \"command\": [\"make\"]}]",
	    "gates[0].name: expected 1-128 of [A-Za-z0-9._:-]");
	assert_gates("[{\"name\": \"t\", \"command\": [\"make\"], \"x\": 1}]",
	    "gates[0].x: unknown field");
	assert_member(
	    "gate_retries", "101", "gate_retries: must be between 0 and 100");
}

/* VALID with a worktree and MERGE (JSON text) must fail with WANT. */
static void
assert_merge(const char *merge, const char *want)
{
	const char *w[] = { want, NULL };
	json_t *j = load(VALID);

	json_object_set_new(
	    j, "worktree", load("{\"repo\": \"/\", \"base\": \"main\"}"));
	json_object_set_new(j, "merge", load(merge));
	assert_problems_json(j, w);
	json_decref(j);
}

/* A job's merge: refused by path for each kind of bad member. */
static void
test_merge(void **state)
{
	(void)state;
	assert_member("merge", "{\"into\": \"main\"}",
	    "merge: needs a worktree (what lands is the chunk's branch)");
	assert_merge("[]", "merge: expected an object");
	assert_merge("{}", "merge.into: required");
	assert_merge("{\"into\": \"-f\"}",
	    "merge.into: expected a name of 1-256 bytes, not starting with "
	    "'-'");
	assert_merge("{\"into\": \"main\", \"mode\": \"octopus\"}",
	    "merge.mode: expected \"rebase\", \"merge\" or \"squash\"");
	assert_merge("{\"into\": \"main\", \"push\": 1}",
	    "merge.push: expected a name of 1-256 bytes, not starting with "
	    "'-'");
	assert_merge("{\"into\": \"main\", \"batch\": 0}",
	    "merge.batch: expected an integer from 1 to 64");
	assert_merge("{\"into\": \"main\", \"priority\": 1001}",
	    "merge.priority: expected an integer from -1000 to 1000");
	assert_merge("{\"into\": \"main\", \"onto\": \"x\"}",
	    "merge.onto: unknown field");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_defaults),
		cmocka_unit_test(test_chunk_fields),
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_placeholder_partial),
		cmocka_unit_test(test_expand_fields),
		cmocka_unit_test(test_valid_everything),
		cmocka_unit_test(test_limits_accepted),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_unknown_field),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_workdir),
		cmocka_unit_test(test_workdir_is_file),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_worktree),
		cmocka_unit_test(test_gates),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_chunks_shape),
		cmocka_unit_test(test_chunk_id),
		cmocka_unit_test(test_chunk_duplicate),
		cmocka_unit_test(test_chunk_task),
		cmocka_unit_test(test_all_problems_at_once),
		cmocka_unit_test(test_chunk_two_problems),
		cmocka_unit_test(test_expand_placeholders),
		cmocka_unit_test(test_expand_repeated),
		cmocka_unit_test(test_expand_leaves_other_text),
		cmocka_unit_test(test_expand_values_verbatim),
		cmocka_unit_test(test_expand_grows),
	};

	return cmocka_run_group_tests_name("jobspec", tests, NULL, NULL);
}
