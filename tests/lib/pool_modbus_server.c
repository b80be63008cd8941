#include "pool_modbus_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 256

struct client {
	pool_mbsrv_t *srv;
	pthread_t th;
	int fd;
	int used; /* thread started, not yet joined */
	_Atomic int done;
};

struct pool_mbsrv {
	char host[32];
	int port;
	struct sockaddr_in addr;
	int lfd; /* owned by the accept thread */
	pthread_t th;
	pthread_mutex_t mu; /* clients[], mapping */
	modbus_mapping_t *map;
	struct client clients[MAX_CLIENTS];
	_Atomic int stop, stall, exception, delay_ms, want_refuse, refusing, listen_error;
	_Atomic uint64_t requests, accepts;
	_Atomic int nclients;
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static int open_listener(pool_mbsrv_t *s)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) != 0 || listen(fd, 128) != 0) {
		close(fd);
		return -1;
	}
	if (s->port == 0) {
		socklen_t len = sizeof(s->addr);
		getsockname(fd, (struct sockaddr *)&s->addr, &len);
		s->port = ntohs(s->addr.sin_port);
	}
	return fd;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	pool_mbsrv_t *s = c->srv;
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", s->port);

	if (ctx != NULL) {
		modbus_set_slave(ctx, 1);
		modbus_set_socket(ctx, c->fd);
		for (;;) {
			int rc = modbus_receive(ctx, q);
			if (rc < 0)
				break;
			if (rc == 0)
				continue;
			atomic_fetch_add(&s->requests, 1);
			if (atomic_load(&s->stall))
				continue;
			int d = atomic_load(&s->delay_ms);
			if (d > 0)
				sleep_ms(d);
			int ex = atomic_load(&s->exception);
			if (ex > 0) {
				rc = modbus_reply_exception(ctx, q, (unsigned)ex);
			} else {
				pthread_mutex_lock(&s->mu);
				rc = modbus_reply(ctx, q, rc, s->map);
				pthread_mutex_unlock(&s->mu);
			}
			if (rc < 0)
				break;
		}
		modbus_set_socket(ctx, -1);
		modbus_free(ctx);
	}
	pthread_mutex_lock(&s->mu);
	close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&s->mu);
	atomic_fetch_sub(&s->nclients, 1);
	atomic_store(&c->done, 1);
	return NULL;
}

/* Joins finished client threads (all of them when `all`, after they were
 * shut down). A client marks itself done after its last use of mu. */
static void reap(pool_mbsrv_t *s, int all)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &s->clients[i];
		pthread_mutex_lock(&s->mu);
		int used = c->used;
		pthread_mutex_unlock(&s->mu);
		if (!used)
			continue;
		while (all && !atomic_load(&c->done))
			sleep_ms(1);
		if (!atomic_load(&c->done))
			continue;
		pthread_join(c->th, NULL);
		pthread_mutex_lock(&s->mu);
		c->used = 0;
		pthread_mutex_unlock(&s->mu);
	}
}

