/*
 * Local run queues: a 256-slot ring per P plus the runnext slot.
 *
 * One producer (the P's owner) and many consumers (the owner and thieves).
 * The owner writes slots at runqtail and publishes them with a release
 * store of runqtail; consumers read slots between runqhead and runqtail and
 * claim them with a CAS on runqhead (release, so a slot is not reused by
 * the producer before a consumer has read it).  A consumer that loses the
 * CAS rereads everything and tries again.
 *
 * runnext holds the G made runnable most recently by this P (a new thread,
 * a woken waiter): it runs next and inherits the time slice, which keeps a
 * producer/consumer pair on one P hot.  Thieves take it only when the queue
 * itself is empty.
 *
 * When the ring is full, half of it plus the new G go to the global queue in
 * one locked batch (runqputslow), so a burst of creations is spread out.
 *
 * Below them: the global run queue (real-time Gs first, by priority) and
 * the idle P list, both under sched.lock.
 */
#include "runtime.h"

static bool runqputslow(struct gmp_p *p, struct gmp_g *gp, uint32_t h, uint32_t t)
{
	struct gmp_g *batch[GMP_RUNQ_SIZE / 2 + 1];
	uint32_t n = (t - h) / 2;

	gmp_assert(n == GMP_RUNQ_SIZE / 2);
	for (uint32_t i = 0; i < n; i++)
		batch[i] = atomic_load_explicit(&p->runq[(h + i) % GMP_RUNQ_SIZE], memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&p->runqhead, &h, h + n, memory_order_release,
						     memory_order_relaxed))
		return false;
	batch[n] = gp;
	for (uint32_t i = 0; i < n; i++)
		batch[i]->schedlink = batch[i + 1];
	batch[n]->schedlink = NULL;
	gmp_lock(&gmp_sched.lock);
	gmp_globrunqput_batch(batch[0], batch[n], (int)n + 1);
	gmp_unlock(&gmp_sched.lock);
	return true;
}

bool gmp_runqput(struct gmp_p *p, struct gmp_g *gp, bool next)
{
	if (next) {
		struct gmp_g *old = atomic_exchange_explicit(&p->runnext, gp, memory_order_acq_rel);
		if (old == NULL)
			return true;
		gp = old; /* the previous runnext goes to the tail */
	}
	for (;;) {
		uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (t - h < GMP_RUNQ_SIZE) {
			atomic_store_explicit(&p->runq[t % GMP_RUNQ_SIZE], gp, memory_order_relaxed);
			atomic_store_explicit(&p->runqtail, t + 1, memory_order_release);
			return true;
		}
		if (runqputslow(p, gp, h, t))
			return false;
		/* a thief took some: the ring has room now */
	}
}

struct gmp_g *gmp_runqget(struct gmp_p *p, bool *inherit)
{
	struct gmp_g *next = atomic_load_explicit(&p->runnext, memory_order_relaxed);
	if (next && atomic_compare_exchange_strong_explicit(&p->runnext, &next, NULL, memory_order_acq_rel,
							     memory_order_relaxed)) {
		*inherit = true;
		return next;
	}
	*inherit = false;
	for (;;) {
		uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (t == h)
			return NULL;
		struct gmp_g *gp = atomic_load_explicit(&p->runq[h % GMP_RUNQ_SIZE], memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(&p->runqhead, &h, h + 1, memory_order_release,
							  memory_order_relaxed))
			return gp;
	}
}

/*
 * Take half of victim's queue into p's ring starting at slot index
 * `start`.  Returns how many were taken.  With stealnext, an otherwise
 * empty victim gives up its runnext.
 */
