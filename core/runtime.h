/*
 * gmp runtime: the G, M, P and sched structures and the core entry points.
 * This header plays the role of Go's runtime2.go.  Every field says who owns
 * it and how it is protected.  Contexts used in the comments:
 *
 *   "G"        a user thread's own stack, FS = its TCB; may park
 *   "g0"       an M's scheduler stack; FS may still be the last G's TCB
 *              (written lazily, see HACKING.md), so g0 code never touches
 *              TLS, never calls malloc and never calls getg()
 *   "foreign"  a kernel thread gmp did not create (getg() == NULL)
 *   "any"      any of the above; never parks
 *   "P held"   the caller owns a P in state P_RUNNING
 *
 * Errors: a core function that can fail returns 0 (or a non-negative
 * value) or -errno, as the kernel does.  Only preload/ and syscall-shims/
 * convert: pthread_* return the number (return -r), libc wrappers set
 * errno and return -1 (shim_ret).  A function that answers yes/no or
 * "not found" says so in its comment and reports no errno.
 */
#ifndef GMP_CORE_RUNTIME_H
#define GMP_CORE_RUNTIME_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <time.h>
#include <sys/types.h>

#include "../arch/arch.h"
#include "faultinj.h"
#include "lock.h"

#define GMP_HIDDEN __attribute__((visibility("hidden")))
#define GMP_LIKELY(x) __builtin_expect(!!(x), 1)
#define GMP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GMP_CACHELINE 64

/* ------------------------------------------------------------------ G */

/*
 * G states.  Every change goes through gmp_casgstatus(), which aborts on an
 * illegal transition.
 *
 *   state        stack owned by            on which queue
 *   G_IDLE       nobody (being set up)     none (or a free list)
 *   G_RUNNABLE   the scheduler             a P's runq/runnext or the global runq
 *   G_RUNNING    the G itself, on g->m     none
 *   G_SYSCALL    the G, in a kernel call   none; its P may be retaken
 *   G_WAITING    the scheduler             a wait queue (futex bucket, timer, join)
 *   G_DEAD       nobody                    none; waiting to be joined or on a free list
 *   G_PREEMPTED  the scheduler             none yet: sysmon's signal stopped it in user code
 *                                          (core/preempt.c); next G_RUNNABLE on the global runq
 */
enum gmp_gstatus {
	G_IDLE = 0,
	G_RUNNABLE,
	G_RUNNING,
	G_SYSCALL,
	G_WAITING,
	G_DEAD,
	G_PREEMPTED,
	G_NSTATUS
};

/* Why a G waits (for dumps, schedtrace and the deadlock report). */
enum gmp_waitreason {
	WR_NONE = 0,
	WR_JOIN,
	WR_MUTEX,
	WR_COND,
	WR_RWLOCK,
	WR_SEM,
	WR_BARRIER,
	WR_FUTEX,
	WR_ONCE,
	WR_SLEEP,
	WR_YIELD,
	WR_NETPOLL,
	WR_SYSCALL,
	WR_SIGNAL, /* sigwait, sigwaitinfo, sigtimedwait (sigwait.c) */
	WR_NREASONS
};

/* Join/detach word (g->joinword): bit 0 set once the G has exited; bits 1-2 the mode. */
#define GMP_JOIN_EXITED   1u
#define GMP_JOIN_JOINABLE (0u << 1)
#define GMP_JOIN_DETACHED (1u << 1)
#define GMP_JOIN_CLAIMED  (2u << 1) /* a joiner has claimed it */
#define GMP_JOIN_MODE     (3u << 1)

struct gmp_stack {
	void *map;       /* whole mapping incl. guard; NULL for user stacks */
	size_t maplen;
	void *lo;        /* lowest usable byte */
	size_t size;     /* usable bytes; top of stack = lo + size (>= reqsize) */
	size_t reqsize;  /* size asked for: pooled stacks are matched on it */
	void *keep;      /* TCB part at the top of the mapping (core/stack.c), kept when the stack is freed */
	size_t guard;    /* guard bytes below lo */
	bool guardvma;   /* the guard is PROT_NONE, a VMA of the mapping budget (core/stack.c) */
	size_t reqguard; /* guard asked for (0 given beyond the mapping budget, core/stack.c) */
	bool user;       /* supplied by pthread_attr_setstack: not ours to free */
};

struct gmp_m;
struct gmp_p;
struct gmp_pollfd;
struct gmp_trace_buf;

struct gmp_g {
	struct gmp_ctx ctx;             /* saved registers; written by the G itself in gmp_ctx_switch,
	                                   read by the M that resumes it */
	_Atomic uint32_t status;        /* enum gmp_gstatus; gmp_casgstatus only; read through gmp_gstatus */
	uint32_t index;                 /* immutable: slot number, gives the fake tid */
	uint32_t epoch;                 /* gmp_sched.epoch when it left G_IDLE (created, adopted) */
	uint64_t goid;                  /* set at creation; immutable while the G lives */
	struct gmp_m *m;                /* M running it; written by that M on g0 */
	void *tcb;                      /* immutable: its glibc struct pthread (= pthread_t) */
	struct gmp_stack stack;         /* owner: the G's creator, then whoever reaps it */
	struct gmp_g *schedlink;        /* global runq / free lists; protected by the list's lock */
	struct gmp_g *alllink;          /* allg list; sched.allglock */

	void *(*start)(void *);         /* immutable while alive */
	void *arg;                      /* start's argument; immutable while alive */
	void *retval;                   /* written by the G at exit, read by its joiner */
	_Atomic uint32_t joinword;      /* GMP_JOIN_*; CAS only */
	bool ismain;                    /* the adopted main thread: never pooled */
	bool isg0;                      /* an M's scheduler context, not a user thread */
	struct gmp_g *joiner;           /* the G joining this one (EDEADLK check); informational */
	uint64_t createdby;             /* goid of the creator, 0 for foreign threads */
	void *createpc;                 /* where pthread_create was called (dumps); set at creation */
	_Atomic uint64_t sigpending;    /* signals sent to this G while it was not running; atomic */
	_Atomic uint16_t sigqueued[32]; /* real-time signals 33..64 (sig - 33) pending that many times:
	                                   they queue, as in the kernel; atomic */
	_Atomic uint64_t sigshared;     /* those of them sent to the process, not the thread: another
	                                   G takes them if this one exits first; atomic */
	bool sig_norestart;             /* a handler without SA_RESTART ran at the last delivery; the G */
	_Atomic bool cancel_asked;      /* pthread_cancel was called for it, set before glibc's request
	                                   goes into its TCB: until then a cancellation point need not
	                                   read the TCB's word (a cache miss per call); set by the
	                                   canceller, cleared at creation */
	bool exiting;                   /* pthread_exit called: retval holds its value */
	_Atomic int npfd;               /* fd+1 while parked in the netpoller, else 0; the G */
	uint8_t npmode;                 /* GMP_NETPOLL_READ/WRITE of that wait; written by the G before
	                                   it publishes npfd, read with npfd by dumps */
	gmp_lock_t cwlock;              /* protects cwait against a canceller */
	void *_Atomic cwait;            /* waiter record of a cancellable wait in progress; cwlock */
	uint64_t sigmask;               /* the G's blocked set (kernel sigset, 64 bits); the G only */
	_Atomic uint64_t sigwaitset;    /* signals a kernel call of the G waits for (sigsuspend,
	                                   ppoll's mask), or sigwait parked (sigwait_parked); the G */
	_Atomic bool sigwait_parked;    /* sigwaitset is a parked sigwait's: senders pend and wake */
	_Atomic uint32_t sigwait_word;  /* its wait word: senders bump it, then wake (sigwait.c) */
	bool fresh_tcb;                 /* TCB never used by a G: needs __ctype_init, not re-imaging */
	bool stack_trimmed;             /* pooled, and its stack pages were given back */
	void *libc_tls;                 /* retired: its TCB's libc TLS block, kept while the TCB is
	                                   gone (tcb.c); the G's owner */
	bool c11;                       /* created by thrd_create: returns int */
	struct gmp_m *lockedm;          /* the M this G is locked to for life, or NULL; the G sets it */
	pid_t lockedm_savedtid;         /* its TCB tid before locking (restored at exit) */

	uint8_t waitreason;             /* enum gmp_waitreason; written by the G before parking */
	int64_t waitsince;              /* monotonic ns when it parked */
	int64_t shrunk_since;           /* waitsince of the park its stack was shrunk in; sysmon */
	_Atomic bool shrinking;         /* sysmon is giving back its stack pages (stack.c) */
	char name[16];                  /* pthread_setname_np; protected by sched.allglock */
	uint64_t tracewake;             /* trace flow id of the wake-up that made it runnable; written
	                                   by its waker before queueing it, read by execute (trace.c) */

	/* Time accounting (pthread_getcpuclockid, CLOCK_THREAD_CPUTIME_ID): ns it ran on an M,
	   hand-off kernel calls excluded; written by the M running it. */
	int64_t cputime;
	int64_t syscall_since;          /* gmp_nanotime() at entersyscall */
	bool insyscall;                 /* between entersyscall's end and exitsyscall's start: a handler
	                                   that runs here leaves the call first (sighandler.c) */
	/* Affinity asked for this thread (NULL: none); applied by the G itself (gmp_apply_affinity). */
	uint64_t *_Atomic affinity;     /* GMP_AFFINITY_WORDS words; owned by the G */
	_Atomic bool affinity_pending;  /* set by any thread (pthread_setaffinity_np on this one),
	                                   cleared by the G as it applies it (gmp_apply_affinity) */

	/* Scheduling attributes reported by pthread_getattr_np/getschedparam: written by
	   gmp_sched_set from any thread (pthread_setschedparam on this one; the last writer
	   wins, as for NPTL's struct pthread), read racily; rtprio below is what schedulers use. */
	int schedpolicy;
	int schedprio;
	bool inherit;                   /* the creation attribute; set at creation */
	/* Real-time priority (SCHED_FIFO/SCHED_RR: 1..99; else 0): runs before lower ones, woken first
	   (sched.c "Real-time threads"); written by gmp_sched_set, read racily by schedulers */
	_Atomic uint8_t rtprio;

