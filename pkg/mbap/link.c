#include "mbap/link.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "base/clock.h"

/* Waits for `events` on fd until the deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline_ns)
{
	for (;;) {
		int64_t left = deadline_ns - base_now_ns();
		struct pollfd p = {.fd = fd, .events = events};
		int ms;
		int r;
		if (left <= 0)
			return 0;
		/* Round up so a sub-millisecond remainder still waits. */
		ms = (int)((left + 999999) / 1000000);
		r = poll(&p, 1, ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

int mbap_link_write(int fd, const uint8_t *buf, size_t n, int64_t deadline_ns)
{
	size_t off = 0;
	while (off < n) {
		ssize_t w = send(fd, buf + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLOUT, deadline_ns);
			if (r == 0)
				return MBAP_ETIMEDOUT;
			if (r < 0)
				return MBAP_EIO;
			continue;
		}
		return MBAP_EIO;
	}
	return 0;
}

int mbap_link_read(int fd, uint8_t *buf, size_t cap, size_t *n, int64_t deadline_ns)
{
	size_t have = 0;
	if (buf == NULL || n == NULL || cap < MBAP_HEADER_LEN + 1)
		return MBAP_EINVAL;
	/* A reply is rarely there already: wait first, saving a recv that
	 * would only say EAGAIN. */
	{
		int w = wait_fd(fd, POLLIN, deadline_ns);
		if (w == 0)
			return MBAP_ETIMEDOUT;
		if (w < 0)
			return MBAP_EIO;
	}
	for (;;) {
		int need = mbap_frame(buf, have);
		size_t want;
		ssize_t r;
		if (need < 0)
			return need;
		if (need > 0) {
			*n = (size_t)need;
			return 0;
		}
		/* Read only up to the end of this ADU (header first), so bytes of
		 * a following frame are never swallowed. */
		if (have < 6) {
			want = 6 - have;
		} else {
			want = (size_t)6 + (size_t)((buf[4] << 8) | buf[5]) - have;
		}
		if (have + want > cap)
			return MBAP_ELENGTH;
		r = recv(fd, buf + have, want, MSG_DONTWAIT);
		if (r > 0) {
			have += (size_t)r;
			continue;
		}
		if (r == 0)
			return MBAP_EIO;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = wait_fd(fd, POLLIN, deadline_ns);
			if (w == 0)
				return MBAP_ETIMEDOUT;
			if (w < 0)
				return MBAP_EIO;
			continue;
		}
		return MBAP_EIO;
	}
}

int mbap_link_exchange(int fd, const uint8_t *req, size_t qn, uint8_t *rep, size_t cap, size_t *rn,
                       int64_t deadline_ns)
{
	int rc;
	if (req == NULL || rep == NULL || rn == NULL || qn < MBAP_HEADER_LEN + 1)
		return MBAP_EINVAL;
	rc = mbap_link_write(fd, req, qn, deadline_ns);
	if (rc != 0)
		return rc;
	rc = mbap_link_read(fd, rep, cap, rn, deadline_ns);
	if (rc != 0)
		return rc;
	return mbap_match_reply(req, qn, rep, *rn);
}
