/*
 * regress [CASE]: the bugs tests/stress/stress.c found, each reduced to a case
 * that failed (hung, aborted or miscounted) under gmp before its fix. An
 * ordinary pthread program: compare.sh runs it natively and under gmp.
 *
 *   fork_netpoll  a fork child shared the parent's epoll set: its poller took
 *                 the parent's one-shot events (a parent reader parked on a
 *                 pipe never woke) and reported fds whose parked Gs were
 *                 other threads ("gmp: fatal: G status is dead")
 *   fork_busy     forking from a thread whose P sysmon had retaken: the child
 *                 kept the P's stale P_RUNNING status and hung at its first
 *                 scheduling point
 *   fork_create   forking while other threads create threads: the child
 *                 inherited a TCB lock held by one of them and hung in its
 *                 first pthread_create
 *   cancel_async  asynchronous cancellation unwinds out of the SIGCANCEL
 *                 handler, leaving SIGCANCEL blocked on the kernel thread: the
 *                 next cancellation of a thread blocked in a kernel call
 *                 (pause) on that kernel thread never arrived
 *   kill_race     pthread_kill raced with the target leaving its kernel
 *                 thread: the handler ran on another thread (TLS counter
 *                 missed, a stray elsewhere)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c)                                                                       \
	do {                                                                           \
		if (!(c)) {                                                            \
			printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);            \
			fflush(stdout);                                                \
			_exit(1);                                                      \
		}                                                                      \
	} while (0)

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* ---- fork_netpoll */
static int park_pipe[2];
static void *parked_reader(void *arg)
{
	(void)arg;
	char b;
	CHECK(read(park_pipe[0], &b, 1) == 1 && b == 'p');
	return (void *)1;
}
static int child_pipe[2];
static void *child_writer(void *arg)
{
	(void)arg;
	sleep_ms(20); /* the child's reader parks first */
	CHECK(write(child_pipe[1], "c", 1) == 1);
	return NULL;
}
static void fork_netpoll(void)
{
	for (int round = 0; round < 5; round++) {
		CHECK(pipe(park_pipe) == 0);
		pthread_t r;
		CHECK(pthread_create(&r, NULL, parked_reader, NULL) == 0);
		sleep_ms(20); /* parked in read */
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			/* The child's own blocking read: its poller is used, and
			 * the parent's pipe is ready in the parent's epoll set. */
			CHECK(pipe(child_pipe) == 0);
			pthread_t w;
			if (pthread_create(&w, NULL, child_writer, NULL) != 0)
				_exit(2);
			char b;
			if (read(child_pipe[0], &b, 1) != 1 || b != 'c')
				_exit(3);
			pthread_join(w, NULL);
			_exit(0);
		}
		CHECK(write(park_pipe[1], "p", 1) == 1); /* the parent's reader must wake */
		void *ret;
		CHECK(pthread_join(r, &ret) == 0 && ret == (void *)1);
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		close(park_pipe[0]);
		close(park_pipe[1]);
	}
	printf("fork_netpoll: ok\n");
}

/* ---- fork_busy */
static _Atomic int busy_stop;
static pthread_mutex_t pp_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pp_c = PTHREAD_COND_INITIALIZER;
static long pp_n;
static void *pingpong(void *arg)
{
	long me = (long)(intptr_t)arg;
	pthread_mutex_lock(&pp_m);
	while (!atomic_load(&busy_stop)) {
		while (pp_n % 2 != me && !atomic_load(&busy_stop))
			pthread_cond_wait(&pp_c, &pp_m);
		pp_n++;
		pthread_cond_broadcast(&pp_c);
	}
	pthread_mutex_unlock(&pp_m);
	return NULL;
}
static void *child_thread(void *arg) { return arg; }

/* Fork; the child creates and joins a thread and exits 0; the parent checks that. */
static void fork_child_creates(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		pthread_t c;
		void *r;
		if (pthread_create(&c, NULL, child_thread, (void *)5) != 0 || pthread_join(c, &r) != 0 ||
		    r != (void *)5)
			_exit(2);
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
static void *forker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		struct timespec t0, t;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do /* 15 ms of user code: sysmon retakes this thread's P */
			clock_gettime(CLOCK_MONOTONIC, &t);
		while ((t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec < 15000000L);
		fork_child_creates();
	}
	return NULL;
}
static void fork_busy(void)
{
	pthread_t a, b, f;
	CHECK(pthread_create(&a, NULL, pingpong, (void *)0) == 0);
	CHECK(pthread_create(&b, NULL, pingpong, (void *)1) == 0);
	CHECK(pthread_create(&f, NULL, forker, NULL) == 0);
	CHECK(pthread_join(f, NULL) == 0);
	pthread_mutex_lock(&pp_m);
	atomic_store(&busy_stop, 1);
	pthread_cond_broadcast(&pp_c);
	pthread_mutex_unlock(&pp_m);
	CHECK(pthread_join(a, NULL) == 0 && pthread_join(b, NULL) == 0);
	printf("fork_busy: ok\n");
}