	/* Preemption (core/preempt.c) */
	uint8_t nopreempt;              /* >0: runtime state the G's own code must not be stopped in
	                                   (fork handlers run with gmp's fork lock held); the G */
	uintptr_t handler_sp;           /* the dispatcher's frame while a handler runs on the G's stack
	                                   (none are preempted), 0 if none; the G */
	uint32_t npreempt;              /* times it was preempted; the G, read racily by dumps */
	/* vfork (fork.c): set while its vfork child runs on this G's memory; the G, and that child */
	bool vforking;
	struct gmp_m *vfork_held;       /* gmp_fstrap_hold's M across the vfork */
	/* Inside glibc's code for a process-shared object's wait with its system calls trapped
	   (core/xwait.c): the wait reason, 0 if not; the G, read by handlers on its M */
	uint8_t xwait;
	uint8_t xwait_nocancel;         /* a cancellation seen there that glibc did not act on; the G */
	uint8_t xwait_kernel;           /* in such a wait in the kernel, counted in GMP_KWAITS; the G */
	uint8_t xwait_trapping;         /* in such a wait trapped, counted in xwait.c's trapping; the G */
	/* Its alternate signal stack (sigaltstack), loaded on whichever M runs it (gmp_altstack_load);
	   altgen 0: never set, the M's own is loaded.  The G only. */
	stack_t altstack;
	uint32_t altgen;
	int64_t lastpreempt;            /* gmp_nanotime() of the last one */
	/* CPU ns it computes as an orphan (its P retaken) before sysmon asks it back to a P: 0 for
	   ORPHAN_CPU_NS (2 ms), doubled by each hand-off while it slept in a kernel call gmp does not see,
	   halved by each preemption (core/preempt.c); relaxed atomics, sysmon and the G */
	int64_t orphan_grace;
};

/* ------------------------------------------------------------------ P */

/*
 * P states and who owns the P:
 *
 *   P_IDLE     on sched.pidle; sched.lock
 *   P_RUNNING  owned by p->m, which is in runtime code (on g0, or on a G
 *              inside the runtime)
 *   P_USER     p->m runs a G in user code.  The M takes it back with one
 *              CAS P_USER -> P_RUNNING; sysmon may CAS it to P_RUNNING for
 *              itself when the G has run too long, and then hands it off.
 *   P_SYSCALL  as P_USER but the G is in a blocking kernel call; retaken
 *              sooner (blocking-calls work builds on this state).
 */
enum gmp_pstatus { P_IDLE = 0, P_RUNNING, P_USER, P_SYSCALL };

/*
 * Every change of a P's status goes through gmp_setpstatus (a store by the
 * P's holder) or gmp_caspstatus (a CAS, by whoever takes it), each naming
 * the state it changes from.  Legal changes:
 *
 *   IDLE -> RUNNING             taken off the idle list (pidleget)
 *   RUNNING -> IDLE             put on it (pidleput)
 *   RUNNING -> RUNNING          an M takes the P handed to it (acquirep)
 *   RUNNING -> USER, SYSCALL    back to the G's user code, or given back
 *                               after a short hold (a wake-up from a signal
 *                               handler, a preemption, a failed reclaim)
 *   USER, SYSCALL -> RUNNING    the holder's reclaim, sysmon's retake
 *   USER <-> SYSCALL            entersyscall, exitsyscall
 *
 * Built with -Dchecks=true (scripts/test --ubsan does), both check the
 * change against this table and a store also that the word held `from`:
 * anything else is a broken invariant (gmp: fatal).  Otherwise they are the
 * bare atomic operation.  The exceptions, gmp_pstatus_reset: a new P at
 * start-up, and a fork child's Ps, whatever the parent's words said.
 */
static inline bool gmp_pstatus_ok(uint32_t from, uint32_t to)
{
	static const uint8_t next[4] = {
		[P_IDLE] = 1u << P_RUNNING,
		[P_RUNNING] = 1u << P_IDLE | 1u << P_RUNNING | 1u << P_USER | 1u << P_SYSCALL,
		[P_USER] = 1u << P_RUNNING | 1u << P_SYSCALL,
		[P_SYSCALL] = 1u << P_RUNNING | 1u << P_USER,
	};
	return from < 4 && to < 4 && (next[from] >> to & 1);
}
_Noreturn void gmp_pstatus_bad(uint32_t id, uint32_t from, uint32_t to, uint32_t was) GMP_HIDDEN; /* sched.c */
#ifdef GMP_CHECKS
#define GMP_CHECKING 1
#else
#define GMP_CHECKING 0
#endif

#define GMP_RUNQ_SIZE 256

struct gmp_timer;

struct gmp_p {
	uint32_t id;                          /* immutable */
	_Atomic uint32_t status;              /* enum gmp_pstatus; see above */
	struct gmp_m *_Atomic m;              /* owning M; written by the owner or the retaker (sysmon),
	                                         read by both without a lock */
	struct gmp_p *link;                   /* sched.pidle list; sched.lock */
	uint32_t schedtick;                   /* bumped by the owner on every execute */
	uint32_t syscalltick;                 /* bumped by the owner on every kernel call */
	bool globalnext;                      /* the next G comes from the global queue (findrunnable); owner */
	uint32_t globaltick;                  /* schedtick at the last look at the global queue; owner */
	_Atomic bool idlewait;                /* its G waits in the kernel for lack of other work (core/spin.c) */

	/* Local run queue: single producer (owner), many consumers (thieves). */
	_Alignas(GMP_CACHELINE) _Atomic uint32_t runqhead; /* consumers CAS */
	_Atomic uint32_t runqtail;                         /* owner stores (release) */
	struct gmp_g *_Atomic runnext;                     /* owner sets; thieves may CAS to NULL */
	struct gmp_g *_Atomic lazyg;                       /* owner sets: a runnext thieves leave until lazyuntil */
	_Atomic int64_t lazyuntil;                         /* (core/spin.c, gmp_ready_lazy) */
	struct gmp_g *_Atomic runq[GMP_RUNQ_SIZE];

	/* Free Gs with their stacks and TCBs; owner only. */
	struct gmp_g *gfree;
	uint32_t ngfree;

	/* Timer heap (core/timer.c): timerlock. */
	_Alignas(GMP_CACHELINE) gmp_lock_t timerlock;
	struct gmp_timer **timers;
	uint32_t ntimers, timercap;
	_Atomic int64_t timer0;               /* when of the earliest timer, 0 if none; read without lock */

	/* sysmon's view: its own, no lock. */
	uint32_t sysmon_tick;
	int64_t sysmon_when;
	uint32_t sysmon_sched;                /* schedtick as sysmon last saw it, in any state (Go's
	                                         pd.schedtick), and when it last changed */
	int64_t sysmon_sched_when;
	int64_t blk_next, blk_gap, blk_cpu;   /* the asleep-in-user-state check (sysmon.c, asleep_unseen) */
	uint64_t nunseen;                     /* Ps taken from a G asleep in a kernel call gmp did not see */

	/* Counters for gmp_stats (core/stats.c): written by the owner, read without lock. */
	uint64_t nsteal;                      /* Gs this P stole from others */
	uint64_t nhandoff;                    /* times this P was handed to another M */
	uint64_t nidletake;                   /* taken from its idle-waiting G by a woken poller M; sched.lock */
	uint64_t npreempt;                    /* Gs preempted on it; written with the P held */
	/* sysmon's preemption requests for the G running on it (core/preempt.c); sysmon only */
	int64_t preempt_sent;                 /* when the last signal went, 0 none this slice */
	uint32_t preempt_tries;               /* signals sent this slice */
	uint64_t npreemptfall;                /* slices it gave up on and handed the P off instead */
};

/* The P's holder: from -> to (see gmp_pstatus_ok). */
static inline void gmp_setpstatus(struct gmp_p *p, uint32_t from, uint32_t to, memory_order mo)
{
	if (GMP_CHECKING) {
		uint32_t was = atomic_load_explicit(&p->status, memory_order_relaxed);
		if (!gmp_pstatus_ok(from, to) || was != from)
			gmp_pstatus_bad(p->id, from, to, was);
	}
	atomic_store_explicit(&p->status, to, mo);
}

/* Anyone: from -> to if the P is in from (see gmp_pstatus_ok). */
static inline bool gmp_caspstatus(struct gmp_p *p, uint32_t from, uint32_t to, memory_order ok, memory_order fail)
{
	if (GMP_CHECKING && !gmp_pstatus_ok(from, to))
		gmp_pstatus_bad(p->id, from, to, from);
	uint32_t s = from;
	return atomic_compare_exchange_strong_explicit(&p->status, &s, to, ok, fail);
}

/* init (a new P), fork child (the parent's word is meaningless there): no check. */
static inline void gmp_pstatus_reset(struct gmp_p *p, uint32_t to) { atomic_store(&p->status, to); }

/* ------------------------------------------------------------------ M */

/* How many queued Gs' stack pages execute prefetches at once (sched.c, prefetch_next_stack). */
#define GMP_PF_BATCH 4

