/* config.c: read swarmd.conf with inih into struct config. */
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "swarm-protocol.h"
#include "config.h"
#include "util.h"

/* K_DUR_OFF, K_SIZE_OFF: K_DUR or K_SIZE, or "off" (0). */
enum key_type {
	K_STR,
	K_INT,
	K_DUR,
	K_MODE,
	K_NUM,
	K_COUNT,
	K_SIZE,
	K_BOOL,
	K_DUR_OFF,
	K_SIZE_OFF
};

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t off;
	long long min, max; /* K_NUM: in hundredths */
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
	{ "spawn", "stop_agents", K_BOOL, OFF(stop_agents), 0, 1 },
	{ "spawn", "shim", K_STR, OFF(shim), 0, 0 },
	{ "spawn", "stagger_batch", K_INT, OFF(stagger_batch), 1, 100000 },
	{ "spawn", "stagger_interval", K_DUR, OFF(stagger_interval), 0, 86400 },
	{ "spawn", "stagger_confirm_timeout", K_DUR,
	    OFF(stagger_confirm_timeout), 1, 86400 },
	{ "quota", "tokens_per_minute", K_COUNT, OFF(tokens_per_minute), 0,
	    1000000000000LL },
	{ "quota", "window", K_DUR, OFF(window), 1, 30 * 86400 },
	{ "quota", "window_tokens", K_COUNT, OFF(window_tokens), 0,
	    1000000000000000LL },
	{ "quota", "daily_usd", K_NUM, OFF(daily_usd), 0, 100000000 },
	{ "quota", "preflight_factor", K_NUM, OFF(preflight_factor), 1, 100 },
	{ "quota", "pause_at", K_NUM, OFF(pause_at), 1, 100 },
	{ "quota", "resume_at", K_NUM, OFF(resume_at), 0, 100 },
	{ "quota", "reserve", K_NUM, OFF(reserve), 0, 99 },
	{ "retries", "transient", K_INT, OFF(retries_transient), 0, 100 },
	{ "retries", "schema", K_INT, OFF(retries_schema), 0, 100 },
	{ "retries", "gate", K_INT, OFF(retries_gate), 0, 100 },
	{ "retries", "backoff", K_DUR, OFF(backoff_base), 0, 86400 },
	{ "retries", "backoff_max", K_DUR, OFF(backoff_max), 0, 86400 },
	{ "merge", "batch", K_INT, OFF(merge_batch), 1, 64 },
	{ "merge", "stall", K_DUR, OFF(merge_stall), 1, 86400 },
	{ "store", "synchronous", K_STR, OFF(synchronous), 0, 0 },
	{ "proxy", "listen", K_STR, OFF(proxy_listen), 0, 0 },
	{ "proxy", "upstream", K_STR, OFF(proxy_upstream), 0, 0 },
	{ "proxy", "openai_upstream", K_STR, OFF(proxy_openai_upstream), 0, 0 },
	{ "proxy", "max_hold", K_DUR, OFF(proxy_max_hold), 0, 86400 },
	{ "proxy", "timeout", K_DUR, OFF(proxy_timeout), 1, 86400 },
	{ "proxy", "max_header", K_SIZE, OFF(proxy_max_header), 1024,
	    1LL << 24 },
	{ "proxy", "max_body", K_SIZE, OFF(proxy_max_body), 1024, 1LL << 30 },
	{ "proxy", "client_timeout", K_DUR, OFF(proxy_client_timeout), 0,
	    86400 },
	{ "http", "listen", K_STR, OFF(http_listen), 0, 0 },
	{ "http", "root", K_STR, OFF(http_root), 0, 0 },
	{ "http", "token_file", K_STR, OFF(http_token_file), 0, 0 },
	{ "http", "operator_token_file", K_STR, OFF(http_operator_token_file),
	    0, 0 },
	{ "http", "timeout", K_DUR, OFF(http_timeout), 0, 3600 },
	{ "metrics", "listen", K_STR, OFF(metrics_listen), 0, 0 },
	{ "metrics", "allow_remote", K_BOOL, OFF(metrics_allow_remote), 0, 1 },
	{ "metrics", "on_proxy", K_BOOL, OFF(metrics_on_proxy), 0, 1 },
	{ "metrics", "timeout", K_DUR, OFF(metrics_timeout), 0, 3600 },
	{ "store", "checkpoint_max", K_COUNT, OFF(checkpoint_max), 0,
	    SWARM_MAX_LINE / 4 * 3 },
	{ "store", "file_max", K_SIZE, OFF(file_max), 1, 1LL << 40 },
	{ "store", "result_max", K_SIZE, OFF(result_max), 1, 1LL << 40 },
	{ "store", "keep", K_DUR_OFF, OFF(keep), 0, 100 * 365 * 86400LL },
	{ "spawn", "log_max", K_SIZE_OFF, OFF(log_max), 16 * 1024, 1LL << 50 },
	{ "watchdog", "heartbeat_timeout", K_DUR, OFF(heartbeat_timeout), 0,
	    7 * 86400 },
	{ "watchdog", "no_progress_timeout", K_DUR, OFF(no_progress_timeout), 0,
	    7 * 86400 },
	{ "watchdog", "triage_hook", K_STR, OFF(triage_hook), 0, 0 },
	{ "watchdog", "triage_timeout", K_DUR, OFF(triage_timeout), 0, 86400 },
	{ "watchdog", "handoff_timeout", K_DUR, OFF(handoff_timeout), 0,
	    86400 },
	{ "watchdog", "escalation_webhook", K_STR, OFF(escalation_webhook), 0,
	    0 },
	{ "watchdog", "renotify", K_DUR, OFF(renotify), 0, 30 * 86400 },
	{ "watchdog", "context_threshold", K_NUM, OFF(context_threshold), 1,
	    100 },
	{ "watchdog", "context_window", K_COUNT, OFF(context_window), 1,
	    1000000000LL },
	{ "watchdog", "rlimit_as", K_SIZE, OFF(rlimit_as), 0, 1LL << 50 },
	{ "watchdog", "rlimit_cpu", K_DUR, OFF(rlimit_cpu), 0, 365 * 86400 },
	{ "watchdog", "rlimit_nproc", K_COUNT, OFF(rlimit_nproc), 0, 4194304 },
	{ "watchdog", "cgroup_memory_max", K_SIZE, OFF(cgroup_memory_max), 0,
	    1LL << 50 },
	{ "watchdog", "cgroup_pids_max", K_COUNT, OFF(cgroup_pids_max), 0,
	    4194304 },
};

