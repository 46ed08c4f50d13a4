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
 */
#include "runtime.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

enum { DISP_IGNORE, DISP_DEFAULT, DISP_HANDLER };

/* What the process does with sig now; *restart: the handler has SA_RESTART. */
static int disposition(int sig, bool *restart)
{
	struct ksigaction ka;
	*restart = false;
	if (gmp_sys4(SYS_rt_sigaction, sig, NULL, &ka, 8) != 0)
		return DISP_DEFAULT;
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

/* siginfo kept for a signal queued to a G that was not running */
static siginfo_t kept_info[65];
static _Atomic uint64_t kept_valid;

static uint64_t bit(int sig) { return 1ULL << (sig - 1); }

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
	if ((st == G_RUNNING || st == G_SYSCALL) && m && m->curg == t) {
		long r = info ? gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, sig, info)
			      : gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
		return r < 0 ? (int)-r : 0;
	}
	if (d == DISP_DEFAULT && !blocked) {
		/* ends or stops the whole process: let the kernel do it now */
		long r = gmp_sys3(SYS_tgkill, gmp_sched.pid, m ? m->tid : gmp_sched.pid, sig);
		return r < 0 ? (int)-r : 0;
	}
	if (info) {
		kept_info[sig] = *info;
		atomic_fetch_or(&kept_valid, bit(sig));
	}
	atomic_fetch_or(&t->sigpending, bit(sig));
	if (!blocked && d == DISP_HANDLER)
		interrupt(t);
	return 0;
}

/*
 * G, back from the scheduler or unblocking: raise on our own kernel thread
 * every pending signal we do not block; the handlers run before this
 * returns.  Records whether a call they interrupted is restarted.
 */
void gmp_deliver_pending(struct gmp_g *g)
{
	uint64_t mask = g->sigmask;
	uint64_t set = atomic_fetch_and(&g->sigpending, mask) & ~mask;
	if (!set)
		return;
	bool norestart = false;
	for (int sig = 1; set; sig++, set >>= 1) {
		if (!(set & 1))
			continue;
		bool restart;
		if (disposition(sig, &restart) == DISP_HANDLER && !restart)
			norestart = true;
		struct gmp_m *m = g->m;
		if (atomic_fetch_and(&kept_valid, ~bit(sig)) & bit(sig)) {
			siginfo_t si = kept_info[sig];
			gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, sig, &si);
		} else {
			gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
		}
	}
	g->sig_norestart = norestart;
}
