/*
 * A G's P while the G runs outside the scheduler (docs/design.md §6): in
 * user code its P is P_USER and in a kernel call P_SYSCALL, and sysmon may
 * take it in either state and hand it to another M.  Here the G takes it
 * back when it enters the runtime or returns from the call (one CAS when
 * nobody took it), or gets another P, or queues itself and its M sleeps.
 * core/sched.c runs Gs; core/m.c starts and parks Ms.
 */
#include "runtime.h"
#include "trace.h"

/*
 * g0: the G's P was retaken; queue the G globally and sleep until given a
 * P.  A P may have gone idle since gmp_acquirep_user looked: its M saw an
 * empty global queue and nobody would look again, so take that P here,
 * under the same lock as the queueing (as Go's exitsyscall0 does).
 */
static void lostp_m(struct gmp_m *m, struct gmp_g *gp)
{
	gmp_casgstatus(gp, G_RUNNING, G_RUNNABLE);
	gmp_lock(&gmp_sched.lock);
	/*
	 * A P may have gone idle since the G looked for one without the lock
	 * (gmp_acquirep_user); its M checked the global queue before that,
	 * so the G queued there would wait with every M asleep.  Looking
	 * again under sched.lock closes the race, as findrunnable's last look.
	 */
	struct gmp_p *p = gmp_pidleget();
	if (p) {
		gmp_unlock(&gmp_sched.lock);
		gmp_acquirep(m, p);
		gmp_runqput(p, gp, true); /* a locked M hands it on in stoplockedm */
		return;
	}
	gp->schedlink = NULL;
	gmp_globrunqput_batch(gp, gp, 1);
	if (m->lockedg) {
		gmp_unlock(&gmp_sched.lock);
		return; /* g0_loop waits in stoplockedm */
	}
	gmp_stopm(m);
}

/*
 * Take the P back from P_USER/P_SYSCALL.  The status alone cannot tell
 * whether the P is still ours: sysmon may have retaken it and handed it to
 * another M whose G is now in user code, so the word reads P_USER again
 * (ABA).  Ownership is p->m, which the retaker clears at once and a new
 * owner sets: check it before the CAS, and again after it, giving the P
 * back untouched if it changed hands in between.
 */
static bool reclaim_p(struct gmp_m *m, struct gmp_p *p, uint32_t from)
{
	if (p->m != m)
		return false;
	if (!gmp_caspstatus(p, from, P_RUNNING, memory_order_acq_rel, memory_order_relaxed))
		return false;
	if (GMP_UNLIKELY(p->m != m)) {
		gmp_setpstatus(p, P_RUNNING, from, memory_order_release); /* not ours: put it back */
		return false;
	}
	return true;
}

struct gmp_p *gmp_acquirep_user(struct gmp_g *g)
{
	/*
	 * Still in a kernel call, yet in the runtime: glibc unwound the G out
	 * of the call (cancellation: glibc 2.41's __syscall_cancel acts on
	 * the canceled bit before the system call and after one that failed
	 * with EINTR, with no handler of gmp's in between), and a cleanup
	 * handler needs its P.  The call is over: leave it here.  (Not a
	 * library that the call itself runs, as getaddrinfo's NSS modules, and
	 * that takes a lock: that G is not unwinding, and takes its P back
	 * from the kernel-call state as from user code.)
	 */
	if (GMP_UNLIKELY(g->insyscall) && gmp_tcb_cancel_unwinding(g->tcb))
		gmp_exitsyscall(g);
	for (;;) {
		struct gmp_m *m = g->m;
		struct gmp_p *p = m->p;
		if (GMP_LIKELY(p != NULL)) {
			if (GMP_LIKELY(reclaim_p(m, p, P_USER)) || reclaim_p(m, p, P_SYSCALL))
				return p;
			m->p = NULL; /* sysmon took it and handed it off */
		}
		gmp_lock(&gmp_sched.lock);
		p = gmp_pidleget();
		gmp_unlock(&gmp_sched.lock);
		if (p) {
			gmp_acquirep(m, p);
			return p;
		}
		gmp_mcall(g, lostp_m);
	}
}