/*
 * Loading reports every problem of a file, "FILE:LINE: what" each, as
 * job files do: one round trip shows them all.
 */
struct load_ctx {
	struct config *cfg;
	FILE *f;
	const char *file;
	int line;      /* of the text inih is handling now */
	int too_long;  /* a line longer than inih reads whole */
	int after_key; /* the last line was a key: an indented one goes on */
	char *err;
	size_t errlen;
	int errors;
};

static void
load_error(struct load_ctx *ctx, int line, const char *fmt, ...)
{
	size_t n = ctx->errors > 0 ? strlen(ctx->err) : 0;
	va_list ap;

	if (n + 2 >= ctx->errlen)
		return;
	/* One line, for the log: "; " between them. */
	if (ctx->errors++ > 0) {
		ctx->err[n++] = ';';
		ctx->err[n++] = ' ';
	}
	n += (size_t)snprintf(
	    ctx->err + n, ctx->errlen - n, "%s:%d: ", ctx->file, line);
	if (n >= ctx->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(ctx->err + n, ctx->errlen - n, fmt, ap);
	va_end(ap);
}

/* A value less a trailing "  # comment" (";" inih takes off itself). */
static const char *
value_of(const char *value, char *buf, size_t len)
{
	const char *hash;
	size_t n;

	for (hash = strchr(value, '#'); hash != NULL;
	     hash = strchr(hash + 1, '#')) {
		if (hash > value && (hash[-1] == ' ' || hash[-1] == '\t'))
			break;
	}
	if (hash == NULL)
		return value;
	n = (size_t)(hash - value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	snprintf(buf, len, "%.*s", (int)n, value);
	return buf;
}

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
	cfg->shim = xstrdup("");
	cfg->stagger_batch = 4;
	cfg->stagger_interval = 30;
	cfg->stagger_confirm_timeout = 120;
	cfg->window = 5 * 3600;
	cfg->preflight_factor = 0.6;
	cfg->pause_at = 0.80;
	cfg->resume_at = 0.70;
	cfg->reserve = 0.10;
	cfg->checkpoint_max = SWARM_CHECKPOINT_INLINE;
	cfg->file_max = 64LL << 20;
	cfg->result_max = 1LL << 20;
	cfg->keep = 30 * 86400;
	cfg->log_max = 64LL << 20;
	cfg->retries_transient = 2;
	cfg->retries_schema = 1;
	cfg->retries_gate = 2;
	cfg->merge_batch = 4;
	cfg->merge_stall = 30;
	cfg->backoff_base = 10;
	cfg->backoff_max = 600;
	cfg->synchronous = xstrdup("full");
	cfg->proxy_listen = xstrdup("");
	cfg->proxy_upstream = xstrdup("https://api.anthropic.com");
	cfg->proxy_openai_upstream = xstrdup("https://api.openai.com");
	cfg->proxy_max_hold = 30;
	cfg->proxy_timeout = 600;
	cfg->proxy_max_header = 64 * 1024;
	cfg->proxy_max_body = 32 * 1024 * 1024;
	cfg->proxy_client_timeout = 60;
	cfg->http_listen = xstrdup("");
	cfg->http_root = xstrdup("");
	cfg->http_token_file = xstrdup("");
	cfg->http_operator_token_file = xstrdup("");
	cfg->http_timeout = 30;
	cfg->metrics_listen = xstrdup("");
	cfg->metrics_timeout = 10;
	cfg->heartbeat_timeout = 180;
	cfg->no_progress_timeout = 600;
	cfg->triage_hook = xstrdup("");
	cfg->triage_timeout = 60;
	cfg->handoff_timeout = 120;
	cfg->escalation_webhook = xstrdup("");
	cfg->renotify = 4 * 3600;
	cfg->context_threshold = 0.80;
	cfg->context_window = 200000;
}

void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < nitems(keys); i++) {
		if (keys[i].type == K_STR)
			free(*(char **)((char *)cfg + keys[i].off));
	}
	for (i = 0; i < cfg->nprices; i++)
		free(cfg->prices[i].model);
	free(cfg->prices);
	for (i = 0; i < cfg->nmodels; i++)
		free(cfg->models[i].model);
	free(cfg->models);
	memset(cfg, 0, sizeof *cfg);
}

