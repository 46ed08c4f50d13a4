/*
 * Raw system calls, trapped: a `syscall` instruction outside glibc (libgomp
 * makes its futex calls so, at every OpenMP barrier, lock and task wait)
 * is a kernel call gmp does not see.  Such a wait keeps its kernel thread
 * asleep; sysmon finds it only after 100 us or more (sysmon.c,
 * asleep_unseen) and hands its P off, so an OpenMP program with 8 threads
 * on 2 Ps ran on 9-10 kernel threads, each sleeping and woken by the
 * kernel as natively.
 *
 * Once sysmon has seen such a wait (GMP_RAWTRAP=auto, the default; `on`
 * from start-up; `off` never), every M turns Syscall User Dispatch on for
 * its kernel thread with glibc's code as the allowed range and the
 * selector on block: a system call from anywhere else stops with SIGSYS
 * before it runs and the dispatcher brings it here, on the G's stack with
 * its TLS.  Here it is made as the shims' syscall(2) makes it
 * (gmp_rawtrap_call): a private futex wait parks the G on gmp's futex
 * table, a wake wakes those Gs (and kernel waiters for the rest), any
 * other call runs with hand-off unless it never blocks.  glibc's own calls
 * run untouched, and gmp's run through a `syscall; ret` in glibc's code
 * (gmp_sys_gadget, gmp_sys_via_glibc), so nothing else changes cost.
 *
 * A futex word is then waited on in two places, gmp's table and the
 * kernel's, and a wake must reach both: while some M may still run user
 * code untrapped (RAWTRAP_SWITCHING), a trapped wait parks through one of
 * xwait.c's watcher slots, which also takes the kernel's wake-ups
 * (gmp_xwait_park).  RAWTRAP_ALL is declared, by sysmon or by the last M,
 * once every M that runs user code traps (each turns it on itself before
 * it runs user code: execute, exitsyscall, or any signal's handler, which
 * sysmon sends to those in user code; a membarrier orders the flag
 * against their look); trapped waits park on gmp's table from then on.
 * Waits that were already in the kernel are woken by a trapped wake for
 * the count gmp's table did not use, as syscall(2)'s wakes do.
 *
 * Calls that cannot be made from a handler (clone, clone3, fork, vfork,
 * exit) run again untrapped: the selector goes to allow until the M next
 * runs a G (vfork's parent: gmp_vfork_leave).  A restorer's rt_sigreturn
 * outside glibc (gmp's own, gmp_sigreturn) is made through the gadget
 * with the restorer's stack pointer, which leaves the trap's frame too.
 * xwait.c's trapped waits allow only gmp's code, whose calls then run
 * inline, so the two never overlap: sysmon's finding only sets
 * gmp_rawtrap_pending, which stops new ones (gmp_xwait_begin: such waits
 * hand off from then on), and the switch comes when none is in progress.
 */
#include "runtime.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "../arch/context_x86_64.h"
#include "sud.h"

#define ASK_GAP_NS 250000    /* sysmon asks an M in user code again after 250 us */
#define RAWTRAP_MARK 0x676d7274 /* si_uid of sysmon's SIGSYS: turn trapping on */

void *gmp_sys_gadget;    /* set before gmp_sys_via_glibc */
_Bool gmp_sys_via_glibc;

void *gmp_sig_restorer = (void *)gmp_sigreturn;
_Atomic int gmp_rawtrap;
_Atomic bool gmp_rawtrap_pending;
uint64_t gmp_rawtrap_kbit;
_Atomic uint64_t gmp_rawtrap_traps;
long (*gmp_rawtrap_call)(long nr, const long a[6], int park);

static enum { WANT_AUTO, WANT_ON, WANT_OFF } want = WANT_AUTO;
static bool usable;              /* the kernel and this glibc allow it (gmp_rawtrap_init) */
static uintptr_t libc_lo, libc_hi; /* glibc's code: its calls always run */

static void start(void);
static void all_trap(int64_t now, bool ask);

