/*
 * proc.c: signals to an agent's process group.  Every agent leads its own
 * group, so one kill reaches everything it started.
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
long long
proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	long long start = -1;
	size_t n;
	FILE *f;
	int field;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past it. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* A zombie has ended: only its parent has yet to notice. */
	if (p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
		return -1;
	for (field = 2; field < 22 && p != NULL; field++)
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

/* Whether PID's environment holds both entries A and B. */
static int
proc_env_has(pid_t pid, const char *a, const char *b)
{
	char path[64], buf[65536];
	size_t n = 0, off;
	ssize_t r;
	int fd, found = 0;

	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	while (n < sizeof buf - 1 &&
	    (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	for (off = 0; off < n; off += strlen(buf + off) + 1)
		found |= (strcmp(buf + off, a) == 0) |
		    (strcmp(buf + off, b) == 0) << 1;
	return found == 3;
}

/*
 * The process whose environment names agent ID on our socket, or 0: an
 * agent spawned just before swarmd died, before its pid was recorded.
 */
pid_t
proc_find_agent(int64_t id, const char *socket)
{
	char a[64], *b = xasprintf("%s=%s", SWARM_ENV_SOCKET, socket);
	struct dirent *d;
	pid_t pid = 0;
	long long n;
	DIR *dir;

	snprintf(a, sizeof a, "%s=agent-%lld", SWARM_ENV_AGENT, (long long)id);
	if ((dir = opendir("/proc")) != NULL) {
		while (pid == 0 && (d = readdir(dir)) != NULL) {
			if (parse_int(d->d_name, 2, INT32_MAX, &n) == 0 &&
			    (pid_t)n != getpid() &&
			    proc_env_has((pid_t)n, a, b))
				pid = (pid_t)n;
		}
		closedir(dir);
	}
	free(b);
	return pid;
}
