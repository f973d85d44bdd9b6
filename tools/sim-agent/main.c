/*
 * sim-agent [-Hks] [-n CALLS] [-i INPUT] [-o OUTPUT] [-m MODEL]
 *           [-r RETRIES] [-p PAUSE_MS] [-t TIMEOUT_S] [-l LABEL] [-w FILE]
 *
 * A simulated agent: CALLS Messages API calls, one after the other, to
 * $ANTHROPIC_BASE_URL/v1/messages with $ANTHROPIC_API_KEY, made and
 * retried the way an SDK makes and retries them (call.c).  Each call asks
 * the project's fake upstream for OUTPUT tokens ("fake:tokens N") and
 * carries about INPUT tokens as it counts them.  One JSON line per call
 * and a summary line go to stdout, or are appended to FILE.  The first
 * call that fails after its retries ends the run (-k: go on); the exit
 * status is 0 when every call succeeded, 1 otherwise, 2 for bad usage.
 *
 * Under swarmd, -H runs `swarmctl heartbeat` after each call ($SWARMCTL,
 * else swarmctl from PATH), and the lines are labelled with $SWARM_AGENT.
 */
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "sim-agent.h"

#define DEFAULT_BASE_URL "https://api.anthropic.com"
#define DEFAULT_API_KEY "sk-ant-sim-agent"
#define DEFAULT_MODEL "claude-sonnet-4-5"
#define FAKE_OVERHEAD 8 /* tokens the fake adds to every request */

extern char **environ;

struct opts {
	long calls;
	long input;
	long output;
	long pause_ms;
	int keep_going;
	int heartbeat;
	const char *model;
	const char *label;
	const char *out;
	struct call_opts call;
};

struct totals {
	long ok;
	long failed;
	long attempts;
	long n429;
	long n5xx;
	long nconn;
	struct usage usage;
};

static int out_fd = STDOUT_FILENO;

static void __attribute__((noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sim-agent: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static double
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	    "usage: sim-agent [-Hks] [-n CALLS] [-i INPUT] [-o OUTPUT] [-m MODEL]\n"
	    "                 [-r RETRIES] [-p PAUSE_MS] [-t TIMEOUT_S] "
	    "[-l LABEL] [-w FILE]\n");
	exit(2);
}

static long
number(const char *s, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < min || n > max)
		usage();
	return n;
}

/*
 * The user's text: the fake's directive, then filler so that the fake
 * counts INPUT tokens in all (8 + ceil(bytes / 4)).  A small INPUT gets
 * the directive alone, a few tokens over.
 */
static char *
prompt_text(long input, long output)
{
	static const char filler[] = "lorem ipsum dolor sit amet ";
	char head[64];
	size_t want, n, i;
	char *s;

	n = (size_t)snprintf(head, sizeof head, "fake:tokens %ld ", output);
	want = input > FAKE_OVERHEAD ? (size_t)(input - FAKE_OVERHEAD) * 4 : 0;
	if (want < n)
		want = n;
	s = xmalloc(want + 1);
	memcpy(s, head, n);
	for (i = n; i < want; i++)
		s[i] = filler[(i - n) % (sizeof filler - 1)];
	s[want] = '\0';
	return s;
}

static char *
request_body(const struct opts *o)
{
	char *text = prompt_text(o->input, o->output), *body;
	json_t *req;

	req = json_pack("{s:s, s:i, s:[{s:s, s:s}]}", "model", o->model,
	    "max_tokens", (json_int_t)o->output, "messages", "role", "user",
	    "content", text);
	if (req == NULL)
		die("cannot build the request body");
	if (o->call.stream)
		json_object_set_new(req, "stream", json_true());
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	free(text);
	if (body == NULL)
		die("out of memory");
	return body;
}

static void
opts_parse(struct opts *o, int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "Hi:kl:m:n:o:p:r:st:w:")) != -1) {
		switch (ch) {
		case 'H':
			o->heartbeat = 1;
			break;
		case 'i':
			o->input = number(optarg, 0, 10000000);
			break;
		case 'k':
			o->keep_going = 1;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'm':
			o->model = optarg;
			break;
		case 'n':
			o->calls = number(optarg, 0, LONG_MAX);
			break;
		case 'o':
			o->output = number(optarg, 1, 1000000);
			break;
		case 'p':
			o->pause_ms = number(optarg, 0, 86400000);
			break;
		case 'r':
			o->call.max_retries = (int)number(optarg, 0, 100);
			break;
		case 's':
			o->call.stream = 1;
			break;
		case 't':
			o->call.timeout_ms = number(optarg, 1, 86400) * 1000;
			break;
		case 'w':
			o->out = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

/* The environment an SDK reads, and swarmd's label for the agent. */
static char *
opts_env(struct opts *o)
{
	const char *base = getenv("ANTHROPIC_BASE_URL");
	size_t len;
	char *url;

	if (base == NULL || *base == '\0')
		base = DEFAULT_BASE_URL;
	len = strlen(base);
	while (len > 0 && base[len - 1] == '/')
		len--;
	if (asprintf(&url, "%.*s/v1/messages", (int)len, base) == -1)
		die("out of memory");
	o->call.url = url;
	o->call.api_key = getenv("ANTHROPIC_API_KEY");
	/* swarmd's proxy on a Unix socket: the URL names localhost. */
	o->call.unix_socket = getenv("SWARM_PROXY_SOCKET");
	if (o->call.api_key == NULL || *o->call.api_key == '\0')
		o->call.api_key = DEFAULT_API_KEY;
	if (o->label == NULL)
		o->label = getenv("SWARM_AGENT");
	return url;
}

/* One line, in one write: lines from agents sharing a file stay whole. */
static void
emit(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	size_t len;
	ssize_t n;
	char *p;

	json_decref(o);
	if (s == NULL)
		die("out of memory");
	len = strlen(s);
	s = xrealloc(s, len + 2);
	s[len++] = '\n';
	for (p = s; len > 0; p += n, len -= (size_t)n) {
		if ((n = write(out_fd, p, len)) == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			die("write: %s", strerror(errno));
		}
	}
	free(s);
}

static json_t *
usage_json(const struct usage *u)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "input_tokens",
	    (json_int_t)u->input, "output_tokens", (json_int_t)u->output,
	    "cache_creation_input_tokens", (json_int_t)u->cache_creation,
	    "cache_read_input_tokens", (json_int_t)u->cache_read);
}

