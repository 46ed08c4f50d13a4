/*
 * The scheduler: G status changes, executing Gs on Ms, finding work,
 * spinning and idle Ms, and the P ownership protocol (docs/design.md §3, §6).
 *
 * Shape (as Go's proc.go):
 *
 *   g0_loop:  [run the G's mcall request] -> findrunnable -> execute -> ...
 *
 * A G enters the scheduler only through mcall(): it saves its context and
 * switches to its M's g0, which runs the requested function (park, yield,
 * exit, lost P) with the G already off the CPU.  That closes every
 * "queued but still running" race: a wait-queue lock taken by the G is
 * released by g0 after the switch (gmp_park's unlockf).
 *
 * P ownership: while a G runs user code its P is in P_USER and sysmon may
 * take it (CAS P_USER -> P_RUNNING) and hand it to another M.  The G takes
 * its P back with one CAS when it calls into the runtime
 * (gmp_acquirep_user); if the CAS fails it tries an idle P, and failing
 * that it queues itself globally and its M goes idle.
 *
 * The thread pointer is written only in execute(), and only when the next
 * G's TCB differs from what this kernel thread has loaded (m->cur_tp).
 * g0 runs with whatever FS the last G left: on machines without FSGSBASE
 * an FS write is a system call (~3.4 us measured on a PVM guest), and g0
 * code needs no TLS.  Rejected: switching FS to the M's own TCB on every
 * entry to g0 (doubles the cost of every switch).
 */
#include "runtime.h"
#include "trace.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>

struct gmp_sched gmp_sched;
__thread struct gmp_g *gmp_curg __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------ G status */

static const char *const gstatus_names[G_NSTATUS] = {"idle", "runnable", "running", "syscall", "waiting",
						     "dead", "preempted"};

const char *gmp_gstatus_name(uint32_t s) { return s < G_NSTATUS ? gstatus_names[s] : "?"; }

/* Legal transitions; everything else is a broken invariant. */
static bool gstatus_ok(uint32_t from, uint32_t to)
{
	switch (from) {
	case G_IDLE: return to == G_RUNNABLE || to == G_RUNNING; /* create; adopting main */
	case G_RUNNABLE: return to == G_RUNNING;
	case G_RUNNING:
		return to == G_RUNNABLE || to == G_WAITING || to == G_SYSCALL || to == G_DEAD || to == G_PREEMPTED;
	case G_PREEMPTED: return to == G_RUNNABLE; /* queued by the M it stopped on (preempt_m) */
	case G_SYSCALL: return to == G_RUNNING || to == G_RUNNABLE;
	case G_WAITING: return to == G_RUNNABLE;
	case G_DEAD: return to == G_IDLE;
	}
	return false;
}

void gmp_casgstatus(struct gmp_g *g, uint32_t from, uint32_t to)
{
	if (GMP_UNLIKELY(!gstatus_ok(from, to)))
		gmp_fatal("illegal G status change %s -> %s (G %llu)", gmp_gstatus_name(from), gmp_gstatus_name(to),
			  (unsigned long long)g->goid);
	if (from == G_IDLE)
		g->epoch = gmp_sched.epoch; /* created or adopted in this process */
	uint32_t old = from;
	if (GMP_UNLIKELY(!atomic_compare_exchange_strong_explicit(&g->status, &old, to, memory_order_acq_rel,
								  memory_order_acquire)))
		gmp_fatal("G %llu status is %s, expected %s (-> %s)", (unsigned long long)g->goid,
			  gmp_gstatus_name(old), gmp_gstatus_name(from), gmp_gstatus_name(to));
}

uint32_t gmp_fastrand(struct gmp_m *m)
{
	/* xorshift64*; per M, no lock */
	uint64_t x = m->fastrand;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	m->fastrand = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Load tp as this kernel thread's thread pointer (FS base).  g0 only. */
static void set_tp(struct gmp_m *m, void *tp)
{
	/* before the write: an FS-base trap (fstrap.c) loads cur_tp; also a hint for wakers (gmp_handoff_nextg) */
	__atomic_store_n(&m->cur_tp, tp, __ATOMIC_RELAXED);
	__asm__ volatile("" ::: "memory");
	int err = GMP_UNLIKELY(gmp_fstrap && !m->fsarmed) ? gmp_fstrap_arm(m) : gmp_arch_set_tp(tp);
	if (err)
		gmp_fatal("cannot set the thread pointer (%d)", err);
	m->nfswrite++;
}

/* ------------------------------------------------------------ global queue, idle lists */

/*
 * Real-time threads (SCHED_FIFO, SCHED_RR).  Their Gs never sit in a P's
 * ring: they queue at the front of the global queue in priority order
 * (FIFO among equals), so every M's next look at the global queue
 * (findrunnable looks there first while nrtq > 0) runs the highest one.
 * A G in user code that made a higher real-time G runnable while no P
 * is free gives its P up to it at its next return to user code
 * (gmp_releasep_user -> gmp_rt_preempt), as the kernel preempts the
 * waker.  Futex waits (mutexes, condvars, semaphores, joins) wake the
 * highest-priority waiter first (futex.c).  SCHED_OTHER Gs keep the
 * fair FIFO rings.  Lock held.
 */
static void globrunqput_rt(struct gmp_g *gp)
{
	uint8_t pr = atomic_load_explicit(&gp->rtprio, memory_order_relaxed);
	struct gmp_g **pp = &gmp_sched.runqhead;
	while (*pp && atomic_load_explicit(&(*pp)->rtprio, memory_order_relaxed) >= pr)
		pp = &(*pp)->schedlink;
	gp->schedlink = *pp;
	*pp = gp;
	if (!gp->schedlink)
		gmp_sched.runqtail = gp;
	atomic_fetch_add_explicit(&gmp_sched.nrtq, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&gmp_sched.runqsize, 1, memory_order_relaxed);
}

void gmp_globrunqput_batch(struct gmp_g *head, struct gmp_g *tail, int n)
{
	if (GMP_UNLIKELY(atomic_load_explicit(&gmp_sched.rtused, memory_order_relaxed))) {
		/* real-time Gs go to their place at the front; the others on as a batch */
		struct gmp_g *h = NULL, *t = NULL, *nx;
		int k = 0;
		tail->schedlink = NULL;
		for (struct gmp_g *g = head; g; g = nx) {
			nx = g->schedlink;
			if (atomic_load_explicit(&g->rtprio, memory_order_relaxed)) {
				globrunqput_rt(g);
				continue;
			}
			g->schedlink = NULL;
			if (t)
				t->schedlink = g;
			else
				h = g;
			t = g;
			k++;
		}
		if (!h)
			return;
		head = h;
		tail = t;
		n = k;
	}
	tail->schedlink = NULL;
	if (gmp_sched.runqtail)
		gmp_sched.runqtail->schedlink = head;
	else
		gmp_sched.runqhead = head;
	gmp_sched.runqtail = tail;
	atomic_fetch_add_explicit(&gmp_sched.runqsize, n, memory_order_relaxed);
}

static struct gmp_g *globrunqpop(void)
{
	struct gmp_g *g = gmp_sched.runqhead;
	if (g) {
		gmp_sched.runqhead = g->schedlink;
		if (!gmp_sched.runqhead)
			gmp_sched.runqtail = NULL;
		atomic_fetch_sub_explicit(&gmp_sched.runqsize, 1, memory_order_relaxed);
		if (GMP_UNLIKELY(atomic_load_explicit(&g->rtprio, memory_order_relaxed)))
			atomic_fetch_sub_explicit(&gmp_sched.nrtq, 1, memory_order_relaxed);
	}
	return g;
}

/* Take a fair share of the global queue; the first G is returned, the rest go to p's ring. */
struct gmp_g *gmp_globrunqget(struct gmp_p *p, int max)
{
	int size = atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed);
	if (size == 0)
		return NULL;
	int n = size / (int)gmp_sched.nprocs + 1;
	if (n > size)
		n = size;
	if (GMP_UNLIKELY(atomic_load_explicit(&gmp_sched.nrtq, memory_order_relaxed) > 0))
		n = 1; /* real-time ones first, and never into a ring */
	if (max > 0 && n > max)
		n = max;
	if (n > GMP_RUNQ_SIZE / 2)
		n = GMP_RUNQ_SIZE / 2;
	int room = GMP_RUNQ_SIZE - (int)gmp_runqlen(p);
	if (n > room + 1)
		n = room + 1; /* into the ring without overflowing it back here */
	struct gmp_g *gp = globrunqpop();
	while (--n > 0) {
		struct gmp_g *g = globrunqpop();
		gmp_runqput(p, g, false);
	}
	return gp;
}

