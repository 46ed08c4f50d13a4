/*
 * Spinning, and handing a G to the M that still has its TCB loaded
 * (the scheduler's half that is not Go's; sched.c calls it).
 *
 * The hand-off (TLS affinity) is for FS writes that are system calls
 * only (sched.tls_affine).  Where they are cheap (FS-base traps, the
 * kernel's FSGSBASE) a switch on the waker's M costs less than moving the
 * G to another CPU: a futex ping-pong took 1.0 us a hand-off across two
 * spinning Ms and 0.37 us through runnext on one (sem 1.1 and 0.40,
 * mutex+cond 1.2 and 0.40; create+join 3.3 and 1.2 us); with FS writes as
 * system calls it is the other way round (1.25 and 5.0 us).  So there a
 * woken G goes to runnext as in Go, and spinners take it only after
 * SPIN_STEALNEXT_NS.
 *
 * Go's scheduler assumes a switch costs ~50 ns.  Where FS writes are
 * system calls (no FSGSBASE: 3.4-5 us measured on PVM guests) a G that
 * runs on another M than the last pays one, and waking an M asleep on
 * another CPU costs 21-25 us until it runs.  So the scheduler avoids both:
 *
 *   - An M that finds no work keeps its P and spins for up to
 *     m->spinbudget ns (gmp_idlespin), watching its nextg slot, the global
 *     queue, every P's due timers, the netpoller (without blocking) and the other
 *     Ps' queues, before it gives the P up and sleeps.
 *   - A waker readying a G (gmp_runqready) first offers it to the M that
 *     ran it last, if that M spins with the G's TCB still loaded: one CAS
 *     on its nextg slot (gmp_handoff_nextg).  That M runs it with no FS write
 *     and no kernel entry; the waker's M keeps its own G's TCB loaded.
 *     If its TCB is loaded nowhere, it goes to any M looking for work
 *     with its slot open (sched.spinm), which pays the FS write
 *     instead of the waker's M (whose own G would pay a second one to
 *     come back).  Otherwise the G goes to the waker's runnext as in
 *     Go.
 *
 * The nextg slot (runtime.h): GMP_NEXTG_CLOSED except while its M is in
 * findrunnable holding a P.  findrunnable opens it (NULL) on entry and
 * closes it with a CAS NULL -> CLOSED (gmp_close_nextg) before it runs a
 * G it found elsewhere or gives its P up; a failed CAS means a waker put
 * a G there, which the M then runs first.  So a G handed over is never
 * left behind, whatever the timing (the waker's CAS and the close are on
 * the same word).  A fork child closes every slot but its own M's
 * (fork.c): the other Ms do not exist there.
 *
 * Spinning in a G (gmp_io_spin, below) is the same idea for I/O: a call
 * that found its fd not ready retries in place while the M has nothing
 * else to do.
 *
 * Spinning gives way.  A spin that has lasted SPIN_YIELD_NS yields its
 * CPU (sched_yield) every round it reads the clock; when the yield took
 * SPIN_YIELDED_NS or more, another thread wanted the CPU (the program's
 * other process: a database's server or client, each under gmp) and the
 * spin ends as one that found nothing.  A spinning M otherwise holds its
 * CPU until the kernel's time slice ends, and a server thread woken on
 * that CPU waits for it: sysbench OLTP with 512 connections, server and
 * client under gmp, 524-569 tps (native 631-771), 744-979 with yields;
 * the client alone with GMP_SPIN=0 did 521-562.  Where nothing else
 * wants the CPU a yield returns at once (~0.2 us here, a system call on
 * PVM guests); the spins of hand-offs (well under 5 us) never reach it.
 *
 * Bounds: at most nprocs / 2 + 1 Ms spin idle at once (two of two: while
 * one receives a G, the M of the waker must be able to start spinning)
 * (sched.nidlespin), none when GMP_SPIN=0 or the process may use one CPU
 * only.  The budget adapts per M: doubled (up to GMP_SPIN) when a spin
 * found work, halved (down to IDLESPIN_MIN_NS, 10 us) when it ran out, so
 * an idle program spins for 10 us per wake-up at most.  Idle
 * spinners count in nmspinning, so wakep starts no M while one spins.
 *
 * Lazy wake-ups (gmp_ready_lazy): a mutex whose last woken waiter found
 * it taken again (its holder relocks at once, as in a loop around a short
 * critical section) wakes the next waiter into the unlocker's runnext,
 * where other Ps leave it for LAZY_NS, about what a native futex wake-up
 * on another CPU takes.  The unlocker, which will most likely relock,
 * runs on alone meanwhile; it runs the woken G itself if it parks first.
 * Woken at once onto a spinning M instead, the waiter fought the holder
 * for the lock's cache line, lost, and parked again, one switch per few
 * dozen locks: 8 threads on one mutex ran at 12M locks/s with FS-base
 * traps (native 30M), 42M with the wait.  A spinning M keeps spinning
 * while such a G waits, then takes it (gmp_idlespin), so it is never left
 * for longer than LAZY_NS while a P is free.
 *
 * Rejected: spinning without a P (the G would still need a P, and an M
 * that holds none cannot run it at once); stealing runnext at once (the
 * waker may be about to park and run it itself when the TCB is the same):
 * a spinner takes another P's runnext only after SPIN_STEALNEXT_NS.
 */
