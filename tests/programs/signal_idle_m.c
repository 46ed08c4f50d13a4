/* A process-directed signal whose handler calls write() while every thread
 * waits (the pattern of redis-server's SIGTERM handler: log a line, set a
 * flag; the main loop polls with a timeout and sees the flag).
 * Natively: prints "handler ran" and "main saw the signal", exit 0. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stop;

static void on_term(int sig)
{
	static const char msg[] = "handler ran\n";
	(void)sig;
	if (write(1, msg, sizeof msg - 1) < 0)
		_exit(3);
	got = 1;
}

static void *waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!stop)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

int main(void)
{
	pthread_t t[2];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, waiter, NULL);
	/* Sent by a helper process after 200 ms, while all threads wait. */
	pid_t me = getpid();
	if (fork() == 0) {
		usleep(200000);
		kill(me, SIGTERM);
		_exit(0);
	}
	for (int i = 0; i < 100 && !got; i++)
		poll(NULL, 0, 50);
	pthread_mutex_lock(&mu);
	stop = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("%s\n", got ? "main saw the signal" : "FAIL: no signal seen");
	return got ? 0 : 1;
}
