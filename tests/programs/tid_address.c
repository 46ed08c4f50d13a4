/* What stress-ng's pthread stressor does in each thread: read the kernel
 * thread's clear_child_tid address (prctl PR_GET_TID_ADDRESS), clear it and
 * set it back with set_tid_address through syscall(), and expect the tid
 * set_tid_address returns to equal gettid().  Natively always equal.
 * Prints the number of mismatches and exits 1 when there are any. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 8
#define ITERS 20000

static atomic_long mismatches, moved;

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITERS; i++) {
		uint64_t addr = 0;
		pid_t before = gettid();
		if (prctl(PR_GET_TID_ADDRESS, &addr, 0, 0, 0) != 0 || addr == 0)
			continue;
		syscall(SYS_set_tid_address, NULL);
		pid_t tid1 = (pid_t)syscall(SYS_set_tid_address, (void *)addr);
		pid_t tid2 = gettid();
		if (tid1 != tid2)
			atomic_fetch_add(&mismatches, 1);
		if (before != tid2)
			atomic_fetch_add(&moved, 1);
		if (i % 16 == 0)
			sched_yield();
	}
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("set_tid_address result != gettid(): %ld of %d; gettid() changed within one iteration: %ld\n",
	       atomic_load(&mismatches), THREADS * ITERS, atomic_load(&moved));
	return atomic_load(&mismatches) ? 1 : 0;
}
