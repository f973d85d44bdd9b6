/*
 * count.c: how many tokens a request holds, and what its reply says.
 *
 * The counting rule (POST /v1/messages/count_tokens gives the same total):
 *   T = the UTF-8 bytes of each entry of "tools" as compact JSON, then of
 *       "system" and of each message's "content": a string counts whole;
 *       of a list of blocks, a text block counts its "text", a tool_use
 *       block its "input" as compact JSON, a tool_result block its
 *       "content" (by the same rule), any other block its compact JSON.
 *   total = 8 + ceil(T / 4)
 * Prompt caching: the bytes up to and including the last tool or block
 * that carries "cache_control" are the cached prefix P, and ceil(P / 4)
 * of the total are cache tokens.  Of these, ceil(R / 4) are
 * cache_read_input_tokens, R being the longest prefix ending on a block
 * boundary within P that an earlier request (same model) cached at one of
 * its breakpoints (its last four); the rest are
 * cache_creation_input_tokens.  input_tokens = total - ceil(P / 4).
 * (No minimum length, no expiry, no 20-block lookback limit.)
 * OpenAI caches without being asked: there the end of every message is a
 * breakpoint, and an assistant turn's tool calls count their arguments.
 * Output: ceil(text bytes / 4), plus ceil((tool name + compact input) / 4)
 * for a tool_use block; at least 1, at most max_tokens.
 *
 * The reply (plan.c) echoes the last user text ("Hello! You said: ..."),
 * or is cfg.reply.  In the last user text, "fake:tokens N" asks for N
 * output tokens of filler and "fake:tool NAME [{json input}]" for a
 * tool_use block calling NAME (cfg.tool_use: the first tool, unasked); a
 * turn that carries a tool_result never gets one.  A request for a
 * json_schema output format gets an object with the required members.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake-upstream.h"

#define OVERHEAD 8
#define CACHE_SLOTS 4096

struct boundary {
	size_t bytes;
	uint64_t key;
};

struct counter {
	size_t bytes;
	uint64_t hash;
	struct boundary *marks; /* after every tool and block */
	size_t nmarks;
	size_t bp[CACHE_BREAKPOINTS]; /* marks with cache_control, last 4 */
	size_t nbp;
};

static uint64_t cache_keys[CACHE_SLOTS];
static size_t cache_next;
static uint64_t rng;

static void
counter_add(struct counter *c, const char *s, size_t n)
{
	size_t i;

	/* FNV-1a: a prefix's identity for the simulated cache. */
	for (i = 0; i < n; i++) {
		c->hash ^= (unsigned char)s[i];
		c->hash *= 0x100000001b3ULL;
	}
	c->bytes += n;
}

/* The last mark is a breakpoint; only the last four are kept. */
static void
counter_breakpoint(struct counter *c)
{
	if (c->nmarks == 0 ||
	    (c->nbp > 0 && c->bp[c->nbp - 1] == c->nmarks - 1))
		return;
	if (c->nbp == CACHE_BREAKPOINTS) {
		memmove(c->bp, c->bp + 1, sizeof c->bp - sizeof c->bp[0]);
		c->nbp--;
	}
	c->bp[c->nbp++] = c->nmarks - 1;
}

/* A block boundary; a block with cache_control is a breakpoint too. */
static void
counter_mark(struct counter *c, json_t *o)
{
	c->marks = xreallocarray(c->marks, c->nmarks + 1, sizeof *c->marks);
	c->marks[c->nmarks].bytes = c->bytes;
	c->marks[c->nmarks].key = (c->hash ^ c->bytes) | 1;
	c->nmarks++;
	if (json_object_get(o, "cache_control") != NULL)
		counter_breakpoint(c);
}

static void
counter_json(struct counter *c, json_t *v)
{
	char *s;

	if (v == NULL)
		return;
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s != NULL)
		counter_add(c, s, strlen(s));
	free(s);
}

static void count_content(struct counter *, json_t *);

static void
count_block(struct counter *c, json_t *b)
{
	const char *type = json_string_value(json_object_get(b, "type"));
	json_t *text = json_object_get(b, "text");

	if (type == NULL)
		type = "";
	if (strcmp(type, "text") == 0 && json_is_string(text))
		counter_add(
		    c, json_string_value(text), json_string_length(text));
	else if (strcmp(type, "tool_use") == 0)
		counter_json(c, json_object_get(b, "input"));
	else if (strcmp(type, "tool_result") == 0)
		count_content(c, json_object_get(b, "content"));
	else
		counter_json(c, b);
	counter_mark(c, b);
}

