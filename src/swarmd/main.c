/* main.c: swarmd's entry point; everything else is in the library. */
#include "swarmd.h"

int
main(int argc, char **argv)
{
	return swarmd_main(argc, argv);
}
