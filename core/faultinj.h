/*
 * Fault injection (meson -Dfaultinj=true; off by default, and then every
 * GMP_FAULT(point) is the constant 0 and costs nothing).
 *
 * Every allocation and kernel call of the runtime that can fail is guarded
 * by one GMP_FAULT(point) in front of it:
 *
 *     void *map = GMP_FAULT(STACK_MMAP) ? NULL : rawmmap(...);
 *
 * A true GMP_FAULT makes the caller take its failure path, with the value
 * the real call returns on failure.  Which call fails is chosen by the
 * environment (read once, on the first point):
 *
 *   GMP_FAULT=N          the Nth point passed, counted over all points, fails
 *   GMP_FAULT=NAME:N     the Nth pass through point NAME fails (names below,
 *                        lower case: stack_mmap, m_clone, ...)
 *   GMP_FAULT_REPORT=1   at exit print "gmp: faultinj: K points" and the
 *                        count per point on stderr
 *
 * One call fails; the ones after it succeed again.  The failure itself is
 * reported on stderr as "gmp: faultinj: failing point N (NAME)", with
 * "at start-up" when the runtime was not initialised yet.  Safe on g0: no
 * TLS, no errno, no malloc (atomics and raw write only).
 */
#ifndef GMP_CORE_FAULTINJ_H
#define GMP_CORE_FAULTINJ_H

#include <stdbool.h>

#define GMP_FAULT_POINTS(X)                                                                        \
	X(G_SLAB)          /* thread.c: mmap of a slab of G structs */                                 \
	X(TCB_CELL)        /* tcb.c: mmap of a chunk of TCB cells */                                   \
	X(TCB_DTV)         /* tcb.c: _dl_allocate_tls (the DTV, malloc in ld.so) */                    \
	X(STACK_MMAP)      /* stack.c: mmap of a thread stack */                                       \
	X(STACK_GUARD)     /* stack.c: its guard (madvise or mprotect) */                                  \
	X(M_ALLOC)         /* init.c: mmap of an M struct */                                           \
	X(M_CLONE)         /* sched.c: pthread_create of a new M's kernel thread */                    \
	X(SYSMON_CLONE)    /* sysmon.c: pthread_create of sysmon */                                    \
	X(EPOLL_CREATE)    /* netpoll_epoll.c: the poller's epoll_create1 */                           \
	X(EVENTFD)         /* netpoll_epoll.c: the poller's eventfd */                                 \
	X(FD_PAGE)         /* netpoll.c: mmap of a page of fd records */                               \
	X(TIMER_GROW)      /* timer.c: mmap/mremap of a P's timer heap */                              \
	X(KEY_BLOCK)       /* key.c: calloc of a block of thread-specific values */                    \
	X(SIGWAIT_TAKER)   /* sigwait.c: pthread_create of the taker (sigwait blocks in the kernel) */

enum gmp_fault_point {
#define GMP_FAULT_ENUM(name) GMP_FP_##name,
	GMP_FAULT_POINTS(GMP_FAULT_ENUM)
#undef GMP_FAULT_ENUM
	GMP_FP_N
};

#ifdef GMP_FAULTINJ
bool gmp_fault_hit(enum gmp_fault_point pt) __attribute__((visibility("hidden")));
#define GMP_FAULT(point) __builtin_expect(gmp_fault_hit(GMP_FP_##point), 0)
#else
#define GMP_FAULT(point) 0
#endif

#endif
