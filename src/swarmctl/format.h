/* format.h: human output for swarmctl: tables, times and JSON values. */
#ifndef SWARMCTL_FORMAT_H
#define SWARMCTL_FORMAT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/*
 * A table: a header row, then rows of cells, printed with each column as
 * wide as its widest cell and two spaces between columns.  The headers
 * are given as one string, separated by single spaces.
 */
struct table;

struct table *format_table_new(const char *);
void format_table_row(struct table *);
void format_table_cell(struct table *, const char *);
void format_table_json(struct table *, json_t *);
void format_table_print(struct table *, FILE *);
void format_table_free(struct table *);

/* RFC 3339 UTC ("2026-11-23T12:00:00.123Z") to wall-clock ms. */
int format_parse_ts(const char *, int64_t *);

/*
 * Times in text (swarmctl(1), TIMES): a moment prints as the time since
 * it ("3m04s ago"), an AGE as the time since the thing started
 * ("3m04s"); with --utc (format_set_utc) both print the moment itself,
 * ISO-8601 in UTC, and an AGE column is headed STARTED.
 */
void format_set_utc(int);
#define FORMAT_AGE_LEN 32
/* JSON as people write it: 15 digits print 0.8, not 0.80000000000000004. */
#define FORMAT_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
/* 12s, 3m04s, 1h02m, 2d03h. */
char *format_age(int64_t ms, char buf[FORMAT_AGE_LEN]);
/* Time since the timestamp in V as "3s ago"; NULL if V is no timestamp. */
char *format_ago(json_t *v, char buf[FORMAT_AGE_LEN]);
/* The moment in V as the rule says: "3s ago", or with --utc V itself. */
const char *format_when(json_t *v, char buf[FORMAT_AGE_LEN]);
/* An AGE since the start in V: "3m04s", or with --utc V itself. */
const char *format_since(json_t *v, char buf[FORMAT_AGE_LEN]);

/* A JSON scalar as text: strings bare, null as "-"; caller frees. */
char *format_value(json_t *);
/* "key: value" lines for every scalar member of O, keys aligned. */
void format_object(FILE *, json_t *);

/* The string member KEY of O, or NULL. */
const char *format_member(json_t *, const char *key);
/* One compact JSON document on a line of stdout. */
void format_json(json_t *);
/* What --json prints for a verb with no natural array. */
void format_reply(json_t *);
/* The table of agents ps prints; ENDED adds how each ended (--all). */
void format_agents(json_t *, int ended);

/* Copy S with control characters replaced by '?'; caller frees. */
char *format_clean(const char *);

/*
 * Flush stdout.  A reader that went away (EPIPE) ends swarmctl quietly;
 * any other write error ends it with a message.
 */
void format_flush(void);
/* Write raw bytes to stdout, failing the same way. */
void format_write(const char *, size_t);

#endif
