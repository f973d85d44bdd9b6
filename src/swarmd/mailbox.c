/*
 * mailbox.c: each agent's mailbox (the messages table) and the recv
 * calls waiting on it.  Mail is put in the sender's transaction and read
 * by the agent's recv; a recv --wait is answered when mail comes, when
 * the agent ends, or when its wait runs out.
 */
#include <stdlib.h>

#include "swarmd.h"

struct waiter {
	struct agent *agent;
	struct event *timer;
	mailbox_wake_cb wake;
	void *arg;
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

/*
 * Take the agent's unread messages, oldest first, and mark them read:
 * one page of at least one message and about MAIL_PAGE bytes of text, so
 * a full mailbox is not one huge reply.  *MORE: some are left unread.
 */
#define MAIL_PAGE (1024 * 1024)
json_t *
mailbox_take(struct agent *a, int *more)
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
	size_t bytes = 0;

	*more = 0;
	sqlite3_bind_int64(st, 1, a->id);
	while (store_step(st) == SQLITE_ROW) {
		if (bytes >= MAIL_PAGE) {
			*more = 1;
			break;
		}
		bytes += (size_t)sqlite3_column_bytes(st, 3);
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
	free(w);
}

/* Unlink the waiter, then tell its owner (which may end the agent). */
static void
waiter_wake(struct waiter *w)
{
	mailbox_wake_cb wake = w->wake;
	struct agent *a = w->agent;
	void *arg = w->arg;

	waiter_free(w);
	wake(a, arg);
}

static void
on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	waiter_wake(arg);
}

/*
 * Wait for mail to agent A: WAKE(A, ARG) is called once, when mail comes,
 * when the agent ends, or after WAIT seconds.  The returned waiter may be
 * cancelled before then with mailbox_unwait.
 */
struct waiter *
mailbox_wait(struct agent *a, double wait, mailbox_wake_cb wake, void *arg)
{
	struct waiter *w = xcalloc(1, sizeof *w);
	struct timeval tv;

	w->agent = a;
	w->wake = wake;
	w->arg = arg;
	w->timer = evtimer_new(srv.base, on_waiter_timeout, w);
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
	evtimer_add(w->timer, &tv);
	TAILQ_INSERT_TAIL(&a->waiters, w, entry);
	return w;
}

void
mailbox_unwait(struct waiter *w)
{
	waiter_free(w);
}

/* New mail, or the agent ended: wake its waiting recv calls. */
void
agent_deliver(struct agent *a)
{
	struct waiter *w;

	/*
	 * The head each time, no saved next: a woken owner may go on to end
	 * the agent, which wakes (frees) the others.  waiter_wake unlinks w;
	 * the analyzer cannot see it was the head.
	 */
	while ((w = TAILQ_FIRST(&a->waiters)) != NULL)
		waiter_wake(w); /* NOLINT(clang-analyzer-unix.Malloc) */
}

/* ---- retention (prune.c) ---- */

/* AGENT's mail: up to LIMIT messages deleted, or all counted with DRY. */
int64_t
mailbox_prune_agent(int64_t agent, int64_t limit, int dry)
{
	static const char del[] = "DELETE FROM messages WHERE seq IN "
	                          "(SELECT seq FROM messages WHERE agent = ?1 "
	                          "LIMIT ?2)";
	static const char cnt[] = "SELECT count(*) FROM messages "
	                          "WHERE agent = ?1";

	return store_prune(dry ? cnt : del, agent, limit, dry);
}
