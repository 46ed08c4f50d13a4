/*
 * FS-base traps: thread-pointer switches by the unprivileged wrfsbase
 * instruction on kernels that do not save it.  On by default where they
 * apply (want_traps: GMP_FSBASE unset or auto); GMP_FSBASE=syscall turns
 * them off, trap forces them on.
 *
 * Every switch of an M from one G to another loads the new G's TCB into
 * the FS base.  Where the kernel enables FSGSBASE (AT_HWCAP2) that is
 * wrfsbase (~12 ns, arch/tls_x86_64.c).  Otherwise it is
 * arch_prctl(ARCH_SET_FS), a system call whose MSR write is a hypercall on
 * PVM guests: 3.4-5 us, half the CPU of a sched_yield benchmark.  On those
 * guests the CPU itself has CR4.FSGSBASE set, so wrfsbase runs, but the
 * guest kernel does not know: it never reads the FS base, and on every
 * context switch of the kernel thread it loads the value of the last
 * arch_prctl (thread.fsbase) back.  Measured: a value written by wrfsbase
 * survives system calls, signal delivery, timer interrupts and
 * sched_yield without a switch; it is replaced exactly once per
 * involuntary or voluntary context switch (6 of 6, 2 of 2 with ivcsw
 * counted beside it).
 *
 * So an armed M (gmp_fstrap_arm) sets thread.fsbase once, by arch_prctl,
 * to a trap address of its own, and from then on switches with wrfsbase.
 * After any context switch of its kernel thread the FS base is that
 * address, and the next TLS access (%fs:OFF, OFF from -1 GiB to +64 KiB)
 * faults: the trap addresses lie in a PROT_NONE reservation (address
 * space only) with a GiB below them.  Not 0, and one per M: a kernel that
 * sees the same base (0, or equal) in the task it leaves and the one it
 * switches to may skip the load, and the M would run on with the other
 * M's TCB (seen with 0: 9 of 20 runs of behaviour/tls_cpp corrupted).
 * The SIGSEGV handler, gmp's in this mode whatever the program installs
 * (the program's handler is kept here and called for every other
 * SIGSEGV), sees a trap address in the FS base, loads the TCB its M had
 * loaded (m->cur_tp: set_tp stores it before the wrfsbase) and returns:
 * the access runs again.  No TLS is used before that.  An M is found by
 * its kernel thread's tid in the current epoch: a parent's Ms in a fork
 * child, and Ms whose thread ended (epoch UINT32_MAX), may carry a tid
 * the kernel has given again.  After the system calls it makes for a G
 * (hand-offs, the I/O retry loop) gmp checks the FS base and loads the
 * TCB itself (gmp_fstrap_refresh): a few cycles instead of a trap, where
 * a call slept.
 *
 * fork: thread.fsbase is copied to the child, so gmp's last prepare step
 * makes it the TCB in use (gmp_fstrap_hold) and the parent and child
 * handlers arm again.  A vfork or posix_spawn child shares the parent's
 * memory and starts with the trap address: its trap loads the TCB of the
 * G whose stack it runs on (vfork), else the main thread's.
 *
 * SIGSEGV must never be blocked in the kernel while a trap can come (the
 * kernel would kill the process): gmp_kmask takes it out of every mask
 * gmp loads, preload/signal.c out of the handlers' masks and
 * preload/sched.c out of masks set outside a G; the trap handler runs
 * with every other signal blocked (one arriving in between would run its
 * handler with the trap address loaded) and gives a chained handler its
 * mask without SIGSEGV.  glibc blocks every signal itself around its
 * clones and in spawned children: gmp's own kernel threads are made by
 * gmp_kthread_create, and the program's system, posix_spawn(p), popen,
 * timer_create, mq_notify, aio_* and getaddrinfo_a (which start glibc's
 * helper threads) are wrapped (syscall-shims/handoff.c); around each, the
 * kernel's value is the TCB in use (gmp_fstrap_hold, then arm again).
 *
 * siglongjmp, setcontext and swapcontext restore a saved mask from a copy
 * without SIGSEGV (preload/sched.c).
 *
 * Limits (docs/fsbase-traps.md): a SIGSEGV action set by the bare
 * rt_sigaction system call after the first thread is found within 10 ms
 * (gmp_fstrap_check), not at once; a debugger attached later sees a
 * SIGSEGV per trap (scripts/gmp-gdb.py passes them on); ptrace and core
 * dumps report the trap address as an armed M's FS base.
 */
