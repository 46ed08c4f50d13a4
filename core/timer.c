/*
 * Timers: a 4-ary min-heap per P, keyed by CLOCK_MONOTONIC nanoseconds.
 *
 * A timer lives on the heap of the P that added it.  Expired timers are run
 * by that P's owner in findrunnable, or by any other M while it steals
 * (so the timers of an idle P or of a P whose G hogs the CPU still fire),
 * and the idle M whose sleep ends first ("sleeper", sched.c stopm) wakes
 * up for the earliest one.
 *
 * Timer state word:
 *   TIMER_IDLE     not on any heap
 *   TIMER_QUEUED   on owner's heap (owner->timerlock)
 *   TIMER_RUNNING  popped; its function is running without any lock
 *   TIMER_DONE     its function returned
 *
 * Functions run with no timer lock held (they take wait-queue locks, and
 * the G side takes wait-queue locks before timer locks when it arms a
 * timer).  gmp_timer_del waits for a RUNNING function to finish, so the
 * timer's memory (often on the waiting G's stack) outlives its use.
 *
 * The heap array is grown with mmap/mremap, not malloc: timers are also
 * added from contexts where malloc is not allowed.
 */
#include "runtime.h"
#include "trace.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static bool less(struct gmp_timer *a, struct gmp_timer *b) { return a->when < b->when; }

static void siftup(struct gmp_p *p, uint32_t i)
{
	struct gmp_timer **h = p->timers;
	struct gmp_timer *t = h[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 4;
		if (!less(t, h[parent]))
			break;
		h[i] = h[parent];
		h[i]->idx = (int32_t)i;
		i = parent;
	}
	h[i] = t;
	t->idx = (int32_t)i;
}

static void siftdown(struct gmp_p *p, uint32_t i)
{
	struct gmp_timer **h = p->timers;
	uint32_t n = p->ntimers;
	struct gmp_timer *t = h[i];
	for (;;) {
		uint32_t c = 4 * i + 1, best = i;
		struct gmp_timer *bt = t;
		for (uint32_t k = c; k < c + 4 && k < n; k++)
			if (less(h[k], bt)) {
				best = k;
				bt = h[k];
			}
		if (best == i)
			break;
		h[i] = bt;
		bt->idx = (int32_t)i;
		i = best;
	}
	h[i] = t;
	t->idx = (int32_t)i;
}

static void update_timer0(struct gmp_p *p)
{
	atomic_store_explicit(&p->timer0, p->ntimers ? p->timers[0]->when : 0, memory_order_relaxed);
}

static void heap_remove(struct gmp_p *p, uint32_t i)
{
	uint32_t last = --p->ntimers;
	if (i != last) {
		p->timers[i] = p->timers[last];
		p->timers[i]->idx = (int32_t)i;
		siftdown(p, i);
		siftup(p, (uint32_t)p->timers[i]->idx);
	}
	update_timer0(p);
}

