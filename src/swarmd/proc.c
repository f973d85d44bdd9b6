/*
 * proc.c: signals to an agent's process group (every agent leads its own
 * group, so one kill reaches everything it started), and what /proc says
 * of a process: its start time, parent, group and session, environment.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "swarmd.h"

int
proc_signal_group(pid_t pgid, int sig)
{
	if (pgid <= 1)
		return -1;
	return kill(-pgid, sig);
}

int
proc_group_alive(pid_t pgid)
{
	if (pgid <= 1)
		return 0;
	return kill(-pgid, 0) == 0 || errno == EPERM;
}

/*
 * The start time of PID in clock ticks since boot (field 22 of
 * /proc/PID/stat), or -1 if there is no such live process.  A pid with the start time we recorded is the
 * process we started, not a stranger that inherited the number.
 */
/*
 * /proc/PID/stat from its state on (field 3), past the command name,
 * which may hold spaces and parentheses; into BUF.  NULL if PID is gone.
 */
const char *
proc_stat_fields(pid_t pid, char *buf, size_t len)
{
	char path[64], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return NULL;
	return p + 2;
}

long long
proc_start_time(pid_t pid)
{
	char buf[1024];
	const char *p = proc_stat_fields(pid, buf, sizeof buf);
	long long start = -1;
	int field;

	/* A zombie has ended: only its parent has yet to notice. */
	if (p == NULL || *p == 'Z' || *p == 'X')
		return -1;
	for (field = 3; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p != NULL && sscanf(p + 1, "%lld", &start) != 1)
		start = -1;
	return start;
}

/*
 * What every child of swarmd starts with: a process group of its own, no
 * blocked signals, and every signal at its default action (swarmd ignores
 * SIGPIPE and handles others, and both would otherwise be inherited).
 */
void
proc_spawn_attr(posix_spawnattr_t *attr)
{
	sigset_t none, dflt;

	sigemptyset(&none);
	sigfillset(&dflt);
	sigdelset(&dflt, SIGKILL);
	sigdelset(&dflt, SIGSTOP);
	posix_spawnattr_init(attr);
	posix_spawnattr_setflags(attr,
	    POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	        POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(attr, 0);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &dflt);
}

/*
 * PID's environment, its entries NUL-ended, in a buffer of its own
 * (*LEN bytes, one NUL more); NULL if it cannot be read.
 */
char *
proc_environ(pid_t pid, size_t *len)
{
	char path[64], *buf = NULL;
	size_t cap = 0, n = 0;
	ssize_t r = 1;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	while (r > 0 && cap < PROC_ENV_MAX) {
		cap = cap == 0 ? 16384 : cap * 2;
		buf = xrealloc(buf, cap + 1);
		while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
			n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The value of NAME in an environment proc_environ read, or NULL. */
const char *
proc_env_value(const char *env, size_t len, const char *name)
{
	size_t off, nl = strlen(name);

	for (off = 0; off < len; off += strlen(env + off) + 1) {
		if (strncmp(env + off, name, nl) == 0 && env[off + nl] == '=')
			return env + off + nl + 1;
	}
	return NULL;
}

/* Whether PID's environment has NAME=VALUE and names SOCKET. */
static int
proc_env_has(pid_t pid, const char *name, const char *value, const char *socket)
{
	size_t len;
	char *env = proc_environ(pid, &len);
	const char *a, *s;
	int yes;

	if (env == NULL)
		return 0;
	a = proc_env_value(env, len, name);
	s = proc_env_value(env, len, SWARM_ENV_SOCKET);
	yes = a != NULL && s != NULL && strcmp(a, value) == 0 &&
	    strcmp(s, socket) == 0;
	free(env);
	return yes;
}

/* A process (not us) whose environment has NAME=VALUE on SOCKET, or 0. */
pid_t
proc_find_env(const char *name, const char *value, const char *socket)
{
	struct dirent *d;
	pid_t pid = 0;
	long long n;
	DIR *dir;

	if ((dir = opendir("/proc")) != NULL) {
		while (pid == 0 && (d = readdir(dir)) != NULL) {
			if (parse_int(d->d_name, 2, INT32_MAX, &n) == 0 &&
			    (pid_t)n != getpid() &&
			    proc_env_has((pid_t)n, name, value, socket))
				pid = (pid_t)n;
		}
		closedir(dir);
	}
	return pid;
}

/*
 * The process whose environment names agent ID on our socket, or 0: an
 * agent spawned just before swarmd died, before its pid was recorded.
 */
pid_t
proc_find_agent(int64_t id, const char *socket)
{
	char a[32];

	snprintf(a, sizeof a, "agent-%lld", (long long)id);
	return proc_find_env(SWARM_ENV_AGENT, a, socket);
}
