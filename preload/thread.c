/*
 * Thread lifecycle: pthread_create, join family, detach, exit, yield,
 * attributes that describe a running thread, and names.
 *
 * pthread_self and pthread_equal are not interposed: a G's pthread_t is its
 * own TCB, which glibc's versions return and compare already.  The
 * pthread_attr_* setters and getters are glibc's: they only edit the
 * attribute object, which pthread_create reads through glibc's getters.
 */
#include "export.h"

#include <errno.h>
#include <limits.h> /* PTHREAD_STACK_MIN: <pthread.h> has it only since glibc 2.34 */
#include <sys/prctl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>

static int attr_read(const pthread_attr_t *attr, struct gmp_thread_attr *a)
{
	memset(a, 0, sizeof *a);
	a->stacksize = gmp_sched.stacksize;
	a->guardsize = gmp_sched.guardsize;
	a->inherit = true;
	if (!attr)
		return 0;
	int ds = 0, inh = PTHREAD_INHERIT_SCHED;
	void *top = NULL;
	struct sched_param sp = {0};
	pthread_attr_getdetachstate(attr, &ds);
	pthread_attr_getstacksize(attr, &a->stacksize);
	pthread_attr_getguardsize(attr, &a->guardsize);
	void *lo = NULL;
	size_t ssz = 0;
	pthread_attr_getstack(attr, &lo, &ssz); /* lo = top - size; top is NULL unless a stack was given */
	top = (void *)((uintptr_t)lo + ssz); /* integer sum: NULL - size + size must not be pointer arithmetic */
	pthread_attr_getinheritsched(attr, &inh);
	pthread_attr_getschedpolicy(attr, &a->schedpolicy);
	pthread_attr_getschedparam(attr, &sp);
	a->schedprio = sp.sched_priority;
	a->inherit = inh == PTHREAD_INHERIT_SCHED;
	a->detached = ds == PTHREAD_CREATE_DETACHED;
	if (top) {
		if (a->stacksize < (size_t)PTHREAD_STACK_MIN)
			return EINVAL;
		a->stackaddr = (char *)top - a->stacksize;
	}
	return 0;
}

/*
 * Which of policy and priority an attribute object has had set: NPTL takes
 * the others from the creator under PTHREAD_EXPLICIT_SCHED.  The flag bits
 * are read from the object, found once by setting each on a fresh one.
 */
static bool attr_flags(const pthread_attr_t *attr, bool *policy_set, bool *param_set)
{
	static _Atomic int off = -1; /* offset of the flags word, or -2: not found */
	static unsigned pbit, sbit;
	if (atomic_load(&off) == -1) {
		pthread_attr_t x, y, z;
		pthread_attr_init(&x);
		pthread_attr_init(&y);
		pthread_attr_init(&z);
		pthread_attr_setschedpolicy(&y, SCHED_OTHER);
		struct sched_param sp = {0};
		pthread_attr_setschedparam(&z, &sp);
		int found = -2;
		for (size_t o = 0; o + sizeof(unsigned) <= sizeof x; o += sizeof(unsigned)) {
			unsigned vx, vy, vz;
			memcpy(&vx, (char *)&x + o, sizeof vx);
			memcpy(&vy, (char *)&y + o, sizeof vy);
			memcpy(&vz, (char *)&z + o, sizeof vz);
			unsigned dy = vy & ~vx, dz = vz & ~vx;
			if (dy && dz && __builtin_popcount(dy) == 1 && __builtin_popcount(dz) == 1 && dy != dz &&
			    (vy & ~dy) == vx && (vz & ~dz) == vx) {
				pbit = dy;
				sbit = dz;
				found = (int)o;
				break;
			}
		}
		pthread_attr_destroy(&x);
		pthread_attr_destroy(&y);
		pthread_attr_destroy(&z);
		atomic_store(&off, found);
	}
	int o = atomic_load(&off);
	if (o < 0)
		return false;
	unsigned v;
	memcpy(&v, (const char *)attr + o, sizeof v);
	*policy_set = (v & pbit) != 0;
	*param_set = (v & sbit) != 0;
	return true;
}

/*
 * The new thread's policy and priority, as NPTL's pthread_create: the
 * creator's (PTHREAD_INHERIT_SCHED), or the attribute's with what it does
 * not set taken from the creator, validated as sched_setscheduler would
 * (EINVAL, EPERM).
 */
