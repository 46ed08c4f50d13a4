/*
 * Signals that gmp's kernel masks never block (SIGURG for preemption, and
 * SIGSYS once raw system calls trap: core/rawtrap.c), sent by the program
 * while its threads block them: each stays pending, for the process (kill)
 * and for one thread (pthread_kill), as the kernel keeps a blocked signal,
 * and its handler runs once when the thread unblocks it.
 *
 * Prints the same lines natively and under gmp.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static _Atomic int ran[65];
static _Atomic int stop;

static void on_sig(int sig) { ran[sig]++; }

static void *spin(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		volatile unsigned x = 0;
		for (unsigned i = 0; i < 100000; i++)
			x += i;
	}
	return NULL;
}

struct target {
	int sig;
	_Atomic int stage;
	int pending, ran_blocked, ran_after;
};

/* Blocks sig, waits to be sent it, looks, unblocks. */
static void *blocker(void *arg)
{
	struct target *t = arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, t->sig);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	atomic_store(&t->stage, 1);
	while (atomic_load(&t->stage) < 2)
		usleep(1000);
	usleep(20000);
	sigset_t p;
	sigpending(&p);
	t->pending = sigismember(&p, t->sig);
	t->ran_blocked = atomic_load(&ran[t->sig]);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	t->ran_after = atomic_load(&ran[t->sig]);
	return NULL;
}

static void one(int sig, const char *name)
{
	atomic_store(&ran[sig], 0);
	signal(sig, on_sig);
	sigset_t s, old;
	sigemptyset(&s);
	sigaddset(&s, sig);

	/* for one thread */
	struct target t = {.sig = sig};
	pthread_t th;
	pthread_create(&th, NULL, blocker, &t);
	while (atomic_load(&t.stage) < 1)
		usleep(1000);
	pthread_kill(th, sig);
	atomic_store(&t.stage, 2);
	pthread_join(th, NULL);
	printf("%s to a thread that blocks it: pending %d, ran while blocked %d, ran after unblocking %d\n", name,
	       t.pending, t.ran_blocked, t.ran_after);

	/* for the process, every thread blocking it (the spinners inherit the mask) */
	atomic_store(&ran[sig], 0);
	pthread_sigmask(SIG_BLOCK, &s, &old);
	atomic_store(&stop, 0);
	pthread_t sp[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&sp[i], NULL, spin, NULL);
	usleep(20000);
	kill(getpid(), sig);
	usleep(50000);
	sigset_t p;
	sigpending(&p);
	int pend = sigismember(&p, sig), before = atomic_load(&ran[sig]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	printf("%s to the process, every thread blocking it: pending %d, ran while blocked %d, ran after unblocking %d\n",
	       name, pend, before, atomic_load(&ran[sig]));
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(sp[i], NULL);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	one(SIGSYS, "SIGSYS");
	one(SIGURG, "SIGURG");
	return 0;
}
