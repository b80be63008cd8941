/* cmocka group: pkg/mcppool, against a real libmodbus server in a thread
 * (tests/lib/pool_modbus_server) with fault injection. Deadlines are
 * generous: the machine is shared; assertions are on outcomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "mcppool/pool.h"
#include "../lib/pool_modbus_server.h"

/* ---- helpers ------------------------------------------------------------------ */

static FILE *quiet_log; /* warnings the tests provoke go here, not to the terminal */

static void cfg_for(const pool_mbsrv_t *srv, mcppool_config_t *c)
{
	mcppool_config_default(c);
	snprintf(c->host, sizeof(c->host), "%s", pool_mbsrv_host(srv));
	c->port = pool_mbsrv_port(srv);
	c->size = 2;
	c->max_size = 16;
	c->connect_timeout_ms = 1000;
	c->response_timeout_ms = 1000;
	c->keepalive_ms = 0;
	c->backoff_initial_ms = 10;
	c->backoff_max_ms = 100;
	c->housekeeping_ms = 20;
}

static mcppool_t *must_new(const mcppool_config_t *c)
{
	mcppool_t *p = NULL;
	char err[256] = "";
	int rc = mcppool_new(c, &p, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "mcppool_new: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(p);
	return p;
}

/* The usual set-up against the server: fix_server() starts a server and fills
 * fx->cfg with cfg_for(); the test changes what it needs in fx->cfg (and sets
 * any fault the pool must meet from its start), then fix_pool() creates the
 * pool. fix_free_pool() frees it before the next one; fix_stop() frees the
 * pool, if there is one, then stops the server. */
typedef struct {
	pool_mbsrv_t *srv;
	mcppool_config_t cfg;
	mcppool_t *p;
} fix_t;

static void fix_server(fix_t *fx)
{
	memset(fx, 0, sizeof(*fx));
	assert_int_equal(pool_mbsrv_start(&fx->srv), 0);
	cfg_for(fx->srv, &fx->cfg);
}

static mcppool_t *fix_pool(fix_t *fx)
{
	fx->p = must_new(&fx->cfg);
	return fx->p;
}

static void fix_free_pool(fix_t *fx)
{
	mcppool_free(fx->p);
	fx->p = NULL;
}

static void fix_stop(fix_t *fx)
{
	fix_free_pool(fx);
	pool_mbsrv_stop(fx->srv);
}

typedef int (*stat_pred)(const mcppool_stats_t *s, long arg);

/* Polls the stats until pred holds, up to ms. Returns 1 when it held. */
static int wait_for(mcppool_t *p, stat_pred pred, long arg, int ms)
{
	mcppool_stats_t s;
	int64_t end = base_now_ms() + ms;
	do {
		mcppool_stats(p, &s);
		if (pred(&s, arg))
			return 1;
		base_sleep_ms(5);
	} while (base_now_ms() < end);
	return 0;
}

static int idle_at_least(const mcppool_stats_t *s, long n)
{
	return s->states[MCPPOOL_IDLE] >= n;
}
static int size_is(const mcppool_stats_t *s, long n)
{
	return s->size == n;
}
static int breaker_is(const mcppool_stats_t *s, long b)
{
	return (long)s->breaker == b;
}
static int leaks_at_least(const mcppool_stats_t *s, long n)
{
	return (long)s->leaks_reported >= n;
}
static int lifetime_at_least(const mcppool_stats_t *s, long n)
{
	return (long)s->retired_lifetime >= n;
}
static int idle_retired_at_least(const mcppool_stats_t *s, long n)
{
	return (long)s->retired_idle >= n;
}
static int connect_failures_at_least(const mcppool_stats_t *s, long n)
{
	return (long)s->connect_failures >= n;
}
static int waiters_is(const mcppool_stats_t *s, long n)
{
	return s->waiters == n;
}

/* One FC3 read of register `addr` through a borrowed connection; returns the
 * outcome to release with and sets *ok when the value came back right. */
static mcppool_outcome_t do_read(mcppool_conn_t *c, int addr, int *ok)
{
	uint16_t v = 0;
	*ok = 0;
	int rc = modbus_read_registers(mcppool_conn_modbus(c), addr, 1, &v);
	if (rc == 1) {
		*ok = v == (uint16_t)addr;
		return MCPPOOL_OK;
	}
	return errno == ETIMEDOUT ? MCPPOOL_TIMEOUT : MCPPOOL_BROKEN_IO;
}

/* The pool's connect completes in the listen backlog before the server's
 * accept: wait until the server holds n connections before faulting them. */
static int wait_clients(const pool_mbsrv_t *srv, int n, int ms)
{
	int64_t end = base_now_ms() + ms;
	while (pool_mbsrv_clients(srv) != n) {
		if (base_now_ms() > end)
			return 0;
		base_sleep_ms(5);
	}
	return 1;
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* ---- pure API ------------------------------------------------------------------ */

static void test_config_default(void **state)
{
	mcppool_config_t c;
	(void)state;
	memset(&c, 0x5a, sizeof(c));
	mcppool_config_default(&c);
	assert_string_equal(c.host, "127.0.0.1");
	assert_int_equal(c.port, 502);
	assert_int_equal(c.unit_id, 1);
	assert_int_equal(c.size, 4);
	assert_int_equal(c.min_idle, 0);
	assert_int_equal(c.max_size, 64);
	assert_int_equal(c.connect_timeout_ms, 1000);
	assert_int_equal(c.response_timeout_ms, 1000);
	assert_int_equal(c.byte_timeout_ms, 500);
	assert_int_equal(c.keepalive_ms, 30000);
	assert_int_equal(c.validate_addr, 0);
	assert_int_equal(c.max_lifetime_ms, 0);
	assert_int_equal(c.max_idle_ms, 300000);
	assert_int_equal(c.leak_threshold_ms, 10000);
	assert_int_equal(c.breaker_threshold, 5);
	assert_int_equal(c.breaker_open_ms, 5000);
	assert_int_equal(c.backoff_initial_ms, 100);
	assert_int_equal(c.backoff_max_ms, 10000);
	assert_int_equal(c.housekeeping_ms, 1000);
	assert_int_equal(c.openers, 2);
	assert_int_equal(c.coarse_clock, 0);
	assert_int_equal(c.tsc_clock, 1);
}

/* Table of config mutations that must be refused, each naming its field. */
static void bad_host(mcppool_config_t *c)
{
	c->host[0] = '\0';
}
static void bad_port0(mcppool_config_t *c)
{
	c->port = 0;
}
static void bad_port_hi(mcppool_config_t *c)
{
	c->port = 70000;
}
static void bad_unit(mcppool_config_t *c)
{
	c->unit_id = 256;
}
static void bad_max(mcppool_config_t *c)
{
	c->max_size = 0;
}
static void bad_size0(mcppool_config_t *c)
{
	c->size = 0;
}
static void bad_size_over(mcppool_config_t *c)
{
	c->size = c->max_size + 1;
}
static void bad_min_idle(mcppool_config_t *c)
{
	c->min_idle = c->size + 1;
}
static void bad_connect(mcppool_config_t *c)
{
	c->connect_timeout_ms = 0;
}
static void bad_response(mcppool_config_t *c)
{
	c->response_timeout_ms = -5;
}
static void bad_byte(mcppool_config_t *c)
{
	c->byte_timeout_ms = -1;
}
static void bad_keepalive(mcppool_config_t *c)
{
	c->keepalive_ms = -1;
}
static void bad_validate(mcppool_config_t *c)
{
	c->validate_addr = -2;
}
static void bad_lifetime(mcppool_config_t *c)
{
	c->max_lifetime_ms = -1;
}
static void bad_idle(mcppool_config_t *c)
{
	c->max_idle_ms = -1;
}
static void bad_leak(mcppool_config_t *c)
{
	c->leak_threshold_ms = -1;
}
static void bad_breaker(mcppool_config_t *c)
{
	c->breaker_threshold = 0;
}
static void bad_breaker_ms(mcppool_config_t *c)
{
	c->breaker_open_ms = 0;
}
static void bad_backoff(mcppool_config_t *c)
{
	c->backoff_initial_ms = 0;
}
static void bad_backoff_max(mcppool_config_t *c)
{
	c->backoff_max_ms = c->backoff_initial_ms - 1;
}
static void bad_hk(mcppool_config_t *c)
{
	c->housekeeping_ms = 0;
}
static void bad_openers(mcppool_config_t *c)
{
	c->openers = 0;
}
static void bad_openers_hi(mcppool_config_t *c)
{
	c->openers = 17;
}
static void bad_clock(mcppool_config_t *c)
{
	c->coarse_clock = 2;
}
static void bad_tsc(mcppool_config_t *c)
{
	c->tsc_clock = -1;
}

static const struct {
	const char *field;
	void (*bad)(mcppool_config_t *c);
} config_cases[] = {
        {"host", bad_host},
        {"port", bad_port0},
        {"port", bad_port_hi},
        {"unit_id", bad_unit},
        {"max_size", bad_max},
        {"size", bad_size0},
        {"size", bad_size_over},
        {"min_idle", bad_min_idle},
        {"connect_timeout_ms", bad_connect},
        {"response_timeout_ms", bad_response},
        {"byte_timeout_ms", bad_byte},
        {"keepalive_ms", bad_keepalive},
        {"validate_addr", bad_validate},
        {"max_lifetime_ms", bad_lifetime},
        {"max_idle_ms", bad_idle},
        {"leak_threshold_ms", bad_leak},
        {"breaker_threshold", bad_breaker},
        {"breaker_open_ms", bad_breaker_ms},
        {"backoff_initial_ms", bad_backoff},
        {"backoff_max_ms", bad_backoff_max},
        {"housekeeping_ms", bad_hk},
        {"openers", bad_openers},
        {"openers", bad_openers_hi},
        {"coarse_clock", bad_clock},
        {"tsc_clock", bad_tsc},
};

static void test_new_rejects_bad_config(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]); i++) {
		mcppool_config_t c;
		mcppool_t *p = (mcppool_t *)&c; /* must be reset to NULL */
		char err[256] = "";
		mcppool_config_default(&c);
		config_cases[i].bad(&c);
		assert_int_equal(mcppool_new(&c, &p, err, sizeof(err)), MCPPOOL_EINVAL);
		assert_null(p);
		if (strstr(err, config_cases[i].field) == NULL)
			fail_msg("case %zu: err \"%s\" does not name %s", i, err,
			         config_cases[i].field);
	}
	char err[64];
	mcppool_t *p;
	assert_int_equal(mcppool_new(NULL, &p, err, sizeof(err)), MCPPOOL_EINVAL);
}

