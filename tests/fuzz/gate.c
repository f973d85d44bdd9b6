/*
 * gate.c: the proxy's first look at a connection (proxy-gate.c): bytes
 * as an agent's or a stranger's connection sends them, landing in the
 * input buffer of the bufferevent swarmd gives evhttp, in three reads.
 * The gate must let a POST to a live token through untouched and cut
 * anything else to its request line and "Connection: close", dropping
 * what follows.  One live agent holds the token of 64 'a's (in the
 * dictionary), so both ways are reached.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proxy.h"
#include "fuzz.h"

static const char live[] = "POST /a/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                           "aaaaaaaaaaaaaaaaaaaaaaaa";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct agent *a;

	(void)argc;
	(void)argv;
	srv.base = event_base_new();
	a = agent_new(1, 1, "c0", 1);
	sha256(live + 8, 64, a->proxy_hash);
	return 0;
}

#define CLOSE "\r\nConnection: close\r\n\r\n"

enum { WAITING, PASSED, REFUSED };

/* What the gate must decide once the first line of DATA is in. */
static int
decision(const uint8_t *data, size_t sofar)
{
	const uint8_t *nl = memchr(data, '\n', sofar);
	size_t n;

	if (nl == NULL)
		return WAITING;
	n = (size_t)(nl - data);
	if (n > 0 && data[n - 1] == '\r')
		n--;
	return proxy_gate_line_ok((const char *)data, n < 80 ? n : 80) ?
	    PASSED :
	    REFUSED;
}

/*
 * What the gate left for libevent after a read: while no line is in,
 * and after a line it passed, all that came so far, untouched; after a
 * line it refused, that line and the close (which libevent then reads,
 * drained here as it would), and after that nothing.
 */
static void
check(struct evbuffer *in, const uint8_t *data, size_t sofar, int *state)
{
	size_t n = evbuffer_get_length(in), c = sizeof CLOSE - 1;
	char *left = (char *)evbuffer_pullup(in, -1);

	if (*state == REFUSED) {
		if (n != 0)
			abort(); /* a refused connection's bytes were kept */
		return;
	}
	if ((*state = decision(data, sofar)) != REFUSED) {
		if (n != sofar || (n > 0 && memcmp(left, data, n) != 0))
			abort(); /* a passed or unfinished line was touched */
		return;
	}
	if (n < c || memcmp(left + n - c, CLOSE, c) != 0 ||
	    memchr(left, '\n', n - c) != NULL)
		abort();
	evbuffer_drain(in, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bufferevent *bev = proxy_gate_bev(srv.base, NULL);
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t cut[4] = { 0, size / 3, 2 * size / 3, size };
	int state = WAITING, i;

	for (i = 0; i < 3; i++) {
		/* As a read does: the input takes bytes only then. */
		evbuffer_unfreeze(in, 0);
		evbuffer_add(in, data + cut[i], cut[i + 1] - cut[i]);
		evbuffer_freeze(in, 0);
		check(in, data, cut[i + 1], &state);
	}
	bufferevent_free(bev);
	/* libevent 2.1 finishes freeing a bufferevent in the loop. */
	event_base_loop(srv.base, EVLOOP_NONBLOCK);
	return 0;
}
