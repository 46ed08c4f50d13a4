/*
 * sigaction and the signal() family: the program's handlers are kept by
 * core/sighandler.c and the kernel gets gmp_sig_dispatch in their place, so a
 * handler runs on a G with that G's TLS even when the kernel delivers the
 * signal to a kernel thread that is in the scheduler (core/sigdispatch.c).
 * Queries report the program's own handler and flags.  SIG_DFL and SIG_IGN
 * are installed as they are.  gmp's own fault reporter (core/crash.c)
 * shows as SIG_DFL: the program never installed it.
 */
#include "export.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

static bool plain(void *h) { return h == (void *)SIG_DFL || h == (void *)SIG_IGN; }

/*
 * The preemption signal (SIGURG) keeps gmp's handler whatever the program
 * sets (core/preempt.c): its SIG_DFL or SIG_IGN, the same for SIGURG, is
 * kept here to be reported back, and SA_RESETHAND is done by the
 * dispatcher, not the kernel.
 */
static struct sigaction owned_plain[2]; /* zero: SIG_DFL; [0] SIGURG, [1] SIGSYS */
static bool owned_plain_set[2];         /* set through glibc, which adds SA_RESTORER */

/* So is SIGSYS while gmp traps glibc's waits (core/xwait.c); its SIG_DFL is done by the dispatcher. */
static bool preempt_owned(int sig)
{
	return (sig == GMP_SIGPREEMPT && gmp_preempt_ns) || (sig == SIGSYS && gmp_xwait_owns_sigsys());
}

/* glibc's sigaction, SIGSEGV never blocked in the kernel under FS-base traps (fstrap.c) */
static int set_kernel(int sig, const struct sigaction *act, struct sigaction *old)
{
	GMP_REAL(int, sigaction, (int, const struct sigaction *, struct sigaction *));
	if (act && gmp_fstrap && sigismember(&act->sa_mask, SIGSEGV)) {
		struct sigaction k = *act;
		sigdelset(&k.sa_mask, SIGSEGV);
		return real_sigaction(sig, &k, old);
	}
	return real_sigaction(sig, act, old);
}

/* The kernel's action for sig, or for SIGSEGV under FS-base traps the one core/fstrap.c keeps. */
static int kaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig == SIGSEGV && gmp_fstrap)
		return gmp_fstrap_sigaction(act, old);
	if (sig != SIGSYS || !act)
		return set_kernel(sig, act, old);
	gmp_rawtrap_sigsys_changing(); /* a trap meanwhile leaves through rt_sigreturn (core/rawtrap.c) */
	int r = set_kernel(sig, act, old);
	gmp_rawtrap_sigsys_changed();
	return r;
}

