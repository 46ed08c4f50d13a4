/* Threads the poller wakes while another thread holds the only CPU slot
 * waiting in the kernel.  An event-loop thread blocks in epoll_wait with
 * no timeout and nothing else to run (under gmp it waits in the kernel
 * directly, keeping its P); main, parked on a pipe it wrote just before,
 * must still run, and so must a worker answering pings from a child
 * process on a pipe, one at a time (each ping readies the worker from the
 * poller while the loop still waits).  At the end main wakes the loop.
 * Under GMP_MAXPROCS=1 the woken poller thread takes the waiting thread's
 * P (or sysmon does).  Natively: the same lines, exit 0. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#define PINGS 2000

static int sync_pipe[2], loop_pipe[2], ping[2], pong[2];

static void *loop(void *a)
{
	(void)a;
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = loop_pipe[0]};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, loop_pipe[0], &ev) != 0)
		exit(2);
	if (write(sync_pipe[1], "s", 1) != 1) /* main wakes while we wait below */
		exit(2);
	int n;
	while ((n = epoll_wait(ep, &ev, 1, -1)) <= 0)
		;
	return (void *)(long)n;
}

static void *worker(void *a)
{
	(void)a;
	long served = 0;
	char c;
	while (read(ping[0], &c, 1) == 1 && c != 'q') {
		if (write(pong[1], &c, 1) != 1)
			exit(3);
		served++;
	}
	return (void *)served;
}

int main(void)
{
	if (pipe(sync_pipe) || pipe(loop_pipe) || pipe(ping) || pipe(pong))
		return 1;
	pthread_t lt, wt;
	pthread_create(&lt, NULL, loop, NULL);
	char c;
	if (read(sync_pipe[0], &c, 1) != 1)
		return 1;
	printf("main ran while the loop waits\n");
	pthread_create(&wt, NULL, worker, NULL);
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		long ok = 0;
		for (int i = 0; i < PINGS; i++) {
			char x = (char)('A' + i % 26), y;
			if (write(ping[1], &x, 1) != 1 || read(pong[0], &y, 1) != 1)
				_exit(1);
			ok += y == x;
		}
		printf("child: %ld of %d pings answered in order\n", ok, PINGS);
		fflush(stdout);
		_exit(0);
	}
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("child failed\n");
	if (write(ping[1], "q", 1) != 1 || write(loop_pipe[1], "x", 1) != 1)
		return 1;
	void *served, *woke;
	pthread_join(wt, &served);
	pthread_join(lt, &woke);
	printf("worker served %ld, loop woke with %ld event\n", (long)served, (long)woke);
	return 0;
}
