/*
 * Signals for the process (docs/design.md §11): kill, sigqueue, a POSIX
 * timer, SIGIO, and what the dispatcher forwards for the process.
 *
 * The kernel keeps such a signal pending for the whole thread group and
 * gives it to a thread that does not block it.  Under gmp that thread is a
 * G: gmp_sig_pick chooses one that does not block the signal (preferring a
 * waiting one, whose wait is then interrupted), and the signal is pending
 * on it as shared (g->sigshared), so that it moves on to another G if that
 * one exits first (gmp_signal_exit).  No G can take it: it stays pending
 * for the process (gmp_sig_proc_pending) until a G unblocks it
 * (gmp_signal_setmask, gmp_deliver_pending) or sysmon finds a taker
 * (gmp_signal_sweep), or a G in sigwait for it takes it (sigwait.c), or a
 * G that waits for it in a kernel call (sigsuspend: gmp_signal_sync) gets
 * it raised on its kernel thread.
 * Real-time signals keep a count of instances (proc_queued), each with its
 * own siginfo (siginfo.c, for PROC_G).
 *
 * Also here: which signals sysmon's kernel thread lets in, so that a
 * process signal always finds a kernel thread that takes it
 * (gmp_signal_sysmon_mask).
 */
#include "sig.h"

#include <string.h>
#include <sys/syscall.h>

_Atomic uint64_t gmp_sig_proc_pending;
/*
 * Real-time instances pending for the process (sig - 33): as the kernel,
 * each queued one is delivered with its own siginfo.  The siginfo of every
 * process-directed instance stays in rtinfo for PROC_G wherever its count
 * moves (to a G, back to the process when that G exits), and whoever runs
 * the handler for one takes the oldest there (its own, thread-directed,
 * first).  The count goes up before the bit is set, and a taker clears
 * the bit before it takes the count (gmp_sig_proc_take).
 */
static _Atomic uint16_t proc_queued[32];
static _Atomic int sigwait_raising; /* gmp_sig_pend_process raising to a G's kernel thread in sigwait */

/*
 * Signals some G has not blocked since (an upper bound: it only grows, so
 * a signal can reach sysmon that no G takes now; it then stays pending for
 * the process, as it would in the kernel).  sysmon lets these in.
 */
static _Atomic uint64_t unblocked_somewhere;

/* gmp's own signals and those the kernel never lets anyone block */
#define NEVER_SYSMON GMP_SIG_UNBLOCKABLE

void gmp_signal_note_mask(uint64_t mask)
{
	uint64_t add = ~mask & ~NEVER_SYSMON;
	if (GMP_UNLIKELY(add & ~atomic_load_explicit(&unblocked_somewhere, memory_order_relaxed))) {
		atomic_fetch_or(&unblocked_somewhere, add);
		gmp_sysmon_kick(); /* it lets them in at once */
	}
}

/* Signals with a handler of the program's (the dispatcher): sysmon never takes a default action. */
_Atomic uint64_t gmp_sig_dispatched;

uint64_t gmp_signal_sysmon_mask(void)
{
	return ~(atomic_load(&unblocked_somewhere) & atomic_load(&gmp_sig_dispatched)) | NEVER_SYSMON;
}

/* A G that does not block sig: last if it can, else preferably a waiting one.  Lock-free (allg is push-only). */
struct gmp_g *gmp_sig_pick(int sig, struct gmp_g *last)
{
	if (last && gmp_sig_alive(last) && !(last->sigmask & gmp_sigbit(sig)))
		return last;
	struct gmp_g *any = NULL;
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) {
		if (!gmp_sig_alive(g) || (g->sigmask & gmp_sigbit(sig)))
			continue;
		if (atomic_load(&g->status) == G_WAITING)
			return g;
		if (!any)
			any = g;
	}
	return any;
}

/*
 * A process signal pending on t, which its wait-interruption then takes.
 * t may be exiting: it passes its process signals on (gmp_signal_exit)
 * after it marks its mask exited, and we look at the mask after we set the
 * bit, so one of the two moves it on (whoever clears the pending bit).
 */
