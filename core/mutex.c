/*
 * Mutexes (normal, recursive, errorcheck, adaptive) for process-private
 * objects.  The lock word is the classic three-state futex lock (see
 * sync.h); its futex is the runtime's wait queue, so a contended locker
 * parks its G and the M runs another.
 *
 * Fast paths never enter the scheduler: lock is one CAS, unlock one
 * exchange, plus the owner store.  The adaptive kind spins a little before
 * parking.  Priority-inherit and priority-protect mutexes behave as
 * normal ones: among user threads of one process on a handful of kernel
 * threads priorities have no meaning, and the kernel's PI futexes would
 * need real tids.
 */
#include "sync.h"

#include <errno.h>
#include <limits.h>

static long tid_off = -1; /* thread pointer to glibc's tid field; set once */

pid_t gmp_self_tid(void)
{
	if (GMP_UNLIKELY(tid_off < 0))
		tid_off = (long)((char *)gmp_tcb_tid_addr(gmp_arch_get_tp()) - (char *)gmp_arch_get_tp());
	return *(pid_t *)((char *)gmp_arch_get_tp() + tid_off);
}

static int lock_slow(struct gmp_mutex *m, int64_t deadline, clockid_t clk)
{
	int kind = m->kind & GMP_MUTEX_KIND_MASK;
	if (kind == PTHREAD_MUTEX_ADAPTIVE_NP) {
		for (int i = 0; i < 100; i++) {
			uint32_t z = 0;
			if (atomic_load_explicit(&m->lock, memory_order_relaxed) == 0 &&
			    atomic_compare_exchange_weak_explicit(&m->lock, &z, 1, memory_order_acquire,
								  memory_order_relaxed))
				return 0;
			gmp_cpu_relax();
		}
	}
	/* From here on we may have company: mark the lock contended. */
	while (atomic_exchange_explicit(&m->lock, 2, memory_order_acquire) != 0) {
		int r = gmp_futex_wait(&m->lock, 2, GMP_FUTEX_BITSET_ANY, deadline, clk, WR_MUTEX);
		if (r == -ETIMEDOUT)
			return ETIMEDOUT;
		if (r == -ENOMEM)
			return EAGAIN;
	}
	return 0;
}

int gmp_mutex_lock(struct gmp_mutex *m, int64_t deadline, clockid_t clk, bool try)
{
	int kind = m->kind & GMP_MUTEX_KIND_MASK;
	if (kind != PTHREAD_MUTEX_NORMAL && kind != PTHREAD_MUTEX_ADAPTIVE_NP) {
		pid_t self = gmp_self_tid();
		if (atomic_load_explicit(&m->owner, memory_order_relaxed) == self) {
			if (kind == PTHREAD_MUTEX_ERRORCHECK)
				return try ? EBUSY : EDEADLK;
			if (m->count == UINT_MAX)
				return EAGAIN;
			m->count++;
			return 0;
		}
	}
	uint32_t z = 0;
	if (!atomic_compare_exchange_strong_explicit(&m->lock, &z, 1, memory_order_acquire, memory_order_relaxed)) {
		if (try)
			return EBUSY;
		if (deadline == -2)
			return EINVAL; /* bad timespec: reported only when the call would block, as NPTL */
		int err = lock_slow(m, deadline, clk);
		if (err)
			return err;
	}
	atomic_store_explicit(&m->owner, gmp_self_tid(), memory_order_relaxed);
	return 0;
}

void gmp_mutex_lock_contended(struct gmp_mutex *m)
{
	while (atomic_exchange_explicit(&m->lock, 2, memory_order_acquire) != 0)
		gmp_futex_wait(&m->lock, 2, GMP_FUTEX_BITSET_ANY, -1, CLOCK_MONOTONIC, WR_MUTEX);
	atomic_store_explicit(&m->owner, gmp_self_tid(), memory_order_relaxed);
}

int gmp_mutex_unlock(struct gmp_mutex *m)
{
	int kind = m->kind & GMP_MUTEX_KIND_MASK;
	if (kind != PTHREAD_MUTEX_NORMAL && kind != PTHREAD_MUTEX_ADAPTIVE_NP) {
		if (atomic_load_explicit(&m->owner, memory_order_relaxed) != gmp_self_tid() ||
		    atomic_load_explicit(&m->lock, memory_order_relaxed) == 0)
			return EPERM;
		if (m->count) {
			m->count--;
			return 0;
		}
	}
	atomic_store_explicit(&m->owner, 0, memory_order_relaxed);
	if (atomic_exchange_explicit(&m->lock, 0, memory_order_release) == 2)
		gmp_futex_wake(&m->lock, 1, GMP_FUTEX_BITSET_ANY);
	return 0;
}
