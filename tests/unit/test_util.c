/*
 * test_util.c: parse_duration, parse_time, parse_int, parse_size,
 * ts_format, ct_equal.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void
assert_duration(const char *s, double want)
{
	double got = -1;

	if (parse_duration(s, &got) != 0)
		fail_msg("parse_duration(\"%s\") failed", s);
	if (got != want)
		fail_msg("parse_duration(\"%s\") = %g, want %g", s, got, want);
}

static void
assert_bad_duration(const char *s)
{
	double got = -7;

	if (parse_duration(s, &got) != -1)
		fail_msg("parse_duration(\"%s\") accepted", s ? s : "(null)");
	assert_true(got == -7); /* untouched on failure */
}

static void
test_duration_units(void **state)
{
	(void)state;
	assert_duration("30", 30);
	assert_duration("30s", 30);
	assert_duration("5m", 300);
	assert_duration("5h", 18000);
	assert_duration("1d", 86400);
	assert_duration("1.5s", 1.5);
	assert_duration("0.5m", 30);
	assert_duration("250ms", 0.25);
	assert_duration("0", 0);
}

static void
assert_time(const char *s, int64_t want)
{
	int64_t got = -1;

	if (parse_time(s, 1000000000000LL, &got) != 0)
		fail_msg("parse_time(\"%s\") failed", s);
	if (got != want)
		fail_msg("parse_time(\"%s\") = %lld, want %lld", s,
		    (long long)got, (long long)want);
}

static void
test_time(void **state)
{
	int64_t got = -7;

	(void)state;
	/* A duration is before now (here 1e12 ms). */
	assert_time("10m", 1000000000000LL - 600000);
	assert_time("1d", 1000000000000LL - 86400000);
	assert_time("2026-11-23T12:00:00Z", 1795435200000LL);
	assert_time("2026-11-23T12:00:00.25Z", 1795435200250LL);
	assert_time("2026-11-23T12:00Z", 1795435200000LL);
	assert_time("2026-11-23T13:00:00+01:00", 1795435200000LL);
	assert_time("2026-11-23 06:30:00-0530", 1795435200000LL);
	assert_time("2026-11-23Z", 1795392000000LL);
	assert_true(parse_time("2026-11-23", 0, &got) == 0); /* local */
	assert_true(parse_time("2026-13-01", 0, &got) == -1);
	assert_true(parse_time("2026-11-23T25:00", 0, &got) == -1);
	assert_true(parse_time("2026-11-23T12:00:00X", 0, &got) == -1);
	assert_true(parse_time("yesterday", 0, &got) == -1);
	assert_true(parse_time("-5m", 0, &got) == -1);
}

static void
test_duration_rejects(void **state)
{
	(void)state;
	assert_bad_duration(NULL);
	assert_bad_duration("");
	assert_bad_duration("-1");
	assert_bad_duration("-1s");
	assert_bad_duration("5x");
	assert_bad_duration("abc");
	assert_bad_duration("5 m");
	assert_bad_duration("5us");
	assert_bad_duration("5ss");
	assert_bad_duration("s");
	assert_bad_duration("inf");
	assert_bad_duration("nan");
	assert_bad_duration(" 5");
	assert_bad_duration("0x10");
	assert_bad_duration("1e1");
	assert_bad_duration("-0");
	assert_bad_duration(".5");
}

static void
assert_int(const char *s, long long min, long long max, long long want)
{
	long long got = want == 0 ? 1 : 0;

	if (parse_int(s, min, max, &got) != 0)
		fail_msg("parse_int(\"%s\", %lld, %lld) failed", s, min, max);
	assert_true(got == want);
}

static void
assert_bad_int(const char *s, long long min, long long max)
{
	long long got = 4242;

	if (parse_int(s, min, max, &got) != -1)
		fail_msg("parse_int(\"%s\", %lld, %lld) accepted", s ? s : "",
		    min, max);
	assert_true(got == 4242);
}

static void
test_int_bounds(void **state)
{
	(void)state;
	assert_int("0", 0, 10, 0);
	assert_int("10", 0, 10, 10);
	assert_int("-5", -5, 5, -5);
	assert_bad_int("11", 0, 10);
	assert_bad_int("-1", 0, 10);
	assert_bad_int("-6", -5, 5);
	assert_int("9223372036854775807", LLONG_MIN, LLONG_MAX, LLONG_MAX);
	assert_int("-9223372036854775808", LLONG_MIN, LLONG_MAX, LLONG_MIN);
	assert_bad_int("9223372036854775808", LLONG_MIN, LLONG_MAX);
	assert_bad_int("-9223372036854775809", LLONG_MIN, LLONG_MAX);
}

