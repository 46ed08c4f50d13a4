/* The self-pipe trick: a signal handler writes a byte to a pipe that an
 * event loop watches.  The handler runs on a thread blocked in a kernel call
 * (epoll_wait, poll, select, waitpid, pause), so the write and the sem_post
 * it makes happen inside that call; the loop must then see every byte.
 * Each case sends ROUNDS signals one at a time (pthread_kill, or kill to the
 * process while only the target leaves the signal unblocked) and waits for
 * the loop to acknowledge each before the next.  With and without
 * SA_RESTART.  Natively: one "ok" line per case, exit 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 200

static int pfd[2];
static sem_t ack, handled;
static volatile sig_atomic_t nhandled;

static void on_sig(int sig)
{
	int e = errno;
	unsigned char b = (unsigned char)sig;
	if (write(pfd[1], &b, 1) != 1)
		_exit(3);
	nhandled++;
	sem_post(&handled);
	errno = e;
}

enum how { EPOLL, POLL, SELECT };

/* Read one byte from the self-pipe, waiting with `how`; EINTR is retried. */
static int wait_byte(enum how how, int ep)
{
	for (;;) {
		int r;
		if (how == EPOLL) {
			struct epoll_event ev;
			r = epoll_wait(ep, &ev, 1, 5000);
		} else if (how == POLL) {
			struct pollfd p = {pfd[0], POLLIN, 0};
			r = poll(&p, 1, 5000);
		} else {
			fd_set rd;
			FD_ZERO(&rd);
			FD_SET(pfd[0], &rd);
			struct timeval tv = {5, 0};
			r = select(pfd[0] + 1, &rd, NULL, NULL, &tv);
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1; /* timeout or error: a byte was lost */
		unsigned char b;
		if (read(pfd[0], &b, 1) == 1)
			return b;
	}
}

struct loop_arg {
	enum how how;
	int got;
};

static void *loop(void *arg)
{
	struct loop_arg *a = arg;
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = pfd[0]};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev) != 0)
		exit(4);
	for (int i = 0; i < ROUNDS; i++) {
		if (wait_byte(a->how, ep) != SIGUSR1)
			break;
		a->got++;
		sem_post(&ack);
	}
	close(ep);
	return NULL;
}

static void set_handler(int restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGUSR1, &sa, NULL);
}

static void wait_sem(sem_t *s)
{
	while (sem_wait(s) != 0)
		if (errno != EINTR)
			exit(5);
}

/* Signals to an event loop: thread-directed, or to the process with only the loop taking it. */
static void run_loop_case(const char *name, enum how how, int restart, int process)
{
	set_handler(restart);
	struct loop_arg a = {how, 0};
	sigset_t one, old;
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	pthread_t t;
	/* the loop is created with SIGUSR1 unblocked; this thread blocks it for the process case */
	pthread_create(&t, NULL, loop, &a);
	if (process)
		pthread_sigmask(SIG_BLOCK, &one, &old);
	for (int i = 0; i < ROUNDS; i++) {
		usleep(i % 4 == 0 ? 2000 : 50); /* sometimes the loop is deep in its wait, sometimes not */
		if (process)
			kill(getpid(), SIGUSR1);
		else
			pthread_kill(t, SIGUSR1);
		wait_sem(&ack);
	}
	pthread_join(t, NULL);
	if (process)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	printf("%s%s%s: %s (%d of %d bytes)\n", name, restart ? " SA_RESTART" : "", process ? " kill" : "",
	       a.got == ROUNDS ? "ok" : "FAIL", a.got, ROUNDS);
}

/* A thread blocked in waitpid or pause takes the signals; its handler's write reaches a loop thread. */
struct blocked_arg {
	int pause;
	pid_t child;
	int status;
	volatile int done, exited;
};

static void *blocked(void *arg)
{
	struct blocked_arg *b = arg;
	if (b->pause) {
		while (!b->done)
			pause();
		b->exited = 1;
		return NULL;
	}
	while (waitpid(b->child, &b->status, 0) < 0)
		if (errno != EINTR)
			exit(6);
	return NULL;
}

static void run_blocked_case(const char *name, int use_pause, int restart)
{
	set_handler(restart);
	nhandled = 0;
	struct blocked_arg b = {use_pause, 0, 0, 0, 0};
	int go[2];
	if (pipe(go) != 0)
		exit(7);
	if (!use_pause) {
		b.child = fork();
		if (b.child == 0) {
			char c;
			while (read(go[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(9);
		}
	}
	pthread_t t;
	pthread_create(&t, NULL, blocked, &b);
	usleep(20000); /* let it block */
	int got = 0;
	for (int i = 0; i < ROUNDS; i++) {
		pthread_kill(t, SIGUSR1);
		wait_sem(&handled);
		unsigned char c;
		while (read(pfd[0], &c, 1) < 0 && errno == EINTR)
			;
		got += c == SIGUSR1;
	}
	if (!use_pause) {
		if (write(go[1], "x", 1) != 1)
			exit(8);
	} else {
		/* one more signal ends pause; again if it came just before the call */
		b.done = 1;
		while (!b.exited) {
			pthread_kill(t, SIGUSR1);
			usleep(10000);
		}
	}
	pthread_join(t, NULL);
	unsigned char c;
	int fl = fcntl(pfd[0], F_GETFL);
	fcntl(pfd[0], F_SETFL, fl | O_NONBLOCK);
	while (read(pfd[0], &c, 1) == 1) /* the bytes of the extra signals */
		;
	fcntl(pfd[0], F_SETFL, fl);
	while (sem_trywait(&handled) == 0)
		;
	close(go[0]);
	close(go[1]);
	int ok = got == ROUNDS && (use_pause || (WIFEXITED(b.status) && WEXITSTATUS(b.status) == 9));
	printf("%s%s: %s (%d of %d bytes)\n", name, restart ? " SA_RESTART" : "", ok ? "ok" : "FAIL", got, ROUNDS);
}

int main(void)
{
	if (pipe(pfd) != 0 || sem_init(&ack, 0, 0) != 0 || sem_init(&handled, 0, 0) != 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	static const char *names[] = {"epoll_wait", "poll", "select"};
	for (int how = EPOLL; how <= SELECT; how++)
		for (int restart = 0; restart < 2; restart++)
			for (int process = 0; process < 2; process++)
				run_loop_case(names[how], (enum how)how, restart, process);
	/* the loop cases posted `handled` too: drain it */
	while (sem_trywait(&handled) == 0)
		;
	for (int restart = 0; restart < 2; restart++) {
		run_blocked_case("waitpid", 0, restart);
		run_blocked_case("pause", 1, restart);
	}
	return 0;
}
