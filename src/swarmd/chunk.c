/*
 * chunk.c: the chunk lifecycle as a table.  A chunk is queued, then
 * running under one agent; the agent's end settles it.  A failed chunk is
 * routed by its failure class: back to the queue for another attempt, or
 * to the dead letters.  An agent cut off by swarmd itself (a stop, a lost
 * process, a watchdog restart) requeues its chunk; an operator's retry
 * requeues a failed, aborted or dead one.  Anything not in the table is an
 * illegal transition.
 */
#include <string.h>

#include "swarmd.h"

#define X CHUNK_INVALID

static const int chunk_table[CHUNK_NSTATES][CHUNK_NINPUTS] = {
	/* DISPATCH, EXIT_OK, EXIT_FAIL, ABORT, DROP, RETRY, REQUEUE, DEADLETTER */
	[CHUNK_QUEUED] = { CHUNK_RUNNING, X, X, X, CHUNK_ABORTED, X, X, X },
	[CHUNK_RUNNING] = { X, CHUNK_DONE, CHUNK_FAILED, CHUNK_ABORTED, X, X,
	    CHUNK_QUEUED, CHUNK_DEAD },
	[CHUNK_DONE] = { X, X, X, X, X, X, X, X },
	[CHUNK_FAILED] = { X, X, X, X, X, CHUNK_QUEUED, X, CHUNK_DEAD },
	[CHUNK_ABORTED] = { X, X, X, X, X, CHUNK_QUEUED, X, X },
	[CHUNK_DEAD] = { X, X, X, X, X, CHUNK_QUEUED, X, X },
};

static const char *chunk_names[CHUNK_NSTATES] = {
	"queued",
	"running",
	"done",
	"failed",
	"aborted",
	"dead",
};

static const char *fail_names[] = {
	"none",
	"transient",
	"schema",
	"unknown",
};

const char *
fail_class_name(enum fail_class c)
{
	return (int)c >= 0 && (size_t)c < nitems(fail_names) ? fail_names[c] :
	                                                       "unknown";
}

int
chunk_next(enum chunk_state s, enum chunk_input in)
{
	if ((int)s < 0 || s >= CHUNK_NSTATES || (int)in < 0 ||
	    in >= CHUNK_NINPUTS)
		return CHUNK_INVALID;
	return chunk_table[s][in];
}

const char *
chunk_state_name(enum chunk_state s)
{
	if ((int)s < 0 || s >= CHUNK_NSTATES)
		return "invalid";
	return chunk_names[s];
}

int
chunk_state_parse(const char *name)
{
	int i;

	for (i = 0; i < CHUNK_NSTATES; i++) {
		if (strcmp(chunk_names[i], name) == 0)
			return i;
	}
	return CHUNK_INVALID;
}