/*
 * Leaving a trap's handler without rt_sigreturn (gmp_trap_return): its
 * kernel work is a signal mask, an alternate stack and the saved state,
 * and only the state needs loading when the handler's mask is the
 * interrupted one (SIGSYS's action adds nothing: SA_NODEFER, no sa_mask)
 * or gmp has loaded that mask since.  0.75 us of the 2.5 of a trap here.
 * sigsys_plain is that property of the action, cleared before anyone
 * changes the action and looked at again after (gmp_rawtrap_sigsys_*);
 * fast_ok: no shadow stack (whose token rt_sigreturn would pop).
 */
static _Atomic bool sigsys_plain;
static bool fast_ok;

void gmp_rawtrap_sigsys_changing(void) { atomic_store(&sigsys_plain, false); }

void gmp_rawtrap_sigsys_changed(void)
{
	struct ksigaction k;
	atomic_store(&sigsys_plain, gmp_sys4(SYS_rt_sigaction, SIGSYS, NULL, &k, 8) == 0 &&
					    k.handler == (void *)gmp_sig_dispatch && (k.flags & SA_NODEFER) && k.mask == 0);
}

/* The frame's vector state for xrstor: its features, 0 for fxrstor (no xsave header), ~0: none. */
static uint64_t frame_rfbm(const ucontext_t *uc)
{
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	if (!fp)
		return ~0ULL;
	uint32_t magic; /* struct _fpx_sw_bytes in the fxsave area's software bytes: magic1, size, xfeatures */
	uint64_t xf;
	memcpy(&magic, fp + 464, sizeof magic);
	if (magic != 0x46505853u) /* FP_XSTATE_MAGIC1 */
		return 0;
	memcpy(&xf, fp + 472, sizeof xf);
	return xf ? xf : ~0ULL;
}
_Static_assert(offsetof(ucontext_t, uc_mcontext.gregs) == 0x28, "gmp_trap_return: gregs");
_Static_assert(offsetof(ucontext_t, uc_mcontext.fpregs) == 0xe0, "gmp_trap_return: fpregs");
static _Atomic bool ordered; /* start's membarrier is done: a scan of the Ms may declare RAWTRAP_ALL */

void gmp_rawtrap_init(void)
{
	const char *e = getenv("GMP_RAWTRAP");
	if (e && strcmp(e, "off") == 0)
		want = WANT_OFF;
	else if (e && strcmp(e, "on") == 0)
		want = WANT_ON;
	/* xwait.c probed the prctl and owns SIGSYS's kernel handler (not with GMP_KWAITS=all) */
	if (want == WANT_OFF || !gmp_xwait_owns_sigsys())
		return;
	gmp_code_bounds(CODE_LIBC, &libc_lo, &libc_hi);
	uintptr_t glo, ghi;
	gmp_code_bounds(CODE_GMP, &glo, &ghi);
	if (!libc_lo || (glo < libc_hi && ghi > libc_lo))
		return; /* glibc's range not known, or (glibc before 2.34) spanning gmp */
	usable = true;
	if (want == WANT_ON) {
		atomic_store(&gmp_rawtrap_pending, true);
		start(); /* before any other thread: each M turns it on before it runs a G, m0 at sysmon's nudge */
	}
}

/*
 * A `syscall; ret` in glibc's code, or NULL: preferably a whole function's
 * tail, `mov $NR, %eax; syscall; ret` (getppid's, say), whose unwind
 * information an unwinder reads right (a backtrace of a thread in a
 * kernel call passes through it).
 */
static void *libc_gadget(void)
{
	const uint8_t *lo = (const uint8_t *)libc_lo, *hi = (const uint8_t *)libc_hi, *any = NULL;
	for (const uint8_t *c = lo; c + 3 <= hi; c++) {
		if (c[0] != 0x0f || c[1] != 0x05 || c[2] != 0xc3)
			continue;
		if (c - lo >= 5 && c[-5] == 0xb8 && c[-2] == 0 && c[-1] == 0)
			return (void *)c;
		if (!any)
			any = c;
	}
	return (void *)any;
}

