/*
 * output.c: read each agent's output as it is written.  Agents write to a
 * log file, not a pipe, so they outlive a daemon restart; swarmd follows
 * the file with inotify.  New output is a sign of life, and Claude Code's
 * stream-json lines in it carry the usage the meter counts:
 *
 *   assistant         one API message, often printed as several lines
 *                     with the same message.id and usage: counted once
 *   result            the session's totals: settles what was counted
 *   rate_limit_event  the account's view of a subscription window
 *   system/init       the session's id, kept so a retry can resume it
 *
 * Anything else, JSON or not, is skipped.
 */
#include <sys/inotify.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

#define READ_CHUNK (64 * 1024)
#define MAX_LINE_KEEP (4 * 1024 * 1024) /* longer lines are skipped */

static int ifd = -1;
static struct event *iev;

static void
on_assistant(struct agent *a, json_t *line)
{
	json_t *msg = json_object_get(line, "message");
	json_t *usage = json_object_get(msg, "usage");
	const char *id = json_string_value(json_object_get(msg, "id"));
	const char *model = json_string_value(json_object_get(msg, "model"));
	struct usage u;

	if (!json_is_object(usage) || id == NULL)
		return;
	a->model_calls++;
	if (model != NULL) {
		free(a->model);
		a->model = xstrdup(model);
	}
	/* A class missing from the line is none. */
	memset(&u, 0, sizeof u);
	usage_parse(usage, &u);
	/* What the request carried: the watchdog's context measure. */
	a->last_msg_context = u.input + u.cache_creation + u.cache_read;
	if (quota_record(a, a->model, "stream", id, &u)) {
		a->stream_use.input += u.input;
		a->stream_use.output += u.output;
		a->stream_use.cache_creation += u.cache_creation;
		a->stream_use.cache_read += u.cache_read;
	}
}

/*
 * The result line's usage is the session's total.  Whatever the assistant
 * lines did not account for (a message printed without usage, a retry
 * the CLI made on its own) is recorded as one settling record, so the
 * agent's total ends equal to what the CLI reports.
 */
static void
on_result(struct agent *a, json_t *line)
{
	json_t *usage = json_object_get(line, "usage");
	struct usage total, d;

	/* The proxy saw every request itself: nothing is left to settle. */
	if (!json_is_object(usage) || a->proxied)
		return;
	memset(&total, 0, sizeof total);
	usage_parse(usage, &total);
	d.input = total.input - a->stream_use.input;
	d.output = total.output - a->stream_use.output;
	d.cache_creation = total.cache_creation - a->stream_use.cache_creation;
	d.cache_read = total.cache_read - a->stream_use.cache_read;
	if (d.input == 0 && d.output == 0 && d.cache_creation == 0 &&
	    d.cache_read == 0)
		return;
	if (quota_record(a, a->model, "result", NULL, &d))
		a->stream_use = total;
}

static void
on_rate_limit(json_t *line)
{
	json_t *info = json_object_get(line, "rate_limit_info");
	const char *type, *status;
	json_t *resets;

	if (!json_is_object(info))
		info = line;
	type = json_string_value(json_object_get(info, "rateLimitType"));
	status = json_string_value(json_object_get(info, "status"));
	resets = json_object_get(info, "resetsAt");
	if (type == NULL || status == NULL)
		return;
	quota_subscription(type, status,
	    json_is_number(resets) ? (int64_t)json_number_value(resets) : 0,
	    json_object_get(info, "utilization"));
}

/* system/init names the session; a retry may resume it (claude.c). */
static void
on_system(struct agent *a, json_t *line)
{
	const char *sub = json_string_value(json_object_get(line, "subtype"));
	const char *sid =
	    json_string_value(json_object_get(line, "session_id"));

	if (sub != NULL && strcmp(sub, "init") == 0 && sid != NULL &&
	    *sid != '\0' && strlen(sid) <= 128)
		claude_session(a, sid);
}

static void
output_line(struct agent *a, const char *s, size_t len)
{
	const char *type;
	json_t *line;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	if (len == 0 || *s != '{')
		return;
	if ((line = json_loadb(s, len, 0, NULL)) == NULL)
		return;
	type = json_string_value(json_object_get(line, "type"));
	if (type == NULL)
		;
	else if (strcmp(type, "assistant") == 0)
		on_assistant(a, line);
	else if (strcmp(type, "result") == 0)
		on_result(a, line);
	else if (strcmp(type, "rate_limit_event") == 0)
		on_rate_limit(line);
	else if (strcmp(type, "system") == 0)
		on_system(a, line);
	json_decref(line);
}

