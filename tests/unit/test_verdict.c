/*
 * test_verdict.c: the triage hook's verdict, parsed strictly: one JSON
 * object with a known state and action, strings only, nothing unknown,
 * nothing after it; a nudge needs its message.  Also the escalation ids
 * and the context windows the watchdog measures against.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "swarmd.h"

static int
parse(const char *text, struct verdict *v, char *err, size_t errlen)
{
	*err = '\0';
	return verdict_parse(text, strlen(text), v, err, errlen);
}

/* TEXT is refused with an error containing WANT, and V stays empty. */
static void
assert_refused(const char *text, const char *want)
{
	struct verdict v;
	char err[256];

	assert_int_equal(parse(text, &v, err, sizeof err), -1);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err, want);
	assert_null(v.state);
	assert_null(v.action);
	assert_null(v.message);
	assert_null(v.reason);
}

static void
test_valid(void **state)
{
	struct verdict v;
	char err[256];
	json_t *j;

	(void)state;
	assert_int_equal(parse("{\"state\": \"stalled\", \"action\": "
	                       "\"nudge\", \"message\": \"still there?\", "
	                       "\"reason\": \"silent for 3 minutes\"}",
	                     &v, err, sizeof err),
	    0);
	assert_string_equal(v.state, "stalled");
	assert_string_equal(v.action, "nudge");
	assert_string_equal(v.message, "still there?");
	assert_string_equal(v.reason, "silent for 3 minutes");
	j = verdict_json(&v);
	assert_string_equal(
	    json_string_value(json_object_get(j, "action")), "nudge");
	json_decref(j);
	verdict_free(&v);
	assert_null(v.state);
}

/* Only state and action are required; white space around is fine. */
static void
test_minimal(void **state)
{
	struct verdict v;
	char err[256];
	json_t *j;

	(void)state;
	assert_int_equal(parse("\n  {\"action\":\"continue\","
	                       "\"state\":\"working\"}\n\n",
	                     &v, err, sizeof err),
	    0);
	assert_string_equal(v.state, "working");
	assert_string_equal(v.action, "continue");
	assert_null(v.message);
	assert_null(v.reason);
	j = verdict_json(&v);
	assert_null(json_object_get(j, "message"));
	json_decref(j);
	verdict_free(&v);
}

static void
test_every_state_and_action(void **state)
{
	static const char *states[] = { "working", "stalled", "zombie",
		"confused", "context_exhausted" };
	static const char *actions[] = { "continue", "restart", "handoff",
		"kill", "escalate" };
	struct verdict v;
	char text[256], err[256];
	size_t i, k;

	(void)state;
	for (i = 0; i < nitems(states); i++) {
		for (k = 0; k < nitems(actions); k++) {
			snprintf(text, sizeof text,
			    "{\"state\":\"%s\","
			    "\"action\":\"%s\"}",
			    states[i], actions[k]);
			assert_int_equal(parse(text, &v, err, sizeof err), 0);
			assert_string_equal(v.state, states[i]);
			assert_string_equal(v.action, actions[k]);
			verdict_free(&v);
		}
	}
}

static void
test_unknown_values(void **state)
{
	(void)state;
	assert_refused("{\"state\":\"fine\",\"action\":\"continue\"}",
	    "\"state\" must be one of");
	assert_refused("{\"state\":\"working\",\"action\":\"reboot\"}",
	    "\"action\" must be one of");
	assert_refused("{\"state\":\"Working\",\"action\":\"continue\"}",
	    "\"state\" must be one of");
	assert_refused("{\"state\":\"working\",\"action\":\"\"}",
	    "\"action\" must be one of");
}

static void
test_missing(void **state)
{
	(void)state;
	assert_refused("{\"action\":\"continue\"}", "\"state\" must be");
	assert_refused("{\"state\":\"working\"}", "\"action\" must be");
	assert_refused("{}", "\"state\" must be");
}

static void
test_types(void **state)
{
	(void)state;
	assert_refused("{\"state\":1,\"action\":\"continue\"}",
	    "\"state\" must be a string");
	assert_refused("{\"state\":\"working\",\"action\":\"continue\","
	               "\"reason\":null}",
	    "\"reason\" must be a string");
	assert_refused("{\"state\":\"working\",\"action\":\"nudge\","
	               "\"message\":[\"hi\"]}",
	    "\"message\" must be a string");
}

