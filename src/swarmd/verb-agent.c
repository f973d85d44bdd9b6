/*
 * verb-agent.c: the operator verbs about agents and the quota: ps, abort,
 * send, logs and quota.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "swarmd.h"

#define LOG_CHUNK (128 * 1024) /* escaped, still well under a line */
#define LOG_POLL_MS 100

enum verb_rc
verb_ps(struct verb_ctx *ctx)
{
	const char *name = arg_str(ctx, "job");
	int64_t job = 0;

	struct evbuffer *text;

	if (name != NULL && job_parse_id(name, &job) == -1)
		return verb_fail(
		    ctx, SWARM_E_NOT_FOUND, "no such job: \"%.128s\"", name);
	/* Written as text and answered here (BENCHMARKS.md, "ps at 1,000
	 * live agents"): no reply tree for verb_dispatch to send. */
	text = evbuffer_new();
	agent_list_text(job, arg_bool(ctx, "all"), text);
	client_reply_text(ctx->client, ctx->id, "agents", text);
	evbuffer_free(text);
	return VERB_DEFERRED;
}

static void
reply_names(struct verb_ctx *ctx, const char *key, json_t *names)
{
	json_object_set_new(ctx->reply, key, names);
}

static json_t *
agent_name(int64_t id)
{
	char buf[32];

	snprintf(buf, sizeof buf, "agent-%lld", (long long)id);
	return json_string(buf);
}

static enum verb_rc
abort_agent(struct verb_ctx *ctx, int64_t id, double grace, const char *reason)
{
	struct agent *a = agent_find(id);
	char *state, *msg;

	if (a == NULL || (a->pid <= 0 && !agent_preparing(a))) {
		if ((state = agent_stored_state(id)) == NULL)
			return verb_fail(ctx, SWARM_E_NOT_FOUND,
			    "no such agent: agent-%lld", (long long)id);
		msg = xasprintf(
		    "agent-%lld already ended (%s)", (long long)id, state);
		json_object_set_new(ctx->reply, "message", json_string(msg));
		reply_names(ctx, "aborted", json_array());
		free(state);
		free(msg);
		return VERB_OK;
	}
	agent_abort(a, grace, reason);
	reply_names(ctx, "aborted", json_pack("[o]", agent_name(id)));
	msg = xasprintf(
	    "agent-%lld: abort requested; SIGTERM sent, SIGKILL after %g s",
	    (long long)id, grace);
	json_object_set_new(ctx->reply, "message", json_string(msg));
	free(msg);
	return VERB_OK;
}

/* Drop the queued chunks and those waiting to merge, then abort every
 * live agent of the job. */
static enum verb_rc
abort_job(struct verb_ctx *ctx, struct job *j, double grace, const char *reason)
{
	json_t *names = json_array();
	struct agent *a, *next;
	int64_t dropped;
	char *msg;

	j->aborted = 1;
	store_begin();
	dropped = chunk_drop_queued(j->id, "dropped: job aborted");
	/* Nothing more of it lands on a target. */
	dropped += chunk_abort_merging(j->id, "aborted: job aborted");
	evlog_add("job_aborted", j->id, NULL, 0, 0,
	    json_pack("{s:I, s:s*}", "dropped", (json_int_t)dropped, "reason",
	        reason));
	store_commit();
	log_notice("job-%lld: abort requested; %lld queued chunks dropped",
	    (long long)j->id, (long long)dropped);
	TAILQ_FOREACH_SAFE(a, &live_agents, entry, next) {
		if (a->job != j->id || (a->pid <= 0 && !agent_preparing(a)))
			continue;
		json_array_append_new(names, agent_name(a->id));
		agent_abort(a, grace, reason);
	}
	msg = xasprintf(
	    "job-%lld: %zu agents aborting, %lld queued chunks dropped",
	    (long long)j->id, json_array_size(names), (long long)dropped);
	reply_names(ctx, "aborted", names);
	json_object_set_new(ctx->reply, "dropped", json_integer(dropped));
	json_object_set_new(ctx->reply, "message", json_string(msg));
	free(msg);
	store_begin();
	job_check_done(j);
	store_commit();
	return VERB_OK;
}

/* Not active: an ended job, or none at all. */
static enum verb_rc
abort_ended_job(struct verb_ctx *ctx, int64_t id)
{
	char *state, *msg;

	if ((state = job_state(id)) == NULL)
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such job: job-%lld", (long long)id);
	msg = xasprintf("job-%lld already ended (%s)", (long long)id, state);
	json_object_set_new(ctx->reply, "message", json_string(msg));
	reply_names(ctx, "aborted", json_array());
	json_object_set_new(ctx->reply, "dropped", json_integer(0));
	free(state);
	free(msg);
	return VERB_OK;
}

