/* mcp-devsim: a Modbus TCP device simulator (a PLC stand-in), built on the
 * libmodbus server side.
 *
 * - A register map (coils, discrete inputs, holding and input registers);
 *   input register i reads as i, discrete input i as i & 1, so reads can be
 *   checked without writing first.
 * - A service time per request (fixed, uniform or exponential around a mean).
 * - Requests on one connection are served one at a time, in order (a thread
 *   per connection), as a PLC does; at most --max-connections at once, more
 *   are accepted and closed at once (as real PLCs refuse).
 * - Faults switchable at run time, through the loopback control port
 *   (--control ADDR:PORT, one command per line) or signals:
 *     fault none            serve normally (SIGUSR2)
 *     fault stop            read requests but never answer (SIGUSR1)
 *     fault close           close every connection, and each new one on its first request
 *     fault refuse          accept and close new connections at once
 *     fault exception N     answer every request with exception code N
 *     service-time DUR      change the mean service time
 *     status                print counters
 *   Every command is answered with one line: "ok ..." or "error ...".
 *   `mcp-devsim ctl ADDR:PORT COMMAND...` sends one command and prints the
 *   answer (exit 0 on "ok"), for scripts on machines without netcat.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <modbus.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/opt.h"

enum { FAULT_NONE, FAULT_STOP, FAULT_CLOSE, FAULT_REFUSE, FAULT_EXCEPTION };

typedef struct {
	char listen[300];
	char control[300];
	char service_time[32];
	char dist[16];
	long long max_connections;
	long long registers;
	long long unit_id;
	char fault[32];
	char log_level[8];
	char log_format[8];
} devsim_opts_t;

static const base_opt_t opts[] = {
        {"listen", BASE_OPT_STRING, offsetof(devsim_opts_t, listen), 300, 0, 0, "127.0.0.1:5020",
         "MCP_DEVSIM_LISTEN", NULL, "Modbus TCP address ADDR:PORT (port 0: any free port, logged)"},
        {"service-time", BASE_OPT_STRING, offsetof(devsim_opts_t, service_time), 32, 0, 0, "0",
         "MCP_DEVSIM_SERVICE_TIME", NULL, "mean time to serve one request (e.g. 5ms, 250us)"},
        {"service-dist", BASE_OPT_ENUM, offsetof(devsim_opts_t, dist), 16, 0, 0, "fixed", NULL,
         "fixed|uniform|exponential", "service time distribution (uniform: 0..2x mean)"},
        {"max-connections", BASE_OPT_INT, offsetof(devsim_opts_t, max_connections),
         sizeof(long long), 1, 1000, "16", "MCP_DEVSIM_MAX_CONNECTIONS", NULL,
         "concurrent connections served; more are refused"},
        {"registers", BASE_OPT_INT, offsetof(devsim_opts_t, registers), sizeof(long long), 1, 65536,
         "10000", NULL, NULL, "size of each register/coil table"},
        {"unit-id", BASE_OPT_INT, offsetof(devsim_opts_t, unit_id), sizeof(long long), -1, 255,
         "-1", NULL, NULL, "answer only this unit id (-1: any; others get no answer, as on a bus)"},
        {"control", BASE_OPT_STRING, offsetof(devsim_opts_t, control), 300, 0, 0, "", NULL, NULL,
         "loopback control port ADDR:PORT for fault injection (empty: none)"},
        {"fault", BASE_OPT_STRING, offsetof(devsim_opts_t, fault), 32, 0, 0, "none", NULL, NULL,
         "initial fault: none|stop|close|refuse|exception:N"},
        {"log-level", BASE_OPT_ENUM, offsetof(devsim_opts_t, log_level), 8, 0, 0, "info", NULL,
         "debug|info|warn|error", "log level"},
        {"log-format", BASE_OPT_ENUM, offsetof(devsim_opts_t, log_format), 8, 0, 0, "logfmt", NULL,
         "logfmt|json", "log format"},
        BASE_OPT_END,
};

#define MAX_CONNS 1000

static struct {
	modbus_mapping_t *map;
	pthread_mutex_t map_lock;
	atomic_int fault;
	atomic_int fault_code;
	atomic_llong service_ns;
	int dist; /* 0 fixed, 1 uniform, 2 exponential */
	int unit_id;
	int max_conns;
	pthread_mutex_t conn_lock;
	int conn_fds[MAX_CONNS];
	int nconns;
	atomic_ullong served, exceptions, dropped, accepted, refused;
	volatile sig_atomic_t stop;
	volatile sig_atomic_t sig_fault; /* -1 none pending */
} g;

