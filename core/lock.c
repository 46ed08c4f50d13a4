/*
 * Runtime lock and kernel futex helpers (see lock.h for the word's values).
 * The spin before sleeping is short: runtime critical sections are a few
 * dozen instructions, and a system call costs ~1 us on the PVM guests this
 * was measured on.
 */
#include "runtime.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>

/*
 * FS-base traps (fstrap.c): a kernel sleep is a context switch, after
 * which an armed kernel thread's FS base is its trap address.  The value
 * before the sleep is the right one after it (a wait does not change
 * which TCB its code runs with), so it is put back at once, for a few
 * cycles instead of a trap at the next TLS access.  On a kernel thread
 * that is not armed the kernel has put it back already.
 */
static inline void *fs_before(void) { return GMP_UNLIKELY(gmp_fstrap) ? gmp_rdfsbase() : NULL; }
static inline void fs_after(void *fs)
{
	if (GMP_UNLIKELY(fs != NULL) && gmp_rdfsbase() != fs)
		gmp_wrfsbase(fs);
}

int gmp_kfutex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tp = &ts;
	}
	void *fs = fs_before();
	int r = (int)gmp_sys4(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tp);
	fs_after(fs);
	return r;
}

int gmp_kfutex_wait_abs(_Atomic uint32_t *addr, uint32_t val, int64_t deadline_ns, int clk)
{
	struct timespec ts = {deadline_ns / 1000000000, deadline_ns % 1000000000};
	int op = FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | (clk == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
	void *fs = fs_before();
	int r = (int)gmp_sys6(SYS_futex, addr, op, val, deadline_ns >= 0 ? &ts : NULL, NULL, FUTEX_BITSET_MATCH_ANY);
	fs_after(fs);
	return r;
}

int gmp_kfutex_wake(_Atomic uint32_t *addr, int n)
{
	/* the thread woken may take this one's CPU at once (a switch) */
	void *fs = fs_before();
	int r = (int)gmp_sys3(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n);
	fs_after(fs);
	return r;
}

void gmp_lock_slow(gmp_lock_t *l)
{
	for (int i = 0; i < 100; i++) {
		uint32_t z = 0;
		if (atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->v, &z, 1, memory_order_acquire, memory_order_relaxed))
			return;
		gmp_cpu_relax();
	}
	while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
		gmp_kfutex_wait(&l->v, 2, -1);
}

void gmp_unlock_slow(gmp_lock_t *l)
{
	gmp_kfutex_wake(&l->v, 1);
}

#ifdef GMP_LOCK_CHECKS
/*
 * The checks build's lock (lock.h).  The holder is a kernel thread, and
 * no cheaper name for "this kernel thread" works everywhere: g0 code runs
 * with the last G's FS base, so TLS names the G, not the M.  So gettid,
 * a system call per lock and unlock, which only this build pays.
 *
 * What each kernel thread holds is in a table indexed by its id modulo
 * HELD_SLOTS.  A slot's word packs (tid << 32 | depth); the owner pushes
 * and pops with a CAS on it, and a thread whose id lands on a slot whose
 * owner holds nothing takes the slot over with a CAS too, so a slot is
 * never shared.  A thread whose slot is busy with another live holder goes
 * unchecked for the order (its holder checks still run); with ids given
 * out in sequence that needs two threads 4,096 ids apart inside runtime
 * locks at the same moment.  A signal handler on the same thread pushes
 * above its interrupted code's locks and pops back before it returns.
 */
#define HELD_SLOTS 4096
#define HELD_MAX 16

struct held {
	_Atomic uint64_t word; /* tid << 32 | depth */
	struct {
		gmp_lock_t *l;
		uint32_t rank;
	} e[HELD_MAX];
};

static struct held held[HELD_SLOTS];
static int32_t fork_tid; /* the thread that forks, between prepare and the child */

static const char *const rank_names[] = {
	"unranked", "cwlock", "forcelock", "futex bucket", "pd->lock", "timerlock", "sched.lock",
	"allglock", "tcb modlock", "tcb celllock", "stack slablock", "key unitlock", "trace row", "trace outlock",
	"trace listlock",
};

static int32_t self_tid(void) { return (int32_t)gmp_sys0(SYS_gettid); }

static const char *rank_name(uint32_t r) { return r < sizeof rank_names / sizeof *rank_names ? rank_names[r] : "?"; }

/* The calling thread's slot and depth, taking the slot over if its last owner holds nothing; NULL when busy. */
static struct held *slot_of(int32_t tid, uint32_t *depth)
{
	struct held *h = &held[(uint32_t)tid % HELD_SLOTS];
	uint64_t w = atomic_load_explicit(&h->word, memory_order_acquire);
	for (;;) {
		if ((int32_t)(w >> 32) == tid) {
			*depth = (uint32_t)w;
			return h;
		}
		if ((uint32_t)w != 0)
			return NULL;
		if (atomic_compare_exchange_weak_explicit(&h->word, &w, (uint64_t)(uint32_t)tid << 32,
							  memory_order_acq_rel, memory_order_acquire)) {
			*depth = 0;
			return h;
		}
	}
}

