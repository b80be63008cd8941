/* controller/simulate: `mcp-autoscaler simulate`, offline replay of a policy
 * through the same pkg/autoscale code the daemon runs.
 *
 *   mcp-autoscaler simulate --policy FILE (--trace FILE | --model FILE)
 *                           [--plot FILE.png] [--output FILE]
 *
 * --policy: the policy ConfigMap as `kubectl get cm NAME -o yaml` prints it
 *           (only .data is read).
 * --trace:  JSON lines, one sync period each (DESIGN.md "Simulation trace
 *           format"); replicas and pool size come from the trace.
 * --model:  a JSON queueing model (docs/autoscale.md "Model file"); replicas
 *           and pool size are fed back from the decisions, with pod start-up
 *           delay.
 * Output: one JSON line per period (the trace output format, plus "load" in
 * requests/s and "p99" in seconds). --plot draws load, replicas, pool size
 * and P99 over time with gnuplot.
 *
 * Exit status: 0 done, 1 I/O or plotting failure, 2 usage error, invalid
 * policy, trace or model (the message names the file, line and problem). */
#ifndef MCP_CONTROLLER_SIMULATE_H
#define MCP_CONTROLLER_SIMULATE_H

/* Runs the subcommand; argv[0] is "simulate". Returns the exit status. */
int simulate_main(int argc, char **argv);

#endif
