/* format.c: human output for swarmctl: tables, times and JSON values. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "swarm-protocol.h"
#include "util.h"
#include "format.h"

static int utc; /* --utc: moments as ISO-8601, not the time since */

struct table {
	size_t ncols;
	size_t nrows;  /* rows, the header included */
	size_t ncells; /* cells filled so far, over all rows */
	char **cells;  /* nrows * ncols, row after row */
	size_t *width; /* display width of each column */
};

/* Display width: UTF-8 continuation bytes take no column of their own. */
static size_t
text_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return n;
}

char *
format_clean(const char *s)
{
	char *out = xstrdup(s), *p;

	/* No escape sequence from an agent's note may reach the terminal. */
	for (p = out; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return out;
}

struct table *
format_table_new(const char *headers)
{
	struct table *t = xcalloc(1, sizeof *t);
	char *copy = xstrdup(headers), *h, *last;

	t->ncols = 1;
	for (h = copy; *h != '\0'; h++)
		t->ncols += *h == ' ';
	t->width = xcalloc(t->ncols, sizeof *t->width);
	format_table_row(t);
	for (h = strtok_r(copy, " ", &last); h != NULL;
	     h = strtok_r(NULL, " ", &last))
		/* An AGE with --utc is the moment it started. */
		format_table_cell(
		    t, utc && strcmp(h, "AGE") == 0 ? "STARTED" : h);
	free(copy);
	return t;
}

/* Cells a row left unfilled print as "-". */
static void
table_pad(struct table *t)
{
	while (t->ncells < t->nrows * t->ncols)
		format_table_cell(t, NULL);
}

void
format_table_row(struct table *t)
{
	table_pad(t);
	t->nrows++;
	t->cells = xrealloc(t->cells, t->nrows * t->ncols * sizeof *t->cells);
}

void
format_table_cell(struct table *t, const char *s)
{
	size_t col = t->ncells % t->ncols, w;
	char *cell;

	if (t->ncells >= t->nrows * t->ncols)
		return; /* more cells than columns: a caller's bug, drop it */
	cell = format_clean(s != NULL && *s != '\0' ? s : "-");
	if ((w = text_width(cell)) > t->width[col])
		t->width[col] = w;
	t->cells[t->ncells++] = cell;
}

void
format_table_json(struct table *t, json_t *v)
{
	char *s = format_value(v);

	format_table_cell(t, s);
	free(s);
}

void
format_table_print(struct table *t, FILE *f)
{
	size_t r, c, pad;
	const char *cell;

	table_pad(t);
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			cell = t->cells[r * t->ncols + c];
			fputs(cell, f);
			if (c + 1 == t->ncols)
				break; /* no trailing blanks */
			pad = t->width[c] - text_width(cell) + 2;
			while (pad-- > 0)
				putc(' ', f);
		}
		fputc('\n', f);
	}
}

void
format_table_free(struct table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}

/* N decimal digits at S, or -1. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (; n > 0; n--, s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/*
 * "2026-11-23T12:00:00.123Z" -> ms.  Read by position, not with sscanf:
 * ps prints thousands of these.
 */
