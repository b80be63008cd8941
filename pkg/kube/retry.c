#include "kube/retry.h"

#include "kube/kube.h"

void kube_backoff_default(kube_backoff_t *b)
{
	b->base_ms = 250;
	b->max_ms = 30000;
	b->max_retries = 5;
	b->max_retry_after_ms = 60000;
}

bool kube_retry_allowed(const kube_backoff_t *b, int retry, bool idempotent, int err, long status,
                        bool has_retry_after)
{
	if (retry >= b->max_retries)
		return false;
	if (err == KUBE_ETRANSPORT || err == KUBE_ETIMEOUT)
		return idempotent;
	if (err != 0)
		return false; /* TLS, too big, decode: a retry gives the same answer */
	if (status == 429)
		return true;
	if (status >= 500 && status <= 599) {
		if (has_retry_after)
			return true;
		if (status == 500 || status == 502 || status == 503 || status == 504)
			return idempotent;
	}
	return false;
}

int64_t kube_retry_delay(const kube_backoff_t *b, int retry, int64_t retry_after_ms, double rnd)
{
	int64_t d;

	if (retry_after_ms >= 0)
		return retry_after_ms < b->max_retry_after_ms ? retry_after_ms
		                                              : b->max_retry_after_ms;
	if (retry < 1)
		retry = 1;
	d = b->base_ms > 0 ? b->base_ms : 1;
	for (int i = 1; i < retry && d < b->max_ms; i++)
		d *= 2;
	if (d > b->max_ms)
		d = b->max_ms;
	if (rnd < 0)
		rnd = 0;
	if (rnd >= 1)
		rnd = 0.999999;
	return d / 2 + (int64_t)((double)(d - d / 2) * rnd);
}

void kube_ratelimit_init(kube_ratelimit_t *rl, double qps, int burst, int64_t now_ms)
{
	rl->qps = qps;
	rl->burst = burst > 0 ? burst : 1;
	rl->tokens = rl->burst;
	rl->last_ms = now_ms;
}

int64_t kube_ratelimit_reserve(kube_ratelimit_t *rl, int64_t now_ms)
{
	if (rl->qps <= 0)
		return 0;
	if (now_ms > rl->last_ms) {
		rl->tokens += (double)(now_ms - rl->last_ms) * rl->qps / 1000.0;
		if (rl->tokens > rl->burst)
			rl->tokens = rl->burst;
		rl->last_ms = now_ms;
	}
	rl->tokens -= 1.0;
	if (rl->tokens >= 0)
		return 0;
	/* Round up: waiting a hair too long is fine, too short is not. */
	double wait = -rl->tokens * 1000.0 / rl->qps;
	int64_t w = (int64_t)wait;
	if ((double)w < wait)
		w++;
	return w;
}
