/* mcp-autoscaler entry point. Only the `simulate` subcommand exists so far;
 * the controller daemon (issue 7) replaces the fallthrough below. */
#include <stdio.h>
#include <string.h>

#include "simulate.h"

static const char usage[] =
        "Usage: mcp-autoscaler [flags]                      (the controller daemon)\n"
        "       mcp-autoscaler simulate --policy FILE (--trace FILE | --model FILE) "
        "[--plot FILE.png]\n"
        "\n"
        "Run `mcp-autoscaler simulate --help` for the simulator.\n";

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "simulate") == 0)
		return simulate_main(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("mcp-autoscaler %s\n", MCP_VERSION);
		return 0;
	}
	fprintf(stderr, "mcp-autoscaler: the controller daemon is not built yet (issue 7); try "
	                "`mcp-autoscaler simulate --help`\n");
	return 2;
}
