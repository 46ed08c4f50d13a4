/*
 * sigwait, sigwaitinfo and sigtimedwait, parked (docs/design.md §11).
 *
 * The kernel's rt_sigtimedwait would hold the G's kernel thread for the
 * whole wait, and a P hand-off would make one more kernel thread for each
 * waiter (a program whose threads poll with sigtimedwait and a 1 ms
 * timeout ran on 15 kernel threads with 2 Ps).  Instead the G parks on its
 * own word (g->sigwait_word) with the timeout as the wait's deadline, its
 * set published in g->sigwaitset with g->sigwait_parked set:
 *
 *   - a signal for this G (pthread_kill, pthread_sigqueue, raise, or what
 *     the dispatcher keeps for it) is pending on it as any blocked one,
 *     and gmp_sig_pend then bumps the word and wakes it (gmp_sigwait_note);
 *   - a signal for the process that no G takes stays the process's
 *     (gmp_sig_pend_process), which wakes one parked waiter for it; the
 *     waiter takes it from there, and one that leaves without a signal
 *     looks once more after it has cleared its set, so none is left behind;
 *   - a signal the kernel holds for the process (kill, from this process
 *     or another, a timer, SIGCHLD) stays there: the waiter takes it with a
 *     zero-timeout rt_sigtimedwait before it parks and whenever it is
 *     woken, and the taker, a kernel thread of gmp's watching a signalfd
 *     for every signal a G has waited for this way, wakes the waiters for
 *     one that arrives while they are parked (it takes nothing itself);
 *   - one raised at the G's kernel thread before it parked is taken by the
 *     same look.
 *
 * Both sides order as the futex protocol: the sender pends (seq_cst), then
 * reads the waiter's flag and set, bumps the word and wakes; the waiter
 * publishes its set, reads the word, looks for a signal, then parks if the
 * word is unchanged.  A signal the waiter does not block ends the wait
 * with EINTR after its handler ran, as in the kernel.  Without the taker
 * (its kernel thread could not be created) the calls block in the kernel
 * with a P hand-off, as before (syscall-shims/handoff.c).
 */
#include "sig.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>

static _Atomic uint64_t taker_set; /* what the taker watches: every set a G has waited for, parked */
static _Atomic int taker_state;    /* 0 not started, 1 starting, 2 started */
static int sfd = -1, tepfd = -1;   /* its signalfd, and the epoll set that holds it edge-triggered */

/* g, if parked in a sigwait for any of sigs: woken (any context: the dispatcher and the taker too). */
static void wake_waiter(struct gmp_g *g, uint64_t sigs)
{
	if (!(atomic_load(&g->sigwaitset) & sigs) || !atomic_load(&g->sigwait_parked))
		return;
	atomic_fetch_add(&g->sigwait_word, 1);
	gmp_futex_wake_async(&g->sigwait_word, 1);
}

/*
 * The taker: a kernel thread with every signal blocked, asleep in
 * epoll_wait on a signalfd for taker_set.  The signalfd reports a signal
 * pending for the process without taking it, and edge-triggered each
 * signal sent wakes the taker once.  It wakes the parked waiters for what
 * is pending then; each takes a signal from the kernel itself (take), so
 * a signal is never in flight between the kernel and gmp: a sigtimedwait
 * with a zero timeout after a child's exit finds its SIGCHLD.
 */
static void *taker_main(void *arg)
{
	(void)arg;
	uint64_t all = ~0ULL;
	gmp_sys4(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, 8);
	for (;;) {
		struct epoll_event ev;
		if (gmp_sys4(SYS_epoll_wait, tepfd, &ev, 1, -1) <= 0)
			continue;
		uint64_t pend = 0;
		gmp_sys2(SYS_rt_sigpending, &pend, 8); /* the process's (this thread has none of its own) */
		pend &= atomic_load(&taker_set);
		for (struct gmp_g *g = gmp_sched.allg; pend && g; g = g->alllink)
			wake_waiter(g, pend); /* each looks at the kernel's itself */
	}
	return NULL;
}

/* The signalfd's mask: taker_set, until what it was given is the latest (concurrent growers). */
static void taker_mask(void)
{
	uint64_t given, want = atomic_load(&taker_set);
	do {
		given = want;
		gmp_sys4(SYS_signalfd4, sfd, &given, 8, SFD_NONBLOCK | SFD_CLOEXEC);
	} while ((want = atomic_load(&taker_set)) != given);
}

