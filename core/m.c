/*
 * Ms, the kernel threads that run Gs (docs/design.md §3, §6): the idle
 * list, waking one for a P (startm, wakep, handoffp), starting a kernel
 * thread for a new M, an idle M's sleep (stopm: the sleeper, the poller
 * role) and the end of an M that idled too long.  core/sched.c is the
 * rest of the scheduler (what an M runs), core/spin.c the spinning before
 * an M sleeps.
 */
#include "runtime.h"
#include "trace.h"

#include <errno.h>
#include <limits.h>

void gmp_acquirep(struct gmp_m *m, struct gmp_p *p)
{
	m->p = p;
	atomic_store_explicit(&p->m, m, memory_order_relaxed);
	gmp_setpstatus(p, P_RUNNING, P_RUNNING, memory_order_release);
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

void gmp_notewakeup(struct gmp_m *m)
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
		gmp_glist_push(&head, &tail, g);
	}
	*tailp = tail;
	return head;
}

int gmp_inject_local(struct gmp_p *p, struct gmp_g *list, int n)
{
	struct gmp_g *tail;
	list = handoff_affine(list, &n, &tail);
	for (struct gmp_g *g = list, *nx; g; g = nx) {
		nx = g->schedlink;
		gmp_runqput(p, g, false);
	}
	return n;
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
	atomic_store_explicit(&p->m, m, memory_order_relaxed);
	/*
	 * The kernel thread is an ordinary glibc thread: it has its own TCB
	 * (g0's FS) and is on glibc's thread list, so glibc-internal code that
	 * walks that list keeps working.  Its stack is g0's stack.
	 */
	unsigned long th;
	int err = GMP_FAULT(M_CLONE) ? -EAGAIN : gmp_kthread_create(&th, mthread_main, m);
	if (err) {
		m->nextp = NULL;
		gmp_lock(&gmp_sched.lock);
		m->schedlink = mspare;
		mspare = m;
		gmp_unlock(&gmp_sched.lock);
		return err;
	}
	return 0;
}

/*
 * Give p (or an idle P if p is NULL) to an idle or new M.  spinning: the
 * caller already counted the new M in nmspinning.  At GMP_MAXTHREADS the P
 * goes back to the idle list and the work waits for a running M.
 */
void gmp_startm(struct gmp_p *p, bool spinning)
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
	atomic_store_explicit(&p->m, m, memory_order_relaxed);
	gmp_notewakeup(m);
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
	gmp_startm(NULL, true);
}