#include "runtime.h"

#include <asm/prctl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

bool gmp_fstrap;
uint64_t gmp_fstrap_kbit;

#define TRAP_BELOW (1UL << 30)  /* TLS offsets below the thread pointer that fault */
#define TRAP_STRIDE (64UL << 10) /* one trap address per M, and offsets above it */
#define TRAP_SLOTS 16384
static uintptr_t trap_lo, trap_hi; /* the reservation; the trap addresses are in its upper part */

/* The SIGSEGV action the program (or gmp's fatal-signal report) asked for; the kernel has fstrap_entry. */
static struct sigaction next_act;
static long install(void); /* the trap handler, on the alternate stack as next_act asks */
static gmp_lock_t next_lock;

/* Also where a build turns the stack protector on (gcc 11 knows the attribute; the runtime is built without it anyway). */
#if defined(__has_attribute) && __has_attribute(no_stack_protector)
#define NO_SSP __attribute__((no_stack_protector))
#else
#define NO_SSP
#endif

/* The calling kernel thread's M, by tid in this epoch, or NULL (not an M).  No TLS. */
static NO_SSP struct gmp_m *self_m(void)
{
	pid_t tid = (pid_t)gmp_sys0(SYS_gettid);
	for (struct gmp_m *m = atomic_load_explicit(&gmp_sched.allm, memory_order_acquire); m; m = m->alllink)
		if (m->tid == tid && m->epoch == gmp_sched.epoch)
			return m;
	return NULL;
}

/* The TCB a trap on this kernel thread loads.  No TLS: the FS base is the trap address. */
static NO_SSP void *trap_tcb(uintptr_t sp)
{
	struct gmp_m *m = self_m();
	if (m) {
		m->nfstrap++;
		void *tp = __atomic_load_n(&m->cur_tp, __ATOMIC_RELAXED);
		if (m->trapswitch == m->nfswrite && m->fsarmed) {
			/*
			 * A second trap with no switch of Gs since the last: the
			 * kernel switches this thread more often than gmp does (a
			 * G asleep in kernel calls gmp does not see, a CPU shared
			 * with other processes), so wrfsbase saves nothing here and
			 * each kernel switch costs a signal.  Disarm: the kernel's
			 * own value is the TCB again, until the next switch of Gs
			 * arms the M anew (set_tp).  An OpenMP program's threads in
			 * libgomp's futex waits took 15,000 traps and 0.35 s, now
			 * about 30 and 0.19 s (native 0.13 s).
			 */
			gmp_sys2(SYS_arch_prctl, ARCH_SET_FS, tp);
			m->fsarmed = false;
		}
		m->trapswitch = m->nfswrite;
		return tp;
	}
	/* a vfork or posix_spawn child: the G whose stack it runs on, else the main thread */
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink)
		if (g->stack.lo && sp >= (uintptr_t)g->stack.lo && sp < (uintptr_t)g->stack.lo + g->stack.size &&
		    g->tcb)
			return g->tcb;
	struct gmp_g *mg = atomic_load(&gmp_sched.maing);
	return mg ? mg->tcb : NULL;
}

/*
 * Emulate the kernel for a SIGSEGV that is not a trap: the action the
 * program asked for.  SIGSEGV stays blocked until the mask is set below,
 * and a switch may put the trap address back at any time: no TLS (no
 * stack protector) before that.
 */
