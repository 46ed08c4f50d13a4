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

long gmp_mutex_tid_off = -1;

pid_t gmp_self_tid_slow(void)
{
	if (gmp_mutex_tid_off < 0)
		gmp_mutex_tid_off = (long)((char *)gmp_tcb_tid_addr(gmp_arch_get_tp()) - (char *)gmp_arch_get_tp());
	pid_t t = *(pid_t *)((char *)gmp_arch_get_tp() + gmp_mutex_tid_off);
	if (t <= (1 << 22)) {
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
 * kernel with shared futexes, as glibc's do.  A priority-inheritance lock
 * nobody waits for is marked the same way (the kernel lets the next
 * FUTEX_LOCK_PI take it, OWNER_DIED kept); when one has waiters, the M's
 * kernel thread ends with the list (gmp_robust_exit).  g0.
 */
#define ROBUST_LIST_LIMIT 2048

static void wake_shared(uint32_t *word) { gmp_sys3(SYS_futex, word, FUTEX_WAKE, 1); }

static void robust_death(uint32_t *word, pid_t tid, bool pending, bool pi)
{
	for (;;) {
		uint32_t v = atomic_load((_Atomic uint32_t *)word);
		if ((v & FUTEX_TID_MASK) != (uint32_t)tid) {
			if (pending && v == 0 && !pi)
				wake_shared(word); /* died between unlock and wake */
			return;
		}
		if (pi && (v & FUTEX_WAITERS)) {
			/*
			 * Waiters sleep on the kernel's pi_state, owned by this kernel
			 * thread, which lives on (m0, or a fork child's M, which cannot
			 * end): only an unlock by it hands the lock on, and the new
			 * owner is not told EOWNERDEAD (docs/behaviour.md, limits).
			 */
			gmp_sys3(SYS_futex, word, FUTEX_UNLOCK_PI, 0);
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

/* A priority-inheritance entry with waiters: only the kernel thread's end hands those on right. */
static bool pi_waited(struct robust_list_head *h, pid_t tid)
{
	uintptr_t raw = (uintptr_t)h->list.next;
	for (int n = 0; (raw & ~(uintptr_t)1) != (uintptr_t)&h->list && n < ROBUST_LIST_LIMIT; n++) {
		struct robust_list *e = (struct robust_list *)(raw & ~(uintptr_t)1);
		uint32_t v = atomic_load((_Atomic uint32_t *)((char *)e + h->futex_offset));
		if ((raw & 1) && (v & FUTEX_TID_MASK) == (uint32_t)tid && (v & FUTEX_WAITERS))
			return true;
		raw = (uintptr_t)e->next;
	}
	return false;
}

bool gmp_robust_exit(struct gmp_g *g, pid_t tid, void *mhead)
{
	struct robust_list_head *h = gmp_tcb_robust_head(g->tcb);
	if (mhead && pi_waited(h, tid)) {
		/*
		 * The M's kernel thread ends instead (sched.c), with this list
		 * moved to the head the kernel knows for it (its own TCB's, the
		 * G's TCB may be reused first): the kernel marks every lock
		 * OWNER_DIED and gives each PI lock to its top waiter with the
		 * bit kept, which nothing else can do.
		 */
		struct robust_list_head *mh = mhead;
		uintptr_t raw = (uintptr_t)h->list.next;
		struct robust_list *last = NULL;
		for (int n = 0; (raw & ~(uintptr_t)1) != (uintptr_t)&h->list && n < ROBUST_LIST_LIMIT; n++) {
			last = (struct robust_list *)(raw & ~(uintptr_t)1);
			raw = (uintptr_t)last->next;
		}
		mh->futex_offset = h->futex_offset;
		mh->list_op_pending = h->list_op_pending;
		mh->list.next = h->list.next;
		if (last)
			last->next = (struct robust_list *)((uintptr_t)&mh->list | (raw & 1));
		h->list.next = &h->list;
		h->list_op_pending = NULL;
		return true;
	}
	uintptr_t pending = (uintptr_t)h->list_op_pending;
	/* As the kernel reads it: bit 0 of a pointer says the entry it points to is a PI mutex. */
	uintptr_t raw = (uintptr_t)h->list.next;
	for (int n = 0; (raw & ~(uintptr_t)1) != (uintptr_t)&h->list && n < ROBUST_LIST_LIMIT; n++) {
		struct robust_list *e = (struct robust_list *)(raw & ~(uintptr_t)1);
		uintptr_t next = (uintptr_t)e->next;
		if ((uintptr_t)e != (pending & ~(uintptr_t)1))
			robust_death((uint32_t *)((char *)e + h->futex_offset), tid, false, raw & 1);
		raw = next;
	}
	if (pending)
		robust_death((uint32_t *)((char *)(pending & ~(uintptr_t)1) + h->futex_offset), tid, true,
			     pending & 1);
	h->list.next = &h->list;
	h->list_op_pending = NULL;
	return false;
}

/*
 * The contended path.  At most one waiter is woken at a time: an unlock
 * that finds waiters wakes one only if none is woken already (the WOKEN
 * bit, Go's mutexWoken), and the woken one clears the bit when it takes
 * the lock or parks again.  Without it every unlock of a lock that two Ps
 * fight over woke one more G, which ran only to find the lock taken and
 * park: 8 threads on one lock made 400,000-600,000 switches a second and
 * ran at a third of the rate of one P alone.
 *
 * retaken records whether the last woken waiter found the lock taken
 * again; while it does, unlocks wake lazily (core/spin.c: the woken G
 * waits on the unlocker's P, which will most likely relock, instead of
 * fighting it from another P).
 *
 * woken: the caller may have been woken on the lock's queue (a condvar
 * waiter may have been requeued there: it takes the lock as woken, but
 * tells nothing of retaking, since a signal may have woken it instead).
 */
static int lock_wait(struct gmp_mutex *m, int64_t deadline, clockid_t clk, bool woken)
{
	bool parked = false;
	for (;;) {
		uint32_t v = atomic_load_explicit(&m->lock, memory_order_relaxed);
		if (woken && parked)
			__atomic_store_n(&m->retaken, (v & GMP_MUTEX_HELD) != 0, __ATOMIC_RELAXED);
		uint32_t nv = 2 | (woken ? 0 : (v & GMP_MUTEX_WOKEN));
		if (!(v & GMP_MUTEX_HELD)) {
			/*
			 * Free.  A woken waiter takes it as "locked with possible
			 * waiters" (glibc's exchange(2)): others may still sleep,
			 * and its unlock must wake the next.  Anyone else takes it
			 * as plainly locked: the word is 0 only when nobody sleeps
			 * on it, and with WOKEN set the woken one covers them.
			 */
			if (!woken)
				nv = v | 1;
			if (atomic_compare_exchange_weak_explicit(&m->lock, &v, nv, memory_order_acquire,
								  memory_order_relaxed))
				return 0;
			continue;
		}
		if (v != nv && !atomic_compare_exchange_weak_explicit(&m->lock, &v, nv, memory_order_relaxed,
								      memory_order_relaxed))
			continue;
		woken = false;
		int r = gmp_futex_wait(&m->lock, nv, GMP_FUTEX_BITSET_ANY, deadline, clk, WR_MUTEX);
		if (r == -ETIMEDOUT)
			return -ETIMEDOUT;
		if (r == -ENOMEM)
			return -EAGAIN;
		woken = r == 0;
		parked = true;
	}
}

static int lock_slow(struct gmp_mutex *m, int64_t deadline, clockid_t clk)
{
	int kind = m->kind & GMP_MUTEX_KIND_MASK;
	if (kind == PTHREAD_MUTEX_ADAPTIVE_NP) {
		for (int i = 0; i < 100; i++) {
			uint32_t v = atomic_load_explicit(&m->lock, memory_order_relaxed);
			if (!(v & GMP_MUTEX_HELD) &&
			    atomic_compare_exchange_weak_explicit(&m->lock, &v, v | 1, memory_order_acquire,
								  memory_order_relaxed))
				return 0;
			gmp_cpu_relax();
		}
	}
	return lock_wait(m, deadline, clk, false);
}

int gmp_mutex_lock_any(struct gmp_mutex *m, int64_t deadline, clockid_t clk, bool try)
{
	if (!gmp_mutex_plain(m)) {
		int kind = m->kind & GMP_MUTEX_KIND_MASK;
		pid_t self = gmp_self_tid();
		if (atomic_load_explicit(&m->owner, memory_order_relaxed) == self) {
			if (kind == PTHREAD_MUTEX_ERRORCHECK)
				return try ? -EBUSY : -EDEADLK;
			if (m->count == UINT_MAX)
				return -EAGAIN;
			m->count++;
			return 0;
		}
	}
	if (!gmp_mutex_take_free(m)) {
		if (try)
			return -EBUSY;
		if (deadline == -2)
			return -EINVAL; /* bad timespec: reported only when the call would block, as NPTL */
		int err = lock_slow(m, deadline, clk);
		if (err)
			return err;
	}
	atomic_store_explicit(&m->owner, gmp_self_tid(), memory_order_relaxed);
	return 0;
}

void gmp_mutex_lock_contended(struct gmp_mutex *m)
{
	lock_wait(m, -1, CLOCK_MONOTONIC, true);
	atomic_store_explicit(&m->owner, gmp_self_tid(), memory_order_relaxed);
}

/*
 * An unlock set WOKEN but its wake-up found nobody (the waiter timed out
 * first): clear the bit.  If the word changed meanwhile, another unlock
 * may have left a waiter asleep trusting the bit, so wake one more.
 */
static void unwoken(struct gmp_mutex *m)
{
	uint32_t v = GMP_MUTEX_WOKEN;
	if (atomic_compare_exchange_strong_explicit(&m->lock, &v, 0, memory_order_relaxed, memory_order_relaxed))
		return;
	atomic_fetch_and_explicit(&m->lock, ~GMP_MUTEX_WOKEN, memory_order_relaxed);
	gmp_futex_wake(&m->lock, 1, GMP_FUTEX_BITSET_ANY);
}

void gmp_mutex_wake(struct gmp_mutex *m, uint32_t v)
{
	if ((v & GMP_MUTEX_HELD) == 2 && !(v & GMP_MUTEX_WOKEN)) {
		/*
		 * Only an unlock sets WOKEN, and one runs at a time; a locker
		 * that takes the lock in between takes it as plainly locked
		 * and its unlock wakes nobody, which is right: ours does.
		 */
		atomic_fetch_or_explicit(&m->lock, GMP_MUTEX_WOKEN, memory_order_relaxed);
		int n = __atomic_load_n(&m->retaken, __ATOMIC_RELAXED) ? gmp_futex_wake_lazy(&m->lock)
									 : gmp_futex_wake(&m->lock, 1, GMP_FUTEX_BITSET_ANY);
		if (n == 0)
			unwoken(m);
	}
}

int gmp_mutex_unlock_any(struct gmp_mutex *m)
{
	if (!gmp_mutex_plain(m)) {
		if (atomic_load_explicit(&m->owner, memory_order_relaxed) != gmp_self_tid() ||
		    !(atomic_load_explicit(&m->lock, memory_order_relaxed) & GMP_MUTEX_HELD))
			return -EPERM;
		if (m->count) {
			m->count--;
			return 0;
		}
	}
	gmp_mutex_release(m);
	return 0;
}
