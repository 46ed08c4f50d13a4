/*
 * Shared by every preload/ and syscall-shims/ file: the export marker and
 * small helpers for turning core results into POSIX ones, and for calling
 * glibc with hand-off.  preload/ holds adapters only: check arguments,
 * convert, call core.  No scheduling logic lives here.
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

#include <errno.h>

/*
 * GMP_REAL(ret, name, args): declares real_name, glibc's definition of the
 * interposed name, looked up by gmp_real (core/libc.c) on the first call.
 * Works before start-up and on foreign threads; never finds gmp's own.
 * The one way to reach glibc from an interposed function, but for what
 * must not be looked up at the call (a vfork child), which is in gmp_libc.
 */
#define GMP_REAL(ret, name, args)                                              \
	static ret(*real_##name) args;                                         \
	if (GMP_UNLIKELY(!real_##name))                                        \
		real_##name = (ret(*) args)gmp_real(#name)

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

/* A kernel result (-errno) in the libc convention: errno and -1. */
static inline long shim_ret(long r)
{
	if ((unsigned long)r > -4096UL) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* Run an arbitrary blocking libc call with hand-off: HANDOFF(g, r = real_x(...)). */
#define HANDOFF(stmt)                                      \
	do {                                               \
		struct gmp_g *g_ = gmp_getg();             \
		if (g_)                                    \
			gmp_entersyscall(g_);              \
		stmt;                                      \
		if (g_)                                    \
			gmp_exitsyscall(g_);               \
	} while (0)

/*
 * A wait inside glibc's own code, on a process-shared (or robust) object:
 * with its system calls trapped, its futex waits park the G and cost no
 * kernel thread (core/xwait.c); else, or for the first few at a time, a
 * hand-off.
 */
#define FOREIGN_WAIT(why, stmt)                                   \
	do {                                                      \
		struct gmp_g *g_ = gmp_getg();                    \
		int how_ = g_ ? gmp_xwait_begin(g_, (why)) : 0;   \
		if (how_ == 2) {                                  \
			stmt;                                     \
			gmp_xwait_end(g_, 2);                     \
		} else {                                          \
			HANDOFF(stmt);                            \
			if (how_)                                 \
				gmp_xwait_end(g_, 1);             \
		}                                                 \
	} while (0)
#endif
