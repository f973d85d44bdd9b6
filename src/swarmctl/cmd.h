/* cmd.h: swarmctl's verbs, one table entry each. */
#ifndef SWARMCTL_CMD_H
#define SWARMCTL_CMD_H

#include <stdio.h>

#include <jansson.h>

#define CMD_MAXOPTS 8

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
	const char *opts;  /* long options: "job= all"; "=" takes a value */
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

#endif
