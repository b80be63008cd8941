/* libFuzzer harness for the ADU parser: frames a byte stream by MBAP length
 * the way the worker does, validates every frame under two unit policies and
 * builds an exception for it, checking the invariants the worker relies on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mbap/mbap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mbap_unit_policy_t pols[2] = {{.any_unit = true}, {.unit = 1, .accept_0_255 = true}};
	size_t off = 0;
	while (off < size) {
		int f = mbap_frame(data + off, size - off);
		mbap_verdict_t v;
		uint8_t exc[16];
		if (f <= 0)
			break;
		if (f < MBAP_HEADER_LEN + 1 || f > MBAP_MAX_ADU || (size_t)f > size - off)
			abort();
		for (int i = 0; i < 2; i++) {
			if (mbap_validate_request(data + off, (size_t)f, &pols[i], &v) != 0)
				abort();
			if (v.reason == NULL || v.action > MBAP_MALFORMED)
				abort();
			if (v.action == MBAP_EXCEPTION && v.exception == 0)
				abort();
			if (v.action == MBAP_FORWARD && !mbap_fc_forwardable(data[off + 7]))
				abort();
		}
		if (mbap_build_exception(data + off, (size_t)f, v.exception, exc, sizeof(exc)) != 9)
			abort();
		if (mbap_frame(exc, 9) != 9 || !mbap_is_exception(exc, 9, NULL))
			abort();
		/* A request whose code already has the exception bit cannot be matched. */
		if (data[off + 7] < 0x80 && mbap_match_reply(data + off, (size_t)f, exc, 9) != 0)
			abort();
		off += (size_t)f;
	}
	return 0;
}
