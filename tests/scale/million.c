/* million: N threads (argv[1], default 50000) blocked at once on one
 * condition variable.  Main creates them all, waits until every one has
 * reached the wait (each counts itself in), samples memory and the kernel
 * thread count, releases them with one broadcast and joins them all; each
 * thread returns its own index, checked at the join.
 *
 *   million [N [STACK_KIB]]   STACK_KIB 0 (default): default attributes
 *
 * stdout (compared with the native run): the count that ran, that were
 * released and that joined with the right value.  stderr: the figures, one
 * line "million: ..." with
 *   - seconds from the first create to the last join,
 *   - memory per blocked thread: the process's RSS plus the system's
 *     KernelStack, Slab and PageTables (/proc/meminfo), after minus
 *     before, divided by N (system-wide: other activity adds noise),
 *   - the process's kernel threads while all N are blocked.
 * With MILLION_SETTLE=S it then waits up to S seconds for the memory to
 * come back after the joins and reports what is still held per thread.
 * Limits, checked only when set (the run fails beyond them):
 *   MILLION_MAX_SECONDS, MILLION_MAX_BYTES (per thread),
 *   MILLION_MAX_KTHREADS (kernel threads while blocked),
 *   MILLION_MAX_HELD (per thread, still held after MILLION_SETTLE s).
 * If the system refuses a thread (EAGAIN natively: pid_max) it exits 77,
 * which compare.sh reports as a skip. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_waiting = PTHREAD_COND_INITIALIZER;
static long n, waiting, released;
static int go;

static void *worker(void *arg)
{
	pthread_mutex_lock(&lock);
	if (++waiting == n)
		pthread_cond_signal(&all_waiting);
	while (!go)
		pthread_cond_wait(&go_cond, &lock);
	released++;
	pthread_mutex_unlock(&lock);
	return arg;
}

/* "<key>: <n> kB" of FILE in bytes, or for "Threads" the bare number. */
static long long readval(const char *file, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long long v = -1;
	FILE *f = fopen(file, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = atoll(line + klen + 1);
			if (strstr(line, "kB"))
				v *= 1024;
			break;
		}
	fclose(f);
	return v;
}

static long long memsample(void)
{
	return readval("/proc/self/status", "VmRSS") + readval("/proc/meminfo", "KernelStack") +
	       readval("/proc/meminfo", "Slab") + readval("/proc/meminfo", "PageTables");
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double envnum(const char *name)
{
	const char *s = getenv(name);
	return s && *s ? atof(s) : 0;
}

int main(int argc, char **argv)
{
	n = argc > 1 ? atol(argv[1]) : 50000;
	long stack_kib = argc > 2 ? atol(argv[2]) : 0;
	if (n < 1)
		n = 1;
	pthread_t *t = calloc((size_t)n, sizeof *t);
	if (!t) {
		printf("FAIL out of memory\n");
		return 1;
	}
	memset(t, 0, (size_t)n * sizeof *t); /* committed before the first sample */
	pthread_attr_t attr;
	CHECK0(pthread_attr_init(&attr));
	if (stack_kib > 0)
		CHECK0(pthread_attr_setstacksize(&attr, (size_t)stack_kib * 1024));

	long long m0 = memsample();
	double t0 = now();
	for (long i = 0; i < n; i++) {
		int r = pthread_create(&t[i], &attr, worker, (void *)(uintptr_t)i);
		if (r == EAGAIN) {
			fprintf(stderr, "million: thread %ld of %ld refused (EAGAIN): skip\n", i + 1, n);
			fflush(stdout);
			_exit(77);
		}
		CHECK0(r);
	}
	double t1 = now();
	pthread_mutex_lock(&lock);
	while (waiting < n)
		pthread_cond_wait(&all_waiting, &lock);
	long early = released;
	pthread_mutex_unlock(&lock);
	double t2 = now();
	long long m1 = memsample();
	long long kthreads = readval("/proc/self/status", "Threads");
	double t3 = now();

	pthread_mutex_lock(&lock);
	go = 1;
	pthread_cond_broadcast(&go_cond);
	pthread_mutex_unlock(&lock);
	long good = 0;
	for (long i = 0; i < n; i++) {
		void *ret;
		CHECK0(pthread_join(t[i], &ret));
		good += (uintptr_t)ret == (uintptr_t)i;
	}
	double t4 = now();

	double settle = envnum("MILLION_SETTLE"), held = 0, waited = 0;
	if (settle > 0) {
		double target = envnum("MILLION_MAX_HELD"); /* settled: at most this per thread */
		long long base = m0 + (long long)((target > 0 ? target : 64) * (double)n);
		long long m2 = memsample();
		while (m2 > base && waited < settle) {
			usleep(100000);
			waited += 0.1;
			m2 = memsample();
		}
		held = (double)(m2 - m0) / (double)n;
	}
	printf("threads %ld: waited %ld, released before the broadcast %ld, released %ld, joined right %ld\n",
	       n, waiting, early, released, good);
	double secs = (t1 - t0) + (t2 - t1) + (t4 - t3);
	double per = (double)(m1 - m0) / (double)n;
	fprintf(stderr,
		"million: %ld threads (stack %s): %.2f s (create %.2f, until all wait %.2f, release+join %.2f); "
		"%.0f B/thread (RSS+KernelStack+Slab+PageTables); %lld kernel threads while blocked\n",
		n, stack_kib ? argv[2] : "default", secs, t1 - t0, t2 - t1, t4 - t3, per, kthreads);
	if (settle > 0)
		fprintf(stderr, "million: after the joins, %.0f B/thread still held %.1f s later\n", held, waited);
	int bad = waiting != n || early != 0 || released != n || good != n;
	double lim;
	if ((lim = envnum("MILLION_MAX_SECONDS")) > 0 && secs > lim) {
		fprintf(stderr, "million: FAIL %.2f s > %.2f s\n", secs, lim);
		bad = 1;
	}
	if ((lim = envnum("MILLION_MAX_BYTES")) > 0 && per > lim) {
		fprintf(stderr, "million: FAIL %.0f B/thread > %.0f\n", per, lim);
		bad = 1;
	}
	if ((lim = envnum("MILLION_MAX_KTHREADS")) > 0 && (double)kthreads > lim) {
		fprintf(stderr, "million: FAIL %lld kernel threads > %.0f\n", kthreads, lim);
		bad = 1;
	}
	if ((lim = envnum("MILLION_MAX_HELD")) > 0 && settle > 0 && held > lim) {
		fprintf(stderr, "million: FAIL %.0f B/thread still held > %.0f\n", held, lim);
		bad = 1;
	}
	free(t);
	return bad;
}