int gmp_timer_add(struct gmp_p *p, struct gmp_timer *t)
{
	gmp_lock(&p->timerlock);
	if (p->ntimers == p->timercap) {
		size_t ncap = p->timercap ? p->timercap * 2 : 512;
		void *nm;
		if (GMP_FAULT(TIMER_GROW))
			nm = (void *)(long)-ENOMEM;
		else if (p->timers)
			nm = (void *)gmp_sys4(SYS_mremap, p->timers, p->timercap * sizeof(void *),
					      ncap * sizeof(void *), MREMAP_MAYMOVE);
		else
			nm = (void *)gmp_sys6(SYS_mmap, 0, ncap * sizeof(void *), PROT_READ | PROT_WRITE,
					      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if ((unsigned long)nm > -4096UL) {
			gmp_unlock(&p->timerlock);
			return -ENOMEM;
		}
		p->timers = nm;
		p->timercap = (uint32_t)ncap;
	}
	atomic_store_explicit(&t->state, TIMER_QUEUED, memory_order_relaxed);
	atomic_store_explicit(&t->owner, p, memory_order_relaxed);
	p->timers[p->ntimers] = t;
	siftup(p, p->ntimers++);
	update_timer0(p);
	gmp_unlock(&p->timerlock);

	/* An idle M sleeping past this deadline must wake earlier. */
	int64_t sw = atomic_load_explicit(&gmp_sched.sleeper_when, memory_order_relaxed);
	if (sw != 0 && t->when < sw) {
		gmp_lock(&gmp_sched.lock);
		struct gmp_m *s = gmp_sched.sleeper;
		if (s) {
			gmp_sched.sleeper = NULL;
			atomic_store_explicit(&gmp_sched.sleeper_when, 0, memory_order_relaxed);
		}
		gmp_unlock(&gmp_sched.lock);
		if (s)
			gmp_mkick_sleeper(s);
	} else if (sw == 0) {
		gmp_wakep(); /* nobody sleeps on timers: an idle P with a spinning M will see it */
	}
	return 0;
}

bool gmp_timer_del(struct gmp_timer *t)
{
	for (;;) {
		uint32_t st = atomic_load_explicit(&t->state, memory_order_acquire);
		if (st == TIMER_IDLE || st == TIMER_DONE)
			return false;
		if (st == TIMER_RUNNING) {
			gmp_cpu_relax();
			continue;
		}
		struct gmp_p *p = atomic_load_explicit(&t->owner, memory_order_relaxed);
		gmp_lock(&p->timerlock);
		if (atomic_load_explicit(&t->state, memory_order_relaxed) == TIMER_QUEUED &&
		    atomic_load_explicit(&t->owner, memory_order_relaxed) == p) {
			heap_remove(p, (uint32_t)t->idx);
			atomic_store_explicit(&t->state, TIMER_IDLE, memory_order_release);
			gmp_unlock(&p->timerlock);
			return true;
		}
		gmp_unlock(&p->timerlock);
	}
}

/*
 * gmp_timer_del for a G in user state (after a timed park): its P taken
 * back for the while, so that a signal the kernel lets in meanwhile waits
 * until it is out (core/sigdispatch.c, pend_in_runtime) instead of running
 * a handler that takes runtime locks while this thread holds timerlock.
 */
bool gmp_timer_del_user(struct gmp_g *g, struct gmp_timer *t)
{
	uint32_t st = atomic_load_explicit(&t->state, memory_order_acquire);
	if (st == TIMER_IDLE || st == TIMER_DONE)
		return false; /* off every heap: no lock to take, no P to take back */
	struct gmp_p *p = gmp_acquirep_user(g);
	bool r = gmp_timer_del(t);
	gmp_releasep_user(p);
	return r;
}

int64_t gmp_timers_run(struct gmp_p *pp, struct gmp_p *runner, int64_t now)
{
	for (;;) {
		if (!gmp_trylock(&pp->timerlock))
			return atomic_load_explicit(&pp->timer0, memory_order_relaxed); /* someone else is at it */
		if (pp->ntimers == 0 || pp->timers[0]->when > now) {
			int64_t next = pp->ntimers ? pp->timers[0]->when : 0;
			gmp_unlock(&pp->timerlock);
			return next;
		}
		struct gmp_timer *t = pp->timers[0];
		heap_remove(pp, 0);
		atomic_store_explicit(&t->state, TIMER_RUNNING, memory_order_relaxed);
		gmp_unlock(&pp->timerlock);
		GMP_TRACE(gmp_trace_timer(runner, pp, t->when));
		t->fn(t, runner);
		/* DONE unless the function queued the timer again */
		uint32_t st = TIMER_RUNNING;
		atomic_compare_exchange_strong_explicit(&t->state, &st, TIMER_DONE, memory_order_release,
							memory_order_relaxed);
	}
}

int64_t gmp_timers_next(void)
{
	int64_t next = 0;
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++) {
		int64_t w = atomic_load_explicit(&gmp_sched.allp[i]->timer0, memory_order_relaxed);
		if (w != 0 && (next == 0 || w < next))
			next = w;
	}
	return next;
}