static const char *fault_name(int f)
{
	static const char *names[] = {"none", "stop", "close", "refuse", "exception"};
	return f >= 0 && f <= FAULT_EXCEPTION ? names[f] : "?";
}

/* Parses "none|stop|close|refuse|exception N|exception:N". 0 or -1. */
static int parse_fault(const char *s, int *fault, int *code)
{
	char *end;
	long c;
	if (strcmp(s, "none") == 0)
		*fault = FAULT_NONE;
	else if (strcmp(s, "stop") == 0)
		*fault = FAULT_STOP;
	else if (strcmp(s, "close") == 0)
		*fault = FAULT_CLOSE;
	else if (strcmp(s, "refuse") == 0)
		*fault = FAULT_REFUSE;
	else if (strncmp(s, "exception", 9) == 0 && (s[9] == ' ' || s[9] == ':')) {
		errno = 0;
		c = strtol(s + 10, &end, 0);
		if (s[10] == '\0' || *end != '\0' || errno != 0 || c < 1 || c > 255)
			return -1;
		*fault = FAULT_EXCEPTION;
		*code = (int)c;
	} else {
		return -1;
	}
	return 0;
}

static void set_fault(int f, int code)
{
	atomic_store(&g.fault_code, code);
	atomic_store(&g.fault, f);
	if (f == FAULT_CLOSE) {
		/* Wake every connection thread: they see the fault and close. */
		pthread_mutex_lock(&g.conn_lock);
		for (int i = 0; i < g.nconns; i++)
			shutdown(g.conn_fds[i], SHUT_RDWR);
		pthread_mutex_unlock(&g.conn_lock);
	}
	char c[8];
	snprintf(c, sizeof(c), "%d", code);
	base_log(BASE_LOG_INFO, "fault", "fault", fault_name(f), "code",
	         f == FAULT_EXCEPTION ? c : "", NULL);
}

static void service_sleep(void)
{
	int64_t mean = atomic_load(&g.service_ns);
	double ns = (double)mean;
	struct timespec ts;
	if (mean <= 0)
		return;
	if (g.dist == 1) {
		ns = 2.0 * (double)mean * drand48();
	} else if (g.dist == 2) {
		double u = drand48();
		ns = -log(1.0 - u) * (double)mean;
		if (ns > 50.0 * (double)mean)
			ns = 50.0 * (double)mean;
	}
	ts.tv_sec = (time_t)(ns / 1e9);
	ts.tv_nsec = (long)(ns - (double)ts.tv_sec * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void conn_untrack(int fd)
{
	pthread_mutex_lock(&g.conn_lock);
	for (int i = 0; i < g.nconns; i++) {
		if (g.conn_fds[i] == fd) {
			g.conn_fds[i] = g.conn_fds[--g.nconns];
			break;
		}
	}
	pthread_mutex_unlock(&g.conn_lock);
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", 502);
	if (ctx == NULL)
		goto out;
	modbus_set_socket(ctx, fd);
	for (;;) {
		int n = modbus_receive(ctx, q);
		int f;
		if (n < 0)
			break;
		if (n == 0)
			continue; /* not for us (libmodbus filtered it) */
		f = atomic_load(&g.fault);
		if (f == FAULT_CLOSE)
			break;
		if (f == FAULT_STOP) {
			atomic_fetch_add(&g.dropped, 1);
			continue;
		}
		if (g.unit_id >= 0 && q[6] != g.unit_id && q[6] != 0) {
			atomic_fetch_add(&g.dropped, 1);
			continue;
		}
		service_sleep();
		f = atomic_load(&g.fault);
		if (f == FAULT_STOP) {
			atomic_fetch_add(&g.dropped, 1);
			continue;
		}
		if (f == FAULT_CLOSE)
			break;
		if (f == FAULT_EXCEPTION) {
			if (modbus_reply_exception(ctx, q, (unsigned)atomic_load(&g.fault_code)) <
			    0)
				break;
			atomic_fetch_add(&g.exceptions, 1);
			continue;
		}
		pthread_mutex_lock(&g.map_lock);
		n = modbus_reply(ctx, q, n, g.map);
		pthread_mutex_unlock(&g.map_lock);
		if (n < 0)
			break;
		atomic_fetch_add(&g.served, 1);
	}
out:
	conn_untrack(fd);
	close(fd);
	if (ctx)
		modbus_free(ctx); /* the socket is already closed: modbus_free does not close it */
	return NULL;
}

/* Creates a listening socket on "ADDR:PORT"; fills bound with "ADDR:PORT". */
static int listen_on(const char *hp, char *bound, size_t bcap)
{
	char host[256];
	const char *colon = strrchr(hp, ':');
	struct addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char hbuf[64], pbuf[8];
	int one = 1;
	int fd;
	size_t hl;
	if (colon == NULL || colon == hp || (hl = (size_t)(colon - hp)) >= sizeof(host))
		return -1;
	memcpy(host, hp, hl);
	host[hl] = '\0';
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 256) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		errno = e;
		return -1;
	}
	freeaddrinfo(ai);
	getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
	            NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(bound, bcap, "%s:%s", hbuf, pbuf);
	return fd;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		g.sig_fault = FAULT_STOP;
	else if (sig == SIGUSR2)
		g.sig_fault = FAULT_NONE;
	else
		g.stop = 1;
}