static const struct {
	int code;
	const char *text;
} strerror_cases[] = {
        {0, "success"},
        {MCPPOOL_EINVAL, "invalid argument"},
        {MCPPOOL_ENOMEM, "out of memory"},
        {MCPPOOL_ETIMEDOUT, "no connection free before the deadline"},
        {MCPPOOL_EBREAKER, "circuit breaker open: device considered down"},
        {MCPPOOL_ECLOSED, "pool is shutting down"},
        {MCPPOOL_ESYS, "system call failed"},
        {-99, "unknown mcppool error"},
};

static void test_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(strerror_cases) / sizeof(strerror_cases[0]); i++)
		assert_string_equal(mcppool_strerror(strerror_cases[i].code),
		                    strerror_cases[i].text);
	const char *states[] = {"disconnected", "connecting", "idle",
	                        "in_use",       "broken",     "closing"};
	for (int i = 0; i < MCPPOOL_STATE_COUNT; i++)
		assert_string_equal(mcppool_state_name((mcppool_state_t)i), states[i]);
	assert_string_equal(mcppool_state_name(MCPPOOL_STATE_COUNT), "unknown");
	assert_string_equal(mcppool_breaker_name(MCPPOOL_BREAKER_CLOSED), "closed");
	assert_string_equal(mcppool_breaker_name(MCPPOOL_BREAKER_OPEN), "open");
	assert_string_equal(mcppool_breaker_name(MCPPOOL_BREAKER_HALF_OPEN), "half_open");
	assert_string_equal(mcppool_clock_source(NULL), "unknown");
	/* Histogram bounds: increasing, 0.5 ms .. 5 s. */
	assert_true(mcppool_hist_bounds[0] == 0.0005);
	assert_true(mcppool_hist_bounds[MCPPOOL_HIST_BUCKETS - 1] == 5.0);
	for (int i = 1; i < MCPPOOL_HIST_BUCKETS; i++)
		assert_true(mcppool_hist_bounds[i] > mcppool_hist_bounds[i - 1]);
}