struct gmp_m {
	struct gmp_g g0;                      /* scheduler context; g0.tcb is the M's own TCB */
	uint64_t id;                          /* immutable */
	uint32_t epoch;                       /* gmp_sched.epoch of its kernel thread's process (fork.c) */
	pid_t tid;                            /* immutable: kernel thread id */
	struct gmp_g *curg;                   /* G running on this M, or NULL; this M only */
	struct gmp_p *p;                      /* P it holds or held when its G entered user code */
	struct gmp_p *nextp;                  /* P handed over by startm; read after park wakes */
	_Atomic uint32_t park;                /* futex word: 0 asleep/running, 1 wake-up pending */
	bool spinning;                        /* looking for work; counted in sched.nmspinning */
	_Atomic bool in_poll;                 /* blocked in the netpoller: wake it with a poll break */
	void *cur_tp;                         /* thread pointer loaded on this kernel thread; this M only */
	uint64_t cur_sigmask;                 /* signal mask loaded on this kernel thread, ~0 unknown; this M only */
	/* Set by the G before gmp_mcall, read by g0 after the switch; this M only. */
	void (*mcall_fn)(struct gmp_m *, struct gmp_g *); /* what g0 does for the G that switched to it */
	struct gmp_g *mcall_g;                /* that G */
	void (*unlockf)(void *);              /* park: called on g0 once the G is G_WAITING */
	void *unlockarg;                      /* its argument */
	struct gmp_m *schedlink;              /* sched.midle; sched.lock */
	struct gmp_m *alllink;                /* sched.allm; immutable once linked */
	uint64_t fastrand;                    /* this M only */
	/* the forced pipe whose O_NONBLOCK a call on this M relies on now (netpoll.h); this M,
	   read by gmp_fd_unforce */
	struct gmp_pollfd *_Atomic nbpd;
	unsigned long pthread;                /* the kernel thread's real pthread_t */
	struct gmp_g *lockedg;                /* the only G this M runs, or NULL; see gmp_lockm */
	bool endnow;                          /* its locked G left robust PI locks: the thread ends */
	struct gmp_g *pfstack[GMP_PF_BATCH];  /* the Gs whose stack pages execute prefetched together last
	                                         (sched.c, a hint: compared, never read through); this M only */
	int64_t runstart;                     /* gmp_nanotime() when curg started running; this M only */
	int64_t stopnow;                      /* gmp_nanotime() when the last G stopped, for park_m and the
	                                         spin that follows (a clock read is ~25 ns on PVM guests);
	                                         0 once stale (stopm); this M only */
	struct gmp_stack sigstack;            /* alternate signal stack of the kernel thread (fatal
	                                         signals, stack overflow); this M only; crash.c */
	struct gmp_trace_buf *_Atomic tracebuf; /* GMP_TRACE records of this M; written by this M only,
	                                           read by the trace writer (trace.c) */
	uint64_t traceseq;                    /* trace flow ids made on this M; this M only */
	_Atomic uint32_t tracebusy;           /* 1 while this M appends a record; trace.c's flush waits */

	/*
	 * Direct hand-off (TLS affinity, sched.c "Spinning"): GMP_NEXTG_CLOSED
	 * unless this M spins idle holding its P; then NULL ("open"), and a
	 * waker may CAS NULL -> G to give it a runnable G whose TCB this M
	 * still has loaded.  Only this M opens, closes and empties the slot.
	 */
	struct gmp_g *_Atomic nextg;
	int64_t spinbudget;                   /* ns it spins idle before parking (adaptive); this M only */
	int64_t iospin;                       /* ns a G on it retries a not-ready fd before parking
	                                         (gmp_io_spin, adaptive); this M only */
	uint32_t iospinround;                 /* rounds of such retries: every other one polls; this M only */
	/* Counters for gmp_stats: written by this M only, read without lock. */
	uint64_t nfswrite;                    /* thread-pointer (FS base) writes */
	uint64_t nfstrap;                     /* FS-base traps taken (fstrap.c), by this M's thread only */
	uint64_t trapswitch;                  /* nfswrite at its last trap (fstrap.c); this M's thread only */
	bool fsarmed;                         /* FS-base traps armed on this M's thread (gmp_fstrap_arm) */
	uint64_t nspin;                       /* idle spins begun */
	uint64_t nspinwin;                    /* idle spins that found work */
	uint64_t nspinyield;                  /* idle spins ended because another thread took the CPU at a yield */
	uint64_t nnextg;                      /* Gs it received through nextg */
	uint64_t nsleep;                      /* times it slept in the kernel for lack of work */
	uint64_t niospin;                     /* I/O calls retried instead of parking */
	uint64_t niospinwin;                  /* of them, those that got their data without parking */
	_Atomic uint32_t preemptreq;          /* sysmon's preemption request: the P's schedtick + 1 it saw,
	                                         0 none; sysmon sets, the preemption handler takes */
	/* Its G runs user code without a P (sysmon handed the P off when no safe point came): sysmon's */
	bool orphan;
	int64_t orphan_next;                  /* when sysmon looks at it again (4 ms after asking it); sysmon */
	int64_t orphan_cpu;                   /* its kernel thread's CPU time when last asked (or marked); sysmon */
	/* Syscall User Dispatch of its kernel thread: the selector byte the kernel reads at every system
	   call (1: trap those from outside the allowed code), and what is on: SUD_OFF, SUD_XWAIT (allowed:
	   gmp's code; core/xwait.c) or SUD_RAW (allowed: glibc's; core/rawtrap.c); this M only, read by
	   sysmon */
	int8_t sud_sel;
	_Atomic uint8_t sud_mode;
	int64_t sud_asked;                    /* when sysmon last asked it to trap raw calls; sysmon */
	struct gmp_g *altowner;               /* whose alternate signal stack is loaded (NULL: this M's own,
	                                         sigstack), at which altgen; this M only */
	uint32_t altgen;
};
#define GMP_NEXTG_CLOSED ((struct gmp_g *)1)

/* ------------------------------------------------------------------ sched */

struct gmp_sched {
	gmp_lock_t lock;                      /* protects everything below marked "lock" */
	struct gmp_g *runqhead, *runqtail;    /* global runq; lock */
	_Atomic int32_t runqsize;             /* written under lock, read without */
	struct gmp_p *pidle;                  /* lock */
	_Atomic int32_t npidle;               /* written under lock, read without */
	struct gmp_m *midle;                  /* lock */
	int32_t nmidle;                       /* lock */
	int32_t nmtotal;                      /* Ms created; lock */
	int64_t spinmax;                      /* most ns an idle M spins (GMP_SPIN); 0: never; immutable */
	bool tls_affine;                      /* FS writes are system calls: hand Gs to the M with their TCB
	                                         (spin.c); immutable after init */
	struct gmp_g *gfree;                  /* global free Gs, stacks warm; lock */
	struct gmp_g *gfree_aging;            /* warm, and unused since sysmon's last trim; lock */
	struct gmp_g *gfree_cold;             /* global free Gs, stacks given back (trimmed); lock */
	int32_t ngfree;                       /* both lists; lock */
	struct gmp_m *sleeper;                /* the idle M sleeping until sleeper_when; lock */
	_Atomic int64_t sleeper_when;         /* written under lock, read without it (timer.c's
	                                         quick check before it takes lock); 0: none */

	gmp_lock_t allglock;                  /* protects allg, nallg, the G slot counter */
	struct gmp_g *allg;
	uint32_t nallg;
	struct gmp_g *_Atomic maing;          /* the process's main thread: the adopted one, or in a fork
	                                         child the G that forked (the kernel's thread-group leader) */
	struct gmp_m *_Atomic allm;           /* push-only list */
	_Atomic int32_t ngalive;              /* live user threads, incl. main */
	_Atomic uint64_t goidgen;

	/*
	 * Written by every M that enters or leaves findrunnable: a line of
	 * their own, away from runqsize and the rest that spinners poll (a
	 * write here would take the line from under every spinning M).
	 */
	_Alignas(64) _Atomic int32_t nmspinning; /* atomic */
	_Atomic int32_t nidlespin;            /* Ms spinning idle with a P (sched.c); atomic */
	struct gmp_m *_Atomic spinm;          /* an M in findrunnable with its nextg slot open, a hint for
	                                         hand-offs; set by that M, cleared (CAS) by it when it closes */

	/* Read on every return to user code (gmp_releasep_user): a line of its own, read-mostly. */
	_Alignas(64) _Atomic int32_t nrtq;    /* real-time Gs at the front of the global runq; lock */
	_Atomic bool rtused;                  /* some G has had a real-time priority; set once */
	uint32_t nprocs;                      /* immutable after init */
	uint32_t maxthreads;                  /* immutable after init */
	struct gmp_p **allp;                  /* immutable after init */
	pid_t pid;                            /* refreshed in a fork child */
	uint32_t epoch;                       /* bumped in a fork child: older live Gs are the parent's */

	/* Defaults for new threads: written by init and pthread_setattr_default_np, read by
	   every pthread_create (atomic: no lock orders them, as none does in glibc either) */
	_Alignas(64) _Atomic size_t stacksize; /* stack reservation */
	_Atomic size_t guardsize;
	_Atomic int64_t lastpoll;             /* when the netpoller was last polled; 0: an M blocks in it */
};

extern struct gmp_sched gmp_sched GMP_HIDDEN;

/*
 * The running user thread; NULL on foreign threads and on an M's own
 * kernel-thread context (its TLS holds its g0).  On g0 code FS may still
 * be the last G's, so g0 code never calls this.
 */
extern __thread struct gmp_g *gmp_curg GMP_HIDDEN __attribute__((tls_model("initial-exec")));
static inline struct gmp_g *gmp_getg(void)
{
	struct gmp_g *g = gmp_curg;
	return g && !g->isg0 ? g : NULL;
}

/* In a vfork child (fork.c)? */
static inline bool gmp_vforked(void)
{
	struct gmp_g *g = gmp_getg();
	return g && g->vforking;
}

/* ------------------------------------------------------------------ core entry points */

/* init.c */
extern _Atomic int gmp_inited GMP_HIDDEN;
void gmp_init_slow(void) GMP_HIDDEN;                    /* any; idempotent */
void gmp_init_main(void) GMP_HIDDEN;                    /* main thread: adopt it as the main G */
static inline void gmp_init(void)
{
	if (GMP_UNLIKELY(atomic_load_explicit(&gmp_inited, memory_order_acquire) != 2))
		gmp_init_slow();
}
int64_t gmp_nanotime(void) GMP_HIDDEN;                  /* any: CLOCK_MONOTONIC ns */

