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

/*
 * FS-base traps (fstrap.c): a kernel sleep is a context switch, after
 * which an armed kernel thread's FS base is its trap address.  The value
 * before the sleep is the right one after it (a wait does not change
 * which TCB its code runs with), so it is put back at once, for a few
 * cycles instead of a trap at the next TLS access.  On a kernel thread
 * that is not armed the kernel has put it back already.
 */
static inline void *fs_before(void) { return GMP_UNLIKELY(gmp_fstrap) ? gmp_rdfsbase() : NULL; }
static inline void fs_after(void *fs)
{
	if (GMP_UNLIKELY(fs != NULL) && gmp_rdfsbase() != fs)
		gmp_wrfsbase(fs);
}

int gmp_kfutex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tp = &ts;
	}
	void *fs = fs_before();
	int r = (int)gmp_sys4(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tp);
	fs_after(fs);
	return r;
}

int gmp_kfutex_wait_abs(_Atomic uint32_t *addr, uint32_t val, int64_t deadline_ns, int clk)
{
	struct timespec ts = {deadline_ns / 1000000000, deadline_ns % 1000000000};
	int op = FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | (clk == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
	void *fs = fs_before();
	int r = (int)gmp_sys6(SYS_futex, addr, op, val, deadline_ns >= 0 ? &ts : NULL, NULL, FUTEX_BITSET_MATCH_ANY);
	fs_after(fs);
	return r;
}

int gmp_kfutex_wake(_Atomic uint32_t *addr, int n)
{
	/* the thread woken may take this one's CPU at once (a switch) */
	void *fs = fs_before();
	int r = (int)gmp_sys3(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n);
	fs_after(fs);
	return r;
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
