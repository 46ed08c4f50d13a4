/*
 * sigwait, sigwaitinfo and sigtimedwait: what each returns and with which
 * siginfo, whoever sends the signal and whenever.  Under gmp these park the
 * thread (core/sigwait.c), so the test also bounds the kernel threads:
 *
 *   1. eight threads poll with sigtimedwait and a 1 ms timeout, 100 times
 *      each (a stress-ng pattern): every call times out with EAGAIN;
 *   2. a waiter takes, in order: pthread_kill; five pthread_sigqueue values
 *      of a real-time signal, in order; a raise of its own from before it
 *      waited; kill to the process; a kill from a child process (its pid in
 *      si_pid); SIGCHLD of a child that exits (and another thread finds the
 *      first child's SIGCHLD pending with a zero timeout once it reaped it);
 *   3. a signal sent to the process while nobody waits stays pending
 *      (sigpending shows it) until a sigwait takes it;
 *   4. a zero timeout with nothing pending: EAGAIN, the siginfo untouched;
 *      bad timeouts: EINVAL;
 *   5. a handler of another signal that runs ends the wait with EINTR;
 *      sigwait itself goes on waiting; a handler that jumps out of the
 *      wait, and the thread that waits again after it;
 *   6. pthread_cancel of a thread in sigwait: its cleanup runs;
 *   7. four waiters share 400 queued real-time signals sent to the process
 *      with sigqueue: each value arrives exactly once;
 *   8. a forked child waits for a signal from its parent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c)                                                              \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
			exit(1);                                              \
		}                                                             \
	} while (0)

static sigset_t only(int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	return s;
}

/* 1 */
static void *poller(void *arg)
{
	(void)arg;
	sigset_t s = only(SIGUSR1);
	long timeouts = 0;
	for (int i = 0; i < 100; i++) {
		siginfo_t si;
		struct timespec t = {0, 1000000};
		if (sigtimedwait(&s, &si, &t) == -1 && errno == EAGAIN)
			timeouts++;
	}
	return (void *)timeouts;
}

/* 2 */
static _Atomic int step;

static void wait_step(int n)
{
	while (atomic_load(&step) < n)
		usleep(1000);
}

static void *waiter(void *arg)
{
	(void)arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	sigaddset(&s, SIGRTMIN);
	siginfo_t si;
	int sig;
	atomic_store(&step, 1);
	CHECK(sigwait(&s, &sig) == 0 && sig == SIGUSR2);
	printf("pthread_kill: SIGUSR2\n");
	atomic_store(&step, 2);
	wait_step(3); /* all five queued first */
	for (int i = 0; i < 5; i++) {
		CHECK(sigwaitinfo(&s, &si) == SIGRTMIN);
		CHECK(si.si_code == SI_QUEUE && si.si_value.sival_int == 100 + i);
	}
	printf("pthread_sigqueue: 5 values in order\n");
	CHECK(raise(SIGUSR2) == 0);
	CHECK(sigwaitinfo(&s, &si) == SIGUSR2 && si.si_code == SI_USER && si.si_pid == getpid());
	printf("raise then sigwaitinfo: SI_USER (glibc folds SI_TKILL)\n");
	atomic_store(&step, 4);
	CHECK(sigwaitinfo(&s, &si) == SIGUSR2 && si.si_code == SI_USER && si.si_pid == getpid());
	printf("kill to the process: SI_USER from ourselves\n");
	atomic_store(&step, 5);
	struct timespec t = {10, 0};
	CHECK(sigtimedwait(&s, &si, &t) == SIGUSR2 && si.si_code == SI_USER);
	printf("kill from a child: SI_USER from %s\n", si.si_pid != getpid() ? "the child" : "us");
	sigset_t c = only(SIGCHLD);
	atomic_store(&step, 6);
	wait_step(7); /* the first child reaped, its SIGCHLD taken */
	CHECK(sigtimedwait(&c, &si, &t) == SIGCHLD && si.si_code == CLD_EXITED && si.si_status == 7);
	printf("SIGCHLD: CLD_EXITED, status 7\n");
	return NULL;
}

