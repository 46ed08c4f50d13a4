/*
 * echo: a thread-per-connection TCP echo server on 127.0.0.1 (port 0, so
 * the kernel picks a free one) and CLIENTS client threads, each making one
 * connection and sending REQS requests of SIZE bytes, waiting for each
 * echo before the next.  All threads use 64 KiB stacks.
 *
 *   echo [CLIENTS [REQS [SIZE]]]
 *       CLIENTS, or $BENCH_THREADS: default 1000
 *       REQS per client, or $BENCH_ITERS: default 200, quick 20
 *       SIZE in bytes, or $BENCH_SIZE: default 64
 *
 * RESULT echo <rate> req/s, over the time from the first client's creation
 * to the last client's join (connections included).  Checks: every byte of
 * every echo is compared with what was sent (a pattern unique to client,
 * request and offset); the server counts the bytes it echoed.  Bounded: the
 * counts are fixed and BENCH_TIMEOUT ends a run that hangs.
 */
#include "bench.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define STACK (64 * 1024)

static int listen_fd;
static struct sockaddr_in server_addr;
static long nclients, reqs, size;
static _Atomic long echoed_bytes;
static _Atomic long bad_bytes;
static _Atomic long short_conns;

static unsigned char
pattern(long client, long req, long off)
{
	return (unsigned char)(client * 131 + req * 31 + off * 7 + (off >> 8));
}

static void
set_nodelay(int fd)
{
	int one = 1;

	BENCH_CHECK_SYS(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
}

static int
write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *
handler(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char buf[4096];
	ssize_t n;

	set_nodelay(fd);
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (write_all(fd, buf, (size_t)n) != 0)
			bench_fail("server write: %s", strerror(errno));
		atomic_fetch_add(&echoed_bytes, n);
	}
	if (n < 0)
		bench_fail("server read: %s", strerror(errno));
	close(fd);
	return NULL;
}

/* Accepts exactly nclients connections, one handler thread each, and joins
 * the handlers (they end when their client closes). */
static void *
acceptor(void *arg)
{
	pthread_t *h = calloc((size_t)nclients, sizeof *h);
	long i;

	(void)arg;
	if (h == NULL)
		bench_fail("out of memory");
	for (i = 0; i < nclients; i++) {
		int fd = accept(listen_fd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				i--;
				continue;
			}
			bench_fail("accept: %s", strerror(errno));
		}
		bench_spawn(&h[i], STACK, handler, (void *)(intptr_t)fd);
	}
	for (i = 0; i < nclients; i++)
		BENCH_CHECK(pthread_join(h[i], NULL));
	free(h);
	return NULL;
}

static void *
client(void *arg)
{
	long id = (long)(intptr_t)arg, r, off, got, bad = 0;
	unsigned char *out = malloc((size_t)size), *in = malloc((size_t)size);
	int fd;

	if (out == NULL || in == NULL)
		bench_fail("out of memory");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	BENCH_CHECK_SYS(fd);
	while (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) != 0)
		if (errno != EINTR)
			bench_fail("connect: %s", strerror(errno));
	set_nodelay(fd);
	for (r = 0; r < reqs; r++) {
		for (off = 0; off < size; off++)
			out[off] = pattern(id, r, off);
		if (write_all(fd, out, (size_t)size) != 0)
			bench_fail("client write: %s", strerror(errno));
		for (got = 0; got < size;) {
			ssize_t n = read(fd, in + got, (size_t)(size - got));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				bench_fail("client read: %s", strerror(errno));
			if (n == 0)
				break;
			got += n;
		}
		if (got < size) {
			atomic_fetch_add(&short_conns, 1);
			break;
		}
		for (off = 0; off < size; off++)
			bad += in[off] != out[off];
	}
	atomic_fetch_add(&bad_bytes, bad);
	close(fd);
	free(out);
	free(in);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t acc, *t;
	socklen_t len = sizeof server_addr;
	struct rlimit rl;
	long i;
	uint64_t t0, t1;
	int one = 1;

	bench_init("echo");
	nclients = bench_param(argc, argv, 1, "BENCH_THREADS", 1000, 1000);
	reqs = bench_param(argc, argv, 2, "BENCH_ITERS", 200, 20);
	size = bench_param(argc, argv, 3, "BENCH_SIZE", 64, 64);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)(2 * nclients + 32))
		bench_fail("needs %ld open files, RLIMIT_NOFILE is %llu",
			   2 * nclients + 32, (unsigned long long)rl.rlim_cur);
	t = calloc((size_t)nclients, sizeof *t);
	if (t == NULL)
		bench_fail("out of memory");

	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	BENCH_CHECK_SYS(listen_fd);
	BENCH_CHECK_SYS(setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
	memset(&server_addr, 0, sizeof server_addr);
	server_addr.sin_family = AF_INET;
	server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	server_addr.sin_port = 0;
	BENCH_CHECK_SYS(bind(listen_fd, (struct sockaddr *)&server_addr, sizeof server_addr));
	BENCH_CHECK_SYS(listen(listen_fd, SOMAXCONN));
	BENCH_CHECK_SYS(getsockname(listen_fd, (struct sockaddr *)&server_addr, &len));

	t0 = bench_now_ns();
	bench_spawn(&acc, STACK, acceptor, NULL);
	for (i = 0; i < nclients; i++)
		bench_spawn(&t[i], STACK, client, (void *)(intptr_t)i);
	for (i = 0; i < nclients; i++)
		BENCH_CHECK(pthread_join(t[i], NULL));
	t1 = bench_now_ns();
	BENCH_CHECK(pthread_join(acc, NULL));
	close(listen_fd);

	if (short_conns != 0 || bad_bytes != 0 ||
	    echoed_bytes != nclients * reqs * size)
		bench_fail("%ld connections cut short, %ld bytes wrong, %ld of %ld bytes echoed",
			   (long)short_conns, (long)bad_bytes, (long)echoed_bytes,
			   nclients * reqs * size);
	free(t);
	bench_ops((double)(nclients * reqs), "requests");
	bench_result((double)(nclients * reqs) / ((double)(t1 - t0) / 1e9), "req/s");
	return 0;
}
