/*
 * gmp_stats() seen from a program: 100 threads park on a condition
 * variable and 2 keep yielding; the program checks the counts through
 * gmp_stats, looked up with dlsym as gmp.h advises.  Natively the symbol
 * is missing and the checks are skipped, so both runs print the same line
 * (the test runs it through compare.sh).
 *
 *   stats_counts            check and exit
 *   stats_counts FILE       then keep everything as it is until FILE exists
 *                           (gmp-top.sh reads the stats file meanwhile)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../preload/gmp.h"

#define NPARKED 100
#define NBUSY 2

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go;
static atomic_int stop, parked;

static void *parker(void *arg)
{
	pthread_mutex_lock(&mu);
	atomic_fetch_add(&parked, 1);
	while (!go)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return arg;
}

static void *busy(void *arg)
{
	while (!atomic_load(&stop))
		sched_yield();
	return arg;
}

static int fails;
#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "FAIL: %s: ", #cond);                 \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			fails++;                                              \
		}                                                             \
	} while (0)

static void check(int (*stats)(struct gmp_stats *, size_t))
{
	struct gmp_stats s;
	/* Wait until all 100 are parked in the cond wait (not just counted). */
	for (int i = 0; i < 10000; i++) {
		if (stats(&s, sizeof s) != 0)
			break;
		if (s.waiting_by[GMP_WAIT_COND] == NPARKED)
			break;
		usleep(1000);
	}
	CHECK(stats(&s, sizeof s) == 0, "errno %d", errno);
	CHECK(s.size == sizeof s, "size %u", s.size);
	CHECK(s.waiting_by[GMP_WAIT_COND] == NPARKED, "parked on cond %u", s.waiting_by[GMP_WAIT_COND]);
	CHECK(s.waiting == NPARKED, "waiting %u", s.waiting);
	CHECK(s.threads == 1 + NPARKED + NBUSY, "threads %u", s.threads);
	/* main runs; each busy thread runs or waits for a P between yields */
	CHECK(s.running + s.runnable + s.syscall == 1 + NBUSY, "running %u runnable %u syscall %u", s.running,
	      s.runnable, s.syscall);
	CHECK(s.running >= 1 && s.running <= s.ms, "running %u ms %u", s.running, s.ms);
	const char *mp = getenv("GMP_MAXPROCS");
	if (mp)
		CHECK(s.nprocs == (uint32_t)atoi(mp), "nprocs %u", s.nprocs);
	CHECK(s.nprocs >= 1 && s.procs_idle <= s.nprocs, "nprocs %u idle %u", s.nprocs, s.procs_idle);
	CHECK(s.ms >= 1 && s.ms_idle + s.ms_spinning <= s.ms, "ms %u idle %u spinning %u", s.ms, s.ms_idle,
	      s.ms_spinning);
	CHECK(s.created >= 1 + NPARKED + NBUSY, "created %llu", (unsigned long long)s.created);
	CHECK(s.switches >= NPARKED, "switches %llu", (unsigned long long)s.switches);
	uint32_t q = s.global_runq;
	for (uint32_t i = 0; i < s.nprocs && i < GMP_STATS_MAXP; i++) {
		q += s.local_runq[i];
		CHECK(s.p_status[i] <= GMP_P_SYSCALL, "p_status[%u] %u", i, s.p_status[i]);
	}
	CHECK(q <= NBUSY + 1, "queued %u", q);
	CHECK(s.time_ns > 0, "time %lld", (long long)s.time_ns);

	/* The size protocol: a shorter structure gets a prefix, a longer one zeroes. */
	struct {
		struct gmp_stats s;
		char extra[32];
	} big;
	memset(&big, 0xff, sizeof big);
	CHECK(stats(&big.s, sizeof big) == 0, "errno %d", errno);
	CHECK(big.s.size == sizeof(struct gmp_stats), "size %u", big.s.size);
	int zero = 1;
	for (size_t i = 0; i < sizeof big.extra; i++)
		zero &= big.extra[i] == 0;
	CHECK(zero, "bytes past the library's structure are zeroed");
	uint32_t head[3] = {0, 0, 0xdead};
	CHECK(stats((struct gmp_stats *)head, 8) == 0 && head[0] == 8 && head[2] == 0xdead, "size %u", head[0]);
	errno = 0;
	CHECK(stats((struct gmp_stats *)head, 4) == -1 && errno == EINVAL, "errno %d", errno);
	CHECK(stats(NULL, sizeof s) == -1 && errno == EINVAL, "errno %d", errno);
}

int main(int argc, char **argv)
{
	pthread_t p[NPARKED], b[NBUSY];
	for (int i = 0; i < NPARKED; i++)
		if (pthread_create(&p[i], NULL, parker, NULL) != 0)
			return 1;
	for (int i = 0; i < NBUSY; i++)
		if (pthread_create(&b[i], NULL, busy, NULL) != 0)
			return 1;
	while (atomic_load(&parked) < NPARKED)
		usleep(1000);

	int (*stats)(struct gmp_stats *, size_t) = (int (*)(struct gmp_stats *, size_t))dlsym(RTLD_DEFAULT, "gmp_stats");
	if (stats)
		check(stats);
	if (argc > 1) {
		printf("ready\n");
		fflush(stdout);
		while (access(argv[1], F_OK) != 0)
			usleep(20 * 1000);
	}

	pthread_mutex_lock(&mu);
	go = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	atomic_store(&stop, 1);
	for (int i = 0; i < NPARKED; i++)
		pthread_join(p[i], NULL);
	for (int i = 0; i < NBUSY; i++)
		pthread_join(b[i], NULL);
	printf("threads %d parked %d busy %d: %s\n", 1 + NPARKED + NBUSY, NPARKED, NBUSY, fails ? "FAIL" : "ok");
	return fails != 0;
}