#include "runtime.h"
#include "trace.h"

#include <sys/syscall.h>

#define SPIN_MIN_NS 1000
/*
 * An idle M spins at least this long: a thread that creates threads one
 * after another (a burst of 10,000 that each block at once) makes one
 * every 3-10 us here, and with 1 us the spinner gave up between two of
 * them 8,700 times out of 10,000 and slept, each time a futex wake-up
 * for the creator and 20-25 us for the sleeper (burst 245 ms; 10 us: 360
 * sleeps, 185 ms).  An idle program's CPU stays under 10 ms a second
 * (`idle`).  I/O spins (gmp_io_spin) keep SPIN_MIN_NS: each of their
 * rounds is a system call.
 */
#define IDLESPIN_MIN_NS 10000
#define SPIN_STEALNEXT_NS 3000
#define LAZY_NS 20000
#define SPIN_YIELD_NS 5000   /* a spin this long yields its CPU each round (above) */
#define SPIN_YIELDED_NS 5000 /* a yield this long: another thread ran, the spin ends */

/*
 * Run the timers that are due on every P, p's and idle ones' alike: an idle
 * P's timers have no owner to run them, and the M that slept until the
 * earliest of them (stopm's sleeper) comes back with whatever P it got.
 * O(nprocs): findrunnable calls it only before giving its P up, spinners
 * every few rounds.  now: gmp_nanotime(), or 0 to read it only if some
 * timer is set.  g0, P held.
 */
void gmp_run_due_timers(struct gmp_p *p, int64_t now)
{
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++) {
		struct gmp_p *v = gmp_sched.allp[i];
		int64_t t0 = atomic_load_explicit(&v->timer0, memory_order_relaxed);
		if (t0 == 0)
			continue;
		if (now == 0)
			now = gmp_nanotime();
		if (t0 <= now)
			gmp_timers_run(v, p, now);
	}
}

/* A spin budget after a spin: doubled (up to GMP_SPIN) when it found work, else halved (down to min). */
static void adapt(int64_t *budget, bool won, int64_t min)
{
	if (won)
		*budget = *budget * 2 > gmp_sched.spinmax ? gmp_sched.spinmax : *budget * 2;
	else if (*budget / 2 >= min)
		*budget /= 2;
}

static bool offer_nextg(struct gmp_m *m, struct gmp_g *gp)
{
	struct gmp_g *z = NULL;
	return atomic_load_explicit(&m->nextg, memory_order_relaxed) == NULL &&
	       atomic_compare_exchange_strong_explicit(&m->nextg, &z, gp, memory_order_acq_rel, memory_order_relaxed);
}

