/*
 * Kernel-facing calls that name a thread: scheduling parameters and
 * signals.  A G is not a kernel thread, so these are kept per G:
 *   - the scheduling policy and priority are kept per G, validated as the
 *     kernel would (EINVAL, EPERM), and real-time ones rank the G in gmp's
 *     scheduler (core/schedparam.c);
 *   - the signal mask and the pending set are the G's (core/sigmask.c);
 *   - a signal sent to a G goes to the kernel thread running it now, or,
 *     if it is not running, waits in the G until it next runs
 *     (core/signal.c).
 */
#include "export.h"

#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

GMP_EXPORT int pthread_getschedparam(pthread_t th, int *policy, struct sched_param *sp)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_getschedparam, (pthread_t, int *, struct sched_param *));
		int r;
		GMP_FSTRAP_HELD(r = real_pthread_getschedparam(th, policy, sp));
		return r;
	}
	gmp_sched_getparam(t, policy, &sp->sched_priority);
	return 0;
}

GMP_EXPORT int pthread_setschedparam(pthread_t th, int policy, const struct sched_param *sp)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_setschedparam, (pthread_t, int, const struct sched_param *));
		int r;
		GMP_FSTRAP_HELD(r = real_pthread_setschedparam(th, policy, sp));
		return r;
	}
	return -gmp_sched_setparam(t, policy, sp->sched_priority);
}

GMP_EXPORT int pthread_setschedprio(pthread_t th, int prio)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_setschedprio, (pthread_t, int));
		int r;
		GMP_FSTRAP_HELD(r = real_pthread_setschedprio(th, prio));
		return r;
	}
	int policy;
	gmp_sched_getparam(t, &policy, NULL);
	return -gmp_sched_setparam(t, policy, prio);
}

/*
 * sched_* on the calling thread (pid 0, or the kernel thread it runs on
 * now) are the G's, as pthread_*schedparam: the kernel thread is shared.
 */
static struct gmp_g *self_target(pid_t pid)
{
	struct gmp_g *g = gmp_getg();
	if (g && (pid == 0 || pid == g->m->tid))
		return g;
	return NULL;
}

GMP_EXPORT int sched_getscheduler(pid_t pid)
{
	struct gmp_g *g = self_target(pid);
	if (!g) {
		GMP_REAL(int, sched_getscheduler, (pid_t));
		return real_sched_getscheduler(pid);
	}
	int policy;
	gmp_sched_getparam(g, &policy, NULL);
	return policy;
}

GMP_EXPORT int sched_getparam(pid_t pid, struct sched_param *sp)
{
	struct gmp_g *g = self_target(pid);
	if (!g) {
		GMP_REAL(int, sched_getparam, (pid_t, struct sched_param *));
		return real_sched_getparam(pid, sp);
	}
	if (!sp) {
		errno = EINVAL;
		return -1;
	}
	gmp_sched_getparam(g, NULL, &sp->sched_priority);
	return 0;
}

GMP_EXPORT int sched_setscheduler(pid_t pid, int policy, const struct sched_param *sp)
{
	struct gmp_g *g = self_target(pid);
	if (!g) {
		GMP_REAL(int, sched_setscheduler, (pid_t, int, const struct sched_param *));
		return real_sched_setscheduler(pid, policy, sp);
	}
	if (!sp) {
		errno = EINVAL;
		return -1;
	}
	return (int)shim_ret(gmp_sched_setparam(g, policy & ~SCHED_RESET_ON_FORK, sp->sched_priority));
}

GMP_EXPORT int sched_setparam(pid_t pid, const struct sched_param *sp)
{
	struct gmp_g *g = self_target(pid);
	if (!g) {
		GMP_REAL(int, sched_setparam, (pid_t, const struct sched_param *));
		return real_sched_setparam(pid, sp);
	}
	if (!sp) {
		errno = EINVAL;
		return -1;
	}
	int policy;
	gmp_sched_getparam(g, &policy, NULL);
	return (int)shim_ret(gmp_sched_setparam(g, policy & ~SCHED_RESET_ON_FORK, sp->sched_priority));
}

GMP_EXPORT int pthread_kill(pthread_t th, int sig)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_kill, (pthread_t, int));
		int r;
		GMP_FSTRAP_HELD(r = real_pthread_kill(th, sig));
		return r;
	}
	if (sig < 0 || sig >= _NSIG)
		return EINVAL;
	if (sig == 0)
		return 0;
	return -gmp_signal_g(t, sig, NULL);
}

/* Signal masks belong to the G (core/sigmask.c). */
GMP_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	struct gmp_g *g = gmp_getg();
	if (!g) {
		GMP_REAL(int, pthread_sigmask, (int, const sigset_t *, sigset_t *));
		if (set && gmp_fstrap && how != SIG_UNBLOCK && sigismember(set, SIGSEGV)) {
			sigset_t k = *set; /* never blocked under FS-base traps (core/fstrap.c) */
			sigdelset(&k, SIGSEGV);
			return real_pthread_sigmask(how, &k, old);
		}
		return real_pthread_sigmask(how, set, old);
	}
	return -gmp_sigmask(g, how, set, old);
}

