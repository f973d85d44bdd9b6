/*
 * daemon.c: the state every layer of the daemon shares: its configuration,
 * its event base, whether it is stopping.  It lives here, at the bottom,
 * so that the store and the log need not reach up into the control layer
 * for it; swarmd.c fills it in at start.
 */
#include <stdlib.h>

#include "swarmd.h"

struct server srv;

/*
 * Subscriber lists, the way a lower layer tells upper ones: each keeps
 * its callbacks as notify_fn and casts them back to its own type.
 */
void
notify_add(struct notify_list *l, notify_fn fn, void *arg)
{
	struct notify *n = xcalloc(1, sizeof *n);

	n->fn = fn;
	n->arg = arg;
	TAILQ_INSERT_TAIL(l, n, entry);
}

void
notify_remove(struct notify_list *l, notify_fn fn, void *arg)
{
	struct notify *n;

	TAILQ_FOREACH(n, l, entry) {
		if (n->fn == fn && n->arg == arg) {
			TAILQ_REMOVE(l, n, entry);
			free(n);
			return;
		}
	}
}