/* sched.c */
void gmp_casgstatus(struct gmp_g *g, uint32_t from, uint32_t to) GMP_HIDDEN;
/*
 * A G's status as seen from here: a G of the parent that was alive at a
 * fork is dead in the child (fork.c leaves it untouched, since writing to
 * every G would copy a page each).  Any thread.
 */
static inline bool gmp_gstatus_forked(struct gmp_g *g, uint32_t st)
{
	return st != G_IDLE && st != G_DEAD && g->epoch != gmp_sched.epoch;
}
static inline uint32_t gmp_gstatus(struct gmp_g *g)
{
	uint32_t st = atomic_load(&g->status);
	return gmp_gstatus_forked(g, st) ? G_DEAD : st;
}
/*
 * A G of the parent, alive at a fork, seen in the child.  One load of the
 * status: comparing two loads would call a live G whose status changed in
 * between forked away (join's EINVAL under load).
 */
static inline bool gmp_g_forked_away(struct gmp_g *g)
{
	return gmp_gstatus_forked(g, atomic_load(&g->status));
}
bool gmp_rt_preempt(struct gmp_p *p) GMP_HIDDEN;            /* G, P held: a higher real-time G waits */
static inline void gmp_releasep_user(struct gmp_p *p)       /* G, P held: back to user code */
{
	if (GMP_UNLIKELY(atomic_load_explicit(&gmp_sched.nrtq, memory_order_relaxed) > 0) && gmp_rt_preempt(p))
		return; /* it ran a higher-priority G first; back in user state, maybe on another P */
	gmp_setpstatus(p, P_RUNNING, P_USER, memory_order_release);
}
void gmp_park(struct gmp_g *g, struct gmp_p *p, void (*unlockf)(void *), void *arg,
	      enum gmp_waitreason why) GMP_HIDDEN;           /* G, P held; returns in user state */
void gmp_ready(struct gmp_p *p, struct gmp_g *gp, bool next) GMP_HIDDEN; /* any; p may be NULL */
void gmp_ready_lazy(struct gmp_p *p, struct gmp_g *gp) GMP_HIDDEN;       /* p held: runnext, other Ps wait (spin.c) */
bool gmp_runnext_lazy(struct gmp_p *p, struct gmp_g *next, int64_t now) GMP_HIDDEN; /* thieves leave next there */
void gmp_runqready(struct gmp_p *p, struct gmp_g *gp, bool next) GMP_HIDDEN; /* gmp_ready without its trace event */
void gmp_yield(struct gmp_g *g) GMP_HIDDEN;                 /* G */
void gmp_yield_self(void) GMP_HIDDEN;                       /* any: sched_yield, thrd_yield */
_Noreturn void gmp_goexit(struct gmp_g *g) GMP_HIDDEN;      /* G: the G ends */
bool gmp_on_g_stack(struct gmp_g *g, uintptr_t sp) GMP_HIDDEN;
void gmp_main_stack_note(uintptr_t sp) GMP_HIDDEN;   /* init: the main thread's frame */
int64_t gmp_g_cputime(struct gmp_g *g) GMP_HIDDEN;          /* any: ns g ran (its own clock) */
#define GMP_AFFINITY_WORDS 16                               /* 1024 CPUs, as glibc's cpu_set_t */
/* g0: the kernel's robust-list walk; true: moved to mhead (non-NULL if the M may end), the M must end */
bool gmp_robust_exit(struct gmp_g *g, pid_t tid, void *mhead) GMP_HIDDEN;
void gmp_mstart(struct gmp_m *m) GMP_HIDDEN;                /* a new M's g0 */
void gmp_m0_g0_start(void *m0) GMP_HIDDEN;                  /* m0's g0 entry */
struct gmp_m *gmp_allocm(void) GMP_HIDDEN;
uint32_t gmp_fastrand(struct gmp_m *m) GMP_HIDDEN;
extern intptr_t gmp_tls_curg_off, gmp_tls_errno_off GMP_HIDDEN; /* sched.c: TLS words from a TCB */
void gmp_set_tp(struct gmp_m *m, void *tp) GMP_HIDDEN;      /* g0: load tp as the thread pointer (FS base) */
/* G: switch to its M's g0, which runs fn(m, g) with g off the CPU; returns when g runs again (maybe elsewhere) */
void gmp_mcall(struct gmp_g *g, void (*fn)(struct gmp_m *, struct gmp_g *)) GMP_HIDDEN;

/* syscall.c: a G takes its P back (from user code, from a kernel call) */
struct gmp_p *gmp_acquirep_user(struct gmp_g *g) GMP_HIDDEN; /* G: take own P back (may reschedule) */
void gmp_entersyscall(struct gmp_g *g) GMP_HIDDEN;          /* G: a blocking kernel call follows */
void gmp_exitsyscall(struct gmp_g *g) GMP_HIDDEN;           /* G: it returned; may reschedule */
struct gmp_p *gmp_acquirep_async(struct gmp_g *g, uint32_t *from) GMP_HIDDEN; /* signal handler; may fail */

/* cancel.c: pthread_cancel of a G, SIGCANCEL for Gs */
/* pthread_cancel of a G that needs glibc's SIGCANCEL handler: run it on t, at a safe point in t's own code. */
void gmp_signal_cancel(struct gmp_g *t) GMP_HIDDEN;              /* any */
bool gmp_cancel_pending(struct gmp_g *g) GMP_HIDDEN;              /* any: a cancellable wait of g must end */
void gmp_testcancel(void) GMP_HIDDEN;                             /* G, at a cancellation point of gmp's */
bool gmp_sig32_install(void) GMP_HIDDEN;                          /* any but a handler: own signal 32's handler */
void gmp_cancel_at_call(struct gmp_g *g, void *uc) GMP_HIDDEN; /* G, in a handler at glibc's system call */
/* any: pthread_cancel of t, once glibc's set the request in t's TCB: wake its wait, or signal it */
void gmp_cancel_g(struct gmp_g *t) GMP_HIDDEN;
/* G or foreign: end t's wait (a futex queue or an fd), which returns res (-ECANCELED, -EINTR) */
void gmp_wait_interrupt(struct gmp_g *t, int res) GMP_HIDDEN;
void gmp_wait_interrupt_p(struct gmp_g *t, int res, struct gmp_p *p) GMP_HIDDEN; /* g0/sysmon: p held or NULL */

/* sigmask.c: a G's signal mask and pending set (0 or -errno) */
int gmp_sigmask(struct gmp_g *g, int how, const sigset_t *set, sigset_t *old) GMP_HIDDEN; /* G: pthread_sigmask */
void gmp_sigmask_restored(const sigset_t *set) GMP_HIDDEN; /* any: a jump restores set (siglongjmp, setcontext) */
void gmp_sigpending(struct gmp_g *g, sigset_t *set) GMP_HIDDEN;                           /* G: sigpending */
int gmp_kill_self(struct gmp_g *g, pid_t pid, int sig) GMP_HIDDEN; /* G: kill; 1: not taken, for the kernel */

/* glibc's internal signals: SIGCANCEL (cancellation; gmp's dump requests share it) and SIGSETXID
   (setuid and friends on every thread).  A program's real-time signals start above them. */
#define GMP_SIGCANCEL 32
#define GMP_SIGSETXID 33
/* Never blocked in a G: glibc's internal signals, and what the kernel never blocks. */
#define GMP_SIG_UNBLOCKABLE                                                                              \
	((1ULL << (GMP_SIGCANCEL - 1)) | (1ULL << (GMP_SIGSETXID - 1)) | (1ULL << (SIGKILL - 1)) | \
	 (1ULL << (SIGSTOP - 1)))

/* signal.c: signals to a G, its pending set, delivery when it runs */
/* any: pthread_kill/sigqueue to a G; 0 or -errno (the kernel's, for a signal it sends at once) */
int gmp_signal_g(struct gmp_g *t, int sig, const siginfo_t *info) GMP_HIDDEN;
void gmp_signal_interrupt(struct gmp_g *t, struct gmp_p *p) GMP_HIDDEN; /* g0/sysmon: a forwarded signal's wake-up */
void gmp_deliver_pending(struct gmp_g *g) GMP_HIDDEN;             /* G: raise signals queued while it was off */
bool gmp_signal_deliverable(struct gmp_g *g) GMP_HIDDEN;          /* G: has pending signals it does not block */
/* G: its mask is now nv (the kernel's is set by the caller); takes what it now lets in. */
void gmp_signal_setmask(struct gmp_g *g, uint64_t nv) GMP_HIDDEN;
uint64_t gmp_signal_pending_for(struct gmp_g *g) GMP_HIDDEN;     /* any: g's and the process's */

/* sigdispatch.c: the dispatcher, the kernel's handler for the program's signals */
void gmp_sig_dispatch(int sig, siginfo_t *si, void *uc) GMP_HIDDEN;  /* the handler gmp installs for the program's */
extern __thread bool gmp_sysmon_thread GMP_HIDDEN __attribute__((tls_model("initial-exec"))); /* sysmon.c's */

/* sigproc.c: signals for the process, sigwait and sigsuspend */
void gmp_signal_sync(struct gmp_g *g, uint64_t set) GMP_HIDDEN; /* G: pending signals in set -> its kernel thread */
void gmp_signal_reclaim(struct gmp_g *g) GMP_HIDDEN;             /* G, after sigwait/sigsuspend */
void gmp_signal_fork_child(struct gmp_g *self) GMP_HIDDEN;       /* fork child */
void gmp_signal_note_mask(uint64_t mask) GMP_HIDDEN;              /* any: a G now has this mask */
uint64_t gmp_signal_sysmon_mask(void) GMP_HIDDEN;                 /* sysmon: its kernel mask */
uint64_t gmp_signal_process_pending(void) GMP_HIDDEN;             /* any: for dumps */
void gmp_signal_sweep(void) GMP_HIDDEN;                            /* sysmon: process signals to a taker */
void gmp_signal_exit(struct gmp_g *g) GMP_HIDDEN;               /* G, exiting: its process signals to others */