static void accept_device(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	int one = 1;
	pthread_t th;
	pthread_attr_t at;
	if (fd < 0)
		return;
	pthread_mutex_lock(&g.conn_lock);
	if (atomic_load(&g.fault) == FAULT_REFUSE || g.nconns >= g.max_conns || fd >= 1024) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		pthread_mutex_unlock(&g.conn_lock);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		atomic_fetch_add(&g.refused, 1);
		return;
	}
	g.conn_fds[g.nconns++] = fd;
	pthread_mutex_unlock(&g.conn_lock);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	if (pthread_create(&th, &at, conn_main, (void *)(intptr_t)fd) != 0) {
		conn_untrack(fd);
		close(fd);
	}
	pthread_attr_destroy(&at);
	atomic_fetch_add(&g.accepted, 1);
}

/* Runs one control command line; writes the answer into out. */
static void control_command(char *line, char *out, size_t cap)
{
	int f, code = 0;
	size_t n = strlen(line);
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (strncmp(line, "fault ", 6) == 0) {
		if (parse_fault(line + 6, &f, &code) != 0) {
			snprintf(out, cap, "error bad fault \"%s\"\n", line + 6);
			return;
		}
		set_fault(f, code);
		snprintf(out, cap, "ok fault=%s\n", fault_name(f));
	} else if (strncmp(line, "service-time ", 13) == 0) {
		int64_t ns;
		char why[128];
		if (base_parse_duration_ns(line + 13, &ns, why, sizeof(why)) != 0) {
			snprintf(out, cap, "error %s\n", why);
			return;
		}
		atomic_store(&g.service_ns, ns);
		snprintf(out, cap, "ok service_ns=%lld\n", (long long)ns);
	} else if (strcmp(line, "status") == 0) {
		pthread_mutex_lock(&g.conn_lock);
		int nc = g.nconns;
		pthread_mutex_unlock(&g.conn_lock);
		snprintf(out, cap,
		         "ok fault=%s connections=%d accepted=%llu refused=%llu served=%llu "
		         "exceptions=%llu dropped=%llu\n",
		         fault_name(atomic_load(&g.fault)), nc, atomic_load(&g.accepted),
		         atomic_load(&g.refused), atomic_load(&g.served),
		         atomic_load(&g.exceptions), atomic_load(&g.dropped));
	} else {
		snprintf(out, cap, "error unknown command \"%.64s\"\n", line);
	}
}

