/*
 * stream.c: an agent's stream-json output (Claude Code's -p
 * --output-format stream-json), read by output.c from the agent's log as
 * it grows and metered on a real state database.  The input is written
 * in three parts, each read as it lands, so lines cut between two reads
 * are joined as they are when the agent is mid-line.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include "swarmd.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char e[256];

	(void)argc;
	(void)argv;
	config_defaults(&srv.cfg);
	srv.cfg.window_tokens = 10000;
	srv.cfg.window = 3600;
	log_set_level("err");
	srv.base = event_base_new();
	/* No fsync: the database is scratch. */
	if (store_open(fuzz_dir(), "off", e, sizeof e) == -1)
		errx(1, "store_open: %s", e);
	quota_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut1 = size / 3, cut2 = 2 * size / 3;
	struct agent *a = agent_new(7, 1, "c1", 1);

	a->pid = 0; /* no process: a cap never signals */
	a->log = xstrdup(fuzz_file("agent.log", data, cut1));
	output_read(a);
	fuzz_append(a->log, data + cut1, cut2 - cut1);
	output_read(a);
	fuzz_append(a->log, data + cut2, size - cut2);
	output_unwatch(a); /* reads the rest, as at the agent's exit */
	if (a->out_offset != (int64_t)size)
		abort(); /* output left unread */
	agent_free(a);
	return 0;
}