/* sigwait.c: sigwait and its kin parked.  G: the signal (its siginfo in *si, if si), -EAGAIN (deadline,
   0: none), -EINTR (a handler ran), -ECANCELED (pthread_cancel), or -ENOSYS: wait in the kernel. */
int gmp_sigwait(struct gmp_g *g, uint64_t set, siginfo_t *si, int64_t deadline) GMP_HIDDEN;
void gmp_sigwait_fork_child(void) GMP_HIDDEN; /* fork child: the taker thread is gone */

/* siginfo.c: the siginfo of pending signals, gmp's marked raises */
/* any: sig to kernel thread tid of this process, its siginfo marked as gmp's own (mark, val); 0 or -errno */
long gmp_sig_send_marked(pid_t tid, int sig, uint32_t mark, void *val) GMP_HIDDEN;
static inline bool gmp_sig_is_marked(const siginfo_t *si, uint32_t mark) /* any: one of gmp_sig_send_marked's? */
{
	return si && si->si_code == SI_QUEUE && si->si_pid == gmp_sched.pid && si->si_uid == mark;
}
/* any: raised by gmp for itself, whatever the mark (every mark is "gm" and two letters: a pending bit's
   raise, preemption, trapping), not the program's */
static inline bool gmp_sig_from_gmp(const siginfo_t *si)
{
	return si && si->si_code == SI_QUEUE && si->si_pid == gmp_sched.pid && (si->si_uid >> 16) == 0x676d;
}

/* sighandler.c: the program's handlers, run on a G */
int gmp_sig_user(int sig, void **handler, int *flags) GMP_HIDDEN;     /* the program's handler for sig, 0 if none */
void gmp_sig_set_user(int sig, void *handler, int flags) GMP_HIDDEN;
int gmp_sig_take_kernel(int sig) GMP_HIDDEN;  /* init: the dispatcher as sig's kernel handler; -1, or 1 if it was SIG_IGN */
/* G, in a handler it came back to on another M: the signal frame's mask and alternate stack for this M. */
void gmp_sigframe_moved(struct gmp_g *g, void *uc) GMP_HIDDEN;
void gmp_sigframe_back(struct gmp_g *g, struct gmp_m *was, void *uc) GMP_HIDDEN; /* G, in a handler it parked in */

/* m.c: Ms: the idle list, waking and starting them, an idle M's sleep, reaping. */
void gmp_wakep(void) GMP_HIDDEN;                            /* any */
void gmp_mkick_sleeper(struct gmp_m *m) GMP_HIDDEN;         /* any: end an idle M's sleep or poll */
bool gmp_takep(struct gmp_p *p, uint32_t from) GMP_HIDDEN;   /* any: take p from its M (retake) */
void gmp_handoffp(struct gmp_p *p) GMP_HIDDEN;              /* any; p retaken/owned by caller */
void gmp_acquirep(struct gmp_m *m, struct gmp_p *p) GMP_HIDDEN;      /* g0: m runs p from now on */
void gmp_notewakeup(struct gmp_m *m) GMP_HIDDEN;            /* any: wake idle m, whose nextp is set */
void gmp_startm(struct gmp_p *p, bool spinning) GMP_HIDDEN; /* any: p (NULL: an idle one) to an idle or new M */
void gmp_stopm(struct gmp_m *m) GMP_HIDDEN;                 /* g0, sched.lock held, no P: sleep until given one */
void gmp_resetspinning(struct gmp_m *m) GMP_HIDDEN;         /* g0: a spinning M found work */
bool gmp_reap_idle_m(struct gmp_m *m) GMP_HIDDEN;           /* g0: end m if spare; true: it stays */
_Noreturn void gmp_mthread_exit(struct gmp_m *m) GMP_HIDDEN; /* g0, out of every list: end m's kernel thread */

/* lockedm.c: Gs locked to their M */
void gmp_lockm(struct gmp_g *g) GMP_HIDDEN;                 /* G: lock the G to its M for life */
void gmp_stoplockedm(struct gmp_m *m) GMP_HIDDEN;           /* g0 of a locked M: until its G is runnable; returns with a P */
void gmp_startlockedm(struct gmp_m *m, struct gmp_g *gp) GMP_HIDDEN; /* g0, P held: hand it to gp's M, go idle */
void gmp_unlockm(struct gmp_m *m, struct gmp_g *gp) GMP_HIDDEN;      /* g0: locked gp ends */
_Noreturn void gmp_mend(struct gmp_m *m) GMP_HIDDEN;        /* g0, P held: end m now (robust PI locks left) */

/* affinity.c: a G's CPU affinity (0 or -errno); set is a cpu_set_t of size bytes */
int gmp_affinity_set(struct gmp_g *t, size_t size, const void *set) GMP_HIDDEN; /* any G t */
int gmp_affinity_get(struct gmp_g *t, size_t size, void *set) GMP_HIDDEN;       /* any G t */
int gmp_apply_affinity(struct gmp_g *g) GMP_HIDDEN;         /* G: lock to its M and apply g->affinity */
void gmp_affinity_unlocked(struct gmp_g *gp) GMP_HIDDEN;    /* g0: locked gp ends: the M's mask again */

/* cpuclock.c: a G's CPU clock; 0, -errno, or 1: clk is no G's clock (ask the kernel) */
clockid_t gmp_cpuclock_id(struct gmp_g *g) GMP_HIDDEN;                  /* any: g's clock id */
int gmp_cpuclock_gettime(clockid_t clk, struct timespec *ts) GMP_HIDDEN; /* any; async-signal-safe */
int gmp_cpuclock_getres(clockid_t clk, struct timespec *res) GMP_HIDDEN; /* any; async-signal-safe */

/* schedparam.c: a G's scheduling policy and priority */
int gmp_sched_setparam(struct gmp_g *t, int policy, int prio) GMP_HIDDEN; /* any: 0, -EINVAL or -EPERM */
void gmp_sched_getparam(struct gmp_g *t, int *policy, int *prio) GMP_HIDDEN; /* any; NULL: not wanted */
/* Scheduling policy and priority of a G (validated by the caller); updates its real-time rank. */
void gmp_sched_set(struct gmp_g *g, int policy, int prio) GMP_HIDDEN;
/* 0, -EINVAL or -EPERM as the kernel's sched_setscheduler would answer for this process. */
int gmp_sched_check(int policy, int prio) GMP_HIDDEN;
/* The calling thread's policy and priority: its G's, or (main, foreign) its kernel thread's. */
void gmp_sched_self(int *policy, int *prio) GMP_HIDDEN;

/* once.c: pthread_once and call_once */
int gmp_once(_Atomic uint32_t *w, void (*init)(void)) GMP_HIDDEN; /* any; may park; 0 */

/* spinlock.c: pthread_spin_*: spin, then yield (0 = unlocked, 1 = locked) */
void gmp_spin_init(_Atomic int *w) GMP_HIDDEN;
void gmp_spin_lock(_Atomic int *w) GMP_HIDDEN;   /* any; may yield */
int gmp_spin_trylock(_Atomic int *w) GMP_HIDDEN; /* any: 0 or -EBUSY */
void gmp_spin_unlock(_Atomic int *w) GMP_HIDDEN;

/* spin.c: spinning Ms and the direct hand-off (TLS affinity). */
bool gmp_handoff_nextg(struct gmp_g *gp) GMP_HIDDEN;                       /* any: gp runnable, on no queue */
struct gmp_g *gmp_close_nextg(struct gmp_m *m) GMP_HIDDEN;                  /* g0: the G handed over, or NULL */
struct gmp_g *gmp_idlespin(struct gmp_m *m, struct gmp_p *p, bool *inherit) GMP_HIDDEN; /* g0, P held */
struct gmp_g *gmp_netpoll_ready(struct gmp_m *m, struct gmp_p *p) GMP_HIDDEN; /* g0, P held */
void gmp_run_due_timers(struct gmp_p *p, int64_t now) GMP_HIDDEN;         /* g0, P held */
bool gmp_io_spin(struct gmp_g *g, int64_t *since) GMP_HIDDEN;              /* G: retry a not-ready fd now? */
void gmp_io_spin_won(struct gmp_g *g) GMP_HIDDEN;                          /* G: a retry got what it waited for */
bool gmp_io_wait_direct(struct gmp_g *g) GMP_HIDDEN;                       /* G: block in the kernel instead of parking? */
bool gmp_work_queued(void) GMP_HIDDEN;                                      /* any: a G waits on some run queue */
bool gmp_work_waits(struct gmp_p *p, int64_t now) GMP_HIDDEN;              /* sysmon: would another G run if p were free (a queue, a due timer)? */

/* runq.c: local run queues (see the algorithm notes there), the global queue, idle Ps. */
bool gmp_runqput(struct gmp_p *p, struct gmp_g *gp, bool next) GMP_HIDDEN; /* owner; false: moved half to global */
struct gmp_g *gmp_runqget(struct gmp_p *p, bool *inherit) GMP_HIDDEN;     /* owner */
struct gmp_g *gmp_runqsteal(struct gmp_p *p, struct gmp_p *victim, bool stealnext) GMP_HIDDEN;
uint32_t gmp_runqlen(struct gmp_p *p) GMP_HIDDEN;                          /* any, approximate */
bool gmp_runqempty(struct gmp_p *p) GMP_HIDDEN;
void gmp_globrunqput_batch(struct gmp_g *head, struct gmp_g *tail, int n) GMP_HIDDEN; /* lock held */
void gmp_globrunqput_rt(struct gmp_g *gp) GMP_HIDDEN;                                  /* lock held: a real-time G, by priority */
struct gmp_g *gmp_globrunqget(struct gmp_p *p, int max) GMP_HIDDEN;                    /* lock held */
void gmp_pidleput(struct gmp_p *p) GMP_HIDDEN;              /* lock held */
struct gmp_p *gmp_pidleget(void) GMP_HIDDEN;                /* lock held */
/* Append g to the G list head..tail (linked by schedlink; whoever owns the list). */
static inline void gmp_glist_push(struct gmp_g **head, struct gmp_g **tail, struct gmp_g *g)
{
	g->schedlink = NULL;
	if (*tail)
		(*tail)->schedlink = g;
	else
		*head = g;
	*tail = g;
}

