/*
 * Address-keyed wait queues: the one waiting mechanism of the runtime
 * (docs/design.md §7), with the kernel futex's semantics so that it can serve
 * pthread objects, join, once and syscall(SYS_futex) alike.
 *
 * A waiter record lives on the waiting thread's stack and is queued in the
 * bucket of its address.  It is either
 *   - a G: it parks; gmp_park releases the bucket lock on g0 after the G's
 *     context is saved, so a waker can never ready a G that is still
 *     running;
 *   - a foreign kernel thread: it sleeps in the kernel on w->kword.
 *
 * A waker unlinks waiters under the bucket lock, marks each one's result,
 * and wakes them after dropping the lock.  A foreign waiter that times out
 * but finds itself already unlinked waits for its kword, so the waker never
 * touches a record whose stack frame is gone.
 *
 * Timed G waits arm a timer (timer.c) whose function unlinks the waiter with
 * -ETIMEDOUT.
 *
 * A bucket holds one queue per address: a list of queue heads (the first
 * waiter of each address, linked by anext), each with its FIFO of later
 * waiters on the same address (qnext/qprev, tail in the head's qtail).
 * Cost: O(addresses waited on in the bucket) to find a queue, 4096
 * buckets, then O(1) per waiter woken, so a million waiters on one address
 * slow down no wake-up of another.
 */
#include "runtime.h"

#include <errno.h>
#include <limits.h>
#include <sys/syscall.h>

#define NBUCKETS 4096
#define WAIT_CANCEL 1 /* a cancellation point: pthread_cancel ends it with -ECANCELED */
#define WAIT_INTR 2   /* a signal to the G ends it with -EINTR (every G wait: the handler runs at once) */

struct waiter {
	struct gmp_g *g;            /* NULL: a foreign kernel thread */
	_Atomic uint32_t *addr;     /* bucket lock */
	uint32_t bitset;
	struct waiter *anext;       /* next queue head in the bucket (heads only); bucket lock */
	struct waiter *qnext, *qprev; /* same-address queue, qprev NULL at its head; bucket lock; qnext
	                                 links the woken after unlinking */
	struct waiter *qtail;       /* head only: the last waiter of its queue; bucket lock */
	bool queued;                /* bucket lock */
	uint8_t ends;               /* WAIT_CANCEL / WAIT_INTR: what may end the wait early; immutable */
	int result;                 /* written by the unlinker under the bucket lock */
	_Atomic uint32_t kword;     /* foreign: 1 once woken */
	struct gmp_timer timer;
};

struct bucket {
	gmp_lock_t lock;
	struct waiter *head; /* first queue head */
} __attribute__((aligned(GMP_CACHELINE)));

static struct bucket buckets[NBUCKETS] = {[0 ... NBUCKETS - 1] = {.lock = GMP_LOCK_RANKED(GMP_RANK_BUCKET)}};

static struct bucket *bucket_of(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;
	a ^= a >> 17;
	a *= 0x9E3779B97F4A7C15ULL;
	return &buckets[(a >> 40) % NBUCKETS];
}

/* The queue head of addr in b, or NULL; *prevp gets the link that points at it. */
static struct waiter *queue_of(struct bucket *b, _Atomic uint32_t *addr, struct waiter ***prevp)
{
	struct waiter **pp = &b->head;
	for (; *pp; pp = &(*pp)->anext)
		if ((*pp)->addr == addr)
			break;
	if (prevp)
		*prevp = pp;
	return *pp;
}

static void enqueue(struct bucket *b, struct waiter *w)
{
	struct waiter *h = queue_of(b, w->addr, NULL);
	w->qnext = NULL;
	if (h) {
		w->qprev = h->qtail;
		h->qtail->qnext = w;
		h->qtail = w;
	} else {
		w->qprev = NULL;
		w->qtail = w;
		w->anext = b->head;
		b->head = w;
	}
	w->queued = true;
}

static void unlink_w(struct bucket *b, struct waiter *w)
{
	if (!w->qprev) {
		/* a queue head: the next waiter of its address takes its place */
		struct waiter **pp;
		queue_of(b, w->addr, &pp);
		struct waiter *nw = w->qnext;
		if (nw) {
			nw->qprev = NULL;
			nw->qtail = w->qtail;
			nw->anext = w->anext;
			*pp = nw;
		} else {
			*pp = w->anext;
		}
	} else {
		w->qprev->qnext = w->qnext;
		if (w->qnext)
			w->qnext->qprev = w->qprev;
		else
			queue_of(b, w->addr, NULL)->qtail = w->qprev;
	}
	w->queued = false;
}

