/*
 * A G's signal mask, and the signals it has pending (pthread_sigmask,
 * sigprocmask, sigpending, the jumps that restore a mask, kill to the
 * calling process).  Masks belong to the G: g->sigmask is what the program
 * sees; the kernel mask of the M running it is gmp_kmask(g->sigmask),
 * loaded now and again by the scheduler whenever a G with another mask
 * runs there (m->cur_sigmask: what that kernel thread has loaded, ~0 when
 * unknown; written by its own M only).
 *
 * glibc's internal signals (SIGCANCEL 32, SIGSETXID 33) are never blocked,
 * as in NPTL, nor are SIGKILL and SIGSTOP, as by the kernel: a set is
 * taken without them (GMP_SIG_UNBLOCKABLE), and the kernel never reports
 * them blocked.  core/signal.c delivers what a new mask lets in
 * (gmp_signal_setmask).
 */
#include "runtime.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

/* The first 64 signals of a sigset_t, as the G's mask words hold them. */
static uint64_t mask_of(const sigset_t *set)
{
	uint64_t m;
	memcpy(&m, set, sizeof m);
	return m;
}

static void set_of(sigset_t *set, uint64_t m)
{
	sigemptyset(set);
	memcpy(set, &m, sizeof m);
}

int gmp_sigmask(struct gmp_g *g, int how, const sigset_t *set, sigset_t *old)
{
	uint64_t cur = g->sigmask, nv = cur;
	if (set) {
		uint64_t s = mask_of(set) & ~GMP_SIG_UNBLOCKABLE;
		switch (how) {
		case SIG_BLOCK: nv = cur | s; break;
		case SIG_UNBLOCK: nv = cur & ~s; break;
		case SIG_SETMASK: nv = s; break;
		default: return -EINVAL;
		}
	}
	if (old)
		set_of(old, cur); /* (after set is read: they may be the same) */
	if (set) {
		/*
		 * The G cannot change M here (preemption stops no G inside
		 * gmp), so this system call and store are its M's.
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
void gmp_sigmask_restored(const sigset_t *set)
{
	struct gmp_g *g = gmp_getg();
	if (!g)
		return;
	g->m->cur_sigmask = ~0ULL; /* unknown until glibc's call: the scheduler sets it again if it must */
	gmp_signal_setmask(g, mask_of(set) & ~GMP_SIG_UNBLOCKABLE);
}

/*
 * sigpending: the G's own pending set (what was sent to it and to the
 * process, that it blocks), not its kernel thread's, which holds what was
 * raised for other Gs that ran there.
 */
void gmp_sigpending(struct gmp_g *g, sigset_t *set)
{
	uint64_t k = 0;
	gmp_sys2(SYS_rt_sigpending, &k, 8); /* the process's, and any raised straight at this thread */
	set_of(set, (gmp_signal_pending_for(g) | k) & g->sigmask);
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
 * (core/sigproc.c keeps it pending until a G unblocks it).
 */
int gmp_kill_self(struct gmp_g *g, pid_t pid, int sig)
{
	if (sig <= 0 || sig >= _NSIG || sig == GMP_SIGCANCEL || sig == GMP_SIGSETXID || sig == SIGKILL ||
	    sig == SIGSTOP || sig == SIGCONT || (g->sigmask & (1ULL << (sig - 1))) ||
	    pid != (pid_t)gmp_sys0(SYS_getpid))
		return 1;
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = sig;
	si.si_code = SI_USER;
	si.si_pid = pid;
	si.si_uid = (uid_t)gmp_sys0(SYS_getuid);
	return gmp_signal_g(g, sig, &si);
}