static void test_null_args(void **state)
{
	mcppool_conn_t *c = (mcppool_conn_t *)&c;
	mcppool_stats_t s;
	(void)state;
	mcppool_free(NULL);
	assert_int_equal(mcppool_acquire(NULL, 10, NULL, &c), MCPPOOL_EINVAL);
	assert_null(mcppool_conn_modbus(NULL));
	assert_int_equal(mcppool_conn_fd(NULL), -1);
	assert_int_equal(mcppool_set_size(NULL, 3), MCPPOOL_EINVAL);
	mcppool_release(NULL, NULL, MCPPOOL_OK);
	memset(&s, 0xff, sizeof(s));
	mcppool_stats(NULL, &s);
	assert_int_equal(s.size, 0);
	assert_int_equal(s.acquires, 0);
}

/* ---- against the server ---------------------------------------------------------- */

static void test_acquire_release_stats(void **state)
{
	fix_t fx;
	mcppool_conn_t *conn;
	mcppool_stats_t s;
	int ok;
	(void)state;
	fix_server(&fx);
	mcppool_t *p = fix_pool(&fx);
	assert_int_equal(mcppool_acquire(p, -1, NULL, &conn), MCPPOOL_EINVAL);
	assert_int_equal(mcppool_acquire(p, 5000, "t1", &conn), 0);
	assert_non_null(mcppool_conn_modbus(conn));
	int fd = mcppool_conn_fd(conn);
	assert_true(fd >= 0 && fd < FD_SETSIZE);
	mcppool_stats(p, &s);
	assert_int_equal(s.states[MCPPOOL_IN_USE], 1);
	assert_int_equal(do_read(conn, 7, &ok), MCPPOOL_OK);
	assert_true(ok);
	mcppool_release(p, conn, MCPPOOL_OK);
	assert_true(wait_for(p, idle_at_least, 2, 5000));
	mcppool_stats(p, &s);
	assert_int_equal(s.size, 2);
	assert_int_equal(s.target_size, 2);
	assert_int_equal(s.max_size, 16);
	assert_int_equal(s.acquires, 1);
	assert_int_equal(s.wait.count, 1);
	assert_int_equal(s.request.count, 1);
	assert_true(s.request.sum > 0);
	assert_int_equal(s.connects, 2);
	assert_int_equal(s.breaker, MCPPOOL_BREAKER_CLOSED);
	assert_int_equal(s.states[MCPPOOL_IN_USE], 0);
	assert_int_equal(s.waiters, 0);
	fix_stop(&fx);
}

/* Each hot-path clock times a borrow on the CLOCK_MONOTONIC scale: a 20 ms
 * hold is recorded as at least 20 ms and at most what the caller measured
 * around it (plus the coarse clock's tick), and the precise clocks see the
 * sub-microsecond holds of back-to-back borrows. */
static void test_clock_sources(void **state)
{
	const struct {
		int coarse, tsc;
		const char *name, *alt; /* alt: TSC not usable on this machine */
		double slack;           /* seconds */
	} cases[] = {
	        {0, 1, "tsc", "monotonic", 0.001},
	        {0, 0, "monotonic", "monotonic", 0.001},
	        {1, 1, "monotonic_coarse", "monotonic_coarse", 0.010},
	};
	fix_t fx;
	(void)state;
	fix_server(&fx);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mcppool_conn_t *conn;
		mcppool_stats_t s;
		cfg_for(fx.srv, &fx.cfg);
		fx.cfg.size = 1;
		fx.cfg.coarse_clock = cases[i].coarse;
		fx.cfg.tsc_clock = cases[i].tsc;
		mcppool_t *p = fix_pool(&fx);
		const char *src = mcppool_clock_source(p);
		if (strcmp(src, cases[i].name) != 0 && strcmp(src, cases[i].alt) != 0)
			fail_msg("case %zu: clock %s", i, src);
		int64_t t0 = base_now_ns();
		assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
		int64_t t1 = base_now_ns();
		base_sleep_ms(20);
		int64_t t2 = base_now_ns();
		mcppool_release(p, conn, MCPPOOL_OK);
		int64_t t3 = base_now_ns();
		mcppool_stats(p, &s);
		assert_int_equal(s.request.count, 1);
		double lo = (double)(t2 - t1) / 1e9 - cases[i].slack;
		double hi = (double)(t3 - t0) / 1e9 + cases[i].slack;
		if (s.request.sum < lo || s.request.sum > hi)
			fail_msg("case %zu (%s): held %.6f s, outside %.6f..%.6f", i, src,
			         s.request.sum, lo, hi);
		double before = s.request.sum;
		for (int k = 0; k < 200; k++) {
			assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
			mcppool_release(p, conn, MCPPOOL_OK);
		}
		mcppool_stats(p, &s);
		assert_int_equal(s.request.count, 201);
		assert_int_equal(s.acquires, 201);
		if (!cases[i].coarse)
			assert_true(s.request.sum > before); /* sub-tick resolution */
		fix_free_pool(&fx);
	}
	fix_stop(&fx);
}

/* mcppool_release_timed: the caller's latency goes into the request
 * histogram (bucket and sum) instead of the held time; negative falls back
 * to the held time. On the coarse clock, as mcp-worker runs it. */
