/*
 * cond_broadcast: WAITERS threads (default 1000, 64 KiB stacks) wait on one
 * condition variable.  Each round, main advances a generation number and
 * broadcasts; every waiter wakes, acknowledges, and waits again; the round
 * ends when main has seen all acknowledgements.
 *
 *   cond_broadcast [ROUNDS [WAITERS]]
 *       ROUNDS, or $BENCH_ITERS: default 200, quick 30
 *       WAITERS, or $BENCH_THREADS: default 1000
 *
 * RESULT cond_broadcast <us> us/round.  Checks: every waiter sees every
 * generation exactly once and in order; the acknowledgements add up to
 * ROUNDS*WAITERS.
 */
#include "bench.h"

#define STOP (-1L)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static long gen;	/* lock: current round, STOP at the end */
static long acks;	/* lock: acknowledgements of the current round */
static long ready;	/* lock: waiters that reached their first wait */
static long total_acks;	/* lock */
static long errors;	/* lock */
static long nwaiters;

static void *
waiter(void *arg)
{
	long seen = 0;

	(void)arg;
	pthread_mutex_lock(&lock);
	if (++ready == nwaiters)
		pthread_cond_signal(&done_cond);
	for (;;) {
		while (gen == seen)
			pthread_cond_wait(&go_cond, &lock);
		if (gen == STOP)
			break;
		if (gen != seen + 1)
			errors++;
		seen = gen;
		total_acks++;
		if (++acks == nwaiters)
			pthread_cond_signal(&done_cond);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t *t;
	long rounds, r, i;
	uint64_t t0, t1;

	bench_init("cond_broadcast");
	rounds = bench_param(argc, argv, 1, "BENCH_ITERS", 200, 30);
	nwaiters = bench_param(argc, argv, 2, "BENCH_THREADS", 1000, 1000);
	t = calloc((size_t)nwaiters, sizeof *t);
	if (t == NULL)
		bench_fail("out of memory");
	for (i = 0; i < nwaiters; i++)
		bench_spawn(&t[i], 64 * 1024, waiter, NULL);

	pthread_mutex_lock(&lock);
	while (ready < nwaiters)
		pthread_cond_wait(&done_cond, &lock);
	t0 = bench_now_ns();
	for (r = 1; r <= rounds; r++) {
		acks = 0;
		gen = r;
		pthread_cond_broadcast(&go_cond);
		while (acks < nwaiters)
			pthread_cond_wait(&done_cond, &lock);
	}
	t1 = bench_now_ns();
	gen = STOP;
	pthread_cond_broadcast(&go_cond);
	pthread_mutex_unlock(&lock);
	for (i = 0; i < nwaiters; i++)
		BENCH_CHECK(pthread_join(t[i], NULL));

	if (errors != 0 || total_acks != rounds * nwaiters)
		bench_fail("%ld acknowledgements of %ld, %ld out of order",
			   total_acks, rounds * nwaiters, errors);
	free(t);
	bench_ops((double)(total_acks), "wake-ups");
	bench_result((double)(t1 - t0) / 1e3 / (double)rounds, "us/round");
	return 0;
}
