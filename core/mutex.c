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
#include <linux/futex.h>
#include <sys/syscall.h>

static long tid_off = -1; /* thread pointer to glibc's tid field; set once */

pid_t gmp_self_tid(void)
{
	if (GMP_UNLIKELY(tid_off < 0))
		tid_off = (long)((char *)gmp_tcb_tid_addr(gmp_arch_get_tp()) - (char *)gmp_arch_get_tp());
	pid_t t = *(pid_t *)((char *)gmp_arch_get_tp() + tid_off);
	if (GMP_UNLIKELY(t <= (1 << 22))) {
		/* a real tid: a foreign thread, main, or a G locked to its M (whose owner id stays its own) */
		struct gmp_g *g = gmp_getg();
		if (g && g->lockedm)
			return g->lockedm_savedtid;
	}
	return t;
}

/*
 * A G locked to its M ends while its M lives on, so the kernel will not
 * walk its robust list: do what the kernel does for a dying thread
 * (kernel/futex: handle_futex_death).  Every listed lock word, and the
 * one being locked or unlocked (list_op_pending), that still names this
 * thread gets FUTEX_OWNER_DIED with the waiters bit kept, and one waiter
 * is woken; the next locker gets EOWNERDEAD.  Robust mutexes wait in the
 * kernel with shared futexes, as glibc's do.  Priority-inheritance entries
 * are the kernel's pi_state's: they are marked, not handed over.  g0.
 */
#define ROBUST_LIST_LIMIT 2048

static void wake_shared(uint32_t *word) { gmp_sys3(SYS_futex, word, FUTEX_WAKE, 1); }

static void robust_death(uint32_t *word, pid_t tid, bool pending)
{
	for (;;) {
		uint32_t v = atomic_load((_Atomic uint32_t *)word);
		if ((v & FUTEX_TID_MASK) != (uint32_t)tid) {
			if (pending && v == 0)
				wake_shared(word); /* died between unlock and wake */
			return;
		}
		uint32_t nv = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
		if (atomic_compare_exchange_strong((_Atomic uint32_t *)word, &v, nv)) {
			if (v & FUTEX_WAITERS)
				wake_shared(word);
			return;
		}
	}
}

void gmp_robust_exit(struct gmp_g *g, pid_t tid)
{
	struct robust_list_head *h = gmp_tcb_robust_head(g->tcb);
	uintptr_t pending = (uintptr_t)h->list_op_pending;
	struct robust_list *e = h->list.next;
	for (int n = 0; e != &h->list && n < ROBUST_LIST_LIMIT; n++) {
		struct robust_list *next = (struct robust_list *)((uintptr_t)e->next & ~(uintptr_t)1);
		bool pi = (uintptr_t)e->next & 1;
		if ((uintptr_t)e != (pending & ~(uintptr_t)1) && !pi)
			robust_death((uint32_t *)((char *)e + h->futex_offset), tid, false);
		e = next;
	}
	if (pending && !(pending & 1))
		robust_death((uint32_t *)((char *)(pending & ~(uintptr_t)1) + h->futex_offset), tid, true);
	h->list.next = &h->list;
	h->list_op_pending = NULL;
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
