/*
 * schema.c: the result contract.  The input is a job's result schema on
 * its first line and the result file an agent wrote after it.  A schema
 * that result_schema_check (submit) accepts is then used by result_check
 * on that file, as when the agent says done.  A result missing a member
 * the schema requires, or outside its enum, must never pass, and a
 * refusal's reason must be text the events and replies can carry.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"
#include "fuzz.h"

#define PATH_LEN 200 /* the result file's, with its directory */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	config_defaults(&srv.cfg);
	return 0;
}

/* What anyone can see breaks the schema at the top: a required member
 * missing, or a value outside the enum. */
static int
plainly_wrong(json_t *schema, const uint8_t *data, size_t size)
{
	json_t *doc =
	    json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	json_t *req = json_object_get(schema, "required");
	json_t *en = json_object_get(schema, "enum"), *e;
	int wrong = 0, found = 0;
	size_t i;

	if (doc == NULL)
		return 0; /* not JSON: result_check refuses it anyway */
	if (json_is_object(doc)) {
		json_array_foreach(req, i, e) {
			if (json_is_string(e) &&
			    json_object_get(doc, json_string_value(e)) == NULL)
				wrong = 1;
		}
	}
	json_array_foreach(en, i, e)
		found |= json_equal(e, doc);
	if (json_is_array(en) && !found)
		wrong = 1;
	json_decref(doc);
	return wrong;
}

/*
 * The file's path is part of a refusal's reason, which is cut at its
 * bound: the same length under every TMPDIR, so an input found here
 * replays the same anywhere.
 */
static const char *
result_name(void)
{
	static char name[PATH_LEN];
	size_t dir = strlen(fuzz_dir()) + 1;

	if (name[0] == '\0') {
		if (dir + sizeof "result.json" > PATH_LEN)
			errx(1, "TMPDIR is too long");
		memset(name, 'r', PATH_LEN - dir - sizeof ".json");
		memcpy(name + PATH_LEN - dir - sizeof ".json", ".json",
		    sizeof ".json");
	}
	return name;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	json_t *schema, *problems, *j = NULL;
	char reason[1024];
	const char *path;
	size_t n;

	if (nl == NULL)
		return 0;
	n = (size_t)(nl - data);
	if ((schema = json_loadb((const char *)data, n, 0, NULL)) == NULL)
		return 0;
	problems = json_array();
	result_schema_check(schema, "result.schema", problems);
	if (json_array_size(problems) == 0) {
		path = fuzz_file(result_name(), nl + 1, size - n - 1);
		if (result_check(path, schema, reason, sizeof reason) == 0) {
			if (plainly_wrong(schema, nl + 1, size - n - 1))
				abort(); /* a result breaking its schema passed */
		} else if ((j = json_string(reason)) == NULL)
			abort(); /* the reason is not UTF-8: no event has it */
		json_decref(j);
	}
	json_decref(problems);
	json_decref(schema);
	return 0;
}
