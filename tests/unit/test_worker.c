/* cmocka group: mcp-worker's forwarder (worker/forward.c), the device side of
 * the event loop, against a real libmodbus server in a thread
 * (tests/lib/pool_modbus_server) with fault injection: transaction id mapping,
 * queueing, 0x06 / 0x0A / 0x0B, device exceptions passed through, retry of a
 * read on a connection the device closed, and two loops' forwarders sharing
 * one pool in arrival order. Deadlines are generous (shared machine);
 * assertions are on outcomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../lib/pool_modbus_server.h"
#include "../../worker/worker.h"
#include "base/clock.h"
#include "base/log.h"
#include "mcppool/pool.h"

static FILE *quiet_log;

typedef struct {
	pool_mbsrv_t *srv;
	worker_opts_t o;
	worker_t w;
	int ep;
	fwd_t *f;  /* loop 0's forwarder */
	fwd_t *f2; /* loop 1's, on the same pool and epoll set */
	req_t *done[64];
	int ndone;
} fx_t;

static int idle_count(mcppool_t *p)
{
	mcppool_stats_t s;
	mcppool_stats(p, &s);
	return s.states[MCPPOOL_IDLE];
}

/* A pool of `size` connections to a fresh server; waits until all are idle. */
static void fx_start(fx_t *x, int size, long long queue_max, int64_t timeout_ms)
{
	mcppool_config_t pc;
	char err[256] = "";
	memset(x, 0, sizeof(*x));
	assert_int_equal(pool_mbsrv_start(&x->srv), 0);
	x->o.pool_size = size;
	x->o.pool_max = size;
	x->o.unit_id = 1;
	x->o.queue_max = queue_max;
	x->o.request_timeout_ms = timeout_ms;
	x->o.connect_timeout_ms = 1000;
	x->o.keepalive_ms = 0;
	x->w.o = &x->o;
	metrics_init(&x->w.m);
	atomic_store(&x->w.m.target_size, size);
	mcppool_config_default(&pc);
	snprintf(pc.host, sizeof(pc.host), "%s", pool_mbsrv_host(x->srv));
	pc.port = pool_mbsrv_port(x->srv);
	pc.size = size;
	pc.max_size = size;
	pc.keepalive_ms = 0;
	pc.backoff_initial_ms = 10;
	pc.backoff_max_ms = 100;
	pc.breaker_threshold = 1000;
	assert_int_equal(mcppool_new(&pc, &x->w.pool, err, sizeof(err)), 0);
	for (int i = 0; i < 500 && idle_count(x->w.pool) < size; i++)
		base_sleep_ms(10);
	assert_int_equal(idle_count(x->w.pool), size);
	x->ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(x->ep >= 0);
	assert_int_equal(loop_lanes_init(&x->w, 2, err, sizeof(err)), 0);
	for (int i = 0; i < 2; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &x->w.lanes[i]};
		assert_int_equal(epoll_ctl(x->ep, EPOLL_CTL_ADD, x->w.lanes[i].pipe_rd, &ev), 0);
	}
	assert_int_equal(fwd_new(&x->w, x->ep, 0, &x->f, err, sizeof(err)), 0);
	assert_int_equal(fwd_new(&x->w, x->ep, 1, &x->f2, err, sizeof(err)), 0);
}

static void fx_stop(fx_t *x)
{
	for (int i = 0; i < x->ndone; i++)
		free(x->done[i]);
	fwd_free(x->f);
	fwd_free(x->f2);
	mcppool_free(x->w.pool);
	loop_lanes_free(&x->w);
	close(x->ep);
	pool_mbsrv_stop(x->srv);
}

static void collect(fx_t *x)
{
	for (int k = 0; k < 2; k++) {
		for (req_t *r = fwd_take_done(k ? x->f2 : x->f), *next; r; r = next) {
			next = r->next;
			assert_true(x->ndone < 64);
			x->done[x->ndone++] = r;
		}
	}
}

/* A loop woken through its lane (loop_kick): what loop.c's on_lane does
 * for the forwarder (no clients are handed over here). */
static void on_lane_event(fx_t *x, lane_t *ln)
{
	loop_lane_read(ln, NULL, NULL);
	fwd_poke(ln == &x->w.lanes[0] ? x->f : x->f2);
}

/* Runs the loop until n requests are done (10 s at most). */
static void run_until(fx_t *x, int n)
{
	int64_t end = base_now_ns() + 10000000000LL;
	collect(x);
	while (x->ndone < n && base_now_ns() < end) {
		struct epoll_event evs[16];
		int k = epoll_wait(x->ep, evs, 16, fwd_next_ms(x->f, base_now_ns(), 50));
		for (int i = 0; i < k; i++) {
			void *p = evs[i].data.ptr;
			if (p == &x->w.lanes[0] || p == &x->w.lanes[1]) {
				on_lane_event(x, p);
				continue;
			}
			assert_true(fwd_owns(x->f, p) || fwd_owns(x->f2, p));
			fwd_event(fwd_owns(x->f, p) ? x->f : x->f2, p, evs[i].events);
		}
		fwd_run_timers(x->f, base_now_ns());
		fwd_run_timers(x->f2, base_now_ns());
		collect(x);
	}
	assert_int_equal(x->ndone, n);
}

