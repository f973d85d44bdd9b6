/*
 * cmd.c: swarmctl's verbs.  Each verb is one entry in cmd_table: its
 * usage, a line of help, its options and the function that builds the
 * request and prints the answer.  The connection is opened (and hello
 * said) by the first request, so a verb fails on its own arguments and
 * files before it ever reaches swarmd.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarm-protocol.h"
#include "sha256.h"
#include "util.h"
#include "client.h"
#include "cmd.h"
#include "format.h"

/* Job and checkpoint files; a request line is still held to 1 MiB. */
#define CMD_MAX_FILE (64 * 1024 * 1024)
/* How long each logs --follow request waits for new output. */
#define CMD_LOGS_WAIT 5

static int cmd_submit(struct cmd_ctx *);
static int cmd_ps(struct cmd_ctx *);
static int cmd_jobs(struct cmd_ctx *);
static int cmd_show(struct cmd_ctx *);
static int cmd_abort(struct cmd_ctx *);
static int cmd_send(struct cmd_ctx *);
static int cmd_pause(struct cmd_ctx *);
static int cmd_events(struct cmd_ctx *);
static int cmd_pending(struct cmd_ctx *);
static int cmd_logs(struct cmd_ctx *);
static int cmd_heartbeat(struct cmd_ctx *);
static int cmd_recv(struct cmd_ctx *);
static int cmd_checkpoint(struct cmd_ctx *);
static int cmd_report(struct cmd_ctx *);
static int cmd_quota(struct cmd_ctx *);
static int cmd_fail(struct cmd_ctx *);
static int cmd_dead(struct cmd_ctx *);
static int cmd_retry(struct cmd_ctx *);
static int cmd_done(struct cmd_ctx *);
static int cmd_help(struct cmd_ctx *);
static int cmd_escalations(struct cmd_ctx *);
static int cmd_resolve(struct cmd_ctx *);

static const struct cmd_entry cmd_table[] = {
	{ .name = "submit",
	    .usage = "FILE|- [--dry-run] [--strict]",
	    .help = "submit a job file (- reads stdin); prints the job id",
	    .min_args = 1,
	    .max_args = 1,
	    .opts = "dry-run strict",
	    .exec = cmd_submit },
	{ .name = "ps",
	    .usage = "[--job JOB] [--all]",
	    .help = "list live agents; --all lists ended ones too",
	    .opts = "job= all",
	    .exec = cmd_ps },
	{ .name = "jobs",
	    .usage = "",
	    .help = "list jobs with their chunks counted by state",
	    .exec = cmd_jobs },
	{ .name = "show",
	    .usage = "agent-N|job-N|job-N/CHUNK",
	    .help = "show one agent, job or chunk",
	    .min_args = 1,
	    .max_args = 1,
	    .exec = cmd_show },
	{ .name = "abort",
	    .usage = "TARGET [--grace SECONDS] [--reason TEXT]",
	    .help = "abort an agent, or a job and its queued chunks",
	    .min_args = 1,
	    .max_args = 1,
	    .opts = "grace= reason=",
	    .exec = cmd_abort },
	{ .name = "send",
	    .usage = "TARGET TEXT...",
	    .help =
	        "leave a message for an agent, or every running agent of a job",
	    .min_args = 2,
	    .max_args = -1,
	    .exec = cmd_send },
	{ .name = "pause",
	    .usage = "JOB",
	    .help = "start no more chunks of a job",
	    .min_args = 1,
	    .max_args = 1,
	    .exec = cmd_pause },
	{ .name = "resume",
	    .usage = "JOB",
	    .help = "start a paused job's chunks again",
	    .min_args = 1,
	    .max_args = 1,
	    .exec = cmd_pause },
	{ .name = "events",
	    .usage = "[--job JOB] [--follow] [--limit N]",
	    .help = "print the event log; --follow keeps printing",
	    .opts = "job= follow limit=",
	    .exec = cmd_events },
	{ .name = "pending",
	    .usage = "[--job JOB]",
	    .help = "list chunks dispatched and never completed",
	    .opts = "job=",
	    .exec = cmd_pending },
	{ .name = "logs",
	    .usage = "AGENT [--follow]",
	    .help = "print an agent's output; --follow until it ends",
	    .min_args = 1,
	    .max_args = 1,
	    .opts = "follow",
	    .exec = cmd_logs },
	{ .name = "quota",
	    .usage = "",
	    .help = "show the quota windows, the spawn state and top consumers",
	    .exec = cmd_quota },
	{ .name = "dead",
	    .usage = "[--job JOB]",
	    .help = "list dead letters: chunks that failed for good, and why",
	    .opts = "job=",
	    .exec = cmd_dead },
	{ .name = "retry",
	    .usage = "JOB/CHUNK | --dead JOB",
	    .help =
	        "requeue a failed, aborted or dead chunk, or every dead one",
	    .min_args = 1,
	    .max_args = 1,
	    .opts = "dead",
	    .exec = cmd_retry },
	{ .name = "escalations",
	    .usage = "[--all]",
	    .help =
	        "list open escalations from the watchdog; --all: closed too",
	    .opts = "all",
	    .exec = cmd_escalations },
	{ .name = "resolve",
	    .usage = "ESCALATION --action restart|kill|continue [--note TEXT]",
	    .help = "close an escalation and carry out the action on its agent",
	    .min_args = 1,
	    .max_args = 1,
	    .opts = "action= note=",
	    .exec = cmd_resolve },
	{ .name = "heartbeat",
	    .usage = "[--note TEXT]",
	    .help = "tell swarmd this agent is alive",
	    .agent = 1,
	    .opts = "note=",
	    .exec = cmd_heartbeat },
	{ .name = "recv",
	    .usage = "[--wait SECONDS]",
	    .help = "print this agent's unread messages, oldest first",
	    .agent = 1,
	    .opts = "wait=",
	    .exec = cmd_recv },
	{ .name = "checkpoint",
	    .usage = "[--note TEXT] [--file PATH]",
	    .help = "record a checkpoint of this agent's work",
	    .agent = 1,
	    .opts = "note= file=",
	    .exec = cmd_checkpoint },
	{ .name = "done",
	    .usage = "[--summary TEXT] [--result PATH]",
	    .help = "report this agent's chunk done",
	    .agent = 1,
	    .opts = "summary= result=",
	    .exec = cmd_done },
	{ .name = "fail",
	    .usage = "[--transient] [--reason TEXT]",
	    .help = "report this attempt failed (--transient: worth a retry)",
	    .agent = 1,
	    .opts = "transient reason=",
	    .exec = cmd_fail },
	{ .name = "report",
	    .usage =
	        "--input N --output N [--cache-read N] [--cache-creation N] [--model M]",
	    .help =
	        "report tokens this agent spent (counted by the quota meter)",
	    .agent = 1,
	    .opts = "input= output= cache-read= cache-creation= model=",
	    .exec = cmd_report },
	{ .name = "help",
	    .usage = "[VERB]",
	    .help = "list the verbs, or show one verb's usage",
	    .local = 1,
	    .max_args = 1,
	    .exec = cmd_help },
};

