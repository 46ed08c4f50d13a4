/*
 * One-time initialisation (pthread_once, C11 call_once) on the runtime's
 * wait queues.
 *
 * Once word (pthread_once_t and once_flag are an int; PTHREAD_ONCE_INIT
 * and ONCE_FLAG_INIT are 0):
 *   0  not run
 *   1  running, nobody waiting
 *   3  running, waiters parked on the word
 *   2  done
 * A waiter parks while the word is 1 or 3; the runner stores 2 and wakes
 * all if it saw 3.  An init routine that is cancelled leaves the word 0
 * again (POSIX: as if pthread_once had never been called), waking the
 * waiters, one of which then runs it.
 *
 * No gmp_init() until there is a wait or a wake: an allocator calls
 * pthread_once inside its first malloc, and starting gmp there would call
 * that malloc again (issue 17; HACKING.md, "Adding an interposed function").
 */
#include "runtime.h"

#include <limits.h>
#include <pthread.h>

enum { ONCE_NEW = 0, ONCE_RUNNING = 1, ONCE_DONE = 2, ONCE_WAITERS = 3 };

/* The init routine was cancelled: the word is new again, and a waiter runs it. */
static void init_cancelled(void *arg)
{
	_Atomic uint32_t *w = arg;
	if (atomic_exchange_explicit(w, ONCE_NEW, memory_order_acq_rel) == ONCE_WAITERS) {
		gmp_init();
		gmp_futex_wake(w, INT_MAX, GMP_FUTEX_BITSET_ANY);
	}
}

int gmp_once(_Atomic uint32_t *w, void (*init)(void))
{
	uint32_t v = atomic_load_explicit(w, memory_order_acquire);
	for (;;) {
		if (v == ONCE_DONE)
			return 0;
		if (v == ONCE_NEW) {
			if (!atomic_compare_exchange_weak(w, &v, ONCE_RUNNING))
				continue;
			pthread_cleanup_push(init_cancelled, (void *)w);
			init();
			pthread_cleanup_pop(0);
			if (atomic_exchange_explicit(w, ONCE_DONE, memory_order_acq_rel) == ONCE_WAITERS) {
				gmp_init();
				gmp_futex_wake(w, INT_MAX, GMP_FUTEX_BITSET_ANY);
			}
			return 0;
		}
		if (v == ONCE_RUNNING && !atomic_compare_exchange_weak(w, &v, ONCE_WAITERS))
			continue;
		gmp_init();
		gmp_futex_wait(w, ONCE_WAITERS, GMP_FUTEX_BITSET_ANY, -1, CLOCK_MONOTONIC, WR_ONCE);
		v = atomic_load_explicit(w, memory_order_acquire);
	}
}