bool gmp_handoff_nextg(struct gmp_g *gp)
{
	if (!gmp_sched.tls_affine || gp->lockedm)
		return false;
	struct gmp_m *lm = gp->m; /* the M that ran it last (never cleared; Ms are never freed) */
	if (lm && lm->epoch == gmp_sched.epoch && /* (not a parent's M, in a fork child) */
	    __atomic_load_n(&lm->cur_tp, __ATOMIC_RELAXED) == gp->tcb && offer_nextg(lm, gp))
		return true;
	/*
	 * Its TCB is loaded nowhere we can reach: any M pays an FS write to
	 * run it, so let a spinning one pay it, not the waker's M, whose own
	 * G would pay a second one to come back.
	 */
	struct gmp_m *sm = atomic_load_explicit(&gmp_sched.spinm, memory_order_relaxed);
	return sm && sm != lm && offer_nextg(sm, gp);
}

void gmp_ready_lazy(struct gmp_p *p, struct gmp_g *gp)
{
	if (GMP_UNLIKELY(atomic_load_explicit(&gp->rtprio, memory_order_relaxed)) || gmp_sched.spinmax == 0) {
		gmp_ready(p, gp, true); /* (nobody would spin to take it later) */
		return;
	}
	GMP_TRACE(gmp_trace_unpark(p, gp));
	atomic_store_explicit(&p->lazyuntil, gmp_nanotime() + LAZY_NS, memory_order_relaxed);
	atomic_store_explicit(&p->lazyg, gp, memory_order_relaxed);
	gmp_runqput(p, gp, true);
	gmp_wakep();
}

/* next, p's runnext, was readied lazily and other Ps must leave it there until p->lazyuntil.  now: 0 to read the clock. */
bool gmp_runnext_lazy(struct gmp_p *p, struct gmp_g *next, int64_t now)
{
	if (atomic_load_explicit(&p->lazyg, memory_order_relaxed) != next)
		return false;
	return (now ? now : gmp_nanotime()) < atomic_load_explicit(&p->lazyuntil, memory_order_relaxed);
}

/* Some other P holds a lazily readied G that will be ours to take soon: keep spinning. */
static bool lazy_waiting(struct gmp_p *p, int64_t now)
{
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++) {
		struct gmp_p *v = gmp_sched.allp[i];
		struct gmp_g *next = atomic_load_explicit(&v->runnext, memory_order_relaxed);
		if (v != p && next && gmp_runnext_lazy(v, next, now))
			return true;
	}
	return false;
}

/*
 * Close m's nextg slot (findrunnable opened it).  Returns the G a waker
 * handed over meanwhile, or NULL.  g0.
 */
struct gmp_g *gmp_close_nextg(struct gmp_m *m)
{
	struct gmp_m *self = m;
	atomic_compare_exchange_strong_explicit(&gmp_sched.spinm, &self, NULL, memory_order_relaxed,
						memory_order_relaxed);
	struct gmp_g *z = NULL;
	if (atomic_compare_exchange_strong(&m->nextg, &z, GMP_NEXTG_CLOSED) || z == GMP_NEXTG_CLOSED)
		return NULL;
	atomic_store(&m->nextg, GMP_NEXTG_CLOSED);
	m->nnextg++;
	return z;
}

/*
 * Poll the netpoller once without blocking.  Returns a G for this M to
 * run; the others go to the M that ran them last if it spins (TLS
 * affinity), else to p's queue.  g0, P held.
 */
