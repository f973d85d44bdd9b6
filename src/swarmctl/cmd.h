/*
 * cmd.h: swarmctl's verbs, one table entry each in cmd.c; their functions
 * in cmd-job.c, cmd-agent.c, cmd-self.c, cmd-hook.c and cmd-watch.c.
 */
#ifndef SWARMCTL_CMD_H
#define SWARMCTL_CMD_H

#include <stdio.h>

#include <jansson.h>

#define CMD_MAXOPTS 8
/* Job and checkpoint files; a request line is still held to 1 MiB. */
#define CMD_MAX_FILE (64 * 1024 * 1024)

struct client;
struct cmd_ctx;

struct cmd_entry {
	const char *name;
	const char *usage; /* what follows the verb's name */
	const char *help;  /* one line */
	int agent;         /* needs SWARM_AGENT and SWARM_TOKEN */
	int local;         /* never talks to swarmd */
	int min_args;      /* positional arguments */
	int max_args;      /* -1: any number */
	const char
	    *opts; /* "job= a|all": "=" takes a value, "a|" a short form */
	int (*exec)(struct cmd_ctx *);
};

/* What main and the option parser set up for a verb's exec function. */
struct cmd_ctx {
	const struct cmd_entry *entry;
	char *socket; /* the control socket; main resolves it */
	int json;     /* --json */
	int help;     /* --help after the verb */
	int argc;     /* positional arguments */
	char **argv;
	const char *opt[CMD_MAXOPTS]; /* values of opts; "" for a flag */
	const char *agent;            /* SWARM_AGENT, agent verbs */
	const char *token;            /* SWARM_TOKEN, agent verbs */
	struct client *client;        /* connected at the first request */
	json_int_t next_id;
};

const struct cmd_entry *cmd_find(const char *);
/* Parse ARGV (the verb first); 0, or an exit status after a message. */
int cmd_parse(struct cmd_ctx *, int argc, char **argv);
int cmd_exec(struct cmd_ctx *);
void cmd_free(struct cmd_ctx *);
void cmd_usage(FILE *, const struct cmd_entry *);
void cmd_list(FILE *);

/* For the verbs: a one-line reason, then the verb's usage; exit status 2. */
int cmd_usage_error(struct cmd_ctx *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/* Text that goes into a request must be UTF-8, or JSON cannot carry it. */
int cmd_is_utf8(const char *);
/* The value of the verb's option NAME, "" for a flag, NULL if not given. */
const char *cmd_opt(struct cmd_ctx *, const char *name);
/* Copy option NAME into ARGS as string member KEY, if given. */
int cmd_opt_since(struct cmd_ctx *, json_t *args);
void cmd_opt_arg(
    struct cmd_ctx *, json_t *args, const char *name, const char *key);
/* A duration option into ARGS as seconds; -1 if bad, 0 if absent. */
int cmd_opt_seconds(
    struct cmd_ctx *, const char *name, json_t *args, const char *key);
/* All of PATH ("-": stdin), at most MAX bytes; -1 with errno. */
int cmd_read_file(const char *path, size_t max, char **out, size_t *outlen);

/* cmd-work.c */
int cmd_worktrees(struct cmd_ctx *);
int cmd_clean(struct cmd_ctx *);
int cmd_blame(struct cmd_ctx *);
int cmd_merges(struct cmd_ctx *);
int cmd_merge(struct cmd_ctx *);
int cmd_prune(struct cmd_ctx *);
void cmd_print_commits(json_t *agent);

/* cmd-job.c */
int cmd_submit(struct cmd_ctx *);
int cmd_jobs(struct cmd_ctx *);
int cmd_show(struct cmd_ctx *);
int cmd_pause(struct cmd_ctx *); /* and resume */
int cmd_events(struct cmd_ctx *);
int cmd_wait(struct cmd_ctx *);
int cmd_pending(struct cmd_ctx *);
int cmd_dead(struct cmd_ctx *);
int cmd_retry(struct cmd_ctx *);

/* cmd-agent.c */
int cmd_ps(struct cmd_ctx *);
int cmd_abort(struct cmd_ctx *);
int cmd_send(struct cmd_ctx *);
int cmd_logs(struct cmd_ctx *);
int cmd_quota(struct cmd_ctx *);
int cmd_cost(struct cmd_ctx *);
void cmd_print_cost(const char *label, json_t *cost);

/* cmd-self.c */
int cmd_heartbeat(struct cmd_ctx *);
int cmd_recv(struct cmd_ctx *);
int cmd_checkpoint(struct cmd_ctx *);
int cmd_done(struct cmd_ctx *);
int cmd_fail(struct cmd_ctx *);
int cmd_report(struct cmd_ctx *);

/* cmd-hook.c */
int cmd_hook(struct cmd_ctx *);

/* cmd-top.c */
int cmd_top(struct cmd_ctx *);

/* cmd-watch.c */
int cmd_escalations(struct cmd_ctx *);
int cmd_resolve(struct cmd_ctx *);

#endif