enum verb_rc
verb_abort(struct verb_ctx *ctx)
{
	const char *target = arg_str(ctx, "target");
	const char *reason = arg_str(ctx, "reason");
	double grace = arg_num(ctx, "grace", srv.cfg.abort_grace);
	struct job *j;
	int64_t id;
	int rc;

	if ((rc = verb_target_agent(ctx, target, &id)) == 1)
		return abort_agent(ctx, id, grace, reason);
	if (rc == -1)
		return VERB_ERROR;
	if (job_parse_id(target, &id) == -1)
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such agent, chunk or job: \"%.128s\"", target);
	if ((j = job_find(id)) == NULL)
		return abort_ended_job(ctx, id);
	return abort_job(ctx, j, grace, reason);
}

enum verb_rc
verb_send(struct verb_ctx *ctx)
{
	const char *target = arg_str(ctx, "target");
	const char *text = arg_str(ctx, "text");
	json_t *names = json_array();
	struct agent *a, *next;
	int64_t id, job = 0;
	char *state;
	int rc;

	if ((rc = verb_target_agent(ctx, target, &id)) == -1) {
		json_decref(names);
		return VERB_ERROR;
	}
	if (rc == 1) {
		if ((a = agent_find(id)) == NULL || a->pid <= 0) {
			json_decref(names);
			if ((state = agent_stored_state(id)) == NULL)
				return verb_fail(ctx, SWARM_E_NOT_FOUND,
				    "no such agent: agent-%lld", (long long)id);
			verb_fail(ctx, SWARM_E_CONFLICT,
			    "agent-%lld has ended (%s); nothing was sent",
			    (long long)id, state);
			free(state);
			return VERB_ERROR;
		}
	} else if (job_parse_id(target, &job) == -1 || job_find(job) == NULL) {
		json_decref(names);
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such running agent, chunk or job: \"%.128s\"", target);
	}
	store_begin();
	TAILQ_FOREACH_SAFE(a, &live_agents, entry, next) {
		if (a->pid <= 0 || (job != 0 ? a->job != job : a->id != id))
			continue;
		mailbox_put(a, "operator", text);
		json_array_append_new(names, agent_name(a->id));
	}
	store_commit();
	TAILQ_FOREACH_SAFE(a, &live_agents, entry, next) {
		if (a->pid > 0 && (job != 0 ? a->job == job : a->id == id))
			agent_deliver(a);
	}
	reply_names(ctx, "sent", names);
	return VERB_OK;
}

/* Replace bytes that are not UTF-8 with '?', so any log fits in JSON. */
static void
utf8_scrub(unsigned char *s, size_t n)
{
	size_t i = 0, len, k;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		len = (s[i] & 0xe0) == 0xc0 ? 2 :
		    (s[i] & 0xf0) == 0xe0   ? 3 :
		    (s[i] & 0xf8) == 0xf0   ? 4 :
		                              0;
		for (k = 1; len != 0 && k < len; k++) {
			if (i + k >= n || (s[i + k] & 0xc0) != 0x80)
				len = 0;
		}
		if (len == 0 || (len == 2 && s[i] < 0xc2)) {
			s[i++] = '?';
			continue;
		}
		i += len;
	}
}

struct log_wait {
	struct client *client;
	json_t *id;
	int64_t agent;
	char *path;
	int64_t offset;
	int64_t deadline;
	struct event *timer;
};

/*
 * Read up to LOG_CHUNK from OFFSET, which counts what rotation cut from
 * the log's head ([spawn] log_max): reading from a place cut away reads
 * from the oldest line kept.  Says whether the agent is gone.
 */
static json_t *
log_read(const char *path, int64_t agent, int64_t offset)
{
	unsigned char *buf = xmalloc(LOG_CHUNK);
	int64_t dropped = agent_log_dropped(agent);
	int cut = offset < dropped; /* asked for a part cut away */
	ssize_t n = 0;
	json_t *r;
	int fd;

	if (cut)
		offset = dropped;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = pread(fd, buf, LOG_CHUNK, offset - dropped);
		close(fd);
	}
	if (n < 0)
		n = 0;
	/* The head was cut mid-line: start at the first whole line. */
	if (cut) {
		unsigned char *nl = memchr(buf, '\n', (size_t)n);

		if (nl != NULL) {
			offset += nl + 1 - buf;
			n -= nl + 1 - buf;
			memmove(buf, nl + 1, (size_t)n);
		}
	}
	/* Keep a multibyte character whole for the next read. */
	if (n == LOG_CHUNK) {
		ssize_t k = n;

		while (k > n - 4 && (buf[k - 1] & 0xc0) == 0x80)
			k--;
		if (k > 0 && buf[k - 1] >= 0xc0)
			n = k - 1;
	}
	utf8_scrub(buf, (size_t)n);
	r = json_pack("{s:s%, s:I, s:b, s:o}", "data", (const char *)buf,
	    (size_t)n, "offset", (json_int_t)offset + n, "ended",
	    agent_find(agent) == NULL, "agent", agent_name(agent));
	free(buf);
	return r;
}

