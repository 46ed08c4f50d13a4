/*
 * mem_blocked: the memory one blocked thread costs.  Creates THREADS threads
 * with default attributes (so the default stack size) that each block on one
 * condition variable, and measures, before the first pthread_create and once
 * all of them wait:
 *
 *   - the process's resident set (VmRSS in /proc/self/status), which holds
 *     the stack pages the threads touched and the thread library's own
 *     structures;
 *   - the system's KernelStack, Slab and PageTables (/proc/meminfo): the
 *     kernel stack and the task_struct & co. that each kernel thread costs,
 *     and the page-table pages that map the threads' stacks (one 4 KiB
 *     page per 8 MiB stack whose top is touched).  They are system-wide,
 *     so other activity on the machine adds noise.
 *
 * The figure is (dRSS + dKernelStack + dSlab + dPageTables) / THREADS.  Then it releases
 * every thread with one broadcast and joins them all.
 *
 *   mem_blocked [THREADS]   THREADS, or $BENCH_THREADS: default 10000 (also
 *                           in quick mode: the figure is per thread)
 *
 * RESULT mem_blocked_<THREADS> <bytes> B/thread, followed by a "# ..." line
 * with the three deltas.  Checks: every thread reaches the wait before the
 * broadcast, every thread is released exactly once, and each returns its own
 * index through join.
 */
#include "bench.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_waiting = PTHREAD_COND_INITIALIZER;
static long nthreads;
static long waiting;	/* lock: threads that reached the wait */
static long released;	/* lock: threads that left it */
static int go;		/* lock: set once, by main */

static void *
worker(void *arg)
{
	pthread_mutex_lock(&lock);
	if (++waiting == nthreads)
		pthread_cond_signal(&all_waiting);
	while (!go)
		pthread_cond_wait(&go_cond, &lock);
	released++;
	pthread_mutex_unlock(&lock);
	return arg;
}

/* The value in kB of the line "<key>: <n> kB" of FILE, in bytes. */
static long long
read_kb(const char *file, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long long v = -1;
	FILE *f = fopen(file, "r");

	if (f == NULL)
		bench_fail("%s: %s", file, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = atoll(line + klen + 1) * 1024;
			break;
		}
	}
	fclose(f);
	if (v < 0)
		bench_fail("no \"%s:\" line in %s", key, file);
	return v;
}

struct mem {
	long long rss, kstack, slab, ptables;
};

static void
sample(struct mem *m)
{
	m->rss = read_kb("/proc/self/status", "VmRSS");
	m->kstack = read_kb("/proc/meminfo", "KernelStack");
	m->slab = read_kb("/proc/meminfo", "Slab");
	m->ptables = read_kb("/proc/meminfo", "PageTables");
}

int
main(int argc, char **argv)
{
	static char name[64];
	pthread_t *t;
	struct mem m0, m1;
	long i, bad = 0;
	long long d_rss, d_kstack, d_slab, d_pt;

	bench_init("mem_blocked");
	nthreads = bench_param(argc, argv, 1, "BENCH_THREADS", 10000, 10000);
	/* Again, now that the figure's name (with the count) is known. */
	snprintf(name, sizeof name, "mem_blocked_%ld", nthreads);
	bench_init(name);
	t = calloc((size_t)nthreads, sizeof *t);
	if (t == NULL)
		bench_fail("out of memory");
	/* Touch the array and the stdio buffers now, not between the samples. */
	memset(t, 0, (size_t)nthreads * sizeof *t);
	sample(&m0);
	sample(&m0);

	for (i = 0; i < nthreads; i++) {
		int rc = pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);

		if (rc != 0)
			bench_fail("pthread_create of thread %ld of %ld: %s", i + 1,
				   nthreads, strerror(rc));
	}

	pthread_mutex_lock(&lock);
	while (waiting < nthreads)
		pthread_cond_wait(&all_waiting, &lock);
	if (released != 0)
		bench_fail("%ld threads passed the wait before the broadcast",
			   released);
	pthread_mutex_unlock(&lock);
	sample(&m1);

	pthread_mutex_lock(&lock);
	go = 1;
	pthread_cond_broadcast(&go_cond);
	pthread_mutex_unlock(&lock);

	for (i = 0; i < nthreads; i++) {
		void *ret;

		BENCH_CHECK(pthread_join(t[i], &ret));
		if ((uintptr_t)ret != (uintptr_t)i)
			bad++;
	}

	if (released != nthreads)
		bench_fail("%ld of %ld threads released", released, nthreads);
	if (bad != 0)
		bench_fail("%ld joins returned the wrong value", bad);
	free(t);
	d_rss = m1.rss - m0.rss;
	d_kstack = m1.kstack - m0.kstack;
	d_slab = m1.slab - m0.slab;
	d_pt = m1.ptables - m0.ptables;
	bench_result((double)(d_rss + d_kstack + d_slab + d_pt) / (double)nthreads,
		     "B/thread");
	printf("# %ld threads: RSS %+lld B, KernelStack %+lld B, Slab %+lld B,"
	       " PageTables %+lld B (%.0f + %.0f + %.0f + %.0f B/thread)\n",
	       nthreads, d_rss, d_kstack, d_slab, d_pt, (double)d_rss / nthreads,
	       (double)d_kstack / nthreads, (double)d_slab / nthreads,
	       (double)d_pt / nthreads);
	return 0;
}
