/*
 * A G's scheduling policy and priority (pthread_setschedparam,
 * pthread_setschedprio, sched_setscheduler and sched_setparam on the
 * calling thread).  A G is not a kernel thread, so these are kept per G
 * (g->schedpolicy, g->schedprio), validated as the kernel would answer
 * (EINVAL, EPERM: gmp_sched_check), and real-time ones rank the G in
 * gmp's scheduler (core/runq.c, "Real-time threads"; gmp_sched_set).
 */
#include "runtime.h"

#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
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

/* 0, -EINVAL or -EPERM, as sched_setscheduler would answer (sched(7): CAP_SYS_NICE, or RLIMIT_RTPRIO). */
int gmp_sched_check(int policy, int prio)
{
	switch (policy) {
	case SCHED_OTHER:
	case SCHED_BATCH:
	case SCHED_IDLE:
		return prio == 0 ? 0 : -EINVAL;
	case SCHED_FIFO:
	case SCHED_RR:
		break;
	default:
		return -EINVAL;
	}
	if (prio < 1 || prio > 99)
		return -EINVAL;
	struct {
		uint32_t version;
		int pid;
	} hdr = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
	struct {
		uint32_t effective, permitted, inheritable;
	} data[2] = {{0}};
	if (gmp_sys2(SYS_capget, &hdr, data) == 0 && (data[0].effective & (1u << 23 /* CAP_SYS_NICE */)))
		return 0;
	struct rlimit rl;
	if (gmp_sys4(SYS_prlimit64, 0, RLIMIT_RTPRIO, NULL, &rl) == 0 && (rlim_t)prio <= rl.rlim_cur)
		return 0;
	return -EPERM;
}

void gmp_sched_self(int *policy, int *prio)
{
	struct gmp_g *g = gmp_inited == 2 ? gmp_getg() : NULL;
	if (g) {
		*policy = g->schedpolicy;
		*prio = g->schedprio;
		return;
	}
	struct sched_param sp = {0};
	long pol = gmp_sys1(SYS_sched_getscheduler, 0);
	gmp_sys2(SYS_sched_getparam, 0, &sp);
	*policy = pol < 0 ? SCHED_OTHER : (int)pol & ~SCHED_RESET_ON_FORK;
	*prio = pol < 0 ? 0 : sp.sched_priority;
}

void gmp_sched_set(struct gmp_g *g, int policy, int prio)
{
	g->schedpolicy = policy;
	g->schedprio = prio;
	uint8_t rt = (policy == SCHED_FIFO || policy == SCHED_RR) ? (uint8_t)prio : 0;
	if (rt)
		atomic_store(&gmp_sched.rtused, true);
	atomic_store(&g->rtprio, rt); /* takes effect at its next queueing */
}
