/*
 * swarmd.h: the daemon's shared types and the functions each file offers,
 * in one section per file, under a label naming it.  The layers (base,
 * store, records, mechanisms, policy, control, top) and who may call whom
 * are in ARCHITECTURE.md; tools/layers.sh and tools/labels.sh check them.
 */
#ifndef SWARMD_H
#define SWARMD_H

#include <sys/queue.h>
#include <sys/types.h>
#include <spawn.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "swarm-protocol.h"
#include "config.h"
#include "sha256.h"
#include "util.h"

struct client;
struct evbuffer;

/* glibc's sys/queue.h lacks the _SAFE iterators. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar) \
	for ((var) = TAILQ_FIRST(head); \
	     (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1); \
	     (var) = (tvar))
#endif
#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar) \
	for ((var) = LIST_FIRST(head); \
	     (var) != NULL && ((tvar) = LIST_NEXT(var, field), 1); \
	     (var) = (tvar))
#endif

/* ---- log.c ---- */
enum {
	LOG_P_ALERT = 1,
	LOG_P_ERR = 3,
	LOG_P_WARNING = 4,
	LOG_P_NOTICE = 5,
	LOG_P_INFO = 6,
	LOG_P_DEBUG = 7
};
void log_init(int foreground, const char *level);
int log_set_level(const char *);
void log_msg(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define log_err(...) log_msg(LOG_P_ERR, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_P_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_P_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_P_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_P_DEBUG, __VA_ARGS__)
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void log_detached(void);
json_t *log_tail(const char *path, int lines); /* an agent's log, as JSON */
json_t *log_json_text(const char *, size_t);   /* bytes not UTF-8 as '?' */
void log_event(int prio, const char *event, int64_t job, const char *chunk,
    int64_t agent, int attempt, const char *message);

/* ---- daemon.c: the state every layer shares ---- */
struct server {
	struct event_base *base;
	struct config cfg;
	char *config_path;
	uid_t uid;
	gid_t operator_gid; /* (gid_t)-1 when no such group */
	int shutting_down;
};
extern struct server srv;

/* A subscriber list: each list casts notify_fn to and from its own type. */
typedef void (*notify_fn)(void);
struct notify {
	notify_fn fn;
	void *arg;
	TAILQ_ENTRY(notify) entry;
};
TAILQ_HEAD(notify_list, notify);
void notify_add(struct notify_list *, notify_fn, void *arg);
void notify_remove(struct notify_list *, notify_fn, void *arg);

/* ---- histo.c: histograms of durations, for the metrics ---- */
#define HISTO_BUCKETS 16
struct histo {
	uint64_t counts[HISTO_BUCKETS + 1]; /* per bucket; the last: past all */
	uint64_t count;
	double sum; /* seconds */
};
double histo_bound(int);
void histo_add(struct histo *, double seconds);
double histo_now(void);

/* ---- file.c: files an agent names, read safely; private files written ---- */
enum file_kind { FILE_CHECKPOINT, FILE_RESULT }; /* which limit applies */
char *file_read(
    const char *path, enum file_kind, size_t *size, char *err, size_t len);
struct file_hash;
typedef void (*file_hash_cb)(
    const uint8_t *digest, off_t size, const char *err, void *arg);
struct file_hash *file_hash_start(const char *path, enum file_kind,
    file_hash_cb, void *arg, char *err, size_t len);
void file_hash_cancel(struct file_hash *);
int file_write_mode(const char *path, const char *data, size_t len, mode_t,
    char *err, size_t errlen);
int file_write_private(
    const char *path, const char *data, size_t len, char *err, size_t errlen);

/* ---- sock.c: the daemon's Unix sockets, and pausing on accept errors ---- */
struct evconnlistener;
int server_bind(const char *path, char *err, size_t errlen);
void sock_guard_accept(struct evconnlistener *, const char *name);
void sock_unguard_accept(struct evconnlistener *);

/* ---- sd.c: systemd notification, watchdog, socket activation ---- */
int systemd_listen_fd(char *err, size_t errlen); /* -1 none, -2 error */
void systemd_ready(void);
void systemd_reloading(void);
void systemd_stopping(int agents);
void systemd_status_changed(void);
struct systemd_counts {
	int running;    /* live agents */
	int64_t queued; /* chunks */
	int64_t done;
};
typedef void (*systemd_counts_fn)(struct systemd_counts *);
void systemd_set_counts(systemd_counts_fn);
void systemd_free(void);

/* ---- chunk.c: chunk lifecycle ---- */
enum chunk_state {
	CHUNK_QUEUED,
	CHUNK_RUNNING,
	CHUNK_DONE,
	CHUNK_FAILED,
	CHUNK_ABORTED,
	CHUNK_DEAD,
	CHUNK_GATING,  /* its attempt succeeded; its gates run */
	CHUNK_MERGING, /* its gates passed; in its target's merge queue */
	CHUNK_MERGED,  /* its commits are on the target */
	CHUNK_NSTATES,
	CHUNK_INVALID = -1
};
enum chunk_input {
	CI_DISPATCH,
	CI_EXIT_OK,
	CI_EXIT_FAIL,
	CI_ABORT,
	CI_DROP,
	CI_RETRY,
	CI_REQUEUE,
	CI_DEADLETTER,
	CI_GATE,       /* an attempt succeeded, and the job has gates */
	CI_GATE_PASS,  /* every gate passed */
	CI_GATE_FAIL,  /* a gate failed */
	CI_GATE_MERGE, /* every gate passed, and the job merges */
	CI_MERGED,     /* landed on the target */
	CI_MERGE_FAIL, /* a conflict, or the gates failed on the target */
	CHUNK_NINPUTS
};

/* Failure classes decide what follows a failed attempt. */
enum fail_class {
	FAIL_NONE,
	FAIL_TRANSIENT,
	FAIL_SCHEMA,
	FAIL_UNKNOWN,
	FAIL_GATE,   /* a gate failed: rework on the same branch */
	FAIL_ACCOUNT /* the key or the credit: a person, not a retry */
};
const char *fail_class_name(enum fail_class);

/* What a move writes besides the state and its reason. */
enum chunk_action {
	CA_NONE,
	CA_DISPATCH, /* one more attempt, by this agent, due now */
	CA_OUTPUT,   /* where its output is */
};
int chunk_next(enum chunk_state, enum chunk_input);
int chunk_action(enum chunk_state, enum chunk_input);
const char *chunk_state_name(enum chunk_state);
int chunk_state_parse(const char *);
int chunk_apply(
    int64_t job, const char *chunk, enum chunk_input, const char *reason);
int chunk_state_of(int64_t job, const char *chunk);
int chunk_dispatch(int64_t job, const char *chunk, int64_t agent);
struct agent;
int chunk_complete(const struct agent *, enum chunk_input, enum fail_class,
    const char *reason, const char *output, json_t *extra);
/* The chunks table for the other modules; writes in the caller's txn. */
void chunk_add_all(int64_t job, json_t *chunks);
int64_t chunk_count(int64_t job, const char *state);
void chunk_counts(int64_t job, int64_t n[CHUNK_NSTATES]); /* by state */
json_t *chunk_task_json(int64_t job, const char *chunk);
json_t *chunk_fields_json(int64_t job, const char *chunk); /* NULL: none */
json_t *chunk_list_json(int64_t job);
json_t *chunk_show_json(int64_t job, const char *chunk); /* NULL: none */
json_t *chunk_dead_json(int64_t job);                    /* 0: all jobs */
json_t *chunk_dead_ids(int64_t job);
int chunk_retry(int64_t job, const char *chunk); /* -1: cannot */
int64_t chunk_drop_queued(int64_t job, const char *reason);
int64_t chunk_abort_merging(int64_t job, const char *reason);
void chunk_each_due(int64_t job, int64_t now, int limit,
    void (*cb)(void *, const char *id, const char *task, int attempts),
    void *arg);
int64_t chunk_next_due(void); /* wall ms; 0 when none waits */
void chunk_totals(int64_t *queued, int64_t *done);
char *chunk_rejection(int64_t job, const char *chunk);
int chunk_add_failure(int64_t job, const char *chunk, enum fail_class);
void chunk_set_retry(int64_t job, const char *chunk, int64_t not_before,
    enum fail_class, const char *rejection);
void chunk_set_fail_class(int64_t job, const char *chunk, enum fail_class);
void chunk_set_gate_log(int64_t job, const char *chunk, const char *log);
char *chunk_fail_class_of(int64_t job, const char *chunk); /* NULL: none */

/* ---- agent.c: agent lifecycle and the live-agent table ---- */
enum agent_state {
	AGENT_STARTING,
	AGENT_RUNNING,
	AGENT_SUSPECT,
	AGENT_EXITED,
	AGENT_KILLED,
	AGENT_NSTATES,
	AGENT_INVALID = -1
};
enum agent_input {
	AI_SPAWNED,
	AI_SPAWN_FAILED,
	AI_SUSPECT,
	AI_CLEAR,
	AI_EXIT,
	AI_KILLED,
	AGENT_NINPUTS
};
/* What a move stores besides the state. */
enum agent_action {
	AA_NONE,
	AA_STATE,   /* the state alone */
	AA_STARTED, /* pid, token hash, start time, log, token cap */
	AA_ENDED,   /* end time, exit status or signal, reason */
};
int agent_next(enum agent_state, enum agent_input);
int agent_action(enum agent_state, enum agent_input);
const char *agent_state_name(enum agent_state);

/* ---- agent-end.c: why an agent ends, and what that makes of its chunk ---- */
/*
 * Why an agent ends: one value, set when the cause is known.  A cause
 * replaces an earlier one only when it ranks higher (agent_end_set).
 */
enum agent_end {
	END_NONE,             /* none yet: its exit status will decide */
	END_FAILED,           /* it said it failed (swarmctl fail) */
	END_FAILED_TRANSIENT, /* ... and that a retry may help */
	END_FAILED_ACCOUNT,   /* ... because of its account: a person */
	END_TIMED_OUT,        /* over the job's timeout */
	END_ABORTED,          /* an abort: the chunk ends aborted */
	END_RESTARTED,        /* an abort that requeues the chunk */
	END_KILLED,           /* an abort that dead-letters the chunk */
	END_INTERRUPTED,      /* cut off by swarmd stopping */
	END_LOST,             /* ended while swarmd was down */
	END_SPAWN_FAILED,     /* never started */
	END_DONE,             /* reported done: its chunk is settled */
	AGENT_NENDS
};
/* How it exited, as far as swarmd could see. */
enum agent_exit {
	EXIT_ZERO,    /* exit status 0 */
	EXIT_FAIL,    /* another status, or a signal */
	EXIT_SIGKILL, /* SIGKILL swarmd did not send: most likely OOM */
	EXIT_UNSEEN,  /* not our child (re-adopted, or gone at start) */
	AGENT_NEXITS
};
/* What an end makes of the agent and its chunk. */
struct agent_outcome {
	enum agent_input agent;
	enum chunk_input chunk; /* CHUNK_NINPUTS: settled already */
	enum fail_class cls;
};
const struct agent_outcome *agent_outcome(
    enum agent_end, enum agent_exit, int result_valid);
int agent_outcome_needs_result(enum agent_end, enum agent_exit);
const char *agent_end_name(enum agent_end);
/* How an ended agent ended, the word of ps --all and show: done, failed... */
const char *agent_end_word(enum agent_end, enum chunk_input);
struct agent;
int agent_end_set(struct agent *, enum agent_end, const char *reason);
int agent_is_aborting(const struct agent *);
int agent_is_ending(const struct agent *);

/* ---- agent.c: the live agents and the agents table ---- */
struct waiter;

/* Tokens by class, as the API reports them. */
struct usage {
	int64_t input;
	int64_t output;
	int64_t cache_creation;
	int64_t cache_read;
};

struct agent {
	int64_t id; /* agent-N */
	int64_t job;
	char *chunk;
	int attempt;
	enum agent_state state;
	pid_t pid;            /* the agent, leader of its process group */
	long long pid_start;  /* see proc_start_time() */
	pid_t shim;           /* its parent, recording its exit; 0 none */
	long long shim_start; /* the shim's, the same way */
	int64_t started;      /* wall ms */
	int64_t last_seen;    /* wall ms */
	int64_t ended;        /* wall ms its shim saw it end; 0 unknown */
	int seen_dirty;       /* last_seen not yet flushed */
	/* Its secrets' hashes: SWARM_TOKEN's, and the proxy key's. */
	uint8_t token_hash[SHA256_LEN];
	uint8_t proxy_hash[SHA256_LEN];
	char *log;         /* stdout and stderr */
	char *result_path; /* where its result is expected (SWARM_RESULT) */

	enum agent_end end; /* why it ends; END_NONE until known */
	char *end_reason;   /* the abort's or the failure's own words */
	/* Stored with its end: the word (agent_end_word), the class. */
	const char *end_word;
	enum fail_class end_class;
	int timeout; /* seconds, 0 none */
	struct event *timeout_ev;
	struct event *kill_ev; /* SIGKILL after the grace period */
	int pidfd;             /* its shim or itself, when not our child */
	struct event *pidfd_ev;

	/* The meter's view of this agent. */
	struct usage use;         /* everything counted */
	struct usage stream_use;  /* counted from its stream-json output */
	char *model;              /* of its latest API message */
	int64_t last_msg_context; /* input + cache tokens of that message */
	int64_t last_output;      /* wall ms it last wrote output */
	struct watch *wd;         /* the watchdog's view (watchdog.c) */
	int64_t cap;              /* tokens; 0 for none */
	int64_t held;             /* tokens held by its proxied requests */
	int64_t model_calls;      /* API messages seen in its output */
	char *session;            /* its Claude Code session, once seen */
	int cap_warned;
	int alive;   /* showed life since it started */
	int proxied; /* its API calls go through the proxy */

	/* Following its output (output.c). */
	int out_wd;
	int64_t out_offset;
	char *out_part; /* a line not yet ended */
	size_t out_len;
	int out_skip;        /* inside a line too long to keep */
	int64_t log_dropped; /* bytes cut from its log's head (log_max) */

	TAILQ_HEAD(, waiter) waiters; /* recv --wait clients */
	TAILQ_ENTRY(agent) entry;
	LIST_ENTRY(agent) hentry; /* agent_find's index */
};
TAILQ_HEAD(agents, agent);
extern struct agents live_agents;

struct agent *agent_find(int64_t);
int agent_apply(
    struct agent *, enum agent_input, int code, int sig, const char *reason);
void agent_insert(struct agent *);
void agent_store_result_path(struct agent *);
void agent_store_abort(struct agent *);
void agent_store_session(struct agent *, const char *session);
void agent_store_done(struct agent *, const char *summary, const char *result);
char *agent_prev_session(const struct agent *, int64_t *prev, char **reason);
void agent_store_seen(struct agent *);
void agent_load_live(void);
void agent_counts(int64_t n[AGENT_NSTATES]); /* by state, for the metrics */
int agent_parse_id(const char *, int64_t *);
struct agent *agent_new(
    int64_t id, int64_t job, const char *chunk, int attempt);
void agent_free(struct agent *);
const char *agent_output_file(const struct agent *);
json_t *agent_show_json(int64_t id); /* NULL: no such agent */
json_t *agent_chunk_list_json(int64_t job, const char *chunk);
void agent_list_text(
    int64_t job, int all, struct evbuffer *); /* ps; job 0: all */
char *agent_stored_state(int64_t id);         /* NULL: no such agent */
char *agent_log_path(int64_t id);             /* NULL: none */
int64_t agent_log_dropped(int64_t id);
void agent_log_cut(struct agent *, int64_t bytes);
int64_t agent_of_chunk(int64_t job, const char *chunk); /* 0: none */
char *agent_chunk_of(int64_t id, int64_t *job);         /* NULL: none */
/* An attempt as swarmctl cost sees it: did what it spent buy nothing? */
struct agent_attempt {
	int64_t id;
	int64_t job;
	char chunk[256]; /* a chunk id is at most 128 bytes */
	int attempt;
	int failed; /* ended without its chunk done by it */
};
void agent_attempts_each(
    int64_t job, void (*)(void *, const struct agent_attempt *), void *);
int agent_attempt_get(int64_t id, struct agent_attempt *); /* -1: none */

/* ---- mailbox.c: agents' mail and the recv calls waiting on it ---- */
void mailbox_put(struct agent *, const char *sender, const char *text);
json_t *mailbox_take(struct agent *, int *more); /* a page, marked read */
void mailbox_forward(struct agent *); /* an earlier attempt's unread mail */
typedef void (*mailbox_wake_cb)(struct agent *, void *arg);
struct waiter *mailbox_wait(
    struct agent *, double wait, mailbox_wake_cb, void *arg);
void mailbox_unwait(struct waiter *);
void agent_deliver(struct agent *); /* wake recv waiters */

/* ---- store.c: the SQLite state database ---- */
struct store {
	sqlite3 *db;
	char *path;
};
extern struct store store;
int store_open(
    const char *statedir, const char *synchronous, char *err, size_t errlen);
void store_close(void);
void store_begin(void);
void store_commit(void);
void store_rollback(void);
void store_begin_grouped(void);
void store_commit_grouped(void);
void store_flush(void);
int store_pending(void);
/* Told after each commit that reaches SQLite. */
typedef void (*store_commit_cb)(void *arg);
void store_subscribe(store_commit_cb, void *arg);
void store_unsubscribe(store_commit_cb, void *arg);
const struct histo *store_commit_histo(void); /* each COMMIT's time */
/* Event priorities: requests and timers first, the group commit last. */
#define STORE_PRIORITIES 3
#define STORE_FLUSH_PRIORITY 2
sqlite3_stmt *store_prepare(const char *sql); /* cached, reset on return */
void store_exec(const char *sql);
int store_step(sqlite3_stmt *); /* SQLITE_ROW or SQLITE_DONE; dies else */
char *store_text_by_id(const char *sql, int64_t id);
void store_bind_text(sqlite3_stmt *, int, const char *);
int64_t store_last_id(void);
int store_schema_version(void);
json_t *store_col_ts(sqlite3_stmt *, int); /* NULL -> null */
json_t *store_col_int(sqlite3_stmt *, int);
json_t *store_col_text(sqlite3_stmt *, int);
json_t *json_ts(int64_t wall_ms); /* 0 -> null */

/* ---- store-wal.c: WAL checkpoints, off the event loop ---- */
void store_wal_start(const char *);
int store_wal_reaped(pid_t, int);
void store_wal_stop(void);
int store_wal_main(int, char **);

/* ---- quota.c: the shared quota meter ---- */
struct job;
void quota_init(void);
void quota_reload(void);
void quota_free(void);
int quota_record(struct agent *, const char *model, const char *source,
    const char *msgid, const struct usage *);
void quota_proxy_listen(const char *addr);
void quota_subscription(const char *type, const char *status, int64_t resets_at,
    json_t *utilization);
int64_t usage_counted(const struct usage *);
int quota_priced(const char *model); /* [prices] has it, or its alias */
double quota_usd(const char *model, const struct usage *);
int64_t quota_remaining(void); /* -1: no token limit configured */
int64_t quota_proxy_wait(char *why, size_t len);
struct quota_held {
	int64_t tokens;
	double usd;
};
void quota_estimate(
    const char *model, int64_t in, int64_t out, struct quota_held *);
void quota_hold(const struct quota_held *, int sign);
int64_t quota_cap_for(struct job *, int running);
int quota_spawn_open(void);
const char *quota_pause_reason(void);
json_t *quota_json(void);
json_t *quota_agent_json(int64_t agent);
void quota_usage_restore(struct agent *);
json_t *quota_per_minute_json(int64_t agent); /* the last ten minutes */
/* What one agent's records of one model cost (swarmctl cost). */
struct quota_cost {
	int64_t agent; /* 0: the triage hook */
	int64_t job;   /* 0: none */
	const char *chunk;
	const char *model; /* NULL: none named */
	struct usage use;
	double usd;
	int priced; /* 0: the model has no price, usd is unknown */
};
typedef void (*quota_cost_cb)(void *, const struct quota_cost *);
void quota_cost_each(int64_t agent, int64_t since, quota_cost_cb, void *);
/* For the metrics: the views that are set, and spend since start. */
struct quota_view {
	const char *name;   /* tokens_per_minute, window, daily_usd */
	double limit, used; /* tokens or USD */
	double refill_s;    /* until the use falls back by a slice */
};
int quota_views(struct quota_view v[4]);
void quota_spend_each(void (*cb)(int64_t job, const char *model,
                          const struct usage *, double usd, void *),
    void *arg);

/* ---- output.c: agents' output, followed as it is written ---- */
void output_init(void);
void output_free(void);
void output_watch(struct agent *);
void output_unwatch(struct agent *);
void output_read(struct agent *);

/* ---- usage.c: the API's usage object, in either API's shape ---- */
int usage_parse(json_t *, struct usage *);
int usage_parse_openai(json_t *, struct usage *);

/* ---- evlog.c: the append-only event log ---- */
/* Append an event; EXTRA (may be NULL) is stolen and merged into it. */
int64_t evlog_add(const char *name, int64_t job, const char *chunk,
    int64_t agent, int attempt, json_t *extra);
/* events: a page's default and largest number of events, and its data. */
#define EVENTS_PAGE 1000
#define EVENTS_LIMIT_MAX 10000
#define EVENTS_PAGE_BYTES (4 * 1024 * 1024)
/* What an events listing or follower keeps; zero members match all. */
struct evlog_filter {
	int64_t job;
	int64_t agent;
	const char *type; /* an event's name */
	int64_t since;    /* wall ms */
};
json_t *evlog_list_json(const struct evlog_filter *, const int64_t *after,
    int64_t limit, int *more);
json_t *evlog_pending_json(int64_t job);
json_t *evlog_heartbeats_json(int64_t agent);
json_t *evlog_verdicts_json(int64_t job, const char *chunk);
json_t *evlog_get(int64_t seq); /* NULL: no such event */
/* A new event, as its subscribers are told of it. */
struct evlog_entry {
	int64_t seq;
	const char *name;
	int64_t job; /* 0: none */
	const char *chunk;
	int64_t agent;    /* 0: none */
	int attempt;      /* 0: none */
	const char *data; /* its other members, compact JSON; may be NULL */
};
typedef void (*evlog_cb)(const struct evlog_entry *, void *arg);
void evlog_subscribe(evlog_cb, void *arg);
void evlog_unsubscribe(evlog_cb, void *arg);
int64_t evlog_progress_latest(int64_t agent); /* wall ms, 0 none */
int evlog_match(const struct evlog_filter *, const struct evlog_entry *);

/* ---- jobspec.c: job file validation ---- */
struct jobspec {
	char *name;
	json_t *command; /* array of strings */
	char *workdir;   /* NULL: a fresh dir under the state dir */
	json_t *env;     /* object of strings */
	int concurrency;
	int timeout;
	json_t *chunks;           /* array of {"id","task"} */
	int64_t per_agent_tokens; /* worst case per agent; 0 unknown */
	json_t *stagger;          /* {"batch", "interval"} or NULL */
	int cap_signal;           /* SIGUSR1 at 80% of the cap */
	json_t *result;           /* {"path", "schema"} or NULL */
	json_t *worktree;         /* {"repo", "base", ...} or NULL */
	json_t *gates;            /* [{"name", "command", "timeout"}] or NULL */
	int gate_retries;         /* -1: [retries] gate */
	json_t *merge;            /* {"into", "mode", ...} or NULL */
	json_t *preset; /* {"agent", "session_resume"}, as given (claude.c) */
};
/* Validate J.  Returns 0, or -1 with one "path: message" per problem. */
int jobspec_parse(
    json_t *j, int default_concurrency, struct jobspec *, json_t *problems);
void jobspec_free(struct jobspec *);
char *jobspec_expand(const char *tmpl, const char *task, const char *chunk,
    const char *job, const char *agent, json_t *fields);

/* ---- child.c: children that are not agents, told how they end ---- */
typedef void (*child_cb)(pid_t, int status, void *arg);
void child_watch(pid_t, child_cb, void *arg);
int child_reaped(pid_t, int status); /* 1: it was watched, and told */
void child_forget(pid_t);

/* ---- git.c: running the git program off the loop ---- */
struct git_result {
	int exit;      /* exit status; -1 if it did not exit */
	int signal;    /* the signal that ended it, or 0 */
	int timed_out; /* killed after GIT_TIMEOUT */
	int truncated; /* stdout past GIT_OUT_MAX was not read */
	const char *out;
	size_t outlen;
	const char *err; /* the end of its stderr */
};
typedef void (*git_cb)(const struct git_result *, void *arg);
struct git_run;
struct git_run *git_run(const char *dir, const char *const *args,
    const char *const *extra, git_cb, void *arg, char *err, size_t errlen);
void git_cancel(struct git_run *);
void git_detach(struct git_run *);

/* ---- git-worktree.c: a chunk's branch, worktree and snapshots ---- */
typedef void (*gitwt_cb)(int ok, const char *err, const char *out, void *);
struct gitwt;
struct gitwt *gitwt_add(const char *repo, const char *base, const char *branch,
    const char *path, const char *reason, int fresh, gitwt_cb, void *arg);
struct gitwt *gitwt_remove(
    const char *repo, const char *path, int force, gitwt_cb, void *arg);
struct gitwt *gitwt_snapshot(
    const char *path, const char *ref, const char *msg, gitwt_cb, void *arg);
void gitwt_cancel(struct gitwt *);

/* ---- git-merge.c: the merge queue's git ---- */
struct gitmg_result {
	int ok;    /* 0: err says why */
	int moved; /* gitmg_land: the target was not OLD any more */
	int yes;   /* gitmg_contains */
	const char *err;
	const char *commit; /* gitmg_head, gitmg_stack: the commit */
	const char *orig;   /* gitmg_stack: the branch's own head */
	json_t *conflicts;  /* gitmg_stack: {"paths", "diff"}, or NULL */
};
typedef void (*gitmg_cb)(const struct gitmg_result *, void *arg);
struct gitmg;
struct gitmg *gitmg_head(const char *repo, const char *target,
    const char *remote, gitmg_cb, void *arg);
struct gitmg *gitmg_reset(const char *repo, const char *path,
    const char *commit, gitmg_cb, void *arg);
struct gitmg *gitmg_stack(const char *path, const char *mode,
    const char *branch, const char *onto, const char *msg, gitmg_cb, void *arg);
struct gitmg *gitmg_land(const char *repo, const char *target,
    const char *remote, const char *commit, const char *old, gitmg_cb,
    void *arg);
struct gitmg *gitmg_adopt(const char *repo, const char *path,
    const char *branch, const char *commit, const char *keep, gitmg_cb,
    void *arg);
struct gitmg *gitmg_contains(const char *repo, const char *target,
    const char *remote, const char *commit, gitmg_cb, void *arg);
void gitmg_detach(struct gitmg *);
int gitmg_running(const char *path);

/* ---- worktree.c: the records of the agents' work ---- */
enum wt_state {
	WT_INVALID = -1,
	WT_PREPARING,
	WT_RUNNING,
	WT_SETTLING,
	WT_KEPT,
	WT_REMOVING,
	WT_REMOVED,
	WT_NSTATES
};
enum wt_input {
	WI_PREPARE,
	WI_READY,
	WI_END,
	WI_SETTLED,
	WI_REMOVE,
	WI_GONE,
	WT_NINPUTS
};
enum wt_action { WA_NONE, WA_ATTEMPT, WA_MADE, WA_UNMADE };
struct wt_row {
	int64_t job;
	char *chunk, *repo, *path, *branch, *base;
	char *remote; /* its branches count as kept too; or NULL */
	enum wt_state state;
	int made; /* added and checked once: reused from then on */
	int64_t agent;
	int attempt;
};
struct wt_commit {
	const char *id, *chunk, *author, *subject;
	const char *landed; /* the target a merge round made it on, or NULL */
	int64_t job, agent, at;
	int attempt;
};
int worktree_next(enum wt_state, enum wt_input);
const char *worktree_state_name(enum wt_state);
int worktree_get(int64_t job, const char *chunk, struct wt_row *);
void worktree_row_free(struct wt_row *);
void worktree_each(
    int64_t job, void (*)(const struct wt_row *, void *), void *arg);
int64_t worktree_branch_owner(const char *repo, const char *branch);
int worktree_claim(const struct wt_row *);
int worktree_apply(
    int64_t job, const char *chunk, enum wt_input, int64_t agent, int attempt);
void worktree_snapshot_add(int64_t job, const char *chunk, int attempt,
    int64_t agent, const char *ref, const char *commit);
char *worktree_snapshot_latest(int64_t job, const char *chunk);
json_t *worktree_snapshots_json(int64_t job, const char *chunk);
void worktree_commit_add(const struct wt_commit *);
json_t *worktree_commits_json(int64_t job, const char *chunk);
json_t *worktree_blame_json(const char *prefix);

/* ---- merge.c: the merge queues' records ---- */
enum merge_state {
	MS_INVALID = -1,
	MS_QUEUED,
	MS_TESTING,
	MS_LANDING,
	MS_MERGED,
	MS_REJECTED,
	MS_DROPPED,
	MS_NSTATES
};
enum merge_input {
	MI_TAKE,
	MI_LAND,
	MI_LANDED,
	MI_BACK,
	MI_REJECT,
	MI_DROP,
	MI_NINPUTS
};
enum merge_action { MA_NONE, MA_TIP, MA_ROUND };
struct merge_row {
	int64_t id, job;
	char *chunk, *repo, *target;
	enum merge_state state;
	int rounds;
	int64_t queued;
	char *tip, *old; /* as stacked: its commit, on the target's old one */
	char *result;
};
int merge_next(enum merge_state, enum merge_input);
const char *merge_state_name(enum merge_state);
void merge_row_free(struct merge_row *);
int64_t merge_enqueue(int64_t job, const char *chunk, const char *repo,
    const char *target, int priority);
int merge_apply(int64_t id, enum merge_input, const char *tip, const char *old,
    const char *result);
size_t merge_head(const char *repo, const char *target, const char *state,
    struct merge_row *, size_t limit);
void merge_queues_each(void (*)(const char *repo, const char *target,
                           int paused, int64_t live, void *),
    void *arg);
int merge_queue_paused(const char *repo, const char *target);
int merge_set_paused(const char *target, int paused);
json_t *merge_list_json(int all);
void merge_set_adopted(int64_t id, int adopted);
void merge_unadopted_each(
    void (*)(const struct merge_row *, void *), void *arg);

/* ---- keeper.c: the agents' work kept: worktrees driven around attempts ---- */
typedef void (*keeper_cb)(struct agent *, int ok, const char *err, void *);
typedef void (*keeper_done_cb)(json_t *rows, void *arg);
typedef void (*keeper_check_cb)(const char *err, void *arg);
struct job;
struct batch;
int keeper_init(char *err, size_t errlen);
void keeper_start(void);
void keeper_free(void);
int keeper_wants(const struct job *);
int keeper_claim(struct agent *, char *err, size_t errlen);
void keeper_prepare(struct agent *, keeper_cb, void *arg);
void *keeper_cancel(struct agent *);
char **keeper_env(const struct agent *, char **dir);
void keeper_ended(const struct agent *);

/* ---- keeper-merge.c: the merge queues ---- */
void keeper_merge_start(void);
void keeper_merge_free(void);
void keeper_merge_kick(void);
void keeper_merge_check(void);
int keeper_merge_pause(const char *target, int paused);

/* ---- keeper-clean.c: worktrees surveyed, removed, checked at submit ---- */
struct batch *keeper_survey(
    int64_t job, int clean, int force, keeper_done_cb, void *arg);
void keeper_forget(struct batch *);
void keeper_check(
    json_t *spec, json_t *merge, json_t *chunks, keeper_check_cb, void *arg);

/* ---- gate.c: running one gate off the loop ---- */
typedef void (*gate_cb)(int status, int timed_out, void *arg);
struct gate_run;
struct gate_run *gate_run(const char *dir, char *const *argv, char *const *env,
    const char *log, int timeout, gate_cb, void *arg, char *err, size_t errlen);
void gate_cancel(struct gate_run *);
int gate_running(pid_t);

/* ---- proc.c: process groups ---- */
int proc_signal_group(pid_t, int sig);
int proc_group_alive(pid_t);
long long proc_start_time(pid_t);
const char *proc_stat_fields(pid_t, char *buf, size_t len);
#define PROC_ENV_MAX (4 * 1024 * 1024) /* more is not an environment */
char *proc_environ(pid_t, size_t *len);
const char *proc_env_value(const char *env, size_t len, const char *name);
void proc_spawn_attr(posix_spawnattr_t *);
pid_t proc_find_env(const char *name, const char *value, const char *socket);
pid_t proc_find_agent(int64_t id, const char *socket);

/* ---- claude.c: the claude-code preset ---- */
int claude_preset(const struct job *);
int claude_args(
    struct job *, struct agent *, json_t *argv, char *err, size_t errlen);
void claude_session(struct agent *, const char *session);
void claude_exit_check(struct agent *, enum agent_exit);

/* ---- spawn.c ---- */
struct spawn_req {
	struct agent *agent;
	const char *task;
	char *checkpoint;         /* SWARM_CHECKPOINT, or NULL */
	char *rejection;          /* SWARM_REJECTION, or NULL */
	char *dir;                /* its worktree, or NULL: the job's workdir */
	char **env;               /* NAME=value its worktree adds, or NULL */
	const char *proxy;        /* the proxy's address, or NULL when off */
	const char *proxy_socket; /* and its Unix socket, or NULL */
	char token[65];           /* hex; handed to the child, never stored */
	char proxy_key[65];       /* the same, for the proxy alone */
	char error[256];          /* why the spawn failed */
	int report;               /* the shim's pipe until spawn_wait(); -1 */
};
int spawn_agent(struct spawn_req *);
int spawn_wait(struct spawn_req *);
void spawn_token(char token[65]);
int spawn_init(char *err, size_t errlen);
void spawn_reload(void);
void spawn_free(void);
int spawn_status_read(struct agent *, int *status);
void spawn_status_forget(const struct agent *);
void spawn_status_committed(void *);
void spawn_status_sweep(void);

/* ---- job.c and scheduler.c ---- */
struct job {
	int64_t id;
	char *name;
	json_t *spec; /* the stored job document */
	char *workdir;
	int concurrency;
	int timeout;
	int paused;
	int aborted; /* abort asked: ends "aborted" */
	int running; /* live agents */

	/* The ramp (stagger.c). */
	int ramp_level;       /* agents it may run now */
	int64_t ramp_step_at; /* mono ms the current step began */
	int64_t ramp_first;   /* first agent of the step; 0 none yet */
	int ramp_halted;
	char halt_reason[256];
	TAILQ_ENTRY(job) entry;
};
TAILQ_HEAD(jobs, job);
extern struct jobs active_jobs;

void scheduler_init(void);
void scheduler_kick(void); /* schedule soon, once per loop turn */
struct job *job_find(int64_t);
int job_parse_id(const char *, int64_t *);
int64_t job_submit(struct jobspec *, char *err, size_t errlen);
void job_load_all(void);
struct job *job_reopen(int64_t);
void job_check_done(struct job *);
int agent_abort(struct agent *, double grace, const char *reason);
int agent_abort_as(
    struct agent *, double grace, const char *reason, enum agent_end);
int agent_preparing(const struct agent *);
void scheduler_reap(void);
void scheduler_flush_seen(void);
int scheduler_live(void);
void scheduler_stop(double grace);
void scheduler_adopted(struct agent *);
void agent_finish(
    struct agent *, enum agent_exit, int code, int sig, const char *exited);
void agent_exited(struct agent *, int status);
void agent_arm_timeout(struct agent *, int64_t elapsed_ms);
void scheduler_free(void);
void job_free(struct job *);
void job_set_hooks(void (*added)(struct job *), void (*runnable)(void));
json_t *job_list_json(const char *state); /* NULL: every job */
json_t *job_show_json(int64_t id);        /* NULL: no such job */
char *job_state(int64_t id);              /* NULL: no such job */
int job_exists(int64_t id);
void job_set_paused(struct job *, int paused);

/* ---- recover.c: agents found again at start ---- */
void recover_agents(void);
void recover_ended(struct agent *);
int recover_result_ok(struct agent *, char *reason, size_t len);

/* ---- result.c: the result contract ---- */
void result_schema_check(json_t *schema, const char *path, json_t *problems);
int result_check(const char *path, json_t *schema, char *reason, size_t len);
char *result_path_for(struct job *, struct agent *);
int result_settle(
    struct agent *, struct job *, const char *path, char *reason, size_t len);

/* ---- checkpoint.c ---- */
char *checkpoint_resume_file(int64_t job, const char *chunk);
json_t *checkpoint_list_json(int64_t job, const char *chunk);
json_t *checkpoint_recent_json(int64_t job, const char *chunk);
int64_t checkpoint_add(struct agent *, const char *note, const void *data,
    size_t size, const char *path, const char *hex);
int64_t checkpoint_latest_seq(int64_t job, const char *chunk); /* 0 none */
/* Agent AGENT's latest checkpoint on the chunk; null when it kept none. */
json_t *checkpoint_of_agent_json(int64_t job, const char *chunk, int64_t agent);

/* ---- watchdog.c: tier 1, and carrying out verdicts ---- */
enum watch_phase {
	W_WATCH,     /* running, under the rules */
	W_TRIAGE,    /* suspect, the hook is deciding */
	W_HANDOFF,   /* asked for a checkpoint before a restart */
	W_ESCALATED, /* suspect, waiting for a person */
	W_DONE,      /* being restarted or killed */
	W_NPHASES,
	W_INVALID = -1
};
enum watch_input {
	WI_RULE,          /* a tier 1 rule fired; the hook is asked */
	WI_RULE_NO_HOOK,  /* ... and there is no hook: a person is */
	WI_LIFE,          /* the suspect showed life or progress again */
	WI_TRIAGE_FAILED, /* the hook gave no verdict */
	WI_CONTINUE,      /* this and the next five: a verdict or a person */
	WI_NUDGE,
	WI_RESTART,
	WI_KILL,
	WI_HANDOFF,
	WI_ESCALATE,
	WI_HANDOFF_ENDED, /* checkpointed, or out of time */
	W_NINPUTS
};
struct watch;
int watch_next(enum watch_phase, enum watch_input);
const char *watch_phase_name(enum watch_phase);
const char *watch_input_name(enum watch_input);
void watchdog_init(void);
void watchdog_reload(void);
void watchdog_free(void);
void watchdog_started(struct agent *); /* rlimits, cgroup */
void watchdog_agent_free(struct agent *);
int64_t watchdog_context_window(const char *model);
int watchdog_act(
    struct agent *, const char *action, const char *message, const char *why);
/* What each tier did since start, and the live agents by phase. */
#define WD_NRULES 3    /* stalled, zombie, context_exhausted */
#define WD_NVERDICTS 7 /* continue ... escalate, and none (no verdict) */
struct watchdog_counts {
	int64_t phase[W_NPHASES];
	int64_t rules[WD_NRULES];       /* tier 1 */
	int64_t verdicts[WD_NVERDICTS]; /* tier 2 */
};
void watchdog_counts(struct watchdog_counts *);
const char *watchdog_rule_name(int);
const char *watchdog_verdict_name(int);

/* ---- limits.c: rlimits and cgroup limits on agents ---- */
void limits_init(void);
void limits_reload(void);
void limits_free(void);
int limits_apply(struct agent *); /* 1: placed in a cgroup */
void limits_release(struct agent *);
int64_t limits_cgroup_agent(pid_t);
json_t *limits_cgroup_hits(const char *);

/* ---- triage.c: tier 2, the triage hook ---- */
struct verdict {
	char *state;   /* working|stalled|zombie|confused|context_exhausted */
	char *action;  /* continue|nudge|restart|handoff|kill|escalate */
	char *message; /* for nudge; may be NULL otherwise */
	char *reason;
};
struct triage;
/* The hook's answer: V, or NULL with FAILURE; INFO is the run's record. */
typedef void (*triage_cb)(
    void *arg, const struct verdict *v, const char *failure, json_t *info);
int verdict_parse(
    const char *buf, size_t len, struct verdict *, char *err, size_t errlen);
void verdict_free(struct verdict *);
json_t *verdict_json(const struct verdict *);
json_t *triage_document(struct agent *, json_t *tier1);
struct triage *triage_start(
    const char *hook, json_t *doc, double timeout, triage_cb, void *arg);
void triage_cancel(struct triage *);
int triage_reaped(pid_t, int status);
void triage_free_all(void);

/* ---- curlev.c: libcurl's multi interface on the event loop ---- */
typedef void (*curlev_done_cb)(void *easy, int curlcode, void *arg);
void curlev_add(void *easy, curlev_done_cb, void *arg);
void curlev_remove(void *easy);
void curlev_free(void);

/* ---- pace.c: an upstream's buckets, as the proxy learns them ---- */
enum {
	PACE_REQUESTS,
	PACE_TOKENS,
	PACE_INPUT,
	PACE_OUTPUT,
	PACE_ACCOUNT,
	PACE_N
};
enum { PACE_LIMIT, PACE_REMAINING, PACE_RESET }; /* a header's field */
struct pace_cost {
	double v[PACE_N];
};
struct pace_bucket {
	double limit; /* per minute */
	double level;
	int known;
};
struct pace {
	struct pace_bucket b[PACE_N];
	int64_t at;         /* mono ms of the last refill */
	double in_per_byte; /* counted input tokens per body byte */
	double out_avg;     /* output tokens an answer, -1 before any */
};
struct pace_seen { /* one answer's rate-limit headers */
	double limit[PACE_N];
	double remaining[PACE_N];
	int seen[PACE_N]; /* 1 limit, 2 remaining */
};
void pace_init(struct pace *, double account_per_minute, int64_t now);
void pace_account(struct pace *, double per_minute);
void pace_estimate(const struct pace *, size_t body_len, int64_t max_tokens,
    struct pace_cost *);
int64_t pace_wait(struct pace *, const struct pace_cost *, int64_t now);
void pace_charge(struct pace *, const struct pace_cost *, int sign);
int pace_header_name(const char *name, int *kind, int *field);
int pace_header(struct pace_seen *, const char *name, const char *value);
const char *pace_kind_name(int kind);
int pace_learn(struct pace *, const struct pace_seen *, int sole, int64_t now);
void pace_settle(struct pace *, const struct pace_cost *, const struct usage *,
    size_t body_len, int synced);
json_t *pace_json(const struct pace *);

/* ---- proxy.c: the metering proxy ---- */
int proxy_init(char *err, size_t errlen);
void proxy_reload(void);
void proxy_free(void);
const char *proxy_address(void); /* 127.0.0.1:PORT, or NULL when off */
const char *proxy_socket(void);  /* its Unix socket, or NULL */
char *proxy_hook_url(void);      /* the triage hook's base URL, or NULL */
json_t *proxy_json(void);
json_t *proxy_upstream_json(void);
struct proxy_stat {
	const char *upstream;
	int queued, inflight;
	int64_t requests, absorbed, refused; /* since start */
	const struct histo *added;           /* swarmd's added latency */
};
int proxy_stats(struct proxy_stat[], int max);
struct evhttp_request;
typedef void (*proxy_serve_cb)(struct evhttp_request *, void *);
int proxy_serve(const char *path, proxy_serve_cb, void *arg); /* -1: off */

/* ---- escalate.c: tier 3, the human ---- */
void escalate_init(void);
void escalate_free(void);
void escalate_check(void);
int64_t escalate_open(struct agent *, const char *state, const char *summary,
    json_t *evidence, json_t *tried, json_t *verdict);
int escalate_close(
    int64_t id, const char *action, const char *note, const char *outcome);
int64_t escalate_open_for(int64_t agent);
json_t *escalate_get(int64_t id);
json_t *escalate_list(int all);
int escalate_parse_id(const char *, int64_t *);
void escalate_counts(int64_t *opened_since_start, int64_t *open_now);

/* ---- route.c: failure routing ---- */
void route_failure(int64_t job, const char *chunk, enum fail_class,
    const char *reason, const char *rejection);
double route_backoff(int n, double base, double max);
void route_account(struct agent *, const char *reason);
void route_wake_at(int64_t due_wall_ms);
void route_free(void);

/* ---- stagger.c: the ramp of each job ---- */
void stagger_init(void);
void stagger_free(void);
void stagger_start(struct job *);
int stagger_allowed(struct job *);
void stagger_spawned(struct job *, struct agent *);
void stagger_check_all(void);
json_t *stagger_json(struct job *);

/* ---- server.c: the control socket ---- */
int server_listen(char *err, size_t errlen);
void server_close(void);
void client_reply(struct client *, json_t *id, json_t *body);
void client_error(struct client *, json_t *id, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int client_write_line(struct client *, json_t *);
int client_reply_text(
    struct client *, json_t *, const char *, struct evbuffer *);
void client_error_extra(struct client *, json_t *id, const char *code,
    json_t *extra, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void client_resume(struct client *);
void server_stop_accepting(void);
void client_set_release(
    struct client *, void (*)(struct client *, void *), void *);
json_t *server_error_json(
    json_t *id, const char *code, json_t *extra, char *msg);

/* ---- http.c: the web dashboard ---- */
int http_init(char *err, size_t errlen);
void http_free(void);

/* ---- http-sse.c: the dashboard's live feed ---- */
struct evhttp_request;
void http_sse_start(struct evhttp_request *, int64_t after, const char *peer);
void http_sse_init(void);
void http_sse_free(void);

/* ---- server-follow.c: events --follow ---- */
void server_follow_init(void);
void server_follow_free(void);
void evlog_follow(struct client *, json_t *id, const struct evlog_filter *);

/* ---- server-peer.c: who is at the other end of the socket ---- */
#define PEER_OUTSIDE 0    /* in no agent's process tree */
#define PEER_UNKNOWN (-1) /* cannot be told: no operator either */
int64_t peer_agent(pid_t);

/* ---- metrics.c: the Prometheus endpoint ---- */
int metrics_init(char *err, size_t errlen);
void metrics_free(void);
void metrics_write(struct evbuffer *); /* every figure, as text */

/* ---- verb.c: the verb table ---- */
#define V_OPERATOR 0x1 /* operators only */
#define V_AGENT 0x2    /* an agent acting on itself: needs auth */
#define V_ANY 0x4      /* anyone who can connect */

enum arg_type { A_STRING, A_INT, A_NUMBER, A_BOOL, A_OBJECT, A_ANY };
/* Limits of string arguments, in bytes (swarmd-protocol(7)). */
#define ARG_MAX_NAME 256   /* agent, job, chunk and model names */
#define ARG_MAX_PATH 4096  /* paths, as PATH_MAX */
#define ARG_MAX_NOTE 4096  /* notes and reasons */
#define ARG_MAX_TEXT 65536 /* messages and done summaries */
struct verb_arg {
	const char *name;
	enum arg_type type;
	int required;
	size_t max; /* A_STRING: the most bytes allowed */
};

struct verb_ctx {
	struct client *client;
	json_t *id;
	json_t *args;
	struct agent *self; /* V_AGENT verbs: the caller */
	int is_operator;
	int64_t peer;  /* the agent whose tree the peer is in, or PEER_* */
	json_t *reply; /* members of the success reply */
	const char *ecode;
	char emsg[512];
	json_t *edetail; /* extra members of the error object */
};

enum verb_rc { VERB_OK, VERB_ERROR, VERB_DEFERRED };

struct verb {
	const char *name;
	int flags;
	const struct verb_arg *args;
	enum verb_rc (*exec)(struct verb_ctx *);
};

void verb_dispatch(struct client *, int is_operator, int64_t peer, json_t *req);
int verb_check(struct verb_ctx *, json_t *req, const struct verb **);
json_t *verb_call(const char *name, json_t *args);
enum verb_rc verb_fail(struct verb_ctx *, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
const char *arg_str(struct verb_ctx *, const char *);
int arg_bool(struct verb_ctx *, const char *);
double arg_num(struct verb_ctx *, const char *, double dflt);
int verb_target_agent(struct verb_ctx *, const char *, int64_t *);
int verb_target_chunk(struct verb_ctx *, const char *, int64_t *, char **);

#define VERB_DECL(n) enum verb_rc verb_##n(struct verb_ctx *)
VERB_DECL(hello);
VERB_DECL(submit);
VERB_DECL(jobs);
VERB_DECL(show);
VERB_DECL(pause);
VERB_DECL(resume);
VERB_DECL(pending);
VERB_DECL(events);
VERB_DECL(ps);
VERB_DECL(abort);
VERB_DECL(send);
VERB_DECL(logs);
VERB_DECL(heartbeat);
VERB_DECL(recv);
VERB_DECL(checkpoint);
VERB_DECL(done);
VERB_DECL(report);
VERB_DECL(quota);
VERB_DECL(failed);
VERB_DECL(task);
VERB_DECL(dead);
VERB_DECL(retry);
VERB_DECL(escalations);
VERB_DECL(resolve);
VERB_DECL(worktrees);
VERB_DECL(clean);
VERB_DECL(blame);
VERB_DECL(merges);
VERB_DECL(merge);
VERB_DECL(cost);

/* ---- verb-cost.c: what the usage cost, by job, chunk, agent or model ---- */
json_t *cost_job_json(int64_t job); /* show job-N's totals */

/* ---- verb-job.c, verb-work.c: a submit finished after git answers ---- */
int verb_submit_store(
    json_t *reply, struct jobspec *, int dry_run, char *err, size_t errlen);
enum verb_rc verb_submit_worktree(struct verb_ctx *, struct jobspec *);

/* ---- prune.c, and the tables' owners it asks (store.c evlog.c job.c chunk.c agent.c mailbox.c quota.c checkpoint.c worktree.c merge.c escalate.c): retention ---- */
int64_t store_prune(const char *sql, int64_t key, int64_t limit, int dry);
int64_t evlog_prune_job(int64_t job, int64_t limit, int dry);
int64_t job_prune_next(int64_t after, int64_t cutoff);
int64_t job_prune(int64_t id, int dry, int64_t *bytes);
const char *chunk_prune_hold(int64_t job, int64_t cutoff);
int64_t chunk_prune_job(int64_t job, int64_t limit, int dry);
int64_t agent_prune_hold(int64_t job);
int64_t agent_prune_job(int64_t job, int64_t limit, int dry,
    void (*each)(int64_t, const char *, const char *, void *), void *arg);
int64_t mailbox_prune_agent(int64_t agent, int64_t limit, int dry);
int64_t quota_prune_agent(int64_t agent, int64_t limit, int dry);
int64_t checkpoint_prune_job(int64_t job, int64_t limit, int dry);
int64_t worktree_prune_hold(int64_t job);
int64_t worktree_prune_job(int64_t job, int64_t limit, int dry);
int64_t merge_prune_hold(int64_t job);
int64_t merge_prune_job(int64_t job, int64_t limit, int dry);
int64_t escalate_prune_hold(int64_t job);
int64_t escalate_prune_job(int64_t job, int64_t limit, int dry);
struct prune_run;
typedef void (*prune_cb)(json_t *report, void *arg); /* NULL: stopped */
struct prune_run *prune_start(
    double older_than, int dry, prune_cb cb, void *arg);
void prune_forget(struct prune_run *);
int prune_busy(int64_t job);
void prune_init(void);
void prune_free(void);

/* ---- verb-prune.c: the prune verb ---- */
enum verb_rc verb_prune(struct verb_ctx *);

/* ---- check.c ---- */
int check_statedir(const char *);

/* ---- swarmd.c ---- */
int swarmd_main(int, char **);

#endif
