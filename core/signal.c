/*
 * Signals to Gs (docs/design.md §11).
 *
 * The kernel delivers a signal to a kernel thread; a G only owns one while
 * it runs.  So a thread-directed signal (pthread_kill, pthread_sigqueue)
 * goes:
 *   - to a G that runs and does not block it: with tgkill to its M, whose
 *     kernel mask is the G's (the dispatcher runs the program's handler);
 *   - to a G that is parked or queued, or blocks it: into g->sigpending
 *     (not its kernel thread's, which may run another G by then; a parked
 *     sigwait takes it from there: sigwait.c), and a parked G's
 *     wait is interrupted (the futex table and the netpoller end it with
 *     -EINTR), so that it runs soon, raises the signal on itself
 *     (gmp_deliver_pending, at its return from the scheduler) and its call
 *     then ends with EINTR as POSIX says for that call: sleeps report the
 *     time left, semaphore and futex waits and poll fail with EINTR, reads
 *     and writes are restarted when every handler that ran has SA_RESTART,
 *     condvar waits wake spuriously, mutex waits and joins resume.
 * A signal the G blocks stays pending until it unblocks it
 * (pthread_sigmask).  An ignored one is dropped, as the kernel drops it; a
 * default action that ends or stops the process is raised at once.  The
 * siginfo of pthread_sigqueue is kept (one per signal number) and raised
 * with rt_tgsigqueueinfo, so the handler sees the value.
 *
 * The dispatcher (sigdispatch.c) runs the program's handlers where the
 * kernel delivers; signals for the process are sigproc.c's, their siginfo
 * siginfo.c's; sig.h says what these files share.
 */
#include "sig.h"

#include <errno.h>
#include <sys/syscall.h>

enum { DISP_IGNORE, DISP_DEFAULT, DISP_HANDLER, DISP_OURS /* gmp_sig_dispatch, for the program's handler */ };

/* What the process does with sig now; *restart: the handler has SA_RESTART. */
static int disposition(int sig, bool *restart)
{
	struct ksigaction ka;
	*restart = false;
	if (sig == SIGSEGV && gmp_fstrap) {
		struct sigaction a; /* the kernel has fstrap.c's handler; the program's action is kept there */
		gmp_fstrap_sigaction(NULL, &a);
		ka.handler = (a.sa_flags & SA_SIGINFO) ? (void *)a.sa_sigaction : (void *)a.sa_handler;
		ka.flags = (unsigned long)a.sa_flags;
	} else if (gmp_sys4(SYS_rt_sigaction, sig, NULL, &ka, 8) != 0)
		return DISP_DEFAULT;
	if (ka.handler == (void *)gmp_sig_dispatch) {
		int flags;
		void *fn;
		if (!gmp_sig_user(sig, &fn, &flags)) /* SIGURG's or SIGSYS's, with the program's SIG_DFL or SIG_IGN */
			return sig == SIGSYS && !gmp_xwait_sigsys_ignored() ? DISP_DEFAULT : DISP_IGNORE;
		*restart = (flags & SA_RESTART) != 0;
		return DISP_OURS;
	}
	if (ka.handler == (void *)SIG_IGN)
		return DISP_IGNORE;
	if (ka.handler == (void *)SIG_DFL) {
		switch (sig) {
		case SIGCHLD:
		case SIGCONT:
		case SIGURG:
		case SIGWINCH:
			return DISP_IGNORE;
		}
		return DISP_DEFAULT;
	}
	*restart = (ka.flags & SA_RESTART) != 0;
	return DISP_HANDLER;
}

int gmp_signal_g(struct gmp_g *t, int sig, const siginfo_t *info)
{
	uint32_t st = gmp_gstatus(t);
	if (st == G_DEAD || st == G_IDLE)
		return 0;
	bool blocked = (t->sigmask & gmp_sigbit(sig)) != 0, restart;
	int d = disposition(sig, &restart);
	(void)restart;
	if (d == DISP_IGNORE && !blocked)
		return 0; /* discarded, as by the kernel */
	struct gmp_m *m = t->m;
	bool running = (st == G_RUNNING || st == G_SYSCALL) && m && m->curg == t;
	/*
	 * In (or entering) a kernel call that lets sig in (sigsuspend, ppoll and
	 * pselect with a mask): the G stays on its M until the call returns,
	 * and the kernel hands the signal to that call.  (A sigwait parks: the
	 * signal is pending on t below, and gmp_sig_pend wakes it.)
	 */
	bool inkernel = running && (atomic_load(&t->sigwaitset) & gmp_sigbit(sig)) && !atomic_load(&t->sigwait_parked);
	if (inkernel || (running && !blocked && d != DISP_OURS)) {
		/* as it is: into that call, or not the program's handler and not blocked */
		long r = info ? gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, sig, info)
			      : gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
		return r < 0 ? (int)r : 0;
	}
	if (running && !blocked) {
		/*
		 * Pending for t, raised marked for t: if t leaves its M before the
		 * signal arrives, the dispatcher there sends it after t instead of
		 * running it on whatever G that M runs next.
		 */
		siginfo_t si;
		if (!info) {
			gmp_sig_tkill_info(&si, sig);
			info = &si;
		}
		gmp_sig_keep_for(t, sig, info);
		gmp_sig_pend(t, sig, false);
		gmp_sig_raise_marked(t, m, sig);
		return 0;
	}
	if (d == DISP_DEFAULT && !blocked) {
		/* ends or stops the whole process: let the kernel do it now */
		long r = gmp_sys3(SYS_tgkill, gmp_sched.pid, m ? m->tid : gmp_sched.pid, sig);
		return r < 0 ? (int)r : 0;
	}
	gmp_sig_keep_for(t, sig, info);
	gmp_sig_pend(t, sig, false);
	if (!blocked && d >= DISP_HANDLER)
		gmp_wait_interrupt(t, -EINTR); /* it runs and takes its signals */
	return 0;
}

