/*
 * A signal handler that leaves with siglongjmp from the middle of a wait
 * (the alarm-and-longjmp timeout of old programs): sleep, nanosleep,
 * usleep, a pipe read, poll, select, sem_wait, a raw futex wait through
 * syscall(2) and sigtimedwait.  For each, a thread starts the wait, the
 * main thread sends it SIGHUP, whose handler jumps back, and the thread
 * then makes the same kind of wait again, one that ends by itself (a short
 * sleep, data in the pipe, a posted semaphore, a changed futex word, a
 * pending signal), three times, after zeroing the stack where the
 * interrupted wait's frames were.  Under gmp the handler runs on the
 * thread's own stack after its wait was undone (its timer, its queue
 * entry): a jump that skipped that left a timer on a dead stack, which
 * then fired with a zeroed function pointer.
 *
 * Prints the same lines natively and under gmp; exits 1 on a broken check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c)                                                              \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
			exit(1);                                              \
		}                                                             \
	} while (0)

enum kind { K_SLEEP, K_NANOSLEEP, K_USLEEP, K_READ, K_POLL, K_SELECT, K_SEM, K_FUTEX, K_SIGWAIT, K_N };
static const char *const names[K_N] = {"sleep", "nanosleep", "usleep", "pipe read", "poll", "select",
				       "sem_wait", "futex wait", "sigtimedwait"};

struct job {
	enum kind k;
	int pipe[2];
	sem_t sem;
	_Atomic int word;
	_Atomic int state; /* 1 waiting (long), 2 jumped, 3 done */
	sigjmp_buf env;
	int jumped, again;
};

static __thread struct job *current;

static void on_hup(int sig)
{
	(void)sig;
	if (current)
		siglongjmp(current->env, 1);
}

/* The wait of kind k: long, the interrupted one (1 s where it has a timeout), or one a helper ends. */
static int wait_once(struct job *j, bool lng)
{
	struct timespec ts = {lng ? 1 : 2, 0};
	char c;
	struct pollfd pfd = {j->pipe[0], POLLIN, 0};
	fd_set rs;
	sigset_t s;
	switch (j->k) {
	case K_SLEEP:
		return lng ? (int)sleep(1) : (int)usleep(5000);
	case K_NANOSLEEP:
		return lng ? nanosleep(&ts, NULL) : nanosleep(&(struct timespec){0, 5000000}, NULL);
	case K_USLEEP:
		return usleep(lng ? 1000000 : 5000);
	case K_READ:
		return read(j->pipe[0], &c, 1) == 1 ? 0 : -1;
	case K_POLL:
		return poll(&pfd, 1, lng ? 1000 : 2000) == 1 ? 0 : -1;
	case K_SELECT:
		FD_ZERO(&rs);
		FD_SET(j->pipe[0], &rs);
		return select(j->pipe[0] + 1, &rs, NULL, NULL, &(struct timeval){lng ? 1 : 2, 0}) == 1 ? 0 : -1;
	case K_SEM:
		return sem_wait(&j->sem);
	case K_FUTEX:
		while (atomic_load(&j->word) == 0)
			if (syscall(SYS_futex, &j->word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0) != 0 && errno != EAGAIN)
				return -1;
		return 0;
	case K_SIGWAIT:
		sigemptyset(&s);
		sigaddset(&s, SIGUSR1);
		return sigtimedwait(&s, NULL, &ts) == SIGUSR1 ? 0 : -1;
	default:
		return -1;
	}
}

/* Zero the stack below the caller, where the interrupted wait's frames were (a timer left there fires at 0). */
__attribute__((noinline)) static void scrub_stack(void)
{
	volatile char buf[32768];
	memset((char *)buf, 0, sizeof buf);
}

/* A helper: 5 ms later, make the job's short wait end. */
struct ready_arg {
	struct job *j;
	pthread_t waiter;
};

static void *make_ready(void *arg)
{
	struct ready_arg *r = arg;
	struct job *j = r->j;
	usleep(5000);
	if (j->k == K_READ || j->k == K_POLL || j->k == K_SELECT) {
		CHECK(write(j->pipe[1], "x", 1) == 1);
	} else if (j->k == K_SEM) {
		sem_post(&j->sem);
	} else if (j->k == K_FUTEX) {
		atomic_store(&j->word, 1);
		syscall(SYS_futex, &j->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	} else if (j->k == K_SIGWAIT) {
		pthread_kill(r->waiter, SIGUSR1);
	}
	return NULL;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	current = j;
	if (sigsetjmp(j->env, 1) == 0) {
		atomic_store(&j->state, 1);
		wait_once(j, true);
		atomic_store(&j->state, 2);
		return NULL; /* not jumped out: reported as such by main */
	}
	j->jumped = 1;
	atomic_store(&j->state, 2);
	current = NULL;
	scrub_stack();
	/* the same wait again, three times, each ended by a helper */
	for (int i = 0; i < 3; i++) {
		struct ready_arg r = {j, pthread_self()};
		pthread_t h;
		CHECK(pthread_create(&h, NULL, make_ready, &r) == 0);
		if (wait_once(j, false) == 0)
			j->again++;
		CHECK(pthread_join(h, NULL) == 0);
		if (j->k == K_POLL || j->k == K_SELECT) {
			char c;
			CHECK(read(j->pipe[0], &c, 1) == 1);
		}
		atomic_store(&j->word, 0);
	}
	/* past the interrupted wait's deadline: a timer it left behind would fire now */
	nanosleep(&(struct timespec){1, 200000000}, NULL);
	atomic_store(&j->state, 3);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction a;
	memset(&a, 0, sizeof a);
	a.sa_handler = on_hup;
	CHECK(sigaction(SIGHUP, &a, NULL) == 0);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	CHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0);
	static struct job jobs[K_N];
	pthread_t t[K_N];
	for (int k = 0; k < K_N; k++) {
		jobs[k].k = (enum kind)k;
		CHECK(pipe(jobs[k].pipe) == 0);
		CHECK(sem_init(&jobs[k].sem, 0, 0) == 0);
		CHECK(pthread_create(&t[k], NULL, worker, &jobs[k]) == 0);
	}
	for (int k = 0; k < K_N; k++)
		while (atomic_load(&jobs[k].state) != 1)
			usleep(1000);
	usleep(20000); /* every thread in its wait */
	for (int k = 0; k < K_N; k++)
		CHECK(pthread_kill(t[k], SIGHUP) == 0);
	for (int k = 0; k < K_N; k++) {
		CHECK(pthread_join(t[k], NULL) == 0);
		printf("%s: %s, then %d of 3 waits again\n", names[k], jobs[k].jumped ? "jumped out" : "NOT jumped out",
		       jobs[k].again);
	}
	return 0;
}
