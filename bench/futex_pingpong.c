/*
 * futex_pingpong: two threads pass a turn back and forth through one futex
 * word with raw syscall(SYS_futex, FUTEX_WAIT_PRIVATE / FUTEX_WAKE_PRIVATE),
 * the way hand-written lock code does.  The word holds the side whose turn
 * it is; a side waits while it holds the other side's number.
 *
 *   futex_pingpong [ROUNDS]   or $BENCH_ITERS: default 100000, quick 10000
 *
 * Each round is two hand-offs.  RESULT futex_pingpong <ns> ns/handoff.
 * Check: a sequence number each side must find at the value strict
 * alternation predicts.
 */
#include "bench.h"
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static _Atomic int word;	/* the side whose turn it is */
static long seq;		/* owned by that side (ordered by word) */
static long rounds;
static long errors[2];

static void
futex_wait(_Atomic int *addr, int val)
{
	if (syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0) == -1 &&
	    errno != EAGAIN && errno != EINTR)
		bench_fail("FUTEX_WAIT_PRIVATE: %s", strerror(errno));
}

static void
futex_wake(_Atomic int *addr)
{
	if (syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) == -1)
		bench_fail("FUTEX_WAKE_PRIVATE: %s", strerror(errno));
}

static void
play(int side)
{
	long i;

	for (i = 0; i < rounds; i++) {
		while (atomic_load_explicit(&word, memory_order_acquire) != side)
			futex_wait(&word, 1 - side);
		if (seq != 2 * i + side)
			errors[side]++;
		seq++;
		atomic_store_explicit(&word, 1 - side, memory_order_release);
		futex_wake(&word);
	}
}

static void *
partner(void *arg)
{
	(void)arg;
	play(1);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t t;
	uint64_t t0, t1;

	bench_init("futex_pingpong");
	rounds = bench_param(argc, argv, 1, "BENCH_ITERS", 100000, 10000);

	t0 = bench_now_ns();
	BENCH_CHECK(pthread_create(&t, NULL, partner, NULL));
	play(0);
	BENCH_CHECK(pthread_join(t, NULL));
	t1 = bench_now_ns();

	if (errors[0] + errors[1] != 0 || seq != 2 * rounds)
		bench_fail("alternation broken: %ld/%ld out-of-turn, seq %ld of %ld",
			   errors[0], errors[1], seq, 2 * rounds);
	bench_ops((double)(2 * rounds), "hand-offs");
	bench_result((double)(t1 - t0) / (double)(2 * rounds), "ns/handoff");
	return 0;
}