/* ---- fork_create */
static _Atomic int creators_stop;
static void *creator(void *arg)
{
	for (unsigned n = 1; !atomic_load(&creators_stop); n++) {
		if (n % 8 == 0)
			usleep(200); /* let the forking thread have the P too */
		pthread_t t;
		void *r;
		CHECK(pthread_create(&t, NULL, child_thread, arg) == 0);
		CHECK(pthread_join(t, &r) == 0 && r == arg);
	}
	return NULL;
}
static void fork_create(void)
{
	pthread_t c[3];
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&c[i], NULL, creator, (void *)(intptr_t)(i + 1)) == 0);
	for (int i = 0; i < 100; i++)
		fork_child_creates();
	atomic_store(&creators_stop, 1);
	for (int i = 0; i < 3; i++)
		CHECK(pthread_join(c[i], NULL) == 0);
	printf("fork_create: ok\n");
}

/* ---- cancel_async */
static void *pauser(void *arg)
{
	atomic_store((_Atomic int *)arg, 1);
	for (;;)
		pause();
	return NULL;
}
static void cancel_async(void)
{
	for (int i = 0; i < 50; i++) {
		_Atomic int started = 0;
		pthread_t t;
		void *r;
		CHECK(pthread_create(&t, NULL, pauser, (void *)&started) == 0);
		while (!atomic_load(&started))
			usleep(100);
		usleep(1000); /* in pause */
		CHECK(pthread_cancel(t) == 0);
		CHECK(pthread_join(t, &r) == 0 && r == PTHREAD_CANCELED);
	}
	printf("cancel_async: 50 threads cancelled in pause\n");
}

/* ---- kill_race */
static __thread _Atomic int *my_count;
static _Atomic int strays;
static void on_usr1(int sig)
{
	(void)sig;
	if (my_count)
		atomic_fetch_add(my_count, 1);
	else
		atomic_fetch_add(&strays, 1);
}
struct target {
	_Atomic int count, ready, stop;
};
static void *kill_target(void *arg)
{
	struct target *t = arg;
	my_count = &t->count;
	atomic_store(&t->ready, 1);
	for (unsigned n = 0; !atomic_load(&t->stop); n++)
		if (n % 2)
			sched_yield();
		else
			usleep(50);
	my_count = NULL;
	return NULL;
}
static void *busy_other(void *arg)
{
	while (!atomic_load((_Atomic int *)arg))
		sched_yield();
	return NULL;
}
static void kill_race(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	_Atomic int others_stop = 0;
	pthread_t o[3];
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&o[i], NULL, busy_other, (void *)&others_stop) == 0);
	struct target t = {0, 0, 0};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, kill_target, &t) == 0);
	while (!atomic_load(&t.ready))
		usleep(100);
	const int n = 2000;
	for (int i = 1; i <= n; i++) {
		CHECK(pthread_kill(th, SIGUSR1) == 0);
		struct timespec t0, now;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (atomic_load(&t.count) < i) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - t0.tv_sec > 10) {
				printf("FAIL: signal %d not handled by its thread (strays %d)\n", i, atomic_load(&strays));
				fflush(stdout);
				_exit(1);
			}
			sched_yield();
		}
	}
	atomic_store(&t.stop, 1);
	CHECK(pthread_join(th, NULL) == 0);
	atomic_store(&others_stop, 1);
	for (int i = 0; i < 3; i++)
		CHECK(pthread_join(o[i], NULL) == 0);
	CHECK(atomic_load(&t.count) == n && atomic_load(&strays) == 0);
	printf("kill_race: %d signals, each handled by its thread\n", n);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {{"fork_netpoll", fork_netpoll}, {"fork_busy", fork_busy}, {"fork_create", fork_create},
		     {"cancel_async", cancel_async},
		     {"kill_race", kill_race}};
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (argc < 2 || !strcmp(argv[1], cases[i].name))
			cases[i].fn();
	return 0;
}
