/*
 * Cancellation: pthread_cancel of a G, and signal 32 (SIGCANCEL) for Gs.
 * core/signal.c, sigdispatch.c and sigproc.c deliver the other signals;
 * sig.h has what they share.  Both end a G's wait the same way
 * (gmp_wait_interrupt).
 */
#include "sig.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

/*
 * glibc's pthread_cancel of a thread in asynchronous mode (and, before
 * 2.41, of one inside a blocking call it wraps) counts on SIGCANCEL: its
 * handler marks the thread that receives it canceled and, when that thread
 * is asynchronous, unwinds it on the spot.  "The thread that receives it"
 * is whatever TCB is loaded, so under gmp a SIGCANCEL that reaches a kernel
 * thread in the scheduler (g0, with the last G's TCB still loaded) or one
 * that runs another G cancels the wrong thread, or unwinds g0's stack.
 *
 * So gmp owns signal 32's handler (sig32, installed over glibc's, which
 * pthread_cancel installs lazily) and sends its own, marked for the G
 * (gmp_sig_raise_marked, bit 32 of g->sigpending).  glibc's handler runs only at a
 * point where unwinding the G is safe: the G runs on this kernel thread, on
 * its own stack, its P is not held by runtime code and the interrupted
 * instruction is not in gmp (nor in the vDSO gmp calls for the time).
 * Otherwise the bit stays set and the G is interrupted again soon
 * (gmp_defer; a parked G's wait ends and it takes the signal as it comes
 * back, gmp_deliver_pending).  An unmarked SIGCANCEL (glibc's own, sent to
 * the fake tid of a G or to the main thread's) is acted on only by a G
 * that is here; gmp sends the marked one too.  The debug dumper's register
 * requests share the signal (gmp_debug_req_signal).
 */
static struct ksigaction cancel_prev; /* glibc's handler, which ours replaced */

static void sig32(int sig, siginfo_t *si, void *ucv);

bool gmp_sig32_install(void)
{
	struct ksigaction cur, sa;
	if (gmp_sys4(SYS_rt_sigaction, SIGCANCEL_NR, NULL, &cur, 8) != 0)
		return false;
	if (cur.handler == (void *)sig32)
		return true;
	cancel_prev = cur; /* racing installers read the same handler */
	memset(&sa, 0, sizeof sa);
	sa.handler = (void *)sig32;
	sa.flags = SA_SIGINFO | SA_RESTART | SA_RESTORER;
	sa.restorer = gmp_sig_restorer;
	return gmp_sys4(SYS_rt_sigaction, SIGCANCEL_NR, &sa, NULL, 8) == 0;
}

void gmp_sig32_restorer_moved(void)
{
	struct ksigaction cur;
	if (gmp_sys4(SYS_rt_sigaction, SIGCANCEL_NR, NULL, &cur, 8) == 0 && cur.handler == (void *)sig32) {
		cur.restorer = gmp_sig_restorer;
		gmp_sys4(SYS_rt_sigaction, SIGCANCEL_NR, &cur, NULL, 8);
	}
}

static void call_prev(int sig, siginfo_t *si, void *ucv)
{
	void *h = cancel_prev.handler;
	if (h == (void *)SIG_DFL || h == (void *)SIG_IGN)
		return;
	if (cancel_prev.flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))h)(sig, si, ucv);
	else
		((void (*)(int))h)(sig);
}

/* May g be unwound at the point the signal interrupted? */
static bool cancel_point_safe(struct gmp_g *g, const ucontext_t *uc)
{
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	struct gmp_p *p = g->m->p;
	if (p && p->m == g->m && atomic_load(&p->status) == P_RUNNING)
		return false; /* runtime code holds its P */
	enum gmp_code c = gmp_code_at(pc);
	return c != CODE_GMP && c != CODE_VDSO; /* not gmp, nor the time, maybe for gmp */
}

static void sig32_here(int sig, siginfo_t *si, void *ucv);

static void sig32(int sig, siginfo_t *si, void *ucv)
{
	struct gmp_g *g = atomic_load_explicit(&gmp_inited, memory_order_acquire) == 2 ? gmp_getg() : NULL;
	bool held = gmp_xwait_hold(g, ucv);
	sig32_here(sig, si, ucv);
	if (held)
		gmp_xwait_release(g, ucv);
}

