/* pkg/mcppool: a pool of libmodbus TCP connections to one device.
 *
 * Design (see docs/mcppool.md for the long form):
 *
 * - Slots are preallocated (max_size), cache-line aligned. A slot is owned by
 *   exactly one party at a time: the idle set, one borrower, one opener
 *   thread (CONNECTING), the closer (CLOSING), the housekeeper (ST_HELD), or
 *   nobody (DISCONNECTED, taken only under the pool mutex). Ownership moves
 *   through a CAS on the slot's state (IDLE -> IN_USE/ST_HELD, acquire) or
 *   the mutex, so a slot's plain fields need no lock.
 * - No shared idle list: a connection is idle when its slot says IDLE. A
 *   borrower first tries the slot its thread released last (thread
 *   affinity, after HikariCP's ConcurrentBag), then scans from slot 0, so
 *   low slots stay busy and high ones age out (max_idle) as the bottom of a
 *   LIFO would. Threads that keep to their slots write no shared line.
 * - Fast path: acquire = a load of the waiter count + one CAS on the slot +
 *   one clock read; release = one clock read + one release store of the
 *   slot state + a load of the waiter count (the waiter side pays the fence:
 *   membarrier). No mutex, no syscall. The clock is the invariant TSC where
 *   usable (see "pool time").
 * - Slow path (nothing idle, or waiters queued): the pool mutex, a FIFO of
 *   waiters each with its own condition variable (no thundering herd). A
 *   release that sees waiters hands its connection straight to the oldest.
 *   A release that made its slot idle without seeing a waiter is always
 *   seen by that waiter's scan (Dekker-style, asymmetric fence), and no
 *   wakeup is lost.
 * - Opener threads connect outside the lock; a housekeeping thread retires
 *   old/idle connections, reports leaks and keeps min_idle; shrink retires
 *   idle connections at once and in-use ones on release.
 * - Hot-path counters live in per-thread stats stripes, owned exclusively
 *   (plain adds, no locked instruction); the rest are relaxed atomics. */
#include "mcppool/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_RDTSC 1
#else
#define HAVE_RDTSC 0
#endif

#if defined(__linux__)
#include <linux/membarrier.h>
#endif

#include "base/log.h"

#define CACHELINE   64
#define NEXCL       64 /* stats stripes owned by one thread each (plain adds) */
#define NSHARED     8  /* stripes for threads beyond NEXCL (atomic adds) */
#define NSTRIPES    (NEXCL + NSHARED)
#define TAG_WORDS   6 /* borrower tag: up to 47 bytes + NUL */
#define MAX_SLOTS   4096
#define MAX_OPENERS 16

const double mcppool_hist_bounds[MCPPOOL_HIST_BUCKETS] = {
        0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

/* The same bounds in nanoseconds, for the hot path (integer compares). */
static const int64_t hist_bounds_ns[MCPPOOL_HIST_BUCKETS] = {
        500000LL,   1000000LL,   2500000LL,   5000000LL,   7500000LL,    10000000LL,   25000000LL,
        50000000LL, 100000000LL, 250000000LL, 500000000LL, 1000000000LL, 2500000000LL, 5000000000LL,
};

struct mcppool_conn {
	/* Hot: touched by every acquire/release of this slot. */
	_Atomic int state; /* mcppool_state_t or ST_HELD; an IDLE slot is taken by CAS only */
	_Atomic int64_t acquired_ns; /* when borrowed (leak detection) */
	_Atomic int leak_reported;
	_Atomic uint32_t tag_seq; /* seqlock over tag[] (odd while written) */
	modbus_t *ctx;            /* owned by the slot's current owner */
	int64_t created_ns;       /* connect time (max lifetime) */
	int64_t last_used_ns;     /* last release (keepalive, max idle) */
	_Atomic uint64_t tag[TAG_WORDS];
	/* Cold. */
	mcppool_t *pool;
	int idx;
	int reserved_fd; /* placeholder below FD_SETSIZE the socket is moved onto, or -1 */
} __attribute__((aligned(CACHELINE)));

/* Hot-path counters, one stripe per thread (see stats_slot()), so the hot
 * path never writes a line another thread writes. acquires = wait
 * histogram count. */
struct stripe {
	_Atomic uint64_t wait[MCPPOOL_HIST_BUCKETS + 1];
	_Atomic uint64_t wait_sum_ns;
	_Atomic uint64_t req[MCPPOOL_HIST_BUCKETS + 1];
	_Atomic uint64_t req_sum_ns;
} __attribute__((aligned(CACHELINE)));

struct waiter {
	pthread_cond_t cond;
	struct waiter *next, *prev;
	mcppool_conn_t *conn; /* handed over by a release / the opener */
	int result;           /* nonzero: woken with this error (breaker, close) */
};

struct mcppool {
	/* Read on every fast-path operation, written rarely. The fast path
	 * writes only the slot it takes and its own stats stripe. */
	_Atomic int nwaiters __attribute__((aligned(CACHELINE)));
	_Atomic int hiwater;       /* no slot above is in use (raised/lowered under mu) */
	_Atomic int light_release; /* release stores IDLE without a fence (see heavy_fence) */
	uint64_t id;               /* unique in the process: keys the threads' slot hints */
	_Atomic int breaker;
	_Atomic int closing;
	_Atomic int consec_failures;
	_Atomic int nlive;  /* connections counted toward the target (not retiring) */
	_Atomic int target; /* target size */
	int64_t keepalive_ns, max_lifetime_ns;
	int clk;             /* CLK_*: what pool_now() reads */
	clockid_t hot_clock; /* CLK_MONO / CLK_COARSE */
	uint64_t tsc0;       /* CLK_TSC: pool time = ns0 + (tsc - tsc0) * mult / 2^32 */
	int64_t tsc_ns0;
	uint64_t tsc_mult;

	mcppool_config_t cfg;
	mcppool_conn_t *slots;
	struct stripe *stripes;
	int devnull_fd;

	pthread_mutex_t mu;
	pthread_condattr_t condattr; /* CLOCK_MONOTONIC */
	pthread_cond_t opener_cond;
	pthread_cond_t hk_cond;
	struct waiter *wq_head, *wq_tail; /* FIFO of waiters, under mu */
	int connecting;                   /* connects in flight, under mu */
	int fill_pending;                 /* connections wanted by grow/replace, under mu */
	int probe_running;                /* half-open probe in flight, under mu */
	int64_t opened_at_ns;             /* breaker opened, under mu */
	int64_t next_attempt_ns;          /* reconnect backoff, under mu */
	int64_t backoff_ms;               /* current backoff step, under mu */
	uint64_t rng;                     /* jitter, under mu */

	pthread_t openers[MAX_OPENERS];
	int nopeners;
	pthread_t hk;
	int hk_started;

	_Atomic uint64_t acquire_timeouts, acquire_rejected, connects, connect_failures,
	        validations_failed, retired_lifetime, retired_idle, broken, leaks_reported;
};

/* ---- small helpers ----------------------------------------------------------- */

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- pool time ---------------------------------------------------------------
 *
 * Every slot timestamp (acquired, last used, created) and both histograms use
 * "pool time", read by pool_now(): nanoseconds from the CPU's time-stamp
 * counter when it is invariant and the kernel itself trusts it (clocksource
 * "tsc": synchronised across CPUs), else CLOCK_MONOTONIC, or
 * CLOCK_MONOTONIC_COARSE when configured. rdtsc costs ~16-20 ns on the
 * development VM against ~28-33 ns for clock_gettime(CLOCK_MONOTONIC), and
 * the fast path reads the clock once per acquire and once per release.
 *
 * The TSC scale is calibrated once per process against CLOCK_MONOTONIC
 * (two readings ~5 ms apart, each bracketed by the tightest of a few
 * clock_gettime pairs: ~1e-5 relative error). Pool time is only ever
 * compared with pool time: condition-variable deadlines, backoff and
 * breaker timers use now_ns() (CLOCK_MONOTONIC). So the TSC timeline
 * drifting from CLOCK_MONOTONIC (NTP slews the latter) does no harm. */
enum { CLK_MONO, CLK_COARSE, CLK_TSC };

static struct {
	int ok;
	uint64_t tsc0, mult;
	int64_t ns0;
} tsc_cal;
static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;

#if HAVE_RDTSC
/* Reads (CLOCK_MONOTONIC, TSC) at one instant: the TSC read bracketed by
 * the tightest of a few clock_gettime pairs. */
static void tsc_pair(int64_t *ns, uint64_t *tsc)
{
	int64_t best = INT64_MAX;
	for (int i = 0; i < 7; i++) {
		int64_t a = now_ns();
		uint64_t t = __rdtsc();
		int64_t b = now_ns();
		if (b - a < best) {
			best = b - a;
			*ns = a + (b - a) / 2;
			*tsc = t;
		}
	}
}

/* 1 when the first CPU's "flags" line in /proc/cpuinfo has `flag`. */
static int cpu_flag(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];
	int found = 0;
	size_t fl = strlen(flag);
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		for (char *q = strstr(line, flag); q != NULL && !found; q = strstr(q + 1, flag))
			found = q[-1] == ' ' && (q[fl] == ' ' || q[fl] == '\n' || q[fl] == '\0');
		break;
	}
	fclose(f);
	return found;
}

