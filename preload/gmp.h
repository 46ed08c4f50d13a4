/*
 * gmp.h: the small public API of gmp (live scheduler statistics and a
 * thread dump).  C and C++.
 *
 * These functions exist only in libgmp_preload.so.  A program that may also
 * run natively must not link against them: it looks them up at run time,
 * and a NULL from dlsym means "not running under gmp":
 *
 *     #include <dlfcn.h>
 *     #include <gmp.h>
 *
 *     int (*stats)(struct gmp_stats *, size_t) =
 *             (int (*)(struct gmp_stats *, size_t))dlsym(RTLD_DEFAULT, "gmp_stats");
 *     struct gmp_stats s;
 *     if (stats && stats(&s, sizeof s) == 0)
 *             printf("%u user threads on %u kernel threads\n", s.threads, s.ms);
 *
 * (RTLD_DEFAULT needs _GNU_SOURCE; link with -ldl on glibc before 2.34.)
 *
 * The structure only grows: new fields are appended.  The caller passes
 * sizeof of the structure it was compiled with; the library fills what both
 * know, zeroes the rest, and reports in `size` how many bytes it filled.
 */
#ifndef GMP_H
#define GMP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GMP_STATS_MAXP 64  /* local_runq[] and p_status[] cover the first 64 Ps */
#define GMP_STATS_NWAIT 16 /* room in waiting_by[] for wait reasons */

/* Why a parked thread waits: index into gmp_stats.waiting_by[]. */
enum gmp_wait_reason {
	GMP_WAIT_OTHER = 0, /* none recorded */
	GMP_WAIT_JOIN,      /* pthread_join, thrd_join */
	GMP_WAIT_MUTEX,     /* mutexes, C11 mtx, spin locks that yield */
	GMP_WAIT_COND,      /* condition variables */
	GMP_WAIT_RWLOCK,
	GMP_WAIT_SEM,       /* semaphores */
	GMP_WAIT_BARRIER,
	GMP_WAIT_FUTEX,     /* syscall(SYS_futex) */
	GMP_WAIT_ONCE,      /* pthread_once, call_once */
	GMP_WAIT_SLEEP,     /* sleep, nanosleep, ... */
	GMP_WAIT_YIELD,
	GMP_WAIT_NETPOLL,   /* I/O on a pipe or socket, poll, select, epoll_wait */
	GMP_WAIT_SYSCALL,
	GMP_WAIT_SIGNAL,    /* sigwait, sigwaitinfo, sigtimedwait (since 0.11) */
	GMP_WAIT_NREASONS
};

/* A P's state: gmp_stats.p_status[]. */
enum gmp_p_status {
	GMP_P_IDLE = 0,    /* no kernel thread runs it */
	GMP_P_RUNNING = 1, /* its kernel thread is in the scheduler */
	GMP_P_USER = 2,    /* its kernel thread runs a user thread */
	GMP_P_SYSCALL = 3  /* its kernel thread is in a kernel call (hand-off) */
};

/*
 * A snapshot of the scheduler.  Fields are read without stopping the
 * program, so counts taken together may disagree by a thread or two.
 * Counters (the uint64_t fields) only grow while the process lives.
 */
