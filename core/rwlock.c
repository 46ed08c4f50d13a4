/*
 * Reader-writer locks (process-private).  State word: bit 31 a writer
 * holds the lock, low bits the number of readers (sync.h).  Readers wait
 * on rseq, writers on wseq; every release that may let someone in bumps
 * the word they wait on.
 *
 * Kinds (pthread_rwlockattr_setkind_np):
 *   PTHREAD_RWLOCK_PREFER_READER_NP (default): a reader gets in whenever
 *     no writer holds the lock, even with writers waiting;
 *   PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP: a new reader waits while
 *     a writer is waiting (a reader that already holds a read lock and asks
 *     again then deadlocks, which is what "non-recursive" means in NPTL).
 */
#include "sync.h"

#include <errno.h>
#include <limits.h>

static bool prefer_writer(struct gmp_rwlock *l)
{
	return l->flags == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}

int gmp_rwlock_rdlock(struct gmp_rwlock *l, int64_t deadline, bool try)
{
	for (;;) {
		uint32_t s = atomic_load_explicit(&l->state, memory_order_relaxed);
		bool blocked = (s & GMP_RW_WRITER) ||
			       (prefer_writer(l) && atomic_load_explicit(&l->wwaiting, memory_order_relaxed));
		if (!blocked) {
			if ((s & ~GMP_RW_WRITER) == INT_MAX)
				return -EAGAIN;
			if (atomic_compare_exchange_weak_explicit(&l->state, &s, s + 1, memory_order_acquire,
								  memory_order_relaxed))
				return 0;
			continue;
		}
		if (try)
			return -EBUSY;
		if ((s & GMP_RW_WRITER) && atomic_load_explicit(&l->writer, memory_order_relaxed) == gmp_self_tid())
			return -EDEADLK;
		if (deadline == -2)
			return -EINVAL;
		uint32_t seq = atomic_load_explicit(&l->rseq, memory_order_acquire);
		/* recheck after reading seq: an unlock in between bumped it */
		s = atomic_load_explicit(&l->state, memory_order_acquire);
		if (!(s & GMP_RW_WRITER) && !(prefer_writer(l) && atomic_load(&l->wwaiting)))
			continue;
		int r = gmp_futex_wait(&l->rseq, seq, GMP_FUTEX_BITSET_ANY, deadline, CLOCK_MONOTONIC, WR_RWLOCK);
		if (r == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
}

int gmp_rwlock_wrlock(struct gmp_rwlock *l, int64_t deadline, bool try)
{
	bool counted = false;
	int err = 0;
	for (;;) {
		uint32_t s = 0;
		if (atomic_compare_exchange_strong_explicit(&l->state, &s, GMP_RW_WRITER, memory_order_acquire,
							    memory_order_relaxed)) {
			atomic_store_explicit(&l->writer, gmp_self_tid(), memory_order_relaxed);
			break;
		}
		if (try) {
			err = -EBUSY;
			break;
		}
		if ((s & GMP_RW_WRITER) && atomic_load_explicit(&l->writer, memory_order_relaxed) == gmp_self_tid()) {
			err = -EDEADLK;
			break;
		}
		if (deadline == -2) {
			err = -EINVAL;
			break;
		}
		if (!counted) {
			atomic_fetch_add(&l->wwaiting, 1);
			counted = true;
		}
		uint32_t seq = atomic_load_explicit(&l->wseq, memory_order_acquire);
		if (atomic_load_explicit(&l->state, memory_order_acquire) == 0)
			continue;
		int r = gmp_futex_wait(&l->wseq, seq, GMP_FUTEX_BITSET_ANY, deadline, CLOCK_MONOTONIC, WR_RWLOCK);
		if (r == -ETIMEDOUT) {
			err = -ETIMEDOUT;
			break;
		}
	}
	if (counted && atomic_fetch_sub(&l->wwaiting, 1) == 1 && prefer_writer(l)) {
		/* readers held back for us may go now */
		atomic_fetch_add(&l->rseq, 1);
		gmp_futex_wake(&l->rseq, INT_MAX, GMP_FUTEX_BITSET_ANY);
	}
	return err;
}

int gmp_rwlock_unlock(struct gmp_rwlock *l)
{
	uint32_t s = atomic_load_explicit(&l->state, memory_order_relaxed);
	uint32_t ns;
	if (s & GMP_RW_WRITER) {
		atomic_store_explicit(&l->writer, 0, memory_order_relaxed);
		atomic_store_explicit(&l->state, 0, memory_order_release);
		ns = 0;
	} else {
		if (s == 0)
			return -EPERM;
		ns = atomic_fetch_sub_explicit(&l->state, 1, memory_order_release) - 1;
	}
	if (ns != 0)
		return 0;
	if (atomic_load_explicit(&l->wwaiting, memory_order_acquire)) {
		atomic_fetch_add(&l->wseq, 1);
		gmp_futex_wake(&l->wseq, 1, GMP_FUTEX_BITSET_ANY);
	}
	if (!prefer_writer(l) || !atomic_load(&l->wwaiting)) {
		atomic_fetch_add(&l->rseq, 1);
		gmp_futex_wake(&l->rseq, INT_MAX, GMP_FUTEX_BITSET_ANY);
	}
	return 0;
}
