/*
 * burst: create many threads (64 KiB stacks) that all block on one condition
 * variable, release them with one broadcast, and join them all.  The figure
 * is the total time from the first pthread_create to the last pthread_join.
 *
 *   burst [THREADS]     THREADS, or $BENCH_THREADS: default 10000, quick 2000
 *
 * RESULT burst <ms> ms.  Checks: every thread reaches the wait before the
 * broadcast, every thread is released exactly once, and each returns its own
 * index through join.
 */
#include "bench.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_waiting = PTHREAD_COND_INITIALIZER;
static long nthreads;
static long waiting;	/* lock: threads that reached the wait */
static long released;	/* lock: threads that left it */
static int go;		/* lock: set once, by main */

static void *
worker(void *arg)
{
	pthread_mutex_lock(&lock);
	if (++waiting == nthreads)
		pthread_cond_signal(&all_waiting);
	while (!go)
		pthread_cond_wait(&go_cond, &lock);
	released++;
	pthread_mutex_unlock(&lock);
	return arg;
}

int
main(int argc, char **argv)
{
	pthread_t *t;
	long i, bad = 0;
	uint64_t t0, t1;

	bench_init("burst");
	nthreads = bench_param(argc, argv, 1, "BENCH_THREADS", 10000, 2000);
	t = calloc((size_t)nthreads, sizeof *t);
	if (t == NULL)
		bench_fail("out of memory");

	t0 = bench_now_ns();
	for (i = 0; i < nthreads; i++)
		bench_spawn(&t[i], 64 * 1024, worker, (void *)(uintptr_t)i);

	pthread_mutex_lock(&lock);
	while (waiting < nthreads)
		pthread_cond_wait(&all_waiting, &lock);
	if (released != 0)
		bench_fail("%ld threads passed the wait before the broadcast",
			   released);
	go = 1;
	pthread_cond_broadcast(&go_cond);
	pthread_mutex_unlock(&lock);

	for (i = 0; i < nthreads; i++) {
		void *ret;

		BENCH_CHECK(pthread_join(t[i], &ret));
		if ((uintptr_t)ret != (uintptr_t)i)
			bad++;
	}
	t1 = bench_now_ns();

	if (released != nthreads)
		bench_fail("%ld of %ld threads released", released, nthreads);
	if (bad != 0)
		bench_fail("%ld joins returned the wrong value", bad);
	free(t);
	bench_ops((double)(nthreads), "threads");
	bench_result((double)(t1 - t0) / 1e6, "ms");
	return 0;
}
