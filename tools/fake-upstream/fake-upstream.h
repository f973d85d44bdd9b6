/*
 * fake-upstream.h: a stand-in for the Anthropic Messages API, faithful
 * enough to test a metering proxy and real clients against.
 *
 * Files: main.c (options, loop, routing), config.c (the config file and
 * the fault set), count.c (token counting, prompt cache), plan.c (the
 * reply a request gets), api.c (POST /v1/messages and count_tokens),
 * openai.c (POST /v1/chat/completions), reply.c (sending a reply:
 * delayed, streamed as SSE, cut by a fault), ratelimit.c (token buckets
 * and their headers), control.c (/_fake/ endpoints and the counters).
 */
#ifndef FAKE_UPSTREAM_H
#define FAKE_UPSTREAM_H

#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "util.h" /* the project's x* allocators and nitems */

/* The API a request came in on: its shapes, errors and headers. */
enum api { API_ANTHROPIC, API_OPENAI };

/* ---- ratelimit.c ---- */
enum rl_kind { RL_REQUESTS, RL_TOKENS, RL_INPUT, RL_OUTPUT, RL_N };
void ratelimit_init(const double limit[RL_N]);
int ratelimit_admit(
    const double cost[RL_N], long *retry_after, enum rl_kind *refused);
void ratelimit_headers(struct evkeyvalq *);
void ratelimit_openai_headers(struct evkeyvalq *);
double ratelimit_level(enum rl_kind);
const char *ratelimit_name(enum rl_kind);

/* ---- config.c ---- */
enum fault_kind {
	FAULT_FAIL,
	FAULT_STREAM_ERROR,
	FAULT_SLOW,
	FAULT_RESET,
	FAULT_N
};
struct fault {
	long count;        /* requests left to affect: -1 all, 0 none */
	long status;       /* fail: the status to answer */
	long retry_after;  /* fail: seconds for retry-after, 0 none */
	long skip;         /* fail: requests let through first */
	char message[256]; /* fail: the error's message; "": by status */
	long after;        /* stream_error, reset: deltas sent first */
	long delay_ms;     /* slow_first_byte */
	long jitter_ms;    /* slow_first_byte: up to this much more */
	char type[64];     /* stream_error: the error's type */
};

struct config {
	char listen[256];
	char *api_key;         /* NULL: any key will do */
	int require_version;   /* anthropic-version is required */
	double limit[RL_N];    /* per minute */
	long gap_ms;           /* between stream events */
	long delta_bytes;      /* at most this much text per delta */
	int delta_input_usage; /* message_delta repeats the input usage */
	char *reply;           /* NULL: echo the prompt */
	int tool_use;          /* answer with a tool_use when tools exist */
	int cache;             /* simulate prompt caching */
	uint64_t seed;         /* ids; 0: from the clock */
	long max_body;
	struct fault faults[FAULT_N];
};
extern struct config cfg;
void config_defaults(void);
int config_load(const char *, char *, size_t);
void config_free(void);
int faults_parse(json_t *, struct fault *, char *, size_t);
json_t *faults_json(const struct fault *);
const struct fault *fault_take(enum fault_kind);

#define CACHE_BREAKPOINTS 4

/* ---- count.c (the counting rule is in its header comment) ---- */
struct usage {
	long input;
	long cache_creation;
	long cache_read;
	long output;
};
struct plan {
	char id[40];
	char *model;
	char *text;      /* the text block */
	char *tool_name; /* NULL: no tool_use block */
	char tool_id[40];
	char *tool_input; /* compact JSON */
	const char *stop_reason;
	struct usage usage;
	uint64_t cache_keys[CACHE_BREAKPOINTS]; /* prefixes to cache */
};
long count_total(json_t *);
void count_input(json_t *, int, struct usage *, uint64_t *);
void cache_remember(const uint64_t *);
void id_seed(uint64_t);
void id_make(char *, size_t, const char *, size_t);

/* ---- plan.c ---- */
void plan_make(json_t *, enum api, struct plan *);
void plan_free(struct plan *);
size_t utf8_cut(const char *, size_t, size_t);

/* ---- api.c ---- */
void api_messages(struct evhttp_request *);
void api_count_tokens(struct evhttp_request *);
void api_not_found(struct evhttp_request *);
void api_error(struct evhttp_request *, int, const char *, const char *);
void api_send_json(struct evhttp_request *, int, json_t *);
const char *api_key(struct evhttp_request *, enum api);
json_t *api_load(struct evhttp_request *, json_error_t *);
/* The faults a request suffers, read from the fault set by api_faults. */
struct reply_faults {
	long delay_ms;    /* before the first byte */
	long reset_after; /* -1: no reset */
	long error_after; /* -1: no error event */
	char error_type[64];
};
void api_faults(int, struct reply_faults *);

/* ---- reply.c ---- */
struct keystat;
struct reply_to {
	enum api api;
	int stream;
	int include_usage;   /* OpenAI: a stream ends with a usage chunk */
	struct keystat *key; /* whose tokens they are */
};
void reply_start(struct evhttp_request *, struct plan *,
    const struct reply_to *, const struct reply_faults *);
void reply_shutdown(void);
size_t reply_inflight(void);
size_t reply_held(void);
size_t reply_release(void);
size_t reply_piece(const char *, size_t, size_t, int);

/*
 * A stream is a list of frames, each with the usage it tells the client
 * (added to the counters once it is sent).  Faults cut a stream before
 * a delta or, past the last one, before its FR_END frame.
 */
enum frame_kind {
	FR_START,
	FR_DELTA,
	FR_OTHER,
	FR_END, /* message_delta; OpenAI: the finish_reason chunk */
	FR_STOP,
	FR_ERROR
};
struct frame {
	enum frame_kind kind;
	char *text; /* the SSE event, blank line included */
	struct usage told;
};
struct frames {
	struct frame *v;
	size_t n;
};
void frames_push(
    struct frames *, enum frame_kind, char *, const struct usage *);

/* ---- openai.c ---- */
void openai_chat(struct evhttp_request *);
void openai_frames(struct frames *, const struct plan *, int);
json_t *openai_completion(const struct plan *);
char *openai_error_event(const char *);

/* ---- control.c ---- */
struct stats {
	uint64_t requests; /* on the API's paths */
	uint64_t messages;
	uint64_t chat_completions;
	uint64_t count_tokens;
	uint64_t rate_limited;
	uint64_t injected; /* answered by the fail fault */
	uint64_t streams;
	uint64_t streams_done;  /* reached message_stop */
	uint64_t stream_errors; /* ended by an error event */
	uint64_t resets;
	uint64_t client_closed;
	uint64_t untold; /* OpenAI streams without a usage chunk */
	uint64_t status[600];
	struct usage tokens; /* as told to clients */
};
extern struct stats stats;
/* The counters of one API key, so that a test can tell clients apart. */
struct keystat {
	char *key;
	uint64_t requests;
	struct usage tokens;
	TAILQ_ENTRY(keystat) entry;
};
void stats_status(int);
struct keystat *stats_key(const char *);
void stats_told(struct keystat *, const struct usage *);
void stats_free(void);
void control_handle(struct evhttp_request *, const char *);
void control_record(const char *key, json_t *body);

/* ---- main.c ---- */
extern struct event_base *base;
void *xreallocarray(void *, size_t, size_t);

#endif