static NO_SSP void chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction a = next_act; /* (a racing sigaction: this one or the last one, as in the kernel) */
	void *h = (a.sa_flags & SA_SIGINFO) ? (void *)a.sa_sigaction : (void *)a.sa_handler;
	if (h != (void *)SIG_DFL && h != (void *)SIG_IGN) {
		/*
		 * The mask the kernel would have given the handler, except
		 * SIGSEGV: a trap in it must not find SIGSEGV blocked (the
		 * kernel would kill the process).  rt_sigreturn restores the
		 * interrupted code's own.
		 */
		uint64_t k, extra;
		memcpy(&k, &((ucontext_t *)uc)->uc_sigmask, sizeof k);
		memcpy(&extra, &a.sa_mask, sizeof extra);
		k = (k | extra) & ~gmp_fstrap_kbit;
		gmp_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &k, NULL, 8);
		if (a.sa_flags & SA_SIGINFO)
			a.sa_sigaction(sig, si, uc);
		else
			a.sa_handler(sig);
		if (a.sa_flags & SA_RESETHAND) {
			gmp_lock(&next_lock);
			memset(&next_act, 0, sizeof next_act);
			gmp_unlock(&next_lock);
		}
		return;
	}
	/*
	 * Default action (a synchronous SIGSEGV cannot be ignored): the
	 * kernel's own, with the signal sent again; it stays blocked until
	 * this handler returns, and a fault would come back by itself.
	 */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	gmp_libc.sigaction(SIGSEGV, &dfl, NULL);
	gmp_sys3(SYS_tgkill, gmp_sys0(SYS_getpid), gmp_sys0(SYS_gettid), SIGSEGV);
}

static NO_SSP void fstrap_entry(int sig, siginfo_t *si, void *uc)
{
	uintptr_t fs = (uintptr_t)gmp_rdfsbase();
	if (GMP_LIKELY(fs >= trap_lo + TRAP_BELOW && fs < trap_hi)) {
		ucontext_t *u = uc;
		void *tp = trap_tcb((uintptr_t)u->uc_mcontext.gregs[REG_RSP]);
		if (tp) {
			gmp_wrfsbase(tp);
			/*
			 * A fault inside the reservation: the access runs
			 * again, with the TCB.  Otherwise the SIGSEGV is the
			 * program's with the TCB now loaded: one sent by kill or
			 * tgkill (si_code <= 0), or a fault of its own that came
			 * before any TLS access since the kernel switched.
			 */
			uintptr_t a = (uintptr_t)si->si_addr;
			if (si->si_code > 0 && a >= trap_lo && a < trap_hi)
				return;
		}
	}
	chain(sig, si, uc);
}

/* sigaction(SIGSEGV, act, old) while traps are on: the program's action is kept here. */
int gmp_fstrap_sigaction(const struct sigaction *act, struct sigaction *old)
{
	gmp_lock(&next_lock);
	if (old)
		*old = next_act;
	if (act) {
		bool moved = ((next_act.sa_flags ^ act->sa_flags) & SA_ONSTACK) != 0;
		next_act = *act;
		sigdelset(&next_act.sa_mask, SIGSEGV);
		if (moved && gmp_fstrap)
			install();
	}
	gmp_unlock(&next_lock);
	return 0;
}

