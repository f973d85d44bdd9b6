/*
 * curlev.c: libcurl's multi interface driven by the event loop, shared by
 * everything that speaks HTTP out (the escalation webhook, the proxy).
 * libcurl says which sockets to watch and when to time out; the loop
 * tells it what happened.  Nothing here blocks.
 */
#include <stdlib.h>

#include <curl/curl.h>

#include "swarmd.h"

/* What CURLOPT_PRIVATE carries: who to tell when a transfer ends. */
struct curlev_req {
	curlev_done_cb done;
	void *arg;
};

static CURLM *multi;
static struct event *timer;
static struct event *done_ev; /* transfers that ended in curlev_add */

/* Finished transfers: off the multi first, then their owners are told. */
static void
curlev_check_done(void)
{
	struct curlev_req *r;
	curlev_done_cb done;
	CURLMsg *msg;
	CURL *e;
	CURLcode rc;
	void *arg;
	int left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		e = msg->easy_handle;
		rc = msg->data.result;
		r = NULL;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, &r);
		curl_multi_remove_handle(multi, e);
		if (r == NULL)
			continue;
		done = r->done;
		arg = r->arg;
		free(r);
		curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
		done(e, rc, arg);
	}
}

static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	int running, flags = 0;

	(void)arg;
	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(multi, fd, flags, &running);
	curlev_check_done();
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	curlev_check_done();
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	int running;

	(void)fd;
	(void)what;
	(void)arg;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curlev_check_done();
}

/*
 * libcurl says which of its sockets to watch, and for what.  One event
 * per socket, changed in place: a proxied request moves its connection
 * from writing to reading and back to the pool, and with the changelist
 * (swarmd.c) a change within one turn is a single epoll_ctl.
 */
static int
curlev_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct event *ev = socketp;
	short kind = EV_PERSIST;

	(void)e;
	(void)userp;
	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		curl_multi_assign(multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev == NULL) {
		ev = event_new(srv.base, s, kind, on_socket, NULL);
		curl_multi_assign(multi, s, ev);
	} else if (event_get_events(ev) == kind)
		return 0;
	else {
		event_del(ev);
		event_assign(ev, srv.base, s, kind, on_socket, NULL);
	}
	event_add(ev, NULL);
	return 0;
}

static int
curlev_timer(CURLM *mh, long ms, void *userp)
{
	struct timeval tv;

	(void)mh;
	(void)userp;
	if (ms < 0) {
		evtimer_del(timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = ms % 1000 * 1000;
	evtimer_add(timer, &tv);
	return 0;
}

/* Start E; DONE gets it back, off the multi, when it ends. */
void
curlev_add(CURL *e, curlev_done_cb done, void *arg)
{
	struct curlev_req *r = xcalloc(1, sizeof *r);
	int running;

	if (multi == NULL) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		multi = curl_multi_init();
		timer = evtimer_new(srv.base, on_timeout, NULL);
		done_ev = event_new(srv.base, -1, 0, on_done, NULL);
		curl_multi_setopt(
		    multi, CURLMOPT_SOCKETFUNCTION, curlev_socket);
		curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, curlev_timer);
		/* Keep a connection per request in flight: the default cache
		 * (4 per handle added) churns under the proxy's load. */
		curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 256L);
	}
	r->done = done;
	r->arg = arg;
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_multi_add_handle(multi, e);
	/*
	 * Send it now rather than at the timer libcurl just asked for, a
	 * turn of the loop later (curlev_add is never called from a libcurl
	 * callback).  What that finished is told from the loop: the caller
	 * is not ready to hear of its own transfer yet.
	 */
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	event_active(done_ev, EV_TIMEOUT, 0);
}

/* Cancel E before it ended: its owner is not told. */
void
curlev_remove(CURL *e)
{
	struct curlev_req *r = NULL;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, &r);
	if (multi != NULL)
		curl_multi_remove_handle(multi, e);
	free(r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
}

/* After every owner has removed its transfers. */
void
curlev_free(void)
{
	if (multi != NULL) {
		curl_multi_cleanup(multi);
		curl_global_cleanup();
	}
	multi = NULL;
	if (timer != NULL)
		event_free(timer);
	timer = NULL;
	if (done_ev != NULL)
		event_free(done_ev);
	done_ev = NULL;
}
