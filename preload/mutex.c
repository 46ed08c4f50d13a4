/*
 * pthread_mutex_*: adapters over core/mutex.c.  Initialisation and
 * attributes are glibc's own (they only fill in the kind word).
 * Process-shared and robust mutexes stay glibc's: they wait in the kernel.
 * The kernel names the owner of a robust (or shared priority-inheritance)
 * lock by its kernel thread, so a G that uses one is first locked to its
 * M for the rest of its life (gmp_lockm): its owner-died handling at
 * thread and process death is then the kernel's, as under NPTL.
 */
#include "export.h"

#include <errno.h>

#include "../core/sync.h"

#define M(x) ((struct gmp_mutex *)(x))
#define KERNEL_KIND (GMP_MUTEX_PSHARED | GMP_MUTEX_ROBUST)

static bool clock_ok(clockid_t c) { return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC; }

/* Before glibc writes our tid into a lock word the kernel reads. */
static void kernel_owner(pthread_mutex_t *m)
{
	int k = M(m)->kind;
	if ((k & GMP_MUTEX_ROBUST) || ((k & GMP_MUTEX_PSHARED) && (k & GMP_MUTEX_PRIO_INHERIT))) {
		struct gmp_g *g = gmp_getg();
		if (g)
			gmp_lockm(g);
	}
}

GMP_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	if (GMP_UNLIKELY(M(m)->kind & KERNEL_KIND)) {
		kernel_owner(m);
		GMP_REAL(int, pthread_mutex_lock, (pthread_mutex_t *));
		int r;
		FOREIGN_WAIT(WR_MUTEX, r = real_pthread_mutex_lock(m)); /* waits in the kernel: let the P go */
		return r;
	}
	return -gmp_mutex_lock(M(m), -1, CLOCK_MONOTONIC, false);
}

GMP_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	if (GMP_UNLIKELY(M(m)->kind & KERNEL_KIND)) {
		kernel_owner(m);
		GMP_REAL(int, pthread_mutex_trylock, (pthread_mutex_t *));
		return real_pthread_mutex_trylock(m);
	}
	return -gmp_mutex_lock(M(m), -1, CLOCK_MONOTONIC, true);
}

GMP_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk, const struct timespec *ts)
{
	if (GMP_UNLIKELY(M(m)->kind & KERNEL_KIND)) {
		kernel_owner(m);
		GMP_REAL(int, pthread_mutex_clocklock, (pthread_mutex_t *, clockid_t, const struct timespec *));
		int r;
		FOREIGN_WAIT(WR_MUTEX, r = real_pthread_mutex_clocklock(m, clk, ts));
		return r;
	}
	if (!clock_ok(clk))
		return EINVAL;
	return -gmp_mutex_lock(M(m), gmp_abs_deadline(ts, clk), clk, false);
}

GMP_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *ts)
{
	if (GMP_UNLIKELY(M(m)->kind & KERNEL_KIND)) {
		kernel_owner(m);
		GMP_REAL(int, pthread_mutex_timedlock, (pthread_mutex_t *, const struct timespec *));
		int r;
		FOREIGN_WAIT(WR_MUTEX, r = real_pthread_mutex_timedlock(m, ts));
		return r;
	}
	return -gmp_mutex_lock(M(m), gmp_abs_deadline(ts, CLOCK_REALTIME), CLOCK_REALTIME, false);
}

GMP_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	if (GMP_UNLIKELY(M(m)->kind & KERNEL_KIND)) {
		GMP_REAL(int, pthread_mutex_unlock, (pthread_mutex_t *));
		return real_pthread_mutex_unlock(m);
	}
	return -gmp_mutex_unlock(M(m));
}

GMP_EXPORT int pthread_mutex_destroy(pthread_mutex_t *m)
{
	if (GMP_UNLIKELY(M(m)->kind & KERNEL_KIND)) {
		GMP_REAL(int, pthread_mutex_destroy, (pthread_mutex_t *));
		return real_pthread_mutex_destroy(m);
	}
	if (atomic_load(&M(m)->lock) & GMP_MUTEX_HELD)
		return EBUSY;
	M(m)->kind = -1; /* as glibc: a destroyed mutex is not a usable mutex */
	return 0;
}