int
format_parse_ts(const char *s, int64_t *ms)
{
	static const int at[6] = { 0, 5, 8, 11, 14, 17 };
	static const int len[6] = { 4, 2, 2, 2, 2, 2 };
	int v[6], frac = 0, digits_seen = 0, i;
	struct tm tm;
	time_t t;

	if (s == NULL || strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -1;
	for (i = 0; i < 6; i++) {
		if ((v[i] = digits(s + at[i], len[i])) == -1)
			return -1;
	}
	s += 19;
	if (*s == '.') {
		/* Milliseconds; finer digits are read and dropped. */
		for (s++; *s >= '0' && *s <= '9'; s++, digits_seen++) {
			if (digits_seen < 3)
				frac = frac * 10 + (*s - '0');
		}
		if (digits_seen == 0)
			return -1;
		for (; digits_seen < 3; digits_seen++)
			frac *= 10;
	}
	if (strcmp(s, "Z") != 0)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000 + frac;
	return 0;
}

char *
format_age(int64_t ms, char buf[FORMAT_AGE_LEN])
{
	int64_t s = ms > 0 ? ms / 1000 : 0;

	if (s < 60)
		snprintf(buf, FORMAT_AGE_LEN, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, FORMAT_AGE_LEN, "%lldm%02llds",
		    (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, FORMAT_AGE_LEN, "%lldh%02lldm",
		    (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, FORMAT_AGE_LEN, "%lldd%02lldh",
		    (long long)(s / 86400), (long long)(s % 86400 / 3600));
	return buf;
}

char *
format_ago(json_t *v, char buf[FORMAT_AGE_LEN])
{
	int64_t ms;
	size_t len;

	if (format_parse_ts(json_string_value(v), &ms) == -1)
		return NULL;
	len = strlen(format_age(now_wall_ms() - ms, buf));
	snprintf(buf + len, FORMAT_AGE_LEN - len, " ago");
	return buf;
}

void
format_set_utc(int on)
{
	utc = on;
}

const char *
format_when(json_t *v, char buf[FORMAT_AGE_LEN])
{
	int64_t ms;

	if (format_parse_ts(json_string_value(v), &ms) == -1)
		return NULL;
	if (utc)
		return json_string_value(v);
	return format_ago(v, buf);
}

const char *
format_since(json_t *v, char buf[FORMAT_AGE_LEN])
{
	int64_t ms;

	if (format_parse_ts(json_string_value(v), &ms) == -1)
		return NULL;
	if (utc)
		return json_string_value(v);
	return format_age(now_wall_ms() - ms, buf);
}

/* An object of scalars as "k v, k v": the counts of a job. */
static char *
format_members(json_t *o)
{
	char *s = xstrdup(""), *next;
	void *it;

	for (it = json_object_iter(o); it != NULL;
	     it = json_object_iter_next(o, it)) {
		char *v = format_value(json_object_iter_value(it));

		next = xasprintf("%s%s%s %s", s, *s != '\0' ? ", " : "",
		    json_object_iter_key(it), v);
		free(v);
		free(s);
		s = next;
	}
	return s;
}

char *
format_value(json_t *v)
{
	char *s;

	if (v == NULL) /* a member an older swarmd does not send */
		return xstrdup("-");
	switch (json_typeof(v)) {
	case JSON_STRING:
		return xstrdup(json_string_value(v));
	case JSON_INTEGER:
		return xasprintf(
		    "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return xasprintf("%.15g", json_real_value(v));
	case JSON_TRUE:
		return xstrdup("true");
	case JSON_FALSE:
		return xstrdup("false");
	case JSON_OBJECT:
		return format_members(v);
	case JSON_ARRAY:
		if ((s = json_dumps(v, FORMAT_JSON_FLAGS)) != NULL)
			return s;
		break;
	case JSON_NULL:
		break;
	}
	return xstrdup("-");
}

/* Arrays of objects are left to the caller: they print as tables. */
static int
object_is_shown(json_t *v)
{
	return !json_is_array(v) || !json_is_object(json_array_get(v, 0));
}

void
format_object(FILE *f, json_t *o)
{
	char ago[FORMAT_AGE_LEN], *v, *clean;
	const char *when;
	size_t width = 0;
	const char *key;
	void *it;

	for (it = json_object_iter(o); it != NULL;
	     it = json_object_iter_next(o, it)) {
		key = json_object_iter_key(it);
		if (object_is_shown(json_object_iter_value(it)) &&
		    strlen(key) > width)
			width = strlen(key);
	}
	for (it = json_object_iter(o); it != NULL;
	     it = json_object_iter_next(o, it)) {
		json_t *m = json_object_iter_value(it);

		key = json_object_iter_key(it);
		if (!object_is_shown(m))
			continue;
		v = (when = format_when(m, ago)) != NULL ? xstrdup(when) :
		                                           format_value(m);
		clean = format_clean(*v != '\0' ? v : "-");
		fprintf(f, "%s:%*s %s\n", key, (int)(width - strlen(key)), "",
		    clean);
		free(clean);
		free(v);
	}
}

static void
stdout_failed(void)
{
	if (errno == EPIPE)
		exit(SWARM_EXIT_OK); /* the reader has all it wanted */
	/* errno is 0 when an earlier, unbuffered write failed. */
	fprintf(stderr, "swarmctl: stdout: %s\n",
	    errno != 0 ? strerror(errno) : "write error");
	exit(SWARM_EXIT_ERROR);
}

void
format_flush(void)
{
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout))
		stdout_failed();
}

void
format_write(const char *s, size_t len)
{
	errno = 0;
	if (len > 0 && fwrite(s, 1, len, stdout) != len)
		stdout_failed();
}

/* The string member KEY of O, or NULL. */
const char *
format_member(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* One compact JSON document on a line of stdout. */
void
format_json(json_t *j)
{
	char *s = json_dumps(j, FORMAT_JSON_FLAGS | JSON_ENCODE_ANY);

	if (s != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
	}
	free(s);
}

/* What --json prints for a verb with no natural array. */
void
format_reply(json_t *resp)
{
	json_t *copy = json_copy(resp);

	json_object_del(copy, "id");
	json_object_del(copy, "ok");
	format_json(copy);
	json_decref(copy);
}

void
format_agents(json_t *agents, int ended)
{
	struct table *t;
	char buf[FORMAT_AGE_LEN];
	size_t i;

	t = format_table_new(ended ?
	        "AGENT JOB CHUNK STATE END PID AGE LAST_SEEN" :
	        "AGENT JOB CHUNK STATE PID AGE LAST_SEEN");
	for (i = 0; i < json_array_size(agents); i++) {
		json_t *a = json_array_get(agents, i);

		format_table_row(t);
		format_table_cell(t, format_member(a, "agent"));
		format_table_cell(t, format_member(a, "job"));
		format_table_cell(t, format_member(a, "chunk"));
		format_table_cell(t, format_member(a, "state"));
		if (ended)
			format_table_cell(t, format_member(a, "end"));
		format_table_json(t, json_object_get(a, "pid"));
		format_table_cell(
		    t, format_since(json_object_get(a, "started"), buf));
		format_table_cell(
		    t, format_when(json_object_get(a, "last_seen"), buf));
	}
	format_table_print(t, stdout);
	format_table_free(t);
}
