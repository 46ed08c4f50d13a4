/*
 * Signals to Gs (DESIGN.md §11).
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
#include "runtime.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

enum { DISP_IGNORE, DISP_DEFAULT, DISP_HANDLER, DISP_OURS /* gmp_sig_dispatch, for the program's handler */ };

/* What the process does with sig now; *restart: the handler has SA_RESTART. */
static int disposition(int sig, bool *restart)
{
	struct ksigaction ka;
	*restart = false;
	if (gmp_sys4(SYS_rt_sigaction, sig, NULL, &ka, 8) != 0)
		return DISP_DEFAULT;
	if (ka.handler == (void *)gmp_sig_dispatch) {
		int flags;
		void *fn;
		gmp_sig_user(sig, &fn, &flags);
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

static uint64_t bit(int sig) { return 1ULL << (sig - 1); }

/* Signals that arrived where no G could take them (all blocked them). */
static _Atomic uint64_t proc_pending;

/*
 * gmp raises a pending signal on the G's own kernel thread marked, so that
 * the dispatcher runs the handler once per pending signal however many
 * raises race (the pending bit is cleared by whoever runs it).
 */
#define GMP_SIG_MARK 0x676d7073

static void raise_marked(struct gmp_g *g, struct gmp_m *m, int sig)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = gmp_sched.pid;
	si.si_uid = GMP_SIG_MARK;
	si.si_value.sival_ptr = g; /* the G it is for */
	gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, sig, &si);
}

/* The G a signal raised by gmp is for, or NULL for any other signal. */
static struct gmp_g *marked(const siginfo_t *si)
{
	if (si && si->si_code == SI_QUEUE && si->si_pid == gmp_sched.pid && si->si_uid == GMP_SIG_MARK)
		return si->si_value.sival_ptr;
	return NULL;
}

/* The siginfo pthread_kill's tgkill gives. */
static void tkill_info(siginfo_t *si, int sig)
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
	atomic_fetch_or(&kept_valid, bit(sig));
}

/* Interrupt t's wait so that it runs and takes its signals. */
static void interrupt(struct gmp_g *t)
{
	gmp_futex_cancel_g(t, -EINTR);
	gmp_netpoll_cancel_g(t, -EINTR);
}

int gmp_signal_g(struct gmp_g *t, int sig, const siginfo_t *info)
{
	uint32_t st = atomic_load(&t->status);
	if (st == G_DEAD || st == G_IDLE)
		return 0;
	bool blocked = (t->sigmask & bit(sig)) != 0, restart;
	int d = disposition(sig, &restart);
	(void)restart;
	if (d == DISP_IGNORE && !blocked)
		return 0; /* discarded, as by the kernel */
	struct gmp_m *m = t->m;
	bool running = (st == G_RUNNING || st == G_SYSCALL) && m && m->curg == t;
	if (running && (d != DISP_OURS || (blocked && st == G_SYSCALL))) {
		/* as it is: not the program's handler, or blocked while in a kernel call (sigwait) */
		long r = info ? gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, sig, info)
			      : gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
		return r < 0 ? (int)-r : 0;
	}
	if (running && !blocked) {
		/*
		 * Pending for t, raised marked for t: if t leaves its M before the
		 * signal arrives, the dispatcher there sends it after t instead of
		 * running it on whatever G that M runs next.
		 */
		siginfo_t si;
		if (!info) {
			tkill_info(&si, sig);
			info = &si;
		}
		keep(sig, info);
		atomic_fetch_or(&t->sigpending, bit(sig));
		raise_marked(t, m, sig);
		return 0;
	}
	if (d == DISP_DEFAULT && !blocked) {
		/* ends or stops the whole process: let the kernel do it now */
		long r = gmp_sys3(SYS_tgkill, gmp_sched.pid, m ? m->tid : gmp_sched.pid, sig);
		return r < 0 ? (int)-r : 0;
	}
	keep(sig, info);
	atomic_fetch_or(&t->sigpending, bit(sig));
	if (!blocked && d >= DISP_HANDLER)
		interrupt(t);
	return 0;
}

/* g0 or sysmon: a G got a forwarded signal; end its wait, or make it take the signal. */
void gmp_signal_interrupt(struct gmp_g *t, struct gmp_p *p)
{
	uint32_t st = atomic_load(&t->status);
	if (st == G_WAITING) {
		gmp_futex_cancel_gp(t, -EINTR, p);
		gmp_netpoll_cancel_gp(t, -EINTR, p);
		return;
	}
	uint64_t set = atomic_load(&t->sigpending) & ~t->sigmask;
	struct gmp_m *m = t->m;
	if (set && (st == G_RUNNING || st == G_SYSCALL) && m && m->curg == t)
		raise_marked(t, m, __builtin_ctzll(set) + 1);
	/* runnable: it takes them when it runs (gmp_deliver_pending) */
}

/* ------------------------------------------------------------ the program's handlers */

static struct {
	void *_Atomic fn;
	_Atomic int flags;
} user[65];