static void test_release_timed(void **state)
{
	fix_t fx;
	mcppool_conn_t *conn;
	mcppool_stats_t s;
	(void)state;
	fix_server(&fx);
	fx.cfg.size = 1;
	fx.cfg.coarse_clock = 1;
	mcppool_t *p = fix_pool(&fx);
	assert_string_equal(mcppool_clock_source(p), "monotonic_coarse");
	/* 3 ms: above the 2.5 ms bound, within the 5 ms one (index 3). */
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	mcppool_release_timed(p, conn, MCPPOOL_OK, 3000000);
	mcppool_stats(p, &s);
	assert_int_equal(s.request.count, 1);
	assert_true(fabs(s.request.sum - 0.003) < 1e-9);
	for (int i = 0; i < MCPPOOL_HIST_BUCKETS; i++)
		assert_int_equal(s.request.buckets[i], i == 3 ? 1 : 0);
	assert_int_equal(s.request.overflow, 0);
	/* 0 lands in the first bucket; held 30 ms with -1 is the held time. */
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	mcppool_release_timed(p, conn, MCPPOOL_OK, 0);
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	base_sleep_ms(30);
	mcppool_release_timed(p, conn, MCPPOOL_OK, -1);
	mcppool_stats(p, &s);
	assert_int_equal(s.request.count, 3);
	assert_int_equal(s.request.buckets[0], 1);
	assert_true(s.request.sum > 0.003 + 0.020 && s.request.sum < 0.003 + 1.0);
	assert_int_equal(s.acquires, 3);
	fix_stop(&fx);
}

/* mcppool_conn_idle_ns: time since the last release (any borrower). */
static void test_conn_idle_ns(void **state)
{
	fix_t fx;
	mcppool_conn_t *conn;
	int64_t idle;
	(void)state;
	fix_server(&fx);
	fx.cfg.size = 1;
	fx.cfg.coarse_clock = 1;
	mcppool_t *p = fix_pool(&fx);
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	base_sleep_ms(200); /* held, not idle */
	mcppool_release(p, conn, MCPPOOL_OK);
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	idle = mcppool_conn_idle_ns(conn);
	assert_true(idle >= 0 && idle < 100000000LL); /* coarse clock: a tick or two */
	mcppool_release(p, conn, MCPPOOL_OK);
	base_sleep_ms(300);
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	idle = mcppool_conn_idle_ns(conn);
	assert_true(idle >= 250000000LL && idle < 5000000000LL);
	mcppool_release(p, conn, MCPPOOL_OK);
	assert_int_equal(mcppool_conn_idle_ns(NULL), 0);
	fix_stop(&fx);
}

static void test_timeout_leaves_no_trace(void **state)
{
	fix_t fx;
	mcppool_conn_t *a, *b;
	mcppool_stats_t s;
	(void)state;
	fix_server(&fx);
	fx.cfg.size = 1;
	mcppool_t *p = fix_pool(&fx);
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &a), 0);
	assert_int_equal(mcppool_acquire(p, 0, NULL, &b), MCPPOOL_ETIMEDOUT);
	assert_null(b);
	int64_t t0 = base_now_ms();
	assert_int_equal(mcppool_acquire(p, 50, NULL, &b), MCPPOOL_ETIMEDOUT);
	assert_true(base_now_ms() - t0 >= 45);
	mcppool_stats(p, &s);
	assert_int_equal(s.waiters, 0);
	assert_int_equal(s.acquire_timeouts, 2);
	mcppool_release(p, a, MCPPOOL_OK);
	assert_int_equal(mcppool_acquire(p, 0, NULL, &b), 0);
	assert_ptr_equal(a, b);
	mcppool_release(p, b, MCPPOOL_OK);
	fix_stop(&fx);
}

struct fifo_arg {
	mcppool_t *p;
	int id;
	_Atomic int *next_pos;
	int pos;
	int rc;
};

static void *fifo_waiter(void *v)
{
	struct fifo_arg *a = v;
	mcppool_conn_t *c;
	a->rc = mcppool_acquire(a->p, 10000, NULL, &c);
	if (a->rc == 0) {
		a->pos = atomic_fetch_add(a->next_pos, 1);
		mcppool_release(a->p, c, MCPPOOL_OK);
	}
	return NULL;
}

static void test_fifo_waiters(void **state)
{
	fix_t fx;
	mcppool_conn_t *held;
	pthread_t th[4];
	struct fifo_arg args[4];
	_Atomic int pos = 0;
	(void)state;
	fix_server(&fx);
	fx.cfg.size = 1;
	fx.cfg.housekeeping_ms = 3600000; /* its sweep would serve waiters: off */
	mcppool_t *p = fix_pool(&fx);
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &held), 0);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct fifo_arg){p, i, &pos, -1, -99};
		pthread_create(&th[i], NULL, fifo_waiter, &args[i]);
		/* Queue them one after another. */
		assert_true(wait_for(p, waiters_is, i + 1, 5000));
	}
	mcppool_release(p, held, MCPPOOL_OK);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].rc, 0);
		assert_int_equal(args[i].pos, i); /* served in arrival order */
	}
	fix_stop(&fx);
}

struct load_arg {
	mcppool_t *p;
	_Atomic int *stop;
	int n;          /* requests to do, or 0: until stop */
	int done, lost; /* lost: acquire failed or wrong answer */
	int retries;
};

static void *load_main(void *v)
{
	struct load_arg *a = v;
	for (int i = 0; a->n ? i < a->n : !atomic_load(a->stop); i++) {
		int ok = 0;
		for (int attempt = 0; attempt < 10 && !ok; attempt++) {
			mcppool_conn_t *c;
			int rc = mcppool_acquire(a->p, 10000, "load", &c);
			if (rc != 0) {
				base_sleep_ms(20);
				continue;
			}
			mcppool_release(a->p, c, do_read(c, (i % 900) + 1, &ok));
			if (!ok)
				a->retries++;
		}
		if (ok)
			a->done++;
		else
			a->lost++;
	}
	return NULL;
}