/* Turn trapping on for the process (sysmon, or start-up before any other thread). */
static void start(void)
{
	void *gad = libc_gadget();
	if (!gad) {
		usable = false; /* no syscall;ret in glibc's code: raw calls stay untrapped */
		atomic_store(&gmp_rawtrap_pending, false);
		return;
	}
	gmp_rawtrap_kbit = 1ULL << (SIGSYS - 1);
	__atomic_store_n(&gmp_sys_gadget, gad, __ATOMIC_SEQ_CST);
	__atomic_store_n(&gmp_sys_via_glibc, true, __ATOMIC_SEQ_CST);
	/* glibc's restorer, the one of SIGSYS's action (xwait.c set it with glibc's sigaction), for ours */
	struct ksigaction k;
	if (gmp_sys4(SYS_rt_sigaction, SIGSYS, NULL, &k, 8) == 0 && (k.flags & SA_RESTORER) &&
	    gmp_code_at((uintptr_t)k.restorer) == CODE_LIBC) {
		__atomic_store_n(&gmp_sig_restorer, k.restorer, __ATOMIC_SEQ_CST);
		gmp_sig32_restorer_moved();
		gmp_fstrap_restorer_moved();
	}
	uint64_t shstk = 0; /* ARCH_SHSTK_STATUS: EINVAL where the kernel has no user shadow stacks */
	fast_ok = gmp_sys2(SYS_arch_prctl, 0x5005, &shstk) != 0 || !(shstk & 1);
	gmp_rawtrap_sigsys_changed();
	atomic_store(&gmp_rawtrap, RAWTRAP_SWITCHING);
	/*
	 * Every M that stored its curg (execute) before this looked at the
	 * flag, or sees it: the barrier runs on every CPU that runs one of
	 * our threads, so such a store is visible to sysmon's scan after it.
	 */
	if (gmp_sys3(SYS_membarrier, GMP_MEMBARRIER_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0 ||
	    gmp_sys3(SYS_membarrier, GMP_MEMBARRIER_PRIVATE_EXPEDITED, 0, 0) != 0)
		gmp_sys3(SYS_membarrier, GMP_MEMBARRIER_GLOBAL, 0, 0);
	atomic_store(&ordered, true);
}

/* ------------------------------------------------------------ an M turns it on */

static void sud_raw(struct gmp_m *m)
{
	__atomic_store_n(&m->sud_sel, SEL_BLOCK, __ATOMIC_RELAXED);
	if (gmp_sys6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, libc_lo, libc_hi - libc_lo,
		     &m->sud_sel, 0) != 0)
		gmp_fatal("syscall user dispatch failed on M%llu", (unsigned long long)m->id);
	atomic_store(&m->sud_mode, SUD_RAW);
}

void gmp_rawtrap_enable(struct gmp_m *m)
{
	uint8_t mode = atomic_load_explicit(&m->sud_mode, memory_order_relaxed);
	if (mode == SUD_RAW) {
		__atomic_store_n(&m->sud_sel, SEL_BLOCK, __ATOMIC_RELAXED); /* after a call that ran untrapped */
		return;
	}
	if (mode == SUD_XWAIT)
		return; /* a trapped wait of xwait.c's: it turns this on when it ends */
	sud_raw(m);
	all_trap(0, false); /* the last M to turn it on need not wait for sysmon */
	/* SIGSYS must never be blocked where a call can trap (the kernel would kill the process) */
	if (m->cur_sigmask != ~0ULL && (m->cur_sigmask & gmp_rawtrap_kbit)) {
		m->cur_sigmask &= ~gmp_rawtrap_kbit;
		gmp_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &m->cur_sigmask, NULL, 8);
	}
}

/* In a handler of gmp's on g's M, g in its own code: turn it on, for the frame's return too. */
static void enable_at_signal(struct gmp_m *m, ucontext_t *uc)
{
	if (atomic_load_explicit(&m->sud_mode, memory_order_relaxed) != SUD_OFF)
		return;
	sud_raw(m);
	uint64_t k;
	memcpy(&k, &uc->uc_sigmask, sizeof k);
	k &= ~gmp_rawtrap_kbit;
	memcpy(&uc->uc_sigmask, &k, sizeof k);
	m->cur_sigmask = k; /* what rt_sigreturn loads */
	all_trap(0, false);
}

