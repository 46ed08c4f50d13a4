/*
 * Runtime lock and kernel futex helpers (see lock.h for the word's values).
 * The spin before sleeping is short: runtime critical sections are a few
 * dozen instructions, and a system call costs ~1 us on the PVM guests this
 * was measured on.
 */
#include "runtime.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>

int gmp_kfutex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tp = &ts;
	}
	return (int)gmp_sys4(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tp);
}

int gmp_kfutex_wait_abs(_Atomic uint32_t *addr, uint32_t val, int64_t deadline_ns, int clk)
{
	struct timespec ts = {deadline_ns / 1000000000, deadline_ns % 1000000000};
	int op = FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | (clk == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
	return (int)gmp_sys6(SYS_futex, addr, op, val, deadline_ns >= 0 ? &ts : NULL, NULL, FUTEX_BITSET_MATCH_ANY);
}

int gmp_kfutex_wake(_Atomic uint32_t *addr, int n)
{
	return (int)gmp_sys3(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n);
}

void gmp_lock_slow(gmp_lock_t *l)
{
	for (int i = 0; i < 100; i++) {
		uint32_t z = 0;
		if (atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->v, &z, 1, memory_order_acquire, memory_order_relaxed))
			return;
		gmp_cpu_relax();
	}
	while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
		gmp_kfutex_wait(&l->v, 2, -1);
}

void gmp_unlock_slow(gmp_lock_t *l)
{
	gmp_kfutex_wake(&l->v, 1);
}