/*
 * From a signal handler: take the P back only if that cannot disturb the
 * code the signal interrupted (see gmp_futex_wake_async).  The handler must
 * run on g's own stack (not g0's, not an alternate signal stack), g must be
 * its M's current G, and the P must be in user or kernel-call state; the
 * caller stores *from back into p->status when done.  NULL otherwise.
 */
struct gmp_p *gmp_acquirep_async(struct gmp_g *g, uint32_t *from)
{
	struct gmp_m *m = g->m;
	if (!m || m->curg != g || !gmp_on_g_stack(g, (uintptr_t)__builtin_frame_address(0)))
		return NULL;
	struct gmp_p *p = m->p;
	if (!p)
		return NULL;
	if (reclaim_p(m, p, P_USER)) {
		*from = P_USER;
		return p;
	}
	if (reclaim_p(m, p, P_SYSCALL)) {
		*from = P_SYSCALL;
		return p;
	}
	return NULL;
}

/* ------------------------------------------------------------ kernel calls (hand-off) */

/*
 * Around a kernel call that may block, the G's P goes from P_USER to
 * P_SYSCALL: sysmon takes it after ~20 us if other work waits for it, and
 * hands it to another M (docs/design.md §6).  This M keeps the G and the call.
 * Cost on the fast path: two CAS on the P and two on the G.
 */
void gmp_entersyscall(struct gmp_g *g)
{
	g->syscall_since = gmp_nanotime();
	gmp_casgstatus(g, G_RUNNING, G_SYSCALL);
	struct gmp_m *m = g->m;
	struct gmp_p *p = m->p;
	if (p) {
		p->syscalltick++;
		if (p->m != m || !gmp_caspstatus(p, P_USER, P_SYSCALL, memory_order_release, memory_order_relaxed))
			m->p = NULL; /* already retaken */
	}
	g->insyscall = true;
	GMP_TRACE(gmp_trace_syscall(g, GMP_TRACE_SYS_ENTER));
}

void gmp_exitsyscall(struct gmp_g *g)
{
	gmp_fstrap_refresh(g->m);
	g->insyscall = false;
	GMP_TRACE(gmp_trace_syscall(g, GMP_TRACE_SYS_EXIT));
	gmp_casgstatus(g, G_SYSCALL, G_RUNNING);
	if (GMP_UNLIKELY(atomic_load_explicit(&g->sigwaitset, memory_order_relaxed)))
		gmp_signal_reclaim(g); /* still on the M the call ran on */
	g->cputime -= gmp_nanotime() - g->syscall_since; /* a blocking kernel call is not CPU time */
	struct gmp_m *m = g->m;
	struct gmp_p *p = m->p;
	if (p && p->m == m) {
		if (gmp_caspstatus(p, P_SYSCALL, P_USER, memory_order_acq_rel, memory_order_relaxed)) {
			if (GMP_LIKELY(p->m == m)) {
				if (GMP_UNLIKELY(atomic_load_explicit(&p->idlewait, memory_order_relaxed)))
					atomic_store_explicit(&p->idlewait, false, memory_order_relaxed); /* spin.c */
				gmp_rawtrap_check(m);
				return;
			}
			/* not ours (another M's G entered a kernel call on it): as it was, unless taken meanwhile */
			gmp_caspstatus(p, P_USER, P_SYSCALL, memory_order_release, memory_order_relaxed);
		}
	}
	m->p = NULL;
	GMP_TRACE(gmp_trace_syscall(g, GMP_TRACE_SYS_LOSTP));
	/* Retaken: get any P back, or queue ourselves and let this M sleep. */
	p = gmp_acquirep_user(g);
	gmp_releasep_user(p);
	gmp_rawtrap_check(g->m);
}
