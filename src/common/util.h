/* util.h: allocation, time and parsing helpers shared by swarmd and swarmctl. */
#ifndef SWARM_UTIL_H
#define SWARM_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);
char *xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds: monotonic for deadlines, wall clock for records. */
int64_t now_mono_ms(void);
int64_t now_wall_ms(void);

/* RFC 3339 UTC with milliseconds: "2026-11-23T12:00:00.123Z" (25 bytes). */
#define TS_LEN 64
char *ts_format(int64_t wall_ms, char buf[TS_LEN]);

/* "30", "30s", "5m", "5h", "1d", "1.5s" -> seconds.  0 on success, -1 if bad. */
int parse_duration(const char *, double *);

/*
 * An ISO-8601 time (local without a zone) or a duration before NOW_MS
 * ("10m", "2h", "1d") -> wall ms.  0 on success, -1 if bad.
 */
int parse_time(const char *, int64_t now_ms, int64_t *);

/* Parse a decimal integer in [min, max].  0 on success, -1 if bad. */
int parse_int(const char *, long long min, long long max, long long *);

/* "512", "64K", "512M", "4G", "1T" (powers of 1024) -> bytes in [0, max]. */
int parse_size(const char *, long long max, long long *);

/* Constant-time comparison of two equal-length buffers. */
int ct_equal(const void *, const void *, size_t);
/* Cut S at its first byte that is not valid UTF-8 (a multibyte character
 * split by a bounded printf, say), so jansson takes it. */
void utf8_trunc(char *);

#endif