static void
log_wait_free(struct log_wait *w)
{
	event_free(w->timer);
	json_decref(w->id);
	free(w->path);
	free(w);
}

static void
log_wait_release(struct client *c, void *arg)
{
	(void)c;
	log_wait_free(arg);
}

static void
on_log_poll(evutil_socket_t fd, short what, void *arg)
{
	struct log_wait *w = arg;
	struct client *c = w->client;
	struct stat sb;
	json_t *r;

	(void)fd;
	(void)what;
	if (stat(w->path, &sb) == 0 &&
	    sb.st_size + agent_log_dropped(w->agent) <= w->offset &&
	    agent_find(w->agent) != NULL && now_mono_ms() < w->deadline)
		return;
	r = log_read(w->path, w->agent, w->offset);
	client_reply(c, w->id, r);
	json_decref(r);
	log_wait_free(w);
	client_set_release(c, NULL, NULL);
	client_resume(c);
}

/*
 * Where the last LINES lines of the log at PATH start: read back a block
 * at a time to the LINES-th newline before the end (a final newline ends
 * the last line, it starts none).
 */
static int64_t
log_tail_offset(const char *path, int64_t lines)
{
	char *buf;
	int64_t pos, from, size, at = 0;
	ssize_t n, i;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	size = pos = lseek(fd, 0, SEEK_END);
	if (lines == 0) {
		close(fd);
		return size;
	}
	buf = xmalloc(LOG_CHUNK);
	while (pos > 0 && at == 0) {
		from = pos > LOG_CHUNK ? pos - LOG_CHUNK : 0;
		if ((n = pread(fd, buf, (size_t)(pos - from), from)) <= 0)
			break;
		for (i = n - 1; i >= 0; i--) {
			if (buf[i] == '\n' && from + i != size - 1 &&
			    --lines == 0) {
				at = from + i + 1;
				break;
			}
		}
		pos = from;
	}
	close(fd);
	free(buf);
	return at; /* 0: the log has no more lines than that */
}

enum verb_rc
verb_logs(struct verb_ctx *ctx)
{
	const char *name = arg_str(ctx, "agent");
	json_t *off = json_object_get(ctx->args, "offset");
	json_t *tail = json_object_get(ctx->args, "tail");
	int64_t offset = off != NULL ? json_integer_value(off) : 0;
	double wait = arg_num(ctx, "wait", 0);
	struct timeval tv = { 0, LOG_POLL_MS * 1000 };
	struct log_wait *w;
	struct stat sb;
	char *path;
	int64_t id;
	json_t *r;
	int rc;

	if ((rc = verb_target_agent(ctx, name, &id)) == -1)
		return VERB_ERROR;
	if (rc == 0)
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such agent or chunk: \"%.128s\" (expected agent-N or job-N/CHUNK)",
		    name);
	if (tail != NULL && (off != NULL || json_integer_value(tail) < 0))
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "logs: \"tail\" is a count of lines from 0, without \"offset\"");
	if ((path = agent_log_path(id)) == NULL)
		return verb_fail(ctx, SWARM_E_NOT_FOUND,
		    "no such agent, or it never started: agent-%lld",
		    (long long)id);
	if (tail != NULL)
		offset = log_tail_offset(path, json_integer_value(tail));
	/* 0 is all of it: from the first whole line when the head was cut. */
	if (tail != NULL && offset > 0)
		offset += agent_log_dropped(id);
	if (offset < 0)
		offset = 0;
	if (wait <= 0 || agent_find(id) == NULL ||
	    (stat(path, &sb) == 0 &&
	        sb.st_size + agent_log_dropped(id) > offset)) {
		r = log_read(path, id, offset);
		json_object_update(ctx->reply, r);
		json_decref(r);
		free(path);
		return VERB_OK;
	}
	w = xcalloc(1, sizeof *w);
	w->client = ctx->client;
	w->id = json_incref(ctx->id);
	w->agent = id;
	w->path = path;
	w->offset = offset;
	w->deadline = now_mono_ms() + (int64_t)(wait * 1000);
	w->timer = event_new(srv.base, -1, EV_PERSIST, on_log_poll, w);
	evtimer_add(w->timer, &tv);
	client_set_release(ctx->client, log_wait_release, w);
	return VERB_DEFERRED;
}

enum verb_rc
verb_quota(struct verb_ctx *ctx)
{
	json_t *q = quota_json();

	json_object_set_new(q, "upstream", proxy_upstream_json());
	json_object_set_new(q, "proxy_queues", proxy_json());
	json_object_update(ctx->reply, q);
	json_decref(q);
	return VERB_OK;
}
