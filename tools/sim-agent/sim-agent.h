/*
 * sim-agent.h: a simulated agent that calls the Messages API the way an
 * SDK does.  Files: main.c (options, the loop of calls, the output
 * lines, heartbeats), call.c (one call: its attempts over libcurl and
 * the SDK's retry rules), sse.c (reading a server-sent event stream).
 */
#ifndef SIM_AGENT_H
#define SIM_AGENT_H

#include <stddef.h>

#include <curl/curl.h>

#include "util.h" /* the project's x* allocators and nitems */

struct usage {
	long input;
	long output;
	long cache_creation;
	long cache_read;
};

/* What a message told us, from a JSON body or a stream's events. */
struct message {
	char id[128];
	char stop_reason[32];
	char error_type[64]; /* an error body, or an error event */
	struct usage usage;
	int stopped; /* a stream's message_stop, or a whole message */
};

/* ---- sse.c ---- */
struct sse {
	char *line; /* the line being read */
	size_t len;
	size_t cap;
	char event[64];
	char *data; /* data: lines of the current event, joined by \n */
	size_t dlen;
	size_t dcap;
	struct message *msg;
};
void sse_init(struct sse *, struct message *);
void sse_feed(struct sse *, const char *, size_t);
void sse_free(struct sse *);
void message_from_json(struct message *, const char *, size_t);

/* ---- call.c ---- */
struct call_opts {
	const char *url;
	const char *api_key;
	const char *unix_socket; /* SWARM_PROXY_SOCKET, or NULL */
	const char *body;
	int stream;
	int max_retries;
	long timeout_ms; /* per attempt */
};

struct call {
	long status; /* the last attempt's; 0: no response */
	int ok;
	int attempts;
	int n429;
	int n5xx;         /* 500-599 and 529 */
	int nconn;        /* connection errors and timeouts */
	double ms;        /* the whole call, retries and waits included */
	double waited_ms; /* of which asleep between attempts */
	double ttfb_ms;   /* last attempt: to the first byte of the body */
	char error[160];  /* why it failed; empty when ok */
	struct message msg;
};
int call_init(void);
void call_run(const struct call_opts *, struct call *);
void call_cleanup(void);

/* ---- main.c ---- */
double now_ms(void);

#endif
