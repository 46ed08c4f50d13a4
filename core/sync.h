/*
 * Synchronization objects, laid over glibc's public object sizes so that
 * static initializers and attribute-initialised objects keep their meaning
 * (docs/design.md §7).  Each overlay names the glibc fields it keeps and the
 * ones it reuses.  Process-shared objects are not laid over: they live in
 * memory other processes use with their own glibc, so they are left to
 * glibc and wait in the kernel.
 */
#ifndef GMP_CORE_SYNC_H
#define GMP_CORE_SYNC_H

#include "runtime.h"

#include <pthread.h>
#include <semaphore.h>

/*
 * pthread_mutex_t (40 bytes).  glibc's fields, all kept:
 *   lock   futex word: low bits 0 unlocked, 1 locked, 2 locked with possible
 *          waiters (glibc's values); plus GMP_MUTEX_WOKEN (core/mutex.c)
 *   count  recursion depth beyond the first lock (recursive kind)
 *   owner  holder's tid (the G's unique fake tid; real tid for other threads)
 *   nusers kept at 0
 *   kind   PTHREAD_MUTEX_* type in the low bits, plus glibc's flags:
 *          16 robust, 32 prio-inherit, 64 prio-protect, 128 pshared
 */
struct gmp_mutex {
	_Atomic uint32_t lock;
	uint32_t count;
	_Atomic int32_t owner;
	uint32_t nusers;
	int32_t kind;
	int16_t retaken, elision; /* glibc's __spins: the last woken waiter found the lock taken (mutex.c) */
	void *list[2];
};
_Static_assert(sizeof(struct gmp_mutex) == sizeof(pthread_mutex_t), "mutex layout");

#define GMP_MUTEX_HELD 3u  /* lock word: the low bits, 1 or 2 while held */
#define GMP_MUTEX_WOKEN 4u /* lock word: a waiter was woken and has not tried again yet */
#define GMP_MUTEX_KIND_MASK 3
#define GMP_MUTEX_ROBUST 16
#define GMP_MUTEX_PRIO_INHERIT 32
#define GMP_MUTEX_PSHARED 128

/*
 * pthread_cond_t (48 bytes).  Kept from glibc: its flags word, bit 0
 * (process-shared) and bit 1 (clock is CLOCK_MONOTONIC), set by
 * pthread_cond_init through its condattr; where it lies depends on the
 * glibc (byte 36 up to 2.40, 28 since), so it is read at the offset
 * layout.c measured at start-up (gmp_cond_flags).  Reused: the rest.
 *   mutex     the mutex of the current waiters (for requeue on broadcast)
 *   seq       futex word, bumped by every signal and broadcast
 *   nwaiters  waiters inside wait; top bit: destroy is waiting for them
 */
struct gmp_cond {
	struct gmp_mutex *_Atomic mutex; /* 0 */
	uint64_t unused1;                /* 8 */
	uint64_t unused2;                /* 16 */
	uint64_t unused3;                /* 24: glibc's flags at 28 (2.41) */
	uint32_t unused4;                /* 32 */
	uint32_t unused5;                /* 36: glibc's flags (2.36) */
	_Atomic uint32_t seq;            /* 40 */
	_Atomic uint32_t nwaiters;       /* 44 */
};
_Static_assert(sizeof(struct gmp_cond) == sizeof(pthread_cond_t), "cond layout");
extern uint32_t gmp_cond_flags_off GMP_HIDDEN; /* layout.c; immutable after init */
static inline uint32_t gmp_cond_flags(const void *c)
{
	uint32_t v;
	__builtin_memcpy(&v, (const char *)c + gmp_cond_flags_off, 4);
	return v;
}
const char *gmp_sync_layout_init(void) GMP_HIDDEN; /* init: NULL, or what could not be confirmed */
#define GMP_COND_PSHARED 1u
#define GMP_COND_MONOTONIC 2u
#define GMP_COND_DESTROYING 0x80000000u

