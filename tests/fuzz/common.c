/*
 * common.c: scratch files for the fuzz targets.  The targets that read a
 * file the daemon reads (a config, a result, an agent's output) get the
 * input written to one, so the real reading code runs.
 */
#include <sys/stat.h>
#include <err.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char dir[4096];

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_dir(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	if (dir[0] != '\0')
		return dir;
	snprintf(dir, sizeof dir, "%s/swarmd-fuzz-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		err(1, "mkdtemp %s", dir);
	atexit(rm_dir);
	return dir;
}

static void
write_all(int fd, const uint8_t *data, size_t size, const char *path)
{
	ssize_t n;

	while (size > 0) {
		if ((n = write(fd, data, size)) <= 0)
			err(1, "write %s", path);
		data += n;
		size -= (size_t)n;
	}
}

const char *
fuzz_file(const char *name, const uint8_t *data, size_t size)
{
	static char path[4200];
	int fd;

	snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		err(1, "open %s", path);
	write_all(fd, data, size, path);
	close(fd);
	return path;
}

void
fuzz_append(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd == -1)
		err(1, "open %s", path);
	write_all(fd, data, size, path);
	close(fd);
}