struct gmp_stats {
	uint32_t size;        /* bytes filled by the library */
	uint32_t nprocs;      /* Ps (GMP_MAXPROCS) */
	uint32_t procs_idle;  /* Ps nobody runs */
	uint32_t ms;          /* kernel threads of the scheduler (Ms), sysmon not included */
	uint32_t ms_idle;     /* Ms asleep, waiting for work */
	uint32_t ms_spinning; /* Ms looking for work */
	uint32_t ms_syscall;  /* Ms blocked in a kernel call for their thread (hand-off) */
	uint32_t threads;     /* live user threads (Gs), main included */
	uint32_t running;     /* user threads running on an M */
	uint32_t runnable;    /* user threads waiting for a P */
	uint32_t syscall;     /* user threads in a kernel call */
	uint32_t waiting;     /* parked user threads */
	uint32_t waiting_by[GMP_STATS_NWAIT]; /* parked, by enum gmp_wait_reason */
	uint32_t global_runq;                 /* Gs on the global run queue */
	uint32_t local_runq[GMP_STATS_MAXP];  /* Gs on each P's local queue (runnext included) */
	uint8_t p_status[GMP_STATS_MAXP];     /* enum gmp_p_status of each P */
	uint64_t created;     /* user threads created, main included */
	uint64_t switches;    /* times a thread was started on an M (sum of per-P 32-bit ticks) */
	uint64_t steals;      /* threads taken from another P's queue */
	uint64_t handoffs;    /* Ps handed to another M (sysmon retakes, lost Ps) */
	uint64_t retakes;     /* Ps sysmon took from a thread in user code or a kernel call, or a woken
	                         poller thread from one waiting in the kernel with nothing else to run */
	uint64_t syscalls;    /* kernel calls made with hand-off (sum of per-P 32-bit ticks) */
	int64_t time_ns;      /* CLOCK_MONOTONIC time of the snapshot */
	/* Since 0.2: what switches cost where FS writes are system calls. */
	uint64_t fs_writes;   /* thread-pointer (FS base) writes: a user thread run on another M than
	                         the TCB loaded there (a system call without FSGSBASE) */
	uint64_t spins;       /* times a kernel thread with no work spun before sleeping */
	uint64_t spin_wins;   /* spins that found work */
	uint64_t direct_handoffs; /* threads handed to the spinning kernel thread that ran them last */
	uint64_t m_sleeps;    /* times a kernel thread of the scheduler slept for lack of work */
	uint64_t io_spins;    /* blocking I/O calls retried in place instead of parking */
	uint64_t io_spin_wins; /* of them, those that completed without parking */
	/* Since 0.3 */
	uint64_t polls;       /* netpoller waits (epoll_wait calls), blocking or not */
	uint64_t poll_ready;  /* threads those polls made runnable (polls / poll_ready: events per system call) */
	/* Since 0.4 */
	uint64_t preemptions;     /* threads stopped by sysmon's signal after a time slice (GMP_PREEMPT) */
	uint64_t preempt_handoffs; /* slices where that failed (a kernel call gmp does not see, a long
	                              loop inside glibc): the P was handed to another kernel thread */
	/* Since 0.5 */
	uint64_t fs_traps;    /* FS-base traps (GMP_FSBASE): TCBs loaded again after the kernel switched a
	                         kernel thread whose FS writes are wrfsbase; 0 where writes are system calls */
	/* Since 0.6 */
	uint64_t unseen_handoffs; /* Ps taken from threads asleep in kernel calls gmp does not see (raw
	                             syscall instructions, glibc's internal locks), before their slice ended */
	/* Since 0.7 */
	uint64_t sysmon_wakes; /* rounds of the monitor thread (each a kernel sleep and wake-up: it backs
	                          off to one per 10 ms while it finds nothing to retake) */
	/* Since 0.8 */
	uint64_t trapped_waits; /* waits inside glibc on process-shared objects that parked the thread
	                           instead of holding a kernel thread (GMP_KWAITS) */
	/* Since 0.9 */
	uint64_t spin_yields; /* spins ended early: the spinning kernel thread yielded its CPU and
	                         another thread (of any process) took it (core/spin.c) */
	/* Since 0.10 */
	uint64_t raw_traps;   /* system calls made outside glibc (libgomp's futex calls) that trapped and
	                         ran as syscall(2) runs them, a futex wait parking the thread (GMP_RAWTRAP) */
};

/*
 * Fill *out (size: sizeof *out) with a snapshot of the scheduler.  Returns
 * 0, or -1 with errno EINVAL (out NULL or size < 8) or ENOSYS (the runtime
 * is not running, e.g. called while it starts up).  Any thread; never
 * blocks for long; async-signal-safe only when it did not interrupt gmp's
 * runtime code on that thread.
 */
int gmp_stats(struct gmp_stats *out, size_t size);

/* Print every user thread with its state, wait reason and backtrace on stderr. */
void gmp_dump(void);

#ifdef __cplusplus
}
#endif
#endif
