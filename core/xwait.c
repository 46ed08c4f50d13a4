/*
 * Waits in glibc's own code, parked: process-shared condition variables,
 * mutexes, semaphores and barriers (and robust mutexes) stay glibc's,
 * because another process, native or not, runs glibc's algorithm on the
 * same memory.  Their waits are futex system calls inside glibc, which gmp
 * cannot see; with a plain hand-off each waiter holds a kernel thread, so
 * 1,000 threads waiting on shared condition variables were 1,000 kernel
 * threads, and a fork from such a process copied them all.
 *
 * So a G calls such a function with Syscall User Dispatch on for its kernel
 * thread (prctl PR_SET_SYSCALL_USER_DISPATCH, Linux 5.11): every system call
 * from outside gmp's own code then stops with SIGSYS before it runs, and the
 * dispatcher (core/sigdispatch.c) brings it here, on the G's stack.  A futex
 * wait becomes a registration with a watcher plus a park; any other call
 * runs from here.  The selector byte (m->sud_sel) blocks only while the M
 * runs the G's code inside such a call: every handler gmp installs allows
 * on entry (gmp_xwait_hold) and blocks again on its way out
 * (gmp_xwait_release), which leaves the handler through gmp's own
 * rt_sigreturn, since a restorer in glibc would itself be stopped.
 *
 * Watchers: a kernel thread of gmp's waits with futex_waitv (Linux 5.16)
 * on up to XW_SLOTS distinct (word, value) pairs at once, plus a kick word
 * for new ones.  The kernel queues it once for every pair, so it takes
 * whatever wake-up the kernel gives there, from this process or another,
 * and wakes every G registered on the pair since the last wake-up (more
 * than the waker asked for is a spurious wake-up, which every futex user
 * allows; fewer would lose one).  A wake-up that finds none of them, whose
 * Gs timed out or left, is passed on with FUTEX_WAKE of 1, so no other
 * waiter loses it.  A pair whose word no longer holds the value is fired
 * the same way (futex_waitv reports EAGAIN for the set).  Gs park on the
 * slot's sequence word, which firing increments under the slot lock: a G
 * between its registration and its park sees the change and returns.
 *
 * Waiting Gs therefore cost no kernel thread; what it costs: a SIGSYS and
 * four prctl calls per wait, and a wake-up goes through the watcher, one
 * kernel wake-up more.  So the first GMP_KWAITS (default 4) such waits at
 * a time still wait in the kernel on their own thread, as before; the
 * watchers take the ones after.  Without the kernel features, or with
 * GMP_KWAITS=all, every wait is a hand-off as before.
 */
#include "runtime.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "../arch/context_x86_64.h"
#include "lock.h"
#include "sud.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define FUTEX2_U32 0x02
#define FUTEX2_PRIV 128
/* struct futex_waitv of <linux/futex.h> (5.16), spelled out: older kernel
 * headers (Debian 11 has 5.10's) lack it, and the kernel the program runs
 * on decides whether the call exists (xw_init probes it). */