static uint32_t runqgrab(struct gmp_p *victim, struct gmp_p *p, uint32_t start, bool stealnext)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&victim->runqhead, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&victim->runqtail, memory_order_acquire);
		uint32_t n = t - h;
		n = n - n / 2;
		if (n == 0) {
			if (!stealnext)
				return 0;
			struct gmp_g *next = atomic_load_explicit(&victim->runnext, memory_order_relaxed);
			if (next == NULL || gmp_runnext_lazy(victim, next, 0))
				return 0;
			if (!atomic_compare_exchange_strong_explicit(&victim->runnext, &next, NULL,
								     memory_order_acq_rel, memory_order_relaxed))
				continue;
			atomic_store_explicit(&p->runq[start % GMP_RUNQ_SIZE], next, memory_order_relaxed);
			return 1;
		}
		if (n > GMP_RUNQ_SIZE / 2)
			continue; /* read h and t at different times: inconsistent, retry */
		for (uint32_t i = 0; i < n; i++) {
			struct gmp_g *g = atomic_load_explicit(&victim->runq[(h + i) % GMP_RUNQ_SIZE],
							       memory_order_relaxed);
			atomic_store_explicit(&p->runq[(start + i) % GMP_RUNQ_SIZE], g, memory_order_relaxed);
		}
		if (atomic_compare_exchange_strong_explicit(&victim->runqhead, &h, h + n, memory_order_release,
							    memory_order_relaxed))
			return n;
	}
}

struct gmp_g *gmp_runqsteal(struct gmp_p *p, struct gmp_p *victim, bool stealnext)
{
	uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
	uint32_t n = runqgrab(victim, p, t, stealnext);
	if (n == 0)
		return NULL;
	n--;
	struct gmp_g *gp = atomic_load_explicit(&p->runq[(t + n) % GMP_RUNQ_SIZE], memory_order_relaxed);
	if (n == 0)
		return gp;
	uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
	gmp_assert(t - h + n < GMP_RUNQ_SIZE);
	atomic_store_explicit(&p->runqtail, t + n, memory_order_release);
	return gp;
}

uint32_t gmp_runqlen(struct gmp_p *p)
{
	uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_acquire);
	return (t - h) + (atomic_load_explicit(&p->runnext, memory_order_relaxed) != NULL);
}

bool gmp_runqempty(struct gmp_p *p)
{
	/* Reread until head, tail and runnext are seen consistently (as Go's runqempty). */
	for (;;) {
		uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_acquire);
		struct gmp_g *next = atomic_load_explicit(&p->runnext, memory_order_acquire);
		if (t == atomic_load_explicit(&p->runqtail, memory_order_acquire))
			return h == t && next == NULL;
	}
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
void gmp_globrunqput_rt(struct gmp_g *gp)
{
	gmp_lock_assert_held(&gmp_sched.lock);
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
	gmp_lock_assert_held(&gmp_sched.lock);
	if (GMP_UNLIKELY(atomic_load_explicit(&gmp_sched.rtused, memory_order_relaxed))) {
		/* real-time Gs go to their place at the front; the others on as a batch */
		struct gmp_g *h = NULL, *t = NULL, *nx;
		int k = 0;
		tail->schedlink = NULL;
		for (struct gmp_g *g = head; g; g = nx) {
			nx = g->schedlink;
			if (atomic_load_explicit(&g->rtprio, memory_order_relaxed)) {
				gmp_globrunqput_rt(g);
				continue;
			}
			gmp_glist_push(&h, &t, g);
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
	gmp_lock_assert_held(&gmp_sched.lock);
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
 * GMP_MAXTHREADS cap: gmp_startm cannot start an M for a P with work, so the P
 * waits on the idle list with its queue; the next M that takes an idle P or
 * steals runs it, and sysmon keeps trying to start one.
 */
void gmp_pidleput(struct gmp_p *p)
{
	gmp_lock_assert_held(&gmp_sched.lock);
	gmp_setpstatus(p, P_RUNNING, P_IDLE, memory_order_release);
	atomic_store_explicit(&p->m, NULL, memory_order_relaxed);
	p->link = gmp_sched.pidle;
	gmp_sched.pidle = p;
	atomic_fetch_add_explicit(&gmp_sched.npidle, 1, memory_order_relaxed);
}

struct gmp_p *gmp_pidleget(void)
{
	gmp_lock_assert_held(&gmp_sched.lock);
	struct gmp_p *p = gmp_sched.pidle;
	if (p) {
		gmp_sched.pidle = p->link;
		atomic_fetch_sub_explicit(&gmp_sched.npidle, 1, memory_order_relaxed);
		gmp_setpstatus(p, P_IDLE, P_RUNNING, memory_order_relaxed);
	}
	return p;
}
