/*
 * Real-time scheduling among threads (SCHED_FIFO).  Needs CAP_SYS_NICE or
 * RLIMIT_RTPRIO >= 30; otherwise it checks only that FIFO is refused with
 * EPERM and says so (the same text natively and under gmp).
 *   - PTHREAD_INHERIT_SCHED gives the creator's policy and priority,
 *     PTHREAD_EXPLICIT_SCHED the attribute's;
 *   - waiters are woken highest priority first: eight FIFO threads of
 *     different priorities block on one mutex, on one semaphore and on one
 *     condvar; each wake-up lets exactly one through, which records its
 *     priority before the next.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N 8
static const int prios[N] = {12, 27, 5, 19, 30, 8, 22, 15}; /* creation order */

static int order[N], norder;
static pthread_mutex_t olock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t mu;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t cvmu = PTHREAD_MUTEX_INITIALIZER;
static sem_t sem;
static int turns;
static int mode; /* 0 mutex, 1 semaphore, 2 condvar */

static void record(void)
{
	int pol;
	struct sched_param sp;
	pthread_getschedparam(pthread_self(), &pol, &sp);
	pthread_mutex_lock(&olock);
	order[norder++] = sp.sched_priority;
	pthread_mutex_unlock(&olock);
}

static void *waiter(void *arg)
{
	(void)arg;
	switch (mode) {
	case 0:
		pthread_mutex_lock(&mu);
		record();
		pthread_mutex_unlock(&mu);
		break;
	case 1:
		while (sem_wait(&sem) != 0)
			;
		record();
		break;
	case 2:
		pthread_mutex_lock(&cvmu);
		while (turns == 0)
			pthread_cond_wait(&cv, &cvmu);
		turns--;
		record();
		pthread_mutex_unlock(&cvmu);
		break;
	}
	return NULL;
}

static void pause_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

static int recorded(void)
{
	pthread_mutex_lock(&olock);
	int n = norder;
	pthread_mutex_unlock(&olock);
	return n;
}

static void run(const char *name)
{
	pthread_t t[N];
	norder = 0;
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutex_init(&mu, &ma);
	sem_init(&sem, 0, 0);
	turns = 0;
	if (mode == 0)
		pthread_mutex_lock(&mu);
	for (int i = 0; i < N; i++) {
		pthread_attr_t a;
		struct sched_param sp = {.sched_priority = prios[i]};
		pthread_attr_init(&a);
		pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(&a, SCHED_FIFO);
		pthread_attr_setschedparam(&a, &sp);
		int err = pthread_create(&t[i], &a, waiter, NULL);
		if (err) {
			printf("%s: pthread_create: %s\n", name, strerror(err));
			exit(1);
		}
		pthread_attr_destroy(&a);
	}
	pause_ms(200); /* all of them are waiting now */
	if (mode == 0) {
		pthread_mutex_unlock(&mu); /* each one hands it to the highest waiter left */
	} else {
		for (int i = 0; i < N; i++) {
			if (mode == 1) {
				sem_post(&sem);
			} else {
				pthread_mutex_lock(&cvmu);
				turns++;
				pthread_cond_signal(&cv);
				pthread_mutex_unlock(&cvmu);
			}
			while (recorded() < i + 1)
				pause_ms(1);
		}
	}
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	printf("%s:", name);
	for (int i = 0; i < norder; i++)
		printf(" %d", order[i]);
	printf("\n");
	fflush(stdout);
}

static void *report(void *arg)
{
	int pol;
	struct sched_param sp;
	pthread_getschedparam(pthread_self(), &pol, &sp);
	snprintf(arg, 64, "%s %d", pol == SCHED_FIFO ? "FIFO" : pol == SCHED_OTHER ? "OTHER" : "other",
		 sp.sched_priority);
	return NULL;
}

static void *creator(void *arg)
{
	(void)arg;
	static char inh[64], expl[64];
	pthread_t t;
	pthread_create(&t, NULL, report, inh); /* default attributes: inherit */
	pthread_join(t, NULL);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_OTHER);
	int err = pthread_create(&t, &a, report, expl);
	if (err)
		snprintf(expl, sizeof expl, "%s", strerror(err));
	else
		pthread_join(t, NULL);
	printf("created by a FIFO 17 thread: inherited %s, explicit OTHER gives %s\n", inh, expl);
	return NULL;
}

int main(void)
{
	/* Can we use SCHED_FIFO at all here? */
	pthread_attr_t a;
	struct sched_param sp = {.sched_priority = 17};
	pthread_attr_init(&a);
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_FIFO);
	pthread_attr_setschedparam(&a, &sp);
	pthread_t t;
	int err = pthread_create(&t, &a, creator, NULL);
	if (err == EPERM) {
		printf("SCHED_FIFO refused with EPERM (no CAP_SYS_NICE, RLIMIT_RTPRIO too low): nothing else to check\n");
		return 0;
	}
	if (err) {
		printf("pthread_create FIFO: %s\n", strerror(err));
		return 1;
	}
	pthread_join(t, NULL);
	fflush(stdout);
	const char *names[] = {"mutex", "semaphore", "condvar"};
	for (mode = 0; mode < 3; mode++)
		run(names[mode]);
	/* the calling thread's own policy, through either interface */
	struct sched_param mine = {.sched_priority = 3}, back;
	int r1 = pthread_setschedparam(pthread_self(), SCHED_FIFO, &mine);
	int pol = sched_getscheduler(0);
	sched_getparam(0, &back);
	mine.sched_priority = 0;
	int r2 = sched_setscheduler(0, SCHED_OTHER, &mine);
	printf("main: pthread_setschedparam FIFO 3 -> %d, sched_getscheduler %s %d, back to OTHER -> %d (%s)\n", r1,
	       pol == SCHED_FIFO ? "FIFO" : "other", back.sched_priority, r2,
	       sched_getscheduler(0) == SCHED_OTHER ? "OTHER" : "other");
	mine.sched_priority = 200;
	errno = 0;
	int r3 = sched_setscheduler(0, SCHED_FIFO, &mine);
	printf("sched_setscheduler FIFO 200: %d %s\n", r3, strerror(errno));
	return 0;
}