struct xw_waitv {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

#define XW_SLOTS 127 /* futex_waitv takes 128, one of them the kick word */
#define XW_GROUPS 8

struct xw_slot {
	_Atomic uint32_t *addr; /* NULL: free; group lock */
	uint32_t val;
	uint32_t flags;         /* FUTEX2_PRIV or 0 */
	uint32_t refs;          /* registrations not yet left; group lock */
	uint32_t live;          /* of them, made since the last firing; group lock */
	_Atomic uint32_t seq;   /* the Gs park here; firing increments it (group lock) */
};

struct xw_group {
	gmp_lock_t lock;
	_Atomic uint32_t kick; /* the watcher waits on it too: a pair to add */
	_Atomic int started;   /* 0 no, 1 starting, 2 running, -1 could not start */
	struct xw_slot slot[XW_SLOTS];
};

static struct xw_group groups[XW_GROUPS];
static int xw_ok;                      /* the kernel features are there (gmp_xwait_init) */
static uint32_t kwaits_max = 4;        /* GMP_KWAITS */
static _Atomic uint32_t kwaits;        /* waits now in the kernel on their own thread (gmp_xwait_begin) */
static _Atomic uint32_t trapping;      /* waits now trapped (begun, not ended), parked or not */
static uintptr_t text_lo, text_hi;     /* gmp's code: its system calls always run */
_Atomic uint64_t gmp_xwait_parks;      /* waits parked through a watcher (gmp_stats) */

/*
 * SIGSYS: the dispatcher is its kernel handler while gmp traps (as SIGURG's
 * for preemption), a handler the program set stays the program's, and its
 * SIG_DFL or SIG_IGN is kept here and done by the dispatcher.
 */
static bool sigsys_owned;
static _Atomic bool sigsys_ign;

bool gmp_xwait_owns_sigsys(void) { return sigsys_owned; }

void gmp_xwait_sigsys_plain(bool ign) { atomic_store(&sigsys_ign, ign); }

bool gmp_xwait_sigsys_ignored(void) { return atomic_load(&sigsys_ign); }

bool gmp_xwait_sigsys_default(void)
{
	if (!sigsys_owned)
		return false;
	if (atomic_load(&sigsys_ign))
		return true;
	/* the default action, from the kernel: it is blocked until this handler returns */
	struct ksigaction dfl = {(void *)SIG_DFL, 0, NULL, 0};
	gmp_rawtrap_sigsys_changing();
	gmp_sys4(SYS_rt_sigaction, SIGSYS, &dfl, NULL, 8);
	gmp_sys3(SYS_tgkill, gmp_sched.pid, gmp_sys0(SYS_gettid), SIGSYS);
	return true;
}

void gmp_xwait_init(void)
{
	const char *e = getenv("GMP_KWAITS");
	if (e && *e) {
		if (strcmp(e, "all") == 0)
			return;
		kwaits_max = (uint32_t)strtoul(e, NULL, 10);
	}
	gmp_code_bounds(CODE_GMP, &text_lo, &text_hi);
	if (!text_lo)
		return;
	/* both answer EINVAL for these arguments where they exist, ENOSYS or EINVAL for the prctl where not */
	if (gmp_sys6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0, 0) != 0)
		return;
	if (gmp_sys6(SYS_futex_waitv, NULL, 0, 0, NULL, 0, 0) == -ENOSYS)
		return;
	int ign = gmp_sig_take_kernel(SIGSYS);
	if (ign < 0)
		return;
	atomic_store(&sigsys_ign, ign == 1);
	sigsys_owned = true;
	xw_ok = 1;
}

/* ------------------------------------------------------------ the selector */

static void sud_on(struct gmp_m *m)
{
	if (atomic_load_explicit(&m->sud_mode, memory_order_relaxed) != SUD_XWAIT) {
		m->sud_sel = SEL_ALLOW;
		if (gmp_sys6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, text_lo,
			     text_hi - text_lo, &m->sud_sel, 0) != 0)
			gmp_fatal("syscall user dispatch failed on M%llu", (unsigned long long)m->id);
		atomic_store(&m->sud_mode, SUD_XWAIT);
	}
	__atomic_store_n(&m->sud_sel, SEL_BLOCK, __ATOMIC_RELAXED);
	__asm__ volatile("" ::: "memory");
}

static void sud_off(struct gmp_m *m)
{
	if (atomic_load_explicit(&m->sud_mode, memory_order_relaxed) != SUD_XWAIT)
		return; /* off, or raw calls trap (rawtrap.c): as it is */
	__atomic_store_n(&m->sud_sel, SEL_ALLOW, __ATOMIC_RELAXED);
	gmp_sys6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0, 0);
	atomic_store(&m->sud_mode, SUD_OFF);
	gmp_rawtrap_check(m); /* raw calls trap since this wait began */
}

int gmp_xwait_begin(struct gmp_g *g, enum gmp_waitreason why)
{
	if (!xw_ok || g->xwait || g->insyscall)
		return 0;
	if (atomic_fetch_add(&kwaits, 1) < kwaits_max) {
		g->xwait_kernel = 1;
		return 1; /* one more waiting in the kernel on its own thread: the caller hands off */
	}
	atomic_fetch_sub(&kwaits, 1);
	/*
	 * Not once raw calls are about to trap (rawtrap.c): only glibc's code
	 * will be allowed then.  The count, then the look, pairs with
	 * gmp_rawtrap_tick's store of pending, then look at the count.
	 */
	atomic_fetch_add(&trapping, 1);
	if (atomic_load(&gmp_rawtrap_pending)) {
		atomic_fetch_sub(&trapping, 1);
		return 0;
	}
	g->xwait_trapping = 1;
	g->xwait = (uint8_t)why;
	g->xwait_nocancel = 0;
	sud_on(g->m);
	return 2;
}

