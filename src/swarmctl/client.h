/* client.h: one connection to swarmd's control socket. */
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

#endif
