/* Kubernetes quantities: see quantity.h. */
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi/quantity.h"

#define MAX_DIGITS   36 /* significant digits kept exactly (10^36 < 2^120) */
#define MAX_EXPONENT 1000

typedef unsigned __int128 u128;

static int qerr(char *err, size_t errlen, const char *s, const char *why)
{
	snprintf(err, errlen, "quantity \"%.60s\": %s", s ? s : "", why);
	return -1;
}

/* The suffix after the number: sets *e10 (power of ten) and *b2 (power of
 * two). 0 or -1. */
static int parse_suffix(const char *p, int *e10, int *b2)
{
	static const char dec[] = "numkMGTPE";
	static const int dec_e[] = {-9, -6, -3, 3, 6, 9, 12, 15, 18};
	static const char bin[] = "KMGTPE";
	*e10 = 0;
	*b2 = 0;
	if (*p == '\0')
		return 0;
	if (p[1] == '\0' && strchr(dec, *p)) {
		*e10 = dec_e[strchr(dec, *p) - dec];
		return 0;
	}
	if (p[1] == 'i' && p[2] == '\0' && strchr(bin, *p)) {
		*b2 = 10 * (int)(strchr(bin, *p) - bin + 1);
		return 0;
	}
	if ((*p == 'e' || *p == 'E') && p[1] != '\0') {
		const char *q = p + 1;
		int sign = 1, v = 0;
		if (*q == '+' || *q == '-')
			sign = *q++ == '-' ? -1 : 1;
		if (!isdigit((unsigned char)*q))
			return -1;
		for (; isdigit((unsigned char)*q); q++) {
			v = v * 10 + (*q - '0');
			if (v > MAX_EXPONENT)
				return -1;
		}
		if (*q != '\0')
			return -1;
		*e10 = sign * v;
		return 0;
	}
	return -1;
}

/* A quantity taken apart: value = (neg ? -1 : 1) x digits x 10^e10 x 2^b2,
 * with digits the significant digits as an integer (the decimal point folded
 * into e10). */
typedef struct {
	bool neg;
	u128 digits;
	int e10, b2;
} parts_t;

static int parse(const char *s, parts_t *q, char *err, size_t errlen)
{
	const char *p = s;
	bool dot = false, digits = false;
	int sig = 0, frac = 0;

	memset(q, 0, sizeof(*q));
	if (!s || !*s)
		return qerr(err, errlen, s, "empty");
	if (*p == '+' || *p == '-')
		q->neg = *p++ == '-';
	for (;; p++) {
		if (isdigit((unsigned char)*p)) {
			digits = true;
			if (dot)
				frac++;
			if (q->digits == 0 && *p == '0')
				continue;
			if (++sig > MAX_DIGITS)
				return qerr(err, errlen, s, "too many digits");
			q->digits = q->digits * 10 + (u128)(*p - '0');
		} else if (*p == '.' && !dot) {
			dot = true;
		} else {
			break;
		}
	}
	if (!digits)
		return qerr(err, errlen, s, "no number");
	if (parse_suffix(p, &q->e10, &q->b2) != 0)
		return qerr(
		        err, errlen, s,
		        "unknown suffix (want n, u, m, k, M, G, T, P, E, Ki..Ei or an exponent)");
	q->e10 -= frac;
	return 0;
}

int kubeapi_quantity_milli(const char *s, int64_t *out, char *err, size_t errlen)
{
	parts_t q;
	u128 v;
	if (parse(s, &q, err, errlen) != 0)
		return -1;
	v = q.digits;
	if (v != 0) {
		int k = q.e10 + 3; /* milli-units */
		const u128 lim = (u128)INT64_MAX;
		for (; k > 0; k--) {
			v *= 10;
			if (v > lim)
				return qerr(err, errlen, s, "out of range");
		}
		for (int i = 0; i < q.b2; i++) {
			v <<= 1;
			if (v > ((u128)1 << 126))
				return qerr(err, errlen, s, "out of range");
		}
		if (k < 0) {
			if (-k > 38) {
				v = 1; /* below one milli-unit: rounds up to 1 */
			} else {
				u128 den = 1;
				for (int i = 0; i < -k; i++)
					den *= 10;
				v = v / den + (v % den != 0);
			}
		}
		if (v > lim)
			return qerr(err, errlen, s, "out of range");
	}
	*out = q.neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

int kubeapi_quantity_float(const char *s, double *out, char *err, size_t errlen)
{
	parts_t q;
	char num[64], *p = num + 40; /* the digits (at most 36) end at num + 40 */
	u128 d;
	double v;
	if (parse(s, &q, err, errlen) != 0)
		return -1;
	/* strtod of "<digits>e<e10>" rounds correctly, where digits x
	 * pow(10, e10) would round twice and under- or overflow early. */
	d = q.digits;
	*p = '\0';
	do {
		*--p = (char)('0' + (int)(d % 10));
		d /= 10;
	} while (d != 0);
	snprintf(num + 40, sizeof(num) - 40, "e%d", q.e10);
	v = ldexp(strtod(p, NULL), q.b2);
	if (!isfinite(v))
		return qerr(err, errlen, s, "out of range");
	*out = q.neg ? -v : v;
	return 0;
}