void gmp_rawtrap_fork_child(struct gmp_m *m)
{
	atomic_store(&m->sud_mode, SUD_OFF); /* the kernel does not copy syscall user dispatch to a child */
	m->sud_sel = SEL_ALLOW;
	if (atomic_load(&gmp_rawtrap) != RAWTRAP_OFF) {
		gmp_rawtrap_enable(m); /* the child's one M: every M traps */
		atomic_store(&gmp_rawtrap, RAWTRAP_ALL);
	}
}

/* ------------------------------------------------------------ the trap */

/* Calls that must run where they were made, not from a handler. */
static bool run_in_place(long nr)
{
	return nr == SYS_clone || nr == SYS_clone3 || nr == SYS_fork || nr == SYS_vfork || nr == SYS_exit;
}

bool gmp_rawtrap_signal(struct gmp_g *g, int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	if (!uc)
		return false;
	greg_t *r = uc->uc_mcontext.gregs;
	struct gmp_m *m = g ? g->m : NULL;
	bool cur = m && m->curg == g; /* g runs here (not g0 with g's TLS still loaded) */
	bool here = cur && gmp_on_g_stack(g, (uintptr_t)r[REG_RSP]); /* and on its own stack: it may park */
	if (sig != SIGSYS || !si || si->si_code != SYS_USER_DISPATCH) {
		if (here)
			enable_at_signal(m, uc); /* sysmon's nudge, or any signal: before this G's code goes on */
		return (sig == SIGSYS || sig == GMP_SIGPREEMPT) && gmp_sig_is_marked(si, RAWTRAP_MARK);
	}
	long nr = si->si_syscall;
	atomic_fetch_add_explicit(&gmp_rawtrap_traps, 1, memory_order_relaxed);
	if (nr == SYS_rt_sigreturn)
		gmp_sigreturn_at((uintptr_t)r[REG_RSP]); /* a restorer of gmp's: its frame, through glibc's code */
	if (here && run_in_place(nr)) {
		r[REG_RIP] -= 2; /* the syscall instruction, again, allowed until the M next runs a G */
		r[REG_RAX] = nr;
		__atomic_store_n(&m->sud_sel, SEL_ALLOW, __ATOMIC_RELAXED);
		return true;
	}
	int saved_errno = errno;
	const long a[6] = {r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8], r[REG_R9]};
	struct gmp_p *p = cur ? m->p : NULL;
	bool user = cur && gmp_rawtrap_call &&
		    (!p || p->m != m || atomic_load_explicit(&p->status, memory_order_relaxed) == P_USER);
	long res;
	uint64_t loaded = ~0ULL, want = 0; /* the kernel's mask now, if known, and the frame's: equal, no rt_sigreturn */
	if (!user) {
		/* runtime code (a vDSO fallback), g0, a thread gmp did not create: as it is */
		res = gmp_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	} else if (!here) {
		/* a handler of the program's on an alternate stack: a wake still reaches parked Gs, a wait does not park */
		res = gmp_rawtrap_call(nr, a, RAWCALL_KERNEL);
	} else {
		uint64_t orig;
		memcpy(&orig, &uc->uc_sigmask, sizeof orig);
		/*
		 * The handler's mask is loaded: the interrupted one when SIGSYS's
		 * action adds nothing (then the next G here loads its own only if it
		 * differs), else unknown (~0: it does).
		 */
		m->cur_sigmask = atomic_load(&sigsys_plain) ? orig : ~0ULL;
		res = gmp_rawtrap_call(nr, a, atomic_load(&gmp_rawtrap) == RAWTRAP_ALL ? RAWCALL_PARK : RAWCALL_WATCH);
		loaded = g->m->cur_sigmask;
		gmp_sigframe_back(g, m, uc);
		memcpy(&want, &uc->uc_sigmask, sizeof want);
	}
	r[REG_RAX] = res;
	errno = saved_errno;
	uint64_t rfbm;
	if (fast_ok && loaded == want && want != ~0ULL && (rfbm = frame_rfbm(uc)) != ~0ULL)
		gmp_trap_return(uc, rfbm);
	return true;
}

