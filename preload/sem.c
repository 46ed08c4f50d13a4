/*
 * Unnamed and named semaphores: adapters over core/sema.c.  sem_init,
 * sem_getvalue, sem_open, sem_close and sem_unlink are glibc's (the named
 * ones map a shared file; sem_open'ed and pshared semaphores wait in the
 * kernel through glibc, as other processes use them too).
 */
#include "export.h"

#include <errno.h>
#include <semaphore.h>

#include "../core/sync.h"

#define S(x) ((struct gmp_sem *)(x))

static inline bool shared(sem_t *s) { return S(s)->priv != 0; }

GMP_EXPORT int sem_wait(sem_t *s)
{
	if (GMP_UNLIKELY(shared(s))) {
		GMP_REAL(int, sem_wait, (sem_t *));
		int r;
		FOREIGN_WAIT(WR_SEM, r = real_sem_wait(s)); /* a shared semaphore waits in the kernel */
		return r;
	}
	return (int)shim_ret(gmp_sem_wait(S(s), -1, false));
}

GMP_EXPORT int sem_trywait(sem_t *s)
{
	if (GMP_UNLIKELY(shared(s))) {
		GMP_REAL(int, sem_trywait, (sem_t *));
		return real_sem_trywait(s);
	}
	return (int)shim_ret(gmp_sem_wait(S(s), -1, true));
}

GMP_EXPORT int sem_timedwait(sem_t *s, const struct timespec *ts)
{
	if (GMP_UNLIKELY(shared(s))) {
		GMP_REAL(int, sem_timedwait, (sem_t *, const struct timespec *));
		int r;
		FOREIGN_WAIT(WR_SEM, r = real_sem_timedwait(s, ts));
		return r;
	}
	return (int)shim_ret(gmp_sem_wait(S(s), gmp_abs_deadline(ts, CLOCK_REALTIME), false));
}

GMP_EXPORT int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *ts)
{
	if (GMP_UNLIKELY(shared(s))) {
		GMP_REAL(int, sem_clockwait, (sem_t *, clockid_t, const struct timespec *));
		int r;
		FOREIGN_WAIT(WR_SEM, r = real_sem_clockwait(s, clk, ts));
		return r;
	}
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return (int)shim_ret(-EINVAL);
	return (int)shim_ret(gmp_sem_wait(S(s), gmp_abs_deadline(ts, clk), false));
}

GMP_EXPORT int sem_post(sem_t *s)
{
	if (GMP_UNLIKELY(shared(s))) {
		GMP_REAL(int, sem_post, (sem_t *));
		return real_sem_post(s);
	}
	return (int)shim_ret(gmp_sem_post(S(s)));
}