enum { OPT_JSON = 256, OPT_VERB = 512 };

const struct cmd_entry *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(cmd_table); i++) {
		if (strcmp(cmd_table[i].name, name) == 0)
			return &cmd_table[i];
	}
	return NULL;
}

void
cmd_usage(FILE *f, const struct cmd_entry *e)
{
	fprintf(f, "usage: swarmctl %s%s%s\n", e->name,
	    *e->usage != '\0' ? " " : "", e->usage);
}

static void
cmd_list_group(FILE *f, int agent)
{
	size_t i;

	for (i = 0; i < nitems(cmd_table); i++) {
		if (cmd_table[i].agent != agent)
			continue;
		fprintf(f, "  %s%s%s\n      %s\n", cmd_table[i].name,
		    *cmd_table[i].usage != '\0' ? " " : "", cmd_table[i].usage,
		    cmd_table[i].help);
	}
}

void
cmd_list(FILE *f)
{
	fputs("\nverbs:\n", f);
	cmd_list_group(f, 0);
	fputs(
	    "\nagent verbs (inside an agent, from SWARM_AGENT and SWARM_TOKEN):\n",
	    f);
	cmd_list_group(f, 1);
}

static int cmd_usage_error(struct cmd_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A one-line reason, then the verb's usage: exit status 2. */
static int
cmd_usage_error(struct cmd_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "swarmctl: %s: ", ctx->entry->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cmd_usage(stderr, ctx->entry);
	return SWARM_EXIT_USAGE;
}

/* Text that goes into a request must be UTF-8, or JSON cannot carry it. */
static int
is_utf8(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

static int
cmd_check_args(struct cmd_ctx *ctx)
{
	const struct cmd_entry *e = ctx->entry;
	const char *u = e->usage;
	int i;

	if (ctx->argc < e->min_args) {
		/* Name it: positionals lead the usage, one word each. */
		for (i = 0; i < ctx->argc; i++) {
			u += strcspn(u, " ");
			u += strspn(u, " ");
		}
		return cmd_usage_error(
		    ctx, "missing %.*s", (int)strcspn(u, " "), u);
	}
	if (e->max_args != -1 && ctx->argc > e->max_args)
		return cmd_usage_error(
		    ctx, "unexpected argument \"%s\"", ctx->argv[e->max_args]);
	for (i = 0; i < ctx->argc; i++) {
		if (!is_utf8(ctx->argv[i]))
			return cmd_usage_error(
			    ctx, "argument %d is not valid UTF-8", i + 1);
	}
	return 0;
}

/* getopt_long's table: the verb's options, then the global ones. */
static void
cmd_options(char *spec, struct option *lopts)
{
	char *name, *last;
	int n = 0;

	for (name = strtok_r(spec, " ", &last); name != NULL && n < CMD_MAXOPTS;
	     name = strtok_r(NULL, " ", &last)) {
		char *eq = strchr(name, '=');

		if (eq != NULL)
			*eq = '\0';
		lopts[n] =
		    (struct option){ name, eq != NULL, NULL, OPT_VERB + n };
		n++;
	}
	lopts[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	lopts[n++] = (struct option){ "socket", required_argument, NULL, 's' };
	lopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lopts[n] = (struct option){ NULL, 0, NULL, 0 };
}

int
cmd_parse(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct option lopts[CMD_MAXOPTS + 4];
	char spec[256];
	int ch, i;

	snprintf(spec, sizeof spec, "%s",
	    ctx->entry->opts != NULL ? ctx->entry->opts : "");
	cmd_options(spec, lopts);
	optind = 0; /* glibc: start afresh on this argv */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":s:h", lopts, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			ctx->json = 1;
			break;
		case 's':
			free(ctx->socket);
			ctx->socket = xstrdup(optarg);
			break;
		case 'h':
			ctx->help = 1;
			break;
		case ':':
			return cmd_usage_error(
			    ctx, "%s needs a value", argv[optind - 1]);
		case '?':
			if (optopt > 0 && optopt < 256)
				return cmd_usage_error(
				    ctx, "bad option -%c", optopt);
			return cmd_usage_error(
			    ctx, "bad option %s", argv[optind - 1]);
		default:
			i = ch - OPT_VERB;
			if (optarg != NULL && !is_utf8(optarg))
				return cmd_usage_error(ctx,
				    "--%s: not valid UTF-8", lopts[i].name);
			ctx->opt[i] = optarg != NULL ? optarg : "";
			break;
		}
	}
	ctx->argc = argc - optind;
	ctx->argv = argv + optind;
	return ctx->help ? 0 : cmd_check_args(ctx);
}

/* The value of the verb's option NAME, "" for a flag, NULL if not given. */
static const char *
opt_get(struct cmd_ctx *ctx, const char *name)
{
	const char *p = ctx->entry->opts;
	size_t len = strlen(name);
	int i;

	for (i = 0; p != NULL && *p != '\0' && i < CMD_MAXOPTS; i++) {
		if (strcspn(p, " =") == len && strncmp(p, name, len) == 0)
			return ctx->opt[i];
		p += strcspn(p, " ");
		p += *p == ' ';
	}
	return NULL;
}

/* Copy option NAME into ARGS as string member KEY, if given. */
static void
opt_to_arg(struct cmd_ctx *ctx, json_t *args, const char *name, const char *key)
{
	const char *v = opt_get(ctx, name);

	if (v != NULL)
		json_object_set_new(args, key, json_string(v));
}

/* A duration option as seconds; -1 if bad, 0 if absent. */
static int
opt_seconds(
    struct cmd_ctx *ctx, const char *name, json_t *args, const char *key)
{
	const char *v = opt_get(ctx, name);
	double d;

	if (v == NULL)
		return 0;
	if (parse_duration(v, &d) == -1)
		return -1;
	/* Whole seconds go as integers: 30 reads better than 30.0. */
	if (d == (double)(json_int_t)d)
		json_object_set_new(args, key, json_integer((json_int_t)d));
	else
		json_object_set_new(args, key, json_real(d));
	return 0;
}

static const char *
member_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* One compact JSON document on a line of stdout. */
static void
print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
	}
	free(s);
}

/* What --json prints for a verb with no natural array. */
static void
print_reply(json_t *resp)
{
	json_t *copy = json_copy(resp);

	json_object_del(copy, "id");
	json_object_del(copy, "ok");
	print_json(copy);
	json_decref(copy);
}

