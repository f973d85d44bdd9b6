/*
 * hb-client.c: the load generator of the heartbeat benchmark (bench/run.sh).
 *
 * It runs as a swarmd agent, so SWARM_SOCKET, SWARM_AGENT and SWARM_TOKEN
 * are in its environment.  It connects once, then sends one request, reads
 * its one response line, and sends the next, in a loop.  Only round trips
 * that complete inside the wall-clock window [START_MS, START_MS +
 * DURATION_S * 1000) are counted; the count goes to OUTFILE as
 *
 *     <count> <late_ms> <errors>
 *
 * where late_ms is how long after START_MS the client began its loop (0 if
 * it was waiting before the window opened) and errors is the number of
 * responses that were not {"ok":true}.  Any error ends the loop.
 *
 * The request is a fixed, hand-formatted line: this is a load generator,
 * not a client of the protocol.
 *
 *   --verb heartbeat   (default) an agent verb, authenticated by the token
 *   --verb hello       no auth: the cheapest verb, for comparison
 *   --verb note        a heartbeat with a note: each one is an event row
 *                      made durable before its reply (events/s)
 *   --echo SOCKET      talk to bench/echo-server at SOCKET instead of swarmd
 *                      (the request line is the heartbeat line; any line
 *                      back counts): the ceiling for one request, one
 *                      response over a Unix socket on this machine.
 *
 * Exit status: 0 when the window was measured without errors, 1 otherwise,
 * 2 on a usage error.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX 65536

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: hb-client [--verb heartbeat|hello|note] [--echo SOCKET] START_MS DURATION_S OUTFILE\n");
	exit(2);
}

static int
connect_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		fprintf(stderr, "hb-client: socket path too long: %s\n", path);
		return -1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		fprintf(stderr, "hb-client: connect %s: %s\n", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one response line into BUF (NUL-terminated, without the newline).
 * Requests go one at a time, so nothing follows the line; bytes that did
 * would be a protocol error and are reported as such.
 */
static int
read_line(int fd, char *buf, size_t cap)
{
	size_t have = 0;
	ssize_t n;
	char *nl;

	for (;;) {
		if (have == cap - 1) {
			fprintf(stderr, "hb-client: response over %zu bytes\n",
			    cap);
			return -1;
		}
		n = read(fd, buf + have, cap - 1 - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "hb-client: read: %s\n",
			    n == 0 ? "connection closed" : strerror(errno));
			return -1;
		}
		have += (size_t)n;
		buf[have] = '\0';
		if ((nl = memchr(buf, '\n', have)) != NULL) {
			if (nl != buf + have - 1) {
				fprintf(stderr,
				    "hb-client: more than one line in answer to one request\n");
				return -1;
			}
			*nl = '\0';
			return 0;
		}
	}
}

static int
parse_ll(const char *s, long long min, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min)
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *verb = "heartbeat", *echo = NULL, *sock, *agent, *token;
	const char *outfile;
	long long start, duration, count = 0, errors = 0, late = 0;
	char req[512], *resp;
	struct timespec ts;
	int64_t end, t;
	size_t reqlen;
	int fd, i, n, rc = 0;
	FILE *f;

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--verb") == 0 && i + 1 < argc)
			verb = argv[++i];
		else if (strcmp(argv[i], "--echo") == 0 && i + 1 < argc)
			echo = argv[++i];
		else
			usage();
	}
	if (argc - i != 3 || parse_ll(argv[i], 1, &start) == -1 ||
	    parse_ll(argv[i + 1], 1, &duration) == -1)
		usage();
	outfile = argv[i + 2];
	if (strcmp(verb, "heartbeat") != 0 && strcmp(verb, "hello") != 0 &&
	    strcmp(verb, "note") != 0)
		usage();

	sock = echo != NULL ? echo : getenv("SWARM_SOCKET");
	agent = getenv("SWARM_AGENT");
	token = getenv("SWARM_TOKEN");
	if (strcmp(verb, "hello") == 0 && echo == NULL)
		n = snprintf(req, sizeof req,
		    "{\"id\":1,\"verb\":\"hello\",\"args\":{\"version\":1}}\n");
	else {
		if (agent == NULL || token == NULL) {
			fprintf(stderr,
			    "hb-client: SWARM_AGENT and SWARM_TOKEN must be set (run me as a swarmd agent)\n");
			return 2;
		}
		n = snprintf(req, sizeof req,
		    "{\"id\":1,\"verb\":\"heartbeat\",%s\"auth\":{\"agent\":\"%s\",\"token\":\"%s\"}}\n",
		    strcmp(verb, "note") == 0 ?
		        "\"args\":{\"note\":\"benchmark step\"}," :
		        "",
		    agent, token);
	}
	if (sock == NULL || n < 0 || (size_t)n >= sizeof req) {
		fprintf(stderr,
		    "hb-client: no socket (SWARM_SOCKET), or the request does not fit\n");
		return 2;
	}
	reqlen = (size_t)n;
	if ((resp = malloc(RESP_MAX)) == NULL)
		return 1;
	if ((fd = connect_unix(sock)) == -1) {
		free(resp);
		return 1;
	}

	/* One round trip before the window: the token works, the peer answers. */
	if (send_all(fd, req, reqlen) == -1 ||
	    read_line(fd, resp, RESP_MAX) == -1) {
		rc = 1;
		goto out;
	}
	if (echo == NULL && strstr(resp, "\"ok\":true") == NULL) {
		fprintf(stderr, "hb-client: %s refused: %s\n", verb, resp);
		errors++;
		rc = 1;
		goto out;
	}

	end = (int64_t)start + (int64_t)duration * 1000;
	ts.tv_sec = (time_t)(start / 1000);
	ts.tv_nsec = (long)(start % 1000) * 1000000L;
	while (
	    clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	if ((t = now_ms()) > start + 1)
		late = t - start;
	for (;;) {
		if (send_all(fd, req, reqlen) == -1) {
			fprintf(
			    stderr, "hb-client: send: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (read_line(fd, resp, RESP_MAX) == -1) {
			rc = 1;
			break;
		}
		t = now_ms();
		if (t >= end)
			break;
		if (echo == NULL && strstr(resp, "\"ok\":true") == NULL) {
			fprintf(
			    stderr, "hb-client: %s refused: %s\n", verb, resp);
			errors++;
			rc = 1;
			break;
		}
		if (t >= start)
			count++;
	}
out:
	close(fd);
	free(resp);
	if ((f = fopen(outfile, "w")) == NULL) {
		fprintf(
		    stderr, "hb-client: %s: %s\n", outfile, strerror(errno));
		return 1;
	}
	fprintf(f, "%lld %lld %lld\n", count, late, errors);
	if (fclose(f) == EOF) {
		fprintf(
		    stderr, "hb-client: %s: %s\n", outfile, strerror(errno));
		return 1;
	}
	return rc;
}