static void untrapping(struct gmp_g *g)
{
	if (g->xwait_trapping) {
		g->xwait_trapping = 0;
		atomic_fetch_sub(&trapping, 1);
	}
}

bool gmp_xwait_trapping(void) { return atomic_load(&trapping) != 0; }

void gmp_xwait_end(struct gmp_g *g, int how)
{
	if (how == 1) {
		g->xwait_kernel = 0;
		atomic_fetch_sub(&kwaits, 1);
		return;
	}
	g->xwait = 0;
	sud_off(g->m);
	untrapping(g);
}

void gmp_xwait_exit(struct gmp_g *g)
{
	if (g->xwait_kernel)
		gmp_xwait_end(g, 1);
	g->xwait = 0;
	sud_off(g->m);
	untrapping(g);
}

bool gmp_xwait_hold(struct gmp_g *g, const void *ucv)
{
	if (!g || !g->xwait || !ucv)
		return false;
	struct gmp_m *m = g->m;
	const ucontext_t *uc = ucv;
	if (!m || m->curg != g || __atomic_load_n(&m->sud_sel, __ATOMIC_RELAXED) != SEL_BLOCK ||
	    !gmp_on_g_stack(g, (uintptr_t)uc->uc_mcontext.gregs[REG_RSP]))
		return false;
	__atomic_store_n(&m->sud_sel, SEL_ALLOW, __ATOMIC_RELAXED);
	return true;
}

void gmp_xwait_release(struct gmp_g *g, void *uc)
{
	if (!g->xwait)
		return; /* it left glibc's call meanwhile */
	sud_on(g->m);
	gmp_sigreturn_uc(uc);
}

/* Program handlers run with system calls allowed (call_on): a foreign call of theirs is not ours. */
uint8_t gmp_xwait_pause(struct gmp_g *g)
{
	uint8_t w = g->xwait;
	g->xwait = 0;
	return w;
}

void gmp_xwait_resume(struct gmp_g *g, uint8_t w) { g->xwait = w; }

/* ------------------------------------------------------------ watchers */

static void *watcher_main(void *arg);

static void fire(struct xw_group *gr, struct xw_slot *s, bool woken)
{
	gmp_lock(&gr->lock);
	_Atomic uint32_t *addr = s->addr;
	uint32_t flags = s->flags;
	bool wake = addr && s->live > 0;
	if (wake) {
		s->live = 0;
		atomic_fetch_add(&s->seq, 1);
	}
	gmp_unlock(&gr->lock);
	if (wake)
		gmp_futex_wake(&s->seq, INT_MAX, GMP_FUTEX_BITSET_ANY);
	else if (woken && addr)
		/* nobody of ours took it: for another waiter, as the kernel would have given it */
		gmp_sys6(SYS_futex, addr, FUTEX_WAKE | ((flags & FUTEX2_PRIV) ? FUTEX_PRIVATE_FLAG : 0), 1, 0, 0, 0);
}

static void *watcher_main(void *arg)
{
	struct xw_group *gr = arg;
	struct xw_waitv v[XW_SLOTS + 1];
	struct xw_slot *of[XW_SLOTS + 1];
	for (;;) {
		uint32_t k = atomic_load(&gr->kick);
		int n = 1;
		v[0] = (struct xw_waitv){.val = k, .uaddr = (uintptr_t)&gr->kick, .flags = FUTEX2_U32 | FUTEX2_PRIV};
		gmp_lock(&gr->lock);
		for (int i = 0; i < XW_SLOTS; i++) {
			struct xw_slot *s = &gr->slot[i];
			if (!s->addr || s->live == 0)
				continue;
			v[n] = (struct xw_waitv){.val = s->val, .uaddr = (uintptr_t)s->addr, .flags = FUTEX2_U32 | s->flags};
			of[n++] = s;
		}
		gmp_unlock(&gr->lock);
		long r = gmp_sys6(SYS_futex_waitv, v, n, 0, NULL, 0, 0);
		if (r >= 1 && r < n) {
			fire(gr, of[r], true);
		} else if (r == -EAGAIN) {
			for (int i = 1; i < n; i++)
				if (atomic_load(of[i]->addr) != v[i].val)
					fire(gr, of[i], false);
		} else if (r < 0 && r != -EINTR) {
			/* a word unmapped or misaligned under its waiters (EFAULT, EINVAL): they look themselves */
			for (int i = 1; i < n; i++)
				fire(gr, of[i], false);
		}
	}
	return NULL;
}

