/*
 * replay.c: a main that runs a fuzz target on each file named, or on each
 * file of each directory named, as libFuzzer would.  The suite replays
 * every seed and every input that once crashed (tests/fuzz/regress) with
 * the compiler and sanitizers of the build, no libFuzzer needed.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *, char ***) __attribute__((weak));

static void
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1)
		err(1, "%s", path);
	/* Its own allocation of exactly its size: ASan sees overreads. */
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		err(1, "read %s", path);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
}

static int
replay_dir(const char *path)
{
	struct dirent **names;
	char file[4096];
	int i, n, count = 0;

	if ((n = scandir(path, &names, NULL, alphasort)) == -1)
		err(1, "%s", path);
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(
			    file, sizeof file, "%s/%s", path, names[i]->d_name);
			replay_file(file);
			count++;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	struct stat sb;
	int i, count = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) == -1)
			err(1, "%s", argv[i]);
		if (S_ISDIR(sb.st_mode))
			count += replay_dir(argv[i]);
		else {
			replay_file(argv[i]);
			count++;
		}
	}
	printf("%d inputs replayed\n", count);
	/* Nothing replayed proves nothing. */
	return count > 0 ? 0 : 1;
}
