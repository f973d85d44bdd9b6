/*
 * file.c: reading a file an agent names (a checkpoint kept by path, a
 * result).  The agent chooses the path, so swarmd reads nothing but a
 * regular file within its limit ([store] file_max for a checkpoint,
 * result_max for a result): a FIFO would hold the loop until a writer
 * came, a directory or /dev/zero has no end, and a device may act on
 * being opened.  A checkpoint's file is hashed a bounded amount per turn
 * of the loop; a result is read whole, to be parsed, so its limit is
 * smaller.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

#define FILE_SLICE (64 * 1024)  /* bytes per read() */
#define FILE_TURN (1024 * 1024) /* bytes hashed per turn of the loop */

struct file_hash {
	int fd;
	enum file_kind kind;
	char *path;
	off_t total;
	struct sha256_ctx sha;
	struct event *ev;
	file_hash_cb cb;
	void *arg;
};

static const char *
file_type(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISLNK(m))
		return "a symbolic link";
	return "something else";
}

static long long
file_max(enum file_kind kind)
{
	return kind == FILE_RESULT ? srv.cfg.result_max : srv.cfg.file_max;
}

static void
file_over(
    const char *path, enum file_kind kind, long long n, char *err, size_t len)
{
	snprintf(err, len, "%s: %lld bytes is over [store] %s (%lld)", path, n,
	    kind == FILE_RESULT ? "result_max" : "file_max", file_max(kind));
}

/* A regular file within the limit: 0, or -1 with ERR. */
static int
file_check(const char *path, enum file_kind kind, const struct stat *st,
    char *err, size_t len)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, len, "%s is %s, not a regular file", path,
		    file_type(st->st_mode));
		return -1;
	}
	if (st->st_size > file_max(kind)) {
		file_over(path, kind, (long long)st->st_size, err, len);
		return -1;
	}
	return 0;
}

/*
 * Open PATH to read.  lstat() first, so that nothing but a regular file
 * is ever opened; O_NOFOLLOW and O_NONBLOCK so that a swap after it can
 * neither lead open() through a link (to a device) nor make it wait for
 * a FIFO's writer; then fstat() of what was opened is what counts.
 * Returns the descriptor and the file's SIZE, or -1 with a one-line ERR
 * that begins with PATH.
 */