static void test_concurrent_borrowers(void **state)
{
	fix_t fx;
	pthread_t th[8];
	struct load_arg a[8];
	mcppool_stats_t s;
	(void)state;
	fix_server(&fx);
	fx.cfg.size = 3;
	/* Run with every hot-path clock: 0 default (TSC when usable), 1 coarse, 2 monotonic. */
	fx.cfg.coarse_clock = (int)(intptr_t)*state == 1;
	fx.cfg.tsc_clock = (int)(intptr_t)*state != 2;
	mcppool_t *p = fix_pool(&fx);
	for (int i = 0; i < 8; i++) {
		a[i] = (struct load_arg){p, NULL, 150, 0, 0, 0};
		pthread_create(&th[i], NULL, load_main, &a[i]);
	}
	int done = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].lost, 0);
		assert_int_equal(a[i].retries, 0);
		done += a[i].done;
	}
	assert_int_equal(done, 8 * 150);
	mcppool_stats(p, &s);
	assert_int_equal(s.acquires, 8 * 150);
	assert_int_equal(s.request.count, 8 * 150);
	assert_true(s.size <= 3);
	assert_true(s.connects <= 3);
	assert_int_equal(s.waiters, 0);
	assert_int_equal(s.states[MCPPOOL_IN_USE], 0);
	assert_true(pool_mbsrv_requests(fx.srv) >= 8 * 150);
	fix_stop(&fx);
}

/* A thread gets back the connection it released last (its hint), whichever
 * slot that is: one of the two rounds contradicts a lowest-slot-first scan. */
static void test_thread_affinity(void **state)
{
	fix_t fx;
	mcppool_conn_t *a, *b, *x;
	(void)state;
	fix_server(&fx);
	fx.cfg.size = 2;
	mcppool_t *p = fix_pool(&fx);
	assert_true(wait_for(p, idle_at_least, 2, 5000));
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &a), 0);
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &b), 0);
	assert_ptr_not_equal(a, b);
	for (int round = 0; round < 2; round++) {
		mcppool_conn_t *first = round ? b : a, *last = round ? a : b;
		mcppool_release(p, first, MCPPOOL_OK);
		mcppool_release(p, last, MCPPOOL_OK);
		assert_int_equal(mcppool_acquire(p, 5000, NULL, &x), 0);
		assert_ptr_equal(x, last);
		assert_int_equal(mcppool_acquire(p, 5000, NULL, &x), 0);
		assert_ptr_equal(x, first);
	}
	mcppool_release(p, a, MCPPOOL_OK);
	mcppool_release(p, b, MCPPOOL_OK);
	fix_stop(&fx);
}

struct spin_arg {
	mcppool_t *p;
	int n, failed;
	pthread_barrier_t *start;
};

static void *spin_main(void *v)
{
	struct spin_arg *a = v;
	pthread_barrier_wait(a->start); /* all alive at once */
	for (int i = 0; i < a->n; i++) {
		mcppool_conn_t *c;
		if (mcppool_acquire(a->p, 10000, NULL, &c) != 0) {
			a->failed++;
			continue;
		}
		mcppool_release(a->p, c, MCPPOOL_OK);
	}
	return NULL;
}

/* Runs `threads` borrowers at once, n acquire/release pairs each, no I/O. */
static void spin(mcppool_t *p, int threads, int n)
{
	pthread_t th[96];
	struct spin_arg a[96];
	pthread_barrier_t start;
	assert_true(threads <= 96);
	pthread_barrier_init(&start, NULL, (unsigned)threads);
	for (int i = 0; i < threads; i++) {
		a[i] = (struct spin_arg){p, n, 0, &start};
		assert_int_equal(pthread_create(&th[i], NULL, spin_main, &a[i]), 0);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].failed, 0); /* a lost wakeup would time out */
	}
	pthread_barrier_destroy(&start);
}

/* More borrowers than connections, tight loops without I/O: the lock-free
 * release racing with waiters queueing loses no wakeup (housekeeping, whose
 * sweep would rescue a lost one, is off: a lost wakeup times out), every
 * acquire and release is counted exactly, and nothing is left waiting or in
 * use. Both release fences: membarrier (where the kernel has it) and the
 * seq_cst store. Then more threads at once than there are exclusive stats
 * stripes (64), and a second wave that reuses the exited threads' stripes. */
static void test_contention_counts(void **state)
{
	fix_t fx;
	mcppool_stats_t s;
	(void)state;
	fix_server(&fx);
	for (int mode = 0; mode < 2; mode++) {
		cfg_for(fx.srv, &fx.cfg);
		fx.cfg.size = mode + 1;
		fx.cfg.housekeeping_ms = 3600000;
		if (mode == 1)
			setenv("MCPPOOL_MEMBARRIER", "0", 1);
		mcppool_t *p = fix_pool(&fx);
		unsetenv("MCPPOOL_MEMBARRIER");
		assert_true(wait_for(p, idle_at_least, fx.cfg.size, 5000));
		spin(p, 6, 3000);
		mcppool_stats(p, &s);
		assert_int_equal(s.acquires, 6 * 3000);
		assert_int_equal(s.request.count, 6 * 3000);
		assert_int_equal(s.waiters, 0);
		assert_int_equal(s.states[MCPPOOL_IN_USE], 0);
		assert_int_equal(s.states[MCPPOOL_IDLE], fx.cfg.size);
		assert_int_equal(s.connects, fx.cfg.size);
		fix_free_pool(&fx);
	}

	/* Enough connections that the 80 threads mostly run side by side. */
	cfg_for(fx.srv, &fx.cfg);
	fx.cfg.size = 16;
	mcppool_t *p = fix_pool(&fx);
	assert_true(wait_for(p, idle_at_least, 16, 5000));
	spin(p, 80, 2000);
	spin(p, 80, 2000);
	mcppool_stats(p, &s);
	assert_int_equal(s.acquires, 2 * 80 * 2000);
	assert_int_equal(s.wait.count, s.acquires);
	assert_int_equal(s.request.count, s.acquires);
	assert_int_equal(s.waiters, 0);
	assert_int_equal(s.states[MCPPOOL_IN_USE], 0);
	fix_stop(&fx);
}

