/*
 * Shared by the syscall shims: the two ways a G makes a kernel call that
 * may block (docs/design.md §8).
 *
 *   park:     pollable fds gmp manages are non-blocking underneath; on
 *             EAGAIN the G parks on the netpoller and retries when ready.
 *   hand-off: anything else runs on this M inside entersyscall/exitsyscall,
 *             so sysmon can give the P to another M while the call blocks.
 *
 * Shims convert core's -errno results to the libc convention at the end.
 */
#ifndef GMP_SHIM_H
#define GMP_SHIM_H

#include "../core/netpoll.h"
#include "../preload/export.h"

#include <errno.h>
#include <pthread.h>


/* In a vfork child (core/fork.c): the plain system call, touching no runtime state. */
#define SHIM_VFORK_RAW(nr, a, b, c, d)                                                   \
	do {                                                                             \
		if (GMP_UNLIKELY(gmp_vforked()))                                          \
			return shim_ret(gmp_syscall6(nr, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)); \
	} while (0)

/* A raw system call with hand-off when the caller is a G (not a cancellation point: futex); returns -errno. */
static inline long shim_handoff_raw(long nr, long a, long b, long c, long d, long e, long f)
{
	struct gmp_g *g = gmp_getg();
	if (!g)
		return gmp_syscall6(nr, a, b, c, d, e, f);
	gmp_entersyscall(g);
	long r = gmp_syscall6(nr, a, b, c, d, e, f);
	gmp_exitsyscall(g);
	return r;
}

/*
 * A call that may block in the kernel and is a cancellation point (read,
 * openat, accept4, poll, fcntl F_SETLKW, ...), made through glibc's own
 * function with hand-off when the caller is a G: glibc's cancellation
 * protocol, whichever this glibc has (asynchronous cancellation around the
 * call up to 2.40, the system-call bridge since 2.41), then applies to it as
 * natively, for a G and for a kernel thread gmp did not create.  A raw
 * system call there is not cancellable: a thread blocked in it never acted
 * on pthread_cancel.  Numbers without a glibc function here are made raw.
 * Returns -errno (handoff.c).
 */
long shim_cancelpoint(long nr, long a, long b, long c, long d, long e, long f) GMP_HIDDEN;

/* The same, with the libc convention (errno, -1). */
static inline long shim_handoff6(long nr, long a, long b, long c, long d, long e, long f)
{
	return shim_ret(shim_cancelpoint(nr, a, b, c, d, e, f));
}



/*
 * After a parked call ended with -EINTR (a handler ran): is it restarted?
 * As the kernel: yes when every handler had SA_RESTART, except for socket
 * calls with a receive/send timeout (signal(7)).
 */
static inline bool shim_restart(int64_t timeout)
{
	struct gmp_g *g = gmp_getg();
	return timeout <= 0 && g && !g->sig_norestart;
}

/*
 * A G locked to its kernel thread (core/lockedm.c: a CPU affinity of its
 * own, setns, a robust mutex) waits for its fds in the kernel as
 * natively, through glibc's call (cancellable), not parked and without a
 * spin first (gmp_io_spin): its M can run no other G, so a park only adds
 * the M's futex sleep and, at the event, the poller's wake-up and the
 * hand-over of a P to this M, two wake-ups where the kernel's own wait
 * costs one; and a spin burns a CPU that another thread may need.  The
 * call is tried without waiting first (epoll_wait, poll and select with a
 * zero timeout, a read or write non-blocking), then made in the kernel
 * (a read or write as a poll of its fd, then again): a loop whose waits
 * all return at once stays in user state, where sysmon preempts it for
 * the others, instead of handing its P over at every call.  Made as
 * kernel calls at once, memcaslap's two pinned threads, spinning through
 * epoll_wait on writable sockets at the end of a run, held both Ps for up
 * to 28 s while main's timer waited (sysmon then saw each call as a new
 * slice; it now stops such loops too, core/sysmon.c overdue).  memcaslap pins each of its threads to a CPU: parked,
 * 13-37k M sleeps per 200k requests; with a spin before each kernel wait,
 * 9-10 us of CPU a request (native 8).
 */
static inline bool shim_wait_in_kernel(void)
{
	struct gmp_g *g = gmp_getg();
	return g && g->lockedm;
}

/* poll's timeout for a deadline (monotonic ns, -1 none): the milliseconds left, rounded up. */
static inline int shim_ms_left(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - gmp_nanotime();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

long gmp_shim_io(int fd, int mode, long nr, long a, long b, long c, long d, long e, long f) GMP_HIDDEN;

/* escape.c: calls that take a forced pipe past the shims (core/netpoll.h). */
struct msghdr;
void gmp_shim_unforce_passed(const struct msghdr *mh) GMP_HIDDEN; /* SCM_RIGHTS descriptors */
/* syscall(2): true if it made the call (*ret in libc convention); else gave back what it reaches. */
bool gmp_shim_syscall_escape(long n, long a, long b, long c, long d, long e, long f, long *ret) GMP_HIDDEN;
#endif
