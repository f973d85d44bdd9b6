/*
 * verb-self.c: the verbs an agent uses on itself: heartbeat, recv,
 * checkpoint, done, report, fail and task.  verb.c has already matched the
 * caller's token to ctx->self.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

enum verb_rc
verb_heartbeat(struct verb_ctx *ctx)
{
	struct agent *a = ctx->self;
	const char *note = arg_str(ctx, "note");

	a->last_seen = now_wall_ms();
	a->seen_dirty = 1;
	a->alive = 1;
	if (note != NULL) {
		store_begin_grouped();
		evlog_add("heartbeat", a->job, a->chunk, a->id, a->attempt,
		    json_pack("{s:s}", "note", note));
		store_commit_grouped();
	}
	return VERB_OK;
}

/* A recv --wait held until its agent's mailbox wakes it. */
struct recv_wait {
	struct client *client;
	json_t *id;
	struct waiter *waiter;
};

/* Answer with whatever is unread (possibly nothing), then go on reading. */
static void
recv_wake(struct agent *a, void *arg)
{
	struct recv_wait *r = arg;
	struct client *c = r->client;
	int more;
	json_t *reply = json_pack("{s:o}", "messages", mailbox_take(a, &more));

	if (more)
		json_object_set_new(reply, "more", json_true());
	client_reply(c, r->id, reply);
	json_decref(reply);
	client_set_release(c, NULL, NULL);
	json_decref(r->id);
	free(r);
	client_resume(c);
}

/* The client went away first. */
static void
recv_release(struct client *c, void *arg)
{
	struct recv_wait *r = arg;

	(void)c;
	mailbox_unwait(r->waiter);
	json_decref(r->id);
	free(r);
}

enum verb_rc
verb_recv(struct verb_ctx *ctx)
{
	struct recv_wait *r;
	struct agent *a = ctx->self;
	double wait = arg_num(ctx, "wait", 0);
	json_t *msgs;
	int more;

	a->last_seen = now_wall_ms();
	a->seen_dirty = 1;
	a->alive = 1;
	msgs = mailbox_take(a, &more);
	if (json_array_size(msgs) > 0 || wait <= 0) {
		json_object_set_new(ctx->reply, "messages", msgs);
		if (more)
			json_object_set_new(ctx->reply, "more", json_true());
		return VERB_OK;
	}
	json_decref(msgs);
	r = xcalloc(1, sizeof *r);
	r->client = ctx->client;
	r->id = json_incref(ctx->id);
	r->waiter = mailbox_wait(a, wait, recv_wake, r);
	client_set_release(ctx->client, recv_release, r);
	return VERB_DEFERRED;
}

/* Decode base64 (RFC 4648, padded) into a new buffer; NULL if malformed. */
static uint8_t *
base64_decode(const char *in, size_t *outlen)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                            "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), i, o = 0;
	uint32_t acc = 0;
	uint8_t *out;
	const char *p;
	int bits = 0, pad = 0;

	if (n % 4 != 0)
		return NULL;
	out = xmalloc(n / 4 * 3 + 1);
	for (i = 0; i < n; i++) {
		if (in[i] == '=' && i >= n - 2) {
			pad++;
			continue;
		}
		if (pad > 0 || in[i] == '\0' ||
		    (p = strchr(alpha, in[i])) == NULL) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)(p - alpha);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	*outlen = o;
	return out;
}

/*
 * A checkpoint kept by path, answered once its file is hashed: a slice
 * per turn of the loop (file_hash_start), so a large file holds no one
 * else up.
 */
struct ckpt_wait {
	struct client *client;
	json_t *id;
	int64_t agent;
	char *note;
	char *path;
	char hex[2 * SHA256_LEN + 1];
	struct file_hash *hash;
};

static void
ckpt_wait_free(struct ckpt_wait *w)
{
	json_decref(w->id);
	free(w->note);
	free(w->path);
	free(w);
}

/* The client went away first: stop hashing, keep nothing. */
static void
ckpt_release(struct client *c, void *arg)
{
	struct ckpt_wait *w = arg;

	(void)c;
	file_hash_cancel(w->hash);
	ckpt_wait_free(w);
}

