/*
 * A G's scheduling policy and priority (pthread_setschedparam,
 * pthread_setschedprio, sched_setscheduler and sched_setparam on the
 * calling thread).  A G is not a kernel thread, so these are kept per G
 * (g->schedpolicy, g->schedprio), validated as the kernel would answer
 * (EINVAL, EPERM: gmp_sched_check), and real-time ones rank the G in
 * gmp's scheduler (core/sched.c, "Real-time threads"; gmp_sched_set).
 */
#include "runtime.h"

#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>

/* The priority range the kernel gives policy (sched_get_priority_min/max): 0 or -EINVAL. */
static int check_range(int policy, int prio)
{
	long lo = gmp_sys1(SYS_sched_get_priority_min, policy), hi = gmp_sys1(SYS_sched_get_priority_max, policy);
	if (lo < 0 || hi < 0)
		return -EINVAL;
	if (prio < lo || prio > hi)
		return -EINVAL;
	return 0;
}

int gmp_sched_setparam(struct gmp_g *t, int policy, int prio)
{
	int err = check_range(policy, prio);
	if (!err)
		err = gmp_sched_check(policy, prio); /* -EINVAL or -EPERM */
	if (err)
		return err;
	gmp_sched_set(t, policy, prio);
	return 0;
}

void gmp_sched_getparam(struct gmp_g *t, int *policy, int *prio)
{
	if (policy)
		*policy = t->schedpolicy;
	if (prio)
		*prio = t->schedprio;
}
