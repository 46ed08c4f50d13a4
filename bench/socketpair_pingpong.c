/*
 * socketpair_pingpong: a round trip of an 8-byte message between two
 * threads over one AF_UNIX SOCK_STREAM socketpair.  Plain blocking read and
 * write: under gmp these park the thread on the netpoller.
 *
 *   socketpair_pingpong [ROUNDS]   or $BENCH_ITERS: default 100000, quick 10000
 *
 * RESULT socketpair_pingpong <ns> ns/roundtrip.  Check: the partner answers
 * every number n with n+1 and main checks each answer.
 */
#include "bench.h"
#include <sys/socket.h>

static int sv[2];	/* sv[0]: main's end, sv[1]: the partner's */
static long rounds;

static void
xfer(int fd, uint64_t *v, int out)
{
	char *p = (char *)v;
	size_t done = 0;

	while (done < sizeof *v) {
		ssize_t n = out ? write(fd, p + done, sizeof *v - done)
				: read(fd, p + done, sizeof *v - done);

		if (n > 0)
			done += (size_t)n;
		else if (n == 0)
			bench_fail("unexpected end of file");
		else if (errno != EINTR)
			bench_fail("%s: %s", out ? "write" : "read", strerror(errno));
	}
}

static void *
partner(void *arg)
{
	uint64_t v;
	long i;

	(void)arg;
	for (i = 0; i < rounds; i++) {
		xfer(sv[1], &v, 0);
		v++;
		xfer(sv[1], &v, 1);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t t;
	uint64_t t0, t1, v;
	long i, bad = 0;

	bench_init("socketpair_pingpong");
	rounds = bench_param(argc, argv, 1, "BENCH_ITERS", 100000, 10000);
	BENCH_CHECK_SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));

	t0 = bench_now_ns();
	BENCH_CHECK(pthread_create(&t, NULL, partner, NULL));
	for (i = 0; i < rounds; i++) {
		v = (uint64_t)i * 3;
		xfer(sv[0], &v, 1);
		xfer(sv[0], &v, 0);
		if (v != (uint64_t)i * 3 + 1)
			bad++;
	}
	BENCH_CHECK(pthread_join(t, NULL));
	t1 = bench_now_ns();

	if (bad != 0)
		bench_fail("%ld of %ld answers wrong", bad, rounds);
	bench_ops((double)(rounds), "round trips");
	bench_result((double)(t1 - t0) / (double)rounds, "ns/roundtrip");
	return 0;
}
