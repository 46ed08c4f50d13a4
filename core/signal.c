/*
 * Signals to Gs (docs/design.md §11).
 *
 * The kernel delivers a signal to a kernel thread; a G only owns one while
 * it runs.  So a thread-directed signal (pthread_kill, pthread_sigqueue)
 * goes:
 *   - to a G that runs: with tgkill to its M, whose kernel mask is the G's;
 *   - to a G that is parked or queued: into g->sigpending, and a parked G's
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
 * stays pending for the process until a G unblocks it.
 */
#include "sig.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#define SIGMASK_EXITED (~0ULL) /* an exiting G's: no program mask has 32, 33, SIGKILL or SIGSTOP */

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

/* siginfo kept for a signal queued to a G that was not running, or forwarded */
static siginfo_t kept_info[65];
static _Atomic uint64_t kept_valid;


/* Signals that arrived where no G could take them (all blocked them). */
static _Atomic uint64_t proc_pending;
/*
 * Real-time instances pending for the process (sig - 33): as the kernel,
 * each queued one is delivered with its own siginfo.  The siginfo of every
 * process-directed instance stays in rtinfo for PROC_G wherever its count
 * moves (to a G, back to the process when that G exits), and whoever runs
 * the handler for one takes the oldest there (its own, thread-directed,
 * first).  The count goes up before the bit is set, and a taker clears
 * the bit before it takes the count (proc_take).
 */
static _Atomic uint16_t proc_queued[32];
static _Atomic int sigwait_raising; /* pend_process raising to a G's kernel thread in sigwait */
#define PROC_G ((struct gmp_g *)proc_queued)

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

/*
 * gmp raises a pending signal on the G's own kernel thread marked, so that
 * the dispatcher runs the handler once per pending signal however many
 * raises race (the pending bit is cleared by whoever runs it).
 */
#define GMP_SIG_MARK 0x676d7073

long gmp_sig_send_marked(pid_t tid, int sig, uint32_t mark, void *val)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = gmp_sched.pid;
	si.si_uid = mark;
	si.si_value.sival_ptr = val;
	return gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, tid, sig, &si);
}

bool gmp_sig_is_marked(const siginfo_t *si, uint32_t mark)
{
	return si && si->si_code == SI_QUEUE && si->si_pid == gmp_sched.pid && si->si_uid == mark;
}

void gmp_sig_raise_marked(struct gmp_g *g, struct gmp_m *m, int sig)
{
	gmp_sig_send_marked(m->tid, sig, GMP_SIG_MARK, g); /* for g */
}

/* The G a signal raised by gmp is for, or NULL for any other signal. */
struct gmp_g *gmp_sig_marked_g(const siginfo_t *si)
{
	return gmp_sig_is_marked(si, GMP_SIG_MARK) ? si->si_value.sival_ptr : NULL;
}

/* The siginfo pthread_kill's tgkill gives. */
void gmp_sig_tkill_info(siginfo_t *si, int sig)
{
	memset(si, 0, sizeof *si);
	si->si_signo = sig;
	si->si_code = SI_TKILL;
	si->si_pid = gmp_sched.pid;
	si->si_uid = (uid_t)gmp_sys0(SYS_getuid);
}

/* Raise sig on m's kernel thread as it is: with its kept siginfo if there is one. */
static void raise_kept(struct gmp_m *m, int sig);

static void keep(int sig, const siginfo_t *si)
{
	if (!si)
		return;
	kept_info[sig] = *si;
	atomic_fetch_or(&kept_valid, gmp_sigbit(sig));
}

/*
 * The siginfo of each queued real-time instance, for the G it is pending
 * on (sigqueue values must all arrive, in order): a small lock-free pool;
 * when it is full, the signal's one kept siginfo serves.  state: 0 free,
 * 1 being written, 2 ready, 3 being taken.
 */
#define NRTINFO 256
static struct rtinfo {
	_Atomic uint32_t state;
	int sig;
	struct gmp_g *g;
	uint64_t seq;
	siginfo_t si;
} rtinfo[NRTINFO];
static _Atomic uint64_t rtseq;
static _Atomic int rtinfo_used; /* entries not free: every thread exit looks at it, not at the pool */