/* Start the taker: its fds, then its thread.  false when it cannot be had. */
static bool taker_start(void)
{
	uint64_t set = atomic_load(&taker_set);
	long f = GMP_FAULT(SIGWAIT_TAKER) ? -ENOMEM : gmp_sys4(SYS_signalfd4, -1, &set, 8, SFD_NONBLOCK | SFD_CLOEXEC);
	if (f < 0)
		return false;
	long e = gmp_sys1(SYS_epoll_create1, EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
	if (e < 0 || gmp_sys4(SYS_epoll_ctl, e, EPOLL_CTL_ADD, f, &ev) < 0) {
		gmp_sys1(SYS_close, f);
		if (e >= 0)
			gmp_sys1(SYS_close, e);
		return false;
	}
	sfd = (int)f;
	tepfd = (int)e;
	unsigned long th;
	if (gmp_kthread_create(&th, taker_main, NULL) != 0) {
		gmp_sys1(SYS_close, f);
		gmp_sys1(SYS_close, e);
		sfd = tepfd = -1;
		return false;
	}
	return true;
}

/* set joins the taker's; false when the taker cannot be started. */
static bool taker_want(uint64_t set)
{
	bool grew = (atomic_load_explicit(&taker_set, memory_order_relaxed) & set) != set;
	if (grew)
		atomic_fetch_or(&taker_set, set);
	if (GMP_LIKELY(atomic_load_explicit(&taker_state, memory_order_acquire) == 2)) {
		if (grew)
			taker_mask();
		return true;
	}
	int z = 0;
	if (!atomic_compare_exchange_strong(&taker_state, &z, 1)) {
		while (atomic_load(&taker_state) == 1)
			gmp_cpu_relax(); /* another G is starting it */
		if (atomic_load(&taker_state) != 2)
			return false;
		if (grew)
			taker_mask();
		return true;
	}
	bool ok = taker_start();
	atomic_store_explicit(&taker_state, ok ? 2 : 0, memory_order_release);
	if (ok)
		taker_mask(); /* (what grew while it started) */
	return ok;
}

/* fork child: the taker did not survive, and its fds are the parent's; the next sigwait starts anew. */
void gmp_sigwait_fork_child(void)
{
	if (atomic_load(&taker_state) == 2) {
		gmp_sys1(SYS_close, sfd);
		gmp_sys1(SYS_close, tepfd);
	}
	sfd = tepfd = -1;
	atomic_store(&taker_state, 0);
}

void gmp_sigwait_note(struct gmp_g *t, int sig) { wake_waiter(t, gmp_sigbit(sig)); }

/*
 * One signal of set for g, taken, its siginfo in *si: g's own first, then
 * what its kernel thread holds (look_kernel), then the process's, lowest
 * number first as the kernel; 0: none.
 */
static int take(struct gmp_g *g, uint64_t set, siginfo_t *si, bool look_kernel)
{
	siginfo_t tk;
	for (uint64_t mine = atomic_load(&g->sigpending) & set; mine; mine &= mine - 1) {
		int sig = __builtin_ctzll(mine) + 1;
		if (gmp_sig_take(g, sig)) {
			gmp_sig_tkill_info(&tk, sig);
			gmp_sig_info_take(g, sig, &tk, si);
			return sig;
		}
	}
	while (look_kernel) {
		struct timespec zero = {0, 0};
		long sig = gmp_sys4(SYS_rt_sigtimedwait, &set, si, &zero, 8); /* (this thread's, then the process's) */
		if (sig <= 0 || sig >= 65)
			break;
		if (!gmp_sig_from_gmp(si)) /* (a raise of a bit still pending on its G stays there) */
			return (int)sig;
	}
	for (uint64_t proc = atomic_load(&gmp_sig_proc_pending) & set; proc; proc &= proc - 1) {
		int sig = __builtin_ctzll(proc) + 1;
		int n = gmp_sig_proc_take(sig);
		if (!n)
			continue;
		gmp_sig_tkill_info(&tk, sig);
		gmp_sig_info_take(PROC_G, sig, &tk, si);
		for (int i = 1; i < n; i++)
			gmp_sig_pend_process(sig); /* the other queued instances stay the process's */
		return sig;
	}
	return 0;
}

int gmp_sigwait(struct gmp_g *g, uint64_t set, siginfo_t *si, int64_t deadline)
{
	set &= ~GMP_SIG_UNBLOCKABLE; /* as the kernel and glibc: never SIGKILL, SIGSTOP, or glibc's own */
	if (!taker_want(set))
		return -ENOSYS;
	siginfo_t got; /* the caller's is written only when a signal comes, as by the kernel */
	atomic_store(&g->sigwait_parked, true);
	atomic_store(&g->sigwaitset, set); /* seq_cst: before the looks (gmp_sig_pend, gmp_sig_pend_process) */
	int r;
	for (;;) {
		uint32_t w = atomic_load(&g->sigwait_word);
		if ((r = take(g, set, &got, true)) > 0)
			break;
		if (deadline && gmp_nanotime() >= deadline) {
			r = -EAGAIN;
			break;
		}
		r = gmp_futex_wait_cancel(&g->sigwait_word, w, deadline, WR_SIGNAL);
		if (r == -ETIMEDOUT) {
			r = -EAGAIN;
			break;
		}
		if (r == -EINTR || r == -ECANCELED)
			break;
	}
	atomic_store(&g->sigwaitset, 0);
	atomic_store(&g->sigwait_parked, false);
	/* one the process had for a waiter that was woken as it left: ours after all */
	if (r == -EAGAIN || r == -EINTR) {
		int s = take(g, set, &got, false);
		if (s > 0)
			r = s;
	}
	if (r > 0 && si)
		*si = got;
	return r;
}