static void test_waiter(void)
{
	pthread_t w;
	CHECK(pthread_create(&w, NULL, waiter, NULL) == 0);
	wait_step(1);
	usleep(20000); /* parked by now */
	CHECK(pthread_kill(w, SIGUSR2) == 0);
	wait_step(2);
	for (int i = 0; i < 5; i++)
		CHECK(pthread_sigqueue(w, SIGRTMIN, (union sigval){.sival_int = 100 + i}) == 0);
	atomic_store(&step, 3);
	wait_step(4);
	usleep(20000);
	CHECK(kill(getpid(), SIGUSR2) == 0);
	wait_step(5);
	usleep(20000);
	pid_t c = fork();
	if (c == 0) {
		kill(getppid(), SIGUSR2);
		_exit(0);
	}
	CHECK(c > 0);
	wait_step(6);
	/* the first child's SIGCHLD is pending once waitpid has reaped it: taken here with a zero timeout */
	CHECK(waitpid(c, NULL, 0) == c);
	sigset_t sc = only(SIGCHLD);
	siginfo_t si;
	struct timespec zero = {0, 0};
	printf("SIGCHLD pending after waitpid: %s\n", sigtimedwait(&sc, &si, &zero) == SIGCHLD ? "yes" : "no");
	atomic_store(&step, 7);
	usleep(20000);
	c = fork();
	if (c == 0)
		_exit(7);
	CHECK(pthread_join(w, NULL) == 0);
	CHECK(waitpid(c, NULL, 0) == c);
}

/* 3 */
static void test_pending(void)
{
	sigset_t s = only(SIGUSR2), p;
	CHECK(kill(getpid(), SIGUSR2) == 0);
	usleep(20000);
	CHECK(sigpending(&p) == 0);
	printf("sent while nobody waits: %s\n", sigismember(&p, SIGUSR2) ? "pending" : "not pending");
	int sig;
	CHECK(sigwait(&s, &sig) == 0 && sig == SIGUSR2);
	CHECK(sigpending(&p) == 0);
	printf("after sigwait: %s\n", sigismember(&p, SIGUSR2) ? "pending" : "not pending");
}

/* 4 */
static void test_timeouts(void)
{
	sigset_t s = only(SIGUSR2);
	siginfo_t si;
	memset(&si, 0x5a, sizeof si);
	struct timespec zero = {0, 0};
	errno = 0;
	int r = sigtimedwait(&s, &si, &zero);
	printf("zero timeout: %d %s, siginfo %s\n", r, strerror(errno), si.si_signo == 0x5a5a5a5a ? "untouched" : "written");
	const struct timespec bad[] = {{0, -1}, {0, 1000000000}, {-1, 0}};
	for (int i = 0; i < 3; i++) {
		errno = 0;
		r = sigtimedwait(&s, &si, &bad[i]);
		printf("timeout {%ld, %ld}: %d %s\n", (long)bad[i].tv_sec, bad[i].tv_nsec, r, strerror(errno));
	}
}

/* 5 */
static _Atomic int hups;
static void on_hup(int sig)
{
	(void)sig;
	atomic_fetch_add(&hups, 1);
}

static _Atomic int intr_ready;

static void *intr_waiter(void *arg)
{
	sigset_t s = only(SIGUSR1);
	struct timespec t = {10, 0};
	atomic_store(&intr_ready, 1);
	errno = 0;
	int r = sigtimedwait(&s, NULL, &t);
	printf("sigtimedwait, a handler ran: %d %s, handler ran %d time(s)\n", r, strerror(errno), atomic_load(&hups));
	atomic_store(&intr_ready, 2);
	int sig;
	r = sigwait(&s, &sig); /* glibc's sigwait goes on after a handler */
	printf("sigwait after a handler: %d, %s\n", r, sig == SIGUSR1 ? "SIGUSR1" : "other");
	return arg;
}

static void test_eintr(void)
{
	struct sigaction a = {.sa_handler = on_hup};
	CHECK(sigaction(SIGHUP, &a, NULL) == 0);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, intr_waiter, NULL) == 0);
	while (atomic_load(&intr_ready) != 1)
		usleep(1000);
	usleep(20000);
	CHECK(pthread_kill(t, SIGHUP) == 0);
	while (atomic_load(&intr_ready) != 2)
		usleep(1000);
	usleep(20000);
	CHECK(pthread_kill(t, SIGHUP) == 0);
	usleep(20000);
	CHECK(pthread_kill(t, SIGUSR1) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	printf("handler ran %d times in all\n", atomic_load(&hups));
}

/* 5, again: a handler that jumps out of the wait; the thread waits again afterwards */
static sigjmp_buf jump_env;
static void on_hup_jump(int sig)
{
	(void)sig;
	siglongjmp(jump_env, 1);
}

static _Atomic int jump_ready;

static void *jump_waiter(void *arg)
{
	sigset_t s = only(SIGUSR1);
	if (sigsetjmp(jump_env, 1) == 0) {
		struct timespec t = {10, 0};
		atomic_store(&jump_ready, 1);
		sigtimedwait(&s, NULL, &t);
		printf("sigtimedwait returned instead of jumping\n");
	} else {
		printf("the handler jumped out of sigtimedwait\n");
	}
	atomic_store(&jump_ready, 2);
	int sig = 0;
	int r = sigwait(&s, &sig);
	printf("sigwait after the jump: %d, %s\n", r, sig == SIGUSR1 ? "SIGUSR1" : "other");
	return arg;
}

