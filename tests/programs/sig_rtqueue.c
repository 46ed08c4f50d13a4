/* Signals pending for the process while every thread blocks them, as the
 * kernel keeps them: each queued real-time instance is delivered once, with
 * its own value; a standard signal sent several times is one.
 *  1. 10 x sigqueue(SIGRTMIN) and 3 x kill(SIGUSR1) while all block them;
 *     sigpending() shows both; a thread unblocks: its handlers run 10 + 1
 *     times, with the values 0..9.
 *  2. A thread in sigwaitinfo takes 5 more queued before it waited and 5
 *     queued while it waits.
 *  3. Rounds of 3 queued instances that a thread unblocks, then exits
 *     while the next 3 come; the main thread takes what is left.
 * Values are printed sorted: under gmp two kernel threads may each take one
 * from the kernel's queue at the same time (docs/behaviour.md).  Natively:
 * the same lines. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)

static int got[256], nusr1;
static volatile int ngot;
static sigset_t both;

static void on_rt(int s, siginfo_t *si, void *u)
{
	(void)s;
	(void)u;
	if (ngot < 256)
		got[ngot++] = si->si_value.sival_int;
}

static void on_usr1(int s) { (void)s; nusr1++; }

static void queue(int v)
{
	union sigval sv = {.sival_int = v};
	CHECK(sigqueue(getpid(), SIGRTMIN, sv) == 0);
}

static void *unblocker(void *a)
{
	int want = (int)(long)a;
	CHECK(pthread_sigmask(SIG_UNBLOCK, &both, NULL) == 0); /* they all run here, now */
	for (int w = 0; w < 200 && ngot < want; w++)
		usleep(10000); /* (under gmp one still being passed on by a loaded machine comes just after) */
	return NULL;
}

static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static void print_got(const char *what)
{
	qsort(got, (size_t)ngot, sizeof got[0], cmp);
	printf("%s: %d:", what, ngot);
	for (int i = 0; i < ngot; i++)
		printf(" %d", got[i]);
	printf("\n");
	ngot = 0;
}

static void *waiter(void *a)
{
	(void)a;
	sigset_t rt;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	usleep(20000);
	for (int i = 0; i < 10; i++) {
		siginfo_t si;
		CHECK(sigwaitinfo(&rt, &si) == SIGRTMIN);
		got[ngot++] = si.si_value.sival_int;
	}
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigaction(SIGRTMIN, &sa, NULL) == 0);
	sa.sa_handler = on_usr1;
	sa.sa_flags = 0;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	sigemptyset(&both);
	sigaddset(&both, SIGRTMIN);
	sigaddset(&both, SIGUSR1);
	CHECK(pthread_sigmask(SIG_BLOCK, &both, NULL) == 0);

	/* 1 */
	for (int i = 0; i < 10; i++)
		queue(i);
	for (int i = 0; i < 3; i++)
		CHECK(kill(getpid(), SIGUSR1) == 0);
	usleep(20000); /* (under gmp a kernel thread that took one from the kernel may still be passing it on) */
	sigset_t p;
	CHECK(sigpending(&p) == 0);
	printf("pending: SIGRTMIN %d SIGUSR1 %d\n", sigismember(&p, SIGRTMIN), sigismember(&p, SIGUSR1));
	pthread_t t;
	CHECK(pthread_create(&t, NULL, unblocker, (void *)10L) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	print_got("unblocked in a thread, real-time");
	printf("SIGUSR1 handled %d time(s)\n", nusr1);

	/* 2 */
	for (int i = 100; i < 105; i++)
		queue(i);
	CHECK(pthread_create(&t, NULL, waiter, NULL) == 0);
	usleep(60000);
	for (int i = 105; i < 110; i++)
		queue(i);
	CHECK(pthread_join(t, NULL) == 0);
	print_got("sigwaitinfo");

	/* 3 */
	int total = 0;
	for (int r = 0; r < 20; r++) {
		for (int i = 0; i < 3; i++)
			queue(1000 + r * 3 + i);
		CHECK(pthread_create(&t, NULL, unblocker, (void *)0L) == 0);
		for (int i = 0; i < 3; i++)
			queue(2000 + r * 3 + i); /* to it, or left for the process when it is gone */
		CHECK(pthread_join(t, NULL) == 0);
		total += 6;
	}
	CHECK(pthread_sigmask(SIG_UNBLOCK, &both, NULL) == 0);
	for (int w = 0; w < 200 && ngot < total; w++)
		usleep(10000); /* one passed on as this thread unblocked comes just after */
	int n = ngot;
	qsort(got, (size_t)n, sizeof got[0], cmp);
	for (int r = 0; r < 20; r++)
		for (int i = 0; i < 3; i++) {
			CHECK(got[r * 3 + i] == 1000 + r * 3 + i);
			CHECK(got[60 + r * 3 + i] == 2000 + r * 3 + i);
		}
	printf("threads that exited: %d of %d instances delivered, each once\n", n, total);
	return 0;
}