struct gmp_g *gmp_netpoll_ready(struct gmp_m *m, struct gmp_p *p)
{
	struct gmp_g *list;
	int n = gmp_netpoll_poll(0, &list);
	if (n <= 0)
		return NULL;
	GMP_TRACE(gmp_trace_unpark_list(m, list));
	struct gmp_g *run = NULL;
	for (struct gmp_g *g = list, *nx; g; g = nx) {
		nx = g->schedlink;
		if (!run && (g->m == m || g->m == NULL))
			run = g; /* its TCB may be loaded here */
		else if (!gmp_handoff_nextg(g))
			gmp_runqput(p, g, false);
	}
	if (!run)
		run = gmp_runqget(p, &(bool){false});
	/*
	 * Others queued here, or threads still waiting for fds while no M
	 * blocks in the poller (this one polled without blocking): with a P
	 * idle, another M comes to run or poll for them (gmp_wakep: only if
	 * none spins).  Otherwise two threads passing a pipe's bytes end up on
	 * this one M, each found only when the other parks, after spinning out
	 * its wait (120 us a round trip instead of 6).
	 */
	if (run && (!gmp_runqempty(p) ||
		    (gmp_netpoll_waiters() && atomic_load_explicit(&gmp_sched.lastpoll, memory_order_relaxed) != 0)))
		gmp_wakep();
	return run;
}

/*
 * A spinner may take another P's runnext only once that G has sat there
 * for SPIN_STEALNEXT_NS (Go's runqgrab waits 3 us for it): its P is most
 * likely about to run it itself, on the M whose TCB it shares the cache
 * of.  Counted from when this spinner first saw that G there, not from
 * when the spin began: a spinner that had spun for 3 us already took
 * every runnext at once, so a semaphore ping-pong moved across CPUs on
 * one hand-off in seven and slept its Ms for the rest.  One candidate
 * at a time (the first P seen with a runnext).
 */
struct seen_next {
	struct gmp_p *p;
	struct gmp_g *g;
	int64_t at;
};

static bool stealnext_due(struct seen_next *s, struct gmp_p *v, int64_t now)
{
	struct gmp_g *next = atomic_load_explicit(&v->runnext, memory_order_relaxed);
	if (!next)
		return false;
	if (s->p && s->p != v && atomic_load_explicit(&s->p->runnext, memory_order_relaxed) == s->g)
		return false; /* watching another P's */
	if (s->p != v || s->g != next) {
		s->p = v;
		s->g = next;
		s->at = now;
		return false;
	}
	return now - s->at >= SPIN_STEALNEXT_NS;
}

/*
 * Spin with p for up to m->spinbudget ns, or until there is work.  g0, P
 * held.  Returns a G to run, or NULL when the budget ran out or spinning
 * is not allowed now.
 */
