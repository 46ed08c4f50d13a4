/*
 * Threads that wait with the raw `syscall` instruction, as libgomp's
 * futex waits do: no libc function that gmp could see.  Eight threads
 * (more than the Ps) meet at a barrier made of raw futex calls every
 * round and take a lock made of them, and each checks its own TLS and
 * errno after every wait: a thread that slept in the kernel may have lost
 * its P to another kernel thread meanwhile, and comes back on its own.
 *
 * Under gmp such calls trap once sysmon has seen one asleep (GMP_RAWTRAP,
 * core/rawtrap.c): so the odd threads block SIGSYS, as a program may
 * (the trap must still reach gmp), every thread also makes a raw getppid
 * (a trapped call that is not a futex one), and a child forked after the
 * threads ended runs a second team (trapping starts over in the child).
 *
 * With the argument "pshared", two more threads wait on a process-shared
 * condition variable while the team runs (glibc's wait, trapped by
 * core/xwait.c with GMP_KWAITS=0): trapping raw calls must wait until
 * they are woken, and nothing may break meanwhile.
 *
 * Prints the same lines natively and under gmp; exits 1 on a broken check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 300

static long raw_syscall(long nr, long a, long b, long c)
{
	long r;
	register long r10 __asm__("r10") = 0;
	__asm__ volatile("syscall" : "=a"(r) : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return r;
}

static long raw_futex(_Atomic int *addr, int op, int val)
{
	return raw_syscall(SYS_futex, (long)addr, op, val);
}

static int nthreads = THREADS, rounds = ROUNDS;

/* A barrier: the last one in bumps the generation and wakes the rest. */
static _Atomic int arrived, generation;

static void barrier(void)
{
	int gen = atomic_load(&generation);
	if (atomic_fetch_add(&arrived, 1) == nthreads - 1) {
		atomic_store(&arrived, 0);
		atomic_fetch_add(&generation, 1);
		raw_futex(&generation, FUTEX_WAKE_PRIVATE, nthreads);
		return;
	}
	while (atomic_load(&generation) == gen)
		raw_futex(&generation, FUTEX_WAIT_PRIVATE, gen);
}

/* A lock: 0 free, 1 taken, 2 taken with waiters. */
static _Atomic int lockword;
static long counter; /* lockword */

static void lock(void)
{
	int z = 0;
	if (atomic_compare_exchange_strong(&lockword, &z, 1))
		return;
	while (atomic_exchange(&lockword, 2) != 0)
		raw_futex(&lockword, FUTEX_WAIT_PRIVATE, 2);
}

static void unlock(void)
{
	if (atomic_exchange(&lockword, 0) == 2)
		raw_futex(&lockword, FUTEX_WAKE_PRIVATE, 1);
}

static __thread long mine;
static _Atomic long sum, tls_bad, raw_bad;

static void *worker(void *arg)
{
	long id = (long)arg;
	mine = id;
	if (id & 1) {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGSYS);
		pthread_sigmask(SIG_BLOCK, &s, NULL);
	}
	for (int r = 0; r < rounds; r++) {
		errno = (int)id + 1;
		volatile unsigned x = 0;
		for (unsigned i = 0; i < 2000u * (unsigned)(id + 1); i++)
			x += i;
		lock();
		counter++;
		unlock();
		atomic_fetch_add(&sum, id);
		barrier();
		if (mine != id || errno != (int)id + 1)
			atomic_fetch_add(&tls_bad, 1);
		if (raw_syscall(SYS_getppid, 0, 0, 0) != getppid())
			atomic_fetch_add(&raw_bad, 1);
	}
	return NULL;
}

/* A team of n threads, r rounds each: 0 if every figure is right. */
static int team(int n, int r, bool print)
{
	nthreads = n;
	rounds = r;
	atomic_store(&generation, 0);
	atomic_store(&sum, 0);
	counter = 0;
	pthread_t t[THREADS];
	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			abort();
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	long want = (long)r * n * (n - 1) / 2;
	if (print)
		printf("rounds %d, barrier generations %d, locked increments %ld, sum %s, TLS and errno %s, "
		       "raw getppid %s\n",
		       r, atomic_load(&generation), counter, atomic_load(&sum) == want ? "right" : "WRONG",
		       atomic_load(&tls_bad) ? "CHANGED" : "kept", atomic_load(&raw_bad) ? "WRONG" : "right");
	return atomic_load(&sum) != want || atomic_load(&tls_bad) || atomic_load(&raw_bad) ||
	       counter != (long)r * n || atomic_load(&generation) != r;
}

static pthread_mutex_t pmu;
static pthread_cond_t pcv;
static int released, woken; /* pmu */

static void *pshared_waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pmu);
	while (!released)
		pthread_cond_wait(&pcv, &pmu);
	woken++;
	pthread_mutex_unlock(&pmu);
	return NULL;
}

int main(int argc, char **argv)
{
	bool pshared = argc > 1 && strcmp(argv[1], "pshared") == 0;
	pthread_t pw[2];
	if (pshared) {
		pthread_mutexattr_t ma;
		pthread_condattr_t ca;
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
		pthread_condattr_init(&ca);
		pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
		pthread_mutex_init(&pmu, &ma);
		pthread_cond_init(&pcv, &ca);
		for (int i = 0; i < 2; i++)
			if (pthread_create(&pw[i], NULL, pshared_waiter, NULL))
				abort();
	}
	int bad = team(THREADS, ROUNDS, true);
	if (pshared) {
		pthread_mutex_lock(&pmu);
		released = 1;
		pthread_cond_broadcast(&pcv);
		pthread_mutex_unlock(&pmu);
		for (int i = 0; i < 2; i++)
			pthread_join(pw[i], NULL);
		printf("process-shared waiters woken: %d\n", woken);
		bad |= woken != 2;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(team(4, 50, false));
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		abort();
	printf("child's team of 4, 50 rounds: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "right" : "WRONG");
	return bad || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
}