/* g0 or sysmon: a G got a forwarded signal; end its wait, or make it take the signal. */
void gmp_signal_interrupt(struct gmp_g *t, struct gmp_p *p)
{
	uint32_t st = gmp_gstatus(t);
	if (st == G_WAITING) {
		gmp_wait_interrupt_p(t, -EINTR, p);
		return;
	}
	uint64_t set = atomic_load(&t->sigpending) & ~t->sigmask;
	struct gmp_m *m = t->m;
	if (set && (st == G_RUNNING || st == G_SYSCALL)) {
		if (m && m->curg == t)
			gmp_sig_raise_marked(t, m, __builtin_ctzll(set) + 1);
		else
			gmp_defer((uintptr_t)t | 1); /* parking: its M left it, its status is not waiting yet; again soon */
	}
	/* runnable: it takes them when it runs (gmp_deliver_pending) */
}

uint64_t gmp_signal_pending_for(struct gmp_g *g) { return atomic_load(&g->sigpending) | atomic_load(&gmp_sig_proc_pending); }

void gmp_signal_setmask(struct gmp_g *g, uint64_t nv)
{
	g->sigmask = nv;
	gmp_signal_note_mask(nv);
	atomic_thread_fence(memory_order_seq_cst); /* the new mask before the look: gmp_sig_pend_process */
	if (GMP_UNLIKELY(gmp_signal_deliverable(g)))
		gmp_deliver_pending(g); /* its own, or the process's that no thread could take */
}

bool gmp_signal_deliverable(struct gmp_g *g)
{
	return ((atomic_load_explicit(&g->sigpending, memory_order_relaxed) |
		 atomic_load_explicit(&gmp_sig_proc_pending, memory_order_relaxed)) &
		~g->sigmask) != 0;
}

/*
 * G, back from the scheduler or unblocking: raise on our own kernel thread
 * every pending signal we do not block; the handlers run before this
 * returns.  Records whether a call they interrupted is restarted.
 */
void gmp_deliver_pending(struct gmp_g *g)
{
	uint64_t mask = g->sigmask;
	uint64_t pp = atomic_load(&gmp_sig_proc_pending) & ~mask;
	if (GMP_UNLIKELY(pp)) { /* process signals nobody could take: ours now */
		pp = atomic_fetch_and(&gmp_sig_proc_pending, ~pp) & pp;
		for (int sig = 34; sig <= 64; sig++) {
			if (!(pp & gmp_sigbit(sig)))
				continue;
			int n = gmp_sig_proc_instances(sig);
			atomic_fetch_add(&g->sigqueued[sig - GMP_SIGSETXID], (uint16_t)n);
			if (!n)
				pp &= ~gmp_sigbit(sig);
		}
		atomic_fetch_or(&g->sigshared, pp);
		atomic_fetch_or(&g->sigpending, pp);
	}
	uint64_t set = atomic_load(&g->sigpending) & ~mask;
	if (!set)
		return;
	if (GMP_UNLIKELY(atomic_load_explicit(&g->sigwait_parked, memory_order_relaxed))) {
		/* a handler ends a parked sigwait (EINTR), and may jump out of it: it waits no more */
		atomic_store(&g->sigwaitset, 0);
		atomic_store(&g->sigwait_parked, false);
	}
	bool norestart = false;
	for (int sig = 1; set; sig++, set >>= 1) {
		if (!(set & 1))
			continue;
		bool restart;
		int d = disposition(sig, &restart);
		if (d >= DISP_HANDLER && !restart)
			norestart = true;
		struct gmp_m *m = g->m;
		if (d == DISP_OURS || sig == SIGCANCEL_NR) {
			gmp_sig_raise_marked(g, m, sig); /* the dispatcher clears the bit and runs the handler once */
			continue;
		}
		/* glibc's or an unknown handler, or a default action: raise it as it is */
		while (gmp_sig_take(g, sig))
			gmp_sig_raise_instance(m, g, sig); /* (real-time: every queued instance) */
	}
	g->sig_norestart = norestart;
}