/* Hand a P that nobody runs any more to whoever can use it (sysmon, lost Ps). */
void gmp_handoffp(struct gmp_p *p)
{
	p->nhandoff++;
	if (!gmp_runqempty(p) || atomic_load(&gmp_sched.runqsize) > 0 || atomic_load(&p->timer0) != 0) {
		GMP_TRACE(gmp_trace_handoffp(p, true));
		gmp_startm(p, false);
		return;
	}
	int32_t z = 0;
	if (atomic_load(&gmp_sched.nmspinning) + atomic_load(&gmp_sched.npidle) == 0 &&
	    atomic_compare_exchange_strong(&gmp_sched.nmspinning, &z, 1)) {
		GMP_TRACE(gmp_trace_handoffp(p, true));
		gmp_startm(p, true);
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
		gmp_startm(p, false);
		return;
	}
	GMP_TRACE(gmp_trace_handoffp(p, false));
	gmp_lock(&gmp_sched.lock);
	gmp_pidleput(p);
	struct gmp_m *idle = gmp_sched.sleeper == NULL ? gmp_sched.midle : NULL;
	gmp_unlock(&gmp_sched.lock);
	/* An idle P and no sleeper: an idle M (passive in gmp_stopm) takes the role back. */
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
 * thread, as long as IDLE_M_SPARES spares remain.  Only Ms that run on a
 * glibc thread of their own (not m0, not a fork child's) are reaped: they
 * exit through glibc with their own TCB loaded again.  Returns true if m
 * stays.
 */
#define IDLE_M_REAP_NS (5 * 1000000000LL)
#define IDLE_M_SPARES 2

/* g0, out of every list and count: end the M's kernel thread (a glibc thread of its own). */
_Noreturn void gmp_mthread_exit(struct gmp_m *m)
{
	GMP_TRACE(gmp_trace_mexit(m));
	if (m->cur_tp != m->g0.tcb)
		gmp_set_tp(m, m->g0.tcb); /* glibc's thread exit needs its own TCB */
	gmp_fstrap_hold(); /* its kernel thread ends: the kernel's own TCB value again (fstrap.c) */
	m->epoch = UINT32_MAX; /* an M of no epoch: its tid may be given again */
	gmp_sigstack_free(m);
	gmp_libc.pthread_exit(NULL);
	__builtin_unreachable();
}

bool gmp_reap_idle_m(struct gmp_m *m)
{
	gmp_lock(&gmp_sched.lock);
	struct gmp_m **pp = &gmp_sched.midle;
	while (*pp && *pp != m)
		pp = &(*pp)->schedlink;
	if (*pp == NULL || gmp_sched.nmidle <= IDLE_M_SPARES || atomic_load(&m->park)) {
		gmp_unlock(&gmp_sched.lock);
		return true; /* being handed a P, or a spare we keep */
	}
	*pp = m->schedlink;
	gmp_sched.nmidle--;
	gmp_sched.nmtotal--;
	gmp_unlock(&gmp_sched.lock);
	gmp_mthread_exit(m);
}

/*
 * Take p from the M that holds it in user or kernel-call state (from):
 * sysmon's retake, or a woken poller M's (take_idlewait_p).  The old M
 * sees at once that the P is no longer its own (reclaim_p).  Any thread.
 */
bool gmp_takep(struct gmp_p *p, uint32_t from)
{
	if (!gmp_caspstatus(p, from, P_RUNNING, memory_order_seq_cst, memory_order_seq_cst))
		return false;
	atomic_store_explicit(&p->m, NULL, memory_order_relaxed);
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
 * sched.lock held (as by gmp_stopm; the P's own protocol needs none).
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
 * Park this M until gmp_startm hands it a P.  Called with sched.lock held and
 * no P; returns without the lock, with m->p set.  The M whose sleep ends
 * at the earliest timer ("sleeper") wakes by itself and runs timers.
 *
 * One function on purpose, like Go's findRunnable, whose sleeping half
 * this is: a state machine over sched.lock (held at the top of the outer
 * loop, dropped for the sleep, taken again to leave the idle list) with
 * one exit by jump (woken: a P was handed over).  The sleeper role, the
 * poller role (netpoll_blocker), the Gs the poller gave (polled) and
 * passive live across both loops, and whether the lock is held changes
 * from block to block; helpers would pass all of it in and out and hide
 * where the lock is taken and dropped, which is what a reader of this
 * function must see.
 */
void gmp_stopm(struct gmp_m *m)
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
				if (!sleeper && r == -ETIMEDOUT && gmp_reap_idle_m(m))
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
			/* gmp_startm took us: the hand-off is on its way */
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
			gmp_acquirep(m, p);
			if (polled) {
				/*
				 * Ours to run, unless the M that ran one last spins with
				 * its TLS loaded (TLS affinity, as gmp_inject): waking
				 * another M for them (gmp_inject's wakep) would cost a
				 * cross-CPU wake-up only for it to find them gone.  More
				 * than one kept: others may steal.
				 */
				if (gmp_inject_local(p, polled, npolled) > 1)
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
	gmp_acquirep(m, m->nextp);
	m->nextp = NULL;
}

/* A spinning M found work: stop spinning, and let another M look if it was the last. */
void gmp_resetspinning(struct gmp_m *m)
{
	if (!m->spinning)
		return;
	m->spinning = false;
	if (atomic_fetch_sub(&gmp_sched.nmspinning, 1) == 1)
		gmp_wakep();
}
