/*
 * demo: the program scripts/run shows by default.  An ordinary pthread
 * program, compiled without gmp, with many threads that spend their lives
 * blocked: natively it needs one kernel thread each, under gmp a handful.
 *
 *   demo [THREADS]     THREADS, or $DEMO_THREADS: default 10000
 *
 * Threads come in groups of GROUP (16; the last group may be smaller).
 * Each thread, with default pthread attributes:
 *   1. sleeps 1-5 ms (usleep);
 *   2. waits until every thread has got this far (a mutex/condvar latch),
 *      so that all THREADS threads are alive at once;
 *   3. takes part in a token ring with the rest of its group: ROUNDS times
 *      it waits on its own condition variable until the group's turn is
 *      its own, counts a hand-off and passes the turn to the next member
 *      (mutex + condvar hand-off);
 *   4. pipe I/O: member 0 of the group reads one 4-byte record from every
 *      other member through the group's pipe (blocking read), the others
 *      write their thread number to it;
 *   5. sleeps 1-5 ms again.
 * Then main joins everything and checks: every ring hand-off happened in
 * order, every record arrived with the right sum, every thread returned its
 * own number.  The summary line depends only on THREADS:
 *
 *   demo: threads=10000 groups=625 ring_handoffs=80000 pipe_records=9375 sleeps=20000 ok
 *
 * On a failed check it prints "demo: FAIL ..." and exits with status 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define GROUP 16
#define ROUNDS 8

struct group {
	pthread_mutex_t lock;
	pthread_cond_t cond[GROUP];	/* cond[k]: member k waits here */
	int size;			/* immutable: members in this group */
	int turn;			/* lock: member whose turn it is */
	long seq;			/* lock: hand-offs so far */
	long errors;			/* lock: hand-offs found out of order */
	int pipe[2];			/* members 1.. write, member 0 reads */
	uint64_t sum;			/* member 0 only: sum of records read */
	long records;			/* member 0 only */
};

static struct group *groups;
static long nthreads;
static pthread_mutex_t latch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t latch_cond = PTHREAD_COND_INITIALIZER;
static long arrived;	/* latch_lock: threads that reached the latch */
static _Atomic long sleeps;
static _Atomic long io_errors;

__attribute__((format(printf, 1, 2), noreturn)) static void
fail(const char *fmt, ...)
{
	va_list ap;

	printf("demo: FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static void
nap(long i)
{
	usleep((useconds_t)(1000 * (1 + i % 5)));
	atomic_fetch_add_explicit(&sleeps, 1, memory_order_relaxed);
}

static void
latch(void)
{
	pthread_mutex_lock(&latch_lock);
	if (++arrived == nthreads)
		pthread_cond_broadcast(&latch_cond);
	while (arrived < nthreads)
		pthread_cond_wait(&latch_cond, &latch_lock);
	pthread_mutex_unlock(&latch_lock);
}

static void
ring(struct group *g, int k)
{
	int r;

	for (r = 0; r < ROUNDS; r++) {
		pthread_mutex_lock(&g->lock);
		while (g->turn != k)
			pthread_cond_wait(&g->cond[k], &g->lock);
		if (g->seq != (long)r * g->size + k)
			g->errors++;
		g->seq++;
		g->turn = (k + 1) % g->size;
		pthread_cond_signal(&g->cond[g->turn]);
		pthread_mutex_unlock(&g->lock);
	}
}

static void
pipe_io(struct group *g, int k, uint32_t id)
{
	uint32_t rec;
	ssize_t n;
	int m;

	if (k != 0) {
		/* 4 bytes < PIPE_BUF: the write is atomic. */
		while ((n = write(g->pipe[1], &id, sizeof id)) < 0 && errno == EINTR)
			;
		if (n != sizeof id)
			atomic_fetch_add(&io_errors, 1);
		return;
	}
	for (m = 1; m < g->size; m++) {
		while ((n = read(g->pipe[0], &rec, sizeof rec)) < 0 && errno == EINTR)
			;
		if (n != sizeof rec) {
			atomic_fetch_add(&io_errors, 1);
			return;
		}
		g->sum += rec;
		g->records++;
	}
}

static void *
worker(void *arg)
{
	long i = (long)(intptr_t)arg;
	struct group *g = &groups[i / GROUP];
	int k = (int)(i % GROUP);

	nap(i);
	latch();
	ring(g, k);
	pipe_io(g, k, (uint32_t)i);
	nap(i * 7 + 3);
	return arg;
}

int
main(int argc, char **argv)
{
	const char *env = getenv("DEMO_THREADS");
	long ngroups, i, handoffs = 0, records = 0, bad = 0;
	pthread_t *t;
	struct rlimit rl;

	setvbuf(stdout, NULL, _IOLBF, 0);
	nthreads = 10000;
	if (argc > 1)
		nthreads = atol(argv[1]);
	else if (env != NULL)
		nthreads = atol(env);
	if (nthreads <= 0)
		fail("bad thread count");
	ngroups = (nthreads + GROUP - 1) / GROUP;

	/* Two descriptors per group. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	groups = calloc((size_t)ngroups, sizeof *groups);
	t = calloc((size_t)nthreads, sizeof *t);
	if (groups == NULL || t == NULL)
		fail("out of memory");
	for (i = 0; i < ngroups; i++) {
		struct group *g = &groups[i];
		int k;

		pthread_mutex_init(&g->lock, NULL);
		for (k = 0; k < GROUP; k++)
			pthread_cond_init(&g->cond[k], NULL);
		g->size = (int)(nthreads - i * GROUP < GROUP ? nthreads - i * GROUP : GROUP);
		if (pipe(g->pipe) != 0)
			fail("pipe: %s (group %ld; RLIMIT_NOFILE too low?)",
			     strerror(errno), i);
	}

	for (i = 0; i < nthreads; i++) {
		int rc = pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);

		if (rc != 0)
			fail("pthread_create of thread %ld: %s", i, strerror(rc));
	}
	for (i = 0; i < nthreads; i++) {
		void *ret;
		int rc = pthread_join(t[i], &ret);

		if (rc != 0)
			fail("pthread_join of thread %ld: %s", i, strerror(rc));
		if ((intptr_t)ret != i)
			bad++;
	}

	for (i = 0; i < ngroups; i++) {
		struct group *g = &groups[i];
		uint64_t want = 0;
		long first = i * GROUP, m;

		for (m = 1; m < g->size; m++)
			want += (uint64_t)(first + m);
		if (g->errors != 0 || g->seq != (long)ROUNDS * g->size)
			fail("group %ld: ring saw %ld hand-offs, %ld out of order",
			     i, g->seq, g->errors);
		if (g->records != g->size - 1 || g->sum != want)
			fail("group %ld: %ld pipe records summing to %llu, want %d summing to %llu",
			     i, g->records, (unsigned long long)g->sum, g->size - 1,
			     (unsigned long long)want);
		handoffs += g->seq;
		records += g->records;
		close(g->pipe[0]);
		close(g->pipe[1]);
	}
	if (bad != 0 || io_errors != 0 || sleeps != 2 * nthreads ||
	    arrived != nthreads)
		fail("%ld wrong join values, %ld pipe errors, %ld of %ld sleeps, %ld at the latch",
		     bad, (long)io_errors, (long)sleeps, 2 * nthreads, arrived);

	printf("demo: threads=%ld groups=%ld ring_handoffs=%ld pipe_records=%ld sleeps=%ld ok\n",
	       nthreads, ngroups, handoffs, records, (long)sleeps);
	free(t);
	free(groups);
	return 0;
}
