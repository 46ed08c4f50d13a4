/*
 * pthread_once and C11 call_once on the runtime's wait queues.
 *
 * Once word (pthread_once_t is an int, PTHREAD_ONCE_INIT is 0):
 *   0  not run
 *   1  running, nobody waiting
 *   3  running, waiters parked on the word
 *   2  done
 * A waiter parks while the word is 1 or 3; the runner stores 2 and wakes
 * all if it saw 3.  An init routine that is cancelled leaves the word 0
 * again (POSIX: as if pthread_once had never been called), waking the
 * waiters, one of which then runs it.
 */
#include "export.h"

#include <limits.h>
#include <pthread.h>
#include <threads.h>

static void init_cancelled(void *arg)
{
	_Atomic uint32_t *w = arg;
	if (atomic_exchange_explicit(w, 0, memory_order_acq_rel) == 3) {
		gmp_init();
		gmp_futex_wake(w, INT_MAX, GMP_FUTEX_BITSET_ANY);
	}
}

static int once(_Atomic uint32_t *w, void (*init)(void))
{
	uint32_t v = atomic_load_explicit(w, memory_order_acquire);
	for (;;) {
		if (v == 2)
			return 0;
		if (v == 0) {
			if (!atomic_compare_exchange_weak(w, &v, 1))
				continue;
			pthread_cleanup_push(init_cancelled, (void *)w);
			init();
			pthread_cleanup_pop(0);
			if (atomic_exchange_explicit(w, 2, memory_order_acq_rel) == 3) {
				gmp_init();
				gmp_futex_wake(w, INT_MAX, GMP_FUTEX_BITSET_ANY);
			}
			return 0;
		}
		if (v == 1 && !atomic_compare_exchange_weak(w, &v, 3))
			continue;
		gmp_init();
		gmp_futex_wait(w, 3, GMP_FUTEX_BITSET_ANY, -1, CLOCK_MONOTONIC, WR_ONCE);
		v = atomic_load_explicit(w, memory_order_acquire);
	}
}

/*
 * No gmp_init() until there is a wait or a wake: an allocator calls
 * pthread_once inside its first malloc, and starting gmp there would call
 * that malloc again (issue 17).
 */
GMP_EXPORT int pthread_once(pthread_once_t *o, void (*init)(void))
{
	return once((_Atomic uint32_t *)o, init);
}

GMP_EXPORT void call_once(once_flag *o, void (*init)(void))
{
	gmp_init();
	once((_Atomic uint32_t *)o, init);
}