static void
test_int_junk(void **state)
{
	(void)state;
	assert_bad_int(NULL, 0, 100);
	assert_bad_int("", 0, 100);
	assert_bad_int("abc", 0, 100);
	assert_bad_int("12abc", 0, 100);
	assert_bad_int("1.5", 0, 100);
	assert_bad_int("5 ", 0, 100);
	assert_bad_int("0x10", 0, 100);
	assert_bad_int(" 5", 0, 100);
	assert_bad_int("+5", 0, 100);
	assert_bad_int("05", 0, 100); /* agent-05 is not agent-5 */
	assert_bad_int("-05", -100, 100);
}

static void
test_size(void **state)
{
	long long n = -1;

	(void)state;
	assert_int_equal(parse_size("0", 100, &n), 0);
	assert_true(n == 0);
	assert_int_equal(parse_size("512", 1000, &n), 0);
	assert_true(n == 512);
	assert_int_equal(parse_size("64K", 1LL << 40, &n), 0);
	assert_true(n == 64 * 1024);
	assert_int_equal(parse_size("512M", 1LL << 40, &n), 0);
	assert_true(n == 512LL << 20);
	assert_int_equal(parse_size("4G", 1LL << 40, &n), 0);
	assert_true(n == 4LL << 30);
	assert_int_equal(parse_size("1T", 1LL << 40, &n), 0);
	assert_true(n == 1LL << 40);
	n = -1;
	assert_int_equal(parse_size("2T", 1LL << 40, &n), -1);
	assert_int_equal(parse_size("1025", 1024, &n), -1);
	assert_int_equal(parse_size("", 100, &n), -1);
	assert_int_equal(parse_size(NULL, 100, &n), -1);
	assert_int_equal(parse_size("4g", 1LL << 40, &n), -1);
	assert_int_equal(parse_size("4GB", 1LL << 40, &n), -1);
	assert_int_equal(parse_size("G", 1LL << 40, &n), -1);
	assert_int_equal(parse_size("-1", 100, &n), -1);
	assert_int_equal(parse_size("1.5G", 1LL << 40, &n), -1);
	assert_int_equal(parse_size("04K", 1LL << 40, &n), -1);
	assert_int_equal(parse_size("99999999999999999999", 1LL << 62, &n), -1);
	assert_true(n == -1);
}

static void
assert_ts(int64_t ms, const char *want)
{
	char buf[TS_LEN];

	assert_ptr_equal(ts_format(ms, buf), buf);
	assert_string_equal(buf, want);
}

static void
test_ts_format(void **state)
{
	(void)state;
	assert_ts(0, "1970-01-01T00:00:00.000Z");
	assert_ts(-1, "1970-01-01T00:00:00.000Z"); /* clamped, well formed */
	assert_ts(999, "1970-01-01T00:00:00.999Z");
	assert_ts(1000, "1970-01-01T00:00:01.000Z");
	assert_ts(1795000000123, "2026-11-18T11:06:40.123Z");
	assert_ts(951782400000, "2000-02-29T00:00:00.000Z");
	assert_ts(4102444799999, "2099-12-31T23:59:59.999Z");
}

static void
test_ct_equal(void **state)
{
	const unsigned char a[] = { 1, 2, 3, 4 };
	const unsigned char first[] = { 0, 2, 3, 4 };
	const unsigned char last[] = { 1, 2, 3, 0x84 };

	(void)state;
	assert_true(ct_equal(a, a, sizeof a));
	assert_true(ct_equal("same", "same", 4));
	assert_false(ct_equal(a, first, sizeof a));
	assert_false(ct_equal(a, last, sizeof a));
	assert_true(ct_equal(a, last, 3)); /* only N bytes count */
	assert_true(ct_equal(a, first, 0));
}

/* utf8_trunc keeps whole characters and cuts at the first that is not. */
static void
test_utf8_trunc(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "plain" }, { "", "" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x9d",
		    NULL },                 /* whole */
		{ "ab\xc3", "ab" },         /* 2-byte char cut */
		{ "ab\xe2\x82", "ab" },     /* 3-byte char cut */
		{ "ab\xf0\x9f\x90", "ab" }, /* 4-byte char cut */
		{ "a\xff"
		  "b",
		    "a" }, /* never UTF-8 */
		{ "a\xc0\xaf"
		  "b",
		    "a" }, /* overlong '/' */
		{ "a\xed\xa0\x80"
		  "b",
		    "a" }, /* a surrogate */
		{ "a\xf4\x90\x80\x80"
		  "b",
		    "a" }, /* past U+10FFFF */
		{ "a\xc3\xa9\x80"
		  "b",
		    "a\xc3\xa9" }, /* stray continuation */
	};
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < nitems(cases); i++) {
		snprintf(buf, sizeof buf, "%s", cases[i].in);
		utf8_trunc(buf);
		assert_string_equal(
		    buf, cases[i].out != NULL ? cases[i].out : cases[i].in);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_duration_rejects),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_int_bounds),
		cmocka_unit_test(test_int_junk),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_ts_format),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_utf8_trunc),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