/* 1 when the kernel keeps time with the TSC (it checked that the CPUs'
 * counters agree; under a hypervisor it usually picks kvm-clock instead). */
static int clocksource_is_tsc(void)
{
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
	char line[64] = "";
	if (f == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	return strcmp(line, "tsc\n") == 0 || strcmp(line, "tsc") == 0;
}
#endif

static void tsc_calibrate(void)
{
#if HAVE_RDTSC
	if (!cpu_flag("constant_tsc") || !cpu_flag("nonstop_tsc") || !clocksource_is_tsc())
		return;
	int64_t n0, n1;
	uint64_t t0, t1;
	tsc_pair(&n0, &t0);
	struct timespec d = {0, 5000000};
	while (nanosleep(&d, &d) != 0 && errno == EINTR) {
	}
	tsc_pair(&n1, &t1);
	if (n1 <= n0 || t1 <= t0)
		return;
	/* ns per tick in 32.32 fixed point; sane for 100 MHz .. 20 GHz. */
	double ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
	if (ns_per_tick < 0.05 || ns_per_tick > 10.0)
		return;
	tsc_cal.mult = (uint64_t)(ns_per_tick * 4294967296.0);
	tsc_cal.tsc0 = t1;
	tsc_cal.ns0 = n1;
	tsc_cal.ok = 1;
#endif
}

static inline int64_t pool_now(const mcppool_t *p)
{
#if HAVE_RDTSC
	if (p->clk == CLK_TSC) {
		int64_t d = (int64_t)(__rdtsc() - p->tsc0);
		return p->tsc_ns0 + (int64_t)(((__int128)d * (__int128)p->tsc_mult) >> 32);
	}
#endif
	struct timespec ts;
	clock_gettime(p->hot_clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void abs_deadline(struct timespec *ts, int64_t at_ns)
{
	ts->tv_sec = at_ns / 1000000000LL;
	ts->tv_nsec = at_ns % 1000000000LL;
}

static inline int hist_index(int64_t d)
{
	int i = 0;
	while (i < MCPPOOL_HIST_BUCKETS && d > hist_bounds_ns[i])
		i++;
	return i;
}

/* Stats stripes. Every thread that uses a pool gets a process-wide index
 * (`my_tid`): one of NEXCL exclusive ones while any is free, given back by
 * a thread-exit destructor, else one of NSHARED shared ones. A thread owns
 * stripe[my_tid] of every pool exclusively, so it adds with a plain
 * load+store (no locked instruction) and stats readers, using relaxed
 * loads, see whole values. Shared stripes use atomic adds. Handing an
 * index to a new thread goes through the acquire/release of tid_bits, so
 * the new owner continues from the old owner's last values. */
static _Atomic uint64_t tid_bits; /* NEXCL == 64 bits: exclusive indices taken */
static _Atomic unsigned tid_shared_rr;
static pthread_key_t tid_key;
static int tid_key_ok;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;
static _Thread_local int my_tid = -1;

static void tid_release(void *unused)
{
	(void)unused;
	if (my_tid >= 0 && my_tid < NEXCL)
		atomic_fetch_and_explicit(&tid_bits, ~(1ULL << my_tid), memory_order_release);
	my_tid = -1;
}

static void tid_key_init(void)
{
	tid_key_ok = pthread_key_create(&tid_key, tid_release) == 0;
}

static int __attribute__((noinline)) tid_assign(void)
{
	pthread_once(&tid_once, tid_key_init);
	uint64_t b = atomic_load_explicit(&tid_bits, memory_order_relaxed);
	while (tid_key_ok && ~b != 0) {
		int i = __builtin_ctzll(~b);
		if (atomic_compare_exchange_weak_explicit(&tid_bits, &b, b | (1ULL << i),
		                                          memory_order_acquire,
		                                          memory_order_relaxed)) {
			if (pthread_setspecific(tid_key, &tid_bits) == 0) {
				my_tid = i;
				return i;
			}
			atomic_fetch_and_explicit(&tid_bits, ~(1ULL << i), memory_order_release);
			break;
		}
	}
	my_tid = NEXCL + (int)(atomic_fetch_add_explicit(&tid_shared_rr, 1, memory_order_relaxed) %
	                       NSHARED);
	return my_tid;
}

static inline int stats_slot(void)
{
	return my_tid >= 0 ? my_tid : tid_assign();
}

/* Adds v to a stripe counter: plain on an exclusive stripe, atomic on a shared one. */
static inline void stat_add(_Atomic uint64_t *c, uint64_t v, int tid)
{
	if (tid < NEXCL)
		atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
		                      memory_order_relaxed);
	else
		atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static inline void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline void set_state(mcppool_conn_t *s, mcppool_state_t st)
{
	atomic_store_explicit(&s->state, (int)st, memory_order_relaxed);
}

/* strerror_r in its GNU form; modbus_strerror is not thread safe (libmodbus #468). */
static const char *errtext(int e, char *buf, size_t cap)
{
	if (e > MODBUS_ENOBASE && e < MODBUS_ENOBASE + 32) {
		static const char *const mb[] = {
		        "",
		        "illegal function",
		        "illegal data address",
		        "illegal data value",
		        "slave device or server failure",
		        "acknowledge",
		        "slave device or server is busy",
		        "negative acknowledge",
		        "memory parity error",
		        "",
		        "gateway path unavailable",
		        "target device failed to respond",
		        "invalid CRC",
		        "invalid data",
		        "invalid exception code",
		        "unknown exception code",
		        "too many data",
		        "response not from requested slave",
		};
		int i = e - MODBUS_ENOBASE;
		if (i < (int)(sizeof(mb) / sizeof(mb[0])) && mb[i][0] != '\0')
			return mb[i];
		snprintf(buf, cap, "modbus error %d", i);
		return buf;
	}
	return strerror_r(e, buf, cap);
}

/* ---- the idle set ----------------------------------------------------------------
 *
 * There is no shared idle list: a connection is idle when its slot's state
 * is MCPPOOL_IDLE, and whoever wants one (a borrower, dispatch() for a
 * waiter, the housekeeper) takes it with a CAS on that slot's state, on the
 * slot's own cache line. A borrower first tries the slot its thread last
 * released (thread affinity, as in HikariCP's ConcurrentBag), then scans
 * the slots from 0: low slots are preferred, so under light load the high
 * ones stay idle and age out (max_idle), as the bottom of a LIFO stack
 * would. Threads that keep to their own slots share no written line at
 * all; the old Treiber stack head was one line written by every operation.
 *
 * No lost wakeup: a release stores IDLE (seq_cst, or see heavy_fence()) and
 * then loads nwaiters (seq_cst); a waiter increments nwaiters (seq_cst) and
 * then scans with seq_cst loads, under mu. One of the two sees the other
 * (Dekker): either
 * the release sees the waiter and dispatches under mu, or the waiter's own
 * scan finds the slot. */

/* The fence in that Dekker pair is asymmetric where the kernel allows
 * (Linux >= 4.14): the release, run on every operation, stores IDLE with a
 * plain release store (no locked instruction, ~8 ns less a pair on the
 * development VM) and only keeps the compiler from reordering its load of
 * nwaiters before it; the waiter, already on the slow path, calls
 * membarrier(PRIVATE_EXPEDITED) after incrementing nwaiters and before its
 * scan. That makes every running thread of the process execute a full
 * barrier: a release whose store came before it is visible to the scan, and
 * one whose store came after it loads nwaiters after the barrier, so it
 * sees the waiter. Cost: one system call (IPIs to the CPUs running this
 * process) per queued waiter. Without membarrier, or with
 * MCPPOOL_MEMBARRIER=0 in the environment when the pool is created, the
 * release stores IDLE seq_cst (an xchg) and no heavy fence is needed. */
static int membarrier_ok;
static pthread_once_t membarrier_once = PTHREAD_ONCE_INIT;

static void membarrier_init(void)
{
#if defined(__linux__) && defined(SYS_membarrier)
	long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (q < 0 || (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 ||
	    (q & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
		return;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0)
		return;
	membarrier_ok = 1;
#endif
}

/* The waiter's side: after nwaiters++, before the scan. Caller holds mu. If
 * the system call ever failed (it cannot once registered), releases switch
 * to the seq_cst store for good, and a wakeup lost in the switch is found
 * by the next housekeeping sweep, which dispatches. */
static void heavy_fence(mcppool_t *p)
{
	if (!atomic_load_explicit(&p->light_release, memory_order_relaxed))
		return;
#if defined(__linux__) && defined(SYS_membarrier)
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
		return;
	base_log(BASE_LOG_ERROR, "pool_membarrier_failed", "host", p->cfg.host, (char *)NULL);
#endif
	atomic_store_explicit(&p->light_release, 0, memory_order_seq_cst);
}

/* Internal state: an idle slot the housekeeper has taken off the idle set
 * while it decides (under mu); reported as IDLE in the stats. */
#define ST_HELD MCPPOOL_STATE_COUNT

/* Takes slot s if it is idle; its new state is `to`. The acquire on success
 * pairs with the releasing store of IDLE: the previous owner's writes to
 * the slot's plain fields are visible. */
static inline int slot_take(mcppool_conn_t *s, int to)
{
	int idle = MCPPOOL_IDLE;
	return atomic_load_explicit(&s->state, memory_order_seq_cst) == MCPPOOL_IDLE &&
	       atomic_compare_exchange_strong_explicit(&s->state, &idle, to, memory_order_acquire,
	                                               memory_order_relaxed);
}

/* Scans for an idle slot, lowest first, and takes it (state `to`). */
static mcppool_conn_t *idle_take(mcppool_t *p, int to)
{
	int n = atomic_load_explicit(&p->hiwater, memory_order_acquire);
	for (int i = 0; i < n; i++)
		if (slot_take(&p->slots[i], to))
			return &p->slots[i];
	return NULL;
}

/* Per-thread hint: the slot this thread last released, per pool. A small
 * direct-mapped table keyed by pool id (never reused, unlike an address),
 * so a thread serving several pools keeps a hint for each. A stale or
 * shared hint only costs a failed CAS. */
#define HINT_WAYS 8
struct hint {
	uint64_t pool_id;
	int slot; /* -1: none */
};
static _Thread_local struct hint slot_hints[HINT_WAYS];
static _Atomic uint64_t pool_ids;

static inline struct hint *hint_of(const mcppool_t *p)
{
	struct hint *h = &slot_hints[p->id % HINT_WAYS];
	if (h->pool_id != p->id) {
		h->pool_id = p->id;
		h->slot = -1;
	}
	return h;
}

/* ---- waiters (under mu) ------------------------------------------------------------ */

static void wq_append(mcppool_t *p, struct waiter *w)
{
	w->next = NULL;
	w->prev = p->wq_tail;
	if (p->wq_tail)
		p->wq_tail->next = w;
	else
		p->wq_head = w;
	p->wq_tail = w;
	atomic_fetch_add_explicit(&p->nwaiters, 1, memory_order_seq_cst);
}

static void wq_remove(mcppool_t *p, struct waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		p->wq_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		p->wq_tail = w->prev;
	w->next = w->prev = NULL;
	atomic_fetch_sub_explicit(&p->nwaiters, 1, memory_order_seq_cst);
}

/* Hands idle connections to the oldest waiters. Caller holds mu. */
static void dispatch(mcppool_t *p)
{
	while (p->wq_head != NULL) {
		mcppool_conn_t *s = idle_take(p, MCPPOOL_IN_USE);
		if (s == NULL)
			return;
		struct waiter *w = p->wq_head;
		wq_remove(p, w);
		w->conn = s;
		pthread_cond_signal(&w->cond);
	}
}

/* Gives owned slot s (connected, healthy) to the oldest waiter, or makes it
 * idle when nobody waits. Caller holds mu. No dispatch() needed after it:
 * every path that makes a slot idle dispatches for itself (the lock-free
 * release when it sees a waiter, sweep_idle, a new waiter's own scan). */
static void put_back_locked(mcppool_t *p, mcppool_conn_t *s)
{
	struct waiter *w = p->wq_head;
	if (w == NULL) {
		atomic_store_explicit(&s->state, MCPPOOL_IDLE, memory_order_seq_cst);
		return;
	}
	set_state(s, MCPPOOL_IN_USE);
	wq_remove(p, w);
	w->conn = s;
	pthread_cond_signal(&w->cond);
}

/* Wakes every waiter with an error (breaker opened, pool closing). Caller holds mu. */
static void fail_waiters(mcppool_t *p, int err)
{
	while (p->wq_head != NULL) {
		struct waiter *w = p->wq_head;
		wq_remove(p, w);
		w->result = err;
		pthread_cond_signal(&w->cond);
	}
}

/* ---- breaker (under mu) -------------------------------------------------------------- */

static const char *breaker_name(int b)
{
	switch (b) {
	case MCPPOOL_BREAKER_CLOSED:
		return "closed";
	case MCPPOOL_BREAKER_OPEN:
		return "open";
	case MCPPOOL_BREAKER_HALF_OPEN:
		return "half_open";
	}
	return "?";
}

static void breaker_open(mcppool_t *p, const char *why)
{
	char n[16];
	/* Warn when the device goes down; a failed probe only re-arms the timer. */
	int was = atomic_exchange(&p->breaker, MCPPOOL_BREAKER_OPEN);
	p->opened_at_ns = now_ns();
	snprintf(n, sizeof(n), "%d", atomic_load(&p->consec_failures));
	base_log(was == MCPPOOL_BREAKER_CLOSED ? BASE_LOG_WARN : BASE_LOG_DEBUG, "pool_breaker",
	         "state", "open", "host", p->cfg.host, "failures", n, "reason", why, (char *)NULL);
	fail_waiters(p, MCPPOOL_EBREAKER);
	pthread_cond_broadcast(&p->opener_cond);
}

static void note_failure(mcppool_t *p, const char *why)
{
	int n = atomic_fetch_add(&p->consec_failures, 1) + 1;
	int b = atomic_load(&p->breaker);
	if (b == MCPPOOL_BREAKER_HALF_OPEN ||
	    (b == MCPPOOL_BREAKER_CLOSED && n >= p->cfg.breaker_threshold))
		breaker_open(p, why);
}

static void note_success(mcppool_t *p)
{
	atomic_store(&p->consec_failures, 0);
	if (atomic_load(&p->breaker) == MCPPOOL_BREAKER_HALF_OPEN) {
		atomic_store(&p->breaker, MCPPOOL_BREAKER_CLOSED);
		base_log(BASE_LOG_INFO, "pool_breaker", "state", "closed", "host", p->cfg.host,
		         (char *)NULL);
		pthread_cond_broadcast(&p->opener_cond);
	}
}

/* ---- connections --------------------------------------------------------------------- */

static void set_timeout(modbus_t *ctx, int64_t ms, int byte)
{
	uint32_t sec = (uint32_t)(ms / 1000);
	uint32_t usec = (uint32_t)((ms % 1000) * 1000);
	if (byte)
		modbus_set_byte_timeout(ctx, sec, usec);
	else
		modbus_set_response_timeout(ctx, sec, usec);
}

/* Closes the slot's context. The caller owns the slot. */
static void conn_close(mcppool_t *p, mcppool_conn_t *s)
{
	if (s->ctx == NULL)
		return;
	int fd = modbus_get_socket(s->ctx);
	if (fd >= 0 && fd == s->reserved_fd) {
		/* Put the placeholder back: dup3 closes the socket atomically and
		 * keeps the low fd number ours. */
		shutdown(fd, SHUT_RDWR);
		if (dup3(p->devnull_fd, fd, O_CLOEXEC) < 0)
			close(fd);
		modbus_set_socket(s->ctx, -1);
	} else {
		modbus_close(s->ctx);
	}
	modbus_free(s->ctx);
	s->ctx = NULL;
}

/* Gives a fresh socket a number below FD_SETSIZE: the slot's reserved fd
 * (dup3 replaces the placeholder atomically) or, without one, the lowest
 * free fd if that is low enough. libmodbus uses select(), and an fd >=
 * FD_SETSIZE aborts the process (libmodbus #583, #373). Returns the fd to
 * use (fd itself, or its replacement with fd closed), or -1 with err set
 * and fd closed. */
static int place_fd(mcppool_conn_t *s, int fd, char *err, size_t errlen)
{
	char eb[128];
	if (s->reserved_fd >= 0) {
		if (dup3(fd, s->reserved_fd, O_CLOEXEC) < 0) {
			snprintf(err, errlen, "dup3 onto reserved fd %d: %s", s->reserved_fd,
			         errtext(errno, eb, sizeof(eb)));
			close(fd);
			return -1;
		}
		close(fd);
		return s->reserved_fd;
	}
	if (fd < FD_SETSIZE)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	if (nfd >= 0 && nfd < FD_SETSIZE)
		return nfd;
	if (nfd >= 0)
		close(nfd);
	snprintf(err, errlen,
	         "socket fd %d >= FD_SETSIZE %d and no lower fd free: refused "
	         "(libmodbus uses select())",
	         fd, FD_SETSIZE);
	return -1;
}

/* Closes a socket from place_fd. A reserved fd is never closed (another
 * thread could take its number): the placeholder is put back over it. */
static void drop_fd(mcppool_t *p, mcppool_conn_t *s, int fd)
{
	if (fd == s->reserved_fd && dup3(p->devnull_fd, fd, O_CLOEXEC) >= 0)
		return;
	close(fd);
}

/* Non-blocking TCP connect bounded by timeout_ms; 0, or -1 with errno. */
static int connect_timed(int fd, const struct sockaddr *sa, socklen_t len, int64_t timeout_ms)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	int64_t end = now_ns() + timeout_ms * 1000000LL;
	for (;;) {
		int64_t left = (end - now_ns()) / 1000000LL;
		if (left < 0)
			left = 0;
		int rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			break;
		if (rc == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		return -1;
	if (soerr != 0) {
		errno = soerr;
		return -1;
	}
	return 0;
}

/* Opens a connection into slot s (owned by the caller, outside the lock).
 * The pool connects the socket itself and hands it to libmodbus with
 * modbus_set_socket(): libmodbus 3.1.6 has no connect timeout of its own
 * (it borrows the response timeout), may report a stale errno on a connect
 * timeout (#736), and select()s on the new socket before we could move it
 * below FD_SETSIZE. Returns 0, or -1 with err set. */
static int conn_open(mcppool_t *p, mcppool_conn_t *s, char *err, size_t errlen)
{
	const mcppool_config_t *c = &p->cfg;
	char port[16], eb[128];
	struct addrinfo hints, *res = NULL;
	int fd = -1, e = 0;

	snprintf(port, sizeof(port), "%d", c->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int grc = getaddrinfo(c->host, port, &hints, &res);
	if (grc != 0) {
		snprintf(err, errlen, "resolve %s: %s", c->host, gai_strerror(grc));
		return -1;
	}
	err[0] = '\0';
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		int sfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (sfd < 0) {
			e = errno;
			continue;
		}
		sfd = place_fd(s, sfd, err, errlen);
		if (sfd < 0)
			break;
		if (connect_timed(sfd, ai->ai_addr, ai->ai_addrlen, c->connect_timeout_ms) != 0) {
			e = errno;
			drop_fd(p, s, sfd);
			continue;
		}
		fd = sfd;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "connect to %s:%d: %s", c->host, c->port,
			         e == ETIMEDOUT ? "timed out" : errtext(e, eb, sizeof(eb)));
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	modbus_t *ctx = modbus_new_tcp_pi(c->host, port);
	if (ctx == NULL) {
		snprintf(err, errlen, "modbus_new_tcp_pi: %s", errtext(errno, eb, sizeof(eb)));
		goto fail;
	}
	/* The pool owns reconnects: libmodbus's LINK recovery loops forever on send. */
	modbus_set_error_recovery(ctx, MODBUS_ERROR_RECOVERY_NONE);
	if (modbus_set_slave(ctx, c->unit_id) != 0) {
		snprintf(err, errlen, "unit id %d rejected by libmodbus", c->unit_id);
		modbus_free(ctx);
		goto fail;
	}
	set_timeout(ctx, c->response_timeout_ms, 0);
	set_timeout(ctx, c->byte_timeout_ms, 1);
	modbus_set_socket(ctx, fd);
	s->ctx = ctx;
	return 0;
fail:
	drop_fd(p, s, fd);
	return -1;
}

/* Proves a connection still works: an FC3 read of validate_addr (an
 * exception reply proves the link too), or with validate_addr -1 a
 * non-blocking peek that sees a peer close or stray bytes. Caller owns s. */
static int conn_validate(mcppool_t *p, mcppool_conn_t *s)
{
	if (p->cfg.validate_addr >= 0) {
		uint16_t v;
		errno = 0;
		int rc = modbus_read_registers(s->ctx, p->cfg.validate_addr, 1, &v);
		if (rc == 1)
			return 0;
		return (rc == -1 && errno > MODBUS_ENOBASE && errno <= MODBUS_ENOBASE + 11) ? 0
		                                                                            : -1;
	}
	char b;
	ssize_t n = recv(modbus_get_socket(s->ctx), &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ? 0 : -1;
}

/* Final step of retiring a slot: called without mu, slot owned (CLOSING);
 * closes it and gives it back. `replace` asks the opener for a new one. */
static void retire_finish(mcppool_t *p, mcppool_conn_t *s, int replace)
{
	conn_close(p, s);
	pthread_mutex_lock(&p->mu);
	set_state(s, MCPPOOL_DISCONNECTED);
	if (replace)
		p->fill_pending++;
	pthread_cond_signal(&p->opener_cond);
	pthread_mutex_unlock(&p->mu);
}

/* ---- background threads ------------------------------------------------------------------ */

static int64_t jitter_backoff(mcppool_t *p)
{
	/* xorshift64; "equal jitter": half the step fixed, half random. */
	p->rng ^= p->rng << 13;
	p->rng ^= p->rng >> 7;
	p->rng ^= p->rng << 17;
	int64_t d = p->backoff_ms;
	int64_t half = d / 2;
	int64_t j = half > 0 ? (int64_t)(p->rng % (uint64_t)(half + 1)) : 0;
	p->backoff_ms = d * 2 > p->cfg.backoff_max_ms ? p->cfg.backoff_max_ms : d * 2;
	return (d - half) + j;
}

static void cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t at_ns)
{
	struct timespec ts;
	abs_deadline(&ts, at_ns);
	pthread_cond_timedwait(cv, mu, &ts);
}

static mcppool_conn_t *free_slot(mcppool_t *p)
{
	for (int i = 0; i < p->cfg.max_size; i++)
		if (atomic_load_explicit(&p->slots[i].state, memory_order_relaxed) ==
		    MCPPOOL_DISCONNECTED)
			return &p->slots[i];
	return NULL;
}

static void *opener_main(void *arg)
{
	mcppool_t *p = arg;
	char err[640];

	pthread_mutex_lock(&p->mu);
	while (!atomic_load(&p->closing)) {
		int64_t now = now_ns();
		int b = atomic_load(&p->breaker);
		int probe = 0;
		if (b != MCPPOOL_BREAKER_CLOSED) {
			if (p->probe_running) {
				pthread_cond_wait(&p->opener_cond, &p->mu);
				continue;
			}
			int64_t at = p->opened_at_ns + p->cfg.breaker_open_ms * 1000000LL;
			if (now < at) {
				cond_wait_until(&p->opener_cond, &p->mu, at);
				continue;
			}
			atomic_store(&p->breaker, MCPPOOL_BREAKER_HALF_OPEN);
			base_log(BASE_LOG_INFO, "pool_breaker", "state", "half_open", "host",
			         p->cfg.host, (char *)NULL);
			probe = 1;
		} else {
			int nlive = atomic_load(&p->nlive);
			int want =
			        nlive < atomic_load(&p->target) &&
			        (p->fill_pending > 0 || atomic_load(&p->nwaiters) > p->connecting);
			if (!want) {
				if (nlive >= atomic_load(&p->target))
					p->fill_pending = 0; /* nothing owed at or over target */
				pthread_cond_wait(&p->opener_cond, &p->mu);
				continue;
			}
			if (now < p->next_attempt_ns) {
				cond_wait_until(&p->opener_cond, &p->mu, p->next_attempt_ns);
				continue;
			}
		}
		mcppool_conn_t *s = free_slot(p);
		if (s == NULL) {
			/* Every slot busy (some still closing): wait for one. */
			if (probe)
				atomic_store(&p->breaker, MCPPOOL_BREAKER_OPEN);
			cond_wait_until(&p->opener_cond, &p->mu, now + 50000000LL);
			continue;
		}
		set_state(s, MCPPOOL_CONNECTING);
		if (s->idx >= atomic_load_explicit(&p->hiwater, memory_order_relaxed))
			atomic_store_explicit(&p->hiwater, s->idx + 1, memory_order_release);
		atomic_fetch_add(&p->nlive, 1);
		p->connecting++;
		if (p->fill_pending > 0)
			p->fill_pending--;
		if (probe)
			p->probe_running = 1;
		pthread_mutex_unlock(&p->mu);

		err[0] = '\0';
		int rc = conn_open(p, s, err, sizeof(err));
		if (rc == 0 && probe && p->cfg.validate_addr >= 0 && conn_validate(p, s) != 0) {
			snprintf(err, sizeof(err), "half-open probe: validation read failed");
			conn_close(p, s);
			rc = -1;
		}
		int64_t t = now_ns();
		int64_t pt = pool_now(p);

		pthread_mutex_lock(&p->mu);
		p->connecting--;
		if (probe)
			p->probe_running = 0;
		if (rc == 0) {
			count(&p->connects);
			p->backoff_ms = p->cfg.backoff_initial_ms;
			p->next_attempt_ns = 0;
			/* A TCP connect does not prove the device answers requests, so
			 * only the half-open probe (connect + validation read) resets
			 * the failure streak; otherwise a served request does. */
			if (probe)
				note_success(p);
			s->created_ns = pt;
			s->last_used_ns = pt;
			if (atomic_load(&p->nlive) > atomic_load(&p->target)) {
				/* Shrunk while connecting. */
				atomic_fetch_sub(&p->nlive, 1);
				set_state(s, MCPPOOL_CLOSING);
				pthread_mutex_unlock(&p->mu);
				retire_finish(p, s, 0);
				pthread_mutex_lock(&p->mu);
				continue;
			}
			put_back_locked(p, s);
		} else {
			count(&p->connect_failures);
			atomic_fetch_sub(&p->nlive, 1);
			set_state(s, MCPPOOL_DISCONNECTED);
			p->fill_pending++;
			int first = atomic_load(&p->consec_failures) == 0;
			int64_t d = jitter_backoff(p);
			p->next_attempt_ns = t + d * 1000000LL;
			base_log(first ? BASE_LOG_WARN : BASE_LOG_DEBUG, "pool_connect_failed",
			         "host", p->cfg.host, "error", err, (char *)NULL);
			note_failure(p, err);
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int by_last_used_desc(const void *a, const void *b)
{
	const mcppool_conn_t *x = *(mcppool_conn_t *const *)a;
	const mcppool_conn_t *y = *(mcppool_conn_t *const *)b;
	return (x->last_used_ns < y->last_used_ns) - (x->last_used_ns > y->last_used_ns);
}

/* Retires idle connections: the excess over the target (shrink), those past
 * max lifetime, and those idle past max idle beyond min_idle, least
 * recently used first. Takes every idle slot (ST_HELD) under mu, gives the
 * rest back. The retired ones are returned in out[] (state CLOSING, owned
 * by the caller), with replace[i] telling whether to open a replacement.
 * Caller holds mu. */
static int sweep_idle(mcppool_t *p, int64_t now, mcppool_conn_t **out, int *replace)
{
	mcppool_conn_t **idle = malloc(sizeof(*idle) * (size_t)p->cfg.max_size);
	int nout = 0;
	if (idle == NULL)
		return 0;
	int n = 0;
	mcppool_conn_t *h;
	while ((h = idle_take(p, ST_HELD)) != NULL)
		idle[n++] = h;
	qsort(idle, (size_t)n, sizeof(*idle), by_last_used_desc); /* most recent first */
	int keep_idle = n;
	/* From the bottom (least recently used) up. */
	for (int i = n - 1; i >= 0; i--) {
		mcppool_conn_t *s = idle[i];
		int why = 0; /* 1 shrink, 2 lifetime, 3 idle */
		if (atomic_load(&p->nlive) > atomic_load(&p->target))
			why = 1;
		else if (p->max_lifetime_ns > 0 && now - s->created_ns > p->max_lifetime_ns)
			why = 2;
		else if (p->cfg.max_idle_ms > 0 && keep_idle > p->cfg.min_idle &&
		         now - s->last_used_ns > p->cfg.max_idle_ms * 1000000LL)
			why = 3;
		if (why == 0)
			continue;
		atomic_fetch_sub(&p->nlive, 1);
		keep_idle--;
		set_state(s, MCPPOOL_CLOSING);
		if (why == 2)
			count(&p->retired_lifetime);
		if (why == 3)
			count(&p->retired_idle);
		replace[nout] = why == 2;
		out[nout++] = s;
		idle[i] = NULL;
	}
	for (int i = 0; i < n; i++)
		if (idle[i] != NULL)
			atomic_store_explicit(&idle[i]->state, MCPPOOL_IDLE, memory_order_seq_cst);
	free(idle);
	dispatch(p);
	return nout;
}

static void read_tag(mcppool_conn_t *s, char *out, uint32_t *seq)
{
	uint64_t w[TAG_WORDS];
	*seq = atomic_load_explicit(&s->tag_seq, memory_order_acquire);
	for (int i = 0; i < TAG_WORDS; i++)
		w[i] = atomic_load_explicit(&s->tag[i],
		                            memory_order_acquire); /* before seq re-read */
	memcpy(out, w, sizeof(w));
	out[sizeof(w) - 1] = '\0';
}

static void report_leaks(mcppool_t *p, int64_t now)
{
	int64_t thr = p->cfg.leak_threshold_ms * 1000000LL;
	if (thr <= 0)
		return;
	for (int i = 0; i < p->cfg.max_size; i++) {
		mcppool_conn_t *s = &p->slots[i];
		if (atomic_load(&s->state) != MCPPOOL_IN_USE ||
		    atomic_load_explicit(&s->leak_reported, memory_order_relaxed))
			continue;
		char tag[TAG_WORDS * 8];
		uint32_t seq;
		read_tag(s, tag, &seq);
		int64_t held = now - atomic_load(&s->acquired_ns);
		if ((seq & 1) != 0 || held <= thr || atomic_load(&s->state) != MCPPOOL_IN_USE ||
		    atomic_load_explicit(&s->tag_seq, memory_order_relaxed) != seq)
			continue;
		int zero = 0;
		if (!atomic_compare_exchange_strong(&s->leak_reported, &zero, 1))
			continue;
		count(&p->leaks_reported);
		char h[32], sl[16];
		snprintf(h, sizeof(h), "%lld", (long long)(held / 1000000));
		snprintf(sl, sizeof(sl), "%d", i);
		base_log(BASE_LOG_WARN, "pool_leak", "host", p->cfg.host, "tag", tag[0] ? tag : "-",
		         "held_ms", h, "slot", sl, (char *)NULL);
	}
}

static void *hk_main(void *arg)
{
	mcppool_t *p = arg;
	mcppool_conn_t **out = calloc((size_t)p->cfg.max_size, sizeof(*out));
	int *replace = calloc((size_t)p->cfg.max_size, sizeof(*replace));

	pthread_mutex_lock(&p->mu);
	while (!atomic_load(&p->closing)) {
		cond_wait_until(&p->hk_cond, &p->mu, now_ns() + p->cfg.housekeeping_ms * 1000000LL);
		if (atomic_load(&p->closing))
			break;
		int64_t now = pool_now(p);
		int n = (out != NULL && replace != NULL) ? sweep_idle(p, now, out, replace) : 0;
		/* min_idle: ask the opener for the deficit. Also lower hiwater to
		 * the slots in use after a shrink, so scans stay short: a slot
		 * leaves DISCONNECTED only under mu, with hiwater raised first. */
		int idle = 0, top = 0;
		for (int i = 0; i < p->cfg.max_size; i++) {
			int st = atomic_load_explicit(&p->slots[i].state, memory_order_relaxed);
			idle += st == MCPPOOL_IDLE;
			if (st != MCPPOOL_DISCONNECTED)
				top = i + 1;
		}
		atomic_store_explicit(&p->hiwater, top, memory_order_release);
		int deficit = p->cfg.min_idle - idle - p->connecting - p->fill_pending;
		if (deficit > 0) {
			p->fill_pending += deficit;
			pthread_cond_signal(&p->opener_cond);
		}
		pthread_mutex_unlock(&p->mu);
		for (int i = 0; i < n; i++)
			retire_finish(p, out[i], replace[i]);
		report_leaks(p, now);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	free(out);
	free(replace);
	return NULL;
}

/* ---- public API ------------------------------------------------------------------------ */

void mcppool_config_default(mcppool_config_t *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->host, sizeof(c->host), "127.0.0.1");
	c->port = 502;
	c->unit_id = 1;
	c->size = 4;
	c->min_idle = 0;
	c->max_size = 64;
	c->connect_timeout_ms = 1000;
	c->response_timeout_ms = 1000;
	c->byte_timeout_ms = 500;
	c->keepalive_ms = 30000;
	c->validate_addr = 0;
	c->max_lifetime_ms = 0;
	c->max_idle_ms = 300000;
	c->leak_threshold_ms = 10000;
	c->breaker_threshold = 5;
	c->breaker_open_ms = 5000;
	c->backoff_initial_ms = 100;
	c->backoff_max_ms = 10000;
	c->housekeeping_ms = 1000;
	c->openers = 2;
	c->coarse_clock = 0;
	c->tsc_clock = 1;
}

static int check_config(const mcppool_config_t *c, char *err, size_t errlen)
{
	const struct {
		const char *name;
		int64_t v, lo, hi;
	} rules[] = {
	        {"port", c->port, 1, 65535},
	        {"unit_id", c->unit_id, 0, 255},
	        {"max_size", c->max_size, 1, MAX_SLOTS},
	        {"size", c->size, 1, c->max_size},
	        {"min_idle", c->min_idle, 0, c->size},
	        {"connect_timeout_ms", c->connect_timeout_ms, 1, 3600000},
	        {"response_timeout_ms", c->response_timeout_ms, 1, 3600000},
	        {"byte_timeout_ms", c->byte_timeout_ms, 0, 3600000},
	        {"keepalive_ms", c->keepalive_ms, 0, INT64_MAX / 1000000},
	        {"validate_addr", c->validate_addr, -1, 65535},
	        {"max_lifetime_ms", c->max_lifetime_ms, 0, INT64_MAX / 1000000},
	        {"max_idle_ms", c->max_idle_ms, 0, INT64_MAX / 1000000},
	        {"leak_threshold_ms", c->leak_threshold_ms, 0, INT64_MAX / 1000000},
	        {"breaker_threshold", c->breaker_threshold, 1, 1000000},
	        {"breaker_open_ms", c->breaker_open_ms, 1, 86400000},
	        {"backoff_initial_ms", c->backoff_initial_ms, 1, 86400000},
	        {"backoff_max_ms", c->backoff_max_ms, c->backoff_initial_ms, 86400000},
	        {"housekeeping_ms", c->housekeeping_ms, 1, 3600000},
	        {"openers", c->openers, 1, MAX_OPENERS},
	        {"coarse_clock", c->coarse_clock, 0, 1},
	        {"tsc_clock", c->tsc_clock, 0, 1},
	};
	if (memchr(c->host, '\0', sizeof(c->host)) == NULL || c->host[0] == '\0') {
		snprintf(err, errlen, "host: must be a non-empty string");
		return MCPPOOL_EINVAL;
	}
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		if (rules[i].v < rules[i].lo || rules[i].v > rules[i].hi) {
			snprintf(err, errlen, "%s: %lld out of range %lld..%lld", rules[i].name,
			         (long long)rules[i].v, (long long)rules[i].lo,
			         (long long)rules[i].hi);
			return MCPPOOL_EINVAL;
		}
	}
	return 0;
}

void mcppool_free(mcppool_t *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->closing, 1);
	fail_waiters(p, MCPPOOL_ECLOSED);
	pthread_cond_broadcast(&p->opener_cond);
	pthread_cond_broadcast(&p->hk_cond);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nopeners; i++)
		pthread_join(p->openers[i], NULL);
	if (p->hk_started)
		pthread_join(p->hk, NULL);
	for (int i = 0; i < p->cfg.max_size; i++) {
		mcppool_conn_t *s = &p->slots[i];
		conn_close(p, s);
		if (s->reserved_fd >= 0)
			close(s->reserved_fd);
	}
	if (p->devnull_fd >= 0)
		close(p->devnull_fd);
	pthread_cond_destroy(&p->opener_cond);
	pthread_cond_destroy(&p->hk_cond);
	pthread_condattr_destroy(&p->condattr);
	pthread_mutex_destroy(&p->mu);
	free(p->slots);
	free(p->stripes);
	free(p);
}

int mcppool_new(const mcppool_config_t *c, mcppool_t **out, char *err, size_t errlen)
{
	char eb[128];
	int rc;
	mcppool_t *p = NULL;

	if (out == NULL || c == NULL) {
		snprintf(err, errlen, "config and out must not be NULL");
		return MCPPOOL_EINVAL;
	}
	*out = NULL;
	rc = check_config(c, err, errlen);
	if (rc != 0)
		return rc;

	p = aligned_alloc(CACHELINE, sizeof(*p)); /* sizeof is a multiple of the alignment */
	if (p == NULL)
		goto nomem;
	memset(p, 0, sizeof(*p));
	p->cfg = *c;
	p->id = atomic_fetch_add_explicit(&pool_ids, 1, memory_order_relaxed) + 1;
	pthread_once(&membarrier_once, membarrier_init);
	const char *mb = getenv("MCPPOOL_MEMBARRIER");
	atomic_init(&p->light_release, membarrier_ok && !(mb != NULL && strcmp(mb, "0") == 0));
	p->devnull_fd = -1;
	p->keepalive_ns = c->keepalive_ms * 1000000LL;
	p->hot_clock = c->coarse_clock ? CLOCK_MONOTONIC_COARSE : CLOCK_MONOTONIC;
	p->clk = c->coarse_clock ? CLK_COARSE : CLK_MONO;
	if (!c->coarse_clock && c->tsc_clock) {
		pthread_once(&tsc_once, tsc_calibrate);
		if (tsc_cal.ok) {
			p->clk = CLK_TSC;
			p->tsc0 = tsc_cal.tsc0;
			p->tsc_ns0 = tsc_cal.ns0;
			p->tsc_mult = tsc_cal.mult;
		}
	}
	p->max_lifetime_ns = c->max_lifetime_ms * 1000000LL;
	p->backoff_ms = c->backoff_initial_ms;
	p->rng = (uint64_t)now_ns() | 1;
	atomic_init(&p->target, c->size);
	p->fill_pending = c->size;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&p->condattr);
	pthread_condattr_setclock(&p->condattr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->opener_cond, &p->condattr);
	pthread_cond_init(&p->hk_cond, &p->condattr);

	p->slots = aligned_alloc(CACHELINE, sizeof(mcppool_conn_t) * (size_t)c->max_size);
	p->stripes = aligned_alloc(CACHELINE, sizeof(struct stripe) * NSTRIPES);
	if (p->slots == NULL || p->stripes == NULL)
		goto nomem;
	memset(p->slots, 0, sizeof(mcppool_conn_t) * (size_t)c->max_size);
	memset(p->stripes, 0, sizeof(struct stripe) * NSTRIPES);

	/* Reserve one fd below FD_SETSIZE per slot now, while low fds are free:
	 * sockets are moved onto them after connect, so however many client fds
	 * the process opens later, device sockets stay select()-safe. */
	p->devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int unreserved = 0;
	for (int i = 0; i < c->max_size; i++) {
		mcppool_conn_t *s = &p->slots[i];
		s->pool = p;
		s->idx = i;
		s->reserved_fd = -1;
		if (p->devnull_fd < 0)
			continue;
		int fd = fcntl(p->devnull_fd, F_DUPFD_CLOEXEC, 3);
		if (fd >= FD_SETSIZE) {
			close(fd);
			fd = -1;
		}
		if (fd < 0)
			unreserved++;
		s->reserved_fd = fd;
	}
	if (unreserved > 0)
		base_logf(BASE_LOG_WARN, "pool_fd_reserve",
		          "%d of %d slots have no reserved fd below %d; their sockets are "
		          "refused if they land above it",
		          unreserved, c->max_size, FD_SETSIZE);

	p->nopeners = 0;
	for (int i = 0; i < c->openers; i++) {
		rc = pthread_create(&p->openers[i], NULL, opener_main, p);
		if (rc != 0)
			goto sysfail;
		p->nopeners++;
	}
	rc = pthread_create(&p->hk, NULL, hk_main, p);
	if (rc != 0)
		goto sysfail;
	p->hk_started = 1;
	*out = p;
	return 0;

sysfail:
	snprintf(err, errlen, "pthread_create: %s", errtext(rc, eb, sizeof(eb)));
	mcppool_free(p);
	return MCPPOOL_ESYS;
nomem:
	snprintf(err, errlen, "out of memory");
	if (p != NULL) {
		free(p->slots);
		free(p->stripes);
		p->slots = NULL;
		p->stripes = NULL;
		pthread_cond_destroy(&p->opener_cond);
		pthread_cond_destroy(&p->hk_cond);
		pthread_condattr_destroy(&p->condattr);
		pthread_mutex_destroy(&p->mu);
		free(p);
	}
	return MCPPOOL_ENOMEM;
}

/* Records slot s as borrowed by the caller (leak detection, held time). */
static inline void claim(mcppool_conn_t *s, int64_t now, const char *tag)
{
	/* state is IN_USE already: set by the CAS or the handoff that gave us s. */
	atomic_store_explicit(&s->acquired_ns, now, memory_order_relaxed);
	atomic_store_explicit(&s->leak_reported, 0, memory_order_relaxed);
	uint32_t q = atomic_load_explicit(&s->tag_seq, memory_order_relaxed);
	atomic_store_explicit(&s->tag_seq, q + 1, memory_order_relaxed);
	/* Release stores keep the odd seq ahead of the words (no fences: TSan). */
	if (tag == NULL) {
		atomic_store_explicit(&s->tag[0], 0, memory_order_release);
	} else {
		uint64_t w[TAG_WORDS] = {0};
		size_t n = strnlen(tag, sizeof(w) - 1);
		memcpy(w, tag, n);
		for (int i = 0; i < TAG_WORDS; i++)
			atomic_store_explicit(&s->tag[i], w[i], memory_order_release);
	}
	atomic_store_explicit(&s->tag_seq, q + 2, memory_order_release);
}

/* Slow path: queue behind earlier waiters until `deadline` (CLOCK_MONOTONIC
 * ns). Returns 0 with *out, or an error. */
static int acquire_slow(mcppool_t *p, int64_t deadline, int wait, mcppool_conn_t **out)
{
	struct waiter w;
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	if (atomic_load(&p->closing)) {
		rc = MCPPOOL_ECLOSED;
		goto done;
	}
	if (atomic_load(&p->breaker) != MCPPOOL_BREAKER_CLOSED) {
		count(&p->acquire_rejected);
		rc = MCPPOOL_EBREAKER;
		goto done;
	}
	if (p->wq_head == NULL) {
		*out = idle_take(p, MCPPOOL_IN_USE);
		if (*out != NULL)
			goto done;
	}
	if (!wait) {
		count(&p->acquire_timeouts);
		rc = MCPPOOL_ETIMEDOUT;
		goto done;
	}
	memset(&w, 0, sizeof(w));
	pthread_cond_init(&w.cond, &p->condattr);
	wq_append(p, &w);
	heavy_fence(p);
	dispatch(p); /* a release may have made its slot idle before it could see us */
	if (w.conn == NULL && w.result == 0 && atomic_load(&p->nlive) < atomic_load(&p->target))
		pthread_cond_signal(&p->opener_cond); /* demand: open more */
	while (w.conn == NULL && w.result == 0) {
		struct timespec ts;
		abs_deadline(&ts, deadline);
		if (pthread_cond_timedwait(&w.cond, &p->mu, &ts) == ETIMEDOUT)
			break;
	}
	if (w.conn != NULL) {
		*out = w.conn;
	} else if (w.result != 0) {
		rc = w.result;
		if (rc == MCPPOOL_EBREAKER)
			count(&p->acquire_rejected);
	} else {
		wq_remove(p, &w); /* timed out: leave no trace */
		count(&p->acquire_timeouts);
		rc = MCPPOOL_ETIMEDOUT;
	}
	pthread_cond_destroy(&w.cond);
done:
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int mcppool_acquire(mcppool_t *p, int64_t timeout_ms, const char *tag, mcppool_conn_t **out)
{
	if (p == NULL || out == NULL || timeout_ms < 0)
		return MCPPOOL_EINVAL;
	*out = NULL;
	if (atomic_load_explicit(&p->breaker, memory_order_relaxed) != MCPPOOL_BREAKER_CLOSED &&
	    !atomic_load_explicit(&p->closing, memory_order_relaxed)) {
		count(&p->acquire_rejected); /* fail fast, no lock */
		return MCPPOOL_EBREAKER;
	}
	int64_t start = 0;    /* pool time the wait began (wait histogram) */
	int64_t deadline = 0; /* CLOCK_MONOTONIC, for the waits */
	int waited = 0;

	for (;;) {
		mcppool_conn_t *s = NULL;
		int slow = 0;
		if (atomic_load_explicit(&p->nwaiters, memory_order_seq_cst) == 0 &&
		    atomic_load_explicit(&p->breaker, memory_order_relaxed) ==
		            MCPPOOL_BREAKER_CLOSED &&
		    !atomic_load_explicit(&p->closing, memory_order_relaxed)) {
			/* The slot this thread released last, then any idle one. */
			const struct hint *h = hint_of(p);
			if (h->slot >= 0 && slot_take(&p->slots[h->slot], MCPPOOL_IN_USE))
				s = &p->slots[h->slot];
			else
				s = idle_take(p, MCPPOOL_IN_USE);
		}
		if (s == NULL) {
			if (!waited) {
				waited = 1;
				start = pool_now(p);
				deadline = now_ns() + timeout_ms * 1000000LL;
			}
			int rc = acquire_slow(p, deadline, timeout_ms > 0, &s);
			if (rc != 0)
				return rc;
			slow = 1;
		}
		int64_t now = pool_now(p);
		if (p->keepalive_ns > 0 && now - s->last_used_ns > p->keepalive_ns) {
			set_state(s, MCPPOOL_IN_USE);
			if (conn_validate(p, s) != 0) {
				count(&p->validations_failed);
				atomic_fetch_sub(&p->nlive, 1);
				set_state(s, MCPPOOL_CLOSING);
				conn_close(p, s);
				pthread_mutex_lock(&p->mu);
				set_state(s, MCPPOOL_DISCONNECTED);
				p->fill_pending++;
				note_failure(p, "validation read failed");
				pthread_cond_signal(&p->opener_cond);
				pthread_mutex_unlock(&p->mu);
				if (!waited) {
					waited = 1;
					start = now;
					deadline = now_ns() + timeout_ms * 1000000LL;
				}
				if (timeout_ms > 0 && now_ns() >= deadline) {
					count(&p->acquire_timeouts);
					return MCPPOOL_ETIMEDOUT;
				}
				continue;
			}
			now = pool_now(p);
		}
		claim(s, now, tag);
		int tid = stats_slot();
		struct stripe *st = &p->stripes[tid];
		if (slow || waited) {
			int64_t w = now > start ? now - start : 0;
			stat_add(&st->wait[hist_index(w)], 1, tid);
			stat_add(&st->wait_sum_ns, (uint64_t)w, tid);
		} else {
			stat_add(&st->wait[0], 1, tid);
		}
		*out = s;
		return 0;
	}
}

void mcppool_release(mcppool_t *p, mcppool_conn_t *s, mcppool_outcome_t outcome)
{
	mcppool_release_timed(p, s, outcome, -1);
}

void mcppool_release_timed(mcppool_t *p, mcppool_conn_t *s, mcppool_outcome_t outcome,
                           int64_t latency_ns)
{
	if (p == NULL || s == NULL)
		return;
	int64_t now = pool_now(p);
	int64_t held = latency_ns >= 0
	                       ? latency_ns
	                       : now - atomic_load_explicit(&s->acquired_ns, memory_order_relaxed);
	int tid = stats_slot();
	struct stripe *st = &p->stripes[tid];
	stat_add(&st->req[hist_index(held)], 1, tid);
	stat_add(&st->req_sum_ns, (uint64_t)(held > 0 ? held : 0), tid);

	if (outcome == MCPPOOL_OK) {
		if (atomic_load_explicit(&p->consec_failures, memory_order_relaxed) != 0) {
			pthread_mutex_lock(&p->mu);
			note_success(p);
			pthread_mutex_unlock(&p->mu);
		}
		int old = p->max_lifetime_ns > 0 && now - s->created_ns > p->max_lifetime_ns;
		int over = atomic_load_explicit(&p->nlive, memory_order_relaxed) >
		           atomic_load_explicit(&p->target, memory_order_relaxed);
		if (!old && !over && !atomic_load_explicit(&p->closing, memory_order_relaxed)) {
			s->last_used_ns = now;
			hint_of(p)->slot = s->idx;
			if (atomic_load_explicit(&p->nwaiters, memory_order_seq_cst) == 0) {
				/* Back into its own slot: no shared line written. The
				 * store must come before the load of nwaiters (Dekker
				 * with the waiter, see heavy_fence()). */
				if (atomic_load_explicit(&p->light_release, memory_order_relaxed)) {
					atomic_store_explicit(&s->state, MCPPOOL_IDLE,
					                      memory_order_release);
					atomic_signal_fence(memory_order_seq_cst);
				} else {
					atomic_store_explicit(&s->state, MCPPOOL_IDLE,
					                      memory_order_seq_cst);
				}
				if (atomic_load_explicit(&p->nwaiters, memory_order_seq_cst) == 0)
					return;
				pthread_mutex_lock(&p->mu); /* a waiter came: see the Dekker note */
				dispatch(p);
				pthread_mutex_unlock(&p->mu);
				return;
			}
			/* Waiters: straight to the oldest one (FIFO, no barging). */
			pthread_mutex_lock(&p->mu);
			put_back_locked(p, s);
			pthread_mutex_unlock(&p->mu);
			return;
		}
		/* Retire: re-check the shrink under the lock so only the excess goes. */
		pthread_mutex_lock(&p->mu);
		over = atomic_load(&p->nlive) > atomic_load(&p->target);
		if (!old && !over && !atomic_load(&p->closing)) {
			s->last_used_ns = now;
			put_back_locked(p, s);
			pthread_mutex_unlock(&p->mu);
			return;
		}
		atomic_fetch_sub(&p->nlive, 1);
		set_state(s, MCPPOOL_CLOSING);
		if (old && !over)
			count(&p->retired_lifetime);
		pthread_mutex_unlock(&p->mu);
		retire_finish(p, s, old && !over);
		return;
	}

	/* Broken or timed out: the stream may be out of step; close and replace. */
	count(&p->broken);
	set_state(s, MCPPOOL_BROKEN);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_sub(&p->nlive, 1);
	note_failure(p, outcome == MCPPOOL_TIMEOUT ? "request timed out" : "request I/O failed");
	pthread_mutex_unlock(&p->mu);
	set_state(s, MCPPOOL_CLOSING);
	retire_finish(p, s, 1);
}

modbus_t *mcppool_conn_modbus(mcppool_conn_t *c)
{
	return c ? c->ctx : NULL;
}

int mcppool_conn_fd(mcppool_conn_t *c)
{
	return (c && c->ctx) ? modbus_get_socket(c->ctx) : -1;
}

int64_t mcppool_conn_idle_ns(const mcppool_conn_t *c)
{
	/* last_used_ns was written before the release's state store, which
	 * this borrower's acquire CAS read. */
	int64_t idle;
	if (c == NULL)
		return 0;
	idle = pool_now(c->pool) - c->last_used_ns;
	return idle > 0 ? idle : 0;
}

int mcppool_set_size(mcppool_t *p, int n)
{
	if (p == NULL)
		return MCPPOOL_EINVAL;
	if (n < 1)
		n = 1;
	if (n > p->cfg.max_size)
		n = p->cfg.max_size;
	mcppool_conn_t **out = calloc((size_t)p->cfg.max_size, sizeof(*out));
	int *replace = calloc((size_t)p->cfg.max_size, sizeof(*replace));
	int nout = 0;

	pthread_mutex_lock(&p->mu);
	int old = atomic_exchange(&p->target, n);
	int nlive = atomic_load(&p->nlive);
	if (n > nlive) {
		int want = n - nlive; /* nlive counts connects in flight */
		p->fill_pending = want > 0 ? want : 0;
		pthread_cond_broadcast(&p->opener_cond);
	} else {
		p->fill_pending = 0;
		if (out != NULL && replace != NULL)
			nout = sweep_idle(p, pool_now(p), out, replace);
	}
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < nout; i++)
		retire_finish(p, out[i], replace[i]);
	free(out);
	free(replace);
	if (old != n) {
		char a[16], b[16];
		snprintf(a, sizeof(a), "%d", old);
		snprintf(b, sizeof(b), "%d", n);
		base_log(BASE_LOG_INFO, "pool_resize", "host", p->cfg.host, "from", a, "to", b,
		         (char *)NULL);
	}
	return n;
}

static void hist_fold(mcppool_hist_t *h, _Atomic uint64_t *b, _Atomic uint64_t *sum_ns)
{
	for (int i = 0; i <= MCPPOOL_HIST_BUCKETS; i++) {
		uint64_t v = atomic_load_explicit(&b[i], memory_order_relaxed);
		if (i < MCPPOOL_HIST_BUCKETS)
			h->buckets[i] += v;
		else
			h->overflow += v;
		h->count += v;
	}
	h->sum += (double)atomic_load_explicit(sum_ns, memory_order_relaxed) / 1e9;
}

void mcppool_stats(mcppool_t *p, mcppool_stats_t *s)
{
	memset(s, 0, sizeof(*s));
	if (p == NULL)
		return;
	for (int i = 0; i < p->cfg.max_size; i++) {
		int st = atomic_load_explicit(&p->slots[i].state, memory_order_relaxed);
		if (st == ST_HELD)
			st = MCPPOOL_IDLE;
		if (st >= 0 && st < MCPPOOL_STATE_COUNT)
			s->states[st]++;
		if (st != MCPPOOL_DISCONNECTED)
			s->size++;
	}
	s->target_size = atomic_load(&p->target);
	s->max_size = p->cfg.max_size;
	s->waiters = atomic_load(&p->nwaiters);
	s->acquire_timeouts = atomic_load(&p->acquire_timeouts);
	s->acquire_rejected = atomic_load(&p->acquire_rejected);
	s->connects = atomic_load(&p->connects);
	s->connect_failures = atomic_load(&p->connect_failures);
	s->validations_failed = atomic_load(&p->validations_failed);
	s->retired_lifetime = atomic_load(&p->retired_lifetime);
	s->retired_idle = atomic_load(&p->retired_idle);
	s->broken = atomic_load(&p->broken);
	s->leaks_reported = atomic_load(&p->leaks_reported);
	s->breaker = (mcppool_breaker_t)atomic_load(&p->breaker);
	for (int i = 0; i < NSTRIPES; i++) {
		hist_fold(&s->wait, p->stripes[i].wait, &p->stripes[i].wait_sum_ns);
		hist_fold(&s->request, p->stripes[i].req, &p->stripes[i].req_sum_ns);
	}
	s->acquires = s->wait.count;
}

const char *mcppool_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case MCPPOOL_EINVAL:
		return "invalid argument";
	case MCPPOOL_ENOMEM:
		return "out of memory";
	case MCPPOOL_ETIMEDOUT:
		return "no connection free before the deadline";
	case MCPPOOL_EBREAKER:
		return "circuit breaker open: device considered down";
	case MCPPOOL_ECLOSED:
		return "pool is shutting down";
	case MCPPOOL_ESYS:
		return "system call failed";
	}
	return "unknown mcppool error";
}

const char *mcppool_state_name(mcppool_state_t s)
{
	static const char *const names[MCPPOOL_STATE_COUNT] = {
	        "disconnected", "connecting", "idle", "in_use", "broken", "closing",
	};
	if ((int)s < 0 || s >= MCPPOOL_STATE_COUNT)
		return "unknown";
	return names[s];
}

const char *mcppool_breaker_name(mcppool_breaker_t b)
{
	return breaker_name((int)b);
}

const char *mcppool_clock_source(const mcppool_t *p)
{
	if (p == NULL)
		return "unknown";
	switch (p->clk) {
	case CLK_TSC:
		return "tsc";
	case CLK_COARSE:
		return "monotonic_coarse";
	}
	return "monotonic";
}
