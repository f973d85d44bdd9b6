/*
 * mailbox.c: each agent's mailbox (the messages table) and the recv
 * calls waiting on it.  Mail is put in the sender's transaction and read
 * by the agent's recv; a recv --wait is answered when mail comes, when
 * the agent ends, or when its wait runs out.
 */
#include <stdlib.h>

#include "swarmd.h"

struct waiter {
	struct client *client;
	json_t *id;
	struct agent *agent;
	struct event *timer;
	TAILQ_ENTRY(waiter) entry;
};

/*
 * Leave TEXT in the agent's mailbox, from SENDER ("operator" or
 * "swarmd"), in the caller's transaction; the caller wakes its readers
 * (agent_deliver) once it is committed.
 */
void
mailbox_put(struct agent *a, const char *sender, const char *text)
{
	static const char sql[] = "INSERT INTO messages (agent, ts, sender, "
	                          "text) VALUES (?, ?, ?, ?)";
	sqlite3_stmt *st = store_prepare(sql);

	sqlite3_bind_int64(st, 1, a->id);
	sqlite3_bind_int64(st, 2, now_wall_ms());
	sqlite3_bind_text(st, 3, sender, -1, SQLITE_STATIC);
	store_bind_text(st, 4, text);
	store_step(st);
	evlog_add("message_sent", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:I, s:s, s:s}", "message", (json_int_t)store_last_id(),
	        "from", sender, "text", text));
}

/* Take the agent's unread messages, oldest first, and mark them read. */
json_t *
mailbox_take(struct agent *a)
{
	static const char get[] = "SELECT seq, ts, sender, text FROM messages "
	                          "WHERE agent = ? AND delivered IS NULL "
	                          "ORDER BY seq";
	static const char mark[] = "UPDATE messages SET delivered = ? "
	                           "WHERE agent = ? AND delivered IS NULL "
	                           "AND seq <= ?";
	sqlite3_stmt *st = store_prepare(get);
	json_t *arr = json_array();
	int64_t last = 0;

	sqlite3_bind_int64(st, 1, a->id);
	while (store_step(st) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		json_array_append_new(arr,
		    json_pack("{s:I, s:o, s:o, s:o}", "seq", (json_int_t)last,
		        "ts", store_col_ts(st, 1), "from",
		        store_col_text(st, 2), "text", store_col_text(st, 3)));
	}
	sqlite3_reset(st);
	if (last == 0)
		return arr;
	store_begin_grouped();
	st = store_prepare(mark);
	sqlite3_bind_int64(st, 1, now_wall_ms());
	sqlite3_bind_int64(st, 2, a->id);
	sqlite3_bind_int64(st, 3, last);
	store_step(st);
	evlog_add("message_delivered", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:I, s:I}", "count", (json_int_t)json_array_size(arr),
	        "last", (json_int_t)last));
	store_commit_grouped();
	return arr;
}

/*
 * Mail an operator sent to an earlier attempt of the chunk that was never
 * read is about the chunk's work: it goes to the new attempt.
 */
void
mailbox_forward(struct agent *a)
{
	static const char sql[] = "UPDATE messages SET agent = ?1 "
	                          "WHERE delivered IS NULL AND "
	                          "sender = 'operator' AND agent IN "
	                          "(SELECT id FROM agents WHERE job = ?2 AND "
	                          "chunk = ?3 AND id != ?1)";
	sqlite3_stmt *st = store_prepare(sql);
	int n;

	sqlite3_bind_int64(st, 1, a->id);
	sqlite3_bind_int64(st, 2, a->job);
	store_bind_text(st, 3, a->chunk);
	store_step(st);
	if ((n = sqlite3_changes(store.db)) > 0)
		evlog_add("messages_forwarded", a->job, a->chunk, a->id,
		    a->attempt, json_pack("{s:i}", "count", n));
}

static void
waiter_free(struct waiter *w)
{
	TAILQ_REMOVE(&w->agent->waiters, w, entry);
	event_free(w->timer);
	json_decref(w->id);
	free(w);
}

/* Answer a waiting recv with whatever is unread (possibly nothing). */
static void
waiter_answer(struct waiter *w)
{
	struct client *c = w->client;
	json_t *r;

	r = json_pack("{s:o}", "messages", mailbox_take(w->agent));
	client_reply(c, w->id, r);
	json_decref(r);
	client_set_release(c, NULL, NULL);
	waiter_free(w);
	client_resume(c);
}

static void
on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	waiter_answer(arg);
}

static void
waiter_release(struct client *c, void *arg)
{
	(void)c;
	waiter_free(arg);
}

/* Hold client C's recv (request ID) until mail comes or WAIT seconds pass. */
void
mailbox_wait(struct agent *a, struct client *c, json_t *id, double wait)
{
	struct waiter *w = xcalloc(1, sizeof *w);
	struct timeval tv;

	w->client = c;
	w->id = json_incref(id);
	w->agent = a;
	w->timer = evtimer_new(srv.base, on_waiter_timeout, w);
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
	evtimer_add(w->timer, &tv);
	TAILQ_INSERT_TAIL(&a->waiters, w, entry);
	client_set_release(c, waiter_release, w);
}

/* New mail, or the agent ended: wake its waiting recv calls. */
void
agent_deliver(struct agent *a)
{
	struct waiter *w;

	/*
	 * The head each time, no saved next: answering resumes a client whose
	 * next verbs may end the agent, which answers (frees) the others.
	 * waiter_free unlinks w; the analyzer cannot see it was the head.
	 */
	while ((w = TAILQ_FIRST(&a->waiters)) != NULL)
		waiter_answer(w); /* NOLINT(clang-analyzer-unix.Malloc) */
}
