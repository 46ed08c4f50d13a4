/*
 * syscall(2) and the futex system call.
 *
 * Private futex operations on the runtime's wait queues, with the kernel's
 * semantics (value check, bitsets, relative timeouts on CLOCK_MONOTONIC,
 * absolute ones with FUTEX_CLOCK_REALTIME or not, EAGAIN / ETIMEDOUT).
 * This is how Rust's std, C++20 atomic::wait and hand-written locks block.
 * A wake that finds fewer waiters here than asked also wakes kernel-side
 * waiters (threads that waited before gmp started, or through a path gmp
 * does not see).  Shared futexes and PI/robust operations go to the
 * kernel.  Every other system call number goes to the kernel: with
 * hand-off, unless it is known never to block.
 */
#include "shim.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <sys/syscall.h>

#ifndef FUTEX_LOCK_PI2
#define FUTEX_LOCK_PI2 13 /* Linux 5.14; older kernel headers lack it */
#endif

/*
 * Calls that never block go straight to the kernel, without a hand-off:
 * besides being cheaper, nothing can move the G to another kernel thread
 * between them and the next call, so sequences that read and restore
 * per-kernel-thread state (gettid, set_tid_address, the robust list,
 * prctl) see one kernel thread, as natively.
 */
static bool never_blocks(long n)
{
	switch (n) {
	case SYS_gettid:
	case SYS_getpid:
	case SYS_getppid:
	case SYS_set_tid_address:
	case SYS_set_robust_list:
	case SYS_get_robust_list:
	case SYS_prctl:
	case SYS_getcpu:
	case SYS_clock_gettime:
	case SYS_clock_getres:
	case SYS_gettimeofday:
	case SYS_sched_getaffinity:
	case SYS_sched_yield:
	case SYS_getrusage:
	case SYS_getuid:
	case SYS_geteuid:
	case SYS_getgid:
	case SYS_getegid:
	case SYS_tgkill:
	case SYS_tkill:
	case SYS_kill:
	case SYS_membarrier:
	case SYS_rseq:
	case SYS_getrandom:
	case SYS_madvise:
	case SYS_mprotect:
	case SYS_mmap:
	case SYS_munmap:
	case SYS_brk:
	case SYS_uname:
		return true;
	}
	return false;
}

/* FUTEX_WAKE_OP's operation on *uaddr2; returns the old value. */
static bool wake_op(_Atomic uint32_t *u2, uint32_t enc)
{
	uint32_t op = (enc >> 28) & 7, cmp = (enc >> 24) & 15;
	uint32_t oparg = (enc >> 12) & 0xfff, cmparg = enc & 0xfff;
	if (enc & ((uint32_t)FUTEX_OP_OPARG_SHIFT << 28))
		oparg = 1u << (oparg & 31);
	uint32_t old = atomic_load(u2), nv;
	do {
		switch (op) {
		case FUTEX_OP_SET: nv = oparg; break;
		case FUTEX_OP_ADD: nv = old + oparg; break;
		case FUTEX_OP_OR: nv = old | oparg; break;
		case FUTEX_OP_ANDN: nv = old & ~oparg; break;
		case FUTEX_OP_XOR: nv = old ^ oparg; break;
		default: nv = old; break;
		}
	} while (!atomic_compare_exchange_weak(u2, &old, nv));
	int32_t o = (int32_t)old, a = (int32_t)cmparg;
	switch (cmp) {
	case FUTEX_OP_CMP_EQ: return o == a;
	case FUTEX_OP_CMP_NE: return o != a;
	case FUTEX_OP_CMP_LT: return o < a;
	case FUTEX_OP_CMP_LE: return o <= a;
	case FUTEX_OP_CMP_GT: return o > a;
	case FUTEX_OP_CMP_GE: return o >= a;
	}
	return false;
}

/* Operations that may sleep in the kernel. */
static bool may_sleep(int cmd)
{
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
	case FUTEX_LOCK_PI:
	case FUTEX_LOCK_PI2:
	case FUTEX_WAIT_REQUEUE_PI:
		return true;
	}
	return false;
}

/*
 * An operation for the kernel: with hand-off when it may sleep, so that
 * the P goes to another M after a kernel call's slice (~20 us), not after
 * a user time slice (10 ms: sysmon sees a G in user code).  libstdc++'s
 * static-initialisation guards and old binaries wait on shared futexes.
 */
static long futex_kernel(int cmd, long a, long b, long c, long d, long e, long f)
{
	if (may_sleep(cmd))
		return shim_handoff_raw(SYS_futex, a, b, c, d, e, f);
	return gmp_syscall6(SYS_futex, a, b, c, d, e, f);
}

/*
 * The futex call, -errno on failure.  park (RAWCALL_*): how a wait waits.
 * On gmp's table where every waker is seen (syscall(2), and raw calls
 * once every kernel thread traps them, core/rawtrap.c); through a watcher
 * that also takes the kernel's wake-ups while some kernel thread may
 * still make raw wakes untrapped (core/xwait.c); in the kernel where the
 * G may not park (a handler on an alternate stack).
 */