static void test_resize_under_load(void **state)
{
	fix_t fx;
	pthread_t th[6];
	struct load_arg a[6];
	_Atomic int stop = 0;
	mcppool_stats_t s;
	(void)state;
	fix_server(&fx);
	pool_mbsrv_set_delay_ms(fx.srv, 1);
	fx.cfg.size = 2;
	mcppool_t *p = fix_pool(&fx);
	for (int i = 0; i < 6; i++) {
		a[i] = (struct load_arg){p, &stop, 0, 0, 0, 0};
		pthread_create(&th[i], NULL, load_main, &a[i]);
	}
	const int sizes[] = {8, 1, 5, 16, 2, 40, 3};
	const int applied[] = {8, 1, 5, 16, 2, 16, 3};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		base_sleep_ms(100);
		assert_int_equal(mcppool_set_size(p, sizes[i]), applied[i]);
		mcppool_stats(p, &s);
		assert_int_equal(s.target_size, applied[i]);
		assert_true(s.size <= fx.cfg.max_size);
	}
	base_sleep_ms(100);
	atomic_store(&stop, 1);
	int done = 0;
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].lost, 0);
		assert_int_equal(a[i].retries, 0); /* no in-flight request was killed */
		done += a[i].done;
	}
	assert_true(done > 0);
	/* Once the borrowers are gone the pool settles at the target. */
	assert_true(wait_for(p, size_is, 3, 5000));
	assert_int_equal(mcppool_set_size(p, 0), 1);
	assert_true(wait_for(p, size_is, 1, 5000));
	mcppool_stats(p, &s);
	assert_int_equal(s.broken, 0);
	assert_int_equal(s.acquires, s.request.count);
	fix_stop(&fx);
}

static void test_device_closes_connections(void **state)
{
	fix_t fx;
	mcppool_conn_t *conn;
	mcppool_stats_t s;
	int ok;
	(void)state;
	fix_server(&fx);
	fx.cfg.size = 3;
	fx.cfg.breaker_threshold = 100;
	mcppool_t *p = fix_pool(&fx);
	assert_true(wait_for(p, idle_at_least, 3, 5000));
	assert_true(wait_clients(fx.srv, 3, 5000));

	/* Without validation the borrower sees the break and reports it. */
	pool_mbsrv_close_all(fx.srv);
	base_sleep_ms(50);
	int broken = 0, good = 0;
	for (int i = 0; i < 20 && good < 3; i++) {
		assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
		mcppool_outcome_t o = do_read(conn, 3, &ok);
		mcppool_release(p, conn, o);
		if (o == MCPPOOL_OK && ok)
			good++;
		else
			broken++;
	}
	assert_int_equal(good, 3);
	assert_true(broken >= 1);
	mcppool_stats(p, &s);
	assert_int_equal((int)s.broken, broken);
	assert_true(s.connects > 3);
	fix_free_pool(&fx);

	/* With keepalive validation the pool catches it before handing out. */
	fx.cfg.keepalive_ms = 1;
	assert_true(wait_clients(fx.srv, 0, 5000));
	p = fix_pool(&fx);
	assert_true(wait_for(p, idle_at_least, 3, 5000));
	assert_true(wait_clients(fx.srv, 3, 5000));
	pool_mbsrv_close_all(fx.srv);
	base_sleep_ms(50);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
		assert_int_equal(do_read(conn, 3, &ok), MCPPOOL_OK);
		assert_true(ok);
		mcppool_release(p, conn, MCPPOOL_OK);
	}
	mcppool_stats(p, &s);
	assert_true(s.validations_failed >= 1);
	assert_int_equal(s.broken, 0);
	fix_stop(&fx);
}

static void test_exception_reply_validates(void **state)
{
	fix_t fx;
	mcppool_conn_t *conn;
	mcppool_stats_t s;
	(void)state;
	fix_server(&fx);
	pool_mbsrv_set_exception(fx.srv, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
	fx.cfg.size = 1;
	fx.cfg.keepalive_ms = 1;
	mcppool_t *p = fix_pool(&fx);
	assert_true(wait_for(p, idle_at_least, 1, 5000));
	base_sleep_ms(5);
	uint64_t before = pool_mbsrv_requests(fx.srv);
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	assert_true(pool_mbsrv_requests(fx.srv) > before); /* a validation read was sent */
	mcppool_release(p, conn, MCPPOOL_OK);
	mcppool_stats(p, &s);
	assert_int_equal(s.validations_failed, 0);
	assert_int_equal(s.connects, 1);
	fix_stop(&fx);
}

static void test_device_stops_answering(void **state)
{
	fix_t fx;
	mcppool_conn_t *conn;
	mcppool_stats_t s;
	int ok;
	(void)state;
	fix_server(&fx);
	fx.cfg.size = 2;
	fx.cfg.response_timeout_ms = 100;
	fx.cfg.breaker_threshold = 2;
	fx.cfg.breaker_open_ms = 200;
	mcppool_t *p = fix_pool(&fx);
	assert_true(wait_for(p, idle_at_least, 2, 5000));
	pool_mbsrv_set_stall(fx.srv, true);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
		assert_int_equal(do_read(conn, 1, &ok), MCPPOOL_TIMEOUT);
		mcppool_release(p, conn, MCPPOOL_TIMEOUT);
	}
	mcppool_stats(p, &s);
	assert_int_equal(s.broken, 2);
	assert_int_not_equal(s.breaker, MCPPOOL_BREAKER_CLOSED);
	int64_t t0 = base_now_ms();
	int rc = mcppool_acquire(p, 5000, NULL, &conn);
	if (rc == 0)
		mcppool_release(p, conn, MCPPOOL_OK); /* the half-open probe may have won */
	else
		assert_int_equal(rc, MCPPOOL_EBREAKER);
	assert_true(base_now_ms() - t0 < 1000); /* failed fast, no 5 s wait */
	/* Device answers again: the half-open probe (a validation read) closes it. */
	pool_mbsrv_set_stall(fx.srv, false);
	assert_true(wait_for(p, breaker_is, MCPPOOL_BREAKER_CLOSED, 10000));
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	assert_int_equal(do_read(conn, 9, &ok), MCPPOOL_OK);
	assert_true(ok);
	mcppool_release(p, conn, MCPPOOL_OK);
	fix_stop(&fx);
}

