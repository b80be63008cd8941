/* pkg/mbap: Modbus TCP application data units (ADUs): framing by the MBAP
 * length field, request validation, exception responses.
 *
 * An ADU is the 7-byte MBAP header (transaction id, protocol id = 0, length,
 * unit id) followed by the PDU (function code + data). The length field
 * counts the unit id plus the PDU, so it lies in 2..254 and a whole ADU is
 * at most 260 bytes.
 *
 * We frame by that length field alone. libmodbus frames by function code and
 * desynchronises on codes it does not know (libmodbus #848); a gateway that
 * frames by MBAP length never loses its place in a stream, whatever the
 * function code, so it can answer unknown codes with exception 0x01 instead
 * of hanging.
 *
 * Nothing here allocates or does I/O; every function is pure and thread safe.
 * Errors are negative MBAP_E* codes; mbap_strerror() names them. */
#ifndef MCP_MBAP_MBAP_H
#define MCP_MBAP_MBAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MBAP_HEADER_LEN 7
#define MBAP_MIN_LENGTH 2                     /* length field: unit id + function code */
#define MBAP_MAX_LENGTH 254                   /* length field: unit id + 253-byte PDU */
#define MBAP_MAX_ADU    (6 + MBAP_MAX_LENGTH) /* 260 */
#define MBAP_MAX_PDU    (MBAP_MAX_LENGTH - 1) /* 253 */

#define MBAP_EPROTO    (-1) /* protocol id is not 0 */
#define MBAP_ELENGTH   (-2) /* length field outside 2..254 */
#define MBAP_ESHORT    (-3) /* PDU length does not fit the function code */
#define MBAP_EINVAL    (-4) /* bad argument */
#define MBAP_ETID      (-5) /* reply's transaction id is not the request's */
#define MBAP_EMISMATCH (-6) /* reply's unit id or function code does not match */
#define MBAP_ETIMEDOUT (-7) /* link: no whole reply before the deadline */
#define MBAP_EIO       (-8) /* link: read/write failed or the peer closed */

/* Modbus exception codes a gateway uses. */
#define MBAP_EXC_ILLEGAL_FUNCTION 0x01
#define MBAP_EXC_ILLEGAL_ADDRESS  0x02
#define MBAP_EXC_ILLEGAL_VALUE    0x03
#define MBAP_EXC_DEVICE_FAILURE   0x04
#define MBAP_EXC_BUSY             0x06
#define MBAP_EXC_GW_PATH          0x0A /* gateway path unavailable */
#define MBAP_EXC_GW_TARGET        0x0B /* gateway target device failed to respond */

typedef struct {
	uint16_t tid;    /* transaction id */
	uint16_t pid;    /* protocol id (0 for Modbus) */
	uint16_t length; /* bytes after the length field: unit id + PDU */
	uint8_t unit;    /* unit id */
} mbap_header_t;

/* Decodes the header of buf[0..n). Returns 0, or MBAP_ESHORT when n < 7.
 * Does not check the values (see mbap_frame). */
int mbap_header_decode(const uint8_t *buf, size_t n, mbap_header_t *h);
/* Writes h into out[0..7). */
void mbap_header_encode(const mbap_header_t *h, uint8_t *out);

/* Finds the first ADU in a stream buffer buf[0..n).
 * Returns the whole ADU length (> 0) when buf holds a complete one, 0 when
 * more bytes are needed, MBAP_EPROTO when the protocol id is not 0, or
 * MBAP_ELENGTH when the length field is outside 2..254. On a negative
 * return the stream cannot be trusted any more: close it. A header is
 * judged as soon as its 6 bytes up to the length field are there, so a
 * bad length is never waited on. */
int mbap_frame(const uint8_t *buf, size_t n);

/* Which unit ids a request may carry. */
typedef struct {
	bool any_unit;     /* accept every unit id 0..255 */
	uint8_t unit;      /* otherwise: the one accepted unit id ... */
	bool accept_0_255; /* ... plus 0 and 255, which TCP devices treat as "this device" */
} mbap_unit_policy_t;

/* What to do with a framed request. */
typedef enum {
	MBAP_FORWARD = 0, /* valid: forward it */
	MBAP_EXCEPTION,   /* well formed but not served: answer with verdict.exception */
	MBAP_MALFORMED,   /* the PDU is not what its function code says: close the client */
} mbap_action_t;

typedef struct {
	mbap_action_t action;
	uint8_t exception;  /* MBAP_EXCEPTION: the code to answer with */
	const char *reason; /* static text for logs ("quantity 0 out of 1..125") */
} mbap_verdict_t;

/* Validates one complete request ADU adu[0..n) (as framed by mbap_frame).
 * Checks, in order: header (protocol id, length field consistent with n),
 * unit id against `pol` (a foreign unit id gets exception 0x0B, as a gateway
 * with no path to that target), function code class (codes that cannot be
 * forwarded safely over TCP, i.e. serial-line diagnostics, unknown or
 * user-defined codes and exception codes, get 0x01), the PDU length for the
 * function code (wrong length or byte count inconsistent with quantity:
 * MALFORMED), and quantity bounds (out of range: exception 0x03).
 * Returns 0 and fills *v; MBAP_EINVAL for NULL arguments. */
int mbap_validate_request(const uint8_t *adu, size_t n, const mbap_unit_policy_t *pol,
                          mbap_verdict_t *v);

/* True when function code fc may be forwarded (see mbap_validate_request). */
bool mbap_fc_forwardable(uint8_t fc);

/* Builds the exception response to request adu (>= 8 bytes: header + fc):
 * same transaction id and unit id, function code | 0x80, the code. Writes 9
 * bytes to out (cap >= 9) and returns 9, or MBAP_EINVAL. */
int mbap_build_exception(const uint8_t *adu, size_t n, uint8_t code, uint8_t *out, size_t cap);

/* Transaction id helpers for a gateway that puts its own ids on the device
 * link: read and overwrite the id of an ADU in place (n >= 2). */
uint16_t mbap_get_tid(const uint8_t *adu);
void mbap_set_tid(uint8_t *adu, uint16_t tid);

/* Checks that reply rep[0..rn) (a complete ADU) answers request req[0..qn):
 * same transaction id (else MBAP_ETID), same unit id and the same function
 * code or its exception form (else MBAP_EMISMATCH), protocol id 0 (else
 * MBAP_EPROTO). Returns 0 when it does. */
int mbap_match_reply(const uint8_t *req, size_t qn, const uint8_t *rep, size_t rn);

/* True when reply ADU rep (>= 9 bytes) is an exception; *code gets its code. */
bool mbap_is_exception(const uint8_t *rep, size_t rn, uint8_t *code);

const char *mbap_strerror(int err);

#endif
