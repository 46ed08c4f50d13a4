/*
 * Gs locked to their M (docs/design.md §3): a G that needs its own kernel
 * thread for the rest of its life (robust and priority-inheritance
 * mutexes, whose owner the kernel knows by thread id; a CPU affinity of its
 * own, core/affinity.c) runs only there, and the M runs no other G.
 * core/sched.c's g0_loop calls in here when either side of such a pair
 * comes up.
 */
#include "runtime.h"

#include <sys/syscall.h>

/*
 * A G locked to its M (gmp_lockm) runs only on that M, and the M runs no
 * other G.  When the G stops (parks, yields, loses its P), its M gives
 * its P away and sleeps here; whichever M later picks the runnable G hands
 * that M its own P (gmp_startlockedm).  g0, P held or not; returns with a P.
 */
void gmp_stoplockedm(struct gmp_m *m)
{
	struct gmp_p *p = m->p;
	if (p) {
		m->p = NULL;
		atomic_store_explicit(&p->m, NULL, memory_order_relaxed);
		gmp_handoffp(p);
	}
	while (atomic_exchange_explicit(&m->park, 0, memory_order_acquire) != 1)
		gmp_kfutex_wait(&m->park, 0, -1);
	gmp_fstrap_refresh(m);
	gmp_acquirep(m, m->nextp);
	m->nextp = NULL;
}

/* g0, P held: gp is locked to another M.  Give it our P, then go idle. */
void gmp_startlockedm(struct gmp_m *m, struct gmp_g *gp)
{
	struct gmp_m *lm = gp->lockedm;
	struct gmp_p *p = m->p;
	m->p = NULL;
	lm->nextp = p;
	atomic_store_explicit(&p->m, lm, memory_order_relaxed);
	gmp_notewakeup(lm);
	gmp_lock(&gmp_sched.lock);
	gmp_stopm(m);
}

/*
 * Lock g to the M it runs on, for the rest of its life (as a goroutine
 * that calls LockOSThread and never unlocks).  The kernel knows the owner
 * of a robust or priority-inheritance futex by its kernel thread: glibc
 * writes the tid from the TCB into the lock word, and the kernel walks the
 * robust list registered by the kernel thread when it dies.  So the G's
 * TCB gets the M's real tid and the M registers the G's robust list.  A
 * G runs on one M between scheduling points, so no P is needed here.
 */
void gmp_lockm(struct gmp_g *g)
{
	if (g->lockedm)
		return;
	struct gmp_m *m = g->m;
	pid_t *tid = gmp_tcb_tid_addr(g->tcb);
	g->lockedm_savedtid = *tid;
	*tid = m->tid;
	gmp_sys2(SYS_set_robust_list, gmp_tcb_robust_head(g->tcb), 24);
	m->lockedg = g;
	g->lockedm = m;
}

/* g0: a locked G ends.  Do what the kernel does for a dying thread's robust list, then unlock. */
void gmp_unlockm(struct gmp_m *m, struct gmp_g *gp)
{
	pid_t *tid = gmp_tcb_tid_addr(gp->tcb);
	bool canend = m->g0.tcb && m->g0.stack.map == NULL; /* a glibc thread of its own: see gmp_reap_idle_m */
	m->endnow = gmp_robust_exit(gp, *tid, canend ? gmp_tcb_robust_head(m->g0.tcb) : NULL);
	*tid = gp->lockedm_savedtid;
	if (m->g0.tcb)
		gmp_sys2(SYS_set_robust_list, gmp_tcb_robust_head(m->g0.tcb), 24);
	gmp_affinity_unlocked(gp);
	m->lockedg = NULL;
	gp->lockedm = NULL;
}

/*
 * g0, P held: end this M's kernel thread now (its locked G left robust
 * priority-inheritance locks with waiters, which the kernel hands on at
 * the thread's end, gmp_robust_exit).  Its P goes to another M.
 */
_Noreturn void gmp_mend(struct gmp_m *m)
{
	struct gmp_p *p = m->p;
	m->p = NULL;
	atomic_store_explicit(&p->m, NULL, memory_order_relaxed);
	gmp_handoffp(p);
	gmp_lock(&gmp_sched.lock);
	gmp_sched.nmtotal--;
	gmp_unlock(&gmp_sched.lock);
	gmp_mthread_exit(m);
}
