/*
 * mutex_contended: THREADS threads (default 8) each lock one shared mutex,
 * bump a counter and unlock, OPS times.  The figure is the total rate.
 *
 *   mutex_contended [OPS [THREADS]]
 *       OPS per thread, or $BENCH_ITERS: default 2000000, quick 500000
 *       THREADS, or $BENCH_THREADS: default 8
 *
 * RESULT mutex_contended <rate> ops/s.  Checks: the counter ends at
 * THREADS*OPS, and no thread ever finds another inside the critical section.
 */
#include "bench.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start;
static long counter;	/* lock */
static long owner;	/* lock: id+1 of the thread inside, 0 when none */
static long overlaps;	/* lock */
static long ops;

static void *
worker(void *arg)
{
	long id = (long)(uintptr_t)arg + 1, i;

	pthread_barrier_wait(&start);
	for (i = 0; i < ops; i++) {
		pthread_mutex_lock(&lock);
		if (owner != 0)
			overlaps++;
		owner = id;
		counter++;
		if (owner != id)
			overlaps++;
		owner = 0;
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t *t;
	long nthreads, i;
	uint64_t t0, t1;

	bench_init("mutex_contended");
	ops = bench_param(argc, argv, 1, "BENCH_ITERS", 2000000, 500000);
	nthreads = bench_param(argc, argv, 2, "BENCH_THREADS", 8, 8);
	t = calloc((size_t)nthreads, sizeof *t);
	if (t == NULL)
		bench_fail("out of memory");
	BENCH_CHECK(pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1));
	for (i = 0; i < nthreads; i++)
		BENCH_CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i));

	pthread_barrier_wait(&start);
	t0 = bench_now_ns();
	for (i = 0; i < nthreads; i++)
		BENCH_CHECK(pthread_join(t[i], NULL));
	t1 = bench_now_ns();

	if (counter != nthreads * ops || overlaps != 0)
		bench_fail("counter %ld, want %ld; %ld overlapping critical sections",
			   counter, nthreads * ops, overlaps);
	free(t);
	bench_ops((double)(counter), "lock+unlock");
	bench_result((double)counter / ((double)(t1 - t0) / 1e9), "ops/s");
	return 0;
}
