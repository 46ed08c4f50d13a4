/* pthread_barrier_* and pthread_spin_*. */
#include "export.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/syscall.h>

#include "../core/sync.h"

#define B(x) ((struct gmp_barrier *)(x))
#define BARRIER_MAGIC 0x676d7062u /* "gmpb" */

GMP_EXPORT int pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *a, unsigned count)
{
	int ps = PTHREAD_PROCESS_PRIVATE;
	if (count == 0 || count > INT_MAX)
		return EINVAL;
	if (a)
		pthread_barrierattr_getpshared(a, &ps);
	memset(b, 0, sizeof *b);
	if (ps == PTHREAD_PROCESS_SHARED) {
		GMP_REAL(int, pthread_barrier_init, (pthread_barrier_t *, const pthread_barrierattr_t *, unsigned));
		return real_pthread_barrier_init(b, a, count);
	}
	B(b)->count = count;
	B(b)->magic = BARRIER_MAGIC;
	return 0;
}

/* Process-shared barriers are glibc's (their layout ends before magic). */
static bool ours(pthread_barrier_t *b) { return B(b)->magic == BARRIER_MAGIC; }

GMP_EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
	if (!ours(b)) {
		GMP_REAL(int, pthread_barrier_wait, (pthread_barrier_t *));
		int r;
		FOREIGN_WAIT(WR_BARRIER, r = real_pthread_barrier_wait(b)); /* a shared barrier waits in the kernel */
		return r;
	}
	return gmp_barrier_wait(B(b)) ? PTHREAD_BARRIER_SERIAL_THREAD : 0;
}

GMP_EXPORT int pthread_barrier_destroy(pthread_barrier_t *b)
{
	if (!ours(b)) {
		GMP_REAL(int, pthread_barrier_destroy, (pthread_barrier_t *));
		return real_pthread_barrier_destroy(b);
	}
	gmp_lock(&B(b)->lock);
	int busy = B(b)->arrived != 0;
	gmp_unlock(&B(b)->lock);
	return busy ? EBUSY : 0;
}

/*
 * Spin locks: glibc's spin forever, which under gmp can wait for a holder
 * that is not running (it shares our M).  Spin a little, then yield the G.
 * The whole family is ours because glibc's x86_64 word means 1 = unlocked;
 * here 0 = unlocked, 1 = locked.
 */
GMP_EXPORT int pthread_spin_init(pthread_spinlock_t *l, int pshared)
{
	(void)pshared; /* a spin word works across processes as it is */
	*(volatile int *)l = 0;
	return 0;
}

GMP_EXPORT int pthread_spin_destroy(pthread_spinlock_t *l)
{
	(void)l;
	return 0;
}

GMP_EXPORT int pthread_spin_unlock(pthread_spinlock_t *l)
{
	atomic_store_explicit((_Atomic int *)l, 0, memory_order_release);
	return 0;
}

GMP_EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
	_Atomic int *w = (_Atomic int *)l;
	for (unsigned n = 0;; n++) {
		int z = 0;
		if (atomic_load_explicit(w, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(w, &z, 1, memory_order_acquire, memory_order_relaxed))
			return 0;
		if (n < 64) {
			gmp_cpu_relax();
			continue;
		}
		struct gmp_g *g = gmp_getg();
		if (g)
			gmp_yield(g);
		else
			gmp_sys0(SYS_sched_yield);
	}
}

GMP_EXPORT int pthread_spin_trylock(pthread_spinlock_t *l)
{
	int z = 0;
	return atomic_compare_exchange_strong_explicit((_Atomic int *)l, &z, 1, memory_order_acquire,
						       memory_order_relaxed) ? 0 : EBUSY;
}
