/*
 * sock.c: binding the daemon's Unix sockets, the control socket and the
 * proxy's, with the configured mode and group.  A socket another daemon
 * still answers on is never taken over.  Every listener pauses when
 * accept fails (descriptors run out) instead of retrying at once.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "swarmd.h"

#define PAUSE_FIRST_MS 100 /* the first pause after an accept error */
#define PAUSE_MAX_MS 1000  /* doubling up to this while errors go on */
#define QUIET_MS 2000      /* accepting this long without error ends it */
#define REMIND_MS 60000    /* a long run of errors is mentioned this often */

/* A listener and its run of accept errors, if any. */
struct accept_guard {
	struct evconnlistener *l;
	const char *name;
	struct event *timer;
	int paused;      /* disabled by us until the timer */
	int delay;       /* ms of the next pause; 0: no run of errors */
	int first_errno; /* what the run began with */
	int64_t errors;  /* in this run, after the first */
	int64_t since;   /* mono ms the run began */
	int64_t told;    /* mono ms of its last log line */
	LIST_ENTRY(accept_guard) entry;
};
static LIST_HEAD(, accept_guard) guards = LIST_HEAD_INITIALIZER(guards);

/* Refuse to take over a socket another daemon still answers on. */
static int
socket_in_use(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	close(fd);
	return rc == 0;
}

static int
socket_perms(const char *path, char *err, size_t errlen)
{
	struct group *gr;

	if (chmod(path, srv.cfg.socket_mode) == -1) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		return -1;
	}
	if (*srv.cfg.socket_group == '\0')
		return 0;
	if ((gr = getgrnam(srv.cfg.socket_group)) == NULL) {
		snprintf(err, errlen, "socket_group %s: no such group",
		    srv.cfg.socket_group);
		return -1;
	}
	if (chown(path, (uid_t)-1, gr->gr_gid) == -1) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Bind and listen on PATH ourselves; the descriptor, or -1 with ERR.
 * The proxy's Unix socket is made the same way. */
int
server_bind(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	if (socket_in_use(path)) {
		snprintf(
		    err, errlen, "%s: another swarmd is listening there", path);
		return -1;
	}
	unlink(path);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (socket_perms(path, err, errlen) == -1 || listen(fd, 4096) == -1) {
		if (*err == '\0')
			snprintf(err, errlen, "listen: %s", strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/* ---- pausing a listener on accept errors ---- */

static struct accept_guard *
guard_find(struct evconnlistener *l)
{
	struct accept_guard *g;

	LIST_FOREACH(g, &guards, entry) {
		if (g->l == l)
			return g;
	}
	return NULL;
}

static void
guard_at(struct accept_guard *g, int ms)
{
	struct timeval tv = { ms / 1000, ms % 1000 * 1000 };

	evtimer_add(g->timer, &tv);
}

/*
 * The pause is over: accept again, and if nothing fails for QUIET_MS the
 * run is over too; say how many errors it had beyond the one logged.
 */
static void
on_guard_timer(evutil_socket_t fd, short what, void *arg)
{
	struct accept_guard *g = arg;

	(void)fd;
	(void)what;
	if (srv.shutting_down)
		return;
	if (g->paused) {
		g->paused = 0;
		evconnlistener_enable(g->l);
		guard_at(g, QUIET_MS);
		return;
	}
	log_notice("%s: accepting again; %lld more accept errors in %.1f s",
	    g->name, (long long)g->errors,
	    (double)(now_mono_ms() - g->since) / 1000);
	g->delay = 0;
}

/*
 * EMFILE and the like leave the connection in the backlog: libevent
 * would try again on every turn of the loop, at full CPU and a log line
 * each time.  Stop accepting for a moment, longer while it goes on, and
 * log the first error of a run (then one line a minute).
 */
static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct accept_guard *g = guard_find(l);
	int64_t now = now_mono_ms();
	int err = errno;

	(void)arg;
	if (g == NULL)
		return;
	evconnlistener_disable(l);
	g->paused = 1;
	if (g->delay == 0) {
		g->delay = PAUSE_FIRST_MS;
		g->first_errno = err;
		g->errors = 0;
		g->since = g->told = now;
		log_warnx("%s: accept: %s; pausing new connections", g->name,
		    strerror(err));
	} else {
		g->errors++;
		if ((g->delay *= 2) > PAUSE_MAX_MS)
			g->delay = PAUSE_MAX_MS;
		if (now - g->told >= REMIND_MS) {
			g->told = now;
			log_warnx(
			    "%s: accept still failing (%s): %lld errors in %.0f s",
			    g->name, strerror(g->first_errno),
			    (long long)g->errors + 1,
			    (double)(now - g->since) / 1000);
		}
	}
	guard_at(g, g->delay);
}

/* Pause L on accept errors; NAME says which in the log. */
void
sock_guard_accept(struct evconnlistener *l, const char *name)
{
	struct accept_guard *g = xcalloc(1, sizeof *g);

	g->l = l;
	g->name = name;
	g->timer = evtimer_new(srv.base, on_guard_timer, g);
	LIST_INSERT_HEAD(&guards, g, entry);
	evconnlistener_set_error_cb(l, on_accept_error);
}

/* Before L is disabled for good or freed: no timer may enable it. */
void
sock_unguard_accept(struct evconnlistener *l)
{
	struct accept_guard *g = guard_find(l);

	if (g == NULL)
		return;
	evconnlistener_set_error_cb(l, NULL);
	LIST_REMOVE(g, entry);
	event_free(g->timer);
	free(g);
}
