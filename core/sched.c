/*
 * The scheduler: G status changes, what an M runs (g0_loop, findrunnable,
 * execute) and how a G enters it (mcall: park, ready, yield, exit)
 * (docs/design.md §3, §6).  Around it: core/m.c (starting, waking and
 * parking Ms), core/spin.c (spinning before an M sleeps, the direct
 * hand-off), core/syscall.c (a G's P in user code and kernel calls: the
 * ownership protocol below), core/lockedm.c (Gs locked to their M),
 * core/runq.c (run queues, idle Ps).
 *
 * Shape (as Go's proc.go):
 *
 *   g0_loop:  [run the G's gmp_mcall request] -> findrunnable -> execute -> ...
 *
 * A G enters the scheduler only through gmp_mcall(): it saves its context and
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
#include <sys/syscall.h>

struct gmp_sched gmp_sched = {.lock = GMP_LOCK_RANKED(GMP_RANK_SCHED), .allglock = GMP_LOCK_RANKED(GMP_RANK_ALLG)};
__thread struct gmp_g *gmp_curg __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------ G status */

static const char *const gstatus_names[G_NSTATUS] = {"idle", "runnable", "running", "syscall", "waiting",
						     "dead", "preempted"};

const char *gmp_gstatus_name(uint32_t s) { return s < G_NSTATUS ? gstatus_names[s] : "?"; }

