/*
 * create_join: the cost of one pthread_create plus pthread_join, done one
 * after the other so that at most two threads exist at any time.
 *
 *   create_join [ITERS]     ITERS, or $BENCH_ITERS: default 20000, quick 2000
 *
 * RESULT create_join <ns> ns/op.  Check: every thread returns its argument
 * plus one, and the sum of what join hands back must match.
 */
#include "bench.h"

static void *
child(void *arg)
{
	return (void *)((uintptr_t)arg + 1);
}

int
main(int argc, char **argv)
{
	long iters, i;
	uint64_t t0, t1, sum = 0, want = 0;

	bench_init("create_join");
	iters = bench_param(argc, argv, 1, "BENCH_ITERS", 20000, 2000);

	t0 = bench_now_ns();
	for (i = 0; i < iters; i++) {
		pthread_t t;
		void *ret;

		BENCH_CHECK(pthread_create(&t, NULL, child, (void *)(uintptr_t)i));
		BENCH_CHECK(pthread_join(t, &ret));
		sum += (uintptr_t)ret;
	}
	t1 = bench_now_ns();

	for (i = 0; i < iters; i++)
		want += (uint64_t)i + 1;
	if (sum != want)
		bench_fail("sum of join results %llu, want %llu",
			   (unsigned long long)sum, (unsigned long long)want);
	bench_ops((double)(iters), "create+join");
	bench_result((double)(t1 - t0) / (double)iters, "ns/op");
	return 0;
}