static int sched_resolve(const pthread_attr_t *attr, struct gmp_thread_attr *a)
{
	int policy, prio;
	gmp_sched_self(&policy, &prio);
	if (a->inherit) {
		a->schedpolicy = policy;
		a->schedprio = prio;
		return 0;
	}
	bool pset = true, sset = true;
	attr_flags(attr, &pset, &sset);
	if (pset)
		policy = a->schedpolicy;
	if (sset)
		prio = a->schedprio;
	int lo = sched_get_priority_min(policy), hi = sched_get_priority_max(policy);
	if (lo < 0 || prio < lo || prio > hi)
		return EINVAL;
	int err = gmp_sched_check(policy, prio);
	if (err)
		return -err;
	a->schedpolicy = policy;
	a->schedprio = prio;
	return 0;
}

GMP_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	gmp_init();
	struct gmp_thread_attr a;
	int err = attr_read(attr, &a);
	if (err)
		return err;
	if ((err = sched_resolve(attr, &a)) != 0)
		return err;
	a.caller = __builtin_return_address(0);
	void *tcb;
	err = -gmp_thread_create(&tcb, &a, fn, arg);
	if (err == 0)
		*th = (pthread_t)tcb;
	return err;
}

static int join(pthread_t th, void **ret, const struct timespec *abstime, clockid_t clk, bool try)
{
	gmp_init();
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		if (!th)
			return ESRCH;
		if (abstime || try)
			return EINVAL; /* a kernel thread gmp did not create: only plain join is supported */
		return gmp_libc.pthread_join(th, ret);
	}
	int64_t deadline = -1;
	if (abstime) {
		if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
			return EINVAL;
		deadline = gmp_deadline_from(abstime, clk, true);
		if (deadline < 0)
			return EINVAL;
	}
	return -gmp_thread_join(t, ret, deadline, clk, try);
}

GMP_EXPORT int pthread_join(pthread_t th, void **ret) { return join(th, ret, NULL, 0, false); }

GMP_EXPORT int pthread_tryjoin_np(pthread_t th, void **ret) { return join(th, ret, NULL, 0, true); }

GMP_EXPORT int pthread_timedjoin_np(pthread_t th, void **ret, const struct timespec *abstime)
{
	return abstime ? join(th, ret, abstime, CLOCK_REALTIME, false) : join(th, ret, NULL, 0, false);
}

GMP_EXPORT int pthread_clockjoin_np(pthread_t th, void **ret, clockid_t clk, const struct timespec *abstime)
{
	return abstime ? join(th, ret, abstime, clk, false) : join(th, ret, NULL, 0, false);
}

GMP_EXPORT int pthread_detach(pthread_t th)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_detach, (pthread_t));
		return th && real_pthread_detach ? real_pthread_detach(th) : ESRCH;
	}
	return -gmp_thread_detach(t);
}

/*
 * pthread_exit unwinds the G's stack through glibc (cleanup handlers, C++
 * destructors) back to gstart, which finishes the thread.  The main G was
 * started by glibc: its unwind is made to end in gmp instead of in glibc's
 * start code (gmp_main_unwind_prepare).
 */
GMP_EXPORT void pthread_exit(void *ret)
{
	struct gmp_g *g = gmp_getg();
	if (g && g->ismain && !gmp_main_unwind_prepare(g))
		gmp_thread_exit(ret); /* no start-code buffer: end it without unwinding */
	if (g) {
		g->retval = ret;
		g->exiting = true;
	}
	GMP_REAL(void, pthread_exit, (void *));
	real_pthread_exit(ret);
	__builtin_unreachable();
}

GMP_EXPORT int sched_yield(void)
{
	gmp_yield_self();
	return 0;
}

/* <pthread.h> redirects pthread_yield to sched_yield; old binaries still import the name. */
GMP_EXPORT int gmp_pthread_yield(void) __asm__("pthread_yield");
GMP_EXPORT int gmp_pthread_yield(void) { return sched_yield(); }

