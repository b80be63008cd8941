/* tests/lib/pool_modbus_server: an in-process libmodbus TCP server for tests
 * and benchmarks, with fault injection.
 *
 * It listens on a random address in 127.1.0.0/16 (port chosen by the
 * kernel), runs an accept thread plus one thread per client, and answers
 * every function libmodbus's modbus_reply() knows from a mapping of 1000
 * coils/discrete inputs/holding/input registers; holding register i starts
 * with the value i, so a read can be checked.
 *
 * Faults, settable at any time from any thread:
 * - close_all: shuts down every current client connection (device reboot).
 * - stall: requests are read but never answered (device hung).
 * - refuse: the listener is closed, so connects get ECONNREFUSED; turning it
 *   off listens again on the same address and port.
 * - exception: every request gets this Modbus exception code (0: off).
 * - delay_ms: each request is answered after this delay (per client).
 *
 * Not for production: no limits beyond 256 concurrent clients. */
#ifndef MCP_TESTS_POOL_MODBUS_SERVER_H
#define MCP_TESTS_POOL_MODBUS_SERVER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct pool_mbsrv pool_mbsrv_t;

/* Starts a server. Returns 0 and *out, or -1 (reason printed to stderr). */
int pool_mbsrv_start(pool_mbsrv_t **out);
/* Stops the threads, closes every socket, frees. NULL is fine. */
void pool_mbsrv_stop(pool_mbsrv_t *s);

const char *pool_mbsrv_host(const pool_mbsrv_t *s); /* dotted quad, borrowed */
int pool_mbsrv_port(const pool_mbsrv_t *s);

void pool_mbsrv_close_all(pool_mbsrv_t *s);
void pool_mbsrv_set_stall(pool_mbsrv_t *s, bool on);
/* Returns once the listener is closed / listening again; 0 or -1 (bind failed). */
int pool_mbsrv_set_refuse(pool_mbsrv_t *s, bool on);
void pool_mbsrv_set_exception(pool_mbsrv_t *s, int code);
void pool_mbsrv_set_delay_ms(pool_mbsrv_t *s, int ms);

uint64_t pool_mbsrv_requests(const pool_mbsrv_t *s); /* requests received */
uint64_t pool_mbsrv_accepts(const pool_mbsrv_t *s);  /* connections accepted */
int pool_mbsrv_clients(const pool_mbsrv_t *s);       /* connections open now */

#endif