/*
 * An idle P normally has an empty run queue.  The exception is the
 * GMP_MAXTHREADS cap: startm cannot start an M for a P with work, so the P
 * waits on the idle list with its queue; the next M that takes an idle P or
 * steals runs it, and sysmon keeps trying to start one.
 */
void gmp_pidleput(struct gmp_p *p)
{
	atomic_store_explicit(&p->status, P_IDLE, memory_order_release);
	p->m = NULL;
	p->link = gmp_sched.pidle;
	gmp_sched.pidle = p;
	atomic_fetch_add_explicit(&gmp_sched.npidle, 1, memory_order_relaxed);
}

struct gmp_p *gmp_pidleget(void)
{
	struct gmp_p *p = gmp_sched.pidle;
	if (p) {
		gmp_sched.pidle = p->link;
		atomic_fetch_sub_explicit(&gmp_sched.npidle, 1, memory_order_relaxed);
		atomic_store_explicit(&p->status, P_RUNNING, memory_order_relaxed);
	}
	return p;
}

static void acquirep(struct gmp_m *m, struct gmp_p *p)
{
	m->p = p;
	p->m = m;
	atomic_store_explicit(&p->status, P_RUNNING, memory_order_release);
}

static struct gmp_m *mget(void)
{
	struct gmp_m *m = gmp_sched.midle;
	if (m) {
		gmp_sched.midle = m->schedlink;
		gmp_sched.nmidle--;
		if (m == gmp_sched.sleeper) {
			gmp_sched.sleeper = NULL;
			atomic_store_explicit(&gmp_sched.sleeper_when, 0, memory_order_relaxed);
		}
	}
	return m;
}

/* Wake an idle M from its futex sleep or its blocking poll. */
static void mkick(struct gmp_m *m)
{
	gmp_kfutex_wake(&m->park, 1);
	if (atomic_load(&m->in_poll))
		gmp_netpoll_os_break();
}

static void notewakeup(struct gmp_m *m)
{
	atomic_store_explicit(&m->park, 1, memory_order_seq_cst);
	mkick(m);
}

void gmp_mkick_sleeper(struct gmp_m *m) { mkick(m); }

/*
 * Hand each G of list whose last M spins with its TLS loaded to that M
 * (TLS affinity); returns the rest as a list, *n their number, *tailp the
 * last.
 */
static struct gmp_g *handoff_affine(struct gmp_g *list, int *n, struct gmp_g **tailp)
{
	struct gmp_g *head = NULL, *tail = NULL;
	for (struct gmp_g *g = list, *nx; g; g = nx) {
		nx = g->schedlink;
		if (gmp_handoff_nextg(g)) {
			(*n)--;
			continue;
		}
		g->schedlink = NULL;
		if (tail)
			tail->schedlink = g;
		else
			head = g;
		tail = g;
	}
	*tailp = tail;
	return head;
}

void gmp_inject(struct gmp_g *list, int n)
{
	/* Gs whose last M spins go there (TLS affinity), the rest to the global queue. */
	struct gmp_g *tail;
	list = handoff_affine(list, &n, &tail);
	if (!list)
		return;
	gmp_lock(&gmp_sched.lock);
	gmp_globrunqput_batch(list, tail, n);
	gmp_unlock(&gmp_sched.lock);
	for (int i = 0; i < n && atomic_load(&gmp_sched.npidle) > 0; i++)
		gmp_wakep();
}

/* ------------------------------------------------------------ starting and stopping Ms */

static void *mthread_main(void *arg)
{
	struct gmp_m *m = arg;
	gmp_mstart(m);
	return NULL;
}

/* Ms whose kernel thread could not be created, kept for the next newm; sched.lock. */
static struct gmp_m *mspare;

/*
 * Create a kernel thread for a new M that starts with p.  Any context.
 * On failure (-ENOMEM, -EAGAIN) nothing is kept: the M struct waits on
 * mspare (Ms are on the push-only allm list and never freed) and the
 * caller gives p back.
 */
static int newm(struct gmp_p *p, bool spinning)
{
	gmp_lock(&gmp_sched.lock);
	struct gmp_m *m = mspare;
	if (m)
		mspare = m->schedlink;
	gmp_unlock(&gmp_sched.lock);
	if (!m)
		m = gmp_allocm();
	if (!m)
		return -ENOMEM;
	m->nextp = p;
	m->spinning = spinning;
	m->epoch = gmp_sched.epoch;
	p->m = m;
	/*
	 * The kernel thread is an ordinary glibc thread: it has its own TCB
	 * (g0's FS) and is on glibc's thread list, so glibc-internal code that
	 * walks that list keeps working.  Its stack is g0's stack.
	 */
	unsigned long th;
	int err = GMP_FAULT(M_CLONE) ? EAGAIN : gmp_kthread_create(&th, mthread_main, m);
	if (err) {
		m->nextp = NULL;
		gmp_lock(&gmp_sched.lock);
		m->schedlink = mspare;
		mspare = m;
		gmp_unlock(&gmp_sched.lock);
		return -err;
	}
	return 0;
}

/*
 * Give p (or an idle P if p is NULL) to an idle or new M.  spinning: the
 * caller already counted the new M in nmspinning.  At GMP_MAXTHREADS the P
 * goes back to the idle list and the work waits for a running M.
 */
static void startm(struct gmp_p *p, bool spinning)
{
	gmp_lock(&gmp_sched.lock);
	if (!p) {
		p = gmp_pidleget();
		if (!p) {
			gmp_unlock(&gmp_sched.lock);
			if (spinning)
				atomic_fetch_sub(&gmp_sched.nmspinning, 1);
			return;
		}
	}
	struct gmp_m *m = mget();
	if (!m) {
		if ((uint32_t)gmp_sched.nmtotal >= gmp_sched.maxthreads) {
			gmp_pidleput(p);
			gmp_unlock(&gmp_sched.lock);
			if (spinning)
				atomic_fetch_sub(&gmp_sched.nmspinning, 1);
			return;
		}
		gmp_sched.nmtotal++;
		gmp_unlock(&gmp_sched.lock);
		if (newm(p, spinning) != 0) {
			gmp_lock(&gmp_sched.lock);
			gmp_sched.nmtotal--;
			gmp_pidleput(p);
			gmp_unlock(&gmp_sched.lock);
			if (spinning)
				atomic_fetch_sub(&gmp_sched.nmspinning, 1);
		}
		return;
	}
	gmp_unlock(&gmp_sched.lock);
	m->spinning = spinning;
	m->nextp = p;
	p->m = m;
	notewakeup(m);
}

