/* fork from a process with many threads (conformance issue, item 5): WAITERS
 * threads wait on condition variables (private ones, and with "pshared" as
 * argument process-shared ones) while FORKERS threads fork CHILDREN children
 * between them; each child starts two threads that pass a token back and
 * forth 100 times under a mutex and condition variable, joins them and
 * exits with the count.  The parent checks every child's status, then wakes
 * and joins the waiters.  Natively: the same two lines, exit 0.
 *
 *   fork_many [private|pshared [WAITERS [CHILDREN]]]   defaults: private 1000 60 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORKERS 4
#define GROUPS 16

static pthread_mutex_t mu[GROUPS];
static pthread_cond_t cv[GROUPS];
static int go[GROUPS];
static int nwaiting;
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t count_cv = PTHREAD_COND_INITIALIZER;

static void *waiter(void *arg)
{
	int g = (int)(long)arg % GROUPS;
	pthread_mutex_lock(&count_mu);
	nwaiting++;
	pthread_cond_signal(&count_cv);
	pthread_mutex_unlock(&count_mu);
	pthread_mutex_lock(&mu[g]);
	while (!go[g])
		pthread_cond_wait(&cv[g], &mu[g]);
	pthread_mutex_unlock(&mu[g]);
	return (void *)(long)g;
}

/* In a child: two threads pass a token 100 times. */
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ccv = PTHREAD_COND_INITIALIZER;
static int turn, passes;

static void *player(void *arg)
{
	int me = (int)(long)arg;
	for (int i = 0; i < 50; i++) {
		pthread_mutex_lock(&cmu);
		while (turn != me)
			pthread_cond_wait(&ccv, &cmu);
		passes++;
		turn = 1 - me;
		pthread_cond_broadcast(&ccv);
		pthread_mutex_unlock(&cmu);
	}
	return NULL;
}

static int child_main(void)
{
	pthread_t a, b;
	if (pthread_create(&a, NULL, player, (void *)0L) || pthread_create(&b, NULL, player, (void *)1L))
		return 90;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return passes == 100 ? 7 : 91;
}

static int children_per_forker, bad_children;
static pthread_mutex_t bad_mu = PTHREAD_MUTEX_INITIALIZER;

static void *forker(void *arg)
{
	(void)arg;
	for (int i = 0; i < children_per_forker; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			exit(2);
		}
		if (pid == 0)
			_exit(child_main());
		int st;
		while (waitpid(pid, &st, 0) < 0)
			if (errno != EINTR) {
				perror("waitpid");
				exit(3);
			}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) {
			pthread_mutex_lock(&bad_mu);
			bad_children++;
			pthread_mutex_unlock(&bad_mu);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int pshared = argc > 1 && !strcmp(argv[1], "pshared");
	int nwaiters = argc > 2 ? atoi(argv[2]) : 1000;
	int nchildren = argc > 3 ? atoi(argv[3]) : 60;
	children_per_forker = (nchildren + FORKERS - 1) / FORKERS;
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	pthread_mutexattr_init(&ma);
	pthread_condattr_init(&ca);
	if (pshared) {
		pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
		pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	}
	for (int g = 0; g < GROUPS; g++) {
		pthread_mutex_init(&mu[g], &ma);
		pthread_cond_init(&cv[g], &ca);
	}
	pthread_t *w = calloc((size_t)nwaiters, sizeof *w);
	pthread_attr_t small;
	pthread_attr_init(&small);
	pthread_attr_setstacksize(&small, 64 * 1024);
	for (int i = 0; i < nwaiters; i++)
		if (pthread_create(&w[i], &small, waiter, (void *)(long)i) != 0) {
			fprintf(stderr, "pthread_create %d failed\n", i);
			return 4;
		}
	pthread_mutex_lock(&count_mu);
	while (nwaiting < nwaiters)
		pthread_cond_wait(&count_cv, &count_mu);
	pthread_mutex_unlock(&count_mu);

	pthread_t f[FORKERS];
	for (int i = 0; i < FORKERS; i++)
		pthread_create(&f[i], NULL, forker, NULL);
	for (int i = 0; i < FORKERS; i++)
		pthread_join(f[i], NULL);
	printf("%d children forked from %d waiting threads (%s): %d bad\n", children_per_forker * FORKERS,
	       nwaiters, pshared ? "process-shared" : "private", bad_children);

	for (int g = 0; g < GROUPS; g++) {
		pthread_mutex_lock(&mu[g]);
		go[g] = 1;
		pthread_cond_broadcast(&cv[g]);
		pthread_mutex_unlock(&mu[g]);
	}
	long sum = 0;
	for (int i = 0; i < nwaiters; i++) {
		void *r;
		pthread_join(w[i], &r);
		sum += (long)r;
	}
	long want = 0;
	for (int i = 0; i < nwaiters; i++)
		want += i % GROUPS;
	printf("all %d waiters woke: %s\n", nwaiters, sum == want ? "ok" : "FAIL");
	return bad_children || sum != want;
}
