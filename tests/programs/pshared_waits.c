/* Many threads of two processes waiting at once on process-shared objects
 * (under gmp with GMP_KWAITS=0 every such wait is trapped and parked,
 * core/xwait.c; natively each sleeps in the kernel):
 *  - a bounded queue between the processes under a shared mutex and two
 *    shared condvars: every item produced is consumed once (sums checked);
 *  - a shared mutex fought over by every thread of both processes (count);
 *  - tokens passed through a shared semaphore, and a shared barrier round;
 *  - timed waits that time out (condvars on CLOCK_REALTIME and
 *    CLOCK_MONOTONIC, sem_timedwait, pthread_mutex_timedlock);
 *  - a shared-condvar waiter cancelled: its cleanup handler runs with the
 *    mutex held, and it joins as PTHREAD_CANCELED;
 *  - a sem_wait interrupted by a signal handler: EINTR, the handler ran once.
 * Seeded random pauses change the interleaving; the output does not depend
 * on it.  Usage: pshared_waits [SEED [THREADS [ITEMS]]] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)
#define QCAP 8

struct shared {
	pthread_mutex_t qm, cm, xm;
	pthread_cond_t notempty, notfull, never_rt, never_mono, cancel_cv;
	sem_t tokens, never_sem;
	pthread_barrier_t bar;
	long q[QCAP];
	int qhead, qlen;
	long produced_sum, consumed_sum, consumed;
	long count;
	int cancel_waiting, cleanup_ran;
};
static struct shared *sh;
static int nthreads = 24, nitems = 300;
static unsigned seed = 1;

static void pause_rand(unsigned *r)
{
	*r = *r * 1103515245 + 12345;
	if ((*r >> 16) % 8 == 0) {
		struct timespec ts = {0, (long)((*r >> 8) % 200) * 1000};
		nanosleep(&ts, NULL);
	}
}

static void put(long v)
{
	CHECK(pthread_mutex_lock(&sh->qm) == 0);
	while (sh->qlen == QCAP)
		CHECK(pthread_cond_wait(&sh->notfull, &sh->qm) == 0);
	sh->q[(sh->qhead + sh->qlen++) % QCAP] = v;
	sh->produced_sum += v;
	CHECK(pthread_cond_signal(&sh->notempty) == 0);
	CHECK(pthread_mutex_unlock(&sh->qm) == 0);
}

static long get(void)
{
	CHECK(pthread_mutex_lock(&sh->qm) == 0);
	while (sh->qlen == 0)
		CHECK(pthread_cond_wait(&sh->notempty, &sh->qm) == 0);
	long v = sh->q[sh->qhead];
	sh->qhead = (sh->qhead + 1) % QCAP;
	sh->qlen--;
	sh->consumed_sum += v;
	sh->consumed++;
	CHECK(pthread_cond_signal(&sh->notfull) == 0);
	CHECK(pthread_mutex_unlock(&sh->qm) == 0);
	return v;
}

/* Parent threads produce, child threads consume; all fight over cm and pass tokens. */
static void *worker(void *arg)
{
	long id = (long)arg;
	int producer = id >= 0;
	unsigned r = seed * 7919 + (unsigned)(id + 1000);
	for (int i = 0; i < nitems; i++) {
		if (producer)
			put(id * 100000 + i + 1);
		else
			(void)get();
		CHECK(pthread_mutex_lock(&sh->cm) == 0);
		sh->count++;
		pause_rand(&r);
		CHECK(pthread_mutex_unlock(&sh->cm) == 0);
		if (i % 16 == 0) {
			while (sem_wait(&sh->tokens) != 0)
				CHECK(errno == EINTR);
			pause_rand(&r);
			CHECK(sem_post(&sh->tokens) == 0);
		}
	}
	int b = pthread_barrier_wait(&sh->bar);
	CHECK(b == 0 || b == PTHREAD_BARRIER_SERIAL_THREAD);
	return NULL;
}

static void add_ns(struct timespec *ts, long ns)
{
	ts->tv_nsec += ns;
	while (ts->tv_nsec >= 1000000000) {
		ts->tv_nsec -= 1000000000;
		ts->tv_sec++;
	}
}