void gmp_sig_pend_shared(struct gmp_g *t, int sig)
{
	for (;;) {
		gmp_sig_pend(t, sig, true);
		atomic_thread_fence(memory_order_seq_cst);
		if (GMP_LIKELY(__atomic_load_n(&t->sigmask, __ATOMIC_RELAXED) != SIGMASK_EXITED)) {
			gmp_defer((uintptr_t)t | 1);
			return;
		}
		if (!gmp_sig_take(t, sig))
			return; /* its exit passed it on */
		t = gmp_sig_pick(sig, NULL);
		if (!t) {
			gmp_sig_pend_process(sig);
			return;
		}
	}
}

/* sig's bit taken from gmp_sig_proc_pending: its instances, a standard signal's one or every queued real-time one. */
int gmp_sig_proc_instances(int sig) { return sig > GMP_SIGSETXID ? atomic_exchange(&proc_queued[sig - GMP_SIGSETXID], 0) : 1; }

int gmp_sig_proc_take(int sig)
{
	if (!(atomic_fetch_and(&gmp_sig_proc_pending, ~gmp_sigbit(sig)) & gmp_sigbit(sig)))
		return 0;
	return gmp_sig_proc_instances(sig);
}

/* n instances of sig taken from the process, to m's kernel thread. */
static void raise_proc(struct gmp_m *m, int sig, int n)
{
	for (int i = 0; i < n; i++)
		gmp_sig_raise_instance(m, NULL, sig);
}

/* n taken instances of sig to t, pending there on behalf of the process. */
static void pend_shared_n(struct gmp_g *t, int sig, int n)
{
	for (int i = 0; i < n; i++)
		gmp_sig_pend_shared(t, sig);
}

/* sig, pending for the process, to a G that does not block it now, if any: true if given. */
static bool to_taker(int sig)
{
	struct gmp_g *t = gmp_sig_pick(sig, NULL);
	int n;
	if (!t || !(n = gmp_sig_proc_take(sig)))
		return false;
	pend_shared_n(t, sig, n);
	return true;
}

/*
 * sig is for the process and no G takes it now: pending for the process.
 * A G that unblocks it at the same time (pthread_sigmask) stores its mask
 * and then looks here (gmp_signal_setmask); we store here and then
 * look at the masks again, so one of the two sees the other.
 */
void gmp_sig_pend_process(int sig)
{
	if (sig > GMP_SIGSETXID)
		atomic_fetch_add(&proc_queued[sig - GMP_SIGSETXID], 1);
	atomic_fetch_or(&gmp_sig_proc_pending, gmp_sigbit(sig));
	atomic_thread_fence(memory_order_seq_cst);
	if (to_taker(sig))
		return;
	/*
	 * A G in sigwait for it, parked: woken, it takes the signal from the
	 * process itself (sigwait.c).  A G inside sigsuspend for it, or about
	 * to enter (it stays on its M until the call returns): to its kernel
	 * thread, where the call takes it.
	 */
	atomic_fetch_add(&sigwait_raising, 1); /* seq_cst: before the look at sigwaitset (gmp_signal_reclaim) */
	for (struct gmp_g *w = gmp_sched.allg; w; w = w->alllink) {
		if (!(atomic_load(&w->sigwaitset) & gmp_sigbit(sig)))
			continue;
		if (atomic_load(&w->sigwait_parked)) {
			gmp_sigwait_note(w, sig); /* every one: the first may be leaving without it */
			continue;
		}
		struct gmp_m *m = w->m;
		int n;
		if (m && (n = gmp_sig_proc_take(sig))) {
			raise_proc(m, sig, n);
			break;
		}
	}
	atomic_fetch_sub(&sigwait_raising, 1);
}

/* fork child: as the kernel, a child starts with no pending signals (the caller's mask is kept). */
void gmp_signal_fork_child(struct gmp_g *self)
{
	atomic_store(&gmp_sig_proc_pending, 0);
	for (int i = 0; i < 32; i++)
		atomic_store(&proc_queued[i], 0);
	gmp_sig_info_drop(NULL);
	atomic_store(&gmp_sched.maing, self); /* the child's thread-group leader */
	if (!self)
		return;
	atomic_store(&self->sigpending, 0);
	atomic_store(&self->sigshared, 0);
	atomic_store(&self->sigwaitset, 0);
	for (int i = 0; i < 32; i++)
		atomic_store(&self->sigqueued[i], 0);
}

uint64_t gmp_signal_process_pending(void) { return atomic_load(&gmp_sig_proc_pending); }

