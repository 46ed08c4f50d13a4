/*
 * One mutex fought over by many threads: every lock is exclusive, every
 * increment counted, nothing waits for ever.
 *
 *   1. hammer: 8 threads lock, bump a counter and unlock in a tight loop
 *      (the unlocker relocks at once; the woken waiter usually finds the
 *      lock taken again)
 *   2. timeouts: 4 hammering threads and 4 that take the lock with
 *      timedlock of 0-40 us and trylock, so that time-outs race wake-ups
 *   3. condvar: a broadcast moves waiters onto the mutex while other
 *      threads hammer it; every waiter of every round comes back
 *   4. a waiter woken while its unlocker goes on computing (200 ms without
 *      a call) gets the lock long before that ends
 *
 * Prints the same lines natively and under gmp; exits 1 on a broken check.
 * Counts that vary from run to run go to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define HAMMER_OPS 200000
#define TIMED_OPS 20000
#define ROUNDS 200
#define WAITERS 6

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter, inside, overlaps; /* m */
static atomic_long timeouts, busy;
static int failed;

static void check(int ok, const char *what)
{
	if (!ok) {
		printf("FAILED: %s\n", what);
		failed = 1;
	}
}

static void critical(void)
{
	if (inside++)
		overlaps++;
	counter++;
	inside--;
}

static void *hammer(void *arg)
{
	long n = (long)arg;
	for (long i = 0; i < n; i++) {
		if (pthread_mutex_lock(&m))
			abort();
		critical();
		pthread_mutex_unlock(&m);
	}
	return NULL;
}

static void *timed(void *arg)
{
	unsigned seed = (unsigned)(long)arg;
	long got = 0;
	while (got < TIMED_OPS) {
		int r;
		if (rand_r(&seed) % 4 == 0) {
			r = pthread_mutex_trylock(&m);
			if (r == EBUSY) {
				atomic_fetch_add(&busy, 1);
				continue;
			}
		} else {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(rand_r(&seed) % 40) * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			r = pthread_mutex_timedlock(&m, &ts);
			if (r == ETIMEDOUT) {
				atomic_fetch_add(&timeouts, 1);
				continue;
			}
		}
		if (r)
			abort();
		critical();
		got++;
		pthread_mutex_unlock(&m);
	}
	return (void *)got;
}

static int round_no, woke; /* m */

static void *cond_waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	for (int r = 1; r <= ROUNDS; r++) {
		while (round_no < r)
			pthread_cond_wait(&cv, &m);
		woke++;
		critical();
	}
	pthread_mutex_unlock(&m);
	return NULL;
}

static void run(void *(*fn)(void *), int n, long arg, long *sum)
{
	pthread_t t[16];
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, (void *)(arg + i * (fn == timed))))
			abort();
	for (int i = 0; i < n; i++) {
		void *r;
		pthread_join(t[i], &r);
		if (sum)
			*sum += (long)r;
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static atomic_int waiter_state; /* 0 before, 1 waiting, 2 got the lock */
static volatile double spin_end;

static void *late_waiter(void *arg)
{
	(void)arg;
	atomic_store(&waiter_state, 1);
	pthread_mutex_lock(&m);
	atomic_store(&waiter_state, 2);
	pthread_mutex_unlock(&m);
	return NULL;
}

int main(void)
{
	/* 1 */
	run(hammer, 8, HAMMER_OPS, NULL);
	check(counter == 8L * HAMMER_OPS && overlaps == 0, "hammer");
	printf("hammer: %ld locks, %ld overlaps\n", counter, overlaps);

	/* 2 */
	counter = 0;
	pthread_t h[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&h[i], NULL, hammer, (void *)(long)HAMMER_OPS);
	long got = 0;
	run(timed, 4, 7, &got);
	for (int i = 0; i < 4; i++)
		pthread_join(h[i], NULL);
	check(counter == 4L * HAMMER_OPS + got && got == 4L * TIMED_OPS && overlaps == 0, "timeouts");
	printf("timeouts: %ld locks, %ld timed/try locks, %ld overlaps\n", counter, got, overlaps);

	/* 3 */
	counter = 0;
	pthread_t w[WAITERS], hh[2];
	for (int i = 0; i < WAITERS; i++)
		pthread_create(&w[i], NULL, cond_waiter, NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&hh[i], NULL, hammer, (void *)(long)HAMMER_OPS);
	for (int r = 1; r <= ROUNDS; r++) {
		pthread_mutex_lock(&m);
		while (woke < (r - 1) * WAITERS) {
			pthread_mutex_unlock(&m);
			sched_yield();
			pthread_mutex_lock(&m);
		}
		round_no = r;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&m);
	}
	for (int i = 0; i < WAITERS; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(hh[i], NULL);
	check(woke == ROUNDS * WAITERS && overlaps == 0, "condvar");
	printf("condvar: %d wake-ups in %d rounds, %ld overlaps\n", woke, ROUNDS, overlaps);

	/* 4: after the hammering above, the mutex is one whose waiters find it retaken */
	run(hammer, 8, HAMMER_OPS / 4, NULL);
	pthread_mutex_lock(&m);
	pthread_t lw;
	pthread_create(&lw, NULL, late_waiter, NULL);
	while (atomic_load(&waiter_state) == 0)
		sched_yield();
	double t0 = now();
	while (now() - t0 < 0.02)
		; /* let it block on m */
	pthread_mutex_unlock(&m);
	t0 = now();
	int seen = 0;
	double after = 0;
	while (now() - t0 < 0.2)
		if (!seen && atomic_load(&waiter_state) == 2) {
			seen = 1;
			after = now() - t0;
		}
	fprintf(stderr, "timed out %ld, busy %ld, late waiter after %.0f us\n", atomic_load(&timeouts),
		atomic_load(&busy), after * 1e6);
	pthread_join(lw, NULL);
	check(seen, "late waiter");
	printf("late waiter: got the lock while its unlocker computed: %s\n", seen ? "yes" : "no");
	return failed;
}