/*
 * pthread_rwlock_t (56 bytes).  Kept from glibc: shared (28) and flags (48,
 * the _np kind).  Reused:
 *   state    bit 31 writer holds it; low bits: number of readers
 *   wwaiting writers waiting
 *   rseq     futex word readers wait on
 *   wseq     futex word writers wait on
 *   writer   tid of the writer (EDEADLK checks)
 */
struct gmp_rwlock {
	_Atomic uint32_t state;    /* 0 */
	_Atomic uint32_t wwaiting; /* 4 */
	_Atomic uint32_t rseq;     /* 8 */
	_Atomic uint32_t wseq;     /* 12 */
	uint32_t pad3, pad4;       /* 16 */
	_Atomic int32_t writer;    /* 24 */
	int32_t shared;            /* 28 */
	int8_t elision;            /* 32 */
	uint8_t pad1[7];
	uint64_t pad2;             /* 40 */
	uint32_t flags;            /* 48 */
	uint32_t pad5;
};
_Static_assert(sizeof(struct gmp_rwlock) == sizeof(pthread_rwlock_t), "rwlock layout");
#define GMP_RW_WRITER 0x80000000u

/*
 * sem_t (32 bytes).  glibc: 64-bit data word (value in the low half,
 * waiter count in the high half) and a private flag (0 = process-private,
 * 128 = shared, as FUTEX_PRIVATE_FLAG).  Kept as is.
 */
struct gmp_sem {
	_Atomic uint32_t value;
	_Atomic uint32_t nwaiters;
	int32_t priv;
	int32_t pad;
	uint64_t pad2[2];
};
_Static_assert(sizeof(struct gmp_sem) == sizeof(sem_t), "sem layout");

/* pthread_barrier_t (32 bytes), our own layout; pthread_barrier_init fills it. */
struct gmp_barrier {
	gmp_lock_t lock;
	uint32_t count;
	uint32_t arrived;
	_Atomic uint32_t seq;
	uint32_t pshared;
#ifndef GMP_LOCK_CHECKS
	uint32_t pad[2]; /* the checks build's lock fills these */
#endif
	uint32_t magic; /* bytes 28-31, after what glibc's process-shared layout uses */
};
_Static_assert(sizeof(struct gmp_barrier) == sizeof(pthread_barrier_t), "barrier layout");

/* any: the calling thread's tid as glibc sees it.  A G's fake tid (above 1 << 22) straight from its TCB. */
extern long gmp_mutex_tid_off GMP_HIDDEN; /* thread pointer to glibc's tid field; set once (mutex.c) */
pid_t gmp_self_tid_slow(void) GMP_HIDDEN;
static inline pid_t gmp_self_tid(void)
{
	long off = gmp_mutex_tid_off;
	if (GMP_LIKELY(off >= 0)) {
		pid_t t = *(pid_t *)((char *)gmp_arch_get_tp() + off);
		if (GMP_LIKELY(t > (1 << 22)))
			return t;
	}
	return gmp_self_tid_slow();
}

/*
 * The objects' operations: G or foreign thread; the waits may park.  Each
 * returns 0 or -errno with NPTL's codes for the same case (preload/
 * negates them for pthread_*).  deadline: -1 none, -2 a bad timespec
 * (-EINVAL where NPTL reports it), else absolute CLOCK_MONOTONIC ns.
 * gmp_barrier_wait returns 1 for the one serial thread, else 0; it cannot
 * fail.
 *
 * The uncontended lock and unlock of a normal or adaptive mutex are inline
 * here, so that the pthread adapters need no call at all on that path (a
 * call and the sign change of -errno cost a contended mutex 15%, 8 threads
 * on one: 104M -> 80M locks/s); everything else is in mutex.c
 * (gmp_mutex_lock_any, gmp_mutex_unlock_any, gmp_mutex_wake).
 */
