/*
 * fake-upstream [-v] [-l ADDR:PORT] [-c CONFIG.json]
 *
 * A stand-in for the Anthropic Messages API (and OpenAI's chat
 * completions) on loopback.  Port 0 picks a
 * free port; the first line on stdout is "listening on ADDR:PORT" either
 * way, so a test can read where to connect.  SIGTERM or SIGINT stops it.
 * -v logs each request's line and API headers to stderr.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fake-upstream.h"

struct event_base *base;
static int verbose;

static void __attribute__((noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fake-upstream: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		die("out of memory");
	p = realloc(p, n * size == 0 ? 1 : n * size);
	if (p == NULL)
		die("out of memory");
	return p;
}

static void
log_request(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	static const char *show[] = { "anthropic-version", "anthropic-beta",
		"content-length" };
	const char *v;
	size_t i;

	fprintf(stderr, "%s %s",
	    evhttp_request_get_command(req) == EVHTTP_REQ_POST    ? "POST" :
	        evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET" :
	                                                            "OTHER",
	    evhttp_request_get_uri(req));
	for (i = 0; i < nitems(show); i++)
		if ((v = evhttp_find_header(h, show[i])) != NULL)
			fprintf(stderr, " %s=%s", show[i], v);
	fputc('\n', stderr);
}

static void
route(struct evhttp_request *req, void *arg)
{
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const char *key;

	(void)arg;
	if (verbose)
		log_request(req);
	if (path == NULL)
		path = "/";
	if (strncmp(path, "/_fake/", 7) == 0) {
		control_handle(req, path);
		return;
	}
	stats.requests++;
	/* Counted under the key the endpoint itself would read. */
	key = api_key(req,
	    strcmp(path, "/v1/chat/completions") == 0 ? API_OPENAI :
	                                                API_ANTHROPIC);
	if (key != NULL)
		stats_key(key)->requests++;
	if (strcmp(path, "/v1/messages") == 0)
		api_messages(req);
	else if (strcmp(path, "/v1/messages/count_tokens") == 0)
		api_count_tokens(req);
	else if (strcmp(path, "/v1/chat/completions") == 0)
		openai_chat(req);
	else
		api_not_found(req);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopexit(base, NULL);
}

/* Bind ADDR:PORT and say where, on the first line of stdout. */
static void
listen_on(struct evhttp *http, const char *spec)
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	const char *colon = strrchr(spec, ':');
	char addr[256];
	char *end;
	long port;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof addr)
		die("%s: expected ADDR:PORT", spec);
	snprintf(addr, sizeof addr, "%.*s", (int)(colon - spec), spec);
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
		die("%s: bad port", spec);
	bound = evhttp_bind_socket_with_handle(http, addr, (ev_uint16_t)port);
	if (bound == NULL)
		die("cannot listen on %s", spec);
	/* clang-tidy cannot see getsockname fill it. */
	memset(&sin, 0, sizeof sin);
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	        (struct sockaddr *)&sin, &len) == 0 &&
	    sin.sin_family == AF_INET)
		port = ntohs(sin.sin_port);
	printf("listening on %s:%ld\n", addr, port);
	fflush(stdout);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	    "usage: fake-upstream [-v] [-l ADDR:PORT] [-c CONFIG.json]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *listen = NULL, *conf = NULL;
	struct event *sigterm, *sigint;
	struct evhttp *http;
	char err[512];
	int ch;

	while ((ch = getopt(argc, argv, "c:l:v")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	config_defaults();
	if (conf != NULL && config_load(conf, err, sizeof err) == -1)
		die("%s", err);
	if (listen != NULL)
		snprintf(cfg.listen, sizeof cfg.listen, "%s", listen);
	signal(SIGPIPE, SIG_IGN);
	id_seed(cfg.seed);
	ratelimit_init(cfg.limit);

	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL)
		die("cannot set up libevent");
	evhttp_set_gencb(http, route, NULL);
	listen_on(http, cfg.listen);
	sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
	sigint = evsignal_new(base, SIGINT, on_signal, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);

	event_base_dispatch(base);

	reply_shutdown();
	evhttp_free(http);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
	config_free();
	stats_free();
	return 0;
}