void gmp_sig_set_user(int sig, void *fn, int flags)
{
	atomic_store(&user[sig].flags, flags);
	atomic_store(&user[sig].fn, fn);
}

int gmp_sig_user(int sig, void **fn, int *flags)
{
	*flags = atomic_load(&user[sig].flags);
	*fn = atomic_load(&user[sig].fn);
	return *fn != NULL;
}

static void call_user(int sig, siginfo_t *si, void *uc)
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

static bool is_fault(int sig, const siginfo_t *si)
{
	if (!si || si->si_code <= 0)
		return false; /* sent by someone, not raised by the code that runs */
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP;
}

static bool alive(struct gmp_g *g)
{
	uint32_t st = atomic_load(&g->status);
	return st != G_DEAD && st != G_IDLE && !g->isg0;
}

/* A G that does not block sig: last if it can, else preferably a waiting one.  Lock-free (allg is push-only). */
static struct gmp_g *pick(int sig, struct gmp_g *last)
{
	if (last && alive(last) && !(last->sigmask & bit(sig)))
		return last;
	struct gmp_g *any = NULL;
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) {
		if (!alive(g) || (g->sigmask & bit(sig)))
			continue;
		if (atomic_load(&g->status) == G_WAITING)
			return g;
		if (!any)
			any = g;
	}
	return any;
}

void gmp_sig_dispatch(int sig, siginfo_t *si, void *ucv)
{
	struct gmp_g *g = atomic_load_explicit(&gmp_inited, memory_order_acquire) == 2 ? gmp_getg() : NULL;
	if (!g || is_fault(sig, si)) {
		call_user(sig, si, ucv); /* a thread gmp did not create, or a fault here */
		return;
	}
	ucontext_t *uc = ucv;
	uintptr_t sp = uc ? (uintptr_t)uc->uc_mcontext.gregs[REG_RSP] : (uintptr_t)__builtin_frame_address(0);
	struct gmp_m *m = g->m;
	struct gmp_g *for_g = marked(si);
	bool here = m && m->curg == g && gmp_on_g_stack(g, sp);
	if (for_g && (!here || for_g != g)) {
		/* raised for a G that has left this kernel thread: its bit is still set; try again */
		gmp_defer((uintptr_t)for_g | 1);
		return;
	}
	if (here) {
		struct gmp_p *p = m->p;
		if (p && p->m == m && atomic_load(&p->status) == P_RUNNING) {
			/* the G is in runtime code: it takes the signal once out (sysmon raises it again) */
			if (for_g) {
				/* a raise for a pending bit: try again only if it is still pending */
				if (atomic_load(&g->sigpending) & bit(sig))
					gmp_defer((uintptr_t)g | 1);
				return;
			}
			keep(sig, si);
			atomic_fetch_or(&g->sigpending, bit(sig));
			gmp_defer((uintptr_t)g | 1);
			return;
		}
		/* the G's own code: run it here; a copy pending for this G merges with it */
		bool was_pending = atomic_fetch_and(&g->sigpending, ~bit(sig)) & bit(sig);
		if (marked(si) && !was_pending)
			return; /* raised again, but already run */
		if (was_pending || marked(si)) {
			siginfo_t k;
			if (atomic_fetch_and(&kept_valid, ~bit(sig)) & bit(sig)) {
				k = kept_info[sig];
			} else if (marked(si)) {
				tkill_info(&k, sig);
			} else {
				k = *si;
			}
			call_user(sig, &k, ucv);
			return;
		}
		call_user(sig, si, ucv);
		return;
	}
	/* the scheduler, or another G's TLS: no G here to run it on */
	struct gmp_g *t = pick(sig, g);
	keep(sig, si);
	if (!t) {
		atomic_fetch_or(&proc_pending, bit(sig));
		return;
	}
	atomic_fetch_or(&t->sigpending, bit(sig));
	gmp_defer((uintptr_t)t | 1);
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
	if (GMP_UNLIKELY(pp)) /* process signals nobody could take: ours now */
		atomic_fetch_or(&g->sigpending, atomic_fetch_and(&proc_pending, ~pp) & pp);
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
		if (d == DISP_OURS) {
			raise_marked(g, m, sig); /* the dispatcher clears the bit and runs the handler once */
			continue;
		}
		/* glibc's or an unknown handler, or a default action: raise it as it is */
		if (!(atomic_fetch_and(&g->sigpending, ~bit(sig)) & bit(sig)))
			continue;
		raise_kept(m, sig);
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
	uint64_t take = atomic_fetch_and(&g->sigpending, ~set) & set;
	for (int sig = 1; take; sig++, take >>= 1) {
		if (!(take & 1))
			continue;
		raise_kept(g->m, sig);
	}
}

static void raise_kept(struct gmp_m *m, int sig)
{
	if (atomic_fetch_and(&kept_valid, ~bit(sig)) & bit(sig)) {
		siginfo_t si = kept_info[sig];
		gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, sig, &si);
	} else {
		gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
	}
}