/* Wake an unlinked waiter.  p: the caller's P, or NULL.  lazy: gmp_ready_lazy. */
static void wake_one(struct waiter *w, struct gmp_p *p, bool lazy)
{
	struct gmp_g *g = w->g;
	if (g) {
		gmp_casgstatus(g, G_WAITING, G_RUNNABLE);
		if (lazy && p)
			gmp_ready_lazy(p, g);
		else
			gmp_ready(p, g, true);
	} else {
		atomic_store_explicit(&w->kword, 1, memory_order_release);
		gmp_kfutex_wake(&w->kword, 1);
	}
}

/*
 * Lock the bucket w is queued in.  w->addr changes only under the bucket
 * locks (requeue), so recheck after locking.
 */
static struct bucket *lock_bucket_of(struct waiter *w)
{
	for (;;) {
		struct bucket *b = bucket_of((const void *)w->addr);
		gmp_lock(&b->lock);
		if (bucket_of((const void *)w->addr) == b)
			return b;
		gmp_unlock(&b->lock);
	}
}

static void timeout_fn(struct gmp_timer *t, struct gmp_p *runner)
{
	struct waiter *w = t->arg;
	struct bucket *b = lock_bucket_of(w);
	if (!w->queued) {
		gmp_unlock(&b->lock);
		return;
	}
	unlink_w(b, w);
	w->result = -ETIMEDOUT;
	gmp_unlock(&b->lock);
	wake_one(w, runner, false);
}

/* clk now: glibc's clock_gettime (the vDSO's), not gmp's interposed one; a system call before init */
static void clock_now(clockid_t clk, struct timespec *ts)
{
	if (GMP_LIKELY(gmp_libc.clock_gettime != NULL))
		gmp_libc.clock_gettime(clk, ts);
	else
		gmp_sys2(SYS_clock_gettime, clk, ts);
}

