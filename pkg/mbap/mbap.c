#include "mbap/mbap.h"

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

int mbap_header_decode(const uint8_t *buf, size_t n, mbap_header_t *h)
{
	if (buf == NULL || h == NULL)
		return MBAP_EINVAL;
	if (n < MBAP_HEADER_LEN)
		return MBAP_ESHORT;
	h->tid = be16(buf);
	h->pid = be16(buf + 2);
	h->length = be16(buf + 4);
	h->unit = buf[6];
	return 0;
}

void mbap_header_encode(const mbap_header_t *h, uint8_t *out)
{
	out[0] = (uint8_t)(h->tid >> 8);
	out[1] = (uint8_t)h->tid;
	out[2] = (uint8_t)(h->pid >> 8);
	out[3] = (uint8_t)h->pid;
	out[4] = (uint8_t)(h->length >> 8);
	out[5] = (uint8_t)h->length;
	out[6] = h->unit;
}

int mbap_frame(const uint8_t *buf, size_t n)
{
	uint16_t len;
	/* Judge each field as soon as it has arrived, so garbage is refused
	 * without waiting for bytes that may never come. */
	if (n >= 4 && be16(buf + 2) != 0)
		return MBAP_EPROTO;
	if (n < 6)
		return 0;
	len = be16(buf + 4);
	if (len < MBAP_MIN_LENGTH || len > MBAP_MAX_LENGTH)
		return MBAP_ELENGTH;
	if (n < (size_t)6 + len)
		return 0;
	return 6 + len;
}

bool mbap_fc_forwardable(uint8_t fc)
{
	switch (fc) {
	case 1:  /* read coils */
	case 2:  /* read discrete inputs */
	case 3:  /* read holding registers */
	case 4:  /* read input registers */
	case 5:  /* write single coil */
	case 6:  /* write single register */
	case 15: /* write multiple coils */
	case 16: /* write multiple registers */
	case 20: /* read file record */
	case 21: /* write file record */
	case 22: /* mask write register */
	case 23: /* read/write multiple registers */
	case 24: /* read FIFO queue */
	case 43: /* encapsulated interface (read device identification only) */
		return true;
	default:
		/* 7, 8, 11, 12, 17 are serial-line only; everything else is
		 * reserved, user-defined or an exception code, whose reply size
		 * and side effects we cannot know. */
		return false;
	}
}

static void verdict(mbap_verdict_t *v, mbap_action_t a, uint8_t exc, const char *reason)
{
	v->action = a;
	v->exception = exc;
	v->reason = reason;
}

/* Checks the PDU p[0..n) (p[0] is the function code) for its code. */
static void check_pdu(const uint8_t *p, size_t n, mbap_verdict_t *v)
{
	uint16_t qty;
	uint16_t wqty;

	switch (p[0]) {
	case 1:
	case 2:
		if (n != 5)
			return verdict(v, MBAP_MALFORMED, 0, "read bits PDU is not 5 bytes");
		qty = be16(p + 3);
		if (qty < 1 || qty > 2000)
			return verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_VALUE,
			               "bit quantity out of 1..2000");
		break;
	case 3:
	case 4:
		if (n != 5)
			return verdict(v, MBAP_MALFORMED, 0, "read registers PDU is not 5 bytes");
		qty = be16(p + 3);
		if (qty < 1 || qty > 125)
			return verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_VALUE,
			               "register quantity out of 1..125");
		break;
	case 5:
		if (n != 5)
			return verdict(v, MBAP_MALFORMED, 0, "write coil PDU is not 5 bytes");
		if (be16(p + 3) != 0x0000 && be16(p + 3) != 0xFF00)
			return verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_VALUE,
			               "coil value is not 0x0000 or 0xFF00");
		break;
	case 6:
		if (n != 5)
			return verdict(v, MBAP_MALFORMED, 0, "write register PDU is not 5 bytes");
		break;
	case 15:
		if (n < 6 || n != (size_t)6 + p[5])
			return verdict(v, MBAP_MALFORMED, 0,
			               "write coils PDU length does not match its byte count");
		qty = be16(p + 3);
		if (qty < 1 || qty > 1968 || p[5] != (qty + 7) / 8)
			return verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_VALUE,
			               "coil quantity out of 1..1968 or byte count wrong");
		break;
	case 16:
		if (n < 6 || n != (size_t)6 + p[5])
			return verdict(v, MBAP_MALFORMED, 0,
			               "write registers PDU length does not match its byte count");
		qty = be16(p + 3);
		if (qty < 1 || qty > 123 || p[5] != qty * 2)
			return verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_VALUE,
			               "register quantity out of 1..123 or byte count wrong");
		break;
	case 20:
	case 21:
		if (n < 2 || n != (size_t)2 + p[1])
			return verdict(v, MBAP_MALFORMED, 0,
			               "file record PDU length does not match its byte count");
		if (p[0] == 20 ? (p[1] < 0x07 || p[1] > 0xF5) : (p[1] < 0x09 || p[1] > 0xFB))
			return verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_VALUE,
			               "file record byte count out of range");
		break;
	case 22:
		if (n != 7)
			return verdict(v, MBAP_MALFORMED, 0, "mask write PDU is not 7 bytes");
		break;
	case 23:
		if (n < 10 || n != (size_t)10 + p[9])
			return verdict(
			        v, MBAP_MALFORMED, 0,
			        "read/write registers PDU length does not match its byte count");
		qty = be16(p + 3);
		wqty = be16(p + 7);
		if (qty < 1 || qty > 125 || wqty < 1 || wqty > 121 || p[9] != wqty * 2)
			return verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_VALUE,
			               "read/write quantities out of range or byte count wrong");
		break;
	case 24:
		if (n != 3)
			return verdict(v, MBAP_MALFORMED, 0, "read FIFO PDU is not 3 bytes");
		break;
	case 43:
		if (n < 2)
			return verdict(v, MBAP_MALFORMED, 0,
			               "encapsulated interface PDU too short");
		if (p[1] != 14)
			return verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_FUNCTION,
			               "only MEI type 14 (device identification) is forwarded");
		if (n != 4)
			return verdict(v, MBAP_MALFORMED, 0,
			               "read device identification PDU is not 4 bytes");
		break;
	default:
		return verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_FUNCTION,
		               "function code not forwarded");
	}
	verdict(v, MBAP_FORWARD, 0, "ok");
}

