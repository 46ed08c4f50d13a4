/*
 * Cancellation that needs the kernel's help: asynchronous cancellation
 * (the target is interrupted wherever it runs) and cancellation of a thread
 * inside a blocking call, whose cleanup handlers then wait themselves.
 * Every case repeats ROUNDS times with the cancel at varying moments; each
 * thread must end with PTHREAD_CANCELED, its cleanup handlers run once, and
 * the canceller must go on normally (its own sleeps return).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 20

static void check(int err, const char *what)
{
	if (err) {
		printf("%s: %s\n", what, strerror(err));
		exit(1);
	}
}

static void pause_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static atomic_int started, cleaned;

static void count_cleanup(void *arg)
{
	(void)arg;
	atomic_fetch_add(&cleaned, 1);
}

static void set_async(void)
{
	int old;
	check(pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old), "setcanceltype");
}

/* Asynchronous, looping around a 1 ms sleep. */
static void *async_nanosleep(void *arg)
{
	(void)arg;
	pthread_cleanup_push(count_cleanup, NULL);
	set_async();
	atomic_fetch_add(&started, 1);
	for (;;) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	pthread_cleanup_pop(0);
	return NULL;
}

/* Asynchronous, looping around a one-second sleep. */
static void *async_sleep(void *arg)
{
	(void)arg;
	pthread_cleanup_push(count_cleanup, NULL);
	set_async();
	atomic_fetch_add(&started, 1);
	for (;;)
		sleep(1);
	pthread_cleanup_pop(0);
	return NULL;
}

/* Asynchronous, computing without any call. */
static volatile unsigned long sink;
static void *async_spin(void *arg)
{
	(void)arg;
	pthread_cleanup_push(count_cleanup, NULL);
	set_async();
	atomic_fetch_add(&started, 1);
	for (unsigned long i = 0;; i++)
		sink = i * 2654435761u;
	pthread_cleanup_pop(0);
	return NULL;
}

/* Asynchronous, calling library code that is not a cancellation point. */
static void *async_libc(void *arg)
{
	(void)arg;
	char a[256], b[256];
	memset(a, 'x', sizeof a - 1);
	a[sizeof a - 1] = 0;
	pthread_cleanup_push(count_cleanup, NULL);
	set_async();
	atomic_fetch_add(&started, 1);
	for (;;) {
		memcpy(b, a, sizeof a);
		sink += strlen(b);
	}
	pthread_cleanup_pop(0);
	return NULL;
}

static void async_case(const char *name, void *(*fn)(void *))
{
	for (int r = 0; r < ROUNDS; r++) {
		atomic_store(&started, 0);
		atomic_store(&cleaned, 0);
		pthread_t t;
		void *res;
		check(pthread_create(&t, NULL, fn, NULL), "pthread_create");
		while (!atomic_load(&started))
			pause_us(100);
		pause_us((r % 5) * 300);
		check(pthread_cancel(t), "pthread_cancel");
		check(pthread_join(t, &res), "pthread_join");
		if (res != PTHREAD_CANCELED || atomic_load(&cleaned) != 1) {
			printf("%s round %d: result %p, cleanups %d\n", name, r, res, atomic_load(&cleaned));
			exit(1);
		}
		pause_us(1000); /* the canceller's own sleep returns */
	}
	printf("%s: %d threads cancelled\n", name, ROUNDS);
}

/*
 * A condition-variable waiter cancelled in its wait: the cleanup handler
 * runs with the mutex held again, posts one semaphore and waits on another
 * before it unlocks.
 */
static pthread_mutex_t cmu;
static pthread_cond_t ccv;
static sem_t in_cleanup, go_on;
static int timed;

static void cond_cleanup(void *arg)
{
	(void)arg;
	sem_post(&in_cleanup);
	while (sem_wait(&go_on) != 0)
		;
	pthread_mutex_unlock(&cmu);
}

static void *cond_waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cmu);
	pthread_cleanup_push(cond_cleanup, NULL);
	sem_post(&in_cleanup); /* waiting soon */
	for (;;) {
		if (timed) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 30;
			pthread_cond_timedwait(&ccv, &cmu, &ts);
		} else {
			pthread_cond_wait(&ccv, &cmu);
		}
	}
	pthread_cleanup_pop(0);
	return NULL;
}

static void cond_case(const char *name, int pshared)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	pthread_mutexattr_init(&ma);
	pthread_condattr_init(&ca);
	check(pthread_mutexattr_setpshared(&ma, pshared), "mutexattr_setpshared");
	check(pthread_condattr_setpshared(&ca, pshared), "condattr_setpshared");
	check(pthread_mutex_init(&cmu, &ma), "mutex_init");
	check(pthread_cond_init(&ccv, &ca), "cond_init");
	sem_init(&in_cleanup, 0, 0);
	sem_init(&go_on, 0, 0);
	for (int r = 0; r < ROUNDS; r++) {
		timed = r & 1;
		pthread_t t;
		void *res;
		check(pthread_create(&t, NULL, cond_waiter, NULL), "pthread_create");
		while (sem_wait(&in_cleanup) != 0)
			;
		pthread_mutex_lock(&cmu); /* the waiter is in its wait now */
		pthread_mutex_unlock(&cmu);
		pause_us((r % 4) * 200);
		check(pthread_cancel(t), "pthread_cancel");
		while (sem_wait(&in_cleanup) != 0)
			;
		sem_post(&go_on);
		check(pthread_join(t, &res), "pthread_join");
		if (res != PTHREAD_CANCELED) {
			printf("%s round %d: result %p\n", name, r, res);
			exit(1);
		}
	}
	pthread_cond_destroy(&ccv);
	pthread_mutex_destroy(&cmu);
	printf("%s: %d waiters cancelled\n", name, ROUNDS);
}

int main(void)
{
	async_case("async nanosleep loop", async_nanosleep);
	async_case("async sleep loop", async_sleep);
	async_case("async computing", async_spin);
	async_case("async in library code", async_libc);
	cond_case("condvar waiter", PTHREAD_PROCESS_PRIVATE);
	cond_case("process-shared condvar waiter", PTHREAD_PROCESS_SHARED);
	return 0;
}