/* Wake an idle P if there is one and no M is already looking for work. */
void gmp_wakep(void)
{
	if (atomic_load_explicit(&gmp_sched.npidle, memory_order_relaxed) == 0)
		return;
	int32_t z = 0;
	if (atomic_load_explicit(&gmp_sched.nmspinning, memory_order_relaxed) != 0 ||
	    !atomic_compare_exchange_strong(&gmp_sched.nmspinning, &z, 1))
		return;
	startm(NULL, true);
}

/* Hand a P that nobody runs any more to whoever can use it (sysmon, lost Ps). */
void gmp_handoffp(struct gmp_p *p)
{
	p->nhandoff++;
	if (!gmp_runqempty(p) || atomic_load(&gmp_sched.runqsize) > 0 || atomic_load(&p->timer0) != 0) {
		GMP_TRACE(gmp_trace_handoffp(p, true));
		startm(p, false);
		return;
	}
	int32_t z = 0;
	if (atomic_load(&gmp_sched.nmspinning) + atomic_load(&gmp_sched.npidle) == 0 &&
	    atomic_compare_exchange_strong(&gmp_sched.nmspinning, &z, 1)) {
		GMP_TRACE(gmp_trace_handoffp(p, true));
		startm(p, true);
		return;
	}
	/*
	 * The last P to go idle while Gs wait for fds: someone must poll.
	 * Usually an idle M or sysmon does, but a program that never created
	 * a thread has neither (a main thread locked to its M by an affinity
	 * call, reading a pipe, hung with two Ps), so start an M that polls
	 * (as Go's handoffp does), unless one is blocked in the poller already.
	 */
	if (atomic_load(&gmp_sched.npidle) == (int32_t)gmp_sched.nprocs - 1 && gmp_netpoll_waiters() &&
	    atomic_load(&gmp_sched.lastpoll) != 0) {
		GMP_TRACE(gmp_trace_handoffp(p, true));
		startm(p, false);
		return;
	}
	GMP_TRACE(gmp_trace_handoffp(p, false));
	gmp_lock(&gmp_sched.lock);
	gmp_pidleput(p);
	struct gmp_m *idle = gmp_sched.sleeper == NULL ? gmp_sched.midle : NULL;
	gmp_unlock(&gmp_sched.lock);
	/* An idle P and no sleeper: an idle M (passive in stopm) takes the role back. */
	if (idle && (gmp_netpoll_waiters() || gmp_timers_next() != 0))
		mkick(idle);
}

static _Atomic int32_t netpoll_blocker; /* 1 while an M blocks in the poller */

/* fork child (fork.c): the M that blocked in the parent's poller is not here. */
void gmp_sched_fork_child(void)
{
	atomic_store(&netpoll_blocker, 0);
	atomic_store(&gmp_sched.lastpoll, gmp_nanotime());
}

/*
 * An idle M that slept IDLE_M_REAP_NS without being needed ends its kernel
 * thread, as long as GMP_IDLE_MS spares remain.  Only Ms that run on a
 * glibc thread of their own (not m0, not a fork child's) are reaped: they
 * exit through glibc with their own TCB loaded again.  Returns true if m
 * stays.
 */
#define IDLE_M_REAP_NS (5 * 1000000000LL)
#define GMP_IDLE_MS 2

/* g0, out of every list and count: end the M's kernel thread (a glibc thread of its own). */
static _Noreturn void mthread_exit(struct gmp_m *m)
{
	GMP_TRACE(gmp_trace_mexit(m));
	if (m->cur_tp != m->g0.tcb)
		set_tp(m, m->g0.tcb); /* glibc's thread exit needs its own TCB */
	gmp_fstrap_hold(); /* its kernel thread ends: the kernel's own TCB value again (fstrap.c) */
	m->epoch = UINT32_MAX; /* an M of no epoch: its tid may be given again */
	gmp_sigstack_free(m);
	gmp_libc.pthread_exit(NULL);
	__builtin_unreachable();
}

static bool reap_idle_m(struct gmp_m *m)
{
	gmp_lock(&gmp_sched.lock);
	struct gmp_m **pp = &gmp_sched.midle;
	while (*pp && *pp != m)
		pp = &(*pp)->schedlink;
	if (*pp == NULL || gmp_sched.nmidle <= GMP_IDLE_MS || atomic_load(&m->park)) {
		gmp_unlock(&gmp_sched.lock);
		return true; /* being handed a P, or a spare we keep */
	}
	*pp = m->schedlink;
	gmp_sched.nmidle--;
	gmp_sched.nmtotal--;
	gmp_unlock(&gmp_sched.lock);
	mthread_exit(m);
}

/*
 * Take p from the M that holds it in user or kernel-call state (from):
 * sysmon's retake, or a woken poller M's (take_idlewait_p).  The old M
 * sees at once that the P is no longer its own (reclaim_p).  Any thread.
 */
bool gmp_takep(struct gmp_p *p, uint32_t from)
{
	uint32_t s = from;
	if (!atomic_compare_exchange_strong(&p->status, &s, P_RUNNING))
		return false;
	p->m = NULL;
	atomic_store_explicit(&p->idlewait, false, memory_order_relaxed);
	GMP_TRACE(gmp_trace_retake(p, from)); /* from: the status it had */
	return true;
}

/*
 * A P whose G waits in the kernel directly (p->idlewait, spin.c) has
 * nothing to run.  An M that woke from the poller with Gs to run, and
 * found no idle P, takes such a P at once instead of leaving the Gs on the
 * global queue until sysmon retakes it (two of its rounds, 20-40 us at
 * best, then another M's wake-up, 21-25 us on PVM guests, while this M is
 * awake already).  It is sysmon's retake otherwise: the waiting G finds
 * its P gone when its call returns and gets one as any kernel call does.
 * sched.lock held (as by stopm; the P's own protocol needs none).
 */
static struct gmp_p *take_idlewait_p(void)
{
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++) {
		struct gmp_p *p = gmp_sched.allp[i];
		if (atomic_load_explicit(&p->idlewait, memory_order_relaxed) && gmp_takep(p, P_SYSCALL)) {
			p->nidletake++;
			return p;
		}
	}
	return NULL;
}

/*
 * Park this M until startm hands it a P.  Called with sched.lock held and
 * no P; returns without the lock, with m->p set.  The M whose sleep ends
 * at the earliest timer ("sleeper") wakes by itself and runs timers.
 */