/* ------------------------------------------------------------ sysmon */

/* The kernel call and the instruction after it of tid's thread, asleep: false if not readable. */
static bool sleeping_call(pid_t tid, long *nr, uintptr_t *pc)
{
	char buf[256];
	if (gmp_task_read(tid, "syscall", buf, sizeof buf) < 0)
		return false;
	/* "NR a1 a2 a3 a4 a5 a6 SP PC": NR decimal, the rest hex */
	char *s = buf, *last = NULL;
	*nr = strtol(s, &s, 10);
	for (char *t = s; *t; t++)
		if (*t == ' ')
			last = t + 1;
	if (!last)
		return false;
	*pc = (uintptr_t)strtoull(last, NULL, 16);
	return true;
}

void gmp_rawtrap_unseen(struct gmp_m *m)
{
	if (!m || !usable || want != WANT_AUTO || atomic_load_explicit(&gmp_rawtrap_pending, memory_order_relaxed))
		return;
	long nr;
	uintptr_t pc;
	if (!sleeping_call(m->tid, &nr, &pc) || nr != SYS_futex)
		return;
	enum gmp_code k = gmp_code_at(pc);
	if (k == CODE_LIBC || k == CODE_GMP || k == CODE_VDSO)
		return; /* glibc's internal locks: it cannot trap those */
	atomic_store(&gmp_rawtrap_pending, true); /* gmp_rawtrap_tick starts once no xwait.c trap is on */
}

/* An M that may run user code without trapping: it has not turned it on and its G is in user code. */
static bool untrapped(struct gmp_m *m)
{
	if (atomic_load(&m->sud_mode) != SUD_OFF)
		return false;
	struct gmp_g *g = __atomic_load_n(&m->curg, __ATOMIC_SEQ_CST); /* racy: a G's memory stays a G's */
	if (!g)
		return false; /* on g0: execute turns it on first */
	/* in a hand-off kernel call: exitsyscall turns it on */
	return m->orphan || atomic_load(&g->status) != G_SYSCALL;
}

/*
 * Declare RAWTRAP_ALL if no M may run user code untrapped; ask: sysmon,
 * which asks those that may (now: its clock).  Any thread.
 */
static void all_trap(int64_t now, bool ask)
{
	if (atomic_load(&gmp_rawtrap) != RAWTRAP_SWITCHING || !atomic_load(&ordered))
		return;
	bool all = true;
	for (struct gmp_m *m = atomic_load(&gmp_sched.allm); m; m = m->alllink) {
		if (!untrapped(m))
			continue;
		all = false;
		if (!ask)
			return;
		if (now - m->sud_asked >= ASK_GAP_NS) {
			m->sud_asked = now;
			/* its handler turns it on: the preemption signal, which the kernel mask never blocks
			   (SIGSYS may be blocked there until the M turns trapping on) */
			gmp_sig_send_marked(m->tid, gmp_preempt_kbit ? GMP_SIGPREEMPT : SIGSYS, RAWTRAP_MARK, NULL);
		}
	}
	if (all)
		atomic_store(&gmp_rawtrap, RAWTRAP_ALL); /* trapped futex waits park from now on */
}

bool gmp_rawtrap_tick(int64_t now)
{
	if (GMP_UNLIKELY(atomic_load_explicit(&gmp_rawtrap_pending, memory_order_relaxed)) &&
	    atomic_load(&gmp_rawtrap) == RAWTRAP_OFF) {
		/* xwait.c's trapped waits allow only gmp's code, whose calls then go inline: none may be on */
		if (gmp_xwait_trapping())
			return false; /* at sysmon's own pace: such a wait may last */
		start();
	}
	if (GMP_LIKELY(atomic_load_explicit(&gmp_rawtrap, memory_order_relaxed) != RAWTRAP_SWITCHING))
		return false;
	all_trap(now, true);
	return atomic_load(&gmp_rawtrap) == RAWTRAP_SWITCHING;
}
