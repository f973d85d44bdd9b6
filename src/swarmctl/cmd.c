/*
 * cmd.c: swarmctl's verb table and what every verb shares.  Each verb is
 * one entry in cmd_table: its usage, a line of help, its options and the
 * function that builds the request and prints the answer; the functions
 * live in cmd-job.c, cmd-agent.c, cmd-self.c and cmd-watch.c, grouped as
 * swarmd's verb files are.  Here are the option parsing, the checks of
 * the arguments and the local verb help.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarm-protocol.h"
#include "util.h"
#include "client.h"
#include "cmd.h"
#include "format.h"

static int cmd_help(struct cmd_ctx *);

static const struct cmd_entry cmd_table[] = {
	{ .name = "submit",
	    .usage = "FILE|- [--dry-run] [--strict]",
	    .help = "submit a job file (- reads stdin); prints the job id",
	    .min_args = 1,
	    .max_args = 1,
	    .opts = "dry-run strict",
	    .exec = cmd_submit },
	{ .name = "wait",
	    .usage = "JOB... [--timeout SECONDS]",
	    .help = "wait for jobs to end; exit 0 if every chunk ended done",
	    .min_args = 1,
	    .max_args = -1,
	    .opts = "timeout=",
	    .exec = cmd_wait },
	{ .name = "ps",
	    .usage = "[--job JOB] [--all]",
	    .help = "list live agents; --all lists ended ones too",
	    .opts = "job= all",
	    .exec = cmd_ps },
	{ .name = "jobs",
	    .usage = "[--state running|done|aborted]",
	    .help = "list jobs with their chunks counted by state",
	    .opts = "state=",
	    .exec = cmd_jobs },
	{ .name = "show",
	    .usage = "agent-N|job-N|job-N/CHUNK",
	    .help = "show one agent, job or chunk",
	    .min_args = 1,
	    .max_args = 1,
	    .exec = cmd_show },
	{ .name = "abort",
	    .usage = "TARGET [--grace SECONDS] [--reason TEXT]",
	    .help = "abort an agent (agent-N, job-N/CHUNK), or a job and its "
	            "queued chunks",
	    .min_args = 1,
	    .max_args = 1,
	    .opts = "grace= reason=",
	    .exec = cmd_abort },
	{ .name = "send",
	    .usage = "TARGET TEXT...",
	    .help = "leave a message for an agent (agent-N, job-N/CHUNK), or "
	            "every running agent of a job",
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
	    .usage = "[--job JOB] [--agent AGENT] [--type TYPE] "
	             "[--since TIME|DURATION] [-f|--follow] [--limit N]",
	    .help = "print the event log, or the events of a job, agent, type "
	            "or time on; --follow keeps printing",
	    .opts = "job= agent= type= since= f|follow limit=",
	    .exec = cmd_events },
	{ .name = "pending",
	    .usage = "[--job JOB]",
	    .help = "list chunks dispatched and never completed",
	    .opts = "job=",
	    .exec = cmd_pending },
	{ .name = "logs",
	    .usage = "AGENT|JOB/CHUNK [-f|--follow] [-n|--tail N] [-a|--all]",
	    .help = "print an agent's output (a chunk's: its live or latest "
	            "agent's; --all: every attempt's); --follow until it ends",
	    .min_args = 1,
	    .max_args = 1,
	    .opts = "f|follow n|tail= a|all",
	    .exec = cmd_logs },
	{ .name = "quota",
	    .usage = "",
	    .help = "show the quota windows, the spawn state and top consumers",
	    .exec = cmd_quota },
	{ .name = "cost",
	    .usage = "[JOB] [--by job|chunk|agent|model] "
	             "[--since TIME|DURATION]",
	    .help = "tokens and USD spent, and what failed attempts cost, "
	            "per job (a job's: per chunk) or --by a key",
	    .max_args = 1,
	    .opts = "by= since=",
	    .exec = cmd_cost },
	{ .name = "top",
	    .usage = "[--sort age|tokens|seen] [--once]",
	    .help = "a live full-screen view of the quota, jobs, agents and "
	            "events (q quits); --once prints one frame",
	    .opts = "sort= once",
	    .exec = cmd_top },
	{ .name = "dead",
	    .usage = "[--job JOB]",
	    .help = "list dead letters: chunks that failed for good, and why",
	    .opts = "job=",
	    .exec = cmd_dead },
	{ .name = "retry",
	    .usage = "JOB/CHUNK|AGENT | --dead JOB",
	    .help = "requeue a failed, aborted or dead chunk (or an agent's), "
	            "or every dead one",
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
	{ .name = "worktrees",
	    .usage = "[JOB]",
	    .help =
	        "list the chunks' worktrees, their state and what keeps them",
	    .max_args = 1,
	    .exec = cmd_worktrees },
	{ .name = "clean",
	    .usage = "[JOB] [--discard]",
	    .help = "remove the worktrees nothing would be lost with",
	    .max_args = 1,
	    .opts = "discard",
	    .exec = cmd_clean },
	{ .name = "blame",
	    .usage = "COMMIT",
	    .help = "which agent, job, chunk and attempt made a commit",
	    .min_args = 1,
	    .max_args = 1,
	    .exec = cmd_blame },
	{ .name = "merges",
	    .usage = "[--all]",
	    .help = "the merge queues: each waiting chunk, its place and state",
	    .opts = "all",
	    .exec = cmd_merges },
	{ .name = "merge",
	    .usage = "pause|resume TARGET",
	    .help =
	        "pause or resume the merge queue of TARGET (or REPO:TARGET)",
	    .min_args = 2,
	    .max_args = 2,
	    .exec = cmd_merge },
	{ .name = "prune",
	    .usage = "[--older-than DURATION] [--dry-run]",
	    .help = "delete finished jobs past their age: rows, logs, results",
	    .opts = "older-than= dry-run",
	    .exec = cmd_prune },
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
	    .usage = "[--transient | --class CLASS] [--reason TEXT]",
	    .help = "report this attempt failed (--transient: worth a retry; "
	            "--class account: a person must fix the account)",
	    .agent = 1,
	    .opts = "transient reason= class=",
	    .exec = cmd_fail },
	{ .name = "report",
	    .usage =
	        "--input N --output N [--cache-read N] [--cache-creation N] [--model M]",
	    .help =
	        "report tokens this agent spent (counted by the quota meter)",
	    .agent = 1,
	    .opts = "input= output= cache-read= cache-creation= model=",
	    .exec = cmd_report },
	{ .name = "hook",
	    .usage = "claude-code EVENT [--deadline SECONDS]",
	    .help = "answer a Claude Code hook (the claude-code preset's); "
	            "always exits 0",
	    .min_args = 2,
	    .max_args = 2,
	    .opts = "deadline=",
	    .exec = cmd_hook },
	{ .name = "help",
	    .usage = "[VERB]",
	    .help = "list the verbs, or show one verb's usage",
	    .local = 1,
	    .max_args = 1,
	    .exec = cmd_help },
};

enum { OPT_JSON = 256, OPT_UTC, OPT_VERB = 512 };

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

/* A one-line reason, then the verb's usage: exit status 2. */
int
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
int
cmd_is_utf8(const char *s)
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
		if (!cmd_is_utf8(ctx->argv[i]))
			return cmd_usage_error(
			    ctx, "argument %d is not valid UTF-8", i + 1);
	}
	return 0;
}