int mbap_validate_request(const uint8_t *adu, size_t n, const mbap_unit_policy_t *pol,
                          mbap_verdict_t *v)
{
	mbap_header_t h;

	if (adu == NULL || pol == NULL || v == NULL)
		return MBAP_EINVAL;
	if (mbap_header_decode(adu, n, &h) != 0 || n < MBAP_HEADER_LEN + 1) {
		verdict(v, MBAP_MALFORMED, 0, "shorter than header and function code");
		return 0;
	}
	if (h.pid != 0) {
		verdict(v, MBAP_MALFORMED, 0, "protocol id is not 0");
		return 0;
	}
	if (h.length < MBAP_MIN_LENGTH || h.length > MBAP_MAX_LENGTH || (size_t)h.length + 6 != n) {
		verdict(v, MBAP_MALFORMED, 0, "MBAP length field does not match the frame");
		return 0;
	}
	if (!pol->any_unit && h.unit != pol->unit &&
	    !(pol->accept_0_255 && (h.unit == 0 || h.unit == 255))) {
		verdict(v, MBAP_EXCEPTION, MBAP_EXC_GW_TARGET,
		        "unit id not served by this gateway");
		return 0;
	}
	if (adu[7] & 0x80) {
		verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_FUNCTION,
		        "function code has the exception bit set");
		return 0;
	}
	if (!mbap_fc_forwardable(adu[7])) {
		verdict(v, MBAP_EXCEPTION, MBAP_EXC_ILLEGAL_FUNCTION,
		        "function code not forwarded");
		return 0;
	}
	check_pdu(adu + 7, n - 7, v);
	return 0;
}

int mbap_build_exception(const uint8_t *adu, size_t n, uint8_t code, uint8_t *out, size_t cap)
{
	if (adu == NULL || out == NULL || n < MBAP_HEADER_LEN + 1 || cap < 9)
		return MBAP_EINVAL;
	out[0] = adu[0];
	out[1] = adu[1];
	out[2] = 0;
	out[3] = 0;
	out[4] = 0;
	out[5] = 3;
	out[6] = adu[6];
	out[7] = (uint8_t)(adu[7] | 0x80);
	out[8] = code;
	return 9;
}

uint16_t mbap_get_tid(const uint8_t *adu)
{
	return be16(adu);
}

void mbap_set_tid(uint8_t *adu, uint16_t tid)
{
	adu[0] = (uint8_t)(tid >> 8);
	adu[1] = (uint8_t)tid;
}

int mbap_match_reply(const uint8_t *req, size_t qn, const uint8_t *rep, size_t rn)
{
	if (req == NULL || rep == NULL || qn < MBAP_HEADER_LEN + 1 || rn < MBAP_HEADER_LEN + 1)
		return MBAP_EINVAL;
	if (be16(rep + 2) != 0)
		return MBAP_EPROTO;
	if (be16(rep) != be16(req))
		return MBAP_ETID;
	if (rep[6] != req[6] || (rep[7] & 0x7F) != req[7])
		return MBAP_EMISMATCH;
	return 0;
}

bool mbap_is_exception(const uint8_t *rep, size_t rn, uint8_t *code)
{
	if (rep == NULL || rn < 9 || !(rep[7] & 0x80))
		return false;
	if (code)
		*code = rep[8];
	return true;
}

const char *mbap_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case MBAP_EPROTO:
		return "protocol id is not 0";
	case MBAP_ELENGTH:
		return "MBAP length field outside 2..254";
	case MBAP_ESHORT:
		return "frame too short";
	case MBAP_EINVAL:
		return "invalid argument";
	case MBAP_ETID:
		return "reply transaction id does not match the request";
	case MBAP_EMISMATCH:
		return "reply unit id or function code does not match the request";
	case MBAP_ETIMEDOUT:
		return "no reply before the deadline";
	case MBAP_EIO:
		return "connection failed or closed by the peer";
	default:
		return "unknown mbap error";
	}
}