static void test_jump(void)
{
	struct sigaction a = {.sa_handler = on_hup_jump};
	CHECK(sigaction(SIGHUP, &a, NULL) == 0);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, jump_waiter, NULL) == 0);
	while (atomic_load(&jump_ready) != 1)
		usleep(1000);
	usleep(20000);
	CHECK(pthread_kill(t, SIGHUP) == 0);
	while (atomic_load(&jump_ready) != 2)
		usleep(1000);
	usleep(20000);
	CHECK(kill(getpid(), SIGUSR1) == 0);
	CHECK(pthread_join(t, NULL) == 0);
}

/* 6 */
static _Atomic int cleaned;
static void cleanup(void *arg)
{
	(void)arg;
	atomic_store(&cleaned, 1);
}

static void *cancel_waiter(void *arg)
{
	sigset_t s = only(SIGUSR1);
	int sig;
	pthread_cleanup_push(cleanup, NULL);
	atomic_store(&intr_ready, 3);
	sigwait(&s, &sig);
	pthread_cleanup_pop(0);
	return arg;
}

static void test_cancel(void)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, cancel_waiter, NULL) == 0);
	while (atomic_load(&intr_ready) != 3)
		usleep(1000);
	usleep(20000);
	CHECK(pthread_cancel(t) == 0);
	void *r;
	CHECK(pthread_join(t, &r) == 0);
	printf("cancelled in sigwait: %s, cleanup %s\n", r == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "returned",
	       atomic_load(&cleaned) ? "ran" : "did not run");
}

/* 7 */
#define NSENT 400
static _Atomic int seen[NSENT];
static _Atomic int taken;

static void *rt_waiter(void *arg)
{
	sigset_t s = only(SIGRTMIN + 1);
	while (atomic_load(&taken) < NSENT) {
		siginfo_t si;
		struct timespec t = {0, 5000000};
		if (sigtimedwait(&s, &si, &t) != SIGRTMIN + 1)
			continue;
		CHECK(si.si_code == SI_QUEUE && si.si_value.sival_int >= 0 && si.si_value.sival_int < NSENT);
		atomic_fetch_add(&seen[si.si_value.sival_int], 1);
		atomic_fetch_add(&taken, 1);
	}
	return arg;
}

static void test_shared(void)
{
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, rt_waiter, NULL) == 0);
	for (int i = 0; i < NSENT; i++) {
		while (sigqueue(getpid(), SIGRTMIN + 1, (union sigval){.sival_int = i}) != 0) {
			CHECK(errno == EAGAIN); /* the queue limit: let the waiters catch up */
			usleep(1000);
		}
		if (i % 50 == 0)
			usleep(1000);
	}
	for (int i = 0; i < 4; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	int once = 0;
	for (int i = 0; i < NSENT; i++)
		once += atomic_load(&seen[i]) == 1;
	printf("4 waiters, %d queued signals: %d arrived exactly once\n", NSENT, once);
}

/* 8 */
static void test_fork(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t c = fork();
	if (c == 0) {
		sigset_t s = only(SIGUSR2);
		siginfo_t si;
		struct timespec t = {10, 0};
		CHECK(write(p[1], "r", 1) == 1);
		int r = sigtimedwait(&s, &si, &t);
		_exit(r == SIGUSR2 && si.si_pid == getppid() ? 0 : 1);
	}
	char b;
	CHECK(read(p[0], &b, 1) == 1);
	usleep(20000);
	CHECK(kill(c, SIGUSR2) == 0);
	int st;
	CHECK(waitpid(c, &st, 0) == c);
	printf("forked child's sigtimedwait: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "got it" : "failed");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigaddset(&s, SIGUSR2);
	sigaddset(&s, SIGRTMIN);
	sigaddset(&s, SIGRTMIN + 1);
	sigaddset(&s, SIGCHLD);
	CHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0);

	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		CHECK(pthread_create(&t[i], NULL, poller, NULL) == 0);
	long timeouts = 0;
	for (int i = 0; i < 8; i++) {
		void *r;
		CHECK(pthread_join(t[i], &r) == 0);
		timeouts += (long)r;
	}
	printf("8 pollers: %ld of 800 sigtimedwait calls timed out\n", timeouts);

	test_waiter();
	test_pending();
	test_timeouts();
	test_eintr();
	test_jump();
	test_cancel();
	test_shared();
	test_fork();
	return 0;
}