static void stopm(struct gmp_m *m)
{
	m->stopnow = 0; /* the time the last G stopped is stale once we sleep */
	/*
	 * passive: every P was busy when this M last looked.  Their Ms run
	 * their timers and poll whenever they run out of work (sysmon every
	 * 10 ms otherwise), so this M sleeps without the sleeper's role: an M
	 * blocked in the poller while every P runs would be woken by each fd
	 * event only to find no P (a cross-CPU wake-up per event, 21-25 us
	 * on PVM guests, where the busy Ms poll in batches for free).  A P
	 * that goes idle brings a sleeper back: its M comes here, or
	 * handoffp kicks an idle M, which then looks again.
	 */
	bool passive = false;
	struct gmp_g *polled = NULL; /* Gs the poller gave this M: for the P it gets, else the global queue */
	int npolled = 0;
	for (;;) {
		int64_t next = passive ? 0 : gmp_timers_next();
		if (next == 0 && !passive && gmp_netpoll_waiters())
			next = INT64_MAX; /* no timer, but someone must poll */
		int64_t sw = atomic_load_explicit(&gmp_sched.sleeper_when, memory_order_relaxed);
		bool sleeper = false;
		struct gmp_m *old = NULL;
		if (next != 0 && (gmp_sched.sleeper == NULL || next < sw)) {
			old = gmp_sched.sleeper;
			gmp_sched.sleeper = m;
			atomic_store_explicit(&gmp_sched.sleeper_when, next, memory_order_relaxed);
			sleeper = true;
		}
		m->schedlink = gmp_sched.midle;
		gmp_sched.midle = m;
		gmp_sched.nmidle++;
		gmp_unlock(&gmp_sched.lock);
		if (old)
			mkick(old); /* it re-evaluates; its park word stays 0 */

		for (;;) {
			if (GMP_UNLIKELY(atomic_load_explicit(&gmp_ndeferred, memory_order_relaxed) != 0))
				gmp_futex_run_deferred(NULL); /* a signal handler's wake-ups */
			if (atomic_exchange_explicit(&m->park, 0, memory_order_acquire) == 1)
				goto woken;
			int64_t timeout = -1;
			if (sleeper) {
				int64_t when = atomic_load_explicit(&gmp_sched.sleeper_when, memory_order_relaxed);
				timeout = when == INT64_MAX ? -1 : when - gmp_nanotime();
				if (gmp_sched.sleeper != m || (when != INT64_MAX && timeout <= 0))
					break;
			}
			int32_t z = 0;
			if (sleeper && gmp_netpoll_waiters() && atomic_compare_exchange_strong(&netpoll_blocker, &z, 1)) {
				/*
				 * The sleeper blocks in the poller: fd events, timers and
				 * kicks all end it.  Only one M blocks there at a time
				 * (netpoll_blocker), so a poll break always reaches it.
				 */
				atomic_store(&m->in_poll, true);
				atomic_store(&gmp_sched.lastpoll, 0);
				struct gmp_g *list = NULL;
				int n = 0;
				if (atomic_load(&m->park) == 0) {
					m->nsleep++;
					n = gmp_netpoll_poll(timeout, &list);
					gmp_fstrap_refresh(m); /* (it slept: fstrap.c) */
				}
				atomic_store(&m->in_poll, false);
				atomic_store(&netpoll_blocker, 0);
				atomic_store(&gmp_sched.lastpoll, gmp_nanotime());
				if (n > 0) {
					GMP_TRACE(gmp_trace_unpark_list(m, list));
					polled = list;
					npolled = n;
					break; /* try to get a P and run them */
				}
			} else {
				if (!sleeper && m->g0.stack.map == NULL)
					timeout = IDLE_M_REAP_NS; /* a spare M that sleeps this long is reaped */
				m->nsleep++;
				int r = gmp_kfutex_wait(&m->park, 0, timeout);
				gmp_fstrap_refresh(m);
				if (!sleeper && r == -ETIMEDOUT && reap_idle_m(m))
					continue; /* not reaped after all: sleep again */
				if (!sleeper && r != -ETIMEDOUT && atomic_load_explicit(&m->park, memory_order_relaxed) == 0)
					break; /* kicked (handoffp: a P went idle, nobody polls): look again */
			}
			if (sleeper && gmp_sched.sleeper != m)
				break; /* replaced by an earlier sleeper: re-evaluate */
		}
		/* Timed out (or replaced): leave the idle list unless someone is handing us a P. */
		gmp_lock(&gmp_sched.lock);
		struct gmp_m **pp = &gmp_sched.midle;
		while (*pp && *pp != m)
			pp = &(*pp)->schedlink;
		if (*pp == NULL) {
			/* startm took us: the hand-off is on its way */
			gmp_unlock(&gmp_sched.lock);
			if (polled)
				gmp_inject(polled, npolled);
			while (atomic_exchange_explicit(&m->park, 0, memory_order_acquire) != 1)
				gmp_kfutex_wait(&m->park, 0, -1);
			gmp_fstrap_refresh(m);
			goto woken;
		}
		*pp = m->schedlink;
		gmp_sched.nmidle--;
		if (gmp_sched.sleeper == m) {
			gmp_sched.sleeper = NULL;
			atomic_store_explicit(&gmp_sched.sleeper_when, 0, memory_order_relaxed);
		}
		struct gmp_p *p = gmp_pidleget();
		if (!p && (polled || atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 0))
			p = take_idlewait_p();
		if (p) {
			gmp_unlock(&gmp_sched.lock);
			acquirep(m, p);
			if (polled) {
				/*
				 * Ours to run, unless the M that ran one last spins with
				 * its TLS loaded (TLS affinity, as gmp_inject): waking
				 * another M for them (gmp_inject's wakep) would cost a
				 * cross-CPU wake-up only for it to find them gone.  More
				 * than one kept: others may steal.
				 */
				struct gmp_g *tail;
				polled = handoff_affine(polled, &npolled, &tail);
				for (struct gmp_g *g = polled, *nx; g; g = nx) {
					nx = g->schedlink;
					gmp_runqput(p, g, false);
				}
				if (npolled > 1)
					gmp_wakep();
			}
			return;
		}
		if (polled) {
			gmp_unlock(&gmp_sched.lock);
			gmp_inject(polled, npolled);
			polled = NULL;
			gmp_lock(&gmp_sched.lock);
		}
		/* every P is busy; their owners run their timers and poll. Sleep again. */
		passive = true;
	}
woken:
	acquirep(m, m->nextp);
	m->nextp = NULL;
}

/* A spinning M found work: stop spinning, and let another M look if it was the last. */
static void resetspinning(struct gmp_m *m)
{
	if (!m->spinning)
		return;
	m->spinning = false;
	if (atomic_fetch_sub(&gmp_sched.nmspinning, 1) == 1)
		gmp_wakep();
}

/* ------------------------------------------------------------ finding work */

static struct gmp_g *stealwork(struct gmp_m *m, struct gmp_p *p, bool *inherit)
{
	uint32_t n = gmp_sched.nprocs;
	for (int round = 0; round < 4; round++) {
		bool last = round == 3;
		uint32_t start = gmp_fastrand(m) % n;
		for (uint32_t i = 0; i < n; i++) {
			struct gmp_p *v = gmp_sched.allp[(start + i) % n];
			if (v == p)
				continue;
			if (last) {
				int64_t t0 = atomic_load_explicit(&v->timer0, memory_order_relaxed);
				if (t0 != 0) {
					int64_t now = gmp_nanotime();
					if (t0 <= now) {
						gmp_timers_run(v, p, now);
						struct gmp_g *gp = gmp_runqget(p, inherit);
						if (gp)
							return gp;
					}
				}
			}
			if (!gmp_runqempty(v)) {
				uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
				struct gmp_g *gp = gmp_runqsteal(p, v, last);
				if (gp) {
					GMP_TRACE(gmp_trace_steal(m, p, v,
								  atomic_load_explicit(&p->runqtail, memory_order_relaxed) - t + 1));
					*inherit = false;
					p->nsteal++;
					return gp;
				}
			}
		}
	}
	return NULL;
}

