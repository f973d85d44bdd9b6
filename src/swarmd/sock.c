/*
 * sock.c: binding the daemon's Unix sockets, the control socket and the
 * proxy's, with the configured mode and group.  A socket another daemon
 * still answers on is never taken over.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

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
