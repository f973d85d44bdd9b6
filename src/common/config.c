/* config.c: read swarmd.conf with inih into struct config. */
#include <sys/stat.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "swarm-protocol.h"
#include "config.h"
#include "util.h"

enum key_type { K_STR, K_INT, K_DUR, K_MODE };

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t off;
	long long min, max;
};

#define OFF(f) offsetof(struct config, f)

/* Every key swarmd.conf(5) documents, one entry each. */
static const struct key keys[] = {
	{ "swarmd", "socket", K_STR, OFF(socket), 0, 0 },
	{ "swarmd", "statedir", K_STR, OFF(statedir), 0, 0 },
	{ "swarmd", "socket_mode", K_MODE, OFF(socket_mode), 0, 0777 },
	{ "swarmd", "socket_group", K_STR, OFF(socket_group), 0, 0 },
	{ "swarmd", "operator_group", K_STR, OFF(operator_group), 0, 0 },
	{ "swarmd", "log_level", K_STR, OFF(log_level), 0, 0 },
	{ "spawn", "max_agents", K_INT, OFF(max_agents), 1, 100000 },
	{ "spawn", "default_concurrency", K_INT, OFF(default_concurrency), 1,
	    100000 },
	{ "spawn", "abort_grace", K_DUR, OFF(abort_grace), 0, 86400 },
	{ "spawn", "stop_grace", K_DUR, OFF(stop_grace), 0, 86400 },
	{ "spawn", "heartbeat_flush", K_DUR, OFF(heartbeat_flush), 0, 3600 },
	{ "store", "synchronous", K_STR, OFF(synchronous), 0, 0 },
};

struct load_ctx {
	struct config *cfg;
	FILE *f;
	int line;		/* of the text inih is handling now */
	int too_long;		/* a line longer than inih reads whole */
	int fail_line;		/* of the first key that failed */
	char *err;
	size_t errlen;
	int failed;
};

static void
set_str(char **slot, const char *value)
{
	free(*slot);
	*slot = xstrdup(value);
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->socket = xstrdup(SWARM_DEFAULT_SOCKET);
	cfg->statedir = xstrdup(SWARM_DEFAULT_STATEDIR);
	cfg->socket_mode = 0660;
	cfg->socket_group = xstrdup("");
	cfg->operator_group = xstrdup("swarm");
	cfg->log_level = xstrdup("info");
	cfg->max_agents = 64;
	cfg->default_concurrency = 4;
	cfg->abort_grace = 30;
	cfg->stop_grace = 10;
	cfg->heartbeat_flush = 5;
	cfg->synchronous = xstrdup("full");
}

void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < nitems(keys); i++) {
		if (keys[i].type == K_STR)
			free(*(char **)((char *)cfg + keys[i].off));
	}
	memset(cfg, 0, sizeof *cfg);
}

static int
set_key(struct config *cfg, const struct key *k, const char *value)
{
	char *slot = (char *)cfg + k->off;
	long long n;
	double d;
	char *end;

	switch (k->type) {
	case K_STR:
		set_str((char **)slot, value);
		return 0;
	case K_INT:
		if (parse_int(value, k->min, k->max, &n) == -1)
			return -1;
		*(int *)slot = (int)n;
		return 0;
	case K_DUR:
		if (parse_duration(value, &d) == -1 || d > (double)k->max)
			return -1;
		*(double *)slot = d;
		return 0;
	case K_MODE:
		errno = 0;
		n = strtoll(value, &end, 8);
		if (errno != 0 || *value == '\0' || *end != '\0' || n < 0 ||
		    n > k->max)
			return -1;
		*(mode_t *)slot = (mode_t)n;
		return 0;
	}
	return -1;
}

static int
on_key(void *arg, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = arg;
	size_t i;

	if (ctx->failed)
		return 0;
	for (i = 0; i < nitems(keys); i++) {
		if (strcmp(keys[i].section, section) != 0 ||
		    strcmp(keys[i].name, name) != 0)
			continue;
		if (set_key(ctx->cfg, &keys[i], value) == 0)
			return 1;
		snprintf(ctx->err, ctx->errlen, "%d: [%s] %s: bad value "
		    "\"%s\"", ctx->line, section, name, value);
		ctx->fail_line = ctx->line;
		ctx->failed = 1;
		return 0;
	}
	snprintf(ctx->err, ctx->errlen, "%d: [%s] %s: unknown key", ctx->line,
	    section, name);
	ctx->fail_line = ctx->line;
	ctx->failed = 1;
	return 0;
}

/* inih's reader, counting lines so an error names the right one. */
static char *
read_line(char *buf, int size, void *arg)
{
	struct load_ctx *ctx = arg;
	size_t n;

	if (fgets(buf, size, ctx->f) == NULL)
		return NULL;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		ctx->line++;
	else if (!feof(ctx->f) && !ctx->too_long)
		ctx->too_long = ctx->line + 1;
	return buf;
}

/* Values that parse but make no sense. */
static int
check_values(struct config *cfg, const char *file, char *err, size_t errlen)
{
	static const char *levels[] = { "err", "warning", "notice", "info",
		"debug" };
	size_t i;

	for (i = 0; i < nitems(levels); i++) {
		if (strcmp(cfg->log_level, levels[i]) == 0)
			break;
	}
	if (i == nitems(levels)) {
		snprintf(err, errlen, "%s: [swarmd] log_level: expected err, "
		    "warning, notice, info or debug", file);
		return -1;
	}
	if (*cfg->socket != '/' || *cfg->statedir != '/') {
		snprintf(err, errlen, "%s: [swarmd] socket and statedir must "
		    "be absolute paths", file);
		return -1;
	}
	if (strcmp(cfg->synchronous, "full") != 0 &&
	    strcmp(cfg->synchronous, "normal") != 0 &&
	    strcmp(cfg->synchronous, "extra") != 0) {
		snprintf(err, errlen, "%s: [store] synchronous: expected full, "
		    "normal or extra", file);
		return -1;
	}
	return 0;
}

int
config_load(struct config *cfg, const char *file, int missing_ok, char *err,
    size_t errlen)
{
	struct load_ctx ctx = { cfg, NULL, 0, 0, 0, err, errlen, 0 };
	struct stat sb;
	int rc;

	if ((ctx.f = fopen(file, "r")) == NULL) {
		if (missing_ok && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	if (fstat(fileno(ctx.f), &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", file);
		fclose(ctx.f);
		return -1;
	}
	rc = ini_parse_stream(read_line, &ctx, on_key, &ctx);
	fclose(ctx.f);
	if (ctx.too_long) {
		snprintf(err, errlen, "%s:%d: line too long", file,
		    ctx.too_long);
		return -1;
	}
	/* inih returns the first bad line; report whichever came first. */
	if (rc != 0 && (!ctx.failed || rc < ctx.fail_line)) {
		snprintf(err, errlen, "%s:%d: syntax error", file, rc);
		return -1;
	}
	if (ctx.failed) {
		char msg[256];

		snprintf(msg, sizeof msg, "%s", err);
		snprintf(err, errlen, "%s:%s", file, msg);
		return -1;
	}
	return check_values(cfg, file, err, errlen);
}