static bool rtinfo_put(struct gmp_g *g, int sig, const siginfo_t *si)
{
	for (int i = 0; i < NRTINFO; i++) {
		uint32_t z = 0;
		if (atomic_load_explicit(&rtinfo[i].state, memory_order_relaxed) != 0 ||
		    !atomic_compare_exchange_strong(&rtinfo[i].state, &z, 1))
			continue;
		atomic_fetch_add(&rtinfo_used, 1);
		rtinfo[i].g = g;
		rtinfo[i].sig = sig;
		rtinfo[i].seq = atomic_fetch_add(&rtseq, 1);
		rtinfo[i].si = *si;
		atomic_store_explicit(&rtinfo[i].state, 2, memory_order_release);
		return true;
	}
	return false;
}

/* The oldest siginfo queued for g's sig; false: none. */
static bool rtinfo_take(struct gmp_g *g, int sig, siginfo_t *out)
{
	for (;;) {
		int best = -1;
		uint64_t bseq = UINT64_MAX;
		for (int i = 0; i < NRTINFO; i++) {
			if (atomic_load_explicit(&rtinfo[i].state, memory_order_acquire) == 2 && rtinfo[i].g == g &&
			    rtinfo[i].sig == sig && rtinfo[i].seq < bseq) {
				best = i;
				bseq = rtinfo[i].seq;
			}
		}
		if (best < 0)
			return false;
		uint32_t two = 2;
		if (atomic_compare_exchange_strong(&rtinfo[best].state, &two, 3)) {
			*out = rtinfo[best].si;
			atomic_store_explicit(&rtinfo[best].state, 0, memory_order_release);
			atomic_fetch_sub(&rtinfo_used, 1);
			return true;
		}
	}
}

/* g is gone (or a fork child starts, g NULL: all): its queued siginfo with it. */
static void rtinfo_drop(struct gmp_g *g)
{
	if (!g) { /* fork child: only this thread is left */
		for (int i = 0; i < NRTINFO; i++)
			atomic_store(&rtinfo[i].state, 0);
		atomic_store(&rtinfo_used, 0);
		return;
	}
	if (GMP_LIKELY(atomic_load_explicit(&rtinfo_used, memory_order_relaxed) == 0))
		return;
	for (int i = 0; i < NRTINFO; i++) {
		uint32_t two = 2;
		if (atomic_load(&rtinfo[i].state) == 2 && rtinfo[i].g == g &&
		    atomic_compare_exchange_strong(&rtinfo[i].state, &two, 3)) {
			atomic_store(&rtinfo[i].state, 0);
			atomic_fetch_sub(&rtinfo_used, 1);
		}
	}
}

/* Keep si for the instance of sig about to be pending on t. */
static void keep_for(struct gmp_g *t, int sig, const siginfo_t *si)
{
	if (!si)
		return;
	if (sig > GMP_SIGSETXID && t && rtinfo_put(t, sig, si))
		return;
	keep(sig, si);
}

/* Pending for t on behalf of the process (shared: another G takes it if t exits first). */
static void pend(struct gmp_g *t, int sig, bool shared)
{
	if (sig > GMP_SIGSETXID)
		atomic_fetch_add(&t->sigqueued[sig - GMP_SIGSETXID], 1); /* real-time: one more instance */
	if (shared)
		atomic_fetch_or(&t->sigshared, gmp_sigbit(sig));
	else
		atomic_fetch_and(&t->sigshared, ~gmp_sigbit(sig));
	atomic_fetch_or(&t->sigpending, gmp_sigbit(sig));
}

/*
 * Take one pending instance of sig from g: the bit of a standard signal;
 * one of the queued instances of a real-time one (the bit stays while
 * more remain).
 */
static bool take(struct gmp_g *g, int sig)
{
	if (sig > GMP_SIGSETXID) {
		_Atomic uint16_t *q = &g->sigqueued[sig - GMP_SIGSETXID];
		uint16_t n = atomic_load(q);
		while (n > 0) {
			if (atomic_compare_exchange_weak(q, &n, (uint16_t)(n - 1))) {
				if (n == 1) {
					atomic_fetch_and(&g->sigpending, ~gmp_sigbit(sig));
					if (atomic_load(q) > 0) /* one came meanwhile: pend() sets the bit after */
						atomic_fetch_or(&g->sigpending, gmp_sigbit(sig));
				}
				return true;
			}
		}
	}
	return atomic_fetch_and(&g->sigpending, ~gmp_sigbit(sig)) & gmp_sigbit(sig);
}

