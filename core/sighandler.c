/*
 * The program's signal handlers (docs/design.md §11): the table of what it
 * installed (preload/signal.c registers, the dispatcher in sigdispatch.c reads),
 * and running one on a G: leaving a kernel call for it, the mask and the
 * alternate stack the frame returns to when the G moved meanwhile.
 */
#include "sig.h"

#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

static struct {
	void *_Atomic fn;
	_Atomic int flags;
} user[65];

void gmp_sig_set_user(int sig, void *fn, int flags)
{
	atomic_store(&user[sig].flags, flags);
	atomic_store(&user[sig].fn, fn);
	if (fn) {
		if (!(atomic_fetch_or(&gmp_sig_dispatched, gmp_sigbit(sig)) & gmp_sigbit(sig)))
			gmp_sysmon_kick(); /* it may let this one in now */
	} else {
		atomic_fetch_and(&gmp_sig_dispatched, ~gmp_sigbit(sig)); /* sysmon blocks it again at its next round */
	}
}

/*
 * Make the dispatcher sig's kernel handler for gmp's own use (SIGURG for
 * preemption, SIGSYS for trapped waits), keeping a handler the program
 * (or a constructor before gmp's) installed as the program's.  -1 if the
 * kernel refused; else 1 if the program had SIG_IGN, 0 otherwise.
 */
int gmp_sig_take_kernel(int sig)
{
	struct sigaction cur, sa;
	if (gmp_libc.sigaction(sig, NULL, &cur) != 0)
		return -1;
	void *h = (cur.sa_flags & SA_SIGINFO) ? (void *)cur.sa_sigaction : (void *)cur.sa_handler;
	sa = cur;
	if (h != (void *)SIG_DFL && h != (void *)SIG_IGN && h != (void *)gmp_sig_dispatch) {
		gmp_sig_set_user(sig, h, cur.sa_flags);
	} else {
		memset(&sa, 0, sizeof sa);
		sa.sa_flags = SA_RESTART;
		if (sig == SIGSYS)
			sa.sa_flags |= SA_NODEFER; /* the handler's mask is the interrupted one (core/rawtrap.c) */
	}
	sa.sa_sigaction = gmp_sig_dispatch;
	sa.sa_flags = (sa.sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
	if (gmp_fstrap)
		sigdelset(&sa.sa_mask, SIGSEGV); /* never blocked in the kernel under FS-base traps (fstrap.c) */
	if (gmp_libc.sigaction(sig, &sa, NULL) != 0)
		return -1;
	return h == (void *)SIG_IGN;
}

bool gmp_sig_has_user(int sig) { return atomic_load(&user[sig].fn) != NULL; }

int gmp_sig_user(int sig, void **fn, int *flags)
{
	*flags = atomic_load(&user[sig].flags);
	*fn = atomic_load(&user[sig].fn);
	return *fn != NULL;
}

void gmp_sig_call_user(int sig, siginfo_t *si, void *uc)
{
	int flags = atomic_load(&user[sig].flags);
	void *fn = atomic_load(&user[sig].fn);
	if (!fn)
		return;
	if (flags & SA_RESETHAND)
		gmp_sig_set_user(sig, NULL, 0); /* the kernel reset our registration already */
	if (flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))fn)(sig, si, uc);
	else
		((void (*)(int))fn)(sig);
}

/*
 * A handler (the program's, or glibc's SIGCANCEL) on g, here.  A G in a kernel call with hand-off
 * (poll, epoll_wait, waitpid, pause...) leaves the call for the handler,
 * which may call anything (a write to a self-pipe is the classic), hand-off
 * calls and parking included, and enters it again after (the kernel restarts
 * the call or returns EINTR from it).  It may wait for a P and come back on
 * another M, whose mask it does not know.
 */
void gmp_sig_call_on(struct gmp_g *g, void (*fn)(int, siginfo_t *, void *), int sig, siginfo_t *si, void *uc)
{
	/* no preemption inside the handler: g->handler_sp (preempt.c) */
	uintptr_t outer = g->handler_sp;
	struct gmp_m *m = g->m;
	g->handler_sp = (uintptr_t)__builtin_frame_address(0);
	/*
	 * The kernel's mask is the handler's now (the signal and sa_mask
	 * added), not the one gmp loaded: if the handler parks (a sleep, a
	 * semaphore), the M must load the next G's mask, not run it with
	 * SIGSEGV blocked (the program's next fault would kill the process).
	 */
	m->cur_sigmask = ~0ULL;
	uint8_t xw = gmp_xwait_pause(g); /* its system calls are its own */
	if (!g->insyscall) {
		fn(sig, si, uc);
	} else {
		gmp_exitsyscall(g);
		fn(sig, si, uc);
		gmp_entersyscall(g);
	}
	gmp_xwait_resume(g, xw);
	g->handler_sp = outer;
	if (!uc)
		return; /* unknown: the scheduler loads the mask at the next switch */
	if (g->m == m && m->cur_sigmask == ~0ULL) {
		uint64_t k; /* it ran here and nothing else did: what rt_sigreturn loads */
		memcpy(&k, &((ucontext_t *)uc)->uc_sigmask, sizeof k);
		m->cur_sigmask = k;
	} else {
		gmp_sigframe_moved(g, uc);
	}
}

/*
 * Back in user state after a handler parked the G (a preemption, a
 * trapped wait), maybe on another M: the frame returns to the code with
 * the G's kernel mask, and on another M with that M's alternate stack.
 */
void gmp_sigframe_back(struct gmp_g *g, struct gmp_m *was, void *ucv)
{
	ucontext_t *uc = ucv;
	uint64_t k = gmp_kmask(g->sigmask); /* the mask execute loads */
	memcpy(&uc->uc_sigmask, &k, sizeof k);
	if (g->m != was)
		gmp_sigframe_moved(g, uc);
	else
		was->cur_sigmask = k; /* what rt_sigreturn loads */
}

void gmp_sigframe_moved(struct gmp_g *g, void *ucv)
{
	ucontext_t *uc = ucv;
	struct gmp_m *m = g->m;
	uint64_t k;
	memcpy(&k, &uc->uc_sigmask, sizeof k);
	if (m->cur_sigmask == ~0ULL) {
		k = gmp_kmask(g->sigmask); /* unknown here: what the scheduler would load */
		memcpy(&uc->uc_sigmask, &k, sizeof k);
	}
	m->cur_sigmask = k; /* what rt_sigreturn loads */
	stack_t ss;
	if (gmp_sys2(SYS_sigaltstack, NULL, &ss) == 0) {
		ss.ss_flags &= ~SS_ONSTACK;
		uc->uc_stack = ss; /* else rt_sigreturn gives this kernel thread the one the G left */
	}
}
