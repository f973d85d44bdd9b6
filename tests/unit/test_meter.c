/*
 * test_meter.c: the quota meter's arithmetic and its stream-json reader,
 * on a real state database in a temporary directory.
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
	char dir[256];
	char log[300];
	struct agent *a;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	char err[256];

	snprintf(fx->dir, sizeof fx->dir, "/tmp/swarmd-meter-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->log, sizeof fx->log, "%s/agent.log", fx->dir);
	config_defaults(&srv.cfg);
	srv.cfg.window_tokens = 10000;
	srv.cfg.window = 3600;
	srv.base = event_base_new();
	if (store_open(fx->dir, "normal", err, sizeof err) == -1)
		return -1;
	quota_init();
	fx->a = agent_new(7, 1, "chunk", 1);
	fx->a->log = xstrdup(fx->log);
	fx->a->pid = 0; /* no process: caps never signal */
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[300];

	agent_free(fx->a);
	quota_free();
	store_close();
	event_base_free(srv.base);
	config_free(&srv.cfg);
	snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void
append(struct fixture *fx, const char *text)
{
	FILE *f = fopen(fx->log, "a");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Append a file from tests/data to the agent's log. */
static void
append_data(struct fixture *fx, const char *name)
{
	char path[512], buf[4096];
	const char *dir = getenv("SWARM_TEST_DATA");
	size_t n;
	FILE *in, *out;

	snprintf(
	    path, sizeof path, "%s/%s", dir != NULL ? dir : "tests/data", name);
	in = fopen(path, "r");
	assert_non_null(in);
	out = fopen(fx->log, "a");
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
}

static void
assert_use(
    const struct usage *u, int64_t in, int64_t out, int64_t cw, int64_t cr)
{
	assert_int_equal(u->input, in);
	assert_int_equal(u->output, out);
	assert_int_equal(u->cache_creation, cw);
	assert_int_equal(u->cache_read, cr);
}

/* Each API message once, however many lines print it. */
static void
test_messages_once(void **state)
{
	struct fixture *fx = *state;

	append_data(fx, "stream-two-messages.jsonl");
	output_read(fx->a);
	assert_use(&fx->a->use, 13, 170, 1200, 5000);
	assert_int_equal(quota_remaining(), 10000 - 13 - 170 - 1200);
	/* The same lines again (a re-read) count nothing more. */
	fx->a->out_offset = 0;
	output_read(fx->a);
	assert_use(&fx->a->use, 13, 170, 1200, 5000);
}

/*
 * The assistant lines alone count every class, cache reads too: before
 * the result line comes (an agent still at work) the meter is already
 * whole, with nothing left for the result to settle.
 */
static void
test_before_result(void **state)
{
	struct fixture *fx = *state;
	char path[512], line[8192];
	const char *dir = getenv("SWARM_TEST_DATA");
	FILE *in;

	snprintf(path, sizeof path, "%s/stream-two-messages.jsonl",
	    dir != NULL ? dir : "tests/data");
	in = fopen(path, "r");
	assert_non_null(in);
	while (fgets(line, sizeof line, in) != NULL)
		if (strncmp(line, "{\"type\":\"result\"", 16) != 0)
			append(fx, line);
	fclose(in);
	output_read(fx->a);
	assert_use(&fx->a->use, 13, 170, 1200, 5000);
}

/* The result line settles what the stream did not show. */
static void
test_result_settles(void **state)
{
	struct fixture *fx = *state;

	append_data(fx, "stream-settle.jsonl");
	output_read(fx->a);
	assert_use(&fx->a->use, 25, 60, 0, 0);
}

/* A line written in two pieces is read once, whole. */
static void
test_partial_line(void **state)
{
	struct fixture *fx = *state;

	append(fx, "{\"type\":\"assistant\",\"message\":{\"id\":\"msg_1\",");
	output_read(fx->a);
	assert_use(&fx->a->use, 0, 0, 0, 0);
	append(fx, "\"usage\":{\"input_tokens\":4,\"output_tokens\":6}}}\n");
	output_read(fx->a);
	assert_use(&fx->a->use, 4, 6, 0, 0);
	assert_true(fx->a->alive);
}

/* Noise, unknown types and bad usage values are skipped, never fatal. */
static void
test_noise(void **state)
{
	struct fixture *fx = *state;

	append(fx,
	    "plain text\n{not json\n[1,2]\n{\"type\":7}\n"
	    "{\"type\":\"assistant\",\"message\":{\"usage\":{"
	    "\"input_tokens\":5}}}\n"
	    "{\"type\":\"assistant\",\"message\":{\"id\":\"m\",\"usage\":{"
	    "\"input_tokens\":-5,\"output_tokens\":\"9\"}}}\n");
	output_read(fx->a);
	assert_use(&fx->a->use, 0, 0, 0, 0);
}

static void
test_price(void **state)
{
	struct usage u = { 1000000, 100000, 10000, 1000000 };

	(void)state;
	srv.cfg.prices = xcalloc(1, sizeof *srv.cfg.prices);
	srv.cfg.prices[0].model = xstrdup("m");
	srv.cfg.prices[0].usd[0] = 3;
	srv.cfg.prices[0].usd[1] = 15;
	srv.cfg.prices[0].usd[2] = 3.75;
	srv.cfg.prices[0].usd[3] = 0.30;
	srv.cfg.nprices = 1;
	/* 3 + 1.5 + 0.0375 + 0.3 */
	assert_true(
	    quota_usd("m", &u) > 4.83749 && quota_usd("m", &u) < 4.83751);
	assert_true(quota_usd("unknown", &u) == 0);
	assert_int_equal(usage_counted(&u), 1110000);
}

/*
 * Under pause_at (80%) of the window agents start; past it none may, and
 * the gate says why.
 */
static void
test_pause(void **state)
{
	struct fixture *fx = *state;
	struct usage under = { 7900, 0, 0, 0 }, more = { 200, 0, 0, 0 };

	assert_true(quota_spawn_open());
	store_begin();
	assert_int_equal(quota_record(fx->a, NULL, "report", NULL, &under), 1);
	store_commit();
	event_base_loop(srv.base, EVLOOP_NONBLOCK);
	assert_true(quota_spawn_open());
	store_begin();
	assert_int_equal(quota_record(fx->a, NULL, "report", NULL, &more), 1);
	store_commit();
	event_base_loop(srv.base, EVLOOP_NONBLOCK);
	assert_false(quota_spawn_open());
	assert_non_null(strstr(quota_pause_reason(), "window at 81.0%"));
}

/*
 * The proxy and the agent's output see the same message: counted once,
 * and the proxy's figures win whichever came first; a third sighting
 * from the output changes nothing.
 */
static void
test_proxy_wins(void **state)
{
	struct fixture *fx = *state;
	struct usage seen = { 10, 1, 0, 0 }, real = { 12, 40, 300, 900 };

	store_begin();
	assert_int_equal(quota_record(fx->a, "m", "stream", "msg_a", &seen), 1);
	assert_int_equal(quota_record(fx->a, "m", "proxy", "msg_a", &real), 1);
	assert_int_equal(quota_record(fx->a, "m", "stream", "msg_a", &seen), 0);
	/* The other order: the proxy first, the output after. */
	assert_int_equal(quota_record(fx->a, "m", "proxy", "msg_b", &real), 1);
	assert_int_equal(quota_record(fx->a, "m", "stream", "msg_b", &seen), 0);
	assert_int_equal(quota_record(fx->a, "m", "proxy", "msg_b", &real), 0);
	store_commit();
	assert_use(&fx->a->use, 24, 80, 600, 1800);
	assert_int_equal(quota_remaining(), 10000 - 24 - 80 - 600);
}

/* A job's cap is its per_agent_tokens, else a share above the reserve. */
static void
test_cap(void **state)
{
	struct job j;

	(void)state;
	memset(&j, 0, sizeof j);
	j.spec = json_pack("{s:i}", "per_agent_tokens", 500);
	assert_int_equal(quota_cap_for(&j, 3), 500);
	json_decref(j.spec);
	j.spec = json_object();
	/* (10000 - 0.10 * 10000) / 3 */
	assert_int_equal(quota_cap_for(&j, 3), 3000);
	json_decref(j.spec);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_messages_once),
		T(test_before_result),
		T(test_result_settles),
		T(test_partial_line),
		T(test_noise),
		T(test_price),
		T(test_pause),
		T(test_proxy_wins),
		T(test_cap),
	};

	return cmocka_run_group_tests_name("meter", tests, NULL, NULL);
}
