/*
 * Kernel-facing calls that name a thread: scheduling parameters and
 * signals.  A G is not a kernel thread, so these are kept per G:
 *   - the scheduling policy and priority are kept per G, validated as the
 *     kernel would (EINVAL, EPERM), and real-time ones rank the G in gmp's
 *     scheduler (core/sched.c, "Real-time threads");
 *   - a signal sent to a G goes to the kernel thread running it now, or,
 *     if it is not running, waits in the G until it next runs.
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
	*policy = t->schedpolicy;
	sp->sched_priority = t->schedprio;
	return 0;
}

static int check_param(int policy, int prio)
{
	int lo = sched_get_priority_min(policy), hi = sched_get_priority_max(policy);
	if (lo < 0 || hi < 0)
		return EINVAL;
	if (prio < lo || prio > hi)
		return EINVAL;
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
	int err = check_param(policy, sp->sched_priority);
	if (!err)
		err = -gmp_sched_check(policy, sp->sched_priority);
	if (err)
		return err;
	gmp_sched_set(t, policy, sp->sched_priority);
	return 0;
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
	int err = check_param(t->schedpolicy, prio);
	if (!err)
		err = -gmp_sched_check(t->schedpolicy, prio);
	if (err)
		return err;
	gmp_sched_set(t, t->schedpolicy, prio);
	return 0;
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
	return g->schedpolicy;
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
	sp->sched_priority = g->schedprio;
	return 0;
}

static int set_self(struct gmp_g *g, int policy, const struct sched_param *sp)
{
	int err = !sp ? EINVAL : check_param(policy & ~SCHED_RESET_ON_FORK, sp->sched_priority);
	if (!err)
		err = -gmp_sched_check(policy & ~SCHED_RESET_ON_FORK, sp->sched_priority);
	if (err) {
		errno = err;
		return -1;
	}
	gmp_sched_set(g, policy & ~SCHED_RESET_ON_FORK, sp->sched_priority);
	return 0;
}

GMP_EXPORT int sched_setscheduler(pid_t pid, int policy, const struct sched_param *sp)
{
	struct gmp_g *g = self_target(pid);
	if (!g) {
		GMP_REAL(int, sched_setscheduler, (pid_t, int, const struct sched_param *));
		return real_sched_setscheduler(pid, policy, sp);
	}
	return set_self(g, policy, sp);
}

GMP_EXPORT int sched_setparam(pid_t pid, const struct sched_param *sp)
{
	struct gmp_g *g = self_target(pid);
	if (!g) {
		GMP_REAL(int, sched_setparam, (pid_t, const struct sched_param *));
		return real_sched_setparam(pid, sp);
	}
	return set_self(g, g->schedpolicy, sp);
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

/*
 * Signal masks belong to the G.  glibc's internal signals (SIGCANCEL 32,
 * SIGSETXID 33) are never blocked, as in NPTL, nor are SIGKILL and
 * SIGSTOP, as by the kernel.  The M's kernel mask is set
 * now, and again by the scheduler whenever a G with another mask runs.
 */
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
	uint64_t cur = g->sigmask, nv = cur;
	if (set) {
		uint64_t s;
		memcpy(&s, set, sizeof s);
		/* the kernel never blocks SIGKILL and SIGSTOP and never reports them blocked */
		s &= ~GMP_SIG_UNBLOCKABLE;
		switch (how) {
		case SIG_BLOCK: nv = cur | s; break;
		case SIG_UNBLOCK: nv = cur & ~s; break;
		case SIG_SETMASK: nv = s; break;
		default: return EINVAL;
		}
	}
	if (old) {
		sigemptyset(old);
		memcpy(old, &cur, sizeof cur);
	}
	if (set) {
		/*
		 * The G cannot change M here (preemption stops no G inside
		 * gmp), so this syscall and store are its M's.
		 */
		uint64_t k = gmp_kmask(nv);
		gmp_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &k, NULL, 8);
		g->m->cur_sigmask = k;
		gmp_signal_setmask(g, nv);
	}
	return 0;
}