/* Find a runnable G for m (which holds a P); blocks until there is one. g0 only. */
static struct gmp_g *findrunnable(struct gmp_m *m, bool *inherit)
{
	struct gmp_g *gp;
top:;
	struct gmp_p *p = m->p;
	*inherit = false;
	atomic_store(&m->nextg, NULL); /* open for a waker's hand-off until we run a G or give up p */
	if (atomic_load_explicit(&gmp_sched.spinm, memory_order_relaxed) != m)
		atomic_store_explicit(&gmp_sched.spinm, m, memory_order_relaxed);
	if (GMP_UNLIKELY(atomic_load_explicit(&gmp_ndeferred, memory_order_relaxed) != 0))
		gmp_futex_run_deferred(p);
	int64_t t0 = atomic_load_explicit(&p->timer0, memory_order_relaxed);
	if (t0 != 0) {
		int64_t now = gmp_nanotime();
		if (t0 <= now)
			gmp_timers_run(p, p, now);
	}
	/*
	 * One G in 61 comes from the global queue, so that local work cannot
	 * starve it: counted from the last look there (globaltick), since Gs
	 * that an idle spin or a hand-off runs skip findrunnable and would skip
	 * a tick that is a multiple of 61.  When a G waits in runnext (just woken: a timer that
	 * fired, a hand-off), it runs first and the global G right after it:
	 * the global one is often a preempted CPU-bound G that keeps the P for
	 * a whole time slice, which the woken one would otherwise wait out.
	 */
	bool fair = p->schedtick - p->globaltick >= 61 || p->globalnext;
	if (fair && atomic_load_explicit(&p->runnext, memory_order_relaxed) && !p->globalnext &&
	    atomic_load_explicit(&gmp_sched.nrtq, memory_order_relaxed) == 0) {
		p->globalnext = true;
		fair = false;
	}
	if ((fair && atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 0) ||
	    GMP_UNLIKELY(atomic_load_explicit(&gmp_sched.nrtq, memory_order_relaxed) > 0)) {
		p->globalnext = false;
		p->globaltick = p->schedtick;
		/*
		 * A long global queue (a burst of wake-ups overflowed the local
		 * rings) drains in batches: one G per 61 could leave some of
		 * 10,000 threads unrun for seconds.
		 */
		int batch = atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 64 ? 32 : 1;
		gmp_lock(&gmp_sched.lock);
		gp = gmp_globrunqget(p, batch);
		gmp_unlock(&gmp_sched.lock);
		if (gp)
			goto found;
	}
	gp = gmp_runqget(p, inherit);
	if (gp)
		goto found;
	if (atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 0) {
		p->globaltick = p->schedtick;
		gmp_lock(&gmp_sched.lock);
		gp = gmp_globrunqget(p, 0);
		gmp_unlock(&gmp_sched.lock);
		if (gp)
			goto found;
	}
	/* Poll the network without blocking, unless an M is blocked in the poller already. */
	if (gmp_netpoll_waiters() && atomic_load_explicit(&gmp_sched.lastpoll, memory_order_relaxed) != 0) {
		gp = gmp_netpoll_ready(m, p);
		atomic_store(&gmp_sched.lastpoll, gmp_nanotime());
		if (gp)
			goto found;
	}
	/* Steal, unless enough Ms are already spinning (at most half the busy Ps). */
	int32_t busy = (int32_t)gmp_sched.nprocs - atomic_load_explicit(&gmp_sched.npidle, memory_order_relaxed);
	if (m->spinning || 2 * atomic_load_explicit(&gmp_sched.nmspinning, memory_order_relaxed) < busy) {
		if (!m->spinning) {
			m->spinning = true;
			atomic_fetch_add(&gmp_sched.nmspinning, 1);
		}
		gp = stealwork(m, p, inherit);
		if (gp)
			goto found;
	}

	/* Nothing to do: spin a while with the P (core/spin.c). */
	gp = gmp_idlespin(m, p, inherit);
	if (gp)
		goto found;
	/* Timers due on idle Ps (the sleeper that woke for one got another P): run them before giving up. */
	gmp_run_due_timers(p, 0);
	if ((gp = gmp_runqget(p, inherit)) != NULL)
		goto found;
	if ((gp = gmp_close_nextg(m)) != NULL) {
		*inherit = true;
		goto found_closed;
	}

	/* Still nothing: give up the P, then look once more before sleeping. */
	gmp_lock(&gmp_sched.lock);
	if (atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 0) {
		gp = gmp_globrunqget(p, 0);
		gmp_unlock(&gmp_sched.lock);
		goto found;
	}
	m->p = NULL;
	gmp_pidleput(p);
	gmp_unlock(&gmp_sched.lock);

	if (m->spinning) {
		/*
		 * Stop spinning first, then recheck every queue: a G made
		 * runnable after our last look saw nmspinning > 0 and did not
		 * wake anyone, so it is ours to find (Go's "delicate dance").
		 */
		m->spinning = false;
		atomic_fetch_sub(&gmp_sched.nmspinning, 1);
		for (uint32_t i = 0; i < gmp_sched.nprocs; i++) {
			if (!gmp_runqempty(gmp_sched.allp[i])) {
				gmp_lock(&gmp_sched.lock);
				struct gmp_p *np = gmp_pidleget();
				gmp_unlock(&gmp_sched.lock);
				if (np) {
					acquirep(m, np);
					m->spinning = true;
					atomic_fetch_add(&gmp_sched.nmspinning, 1);
					goto top;
				}
				break;
			}
		}
	}
	gmp_lock(&gmp_sched.lock);
	if (atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 0) {
		struct gmp_p *np = gmp_pidleget();
		if (np) {
			gp = gmp_globrunqget(np, 0);
			gmp_unlock(&gmp_sched.lock);
			acquirep(m, np);
			goto found;
		}
	}
	stopm(m);
	goto top;

found:;
	struct gmp_g *hg = gmp_close_nextg(m);
	if (hg) {
		gmp_runqput(m->p, gp, false); /* the handed G first: its TCB is loaded here */
		gp = hg;
		*inherit = true;
	}
found_closed:
	resetspinning(m);
	return gp;
}

/* Run gp on m until it calls back into the scheduler.  g0 only, P held. */
static void execute(struct gmp_m *m, struct gmp_g *gp, bool inherit)
{
	struct gmp_p *p = m->p;
	gmp_casgstatus(gp, G_RUNNABLE, G_RUNNING);
	while (GMP_UNLIKELY(atomic_load(&gp->shrinking)))
		gmp_cpu_relax(); /* sysmon is giving back pages below its stack pointer (stack.c) */
	gp->m = m;
	m->curg = gp;
	/*
	 * Every run counts, also a runnext one that inherits the time slice:
	 * without time-slice preemption a chain of runnext wake-ups (timers,
	 * ping-pongs) could otherwise keep schedtick still and the 1-in-61
	 * look at the global queue would never come.
	 */
	(void)inherit;
	p->schedtick++;
	if (m->cur_tp != gp->tcb)
		set_tp(m, gp->tcb);
	else
		gmp_fstrap_refresh(m); /* the same G again: the scheduler may have slept in between */
	if (GMP_UNLIKELY(m->altowner != NULL || gp->altgen != 0))
		gmp_altstack_load(m, gp);
	uint64_t kmask = gmp_kmask(gp->sigmask);
	if (GMP_UNLIKELY(m->cur_sigmask != kmask)) {
		/* only programs that change masks pay for this */
		gmp_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &kmask, NULL, 8);
		m->cur_sigmask = kmask;
	}
	GMP_TRACE(gmp_trace_gostart(m, gp));
	atomic_store_explicit(&p->status, P_USER, memory_order_release);
	m->runstart = gmp_nanotime();
	gmp_ctx_switch(&m->g0.ctx, &gp->ctx);
	int64_t now = gmp_nanotime();
	gp->cputime += now - m->runstart;
	m->stopnow = now;
	GMP_TRACE(gmp_trace_gostop(m, gp));
	m->curg = NULL;
}

/* ------------------------------------------------------------ locked Gs */

static uint64_t proc_affinity[GMP_AFFINITY_WORDS]; /* the Ms' mask before any G changed one */
static _Atomic int proc_affinity_saved;

/*
 * A G locked to its M (gmp_lockm) runs only on that M, and the M runs no
 * other G.  When the G stops (parks, yields, loses its P), its M gives
 * its P away and sleeps here; whichever M later picks the runnable G hands
 * that M its own P (startlockedm).  g0, P held or not; returns with a P.
 */
