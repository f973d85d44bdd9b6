/*
 * client.c: the talk with swarmd for every verb.  Below, one connection
 * to the control socket: newline-delimited JSON, read through a buffer
 * since a line may arrive in many pieces and several lines in one.
 * Above it, a verb's requests: hello first, the agent's credentials on
 * its own verbs, each answer matched to its request, errors printed with
 * their exit status, and the lines of a follow stream.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarm-protocol.h"
#include "util.h"
#include "client.h"
#include "cmd.h"
#include "format.h"

#define CLIENT_BUFSIZE (64 * 1024)

struct client {
	int fd;
	char *buf;
	size_t cap;
	size_t len;     /* bytes in buf */
	size_t start;   /* where the next line begins */
	size_t scanned; /* bytes after start known to hold no newline */
};

struct client *
client_connect(const char *path)
{
	struct sockaddr_un sun;
	struct client *c;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->cap = CLIENT_BUFSIZE;
	c->buf = xmalloc(c->cap);
	return c;
}

int
client_send(struct client *c, json_t *req)
{
	char *s;
	size_t len, off = 0;

	if ((s = json_dumps(req, JSON_COMPACT)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if ((len = strlen(s)) > SWARM_MAX_LINE) {
		free(s);
		errno = E2BIG;
		return -1;
	}
	s[len++] = '\n'; /* over the terminating NUL, which is not sent */
	while (off < len) {
		/* MSG_NOSIGNAL: a daemon gone away is EPIPE, not a signal. */
		ssize_t n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(s);
			return -1;
		}
		off += (size_t)n;
	}
	free(s);
	return 0;
}

/* Parse the line at start, LEN bytes, and move past its newline. */
static enum client_status
client_take(
    struct client *c, size_t len, json_t **out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j;

	j = json_loadb(c->buf + c->start, len, 0, &jerr);
	c->start += len + 1;
	c->scanned = 0;
	if (j == NULL) {
		snprintf(err, errlen, "%s", jerr.text);
		return CLIENT_GARBAGE;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errlen, "not a JSON object");
		return CLIENT_GARBAGE;
	}
	*out = j;
	return CLIENT_LINE;
}

/* Make room for another read, moving the partial line to the front. */
static void
client_room(struct client *c)
{
	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->len - c->start);
		c->len -= c->start;
		c->start = 0;
	}
	if (c->len == c->cap) {
		c->cap *= 2;
		c->buf = xrealloc(c->buf, c->cap);
	}
}

enum client_status
client_read(struct client *c, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	for (;;) {
		char *nl = memchr(c->buf + c->start + c->scanned, '\n',
		    c->len - c->start - c->scanned);
		if (nl != NULL)
			return client_take(c, (size_t)(nl - c->buf) - c->start,
			    out, err, errlen);
		c->scanned = c->len - c->start;
		if (c->scanned > CLIENT_MAX_RESPONSE) {
			snprintf(err, errlen,
			    "a response line is over %d bytes",
			    CLIENT_MAX_RESPONSE);
			return CLIENT_GARBAGE;
		}
		client_room(c);
		ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return CLIENT_ERROR;
		if (n == 0)
			return CLIENT_EOF; /* a partial line is no answer */
		c->len += (size_t)n;
	}
}

int
client_fd(struct client *c)
{
	return c->fd;
}

