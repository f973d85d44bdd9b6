/*
 * test_limits.c: what an ended agent's cgroup says about the limits that
 * bit.  The files are the kernel's (cgroup v2 memory.events, pids.events),
 * written here into a scratch directory, so the reading is checked on any
 * host, one whose cgroup v2 offers no memory or pids controller included.
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

static char dir[] = "/tmp/swarmd-test-limits.XXXXXX";

static void
put(const char *file, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, file);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void
drop(const char *file)
{
	char path[256];

	snprintf(path, sizeof path, "%s/%s", dir, file);
	unlink(path);
}

static long long
hit(json_t *hits, const char *file)
{
	json_t *n = json_object_get(hits, file);

	return n != NULL ? (long long)json_integer_value(n) : -1;
}

/* The OOM killer under memory.max, and forks refused at pids.max. */
static void
test_bit(void **state)
{
	json_t *hits;

	(void)state;
	/* max and oom count near misses and failed allocations; oom_kill
	 * counts the processes killed. */
	put("memory.events",
	    "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n"
	    "oom_group_kill 0\n");
	put("pids.events", "max 3\n");
	hits = limits_cgroup_hits(dir);
	assert_int_equal(hit(hits, "memory.events"), 1);
	assert_int_equal(hit(hits, "pids.events"), 3);
	assert_int_equal(json_object_size(hits), 2);
	json_decref(hits);
}

/* A limit that never bit, or a file the cgroup lacks, is left out. */
static void
test_quiet(void **state)
{
	json_t *hits;

	(void)state;
	put("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
	drop("pids.events");
	hits = limits_cgroup_hits(dir);
	assert_int_equal(json_object_size(hits), 0);
	json_decref(hits);
	put("pids.events", "max 5\n");
	drop("memory.events");
	hits = limits_cgroup_hits(dir);
	assert_int_equal(hit(hits, "pids.events"), 5);
	assert_int_equal(json_object_size(hits), 1);
	json_decref(hits);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	drop("memory.events");
	drop("pids.events");
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bit),
		cmocka_unit_test(test_quiet),
	};

	return cmocka_run_group_tests_name("limits", tests, setup, teardown);
}
