/*
 * server-follow.c: events --follow.  A follower is a client that is sent
 * each new event as the event log writes it, until it goes away; this
 * file subscribes to the event log for them.
 */
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

struct follower {
	struct client *client;
	json_t *id;
	struct evlog_filter filter;
	char *type; /* the filter's, owned */
	TAILQ_ENTRY(follower) entry;
};
static TAILQ_HEAD(, follower) followers = TAILQ_HEAD_INITIALIZER(followers);

static void
follow_event(const struct evlog_entry *e, void *arg)
{
	struct follower *f, *next;
	json_t *ev;

	(void)arg;
	/* No one follows: not even the row is read back. */
	if (TAILQ_EMPTY(&followers) || (ev = evlog_get(e->seq)) == NULL)
		return;
	TAILQ_FOREACH_SAFE(f, &followers, entry, next) {
		json_t *line;

		if (!evlog_match(&f->filter, e))
			continue;
		line = json_pack("{s:O, s:O}", "id", f->id, "event", ev);
		client_write_line(f->client, line);
		json_decref(line);
	}
	json_decref(ev);
}

static void
follow_release(struct client *c, void *arg)
{
	struct follower *f = arg;

	(void)c;
	TAILQ_REMOVE(&followers, f, entry);
	json_decref(f->id);
	free(f->type);
	free(f);
}

/* C gets every new event FILTER lets through until it goes away. */
void
evlog_follow(struct client *c, json_t *id, const struct evlog_filter *filter)
{
	struct follower *f = xcalloc(1, sizeof *f);

	f->client = c;
	f->id = json_incref(id);
	f->filter = *filter;
	if (filter->type != NULL)
		f->filter.type = f->type = xstrdup(filter->type);
	TAILQ_INSERT_TAIL(&followers, f, entry);
	client_set_release(c, follow_release, f);
}

void
server_follow_init(void)
{
	evlog_subscribe(follow_event, NULL);
}

void
server_follow_free(void)
{
	evlog_unsubscribe(follow_event, NULL);
}
