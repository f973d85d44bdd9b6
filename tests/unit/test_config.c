/* test_config.c: swarmd.conf defaults, keys, values and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "swarm-protocol.h"
#include "config.h"

struct fixture {
	char path[256];
	struct config cfg;
	char err[1024];
};

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fixture *fx = calloc(1, sizeof *fx);
	int fd;

	if (fx == NULL)
		return -1;
	snprintf(fx->path, sizeof fx->path, "%s/swarmd-conf-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if ((fd = mkstemp(fx->path)) == -1) {
		free(fx);
		return -1;
	}
	close(fd);
	config_defaults(&fx->cfg);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	unlink(fx->path);
	config_free(&fx->cfg);
	free(fx);
	return 0;
}

/* Write TEXT as the config file and load it over the defaults. */
static int
load(struct fixture *fx, const char *text)
{
	FILE *f = fopen(fx->path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	fx->err[0] = '\0';
	return config_load(&fx->cfg, fx->path, 0, fx->err, sizeof fx->err);
}

/* Load TEXT, expect failure with "<file>:<LINE>: <WANT>". */
static void
assert_load_error(
    struct fixture *fx, const char *text, int line, const char *want)
{
	char msg[1024];

	if (line > 0)
		snprintf(msg, sizeof msg, "%s:%d: %s", fx->path, line, want);
	else
		snprintf(msg, sizeof msg, "%s: %s", fx->path, want);
	assert_int_equal(load(fx, text), -1);
	assert_string_equal(fx->err, msg);
}

static void
assert_defaults(const struct config *c)
{
	assert_string_equal(c->socket, SWARM_DEFAULT_SOCKET);
	assert_string_equal(c->statedir, SWARM_DEFAULT_STATEDIR);
	assert_int_equal(c->socket_mode, 0660);
	assert_string_equal(c->socket_group, "");
	assert_string_equal(c->operator_group, "swarm");
	assert_string_equal(c->log_level, "info");
	assert_int_equal(c->max_agents, 64);
	assert_int_equal(c->default_concurrency, 4);
	assert_true(c->abort_grace == 30);
	assert_true(c->stop_grace == 10);
	assert_true(c->heartbeat_flush == 5);
	assert_string_equal(c->shim, "");
	assert_string_equal(c->synchronous, "full");
	assert_int_equal(c->file_max, 64LL << 20);
	assert_int_equal(c->result_max, 1LL << 20);
	assert_true(c->heartbeat_timeout == 180);
	assert_true(c->no_progress_timeout == 600);
	assert_string_equal(c->triage_hook, "");
	assert_true(c->triage_timeout == 60);
	assert_true(c->handoff_timeout == 120);
	assert_string_equal(c->escalation_webhook, "");
	assert_true(c->renotify == 4 * 3600);
	assert_true(c->context_threshold == 0.80);
	assert_true(c->context_window == 200000);
	assert_true(
	    c->rlimit_as == 0 && c->rlimit_cpu == 0 && c->rlimit_nproc == 0);
	assert_true(c->cgroup_memory_max == 0 && c->cgroup_pids_max == 0);
	assert_true(c->proxy_max_header == 64 * 1024);
	assert_true(c->proxy_max_body == 32 * 1024 * 1024);
	assert_true(c->proxy_client_timeout == 60);
	assert_string_equal(c->http_listen, "");
	assert_string_equal(c->http_root, "");
	assert_string_equal(c->http_token_file, "");
	assert_string_equal(c->http_operator_token_file, "");
	assert_true(c->http_timeout == 30);
	assert_int_equal(c->nmodels, 0);
}

static void
test_defaults(void **state)
{
	struct fixture *fx = *state;

	assert_defaults(&fx->cfg);
}

static void
test_empty_file(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(load(fx, "# nothing\n\n[swarmd]\n"), 0);
	assert_defaults(&fx->cfg);
}

static void
test_every_key(void **state)
{
	struct fixture *fx = *state;
	const char *text = "[swarmd]\n"
	                   "socket = /tmp/x.sock\n"
	                   "statedir = /tmp/state\n"
	                   "socket_mode = 0600\n"
	                   "socket_group = wheel\n"
	                   "operator_group = ops\n"
	                   "log_level = debug\n"
	                   "[spawn]\n"
	                   "max_agents = 8\n"
	                   "default_concurrency = 2\n"
	                   "abort_grace = 1m\n"
	                   "stop_grace = 1.5s\n"
	                   "heartbeat_flush = 2\n"
	                   "[store]\n"
	                   "synchronous = normal\n";

	assert_int_equal(load(fx, text), 0);
	assert_string_equal(fx->cfg.socket, "/tmp/x.sock");
	assert_string_equal(fx->cfg.statedir, "/tmp/state");
	assert_int_equal(fx->cfg.socket_mode, 0600);
	assert_string_equal(fx->cfg.socket_group, "wheel");
	assert_string_equal(fx->cfg.operator_group, "ops");
	assert_string_equal(fx->cfg.log_level, "debug");
	assert_int_equal(fx->cfg.max_agents, 8);
	assert_int_equal(fx->cfg.default_concurrency, 2);
	assert_true(fx->cfg.abort_grace == 60);
	assert_true(fx->cfg.stop_grace == 1.5);
	assert_true(fx->cfg.heartbeat_flush == 2);
	assert_string_equal(fx->cfg.synchronous, "normal");
}

/* A key set twice keeps the last value (and frees the first). */
static void
test_key_twice(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(load(fx, "[swarmd]\nsocket = /a\nsocket = /b\n"), 0);
	assert_string_equal(fx->cfg.socket, "/b");
}

static void
test_boundary_values(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(load(fx,
	                     "[swarmd]\nsocket_mode = 777\n"
	                     "[spawn]\nmax_agents = 100000\n"
	                     "default_concurrency = 1\n"
	                     "abort_grace = 1d\nstop_grace = 0\n"
	                     "heartbeat_flush = 1h\n"),
	    0);
	assert_int_equal(fx->cfg.socket_mode, 0777);
	assert_int_equal(fx->cfg.max_agents, 100000);
	assert_int_equal(fx->cfg.default_concurrency, 1);
	assert_true(fx->cfg.abort_grace == 86400);
	assert_true(fx->cfg.stop_grace == 0);
	assert_true(fx->cfg.heartbeat_flush == 3600);
}

static void
test_unknown_key(void **state)
{
	struct fixture *fx = *state;

	assert_load_error(fx, "[swarmd]\nsocket = /x\nbogus = 1\n", 3,
	    "[swarmd] bogus: unknown key");
	assert_non_null(strstr(fx->err, "unknown key"));
}

static void
test_key_in_wrong_section(void **state)
{
	struct fixture *fx = *state;

	assert_load_error(
	    fx, "[spawn]\n\nsocket = /x\n", 3, "[spawn] socket: unknown key");
	assert_load_error(fx, "[nope]\nmax_agents = 1\n", 2,
	    "[nope] max_agents: unknown key");
}

static void
test_bad_int(void **state)
{
	struct fixture *fx = *state;

	assert_load_error(fx, "[spawn]\nmax_agents = ten\n", 2,
	    "[spawn] max_agents: bad value \"ten\"");
	assert_load_error(fx, "[spawn]\nmax_agents = 0\n", 2,
	    "[spawn] max_agents: bad value \"0\"");
	assert_load_error(fx, "[spawn]\ndefault_concurrency = 100001\n", 2,
	    "[spawn] default_concurrency: bad value \"100001\"");
	/* A size below its key's least. */
	assert_load_error(fx, "[proxy]\nmax_header = 512\n", 2,
	    "[proxy] max_header: bad value \"512\"");
}

static void
test_bad_duration(void **state)
{
	struct fixture *fx = *state;

	assert_load_error(fx, "[spawn]\nabort_grace = 5x\n", 2,
	    "[spawn] abort_grace: bad value \"5x\"");
	assert_load_error(fx, "[spawn]\nstop_grace = -1\n", 2,
	    "[spawn] stop_grace: bad value \"-1\"");
	assert_load_error(fx, "[spawn]\nabort_grace = 2d\n", 2,
	    "[spawn] abort_grace: bad value \"2d\"");
	assert_load_error(fx, "[spawn]\nheartbeat_flush = 61m\n", 2,
	    "[spawn] heartbeat_flush: bad value \"61m\"");
}

static void
test_bad_mode(void **state)
{
	struct fixture *fx = *state;

	assert_load_error(fx, "[swarmd]\nsocket_mode = 0999\n", 2,
	    "[swarmd] socket_mode: bad value \"0999\"");
	assert_load_error(fx, "[swarmd]\nsocket_mode = 01000\n", 2,
	    "[swarmd] socket_mode: bad value \"01000\"");
	assert_load_error(fx, "[swarmd]\nsocket_mode = -1\n", 2,
	    "[swarmd] socket_mode: bad value \"-1\"");
	assert_load_error(fx, "[swarmd]\nsocket_mode =\n", 2,
	    "[swarmd] socket_mode: bad value \"\"");
}

static void
test_syntax_error(void **state)
{
	struct fixture *fx = *state;

	assert_load_error(
	    fx, "[swarmd]\nsocket = /x\nnot a key line\n", 3, "syntax error");
}

static void
test_missing_file(void **state)
{
	struct fixture *fx = *state;
	char want[2048];

	unlink(fx->path);
	assert_int_equal(
	    config_load(&fx->cfg, fx->path, 1, fx->err, sizeof fx->err), 0);
	assert_defaults(&fx->cfg);
	assert_int_equal(
	    config_load(&fx->cfg, fx->path, 0, fx->err, sizeof fx->err), -1);
	snprintf(want, sizeof want, "%s: No such file or directory", fx->path);
	assert_string_equal(fx->err, want);
}

static void
test_synchronous(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(load(fx, "[store]\nsynchronous = extra\n"), 0);
	assert_string_equal(fx->cfg.synchronous, "extra");
	assert_int_equal(load(fx, "[store]\nsynchronous = full\n"), 0);
	assert_load_error(fx, "[store]\nsynchronous = off\n", 0,
	    "[store] synchronous: expected full, normal or extra");
	assert_load_error(fx, "[store]\nsynchronous = FULL\n", 0,
	    "[store] synchronous: expected full, normal or extra");
}

/* [metrics] listen: loopback unless allow_remote; on_proxy needs the proxy. */
static void
test_metrics(void **state)
{
	struct fixture *fx = *state;
	const char *off = "[metrics] listen: 0.0.0.0:9464 is not a loopback "
	                  "address; set [metrics] allow_remote = yes to serve "
	                  "metrics beyond this host";

	assert_string_equal(fx->cfg.metrics_listen, "");
	assert_int_equal(fx->cfg.metrics_allow_remote, 0);
	assert_true(fx->cfg.metrics_timeout == 10);
	assert_int_equal(load(fx, "[metrics]\nlisten = 127.0.0.1:9464\n"), 0);
	assert_string_equal(fx->cfg.metrics_listen, "127.0.0.1:9464");
	assert_int_equal(load(fx, "[metrics]\nlisten = 127.0.0.2:0\n"), 0);
	assert_int_equal(load(fx, "[metrics]\nlisten = [::1]:9464\n"), 0);
	assert_load_error(fx, "[metrics]\nlisten = 0.0.0.0:9464\n", 0, off);
	assert_load_error(fx,
	    "[metrics]\nlisten = [::]:9464\nallow_remote = no\n", 0,
	    "[metrics] listen: [::]:9464 is not a loopback address; set "
	    "[metrics] allow_remote = yes to serve metrics beyond this host");
	assert_int_equal(load(fx,
	                     "[metrics]\nlisten = 0.0.0.0:9464\n"
	                     "allow_remote = yes\n"),
	    0);
	assert_int_equal(fx->cfg.metrics_allow_remote, 1);
	assert_load_error(fx,
	    "[metrics]\nlisten = 127.example.com:9464\nallow_remote = no\n", 0,
	    "[metrics] listen: expected ADDRESS:PORT, as 127.0.0.1:9464 or "
	    "[::1]:9464");
	assert_load_error(fx, "[metrics]\nlisten = 127.0.0.1:70000\n", 0,
	    "[metrics] listen: expected ADDRESS:PORT, as 127.0.0.1:9464 or "
	    "[::1]:9464");
	assert_load_error(fx, "[metrics]\nlisten = 127.0.0.1\n", 0,
	    "[metrics] listen: expected ADDRESS:PORT, as 127.0.0.1:9464 or "
	    "[::1]:9464");
	assert_load_error(fx,
	    "[metrics]\nlisten = 127.0.0.1:9464\non_proxy = yes\n", 0,
	    "[metrics] on_proxy needs [proxy] listen");
	assert_int_equal(load(fx,
	                     "[proxy]\nlisten = 127.0.0.1:0\n"
	                     "[metrics]\nlisten =\non_proxy = yes\n"),
	    0);
	assert_int_equal(fx->cfg.metrics_on_proxy, 1);
	assert_load_error(fx, "[metrics]\ntimeout = 0\n", 0,
	    "[metrics] timeout: expected a duration above 0");
}

/* file_max and result_max are sizes of at least one byte. */
static void
test_file_max(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(load(fx, "[store]\nfile_max = 1G\n"), 0);
	assert_int_equal(fx->cfg.file_max, 1LL << 30);
	assert_int_equal(load(fx, "[store]\nfile_max = 1\n"), 0);
	assert_int_equal(fx->cfg.file_max, 1);
	assert_load_error(fx, "[store]\nfile_max = 0\n", 2,
	    "[store] file_max: bad value \"0\"");
	assert_load_error(fx, "[store]\nfile_max = 2P\n", 2,
	    "[store] file_max: bad value \"2P\"");
	assert_int_equal(load(fx, "[store]\nresult_max = 16M\n"), 0);
	assert_int_equal(fx->cfg.result_max, 16LL << 20);
	assert_load_error(fx, "[store]\nresult_max = 0\n", 2,
	    "[store] result_max: bad value \"0\"");
}

/* etc/swarmd.conf claims to show the defaults: hold it to that. */
static void
test_sample_is_defaults(void **state)
{
	const char *sample = getenv("SWARMD_SAMPLE_CONF");
	struct fixture *fx = *state;

	if (sample == NULL)
		skip();
	assert_int_equal(
	    config_load(&fx->cfg, sample, 0, fx->err, sizeof fx->err), 0);
	assert_defaults(&fx->cfg);
}

/* Every ```ini block of the README parses as shown. */
static void
test_readme_snippets(void **state)
{
	const char *readme = getenv("SWARMD_README");
	struct fixture *fx = *state;
	char *text, *p, *end;
	int blocks = 0;
	FILE *f;
	long n;

	if (readme == NULL)
		skip();
	assert_non_null(f = fopen(readme, "r"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((n = ftell(f)) > 0);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	for (p = text; (p = strstr(p, "```ini\n")) != NULL; p = end + 3) {
		p += 7;
		assert_non_null(end = strstr(p, "```"));
		*end = '\0';
		if (load(fx, p) != 0)
			fail_msg("README block %d: %s", blocks + 1, fx->err);
		config_free(&fx->cfg);
		config_defaults(&fx->cfg);
		blocks++;
	}
	free(text);
	assert_true(blocks >= 3);
}

static void
test_watchdog(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(load(fx,
	                     "[watchdog]\n"
	                     "heartbeat_timeout = 1\n"
	                     "no_progress_timeout = 10m\n"
	                     "triage_hook = /usr/bin/hook --fast\n"
	                     "triage_timeout = 1.5s\n"
	                     "handoff_timeout = 0\n"
	                     "escalation_webhook = https://h.example/x\n"
	                     "renotify = 1h\n"
	                     "context_threshold = 90%\n"
	                     "context_window = 1000000\n"
	                     "rlimit_as = 4G\n"
	                     "rlimit_cpu = 1h\n"
	                     "rlimit_nproc = 512\n"
	                     "cgroup_memory_max = 512M\n"
	                     "cgroup_pids_max = 64\n"
	                     "[models]\n"
	                     "claude-sonnet-4-5 = 200000\n"
	                     "claude-opus-4-1 = 100000\n"
	                     "claude-sonnet-4-5 = 1000000\n"),
	    0);
	assert_true(fx->cfg.heartbeat_timeout == 1);
	assert_true(fx->cfg.no_progress_timeout == 600);
	assert_string_equal(fx->cfg.triage_hook, "/usr/bin/hook --fast");
	assert_true(fx->cfg.triage_timeout == 1.5);
	assert_true(fx->cfg.handoff_timeout == 0);
	assert_string_equal(fx->cfg.escalation_webhook, "https://h.example/x");
	assert_true(fx->cfg.renotify == 3600);
	assert_true(fx->cfg.context_threshold == 0.90);
	assert_true(fx->cfg.context_window == 1000000);
	assert_true(fx->cfg.rlimit_as == 4LL << 30);
	assert_true(fx->cfg.rlimit_cpu == 3600);
	assert_true(fx->cfg.rlimit_nproc == 512);
	assert_true(fx->cfg.cgroup_memory_max == 512LL << 20);
	assert_true(fx->cfg.cgroup_pids_max == 64);
	/* A model named twice keeps the last window. */
	assert_int_equal(fx->cfg.nmodels, 2);
	assert_string_equal(fx->cfg.models[0].model, "claude-sonnet-4-5");
	assert_true(fx->cfg.models[0].tokens == 1000000);
	assert_true(fx->cfg.models[1].tokens == 100000);
	assert_load_error(fx, "[watchdog]\ncontext_threshold = 0\n", 2,
	    "[watchdog] context_threshold: bad value \"0\"");
	assert_load_error(fx, "[watchdog]\ncontext_threshold = 1.5\n", 2,
	    "[watchdog] context_threshold: bad value \"1.5\"");
	assert_load_error(fx, "[watchdog]\nrlimit_as = 4GB\n", 2,
	    "[watchdog] rlimit_as: bad value \"4GB\"");
	assert_load_error(fx, "[models]\nclaude = lots\n", 2,
	    "[models] claude: expected a context window in "
	    "tokens");
	assert_load_error(fx, "[models]\nclaude = 0\n", 2,
	    "[models] claude: expected a context window in "
	    "tokens");
	assert_load_error(fx,
	    "[watchdog]\nescalation_webhook = "
	    "ftp://h/x\n",
	    0,
	    "[watchdog] escalation_webhook: "
	    "expected an http:// or https:// URL");
}

/* Every problem in the file is reported, in order, each with its line. */
static void
test_every_error(void **state)
{
	struct fixture *fx = *state;
	char want[2048];

	assert_int_equal(load(fx,
	                     "[swarmd]\ngarbage line\n\nbogus = 1\n"
	                     "[quota]\npause_at = lots\nmore garbage\n"
	                     "tokens_per_minute = 400000   # a comment\n"
	                     "window = 5h ; another\n"),
	    -1);
	snprintf(want, sizeof want,
	    "%s:2: syntax error; %s:4: [swarmd] bogus: unknown key; "
	    "%s:6: [quota] pause_at: bad value \"lots\"; %s:7: syntax error",
	    fx->path, fx->path, fx->path, fx->path);
	assert_string_equal(fx->err, want);
	/* One problem: one line, as before. */
	assert_load_error(
	    fx, "[swarmd]\nbogus = 1\n", 2, "[swarmd] bogus: unknown key");
}

/* A comment after a value, with # as with ;; a # inside a word stays. */
static void
test_trailing_comment(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(
	    load(fx,
	        "[quota]\ntokens_per_minute = 400000   # per minute\n"
	        "[watchdog]\ntriage_hook = /usr/bin/hook#1 --x\t# why\n"
	        "escalation_webhook = https://h.example/x#frag\n"),
	    0);
	assert_int_equal(fx->cfg.tokens_per_minute, 400000);
	assert_string_equal(fx->cfg.triage_hook, "/usr/bin/hook#1 --x");
	assert_string_equal(
	    fx->cfg.escalation_webhook, "https://h.example/x#frag");
}

static void
test_long_line(void **state)
{
	struct fixture *fx = *state;
	char text[600];

	snprintf(text, sizeof text, "[swarmd]\nstatedir = /%0400d\n", 0);
	assert_load_error(fx, text, 2, "line too long");
}

static void
test_not_a_file(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(
	    config_load(&fx->cfg, "/", 0, fx->err, sizeof fx->err), -1);
	assert_string_equal(fx->err, "/: not a regular file");
}

static void
test_nonsense_values(void **state)
{
	struct fixture *fx = *state;

	assert_load_error(fx, "[swarmd]\nlog_level = verbose\n", 0,
	    "[swarmd] log_level: expected err, warning, "
	    "notice, info or debug");
	config_free(&fx->cfg);
	config_defaults(&fx->cfg);
	assert_load_error(fx, "[swarmd]\nstatedir =\n", 0,
	    "[swarmd] socket and statedir must be absolute "
	    "paths");
	assert_load_error(fx, "[spawn]\nmax_agents = +5\n", 2,
	    "[spawn] max_agents: bad value \"+5\"");
	assert_load_error(fx, "[spawn]\nabort_grace = 0x10\n", 2,
	    "[spawn] abort_grace: bad value \"0x10\"");
	assert_load_error(fx, "[spawn]\nabort_grace = 1e1\n", 2,
	    "[spawn] abort_grace: bad value \"1e1\"");
}

/* [http]: HOST:PORT; off loopback only with a bearer token. */
static void
test_http(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(load(fx, "[http]\nlisten = 127.0.0.1:8077\n"), 0);
	assert_string_equal(fx->cfg.http_listen, "127.0.0.1:8077");
	assert_int_equal(load(fx, "[http]\nlisten = [::1]:0\n"), 0);
	assert_int_equal(load(fx, "[http]\nlisten = localhost:8077\n"), 0);
	assert_load_error(fx, "[http]\nlisten = 0.0.0.0:8077\n", 0,
	    "[http] listen 0.0.0.0:8077 is not loopback: it needs token_file");
	/* A name that starts like a loopback address is not one. */
	assert_load_error(fx, "[http]\nlisten = 127.example.com:8077\n", 0,
	    "[http] listen: expected HOST:PORT, as 127.0.0.1:8077");
	assert_load_error(fx, "[http]\nlisten = 8077\n", 0,
	    "[http] listen: expected HOST:PORT, as 127.0.0.1:8077");
	assert_load_error(fx, "[http]\nlisten = 127.0.0.1:65536\n", 0,
	    "[http] listen: expected HOST:PORT, as 127.0.0.1:8077");
	/* Keys add up over loads: these last. */
	assert_int_equal(load(fx,
	                     "[http]\nlisten = 0.0.0.0:8077\n"
	                     "token_file = /etc/swarmd/web.token\n"),
	    0);
	assert_load_error(
	    fx, "[http]\ntimeout = 0\n", 0, "[http] timeout must be above 0");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_empty_file),
		T(test_every_key),
		T(test_key_twice),
		T(test_boundary_values),
		T(test_unknown_key),
		T(test_key_in_wrong_section),
		T(test_bad_int),
		T(test_bad_duration),
		T(test_bad_mode),
		T(test_syntax_error),
		T(test_missing_file),
		T(test_synchronous),
		T(test_file_max),
		T(test_metrics),
		T(test_watchdog),
		T(test_sample_is_defaults),
		T(test_readme_snippets),
		T(test_every_error),
		T(test_trailing_comment),
		T(test_long_line),
		T(test_not_a_file),
		T(test_nonsense_values),
		T(test_http),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
