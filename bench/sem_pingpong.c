/*
 * sem_pingpong: two threads pass a turn back and forth with two POSIX
 * semaphores (sem_post to the other side, sem_wait on one's own).
 *
 *   sem_pingpong [ROUNDS]   or $BENCH_ITERS: default 100000, quick 10000
 *
 * Each round is two hand-offs.  RESULT sem_pingpong <ns> ns/handoff.  Check:
 * a sequence number each side must find at the value strict alternation
 * predicts, and both semaphores back at zero at the end.
 */
#include "bench.h"
#include <semaphore.h>

static sem_t sem[2];
static long seq;	/* owned by the side whose turn it is (the semaphores order it) */
static long rounds;
static long errors[2];

static void
play(int side)
{
	long i;

	for (i = 0; i < rounds; i++) {
		if (side == 1)
			while (sem_wait(&sem[1]) != 0)
				if (errno != EINTR)
					bench_fail("sem_wait: %s", strerror(errno));
		if (seq != 2 * i + side)
			errors[side]++;
		seq++;
		BENCH_CHECK_SYS(sem_post(&sem[1 - side]));
		if (side == 0)
			while (sem_wait(&sem[0]) != 0)
				if (errno != EINTR)
					bench_fail("sem_wait: %s", strerror(errno));
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
	int v0, v1;

	bench_init("sem_pingpong");
	rounds = bench_param(argc, argv, 1, "BENCH_ITERS", 100000, 10000);
	BENCH_CHECK_SYS(sem_init(&sem[0], 0, 0));
	BENCH_CHECK_SYS(sem_init(&sem[1], 0, 0));

	t0 = bench_now_ns();
	BENCH_CHECK(pthread_create(&t, NULL, partner, NULL));
	play(0);
	BENCH_CHECK(pthread_join(t, NULL));
	t1 = bench_now_ns();

	sem_getvalue(&sem[0], &v0);
	sem_getvalue(&sem[1], &v1);
	if (errors[0] + errors[1] != 0 || seq != 2 * rounds || v0 != 0 || v1 != 0)
		bench_fail("alternation broken: %ld/%ld out-of-turn, seq %ld of %ld, sem values %d %d",
			   errors[0], errors[1], seq, 2 * rounds, v0, v1);
	bench_ops((double)(2 * rounds), "hand-offs");
	bench_result((double)(t1 - t0) / (double)(2 * rounds), "ns/handoff");
	return 0;
}
