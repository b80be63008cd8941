/* cmocka group: pkg/mbap (framing, validation, exceptions, transaction ids, link). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "mbap/link.h"
#include "mbap/mbap.h"

/* ---- framing ---------------------------------------------------------------- */

static const struct {
	const char *name;
	uint8_t bytes[16];
	size_t n;
	int want;
} frame_cases[] = {
        {"empty", {0}, 0, 0},
        {"tid only", {0, 1}, 2, 0},
        {"pid ok, no length", {0, 1, 0, 0}, 4, 0},
        {"bad pid judged early", {0, 1, 0, 1}, 4, MBAP_EPROTO},
        {"length 0", {0, 1, 0, 0, 0, 0}, 6, MBAP_ELENGTH},
        {"length 1", {0, 1, 0, 0, 0, 1}, 6, MBAP_ELENGTH},
        {"length 255", {0, 1, 0, 0, 0, 255}, 6, MBAP_ELENGTH},
        {"length 0x0106", {0, 1, 0, 0, 1, 6}, 6, MBAP_ELENGTH},
        {"length 2 incomplete", {0, 1, 0, 0, 0, 2, 1}, 7, 0},
        {"length 2 complete", {0, 1, 0, 0, 0, 2, 1, 3}, 8, 8},
        {"length 6 complete + extra", {0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1, 9, 9}, 14, 12},
        {"length 254 needs 260", {0, 1, 0, 0, 0, 254, 1, 3}, 8, 0},
};

static void test_frame_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
		int got = mbap_frame(frame_cases[i].bytes, frame_cases[i].n);
		if (got != frame_cases[i].want)
			fail_msg("case %s: got %d want %d", frame_cases[i].name, got,
			         frame_cases[i].want);
	}
}

static void test_frame_max(void **state)
{
	uint8_t buf[MBAP_MAX_ADU + 4] = {0, 1, 0, 0, 0, 254, 1, 3};
	(void)state;
	assert_int_equal(mbap_frame(buf, MBAP_MAX_ADU - 1), 0);
	assert_int_equal(mbap_frame(buf, MBAP_MAX_ADU), MBAP_MAX_ADU);
	assert_int_equal(mbap_frame(buf, sizeof(buf)), MBAP_MAX_ADU);
}

static void test_header_roundtrip(void **state)
{
	mbap_header_t h = {.tid = 0xBEEF, .pid = 0, .length = 6, .unit = 17}, g;
	uint8_t b[7];
	(void)state;
	mbap_header_encode(&h, b);
	assert_int_equal(mbap_header_decode(b, 7, &g), 0);
	assert_int_equal(g.tid, 0xBEEF);
	assert_int_equal(g.length, 6);
	assert_int_equal(g.unit, 17);
	assert_int_equal(mbap_header_decode(b, 6, &g), MBAP_ESHORT);
}

/* ---- validation ------------------------------------------------------------- */

/* Builds an ADU with the given unit and PDU; returns its length. */
static size_t adu(uint8_t *out, uint8_t unit, const uint8_t *pdu, size_t pn)
{
	mbap_header_t h = {.tid = 0x1234, .pid = 0, .length = (uint16_t)(pn + 1), .unit = unit};
	mbap_header_encode(&h, out);
	memcpy(out + 7, pdu, pn);
	return 7 + pn;
}

