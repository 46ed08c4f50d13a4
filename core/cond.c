/*
 * Condition variables (process-private).
 *
 * A sequence-number condvar: a waiter reads seq, counts itself in nwaiters,
 * releases the mutex and waits on seq while it is unchanged; signal and
 * broadcast bump seq.  A signal that lands between the unlock and the wait
 * changes seq, so the wait returns at once: no lost wake-up.  Spurious
 * wake-ups are possible, as POSIX allows.
 *
 * Broadcast does not wake a herd: it wakes one waiter and moves the rest
 * onto the mutex's wait queue (requeue).  Every waiter relocks the mutex
 * as "contended" (lock word 2), so each unlock wakes the next one in turn.
 *
 * Destroy waits until woken waiters have left the object, as NPTL does, so
 * the common "broadcast, then destroy and free" pattern is safe.
 */
#include "sync.h"

#include <errno.h>
#include <pthread.h>
#include <limits.h>

int gmp_cond_wait(struct gmp_cond *c, struct gmp_mutex *m, int64_t deadline, clockid_t clk)
{
	gmp_testcancel();
	uint32_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
	atomic_fetch_add_explicit(&c->nwaiters, 1, memory_order_relaxed);
	atomic_store_explicit(&c->mutex, m, memory_order_relaxed);

	int err = gmp_mutex_unlock(m);
	if (err) {
		atomic_fetch_sub(&c->nwaiters, 1);
		return err;
	}
	(void)clk;
	int r = gmp_futex_wait_cancel(&c->seq, seq, deadline, WR_COND);
	uint32_t left = atomic_fetch_sub_explicit(&c->nwaiters, 1, memory_order_acq_rel) - 1;
	if (left == GMP_COND_DESTROYING)
		gmp_futex_wake(&c->nwaiters, INT_MAX, GMP_FUTEX_BITSET_ANY);

	/* Relock as contended: requeued waiters behind us are woken by our unlock. */
	gmp_mutex_lock_contended(m);
	if (r == -ECANCELED)
		gmp_testcancel(); /* POSIX: cancellation acts with the mutex held again */
	return r == -ETIMEDOUT ? -ETIMEDOUT : 0;
}

int gmp_cond_wake(struct gmp_cond *c, bool all)
{
	if ((atomic_load_explicit(&c->nwaiters, memory_order_acquire) & ~GMP_COND_DESTROYING) == 0) {
		/* nobody inside wait; a waiter counts itself before it unlocks the mutex */
		return 0;
	}
	atomic_fetch_add_explicit(&c->seq, 1, memory_order_acq_rel);
	if (!all) {
		gmp_futex_wake(&c->seq, 1, GMP_FUTEX_BITSET_ANY);
		return 0;
	}
	struct gmp_mutex *m = atomic_load_explicit(&c->mutex, memory_order_relaxed);
	if (!m) {
		gmp_futex_wake(&c->seq, INT_MAX, GMP_FUTEX_BITSET_ANY);
		return 0;
	}
	/* Wake one; the rest wait for the mutex instead of racing for it. */
	uint32_t cur = atomic_load_explicit(&c->seq, memory_order_relaxed);
	if (gmp_futex_requeue(&c->seq, 1, &m->lock, INT_MAX, &cur) < 0)
		gmp_futex_wake(&c->seq, INT_MAX, GMP_FUTEX_BITSET_ANY);
	return 0;
}

int gmp_cond_destroy(struct gmp_cond *c)
{
	uint32_t n = atomic_fetch_or(&c->nwaiters, GMP_COND_DESTROYING) & ~GMP_COND_DESTROYING;
	while (n) {
		gmp_futex_wait(&c->nwaiters, n | GMP_COND_DESTROYING, GMP_FUTEX_BITSET_ANY, -1, CLOCK_MONOTONIC,
			       WR_COND);
		n = atomic_load(&c->nwaiters) & ~GMP_COND_DESTROYING;
	}
	return 0;
}