static void timeouts(void)
{
	struct timespec ts;
	CHECK(pthread_mutex_lock(&sh->xm) == 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	add_ns(&ts, 30000000);
	CHECK(pthread_cond_timedwait(&sh->never_rt, &sh->xm, &ts) == ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	add_ns(&ts, 30000000);
	CHECK(pthread_cond_timedwait(&sh->never_mono, &sh->xm, &ts) == ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	add_ns(&ts, 30000000);
	CHECK(pthread_cond_clockwait(&sh->never_rt, &sh->xm, CLOCK_MONOTONIC, &ts) == ETIMEDOUT);
	CHECK(pthread_mutex_unlock(&sh->xm) == 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	add_ns(&ts, 30000000);
	CHECK(sem_timedwait(&sh->never_sem, &ts) == -1 && errno == ETIMEDOUT);
	printf("timed waits: ETIMEDOUT x4\n");
}

static void *locker(void *arg)
{
	(void)arg;
	CHECK(pthread_mutex_lock(&sh->xm) == 0);
	struct timespec ts = {0, 200 * 1000000};
	nanosleep(&ts, NULL);
	CHECK(pthread_mutex_unlock(&sh->xm) == 0);
	return NULL;
}

static void timedlock(void)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, locker, NULL) == 0);
	struct timespec ts = {0, 50 * 1000000};
	nanosleep(&ts, NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	add_ns(&ts, 20000000);
	CHECK(pthread_mutex_timedlock(&sh->xm, &ts) == ETIMEDOUT);
	CHECK(pthread_mutex_lock(&sh->xm) == 0); /* the holder lets go: woken */
	CHECK(pthread_mutex_unlock(&sh->xm) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	printf("timedlock: ETIMEDOUT, then the lock once free\n");
}

static void cleanup(void *arg)
{
	(void)arg;
	sh->cleanup_ran++; /* the mutex is held again, as POSIX says */
	CHECK(pthread_mutex_unlock(&sh->xm) == 0);
}

static void *cancel_waiter(void *arg)
{
	(void)arg;
	CHECK(pthread_mutex_lock(&sh->xm) == 0);
	pthread_cleanup_push(cleanup, NULL);
	sh->cancel_waiting = 1;
	for (;;)
		pthread_cond_wait(&sh->cancel_cv, &sh->xm);
	pthread_cleanup_pop(1);
	return NULL;
}

static void cancel_case(void)
{
	for (int round = 0; round < 3; round++) {
		pthread_t t;
		sh->cancel_waiting = 0;
		CHECK(pthread_create(&t, NULL, cancel_waiter, NULL) == 0);
		for (;;) {
			CHECK(pthread_mutex_lock(&sh->xm) == 0);
			int w = sh->cancel_waiting;
			CHECK(pthread_mutex_unlock(&sh->xm) == 0);
			if (w)
				break;
			usleep(1000);
		}
		usleep(20000); /* well inside its wait */
		CHECK(pthread_cancel(t) == 0);
		void *res;
		CHECK(pthread_join(t, &res) == 0);
		CHECK(res == PTHREAD_CANCELED);
	}
	CHECK(pthread_mutex_trylock(&sh->xm) == 0); /* the cleanup handlers let it go */
	CHECK(pthread_mutex_unlock(&sh->xm) == 0);
	printf("cancelled condvar waiters: %d cleanups, mutex free\n", sh->cleanup_ran);
}

static volatile sig_atomic_t handled;
static void on_usr1(int s)
{
	(void)s;
	handled++;
}

static void *sem_sleeper(void *arg)
{
	int *res = arg;
	int r = sem_wait(&sh->never_sem);
	*res = r == -1 ? errno : 0;
	return NULL;
}

static void signal_case(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = 0; /* without SA_RESTART: sem_wait fails with EINTR (signal(7)) */
	sigaction(SIGUSR1, &sa, NULL);
	int res = -1;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, sem_sleeper, &res) == 0);
	usleep(50000);
	CHECK(pthread_kill(t, SIGUSR1) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	printf("sem_wait interrupted: %s, handler ran %d time(s)\n", res == EINTR ? "EINTR" : strerror(res),
	       (int)handled);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		seed = (unsigned)atoi(argv[1]);
	if (argc > 2)
		nthreads = atoi(argv[2]);
	if (argc > 3)
		nitems = atoi(argv[3]);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	pthread_barrierattr_t ba;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	CHECK(pthread_mutex_init(&sh->qm, &ma) == 0);
	CHECK(pthread_mutex_init(&sh->cm, &ma) == 0);
	CHECK(pthread_mutex_init(&sh->xm, &ma) == 0);
	CHECK(pthread_cond_init(&sh->notempty, &ca) == 0);
	CHECK(pthread_cond_init(&sh->notfull, &ca) == 0);
	CHECK(pthread_cond_init(&sh->never_rt, &ca) == 0);
	CHECK(pthread_cond_init(&sh->cancel_cv, &ca) == 0);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	CHECK(pthread_cond_init(&sh->never_mono, &ca) == 0);
	CHECK(sem_init(&sh->tokens, 1, 3) == 0);
	CHECK(sem_init(&sh->never_sem, 1, 0) == 0);
	CHECK(pthread_barrier_init(&sh->bar, &ba, (unsigned)(2 * nthreads)) == 0);

	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	pthread_t *t = calloc((size_t)nthreads, sizeof *t);
	for (long i = 0; i < nthreads; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)(pid == 0 ? -1 - i : i)) == 0);
	for (int i = 0; i < nthreads; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	if (pid == 0)
		_exit(0);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	long want = 0;
	for (long i = 0; i < nthreads; i++)
		for (int k = 0; k < nitems; k++)
			want += i * 100000 + k + 1;
	CHECK(sh->produced_sum == want && sh->consumed_sum == want);
	printf("queue: %ld items across two processes, sums match\n", sh->consumed);
	printf("shared mutex: count %ld\n", sh->count);
	int v;
	CHECK(sem_getvalue(&sh->tokens, &v) == 0);
	printf("tokens back: %d\n", v);
	timeouts();
	timedlock();
	cancel_case();
	signal_case();
	return 0;
}
