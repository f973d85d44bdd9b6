/*
 * proc.c: signals to an agent's process group.  Every agent leads its own
 * group, so one kill reaches everything it started.
 */
#include <errno.h>
#include <signal.h>

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
