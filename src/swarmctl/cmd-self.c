/*
 * cmd-self.c: the verbs an agent uses on itself, from SWARM_AGENT and
 * SWARM_TOKEN: heartbeat, recv, checkpoint, done, fail and report.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm-protocol.h"
#include "sha256.h"
#include "util.h"
#include "client.h"
#include "cmd.h"
#include "format.h"

int
cmd_heartbeat(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	cmd_opt_arg(ctx, args, "note", "note");
	if ((rc = client_call(ctx, "heartbeat", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	json_decref(resp);
	return 0;
}

/* Print one page of messages; 1 when the daemon has more. */
static int
recv_page(struct cmd_ctx *ctx, json_t *resp)
{
	json_t *msgs = json_object_get(resp, "messages");
	size_t i;

	for (i = 0; i < json_array_size(msgs); i++) {
		json_t *m = json_array_get(msgs, i);

		if (ctx->json)
			format_json(m);
		else if (format_member(m, "text") != NULL)
			printf("%s\n", format_member(m, "text"));
	}
	return json_is_true(json_object_get(resp, "more"));
}

/* All unread mail, a page a call (the daemon bounds each reply). */
int
cmd_recv(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc, more;

	if (cmd_opt_seconds(ctx, "wait", args, "wait") == -1) {
		json_decref(args);
		return cmd_usage_error(ctx,
		    "bad --wait \"%s\": expected seconds (10, 10s, 1m)",
		    cmd_opt(ctx, "wait"));
	}
	do {
		if ((rc = client_call(ctx, "recv", args, &resp)) != 0)
			return rc;
		more = recv_page(ctx, resp);
		json_decref(resp);
		args = json_object();
	} while (more);
	json_decref(args);
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

	if (cmd_read_file(path, CMD_MAX_FILE, &buf, &len) == -1) {
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

int
cmd_checkpoint(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	const char *file = cmd_opt(ctx, "file");
	int rc;

	cmd_opt_arg(ctx, args, "note", "note");
	if (file != NULL && (rc = checkpoint_data(ctx, file, args)) != 0) {
		json_decref(args);
		return rc;
	}
	if ((rc = client_call(ctx, "checkpoint", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
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

int
cmd_done(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	const char *result = cmd_opt(ctx, "result");
	int rc;

	cmd_opt_arg(ctx, args, "summary", "summary");
	if (result != NULL) {
		char *abs;

		if ((abs = absolute_path(result)) == NULL ||
		    !cmd_is_utf8(abs)) {
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
	if ((rc = client_call(ctx, "done", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	json_decref(resp);
	return 0;
}

int
cmd_fail(struct cmd_ctx *ctx)
{
	json_t *args = json_object(), *resp;
	int rc;

	if (cmd_opt(ctx, "transient") != NULL)
		json_object_set_new(args, "transient", json_true());
	cmd_opt_arg(ctx, args, "reason", "reason");
	cmd_opt_arg(ctx, args, "class", "class");
	if ((rc = client_call(ctx, "fail", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	json_decref(resp);
	return 0;
}

int
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
		if ((v = cmd_opt(ctx, opts[i][0])) == NULL)
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
	cmd_opt_arg(ctx, args, "model", "model");
	if ((rc = client_call(ctx, "report", args, &resp)) != 0)
		return rc;
	if (ctx->json)
		format_reply(resp);
	json_decref(resp);
	return 0;
}