static void stoplockedm(struct gmp_m *m)
{
	struct gmp_p *p = m->p;
	if (p) {
		m->p = NULL;
		p->m = NULL;
		gmp_handoffp(p);
	}
	while (atomic_exchange_explicit(&m->park, 0, memory_order_acquire) != 1)
		gmp_kfutex_wait(&m->park, 0, -1);
	gmp_fstrap_refresh(m);
	acquirep(m, m->nextp);
	m->nextp = NULL;
}

/* g0, P held: gp is locked to another M.  Give it our P, then go idle. */
static void startlockedm(struct gmp_m *m, struct gmp_g *gp)
{
	struct gmp_m *lm = gp->lockedm;
	struct gmp_p *p = m->p;
	m->p = NULL;
	lm->nextp = p;
	p->m = lm;
	notewakeup(lm);
	gmp_lock(&gmp_sched.lock);
	stopm(m);
}

/*
 * Lock g to the M it runs on, for the rest of its life (as a goroutine
 * that calls LockOSThread and never unlocks).  The kernel knows the owner
 * of a robust or priority-inheritance futex by its kernel thread: glibc
 * writes the tid from the TCB into the lock word, and the kernel walks the
 * robust list registered by the kernel thread when it dies.  So the G's
 * TCB gets the M's real tid and the M registers the G's robust list.  A
 * G runs on one M between scheduling points, so no P is needed here.
 */
void gmp_lockm(struct gmp_g *g)
{
	if (g->lockedm)
		return;
	struct gmp_m *m = g->m;
	pid_t *tid = gmp_tcb_tid_addr(g->tcb);
	g->lockedm_savedtid = *tid;
	*tid = m->tid;
	gmp_sys2(SYS_set_robust_list, gmp_tcb_robust_head(g->tcb), 24);
	m->lockedg = g;
	g->lockedm = m;
}

int64_t gmp_g_cputime(struct gmp_g *g)
{
	int64_t t = g->cputime;
	struct gmp_m *m = g->m;
	if (atomic_load(&g->status) == G_RUNNING && m && m->curg == g)
		t += gmp_nanotime() - m->runstart; /* the current stretch */
	return t < 0 ? 0 : t;
}

/*
 * A thread's CPU affinity is its kernel thread's: a G that asks for one is
 * locked to its M (for life), and the M gets the mask, so the thread runs
 * only on those CPUs and no other thread is affected.  G, user state.
 */
int gmp_apply_affinity(struct gmp_g *g)
{
	atomic_store(&g->affinity_pending, false);
	uint64_t *mask = atomic_load(&g->affinity);
	if (!mask)
		return 0;
	if (!atomic_load(&proc_affinity_saved) && !g->lockedm &&
	    gmp_sys3(SYS_sched_getaffinity, 0, sizeof proc_affinity, proc_affinity) > 0)
		atomic_store(&proc_affinity_saved, 1);
	gmp_lockm(g);
	long r = gmp_sys3(SYS_sched_setaffinity, 0, GMP_AFFINITY_WORDS * 8, mask);
	return r < 0 ? (int)-r : 0;
}

/* g0: a locked G ends.  Do what the kernel does for a dying thread's robust list, then unlock. */
static void unlockm(struct gmp_m *m, struct gmp_g *gp)
{
	pid_t *tid = gmp_tcb_tid_addr(gp->tcb);
	bool canend = m->g0.tcb && m->g0.stack.map == NULL; /* a glibc thread of its own: see reap_idle_m */
	m->endnow = gmp_robust_exit(gp, *tid, canend ? gmp_tcb_robust_head(m->g0.tcb) : NULL);
	*tid = gp->lockedm_savedtid;
	if (m->g0.tcb)
		gmp_sys2(SYS_set_robust_list, gmp_tcb_robust_head(m->g0.tcb), 24);
	if (atomic_load(&gp->affinity) && atomic_load(&proc_affinity_saved))
		gmp_sys3(SYS_sched_setaffinity, 0, sizeof proc_affinity, proc_affinity); /* the M's again */
	m->lockedg = NULL;
	gp->lockedm = NULL;
}

/*
 * g0, P held: end this M's kernel thread now (its locked G left robust
 * priority-inheritance locks with waiters, which the kernel hands on at
 * the thread's end, gmp_robust_exit).  Its P goes to another M.
 */
static _Noreturn void mend(struct gmp_m *m)
{
	struct gmp_p *p = m->p;
	m->p = NULL;
	p->m = NULL;
	gmp_handoffp(p);
	gmp_lock(&gmp_sched.lock);
	gmp_sched.nmtotal--;
	gmp_unlock(&gmp_sched.lock);
	mthread_exit(m);
}

static _Noreturn void g0_loop(struct gmp_m *m)
{
	for (;;) {
		void (*fn)(struct gmp_m *, struct gmp_g *) = m->mcall_fn;
		if (fn) {
			m->mcall_fn = NULL;
			fn(m, m->mcall_g);
			if (GMP_UNLIKELY(m->endnow))
				mend(m);
		}
		if (GMP_UNLIKELY(m->lockedg != NULL)) {
			stoplockedm(m);
			execute(m, m->lockedg, false);
			continue;
		}
		bool inherit;
		struct gmp_g *gp = findrunnable(m, &inherit);
		if (GMP_UNLIKELY(gp->lockedm != NULL)) {
			startlockedm(m, gp);
			continue;
		}
		execute(m, gp, inherit);
	}
}

void gmp_mstart(struct gmp_m *m)
{
	m->tid = (pid_t)gmp_sys0(SYS_gettid);
	gmp_sys4(SYS_rt_sigprocmask, SIG_SETMASK, NULL, &m->cur_sigmask, 8);
	if (m->cur_sigmask != gmp_kmask(m->cur_sigmask)) {
		/*
		 * A new thread has its creator's mask, and sysmon blocks nearly
		 * everything: what gmp never blocks in the kernel (SIGSEGV for
		 * FS-base traps, which an armed M must take, and the preemption
		 * signal) is let in, as for m0 (adopt_main).
		 */
		m->cur_sigmask = gmp_kmask(m->cur_sigmask);
		gmp_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &m->cur_sigmask, NULL, 8);
	}
	gmp_sigstack_init(m);
	m->g0.tcb = gmp_arch_get_tp();
	m->cur_tp = m->g0.tcb;
	gmp_fstrap_arm(m);
	gmp_curg = &m->g0;
	GMP_TRACE(gmp_trace_mstart(m));
	acquirep(m, m->nextp);
	m->nextp = NULL;
	g0_loop(m);
}

/* Entry of m0's g0, made at init: the main G switched to it for the first time. */
void gmp_m0_g0_start(void *arg)
{
	g0_loop(arg);
}

/* ------------------------------------------------------------ G side */

static void mcall(struct gmp_g *g, void (*fn)(struct gmp_m *, struct gmp_g *))
{
	struct gmp_m *m = g->m;
	/*
	 * Leaving inside a signal handler (one that parks, or a preemption):
	 * the kernel thread has the handler's mask loaded, not the G's, so the
	 * next G here must load its own (execute).
	 */
	if (GMP_UNLIKELY(g->handler_sp)) {
		if ((uintptr_t)__builtin_frame_address(0) < g->handler_sp)
			m->cur_sigmask = ~0ULL;
		else
			g->handler_sp = 0; /* left by siglongjmp, not returned from (its frames are below) */
	}
	m->mcall_fn = fn;
	m->mcall_g = g;
	gmp_ctx_switch(&g->ctx, &m->g0.ctx);
	/* resumed, possibly on another M, in user state */
	if (GMP_UNLIKELY(atomic_load_explicit(&g->sigpending, memory_order_relaxed)))
		gmp_deliver_pending(g);
	if (GMP_UNLIKELY(atomic_load_explicit(&g->affinity_pending, memory_order_relaxed)))
		gmp_apply_affinity(g); /* set by pthread_setaffinity_np from another thread */
}

