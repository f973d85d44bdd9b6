/*
 * test_merge.c: the merge queues' records (merge.c) on a real store:
 * the queue's order (time queued less the priority's head start, which
 * cannot starve an older entry), an entry's moves and what they write,
 * and pausing a queue by target or by
 * REPO:TARGET, ahead of its first entry.
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

struct fixture {
	char dir[128];
	char err[512];
};

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fixture *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "%s/swarmd-merge-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL ||
	    store_open(fx->dir, "off", fx->err, sizeof fx->err) != 0) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	static const char *files[] = { "swarmd.db", "swarmd.db-wal",
		"swarmd.db-shm", "swarmd.db-journal" };
	struct fixture *fx = *state;
	char path[200];
	size_t i;
	int rc;

	store_close();
	for (i = 0; i < nitems(files); i++) {
		snprintf(path, sizeof path, "%s/%s", fx->dir, files[i]);
		unlink(path);
	}
	rc = rmdir(fx->dir);
	free(fx);
	return rc;
}

/* The chunks of REPO's TARGET queue in STATE (NULL: live), in order. */
static char *
order(const char *repo, const char *target, const char *state)
{
	struct merge_row rows[16];
	size_t n = merge_head(repo, target, state, rows, 16), i, len = 0;
	char *s = calloc(1, 256);

	for (i = 0; i < n && len < 256; i++) {
		len += (size_t)snprintf(s + len, 256 - len, "%s%s",
		    i > 0 ? " " : "", rows[i].chunk);
		merge_row_free(&rows[i]);
	}
	for (; i < n; i++)
		merge_row_free(&rows[i]);
	return s;
}

static void
assert_order(const char *state, const char *want)
{
	char *got = order("/r", "main", state);

	assert_string_equal(got, want);
	free(got);
}

/* A priority is a head start in minutes: ahead of newer entries, never
 * ahead of one queued longer ago than that. */
static void
test_order(void **state)
{
	(void)state;
	store_begin();
	merge_enqueue(1, "a", "/r", "main", 0);
	merge_enqueue(1, "b", "/r", "main", 0);
	merge_enqueue(2, "c", "/r", "main", 5);
	merge_enqueue(1, "x", "/r", "dev", 0);
	store_commit();
	assert_order("queued", "c a b");
	/* a, queued ten minutes ago: c's five minutes do not pass it. */
	store_begin();
	store_exec("UPDATE merges SET rank = rank - 600000 WHERE chunk = 'a'");
	store_commit();
	assert_order("queued", "a c b");
	assert_order(NULL, "a c b");
}

/* Each move, and what it keeps: the rank on the way back, the tip. */
static void
test_moves(void **state)
{
	int64_t a, b;
	struct merge_row r;

	(void)state;
	store_begin();
	a = merge_enqueue(1, "a", "/r", "main", 0);
	b = merge_enqueue(1, "b", "/r", "main", 0);
	assert_int_equal(merge_apply(a, MI_TAKE, NULL, NULL, "t"), MS_TESTING);
	assert_int_equal(merge_apply(b, MI_TAKE, NULL, NULL, "t"), MS_TESTING);
	/* a went round (its batch was bisected): still first. */
	assert_int_equal(merge_apply(a, MI_BACK, NULL, NULL, "r"), MS_QUEUED);
	assert_int_equal(merge_apply(a, MI_TAKE, NULL, NULL, "t"), MS_TESTING);
	assert_int_equal(
	    merge_apply(a, MI_LAND, "tipa", "old1", "l"), MS_LANDING);
	assert_int_equal(
	    merge_apply(b, MI_REJECT, NULL, NULL, "conflict"), MS_REJECTED);
	store_commit();
	assert_int_equal(merge_head("/r", "main", "landing", &r, 1), 1);
	assert_string_equal(r.chunk, "a");
	assert_string_equal(r.tip, "tipa");
	assert_string_equal(r.old, "old1");
	assert_string_equal(r.result, "l");
	assert_int_equal(r.rounds, 1);
	merge_row_free(&r);
	store_begin();
	assert_int_equal(
	    merge_apply(a, MI_LANDED, NULL, NULL, "merged"), MS_MERGED);
	/* Refused, nothing written: merged and rejected are final. */
	assert_int_equal(merge_apply(a, MI_BACK, NULL, NULL, "x"), -1);
	assert_int_equal(merge_apply(b, MI_TAKE, NULL, NULL, "x"), -1);
	assert_int_equal(merge_apply(999, MI_TAKE, NULL, NULL, "x"), -1);
	store_commit();
	assert_order(NULL, "");
}

static void
test_pause(void **state)
{
	json_t *list;

	(void)state;
	store_begin();
	merge_enqueue(1, "a", "/r", "main", 0);
	merge_enqueue(1, "b", "/r", "main", 0);
	merge_enqueue(1, "c", "/s", "main", 0);
	assert_int_equal(merge_set_paused("main", 1), 2);
	assert_int_equal(merge_set_paused("/r:main", 0), 1);
	/* Ahead of its first entry, by REPO:TARGET only. */
	assert_int_equal(merge_set_paused("/t:dev", 1), 1);
	assert_int_equal(merge_set_paused("dev", 0), 1);
	assert_int_equal(merge_set_paused("nosuch", 1), 0);
	assert_int_equal(merge_set_paused("relative:main", 1), 0);
	store_commit();
	assert_int_equal(merge_queue_paused("/r", "main"), 0);
	assert_int_equal(merge_queue_paused("/s", "main"), 1);
	assert_int_equal(merge_queue_paused("/t", "dev"), 0);
	list = merge_list_json(0);
	assert_int_equal(json_array_size(list), 3);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(list, 1), "position")),
	    2);
	assert_int_equal(
	    json_is_true(json_object_get(json_array_get(list, 2), "paused")),
	    1);
	json_decref(list);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause, setup, teardown),
	};

	return cmocka_run_group_tests_name("merge", tests, NULL, NULL);
}