/*
 * getopt_long's table: the verb's options, then the global ones; SHORTS
 * gets the getopt string, and SHORT[i] the short form of option i.
 */
static void
cmd_options(
    char *spec, struct option *lopts, char *shorts, size_t len, char *short_of)
{
	char *name, *last;
	size_t k = (size_t)snprintf(shorts, len, ":s:h");
	int n = 0;

	memset(short_of, 0, CMD_MAXOPTS);
	for (name = strtok_r(spec, " ", &last); name != NULL && n < CMD_MAXOPTS;
	     name = strtok_r(NULL, " ", &last)) {
		char *eq = strchr(name, '=');

		if (name[0] != '\0' && name[1] == '|' && k + 3 <= len) {
			short_of[n] = name[0];
			shorts[k++] = name[0];
			if (eq != NULL)
				shorts[k++] = ':';
			shorts[k] = '\0';
			name += 2;
		}
		if (eq != NULL)
			*eq = '\0';
		lopts[n] =
		    (struct option){ name, eq != NULL, NULL, OPT_VERB + n };
		n++;
	}
	lopts[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	lopts[n++] = (struct option){ "utc", no_argument, NULL, OPT_UTC };
	lopts[n++] = (struct option){ "socket", required_argument, NULL, 's' };
	lopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lopts[n] = (struct option){ NULL, 0, NULL, 0 };
}

/* A short option's index among the verb's, or -1. */
static int
cmd_short(const char *short_of, int ch)
{
	int i;

	for (i = 0; i < CMD_MAXOPTS; i++) {
		if (short_of[i] != '\0' && short_of[i] == ch)
			return i;
	}
	return -1;
}

int
cmd_parse(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct option lopts[CMD_MAXOPTS + 5];
	char spec[256], shorts[3 * CMD_MAXOPTS + 8], short_of[CMD_MAXOPTS];
	int ch, i;

	snprintf(spec, sizeof spec, "%s",
	    ctx->entry->opts != NULL ? ctx->entry->opts : "");
	cmd_options(spec, lopts, shorts, sizeof shorts, short_of);
	optind = 0; /* glibc: start afresh on this argv */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shorts, lopts, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			ctx->json = 1;
			break;
		case OPT_UTC:
			format_set_utc(1);
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
			i = ch >= OPT_VERB ? ch - OPT_VERB :
			                     cmd_short(short_of, ch);
			if (i < 0 || i >= CMD_MAXOPTS)
				return cmd_usage_error(ctx, "bad option");
			if (optarg != NULL && !cmd_is_utf8(optarg))
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
const char *
cmd_opt(struct cmd_ctx *ctx, const char *name)
{
	const char *p = ctx->entry->opts;
	size_t len = strlen(name);
	int i;

	for (i = 0; p != NULL && *p != '\0' && i < CMD_MAXOPTS; i++) {
		if (p[0] != '\0' && p[1] == '|')
			p += 2; /* its short form */
		if (strcspn(p, " =") == len && strncmp(p, name, len) == 0)
			return ctx->opt[i];
		p += strcspn(p, " ");
		p += *p == ' ';
	}
	return NULL;
}

/* Copy option NAME into ARGS as string member KEY, if given. */
void
cmd_opt_arg(
    struct cmd_ctx *ctx, json_t *args, const char *name, const char *key)
{
	const char *v = cmd_opt(ctx, name);

	if (v != NULL)
		json_object_set_new(args, key, json_string(v));
}

/*
 * --since as "since" in ARGS: read here, where the user's time zone is (a
 * time without one is local), and sent in UTC.  0, or a usage error.
 */
int
cmd_opt_since(struct cmd_ctx *ctx, json_t *args)
{
	const char *since = cmd_opt(ctx, "since");
	char ts[TS_LEN];
	int64_t ms;

	if (since == NULL)
		return 0;
	if (parse_time(since, now_wall_ms(), &ms) == -1 || ms <= 0)
		return cmd_usage_error(ctx,
		    "bad --since \"%s\": expected a time (2026-11-23T12:00, "
		    "local unless it ends in Z or +HH:MM) or a duration "
		    "before now (90s, 10m, 2h, 1d)",
		    since);
	json_object_set_new(args, "since", json_string(ts_format(ms, ts)));
	return 0;
}

/* A duration option as seconds; -1 if bad, 0 if absent. */
int
cmd_opt_seconds(
    struct cmd_ctx *ctx, const char *name, json_t *args, const char *key)
{
	const char *v = cmd_opt(ctx, name);
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

/* All of PATH ("-": stdin), at most MAX bytes; -1 with errno. */
int
cmd_read_file(const char *path, size_t max, char **out, size_t *outlen)
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
		fputs(
		    "usage: swarmctl [-s SOCKET] [--json] [--utc] VERB [ARGS]\n",
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
		if (!cmd_is_utf8(ctx->agent) || !cmd_is_utf8(ctx->token)) {
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
