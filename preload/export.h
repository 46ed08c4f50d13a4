/*
 * Shared by every preload/ file: the export marker and small helpers for
 * turning core results into POSIX ones.  preload/ holds adapters only:
 * check arguments, convert, call core.  No scheduling logic lives here.
 */
#ifndef GMP_PRELOAD_EXPORT_H_
#define GMP_PRELOAD_EXPORT_H_

#include "../core/runtime.h"

#define GMP_EXPORT __attribute__((visibility("default")))

/* The G behind a pthread_t, or NULL when it names a kernel thread gmp did not create. */
static inline struct gmp_g *gmp_thread_g(unsigned long th)
{
	return gmp_g_from_tcb((void *)th);
}

#include <dlfcn.h>

/* The next definition of an interposed name (glibc's), looked up once. */
#define GMP_REAL(ret, name, args)                                              \
	static ret(*real_##name) args;                                         \
	if (GMP_UNLIKELY(!real_##name))                                        \
		real_##name = (ret(*) args)dlsym(RTLD_NEXT, #name)

/*
 * Deadline for a timed wait on clock clk, as core wants it: -1 none, -2 bad
 * timespec (reported only if the call would block, as NPTL does), else an
 * absolute CLOCK_MONOTONIC time in ns.
 */
static inline int64_t gmp_abs_deadline(const struct timespec *ts, clockid_t clk)
{
	if (!ts)
		return -1;
	int64_t d = gmp_deadline_from(ts, clk, true);
	return d < 0 ? -2 : d;
}
#endif