/*
 * Past [spawn] log_max the log loses its head, keeping its tail (about
 * half of log_max, and all not yet read): whole blocks are cut with
 * FALLOC_FL_COLLAPSE_RANGE, which the agent's O_APPEND writes cannot
 * race (they land at the end, wherever it now is).  Only what was read
 * goes, and agent_log_cut() keeps count, so `logs` offsets hold.  A
 * filesystem that cannot collapse (tmpfs) keeps the whole log.
 */
static void
output_rotate(struct agent *a)
{
	static int warned;
	struct stat sb;
	int64_t cut;
	int fd;

	if (srv.cfg.log_max <= 0 || stat(a->log, &sb) == -1 ||
	    sb.st_size <= srv.cfg.log_max || sb.st_blksize <= 0)
		return;
	cut = a->out_offset - srv.cfg.log_max / 2;
	cut -= cut % sb.st_blksize;
	if (cut <= 0 || (fd = open(a->log, O_WRONLY | O_CLOEXEC)) == -1)
		return;
	if (fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, cut) == -1) {
		if (!warned++)
			log_warnx("%s: %s; agent logs are not rotated "
			          "([spawn] log_max)",
			    a->log, strerror(errno));
	} else {
		a->out_offset -= cut;
		agent_log_cut(a, cut);
	}
	close(fd);
}

/* Read what the agent wrote since last time and meter whole lines. */
void
output_read(struct agent *a)
{
	char *buf, *p, *nl;
	ssize_t n;
	int fd;

	if (a->log == NULL || (fd = open(a->log, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	buf = xmalloc(READ_CHUNK);
	store_begin();
	while ((n = pread(fd, buf, READ_CHUNK, a->out_offset)) > 0) {
		a->out_offset += n;
		a->alive = 1;
		a->last_output = now_wall_ms();
		for (p = buf; (nl = memchr(p, '\n', (size_t)(buf + n - p)));
		     p = nl + 1) {
			if (a->out_len > 0 || a->out_skip) {
				if (!a->out_skip &&
				    a->out_len + (size_t)(nl - p) <=
				        MAX_LINE_KEEP) {
					a->out_part = xrealloc(a->out_part,
					    a->out_len + (size_t)(nl - p));
					memcpy(a->out_part + a->out_len, p,
					    (size_t)(nl - p));
					output_line(a, a->out_part,
					    a->out_len + (size_t)(nl - p));
				}
				a->out_len = 0;
				a->out_skip = 0;
			} else
				output_line(a, p, (size_t)(nl - p));
		}
		/* Keep a partial last line for the next read. */
		if (p < buf + n && !a->out_skip) {
			size_t rest = (size_t)(buf + n - p);

			if (a->out_len + rest > MAX_LINE_KEEP) {
				a->out_skip = 1;
				a->out_len = 0;
			} else {
				a->out_part =
				    xrealloc(a->out_part, a->out_len + rest);
				memcpy(a->out_part + a->out_len, p, rest);
				a->out_len += rest;
			}
		}
	}
	output_rotate(a);
	store_commit();
	free(buf);
	close(fd);
}

static void
on_inotify(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ie;
	struct agent *a;
	ssize_t n;
	char *p;

	(void)what;
	(void)arg;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (p = buf; p < buf + n; p += sizeof *ie + ie->len) {
			ie = (const struct inotify_event *)p;
			TAILQ_FOREACH(a, &live_agents, entry) {
				if (a->out_wd == ie->wd) {
					output_read(a);
					break;
				}
			}
		}
	}
}

void
output_watch(struct agent *a)
{
	a->out_wd = -1;
	if (ifd == -1 || a->log == NULL)
		return;
	a->out_wd = inotify_add_watch(ifd, a->log, IN_MODIFY);
	if (a->out_wd == -1)
		log_warnx("inotify on %s: %s; its usage is read at exit",
		    a->log, strerror(errno));
	/* It ran before the watch existed: what it wrote then has no event. */
	output_read(a);
}

/* The agent has ended: read the rest, stop watching. */
void
output_unwatch(struct agent *a)
{
	output_read(a);
	if (ifd != -1 && a->out_wd >= 0)
		inotify_rm_watch(ifd, a->out_wd);
	a->out_wd = -1;
	free(a->out_part);
	a->out_part = NULL;
	a->out_len = 0;
}

void
output_init(void)
{
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd == -1) {
		log_warnx("inotify: %s; agent output is read at exit only",
		    strerror(errno));
		return;
	}
	iev = event_new(srv.base, ifd, EV_READ | EV_PERSIST, on_inotify, NULL);
	event_add(iev, NULL);
}

void
output_free(void)
{
	if (iev != NULL)
		event_free(iev);
	if (ifd != -1)
		close(ifd);
	iev = NULL;
	ifd = -1;
}