static int
set_key(struct config *cfg, const struct key *k, const char *value)
{
	void *slot = (char *)cfg + k->off;
	long long n;
	double d;
	char *end;

	if ((k->type == K_DUR_OFF || k->type == K_SIZE_OFF) &&
	    strcmp(value, "off") == 0) {
		if (k->type == K_DUR_OFF)
			*(double *)slot = 0;
		else
			*(long long *)slot = 0;
		return 0;
	}
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
	case K_DUR_OFF:
		if (parse_duration(value, &d) == -1 || d > (double)k->max)
			return -1;
		*(double *)slot = d;
		return 0;
	case K_NUM:
		/* A plain number, or a percentage: "0.8" or "80%". */
		errno = 0;
		d = strtod(value, &end);
		if (end != value && strcmp(end, "%") == 0)
			d /= 100;
		else if (end == value || *end != '\0')
			return -1;
		if (errno != 0 || !(d >= (double)k->min / 100) ||
		    d > (double)k->max / 100)
			return -1;
		*(double *)slot = d;
		return 0;
	case K_COUNT:
		if (parse_int(value, k->min, k->max, &n) == -1)
			return -1;
		*(long long *)slot = n;
		return 0;
	case K_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			*(int *)slot = 1;
		else if (strcmp(value, "no") == 0 ||
		    strcmp(value, "false") == 0)
			*(int *)slot = 0;
		else
			return -1;
		return 0;
	case K_SIZE:
	case K_SIZE_OFF:
		if (parse_size(value, k->max, &n) == -1 || n < k->min)
			return -1;
		*(long long *)slot = n;
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

/* [prices] MODEL = input, output, cache write, cache read, in USD/Mtok. */
static int
set_price(struct config *cfg, const char *model, const char *value)
{
	struct price p;
	const char *s = value;
	char *end;
	size_t i;
	int k;

	for (k = 0; k < 4; k++) {
		while (*s == ' ')
			s++;
		errno = 0;
		p.usd[k] = strtod(s, &end);
		if (end == s || errno != 0 || p.usd[k] < 0)
			return -1;
		for (s = end; *s == ' '; s++)
			;
		if (*s != (k < 3 ? ',' : '\0'))
			return -1;
		s++;
	}
	for (i = 0; i < cfg->nprices; i++) {
		if (strcmp(cfg->prices[i].model, model) == 0) {
			memcpy(cfg->prices[i].usd, p.usd, sizeof p.usd);
			return 0;
		}
	}
	cfg->prices =
	    xrealloc(cfg->prices, (cfg->nprices + 1) * sizeof *cfg->prices);
	p.model = xstrdup(model);
	cfg->prices[cfg->nprices++] = p;
	return 0;
}

/* [models] MODEL = its context window in tokens. */
static int
set_model(struct config *cfg, const char *model, const char *value)
{
	long long n;
	size_t i;

	if (parse_int(value, 1, 1000000000LL, &n) == -1)
		return -1;
	for (i = 0; i < cfg->nmodels; i++) {
		if (strcmp(cfg->models[i].model, model) == 0) {
			cfg->models[i].tokens = n;
			return 0;
		}
	}
	cfg->models =
	    xrealloc(cfg->models, (cfg->nmodels + 1) * sizeof *cfg->models);
	cfg->models[cfg->nmodels].model = xstrdup(model);
	cfg->models[cfg->nmodels++].tokens = n;
	return 0;
}

/* Each key; a bad one is noted and the rest still read. */
static int
on_key(void *arg, const char *section, const char *name, const char *raw)
{
	struct load_ctx *ctx = arg;
	char buf[4096];
	const char *value = value_of(raw, buf, sizeof buf);
	size_t i;

	if (strcmp(section, "models") == 0) {
		if (set_model(ctx->cfg, name, value) == -1)
			load_error(ctx, ctx->line,
			    "[models] %s: expected a context window in tokens",
			    name);
		return 1;
	}
	if (strcmp(section, "prices") == 0) {
		if (set_price(ctx->cfg, name, value) == -1)
			load_error(ctx, ctx->line,
			    "[prices] %s: expected four prices: input, output, cache write, cache read",
			    name);
		return 1;
	}
	for (i = 0; i < nitems(keys); i++) {
		if (strcmp(keys[i].section, section) != 0 ||
		    strcmp(keys[i].name, name) != 0)
			continue;
		if (set_key(ctx->cfg, &keys[i], value) == -1)
			load_error(ctx, ctx->line, "[%s] %s: bad value \"%s\"",
			    section, name, value);
		return 1;
	}
	if (*section == '\0')
		load_error(
		    ctx, ctx->line, "%s: a key before any [section]", name);
	else
		load_error(
		    ctx, ctx->line, "[%s] %s: unknown key", section, name);
	return 1;
}

/*
 * What inih will make of LINE: blank, a comment, a [section], a key (=
 * or :), or, indented after a key, more of its value.  Anything else is
 * a syntax error, noted here so that every one is reported (inih gives
 * only the first).
 */
static void
check_syntax(struct load_ctx *ctx, const char *line)
{
	const char *s = line + strspn(line, " \t");
	int indented = s > line;

	if (*s == '\0' || *s == '\n' || *s == '\r' || *s == ';' || *s == '#')
		return;
	if (*s == '[' && strchr(s, ']') != NULL)
		ctx->after_key = 0;
	else if (*s != '[' && strpbrk(s, "=:") != NULL)
		ctx->after_key = 1;
	else if (!(indented && ctx->after_key))
		load_error(ctx, ctx->line, "syntax error");
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
	/* A whole line, or the last one without its newline. */
	if ((n > 0 && buf[n - 1] == '\n') || feof(ctx->f))
		ctx->line++;
	else if (!ctx->too_long)
		ctx->too_long = ctx->line + 1;
	check_syntax(ctx, buf);
	return buf;
}

static int
url_ok(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/*
 * A listen address, HOST:PORT: HOST an IPv4 address, a bracketed IPv6
 * one, or localhost.  1 for a loopback address, 0 for another, -1 for
 * none.  A name that merely starts like 127. is not loopback.
 */
static int
listen_addr(const char *s)
{
	const char *colon = strrchr(s, ':');
	char host[64], *end;
	unsigned char a[16];
	size_t n;
	long port;

	if (colon == NULL || (n = (size_t)(colon - s)) == 0 || n >= sizeof host)
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 ||
	    port > 65535)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (n < 3 || host[0] != '[' || host[n - 1] != ']')
		return -1;
	host[n - 1] = '\0';
	if (inet_pton(AF_INET6, host + 1, a) != 1)
		return -1;
	return memcmp(a, in6addr_loopback.s6_addr, 16) == 0;
}

/*
 * The proxy's address: IPv4 loopback only, as agents' API keys cross it
 * in the clear and the path token is all that tells agents apart; or an
 * absolute path, a Unix socket only the socket's group can reach.
 */
static int
listen_ok(const char *s)
{
	if (*s == '/')
		return strlen(s) < 108; /* sun_path */
	return strncmp(s, "127.", 4) == 0 && listen_addr(s) == 1;
}

/* Off loopback, the dashboard shows the swarm only to a bearer token. */
static int
check_http(struct config *cfg, const char *file, char *err, size_t errlen)
{
	int loopback;

	if (cfg->http_timeout <= 0) {
		snprintf(
		    err, errlen, "%s: [http] timeout must be above 0", file);
		return -1;
	}
	if (*cfg->http_listen == '\0')
		return 0;
	if ((loopback = listen_addr(cfg->http_listen)) == -1) {
		snprintf(err, errlen,
		    "%s: [http] listen: expected HOST:PORT, as 127.0.0.1:8077",
		    file);
		return -1;
	}
	if (!loopback && *cfg->http_token_file == '\0') {
		snprintf(err, errlen,
		    "%s: [http] listen %s is not loopback: it needs token_file",
		    file, cfg->http_listen);
		return -1;
	}
	return 0;
}

/* The metrics answer anyone who can connect: loopback unless asked. */
static int
check_metrics(struct config *cfg, const char *file, char *err, size_t errlen)
{
	int local;

	if (cfg->metrics_on_proxy && *cfg->proxy_listen == '\0') {
		snprintf(err, errlen,
		    "%s: [metrics] on_proxy needs [proxy] listen", file);
		return -1;
	}
	if (cfg->metrics_timeout <= 0) {
		snprintf(err, errlen,
		    "%s: [metrics] timeout: expected a duration above 0", file);
		return -1;
	}
	if (*cfg->metrics_listen == '\0')
		return 0;
	if ((local = listen_addr(cfg->metrics_listen)) == -1) {
		snprintf(err, errlen,
		    "%s: [metrics] listen: expected ADDRESS:PORT, as 127.0.0.1:9464 or [::1]:9464",
		    file);
		return -1;
	}
	if (!local && !cfg->metrics_allow_remote) {
		snprintf(err, errlen,
		    "%s: [metrics] listen: %s is not a loopback address; set [metrics] allow_remote = yes to serve metrics beyond this host",
		    file, cfg->metrics_listen);
		return -1;
	}
	return 0;
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
		snprintf(err, errlen,
		    "%s: [swarmd] log_level: expected err, warning, notice, info or debug",
		    file);
		return -1;
	}
	if (*cfg->socket != '/' || *cfg->statedir != '/') {
		snprintf(err, errlen,
		    "%s: [swarmd] socket and statedir must be absolute paths",
		    file);
		return -1;
	}
	if (cfg->resume_at > cfg->pause_at) {
		snprintf(err, errlen,
		    "%s: [quota] resume_at must not be above pause_at", file);
		return -1;
	}
	if (*cfg->escalation_webhook != '\0' &&
	    strncmp(cfg->escalation_webhook, "http://", 7) != 0 &&
	    strncmp(cfg->escalation_webhook, "https://", 8) != 0) {
		snprintf(err, errlen,
		    "%s: [watchdog] escalation_webhook: expected an http:// or https:// URL",
		    file);
		return -1;
	}
	if (!url_ok(cfg->proxy_upstream) ||
	    !url_ok(cfg->proxy_openai_upstream)) {
		snprintf(err, errlen,
		    "%s: [proxy] upstream and openai_upstream must be http:// or https:// URLs",
		    file);
		return -1;
	}
	if (*cfg->proxy_listen != '\0' && !listen_ok(cfg->proxy_listen)) {
		snprintf(err, errlen,
		    "%s: [proxy] listen: expected 127.0.0.1:PORT (loopback only) or a socket path",
		    file);
		return -1;
	}
	if (check_http(cfg, file, err, errlen) == -1)
		return -1;
	if (strcmp(cfg->synchronous, "full") != 0 &&
	    strcmp(cfg->synchronous, "normal") != 0 &&
	    strcmp(cfg->synchronous, "extra") != 0) {
		snprintf(err, errlen,
		    "%s: [store] synchronous: expected full, normal or extra",
		    file);
		return -1;
	}
	return check_metrics(cfg, file, err, errlen);
}

int
config_load(struct config *cfg, const char *file, int missing_ok, char *err,
    size_t errlen)
{
	struct load_ctx ctx = { cfg, NULL, file, 0, 0, 0, err, errlen, 0 };
	struct stat sb;
	int fd, rc;

	/* O_NONBLOCK: a FIFO in its place must not hang a reload. */
	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		if (missing_ok && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", file);
		close(fd);
		return -1;
	}
	if ((ctx.f = fdopen(fd, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		close(fd);
		return -1;
	}
	rc = ini_parse_stream(read_line, &ctx, on_key, &ctx);
	fclose(ctx.f);
	if (ctx.too_long) {
		snprintf(
		    err, errlen, "%s:%d: line too long", file, ctx.too_long);
		return -1;
	}
	/* A line inih refused that check_syntax let pass. */
	if (rc > 0 && ctx.errors == 0)
		load_error(&ctx, rc, "syntax error");
	if (ctx.errors > 0)
		return -1;
	return check_values(cfg, file, err, errlen);
}