void
client_close(struct client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

/* Exactly one line for the error; invalid_job adds its problems. */
static void
client_print_error(json_t *resp)
{
	json_t *err = json_object_get(resp, "error");
	json_t *problems = json_object_get(err, "problems");
	const char *code = format_member(err, "code");
	const char *msg = format_member(err, "message");
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
client_unreachable(struct cmd_ctx *ctx, int error)
{
	fprintf(stderr, "swarmctl: cannot reach swarmd at %s: %s\n",
	    ctx->socket, strerror(error));
	/* Nothing listens there: say where else to look. */
	if (error == ENOENT || error == ECONNREFUSED)
		fprintf(stderr,
		    "swarmctl: is swarmd running (systemctl status swarmd)? "
		    "Another socket: swarmctl -s PATH, or SWARM_SOCKET=PATH\n");
	return SWARM_EXIT_UNAVAILABLE;
}

/*
 * Read the next line.  Returns 0 with *LINE set, -1 at a clean end of
 * the connection, or an exit status after a message.
 */
int
client_next(struct cmd_ctx *ctx, json_t **line)
{
	char err[256];

	switch (client_read(ctx->client, line, err, sizeof err)) {
	case CLIENT_LINE:
		return 0;
	case CLIENT_EOF:
		return -1;
	case CLIENT_ERROR:
		return client_unreachable(ctx, errno);
	case CLIENT_GARBAGE:
		break;
	}
	fprintf(stderr, "swarmctl: bad response from swarmd: %s\n", err);
	return SWARM_EXIT_ERROR;
}

/*
 * A follow stream waits for swarmd, not for our output: a pipe whose
 * reader left (grep -m1) shows only when we next write, which may be
 * never.  poll() reports it on the write end as POLLERR at once.
 */
enum client_wait
client_wait(struct cmd_ctx *ctx, int timeout_ms, int watch_out)
{
	struct client *c = ctx->client;
	struct pollfd pfd[2] = { { c->fd, POLLIN, 0 },
		{ STDOUT_FILENO, 0, 0 } };
	int n;

	if (memchr(c->buf + c->start, '\n', c->len - c->start) != NULL)
		return CLIENT_READY;
	for (;;) {
		n = poll(pfd, watch_out ? 2 : 1, timeout_ms);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			return CLIENT_TIMEOUT;
		if (watch_out && n > 0 &&
		    (pfd[1].revents & (POLLERR | POLLHUP)))
			return CLIENT_OUT_GONE;
		return CLIENT_READY; /* readable, or an error read will show */
	}
}

/* The answer to request ID, or an exit status after a message. */
static int
client_answer(struct cmd_ctx *ctx, json_int_t id, json_t **resp)
{
	json_t *r, *rid;
	int rc;

	if ((rc = client_next(ctx, &r)) == -1) {
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

		client_print_error(r);
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
client_request(
    struct cmd_ctx *ctx, const char *verb, json_t *args, json_t **resp)
{
	json_int_t id = ctx->next_id++;
	json_t *req;
	int rc;

	req =
	    json_pack("{s:I, s:s, s:o}", "id", id, "verb", verb, "args", args);
	/* Agent verbs, and a hook speaking for its agent (cmd-hook.c). */
	if ((ctx->entry->agent || ctx->agent != NULL) &&
	    strcmp(verb, "hello") != 0)
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
		return client_unreachable(ctx, errno);
	return client_answer(ctx, id, resp);
}

/* Connect and agree on the protocol version. */
static int
client_hello(struct cmd_ctx *ctx)
{
	json_t *resp, *v;
	int rc;

	if ((ctx->client = client_connect(ctx->socket)) == NULL)
		return client_unreachable(ctx, errno);
	ctx->next_id = 0; /* hello is request 0, the verb's request 1 */
	rc = client_request(ctx, "hello",
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
int
client_call(struct cmd_ctx *ctx, const char *verb, json_t *args, json_t **resp)
{
	int rc;

	*resp = NULL;
	if (ctx->client == NULL && (rc = client_hello(ctx)) != 0) {
		json_decref(args);
		return rc;
	}
	return client_request(ctx, verb, args, resp);
}

/*
 * After the first answer of a follow request: hand the KEY member of each
 * line to SHOW as it comes, until swarmd closes the connection.
 */
int
client_follow(struct cmd_ctx *ctx, const char *key,
    void (*show)(struct cmd_ctx *, json_t *))
{
	for (;;) {
		json_t *line, *v;
		int rc;

		if (client_wait(ctx, -1, 1) == CLIENT_OUT_GONE)
			return SWARM_EXIT_OK;
		if ((rc = client_next(ctx, &line)) == -1)
			return SWARM_EXIT_OK;
		if (rc != 0)
			return rc;
		if (json_is_false(json_object_get(line, "ok"))) {
			client_print_error(line);
			json_decref(line);
			return SWARM_EXIT_ERROR;
		}
		if (json_is_object(v = json_object_get(line, key))) {
			show(ctx, v);
			format_flush();
		}
		json_decref(line);
	}
}
