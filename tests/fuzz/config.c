/*
 * config.c: swarmd.conf, as swarmd -c and SIGHUP load it (config_load
 * over the defaults).  A file refused must say why; one accepted must
 * hold values the daemon can use.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[1024] = "";
	const char *path = fuzz_file("swarmd.conf", data, size);

	config_defaults(&cfg);
	if (config_load(&cfg, path, 0, err, sizeof err) == -1) {
		if (err[0] == '\0')
			abort(); /* refused without a reason */
	} else if (cfg.socket == NULL || cfg.socket[0] != '/' ||
	    cfg.statedir == NULL || cfg.statedir[0] != '/' ||
	    cfg.resume_at > cfg.pause_at)
		abort(); /* accepted what check_values refuses */
	config_free(&cfg);
	return 0;
}