int64_t gmp_nanotime(void)
{
	struct timespec ts;
	clock_now(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Convert a timespec to an absolute CLOCK_MONOTONIC deadline in ns.
 * Returns -EINVAL for a bad timespec.  A deadline in the past is returned
 * as is (the wait times out at once after the value check).
 */
int64_t gmp_deadline_from(const struct timespec *ts, clockid_t clk, bool absolute)
{
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)
		return -EINVAL;
	int64_t v = ts->tv_sec < 0 ? 0 : (ts->tv_sec > INT64_MAX / 1000000000 - 1 ? INT64_MAX / 2 :
						     ts->tv_sec * 1000000000 + ts->tv_nsec);
	if (!absolute)
		return gmp_nanotime() + v;
	if (clk == CLOCK_MONOTONIC)
		return v ? v : 1;
	struct timespec now;
	clock_now(clk, &now);
	int64_t d = v - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
	int64_t r = gmp_nanotime() + d;
	return r > 0 ? r : 1;
}

/*
 * G, its P and b's lock held: queue w, with a timer for deadline; else why
 * not: the word changed (-EAGAIN), the deadline passed, a cancellation or
 * (ends) a signal came first, or the timer heap could not grow (-ENOMEM).
 */
static inline int g_enqueue(struct bucket *b, struct waiter *w, struct gmp_g *g, struct gmp_p *p,
			    _Atomic uint32_t *addr, uint32_t val, int64_t deadline, uint8_t ends)
{
	if (atomic_load_explicit(addr, memory_order_acquire) != val)
		return -EAGAIN;
	if (deadline > 0 && deadline <= gmp_nanotime())
		return -ETIMEDOUT;
	if ((ends & WAIT_CANCEL) && gmp_cancel_pending(g))
		return -ECANCELED;
	if ((ends & WAIT_INTR) && (atomic_load(&g->sigpending) & ~g->sigmask))
		return -EINTR; /* a signal came before we queued: take it now */
	w->g = g;
	enqueue(b, w);
	if (deadline > 0) {
		w->timer.when = deadline;
		w->timer.fn = timeout_fn;
		w->timer.arg = w;
		if (gmp_timer_add(p, &w->timer) != 0) {
			unlink_w(b, w);
			return -ENOMEM;
		}
	}
	return 0;
}

/* G, not queued (err, from g_enqueue): b's lock and the P go back; the wait's result. */
static inline int g_not_queued(struct bucket *b, struct gmp_g *g, struct gmp_p *p, int err)
{
	gmp_unlock(&b->lock);
	gmp_releasep_user(p);
	if (err == -ENOMEM) {
		/*
		 * The timer heap could not grow: no timed park.  Yield and
		 * report a spurious wake-up; every caller checks its
		 * condition and deadline and waits again.
		 */
		gmp_yield(g);
		err = 0;
	}
	return err;
}

/* Foreign kernel thread: sleep in the kernel on our own word (w->kword). */
static int foreign_wait(struct bucket *b, struct waiter *w, _Atomic uint32_t *addr, uint32_t val, int64_t deadline)
{
	gmp_lock(&b->lock);
	if (atomic_load_explicit(addr, memory_order_acquire) != val) {
		gmp_unlock(&b->lock);
		return -EAGAIN;
	}
	enqueue(b, w);
	gmp_unlock(&b->lock);
	for (;;) {
		if (atomic_load_explicit(&w->kword, memory_order_acquire))
			return w->result;
		int r = deadline > 0 ? gmp_kfutex_wait_abs(&w->kword, 0, deadline, CLOCK_MONOTONIC)
				     : gmp_kfutex_wait(&w->kword, 0, -1);
		if (r == -ETIMEDOUT) {
			b = lock_bucket_of(w);
			if (w->queued) {
				unlink_w(b, w);
				gmp_unlock(&b->lock);
				return -ETIMEDOUT;
			}
			gmp_unlock(&b->lock);
			/* a waker unlinked us: wait for its wake-up so it is done with w */
			while (!atomic_load_explicit(&w->kword, memory_order_acquire))
				gmp_kfutex_wait(&w->kword, 0, -1);
			return w->result;
		}
	}
}

static int futex_wait(_Atomic uint32_t *addr, uint32_t val, uint32_t bitset, int64_t deadline,
		      enum gmp_waitreason why, uint8_t ends)
{
	if (bitset == 0)
		return -EINVAL;
	struct bucket *b = bucket_of((const void *)addr);
	struct waiter w = {.addr = addr, .bitset = bitset, .ends = ends};
	struct gmp_g *g = gmp_getg();
	if (!g)
		return foreign_wait(b, &w, addr, val, deadline);

	/* Take the P first: getting it may reschedule us, which must not happen under the bucket lock. */
	struct gmp_p *p = gmp_acquirep_user(g);
	/* Every G wait can be ended early (ends): registered for the canceller or interrupter. */
	atomic_store(&g->cwait, &w); /* seq_cst: pairs with the canceller's bits-then-cwait */
	gmp_lock(&b->lock);
	int err = g_enqueue(b, &w, g, p, addr, val, deadline, ends);
	if (err) {
		err = g_not_queued(b, g, p, err);
	} else {
		gmp_park(g, p, gmp_unlock_void, &b->lock, why);
		if (deadline > 0)
			gmp_timer_del_user(g, &w.timer);
		err = w.result;
	}
	gmp_lock(&g->cwlock); /* a canceller using w finishes first */
	atomic_store(&g->cwait, NULL);
	gmp_unlock(&g->cwlock);
	/* the handlers of what came meanwhile, now that the wait is undone: one may siglongjmp out */
	if (GMP_UNLIKELY(atomic_load_explicit(&g->sigpending, memory_order_relaxed)))
		gmp_deliver_pending(g);
	return err;
}

int gmp_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint32_t bitset, int64_t deadline, clockid_t clk,
		   enum gmp_waitreason why)
{
	(void)clk;
	return futex_wait(addr, val, bitset, deadline, why, WAIT_INTR);
}

int gmp_futex_wait_cancel(_Atomic uint32_t *addr, uint32_t val, int64_t deadline, enum gmp_waitreason why)
{
	return futex_wait(addr, val, GMP_FUTEX_BITSET_ANY, deadline, why, WAIT_CANCEL | WAIT_INTR);
}


/*
 * pthread_cancel's and signals' wake-up: if t is parked in a wait that res
 * (-ECANCELED or -EINTR) may end, unlink it with res.  The caller has
 * already set t's cancellation bits or pending signals; a wait that begins
 * later sees them (futex_wait checks after enqueueing).
 */
void gmp_futex_cancel_g(struct gmp_g *t, int res)
{
	struct gmp_g *self = gmp_getg();
	struct gmp_p *p = self ? gmp_acquirep_user(self) : NULL;
	gmp_futex_cancel_gp(t, res, p);
	if (p)
		gmp_releasep_user(p);
}

/* As gmp_futex_cancel_g with the caller's P (or NULL): g0 and sysmon. */
void gmp_futex_cancel_gp(struct gmp_g *t, int res, struct gmp_p *p)
{
	uint8_t need = res == -ECANCELED ? WAIT_CANCEL : WAIT_INTR;
	gmp_lock(&t->cwlock);
	struct waiter *w = atomic_load(&t->cwait);
	if (w) {
		struct bucket *b = lock_bucket_of(w);
		if (w->queued && w->g == t && (w->ends & need)) {
			unlink_w(b, w);
			w->result = res;
			gmp_unlock(&b->lock);
			wake_one(w, p, false);
		} else {
			gmp_unlock(&b->lock);
		}
	}
	gmp_unlock(&t->cwlock);
}

