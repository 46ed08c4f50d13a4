/*
 * bench/bench.h: the little that every benchmark program shares.
 *
 * The benchmarks are ordinary pthread programs: they know nothing of gmp
 * and are compiled without it.  scripts/bench runs each one natively and
 * under LD_PRELOAD=build/libgmp_preload.so.  Each program measures one
 * figure and prints exactly one line
 *
 *     RESULT <name> <value> <unit>
 *
 * on stdout.  It also checks its own work (every hand-off counted, every
 * byte compared); when a check fails it prints "FAIL <name>: why" and exits
 * with status 1, so a fast but wrong run never shows up as a number.  A unit
 * ending in "/s" is a rate (higher is better); any other unit is a time
 * (lower is better).  scripts/bench relies on that rule.
 *
 * Sizes come from, in order: the program's positional arguments, an
 * environment variable named in each program (BENCH_ITERS and so on), the
 * quick default when BENCH_QUICK=1 (about a second per run), else the full
 * default.  BENCH_TIMEOUT (seconds, default 300) bounds every run: past it
 * the program prints FAIL and exits, so a deadlock cannot hang a benchmark
 * session.
 */
#ifndef GMP_BENCH_H
#define GMP_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *bench_name = "bench";
static char bench_timeout_msg[128] = "FAIL bench: timeout\n";

/* Prints "FAIL <name>: <message>" and exits with status 1. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void
bench_fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", bench_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

/* Fails the benchmark when a pthread-style call returned an error number. */
#define BENCH_CHECK(call)                                                     \
	do {                                                                  \
		int bench_rc_ = (call);                                       \
		if (bench_rc_ != 0)                                           \
			bench_fail("%s: %s", #call, strerror(bench_rc_));     \
	} while (0)

/* Fails the benchmark when a libc-style call returned -1 (errno set). */
#define BENCH_CHECK_SYS(call)                                                 \
	do {                                                                  \
		if ((call) == -1)                                             \
			bench_fail("%s: %s", #call, strerror(errno));         \
	} while (0)

static inline uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void
bench_timeout(int sig)
{
	(void)sig;
	/* Only async-signal-safe calls here. */
	if (write(STDOUT_FILENO, bench_timeout_msg,
		  strlen(bench_timeout_msg)) < 0) {
		/* Nothing more to do: we are exiting anyway. */
	}
	_exit(1);
}

/* Names the benchmark, arms the BENCH_TIMEOUT alarm and raises the soft
 * open-file limit to the hard one (the socket benchmarks need a few
 * thousand descriptors). */
static inline void
bench_init(const char *name)
{
	const char *t = getenv("BENCH_TIMEOUT");
	struct rlimit rl;

	bench_name = name;
	snprintf(bench_timeout_msg, sizeof bench_timeout_msg,
		 "FAIL %s: timeout (BENCH_TIMEOUT=%s s)\n", name,
		 t != NULL ? t : "300");
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, bench_timeout);
	alarm(t != NULL ? (unsigned)atoi(t) : 300);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static inline int
bench_quick(void)
{
	const char *q = getenv("BENCH_QUICK");

	return q != NULL && *q != '\0' && strcmp(q, "0") != 0;
}

/* One size parameter: argv[idx] if given, else $env if set, else the quick
 * or the full default.  A value that is not a positive integer fails. */
static inline long
bench_param(int argc, char **argv, int idx, const char *env, long full,
	    long quick)
{
	const char *s = NULL;
	char *end;
	long v;

	if (idx < argc)
		s = argv[idx];
	else if (env != NULL)
		s = getenv(env);
	if (s == NULL || *s == '\0')
		return bench_quick() ? quick : full;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		bench_fail("bad size parameter \"%s\" (%s)", s,
			   idx < argc ? "argument" : env);
	return v;
}

/* The one RESULT line.  Values are printed with enough digits to compare
 * runs, without a thousands separator, in the C locale. */
static inline void
bench_result(double value, const char *unit)
{
	printf("RESULT %s %.6g %s\n", bench_name, value, unit);
	fflush(stdout);
}

/* "OPS <name> <n> <what>": how many operations the figure covers (hand-offs,
 * round trips, requests...), so that scripts/bench can give per-operation
 * counts (CPU time, kernel sleeps, gmp's FS writes) beside the figure. */
static inline void
bench_ops(double n, const char *what)
{
	printf("OPS %s %.0f %s\n", bench_name, n, what);
	fflush(stdout);
}

/* pthread_create with a given stack size (0: default attributes). */
static inline void
bench_spawn(pthread_t *t, size_t stack, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;

	if (stack == 0) {
		BENCH_CHECK(pthread_create(t, NULL, fn, arg));
		return;
	}
	BENCH_CHECK(pthread_attr_init(&attr));
	BENCH_CHECK(pthread_attr_setstacksize(&attr, stack));
	BENCH_CHECK(pthread_create(t, &attr, fn, arg));
	BENCH_CHECK(pthread_attr_destroy(&attr));
}

#endif /* GMP_BENCH_H */