/*
 * sysmon, every round while signals are pending for the process: give each
 * to a G that does not block it now, as the kernel delivers a shared
 * pending signal at the next chance it gets.  The unblock paths take them
 * already (gmp_signal_setmask, gstart); this catches a taker that no path
 * told (one signal in several hundred thousand stayed pending while a
 * thread that lets it in computed, under load with 4 Ps on 2 CPUs).
 */
void gmp_signal_sweep(void)
{
	uint64_t pp = atomic_load_explicit(&gmp_sig_proc_pending, memory_order_relaxed);
	for (int sig = 1; pp; sig++, pp >>= 1)
		if (pp & 1)
			to_taker(sig);
}

/*
 * As the kernel at a thread's exit: signals pending for the process that
 * this G was chosen to take go to another G that does not block them (its
 * wait is interrupted), or stay pending for the process until one
 * unblocks them.  Signals sent to the thread itself die with it.
 */
void gmp_signal_exit(struct gmp_g *g)
{
	/* from now on the dispatcher and gmp_sig_pick pass this G by; before the look at sigshared (pend_shared) */
	__atomic_store_n(&g->sigmask, SIGMASK_EXITED, __ATOMIC_SEQ_CST);
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t sh = atomic_exchange(&g->sigshared, 0);
	sh &= atomic_fetch_and(&g->sigpending, ~sh);
	for (int sig = 1; sh; sig++, sh >>= 1) {
		if (!(sh & 1))
			continue;
		/* (a real-time one: every queued instance, each with its siginfo) */
		int n = sig > GMP_SIGSETXID ? atomic_exchange(&g->sigqueued[sig - GMP_SIGSETXID], 0) : 1;
		struct gmp_g *t = gmp_sig_pick(sig, NULL);
		for (int i = 0; i < n; i++) {
			if (t)
				gmp_sig_pend_shared(t, sig);
			else
				gmp_sig_pend_process(sig);
		}
	}
	gmp_sig_info_drop(g); /* what was sent to it alone dies with it */
}

/*
 * G, before a kernel call that waits for signals it blocks (sigwait and
 * friends, sigsuspend): its pending signals in set go to its kernel thread,
 * where the call finds them.
 */
void gmp_signal_sync(struct gmp_g *g, uint64_t set)
{
	atomic_store(&g->sigwaitset, set); /* seq_cst: before the look at gmp_sig_proc_pending (gmp_sig_pend_process) */
	uint64_t mine = atomic_load(&g->sigpending) & set, proc = 0;
	if (GMP_UNLIKELY(atomic_load(&gmp_sig_proc_pending) & set))
		proc = atomic_fetch_and(&gmp_sig_proc_pending, ~set) & set;
	for (int sig = 1; mine | proc; sig++, mine >>= 1, proc >>= 1) {
		if (mine & 1)
			while (gmp_sig_take(g, sig))
				gmp_sig_raise_instance(g->m, g, sig); /* (real-time: every queued instance) */
		if (proc & 1)
			raise_proc(g->m, sig, gmp_sig_proc_instances(sig));
	}
}

/*
 * G, its sigwait/sigsuspend returned, still on the M it ran on: signals sent
 * to this kernel thread for that call (gmp_sig_pend_process, gmp_signal_sync)
 * that the call did not take must not stay behind on the M, whose next G may
 * block them for ever: they become the G's, pending until it takes them.
 */
void gmp_signal_reclaim(struct gmp_g *g)
{
	uint64_t set = atomic_exchange(&g->sigwaitset, 0) & ~NEVER_SYSMON, pending;
	/* a raise that saw our wait set lands before we look (else it stayed behind on this thread) */
	while (atomic_load(&sigwait_raising) != 0)
		gmp_cpu_relax();
	if (gmp_sys2(SYS_rt_sigpending, &pending, 8) != 0 || !(pending & set))
		return;
	struct timespec zero = {0, 0};
	for (;;) {
		siginfo_t si;
		long sig = gmp_sys4(SYS_rt_sigtimedwait, &set, &si, &zero, 8);
		if (sig <= 0 || sig >= 65)
			break;
		if (gmp_sig_marked_g(&si))
			continue; /* a raise for a bit still set in its G */
		gmp_sig_keep_for(PROC_G, (int)sig, &si);
		gmp_sig_pend_process((int)sig); /* for whichever G takes it first, as the kernel would */
	}
}
