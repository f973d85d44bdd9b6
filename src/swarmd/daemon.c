/*
 * daemon.c: the state every layer of the daemon shares: its configuration,
 * its event base, whether it is stopping.  It lives here, at the bottom,
 * so that the store and the log need not reach up into the control layer
 * for it; swarmd.c fills it in at start.
 */
#include "swarmd.h"

struct server srv;
