/*
 * Runtime locks: a futex-backed mutex for short critical sections of the
 * runtime itself, and the sleep/wake-up "note" an M parks on.  Both use raw
 * system calls, so they work on g0, on a G, on a foreign thread and in a
 * signal handler that did not interrupt the lock's holder.
 *
 * Lock word values (gmp_lock_t.v):
 *   0  unlocked
 *   1  locked, nobody sleeping
 *   2  locked, maybe sleepers in the kernel: unlock must FUTEX_WAKE
 *
 * A gmp_lock may be taken on a G and released on g0 of the same M (park
 * does this): the holder is the kernel thread, never the G.
 *
 * Built with -Dchecks=true (scripts/test --ubsan, so CI), every lock knows
 * its holder's kernel thread id and its rank in HACKING's lock order, and
 * lock.c checks each acquisition against the locks the calling kernel
 * thread already holds: a lock taken twice, one released by a kernel
 * thread that does not hold it, and one taken against the order are
 * `gmp: fatal` with the thread dump.  A rank is given where the lock is
 * defined (GMP_LOCK_RANKED) or made (gmp_lock_init); rank 0 locks are
 * checked for their holder only.  That build defines GMP_LOCK_CHECKS,
 * which makes the lock bigger, so code compiled against core's structures
 * outside the library (the unit tests) takes it from meson's
 * lockcheck_cflags, never on its own.  Release builds keep the 4-byte lock
 * and the inline fast paths.
 */
#ifndef GMP_CORE_LOCK_H
#define GMP_CORE_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

/* HACKING.md "Lock order": a lock may be taken only while every ranked lock held has a lower rank. */
enum gmp_lockrank {
	GMP_RANK_NONE,     /* not ordered against the others (checked for its holder only) */
	GMP_RANK_CWLOCK,   /* g->cwlock */
	GMP_RANK_FORCE,    /* netpoll.c forcelock */
	GMP_RANK_BUCKET,   /* futex.c wait-queue buckets: two at once, lower address first */
	GMP_RANK_PD,       /* a netpoll record's pd->lock */
	GMP_RANK_TIMER,    /* p->timerlock */
	GMP_RANK_SCHED,    /* gmp_sched.lock */
	/* the leaves: nothing else is taken under them, and only fork's prepare holds several (in this order) */
	GMP_RANK_ALLG,     /* gmp_sched.allglock */
	GMP_RANK_TCBMOD,   /* tcb.c modlock */
	GMP_RANK_TCBCELL,  /* tcb.c celllock */
	GMP_RANK_STACK,    /* stack.c slablock */
	GMP_RANK_KEYUNIT,  /* key.c unitlock */
	/* tracing: hooks run under any lock above */
	GMP_RANK_TRACEROW, /* trace.c: a non-M row's lock */
	GMP_RANK_TRACEOUT, /* trace_json.c outlock */
	GMP_RANK_TRACELIST /* trace.c listlock */
};

typedef struct {
	_Atomic uint32_t v;
#ifdef GMP_LOCK_CHECKS
	_Atomic int32_t holder; /* kernel thread id of the holder, 0 when free */
	uint32_t rank;          /* enum gmp_lockrank */
#endif
} gmp_lock_t;

#ifdef GMP_LOCK_CHECKS
#define GMP_LOCK_RANKED(r) {0, 0, (r)}
#else
#define GMP_LOCK_RANKED(r) {0}
#endif
#define GMP_LOCK_INIT GMP_LOCK_RANKED(GMP_RANK_NONE)

void gmp_lock_slow(gmp_lock_t *l) __attribute__((visibility("hidden")));
void gmp_unlock_slow(gmp_lock_t *l) __attribute__((visibility("hidden")));

/* A lock made at run time (zeroed memory): its rank. */
static inline void gmp_lock_init(gmp_lock_t *l, enum gmp_lockrank r)
{
#ifdef GMP_LOCK_CHECKS
	l->rank = r;
#else
	(void)l, (void)r;
#endif
}

#ifdef GMP_LOCK_CHECKS
void gmp_lock(gmp_lock_t *l) __attribute__((visibility("hidden")));
int gmp_trylock(gmp_lock_t *l) __attribute__((visibility("hidden")));
void gmp_unlock(gmp_lock_t *l) __attribute__((visibility("hidden")));
void gmp_lock_reset(gmp_lock_t *l) __attribute__((visibility("hidden")));
void gmp_lock_fork_prepare(void) __attribute__((visibility("hidden")));
void gmp_lock_fork_child(void) __attribute__((visibility("hidden")));
void gmp_lock_assert_held(gmp_lock_t *l) __attribute__((visibility("hidden")));
#else
static inline void gmp_lock(gmp_lock_t *l)
{
	uint32_t z = 0;
	if (!atomic_compare_exchange_strong_explicit(&l->v, &z, 1, memory_order_acquire, memory_order_relaxed))
		gmp_lock_slow(l);
}

static inline int gmp_trylock(gmp_lock_t *l)
{
	uint32_t z = 0;
	return atomic_compare_exchange_strong_explicit(&l->v, &z, 1, memory_order_acquire, memory_order_relaxed);
}

static inline void gmp_unlock(gmp_lock_t *l)
{
	if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2)
		gmp_unlock_slow(l);
}

/* A fork child's: free a lock some thread of the parent held (that thread is gone). */
static inline void gmp_lock_reset(gmp_lock_t *l) { atomic_store_explicit(&l->v, 0, memory_order_relaxed); }
/* Around fork (fork.c): the checks build moves the forking thread's held locks to the child's id. */
static inline void gmp_lock_fork_prepare(void) {}
static inline void gmp_lock_fork_child(void) {}
/* A "lock held" precondition, checked by the checks build: the calling kernel thread holds l. */
static inline void gmp_lock_assert_held(gmp_lock_t *l) { (void)l; }
#endif

static inline void gmp_unlock_void(void *l) { gmp_unlock((gmp_lock_t *)l); }

/* Kernel futex helpers (private). Return 0 or -errno. timeout_ns < 0: forever. */
int gmp_kfutex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns) __attribute__((visibility("hidden")));
int gmp_kfutex_wait_abs(_Atomic uint32_t *addr, uint32_t val, int64_t deadline_ns, int clk) __attribute__((visibility("hidden")));
int gmp_kfutex_wake(_Atomic uint32_t *addr, int n) __attribute__((visibility("hidden")));
#endif