struct gmp_g *gmp_idlespin(struct gmp_m *m, struct gmp_p *p, bool *inherit)
{
	if (m->spinbudget <= 0)
		return NULL;
	int32_t lim = (int32_t)gmp_sched.nprocs / 2 + 1;
	int32_t n = atomic_load_explicit(&gmp_sched.nidlespin, memory_order_relaxed);
	do {
		if (n >= lim)
			return NULL;
	} while (!atomic_compare_exchange_weak(&gmp_sched.nidlespin, &n, n + 1));
	if (!m->spinning) {
		m->spinning = true;
		atomic_fetch_add(&gmp_sched.nmspinning, 1);
	}
	m->nspin++;
	/* (a G stopped on this M just now: its time saves a clock read per hand-off) */
	int64_t start = m->stopnow ? m->stopnow : gmp_nanotime(), now = start, end = start + m->spinbudget;
	m->stopnow = 0;
	struct gmp_g *gp = NULL;
	struct seen_next seen = {0};
	*inherit = false;
	for (uint32_t i = 1;; i++) {
		if (atomic_load_explicit(&m->nextg, memory_order_acquire) != NULL)
			break;
		if (GMP_UNLIKELY(atomic_load_explicit(&gmp_ndeferred, memory_order_relaxed) != 0))
			gmp_futex_run_deferred(p);
		if (atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 0) {
			gmp_lock(&gmp_sched.lock);
			gp = gmp_globrunqget(p, 0);
			gmp_unlock(&gmp_sched.lock);
			if (gp)
				break;
		}
		if ((i & 3) == 0) {
			now = gmp_nanotime();
			gmp_run_due_timers(p, now);
			if ((gp = gmp_runqget(p, inherit)) != NULL)
				break;
			/* (not while an M blocks in the poller: the kernel would wake it for each event we take) */
			if (gmp_netpoll_waiters() && atomic_load_explicit(&gmp_sched.lastpoll, memory_order_relaxed) != 0 &&
			    (gp = gmp_netpoll_ready(m, p)) != NULL)
				break;
			for (uint32_t k = 0; k < gmp_sched.nprocs && !gp; k++) {
				struct gmp_p *v = gmp_sched.allp[k];
				if (v != p && !gmp_runqempty(v) &&
				    (gp = gmp_runqsteal(p, v, stealnext_due(&seen, v, now))) != NULL)
					p->nsteal++;
			}
			if (gp)
				break;
			if (now >= end && !lazy_waiting(p, now))
				break;
			if (now - start >= SPIN_YIELD_NS) {
				/* another thread wants this CPU (the program's other process, a server): give it, and stop */
				gmp_sys0(SYS_sched_yield);
				int64_t back = gmp_nanotime();
				if (back - now >= SPIN_YIELDED_NS) {
					m->nspinyield++;
					break;
				}
				now = back;
			}
		}
		for (int k = 0; k < 2; k++)
			gmp_cpu_relax();
	}
	atomic_fetch_sub(&gmp_sched.nidlespin, 1);
	bool won = gp || atomic_load_explicit(&m->nextg, memory_order_relaxed) != NULL;
	m->nspinwin += won;
	adapt(&m->spinbudget, won, IDLESPIN_MIN_NS);
	return gp;
}

/* g's M holds its P and has nothing else to run: no queued G, no deferred wake-up, no signal for g. */
static bool m_idle(struct gmp_g *g, struct gmp_m *m, struct gmp_p *p)
{
	return p && p->m == m && gmp_runqempty(p) &&
	       atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) == 0 &&
	       atomic_load_explicit(&gmp_ndeferred, memory_order_relaxed) == 0 &&
	       (atomic_load_explicit(&g->sigpending, memory_order_relaxed) & ~g->sigmask) == 0;
}

/*
 * Spinning in a G: a read, write, accept... on a managed fd that returned
 * EAGAIN may be retried at once instead of parking, while the G's M would
 * have nothing else to do: its P's queue is empty, nothing waits on the
 * global queue, no timer of its P is due, no signal is pending for the G.
 * Parking would cost the G a switch to g0 and back, and the M its spinning
 * poll of the netpoller, plus a separate retry of the call; a retry in place
 * gets the data one system call after it arrives.  Bounded by m->iospin
 * (adaptive as m->spinbudget: doubled when a retry got the data, halved
 * when the time ran out, between SPIN_MIN_NS and GMP_SPIN).  While other
 * Gs wait in the poller, every other round polls it instead (without
 * blocking, unless an M blocks there): Gs it readies go to this P's queue
 * (the global one while a P is idle), and the spin ends so that this M runs
 * them.  The 1,000-connection
 * echo found its queues empty often enough to retry a client's read ~55
 * times a spin, 1.1 failed reads per request, while the edges of the
 * other connections waited in the poller; without the spin at all, a
 * ping-pong beside one idle thread parked on a pipe took 10.9 us a round
 * trip instead of 7.4.  *since is 0 on the first call of a wait and then
 * the time it began.  G, user state.
 */
