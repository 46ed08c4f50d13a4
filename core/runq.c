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