/* Off the queue and onto the list of those to wake, with result 0; bucket lock held. */
static struct waiter **take_waiter(struct bucket *b, struct waiter *w, struct waiter **tailp)
{
	unlink_w(b, w);
	w->result = 0;
	w->qnext = NULL;
	*tailp = w;
	return &w->qnext;
}

static int wake_p(_Atomic uint32_t *addr, int n, uint32_t bitset, struct gmp_p *p, bool lazy)
{
	struct bucket *b = bucket_of((const void *)addr);
	struct waiter *list = NULL, **tailp = &list;
	int woken = 0;

	if (n <= 0)
		return 0;
	gmp_lock(&b->lock);
	if (GMP_UNLIKELY(atomic_load_explicit(&gmp_sched.rtused, memory_order_relaxed)) && n < INT_MAX) {
		/* highest real-time priority first, FIFO among equals, as the kernel's futex queues */
		while (woken < n) {
			struct waiter *best = NULL;
			int bp = -1;
			for (struct waiter *w = queue_of(b, addr, NULL); w; w = w->qnext) {
				int pr = w->g ? atomic_load_explicit(&w->g->rtprio, memory_order_relaxed) : 0;
				if ((w->bitset & bitset) && w->addr == addr && pr > bp) {
					best = w;
					bp = pr;
				}
			}
			if (!best)
				break;
			tailp = take_waiter(b, best, tailp);
			woken++;
		}
	}
	for (struct waiter *w = queue_of(b, addr, NULL), *nx; w && woken < n; w = nx) {
		nx = w->qnext;
		if (!(w->bitset & bitset))
			continue;
		tailp = take_waiter(b, w, tailp);
		woken++;
	}
	gmp_unlock(&b->lock);
	for (struct waiter *w = list, *nx; w; w = nx) {
		nx = w->qnext; /* read before waking: w may vanish after */
		wake_one(w, p, lazy);
	}
	return woken;
}

int gmp_futex_wake_p(_Atomic uint32_t *addr, int n, uint32_t bitset, struct gmp_p *p)
{
	return wake_p(addr, n, bitset, p, false);
}

static int wake_g(_Atomic uint32_t *addr, int n, uint32_t bitset, bool lazy)
{
	struct gmp_g *g = gmp_getg();
	if (!g)
		return wake_p(addr, n, bitset, NULL, false);
	/*
	 * Cheap check first: nobody waiting, nothing to do, no P needed.  The
	 * fence orders the caller's store to *addr before these loads; a
	 * waiter reads *addr after its locked CAS on the bucket lock, so one
	 * of the two sides sees the other.
	 */
	struct bucket *b = bucket_of((const void *)addr);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&b->lock.v, memory_order_relaxed) == 0 && b->head == NULL)
		return 0;
	struct gmp_p *p = gmp_acquirep_user(g);
	int r = wake_p(addr, n, bitset, p, lazy);
	gmp_releasep_user(p);
	return r;
}

int gmp_futex_wake(_Atomic uint32_t *addr, int n, uint32_t bitset)
{
	return wake_g(addr, n, bitset, false);
}

int gmp_futex_wake_lazy(_Atomic uint32_t *addr)
{
	return wake_g(addr, 1, GMP_FUTEX_BITSET_ANY, true);
}

/*
 * Wake up to nwake waiters on addr and move up to nmove of the rest to
 * addr2 (FUTEX_CMP_REQUEUE when cmpval is given).  Lock order between two
 * buckets: lower address first.
 */
/*
 * Waking from a signal handler (sem_post is async-signal-safe).  The
 * handler may have interrupted runtime code on this very thread: a bucket
 * or scheduler lock may be held below us, and the P may be in use.  So the
 * wake runs inline only when that provably is not so: the caller is a G on
 * its own stack, running on its M, whose P it can take back from user or
 * kernel-call state (runtime code holds its P as P_RUNNING and every lock
 * the wake needs is taken under it), and the bucket lock is free.
 * Otherwise the address goes to a small lock-free set of deferred wakes,
 * and sysmon or an M of the scheduler wakes every waiter on it soon after
 * (a semaphore waiter rechecks the value, so waking all is harmless).
 */
#define NDEFER 64
static _Atomic(uintptr_t) deferred[NDEFER];
_Atomic uint32_t gmp_ndeferred;