static inline bool gmp_mutex_plain(const struct gmp_mutex *m)
{
	int kind = m->kind & GMP_MUTEX_KIND_MASK;
	return kind == PTHREAD_MUTEX_NORMAL || kind == PTHREAD_MUTEX_ADAPTIVE_NP;
}

/* Take m if it is free, also with a woken waiter on its way (which covers those still asleep): plainly locked. */
static inline bool gmp_mutex_take_free(struct gmp_mutex *m)
{
	uint32_t z = 0;
	return atomic_compare_exchange_strong_explicit(&m->lock, &z, 1, memory_order_acquire, memory_order_relaxed) ||
	       (z == GMP_MUTEX_WOKEN && atomic_compare_exchange_strong_explicit(&m->lock, &z, z | 1, memory_order_acquire,
										 memory_order_relaxed));
}

int gmp_mutex_lock_any(struct gmp_mutex *m, int64_t deadline, clockid_t clk, bool try) GMP_HIDDEN;
int gmp_mutex_unlock_any(struct gmp_mutex *m) GMP_HIDDEN;
void gmp_mutex_wake(struct gmp_mutex *m, uint32_t v) GMP_HIDDEN; /* unlocked from v, which had waiters */

static inline int gmp_mutex_lock(struct gmp_mutex *m, int64_t deadline, clockid_t clk, bool try)
{
	if (GMP_LIKELY(gmp_mutex_plain(m)) && GMP_LIKELY(gmp_mutex_take_free(m))) {
		atomic_store_explicit(&m->owner, gmp_self_tid(), memory_order_relaxed);
		return 0;
	}
	return gmp_mutex_lock_any(m, deadline, clk, try);
}

/* The holder lets m go (the last level of a recursive one), waking a waiter if there is one. */
static inline void gmp_mutex_release(struct gmp_mutex *m)
{
	atomic_store_explicit(&m->owner, 0, memory_order_relaxed);
	uint32_t v = atomic_fetch_and_explicit(&m->lock, GMP_MUTEX_WOKEN, memory_order_release);
	if (GMP_UNLIKELY((v & GMP_MUTEX_HELD) == 2))
		gmp_mutex_wake(m, v);
}

static inline int gmp_mutex_unlock(struct gmp_mutex *m)
{
	if (GMP_UNLIKELY(!gmp_mutex_plain(m)))
		return gmp_mutex_unlock_any(m);
	gmp_mutex_release(m);
	return 0;
}
void gmp_mutex_lock_contended(struct gmp_mutex *m) GMP_HIDDEN; /* cond wake-up: relock as contended */
int gmp_cond_wait(struct gmp_cond *c, struct gmp_mutex *m, int64_t deadline, clockid_t clk) GMP_HIDDEN;
int gmp_cond_wake(struct gmp_cond *c, bool all) GMP_HIDDEN;
int gmp_cond_destroy(struct gmp_cond *c) GMP_HIDDEN;
int gmp_rwlock_rdlock(struct gmp_rwlock *l, int64_t deadline, bool try) GMP_HIDDEN;
int gmp_rwlock_wrlock(struct gmp_rwlock *l, int64_t deadline, bool try) GMP_HIDDEN;
int gmp_rwlock_unlock(struct gmp_rwlock *l) GMP_HIDDEN;
int gmp_sem_wait(struct gmp_sem *s, int64_t deadline, bool try) GMP_HIDDEN;
int gmp_sem_post(struct gmp_sem *s) GMP_HIDDEN;
int gmp_barrier_wait(struct gmp_barrier *b) GMP_HIDDEN;
/* barrier.c: a process-private barrier, gmp's layout (process-shared ones are glibc's) */
void gmp_barrier_init(struct gmp_barrier *b, unsigned count) GMP_HIDDEN;
bool gmp_barrier_ours(const struct gmp_barrier *b) GMP_HIDDEN; /* else glibc's (process-shared) */
int gmp_barrier_destroy(struct gmp_barrier *b) GMP_HIDDEN;      /* 0 or -EBUSY */
#endif
