/*
 * pthread_cond_*: adapters over core/cond.c.  pthread_cond_init is
 * glibc's (it stores the condattr's clock and pshared flags in the object);
 * process-shared condvars and condvars used with kernel-side mutexes stay
 * glibc's.
 */
#include "export.h"

#include <errno.h>

#include "../core/sync.h"

#define C(x) ((struct gmp_cond *)(x))
#define M(x) ((struct gmp_mutex *)(x))

static bool kernel_side(pthread_cond_t *c, pthread_mutex_t *m)
{
	return (gmp_cond_flags(c) & GMP_COND_PSHARED) || (m && (M(m)->kind & (GMP_MUTEX_PSHARED | GMP_MUTEX_ROBUST)));
}

static int cond_wait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk, const struct timespec *ts)
{
	int64_t d = gmp_abs_deadline(ts, clk);
	if (d == -2)
		return EINVAL;
	return -gmp_cond_wait(C(c), M(m), d, clk);
}

GMP_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	if (GMP_UNLIKELY(kernel_side(c, m))) {
		GMP_REAL(int, pthread_cond_wait, (pthread_cond_t *, pthread_mutex_t *));
		int r;
		FOREIGN_WAIT(WR_COND, r = real_pthread_cond_wait(c, m)); /* waits in the kernel: let the P go */
		return r;
	}
	return cond_wait(c, m, CLOCK_MONOTONIC, NULL);
}

GMP_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *ts)
{
	if (GMP_UNLIKELY(kernel_side(c, m))) {
		GMP_REAL(int, pthread_cond_timedwait, (pthread_cond_t *, pthread_mutex_t *, const struct timespec *));
		int r;
		FOREIGN_WAIT(WR_COND, r = real_pthread_cond_timedwait(c, m, ts));
		return r;
	}
	return cond_wait(c, m, (gmp_cond_flags(c) & GMP_COND_MONOTONIC) ? CLOCK_MONOTONIC : CLOCK_REALTIME, ts);
}

GMP_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
				      const struct timespec *ts)
{
	if (GMP_UNLIKELY(kernel_side(c, m))) {
		GMP_REAL(int, pthread_cond_clockwait,
			 (pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *));
		int r;
		FOREIGN_WAIT(WR_COND, r = real_pthread_cond_clockwait(c, m, clk, ts));
		return r;
	}
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return EINVAL;
	return cond_wait(c, m, clk, ts);
}

GMP_EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
	if (GMP_UNLIKELY(gmp_cond_flags(c) & GMP_COND_PSHARED)) {
		GMP_REAL(int, pthread_cond_signal, (pthread_cond_t *));
		return real_pthread_cond_signal(c);
	}
	return -gmp_cond_wake(C(c), false);
}

GMP_EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
	if (GMP_UNLIKELY(gmp_cond_flags(c) & GMP_COND_PSHARED)) {
		GMP_REAL(int, pthread_cond_broadcast, (pthread_cond_t *));
		return real_pthread_cond_broadcast(c);
	}
	return -gmp_cond_wake(C(c), true);
}

GMP_EXPORT int pthread_cond_destroy(pthread_cond_t *c)
{
	if (GMP_UNLIKELY(gmp_cond_flags(c) & GMP_COND_PSHARED)) {
		GMP_REAL(int, pthread_cond_destroy, (pthread_cond_t *));
		return real_pthread_cond_destroy(c);
	}
	return -gmp_cond_destroy(C(c));
}