static void test_device_refuses(void **state)
{
	fix_t fx;
	mcppool_conn_t *conn;
	mcppool_stats_t s;
	(void)state;
	fix_server(&fx);
	assert_int_equal(pool_mbsrv_set_refuse(fx.srv, true), 0);
	fx.cfg.size = 2;
	fx.cfg.breaker_threshold = 3;
	fx.cfg.breaker_open_ms = 100;
	mcppool_t *p = fix_pool(&fx);
	/* While nothing is open and the breaker still closed, acquire waits out its deadline. */
	int rc = mcppool_acquire(p, 20, NULL, &conn);
	assert_true(rc == MCPPOOL_ETIMEDOUT || rc == MCPPOOL_EBREAKER);
	assert_true(wait_for(p, breaker_is, MCPPOOL_BREAKER_OPEN, 5000));
	int64_t t0 = base_now_ms();
	rc = mcppool_acquire(p, 5000, NULL, &conn); /* open or half-open: fails fast */
	assert_int_equal(rc, MCPPOOL_EBREAKER);
	assert_true(base_now_ms() - t0 < 1000);
	mcppool_stats(p, &s);
	assert_true(s.connect_failures >= 3);
	assert_int_equal(s.connects, 0);
	assert_int_equal(s.states[MCPPOOL_IDLE] + s.states[MCPPOOL_IN_USE], 0);
	/* Recovery: probes keep failing until the device listens again. */
	assert_true(wait_for(p, connect_failures_at_least, (long)s.connect_failures + 1, 5000));
	assert_int_equal(pool_mbsrv_set_refuse(fx.srv, false), 0);
	assert_true(wait_for(p, breaker_is, MCPPOOL_BREAKER_CLOSED, 5000));
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	mcppool_release(p, conn, MCPPOOL_OK);
	assert_true(wait_for(p, size_is, 2, 5000));
	mcppool_stats(p, &s);
	assert_true(s.acquire_rejected >= 1);
	fix_stop(&fx);
}

static void test_leak_detection(void **state)
{
	fix_t fx;
	mcppool_conn_t *conn;
	mcppool_stats_t s;
	char *logbuf = NULL;
	size_t loglen = 0;
	(void)state;
	FILE *mem = open_memstream(&logbuf, &loglen);
	assert_non_null(mem);
	base_log_set_output(mem);
	fix_server(&fx);
	fx.cfg.size = 1;
	fx.cfg.leak_threshold_ms = 50;
	mcppool_t *p = fix_pool(&fx);
	assert_int_equal(mcppool_acquire(p, 5000, "req-42 from 10.0.0.7", &conn), 0);
	assert_true(wait_for(p, leaks_at_least, 1, 5000));
	base_sleep_ms(100); /* several housekeeping rounds: still reported once */
	mcppool_stats(p, &s);
	assert_int_equal(s.leaks_reported, 1);
	mcppool_release(p, conn, MCPPOOL_OK);
	/* A short borrow is not a leak. */
	assert_int_equal(mcppool_acquire(p, 5000, "quick", &conn), 0);
	mcppool_release(p, conn, MCPPOOL_OK);
	base_sleep_ms(100);
	fix_stop(&fx);
	base_log_set_output(quiet_log);
	fclose(mem);
	assert_non_null(strstr(logbuf, "event=pool_leak"));
	assert_non_null(strstr(logbuf, "tag=\"req-42 from 10.0.0.7\""));
	assert_null(strstr(logbuf, "tag=quick"));
	const char *first = strstr(logbuf, "event=pool_leak");
	assert_null(strstr(first + 1, "event=pool_leak"));
	free(logbuf);
}

static void test_lifetime_and_idle_retirement(void **state)
{
	fix_t fx;
	mcppool_conn_t *conn;
	mcppool_stats_t s;
	(void)state;
	fix_server(&fx);
	fx.cfg.size = 2;
	fx.cfg.max_lifetime_ms = 80;
	mcppool_t *p = fix_pool(&fx);
	assert_true(wait_for(p, lifetime_at_least, 2, 5000));
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	mcppool_release(p, conn, MCPPOOL_OK);
	mcppool_stats(p, &s);
	assert_true(s.connects >= 3); /* replaced */
	fix_free_pool(&fx);

	cfg_for(fx.srv, &fx.cfg);
	fx.cfg.size = 4;
	fx.cfg.min_idle = 1;
	fx.cfg.max_idle_ms = 50;
	p = fix_pool(&fx);
	assert_true(wait_for(p, idle_retired_at_least, 3, 5000));
	assert_true(wait_for(p, size_is, 1, 5000)); /* min_idle kept */
	base_sleep_ms(150);
	mcppool_stats(p, &s);
	assert_int_equal(s.size, 1);
	assert_int_equal(s.retired_idle, 3);
	assert_int_equal(s.target_size, 4);
	/* Demand grows it again. */
	mcppool_conn_t *a, *b;
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &a), 0);
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &b), 0);
	mcppool_release(p, a, MCPPOOL_OK);
	mcppool_release(p, b, MCPPOOL_OK);
	fix_stop(&fx);
}