/*
 * Jumps and context switches that restore a saved signal mask (siglongjmp
 * of a sigsetjmp(env, 1) buffer, setcontext, swapcontext): glibc sets the
 * kernel mask with its own system call, which gmp does not see.  So the G's
 * mask is set to the one that will be restored first, and glibc's call
 * then sets the kernel's (swapcontext saves the old kernel mask, still the
 * G's, before).  A signal pending for the G that the new mask lets in is
 * raised now and arrives once glibc has set the mask.
 */
static void mask_restored(const sigset_t *set)
{
	struct gmp_g *g = gmp_getg();
	if (!g)
		return;
	uint64_t nv;
	memcpy(&nv, set, sizeof nv);
	g->m->cur_sigmask = ~0ULL; /* unknown until glibc's call: the scheduler sets it again if it must */
	gmp_signal_setmask(g, nv & ~GMP_SIG_UNBLOCKABLE);
}

/*
 * Under FS-base traps SIGSEGV is never blocked in the kernel (core/fstrap.c):
 * a restored mask that blocks it is restored from a copy without it.
 */
static bool segv_in(const sigset_t *set) { return gmp_fstrap && sigismember(set, SIGSEGV); }

#define LONGJMP(name)                                                       \
	GMP_EXPORT _Noreturn void name(struct __jmp_buf_tag env[1], int val) \
	{                                                                    \
		GMP_REAL(void, name, (struct __jmp_buf_tag *, int));       \
		if (env[0].__mask_was_saved) {                               \
			mask_restored(&env[0].__saved_mask);                 \
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
	mask_restored(&ucp->uc_sigmask);
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
	mask_restored(&ucp->uc_sigmask); /* coming back to oucp goes through one of these again */
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

/*
 * kill to the calling process.  POSIX: when no other thread can take the
 * signal, one unblocked signal is delivered to the caller before kill
 * returns; and the kernel offers a process-directed signal to the main
 * thread first.  Under gmp the kernel sees kernel threads, and an idle M
 * does not block what the caller's G blocks: it may take the signal, and
 * the handler then runs later, on some G.  So a G that does not block sig
 * takes it itself, thread-directed, with kill's siginfo (SI_USER, the
 * sender's pid and uid); a blocked one goes to the kernel for the process
 * (core/signal.c keeps it pending until a G unblocks it).
 */
GMP_EXPORT int kill(pid_t pid, int sig)
{
	GMP_REAL(int, kill, (pid_t, int));
	struct gmp_g *g = gmp_getg();
	if (!g || sig <= 0 || sig >= _NSIG || sig == GMP_SIGCANCEL || sig == GMP_SIGSETXID || sig == SIGKILL || sig == SIGSTOP ||
	    sig == SIGCONT || (g->sigmask & (1ULL << (sig - 1))) || pid != (pid_t)gmp_sys0(SYS_getpid))
		return real_kill(pid, sig);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = sig;
	si.si_code = SI_USER;
	si.si_pid = pid;
	si.si_uid = (uid_t)gmp_sys0(SYS_getuid);
	return (int)shim_ret(gmp_signal_g(g, sig, &si));
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

/*
 * sigpending: the G's own pending set (what was sent to it and to the
 * process, that it blocks), not its kernel thread's, which holds what was
 * raised for other Gs that ran there.
 */
GMP_EXPORT int sigpending(sigset_t *set)
{
	GMP_REAL(int, sigpending, (sigset_t *));
	struct gmp_g *g = gmp_getg();
	if (!g)
		return real_sigpending(set);
	uint64_t k = 0;
	gmp_sys2(SYS_rt_sigpending, &k, 8); /* the process's, and any raised straight at this thread */
	uint64_t mine = (gmp_signal_pending_for(g) | k) & g->sigmask;
	sigemptyset(set);
	memcpy(set, &mine, sizeof mine);
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
