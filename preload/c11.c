/*
 * C11 <threads.h> thread functions.  glibc implements these on its
 * internal pthread entry points, which interposition cannot reach, so each
 * is an adapter over the same core calls as its pthread twin.
 */
#include "export.h"

#include <errno.h>
#include <threads.h>
#include <dlfcn.h>
#include <sys/syscall.h>

static int thrd_err(int e)
{
	switch (e) {
	case 0: return thrd_success;
	case ENOMEM: return thrd_nomem;
	case ETIMEDOUT: return thrd_timedout;
	case EBUSY: return thrd_busy;
	default: return thrd_error;
	}
}

GMP_EXPORT int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
	gmp_init();
	struct gmp_thread_attr a = {.stacksize = gmp_sched.stacksize, .guardsize = gmp_sched.guardsize,
				    .inherit = true, .c11 = true};
	void *tcb;
	int err = gmp_thread_create(&tcb, &a, (void *(*)(void *))(void *)fn, arg);
	if (err == 0)
		*thr = (thrd_t)tcb;
	return err == EAGAIN ? thrd_nomem : thrd_err(err);
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
	if (g && !g->isg0)
		gmp_thread_exit((void *)(intptr_t)res);
	void (*real)(void *) = (void (*)(void *))dlsym(RTLD_NEXT, "pthread_exit");
	real((void *)(intptr_t)res);
	__builtin_unreachable();
}

GMP_EXPORT void thrd_yield(void)
{
	struct gmp_g *g = gmp_getg();
	if (g && !g->isg0)
		gmp_yield(g);
	else
		gmp_sys0(SYS_sched_yield);
}
