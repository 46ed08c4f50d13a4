/*
 * Process-directed signals (kill(getpid())) when only some threads take
 * them.  Senders take turns through a one-token semaphore that the handler
 * posts, so exactly one signal is in flight at a time and none can merge
 * with another: every signal sent must be handled, or a sender waits for
 * ever.  Only one thread at a time has SIGUSR1 unblocked, the others
 * (senders, a condvar waiter, main) block it; the taker changes mid-run:
 *   worker-exit-unblock: the busy worker exits, then main unblocks it and
 *       takes the rest while it waits in pthread_join;
 *   worker-exit-new: the busy worker exits, a new worker takes over;
 *   sigwait: the taker is a thread in sigwait (the signal stays blocked);
 *   sigsuspend: the taker waits in sigsuspend with it let in.
 * A signal sent while no thread can take it stays pending for the process
 * until one can (the kernel's rule).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PER_SENDER 150
#define NSENDERS 2

static sem_t token;
static atomic_int handled, sent;
static atomic_int stop;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int waiter_done;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&handled, 1);
	sem_post(&token);
}

static void mask(int how)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(how, &s, NULL);
}

static void *sender(void *arg)
{
	(void)arg;
	mask(SIG_BLOCK);
	for (int i = 0; i < PER_SENDER; i++) {
		while (sem_wait(&token) != 0)
			;
		atomic_fetch_add(&sent, 1);
		kill(getpid(), SIGUSR1);
	}
	return NULL;
}

static void *busy_worker(void *arg)
{
	(void)arg;
	mask(SIG_UNBLOCK);
	volatile unsigned long x = 0;
	while (!atomic_load(&stop))
		x++;
	return NULL;
}

static void *cond_waiter(void *arg)
{
	(void)arg;
	mask(SIG_BLOCK);
	pthread_mutex_lock(&mu);
	while (!waiter_done)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Takes signals with sigwait, the signal blocked, until all are counted. */
static void *sigwaiter(void *arg)
{
	(void)arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	while (atomic_load(&handled) < NSENDERS * PER_SENDER) {
		int sig;
		if (sigwait(&s, &sig) == 0 && sig == SIGUSR1)
			on_usr1(sig);
	}
	return NULL;
}

/* Takes signals in sigsuspend, with SIGUSR1 let in only there. */
static void *suspender(void *arg)
{
	(void)arg;
	sigset_t s;
	pthread_sigmask(SIG_SETMASK, NULL, &s);
	sigdelset(&s, SIGUSR1);
	while (atomic_load(&handled) < NSENDERS * PER_SENDER)
		sigsuspend(&s);
	return NULL;
}

static void wait_handled(int n)
{
	while (atomic_load(&handled) < n)
		usleep(200);
}

static void run(const char *name)
{
	atomic_store(&handled, 0);
	atomic_store(&sent, 0);
	atomic_store(&stop, 0);
	waiter_done = 0;
	sem_init(&token, 0, 1);
	mask(SIG_BLOCK);
	pthread_t s[NSENDERS], w, cw;
	pthread_create(&cw, NULL, cond_waiter, NULL);
	pthread_create(&w, NULL, busy_worker, NULL);
	for (int i = 0; i < NSENDERS; i++)
		pthread_create(&s[i], NULL, sender, NULL);
	wait_handled(NSENDERS * PER_SENDER / 3);
	atomic_store(&stop, 1);
	pthread_join(w, NULL); /* signals sent now wait for the next taker */

	pthread_t t = 0;
	if (!strcmp(name, "worker-exit-unblock")) {
		mask(SIG_UNBLOCK); /* main takes them, waiting in pthread_join below */
	} else if (!strcmp(name, "worker-exit-new")) {
		atomic_store(&stop, 0);
		pthread_create(&t, NULL, busy_worker, NULL);
	} else if (!strcmp(name, "sigwait")) {
		pthread_create(&t, NULL, sigwaiter, NULL);
	} else {
		pthread_create(&t, NULL, suspender, NULL);
	}
	for (int i = 0; i < NSENDERS; i++)
		pthread_join(s[i], NULL);
	wait_handled(NSENDERS * PER_SENDER);
	atomic_store(&stop, 1);
	if (t)
		pthread_join(t, NULL);
	pthread_mutex_lock(&mu);
	waiter_done = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(cw, NULL);
	mask(SIG_BLOCK);
	sigset_t p;
	sigpending(&p);
	printf("%s: sent %d, handled %d, pending after %d\n", name, atomic_load(&sent), atomic_load(&handled),
	       sigismember(&p, SIGUSR1));
	sem_destroy(&token);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	if (argc > 1) {
		run(argv[1]);
		return 0;
	}
	run("worker-exit-unblock");
	run("worker-exit-new");
	run("sigwait");
	run("sigsuspend");
	return 0;
}