/* Keep the checkpoint if the file is what its agent said it is. */
static void
ckpt_hashed(const uint8_t *digest, off_t size, const char *err, void *arg)
{
	struct ckpt_wait *w = arg;
	struct client *c = w->client;
	struct agent *a = agent_find(w->agent);
	char text[2 * SHA256_LEN + 1] = "";
	json_t *reply;
	size_t i;

	for (i = 0; digest != NULL && i < SHA256_LEN; i++)
		snprintf(text + 2 * i, 3, "%02x", digest[i]);
	if (err != NULL)
		client_error(c, w->id, SWARM_E_BAD_ARGS, "checkpoint: %s", err);
	else if (strcmp(text, w->hex) != 0)
		client_error(c, w->id, SWARM_E_BAD_ARGS,
		    "checkpoint: %s does not match its sha256", w->path);
	else if (a == NULL)
		client_error(c, w->id, SWARM_E_CONFLICT,
		    "checkpoint: agent-%lld has ended", (long long)w->agent);
	else {
		a->last_seen = now_wall_ms();
		a->seen_dirty = 1;
		a->alive = 1;
		reply = json_pack("{s:I}", "checkpoint",
		    (json_int_t)checkpoint_add(
		        a, w->note, NULL, (size_t)size, w->path, w->hex));
		client_reply(c, w->id, reply);
		json_decref(reply);
	}
	ckpt_wait_free(w);
	client_resume(c);
}

/* Check what can be checked at once, then hash the file off this turn. */
static enum verb_rc
checkpoint_by_path(struct verb_ctx *ctx, const char *path, const char *hex)
{
	const char *note = arg_str(ctx, "note");
	struct ckpt_wait *w;
	char err[512];

	if (*path != '/' || hex == NULL || strlen(hex) != 2 * SHA256_LEN)
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "checkpoint: a path must be absolute and come with its sha256");
	w = xcalloc(1, sizeof *w);
	w->hash = file_hash_start(
	    path, FILE_CHECKPOINT, ckpt_hashed, w, err, sizeof err);
	if (w->hash == NULL) {
		free(w);
		return verb_fail(ctx, SWARM_E_BAD_ARGS, "checkpoint: %s", err);
	}
	w->client = ctx->client;
	w->id = json_incref(ctx->id);
	w->agent = ctx->self->id;
	w->note = note != NULL ? xstrdup(note) : NULL;
	w->path = xstrdup(path);
	memcpy(w->hex, hex, sizeof w->hex);
	client_set_release(ctx->client, ckpt_release, w);
	return VERB_DEFERRED;
}

enum verb_rc
verb_checkpoint(struct verb_ctx *ctx)
{
	struct agent *a = ctx->self;
	const char *note = arg_str(ctx, "note");
	const char *data = arg_str(ctx, "data");
	const char *encoding = arg_str(ctx, "encoding");
	const char *path = arg_str(ctx, "path");
	size_t size = data != NULL ? strlen(data) : 0;
	uint8_t *decoded = NULL;
	int64_t seq;

	if (path != NULL && data != NULL)
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "checkpoint: data or path, not both");
	if (encoding != NULL && strcmp(encoding, "base64") != 0)
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "checkpoint: encoding must be \"base64\" or absent");
	if (path != NULL)
		return checkpoint_by_path(ctx, path, arg_str(ctx, "sha256"));
	if (encoding != NULL && data != NULL &&
	    (decoded = base64_decode(data, &size)) == NULL)
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "checkpoint: data is not valid base64");
	if (size > (size_t)srv.cfg.checkpoint_max) {
		free(decoded);
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "checkpoint: %zu bytes is over [store] checkpoint_max (%lld); send it by path",
		    size, srv.cfg.checkpoint_max);
	}
	a->last_seen = now_wall_ms();
	a->seen_dirty = 1;
	a->alive = 1;
	seq = checkpoint_add(a, note,
	    decoded != NULL ? (const void *)decoded : (const void *)data, size,
	    NULL, NULL);
	free(decoded);
	json_object_set_new(ctx->reply, "checkpoint", json_integer(seq));
	return VERB_OK;
}

/*
 * The explicit rejoin: the result is validated, the completion recorded,
 * and only then acknowledged.  A result that fails its contract is
 * refused with the reasons and nothing is recorded: the agent may fix it
 * and call done again.
 */