/* Exactly one line for the error; invalid_job adds its problems. */
static void
print_error(json_t *resp)
{
	json_t *err = json_object_get(resp, "error");
	json_t *problems = json_object_get(err, "problems");
	const char *code = member_str(err, "code");
	const char *msg = member_str(err, "message");
	char *clean = format_clean(msg != NULL ? msg : "(no message)");
	size_t i;

	fprintf(
	    stderr, "swarmctl: %s: %s\n", code != NULL ? code : "error", clean);
	free(clean);
	if (code == NULL || strcmp(code, SWARM_E_INVALID_JOB) != 0)
		return;
	for (i = 0; i < json_array_size(problems); i++) {
		json_t *p = json_array_get(problems, i);

		if (!json_is_string(p))
			continue;
		clean = format_clean(json_string_value(p));
		fprintf(stderr, "  %s\n", clean);
		free(clean);
	}
}

static int
cmd_unreachable(struct cmd_ctx *ctx, int error)
{
	fprintf(stderr, "swarmctl: cannot reach swarmd at %s: %s\n",
	    ctx->socket, strerror(error));
	return SWARM_EXIT_UNAVAILABLE;
}

/*
 * Read the next line.  Returns 0 with *LINE set, -1 at a clean end of
 * the connection, or an exit status after a message.
 */
static int
cmd_read(struct cmd_ctx *ctx, json_t **line)
{
	char err[256];

	switch (client_read(ctx->client, line, err, sizeof err)) {
	case CLIENT_LINE:
		return 0;
	case CLIENT_EOF:
		return -1;
	case CLIENT_ERROR:
		return cmd_unreachable(ctx, errno);
	case CLIENT_GARBAGE:
		break;
	}
	fprintf(stderr, "swarmctl: bad response from swarmd: %s\n", err);
	return SWARM_EXIT_ERROR;
}

/* The answer to request ID, or an exit status after a message. */
static int
cmd_answer(struct cmd_ctx *ctx, json_int_t id, json_t **resp)
{
	json_t *r, *rid;
	int rc;

	if ((rc = cmd_read(ctx, &r)) == -1) {
		fprintf(stderr,
		    "swarmctl: swarmd at %s closed the connection before answering\n",
		    ctx->socket);
		return SWARM_EXIT_UNAVAILABLE;
	}
	if (rc != 0)
		return rc;
	/* An error may come with a null id: the request was unreadable. */
	if (json_is_false(json_object_get(r, "ok"))) {
		const char *code = json_string_value(
		    json_object_get(json_object_get(r, "error"), "code"));
		/* A refusal by policy (submit --strict) has its own status. */
		int status = code != NULL && strcmp(code, SWARM_E_QUOTA) == 0 ?
		    SWARM_EXIT_REFUSED :
		    SWARM_EXIT_ERROR;

		print_error(r);
		json_decref(r);
		return status;
	}
	rid = json_object_get(r, "id");
	if (!json_is_true(json_object_get(r, "ok")) || !json_is_integer(rid) ||
	    json_integer_value(rid) != id) {
		fprintf(stderr,
		    "swarmctl: bad response from swarmd: not an answer to request %" JSON_INTEGER_FORMAT
		    "\n",
		    id);
		json_decref(r);
		return SWARM_EXIT_ERROR;
	}
	*resp = r;
	return 0;
}

/* Send VERB with ARGS (a reference taken) and read the answer. */
static int
cmd_request(struct cmd_ctx *ctx, const char *verb, json_t *args, json_t **resp)
{
	json_int_t id = ctx->next_id++;
	json_t *req;
	int rc;

	req =
	    json_pack("{s:I, s:s, s:o}", "id", id, "verb", verb, "args", args);
	if (ctx->entry->agent && strcmp(verb, "hello") != 0)
		json_object_set_new(req, "auth",
		    json_pack("{s:s, s:s}", "agent", ctx->agent, "token",
		        ctx->token));
	rc = client_send(ctx->client, req);
	json_decref(req);
	if (rc == -1 && errno == E2BIG) {
		fprintf(stderr,
		    "swarmctl: %s: the request is over the protocol's limit of %d bytes\n",
		    ctx->entry->name, SWARM_MAX_LINE);
		return SWARM_EXIT_ERROR;
	}
	if (rc == -1)
		return cmd_unreachable(ctx, errno);
	return cmd_answer(ctx, id, resp);
}

/* Connect and agree on the protocol version. */
static int
cmd_connect(struct cmd_ctx *ctx)
{
	json_t *resp, *v;
	int rc;

	if ((ctx->client = client_connect(ctx->socket)) == NULL)
		return cmd_unreachable(ctx, errno);
	ctx->next_id = 0; /* hello is request 0, the verb's request 1 */
	rc = cmd_request(ctx, "hello",
	    json_pack("{s:i}", "version", SWARM_PROTOCOL_VERSION), &resp);
	if (rc != 0)
		return rc;
	v = json_object_get(resp, "version");
	if (!json_is_integer(v) ||
	    json_integer_value(v) != SWARM_PROTOCOL_VERSION) {
		fprintf(stderr,
		    "swarmctl: swarmd at %s speaks another protocol version; this swarmctl speaks %d\n",
		    ctx->socket, SWARM_PROTOCOL_VERSION);
		json_decref(resp);
		return SWARM_EXIT_ERROR;
	}
	json_decref(resp);
	return 0;
}

/*
 * Call VERB with ARGS (a reference taken); *RESP is the successful
 * answer.  Returns 0 or an exit status after a message.
 */
static int
cmd_call(struct cmd_ctx *ctx, const char *verb, json_t *args, json_t **resp)
{
	int rc;

	*resp = NULL;
	if (ctx->client == NULL && (rc = cmd_connect(ctx)) != 0) {
		json_decref(args);
		return rc;
	}
	return cmd_request(ctx, verb, args, resp);
}

