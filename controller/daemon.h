/* controller/daemon: the mcp-autoscaler controller process: flags (the
 * table below doubles as --help), logging, Kubernetes configuration
 * (--kubeconfig, else $KUBECONFIG, else in-cluster, else ~/.kube/config),
 * the /metrics, /healthz and /readyz endpoints, signals, and the event loop
 * that runs the reconcile core (ctl.h). See docs/controller.md. */
#ifndef MCP_CONTROLLER_DAEMON_H
#define MCP_CONTROLLER_DAEMON_H

/* Runs the daemon; returns the process exit code (0 after SIGTERM/SIGINT,
 * 1 on a runtime failure, 2 on a bad flag). */
int daemon_main(int argc, char **argv);

#endif