enum verb_rc
verb_done(struct verb_ctx *ctx)
{
	struct agent *a = ctx->self;
	const char *summary = arg_str(ctx, "summary");
	const char *result = arg_str(ctx, "result");
	const char *path = result != NULL ? result : a->result_path;
	char reason[1024];

	if (a->end == END_DONE)
		return verb_fail(ctx, SWARM_E_CONFLICT,
		    "agent-%lld has already reported done", (long long)a->id);
	if (agent_is_aborting(a))
		return verb_fail(ctx, SWARM_E_CONFLICT,
		    "agent-%lld is being aborted; its chunk will end aborted",
		    (long long)a->id);
	if (result_settle(a, job_find(a->job), path, reason, sizeof reason) ==
	    -1)
		return verb_fail(ctx, SWARM_E_INVALID_RESULT, "%s", reason);
	if (result == NULL || access(result, F_OK) == -1)
		path = agent_output_file(a);
	store_begin_grouped();
	if (chunk_complete(a, CI_EXIT_OK, FAIL_NONE, NULL, path,
	        json_pack("{s:s*, s:s}", "summary", summary, "via", "done")) ==
	    -1) {
		/* Nothing was written; others' grouped work stays. */
		store_commit_grouped();
		return verb_fail(
		    ctx, SWARM_E_CONFLICT, "chunk %s is not running", a->chunk);
	}
	agent_store_done(a, summary,
	    result != NULL && access(result, F_OK) == 0 ? result : NULL);
	store_commit_grouped();
	agent_end_set(a, END_DONE, NULL);
	a->alive = 1;
	a->last_seen = now_wall_ms();
	a->seen_dirty = 1;
	log_info("agent-%lld (job-%lld/%s) reported done", (long long)a->id,
	    (long long)a->job, a->chunk);
	return VERB_OK;
}

/* An agent's own account of tokens it spent outside its stream output. */
enum verb_rc
verb_report(struct verb_ctx *ctx)
{
	static const char *classes[] = { "input", "output", "cache_creation",
		"cache_read" };
	struct agent *a = ctx->self;
	const char *model = arg_str(ctx, "model");
	int64_t v[4];
	struct usage u;
	size_t i;

	for (i = 0; i < nitems(classes); i++) {
		json_t *n = json_object_get(ctx->args, classes[i]);

		v[i] = n != NULL ? json_integer_value(n) : 0;
		if (v[i] < 0 || v[i] > 1000000000000LL)
			return verb_fail(ctx, SWARM_E_BAD_ARGS,
			    "report: %s must be from 0 to 10^12", classes[i]);
	}
	u = (struct usage){ v[0], v[1], v[2], v[3] };
	if (model != NULL) {
		free(a->model);
		a->model = xstrdup(model);
	}
	store_begin_grouped();
	quota_record(a, a->model, "report", NULL, &u);
	store_commit_grouped();
	json_object_set_new(
	    ctx->reply, "counted", json_integer(usage_counted(&u)));
	return VERB_OK;
}

/*
 * The agent reports that its attempt failed, and its class: transient
 * (worth a retry) or account (its key or credit: swarmd asks a person,
 * route.c).  The agent says what happened; what follows is swarmd's.  It
 * takes effect when the agent exits.
 */
enum verb_rc
verb_failed(struct verb_ctx *ctx)
{
	struct agent *a = ctx->self;
	const char *reason = arg_str(ctx, "reason");
	const char *cls = arg_str(ctx, "class");
	int transient = arg_bool(ctx, "transient");
	enum agent_end e = transient ? END_FAILED_TRANSIENT : END_FAILED;

	if (cls != NULL && strcmp(cls, "transient") == 0)
		e = END_FAILED_TRANSIENT;
	else if (cls != NULL && strcmp(cls, "account") == 0 && !transient)
		e = END_FAILED_ACCOUNT;
	else if (cls != NULL)
		return verb_fail(ctx, SWARM_E_BAD_ARGS,
		    "fail: class must be transient or account%s",
		    transient ? " (account is not transient)" : "");
	if (a->end == END_DONE)
		return verb_fail(ctx, SWARM_E_CONFLICT,
		    "agent-%lld has already reported done", (long long)a->id);
	agent_end_set(a, e, reason);
	a->alive = 1;
	store_begin_grouped();
	evlog_add("failure_reported", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:b, s:s, s:s*}", "transient",
	        e == END_FAILED_TRANSIENT, "class",
	        e == END_FAILED_TRANSIENT   ? "transient" :
	            e == END_FAILED_ACCOUNT ? "account" :
	                                      "unknown",
	        "reason", reason));
	store_commit_grouped();
	return VERB_OK;
}

/*
 * The agent's own mandate: its chunk's task and latest checkpoints
 * (notes, not data), so that a hook can give them back to a session
 * that compacted its context away.  Nothing of any other agent.
 */
enum verb_rc
verb_task(struct verb_ctx *ctx)
{
	struct agent *a = ctx->self;

	json_object_set_new(
	    ctx->reply, "task", chunk_task_json(a->job, a->chunk));
	json_object_set_new(ctx->reply, "checkpoints",
	    checkpoint_recent_json(a->job, a->chunk));
	return VERB_OK;
}