/* An address to wake, or (low bit set) a G whose wait a signal must interrupt. */
void gmp_defer(uintptr_t a)
{
	for (;;) {
		for (int i = 0; i < NDEFER; i++) {
			uintptr_t v = atomic_load(&deferred[i]);
			if (v == a)
				goto kick; /* pending already, and taken after our increment */
			uintptr_t z = 0;
			if (v == 0 && atomic_compare_exchange_strong(&deferred[i], &z, a))
				goto kick;
		}
		gmp_sys0(SYS_sched_yield); /* full: the runners free slots */
	}
kick:
	atomic_fetch_add(&gmp_ndeferred, 1);
	gmp_sysmon_kick();
	struct gmp_m *s = gmp_sched.sleeper; /* racy reads: Ms are never freed */
	if (!s)
		s = gmp_sched.midle;
	if (s)
		gmp_mkick_sleeper(s);
}

void gmp_futex_run_deferred(struct gmp_p *p)
{
	if (atomic_exchange(&gmp_ndeferred, 0) == 0)
		return;
	for (int i = 0; i < NDEFER; i++) {
		uintptr_t a = atomic_exchange(&deferred[i], 0);
		if (a & 1)
			gmp_signal_interrupt((struct gmp_g *)(a & ~(uintptr_t)1), p);
		else if (a)
			gmp_futex_wake_p((_Atomic uint32_t *)a, INT_MAX, GMP_FUTEX_BITSET_ANY, p);
	}
}

void gmp_futex_wake_async(_Atomic uint32_t *addr, int n)
{
	struct bucket *b = bucket_of((const void *)addr);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&b->lock.v, memory_order_relaxed) == 0 && b->head == NULL)
		return;
	struct gmp_g *g = gmp_getg();
	uint32_t from;
	struct gmp_p *p = g ? gmp_acquirep_async(g, &from) : NULL;
	if (p) {
		for (int i = 0; i < 100; i++) {
			if (atomic_load_explicit(&b->lock.v, memory_order_relaxed) == 0 && gmp_trylock(&b->lock)) {
				gmp_unlock(&b->lock);
				gmp_futex_wake_p(addr, n, GMP_FUTEX_BITSET_ANY, p);
				gmp_setpstatus(p, P_RUNNING, from, memory_order_release);
				return;
			}
			gmp_cpu_relax();
		}
		gmp_setpstatus(p, P_RUNNING, from, memory_order_release);
	}
	gmp_defer((uintptr_t)addr);
}

int gmp_futex_requeue(_Atomic uint32_t *addr, int nwake, _Atomic uint32_t *addr2, int nmove,
		      const uint32_t *cmpval)
{
	struct bucket *b1 = bucket_of((const void *)addr), *b2 = bucket_of((const void *)addr2);
	struct waiter *list = NULL, **tailp = &list;
	int woken = 0, moved = 0;

	if (b1 == b2) {
		gmp_lock(&b1->lock);
	} else if (b1 < b2) {
		gmp_lock(&b1->lock);
		gmp_lock(&b2->lock);
	} else {
		gmp_lock(&b2->lock);
		gmp_lock(&b1->lock);
	}
	if (cmpval && atomic_load_explicit(addr, memory_order_acquire) != *cmpval) {
		gmp_unlock(&b1->lock);
		if (b1 != b2)
			gmp_unlock(&b2->lock);
		return -EAGAIN;
	}
	for (struct waiter *w = queue_of(b1, addr, NULL), *nx; w; w = nx) {
		nx = w->qnext;
		if (woken < nwake) {
			unlink_w(b1, w);
			w->result = 0;
			w->qnext = NULL;
			*tailp = w;
			tailp = &w->qnext;
			woken++;
		} else if (moved < nmove) {
			unlink_w(b1, w);
			w->addr = addr2;
			enqueue(b2, w);
			moved++;
		} else {
			break;
		}
	}
	gmp_unlock(&b1->lock);
	if (b1 != b2)
		gmp_unlock(&b2->lock);

	struct gmp_g *g = gmp_getg();
	struct gmp_p *p = g && list ? gmp_acquirep_user(g) : NULL;
	for (struct waiter *w = list, *nx; w; w = nx) {
		nx = w->qnext;
		wake_one(w, p, false);
	}
	if (p)
		gmp_releasep_user(p);
	return woken + moved;
}

/* fork child: the waiters were other threads, which do not exist any more. */
void gmp_futex_reset(void)
{
	for (int i = 0; i < NBUCKETS; i++) {
		gmp_lock_reset(&buckets[i].lock);
		buckets[i].head = NULL;
	}
}
