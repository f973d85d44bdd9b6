/*
 * histo.c: histograms of durations in seconds, kept by the module that
 * times something (the store's commits, the proxy's queue) and read by
 * metrics.c.  One set of bounds for all, from half a millisecond to a
 * minute: what a commit, a held request and a late loop turn span.
 */
#include <time.h>

#include "swarmd.h"

static const double bounds[HISTO_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };

/* Bucket I's upper bound, in seconds. */
double
histo_bound(int i)
{
	return i >= 0 && i < HISTO_BUCKETS ? bounds[i] : 0;
}

/* Count one observation: its bucket (the last is past every bound). */
void
histo_add(struct histo *h, double seconds)
{
	int i;

	if (seconds < 0)
		seconds = 0;
	for (i = 0; i < HISTO_BUCKETS && seconds > bounds[i]; i++)
		;
	h->counts[i]++;
	h->count++;
	h->sum += seconds;
}

/* Monotonic seconds, finer than now_mono_ms(): a commit takes microseconds. */
double
histo_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