static void
emit_call(const struct opts *o, long i, double start, const struct call *c)
{
	json_t *l;

	l = json_pack(
	    "{s:I, s:I, s:I, s:b, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:I, s:s, s:o}",
	    "call", (json_int_t)i + 1, "of", (json_int_t)o->calls, "status",
	    (json_int_t)c->status, "ok", c->ok, "attempts", c->attempts, "429s",
	    c->n429, "5xx", c->n5xx, "conn_errors", c->nconn, "ms", c->ms,
	    "waited_ms", c->waited_ms, "ttfb_ms", c->ttfb_ms, "start_ms",
	    (json_int_t)start, "id", c->msg.id, "usage",
	    usage_json(&c->msg.usage));
	if (l == NULL)
		die("cannot build a line");
	if (o->label != NULL)
		json_object_set_new(l, "agent", json_string(o->label));
	if (!c->ok)
		json_object_set_new(l, "error", json_string(c->error));
	emit(l);
}

static void
emit_summary(const struct opts *o, const struct totals *t, double ms)
{
	json_t *l;

	l = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o}",
	    "summary", 1, "calls", (json_int_t)o->calls, "ok",
	    (json_int_t)t->ok, "failed", (json_int_t)t->failed, "not_made",
	    (json_int_t)(o->calls - t->ok - t->failed), "attempts",
	    (json_int_t)t->attempts, "429s", (json_int_t)t->n429, "5xx",
	    (json_int_t)t->n5xx, "conn_errors", (json_int_t)t->nconn, "ms", ms,
	    "usage", usage_json(&t->usage));
	if (l == NULL)
		die("cannot build the summary");
	if (o->label != NULL)
		json_object_set_new(l, "agent", json_string(o->label));
	emit(l);
}

static void
totals_add(struct totals *t, const struct call *c)
{
	if (c->ok)
		t->ok++;
	else
		t->failed++;
	t->attempts += c->attempts;
	t->n429 += c->n429;
	t->n5xx += c->n5xx;
	t->nconn += c->nconn;
	t->usage.input += c->msg.usage.input;
	t->usage.output += c->msg.usage.output;
	t->usage.cache_creation += c->msg.usage.cache_creation;
	t->usage.cache_read += c->msg.usage.cache_read;
}

/*
 * swarmctl heartbeat --note "call I/N: STATUS", waited for.  Its own
 * output would mix with our lines, so it goes to /dev/null; a failure is
 * said once on stderr and never ends the run.
 */
static void
heartbeat(const struct opts *o, long i, const struct call *c)
{
	static int warned;
	const char *ctl = getenv("SWARMCTL");
	posix_spawn_file_actions_t fa;
	char note[96];
	char *argv[] = { NULL, "heartbeat", "--note", note, NULL };
	pid_t pid;
	int st = 0, e;

	if (ctl == NULL || *ctl == '\0')
		ctl = "swarmctl";
	argv[0] = (char *)ctl;
	snprintf(
	    note, sizeof note, "call %ld/%ld: %ld", i + 1, o->calls, c->status);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(
	    &fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	e = posix_spawnp(&pid, ctl, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e == 0)
		while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
			;
	if ((e != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) && !warned) {
		warned = 1;
		fprintf(stderr, "sim-agent: %s heartbeat failed%s%s\n", ctl,
		    e != 0 ? ": " : "", e != 0 ? strerror(e) : "");
	}
}

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
main(int argc, char **argv)
{
	struct opts o = { .calls = 1,
		.output = 16,
		.model = DEFAULT_MODEL,
		.call = { .max_retries = 2, .timeout_ms = 600000 } };
	struct totals t = { 0 };
	struct call c;
	double t0 = now_ms(), start;
	char *url, *body;
	long i;

	opts_parse(&o, argc, argv);
	url = opts_env(&o);
	if (o.heartbeat && getenv("SWARM_TOKEN") == NULL) {
		fprintf(
		    stderr, "sim-agent: -H outside swarmd: no heartbeats\n");
		o.heartbeat = 0;
	}
	if (o.out != NULL &&
	    (out_fd = open(
	         o.out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) == -1)
		die("%s: %s", o.out, strerror(errno));
	body = request_body(&o);
	o.call.body = body;
	srand48((long)getpid() ^ (long)wall_ms());
	if (call_init() == -1)
		die("libcurl would not start");
	for (i = 0; i < o.calls; i++) {
		if (i > 0 && o.pause_ms > 0)
			pause_ms(o.pause_ms);
		start = wall_ms();
		call_run(&o.call, &c);
		totals_add(&t, &c);
		emit_call(&o, i, start, &c);
		if (o.heartbeat)
			heartbeat(&o, i, &c);
		if (!c.ok && !o.keep_going)
			break;
	}
	emit_summary(&o, &t, now_ms() - t0);
	call_cleanup();
	free(body);
	free(url);
	return t.ok == o.calls ? 0 : 1;
}
