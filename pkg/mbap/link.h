/* pkg/mbap/link: one request/reply exchange on a Modbus TCP socket, framed
 * by the MBAP length field (never by function code), with a deadline.
 *
 * The socket may be blocking or not: every send and receive is non-blocking
 * (MSG_DONTWAIT) behind poll(), so the deadline always holds. The caller owns
 * the socket; nothing here closes it. After MBAP_ETIMEDOUT or MBAP_EIO the
 * stream may be out of step and must not be reused. Thread safe as long as
 * one socket is used by one thread at a time. */
#ifndef MCP_MBAP_LINK_H
#define MCP_MBAP_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "mbap/mbap.h"

/* Writes the request ADU req[0..qn) to fd, then reads one whole reply ADU
 * into rep (cap >= MBAP_MAX_ADU recommended) before deadline_ns (monotonic,
 * base_now_ns()). The reply must answer the request (mbap_match_reply).
 * Returns 0 with *rn = reply length, or MBAP_ETIMEDOUT, MBAP_EIO,
 * MBAP_EPROTO / MBAP_ELENGTH (garbage from the device), MBAP_ETID /
 * MBAP_EMISMATCH (an answer to something else), MBAP_EINVAL. */
int mbap_link_exchange(int fd, const uint8_t *req, size_t qn, uint8_t *rep, size_t cap, size_t *rn,
                       int64_t deadline_ns);

/* Reads one whole ADU from fd into buf before deadline_ns (no matching).
 * Returns 0 with *n, or the errors above. */
int mbap_link_read(int fd, uint8_t *buf, size_t cap, size_t *n, int64_t deadline_ns);

/* Writes buf[0..n) to fd before deadline_ns. 0, MBAP_ETIMEDOUT or MBAP_EIO. */
int mbap_link_write(int fd, const uint8_t *buf, size_t n, int64_t deadline_ns);

#endif
