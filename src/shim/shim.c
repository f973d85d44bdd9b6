/*
 * swarmd-shim: the parent of one agent.  swarmd runs it in the agent's
 * place; it starts the agent, waits for it, and writes how the agent
 * ended to a status file, durably, before it exits.  It does not depend
 * on swarmd being there, so an agent's exit status survives a restart
 * of the daemon, as containerd-shim and conmon keep a container's.
 *
 *	swarmd-shim STATUS PATH ARG0 [ARG...]
 *
 * Descriptor 3 is a pipe back to swarmd: "pid N" once the agent runs
 * (its exec succeeded), or "error ERRNO" when it could not start.  The
 * agent gets stdin, stdout, stderr, working directory and environment as
 * the shim got them, leads a process group of its own (swarmd signals
 * that group), and starts with every signal at its default and none
 * blocked.  The shim itself leaves the group-wide signals to the agent:
 * it is in no group swarmd signals and ignores the usual stop signals,
 * so only SIGKILL ends it before the status is written.
 *
 * STATUS (an absolute path) gets one line,
 *
 *	pid N exit CODE ended MS	or	pid N signal SIG ended MS
 *
 * written to STATUS.tmp (mode 0600), fsynced, renamed over STATUS, and
 * the directory fsynced: after a crash the file is either whole or not
 * there.  A separate uid for agents would be dropped to in the child,
 * before its exec; the shim keeps swarmd's, so agents cannot forge it.
 */
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPORT_FD 3

extern char **environ;

/* Stop signals a shim ignores: an agent's end is what ends it. */
static const int ignored[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1,
	SIGUSR2, SIGPIPE, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU, SIGXCPU, SIGXFSZ,
	SIGVTALRM, SIGPROF, SIGIO, SIGPWR };

static void
shim_warn(const char *what, const char *arg)
{
	dprintf(2, "swarmd-shim: %s%s%s: %s\n", what, arg != NULL ? " " : "",
	    arg != NULL ? arg : "", strerror(errno));
}

/* One line to swarmd, which reads to the end. */
static void
shim_report(const char *word, long v)
{
	dprintf(REPORT_FD, "%s %ld\n", word, v);
	close(REPORT_FD);
}

/*
 * Start the agent as swarmd would: a process group of its own, no signal
 * blocked, every signal at its default (the shim ignores some, and an
 * ignored signal stays ignored across exec).  posix_spawn: the child runs
 * until its exec before the shim goes on, so the pid it reports is of a
 * running agent and an exec error comes back here.  A separate uid for
 * agents would need fork and setuid in the child instead.  Returns the
 * pid, or -1 with errno set.
 */
static pid_t
shim_start(const char *path, char **argv)
{
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	pid_t pid;
	int rc;

	sigemptyset(&none);
	sigfillset(&dflt);
	sigdelset(&dflt, SIGKILL);
	sigdelset(&dflt, SIGSTOP);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	        POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	rc = posix_spawn(&pid, path, NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
}

/*
 * Wait for the agent.  Peek first (WNOWAIT): while its pid is not reaped
 * the group id cannot be reused, so what the agent left behind in its
 * group is killed, not a stranger's group; then reap.
 */
static int
shim_wait(pid_t pid)
{
	siginfo_t si;
	int status;

	for (;;) {
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0)
			break;
		if (errno != EINTR)
			return -1;
	}
	(void)kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			return -1;
	}
	return status;
}

static int
shim_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* STATUS.tmp, fsync, rename, fsync the directory. */
static int
shim_record(const char *status_path, pid_t pid, int status)
{
	char tmp[PATH_MAX], line[128], dir[PATH_MAX], *slash;
	struct timeval tv;
	long long ms;
	int fd, dfd, n;

	gettimeofday(&tv, NULL);
	ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	if (WIFEXITED(status))
		n = snprintf(line, sizeof line, "pid %d exit %d ended %lld\n",
		    (int)pid, WEXITSTATUS(status), ms);
	else
		n = snprintf(line, sizeof line, "pid %d signal %d ended %lld\n",
		    (int)pid, WIFSIGNALED(status) ? WTERMSIG(status) : 0, ms);
	if (snprintf(tmp, sizeof tmp, "%s.tmp", status_path) >=
	        (int)sizeof tmp ||
	    snprintf(dir, sizeof dir, "%s", status_path) >= (int)sizeof dir ||
	    (slash = strrchr(dir, '/')) == NULL) {
		errno = ENAMETOOLONG;
		return -1;
	}
	*(slash == dir ? slash + 1 : slash) = '\0';
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return -1;
	if (shim_write_all(fd, line, (size_t)n) == -1 || fsync(fd) == -1) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, status_path) == -1)
		return -1;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	n = fsync(dfd);
	close(dfd);
	return n;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	size_t i;
	pid_t pid;
	int status;

	if (argc < 4 || argv[1][0] != '/') {
		dprintf(2, "usage: swarmd-shim /STATUS PATH ARG0 [ARG...]\n");
		return 2;
	}
	if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) == -1) {
		shim_warn("descriptor", "3");
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		(void)sigaction(ignored[i], &sa, NULL);
	if ((pid = shim_start(argv[2], argv + 3)) == -1) {
		shim_report("error", (long)errno);
		return 127;
	}
	shim_report("pid", (long)pid);
	/* Not the agent's working directory: keep nothing of it busy. */
	if (chdir("/") == -1)
		shim_warn("chdir", "/");
	if ((status = shim_wait(pid)) == -1) {
		shim_warn("wait for pid", NULL);
		return 1;
	}
	if (shim_record(argv[1], pid, status) == -1) {
		shim_warn("cannot record the exit status in", argv[1]);
		return 1;
	}
	return 0;
}