/* Is a debugger (any ptrace tracer) attached?  /proc/self/status, by system calls: no stdio at init. */
static bool traced(void)
{
	char buf[2048];
	long fd = gmp_sys3(SYS_open, (long)"/proc/self/status", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return false;
	long n = gmp_sys3(SYS_read, fd, (long)buf, sizeof buf - 1);
	gmp_sys1(SYS_close, fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	const char *t = strstr(buf, "TracerPid:");
	if (!t)
		return false;
	t += strlen("TracerPid:");
	while (*t == ' ' || *t == '\t')
		t++;
	return *t >= '1' && *t <= '9';
}

/*
 * A sanitizer runtime in the process (ASan, TSan, MSan, HWASan, LSan)
 * installs its own SIGSEGV handler with the kernel's rt_sigaction, which
 * would take the trap handler away.  UBSan's standalone runtime does not.
 */
static bool sanitizer_runtime(void)
{
	static const char *const init[] = {"__asan_init", "__tsan_init", "__msan_init", "__hwasan_init",
					   "__lsan_init"};
	for (size_t i = 0; i < sizeof init / sizeof init[0]; i++)
		if (dlsym(RTLD_DEFAULT, init[i]))
			return true;
	return false;
}

/*
 * GMP_FSBASE: unset, empty or "auto" (the default) arms where the CPU
 * allows it and nothing in the process would take SIGSEGV from gmp: no
 * debugger attached at start-up (each ptrace stop is a context switch, so
 * every trap would be a SIGSEGV stop in it), no sanitizer runtime; "trap"
 * arms wherever the CPU allows it; anything else ("syscall") never arms.
 */
static bool want_traps(void)
{
	const char *e = getenv("GMP_FSBASE");
	if (e && *e && strcmp(e, "auto") != 0 && strcmp(e, "trap") != 0)
		return false;
	if (gmp_arch_has_fast_fs() || !gmp_arch_cpu_fsgsbase())
		return false; /* wrfsbase is the kernel's own switch, or there is no wrfsbase */
	return (e && strcmp(e, "trap") == 0) || (!traced() && !sanitizer_runtime());
}

/*
 * The trap handler, with every other signal blocked while it runs: one
 * that came in between would run its handler with the trap address
 * loaded, and a trap there, with SIGSEGV blocked, would kill the process.
 * The kernel's call, not glibc's sigaction, which leaves glibc's SIGCANCEL
 * out of every mask (a cancellation interrupted the handler so: 1 run in
 * 5 of behaviour/cancel_async/p4).  On the alternate stack only when the
 * action kept for the program asks for it: the handler it chains to must
 * run where the kernel would run it.  (A JVM's handler, run on the M's
 * signal stack, switched its G away from there, and the G came back later
 * to a reused stack: a jump to 0, 3 runs in 4 of a Java program.)
 */
static long install(void)
{
	unsigned long onstack = (unsigned long)(next_act.sa_flags & SA_ONSTACK);
	struct ksigaction ka = {(void *)fstrap_entry, SA_SIGINFO | onstack | SA_RESTART | SA_RESTORER,
				gmp_sig_restorer, ~0ULL};
	return gmp_sys4(SYS_rt_sigaction, SIGSEGV, &ka, NULL, 8);
}

void gmp_fstrap_restorer_moved(void)
{
	struct ksigaction cur;
	if (gmp_fstrap && gmp_sys4(SYS_rt_sigaction, SIGSEGV, NULL, &cur, 8) == 0 && cur.handler == (void *)fstrap_entry)
		install();
}

/*
 * When an M is first armed, and from sysmon every 10 ms: a program that
 * set SIGSEGV's action with the kernel's rt_sigaction (not sigaction,
 * signal or syscall(), which gmp interposes) took the trap handler away.
 * Its action becomes the program's, called for every SIGSEGV that is not
 * a trap, and the trap handler is installed again.  An action set so
 * before the program's first thread is found before any trap can come
 * (m0 is armed at its first switch); one set later leaves a window of up
 * to 10 ms in which a trap reaches the program's handler
 * (docs/fsbase-traps.md).
 */
void gmp_fstrap_check(void)
{
	struct ksigaction cur;
	if (!gmp_fstrap || gmp_sys4(SYS_rt_sigaction, SIGSEGV, NULL, &cur, 8) != 0 ||
	    cur.handler == (void *)fstrap_entry)
		return;
	gmp_fstrap_ksigaction(&cur, NULL, 8);
	install();
}

/*
 * rt_sigaction(SIGSEGV, act, old, size) in the kernel's format (the
 * program's syscall(), or an action found installed): kept as the
 * program's.  The old action is given back in the same format, with the
 * restorer the program's own libc would have set (glibc's __restore_rt is
 * not the program's to call, and a handler it installs gets ours).
 * Returns 0 or -errno.
 */
long gmp_fstrap_ksigaction(const struct ksigaction *act, struct ksigaction *old, size_t size)
{
	if (size != 8)
		return -EINVAL;
	struct sigaction a, o;
	memset(&a, 0, sizeof a);
	if (act) {
		struct ksigaction k;
		memcpy(&k, act, sizeof k);
		a.sa_handler = (void (*)(int))k.handler; /* the same word as sa_sigaction */
		a.sa_flags = (int)(k.flags & ~(unsigned long)SA_RESTORER);
		memcpy(&a.sa_mask, &k.mask, sizeof k.mask);
	}
	gmp_fstrap_sigaction(act ? &a : NULL, &o);
	if (old) {
		struct ksigaction k = {(void *)o.sa_handler, (unsigned long)(unsigned)o.sa_flags | SA_RESTORER,
				       (void *)gmp_sigreturn, 0};
		memcpy(&k.mask, &o.sa_mask, sizeof k.mask);
		memcpy(old, &k, sizeof k);
	}
	return 0;
}

void gmp_fstrap_init(void)
{
	if (!want_traps())
		return;
	size_t len = TRAP_BELOW + TRAP_SLOTS * TRAP_STRIDE;
	long r = gmp_sys6(SYS_mmap, 0, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if ((unsigned long)r > -4096UL)
		return;
	trap_lo = (uintptr_t)r;
	trap_hi = trap_lo + len;
	/* keep what is installed now (SIG_DFL at start-up, normally) as the program's */
	if (gmp_libc.sigaction(SIGSEGV, NULL, &next_act) != 0)
		return;
	if (install() != 0)
		return;
	gmp_fstrap = true;
	gmp_fstrap_kbit = 1ULL << (SIGSEGV - 1);
	gmp_arch_set_fs_wrfsbase();
}

/*
 * Ms other than m0 are armed when they start (gmp_mstart); m0 at its first
 * switch (set_tp), so that a program that never makes a thread never takes
 * a trap.  Returns 0 (set_tp's convention).
 */
int gmp_fstrap_arm(struct gmp_m *m)
{
	if (!gmp_fstrap)
		return 0;
	if (!m->fsarmed)
		gmp_fstrap_check();
	m->fsarmed = true;
	void *tp = m->cur_tp;
	/* the trap address now, then the TCB again: no TLS in between */
	gmp_sys2(SYS_arch_prctl, ARCH_SET_FS, trap_lo + TRAP_BELOW + (m->id % TRAP_SLOTS) * TRAP_STRIDE);
	gmp_wrfsbase(tp);
	return 0;
}

/*
 * Around a glibc call that blocks every signal while it may sleep in the
 * kernel (pthread_create, for a new M's kernel thread): a trap with
 * SIGSEGV blocked would kill the process, so thread.fsbase is the TCB in
 * use meanwhile.  Returns the M to arm again after, or NULL.
 */
struct gmp_m *gmp_fstrap_hold(void)
{
	if (!gmp_fstrap)
		return NULL;
	struct gmp_m *m = self_m(); /* NULL: not an M (sysmon), never armed */
	if (m && !m->fsarmed)
		return NULL;
	if (m) /* m->cur_tp, not the FS base: that may be the trap address, after a switch not yet trapped */
		gmp_sys2(SYS_arch_prctl, ARCH_SET_FS, m->cur_tp);
	return m;
}

/*
 * Load tp on whatever thread calls (the crash and dump reports borrow
 * TCBs): on an armed M a trap must bring back tp, not the G's TCB, so it
 * becomes m->cur_tp; any other thread is not armed and gets arch_prctl.
 */
int gmp_set_tp_any(void *tp)
{
	if (!gmp_fstrap)
		return gmp_arch_set_tp(tp);
	struct gmp_m *m = self_m();
	if (!m || !m->fsarmed)
		return (int)gmp_sys2(SYS_arch_prctl, ARCH_SET_FS, tp);
	__atomic_store_n(&m->cur_tp, tp, __ATOMIC_RELAXED);
	__asm__ volatile("" ::: "memory");
	gmp_wrfsbase(tp);
	return 0;
}

/* glibc's pthread_create for a kernel thread of gmp's (an M, sysmon, the trace writer), held as above. */
int gmp_kthread_create(pthread_t *th, void *(*fn)(void *), void *arg)
{
	struct gmp_m *held = gmp_fstrap_hold();
	int err = gmp_libc.pthread_create(th, NULL, fn, arg);
	if (held)
		gmp_fstrap_arm(held);
	return -err;
}

/* Around fork: the child gets thread.fsbase, which must be this TCB then.  The G cannot move meanwhile. */
void gmp_fstrap_fork_prepare(void) { (void)gmp_fstrap_hold(); }