static const struct {
	const char *name;
	uint8_t pdu[32];
	size_t pn;
	mbap_action_t action;
	uint8_t exc;
} pdu_cases[] = {
        {"fc3 ok", {3, 0, 0, 0, 10}, 5, MBAP_FORWARD, 0},
        {"fc3 qty 125", {3, 0, 0, 0, 125}, 5, MBAP_FORWARD, 0},
        {"fc3 qty 126", {3, 0, 0, 0, 126}, 5, MBAP_EXCEPTION, 3},
        {"fc3 qty 0", {3, 0, 0, 0, 0}, 5, MBAP_EXCEPTION, 3},
        {"fc3 short", {3, 0, 0, 0}, 4, MBAP_MALFORMED, 0},
        {"fc3 long", {3, 0, 0, 0, 1, 0}, 6, MBAP_MALFORMED, 0},
        {"fc4 ok", {4, 0, 0, 0, 1}, 5, MBAP_FORWARD, 0},
        {"fc1 2000", {1, 0, 0, 0x07, 0xD0}, 5, MBAP_FORWARD, 0},
        {"fc1 2001", {1, 0, 0, 0x07, 0xD1}, 5, MBAP_EXCEPTION, 3},
        {"fc2 ok", {2, 0, 0, 0, 8}, 5, MBAP_FORWARD, 0},
        {"fc5 on", {5, 0, 1, 0xFF, 0}, 5, MBAP_FORWARD, 0},
        {"fc5 bad value", {5, 0, 1, 0x12, 0x34}, 5, MBAP_EXCEPTION, 3},
        {"fc6 ok", {6, 0, 1, 0x12, 0x34}, 5, MBAP_FORWARD, 0},
        {"fc6 short", {6, 0, 1}, 3, MBAP_MALFORMED, 0},
        {"fc15 ok", {15, 0, 0, 0, 10, 2, 0xFF, 0x03}, 8, MBAP_FORWARD, 0},
        {"fc15 byte count wrong", {15, 0, 0, 0, 10, 1, 0xFF}, 7, MBAP_EXCEPTION, 3},
        {"fc15 truncated", {15, 0, 0, 0, 10, 2, 0xFF}, 7, MBAP_MALFORMED, 0},
        {"fc16 ok", {16, 0, 0, 0, 2, 4, 0, 1, 0, 2}, 10, MBAP_FORWARD, 0},
        {"fc16 qty/bytes differ", {16, 0, 0, 0, 3, 4, 0, 1, 0, 2}, 10, MBAP_EXCEPTION, 3},
        {"fc16 truncated", {16, 0, 0, 0, 2, 4, 0, 1}, 8, MBAP_MALFORMED, 0},
        {"fc16 no byte count", {16, 0, 0, 0, 2}, 5, MBAP_MALFORMED, 0},
        {"fc22 ok", {22, 0, 4, 0, 0xF2, 0, 0x25}, 7, MBAP_FORWARD, 0},
        {"fc22 short", {22, 0, 4, 0, 0xF2}, 5, MBAP_MALFORMED, 0},
        {"fc23 ok", {23, 0, 0, 0, 2, 0, 10, 0, 1, 2, 0, 7}, 12, MBAP_FORWARD, 0},
        {"fc23 wqty 0", {23, 0, 0, 0, 2, 0, 10, 0, 0, 0}, 10, MBAP_EXCEPTION, 3},
        {"fc23 truncated", {23, 0, 0, 0, 2, 0, 10, 0, 1, 2, 0}, 11, MBAP_MALFORMED, 0},
        {"fc24 ok", {24, 0, 4}, 3, MBAP_FORWARD, 0},
        {"fc20 ok", {20, 7, 6, 0, 4, 0, 1, 0, 2}, 9, MBAP_FORWARD, 0},
        {"fc20 short count", {20, 6, 6, 0, 4, 0, 1, 0}, 8, MBAP_EXCEPTION, 3},
        {"fc43/14 ok", {43, 14, 1, 0}, 4, MBAP_FORWARD, 0},
        {"fc43/13 refused", {43, 13, 1, 0}, 4, MBAP_EXCEPTION, 1},
        {"fc8 serial diag", {8, 0, 0, 0x12, 0x34}, 5, MBAP_EXCEPTION, 1},
        {"fc7 serial", {7}, 1, MBAP_EXCEPTION, 1},
        {"fc17 serial", {17}, 1, MBAP_EXCEPTION, 1},
        {"fc0", {0}, 1, MBAP_EXCEPTION, 1},
        {"fc65 user", {65, 1, 2, 3}, 4, MBAP_EXCEPTION, 1},
        {"fc 0x83 exception bit", {0x83, 2}, 2, MBAP_EXCEPTION, 1},
};

static void test_validate_table(void **state)
{
	mbap_unit_policy_t any = {.any_unit = true};
	(void)state;
	for (size_t i = 0; i < sizeof(pdu_cases) / sizeof(pdu_cases[0]); i++) {
		uint8_t b[64];
		mbap_verdict_t v;
		size_t n = adu(b, 1, pdu_cases[i].pdu, pdu_cases[i].pn);
		assert_int_equal(mbap_validate_request(b, n, &any, &v), 0);
		if (v.action != pdu_cases[i].action || v.exception != pdu_cases[i].exc)
			fail_msg("case %s: action %d exc %d (%s), want %d %d", pdu_cases[i].name,
			         v.action, v.exception, v.reason, pdu_cases[i].action,
			         pdu_cases[i].exc);
		assert_non_null(v.reason);
	}
}

