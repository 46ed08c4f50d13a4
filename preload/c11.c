/*
 * C11 <threads.h> thread functions.  glibc implements these on its
 * internal pthread entry points, which interposition cannot reach, so each
 * is an adapter over the same core calls as its pthread twin.
 */
#include "export.h"

#include <errno.h>
#include <threads.h>
#include <pthread.h>
#include <sys/syscall.h>

/* A core result (0 or -errno) as a thrd_* code. */
static int thrd_err(int r)
{
	switch (r) {
	case 0: return thrd_success;
	case -ENOMEM: return thrd_nomem;
	case -ETIMEDOUT: return thrd_timedout;
	case -EBUSY: return thrd_busy;
	default: return thrd_error;
	}
}

GMP_EXPORT int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
	gmp_init();
	struct gmp_thread_attr a = {.stacksize = gmp_sched.stacksize, .guardsize = gmp_sched.guardsize,
				    .inherit = true, .c11 = true, .caller = __builtin_return_address(0)};
	gmp_sched_self(&a.schedpolicy, &a.schedprio); /* inherited, as a pthread_create default */
	void *tcb;
	int err = gmp_thread_create(&tcb, &a, (void *(*)(void *))(void *)fn, arg);
	if (err == 0)
		*thr = (thrd_t)tcb;
	return err == -EAGAIN ? thrd_nomem : thrd_err(err);
}

GMP_EXPORT int thrd_join(thrd_t thr, int *res)
{
	struct gmp_g *t = gmp_thread_g(thr);
	if (!t)
		return thrd_error;
	void *r;
	int err = gmp_thread_join(t, &r, -1, CLOCK_MONOTONIC, false);
	if (err == 0 && res)
		*res = (int)(intptr_t)r;
	return thrd_err(err);
}

GMP_EXPORT int thrd_detach(thrd_t thr)
{
	struct gmp_g *t = gmp_thread_g(thr);
	return t ? thrd_err(gmp_thread_detach(t)) : thrd_error;
}

GMP_EXPORT _Noreturn void thrd_exit(int res)
{
	struct gmp_g *g = gmp_getg();
	if (g)
		gmp_thread_exit((void *)(intptr_t)res);
	GMP_REAL(void, pthread_exit, (void *));
	real_pthread_exit((void *)(intptr_t)res);
	__builtin_unreachable();
}

GMP_EXPORT void thrd_yield(void) { gmp_yield_self(); }

/* ---- C11 mutexes and condition variables: the pthread objects underneath, as glibc. */

#include "../core/sync.h"

GMP_EXPORT int mtx_init(mtx_t *m, int type)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	if (type & mtx_recursive)
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	int err = pthread_mutex_init((pthread_mutex_t *)m, &a);
	pthread_mutexattr_destroy(&a);
	return thrd_err(-err);
}

GMP_EXPORT int mtx_lock(mtx_t *m) { return thrd_err(gmp_mutex_lock((struct gmp_mutex *)m, -1, CLOCK_MONOTONIC, false)); }
GMP_EXPORT int mtx_trylock(mtx_t *m) { return thrd_err(gmp_mutex_lock((struct gmp_mutex *)m, -1, CLOCK_MONOTONIC, true)); }
GMP_EXPORT int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts)
{
	return thrd_err(gmp_mutex_lock((struct gmp_mutex *)m, gmp_abs_deadline(ts, CLOCK_REALTIME), CLOCK_REALTIME, false));
}
GMP_EXPORT int mtx_unlock(mtx_t *m) { return thrd_err(gmp_mutex_unlock((struct gmp_mutex *)m)); }

GMP_EXPORT int cnd_wait(cnd_t *c, mtx_t *m)
{
	return thrd_err(gmp_cond_wait((struct gmp_cond *)c, (struct gmp_mutex *)m, -1, CLOCK_REALTIME));
}
GMP_EXPORT int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
	int64_t d = gmp_abs_deadline(ts, CLOCK_REALTIME);
	if (d == -2)
		return thrd_error;
	return thrd_err(gmp_cond_wait((struct gmp_cond *)c, (struct gmp_mutex *)m, d, CLOCK_REALTIME));
}
GMP_EXPORT int cnd_signal(cnd_t *c) { return thrd_err(gmp_cond_wake((struct gmp_cond *)c, false)); }
GMP_EXPORT int cnd_broadcast(cnd_t *c) { return thrd_err(gmp_cond_wake((struct gmp_cond *)c, true)); }
GMP_EXPORT void cnd_destroy(cnd_t *c) { gmp_cond_destroy((struct gmp_cond *)c); }