static bool group_start(struct xw_group *gr)
{
	int st = atomic_load(&gr->started);
	if (st == 2)
		return true;
	if (st == 0 && atomic_compare_exchange_strong(&gr->started, &st, 1)) {
		/*
		 * With the P held as runtime code holds it: glibc's
		 * pthread_create is not where an asynchronous cancellation or
		 * a preemption may stop this G (it would leave "starting").
		 */
		struct gmp_g *g = gmp_getg();
		struct gmp_p *p = g ? gmp_acquirep_user(g) : NULL;
		pthread_t th;
		st = gmp_kthread_create(&th, watcher_main, gr) == 0 ? 2 : -1;
		atomic_store(&gr->started, st);
		if (p)
			gmp_releasep_user(p);
		return st == 2;
	}
	while ((st = atomic_load(&gr->started)) == 1)
		gmp_sys0(SYS_sched_yield);
	return st == 2;
}

/* Register g's wait for (addr, val): the slot and the sequence to park on, or NULL if all are full. */
static struct xw_slot *enroll(_Atomic uint32_t *addr, uint32_t val, uint32_t flags, uint32_t *seq,
			      struct xw_group **grp)
{
	for (int gi = 0; gi < XW_GROUPS; gi++) {
		struct xw_group *gr = &groups[gi];
		if (!group_start(gr))
			return NULL;
		struct xw_slot *s = NULL, *free = NULL;
		gmp_lock(&gr->lock);
		for (int i = 0; i < XW_SLOTS && !s; i++) {
			struct xw_slot *t = &gr->slot[i];
			if (t->addr == addr && t->val == val && t->flags == flags)
				s = t;
			else if (!t->addr && !free)
				free = t;
		}
		if (!s && free) {
			s = free;
			s->addr = addr;
			s->val = val;
			s->flags = flags;
			s->refs = s->live = 0;
		}
		if (!s) {
			gmp_unlock(&gr->lock);
			continue;
		}
		s->refs++;
		bool kick = s->live++ == 0; /* the watcher does not wait on it yet */
		*seq = atomic_load(&s->seq);
		gmp_unlock(&gr->lock);
		if (kick) {
			atomic_fetch_add(&gr->kick, 1);
			gmp_kfutex_wake(&gr->kick, 1);
		}
		*grp = gr;
		return s;
	}
	return NULL;
}

static void leave(struct xw_group *gr, struct xw_slot *s, uint32_t seq)
{
	gmp_lock(&gr->lock);
	if (atomic_load(&s->seq) == seq && s->live > 0)
		s->live--;
	if (--s->refs == 0)
		s->addr = NULL;
	gmp_unlock(&gr->lock);
}

/* ------------------------------------------------------------ the trap */

static long raw(const ucontext_t *uc, long nr)
{
	const greg_t *r = uc->uc_mcontext.gregs;
	return gmp_syscall6(nr, r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8], r[REG_R9]);
}

/* The trapped futex call as it is, in the kernel on this thread, with hand-off. */
static long in_kernel(struct gmp_g *g, const ucontext_t *uc)
{
	sud_off(g->m);
	gmp_entersyscall(g);
	long res = raw(uc, SYS_futex);
	gmp_exitsyscall(g);
	return res;
}

/*
 * Park the calling G on a watcher slot's sequence for (addr, val): 0 (the
 * watcher fired it: a wake-up, or the value changed, which the caller
 * looks at next), -ETIMEDOUT, -EINTR, -ECANCELED (cancel only); 1 if every
 * slot is taken.
 */
static long park_on_slot(_Atomic uint32_t *addr, uint32_t val, uint32_t flags, int64_t deadline,
			 enum gmp_waitreason why, bool cancel)
{
	uint32_t seq;
	struct xw_group *gr;
	struct xw_slot *s = enroll(addr, val, flags, &seq, &gr);
	if (!s)
		return 1;
	atomic_fetch_add_explicit(&gmp_xwait_parks, 1, memory_order_relaxed);
	int res = cancel ? gmp_futex_wait_cancel(&s->seq, seq, deadline, why)
			 : gmp_futex_wait(&s->seq, seq, GMP_FUTEX_BITSET_ANY, deadline, CLOCK_MONOTONIC, why);
	leave(gr, s, seq);
	return res == -EAGAIN ? 0 : res;
}