static void test_validate_header(void **state)
{
	mbap_unit_policy_t any = {.any_unit = true};
	uint8_t b[16];
	mbap_verdict_t v;
	const uint8_t pdu[] = {3, 0, 0, 0, 1};
	size_t n = adu(b, 1, pdu, sizeof(pdu));
	(void)state;
	b[3] = 1; /* protocol id 1 */
	assert_int_equal(mbap_validate_request(b, n, &any, &v), 0);
	assert_int_equal(v.action, MBAP_MALFORMED);
	b[3] = 0;
	b[5] = 7; /* length field says one more byte than there is */
	assert_int_equal(mbap_validate_request(b, n, &any, &v), 0);
	assert_int_equal(v.action, MBAP_MALFORMED);
	assert_int_equal(mbap_validate_request(b, 7, &any, &v), 0);
	assert_int_equal(v.action, MBAP_MALFORMED);
	assert_int_equal(mbap_validate_request(NULL, 7, &any, &v), MBAP_EINVAL);
}

static const struct {
	mbap_unit_policy_t pol;
	uint8_t unit;
	mbap_action_t action;
} unit_cases[] = {
        {{.any_unit = true}, 77, MBAP_FORWARD},
        {{.unit = 5}, 5, MBAP_FORWARD},
        {{.unit = 5}, 6, MBAP_EXCEPTION},
        {{.unit = 5}, 0, MBAP_EXCEPTION},
        {{.unit = 5, .accept_0_255 = true}, 0, MBAP_FORWARD},
        {{.unit = 5, .accept_0_255 = true}, 255, MBAP_FORWARD},
        {{.unit = 5, .accept_0_255 = true}, 254, MBAP_EXCEPTION},
};

static void test_validate_unit(void **state)
{
	const uint8_t pdu[] = {3, 0, 0, 0, 1};
	(void)state;
	for (size_t i = 0; i < sizeof(unit_cases) / sizeof(unit_cases[0]); i++) {
		uint8_t b[16];
		mbap_verdict_t v;
		size_t n = adu(b, unit_cases[i].unit, pdu, sizeof(pdu));
		assert_int_equal(mbap_validate_request(b, n, &unit_cases[i].pol, &v), 0);
		if (v.action != unit_cases[i].action)
			fail_msg("unit case %zu: action %d", i, v.action);
		if (v.action == MBAP_EXCEPTION)
			assert_int_equal(v.exception, MBAP_EXC_GW_TARGET);
	}
}

static void test_build_exception(void **state)
{
	uint8_t b[16], out[16];
	const uint8_t pdu[] = {16, 0, 0, 0, 1, 2, 0, 1};
	size_t n = adu(b, 9, pdu, sizeof(pdu));
	uint8_t code = 0;
	(void)state;
	assert_int_equal(mbap_build_exception(b, n, MBAP_EXC_GW_PATH, out, sizeof(out)), 9);
	assert_int_equal(mbap_frame(out, 9), 9);
	assert_int_equal(mbap_get_tid(out), 0x1234);
	assert_int_equal(out[6], 9);
	assert_int_equal(out[7], 0x90);
	assert_true(mbap_is_exception(out, 9, &code));
	assert_int_equal(code, 0x0A);
	assert_int_equal(mbap_match_reply(b, n, out, 9), 0);
	assert_int_equal(mbap_build_exception(b, n, 1, out, 8), MBAP_EINVAL);
	assert_int_equal(mbap_build_exception(b, 7, 1, out, 16), MBAP_EINVAL);
	assert_false(mbap_is_exception(b, n, &code));
}

/* ---- transaction mapping -------------------------------------------------------- */