/* stack.c */
int gmp_stack_alloc(struct gmp_stack *s, size_t size, size_t guard, size_t above) GMP_HIDDEN; /* any; -EAGAIN */
void gmp_stack_free(struct gmp_stack *s) GMP_HIDDEN;                           /* any */
void gmp_shrink_parked_stacks(int64_t now) GMP_HIDDEN;                        /* sysmon */
void gmp_stack_fork_lock(void) GMP_HIDDEN;                                     /* fork: slab lock */
void gmp_stack_fork_unlock(void) GMP_HIDDEN;
size_t gmp_pagesize(void) GMP_HIDDEN;
/* pthread_atfork's list, kept by gmp (fork.c): 0 or -ENOMEM */
int gmp_atfork_add(void (*prepare)(void), void (*parent)(void), void (*child)(void)) GMP_HIDDEN;
void gmp_key_fork_lock(void) GMP_HIDDEN;         /* fork prepare: thread-specific data units */
void gmp_key_fork_unlock(void) GMP_HIDDEN;
void *gmp_rt_alloc(size_t size) GMP_HIDDEN;        /* any: zeroed pages from mmap, NULL on failure */
void gmp_rt_free(void *p, size_t size) GMP_HIDDEN;

/* tcb.c: glibc thread control blocks. */
int gmp_tcb_layout_init(void) GMP_HIDDEN;          /* init: probe and verify offsets; 0, or -1: not confirmed */
void *gmp_tcb_alloc(struct gmp_g *g) GMP_HIDDEN;   /* G or foreign: a fresh TCB for g, NULL on ENOMEM;
                                                     at the top of g's stack if it has room (stack.c) */
size_t gmp_tcb_stack_above(void) GMP_HIDDEN;      /* bytes a stack keeps above its top for its TCB */
bool gmp_tcb_retire(struct gmp_g *g) GMP_HIDDEN;  /* pooled g: give back its TCB and whole stack */
void gmp_tcb_reimage(void *tcb) GMP_HIDDEN;        /* before reuse: fresh TLS images, libc block kept */
void gmp_tcb_on_start(struct gmp_g *g) GMP_HIDDEN; /* G: first code on a new/reused TCB */
void gmp_tcb_on_exit(void) GMP_HIDDEN;             /* G: thread_local destructors */
void gmp_tcb_dlopen_sync(void) GMP_HIDDEN;         /* G or foreign: after dlopen */
pid_t *gmp_tcb_tid_addr(void *tcb) GMP_HIDDEN;
void *gmp_tcb_robust_head(void *tcb) GMP_HIDDEN;    /* glibc's struct robust_list_head in the TCB */
void **gmp_tcb_cleanup_jmp_buf(void *tcb) GMP_HIDDEN;
bool gmp_tcb_cancel_pending(void *tcb) GMP_HIDDEN;  /* any */
void gmp_tcb_fork_lock(void) GMP_HIDDEN;             /* fork prepare: modlock, celllock */
void gmp_tcb_fork_unlock(void) GMP_HIDDEN;           /* fork parent and child */
bool gmp_tcb_cancel_async(void *tcb) GMP_HIDDEN;
bool gmp_tcb_cancel_wants_signal(void *tcb) GMP_HIDDEN; /* any: glibc's pthread_cancel counts on SIGCANCEL */
bool gmp_tcb_cancel_by_signal(void *tcb) GMP_HIDDEN;    /* glibc 2.41+: a request acts by SIGCANCEL only */
bool gmp_tcb_cancel_unwinding(void *tcb) GMP_HIDDEN;    /* canceled and exiting: glibc is unwinding it */
void **gmp_tcb_tls_slot(void *tcb, void *tls_var_in_current_thread) GMP_HIDDEN;

/* thread.c: creation, exit, join. */
struct gmp_thread_attr {
	size_t stacksize, guardsize;
	void *stackaddr;        /* user stack (lowest address) or NULL */
	bool detached;
	int schedpolicy, schedprio; /* final: the creator's when inherit (preload/thread.c resolves) */
	bool inherit;
	bool c11;
	void *caller;           /* return address in the code that called pthread_create (dumps) */
};
/* G or foreign: 0 or -EAGAIN (no memory for the G, its stack or TCB, or no sysmon) */
int gmp_thread_create(void **out_tcb, const struct gmp_thread_attr *a, void *(*fn)(void *), void *arg) GMP_HIDDEN;
struct gmp_g *gmp_g_from_tcb(void *tcb) GMP_HIDDEN;    /* NULL if not a live gmp G */
/* G or foreign; may park: 0, -ESRCH, -EINVAL, -EDEADLK, -EBUSY (try), -ETIMEDOUT or -EAGAIN, as NPTL's codes */
int gmp_thread_join(struct gmp_g *t, void **ret, int64_t deadline, clockid_t clk, bool try) GMP_HIDDEN;
int gmp_thread_detach(struct gmp_g *t) GMP_HIDDEN;     /* any: 0, -ESRCH or -EINVAL */
void gmp_gfput(struct gmp_p *p, struct gmp_g *g) GMP_HIDDEN;     /* P held (or p NULL: global) */
struct gmp_g *gmp_gfget(struct gmp_p *p, const struct gmp_thread_attr *a) GMP_HIDDEN;
struct gmp_g *gmp_galloc(void) GMP_HIDDEN;
_Noreturn void gmp_thread_exit(void *ret) GMP_HIDDEN;                /* G */
bool gmp_main_unwind_prepare(struct gmp_g *g) GMP_HIDDEN; /* main G: glibc's unwind ends in gmp */

/* futex.c: address-keyed wait queues, the one waiting mechanism (docs/design.md §7). */
#define GMP_FUTEX_BITSET_ANY 0xffffffffu
int gmp_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint32_t bitset, int64_t deadline,
		   clockid_t clk, enum gmp_waitreason why) GMP_HIDDEN; /* G or foreign; 0, -EAGAIN, -ETIMEDOUT, -EINTR (a handler ran) */
/* As gmp_futex_wait, and a pthread_cancel of the waiting G ends it with -ECANCELED (cancellation points). */
int gmp_futex_wait_cancel(_Atomic uint32_t *addr, uint32_t val, int64_t deadline,
			  enum gmp_waitreason why) GMP_HIDDEN;
void gmp_futex_cancel_g(struct gmp_g *t, int res) GMP_HIDDEN; /* G or foreign: end t's wait: -ECANCELED or -EINTR */
void gmp_futex_cancel_gp(struct gmp_g *t, int res, struct gmp_p *p) GMP_HIDDEN; /* g0/sysmon: p held or NULL */
void gmp_defer(uintptr_t a) GMP_HIDDEN; /* any, async-signal-safe: wake address a soon, or interrupt G (a|1) */
int gmp_futex_wake(_Atomic uint32_t *addr, int n, uint32_t bitset) GMP_HIDDEN; /* G or foreign: number woken */
int gmp_futex_wake_lazy(_Atomic uint32_t *addr) GMP_HIDDEN; /* as gmp_futex_wake of 1, readied by gmp_ready_lazy */
int gmp_futex_wake_p(_Atomic uint32_t *addr, int n, uint32_t bitset, struct gmp_p *p) GMP_HIDDEN; /* p held or NULL */
void gmp_futex_wake_async(_Atomic uint32_t *addr, int n) GMP_HIDDEN; /* any, also a signal handler */
void gmp_futex_run_deferred(struct gmp_p *p) GMP_HIDDEN; /* g0 or sysmon: wakes deferred by handlers */
extern _Atomic uint32_t gmp_ndeferred GMP_HIDDEN;        /* deferred wakes pending */
int gmp_futex_requeue(_Atomic uint32_t *addr, int nwake, _Atomic uint32_t *addr2, int nmove,
		      const uint32_t *cmpval) GMP_HIDDEN;   /* any: woken+moved, or -EAGAIN on value mismatch */
int64_t gmp_deadline_from(const struct timespec *ts, clockid_t clk, bool absolute) GMP_HIDDEN;

/* timer.c: per-P timer heaps. */
struct gmp_timer {
	int64_t when;                                     /* CLOCK_MONOTONIC ns */
	void (*fn)(struct gmp_timer *t, struct gmp_p *runner); /* runs with a P held; must not park */
	void *arg;
	struct gmp_p *_Atomic owner;                      /* heap it is on; owner->timerlock */
	int32_t idx;                                      /* heap slot; owner->timerlock */
	_Atomic uint32_t state;                           /* TIMER_* */
};
enum { TIMER_IDLE = 0, TIMER_QUEUED, TIMER_RUNNING, TIMER_DONE };
int gmp_timer_add(struct gmp_p *p, struct gmp_timer *t) GMP_HIDDEN; /* P held; -ENOMEM */
bool gmp_timer_del(struct gmp_timer *t) GMP_HIDDEN;   /* any: true if removed before it ran; waits if running */
bool gmp_timer_del_user(struct gmp_g *g, struct gmp_timer *t) GMP_HIDDEN; /* G, user state: the same, its P held */
int64_t gmp_timers_run(struct gmp_p *pp, struct gmp_p *runner, int64_t now) GMP_HIDDEN; /* runner held */
int64_t gmp_timers_next(void) GMP_HIDDEN;              /* any: earliest when over all Ps, 0 if none */

/* fork.c */
void gmp_fork_init(void) GMP_HIDDEN;
/*
 * vfork (arch/vfork_*.S): the child runs on its parent's memory and TLS until
 * it execs or exits, so the G that called vfork says vforking there: the
 * interposed calls then make the plain system call and touch no runtime
 * state (the parent's).  (A kernel thread gmp did not create has no G to
 * say so: its vfork child's calls go the usual way.)
 */
