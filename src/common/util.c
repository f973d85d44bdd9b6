/* util.c: allocation, time and parsing helpers. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static void
oom(void)
{
	fputs("out of memory\n", stderr);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		oom();
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		oom();
	va_end(ap);
	return s;
}

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
now_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t
now_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

static char *
put_digits(char *p, int v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

/* By hand rather than snprintf: a listing formats thousands of these. */
char *
ts_format(int64_t ms, char buf[TS_LEN])
{
	time_t t;
	struct tm tm;
	char *p = buf;

	if (ms < 0)
		ms = 0;
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	p = put_digits(p, tm.tm_year + 1900, 4);
	*p++ = '-';
	p = put_digits(p, tm.tm_mon + 1, 2);
	*p++ = '-';
	p = put_digits(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_sec, 2);
	*p++ = '.';
	p = put_digits(p, (int)(ms % 1000), 3);
	*p++ = 'Z';
	*p = '\0';
	return buf;
}

int
parse_duration(const char *s, double *out)
{
	static const struct {
		const char *suffix;
		double scale;
	} units[] = {
		{ "", 1 },
		{ "s", 1 },
		{ "ms", 0.001 },
		{ "m", 60 },
		{ "h", 3600 },
		{ "d", 86400 },
	};
	char *end;
	double v;
	size_t i;

	/* Plain decimal only: no sign, space, hex or exponent. */
	if (s == NULL || strspn(s, "0123456789.") == 0 || *s == '.')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (end != s + strspn(s, "0123456789."))
		return -1;
	if (errno != 0 || end == s || !isfinite(v) || v < 0)
		return -1;
	for (i = 0; i < nitems(units); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			*out = v * units[i].scale;
			return 0;
		}
	}
	return -1;
}

/* Exactly N decimal digits at *P into *V; *P moves past them. */
static int
digits(const char **p, int n, int *v)
{
	int i;

	for (*v = 0, i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		*v = *v * 10 + (**p - '0');
	}
	return 0;
}

/* "Z", "+01:00", "-0530" or nothing at *P: *OFF seconds east of UTC. */
static int
parse_zone(const char **p, int *zoned, long *off)
{
	int sign, h, m;

	*zoned = **p != '\0';
	if (**p == 'Z') {
		(*p)++;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return **p == '\0' ? 0 : -1;
	sign = *(*p)++ == '-' ? -1 : 1;
	if (digits(p, 2, &h) == -1)
		return -1;
	*p += **p == ':';
	if (digits(p, 2, &m) == -1 || h > 23 || m > 59)
		return -1;
	*off = sign * (h * 3600L + m * 60L);
	return 0;
}

/* "HH:MM[:SS[.fff]]" at *P into TM, the fraction into *MS. */
static int
parse_clock(const char **p, struct tm *tm, int *ms)
{
	int scale = 100, d;

	if (digits(p, 2, &tm->tm_hour) == -1 || *(*p)++ != ':' ||
	    digits(p, 2, &tm->tm_min) == -1)
		return -1;
	if (**p == ':') {
		(*p)++;
		if (digits(p, 2, &tm->tm_sec) == -1)
			return -1;
		if (**p == '.' && isdigit((unsigned char)(*p)[1])) {
			for ((*p)++; isdigit((unsigned char)**p); (*p)++) {
				d = **p - '0';
				*ms += d * scale;
				scale /= 10;
			}
		}
	}
	return tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60 ? -1 : 0;
}

/*
 * An ISO-8601 time ("2026-11-23", "2026-11-23T12:00", "...T12:00:05.250Z",
 * "...+01:00"; local time without a zone) or a duration before NOW_MS
 * ("90s", "10m", "2h", "1d") -> wall ms.  0 on success, -1 if bad.
 */
int
parse_time(const char *s, int64_t now_ms, int64_t *out)
{
	const char *p = s;
	struct tm tm;
	int zoned = 0, ms = 0;
	long off = 0;
	double d;
	time_t t;

	if (s == NULL)
		return -1;
	if (parse_duration(s, &d) == 0) {
		*out = now_ms - (int64_t)(d * 1000);
		return 0;
	}
	memset(&tm, 0, sizeof tm);
	if (digits(&p, 4, &tm.tm_year) == -1 || *p++ != '-' ||
	    digits(&p, 2, &tm.tm_mon) == -1 || *p++ != '-' ||
	    digits(&p, 2, &tm.tm_mday) == -1 || tm.tm_mon < 1 ||
	    tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31)
		return -1;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (parse_clock(&p, &tm, &ms) == -1)
			return -1;
	}
	if (parse_zone(&p, &zoned, &off) == -1 || *p != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_isdst = -1;
	if ((t = zoned ? timegm(&tm) : mktime(&tm)) == (time_t)-1)
		return -1;
	*out = ((int64_t)t - off) * 1000 + ms;
	return 0;
}

int
parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	/* Digits with an optional '-': no space, '+' or leading zeros. */
	if (s == NULL || *s == '\0' ||
	    (*s != '-' && !isdigit((unsigned char)*s)))
		return -1;
	if (s[*s == '-'] == '0' && s[(*s == '-') + 1] != '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
parse_size(const char *s, long long max, long long *out)
{
	static const char units[] = "KMGT";
	const char *u;
	long long v;
	char digits[32];
	size_t n;
	int shift = 0;

	if (s == NULL || (n = strspn(s, "0123456789")) == 0 ||
	    n >= sizeof digits)
		return -1;
	if (s[n] != '\0') {
		if (s[n + 1] != '\0' || (u = strchr(units, s[n])) == NULL)
			return -1;
		shift = 10 * (int)(u - units + 1);
	}
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (parse_int(digits, 0, max, &v) == -1 || v > (max >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

int
ct_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/* The length of the valid UTF-8 character at S, or 0. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
	}
	/* Overlong forms, surrogates and past U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

void
utf8_trunc(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n;

	while (*p != '\0' && (n = utf8_len(p)) != 0)
		p += n;
	*p = '\0';
}
