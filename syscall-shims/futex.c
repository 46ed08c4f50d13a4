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

static long shim_kernel(long n, long a, long b, long c, long d, long e, long f)
{
	return shim_ret(gmp_syscall6(n, a, b, c, d, e, f));
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
		return shim_ret(shim_handoff_raw(SYS_futex, a, b, c, d, e, f));
	return shim_kernel(SYS_futex, a, b, c, d, e, f);
}

static long futex(long a, long b, long c, long d, long e, long f)
{
	_Atomic uint32_t *uaddr = (_Atomic uint32_t *)a;
	int op = (int)b, cmd = op & FUTEX_CMD_MASK;
	uint32_t val = (uint32_t)c;
	if (!(op & FUTEX_PRIVATE_FLAG) || !gmp_inited)
		return futex_kernel(cmd, a, b, c, d, e, f);
	if ((uintptr_t)uaddr & 3)
		return shim_ret(-EINVAL);
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
				return shim_ret(-EINVAL);
		}
		int r;
		do /* as the kernel: an untimed wait is restarted after SA_RESTART handlers */
			r = gmp_futex_wait(uaddr, val, bits, deadline, CLOCK_MONOTONIC, WR_FUTEX);
		while (r == -EINTR && !ts && shim_restart(0));
		return r ? shim_ret(r) : 0;
	}
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET: {
		uint32_t bits = cmd == FUTEX_WAKE ? GMP_FUTEX_BITSET_ANY : (uint32_t)f;
		if (bits == 0)
			return shim_ret(-EINVAL);
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
		return r < 0 ? shim_ret(r) : r;
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

GMP_EXPORT long syscall(long n, ...)
{
	va_list ap;
	va_start(ap, n);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	if (n == SYS_futex)
		return futex(a, b, c, d, e, f);
	if (n == SYS_rt_sigaction && a == SIGSEGV && gmp_fstrap) /* FS-base traps: the kernel's stays gmp's */
		return shim_ret(gmp_fstrap_ksigaction((const struct ksigaction *)b, (struct ksigaction *)c, (size_t)d));
	long r;
	if (gmp_shim_syscall_escape(n, a, b, c, d, e, f, &r))
		return r;
	if (never_blocks(n))
		return shim_kernel(n, a, b, c, d, e, f);
	/* Any other number may block: hand-off when a G makes it. */
	return shim_ret(shim_handoff_raw(n, a, b, c, d, e, f));
}