void gmp_vfork_enter(void) GMP_HIDDEN;      /* the parent, before the system call */
long gmp_vfork_leave(long r) GMP_HIDDEN;    /* the parent, after: the pid, or -1 with errno */

/* netpoll.c (scheduler side) */
bool gmp_netpoll_waiters(void) GMP_HIDDEN;
int gmp_netpoll_poll(int64_t timeout_ns, struct gmp_g **list) GMP_HIDDEN;
void gmp_netpoll_os_break(void) GMP_HIDDEN;
void gmp_inject(struct gmp_g *list, int n) GMP_HIDDEN; /* any: Gs made ready by the poller -> global queue */
/* p held: the same -> p's queue (those whose last M spins with their TLS loaded go to it); how many went to p */
int gmp_inject_local(struct gmp_p *p, struct gmp_g *list, int n) GMP_HIDDEN;
void gmp_netpoll_cancel_g(struct gmp_g *t, int res) GMP_HIDDEN; /* any: end t's fd wait with res */
void gmp_netpoll_cancel_gp(struct gmp_g *t, int res, struct gmp_p *p) GMP_HIDDEN; /* g0/sysmon: p or NULL */

/* preempt.c: asynchronous preemption by signal. */
#define GMP_SIGPREEMPT SIGURG
#define GMP_PREEMPT_RETRY_NS 1000000LL /* a request that found an unsafe point is sent again after */
#define GMP_RR_QUANTUM_NS (100 * 1000000LL) /* SCHED_RR's time slice, the kernel's default */
extern int64_t gmp_preempt_ns GMP_HIDDEN;          /* user time slice; 0: preemption off; immutable after init */
extern uint64_t gmp_preempt_kbit GMP_HIDDEN;        /* the preemption signal's bit while it is on, else 0 */
/* The kernel mask an M loads for a G whose mask is m: never the preemption signal. */
/* The kernel's struct sigaction (rt_sigaction with a mask of 8 bytes): signal.c, fstrap.c. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};
#define SA_RESTORER 0x04000000
/* membarrier(2) commands (older headers lack the names) */
#define GMP_MEMBARRIER_GLOBAL 1
#define GMP_MEMBARRIER_PRIVATE_EXPEDITED 8
#define GMP_MEMBARRIER_REGISTER_PRIVATE_EXPEDITED 16
/* The restorer of the handlers gmp installs with rt_sigaction itself: gmp_sigreturn, or glibc's
   once raw calls trap (rawtrap.c: a restorer outside glibc would trap) */
extern void *gmp_sig_restorer GMP_HIDDEN;
void gmp_sig32_restorer_moved(void) GMP_HIDDEN;  /* cancel.c: SIGCANCEL's handler gets gmp_sig_restorer */
void gmp_fstrap_restorer_moved(void) GMP_HIDDEN; /* fstrap.c: the FS-base trap handler's too */

/* fstrap.c: FS-base traps (GMP_FSBASE: auto where the CPU has FSGSBASE and the kernel does not use it) */
extern bool gmp_fstrap GMP_HIDDEN;                   /* on: thread-pointer switches by wrfsbase */
extern uint64_t gmp_fstrap_kbit GMP_HIDDEN;          /* SIGSEGV's bit while traps are on, else 0 */
extern uint64_t gmp_rawtrap_kbit GMP_HIDDEN;         /* SIGSYS's bit once raw calls trap (rawtrap.c), else 0 */
void gmp_fstrap_init(void) GMP_HIDDEN;               /* init, after gmp_libc_resolve */
void gmp_fstrap_check(void) GMP_HIDDEN;              /* sysmon: the kernel's SIGSEGV action still the trap handler? */
int gmp_fstrap_arm(struct gmp_m *m) GMP_HIDDEN;      /* m's own kernel thread, m->cur_tp loaded or to load */
void gmp_fstrap_fork_prepare(void) GMP_HIDDEN;       /* gmp's last fork prepare step */
struct gmp_m *gmp_fstrap_hold(void) GMP_HIDDEN;      /* before a call that blocks all signals; arm after */
int gmp_kthread_create(pthread_t *th, void *(*fn)(void *), void *arg) GMP_HIDDEN; /* gmp's own kernel threads; 0 or -errno */
int gmp_set_tp_any(void *tp) GMP_HIDDEN;             /* any thread (reports): load a TCB, traps or not; 0 or -errno */
struct sigaction;
int gmp_fstrap_sigaction(const struct sigaction *act, struct sigaction *old) GMP_HIDDEN; /* SIGSEGV's; 0 */
long gmp_fstrap_ksigaction(const struct ksigaction *act, struct ksigaction *old, size_t size) GMP_HIDDEN; /* 0 or -errno */

/*
 * A glibc call that blocks every signal inside (its pthread_create,
 * pthread_kill, pthread_cancel of an asynchronous target, the calls that
 * take a thread's exit_lock, process spawning): under FS-base traps the
 * kernel's FS base is the TCB in use meanwhile, since a trap with SIGSEGV
 * blocked would kill the process.  No scheduling point inside.
 */
#define GMP_FSTRAP_HELD(stmt)                               \
	do {                                                \
		struct gmp_m *held_ = gmp_fstrap_hold();    \
		stmt;                                       \
		if (held_)                                  \
			gmp_fstrap_arm(held_);              \
	} while (0)

static inline uint64_t gmp_kmask(uint64_t m) { return m & ~(gmp_preempt_kbit | gmp_fstrap_kbit | gmp_rawtrap_kbit); }

/*
 * After a system call that may have slept (a context switch): load m's
 * TCB again if the kernel put the trap address back, for a few cycles
 * instead of a trap's signal.  m: the calling thread's M.
 */
static inline void gmp_fstrap_refresh(struct gmp_m *m)
{
	if (GMP_UNLIKELY(gmp_fstrap)) {
		void *tp = __atomic_load_n(&m->cur_tp, __ATOMIC_RELAXED);
		if (gmp_rdfsbase() != tp)
			gmp_wrfsbase(tp);
	}
}
void gmp_preempt_init(void) GMP_HIDDEN;                          /* init: GMP_PREEMPT, the handler */
bool gmp_preempt_marked(const siginfo_t *si) GMP_HIDDEN;        /* any: one of sysmon's requests? */
void gmp_preempt_signal(void *uc) GMP_HIDDEN;                    /* the dispatcher, for such a signal */
int gmp_preempt_try(struct gmp_p *p, int64_t now) GMP_HIDDEN;   /* sysmon: 1 sent, 0 not now, -1 hand off */
bool gmp_kthread_asleep(pid_t tid) GMP_HIDDEN;                    /* sysmon: tid sleeps in the kernel (not 'R') */
long gmp_task_read(pid_t tid, const char *file, char *buf, size_t size) GMP_HIDDEN; /* /proc/self/task/TID/FILE into buf, NUL-ended: its length, or -1 */
int64_t gmp_kthread_cpu_ns(pid_t tid) GMP_HIDDEN;                 /* any: tid's CPU time, -1 if unknown */
void gmp_preempt_park(struct gmp_g *g) GMP_HIDDEN;               /* G, P held: stop here, run others (sched.c) */
void gmp_preempt_fork_child(void) GMP_HIDDEN;
void gmp_preempt_orphan(struct gmp_m *m) GMP_HIDDEN;             /* sysmon: m's G runs on, its P retaken */
void gmp_preempt_slept_unseen(struct gmp_g *g) GMP_HIDDEN;       /* sysmon: g's P retaken while it slept unseen */
void gmp_preempt_at_call(struct gmp_g *g) GMP_HIDDEN;            /* G, user state, after a completed call in a shim */
int gmp_preempt_orphans(int64_t now) GMP_HIDDEN;                 /* sysmon: ask such Gs to get a P or queue */
/* codemap.c: the code an instruction is in (from the objects loaded at start-up) */
void gmp_codemap_init(void) GMP_HIDDEN;                           /* start-up */
enum gmp_code {
	CODE_OTHER = 0, /* none of those below: loaded later (dlopen), or not code */
	CODE_GMP,
	CODE_VDSO,
	CODE_LIBC,      /* glibc (libc.so.6; libpthread.so.0 before 2.34) */
	CODE_LDSO,
	CODE_PROG       /* the program or another library loaded at start-up */
};
enum gmp_code gmp_code_at(uintptr_t pc) GMP_HIDDEN;              /* any, async-signal-safe */
void gmp_code_bounds(enum gmp_code k, uintptr_t *lo, uintptr_t *hi) GMP_HIDDEN; /* any */

/* xwait.c: glibc's waits on process-shared objects, parked (syscall user dispatch + futex_waitv) */
void gmp_xwait_init(void) GMP_HIDDEN;
int gmp_xwait_begin(struct gmp_g *g, enum gmp_waitreason why) GMP_HIDDEN; /* G: 0 plain, 1 in the kernel, 2 trapped */
void gmp_xwait_end(struct gmp_g *g, int how) GMP_HIDDEN;                   /* G: how = begin's answer (1, 2) */
bool gmp_xwait_hold(struct gmp_g *g, const void *uc) GMP_HIDDEN;  /* handler entry: it interrupted a trapped call */
void gmp_xwait_release(struct gmp_g *g, void *uc) GMP_HIDDEN;     /* handler exit after hold: may not return */
uint8_t gmp_xwait_pause(struct gmp_g *g) GMP_HIDDEN;              /* a program's handler runs: untrapped */
void gmp_xwait_resume(struct gmp_g *g, uint8_t w) GMP_HIDDEN;
bool gmp_xwait_trap(int sig, const siginfo_t *si, void *uc) GMP_HIDDEN; /* dispatcher: a trapped call, handled */
void gmp_xwait_fork_child(void) GMP_HIDDEN;
void gmp_xwait_exit(struct gmp_g *g) GMP_HIDDEN;                 /* G, exiting: unwound out of such a wait */
bool gmp_xwait_owns_sigsys(void) GMP_HIDDEN;                     /* any: SIGSYS's kernel handler is gmp's */
bool gmp_xwait_trapping(void) GMP_HIDDEN;                        /* any: a G is inside a trapped wait */
void gmp_xwait_sigsys_plain(bool ign) GMP_HIDDEN;                /* the program set SIG_DFL (false) or SIG_IGN */
bool gmp_xwait_sigsys_ignored(void) GMP_HIDDEN;                  /* the program's SIGSYS action is SIG_IGN */
bool gmp_xwait_sigsys_default(void) GMP_HIDDEN;                  /* dispatcher: SIGSYS with no handler, done */
extern _Atomic uint64_t gmp_xwait_parks GMP_HIDDEN;
/* G: a futex wait parked through a watcher: 0, -EAGAIN, -ETIMEDOUT, -EINTR; 1 if no watcher slot is free */
long gmp_xwait_park(_Atomic uint32_t *addr, uint32_t val, bool priv, int64_t deadline) GMP_HIDDEN;

