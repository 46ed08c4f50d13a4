/*
 * A small program for the GMP_TRACE test: threads that contend on a mutex,
 * wait on a condition variable, sleep, read a pipe, make a blocking kernel
 * call (a raw rt_sigtimedwait, a hand-off call), spin so that another processor
 * steals work, and create and join each other.  It prints how many
 * threads it created in total (their goids are 2..N+1 under gmp, main is 1).
 *
 * "trace_prog _exit": four threads, then it says whether GMP_TRACE is still
 * in its environment, sleeps 500 ms (the trace writer converts what is
 * recorded every 100 ms) and ends with _exit(3), skipping the flush.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_int locked, ready;
static int pipefd[2];
static atomic_int created = 0;

static void die(const char *what)
{
	fprintf(stderr, "trace_prog: %s failed\n", what);
	exit(1);
}

static pthread_t spawn(void *(*fn)(void *), void *arg, const char *name)
{
	pthread_t t;
	if (pthread_create(&t, NULL, fn, arg) != 0)
		die("pthread_create");
	atomic_fetch_add(&created, 1);
	if (name)
		pthread_setname_np(t, name);
	return t;
}

static void join(pthread_t t)
{
	if (pthread_join(t, NULL) != 0)
		die("pthread_join");
}

/* Holds the mutex for 30 ms (asleep), so that contender parks on it. */
static void *holder(void *arg)
{
	pthread_mutex_lock(&mu);
	atomic_store(&locked, 1);
	usleep(30000);
	pthread_mutex_unlock(&mu);
	return arg;
}

static void *contender(void *arg)
{
	while (!atomic_load(&locked))
		sched_yield();
	pthread_mutex_lock(&mu);
	pthread_mutex_unlock(&mu);
	return arg;
}

static void *waiter(void *arg)
{
	pthread_mutex_lock(&mu);
	atomic_store(&ready, 1);
	while (atomic_load(&ready) != 2)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return arg;
}

static void *reader(void *arg)
{
	char c;
	if (read(pipefd[0], &c, 1) != 1 || c != 'x')
		die("read");
	return arg;
}

/*
 * A hand-off call that blocks 100 ms: sysmon retakes its P.  (A raw
 * rt_sigtimedwait through syscall(): glibc's sigtimedwait parks the G.)
 */
static void *blocker(void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct timespec to = {0, 100 * 1000 * 1000};
	if (syscall(SYS_rt_sigtimedwait, &set, NULL, &to, 8) != -1)
		die("rt_sigtimedwait");
	return arg;
}

/* Runs user code for ns of wall time, without a scheduling point. */
static void spin_for(long ns)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ns);
}

/* 3 ms of CPU: a burst of these on one processor is work for the other to steal. */
static void *spinner(void *arg)
{
	spin_for(3000000);
	return arg;
}

/*
 * User code without a scheduling point, at least 60 ms and until the 40
 * spinners are done, so it runs while they wait for a processor however
 * the machine is loaded (wall time alone ran out before they came, once):
 * sysmon preempts it (a "preempted" event).  (Retakes of a P from a kernel
 * call depend on timing, the blocker's shim may hand the P off itself: not
 * required.)
 */
static atomic_int spinners_done;

/*
 * The hog's loop is mostly its own instructions, with a clock read now and
 * then: where the preemption signal lands is then nearly always a safe
 * point.  (In clock_gettime, inside glibc, a point is safe only from the
 * third request on and when a scan of the stack finds the program as the
 * caller first; the scan reads words glibc's frames may leave stale, and a
 * change of code layout in gmp's wrappers alone made it find no safe point
 * for a whole slice in 1 run of 10.)
 */
static void hog_for(long ns)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		for (volatile int i = 0; i < 4000; i++)
			;
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ns);
}

static void *hog(void *arg)
{
	hog_for(60000000);
	while (!atomic_load(&spinners_done))
		hog_for(1000000);
	return arg;
}

/* Creates and joins a child: creation from a thread other than main. */
static void *parent(void *arg)
{
	join(spawn(spinner, NULL, NULL));
	return arg;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "_exit") == 0) {
		pthread_t s[4];
		for (int i = 0; i < 4; i++)
			s[i] = spawn(spinner, NULL, NULL);
		for (int i = 0; i < 4; i++)
			join(s[i]);
		printf("GMP_TRACE %s\n", getenv("GMP_TRACE") ? "set" : "unset");
		fflush(stdout);
		usleep(500000);
		_exit(3);
	}
	if (pipe(pipefd) != 0)
		die("pipe");
	pthread_t t[8];
	t[0] = spawn(holder, NULL, "holder");
	t[1] = spawn(contender, NULL, "contender");
	t[2] = spawn(waiter, NULL, "waiter");
	t[3] = spawn(reader, NULL, "reader");
	t[4] = spawn(blocker, NULL, "blocker");
	t[5] = spawn(parent, NULL, "parent");
	t[6] = spawn(hog, NULL, "hog");

	while (!atomic_load(&ready))
		usleep(1000);
	usleep(20000); /* the waiter is in pthread_cond_wait, the reader in read */
	pthread_mutex_lock(&mu);
	atomic_store(&ready, 2);
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	if (write(pipefd[1], "x", 1) != 1)
		die("write");

	pthread_t s[40];
	for (int i = 0; i < 40; i++)
		s[i] = spawn(spinner, NULL, NULL);
	for (int i = 0; i < 40; i++)
		join(s[i]);
	atomic_store(&spinners_done, 1);
	for (int i = 0; i < 7; i++)
		join(t[i]);
	printf("threads %d\n", atomic_load(&created));
	return 0;
}