/*
 * Jumps and context switches that restore a saved signal mask: the G's
 * mask is set first, glibc's call then sets the kernel's
 * (gmp_sigmask_restored, core/sigmask.c).  Under FS-base traps SIGSEGV is
 * never blocked in the kernel (core/fstrap.c): a restored mask that blocks
 * it is restored from a copy without it.
 */
static bool segv_in(const sigset_t *set) { return gmp_fstrap && sigismember(set, SIGSEGV); }

#define LONGJMP(name)                                                       \
	GMP_EXPORT _Noreturn void name(struct __jmp_buf_tag env[1], int val) \
	{                                                                    \
		GMP_REAL(void, name, (struct __jmp_buf_tag *, int));       \
		if (env[0].__mask_was_saved) {                               \
			gmp_sigmask_restored(&env[0].__saved_mask);          \
			if (segv_in(&env[0].__saved_mask)) {                 \
				struct __jmp_buf_tag c = env[0];             \
				sigdelset(&c.__saved_mask, SIGSEGV);         \
				real_##name(&c, val);                        \
			}                                                    \
		}                                                            \
		real_##name(env, val);                                       \
		__builtin_unreachable();                                     \
	}
LONGJMP(siglongjmp)
LONGJMP(longjmp)
LONGJMP(_longjmp)
LONGJMP(__longjmp_chk)

GMP_EXPORT int setcontext(const ucontext_t *ucp)
{
	GMP_REAL(int, setcontext, (const ucontext_t *));
	gmp_sigmask_restored(&ucp->uc_sigmask);
	if (segv_in(&ucp->uc_sigmask)) {
		ucontext_t c = *ucp; /* (uc_mcontext.fpregs still points at the original's FP state) */
		sigdelset(&c.uc_sigmask, SIGSEGV);
		return real_setcontext(&c);
	}
	return real_setcontext(ucp);
}

GMP_EXPORT int swapcontext(ucontext_t *restrict oucp, const ucontext_t *restrict ucp)
{
	GMP_REAL(int, swapcontext, (ucontext_t *restrict, const ucontext_t *restrict));
	gmp_sigmask_restored(&ucp->uc_sigmask); /* coming back to oucp goes through one of these again */
	if (segv_in(&ucp->uc_sigmask)) {
		ucontext_t c = *ucp;
		sigdelset(&c.uc_sigmask, SIGSEGV);
		return real_swapcontext(oucp, &c);
	}
	return real_swapcontext(oucp, ucp);
}

GMP_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	int err = pthread_sigmask(how, set, old);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/* kill to the calling process: a G that does not block sig takes it itself (core/sigmask.c). */
GMP_EXPORT int kill(pid_t pid, int sig)
{
	GMP_REAL(int, kill, (pid_t, int));
	struct gmp_g *g = gmp_getg();
	int r = g ? gmp_kill_self(g, pid, sig) : 1;
	if (r > 0)
		return real_kill(pid, sig); /* for the kernel to deliver */
	return (int)shim_ret(r);
}

/*
 * raise: a signal to the calling thread, which is the G, not the kernel
 * thread that runs it now: blocked, it stays pending for this G (a thread
 * created next must not see it in sigpending, nor another G that runs on
 * this kernel thread later); unblocked, its handler runs before raise
 * returns, as glibc's raise guarantees.
 */
GMP_EXPORT int raise(int sig)
{
	struct gmp_g *g = gmp_getg();
	if (!g || sig == GMP_SIGCANCEL || sig == GMP_SIGSETXID) {
		GMP_REAL(int, raise, (int));
		return real_raise(sig);
	}
	if (sig <= 0 || sig >= _NSIG) {
		errno = EINVAL;
		return -1;
	}
	return (int)shim_ret(gmp_signal_g(g, sig, NULL));
}

/* sigpending: the G's own pending set, not its kernel thread's (core/sigmask.c). */
GMP_EXPORT int sigpending(sigset_t *set)
{
	GMP_REAL(int, sigpending, (sigset_t *));
	struct gmp_g *g = gmp_getg();
	if (!g)
		return real_sigpending(set);
	gmp_sigpending(g, set);
	return 0;
}

GMP_EXPORT int pthread_sigqueue(pthread_t th, int sig, const union sigval val)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_sigqueue, (pthread_t, int, const union sigval));
		int r;
		GMP_FSTRAP_HELD(r = real_pthread_sigqueue(th, sig, val));
		return r;
	}
	if (sig < 0 || sig >= _NSIG)
		return EINVAL;
	if (sig == 0)
		return 0;
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = gmp_sched.pid;
	si.si_uid = getuid();
	si.si_value = val;
	return -gmp_signal_g(t, sig, &si);
}
