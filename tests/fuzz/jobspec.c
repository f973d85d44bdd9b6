/*
 * jobspec.c: job files, as submit hands them to jobspec_parse (the JSON
 * of swarmctl submit's file).  A job that parses has its command expanded
 * for its chunks, as spawn.c does; one that does not must say why.
 */
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"
#include "fuzz.h"

/* Expand each command word for the first chunks, as spawn.c would. */
static void
expand(struct jobspec *js)
{
	json_t *word, *chunk;
	size_t i, k;
	char *s;

	json_array_foreach(js->chunks, k, chunk) {
		if (k == 8)
			break;
		json_array_foreach(js->command, i, word) {
			s = jobspec_expand(json_string_value(word),
			    json_string_value(json_object_get(chunk, "task")),
			    json_string_value(json_object_get(chunk, "id")),
			    js->name, "agent-1", chunk);
			free(s);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j, *problems, *p;
	struct jobspec js;
	size_t i;

	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return 0;
	problems = json_array();
	if (jobspec_parse(j, 4, &js, problems) == 0) {
		if (json_array_size(problems) != 0 || js.name == NULL ||
		    !json_is_array(js.command) || !json_is_array(js.chunks))
			abort(); /* accepted, but not whole */
		expand(&js);
		jobspec_free(&js);
	} else {
		if (json_array_size(problems) == 0)
			abort(); /* refused without a reason */
		json_array_foreach(problems, i, p) {
			if (!json_is_string(p))
				abort();
		}
	}
	json_decref(problems);
	json_decref(j);
	return 0;
}
