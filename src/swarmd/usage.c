/*
 * usage.c: the API's usage object, read one way wherever it turns up:
 * in Claude Code's stream-json lines (output.c) and in the responses the
 * proxy passes on (proxy-meter.c).  Anthropic's shape names the four
 * classes of struct usage; OpenAI's counts cached tokens inside its
 * prompt_tokens and has no cache writes.
 *
 * A member present as a count (an integer, not negative) replaces what
 * the struct held; one missing or of another type leaves it, since a
 * stream's later usage may repeat only some members.  A caller wanting
 * zero for what is missing starts from zero.
 */
#include "swarmd.h"

static void
usage_take(json_t *o, const char *key, int64_t *slot)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		*slot = json_integer_value(v);
}

/* Anthropic's usage object into U; -1 if O is not an object. */
int
usage_parse(json_t *o, struct usage *u)
{
	if (!json_is_object(o))
		return -1;
	usage_take(o, "input_tokens", &u->input);
	usage_take(o, "output_tokens", &u->output);
	usage_take(o, "cache_creation_input_tokens", &u->cache_creation);
	usage_take(o, "cache_read_input_tokens", &u->cache_read);
	return 0;
}

/*
 * OpenAI's usage object into U; -1 if O is not an object.  Its cached
 * tokens are counted as cache reads, always (none is zero), and taken
 * out of the input, which never goes below zero.
 */
int
usage_parse_openai(json_t *o, struct usage *u)
{
	int64_t cached = 0;

	if (!json_is_object(o))
		return -1;
	usage_take(o, "prompt_tokens", &u->input);
	usage_take(o, "completion_tokens", &u->output);
	usage_take(json_object_get(o, "prompt_tokens_details"), "cached_tokens",
	    &cached);
	u->cache_read = cached;
	u->input -= cached < u->input ? cached : u->input;
	return 0;
}
