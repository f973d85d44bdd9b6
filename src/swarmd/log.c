/*
 * log.c: a line per significant event.  When stderr is journald's stream
 * (or swarmd has detached and journald runs), each line is a journal
 * record, and each recorded event carries SWARM_EVENT, SWARM_JOB,
 * SWARM_CHUNK, SWARM_AGENT and SWARM_ATTEMPT fields to select it by.
 * Otherwise each line goes to stderr with a "<N>" priority prefix, the
 * form journald and systemd-cat understand; on a terminal, where a
 * person reads it, without.
 */
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Our records' CODE_FILE and CODE_LINE would always name this file. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "swarmd.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* The most of an event's message the journal gets (swarmd(8)). */
#define LOG_EVENT_MAX 1024

static int log_level = LOG_P_INFO;
static int log_journal; /* records to journald, not lines to stderr */
static int log_tty;     /* stderr is a terminal: no priority prefixes */

static const struct {
	const char *name;
	int prio;
} levels[] = {
	{ "err", LOG_P_ERR },
	{ "warning", LOG_P_WARNING },
	{ "notice", LOG_P_NOTICE },
	{ "info", LOG_P_INFO },
	{ "debug", LOG_P_DEBUG },
};

int
log_set_level(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(levels); i++) {
		if (strcmp(levels[i].name, name) == 0) {
			log_level = levels[i].prio;
			return 0;
		}
	}
	return -1;
}

/* systemd sets JOURNAL_STREAM to the device and inode of its stream. */
static int
log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return st.st_dev == dev && st.st_ino == ino;
}

void
log_init(int foreground, const char *level)
{
	(void)foreground;
	if (log_set_level(level) == -1)
		log_level = LOG_P_INFO;
	log_journal = log_stderr_is_journal();
	log_tty = isatty(STDERR_FILENO);
	/* Agents' stderr is their log file, not the journal. */
	unsetenv("JOURNAL_STREAM");
}

/* Detached, stderr is /dev/null: use the journal if there is one. */
void
log_detached(void)
{
	if (access(JOURNAL_SOCKET, W_OK) == 0)
		log_journal = 1;
}

static void
log_line(int prio, const char *text)
{
	if (log_tty)
		fprintf(stderr, "%s\n", text);
	else
		fprintf(stderr, "<%d>%s\n", prio, text);
}

static void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	char line[2048];

	if (prio > log_level)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	if (log_journal)
		sd_journal_send("MESSAGE=%s", line, "PRIORITY=%d", prio,
		    "SYSLOG_IDENTIFIER=swarmd", NULL);
	else
		log_line(prio, line);
}

/* OpenBSD's log_warn: the message, then ": " and strerror(errno). */
static void
log_verrno(int prio, const char *fmt, va_list ap)
{
	char msg[1536];
	int saved = errno;

	vsnprintf(msg, sizeof msg, fmt, ap);
	log_msg(prio, "%s: %s", msg, strerror(saved));
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_verrno(LOG_P_WARNING, fmt, ap);
	va_end(ap);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

static void
iov_add(struct iovec *iov, int *n, char *field)
{
	iov[*n].iov_base = field;
	iov[*n].iov_len = strlen(field);
	(*n)++;
}

/*
 * The journal gets the head of a long event message, cut at a UTF-8
 * character, and its size; the event log keeps the whole.
 */
static char *
log_event_text(const char *message)
{
	size_t len = strlen(message), n = LOG_EVENT_MAX;

	if (len <= LOG_EVENT_MAX)
		return xstrdup(message);
	while (n > 0 && ((unsigned char)message[n] & 0xc0) == 0x80)
		n--;
	return xasprintf("%.*s... (%zu bytes)", (int)n, message, len);
}

/*
 * An event from the event log: MESSAGE plus a field for each of its ids
 * (0 or NULL: none), so "journalctl SWARM_AGENT=agent-17" finds them all.
 */
void
log_event(int prio, const char *event, int64_t job, const char *chunk,
    int64_t agent, int attempt, const char *message)
{
	struct iovec iov[8];
	char *text;
	int i, n = 0;

	if (prio > log_level)
		return;
	text = log_event_text(message);
	if (!log_journal) {
		log_line(prio, text);
		free(text);
		return;
	}
	iov_add(iov, &n, xasprintf("MESSAGE=%s", text));
	free(text);
	iov_add(iov, &n, xasprintf("PRIORITY=%d", prio));
	iov_add(iov, &n, xstrdup("SYSLOG_IDENTIFIER=swarmd"));
	iov_add(iov, &n, xasprintf("SWARM_EVENT=%s", event));
	if (job != 0)
		iov_add(iov, &n, xasprintf("SWARM_JOB=job-%" PRId64, job));
	if (chunk != NULL)
		iov_add(iov, &n, xasprintf("SWARM_CHUNK=%s", chunk));
	if (agent != 0)
		iov_add(
		    iov, &n, xasprintf("SWARM_AGENT=agent-%" PRId64, agent));
	if (attempt != 0)
		iov_add(iov, &n, xasprintf("SWARM_ATTEMPT=%d", attempt));
	sd_journal_sendv(iov, n);
	for (i = 0; i < n; i++)
		free(iov[i].iov_base);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_verrno(LOG_P_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_P_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

/* ---- reading agents' logs back ---- */

#define TAIL_BYTES (256 * 1024)

/* Bytes that are not UTF-8 cannot travel in JSON: '?' for the rest. */
json_t *
log_json_text(const char *p, size_t n)
{
	json_t *s = json_stringn(p, n);
	char *copy;
	size_t i;

	if (s != NULL)
		return s;
	copy = xmalloc(n + 1);
	for (i = 0; i < n; i++)
		copy[i] =
		    (unsigned char)p[i] < 0x80 && p[i] != '\0' ? p[i] : '?';
	s = json_stringn(copy, n);
	free(copy);
	return s;
}

/*
 * The last LINES lines of an agent's log as JSON strings (bytes that are
 * not UTF-8 become '?').  Triage documents and dead letters use it.
 */
json_t *
log_tail(const char *path, int lines)
{
	json_t *arr = json_array();
	char *buf, *p, *end, *nl;
	off_t size, from;
	ssize_t n;
	int fd;

	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return arr;
	size = lseek(fd, 0, SEEK_END);
	from = size > TAIL_BYTES ? size - TAIL_BYTES : 0;
	buf = xmalloc(TAIL_BYTES);
	n = pread(fd, buf, TAIL_BYTES, from);
	close(fd);
	end = buf + (n > 0 ? n : 0);
	p = end;
	if (p > buf && p[-1] == '\n')
		p--;
	while (p > buf && lines > 0) {
		if (p[-1] == '\n' && --lines == 0)
			break;
		p--;
	}
	/* Started mid-file: the first line is a fragment. */
	if (p == buf && from > 0 &&
	    (nl = memchr(p, '\n', (size_t)(end - p))) != NULL)
		p = nl + 1;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		json_array_append_new(arr, log_json_text(p, (size_t)(nl - p)));
	}
	free(buf);
	return arr;
}