/*
 * g0: the G's P was retaken; queue the G globally and sleep until given a
 * P.  A P may have gone idle since gmp_acquirep_user looked: its M saw an
 * empty global queue and nobody would look again, so take that P here,
 * under the same lock as the queueing (as Go's exitsyscall0 does).
 */
static void lostp_m(struct gmp_m *m, struct gmp_g *gp)
{
	gmp_casgstatus(gp, G_RUNNING, G_RUNNABLE);
	gmp_lock(&gmp_sched.lock);
	/*
	 * A P may have gone idle since the G looked for one without the lock
	 * (gmp_acquirep_user); its M checked the global queue before that,
	 * so the G queued there would wait with every M asleep.  Looking
	 * again under sched.lock closes the race, as findrunnable's last look.
	 */
	struct gmp_p *p = gmp_pidleget();
	if (p) {
		gmp_unlock(&gmp_sched.lock);
		acquirep(m, p);
		gmp_runqput(p, gp, true); /* a locked M hands it on in stoplockedm */
		return;
	}
	gp->schedlink = NULL;
	gmp_globrunqput_batch(gp, gp, 1);
	if (m->lockedg) {
		gmp_unlock(&gmp_sched.lock);
		return; /* g0_loop waits in stoplockedm */
	}
	stopm(m);
}

/*
 * Take the P back from P_USER/P_SYSCALL.  The status alone cannot tell
 * whether the P is still ours: sysmon may have retaken it and handed it to
 * another M whose G is now in user code, so the word reads P_USER again
 * (ABA).  Ownership is p->m, which the retaker clears at once and a new
 * owner sets: check it before the CAS, and again after it, giving the P
 * back untouched if it changed hands in between.
 */
static bool reclaim_p(struct gmp_m *m, struct gmp_p *p, uint32_t from)
{
	if (p->m != m)
		return false;
	uint32_t s = from;
	if (!atomic_compare_exchange_strong_explicit(&p->status, &s, P_RUNNING, memory_order_acq_rel,
						     memory_order_relaxed))
		return false;
	if (GMP_UNLIKELY(p->m != m)) {
		atomic_store_explicit(&p->status, from, memory_order_release); /* not ours: put it back */
		return false;
	}
	return true;
}

struct gmp_p *gmp_acquirep_user(struct gmp_g *g)
{
	/*
	 * Still in a kernel call, yet in the runtime: glibc unwound the G out
	 * of the call (cancellation: glibc 2.41's __syscall_cancel acts on
	 * the canceled bit before the system call and after one that failed
	 * with EINTR, with no handler of gmp's in between), and a cleanup
	 * handler needs its P.  The call is over: leave it here.  (Not a
	 * library that the call itself runs, as getaddrinfo's NSS modules, and
	 * that takes a lock: that G is not unwinding, and takes its P back
	 * from the kernel-call state as from user code.)
	 */
	if (GMP_UNLIKELY(g->insyscall) && gmp_tcb_cancel_unwinding(g->tcb))
		gmp_exitsyscall(g);
	for (;;) {
		struct gmp_m *m = g->m;
		struct gmp_p *p = m->p;
		if (GMP_LIKELY(p != NULL)) {
			if (GMP_LIKELY(reclaim_p(m, p, P_USER)) || reclaim_p(m, p, P_SYSCALL))
				return p;
			m->p = NULL; /* sysmon took it and handed it off */
		}
		gmp_lock(&gmp_sched.lock);
		p = gmp_pidleget();
		gmp_unlock(&gmp_sched.lock);
		if (p) {
			acquirep(m, p);
			return p;
		}
		mcall(g, lostp_m);
	}
}

/*
 * From a signal handler: take the P back only if that cannot disturb the
 * code the signal interrupted (see gmp_futex_wake_async).  The handler must
 * run on g's own stack (not g0's, not an alternate signal stack), g must be
 * its M's current G, and the P must be in user or kernel-call state; the
 * caller stores *from back into p->status when done.  NULL otherwise.
 */
struct gmp_p *gmp_acquirep_async(struct gmp_g *g, uint32_t *from)
{
	struct gmp_m *m = g->m;
	if (!m || m->curg != g || !gmp_on_g_stack(g, (uintptr_t)__builtin_frame_address(0)))
		return NULL;
	struct gmp_p *p = m->p;
	if (!p)
		return NULL;
	if (reclaim_p(m, p, P_USER)) {
		*from = P_USER;
		return p;
	}
	if (reclaim_p(m, p, P_SYSCALL)) {
		*from = P_SYSCALL;
		return p;
	}
	return NULL;
}

static void park_m(struct gmp_m *m, struct gmp_g *gp)
{
	GMP_TRACE(gmp_trace_park(m, gp)); /* before unlockf: after it, a waker owns gp */
	gp->waitsince = m->stopnow; /* when it stopped running (execute) */
	gmp_casgstatus(gp, G_RUNNING, G_WAITING);
	void (*f)(void *) = m->unlockf;
	if (f) {
		m->unlockf = NULL;
		f(m->unlockarg);
	}
}

void gmp_park(struct gmp_g *g, struct gmp_p *p, void (*unlockf)(void *), void *arg, enum gmp_waitreason why)
{
	struct gmp_m *m = g->m;
	gmp_assert(m->p == p && atomic_load_explicit(&p->status, memory_order_relaxed) == P_RUNNING);
	g->waitreason = (uint8_t)why;
	m->unlockf = unlockf;
	m->unlockarg = arg;
	mcall(g, park_m);
	g->waitreason = WR_NONE;
}

void gmp_ready(struct gmp_p *p, struct gmp_g *gp, bool next)
{
	GMP_TRACE(gmp_trace_unpark(p, gp));
	gmp_runqready(p, gp, next);
}

void gmp_runqready(struct gmp_p *p, struct gmp_g *gp, bool next)
{
	if (gmp_handoff_nextg(gp))
		return;
	if (GMP_UNLIKELY(atomic_load_explicit(&gp->rtprio, memory_order_relaxed))) {
		gmp_lock(&gmp_sched.lock);
		globrunqput_rt(gp);
		gmp_unlock(&gmp_sched.lock);
	} else if (p) {
		gmp_runqput(p, gp, next);
	} else {
		gmp_lock(&gmp_sched.lock);
		gp->schedlink = NULL;
		gmp_globrunqput_batch(gp, gp, 1);
		gmp_unlock(&gmp_sched.lock);
	}
	gmp_wakep();
}

static void yield_m(struct gmp_m *m, struct gmp_g *gp)
{
	(void)m;
	gmp_casgstatus(gp, G_RUNNING, G_RUNNABLE);
	gmp_lock(&gmp_sched.lock);
	gp->schedlink = NULL;
	gmp_globrunqput_batch(gp, gp, 1);
	gmp_unlock(&gmp_sched.lock);
}

/*
 * g0: gp was stopped by sysmon's signal (core/preempt.c): behind every
 * runnable G, on the global queue, as Go's gopreempt_m.  A locked G's M
 * gives its P away in g0_loop and waits for it.
 */
