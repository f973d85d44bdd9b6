/*
 * client.c: one connection to swarmd's control socket: newline-delimited
 * JSON, read through a buffer since a line may arrive in many pieces and
 * several lines in one.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarm-protocol.h"
#include "util.h"
#include "client.h"

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

void
client_close(struct client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}