/* About to wait for l: it must not be held here, and every ranked lock held must rank below it. */
static void check_order(gmp_lock_t *l, int32_t tid)
{
	if (atomic_load_explicit(&l->holder, memory_order_relaxed) == tid)
		gmp_fatal("runtime lock %p (%s) taken twice by thread %d", (void *)l, rank_name(l->rank), tid);
	uint32_t n;
	struct held *h = slot_of(tid, &n);
	if (!h || l->rank == GMP_RANK_NONE)
		return;
	for (uint32_t i = 0; i < n && i < HELD_MAX; i++) {
		uint32_t r = h->e[i].rank;
		if (r == GMP_RANK_NONE || r < l->rank)
			continue;
		if (r == l->rank && r == GMP_RANK_BUCKET && (uintptr_t)h->e[i].l < (uintptr_t)l)
			continue; /* two buckets, lower address first */
		gmp_fatal("lock order: thread %d takes %p (%s) while holding %p (%s); HACKING.md \"Lock order\"", tid,
			  (void *)l, rank_name(l->rank), (void *)h->e[i].l, rank_name(r));
	}
}

/* l is ours now: record the holder and push it. */
static void acquired(gmp_lock_t *l, int32_t tid)
{
	atomic_store_explicit(&l->holder, tid, memory_order_relaxed);
	uint32_t n;
	struct held *h = slot_of(tid, &n);
	if (!h)
		return;
	if (n >= HELD_MAX)
		gmp_fatal("thread %d holds more than %d runtime locks", tid, HELD_MAX);
	/* written before and after the push: a signal handler between the two may have used the entry */
	h->e[n].l = l, h->e[n].rank = l->rank;
	atomic_store_explicit(&h->word, ((uint64_t)(uint32_t)tid << 32) | (n + 1), memory_order_release);
	h->e[n].l = l, h->e[n].rank = l->rank;
}

void gmp_lock(gmp_lock_t *l)
{
	int32_t tid = self_tid();
	check_order(l, tid);
	uint32_t z = 0;
	if (!atomic_compare_exchange_strong_explicit(&l->v, &z, 1, memory_order_acquire, memory_order_relaxed))
		gmp_lock_slow(l);
	acquired(l, tid);
}

int gmp_trylock(gmp_lock_t *l)
{
	uint32_t z = 0;
	if (!atomic_compare_exchange_strong_explicit(&l->v, &z, 1, memory_order_acquire, memory_order_relaxed))
		return 0;
	acquired(l, self_tid());
	return 1;
}

/* Take l off the calling thread's held list. */
static void forget(gmp_lock_t *l, int32_t tid)
{
	uint32_t n;
	struct held *h = slot_of(tid, &n);
	if (!h)
		return;
	uint32_t i = n;
	while (i > 0 && h->e[i - 1].l != l)
		i--;
	if (i == 0)
		gmp_fatal("runtime lock %p (%s) released by thread %d, not in its held list", (void *)l, rank_name(l->rank),
			  tid);
	for (; i < n; i++) /* released out of order: close the gap */
		h->e[i - 1] = h->e[i];
	atomic_store_explicit(&h->word, ((uint64_t)(uint32_t)tid << 32) | (n - 1), memory_order_release);
}

void gmp_unlock(gmp_lock_t *l)
{
	int32_t tid = self_tid();
	int32_t holder = atomic_load_explicit(&l->holder, memory_order_relaxed);
	if (holder != tid)
		gmp_fatal("runtime lock %p (%s) released by thread %d, held by %d", (void *)l, rank_name(l->rank), tid,
			  holder);
	forget(l, tid);
	atomic_store_explicit(&l->holder, 0, memory_order_relaxed);
	if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2)
		gmp_unlock_slow(l);
}

void gmp_lock_assert_held(gmp_lock_t *l)
{
	int32_t tid = self_tid();
	if (atomic_load_explicit(&l->holder, memory_order_relaxed) != tid)
		gmp_fatal("runtime lock %p (%s) must be held by thread %d here (held by %d)", (void *)l, rank_name(l->rank),
			  tid, atomic_load_explicit(&l->holder, memory_order_relaxed));
}

/* A fork child's reset: it may be one the child's thread holds (fork's prepare took it). */
void gmp_lock_reset(gmp_lock_t *l)
{
	int32_t holder = atomic_load_explicit(&l->holder, memory_order_relaxed), tid;
	if (holder != 0 && holder == (tid = self_tid()))
		forget(l, tid);
	atomic_store_explicit(&l->holder, 0, memory_order_relaxed);
	atomic_store_explicit(&l->v, 0, memory_order_relaxed);
}

void gmp_lock_fork_prepare(void) { fork_tid = self_tid(); }

/* The child is one thread with a new id: it holds what the forking thread held; nobody else holds anything. */
void gmp_lock_fork_child(void)
{
	int32_t tid = self_tid();
	struct held *from = &held[(uint32_t)fork_tid % HELD_SLOTS];
	uint64_t w = atomic_load(&from->word);
	uint32_t n = (int32_t)(w >> 32) == fork_tid ? (uint32_t)w : 0;
	struct held mine = {0};
	for (uint32_t i = 0; i < n; i++) {
		mine.e[i] = from->e[i];
		atomic_store_explicit(&mine.e[i].l->holder, tid, memory_order_relaxed);
	}
	for (uint32_t i = 0; i < HELD_SLOTS; i++)
		atomic_store_explicit(&held[i].word, 0, memory_order_relaxed);
	struct held *to = &held[(uint32_t)tid % HELD_SLOTS];
	for (uint32_t i = 0; i < n; i++)
		to->e[i] = mine.e[i];
	atomic_store(&to->word, ((uint64_t)(uint32_t)tid << 32) | n);
}
#endif