/* Did the kernel deliver si for the process (kill, sigqueue, timers, I/O), not for one thread? */
static bool process_directed(const siginfo_t *si) { return si && si->si_code != SI_TKILL && !gmp_sig_marked_g(si); }

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
	 * pselect with a mask, sigwait): the G stays on its M until the call
	 * returns, and the kernel hands the signal to that call.
	 */
	if (running && (atomic_load(&t->sigwaitset) & gmp_sigbit(sig)))
		blocked = true, st = G_SYSCALL;
	if (running && (d != DISP_OURS || (blocked && st == G_SYSCALL))) {
		/* as it is: not the program's handler, or blocked while in a kernel call (sigwait) */
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
		keep_for(t, sig, info);
		pend(t, sig, false);
		gmp_sig_raise_marked(t, m, sig);
		return 0;
	}
	if (d == DISP_DEFAULT && !blocked) {
		/* ends or stops the whole process: let the kernel do it now */
		long r = gmp_sys3(SYS_tgkill, gmp_sched.pid, m ? m->tid : gmp_sched.pid, sig);
		return r < 0 ? (int)r : 0;
	}
	keep_for(t, sig, info);
	pend(t, sig, false);
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

static void call_user_on(struct gmp_g *g, int sig, siginfo_t *si, void *uc)
{
	gmp_sig_call_on(g, gmp_sig_call_user, sig, si, uc);
}

static bool is_fault(int sig, const siginfo_t *si)
{
	if (!si || si->si_code <= 0)
		return false; /* sent by someone, not raised by the code that runs */
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP;
}

static bool alive(struct gmp_g *g)
{
	uint32_t st = gmp_gstatus(g);
	return st != G_DEAD && st != G_IDLE && !g->isg0;
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
	if (!process_directed(si) || sig == SIGCHLD)
		return NULL;
	struct gmp_g *mg = atomic_load(&gmp_sched.maing);
	if (!mg || !alive(mg) || (mg->sigmask & gmp_sigbit(sig)))
		return NULL;
	if ((atomic_load(&mg->sigpending) & ~mg->sigmask) && gmp_gstatus(mg) != G_RUNNING)
		return NULL;
	return mg;
}

/* A G that does not block sig: last if it can, else preferably a waiting one.  Lock-free (allg is push-only). */
static struct gmp_g *pick(int sig, struct gmp_g *last)
{
	if (last && alive(last) && !(last->sigmask & gmp_sigbit(sig)))
		return last;
	struct gmp_g *any = NULL;
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) {
		if (!alive(g) || (g->sigmask & gmp_sigbit(sig)))
			continue;
		if (atomic_load(&g->status) == G_WAITING)
			return g;
		if (!any)
			any = g;
	}
	return any;
}

static void pend_process(int sig);

/*
 * A process signal pending on t, which its wait-interruption then takes.
 * t may be exiting: it passes its process signals on (gmp_signal_exit)
 * after it marks its mask exited, and we look at the mask after we set the
 * bit, so one of the two moves it on (whoever clears the pending bit).
 */
static void pend_shared(struct gmp_g *t, int sig)
{
	for (;;) {
		pend(t, sig, true);
		atomic_thread_fence(memory_order_seq_cst);
		if (GMP_LIKELY(__atomic_load_n(&t->sigmask, __ATOMIC_RELAXED) != SIGMASK_EXITED)) {
			gmp_defer((uintptr_t)t | 1);
			return;
		}
		if (!take(t, sig))
			return; /* its exit passed it on */
		t = pick(sig, NULL);
		if (!t) {
			pend_process(sig);
			return;
		}
	}
}

/*
 * sig is for the process and no G takes it now: pending for the process.
 * A G that unblocks it at the same time (pthread_sigmask) stores its mask
 * and then looks here (gmp_signal_setmask); we store here and then
 * look at the masks again, so one of the two sees the other.
 */
/* sig's bit taken from proc_pending: its instances, a standard signal's one or every queued real-time one. */
static int proc_instances(int sig) { return sig > GMP_SIGSETXID ? atomic_exchange(&proc_queued[sig - GMP_SIGSETXID], 0) : 1; }

