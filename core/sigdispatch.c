/*
 * The dispatcher (docs/design.md §11): the kernel's handler for every
 * signal the program handles.
 *
 * The program's handlers do not run where the kernel happens to deliver:
 * preload/signal.c installs gmp_sig_dispatch for each of them.  A kernel
 * thread may be in the scheduler (g0, with the last G's TLS loaded, and
 * that G may be running elsewhere) or the G may be in runtime code holding
 * its P.  So the dispatcher runs the handler at once only when the signal
 * interrupted a G in its own code (user code or a kernel call, on its own
 * stack), or a thread gmp did not create, or it is a fault of the code
 * that runs.  Otherwise the signal is forwarded: to the G whose TLS is
 * loaded if it does not block it, else to a G that does not block it
 * (preferring a waiting one), pending there with its siginfo, and that G's
 * wait is interrupted soon after by the scheduler or sysmon (the handler
 * context cannot take runtime locks: gmp_defer).  No G can take it: it
 * stays pending for the process until a G unblocks it (sigproc.c).
 */
#include "sig.h"

#include <ucontext.h>

static void call_user_on(struct gmp_g *g, int sig, siginfo_t *si, void *uc)
{
	if (g->insyscall) {
		/* for a shim whose kernel wait stands in for a restartable call (shim_wait_in_kernel) */
		void *fn;
		int flags;
		if (gmp_sig_user(sig, &fn, &flags) && !(flags & SA_RESTART))
			g->sig_norestart = true;
	}
	gmp_sig_call_on(g, gmp_sig_call_user, sig, si, uc);
}

static bool is_fault(int sig, const siginfo_t *si)
{
	if (!si || si->si_code <= 0)
		return false; /* sent by someone, not raised by the code that runs */
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP;
}

/*
 * The kernel gives a signal sent to the process (kill, sigqueue, a POSIX
 * timer, SIGIO) to the thread-group leader, the main thread, when that
 * thread does not block it and either runs or has no signal pending (Linux's
 * complete_signal and wants_signal), and programs count on it: an event
 * loop in main whose epoll_wait must end with EINTR at SIGTERM while the
 * workers wait in theirs.  Under gmp the kernel picks an M, whichever G
 * that M runs, so the main G is picked here as the kernel would have.
 * SIGCHLD goes to the thread that forked, which gmp does not track: it
 * stays where it lands.  Returns the main G, or NULL (not for it).
 */
static struct gmp_g *for_main(int sig, const siginfo_t *si)
{
	if (!gmp_sig_process_directed(si) || sig == SIGCHLD)
		return NULL;
	struct gmp_g *mg = atomic_load(&gmp_sched.maing);
	if (!mg || !gmp_sig_alive(mg) || (mg->sigmask & gmp_sigbit(sig)))
		return NULL;
	if ((atomic_load(&mg->sigpending) & ~mg->sigmask) && gmp_gstatus(mg) != G_RUNNING)
		return NULL;
	return mg;
}

/* To a G that does not block sig (last if it can), its wait interrupted; or pending for the process. */
static void forward(int sig, siginfo_t *si, struct gmp_g *last)
{
	struct gmp_g *t = for_main(sig, si);
	if (!t)
		t = gmp_sig_pick(sig, last);
	if (!t) {
		gmp_sig_keep_for(PROC_G, sig, si);
		gmp_sig_pend_process(sig);
		return;
	}
	gmp_sig_keep_for(gmp_sig_process_directed(si) ? PROC_G : t, sig, si);
	if (gmp_sig_process_directed(si)) {
		gmp_sig_pend_shared(t, sig);
		return;
	}
	gmp_sig_pend(t, sig, false);
	gmp_defer((uintptr_t)t | 1);
}

static void dispatch(int sig, siginfo_t *si, void *ucv);

/*
 * The kernel's handler for every signal the program handles, and for
 * SIGURG and SIGSYS, which gmp owns (preemption, trapped waits).
 */
void gmp_sig_dispatch(int sig, siginfo_t *si, void *ucv)
{
	struct gmp_g *g = atomic_load_explicit(&gmp_inited, memory_order_acquire) == 2 ? gmp_getg() : NULL;
	if (GMP_UNLIKELY(atomic_load_explicit(&gmp_rawtrap, memory_order_relaxed) != RAWTRAP_OFF) &&
	    !(g && g->xwait) && gmp_rawtrap_signal(g, sig, si, ucv))
		return; /* a raw call trapped, made (rawtrap.c) */
	bool held = gmp_xwait_hold(g, ucv); /* it interrupted glibc's code in a trapped call (xwait.c) */
	if (!held || !gmp_xwait_trap(sig, si, ucv)) {
		if (GMP_UNLIKELY(sig == SIGSYS) && !gmp_sig_has_user(SIGSYS) && gmp_xwait_sigsys_default())
			return;
		dispatch(sig, si, ucv);
	}
	if (held)
		gmp_xwait_release(g, ucv);
}

/*
 * A signal at a G that blocks it, which the kernel did not (gmp_kmask lets
 * it in: the preemption signal, SIGSYS while raw calls trap, SIGSEGV under
 * FS-base traps): kept as the kernel keeps a blocked one.
 */