static bool others_ready(struct gmp_g *g, struct gmp_m *m)
{
	if (!gmp_netpoll_waiters() || (++m->iospinround & 1) ||
	    atomic_load_explicit(&gmp_sched.lastpoll, memory_order_relaxed) == 0)
		return false;
	struct gmp_g *list;
	int n = gmp_netpoll_poll(0, &list);
	atomic_store(&gmp_sched.lastpoll, gmp_nanotime());
	if (n <= 0)
		return false;
	GMP_TRACE(gmp_trace_unpark_list(m, list));
	if (atomic_load_explicit(&gmp_sched.npidle, memory_order_relaxed) == 0) {
		/*
		 * Every P busy: into this P's queue, as Go's injectglist does,
		 * rather than the global one, whose lock and list both CPUs
		 * would take turns on for every G (others steal half when
		 * their queues run dry).  With a P idle, gmp_inject wakes an M
		 * for them.  The P is taken back from user state for it, since
		 * only its holder may add to its queue.
		 */
		struct gmp_p *p = gmp_acquirep_user(g);
		gmp_inject_local(p, list, n);
		gmp_releasep_user(p);
		return true;
	}
	gmp_inject(list, n);
	return true;
}

bool gmp_io_spin(struct gmp_g *g, int64_t *since)
{
	if (!g)
		return false;
	struct gmp_m *m = g->m;
	struct gmp_p *p = m->p;
	if (m->iospin <= 0 || g->lockedm || !m_idle(g, m, p))
		return false; /* (a locked G waits in the kernel at once: syscall-shims/shim.h) */
	int64_t now = gmp_nanotime();
	int64_t t0 = atomic_load_explicit(&p->timer0, memory_order_relaxed);
	if (t0 != 0 && t0 <= now)
		return false;
	if (*since == 0) {
		*since = now;
		m->niospin++;
		return true;
	}
	if (now - *since >= m->iospin) {
		adapt(&m->iospin, false, SPIN_MIN_NS);
		return false;
	}
	return !others_ready(g, m);
}

/*
 * Waiting in the kernel directly: an event loop's epoll_wait or poll that
 * found nothing ready blocks in the kernel with hand-off instead of
 * parking, when its M has nothing else to run and its P no timer.  The
 * kernel then wakes this thread directly, as it would natively: no retries,
 * no poller between the event and the G, no spinning M burning the CPU
 * another process needs.  Parking instead costs the M a spin full of system
 * calls and then a blocking poll whose wake-up must still reach the G.
 * The P stays in P_SYSCALL marked idlewait: sysmon leaves it there while
 * no run queue holds a G (there is nothing it could run) for up to 10 ms,
 * then hands it on as from any kernel call; a G readied meanwhile by
 * another P's G waits on that P's queue, which is then work queued.
 * The mark goes when the G takes its P back (gmp_exitsyscall) or sysmon
 * takes the P.  Not while other Gs wait in the poller: the P held in the
 * kernel is then the one their readiness needs.  sysbench's 64 client
 * threads each poll one socket; waiting directly whenever their M had
 * nothing else, they kept both Ps in the kernel while the poller readied
 * the others, and sysmon's retakes ran the client on 32 kernel threads
 * (5,389 retakes in 3 s).  Returns false: park instead.  G, user state.
 */
bool gmp_io_wait_direct(struct gmp_g *g)
{
	if (!g || g->lockedm)
		return false;
	struct gmp_m *m = g->m;
	struct gmp_p *p = m->p;
	if (!m_idle(g, m, p) || atomic_load_explicit(&p->timer0, memory_order_relaxed) != 0 || gmp_netpoll_waiters())
		return false;
	atomic_store_explicit(&p->idlewait, true, memory_order_relaxed);
	return true;
}

bool gmp_work_waits(struct gmp_p *p, int64_t now)
{
	int64_t next;
	return !gmp_runqempty(p) || gmp_work_queued() || ((next = gmp_timers_next()) != 0 && next <= now);
}

bool gmp_work_queued(void)
{
	if (atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) != 0)
		return true;
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++)
		if (!gmp_runqempty(gmp_sched.allp[i]))
			return true;
	return false;
}

void gmp_io_spin_won(struct gmp_g *g)
{
	struct gmp_m *m = g->m;
	m->niospinwin++;
	adapt(&m->iospin, true, SPIN_MIN_NS);
}