static void sig32_here(int sig, siginfo_t *si, void *ucv)
{
	if (gmp_debug_req_signal(si, ucv))
		return;
	struct gmp_g *g = atomic_load_explicit(&gmp_inited, memory_order_acquire) == 2 ? gmp_getg() : NULL;
	struct gmp_g *for_g = gmp_sig_marked_g(si);
	if (!g) {
		if (!for_g)
			call_prev(sig, si, ucv); /* a thread gmp did not create: glibc's own */
		return;
	}
	ucontext_t *uc = ucv;
	struct gmp_m *m = g->m;
	bool here = m && m->curg == g && gmp_on_g_stack(g, (uintptr_t)uc->uc_mcontext.gregs[REG_RSP]);
	if (!for_g) {
		if (here && cancel_point_safe(g, uc))
			call_prev(sig, si, ucv);
		return;
	}
	if (for_g != g || !here || !cancel_point_safe(g, uc)) {
		if (atomic_load(&for_g->sigpending) & gmp_sigbit(sig))
			gmp_defer((uintptr_t)for_g | 1); /* again soon, where it can be taken */
		return;
	}
	if (!(atomic_fetch_and(&g->sigpending, ~gmp_sigbit(sig)) & gmp_sigbit(sig)))
		return; /* raised again, but already taken */
	siginfo_t k;
	gmp_sig_tkill_info(&k, sig); /* what glibc's handler checks: SI_TKILL from this process */
	/*
	 * In a kernel call, glibc's handler may unwind the G out of it (a
	 * process-shared condvar's wait; with glibc 2.41 any cancellable call
	 * interrupted inside its system call bridge, which only glibc can
	 * tell), and cleanup handlers run next and may park: the G leaves the
	 * call first, as for the program's handlers (call_user_on), and enters
	 * it again if the handler returns.
	 */
	gmp_sig_call_on(g, call_prev, sig, &k, ucv);
}

void gmp_cancel_at_call(struct gmp_g *g, void *uc)
{
	if (!(atomic_fetch_and(&g->sigpending, ~gmp_sigbit(SIGCANCEL_NR)) & gmp_sigbit(SIGCANCEL_NR)))
		return;
	siginfo_t k;
	gmp_sig_tkill_info(&k, SIGCANCEL_NR);
	gmp_sig_call_on(g, call_prev, SIGCANCEL_NR, &k, uc);
}

bool gmp_cancel_pending(struct gmp_g *g)
{
	return (atomic_load(&g->sigpending) & gmp_sigbit(SIGCANCEL_NR)) ||
	       (atomic_load(&g->cancel_asked) && gmp_tcb_cancel_pending(g->tcb));
}

void gmp_testcancel(void)
{
	struct gmp_g *g = gmp_getg();
	if (g && (atomic_load(&g->sigpending) & gmp_sigbit(SIGCANCEL_NR)) &&
	    (atomic_fetch_and(&g->sigpending, ~gmp_sigbit(SIGCANCEL_NR)) & gmp_sigbit(SIGCANCEL_NR))) {
		/* at a cancellation point, in the G's own context: as the signal would have */
		siginfo_t k;
		gmp_sig_tkill_info(&k, SIGCANCEL_NR);
		call_prev(SIGCANCEL_NR, &k, NULL);
	}
	if (!g || atomic_load_explicit(&g->cancel_asked, memory_order_relaxed))
		pthread_testcancel();
}

void gmp_signal_cancel(struct gmp_g *t)
{
	uint32_t st = gmp_gstatus(t);
	if (st == G_DEAD || st == G_IDLE)
		return;
	atomic_fetch_or(&t->sigpending, gmp_sigbit(SIGCANCEL_NR));
	struct gmp_m *m = t->m;
	if ((st == G_RUNNING || st == G_SYSCALL) && m && m->curg == t)
		gmp_sig_raise_marked(t, m, SIGCANCEL_NR);
	/* else: a cancellable wait ends (pthread_cancel wakes it, gmp_cancel_pending); otherwise it
	   takes it when it runs again (gmp_deliver_pending) */
}

void gmp_wait_interrupt(struct gmp_g *t, int res)
{
	gmp_futex_cancel_g(t, res);
	gmp_netpoll_cancel_g(t, res);
}

void gmp_wait_interrupt_p(struct gmp_g *t, int res, struct gmp_p *p)
{
	gmp_futex_cancel_gp(t, res, p);
	gmp_netpoll_cancel_gp(t, res, p);
}

/*
 * pthread_cancel of G t, after glibc's has set the request in t's TCB (a
 * G's own): make it act.  A G parked in a cancellable wait is woken, and
 * a running G with asynchronous cancellation enabled (glibc before 2.41
 * turns it on around blocking system calls), or with glibc 2.41 a G in a
 * kernel call, gets SIGCANCEL on the kernel thread running it.
 */
void gmp_cancel_g(struct gmp_g *t)
{
	gmp_sig32_install();
	if (gmp_tcb_cancel_async(t->tcb) || gmp_tcb_cancel_wants_signal(t->tcb) ||
	    (gmp_tcb_cancel_by_signal(t->tcb) && gmp_gstatus(t) == G_SYSCALL))
		gmp_signal_cancel(t); /* (2.41: a G blocked in a kernel call, as glibc would signal it) */
	gmp_wait_interrupt(t, -ECANCELED);
}