static int
file_open(
    const char *path, enum file_kind kind, off_t *size, char *err, size_t len)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) == -1) {
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (file_check(path, kind, &st, err, len) == -1)
		return -1;
	fd = open(
	    path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd == -1 && errno == ELOOP) {
		snprintf(err, len, "%s is a symbolic link, not a regular file",
		    path);
		return -1;
	}
	if (fd == -1) {
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, len, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (file_check(path, kind, &st, err, len) == -1) {
		close(fd);
		return -1;
	}
	*size = st.st_size;
	return fd;
}

/* Read up to MAX bytes from FD into BUF; -1 on an error. */
static ssize_t
file_read_some(int fd, char *buf, size_t max)
{
	ssize_t r;

	do
		r = read(fd, buf, max < FILE_SLICE ? max : FILE_SLICE);
	while (r == -1 && errno == EINTR);
	return r;
}

/*
 * PATH's content, NUL-terminated, in *SIZE bytes; NULL with ERR.  A file
 * that grows past the limit while it is read is refused too.
 */
char *
file_read(
    const char *path, enum file_kind kind, size_t *size, char *err, size_t len)
{
	size_t cap, n = 0, max = (size_t)file_max(kind);
	off_t want;
	ssize_t r;
	char *buf;
	int fd;

	if ((fd = file_open(path, kind, &want, err, len)) == -1)
		return NULL;
	cap = (size_t)want + 1; /* room to see that it grew */
	buf = xmalloc(cap + 1);
	while ((r = file_read_some(fd, buf + n, cap - n)) > 0) {
		if ((n += (size_t)r) > max) {
			file_over(path, kind, (long long)n, err, len);
			break;
		}
		if (n == cap) {
			cap = cap > max / 2 ? max + 1 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	if (r == -1)
		snprintf(err, len, "%s: %s", path, strerror(errno));
	close(fd);
	if (r != 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*size = n;
	return buf;
}

static void
file_hash_free(struct file_hash *h)
{
	close(h->fd);
	event_free(h->ev);
	free(h->path);
	free(h);
}

/* Done: free H first, so that its callback may start another. */
static void
file_hash_end(struct file_hash *h, const char *err)
{
	uint8_t digest[SHA256_LEN];
	file_hash_cb cb = h->cb;
	void *arg = h->arg;
	off_t total = h->total;

	if (err == NULL)
		sha256_final(&h->sha, digest);
	file_hash_free(h);
	cb(err == NULL ? digest : NULL, total, err, arg);
}

/* One turn's share of the file, then back to the loop. */
static void
file_hash_turn(evutil_socket_t unused, short what, void *arg)
{
	static char buf[FILE_SLICE];
	static const struct timeval now = { 0, 0 };
	struct file_hash *h = arg;
	char err[512];
	size_t done = 0;
	ssize_t r;

	(void)unused;
	(void)what;
	while (done < FILE_TURN) {
		if ((r = file_read_some(h->fd, buf, sizeof buf)) == -1) {
			snprintf(err, sizeof err, "%s: %s", h->path,
			    strerror(errno));
			file_hash_end(h, err);
			return;
		}
		if (r == 0) {
			file_hash_end(h, NULL);
			return;
		}
		if ((h->total += r) > file_max(h->kind)) {
			file_over(h->path, h->kind, (long long)h->total, err,
			    sizeof err);
			file_hash_end(h, err);
			return;
		}
		sha256_update(&h->sha, buf, (size_t)r);
		done += (size_t)r;
	}
	evtimer_add(h->ev, &now);
}

/*
 * Hash the file at PATH a slice at a time, off the caller's turn; CB gets
 * the digest and size, or an error.  NULL with ERR when PATH cannot be
 * opened as file_open() would.
 */
struct file_hash *
file_hash_start(const char *path, enum file_kind kind, file_hash_cb cb,
    void *arg, char *err, size_t len)
{
	static const struct timeval now = { 0, 0 };
	struct file_hash *h;
	off_t size;
	int fd;

	if ((fd = file_open(path, kind, &size, err, len)) == -1)
		return NULL;
	h = xcalloc(1, sizeof *h);
	h->fd = fd;
	h->kind = kind;
	h->path = xstrdup(path);
	h->cb = cb;
	h->arg = arg;
	sha256_init(&h->sha);
	h->ev = evtimer_new(srv.base, file_hash_turn, h);
	evtimer_add(h->ev, &now);
	return h;
}

/* Stop hashing; its callback is not called. */
void
file_hash_cancel(struct file_hash *h)
{
	if (h != NULL)
		file_hash_free(h);
}

/*
 * Write LEN bytes to PATH with MODE, whole or not at all: a temporary
 * file beside it, given its mode, synced, renamed over it, the directory
 * synced.  The mode is set before the rename: a hook rewritten at start
 * is run by agents that outlived the last swarmd, and must never be seen
 * without its exec bit.
 */
int
file_write_mode(const char *path, const char *data, size_t len, mode_t mode,
    char *err, size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", path), *dir = xstrdup(path), *slash;
	ssize_t n = 0;
	size_t off = 0;
	int fd, dfd, ok, saved;

	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	ok = fd != -1 && fchmod(fd, mode) == 0;
	while (ok && off < len && (n = write(fd, data + off, len - off)) > 0)
		off += (size_t)n;
	if (ok && n == 0 && off < len)
		errno = ENOSPC;
	ok = ok && off == len && fsync(fd) == 0;
	if (fd != -1 && close(fd) == -1)
		ok = 0;
	ok = ok && rename(tmp, path) == 0;
	saved = errno;
	if (!ok) {
		if (fd != -1)
			unlink(tmp);
		snprintf(err, errlen, "%s: %s", path, strerror(saved));
	} else {
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
		dfd = open(slash != NULL ? dir : ".",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd != -1) {
			fsync(dfd);
			close(dfd);
		}
	}
	free(tmp);
	free(dir);
	return ok ? 0 : -1;
}

int
file_write_private(
    const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	return file_write_mode(path, data, len, 0600, err, errlen);
}