#define MAX_CTL 4
typedef struct {
	int fd;
	char buf[256];
	size_t n;
} ctl_t;

static void control_read(ctl_t *c)
{
	ssize_t r = read(c->fd, c->buf + c->n, sizeof(c->buf) - 1 - c->n);
	char *nl;
	if (r <= 0) {
		close(c->fd);
		c->fd = -1;
		return;
	}
	c->n += (size_t)r;
	c->buf[c->n] = '\0';
	while ((nl = memchr(c->buf, '\n', c->n)) != NULL) {
		char out[512];
		size_t used = (size_t)(nl - c->buf) + 1;
		*nl = '\0';
		control_command(c->buf, out, sizeof(out));
		if (write(c->fd, out, strlen(out)) < 0) {
			close(c->fd);
			c->fd = -1;
			return;
		}
		memmove(c->buf, c->buf + used, c->n - used);
		c->n -= used;
	}
	if (c->n >= sizeof(c->buf) - 1) {
		close(c->fd); /* a line this long is not a command */
		c->fd = -1;
	}
}

/* mcp-devsim ctl ADDR:PORT WORDS...: one control command, answer on stdout. */
static int ctl_main(int argc, char **argv)
{
	char host[256], line[512], ans[512];
	const char *colon;
	struct addrinfo hints = {0}, *ai = NULL;
	size_t off = 0, n = 0;
	int fd;
	if (argc < 4) {
		fprintf(stderr, "usage: mcp-devsim ctl ADDR:PORT COMMAND...\n");
		return 2;
	}
	colon = strrchr(argv[2], ':');
	if (colon == NULL || (size_t)(colon - argv[2]) >= sizeof(host)) {
		fprintf(stderr, "mcp-devsim ctl: \"%s\" is not ADDR:PORT\n", argv[2]);
		return 2;
	}
	memcpy(host, argv[2], (size_t)(colon - argv[2]));
	host[colon - argv[2]] = '\0';
	for (int i = 3; i < argc; i++) {
		int w = snprintf(line + off, sizeof(line) - off, "%s%s", argv[i],
		                 i + 1 < argc ? " " : "\n");
		if (w < 0 || (size_t)w >= sizeof(line) - off) {
			fprintf(stderr, "mcp-devsim ctl: command too long\n");
			return 2;
		}
		off += (size_t)w;
	}
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		fprintf(stderr, "mcp-devsim ctl: cannot resolve %s\n", argv[2]);
		return 1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    write(fd, line, off) != (ssize_t)off) {
		fprintf(stderr, "mcp-devsim ctl: %s: %s\n", argv[2], strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	freeaddrinfo(ai);
	while (n + 1 < sizeof(ans)) {
		ssize_t r = read(fd, ans + n, sizeof(ans) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(ans, '\n', n))
			break;
	}
	close(fd);
	ans[n] = '\0';
	fputs(ans, stdout);
	return strncmp(ans, "ok", 2) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	devsim_opts_t o;
	bool seen[16];
	char bound[80], cbound[80] = "";
	char why[160];
	int64_t ns;
	int lfd, cfd = -1;
	int f, code = 0;
	ctl_t ctl[MAX_CTL];
	struct sigaction sa = {0};
	int rc;
	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return ctl_main(argc, argv);
	rc = base_opt_main(
	        opts, &o, seen, argc, argv, NULL, "mcp-devsim",
	        "Usage: mcp-devsim --listen ADDR:PORT [--service-time DUR] [--max-connections N] "
	        "[--control ADDR:PORT]\n"
	        "A Modbus TCP device simulator with run-time fault injection.\n"
	        "Control commands (one per line on --control): fault none|stop|close|refuse|"
	        "exception N, service-time DUR, status.\n"
	        "Signals: SIGUSR1 = fault stop, SIGUSR2 = fault none, SIGTERM/SIGINT = exit.",
	        MCP_VERSION);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (base_parse_duration_ns(o.service_time, &ns, why, sizeof(why)) != 0) {
		fprintf(stderr, "mcp-devsim: --service-time: %s\n", why);
		return 2;
	}
	if (parse_fault(o.fault, &f, &code) != 0) {
		fprintf(stderr, "mcp-devsim: --fault: \"%s\" is not a fault\n", o.fault);
		return 2;
	}
	(void)base_log_setup(o.log_level, o.log_format, "devsim"); /* both checked by the table */

	g.dist = strcmp(o.dist, "uniform") == 0 ? 1 : strcmp(o.dist, "exponential") == 0 ? 2 : 0;
	atomic_store(&g.service_ns, ns);
	atomic_store(&g.fault, f);
	atomic_store(&g.fault_code, code);
	g.unit_id = (int)o.unit_id;
	g.max_conns = (int)o.max_connections;
	g.sig_fault = -1;
	pthread_mutex_init(&g.map_lock, NULL);
	pthread_mutex_init(&g.conn_lock, NULL);
	srand48((long)base_now_ns());
	g.map = modbus_mapping_new((int)o.registers, (int)o.registers, (int)o.registers,
	                           (int)o.registers);
	if (g.map == NULL) {
		fprintf(stderr, "mcp-devsim: cannot allocate the register map\n");
		return 1;
	}
	for (int i = 0; i < (int)o.registers; i++) {
		g.map->tab_input_registers[i] = (uint16_t)i;
		g.map->tab_input_bits[i] = (uint8_t)(i & 1);
	}
	lfd = listen_on(o.listen, bound, sizeof(bound));
	if (lfd < 0) {
		fprintf(stderr, "mcp-devsim: --listen %s: %s\n", o.listen, strerror(errno));
		return 2;
	}
	if (o.control[0]) {
		cfd = listen_on(o.control, cbound, sizeof(cbound));
		if (cfd < 0) {
			fprintf(stderr, "mcp-devsim: --control %s: %s\n", o.control,
			        strerror(errno));
			return 2;
		}
	}
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < MAX_CTL; i++)
		ctl[i].fd = -1;
	{
		char mc[16], st[32];
		snprintf(mc, sizeof(mc), "%d", g.max_conns);
		snprintf(st, sizeof(st), "%lldns", (long long)ns);
		base_log(BASE_LOG_INFO, "listening", "addr", bound, "control", cbound,
		         "max_connections", mc, "service_time", st, "dist", o.dist, "fault",
		         fault_name(f), NULL);
	}

	while (!g.stop) {
		struct pollfd p[2 + MAX_CTL];
		int np = 0;
		if (g.sig_fault >= 0) {
			set_fault((int)g.sig_fault, 0);
			g.sig_fault = -1;
		}
		p[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
		p[np++] = (struct pollfd){.fd = cfd, .events = POLLIN};
		for (int i = 0; i < MAX_CTL; i++)
			p[np++] = (struct pollfd){.fd = ctl[i].fd, .events = POLLIN};
		if (poll(p, (nfds_t)np, 500) <= 0)
			continue;
		if (p[0].revents & POLLIN)
			accept_device(lfd);
		if (cfd >= 0 && (p[1].revents & POLLIN)) {
			int fd = accept4(cfd, NULL, NULL, SOCK_CLOEXEC);
			int slot = -1;
			for (int i = 0; i < MAX_CTL && fd >= 0; i++) {
				if (ctl[i].fd < 0) {
					slot = i;
					break;
				}
			}
			if (slot < 0 && fd >= 0) {
				close(fd);
			} else if (fd >= 0) {
				ctl[slot].fd = fd;
				ctl[slot].n = 0;
			}
		}
		for (int i = 0; i < MAX_CTL; i++) {
			if (ctl[i].fd >= 0 && (p[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				control_read(&ctl[i]);
		}
	}
	{
		char s[32], a[32], r[32];
		snprintf(s, sizeof(s), "%llu", atomic_load(&g.served));
		snprintf(a, sizeof(a), "%llu", atomic_load(&g.accepted));
		snprintf(r, sizeof(r), "%llu", atomic_load(&g.refused));
		base_log(BASE_LOG_INFO, "exit", "served", s, "accepted", a, "refused", r, NULL);
	}
	/* Connection threads are detached and blocked in reads; exiting the
	 * process ends them. */
	close(lfd);
	if (cfd >= 0)
		close(cfd);
	return 0;
}