GMP_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
	GMP_REAL(int, sigaction, (int, const struct sigaction *, struct sigaction *));
	if (sig < 1 || sig >= 65 || sig == SIGKILL || sig == SIGSTOP || sig == GMP_SIGCANCEL || sig == GMP_SIGSETXID)
		return real_sigaction(sig, act, oact); /* glibc's errors, and its internal signals */
	void *pfn;
	int pflags;
	bool had = gmp_sig_user(sig, &pfn, &pflags);
	struct sigaction old, was_plain = owned_plain[sig == SIGSYS];
	bool was_set = owned_plain_set[sig == SIGSYS];
	int r;
	if (act) {
		void *h = (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction : (void *)act->sa_handler;
		if (plain(h) && preempt_owned(sig)) {
			struct sigaction k = *act;
			k.sa_sigaction = gmp_sig_dispatch;
			k.sa_flags = (k.sa_flags | SA_SIGINFO | SA_RESTART) & ~SA_RESETHAND;
			if (sig == SIGSYS) { /* no handler of the program's runs: the handler's mask is the interrupted one */
				k.sa_flags |= SA_NODEFER;
				sigemptyset(&k.sa_mask);
			}
			r = kaction(sig, &k, &old);
			if (r == 0) {
				gmp_sig_set_user(sig, NULL, 0);
				owned_plain[sig == SIGSYS] = *act;
				owned_plain_set[sig == SIGSYS] = true;
				if (sig == SIGSYS)
					gmp_xwait_sigsys_plain(h == (void *)SIG_IGN);
			}
		} else if (plain(h)) {
			r = kaction(sig, act, &old);
			if (r == 0)
				gmp_sig_set_user(sig, NULL, 0);
		} else {
			struct sigaction k = *act;
			k.sa_sigaction = gmp_sig_dispatch;
			k.sa_flags |= SA_SIGINFO;
			if (preempt_owned(sig))
				k.sa_flags &= ~SA_RESETHAND;
			gmp_sig_set_user(sig, h, act->sa_flags); /* before the kernel may call the dispatcher */
			r = kaction(sig, &k, &old);
			if (r != 0)
				gmp_sig_set_user(sig, had ? pfn : NULL, pflags);
		}
	} else {
		r = kaction(sig, NULL, &old);
	}
	if (r == 0 && oact) {
		*oact = old;
		if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == gmp_sig_dispatch && had) {
			oact->sa_flags = pflags | (old.sa_flags & SA_RESTORER);
			if (pflags & SA_SIGINFO)
				oact->sa_sigaction = (void (*)(int, siginfo_t *, void *))pfn;
			else
				oact->sa_handler = (void (*)(int))pfn;
		} else if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == gmp_sig_dispatch && preempt_owned(sig)) {
			*oact = was_plain; /* the program's SIG_DFL or SIG_IGN, as it set it */
			if (was_set) {
				oact->sa_flags |= old.sa_flags & SA_RESTORER; /* as glibc's sigaction adds */
				oact->sa_restorer = old.sa_restorer;
			}
		} else if ((old.sa_flags & SA_SIGINFO) && gmp_debug_own_handler((void *)old.sa_sigaction)) {
			memset(oact, 0, sizeof *oact);
			oact->sa_handler = SIG_DFL;
		}
	}
	return r;
}

static __sighandler_t install(int sig, __sighandler_t h, int flags)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = flags;
	if (!(flags & SA_NODEFER))
		sigaddset(&sa.sa_mask, sig);
	if (sig < 1 || sig >= 65 || sigaction(sig, &sa, &old) != 0) {
		errno = EINVAL;
		return SIG_ERR;
	}
	return old.sa_handler;
}

/* BSD semantics, as glibc's signal(): restart, handler stays, sig blocked while it runs. */
GMP_EXPORT __sighandler_t signal(int sig, __sighandler_t h) { return install(sig, h, SA_RESTART); }
GMP_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h) { return install(sig, h, SA_RESTART); }
/* System V semantics: one-shot, not blocked while it runs. */
GMP_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	return install(sig, h, SA_RESETHAND | SA_NODEFER);
}
/* What signal() is in a strict ISO C program (-std=c99): <signal.h> maps it here. */
GMP_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t h)
{
	return install(sig, h, SA_RESETHAND | SA_NODEFER);
}

/*
 * sigaltstack: a G's own, kept in the G and loaded on whichever kernel
 * thread runs it (core/crash.c gmp_altstack_load).  The kernel checks and
 * answers (EPERM on the stack in use, EINVAL, ENOMEM): the G's stack is
 * loaded on this kernel thread first, and the G cannot change kernel
 * thread inside gmp.  A G that never set one sees none, not gmp's own.
 */
GMP_EXPORT int sigaltstack(const stack_t *ss, stack_t *old)
{
	struct gmp_g *g = gmp_getg();
	if (!g) {
		GMP_REAL(int, sigaltstack, (const stack_t *, stack_t *));
		return real_sigaltstack(ss, old);
	}
	struct gmp_m *m = g->m;
	gmp_altstack_load(m, g);
	stack_t cur;
	long r = 0;
	if (!g->altgen) {
		/* the M's own is loaded: this thread has none (the kernel's answer for a new thread) */
		cur = (stack_t){.ss_sp = NULL, .ss_flags = SS_DISABLE, .ss_size = 0};
		if (ss)
			r = gmp_sys2(SYS_sigaltstack, ss, NULL);
	} else {
		r = gmp_sys2(SYS_sigaltstack, ss, &cur);
	}
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	if (ss) {
		gmp_sys2(SYS_sigaltstack, NULL, &g->altstack); /* as the kernel stored it */
		g->altstack.ss_flags &= ~SS_ONSTACK;
		g->altgen++;
		m->altowner = g;
		m->altgen = g->altgen;
	}
	if (old)
		*old = cur;
	return 0;
}