static void keep_blocked(struct gmp_g *g, int sig, siginfo_t *si, struct gmp_g *for_g)
{
	if (for_g)
		return; /* still pending on the G */
	if (gmp_sig_process_directed(si)) {
		forward(sig, si, NULL);
	} else {
		gmp_sig_keep_for(g, sig, si);
		gmp_sig_pend(g, sig, false);
	}
}

/* The G is in runtime code (its P is P_RUNNING): it takes the signal once out (sysmon raises it again). */
static void pend_in_runtime(struct gmp_g *g, int sig, siginfo_t *si, struct gmp_g *for_g)
{
	if (for_g) {
		/* a raise for a pending bit: try again only if it is still pending */
		if (atomic_load(&g->sigpending) & gmp_sigbit(sig))
			gmp_defer((uintptr_t)g | 1);
		return;
	}
	gmp_sig_keep_for(gmp_sig_process_directed(si) ? PROC_G : g, sig, si);
	gmp_sig_pend(g, sig, gmp_sig_process_directed(si));
	gmp_defer((uintptr_t)g | 1);
}

/*
 * The G's own code: run it here.  A standard signal pending for this G
 * merges with it; a real-time one is an instance of its own, and each
 * queued one comes by a raise of its own (another is raised while some
 * remain).
 */
static void run_here(struct gmp_g *g, struct gmp_m *m, int sig, siginfo_t *si, void *ucv)
{
	if (sig > GMP_SIGSETXID && !gmp_sig_marked_g(si)) {
		call_user_on(g, sig, si, ucv);
		return;
	}
	bool was_pending = gmp_sig_take(g, sig);
	if (gmp_sig_marked_g(si) && !was_pending)
		return; /* raised again, but already run */
	if (was_pending || gmp_sig_marked_g(si)) {
		siginfo_t k;
		gmp_sig_info_take(g, sig, si, &k);
		call_user_on(g, sig, &k, ucv);
		if (sig > GMP_SIGSETXID && (atomic_load(&g->sigpending) & gmp_sigbit(sig)))
			gmp_sig_raise_marked(g, m, sig); /* the next queued instance, after this handler */
		return;
	}
	call_user_on(g, sig, si, ucv);
}

static void dispatch(int sig, siginfo_t *si, void *ucv)
{
	if (GMP_UNLIKELY(sig == GMP_SIGPREEMPT) && gmp_preempt_marked(si)) {
		gmp_preempt_signal(ucv); /* sysmon's, not the program's */
		return;
	}
	struct gmp_g *g = atomic_load_explicit(&gmp_inited, memory_order_acquire) == 2 ? gmp_getg() : NULL;
	if (!g && gmp_sysmon_thread && !is_fault(sig, si)) {
		forward(sig, si, NULL); /* let in for the Gs that do not block it (sysmon.c) */
		return;
	}
	if (!g) {
		gmp_sig_call_user(sig, si, ucv); /* a thread gmp did not create */
		return;
	}
	if (is_fault(sig, si)) {
		call_user_on(g, sig, si, ucv); /* a fault here: the G's own, whatever its mask */
		return;
	}
	ucontext_t *uc = ucv;
	uintptr_t sp = uc ? (uintptr_t)uc->uc_mcontext.gregs[REG_RSP] : (uintptr_t)__builtin_frame_address(0);
	struct gmp_m *m = g->m;
	struct gmp_g *for_g = gmp_sig_marked_g(si);
	/* (not a G that has exited as far as signals go: gmp_signal_exit) */
	bool here = m && m->curg == g && gmp_on_g_stack(g, sp) && g->sigmask != SIGMASK_EXITED;
	if (for_g && (!here || for_g != g)) {
		/* raised for a G that has left this kernel thread: its bit is still set; try again */
		gmp_defer((uintptr_t)for_g | 1);
		return;
	}
	if (!here) {
		forward(sig, si, g); /* the scheduler, or another G's TLS: no G here to run it on */
		return;
	}
	/*
	 * A signal the kernel mask lets in whatever the G's mask says (the
	 * preemption signal; SIGSYS while raw calls trap; SIGSEGV under FS-base
	 * traps), sent by the program to a G that blocks it: kept as the kernel
	 * keeps a blocked one (not when a sigsuspend or ppoll mask lets it in;
	 * a parked sigwait takes it from there).
	 */
	if (GMP_UNLIKELY(gmp_sigbit(sig) & (gmp_preempt_kbit | gmp_rawtrap_kbit | gmp_fstrap_kbit)) &&
	    (g->sigmask & ~(atomic_load(&g->sigwait_parked) ? 0 : atomic_load(&g->sigwaitset)) & gmp_sigbit(sig))) {
		keep_blocked(g, sig, si, for_g);
		return;
	}
	struct gmp_g *mg = !for_g ? for_main(sig, si) : NULL;
	if (mg && mg != g) {
		forward(sig, si, g); /* the main thread's, as the kernel would have chosen */
		return;
	}
	struct gmp_p *p = m->p;
	if (p && p->m == m && atomic_load(&p->status) == P_RUNNING) {
		pend_in_runtime(g, sig, si, for_g);
		return;
	}
	run_here(g, m, sig, si, ucv);
}