/* Take sig's pending instances from the process (0: none). */
static int proc_take(int sig)
{
	if (!(atomic_fetch_and(&proc_pending, ~gmp_sigbit(sig)) & gmp_sigbit(sig)))
		return 0;
	return proc_instances(sig);
}

/*
 * One instance of sig pending on g (NULL: the process) to m's kernel
 * thread, with its own siginfo if it is a real-time one (a sigwait there
 * takes it; sent as it is, the kernel runs its handler or action).
 */
static void raise_instance(struct gmp_m *m, struct gmp_g *g, int sig)
{
	siginfo_t si;
	if (sig > GMP_SIGSETXID && ((g && rtinfo_take(g, sig, &si)) || rtinfo_take(PROC_G, sig, &si))) {
		if (gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, sig, &si) == -EPERM)
			gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
	} else {
		raise_kept(m, sig);
	}
}

/* n instances of sig taken from the process, to m's kernel thread. */
static void raise_proc(struct gmp_m *m, int sig, int n)
{
	for (int i = 0; i < n; i++)
		raise_instance(m, NULL, sig);
}

/* n taken instances of sig to t, pending there on behalf of the process. */
static void pend_shared_n(struct gmp_g *t, int sig, int n)
{
	for (int i = 0; i < n; i++)
		pend_shared(t, sig);
}

/* sig, pending for the process, to a G that does not block it now, if any: true if given. */
static bool to_taker(int sig)
{
	struct gmp_g *t = pick(sig, NULL);
	int n;
	if (!t || !(n = proc_take(sig)))
		return false;
	pend_shared_n(t, sig, n);
	return true;
}

static void pend_process(int sig)
{
	if (sig > GMP_SIGSETXID)
		atomic_fetch_add(&proc_queued[sig - GMP_SIGSETXID], 1);
	atomic_fetch_or(&proc_pending, gmp_sigbit(sig));
	atomic_thread_fence(memory_order_seq_cst);
	if (to_taker(sig))
		return;
	/*
	 * A G inside sigwait or sigsuspend for it, or about to enter (it
	 * stays on its M until the call returns): to its kernel thread,
	 * where the call takes it.
	 */
	atomic_fetch_add(&sigwait_raising, 1); /* seq_cst: before the look at sigwaitset (gmp_signal_reclaim) */
	for (struct gmp_g *w = gmp_sched.allg; w; w = w->alllink) {
		if (!(atomic_load(&w->sigwaitset) & gmp_sigbit(sig)))
			continue;
		struct gmp_m *m = w->m;
		int n;
		if (m && (n = proc_take(sig))) {
			raise_proc(m, sig, n);
			break;
		}
	}
	atomic_fetch_sub(&sigwait_raising, 1);
}

