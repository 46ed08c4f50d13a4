/* pthread_barrier_* (core/barrier.c) and pthread_spin_* (core/spinlock.c). */
#include "export.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "../core/sync.h"

#define B(x) ((struct gmp_barrier *)(x))

GMP_EXPORT int pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *a, unsigned count)
{
	int ps = PTHREAD_PROCESS_PRIVATE;
	if (count == 0 || count > INT_MAX)
		return EINVAL;
	if (a)
		pthread_barrierattr_getpshared(a, &ps);
	if (ps == PTHREAD_PROCESS_SHARED) {
		GMP_REAL(int, pthread_barrier_init, (pthread_barrier_t *, const pthread_barrierattr_t *, unsigned));
		memset(b, 0, sizeof *b); /* no mark of ours (core/barrier.c) */
		return real_pthread_barrier_init(b, a, count);
	}
	gmp_barrier_init(B(b), count);
	return 0;
}

GMP_EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
	if (!gmp_barrier_ours(B(b))) {
		GMP_REAL(int, pthread_barrier_wait, (pthread_barrier_t *));
		int r;
		FOREIGN_WAIT(WR_BARRIER, r = real_pthread_barrier_wait(b)); /* a shared barrier waits in the kernel */
		return r;
	}
	return gmp_barrier_wait(B(b)) ? PTHREAD_BARRIER_SERIAL_THREAD : 0;
}

GMP_EXPORT int pthread_barrier_destroy(pthread_barrier_t *b)
{
	if (!gmp_barrier_ours(B(b))) {
		GMP_REAL(int, pthread_barrier_destroy, (pthread_barrier_t *));
		return real_pthread_barrier_destroy(b);
	}
	return -gmp_barrier_destroy(B(b));
}

GMP_EXPORT int pthread_spin_init(pthread_spinlock_t *l, int pshared)
{
	(void)pshared; /* the same word across processes (core/spinlock.c) */
	gmp_spin_init((_Atomic int *)l);
	return 0;
}

GMP_EXPORT int pthread_spin_destroy(pthread_spinlock_t *l)
{
	(void)l;
	return 0;
}

GMP_EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
	gmp_spin_lock((_Atomic int *)l);
	return 0;
}

GMP_EXPORT int pthread_spin_trylock(pthread_spinlock_t *l) { return -gmp_spin_trylock((_Atomic int *)l); }

GMP_EXPORT int pthread_spin_unlock(pthread_spinlock_t *l)
{
	gmp_spin_unlock((_Atomic int *)l);
	return 0;
}
