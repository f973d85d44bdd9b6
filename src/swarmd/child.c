/*
 * child.c: children of swarmd that are not agents (git, for now), each
 * with a callback for its exit status.  The scheduler's SIGCHLD loop
 * reaps every child; for one that is not an agent it asks here first,
 * so a mechanism that runs a program learns how it ended without a
 * reaper of its own, and without calling up into the scheduler.
 */
#include <stdlib.h>

#include "swarmd.h"

struct child {
	pid_t pid;
	child_cb cb;
	void *arg;
	TAILQ_ENTRY(child) entry;
};
static TAILQ_HEAD(, child) children = TAILQ_HEAD_INITIALIZER(children);

/* Tell CB how PID ends. */
void
child_watch(pid_t pid, child_cb cb, void *arg)
{
	struct child *c = xcalloc(1, sizeof *c);

	c->pid = pid;
	c->cb = cb;
	c->arg = arg;
	TAILQ_INSERT_TAIL(&children, c, entry);
}

/* PID was reaped with STATUS: 1 when it was one of ours (told). */
int
child_reaped(pid_t pid, int status)
{
	struct child *c;
	child_cb cb;
	void *arg;

	TAILQ_FOREACH(c, &children, entry) {
		if (c->pid == pid)
			break;
	}
	if (c == NULL)
		return 0;
	cb = c->cb;
	arg = c->arg;
	TAILQ_REMOVE(&children, c, entry);
	free(c);
	cb(pid, status, arg);
	return 1;
}

/* Nobody waits for PID any more (its owner is gone); it is still reaped. */
void
child_forget(pid_t pid)
{
	struct child *c;

	TAILQ_FOREACH(c, &children, entry) {
		if (c->pid == pid) {
			TAILQ_REMOVE(&children, c, entry);
			free(c);
			return;
		}
	}
}