/* To a G that does not block sig (last if it can), its wait interrupted; or pending for the process. */
static void forward(int sig, siginfo_t *si, struct gmp_g *last)
{
	struct gmp_g *t = for_main(sig, si);
	if (!t)
		t = pick(sig, last);
	if (!t) {
		keep_for(PROC_G, sig, si);
		pend_process(sig);
		return;
	}
	keep_for(process_directed(si) ? PROC_G : t, sig, si);
	if (process_directed(si)) {
		pend_shared(t, sig);
		return;
	}
	pend(t, sig, false);
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
	bool held = gmp_xwait_hold(g, ucv); /* it interrupted glibc's code in a trapped call (xwait.c) */
	if (!held || !gmp_xwait_trap(sig, si, ucv)) {
		if (GMP_UNLIKELY(sig == SIGSYS) && !gmp_sig_has_user(SIGSYS) && gmp_xwait_sigsys_default())
			return;
		dispatch(sig, si, ucv);
	}
	if (held)
		gmp_xwait_release(g, ucv);
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
	if (here && GMP_UNLIKELY(sig == GMP_SIGPREEMPT) && (g->sigmask & ~atomic_load(&g->sigwaitset) & gmp_sigbit(sig))) {
		/*
		 * The G blocks it, the kernel did not (gmp_kmask lets the
		 * preemption signal in): kept as the kernel keeps a blocked
		 * one.  (Not when a sigsuspend or ppoll mask lets it in.)
		 */
		if (for_g)
			return; /* still pending on the G */
		if (process_directed(si)) {
			forward(sig, si, NULL);
		} else {
			keep_for(g, sig, si);
			pend(g, sig, false);
		}
		return;
	}
	struct gmp_g *mg = here && !for_g ? for_main(sig, si) : NULL;
	if (mg && mg != g) {
		forward(sig, si, g); /* the main thread's, as the kernel would have chosen */
		return;
	}
	if (here) {
		struct gmp_p *p = m->p;
		if (p && p->m == m && atomic_load(&p->status) == P_RUNNING) {
			/* the G is in runtime code: it takes the signal once out (sysmon raises it again) */
			if (for_g) {
				/* a raise for a pending bit: try again only if it is still pending */
				if (atomic_load(&g->sigpending) & gmp_sigbit(sig))
					gmp_defer((uintptr_t)g | 1);
				return;
			}
			keep_for(process_directed(si) ? PROC_G : g, sig, si);
			pend(g, sig, process_directed(si));
			gmp_defer((uintptr_t)g | 1);
			return;
		}
		/*
		 * The G's own code: run it here.  A standard signal pending for
		 * this G merges with it; a real-time one is an instance of its
		 * own, and each queued one comes by a raise of its own (another
		 * is raised while some remain).
		 */
		if (sig > GMP_SIGSETXID && !gmp_sig_marked_g(si)) {
			call_user_on(g, sig, si, ucv);
			return;
		}
		bool was_pending = take(g, sig);
		if (gmp_sig_marked_g(si) && !was_pending)
			return; /* raised again, but already run */
		if (was_pending || gmp_sig_marked_g(si)) {
			siginfo_t k;
			if (sig > GMP_SIGSETXID && (rtinfo_take(g, sig, &k) || rtinfo_take(PROC_G, sig, &k))) {
				/* this instance's own */
			} else if (atomic_fetch_and(&kept_valid, ~gmp_sigbit(sig)) & gmp_sigbit(sig)) {
				k = kept_info[sig];
			} else if (gmp_sig_marked_g(si)) {
				gmp_sig_tkill_info(&k, sig);
			} else {
				k = *si;
			}
			call_user_on(g, sig, &k, ucv);
			if (sig > GMP_SIGSETXID && (atomic_load(&g->sigpending) & gmp_sigbit(sig)))
				gmp_sig_raise_marked(g, m, sig); /* the next queued instance, after this handler */
			return;
		}
		call_user_on(g, sig, si, ucv);
		return;
	}
	forward(sig, si, g); /* the scheduler, or another G's TLS: no G here to run it on */
}

/* fork child: as the kernel, a child starts with no pending signals (the caller's mask is kept). */
void gmp_signal_fork_child(struct gmp_g *self)
{
	atomic_store(&proc_pending, 0);
	for (int i = 0; i < 32; i++)
		atomic_store(&proc_queued[i], 0);
	atomic_store(&kept_valid, 0);
	rtinfo_drop(NULL);
	atomic_store(&gmp_sched.maing, self); /* the child's thread-group leader */
	if (!self)
		return;
	atomic_store(&self->sigpending, 0);
	atomic_store(&self->sigshared, 0);
	atomic_store(&self->sigwaitset, 0);
	for (int i = 0; i < 32; i++)
		atomic_store(&self->sigqueued[i], 0);
}

uint64_t gmp_signal_pending_for(struct gmp_g *g) { return atomic_load(&g->sigpending) | atomic_load(&proc_pending); }

void gmp_signal_setmask(struct gmp_g *g, uint64_t nv)
{
	g->sigmask = nv;
	gmp_signal_note_mask(nv);
	atomic_thread_fence(memory_order_seq_cst); /* the new mask before the look: pend_process */
	if (GMP_UNLIKELY(gmp_signal_deliverable(g)))
		gmp_deliver_pending(g); /* its own, or the process's that no thread could take */
}

uint64_t gmp_signal_process_pending(void) { return atomic_load(&proc_pending); }

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
	uint64_t pp = atomic_load_explicit(&proc_pending, memory_order_relaxed);
	for (int sig = 1; pp; sig++, pp >>= 1)
		if (pp & 1)
			to_taker(sig);
}