static long futex(long a, long b, long c, long d, long e, long f, int park)
{
	_Atomic uint32_t *uaddr = (_Atomic uint32_t *)a;
	int op = (int)b, cmd = op & FUTEX_CMD_MASK;
	uint32_t val = (uint32_t)c;
	bool wait_any = cmd == FUTEX_WAIT || (cmd == FUTEX_WAIT_BITSET && (uint32_t)f == GMP_FUTEX_BITSET_ANY);
	if (!(op & FUTEX_PRIVATE_FLAG) || !gmp_inited ||
	    (park != RAWCALL_PARK && cmd != FUTEX_WAKE && cmd != FUTEX_WAKE_BITSET && !(park == RAWCALL_WATCH && wait_any)))
		return futex_kernel(cmd, a, b, c, d, e, f); /* (not parking: its waiters wait in the kernel) */
	if ((uintptr_t)uaddr & 3)
		return -EINVAL;
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET: {
		const struct timespec *ts = (const struct timespec *)d;
		uint32_t bits = cmd == FUTEX_WAIT ? GMP_FUTEX_BITSET_ANY : (uint32_t)f;
		int64_t deadline = -1;
		if (ts) {
			bool absolute = cmd == FUTEX_WAIT_BITSET;
			clockid_t clk = (op & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC;
			deadline = gmp_deadline_from(ts, clk, absolute);
			if (deadline < 0)
				return -EINVAL;
		}
		long r;
		do /* as the kernel: an untimed wait is restarted after SA_RESTART handlers */
			r = park == RAWCALL_WATCH ? gmp_xwait_park(uaddr, val, true, deadline)
						  : gmp_futex_wait(uaddr, val, bits, deadline, CLOCK_MONOTONIC, WR_FUTEX);
		while (r == -EINTR && !ts && shim_restart(0));
		if (r == 1)
			return futex_kernel(cmd, a, b, c, d, e, f); /* every watcher slot taken */
		return r;
	}
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET: {
		uint32_t bits = cmd == FUTEX_WAKE ? GMP_FUTEX_BITSET_ANY : (uint32_t)f;
		if (bits == 0)
			return -EINVAL;
		int n = (int)val, woken = gmp_futex_wake(uaddr, n, bits);
		if (woken < n) {
			long k = gmp_syscall6(SYS_futex, a, b, n - woken, d, e, f);
			if (k > 0)
				woken += (int)k;
		}
		return woken;
	}
	case FUTEX_REQUEUE:
	case FUTEX_CMP_REQUEUE: {
		uint32_t cmpv = (uint32_t)f;
		int r = gmp_futex_requeue(uaddr, (int)val, (_Atomic uint32_t *)e, (int)d,
					  cmd == FUTEX_CMP_REQUEUE ? &cmpv : NULL);
		return r;
	}
	case FUTEX_WAKE_OP: {
		_Atomic uint32_t *u2 = (_Atomic uint32_t *)e;
		bool hit = wake_op(u2, (uint32_t)f);
		int n = gmp_futex_wake(uaddr, (int)val, GMP_FUTEX_BITSET_ANY);
		if (hit)
			n += gmp_futex_wake(u2, (int)d, GMP_FUTEX_BITSET_ANY);
		return n;
	}
	default:
		return futex_kernel(cmd, a, b, c, d, e, f); /* PI and robust operations */
	}
}

/* The calls syscall(2) does not pass to the forced-pipe escape; -errno. */
static long plain(long n, long a, long b, long c, long d, long e, long f)
{
	if (GMP_UNLIKELY(n == SYS_rt_sigaction && a == SIGSYS && b)) {
		gmp_rawtrap_sigsys_changing(); /* as preload/signal.c's sigaction */
		long r = gmp_syscall6(n, a, b, c, d, e, f);
		gmp_rawtrap_sigsys_changed();
		return r;
	}
	if (never_blocks(n))
		return gmp_syscall6(n, a, b, c, d, e, f);
	/* Any other number may block: hand-off when a G makes it. */
	return shim_handoff_raw(n, a, b, c, d, e, f);
}

GMP_EXPORT long syscall(long n, ...)
{
	va_list ap;
	va_start(ap, n);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	if (n == SYS_futex)
		return shim_ret(futex(a, b, c, d, e, f, RAWCALL_PARK));
	if (n == SYS_rt_sigaction && a == SIGSEGV && gmp_fstrap) /* FS-base traps: the kernel's stays gmp's */
		return shim_ret(gmp_fstrap_ksigaction((const struct ksigaction *)b, (struct ksigaction *)c, (size_t)d));
	long r;
	if (gmp_shim_syscall_escape(n, a, b, c, d, e, f, &r))
		return r;
	return shim_ret(plain(n, a, b, c, d, e, f));
}

/*
 * A raw system call from outside glibc, trapped (core/rawtrap.c), in its
 * SIGSYS handler on the G's stack: made as syscall(2) makes it; -errno.
 * The interrupted code's errno is the caller's to keep.
 */
static long trapped(long n, const long x[6], int park)
{
	if (n == SYS_futex)
		return futex(x[0], x[1], x[2], x[3], x[4], x[5], park);
	if (n == SYS_rt_sigaction && x[0] == SIGSEGV && gmp_fstrap)
		return gmp_fstrap_ksigaction((const struct ksigaction *)x[1], (struct ksigaction *)x[2], (size_t)x[3]);
	long r;
	if (gmp_shim_syscall_escape(n, x[0], x[1], x[2], x[3], x[4], x[5], &r))
		return r == -1 ? -errno : r;
	return plain(n, x[0], x[1], x[2], x[3], x[4], x[5]);
}

__attribute__((constructor)) static void trapped_register(void) { gmp_rawtrap_call = trapped; }
