/*
 * swarmctl.c: the command-line client of swarmd.  main reads the global
 * options, finds the verb and the control socket, and hands over to the
 * verb's entry in cmd.c.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarm-protocol.h"
#include "config.h"
#include "util.h"
#include "cmd.h"
#include "format.h"

#define USAGE "usage: swarmctl [-s SOCKET] [--json] [--utc] VERB [ARGS]\n"

static void
usage(FILE *f)
{
	fputs(USAGE
	    "\n"
	    "options (also accepted after the verb):\n"
	    "  -s, --socket SOCKET  swarmd's control socket; default: $" SWARM_ENV_SOCKET
	    ",\n"
	    "                       else the socket key of "
	    "swarmd.conf,\n"
	    "                       else " SWARM_DEFAULT_SOCKET "\n"
	    "  --json               print JSON instead of tables\n"
	    "  --utc                print times as ISO-8601 UTC, not the "
	    "time since\n"
	    "  -h, --help           print this help, or a verb's usage\n"
	    "  -V, --version        print swarmctl's version\n",
	    f);
	cmd_list(f);
}

static int usage_error(const char *, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("swarmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n" USAGE "(swarmctl help lists the verbs)\n", stderr);
	return SWARM_EXIT_USAGE;
}

/*
 * The socket when no -s names one: $SWARM_SOCKET, else the socket key of
 * the configuration file if we may read it, else the default.
 */
static char *
socket_path(void)
{
	const char *env = getenv(SWARM_ENV_SOCKET), *file;
	struct config cfg;
	char err[512], *path;

	if (env != NULL && *env != '\0')
		return xstrdup(env);
	file = getenv("SWARMD_CONFIG");
	if (file == NULL || *file == '\0')
		file = SWARM_DEFAULT_CONFIG;
	if (access(file, R_OK) == -1)
		return xstrdup(SWARM_DEFAULT_SOCKET);
	config_defaults(&cfg);
	if (config_load(&cfg, file, 1, err, sizeof err) == -1) {
		fprintf(stderr, "swarmctl: %s; using %s\n", err,
		    SWARM_DEFAULT_SOCKET);
		config_free(&cfg);
		return xstrdup(SWARM_DEFAULT_SOCKET);
	}
	path = xstrdup(cfg.socket);
	config_free(&cfg);
	return path;
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "utc", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_ctx ctx;
	int ch, rc;

	/* A closed pipe is an EPIPE we handle, on stdout and the socket. */
	signal(SIGPIPE, SIG_IGN);
	memset(&ctx, 0, sizeof ctx);

	/* "+": stop at the verb; what follows is the verb's to parse. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:s:hV", lopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			free(ctx.socket);
			ctx.socket = xstrdup(optarg);
			break;
		case 'j':
			ctx.json = 1;
			break;
		case 'u':
			format_set_utc(1);
			break;
		case 'h':
			usage(stdout);
			format_flush();
			return SWARM_EXIT_OK;
		case 'V':
			printf("swarmctl %s (protocol %d)\n", SWARM_VERSION,
			    SWARM_PROTOCOL_VERSION);
			format_flush();
			return SWARM_EXIT_OK;
		case ':':
			return usage_error(
			    "%s needs a value", argv[optind - 1]);
		default:
			if (optopt > 0 && optopt < 256)
				return usage_error("bad option -%c", optopt);
			return usage_error("bad option %s", argv[optind - 1]);
		}
	}
	if (optind == argc)
		return usage_error("no verb given");
	if ((ctx.entry = cmd_find(argv[optind])) == NULL)
		return usage_error("unknown verb \"%s\"", argv[optind]);

	if ((rc = cmd_parse(&ctx, argc - optind, argv + optind)) == 0) {
		if (ctx.socket == NULL && !ctx.entry->local)
			ctx.socket = socket_path();
		rc = cmd_exec(&ctx);
	}
	cmd_free(&ctx);
	format_flush();
	return rc;
}