static void accept_one(pool_mbsrv_t *s)
{
	int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	reap(s, 0);
	pthread_mutex_lock(&s->mu);
	struct client *c = NULL;
	for (int i = 0; i < MAX_CLIENTS && c == NULL; i++)
		if (!s->clients[i].used)
			c = &s->clients[i];
	if (c == NULL) {
		pthread_mutex_unlock(&s->mu);
		close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	c->used = 1;
	atomic_store(&c->done, 0);
	atomic_fetch_add(&s->nclients, 1);
	atomic_fetch_add(&s->accepts, 1);
	if (pthread_create(&c->th, NULL, client_main, c) != 0) {
		c->used = 0;
		c->fd = -1;
		atomic_fetch_sub(&s->nclients, 1);
		close(fd);
	}
	pthread_mutex_unlock(&s->mu);
}

static void *accept_main(void *arg)
{
	pool_mbsrv_t *s = arg;
	while (!atomic_load(&s->stop)) {
		int want = atomic_load(&s->want_refuse);
		if (want && s->lfd >= 0) {
			close(s->lfd);
			s->lfd = -1;
			atomic_store(&s->refusing, 1);
		} else if (!want && s->lfd < 0) {
			s->lfd = open_listener(s);
			atomic_store(&s->listen_error, s->lfd < 0);
			atomic_store(&s->refusing, 0);
			if (s->lfd < 0) {
				sleep_ms(20);
				continue;
			}
		}
		if (s->lfd < 0) {
			sleep_ms(10);
			continue;
		}
		struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
		if (poll(&pfd, 1, 20) > 0)
			accept_one(s);
	}
	return NULL;
}

int pool_mbsrv_start(pool_mbsrv_t **out)
{
	pool_mbsrv_t *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (s == NULL)
		return -1;
	pthread_mutex_init(&s->mu, NULL);
	s->map = modbus_mapping_new(1000, 1000, 1000, 1000);
	if (s->map == NULL)
		goto fail;
	for (int i = 0; i < 1000; i++)
		s->map->tab_registers[i] = (uint16_t)i;
	/* Random address in 127.1.0.0/16 (this engineer's range), port from the kernel. */
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)s;
	for (int attempt = 0; attempt < 20; attempt++) {
		int x = 1 + (int)(rand_r(&seed) % 254);
		int y = 1 + (int)(rand_r(&seed) % 254);
		snprintf(s->host, sizeof(s->host), "127.1.%d.%d", x, y);
		memset(&s->addr, 0, sizeof(s->addr));
		s->addr.sin_family = AF_INET;
		inet_pton(AF_INET, s->host, &s->addr.sin_addr);
		s->port = 0;
		s->lfd = open_listener(s);
		if (s->lfd >= 0)
			break;
	}
	if (s->lfd < 0) {
		fprintf(stderr, "pool_mbsrv: cannot listen: %s\n", strerror(errno));
		goto fail;
	}
	if (pthread_create(&s->th, NULL, accept_main, s) != 0) {
		close(s->lfd);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->map)
		modbus_mapping_free(s->map);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return -1;
}

void pool_mbsrv_close_all(pool_mbsrv_t *s)
{
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (s->clients[i].used && s->clients[i].fd >= 0)
			shutdown(s->clients[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
}

void pool_mbsrv_stop(pool_mbsrv_t *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	if (s->lfd >= 0)
		close(s->lfd);
	pool_mbsrv_close_all(s);
	reap(s, 1);
	modbus_mapping_free(s->map);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

const char *pool_mbsrv_host(const pool_mbsrv_t *s)
{
	return s->host;
}
int pool_mbsrv_port(const pool_mbsrv_t *s)
{
	return s->port;
}
void pool_mbsrv_set_stall(pool_mbsrv_t *s, bool on)
{
	atomic_store(&s->stall, on ? 1 : 0);
}
void pool_mbsrv_set_exception(pool_mbsrv_t *s, int code)
{
	atomic_store(&s->exception, code);
}
void pool_mbsrv_set_delay_ms(pool_mbsrv_t *s, int ms)
{
	atomic_store(&s->delay_ms, ms);
}
uint64_t pool_mbsrv_requests(const pool_mbsrv_t *s)
{
	return atomic_load(&((pool_mbsrv_t *)s)->requests);
}
uint64_t pool_mbsrv_accepts(const pool_mbsrv_t *s)
{
	return atomic_load(&((pool_mbsrv_t *)s)->accepts);
}
int pool_mbsrv_clients(const pool_mbsrv_t *s)
{
	return atomic_load(&((pool_mbsrv_t *)s)->nclients);
}

int pool_mbsrv_set_refuse(pool_mbsrv_t *s, bool on)
{
	atomic_store(&s->want_refuse, on ? 1 : 0);
	for (int i = 0; i < 500; i++) {
		if (atomic_load(&s->refusing) == (on ? 1 : 0) && !atomic_load(&s->listen_error))
			return 0;
		sleep_ms(5);
	}
	return -1;
}
