/*
 * sd.c: life under systemd.  Readiness, reloads and the stop go to the
 * service manager with sd_notify; STATUS= says what runs; the watchdog is
 * pinged from a timer in the event loop, so a loop that is stuck stops
 * pinging and gets the daemon restarted.  The control socket may come
 * from socket activation.  Without NOTIFY_SOCKET it all does nothing.
 */
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "swarmd.h"

/* How often STATUS= is recomputed, when something changed. */
#define STATUS_INTERVAL_MS 1000

static struct event *watchdog_ev, *status_ev;
static int notifying; /* NOTIFY_SOCKET was set */
static int status_dirty = 1;
static char status_sent[128];
static systemd_counts_fn counts_fn; /* given at start by swarmd.c */

/*
 * The listening socket systemd passed us: its descriptor, -1 when none
 * was passed (bind one ourselves), -2 with ERR when it is unusable.
 */
int
systemd_listen_fd(char *err, size_t errlen)
{
	int n, fd = SD_LISTEN_FDS_START;

	/* Unset LISTEN_*: agents must not think the socket is theirs. */
	if ((n = sd_listen_fds(1)) <= 0) {
		if (n < 0)
			log_warnx("socket activation: %s", strerror(-n));
		return -1;
	}
	if (n > 1) {
		snprintf(err, errlen,
		    "socket activation: %d sockets passed, expected one", n);
		return -2;
	}
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
		snprintf(err, errlen,
		    "socket activation: fd %d is not a listening Unix stream socket",
		    fd);
		return -2;
	}
	/* systemd hands it over blocking and inheritable. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    evutil_make_socket_nonblocking(fd) == -1) {
		snprintf(err, errlen, "socket activation: fd %d: %s", fd,
		    strerror(errno));
		return -2;
	}
	return fd;
}

/* Where STATUS= gets its counts: the layers above know them. */
void
systemd_set_counts(systemd_counts_fn fn)
{
	counts_fn = fn;
}

/* "12 running, 3 queued, 40 done": live agents and chunks by state. */
static void
systemd_status_text(char *buf, size_t len)
{
	struct systemd_counts c = { 0, 0, 0 };

	if (counts_fn != NULL)
		counts_fn(&c);
	snprintf(buf, len, "%d running, %lld queued, %lld done", c.running,
	    (long long)c.queued, (long long)c.done);
}

static void
systemd_status_send(void)
{
	char buf[sizeof status_sent];

	status_dirty = 0;
	systemd_status_text(buf, sizeof buf);
	if (strcmp(buf, status_sent) == 0)
		return;
	snprintf(status_sent, sizeof status_sent, "%s", buf);
	sd_notifyf(0, "STATUS=%s", buf);
}

static void
on_status(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (status_dirty && !srv.shutting_down)
		systemd_status_send();
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

/* An event was logged: STATUS= is due at the next tick. */
void
systemd_status_changed(void)
{
	status_dirty = 1;
}

static void
systemd_start_timers(void)
{
	struct timeval tv;
	uint64_t usec;

	status_ev = event_new(srv.base, -1, EV_PERSIST, on_status, NULL);
	tv.tv_sec = STATUS_INTERVAL_MS / 1000;
	tv.tv_usec = (STATUS_INTERVAL_MS % 1000) * 1000;
	evtimer_add(status_ev, &tv);

	/* Unset WATCHDOG_*, which only our own pid may use. */
	if (sd_watchdog_enabled(1, &usec) <= 0)
		return;
	usec /= 2;
	log_info("watchdog: pinging systemd every %.1f s", usec / 1e6);
	watchdog_ev = event_new(srv.base, -1, EV_PERSIST, on_watchdog, NULL);
	tv.tv_sec = usec / 1000000;
	tv.tv_usec = usec % 1000000;
	evtimer_add(watchdog_ev, &tv);
}

/* The socket listens and the state is loaded (or a reload is over). */
void
systemd_ready(void)
{
	if (!notifying && getenv("NOTIFY_SOCKET") == NULL) {
		/* No one to ping: keep them from the agents all the same. */
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
		return;
	}
	if (!notifying) {
		notifying = 1;
		systemd_start_timers();
	}
	systemd_status_text(status_sent, sizeof status_sent);
	status_dirty = 0;
	sd_notifyf(0, "READY=1\nSTATUS=%s", status_sent);
}

void
systemd_reloading(void)
{
	if (notifying)
		sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
}

void
systemd_stopping(int agents)
{
	if (notifying)
		sd_notifyf(0, "STOPPING=1\nSTATUS=stopping: %d agents to stop",
		    agents);
}

void
systemd_free(void)
{
	if (status_ev != NULL)
		event_free(status_ev);
	if (watchdog_ev != NULL)
		event_free(watchdog_ev);
	status_ev = watchdog_ev = NULL;
}
