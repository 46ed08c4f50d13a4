/* A signal sent to the process goes to the main thread when it does not
 * block it (Linux gives it to the thread-group leader first), and ends the
 * main thread's blocking call there: servers count on it, an event loop in
 * main whose epoll_wait must return EINTR at SIGTERM while worker threads
 * wait in calls of their own (memcached, nginx-style loops).
 * Four workers block in epoll_wait, read, nanosleep and a condition wait,
 * leaving every signal unblocked; main blocks in one call after another and
 * a child process kill()s the parent during each.  Each line: the call,
 * its result, and whether the handler ran on the main thread.  Then main
 * blocks the signal, and the workers' process-directed signal is taken by
 * one of them (none is lost).  Natively: the same lines, exit 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_t main_thread;
static atomic_int on_main, on_other;
static int wpipe[2], mpipe[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int quit, ready;

static void on_sig(int sig)
{
	(void)sig;
	if (pthread_equal(pthread_self(), main_thread))
		atomic_fetch_add(&on_main, 1);
	else
		atomic_fetch_add(&on_other, 1);
}

static void started(void)
{
	pthread_mutex_lock(&lock);
	ready++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void *w_epoll(void *a)
{
	(void)a;
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = wpipe[0]};
	epoll_ctl(ep, EPOLL_CTL_ADD, wpipe[0], &ev);
	started();
	while (epoll_wait(ep, &ev, 1, -1) <= 0)
		;
	return NULL;
}

static void *w_read(void *a)
{
	(void)a;
	char c;
	started();
	while (read(wpipe[0], &c, 1) != 1)
		;
	return NULL;
}

static void *w_sleep(void *a)
{
	(void)a;
	started();
	for (;;) {
		pthread_mutex_lock(&lock);
		int q = quit;
		pthread_mutex_unlock(&lock);
		if (q)
			return NULL;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static void *w_cond(void *a)
{
	(void)a;
	pthread_mutex_lock(&lock);
	ready++;
	pthread_cond_broadcast(&cond);
	while (!quit)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* A child process that sends SIGUSR1 to us after ms milliseconds. */
static pid_t kill_later(int ms)
{
	pid_t parent = getpid(), c = fork();
	if (c == 0) {
		struct timespec ts = {0, ms * 1000L * 1000L};
		nanosleep(&ts, NULL);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	return c;
}

static void reap(pid_t c)
{
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
}

static const char *res(int r, int e) { return r < 0 ? (e == EINTR ? "EINTR" : strerror(e)) : "returned"; }

static void report(const char *call, int r, int e)
{
	int m = atomic_exchange(&on_main, 0), o = atomic_exchange(&on_other, 0);
	printf("%-10s %-8s handler on main %d, on another thread %d\n", call, res(r, e), m, o);
}

int main(void)
{
	main_thread = pthread_self();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig; /* no SA_RESTART: every interrupted call says EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	if (pipe(wpipe) || pipe(mpipe))
		return 1;

	pthread_t t[4];
	void *(*fn[4])(void *) = {w_epoll, w_read, w_sleep, w_cond};
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, fn[i], NULL);
	pthread_mutex_lock(&lock);
	while (ready < 4)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);

	for (int round = 0; round < 3; round++) {
		pid_t c;
		int r, e;
		int ep = epoll_create1(0);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = mpipe[0]};
		epoll_ctl(ep, EPOLL_CTL_ADD, mpipe[0], &ev);

		c = kill_later(100);
		r = epoll_wait(ep, &ev, 1, 10000), e = errno;
		reap(c);
		report("epoll_wait", r, e);

		c = kill_later(100);
		struct pollfd p = {mpipe[0], POLLIN, 0};
		r = poll(&p, 1, 10000), e = errno;
		reap(c);
		report("poll", r, e);

		c = kill_later(100);
		fd_set rd;
		FD_ZERO(&rd);
		FD_SET(mpipe[0], &rd);
		struct timeval tv = {10, 0};
		r = select(mpipe[0] + 1, &rd, NULL, NULL, &tv), e = errno;
		reap(c);
		report("select", r, e);

		c = kill_later(100);
		char b;
		r = (int)read(mpipe[0], &b, 1), e = errno;
		reap(c);
		report("read", r, e);

		c = kill_later(100);
		struct timespec ts = {10, 0};
		r = nanosleep(&ts, NULL), e = errno;
		reap(c);
		report("nanosleep", r, e);

		c = kill_later(100);
		r = pause(), e = errno;
		reap(c);
		report("pause", r, e);
		close(ep);
	}

	/* main blocks it: a worker takes it (the kernel's next choice) */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	pid_t c = kill_later(10);
	reap(c);
	for (int i = 0; i < 500 && atomic_load(&on_other) == 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	report("(blocked)", 0, 0);

	pthread_mutex_lock(&lock);
	quit = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	if (write(wpipe[1], "xx", 2) != 2)
		return 1;
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("done\n");
	return 0;
}