/* Legal transitions; everything else is a broken invariant. */
static bool gstatus_ok(uint32_t from, uint32_t to)
{
	switch (from) {
	case G_IDLE: return to == G_RUNNABLE || to == G_RUNNING || to == G_DEAD; /* create; adopting main; a failed create */
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

/* A P status change against runtime.h's table (checked builds): the P, the change, what the word held. */
void gmp_pstatus_bad(uint32_t id, uint32_t from, uint32_t to, uint32_t was)
{
	static const char *const names[] = {"idle", "running", "user", "syscall"};
	gmp_fatal("illegal P status change %s -> %s (P %u, whose status was %s)", names[from & 3], names[to & 3], id,
		  names[was & 3]);
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
void gmp_set_tp(struct gmp_m *m, void *tp)
{
	/* before the write: an FS-base trap (fstrap.c) loads cur_tp; also a hint for wakers (gmp_handoff_nextg) */
	__atomic_store_n(&m->cur_tp, tp, __ATOMIC_RELAXED);
	__asm__ volatile("" ::: "memory");
	int err = GMP_UNLIKELY(gmp_fstrap && !m->fsarmed) ? gmp_fstrap_arm(m) : gmp_arch_set_tp(tp);
	if (err)
		gmp_fatal("cannot set the thread pointer (%d)", err);
	m->nfswrite++;
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

/*
 * Find a runnable G for m (which holds a P); blocks until there is one. g0 only.
 *
 * One function on purpose, as Go's findRunnable: a state machine whose
 * looks (timers, global, local, poller, steal, spin, give the P up, look
 * again, stopm) run in the order the lost-wake-up arguments rest on, each
 * on what the last left (m->spinning, the P held or not, the hand-off slot
 * open or closed), with jumps for exits (found, top); helpers would pass
 * that state in and out and hide the order.
 */
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
					gmp_acquirep(m, np);
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
			gmp_acquirep(m, np);
			goto found;
		}
	}
	gmp_stopm(m);
	goto top;

found:;
	struct gmp_g *hg = gmp_close_nextg(m);
	if (hg) {
		gmp_runqput(m->p, gp, false); /* the handed G first: its TCB is loaded here */
		gp = hg;
		*inherit = true;
	}
found_closed:
	gmp_resetspinning(m);
	return gp;
}

/* Offsets from a TCB of the TLS words every G touches first when it runs: gmp's gmp_curg and
   glibc's errno (static TLS: the same for every thread); set at init. */
intptr_t gmp_tls_curg_off, gmp_tls_errno_off;

/*
 * Warm the caches for the Gs a P runs next (hints: the queue may change).
 * With a thousand threads, the G struct, the top of the stack and the TLS
 * of the next G are cold by the time it runs, and each first touch after
 * the switch waits for memory (in echo's profile, half of gmp's own time).
 * Two steps, so that no load waits here either: as a G starts, the structs
 * of the two Gs after it (peek_next); as it comes back to g0, the stack and
 * TLS of the one after it, whose struct, holding the saved stack pointer,
 * the first step fetched (prefetch_next_stack).
 *
 * A prefetch retires only once its address is translated, and the stack
 * and TCB pages of a thread that ran a thousand threads ago are out of the
 * TLB: the page walk waits right there (in echo's profile, 70% of
 * execute's time on one prefetch).  So the walks go in batches: when the
 * next G is not one of the last batch, the stack and TCB pages of the next
 * GMP_PF_BATCH Gs are touched together and their walks overlap (echo:
 * execute 3.7% -> 2.1% of all CPU, paired throughput +2%).
 *
 * Prefetches never fault: a G that exits meanwhile and gives back its
 * stack costs nothing.  The loads here are of G structs, which are never
 * freed (slabs on allg), so a slot a thief emptied since is still safe to
 * read.
 */
static int peek_next(struct gmp_p *p, struct gmp_g **n, int max)
{
	int k = 0;
	struct gmp_g *next = atomic_load_explicit(&p->runnext, memory_order_relaxed);
	if (next)
		n[k++] = next;
	uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
	for (; k < max && h != t; h++)
		n[k++] = atomic_load_explicit(&p->runq[h % GMP_RUNQ_SIZE], memory_order_relaxed);
	return k;
}

static void prefetch_next(struct gmp_p *p)
{
	struct gmp_g *n[2];
	int k = peek_next(p, n, 2);
	for (int i = 0; i < k; i++)
		for (size_t off = 0; off < sizeof *n[i]; off += GMP_CACHELINE)
			__builtin_prefetch((char *)n[i] + off, 1);
}

static void prefetch_next_stack(struct gmp_m *m, struct gmp_p *p)
{
	struct gmp_g *n[GMP_PF_BATCH];
	int k;
	if (p == NULL || (k = peek_next(p, n, GMP_PF_BATCH)) == 0)
		return;
	for (int i = 0; i < GMP_PF_BATCH; i++)
		if (m->pfstack[i] == n[0]) {
			k = 1; /* its page was translated with a batch: its lines only */
			break;
		}
	if (k > 1)
		for (int i = 0; i < GMP_PF_BATCH; i++)
			m->pfstack[i] = i < k ? n[i] : NULL;
	for (int j = 0; j < k; j++) {
		char *sp = (char *)__atomic_load_n(&n[j]->ctx.rsp, __ATOMIC_RELAXED);
		char *tcb = __atomic_load_n((char **)&n[j]->tcb, __ATOMIC_RELAXED); /* a thief may run it meanwhile */
		if (j > 0) {
			/* the page walks only, overlapped with the others */
			__builtin_prefetch(sp, 1);
			__builtin_prefetch(tcb, 1);
			continue;
		}
		for (int i = -1; i < 8; i++) /* its last frames, and the red zone below */
			__builtin_prefetch(sp + i * GMP_CACHELINE, 1);
		__builtin_prefetch(tcb, 1);
		__builtin_prefetch(tcb + gmp_tls_curg_off, 1);
		__builtin_prefetch(tcb + gmp_tls_errno_off, 1);
	}
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
	gmp_rawtrap_check(m);
	if (m->cur_tp != gp->tcb)
		gmp_set_tp(m, gp->tcb);
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
	gmp_setpstatus(p, P_RUNNING, P_USER, memory_order_release);
	prefetch_next(p);
	m->runstart = gmp_nanotime();
	gmp_ctx_switch(&m->g0.ctx, &gp->ctx);
	int64_t now = gmp_nanotime();
	gp->cputime += now - m->runstart;
	m->stopnow = now;
	GMP_TRACE(gmp_trace_gostop(m, gp));
	m->curg = NULL;
	prefetch_next_stack(m, m->p);
}

int64_t gmp_g_cputime(struct gmp_g *g)
{
	int64_t t = g->cputime;
	struct gmp_m *m = g->m;
	if (atomic_load(&g->status) == G_RUNNING && m && m->curg == g)
		t += gmp_nanotime() - m->runstart; /* the current stretch */
	return t < 0 ? 0 : t;
}

static _Noreturn void g0_loop(struct gmp_m *m)
{
	for (;;) {
		void (*fn)(struct gmp_m *, struct gmp_g *) = m->mcall_fn;
		if (fn) {
			m->mcall_fn = NULL;
			fn(m, m->mcall_g);
			if (GMP_UNLIKELY(m->endnow))
				gmp_mend(m);
		}
		if (GMP_UNLIKELY(m->lockedg != NULL)) {
			gmp_stoplockedm(m);
			execute(m, m->lockedg, false);
			continue;
		}
		bool inherit;
		struct gmp_g *gp = findrunnable(m, &inherit);
		if (GMP_UNLIKELY(gp->lockedm != NULL)) {
			gmp_startlockedm(m, gp);
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
	gmp_acquirep(m, m->nextp);
	m->nextp = NULL;
	g0_loop(m);
}

/* Entry of m0's g0, made at init: the main G switched to it for the first time. */
void gmp_m0_g0_start(void *arg)
{
	g0_loop(arg);
}

/* ------------------------------------------------------------ G side */

static void park_m(struct gmp_m *m, struct gmp_g *gp);

void gmp_mcall(struct gmp_g *g, void (*fn)(struct gmp_m *, struct gmp_g *))
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
	/*
	 * Resumed, possibly on another M, in user state.  Signals: not from a
	 * park, whose caller still has its wait to undo (a timer, its queue
	 * entry): it runs the handlers after that, since one may siglongjmp
	 * out (futex.c, netpoll.c).
	 */
	if (GMP_UNLIKELY(atomic_load_explicit(&g->sigpending, memory_order_relaxed)) && fn != park_m)
		gmp_deliver_pending(g);
	if (GMP_UNLIKELY(atomic_load_explicit(&g->affinity_pending, memory_order_relaxed)))
		gmp_apply_affinity(g); /* set by pthread_setaffinity_np from another thread */
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
	gmp_mcall(g, park_m);
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
		gmp_globrunqput_rt(gp);
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

void gmp_preempt_park(struct gmp_g *g) { gmp_mcall(g, preempt_m); }

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
	gmp_mcall(g, yield_m); /* behind it, at the end of its own priority */
	g->waitreason = WR_NONE;
	return true;
}

void gmp_yield(struct gmp_g *g)
{
	(void)gmp_acquirep_user(g);
	g->waitreason = WR_YIELD;
	gmp_mcall(g, yield_m);
	g->waitreason = WR_NONE;
}

void gmp_yield_self(void)
{
	struct gmp_g *g = gmp_getg();
	if (g)
		gmp_yield(g);
	else
		gmp_sys0(SYS_sched_yield); /* a foreign thread yields its kernel thread */
}

/* g0: the G has finished; publish its exit to a joiner or free it. */
static void goexit_m(struct gmp_m *m, struct gmp_g *gp)
{
	GMP_TRACE(gmp_trace_goend(m, gp));
	if (GMP_UNLIKELY(m->altowner == gp))
		gmp_altstack_load(m, NULL); /* its stack may be freed now */
	if (GMP_UNLIKELY(gp->lockedm != NULL))
		gmp_unlockm(m, gp);
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
	gmp_mcall(g, goexit_m);
	gmp_fatal("a dead G was resumed");
}
