/* client.h: the talk with swarmd: a verb's requests and its connection. */
#ifndef SWARMCTL_CLIENT_H
#define SWARMCTL_CLIENT_H

#include <stddef.h>

#include <jansson.h>

#include "swarm-protocol.h"

/* A response line may be longer than a request line, within reason. */
#define CLIENT_MAX_RESPONSE (64 * SWARM_MAX_LINE)

enum client_status {
	CLIENT_LINE,    /* a JSON object was read */
	CLIENT_EOF,     /* swarmd closed the connection */
	CLIENT_ERROR,   /* a read failed: errno */
	CLIENT_GARBAGE, /* the line is no JSON object: the reason in err */
};

struct client;

/* Connect to PATH; NULL with errno set on failure. */
struct client *client_connect(const char *path);
/* Send one request line; -1 with errno (E2BIG: over SWARM_MAX_LINE). */
int client_send(struct client *, json_t *);
/* Read the next line as a JSON object into *OUT. */
enum client_status client_read(
    struct client *, json_t **out, char *err, size_t errlen);
void client_close(struct client *);
/* Its socket, to poll beside other descriptors. */
int client_fd(struct client *);

struct cmd_ctx;

/*
 * Call VERB with ARGS (a reference taken), connecting and saying hello
 * first if need be; *RESP is the successful answer.  Returns 0 or an exit
 * status after a message.
 */
int client_call(
    struct cmd_ctx *, const char *verb, json_t *args, json_t **resp);
enum client_wait {
	CLIENT_READY,    /* a line is buffered, or the socket is readable */
	CLIENT_TIMEOUT,  /* the time given passed first */
	CLIENT_OUT_GONE, /* nobody reads our stdout any more */
};
/* Wait for the next line for at most TIMEOUT_MS (-1: no limit); with
 * WATCH_OUT, stop too when our stdout is a pipe its reader closed. */
enum client_wait client_wait(struct cmd_ctx *, int timeout_ms, int watch_out);
/* The next line of a stream: 0, -1 at its end, else an exit status. */
int client_next(struct cmd_ctx *, json_t **line);
/* The rest of a follow stream: each line's KEY member to SHOW. */
int client_follow(struct cmd_ctx *, const char *key,
    void (*show)(struct cmd_ctx *, json_t *));

#endif
