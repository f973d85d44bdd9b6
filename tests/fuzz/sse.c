/*
 * sse.c: what the proxy reads from an upstream's response: server-sent
 * events (Anthropic's stream, OpenAI's chunks) or a whole JSON message,
 * metered by proxy-meter.c as the bytes pass.  The input arrives in three
 * reads, so events cut between two are joined as on the wire.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut1 = size / 3, cut2 = 2 * size / 3;
	struct preq p;
	json_t *doc;

	memset(&p, 0, sizeof p);
	p.lines = evbuffer_new();
	meter_sse(&p, (const char *)data, cut1);
	meter_sse(&p, (const char *)data + cut1, cut2 - cut1);
	meter_sse(&p, (const char *)data + cut2, size - cut2);
	/* A response that is not a stream is metered whole, as one doc. */
	if ((doc = json_loadb((const char *)data, size, 0, NULL)) != NULL) {
		meter_doc(&p, doc);
		json_decref(doc);
	}
	if (p.use.input < 0 || p.use.output < 0 || p.use.cache_creation < 0 ||
	    p.use.cache_read < 0)
		abort(); /* a negative count would credit the meter */
	evbuffer_free(p.lines);
	free(p.msgid);
	free(p.model);
	return 0;
}