/* A futex wait of glibc's, as the kernel would answer it: 0, -EAGAIN, -ETIMEDOUT, -EINTR. */
static long futex_wait(struct gmp_g *g, const ucontext_t *uc, int op)
{
	const greg_t *r = uc->uc_mcontext.gregs;
	_Atomic uint32_t *addr = (_Atomic uint32_t *)r[REG_RDI];
	uint32_t val = (uint32_t)r[REG_RDX];
	const struct timespec *ts = (const struct timespec *)r[REG_R10];
	int64_t deadline = -1;
	if (ts) {
		bool abs = (op & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET;
		deadline = gmp_deadline_from(ts, (op & FUTEX_CLOCK_REALTIME) && abs ? CLOCK_REALTIME : CLOCK_MONOTONIC, abs);
		if (deadline == -EINVAL)
			return -EINVAL;
	}
	if (atomic_load(addr) != val)
		return -EAGAIN;
	sud_off(g->m); /* the M runs others meanwhile; gmp_xwait_release turns it on where the G goes on */
	/* (a cancellation that glibc did not act on, in a lock's wait say, does not end the next one) */
	long res = park_on_slot(addr, val, (op & FUTEX_PRIVATE_FLAG) ? FUTEX2_PRIV : 0, deadline,
				(enum gmp_waitreason)g->xwait, !g->xwait_nocancel);
	if (res == 1)
		return in_kernel(g, uc); /* every watcher is full: this one waits on its own thread */
	if (res == -ECANCELED) {
		g->xwait_nocancel = 1;
		res = -EINTR;
	}
	return res;
}

long gmp_xwait_park(_Atomic uint32_t *addr, uint32_t val, bool priv, int64_t deadline)
{
	if (!xw_ok)
		return 1;
	if (atomic_load(addr) != val)
		return -EAGAIN;
	return park_on_slot(addr, val, priv ? FUTEX2_PRIV : 0, deadline, WR_FUTEX, false);
}

/* Futex operations that never block go to the kernel straight from here. */
static bool futex_quick(int cmd)
{
	return cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_OP || cmd == FUTEX_REQUEUE || cmd == FUTEX_CMP_REQUEUE ||
	       cmd == FUTEX_UNLOCK_PI || cmd == FUTEX_TRYLOCK_PI || cmd == FUTEX_WAKE_BITSET;
}

bool gmp_xwait_trap(int sig, const siginfo_t *si, void *ucv)
{
	if (sig != SIGSYS || !si || si->si_code != SYS_USER_DISPATCH || !ucv)
		return false;
	struct gmp_g *g = atomic_load_explicit(&gmp_inited, memory_order_acquire) == 2 ? gmp_getg() : NULL;
	if (!g || !g->xwait)
		return false; /* the program's own dispatch: its handler's */
	ucontext_t *uc = ucv;
	greg_t *r = uc->uc_mcontext.gregs;
	long nr = si->si_syscall;
	struct gmp_m *was = g->m;
	long res;
	int op = (int)r[REG_RSI];
	int cmd = op & FUTEX_CMD_MASK;
	if (nr == SYS_futex && (cmd == FUTEX_WAIT || (cmd == FUTEX_WAIT_BITSET && (uint32_t)r[REG_R9] == FUTEX_BITSET_MATCH_ANY))) {
		was->cur_sigmask = ~0ULL; /* the handler's mask is loaded: the next G here loads its own */
		res = futex_wait(g, uc, op);
	} else if (nr == SYS_futex && futex_quick(cmd)) {
		res = raw(uc, nr);
	} else if (nr == SYS_futex) {
		was->cur_sigmask = ~0ULL;
		res = in_kernel(g, uc); /* a priority-inheritance lock, a bitset wait */
	} else {
		/*
		 * Anything else (a signal handler of glibc's own, say): run it
		 * again from where it was, allowed, and leave the rest of the
		 * call to the kernel as a plain hand-off would.
		 */
		r[REG_RIP] -= 2; /* the syscall instruction */
		r[REG_RAX] = nr;
		g->xwait = 0;
		return true;
	}
	r[REG_RAX] = res;
	if (g->m != was || was->cur_sigmask == ~0ULL)
		gmp_sigframe_back(g, was, uc);
	if (res == -EINTR)
		/* a cancellation for it acts here, as SIGCANCEL would have in the kernel's wait (glibc may unwind) */
		gmp_cancel_at_call(g, uc);
	return true;
}

void gmp_xwait_fork_child(void)
{
	memset(groups, 0, sizeof groups);
	atomic_store(&kwaits, 0);
}