static void preempt_m(struct gmp_m *m, struct gmp_g *gp)
{
	(void)m;
	gmp_casgstatus(gp, G_RUNNING, G_PREEMPTED);
	GMP_TRACE(gmp_trace_preempt(m, gp));
	gmp_lock(&gmp_sched.lock);
	gmp_casgstatus(gp, G_PREEMPTED, G_RUNNABLE);
	gp->schedlink = NULL;
	gmp_globrunqput_batch(gp, gp, 1);
	gmp_unlock(&gmp_sched.lock);
}

void gmp_preempt_park(struct gmp_g *g) { mcall(g, preempt_m); }

bool gmp_rt_preempt(struct gmp_p *p)
{
	struct gmp_g *g = gmp_getg();
	struct gmp_g *h = gmp_sched.runqhead; /* racy peek: a stale answer costs one yield or one delay */
	if (!g || !h || g->lockedm || atomic_load(&g->status) != G_RUNNING || atomic_load_explicit(&h->rtprio, memory_order_relaxed) <=
						 atomic_load_explicit(&g->rtprio, memory_order_relaxed))
		return false;
	if (atomic_load(&gmp_sched.npidle) > 0 || atomic_load(&gmp_sched.nidlespin) > 0)
		return false; /* a free P takes it */
	(void)p;
	g->waitreason = WR_YIELD;
	mcall(g, yield_m); /* behind it, at the end of its own priority */
	g->waitreason = WR_NONE;
	return true;
}

/* 0, EINVAL or EPERM, as sched_setscheduler would answer (sched(7): CAP_SYS_NICE, or RLIMIT_RTPRIO). */
int gmp_sched_check(int policy, int prio)
{
	switch (policy) {
	case SCHED_OTHER:
	case SCHED_BATCH:
	case SCHED_IDLE:
		return prio == 0 ? 0 : EINVAL;
	case SCHED_FIFO:
	case SCHED_RR:
		break;
	default:
		return EINVAL;
	}
	if (prio < 1 || prio > 99)
		return EINVAL;
	struct {
		uint32_t version;
		int pid;
	} hdr = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
	struct {
		uint32_t effective, permitted, inheritable;
	} data[2] = {{0}};
	if (gmp_sys2(SYS_capget, &hdr, data) == 0 && (data[0].effective & (1u << 23 /* CAP_SYS_NICE */)))
		return 0;
	struct rlimit rl;
	if (gmp_sys4(SYS_prlimit64, 0, RLIMIT_RTPRIO, NULL, &rl) == 0 && (rlim_t)prio <= rl.rlim_cur)
		return 0;
	return EPERM;
}

void gmp_sched_self(int *policy, int *prio)
{
	struct gmp_g *g = gmp_inited == 2 ? gmp_getg() : NULL;
	if (g) {
		*policy = g->schedpolicy;
		*prio = g->schedprio;
		return;
	}
	struct sched_param sp = {0};
	long pol = gmp_sys1(SYS_sched_getscheduler, 0);
	gmp_sys2(SYS_sched_getparam, 0, &sp);
	*policy = pol < 0 ? SCHED_OTHER : (int)pol & ~SCHED_RESET_ON_FORK;
	*prio = pol < 0 ? 0 : sp.sched_priority;
}

void gmp_sched_set(struct gmp_g *g, int policy, int prio)
{
	g->schedpolicy = policy;
	g->schedprio = prio;
	uint8_t rt = (policy == SCHED_FIFO || policy == SCHED_RR) ? (uint8_t)prio : 0;
	if (rt)
		atomic_store(&gmp_sched.rtused, true);
	atomic_store(&g->rtprio, rt); /* takes effect at its next queueing */
}

void gmp_yield(struct gmp_g *g)
{
	(void)gmp_acquirep_user(g);
	g->waitreason = WR_YIELD;
	mcall(g, yield_m);
	g->waitreason = WR_NONE;
}

/* g0: the G has finished; publish its exit to a joiner or free it. */
static void goexit_m(struct gmp_m *m, struct gmp_g *gp)
{
	GMP_TRACE(gmp_trace_goend(m, gp));
	if (GMP_UNLIKELY(m->altowner == gp))
		gmp_altstack_load(m, NULL); /* its stack may be freed now */
	if (GMP_UNLIKELY(gp->lockedm != NULL))
		unlockm(m, gp);
	gmp_casgstatus(gp, G_RUNNING, G_DEAD);
	uint32_t old = atomic_load(&gp->joinword);
	while (!atomic_compare_exchange_weak(&gp->joinword, &old, old | GMP_JOIN_EXITED))
		;
	switch (old & GMP_JOIN_MODE) {
	case GMP_JOIN_DETACHED:
		gmp_gfput(m->p, gp);
		break;
	case GMP_JOIN_CLAIMED:
		gmp_futex_wake_p(&gp->joinword, INT_MAX, GMP_FUTEX_BITSET_ANY, m->p);
		break;
	default:
		break; /* joinable: waits for pthread_join or pthread_detach to reap it */
	}
}

_Noreturn void gmp_goexit(struct gmp_g *g)
{
	(void)gmp_acquirep_user(g);
	mcall(g, goexit_m);
	gmp_fatal("a dead G was resumed");
}

/* ------------------------------------------------------------ kernel calls (hand-off) */

/*
 * Around a kernel call that may block, the G's P goes from P_USER to
 * P_SYSCALL: sysmon takes it after ~20 us if other work waits for it, and
 * hands it to another M (docs/design.md §6).  This M keeps the G and the call.
 * Cost on the fast path: two CAS on the P and two on the G.
 */
void gmp_entersyscall(struct gmp_g *g)
{
	g->syscall_since = gmp_nanotime();
	gmp_casgstatus(g, G_RUNNING, G_SYSCALL);
	struct gmp_m *m = g->m;
	struct gmp_p *p = m->p;
	if (p) {
		p->syscalltick++;
		uint32_t s = P_USER;
		if (p->m != m || !atomic_compare_exchange_strong_explicit(&p->status, &s, P_SYSCALL,
									   memory_order_release, memory_order_relaxed))
			m->p = NULL; /* already retaken */
	}
	g->insyscall = true;
	GMP_TRACE(gmp_trace_syscall(g, GMP_TRACE_SYS_ENTER));
}

void gmp_exitsyscall(struct gmp_g *g)
{
	gmp_fstrap_refresh(g->m);
	g->insyscall = false;
	GMP_TRACE(gmp_trace_syscall(g, GMP_TRACE_SYS_EXIT));
	gmp_casgstatus(g, G_SYSCALL, G_RUNNING);
	if (GMP_UNLIKELY(atomic_load_explicit(&g->sigwaitset, memory_order_relaxed)))
		gmp_signal_reclaim(g); /* still on the M the call ran on */
	g->cputime -= gmp_nanotime() - g->syscall_since; /* a blocking kernel call is not CPU time */
	struct gmp_m *m = g->m;
	struct gmp_p *p = m->p;
	if (p && p->m == m) {
		uint32_t s = P_SYSCALL;
		if (atomic_compare_exchange_strong_explicit(&p->status, &s, P_USER, memory_order_acq_rel,
							    memory_order_relaxed)) {
			if (GMP_LIKELY(p->m == m)) {
				if (GMP_UNLIKELY(atomic_load_explicit(&p->idlewait, memory_order_relaxed)))
					atomic_store_explicit(&p->idlewait, false, memory_order_relaxed); /* spin.c */
				return;
			}
			atomic_store_explicit(&p->status, P_SYSCALL, memory_order_release); /* not ours */
		}
	}
	m->p = NULL;
	GMP_TRACE(gmp_trace_syscall(g, GMP_TRACE_SYS_LOSTP));
	/* Retaken: get any P back, or queue ourselves and let this M sleep. */
	p = gmp_acquirep_user(g);
	gmp_releasep_user(p);
}