/* FC 3 read of `count` holding registers at addr under client tid, into
 * forwarder f. */
static void submit_read_to(fx_t *x, fwd_t *f, uint16_t tid, uint16_t addr, uint16_t count)
{
	req_t *r = calloc(1, sizeof(*r));
	uint8_t adu[12] = {0, 0, 0, 0, 0, 6, 1, 3, 0, 0, 0, 0};
	assert_non_null(r);
	mbap_set_tid(adu, tid);
	adu[8] = (uint8_t)(addr >> 8);
	adu[9] = (uint8_t)addr;
	adu[10] = (uint8_t)(count >> 8);
	adu[11] = (uint8_t)count;
	memcpy(r->adu, adu, sizeof(adu));
	r->len = sizeof(adu);
	r->arrival_ns = base_now_ns();
	r->deadline_ns = r->arrival_ns + x->o.request_timeout_ms * 1000000;
	fwd_submit(f, r);
}

static void submit_read(fx_t *x, uint16_t tid, uint16_t addr, uint16_t count)
{
	submit_read_to(x, x->f, tid, addr, count);
}

static req_t *by_tid(fx_t *x, uint16_t tid)
{
	for (int i = 0; i < x->ndone; i++)
		if (mbap_get_tid(x->done[i]->rep) == tid)
			return x->done[i];
	fail_msg("no answer with transaction id %u", tid);
	return NULL;
}

static uint8_t exception_of(const req_t *r)
{
	uint8_t code = 0;
	return mbap_is_exception(r->rep, r->rlen, &code) ? code : 0;
}

static void test_tid_mapping_and_queue(void **state)
{
	fx_t x;
	(void)state;
	fx_start(&x, 2, 64, 5000);
	/* More requests than connections: the rest queue and are served as
	 * connections come back; each answer carries its client's tid. */
	for (int i = 0; i < 10; i++)
		submit_read(&x, (uint16_t)(0xBEE0 + i), (uint16_t)(10 * i), 2);
	run_until(&x, 10);
	for (int i = 0; i < 10; i++) {
		req_t *r = by_tid(&x, (uint16_t)(0xBEE0 + i));
		assert_int_equal(r->result, RES_OK);
		assert_int_equal(r->rlen, 13);
		assert_int_equal(r->rep[7], 3);
		/* holding register i starts as i */
		assert_int_equal((r->rep[9] << 8) | r->rep[10], 10 * i);
		assert_int_equal((r->rep[11] << 8) | r->rep[12], 10 * i + 1);
	}
	assert_int_equal(fwd_inflight(x.f), 0);
	assert_int_equal(atomic_load(&x.w.m.waiting), 0);
	fx_stop(&x);
}

/* Two loops on one pool of one connection: the connection goes to the
 * oldest waiting request of either loop. Without the hand-over the loop that
 * gives the connection back would start its own next request at once and
 * the other loop's older one would wait until that loop ran dry. */