/* All of PATH ("-": stdin), at most MAX bytes; -1 with errno. */
static int
read_file(const char *path, size_t max, char **out, size_t *outlen)
{
	int fd = 0, saved;
	size_t len = 0, cap = 64 * 1024;
	char *buf;
	ssize_t n;

	if (strcmp(path, "-") != 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	buf = xmalloc(cap);
	for (;;) {
		if (len == cap)
			buf = xrealloc(buf, cap *= 2);
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if ((len += (size_t)n) > max) {
			n = -1;
			errno = EFBIG;
			break;
		}
	}
	saved = errno;
	if (fd != 0)
		close(fd);
	if (n == -1) {
		free(buf);
		errno = saved;
		return -1;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

static int
load_job(const char *path, json_t **job)
{
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	json_error_t jerr;
	size_t len;
	char *buf;

	if (read_file(path, CMD_MAX_FILE, &buf, &len) == -1) {
		fprintf(stderr, "swarmctl: %s: %s\n", name, strerror(errno));
		return SWARM_EXIT_ERROR;
	}
	/*
	 * Any value: the daemon says what a job must be.  Duplicate keys
	 * are refused here, as the daemon refuses them in a request.
	 */
	*job = json_loadb(
	    buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (*job == NULL) {
		fprintf(stderr, "swarmctl: %s:%d:%d: %s\n", name, jerr.line,
		    jerr.column, jerr.text);
		return SWARM_EXIT_ERROR;
	}
	return 0;
}

static int
cmd_submit(struct cmd_ctx *ctx)
{
	json_t *job, *args, *resp, *warnings;
	const char *id;
	size_t i;
	int rc;

	if ((rc = load_job(ctx->argv[0], &job)) != 0)
		return rc;
	args = json_pack("{s:o}", "job", job);
	if (opt_get(ctx, "dry-run") != NULL)
		json_object_set_new(args, "dry_run", json_true());
	if (opt_get(ctx, "strict") != NULL)
		json_object_set_new(args, "strict", json_true());
	if ((rc = cmd_call(ctx, "submit", args, &resp)) != 0)
		return rc;
	warnings = json_object_get(resp, "warnings");
	for (i = 0; i < json_array_size(warnings); i++) {
		json_t *w = json_array_get(warnings, i);

		if (json_is_string(w))
			fprintf(stderr, "swarmctl: warning: %s\n",
			    json_string_value(w));
	}
	if (ctx->json)
		print_reply(resp);
	else if ((id = member_str(resp, "job")) != NULL)
		printf("%s\n", id);
	else
		printf("valid: %" JSON_INTEGER_FORMAT
		       " chunks; nothing was stored (dry run)\n",
		    json_integer_value(json_object_get(resp, "chunks")));
	json_decref(resp);
	return 0;
}

/* How long an agent has run: until it ended, or until now. */
static void
agent_age(struct table *t, json_t *a)
{
	char buf[FORMAT_AGE_LEN];
	int64_t start, end;

	if (format_parse_ts(member_str(a, "started"), &start) == -1) {
		format_table_cell(t, NULL);
		return;
	}
	if (format_parse_ts(member_str(a, "ended"), &end) == -1)
		end = now_wall_ms();
	format_table_cell(t, format_age(end - start, buf));
}

static void
print_agents(json_t *agents)
{
	struct table *t;
	char buf[FORMAT_AGE_LEN];
	size_t i;

	t = format_table_new("AGENT JOB CHUNK STATE PID AGE LAST_SEEN");
	for (i = 0; i < json_array_size(agents); i++) {
		json_t *a = json_array_get(agents, i);

		format_table_row(t);
		format_table_cell(t, member_str(a, "agent"));
		format_table_cell(t, member_str(a, "job"));
		format_table_cell(t, member_str(a, "chunk"));
		format_table_cell(t, member_str(a, "state"));
		format_table_json(t, json_object_get(a, "pid"));
		agent_age(t, a);
		format_table_cell(
		    t, format_ago(json_object_get(a, "last_seen"), buf));
	}
	format_table_print(t, stdout);
	format_table_free(t);
}

static int
cmd_ps(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	opt_to_arg(ctx, args, "job", "job");
	if (opt_get(ctx, "all") != NULL)
		json_object_set_new(args, "all", json_true());
	if ((rc = cmd_call(ctx, "ps", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		print_json(json_object_get(resp, "agents"));
	else
		print_agents(json_object_get(resp, "agents"));
	json_decref(resp);
	return 0;
}

static void
print_jobs(json_t *jobs)
{
	static const char *counts[] = { "queued", "running", "done", "failed",
		"aborted", "dead" };
	struct table *t;
	size_t i, k;

	t = format_table_new(
	    "JOB NAME STATE TOTAL QUEUED RUNNING DONE FAILED ABORTED DEAD");
	for (i = 0; i < json_array_size(jobs); i++) {
		json_t *j = json_array_get(jobs, i);

		const char *state = member_str(j, "state");
		json_t *c = json_object_get(j, "counts");

		/* Paused matters only while the job can still run chunks. */
		if (json_is_true(json_object_get(j, "paused")) &&
		    state != NULL && strcmp(state, "done") != 0 &&
		    strcmp(state, "aborted") != 0)
			state = "paused";
		format_table_row(t);
		format_table_cell(t, member_str(j, "job"));
		format_table_cell(t, member_str(j, "name"));
		format_table_cell(t, state);
		format_table_json(t, json_object_get(j, "total"));
		for (k = 0; k < nitems(counts); k++)
			format_table_json(t, json_object_get(c, counts[k]));
	}
	format_table_print(t, stdout);
	format_table_free(t);
}

static int
cmd_jobs(struct cmd_ctx *ctx)
{
	json_t *resp;
	int rc;

	if ((rc = cmd_call(ctx, "jobs", json_object(), &resp)) != 0)
		return rc;
	if (ctx->json)
		print_json(json_object_get(resp, "jobs"));
	else
		print_jobs(json_object_get(resp, "jobs"));
	json_decref(resp);
	return 0;
}

static void
print_job(json_t *job)
{
	json_t *chunks = json_object_get(job, "chunks");
	struct table *t;
	size_t i;

	format_object(stdout, job);
	if (json_array_size(chunks) == 0)
		return;
	t = format_table_new("CHUNK STATE AGENT ATTEMPTS REASON");
	for (i = 0; i < json_array_size(chunks); i++) {
		json_t *c = json_array_get(chunks, i);

		format_table_row(t);
		format_table_cell(t, member_str(c, "id"));
		format_table_cell(t, member_str(c, "state"));
		format_table_cell(t, member_str(c, "agent"));
		format_table_json(t, json_object_get(c, "attempts"));
		format_table_cell(t, member_str(c, "reason"));
	}
	fputc('\n', stdout);
	format_table_print(t, stdout);
	format_table_free(t);
}

static void
print_chunk(json_t *chunk)
{
	json_t *agents = json_object_get(chunk, "agents");
	json_t *cps = json_object_get(chunk, "checkpoints");
	struct table *t;
	size_t i;

	format_object(stdout, chunk);
	if (json_array_size(agents) > 0) {
		fputc('\n', stdout);
		print_agents(agents);
	}
	if (json_array_size(cps) == 0)
		return;
	t = format_table_new("CHECKPOINT TS AGENT SIZE NOTE");
	for (i = 0; i < json_array_size(cps); i++) {
		json_t *c = json_array_get(cps, i);

		format_table_row(t);
		format_table_json(t, json_object_get(c, "seq"));
		format_table_cell(t, member_str(c, "ts"));
		format_table_cell(t, member_str(c, "agent"));
		format_table_json(t, json_object_get(c, "size"));
		format_table_cell(t, member_str(c, "note"));
	}
	fputc('\n', stdout);
	format_table_print(t, stdout);
	format_table_free(t);
}

static int
cmd_show(struct cmd_ctx *ctx)
{
	json_t *resp, *o;
	int rc;

	rc = cmd_call(
	    ctx, "show", json_pack("{s:s}", "target", ctx->argv[0]), &resp);
	if (rc != 0)
		return rc;
	if ((o = json_object_get(resp, "agent")) != NULL) {
		if (ctx->json)
			print_json(o);
		else
			format_object(stdout, o);
	} else if ((o = json_object_get(resp, "job")) != NULL) {
		if (ctx->json)
			print_json(o);
		else
			print_job(o);
	} else if ((o = json_object_get(resp, "chunk")) != NULL) {
		if (ctx->json)
			print_json(o);
		else
			print_chunk(o);
	} else
		print_reply(resp);
	json_decref(resp);
	return 0;
}

/* "agent-1, agent-2" from an array of names. */
static char *
join_names(json_t *names)
{
	char *s = xstrdup(""), *next;
	size_t i;

	for (i = 0; i < json_array_size(names); i++) {
		json_t *n = json_array_get(names, i);

		if (!json_is_string(n))
			continue;
		next = xasprintf(
		    "%s%s%s", s, *s != '\0' ? ", " : "", json_string_value(n));
		free(s);
		s = next;
	}
	return s;
}

static int
cmd_abort(struct cmd_ctx *ctx)
{
	json_t *args, *resp;
	const char *msg;
	char *names;
	int rc;

	args = json_pack("{s:s}", "target", ctx->argv[0]);
	if (opt_seconds(ctx, "grace", args, "grace") == -1) {
		json_decref(args);
		return cmd_usage_error(ctx,
		    "bad --grace \"%s\": expected seconds (30, 30s, 2m)",
		    opt_get(ctx, "grace"));
	}
	opt_to_arg(ctx, args, "reason", "reason");
	if ((rc = cmd_call(ctx, "abort", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		print_reply(resp);
	else if ((msg = member_str(resp, "message")) != NULL)
		printf("%s\n", msg);
	else {
		names = join_names(json_object_get(resp, "aborted"));
		printf("aborted: %s\n", *names != '\0' ? names : "none");
		free(names);
	}
	json_decref(resp);
	return 0;
}

static int
cmd_send(struct cmd_ctx *ctx)
{
	json_t *resp;
	char *text = xstrdup(ctx->argv[1]), *next;
	int i, rc;

	for (i = 2; i < ctx->argc; i++) {
		next = xasprintf("%s %s", text, ctx->argv[i]);
		free(text);
		text = next;
	}
	rc = cmd_call(ctx, "send",
	    json_pack("{s:s, s:s}", "target", ctx->argv[0], "text", text),
	    &resp);
	free(text);
	if (rc != 0)
		return rc;
	if (ctx->json)
		print_reply(resp);
	else {
		char *names = join_names(json_object_get(resp, "sent"));

		if (*names != '\0')
			printf("sent to %s\n", names);
		else
			printf("sent to no agent: none is running\n");
		free(names);
	}
	json_decref(resp);
	return 0;
}

/* pause and resume: the verb's name is the request's. */
static int
cmd_pause(struct cmd_ctx *ctx)
{
	json_t *resp;
	int rc;

	rc = cmd_call(ctx, ctx->entry->name,
	    json_pack("{s:s}", "job", ctx->argv[0]), &resp);
	if (rc != 0)
		return rc;
	if (ctx->json)
		print_reply(resp);
	else
		printf("%s %s\n",
		    member_str(resp, "job") != NULL ? member_str(resp, "job") :
		                                      ctx->argv[0],
		    json_is_true(json_object_get(resp, "paused")) ? "paused" :
		                                                    "resumed");
	json_decref(resp);
	return 0;
}

/* TS EVENT JOB/CHUNK AGENT, then what the event adds, as key=JSON. */
static void
print_event(json_t *ev)
{
	static const char *extra[] = { "success", "exit_code", "signal",
		"reason", "note", "summary", "text", "dropped" };
	const char *job = member_str(ev, "job");
	const char *chunk = member_str(ev, "chunk_id");
	const char *agent = member_str(ev, "agent");
	char *head, *clean, *v;
	size_t i;

	head = xasprintf("%s %-18s %s%s%s %s",
	    member_str(ev, "ts") != NULL ? member_str(ev, "ts") : "-",
	    member_str(ev, "event") != NULL ? member_str(ev, "event") : "-",
	    job != NULL ? job : "-", chunk != NULL ? "/" : "",
	    chunk != NULL ? chunk : "", agent != NULL ? agent : "-");
	clean = format_clean(head);
	fputs(clean, stdout);
	free(clean);
	free(head);
	for (i = 0; i < nitems(extra); i++) {
		json_t *m = json_object_get(ev, extra[i]);

		if (m == NULL || json_is_null(m))
			continue;
		/* JSON quoting keeps the line one line and unambiguous. */
		if ((v = json_dumps(m, JSON_ENCODE_ANY | JSON_COMPACT)) != NULL)
			printf(" %s=%s", extra[i], v);
		free(v);
	}
	fputc('\n', stdout);
}

static void
show_event(struct cmd_ctx *ctx, json_t *ev)
{
	if (ctx->json)
		print_json(ev);
	else
		print_event(ev);
}

/* Print events as they come, until swarmd closes the connection. */
static int
events_follow(struct cmd_ctx *ctx)
{
	for (;;) {
		json_t *line, *ev;
		int rc;

		if ((rc = cmd_read(ctx, &line)) == -1)
			return SWARM_EXIT_OK;
		if (rc != 0)
			return rc;
		if (json_is_false(json_object_get(line, "ok"))) {
			print_error(line);
			json_decref(line);
			return SWARM_EXIT_ERROR;
		}
		if (json_is_object(ev = json_object_get(line, "event"))) {
			show_event(ctx, ev);
			format_flush();
		}
		json_decref(line);
	}
}

static int
cmd_events(struct cmd_ctx *ctx)
{
	const char *limit = opt_get(ctx, "limit");
	json_t *args = json_object(), *resp, *events;
	long long n;
	size_t i;
	int rc;

	if (limit != NULL) {
		if (parse_int(limit, 0, LLONG_MAX, &n) == -1) {
			json_decref(args);
			return cmd_usage_error(
			    ctx, "bad --limit \"%s\": expected a count", limit);
		}
		json_object_set_new(args, "limit", json_integer(n));
	}
	opt_to_arg(ctx, args, "job", "job");
	if (opt_get(ctx, "follow") != NULL)
		json_object_set_new(args, "follow", json_true());
	if ((rc = cmd_call(ctx, "events", args, &resp)) != 0)
		return rc;
	events = json_object_get(resp, "events");
	for (i = 0; i < json_array_size(events); i++)
		show_event(ctx, json_array_get(events, i));
	json_decref(resp);
	if (opt_get(ctx, "follow") == NULL)
		return 0;
	format_flush();
	return events_follow(ctx);
}

static int
cmd_pending(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp, *pending;
	size_t i;
	int rc;

	opt_to_arg(ctx, args, "job", "job");
	if ((rc = cmd_call(ctx, "pending", args, &resp)) != 0)
		return rc;
	pending = json_object_get(resp, "pending");
	if (ctx->json)
		print_json(pending);
	for (i = 0; !ctx->json && i < json_array_size(pending); i++) {
		json_t *p = json_array_get(pending, i);

		if (json_is_string(p))
			printf("%s\n", json_string_value(p));
	}
	json_decref(resp);
	return 0;
}

/* One logs request from OFFSET; *NEXT is where the next one starts. */
static int
logs_once(struct cmd_ctx *ctx, json_int_t offset, int wait, json_int_t *next,
    int *more)
{
	json_t *args, *resp, *data, *off;
	size_t len;
	int rc;

	args = json_pack("{s:s, s:I}", "agent", ctx->argv[0], "offset", offset);
	if (wait)
		json_object_set_new(args, "wait", json_integer(CMD_LOGS_WAIT));
	if ((rc = cmd_call(ctx, "logs", args, &resp)) != 0)
		return rc;
	data = json_object_get(resp, "data");
	len = json_string_length(data);
	if (ctx->json)
		print_reply(resp);
	else
		format_write(json_string_value(data), len);
	format_flush();
	off = json_object_get(resp, "offset");
	*next = json_integer_value(off);
	/* Done once the agent ended and its log has nothing more. */
	*more = json_is_integer(off) &&
	    (len > 0 || !json_is_true(json_object_get(resp, "ended")));
	json_decref(resp);
	return 0;
}

/* With --follow, ask again from the new offset until the agent ended. */
static int
cmd_logs(struct cmd_ctx *ctx)
{
	int follow = opt_get(ctx, "follow") != NULL, more, rc;
	json_int_t offset = 0;

	if ((rc = logs_once(ctx, offset, 0, &offset, &more)) != 0)
		return rc;
	while (follow && more) {
		if ((rc = logs_once(ctx, offset, 1, &offset, &more)) != 0)
			return rc;
	}
	return SWARM_EXIT_OK;
}

static int
cmd_heartbeat(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	opt_to_arg(ctx, args, "note", "note");
	if ((rc = cmd_call(ctx, "heartbeat", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		print_reply(resp);
	json_decref(resp);
	return 0;
}

static int
cmd_recv(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp, *msgs;
	size_t i;
	int rc;

	if (opt_seconds(ctx, "wait", args, "wait") == -1) {
		json_decref(args);
		return cmd_usage_error(ctx,
		    "bad --wait \"%s\": expected seconds (10, 10s, 1m)",
		    opt_get(ctx, "wait"));
	}
	if ((rc = cmd_call(ctx, "recv", args, &resp)) != 0)
		return rc;
	msgs = json_object_get(resp, "messages");
	for (i = 0; i < json_array_size(msgs); i++) {
		json_t *m = json_array_get(msgs, i);

		if (ctx->json)
			print_json(m);
		else if (member_str(m, "text") != NULL)
			printf("%s\n", member_str(m, "text"));
	}
	json_decref(resp);
	return 0;
}

/* Standard base64 with padding, for checkpoint files that are not text. */
static char *
base64_encode(const unsigned char *in, size_t len)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *p = out;
	unsigned long v;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned long)in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		*p++ = abc[v >> 18 & 63];
		*p++ = abc[v >> 12 & 63];
		*p++ = abc[v >> 6 & 63];
		*p++ = abc[v & 63];
	}
	if (i < len) {
		v = (unsigned long)in[i] << 16;
		if (i + 1 < len)
			v |= in[i + 1] << 8;
		*p++ = abc[v >> 18 & 63];
		*p++ = abc[v >> 12 & 63];
		*p++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
		*p++ = '=';
	}
	*p = '\0';
	return out;
}

/* A large checkpoint stays where it is: swarmd keeps its path and hash. */
static void
checkpoint_by_path(const char *path, const char *buf, size_t len, json_t *args)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t digest[SHA256_LEN];
	char text[2 * SHA256_LEN + 1], *abs = realpath(path, NULL);
	size_t i;

	sha256(buf, len, digest);
	for (i = 0; i < SHA256_LEN; i++) {
		text[2 * i] = hex[digest[i] >> 4];
		text[2 * i + 1] = hex[digest[i] & 15];
	}
	text[2 * SHA256_LEN] = '\0';
	json_object_set_new(
	    args, "path", json_string(abs != NULL ? abs : path));
	json_object_set_new(args, "sha256", json_string(text));
	json_object_set_new(args, "size", json_integer((json_int_t)len));
	free(abs);
}

/* The file as "data": text as it is, anything else in base64. */
static int
checkpoint_data(struct cmd_ctx *ctx, const char *path, json_t *args)
{
	json_t *data = NULL;
	size_t len;
	char *buf;

	if (read_file(path, CMD_MAX_FILE, &buf, &len) == -1) {
		fprintf(stderr, "swarmctl: %s: %s: %s\n", ctx->entry->name,
		    path, strerror(errno));
		return SWARM_EXIT_ERROR;
	}
	if (len > SWARM_CHECKPOINT_INLINE) {
		checkpoint_by_path(path, buf, len, args);
		free(buf);
		return 0;
	}
	/* A NUL is valid UTF-8 but would end the text at the daemon. */
	if (memchr(buf, '\0', len) == NULL)
		data = json_stringn(buf, len);
	if (data == NULL) {
		char *b64 = base64_encode((unsigned char *)buf, len);

		data = json_string(b64);
		free(b64);
		json_object_set_new(args, "encoding", json_string("base64"));
	}
	free(buf);
	json_object_set_new(args, "data", data);
	return 0;
}

static int
cmd_checkpoint(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	const char *file = opt_get(ctx, "file");
	int rc;

	opt_to_arg(ctx, args, "note", "note");
	if (file != NULL && (rc = checkpoint_data(ctx, file, args)) != 0) {
		json_decref(args);
		return rc;
	}
	if ((rc = cmd_call(ctx, "checkpoint", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		print_reply(resp);
	json_decref(resp);
	return 0;
}

/* PATH made absolute; it need not exist yet, its directory must. */
static char *
absolute_path(const char *path)
{
	char *abs, *d, *b, *dir;

	if ((abs = realpath(path, NULL)) != NULL || errno != ENOENT)
		return abs;
	d = xstrdup(path);
	b = xstrdup(path);
	if ((dir = realpath(dirname(d), NULL)) != NULL)
		abs = xasprintf(
		    "%s/%s", strcmp(dir, "/") != 0 ? dir : "", basename(b));
	free(dir);
	free(d);
	free(b);
	return abs;
}

static int
cmd_done(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	const char *result = opt_get(ctx, "result");
	int rc;

	opt_to_arg(ctx, args, "summary", "summary");
	if (result != NULL) {
		char *abs;

		if ((abs = absolute_path(result)) == NULL || !is_utf8(abs)) {
			fprintf(stderr, "swarmctl: done: %s: %s\n", result,
			    abs == NULL ? strerror(errno) :
			                  "path is not valid UTF-8");
			free(abs);
			json_decref(args);
			return SWARM_EXIT_ERROR;
		}
		json_object_set_new(args, "result", json_string(abs));
		free(abs);
	}
	if ((rc = cmd_call(ctx, "done", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		print_reply(resp);
	json_decref(resp);
	return 0;
}

static void
cmd_verb_help(FILE *f, const struct cmd_entry *e)
{
	cmd_usage(f, e);
	fprintf(f, "%s%s\n", e->help,
	    e->agent ? " (agent verb: needs SWARM_AGENT and SWARM_TOKEN)" : "");
}

static int
cmd_help(struct cmd_ctx *ctx)
{
	const struct cmd_entry *e;

	if (ctx->argc == 0) {
		fputs("usage: swarmctl [-s SOCKET] [--json] VERB [ARGS]\n",
		    stdout);
		cmd_list(stdout);
		return 0;
	}
	if ((e = cmd_find(ctx->argv[0])) == NULL)
		return cmd_usage_error(
		    ctx, "unknown verb \"%s\"", ctx->argv[0]);
	cmd_verb_help(stdout, e);
	return 0;
}

int
cmd_exec(struct cmd_ctx *ctx)
{
	const struct cmd_entry *e = ctx->entry;

	if (ctx->help) {
		cmd_verb_help(stdout, e);
		return SWARM_EXIT_OK;
	}
	if (e->agent) {
		ctx->agent = getenv(SWARM_ENV_AGENT);
		ctx->token = getenv(SWARM_ENV_TOKEN);
		if (ctx->agent == NULL || *ctx->agent == '\0' ||
		    ctx->token == NULL || *ctx->token == '\0') {
			fprintf(stderr,
			    "swarmctl: %s: not inside an agent "
			    "(SWARM_AGENT/SWARM_TOKEN unset)\n",
			    e->name);
			return SWARM_EXIT_USAGE;
		}
		if (!is_utf8(ctx->agent) || !is_utf8(ctx->token)) {
			fprintf(stderr,
			    "swarmctl: %s: SWARM_AGENT or SWARM_TOKEN is not valid UTF-8\n",
			    e->name);
			return SWARM_EXIT_USAGE;
		}
	}
	return e->exec(ctx);
}

void
cmd_free(struct cmd_ctx *ctx)
{
	client_close(ctx->client);
	ctx->client = NULL;
	free(ctx->socket);
	ctx->socket = NULL;
}

static int
cmd_report(struct cmd_ctx *ctx)
{
	static const char *opts[][2] = {
		{ "input", "input" },
		{ "output", "output" },
		{ "cache-read", "cache_read" },
		{ "cache-creation", "cache_creation" },
	};
	json_t *args = json_object(), *resp;
	const char *v;
	long long n;
	size_t i;
	int rc;

	for (i = 0; i < nitems(opts); i++) {
		if ((v = opt_get(ctx, opts[i][0])) == NULL)
			continue;
		if (parse_int(v, 0, 1000000000000LL, &n) == -1) {
			json_decref(args);
			return cmd_usage_error(ctx,
			    "bad --%s \"%s\": expected a token count",
			    opts[i][0], v);
		}
		json_object_set_new(args, opts[i][1], json_integer(n));
	}
	if (json_object_size(args) == 0) {
		json_decref(args);
		return cmd_usage_error(ctx, "nothing to report");
	}
	opt_to_arg(ctx, args, "model", "model");
	if ((rc = cmd_call(ctx, "report", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		print_reply(resp);
	json_decref(resp);
	return 0;
}

/* The proxy's queues: what waits, what upstream refused on the way. */
static void
print_proxy_queues(json_t *pq)
{
	const char *name;
	json_t *v;

	json_object_foreach(pq, name, v) {
		json_int_t req =
		    json_integer_value(json_object_get(v, "requests"));
		double hold =
		    json_number_value(json_object_get(v, "hold_seconds"));

		if (req == 0 && hold == 0)
			continue;
		printf("proxy %s: %lld queued, %lld in flight", name,
		    (long long)json_integer_value(json_object_get(v, "queued")),
		    (long long)json_integer_value(
		        json_object_get(v, "in_flight")));
		if (hold > 0)
			printf(", holding %.1f s", hold);
		printf(
		    "; %lld requests, %lld 429s absorbed, %lld sent to agents\n",
		    (long long)req,
		    (long long)json_integer_value(
		        json_object_get(v, "absorbed_429")),
		    (long long)json_integer_value(
		        json_object_get(v, "refused_429")));
	}
}

static void
print_quota(json_t *q)
{
	json_t *w = json_object_get(q, "windows"), *top, *spawn, *sub;
	char pct[32], refill[FORMAT_AGE_LEN];
	struct table *t;
	const char *type;
	json_t *v;
	void *it;
	size_t i;

	t = format_table_new("WINDOW LIMIT USED PERCENT REFILL");
	for (i = 0; i < json_array_size(w); i++) {
		json_t *r = json_array_get(w, i);

		/* Tokens are whole; only the day's spend has cents. */
		const char *name = member_str(r, "name");
		const char *fmt =
		    name != NULL && strcmp(name, "daily_usd") == 0 ? "%.2f" :
		                                                     "%.0f";

		format_table_row(t);
		format_table_cell(t, member_str(r, "name"));
		snprintf(pct, sizeof pct, fmt,
		    json_number_value(json_object_get(r, "limit")));
		format_table_cell(t, pct);
		snprintf(pct, sizeof pct, fmt,
		    json_number_value(json_object_get(r, "used")));
		format_table_cell(t, pct);
		snprintf(pct, sizeof pct, "%.1f%%",
		    json_number_value(json_object_get(r, "percent")));
		format_table_cell(t, pct);
		format_table_cell(t,
		    format_age((int64_t)(1000 *
		                   json_number_value(
		                       json_object_get(r, "refill_seconds"))),
		        refill));
	}
	if (json_array_size(w) == 0)
		printf(
		    "no quota windows configured ([quota] in swarmd.conf)\n");
	else
		format_table_print(t, stdout);
	format_table_free(t);
	spawn = json_object_get(q, "spawn");
	printf("spawn: %s", member_str(spawn, "state"));
	if (json_is_string(json_object_get(spawn, "reason")))
		printf(" (%s)", member_str(spawn, "reason"));
	printf("\n");
	sub = json_object_get(q, "subscription");
	for (it = json_object_iter(sub); it != NULL;
	     it = json_object_iter_next(sub, it)) {
		type = json_object_iter_key(it);
		v = json_object_iter_value(it);
		printf("subscription %s: %s, resets at %lld\n", type,
		    member_str(v, "status"),
		    (long long)json_integer_value(
		        json_object_get(v, "resets_at")));
	}
	/* The upstream's own view, as its rate-limit headers last said. */
	sub = json_object_get(q, "upstream");
	for (it = json_object_iter(sub); it != NULL;
	     it = json_object_iter_next(sub, it)) {
		json_t *lim, *rem;
		const char *kinds[] = { "requests", "tokens", "input-tokens",
			"output-tokens" };
		char key[64];
		size_t k;

		type = json_object_iter_key(it);
		v = json_object_iter_value(it);
		for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
			snprintf(key, sizeof key, "%s-limit", kinds[k]);
			lim = json_object_get(v, key);
			snprintf(key, sizeof key, "%s-remaining", kinds[k]);
			rem = json_object_get(v, key);
			if (!json_is_integer(lim) || !json_is_integer(rem))
				continue;
			snprintf(key, sizeof key, "%s-reset", kinds[k]);
			printf("upstream %s %s: %lld of %lld left, reset %s\n",
			    type, kinds[k], (long long)json_integer_value(rem),
			    (long long)json_integer_value(lim),
			    json_is_string(json_object_get(v, key)) ?
			        member_str(v, key) :
			        "-");
		}
	}
	print_proxy_queues(json_object_get(q, "proxy_queues"));
	top = json_object_get(q, "top");
	if (json_array_size(top) == 0)
		return;
	t = format_table_new(
	    "AGENT TOTAL INPUT OUTPUT CACHE_WRITE CACHE_READ USD");
	for (i = 0; i < json_array_size(top); i++) {
		json_t *r = json_array_get(top, i);

		format_table_row(t);
		format_table_cell(t, member_str(r, "agent"));
		format_table_json(t, json_object_get(r, "total"));
		format_table_json(t, json_object_get(r, "input"));
		format_table_json(t, json_object_get(r, "output"));
		format_table_json(t, json_object_get(r, "cache_creation"));
		format_table_json(t, json_object_get(r, "cache_read"));
		snprintf(pct, sizeof pct, "%.4f",
		    json_number_value(json_object_get(r, "usd")));
		format_table_cell(t, pct);
	}
	printf("\ntop consumers in the window:\n");
	format_table_print(t, stdout);
	format_table_free(t);
}

static int
cmd_quota(struct cmd_ctx *ctx)
{
	json_t *resp;
	int rc;

	if ((rc = cmd_call(ctx, "quota", json_object(), &resp)) != 0)
		return rc;
	if (ctx->json)
		print_reply(resp);
	else
		print_quota(resp);
	json_decref(resp);
	return 0;
}

static int
cmd_fail(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	if (opt_get(ctx, "transient") != NULL)
		json_object_set_new(args, "transient", json_true());
	opt_to_arg(ctx, args, "reason", "reason");
	if ((rc = cmd_call(ctx, "fail", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		print_reply(resp);
	json_decref(resp);
	return 0;
}

static int
cmd_dead(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp, *dead;
	struct table *t;
	size_t i, k;
	int rc;

	opt_to_arg(ctx, args, "job", "job");
	if ((rc = cmd_call(ctx, "dead", args, &resp)) != 0)
		return rc;
	dead = json_object_get(resp, "dead");
	if (ctx->json) {
		print_json(dead);
		json_decref(resp);
		return 0;
	}
	t = format_table_new("CHUNK CLASS ATTEMPTS AGENT REASON");
	for (i = 0; i < json_array_size(dead); i++) {
		json_t *d = json_array_get(dead, i);

		format_table_row(t);
		format_table_cell(t, member_str(d, "chunk"));
		format_table_cell(t, member_str(d, "class"));
		format_table_json(t, json_object_get(d, "attempts"));
		format_table_cell(t, member_str(d, "agent"));
		format_table_cell(t, member_str(d, "reason"));
	}
	format_table_print(t, stdout);
	format_table_free(t);
	for (i = 0; i < json_array_size(dead); i++) {
		json_t *d = json_array_get(dead, i);
		json_t *lines = json_object_get(d, "last_output");

		if (json_array_size(lines) == 0)
			continue;
		printf("\n%s, last output:\n", member_str(d, "chunk"));
		for (k = 0; k < json_array_size(lines); k++) {
			char *clean = format_clean(
			    json_string_value(json_array_get(lines, k)));

			printf("  %s\n", clean);
			free(clean);
		}
	}
	json_decref(resp);
	return 0;
}

static int
cmd_retry(struct cmd_ctx *ctx)
{
	json_t *args, *resp, *moved;
	size_t i;
	int rc;

	args = json_pack("{s:s}", "target", ctx->argv[0]);
	if (opt_get(ctx, "dead") != NULL)
		json_object_set_new(args, "dead", json_true());
	if ((rc = cmd_call(ctx, "retry", args, &resp)) != 0)
		return rc;
	moved = json_object_get(resp, "requeued");
	if (ctx->json)
		print_json(moved);
	else
		for (i = 0; i < json_array_size(moved); i++)
			printf("requeued %s\n",
			    json_string_value(json_array_get(moved, i)));
	json_decref(resp);
	return 0;
}

static void
print_escalations(json_t *escs)
{
	char buf[FORMAT_AGE_LEN];
	struct table *t;
	size_t i;

	t = format_table_new("ESCALATION AGENT CHUNK STATE STATUS AGE SUMMARY");
	for (i = 0; i < json_array_size(escs); i++) {
		json_t *e = json_array_get(escs, i);
		char *chunk = xasprintf(
		    "%s/%s", member_str(e, "job"), member_str(e, "chunk"));

		format_table_row(t);
		format_table_cell(t, member_str(e, "escalation"));
		format_table_cell(t, member_str(e, "agent"));
		format_table_cell(t, chunk);
		format_table_cell(t, member_str(e, "state"));
		format_table_cell(t, member_str(e, "status"));
		format_table_cell(t, format_ago(json_object_get(e, "ts"), buf));
		format_table_cell(t, member_str(e, "summary"));
		free(chunk);
	}
	format_table_print(t, stdout);
	format_table_free(t);
}

static int
cmd_escalations(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	if (opt_get(ctx, "all") != NULL)
		json_object_set_new(args, "all", json_true());
	if ((rc = cmd_call(ctx, "escalations", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		print_json(json_object_get(resp, "escalations"));
	else
		print_escalations(json_object_get(resp, "escalations"));
	json_decref(resp);
	return 0;
}

static int
cmd_resolve(struct cmd_ctx *ctx)
{
	const char *action = opt_get(ctx, "action");
	json_t *args, *resp;
	int rc;

	if (action == NULL)
		return cmd_usage_error(ctx, "missing --action");
	args =
	    json_pack("{s:s, s:s}", "target", ctx->argv[0], "action", action);
	opt_to_arg(ctx, args, "note", "note");
	if ((rc = cmd_call(ctx, "resolve", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		print_reply(resp);
	else
		printf("%s resolved: %s\n", member_str(resp, "escalation"),
		    member_str(resp, "outcome"));
	json_decref(resp);
	return 0;
}
