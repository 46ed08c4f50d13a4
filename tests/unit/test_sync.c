/*
 * Unit tests of the synchronisation objects whose logic is core's and
 * whose exported names are thin adapters: once (core/once.c), spin locks
 * (core/spinlock.c) and barrier set-up (core/barrier.c).  Nothing here
 * starts gmp: the calling thread has no G, as a thread gmp did not create,
 * so only the paths that neither park nor wake are run (parking is the
 * behaviour tests' once, sync and stress).
 */
#include "unit.h"

#include <pthread.h>
#include <time.h>

#include "../../core/sync.h"

static void setup(void) { unit_sched_init(1); }
static void teardown(void) {}

/* ------------------------------------------------------------ once */

static int nruns;
static void count_run(void) { nruns++; }

START_TEST(test_once_runs_once)
{
	_Atomic uint32_t w = 0;
	nruns = 0;
	ck_assert_int_eq(gmp_once(&w, count_run), 0);
	ck_assert_int_eq(nruns, 1);
	ck_assert_uint_eq(atomic_load(&w), 2); /* done */
	ck_assert_int_eq(gmp_once(&w, count_run), 0);
	ck_assert_int_eq(nruns, 1);
}
END_TEST

START_TEST(test_once_done_word)
{
	_Atomic uint32_t w = 2;
	nruns = 0;
	ck_assert_int_eq(gmp_once(&w, count_run), 0);
	ck_assert_int_eq(nruns, 0);
}
END_TEST

/* ------------------------------------------------------------ spin locks */

START_TEST(test_spin_trylock)
{
	_Atomic int w = 7;
	gmp_spin_init(&w);
	ck_assert_int_eq(atomic_load(&w), 0);
	ck_assert_int_eq(gmp_spin_trylock(&w), 0);
	ck_assert_int_eq(atomic_load(&w), 1);
	ck_assert_int_eq(gmp_spin_trylock(&w), -EBUSY);
	gmp_spin_unlock(&w);
	ck_assert_int_eq(atomic_load(&w), 0);
	gmp_spin_lock(&w);
	ck_assert_int_eq(gmp_spin_trylock(&w), -EBUSY);
	gmp_spin_unlock(&w);
}
END_TEST

static _Atomic int spinword;
static _Atomic int holding;

static void *hold_then_unlock(void *arg)
{
	(void)arg;
	gmp_spin_lock(&spinword);
	atomic_store(&holding, 1);
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	atomic_store(&holding, 2);
	gmp_spin_unlock(&spinword);
	return NULL;
}

/* A thread with no G spins, then yields to the kernel, until the holder lets go. */
START_TEST(test_spin_lock_waits)
{
	gmp_spin_init(&spinword);
	atomic_store(&holding, 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, hold_then_unlock, NULL), 0);
	while (atomic_load(&holding) == 0)
		sched_yield();
	gmp_spin_lock(&spinword);
	ck_assert_int_eq(atomic_load(&holding), 2);
	gmp_spin_unlock(&spinword);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------ barriers */

START_TEST(test_barrier_init)
{
	pthread_barrier_t raw;
	memset(&raw, 0xff, sizeof raw);
	struct gmp_barrier *b = (struct gmp_barrier *)&raw;
	gmp_barrier_init(b, 3);
	ck_assert(gmp_barrier_ours(b));
	ck_assert_uint_eq(b->count, 3);
	ck_assert_uint_eq(b->arrived, 0);
	ck_assert_uint_eq(atomic_load(&b->seq), 0);
	ck_assert_uint_eq(unit_lockword(&b->lock), 0);
	memset(&raw, 0, sizeof raw); /* what a process-shared one is before glibc's init */
	ck_assert(!gmp_barrier_ours(b));
}
END_TEST

START_TEST(test_barrier_destroy_busy)
{
	pthread_barrier_t raw;
	struct gmp_barrier *b = (struct gmp_barrier *)&raw;
	gmp_barrier_init(b, 2);
	ck_assert_int_eq(gmp_barrier_destroy(b), 0);
	b->arrived = 1; /* one thread waits */
	ck_assert_int_eq(gmp_barrier_destroy(b), -EBUSY);
	ck_assert_uint_eq(unit_lockword(&b->lock), 0);
}
END_TEST

static Suite *sync_suite(void)
{
	Suite *s = suite_create("sync");
	UNIT_TEST(s, once_runs_once);
	UNIT_TEST(s, once_done_word);
	UNIT_TEST(s, spin_trylock);
	UNIT_TEST(s, spin_lock_waits);
	UNIT_TEST(s, barrier_init);
	UNIT_TEST(s, barrier_destroy_busy);
	return s;
}

int main(void) { return unit_run(sync_suite()); }
