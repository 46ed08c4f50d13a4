/*
 * Runtime locks (core/lock.c).  Every build: mutual exclusion and the
 * sleeper's wake-up under contention.  The checks build (-Dchecks=true,
 * GMP_LOCK_CHECKS): a lock taken against HACKING's order, taken twice,
 * released by a thread that does not hold it, or missing where a function
 * requires it is gmp: fatal naming the locks; the legal patterns (out of
 * order release, two buckets by address, a lock held across fork) pass.
 */
#include "unit.h"

#include <pthread.h>

/* ------------------------------------------------------------ every build */

static gmp_lock_t counted = GMP_LOCK_INIT;
static long counter;

static void *add(void *arg)
{
	long n = (long)arg;
	for (long i = 0; i < n; i++) {
		gmp_lock(&counted);
		long c = counter;
		if ((i & 255) == 0)
			sched_yield(); /* holders get preempted: waiters sleep in the kernel (word 2) */
		counter = c + 1;
		gmp_unlock(&counted);
	}
	return NULL;
}

START_TEST(test_exclusion)
{
	long n = (long)(20000 * unit_scale());
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, add, (void *)n), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_int_eq(counter, 4 * n);
	ck_assert_uint_eq(atomic_load(&counted.v), 0);
}
END_TEST

START_TEST(test_trylock)
{
	gmp_lock_t l = GMP_LOCK_INIT;
	ck_assert(gmp_trylock(&l));
	ck_assert(!gmp_trylock(&l));
	gmp_unlock(&l);
	ck_assert(gmp_trylock(&l));
	gmp_unlock(&l);
}
END_TEST

#ifdef GMP_LOCK_CHECKS
/* ------------------------------------------------------------ the checks build */

static gmp_lock_t sched_l = GMP_LOCK_RANKED(GMP_RANK_SCHED);
static gmp_lock_t allg_l = GMP_LOCK_RANKED(GMP_RANK_ALLG);
static gmp_lock_t pd_l = GMP_LOCK_RANKED(GMP_RANK_PD);
static gmp_lock_t plain_l = GMP_LOCK_INIT;
static gmp_lock_t buckets[2] = {GMP_LOCK_RANKED(GMP_RANK_BUCKET), GMP_LOCK_RANKED(GMP_RANK_BUCKET)};

START_TEST(test_legal_patterns)
{
	/* in order, released in either order; an unranked lock anywhere */
	gmp_lock(&plain_l);
	gmp_lock(&pd_l);
	gmp_lock(&sched_l);
	gmp_lock(&allg_l);
	gmp_unlock(&sched_l);
	gmp_unlock(&allg_l);
	gmp_unlock(&pd_l);
	gmp_unlock(&plain_l);
	/* two of one rank by address; a trylock against the order cannot deadlock */
	gmp_lock(&buckets[0]);
	gmp_lock(&buckets[1]);
	gmp_unlock(&buckets[0]);
	gmp_unlock(&buckets[1]);
	gmp_lock(&allg_l);
	ck_assert(gmp_trylock(&sched_l));
	gmp_lock_assert_held(&sched_l);
	gmp_unlock(&sched_l);
	gmp_unlock(&allg_l);
	/* a lock runtime code makes gets its rank */
	gmp_lock_t made = {0};
	gmp_lock_init(&made, GMP_RANK_TIMER);
	gmp_lock(&made);
	gmp_lock(&sched_l);
	gmp_unlock(&sched_l);
	gmp_unlock(&made);
}
END_TEST

static void against_order(void *arg)
{
	(void)arg;
	gmp_lock(&allg_l);
	gmp_lock(&sched_l);
}

static void buckets_backwards(void *arg)
{
	(void)arg;
	gmp_lock(&buckets[1]);
	gmp_lock(&buckets[0]);
}

static void twice(void *arg)
{
	(void)arg;
	gmp_lock(&plain_l);
	gmp_lock(&plain_l);
}

static void *take(void *arg)
{
	gmp_lock(arg);
	return NULL;
}

static void foreign_unlock(void *arg)
{
	(void)arg;
	pthread_t t;
	pthread_create(&t, NULL, take, &pd_l);
	pthread_join(t, NULL);
	gmp_unlock(&pd_l);
}

static void not_held(void *arg)
{
	(void)arg;
	gmp_lock_assert_held(&sched_l);
}

static void expect_fatal(void (*fn)(void *), const char *what)
{
	char buf[4096];
	int st = unit_crash(fn, NULL, buf, sizeof buf);
	ck_assert_aborted(st);
	ck_assert_msg(strstr(buf, "gmp: fatal: ") && strstr(buf, what), "stderr was: %s", buf);
}

START_TEST(test_violations_are_fatal)
{
	expect_fatal(against_order, "lock order: thread");
	expect_fatal(against_order, "(sched.lock) while holding");
	expect_fatal(against_order, "(allglock)");
	expect_fatal(buckets_backwards, "(futex bucket) while holding");
	expect_fatal(twice, "taken twice");
	expect_fatal(foreign_unlock, "(pd->lock) released by thread");
	expect_fatal(not_held, "(sched.lock) must be held");
}
END_TEST

/* fork's prepare takes locks, and the child (a new thread id) releases them. */
START_TEST(test_held_across_fork)
{
	gmp_lock(&pd_l);
	gmp_lock_fork_prepare();
	gmp_lock(&sched_l);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		gmp_lock_fork_child();
		gmp_unlock(&sched_l);
		gmp_lock(&allg_l); /* pd_l is still held, sched.lock not: in order */
		gmp_unlock(&allg_l);
		gmp_unlock(&pd_l);
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child wait status %#x", st);
	gmp_unlock(&sched_l);
	gmp_unlock(&pd_l);
}
END_TEST
#endif

static Suite *lock_suite(void)
{
	Suite *s = suite_create("lock");
	TCase *tc = tcase_create("lock");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_exclusion);
	tcase_add_test(tc, test_trylock);
#ifdef GMP_LOCK_CHECKS
	tcase_add_test(tc, test_legal_patterns);
	tcase_add_test(tc, test_violations_are_fatal);
	tcase_add_test(tc, test_held_across_fork);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(lock_suite()); }
