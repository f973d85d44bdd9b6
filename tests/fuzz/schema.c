/*
 * schema.c: the result contract.  The input is a job's result schema on
 * its first line and the result file an agent wrote after it.  A schema
 * that result_schema_check (submit) accepts is then used by result_check
 * on that file, as when the agent says done.  A result missing a member
 * the schema requires, or outside its enum, must never pass.
 */
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"
#include "fuzz.h"

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
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY,
	    NULL);
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	json_t *schema, *problems;
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
		path = fuzz_file("result.json", nl + 1, size - n - 1);
		if (result_check(path, schema, reason, sizeof reason) == 0 &&
		    plainly_wrong(schema, nl + 1, size - n - 1))
			abort(); /* a result that breaks its schema passed */
	}
	json_decref(problems);
	json_decref(schema);
	return 0;
}