static void
count_content(struct counter *c, json_t *content)
{
	json_t *b;
	size_t i;

	if (json_is_string(content)) {
		counter_add(
		    c, json_string_value(content), json_string_length(content));
		counter_mark(c, NULL);
		return;
	}
	json_array_foreach(content, i, b) {
		if (json_is_object(b))
			count_block(c, b);
	}
}

/* An OpenAI assistant turn's tool calls: their arguments, as sent. */
static void
count_tool_calls(struct counter *c, json_t *calls)
{
	json_t *call, *args;
	size_t i;

	json_array_foreach(calls, i, call) {
		args = json_object_get(
		    json_object_get(call, "function"), "arguments");
		if (!json_is_string(args))
			continue;
		counter_add(
		    c, json_string_value(args), json_string_length(args));
		counter_mark(c, NULL);
	}
}

/* auto_bp: every message's end is a breakpoint (OpenAI's caching). */
static void
count_walk(json_t *req, int auto_bp, struct counter *c)
{
	const char *model = json_string_value(json_object_get(req, "model"));
	json_t *v;
	size_t i;

	memset(c, 0, sizeof *c);
	c->hash = 0xcbf29ce484222325ULL;
	if (model != NULL)
		counter_add(c, model, strlen(model) + 1);
	c->bytes = 0; /* the model names the cache, it is not input */
	json_array_foreach(json_object_get(req, "tools"), i, v) {
		counter_json(c, v);
		counter_mark(c, v);
	}
	count_content(c, json_object_get(req, "system"));
	json_array_foreach(json_object_get(req, "messages"), i, v) {
		count_content(c, json_object_get(v, "content"));
		count_tool_calls(c, json_object_get(v, "tool_calls"));
		if (auto_bp)
			counter_breakpoint(c);
	}
}

long
count_total(json_t *req)
{
	struct counter c;

	count_walk(req, 0, &c);
	free(c.marks);
	return OVERHEAD + (long)((c.bytes + 3) / 4);
}

static int
cache_seen(uint64_t key)
{
	size_t i;

	for (i = 0; i < CACHE_SLOTS; i++)
		if (cache_keys[i] == key)
			return 1;
	return 0;
}

/* Only an admitted request writes the cache, so a 429 changes nothing. */
void
cache_remember(const uint64_t *keys)
{
	size_t i;

	for (i = 0; i < CACHE_BREAKPOINTS; i++) {
		if (keys[i] == 0 || cache_seen(keys[i]))
			continue;
		cache_keys[cache_next] = keys[i];
		cache_next = (cache_next + 1) % CACHE_SLOTS;
	}
}

/* The longest cached prefix that ends on a block boundary before mark. */
static size_t
cache_hit(const struct counter *c, size_t mark)
{
	size_t i;

	for (i = mark + 1; i-- > 0;)
		if (c->marks[i].bytes > 0 && cache_seen(c->marks[i].key))
			return c->marks[i].bytes;
	return 0;
}

/* The input side of usage; keys[] name the prefixes to cache. */
void
count_input(json_t *req, int auto_bp, struct usage *u, uint64_t *keys)
{
	struct counter c;
	long total, cached = 0;
	size_t i, last;

	count_walk(req, auto_bp, &c);
	total = OVERHEAD + (long)((c.bytes + 3) / 4);
	memset(u, 0, sizeof *u);
	memset(keys, 0, CACHE_BREAKPOINTS * sizeof *keys);
	if (cfg.cache && c.nbp > 0) {
		last = c.bp[c.nbp - 1];
		cached = (long)((c.marks[last].bytes + 3) / 4);
		u->cache_read = (long)((cache_hit(&c, last) + 3) / 4);
		u->cache_creation = cached - u->cache_read;
		for (i = 0; i < c.nbp; i++)
			keys[i] = c.marks[c.bp[i]].key;
	}
	u->input = total - cached;
	free(c.marks);
}

void
id_seed(uint64_t seed)
{
	rng = seed != 0 ? seed :
	                  ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
}

/* splitmix64 */
static uint64_t
id_random(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* prefix then n base62 characters, like the API's ids. */
void
id_make(char *buf, size_t len, const char *prefix, size_t n)
{
	static const char set[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz";
	size_t i, p = strlen(prefix);

	if (p + n + 1 > len)
		n = len - p - 1;
	memcpy(buf, prefix, p);
	for (i = 0; i < n; i++)
		buf[p + i] = set[id_random() % 62];
	buf[p + n] = '\0';
}