/* rawtrap.c: system calls made outside glibc (libgomp's futex calls) trapped and made as syscall(2) makes them */
enum { SUD_OFF = 0, SUD_XWAIT, SUD_RAW };
enum { RAWTRAP_OFF = 0, RAWTRAP_SWITCHING, RAWTRAP_ALL };
extern _Atomic int gmp_rawtrap GMP_HIDDEN;                       /* RAWTRAP_*: set once, by sysmon or at start-up */
extern _Atomic bool gmp_rawtrap_pending GMP_HIDDEN;              /* sysmon will switch: no new trapped xwait */
extern _Atomic uint64_t gmp_rawtrap_traps GMP_HIDDEN;            /* calls trapped (gmp_stats) */
/* the shims' syscall(2), -errno convention; park: how a private futex wait waits */
enum { RAWCALL_KERNEL = 0, RAWCALL_WATCH, RAWCALL_PARK };
extern long (*gmp_rawtrap_call)(long nr, const long a[6], int park) GMP_HIDDEN;
void gmp_rawtrap_init(void) GMP_HIDDEN;                          /* start-up, after gmp_xwait_init */
void gmp_rawtrap_enable(struct gmp_m *m) GMP_HIDDEN;             /* m's thread, not in a handler */
static inline void gmp_rawtrap_check(struct gmp_m *m)            /* before an M runs user code: execute, exitsyscall */
{
	if (GMP_UNLIKELY(atomic_load_explicit(&gmp_rawtrap, memory_order_acquire) != RAWTRAP_OFF) &&
	    (atomic_load_explicit(&m->sud_mode, memory_order_relaxed) != SUD_RAW ||
	     __atomic_load_n(&m->sud_sel, __ATOMIC_RELAXED) != 1 /* a call ran untrapped */))
		gmp_rawtrap_enable(m);
}
bool gmp_rawtrap_signal(struct gmp_g *g, int sig, siginfo_t *si, void *uc) GMP_HIDDEN; /* dispatcher: handled? */
void gmp_rawtrap_unseen(struct gmp_m *m) GMP_HIDDEN;             /* sysmon: m's G sleeps where gmp does not see */
bool gmp_rawtrap_tick(int64_t now) GMP_HIDDEN;                   /* sysmon, every round: true while Ms switch */
void gmp_rawtrap_fork_child(struct gmp_m *m) GMP_HIDDEN;         /* fork child: its one M */
/* any, around a change of SIGSYS's kernel action: before it, and after (traps may skip rt_sigreturn) */
void gmp_rawtrap_sigsys_changing(void) GMP_HIDDEN;
void gmp_rawtrap_sigsys_changed(void) GMP_HIDDEN;

/* sysmon.c */
int gmp_sysmon_start(void) GMP_HIDDEN;                  /* G or foreign: 0 or -EAGAIN */
void gmp_sysmon_kick(void) GMP_HIDDEN; /* any, async-signal-safe: sysmon looks now */
void gmp_trim_pooled_stacks(void) GMP_HIDDEN;
extern uint64_t gmp_sysmon_nretake GMP_HIDDEN;         /* Ps retaken; sysmon writes, others read */
extern uint64_t gmp_sysmon_nwake GMP_HIDDEN;           /* sysmon's rounds; sysmon writes, others read */

/* stats.c: gmp_stats() and the GMP_STATS file (struct gmp_stats is in preload/gmp.h). */
struct gmp_stats;
int gmp_stats_collect(struct gmp_stats *out, size_t size) GMP_HIDDEN; /* any but g0; 0 or -errno */
void gmp_stats_init(void) GMP_HIDDEN;          /* init: read GMP_STATS */
void gmp_stats_tick(int64_t now) GMP_HIDDEN;   /* sysmon: rewrite the stats file when due */

/* key.c: thread-specific data (G or foreign; never g0). */
int gmp_key_create(unsigned *out, void (*dtor)(void *)) GMP_HIDDEN; /* 0 or -EAGAIN (no free key) */
int gmp_key_delete(unsigned k) GMP_HIDDEN;                          /* 0 or -EINVAL */
void *gmp_key_get(unsigned k) GMP_HIDDEN;                           /* NULL if never set or k unknown */
int gmp_key_set(unsigned k, const void *val) GMP_HIDDEN;            /* 0, -EINVAL or -ENOMEM */
void gmp_keys_run_destructors(void) GMP_HIDDEN;        /* G or foreign thread at exit */

/*
 * libc.c: glibc's own functions, the one way to reach them (HACKING.md,
 * "Calling glibc").  gmp_real: glibc's definition of an interposed name,
 * NULL if none (dlsym(RTLD_NEXT): never gmp's own); G or foreign thread,
 * also before start-up; not g0.  gmp_libc: the functions core needs, and
 * those that must not be looked up where they are called, resolved once by
 * gmp_libc_resolve at start-up (0, or -1: a required one is missing);
 * immutable after.  Interposed functions use GMP_REAL (preload/export.h).
 */
void *gmp_real(const char *name) GMP_HIDDEN;
struct gmp_libc {
	int (*pthread_create)(unsigned long *, const void *, void *(*)(void *), void *);
	int (*pthread_join)(unsigned long, void **);
	void (*pthread_exit)(void *) __attribute__((noreturn));
	int (*pthread_getattr_np)(unsigned long, void *);
	int (*pthread_getattr_default_np)(void *);   /* may be NULL */
	int (*pthread_key_create)(unsigned *, void (*)(void *));
	int (*pthread_setspecific)(unsigned, const void *);
	int (*register_atfork)(void (*)(void), void (*)(void), void (*)(void), void *); /* __register_atfork */
	void *(*dlopen)(const char *, int);
	void *(*dlmopen)(long, const char *, int);
	/* for the exec shims, which may run in a vfork child (syscall-shims/escape.c) */
	int (*execvp)(const char *, char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	void *(*allocate_tls)(void *);
	void (*get_tls_static_info)(size_t *, size_t *);
	void (*deallocate_tls)(void *, bool);
	void (*call_tls_dtors)(void);
	void (*ctype_init)(void);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	int (*clock_gettime)(clockid_t, struct timespec *);
};
extern struct gmp_libc gmp_libc GMP_HIDDEN;
int gmp_libc_resolve(void) GMP_HIDDEN;

/* fatal.c */
_Noreturn void gmp_fatal(const char *fmt, ...) GMP_HIDDEN __attribute__((format(printf, 1, 2)));
void gmp_printf(const char *fmt, ...) GMP_HIDDEN __attribute__((format(printf, 1, 2))); /* raw write(2) */

/* traceback.c: the thread dump (dump.h has the parts crash.c shares) */
void gmp_dump_gs(int fd) GMP_HIDDEN;                              /* any, also a signal handler: every G to stderr */
bool gmp_debug_req_signal(siginfo_t *si, void *uc) GMP_HIDDEN;    /* signal 32's handler: a dump request? */

/* debug.c: GMP_DEBUG options, schedtrace, deadlock report. */
struct gmp_debug {
	int schedtrace_ms;   /* immutable after init */
	int scheddetail;
	int dumpsignal;
	bool deadlock_abort;
	bool exitstats;      /* print the switch counters at exit (stats.c) */
	int traceback;       /* GMP_TRACEBACK: 0 none, 1 single (default), 2 all; immutable after init */
};
extern struct gmp_debug gmp_debug GMP_HIDDEN;
void gmp_debug_init(void) GMP_HIDDEN;
void gmp_unwind_load(void) GMP_HIDDEN; /* the library constructor: opens libunwind for backtraces (traceback.c) */
void gmp_schedtrace(int64_t now) GMP_HIDDEN;   /* sysmon */
void gmp_deadlock_check(void) GMP_HIDDEN;      /* sysmon */

/* crash.c: fatal signals, alternate signal stacks */
bool gmp_debug_own_handler(void *fn) GMP_HIDDEN; /* is fn gmp's fatal-signal handler (shown as SIG_DFL)? */
void gmp_sigstack_init(struct gmp_m *m) GMP_HIDDEN; /* m's own kernel thread: its alternate signal stack */
void gmp_sigstack_free(struct gmp_m *m) GMP_HIDDEN; /* m's own kernel thread, before it exits */
/* m's own kernel thread (g0 or gp itself): load gp's alternate signal stack, or m's own if gp is NULL
   or never set one.  Only a system call where it changes. */
void gmp_altstack_load(struct gmp_m *m, struct gmp_g *gp) GMP_HIDDEN;
_Noreturn void gmp_abort(void) GMP_HIDDEN;     /* any: abort() after gmp already reported */
const char *gmp_gstatus_name(uint32_t s) GMP_HIDDEN;
const char *gmp_waitreason_name(uint32_t w) GMP_HIDDEN;

#define gmp_assert(cond)                                                             \
	do {                                                                         \
		if (GMP_UNLIKELY(!(cond)))                                           \
			gmp_fatal("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
	} while (0)

#endif
