/*
 * mutex_cond_pingpong: two threads pass a turn back and forth through one
 * mutex and two condition variables (one per side, so each signal wakes the
 * thread that wants it).
 *
 *   mutex_cond_pingpong [ROUNDS]   or $BENCH_ITERS: default 100000, quick 10000
 *
 * Each round is two hand-offs.  RESULT mutex_cond_pingpong <ns> ns/handoff.
 * Check: a sequence number that each side must find at the value the strict
 * alternation predicts, and 2*ROUNDS at the end.
 */
#include "bench.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond[2] = { PTHREAD_COND_INITIALIZER,
				  PTHREAD_COND_INITIALIZER };
static int turn;	/* lock: the side that may go */
static long seq;	/* lock: hand-offs so far */
static long rounds;
static long errors[2];	/* written by one side each, read after join */

static void
play(int side)
{
	long i;

	for (i = 0; i < rounds; i++) {
		pthread_mutex_lock(&lock);
		while (turn != side)
			pthread_cond_wait(&cond[side], &lock);
		if (seq != 2 * i + side)
			errors[side]++;
		seq++;
		turn = 1 - side;
		pthread_cond_signal(&cond[1 - side]);
		pthread_mutex_unlock(&lock);
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

	bench_init("mutex_cond_pingpong");
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
