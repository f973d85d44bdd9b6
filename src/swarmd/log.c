/*
 * log.c: a line per significant event.  In the foreground each line goes
 * to stderr with a "<N>" priority prefix, the form journald and
 * systemd-cat understand.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"

static int log_level = LOG_P_INFO;

static const struct {
	const char *name;
	int prio;
} levels[] = {
	{ "err", LOG_P_ERR }, { "warning", LOG_P_WARNING },
	{ "notice", LOG_P_NOTICE }, { "info", LOG_P_INFO },
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

void
log_init(int foreground, const char *level)
{
	(void)foreground;
	if (log_set_level(level) == -1)
		log_level = LOG_P_INFO;
}

static void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	char line[2048];

	if (prio > log_level)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	fprintf(stderr, "<%d>%s\n", prio, line);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
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
