/*
 * test_usage.c: the one reader of the API's usage object, shared by the
 * stream-json reader and the proxy's meter: Anthropic's four classes,
 * OpenAI's cached tokens taken out of its prompt_tokens, members missing
 * or of the wrong type leaving what was there, and anything but an
 * object refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "swarmd.h"

/* Parse TEXT with FN into U; what FN returned. */
static int
parse(int (*fn)(json_t *, struct usage *), const char *text, struct usage *u)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
	int rc;

	assert_non_null(j);
	rc = fn(j, u);
	json_decref(j);
	return rc;
}

static void
assert_usage(
    const struct usage *u, int64_t in, int64_t out, int64_t cw, int64_t cr)
{
	assert_int_equal(u->input, in);
	assert_int_equal(u->output, out);
	assert_int_equal(u->cache_creation, cw);
	assert_int_equal(u->cache_read, cr);
}

static void
test_anthropic(void **state)
{
	struct usage u;

	(void)state;
	memset(&u, 0, sizeof u);
	assert_int_equal(parse(usage_parse,
	                     "{\"input_tokens\": 12, \"output_tokens\": 340, "
	                     "\"cache_creation_input_tokens\": 5000, "
	                     "\"cache_read_input_tokens\": 20000, "
	                     "\"service_tier\": \"standard\"}",
	                     &u),
	    0);
	assert_usage(&u, 12, 340, 5000, 20000);
	/* message_delta repeats only some members: the rest stay. */
	assert_int_equal(parse(usage_parse, "{\"output_tokens\": 512}", &u), 0);
	assert_usage(&u, 12, 512, 5000, 20000);
	/* Zero is a count like any other. */
	assert_int_equal(
	    parse(usage_parse, "{\"cache_read_input_tokens\": 0}", &u), 0);
	assert_usage(&u, 12, 512, 5000, 0);
	/* An empty object is an object: nothing changes. */
	assert_int_equal(parse(usage_parse, "{}", &u), 0);
	assert_usage(&u, 12, 512, 5000, 0);
	/* OpenAI's members are not Anthropic's. */
	assert_int_equal(
	    parse(usage_parse,
	        "{\"prompt_tokens\": 1, \"completion_tokens\": 2}", &u),
	    0);
	assert_usage(&u, 12, 512, 5000, 0);
}

static void
test_anthropic_wrong_types(void **state)
{
	struct usage u = { 1, 2, 3, 4 };

	(void)state;
	/* Not a count: a string, a real, a negative, null, a bool. */
	assert_int_equal(parse(usage_parse,
	                     "{\"input_tokens\": \"100\", "
	                     "\"output_tokens\": 7.0, "
	                     "\"cache_creation_input_tokens\": -5, "
	                     "\"cache_read_input_tokens\": null}",
	                     &u),
	    0);
	assert_usage(&u, 1, 2, 3, 4);
	assert_int_equal(
	    parse(usage_parse,
	        "{\"input_tokens\": true, \"output_tokens\": {}}", &u),
	    0);
	assert_usage(&u, 1, 2, 3, 4);
	/* From zero, as the stream-json reader starts: junk is none. */
	memset(&u, 0, sizeof u);
	assert_int_equal(parse(usage_parse,
	                     "{\"input_tokens\": -3, \"output_tokens\": \"7\", "
	                     "\"cache_read_input_tokens\": 9}",
	                     &u),
	    0);
	assert_usage(&u, 0, 0, 0, 9);
}

static void
test_not_an_object(void **state)
{
	static const char *docs[] = { "null", "[1, 2]", "\"usage\"", "42" };
	struct usage u = { 1, 2, 3, 4 };
	size_t i;

	(void)state;
	for (i = 0; i < nitems(docs); i++) {
		assert_int_equal(parse(usage_parse, docs[i], &u), -1);
		assert_int_equal(parse(usage_parse_openai, docs[i], &u), -1);
		assert_usage(&u, 1, 2, 3, 4);
	}
	/* A member that is not there at all. */
	assert_int_equal(usage_parse(NULL, &u), -1);
	assert_int_equal(usage_parse_openai(NULL, &u), -1);
	assert_usage(&u, 1, 2, 3, 4);
}

static void
test_openai(void **state)
{
	struct usage u = { 0, 0, 77, 0 };

	(void)state;
	/* Cached tokens are inside prompt_tokens: out of input, into reads;
	 * cache writes are not OpenAI's and stay. */
	assert_int_equal(parse(usage_parse_openai,
	                     "{\"prompt_tokens\": 1000, "
	                     "\"completion_tokens\": 200, "
	                     "\"total_tokens\": 1200, "
	                     "\"prompt_tokens_details\": "
	                     "{\"cached_tokens\": 600, \"audio_tokens\": 0}, "
	                     "\"completion_tokens_details\": "
	                     "{\"reasoning_tokens\": 64}}",
	                     &u),
	    0);
	assert_usage(&u, 400, 200, 77, 600);
	/* No details: no cached tokens, and the reads say so. */
	assert_int_equal(
	    parse(usage_parse_openai,
	        "{\"prompt_tokens\": 50, \"completion_tokens\": 5}", &u),
	    0);
	assert_usage(&u, 50, 5, 77, 0);
	/* More cached than prompted: input stops at zero. */
	assert_int_equal(
	    parse(usage_parse_openai,
	        "{\"prompt_tokens\": 10, \"prompt_tokens_details\": "
	        "{\"cached_tokens\": 30}}",
	        &u),
	    0);
	assert_usage(&u, 0, 5, 77, 30);
	/* Anthropic's members are not OpenAI's. */
	u = (struct usage){ 8, 9, 0, 3 };
	assert_int_equal(
	    parse(usage_parse_openai,
	        "{\"input_tokens\": 100, \"output_tokens\": 10}", &u),
	    0);
	assert_usage(&u, 8, 9, 0, 0);
}

static void
test_openai_wrong_types(void **state)
{
	struct usage u = { 100, 20, 0, 5 };

	(void)state;
	/* prompt_tokens not a count: the input held loses the cached. */
	assert_int_equal(
	    parse(usage_parse_openai,
	        "{\"prompt_tokens\": \"900\", "
	        "\"completion_tokens\": -1, "
	        "\"prompt_tokens_details\": {\"cached_tokens\": 30}}",
	        &u),
	    0);
	assert_usage(&u, 70, 20, 0, 30);
	/* cached_tokens not a count, details not an object: none cached. */
	assert_int_equal(
	    parse(usage_parse_openai,
	        "{\"prompt_tokens\": 40, \"prompt_tokens_details\": "
	        "{\"cached_tokens\": \"10\"}}",
	        &u),
	    0);
	assert_usage(&u, 40, 20, 0, 0);
	assert_int_equal(
	    parse(usage_parse_openai,
	        "{\"prompt_tokens\": 40, \"prompt_tokens_details\": "
	        "{\"cached_tokens\": -10}}",
	        &u),
	    0);
	assert_usage(&u, 40, 20, 0, 0);
	assert_int_equal(parse(usage_parse_openai,
	                     "{\"prompt_tokens\": 40, "
	                     "\"prompt_tokens_details\": null}",
	                     &u),
	    0);
	assert_usage(&u, 40, 20, 0, 0);
	assert_int_equal(parse(usage_parse_openai,
	                     "{\"prompt_tokens\": 40, "
	                     "\"prompt_tokens_details\": [30]}",
	                     &u),
	    0);
	assert_usage(&u, 40, 20, 0, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anthropic),
		cmocka_unit_test(test_anthropic_wrong_types),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_openai),
		cmocka_unit_test(test_openai_wrong_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
