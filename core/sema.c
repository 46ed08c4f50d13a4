/*
 * Counting semaphores and barriers (process-private).
 *
 * Semaphore: value and waiter count in glibc's own sem_t words.  sem_post
 * bumps the value and wakes one waiter if any is counted; a waiter counts
 * itself before it rechecks the value, so the two never miss each other.
 *
 * Barrier: a small lock and a generation number; the last arriver starts
 * a new generation and wakes everyone waiting on the old one.
 */
#include "sync.h"

#include <errno.h>
#include <pthread.h>
#include <limits.h>

static bool sem_trydec(struct gmp_sem *s)
{
	uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
	while (v > 0)
		if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1, memory_order_acquire,
							  memory_order_relaxed))
			return true;
	return false;
}

int gmp_sem_wait(struct gmp_sem *s, int64_t deadline, bool try)
{
	if (try)
		return sem_trydec(s) ? 0 : -EAGAIN;
	/* As glibc: a bad timespec and a pending cancellation act even when the value is free. */
	if (deadline == -2)
		return -EINVAL;
	gmp_testcancel();
	if (sem_trydec(s))
		return 0;
	atomic_fetch_add(&s->nwaiters, 1);
	int err = 0;
	while (!sem_trydec(s)) {
		int r = gmp_futex_wait_cancel(&s->value, 0, deadline, WR_SEM);
		if (r == -ECANCELED) {
			atomic_fetch_sub(&s->nwaiters, 1);
			gmp_testcancel();
			atomic_fetch_add(&s->nwaiters, 1);
			continue;
		}
		if (r == -ETIMEDOUT) {
			err = -ETIMEDOUT;
			break;
		}
		if (r == -EINTR && (deadline >= 0 || gmp_getg()->sig_norestart)) {
			err = -EINTR; /* sem_wait is restarted after SA_RESTART handlers, sem_timedwait never */
			break;
		}
	}
	atomic_fetch_sub(&s->nwaiters, 1);
	return err;
}

int gmp_sem_post(struct gmp_sem *s)
{
	uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
	do {
		if (v == SEM_VALUE_MAX)
			return -EOVERFLOW;
	} while (!atomic_compare_exchange_weak_explicit(&s->value, &v, v + 1, memory_order_seq_cst,
							memory_order_relaxed));
	if (atomic_load_explicit(&s->nwaiters, memory_order_seq_cst))
		gmp_futex_wake_async(&s->value, 1); /* sem_post is async-signal-safe */
	return 0;
}

int gmp_barrier_wait(struct gmp_barrier *b)
{
	gmp_lock(&b->lock);
	uint32_t gen = atomic_load_explicit(&b->seq, memory_order_relaxed);
	if (++b->arrived == b->count) {
		b->arrived = 0;
		atomic_store_explicit(&b->seq, gen + 1, memory_order_release);
		gmp_unlock(&b->lock);
		gmp_futex_wake(&b->seq, INT_MAX, GMP_FUTEX_BITSET_ANY);
		return 1;
	}
	gmp_unlock(&b->lock);
	while (atomic_load_explicit(&b->seq, memory_order_acquire) == gen)
		gmp_futex_wait(&b->seq, gen, GMP_FUTEX_BITSET_ANY, -1, CLOCK_MONOTONIC, WR_BARRIER);
	return 0;
}