static void test_no_fd_leak(void **state)
{
	fix_t fx;
	mcppool_conn_t *conn;
	int ok;
	(void)state;
	int before = count_fds();
	assert_true(before > 0);
	fix_server(&fx);
	fx.cfg.size = 4;
	mcppool_t *p = fix_pool(&fx);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 10; i++) {
			assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
			mcppool_release(p, conn, do_read(conn, 2, &ok));
		}
		pool_mbsrv_close_all(fx.srv); /* forces reconnects */
		assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
		mcppool_release(p, conn, MCPPOOL_BROKEN_IO);
		mcppool_set_size(p, round == 1 ? 1 : 6);
	}
	fix_stop(&fx);
	assert_int_equal(count_fds(), before);
}

/* Device sockets stay below FD_SETSIZE (libmodbus uses select()) even when
 * every low fd is taken after the pool started; a pool started with no low
 * fd free refuses with a clear error instead of aborting in select(). */
static void test_fd_setsize(void **state)
{
	struct rlimit rl;
	(void)state;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max < 1200) {
		skip();
		return;
	}
	struct rlimit nrl = rl;
	if (nrl.rlim_cur < 1200)
		nrl.rlim_cur = 1200;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &nrl), 0);

	/* A listener that never accepts: the kernel completes handshakes into
	 * the backlog, which is all a TCP-checked connection needs. */
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.1.250.3", &sa.sin_addr);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 64), 0);
	socklen_t len = sizeof(sa);
	getsockname(lfd, (struct sockaddr *)&sa, &len);

	mcppool_config_t c;
	mcppool_config_default(&c);
	snprintf(c.host, sizeof(c.host), "127.1.250.3");
	c.port = ntohs(sa.sin_port);
	c.size = 2;
	c.max_size = 4;
	c.validate_addr = -1;
	c.keepalive_ms = 0;
	c.backoff_initial_ms = 10;
	c.backoff_max_ms = 50;
	c.breaker_threshold = 1000;
	mcppool_t *p = must_new(&c);

	/* Take every fd below FD_SETSIZE. */
	int fill[FD_SETSIZE + 64];
	int nfill = 0;
	for (;;) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		fill[nfill++] = fd;
		if (fd >= FD_SETSIZE)
			break;
	}
	mcppool_conn_t *conn;
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	assert_true(mcppool_conn_fd(conn) < FD_SETSIZE);
	mcppool_release(p, conn, MCPPOOL_BROKEN_IO); /* reconnect with low fds all taken */
	assert_int_equal(mcppool_acquire(p, 5000, NULL, &conn), 0);
	assert_true(mcppool_conn_fd(conn) < FD_SETSIZE);
	mcppool_release(p, conn, MCPPOOL_OK);
	mcppool_free(p);
	/* The freed pool gave its reserved fds back: take them too. */
	for (;;) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		fill[nfill++] = fd;
		if (fd >= FD_SETSIZE)
			break;
	}

	/* Started with no low fd free: refused with a logged reason. */
	char *logbuf = NULL;
	size_t loglen = 0;
	FILE *mem = open_memstream(&logbuf, &loglen);
	base_log_set_output(mem);
	p = must_new(&c);
	assert_true(wait_for(p, connect_failures_at_least, 1, 5000));
	assert_int_equal(mcppool_acquire(p, 20, NULL, &conn), MCPPOOL_ETIMEDOUT);
	mcppool_free(p);
	base_log_set_output(quiet_log);
	fclose(mem);
	assert_non_null(strstr(logbuf, "FD_SETSIZE"));
	free(logbuf);

	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
	setrlimit(RLIMIT_NOFILE, &rl);
}

static void test_set_size_clamps_and_free_with_waiters(void **state)
{
	fix_t fx;
	(void)state;
	fix_server(&fx);
	fx.cfg.max_size = 5;
	mcppool_t *p = fix_pool(&fx);
	const struct {
		int in, out;
	} cases[] = {{0, 1}, {-7, 1}, {1, 1}, {5, 5}, {6, 5}, {1000, 5}, {3, 3}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mcppool_set_size(p, cases[i].in), cases[i].out);
	assert_true(wait_for(p, size_is, 3, 5000));
	fix_stop(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_config_default),
	        cmocka_unit_test(test_new_rejects_bad_config),
	        cmocka_unit_test(test_names),
	        cmocka_unit_test(test_null_args),
	        cmocka_unit_test(test_acquire_release_stats),
	        cmocka_unit_test(test_timeout_leaves_no_trace),
	        cmocka_unit_test(test_fifo_waiters),
	        cmocka_unit_test_prestate(test_concurrent_borrowers, (void *)(intptr_t)0),
	        cmocka_unit_test_prestate(test_concurrent_borrowers, (void *)(intptr_t)1),
	        cmocka_unit_test_prestate(test_concurrent_borrowers, (void *)(intptr_t)2),
	        cmocka_unit_test(test_clock_sources),
	        cmocka_unit_test(test_release_timed),
	        cmocka_unit_test(test_conn_idle_ns),
	        cmocka_unit_test(test_thread_affinity),
	        cmocka_unit_test(test_contention_counts),
	        cmocka_unit_test(test_resize_under_load),
	        cmocka_unit_test(test_device_closes_connections),
	        cmocka_unit_test(test_exception_reply_validates),
	        cmocka_unit_test(test_device_stops_answering),
	        cmocka_unit_test(test_device_refuses),
	        cmocka_unit_test(test_leak_detection),
	        cmocka_unit_test(test_lifetime_and_idle_retirement),
	        cmocka_unit_test(test_no_fd_leak),
	        cmocka_unit_test(test_fd_setsize),
	        cmocka_unit_test(test_set_size_clamps_and_free_with_waiters),
	};
	base_log_set_level(BASE_LOG_WARN);
	quiet_log = getenv("MCPPOOL_TEST_LOG") ? NULL : fopen("/dev/null", "w");
	base_log_set_output(quiet_log);
	int rc = cmocka_run_group_tests_name("mcppool", tests, NULL, NULL);
	base_log_set_output(NULL);
	if (quiet_log != NULL)
		fclose(quiet_log);
	return rc;
}
