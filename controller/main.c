/* mcp-autoscaler entry point: `simulate` runs the offline simulator, every
 * other command line runs the controller daemon (controller/daemon.c). */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "simulate.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "simulate") == 0)
		return simulate_main(argc - 1, argv + 1);
	return daemon_main(argc, argv);
}