static void test_tid_mapping(void **state)
{
	uint8_t req[16], rep[16];
	const uint8_t pdu[] = {3, 0, 0, 0, 1};
	size_t n = adu(req, 1, pdu, sizeof(pdu));
	uint16_t client_tid = mbap_get_tid(req);
	(void)state;
	/* Gateway puts its own id on the device link ... */
	mbap_set_tid(req, 0xFFFE);
	assert_int_equal(mbap_get_tid(req), 0xFFFE);
	/* ... the device answers that id ... */
	memcpy(rep, req, 7);
	rep[5] = 5;
	rep[7] = 3;
	rep[8] = 2;
	rep[9] = 0xAB;
	rep[10] = 0xCD;
	assert_int_equal(mbap_match_reply(req, n, rep, 11), 0);
	/* ... a reply to another id, unit or function is refused ... */
	mbap_set_tid(rep, 0xFFFD);
	assert_int_equal(mbap_match_reply(req, n, rep, 11), MBAP_ETID);
	mbap_set_tid(rep, 0xFFFE);
	rep[6] = 2;
	assert_int_equal(mbap_match_reply(req, n, rep, 11), MBAP_EMISMATCH);
	rep[6] = 1;
	rep[7] = 4;
	assert_int_equal(mbap_match_reply(req, n, rep, 11), MBAP_EMISMATCH);
	rep[7] = 0x83; /* an exception to the same function matches */
	assert_int_equal(mbap_match_reply(req, n, rep, 11), 0);
	rep[3] = 1;
	assert_int_equal(mbap_match_reply(req, n, rep, 11), MBAP_EPROTO);
	/* ... and the client's id is restored unchanged. */
	mbap_set_tid(rep, client_tid);
	assert_int_equal(mbap_get_tid(rep), 0x1234);
}

/* ---- link ------------------------------------------------------------------ */

typedef struct {
	int fd;
	int mode; /* 0 echo-style reply in pieces, 1 wrong tid, 2 silent, 3 close, 4 bad length */
} peer_t;

static void *peer_main(void *arg)
{
	peer_t *p = arg;
	uint8_t buf[300];
	size_t n = 0;
	int f;
	while ((f = mbap_frame(buf, n)) == 0) {
		ssize_t r = read(p->fd, buf + n, sizeof(buf) - n);
		if (r <= 0)
			return NULL;
		n += (size_t)r;
	}
	if (p->mode == 2) {
		base_sleep_ms(300);
		return NULL;
	}
	if (p->mode == 3) {
		shutdown(p->fd, SHUT_RDWR);
		return NULL;
	}
	uint8_t rep[16];
	memcpy(rep, buf, 7);
	rep[5] = 5;
	rep[7] = buf[7];
	rep[8] = 2;
	rep[9] = 0x12;
	rep[10] = 0x34;
	if (p->mode == 1)
		rep[1] ^= 1;
	if (p->mode == 4)
		rep[5] = 0;
	/* Dribble the reply to exercise partial reads. */
	for (int i = 0; i < 11; i++) {
		if (write(p->fd, rep + i, 1) != 1)
			return NULL;
		if (i == 3 || i == 8)
			base_sleep_ms(5);
	}
	return NULL;
}

static int run_link(int mode, uint8_t *rep, size_t *rn, int64_t timeout_ms)
{
	int sv[2];
	pthread_t th;
	peer_t p;
	uint8_t req[16];
	const uint8_t pdu[] = {3, 0, 0, 0, 1};
	size_t n = adu(req, 1, pdu, sizeof(pdu));
	int rc;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p.fd = sv[1];
	p.mode = mode;
	assert_int_equal(pthread_create(&th, NULL, peer_main, &p), 0);
	rc = mbap_link_exchange(sv[0], req, n, rep, MBAP_MAX_ADU, rn,
	                        base_now_ns() + timeout_ms * 1000000);
	pthread_join(th, NULL);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static void test_link_modes(void **state)
{
	uint8_t rep[MBAP_MAX_ADU];
	size_t rn = 0;
	(void)state;
	assert_int_equal(run_link(0, rep, &rn, 5000), 0);
	assert_int_equal(rn, 11);
	assert_int_equal(rep[10], 0x34);
	assert_int_equal(run_link(1, rep, &rn, 5000), MBAP_ETID);
	assert_int_equal(run_link(2, rep, &rn, 50), MBAP_ETIMEDOUT);
	assert_int_equal(run_link(3, rep, &rn, 5000), MBAP_EIO);
	assert_int_equal(run_link(4, rep, &rn, 5000), MBAP_ELENGTH);
	assert_int_equal(mbap_link_exchange(0, NULL, 0, rep, sizeof(rep), &rn, 0), MBAP_EINVAL);
	assert_string_equal(mbap_strerror(MBAP_ETIMEDOUT), "no reply before the deadline");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_frame_table),      cmocka_unit_test(test_frame_max),
	        cmocka_unit_test(test_header_roundtrip), cmocka_unit_test(test_validate_table),
	        cmocka_unit_test(test_validate_header),  cmocka_unit_test(test_validate_unit),
	        cmocka_unit_test(test_build_exception),  cmocka_unit_test(test_tid_mapping),
	        cmocka_unit_test(test_link_modes),
	};
	return cmocka_run_group_tests_name("mbap", tests, NULL, NULL);
}