GMP_EXPORT int pthread_getattr_np(pthread_t th, pthread_attr_t *attr)
{
	gmp_init();
	struct gmp_g *t = gmp_thread_g(th);
	if (!t || t->ismain)
		return gmp_libc.pthread_getattr_np(th, attr); /* glibc knows these threads' stacks */
	int err = pthread_attr_init(attr);
	if (err)
		return err;
	pthread_attr_setstack(attr, t->stack.lo, t->stack.size);
	pthread_attr_setguardsize(attr, t->stack.guard);
	uint32_t mode = atomic_load(&t->joinword) & GMP_JOIN_MODE;
	pthread_attr_setdetachstate(attr, mode == GMP_JOIN_DETACHED ? PTHREAD_CREATE_DETACHED
								    : PTHREAD_CREATE_JOINABLE);
	struct sched_param sp = {.sched_priority = t->schedprio};
	pthread_attr_setschedpolicy(attr, t->schedpolicy);
	pthread_attr_setschedparam(attr, &sp);
	pthread_attr_setinheritsched(attr, t->inherit ? PTHREAD_INHERIT_SCHED : PTHREAD_EXPLICIT_SCHED);
	return 0;
}

GMP_EXPORT int pthread_setattr_default_np(const pthread_attr_t *attr)
{
	gmp_init();
	GMP_REAL(int, pthread_setattr_default_np, (const pthread_attr_t *));
	int err = real_pthread_setattr_default_np(attr); /* glibc validates (EINVAL for a stack address, too-small sizes) */
	if (err)
		return err;
	size_t ss = 0, gs = 0;
	pthread_attr_getstacksize(attr, &ss);
	pthread_attr_getguardsize(attr, &gs);
	if (ss)
		gmp_sched.stacksize = (ss + gmp_pagesize() - 1) & ~(gmp_pagesize() - 1);
	gmp_sched.guardsize = (gs + gmp_pagesize() - 1) & ~(gmp_pagesize() - 1);
	return 0;
}

GMP_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t || t->ismain) {
		GMP_REAL(int, pthread_setname_np, (pthread_t, const char *));
		return real_pthread_setname_np(th, name);
	}
	size_t n = strlen(name);
	if (n >= sizeof t->name)
		return ERANGE;
	gmp_lock(&gmp_sched.allglock);
	memcpy(t->name, name, n + 1);
	gmp_unlock(&gmp_sched.allglock);
	return 0;
}

GMP_EXPORT int pthread_getname_np(pthread_t th, char *buf, size_t len)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t || t->ismain) {
		GMP_REAL(int, pthread_getname_np, (pthread_t, char *, size_t));
		return real_pthread_getname_np(th, buf, len);
	}
	char name[16];
	gmp_lock(&gmp_sched.allglock);
	memcpy(name, t->name, sizeof name);
	gmp_unlock(&gmp_sched.allglock);
	if (!name[0]) /* never named: the name it inherited, as a new kernel thread's (the process's) */
		gmp_syscall6(SYS_prctl, PR_GET_NAME, (long)name, 0, 0, 0, 0);
	name[sizeof name - 1] = 0;
	size_t n = strlen(name);
	if (n >= len)
		return ERANGE;
	memcpy(buf, name, n + 1);
	return 0;
}

/*
 * pthread_cancel: glibc sets the request in the target's TCB (a G's own);
 * gmp then makes it act (gmp_cancel_g, core/cancel.c).
 */
GMP_EXPORT int pthread_cancel(pthread_t th)
{
	GMP_REAL(int, pthread_cancel, (pthread_t));
	struct gmp_g *t = gmp_thread_g(th);
	int r;
	if (t)
		atomic_store(&t->cancel_asked, true); /* before glibc's request: gmp_testcancel reads it first */
	if (!t || t == gmp_getg()) {
		GMP_FSTRAP_HELD(r = real_pthread_cancel(th)); /* (an asynchronous target: glibc's pthread_kill) */
		return r;
	}
	if (gmp_gstatus(t) == G_DEAD)
		return 0;
	GMP_FSTRAP_HELD((void)real_pthread_cancel(th)); /* installs glibc's SIGCANCEL handler; its signal is not for a G */
	gmp_cancel_g(t);
	return 0;
}

/*
 * pthread_atfork registrations are gmp's to order (core/fork.c): the
 * program's prepare handlers run before gmp takes its locks, its parent
 * and child handlers after gmp has put the runtime back in order.  Not
 * gmp_init: an allocator registers inside its first malloc.
 */
GMP_EXPORT int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso)
{
	(void)dso; /* an unloaded library's handlers are skipped by address (fork.c) */
	return -gmp_atfork_add(prepare, parent, child);
}

GMP_EXPORT int pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	return -gmp_atfork_add(prepare, parent, child);
}
