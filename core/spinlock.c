/*
 * Spin locks (pthread_spin_*).  glibc's spin forever, which under gmp can
 * wait for a holder that is not running (it shares our M).  So spin a
 * little, then yield: the G to the scheduler, a foreign thread to the
 * kernel.  The whole family is gmp's because glibc's x86_64 word means
 * 1 = unlocked; here 0 = unlocked, 1 = locked.  The word works across
 * processes as it is, so a process-shared lock is the same.
 */
#include "runtime.h"

#include <errno.h>
#include <sys/syscall.h>

#define SPINLOCK_SPINS 64 /* tries before each yield */

void gmp_spin_init(_Atomic int *w) { atomic_store_explicit(w, 0, memory_order_relaxed); }

void gmp_spin_unlock(_Atomic int *w) { atomic_store_explicit(w, 0, memory_order_release); }

int gmp_spin_trylock(_Atomic int *w)
{
	int z = 0;
	return atomic_compare_exchange_strong_explicit(w, &z, 1, memory_order_acquire, memory_order_relaxed)
		       ? 0
		       : -EBUSY;
}

void gmp_spin_lock(_Atomic int *w)
{
	for (unsigned n = 0;; n++) {
		int z = 0;
		if (atomic_load_explicit(w, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(w, &z, 1, memory_order_acquire, memory_order_relaxed))
			return;
		if (n < SPINLOCK_SPINS) {
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
