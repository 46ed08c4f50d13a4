/*
 * A program for the gdb extension test (gdb.sh): one thread parks in each
 * of parked_in_mutex, parked_in_cond, parked_in_sem, parked_in_sleep,
 * parked_in_read and parked_in_join, each named after its function; main
 * then calls all_parked(), where the test's breakpoint stops.  Run alone it
 * releases them all and exits 0.  It waits for the parks through gmp_stats
 * (looked up with dlsym), so under gmp the breakpoint sees every thread
 * parked; natively it just sleeps a little.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../../preload/gmp.h"

#define NPARKED 6

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go;
static sem_t sem;
static int pfd[2];
static pthread_t sleeper;

__attribute__((noinline)) static void *parked_in_mutex(void *arg)
{
	pthread_mutex_lock(&mu);
	pthread_mutex_unlock(&mu);
	return arg;
}

__attribute__((noinline)) static void *parked_in_cond(void *arg)
{
	pthread_mutex_lock(&cmu);
	while (!go)
		pthread_cond_wait(&cv, &cmu);
	pthread_mutex_unlock(&cmu);
	return arg;
}

__attribute__((noinline)) static void *parked_in_sem(void *arg)
{
	sem_wait(&sem);
	return arg;
}

__attribute__((noinline)) static void *parked_in_sleep(void *arg)
{
	sleep(3); /* long enough to be parked at the breakpoint */
	return arg;
}

__attribute__((noinline)) static void *parked_in_read(void *arg)
{
	char c;
	if (read(pfd[0], &c, 1) != 1)
		abort();
	return arg;
}

__attribute__((noinline)) static void *parked_in_join(void *arg)
{
	pthread_join(sleeper, NULL);
	return arg;
}

/* The test's breakpoint. */
__attribute__((noinline)) void all_parked(void)
{
	__asm__ volatile("" ::: "memory");
}

static void start(pthread_t *t, void *(*fn)(void *), const char *name)
{
	if (pthread_create(t, NULL, fn, NULL) != 0)
		abort();
	pthread_setname_np(*t, name);
}

int main(void)
{
	pthread_t t[NPARKED];
	sem_init(&sem, 0, 0);
	if (pipe(pfd) != 0)
		return 1;
	pthread_mutex_lock(&mu);
	start(&t[0], parked_in_mutex, "mutexwaiter");
	start(&t[1], parked_in_cond, "condwaiter");
	start(&t[2], parked_in_sem, "semwaiter");
	start(&sleeper, parked_in_sleep, "sleeper");
	t[3] = sleeper;
	start(&t[4], parked_in_read, "reader");
	start(&t[5], parked_in_join, "joiner");

	int (*stats)(struct gmp_stats *, size_t) = (int (*)(struct gmp_stats *, size_t))dlsym(RTLD_DEFAULT, "gmp_stats");
	struct gmp_stats s;
	for (int i = 0; i < 2000; i++) {
		if (!stats || (stats(&s, sizeof s) == 0 && s.waiting >= NPARKED))
			break;
		usleep(1000);
	}
	if (!stats)
		usleep(50 * 1000);
	all_parked();

	pthread_mutex_unlock(&mu);
	pthread_mutex_lock(&cmu);
	go = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&cmu);
	sem_post(&sem);
	if (write(pfd[1], "x", 1) != 1)
		return 1;
	for (int i = 0; i < NPARKED; i++)
		if (i != 3)
			pthread_join(t[i], NULL);
	printf("parked: ok\n");
	return 0;
}