static void
test_unknown_member(void **state)
{
	(void)state;
	assert_refused("{\"state\":\"working\",\"action\":\"continue\","
	               "\"confidence\":\"high\"}",
	    "unknown member \"confidence\"");
}

static void
test_nudge_needs_message(void **state)
{
	(void)state;
	assert_refused("{\"state\":\"stalled\",\"action\":\"nudge\"}",
	    "a nudge needs a \"message\"");
	assert_refused("{\"state\":\"stalled\",\"action\":\"nudge\","
	               "\"message\":\"\"}",
	    "a nudge needs a \"message\"");
}

/* One object and nothing else: no prose, no second document. */
static void
test_not_one_object(void **state)
{
	(void)state;
	assert_refused("", "not one JSON object");
	assert_refused("I think it is fine", "not one JSON object");
	assert_refused("[{\"state\":\"working\",\"action\":\"continue\"}]",
	    "not a JSON object");
	assert_refused("{\"state\":\"working\",\"action\":\"continue\"} "
	               "{\"state\":\"working\",\"action\":\"kill\"}",
	    "not one JSON object");
	assert_refused("Verdict: {\"state\":\"working\","
	               "\"action\":\"continue\"}",
	    "not one JSON object");
	assert_refused("{\"state\":\"working\",\"action\":\"continue\"",
	    "not one JSON object");
	assert_refused("{\"state\":\"working\",\"state\":\"zombie\","
	               "\"action\":\"continue\"}",
	    "not one JSON object");
	assert_refused("{\"state\":\"work\\u0000ing\","
	               "\"action\":\"continue\"}",
	    "not one JSON object");
}

static void
test_lengths(void **state)
{
	char text[8192], err[256];
	struct verdict v;

	(void)state;
	snprintf(text, sizeof text,
	    "{\"state\":\"stalled\",\"action\":"
	    "\"nudge\",\"message\":\"%04096d\"}",
	    0);
	assert_int_equal(parse(text, &v, err, sizeof err), 0);
	verdict_free(&v);
	snprintf(text, sizeof text,
	    "{\"state\":\"stalled\",\"action\":"
	    "\"nudge\",\"message\":\"%04097d\"}",
	    0);
	assert_refused(text, "\"message\" is longer than 4096");
	snprintf(text, sizeof text,
	    "{\"state\":\"stalled\",\"action\":"
	    "\"kill\",\"reason\":\"%01025d\"}",
	    0);
	assert_refused(text, "\"reason\" is longer than 1024");
	assert_int_equal(
	    verdict_parse(text, 64 * 1024 + 1, &v, err, sizeof err), -1);
	assert_non_null(strstr(err, "longer than 65536"));
}

static void
test_escalation_ids(void **state)
{
	int64_t id = 0;

	(void)state;
	assert_int_equal(escalate_parse_id("esc-4", &id), 0);
	assert_true(id == 4);
	assert_int_equal(escalate_parse_id("esc-0", &id), -1);
	assert_int_equal(escalate_parse_id("esc-", &id), -1);
	assert_int_equal(escalate_parse_id("esc-4x", &id), -1);
	assert_int_equal(escalate_parse_id("agent-4", &id), -1);
	assert_int_equal(escalate_parse_id(NULL, &id), -1);
	assert_true(id == 4);
}

/* An exact name, else the longest listed prefix, else context_window. */
static void
test_context_window(void **state)
{
	struct model_window models[] = {
		{ "claude-sonnet-4-5", 200000 },
		{ "claude-sonnet-4-5-20250929", 1000000 },
		{ "claude", 100000 },
	};

	(void)state;
	srv.cfg.models = models;
	srv.cfg.nmodels = nitems(models);
	srv.cfg.context_window = 150000;
	assert_true(
	    watchdog_context_window("claude-sonnet-4-5-20250929") == 1000000);
	assert_true(
	    watchdog_context_window("claude-sonnet-4-5-2026") == 200000);
	assert_true(watchdog_context_window("claude-haiku") == 100000);
	assert_true(watchdog_context_window("gpt-5") == 150000);
	assert_true(watchdog_context_window(NULL) == 150000);
	srv.cfg.models = NULL;
	srv.cfg.nmodels = 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_every_state_and_action),
		cmocka_unit_test(test_unknown_values),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_unknown_member),
		cmocka_unit_test(test_nudge_needs_message),
		cmocka_unit_test(test_not_one_object),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_escalation_ids),
		cmocka_unit_test(test_context_window),
	};

	return cmocka_run_group_tests_name("verdict", tests, NULL, NULL);
}