bool gmp_signal_deliverable(struct gmp_g *g)
{
	return ((atomic_load_explicit(&g->sigpending, memory_order_relaxed) |
		 atomic_load_explicit(&proc_pending, memory_order_relaxed)) &
		~g->sigmask) != 0;
}


/*
 * As the kernel at a thread's exit: signals pending for the process that
 * this G was chosen to take go to another G that does not block them (its
 * wait is interrupted), or stay pending for the process until one
 * unblocks them.  Signals sent to the thread itself die with it.
 */
void gmp_signal_exit(struct gmp_g *g)
{
	/* from now on the dispatcher and pick() pass this G by; before the look at sigshared (pend_shared) */
	__atomic_store_n(&g->sigmask, SIGMASK_EXITED, __ATOMIC_SEQ_CST);
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t sh = atomic_exchange(&g->sigshared, 0);
	sh &= atomic_fetch_and(&g->sigpending, ~sh);
	for (int sig = 1; sh; sig++, sh >>= 1) {
		if (!(sh & 1))
			continue;
		/* (a real-time one: every queued instance, each with its siginfo) */
		int n = sig > GMP_SIGSETXID ? atomic_exchange(&g->sigqueued[sig - GMP_SIGSETXID], 0) : 1;
		struct gmp_g *t = pick(sig, NULL);
		for (int i = 0; i < n; i++) {
			if (t)
				pend_shared(t, sig);
			else
				pend_process(sig);
		}
	}
	rtinfo_drop(g); /* what was sent to it alone dies with it */
}

/*
 * G, back from the scheduler or unblocking: raise on our own kernel thread
 * every pending signal we do not block; the handlers run before this
 * returns.  Records whether a call they interrupted is restarted.
 */
void gmp_deliver_pending(struct gmp_g *g)
{
	uint64_t mask = g->sigmask;
	uint64_t pp = atomic_load(&proc_pending) & ~mask;
	if (GMP_UNLIKELY(pp)) { /* process signals nobody could take: ours now */
		pp = atomic_fetch_and(&proc_pending, ~pp) & pp;
		for (int sig = 34; sig <= 64; sig++) {
			if (!(pp & gmp_sigbit(sig)))
				continue;
			int n = proc_instances(sig);
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
		while (take(g, sig))
			raise_instance(m, g, sig); /* (real-time: every queued instance) */
	}
	g->sig_norestart = norestart;
}

/*
 * G, before a kernel call that waits for signals it blocks (sigwait and
 * friends, sigsuspend): its pending signals in set go to its kernel thread,
 * where the call finds them.
 */
void gmp_signal_sync(struct gmp_g *g, uint64_t set)
{
	atomic_store(&g->sigwaitset, set); /* seq_cst: before the look at proc_pending (pend_process) */
	uint64_t mine = atomic_load(&g->sigpending) & set, proc = 0;
	if (GMP_UNLIKELY(atomic_load(&proc_pending) & set))
		proc = atomic_fetch_and(&proc_pending, ~set) & set;
	for (int sig = 1; mine | proc; sig++, mine >>= 1, proc >>= 1) {
		if (mine & 1)
			while (take(g, sig))
				raise_instance(g->m, g, sig); /* (real-time: every queued instance) */
		if (proc & 1)
			raise_proc(g->m, sig, proc_instances(sig));
	}
}

/*
 * G, its sigwait/sigsuspend returned, still on the M it ran on: signals sent
 * to this kernel thread for that call (pend_process, gmp_signal_sync) that
 * the call did not take must not stay behind on the M, whose next G may
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
		keep_for(PROC_G, (int)sig, &si);
		pend_process((int)sig); /* for whichever G takes it first, as the kernel would */
	}
}

static void raise_kept(struct gmp_m *m, int sig)
{
	if (atomic_fetch_and(&kept_valid, ~gmp_sigbit(sig)) & gmp_sigbit(sig)) {
		siginfo_t si = kept_info[sig];
		/*
		 * The kernel lets only the target itself raise a kill()'s or
		 * tgkill()'s siginfo (EPERM otherwise): from another kernel
		 * thread such a signal goes as a plain tgkill.
		 */
		if (gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, sig, &si) == -EPERM)
			gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
	} else {
		gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
	}
}
