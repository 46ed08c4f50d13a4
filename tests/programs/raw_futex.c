/*
 * Threads that wait with the raw `syscall` instruction, as libgomp's
 * futex waits do: no libc function that gmp could see.  Eight threads
 * (more than the Ps) meet at a barrier made of raw futex calls every
 * round and take a lock made of them, and each checks its own TLS and
 * errno after every wait: a thread that slept in the kernel may have lost
 * its P to another kernel thread meanwhile, and comes back on its own.
 *
 * Prints the same lines natively and under gmp; exits 1 on a broken check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

#define THREADS 8
#define ROUNDS 300

static long raw_futex(_Atomic int *addr, int op, int val)
{
	long r;
	register long r10 __asm__("r10") = 0;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"((long)SYS_futex), "D"(addr), "S"((long)op), "d"((long)val), "r"(r10)
			 : "rcx", "r11", "memory");
	return r;
}

/* A barrier: the last one in bumps the generation and wakes the rest. */
static _Atomic int arrived, generation;

static void barrier(void)
{
	int gen = atomic_load(&generation);
	if (atomic_fetch_add(&arrived, 1) == THREADS - 1) {
		atomic_store(&arrived, 0);
		atomic_fetch_add(&generation, 1);
		raw_futex(&generation, FUTEX_WAKE_PRIVATE, THREADS);
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
static _Atomic long sum, tls_bad;

static void *worker(void *arg)
{
	long id = (long)arg;
	mine = id;
	for (int r = 0; r < ROUNDS; r++) {
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
	}
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			abort();
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	long want = (long)ROUNDS * THREADS * (THREADS - 1) / 2;
	printf("rounds %d, barrier generations %d, locked increments %ld, sum %s, TLS and errno %s\n", ROUNDS,
	       atomic_load(&generation), counter, atomic_load(&sum) == want ? "right" : "WRONG",
	       atomic_load(&tls_bad) ? "CHANGED" : "kept");
	return atomic_load(&sum) != want || atomic_load(&tls_bad) || counter != (long)ROUNDS * THREADS ||
	       atomic_load(&generation) != ROUNDS;
}