static void test_loops_share_pool_in_arrival_order(void **state)
{
	fx_t x;
	(void)state;
	fx_start(&x, 1, 64, 5000);
	pool_mbsrv_set_delay_ms(x.srv, 30);
	submit_read_to(&x, x.f, 1, 0, 1); /* at the device */
	base_sleep_ms(2);
	submit_read_to(&x, x.f2, 2, 0, 1); /* waits in loop 1 */
	base_sleep_ms(2);
	submit_read_to(&x, x.f, 3, 0, 1); /* waits in loop 0, behind 2 */
	base_sleep_ms(2);
	submit_read_to(&x, x.f2, 4, 0, 1);
	assert_int_equal(atomic_load(&x.w.m.waiting), 3);
	run_until(&x, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(x.done[i]->result, RES_OK);
		assert_int_equal(mbap_get_tid(x.done[i]->rep), i + 1);
	}
	assert_int_equal(atomic_load(&x.w.m.waiting), 0);
	assert_int_equal(atomic_load(&x.w.lanes[0].head_ns), 0);
	assert_int_equal(atomic_load(&x.w.lanes[1].head_ns), 0);
	fx_stop(&x);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* --threads 0: usable CPUs, capped by the cgroup's cpu.max (rounded up). */
static void test_auto_threads(void **state)
{
	char path[] = "/tmp/mcp-cpumax-XXXXXX";
	int fd = mkstemp(path);
	cpu_set_t set;
	int cpus;
	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	cpus = CPU_COUNT(&set) > 64 ? 64 : CPU_COUNT(&set);
	assert_int_equal(loop_auto_threads(NULL), cpus);
	assert_int_equal(loop_auto_threads("/nonexistent/cpu.max"), cpus);
	write_file(path, "max 100000\n");
	assert_int_equal(loop_auto_threads(path), cpus);
	write_file(path, "50000 100000\n"); /* half a CPU: one loop */
	assert_int_equal(loop_auto_threads(path), 1);
	write_file(path, "100000 100000\n");
	assert_int_equal(loop_auto_threads(path), 1);
	write_file(path, "150000 100000\n"); /* 1.5 CPUs: two, if there are two */
	assert_int_equal(loop_auto_threads(path), cpus < 2 ? cpus : 2);
	write_file(path, "999999999 100000\n"); /* above the CPUs: the CPUs */
	assert_int_equal(loop_auto_threads(path), cpus);
	write_file(path, "garbage\n");
	assert_int_equal(loop_auto_threads(path), cpus);
	unlink(path);
}

static void test_queue_full_busy(void **state)
{
	fx_t x;
	(void)state;
	fx_start(&x, 1, 2, 5000);
	pool_mbsrv_set_delay_ms(x.srv, 100);
	/* 1 at the device, 2 queued, 2 refused with 0x06 at once. */
	for (int i = 0; i < 5; i++)
		submit_read(&x, (uint16_t)(100 + i), 0, 1);
	collect(&x);
	assert_int_equal(x.ndone, 2);
	assert_int_equal(atomic_load(&x.w.m.waiting), 2);
	run_until(&x, 5);
	for (int i = 0; i < 3; i++)
		assert_int_equal(by_tid(&x, (uint16_t)(100 + i))->result, RES_OK);
	for (int i = 3; i < 5; i++) {
		assert_int_equal(by_tid(&x, (uint16_t)(100 + i))->result, RES_BUSY);
		assert_int_equal(exception_of(by_tid(&x, (uint16_t)(100 + i))), MBAP_EXC_BUSY);
	}
	fx_stop(&x);
}

static void test_device_silent_and_queue_deadline(void **state)
{
	fx_t x;
	(void)state;
	fx_start(&x, 1, 16, 300);
	pool_mbsrv_set_stall(x.srv, true);
	/* The first waits at the silent device (0x0B); the second never gets
	 * a connection before its deadline (0x0A). */
	submit_read(&x, 1, 0, 1);
	submit_read(&x, 2, 0, 1);
	run_until(&x, 2);
	assert_int_equal(by_tid(&x, 1)->result, RES_TIMEOUT);
	assert_int_equal(exception_of(by_tid(&x, 1)), MBAP_EXC_GW_TARGET);
	assert_int_equal(by_tid(&x, 2)->result, RES_UNAVAILABLE);
	assert_int_equal(exception_of(by_tid(&x, 2)), MBAP_EXC_GW_PATH);
	pool_mbsrv_set_stall(x.srv, false);
	fx_stop(&x);
}

static void test_device_exception_passed_through(void **state)
{
	fx_t x;
	(void)state;
	fx_start(&x, 1, 16, 5000);
	pool_mbsrv_set_exception(x.srv, 4);
	submit_read(&x, 77, 0, 1);
	run_until(&x, 1);
	assert_int_equal(by_tid(&x, 77)->result, RES_EXCEPTION);
	assert_int_equal(exception_of(by_tid(&x, 77)), 4);
	fx_stop(&x);
}

static void test_read_retried_after_device_close(void **state)
{
	fx_t x;
	(void)state;
	fx_start(&x, 2, 16, 5000);
	/* The device drops its idle connections: the next reads meet closed
	 * sockets and go again on fresh ones, with no error to the client. */
	pool_mbsrv_close_all(x.srv);
	base_sleep_ms(100);
	for (int i = 0; i < 4; i++)
		submit_read(&x, (uint16_t)(200 + i), 5, 1);
	run_until(&x, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(by_tid(&x, (uint16_t)(200 + i))->result, RES_OK);
	fx_stop(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tid_mapping_and_queue),
	        cmocka_unit_test(test_queue_full_busy),
	        cmocka_unit_test(test_loops_share_pool_in_arrival_order),
	        cmocka_unit_test(test_auto_threads),
	        cmocka_unit_test(test_device_silent_and_queue_deadline),
	        cmocka_unit_test(test_device_exception_passed_through),
	        cmocka_unit_test(test_read_retried_after_device_close),
	};
	int rc;
	base_log_set_level(BASE_LOG_WARN);
	quiet_log = getenv("WORKER_TEST_LOG") ? NULL : fopen("/dev/null", "w");
	base_log_set_output(quiet_log);
	rc = cmocka_run_group_tests_name("worker", tests, NULL, NULL);
	base_log_set_output(NULL);
	if (quiet_log != NULL)
		fclose(quiet_log);
	return rc;
}
