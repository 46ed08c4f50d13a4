/*
 * Runtime locks: a futex-backed mutex for short critical sections of the
 * runtime itself, and the sleep/wake-up "note" an M parks on.  Both use raw
 * system calls, so they work on g0, on a G, on a foreign thread and in a
 * signal handler that did not interrupt the lock's holder.
 *
 * Lock word values (gmp_lock_t.v):
 *   0  unlocked
 *   1  locked, nobody sleeping
 *   2  locked, maybe sleepers in the kernel: unlock must FUTEX_WAKE
 *
 * A gmp_lock may be taken on a G and released on g0 of the same M (park
 * does this); it has no owner field for that reason.
 */
#ifndef GMP_CORE_LOCK_H
#define GMP_CORE_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
	_Atomic uint32_t v;
} gmp_lock_t;

#define GMP_LOCK_INIT {0}

void gmp_lock_slow(gmp_lock_t *l) __attribute__((visibility("hidden")));
void gmp_unlock_slow(gmp_lock_t *l) __attribute__((visibility("hidden")));

static inline void gmp_lock(gmp_lock_t *l)
{
	uint32_t z = 0;
	if (!atomic_compare_exchange_strong_explicit(&l->v, &z, 1, memory_order_acquire, memory_order_relaxed))
		gmp_lock_slow(l);
}

static inline int gmp_trylock(gmp_lock_t *l)
{
	uint32_t z = 0;
	return atomic_compare_exchange_strong_explicit(&l->v, &z, 1, memory_order_acquire, memory_order_relaxed);
}

static inline void gmp_unlock(gmp_lock_t *l)
{
	if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2)
		gmp_unlock_slow(l);
}

static inline void gmp_unlock_void(void *l) { gmp_unlock((gmp_lock_t *)l); }

/* Kernel futex helpers (private). Return 0 or -errno. timeout_ns < 0: forever. */
int gmp_kfutex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns) __attribute__((visibility("hidden")));
int gmp_kfutex_wait_abs(_Atomic uint32_t *addr, uint32_t val, int64_t deadline_ns, int clk) __attribute__((visibility("hidden")));
int gmp_kfutex_wake(_Atomic uint32_t *addr, int n) __attribute__((visibility("hidden")));
#endif
