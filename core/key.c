/*
 * Thread-specific data (pthread keys, C11 tss).
 *
 * Values live in this library's own initial-exec TLS, so every thread
 * that has a TCB has its own table: Gs (their private TCB), Ms and foreign
 * kernel threads alike.  Two levels, as glibc: 32 lazily allocated blocks
 * of 32 slots.  A slot remembers the sequence number of the key it was set
 * for, so a deleted and re-created key reads NULL everywhere without
 * touching any thread.
 *
 * Key table word keys[k].seq: odd = in use, even = free; create and delete
 * each add one with a CAS.  Destructors run at thread exit in up to
 * PTHREAD_DESTRUCTOR_ITERATIONS rounds, as POSIX says.  Foreign threads get
 * theirs through a glibc key whose destructor runs ours.
 */
#include "runtime.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#define NKEYS 1024 /* PTHREAD_KEYS_MAX */
#define BLK 32

struct slot {
	uint64_t seq;
	void *val;
};

static struct {
	_Atomic uint64_t seq;
	void (*_Atomic dtor)(void *);
} keys[NKEYS];

/* The block table itself is allocated on first use: static TLS shares the page of every G's
   TCB with the top of its stack (core/tcb.c), so it is kept to one pointer here. */
static __thread struct slot **tsd __attribute__((tls_model("initial-exec")));
static __thread bool tsd_foreign_hooked __attribute__((tls_model("initial-exec")));
static unsigned foreign_key;
static _Atomic int foreign_key_state; /* 0 none, 1 creating, 2 ready */

int gmp_key_create(unsigned *out, void (*dtor)(void *))
{
	for (unsigned k = 0; k < NKEYS; k++) {
		uint64_t s = atomic_load(&keys[k].seq);
		if (s & 1)
			continue;
		if (s + 2 < s)
			continue; /* sequence exhausted: never reuse this slot */
		if (atomic_compare_exchange_strong(&keys[k].seq, &s, s + 1)) {
			atomic_store(&keys[k].dtor, dtor);
			*out = k;
			return 0;
		}
	}
	return -EAGAIN;
}

int gmp_key_delete(unsigned k)
{
	if (k >= NKEYS)
		return -EINVAL;
	uint64_t s = atomic_load(&keys[k].seq);
	if (!(s & 1) || !atomic_compare_exchange_strong(&keys[k].seq, &s, s + 1))
		return -EINVAL;
	return 0;
}

void *gmp_key_get(unsigned k)
{
	if (k >= NKEYS)
		return NULL;
	struct slot *b = tsd ? tsd[k / BLK] : NULL;
	if (!b)
		return NULL;
	struct slot *s = &b[k % BLK];
	return s->seq == atomic_load_explicit(&keys[k].seq, memory_order_relaxed) ? s->val : NULL;
}

static void foreign_exit(void *unused)
{
	(void)unused;
	gmp_keys_run_destructors();
}

/*
 * Thread-specific data lives in units of the runtime's own memory, never
 * the program's allocator: an allocator (jemalloc) calls
 * pthread_setspecific while it initialises inside its first malloc, and a
 * calloc here re-entered it (issue 17: fork then hung).  A unit holds a
 * thread's block index (NKEYS / BLK pointers) or one block of BLK slots;
 * freed units are kept for the next thread.  unitlock is a leaf lock,
 * also held across fork (fork.c).
 */
#define UNIT (BLK * sizeof(struct slot))
_Static_assert(NKEYS / BLK * sizeof(struct slot *) <= UNIT, "a block index fits a unit");
#define UNITS_PER_MAP 64
static gmp_lock_t unitlock = GMP_LOCK_RANKED(GMP_RANK_KEYUNIT);
static void *unitfree;  /* unitlock */
static char *unitnext;  /* unitlock */
static size_t unitleft; /* unitlock */

static void *unit_get(void)
{
	if (GMP_FAULT(KEY_BLOCK))
		return NULL;
	gmp_lock(&unitlock);
	void *u = unitfree;
	if (u) {
		unitfree = *(void **)u;
		gmp_unlock(&unitlock);
		memset(u, 0, UNIT);
		return u;
	}
	if (unitleft < UNIT) {
		char *c = gmp_rt_alloc(UNITS_PER_MAP * UNIT);
		if (!c) {
			gmp_unlock(&unitlock);
			return NULL;
		}
		unitnext = c;
		unitleft = UNITS_PER_MAP * UNIT;
	}
	u = unitnext; /* fresh pages: zero */
	unitnext += UNIT;
	unitleft -= UNIT;
	gmp_unlock(&unitlock);
	return u;
}

static void unit_put(void *u)
{
	if (!u)
		return;
	gmp_lock(&unitlock);
	*(void **)u = unitfree;
	unitfree = u;
	gmp_unlock(&unitlock);
}

void gmp_key_fork_lock(void) { gmp_lock(&unitlock); }
void gmp_key_fork_unlock(void) { gmp_unlock(&unitlock); }

/*
 * The main thread before gmp has started (another library's constructor:
 * jemalloc sets a key inside its first malloc): it becomes the main G, its
 * data stays where it is, and no exit hook is needed.  Starting gmp here
 * would call the program's allocator (dlopen, dlsym) while it initialises.
 */
static bool main_before_init(void)
{
	return atomic_load_explicit(&gmp_inited, memory_order_acquire) != 2 &&
	       gmp_sys0(SYS_gettid) == gmp_sys0(SYS_getpid);
}

int gmp_key_set(unsigned k, const void *val)
{
	if (k >= NKEYS)
		return -EINVAL;
	uint64_t seq = atomic_load_explicit(&keys[k].seq, memory_order_relaxed);
	if (!(seq & 1))
		return -EINVAL;
	struct slot *b = tsd ? tsd[k / BLK] : NULL;
	if (!b) {
		if (!val)
			return 0;
		if (!tsd) {
			tsd = unit_get();
			if (!tsd)
				return -ENOMEM;
		}
		b = unit_get();
		if (!b)
			return -ENOMEM;
		tsd[k / BLK] = b;
		if (!gmp_getg() && !tsd_foreign_hooked && !main_before_init()) {
			gmp_init(); /* e.g. another library's constructor, before gmp's */
			/* a kernel thread gmp did not create: have glibc tell us when it exits */
			int z = 0;
			if (atomic_compare_exchange_strong(&foreign_key_state, &z, 1)) {
				gmp_libc.pthread_key_create(&foreign_key, foreign_exit);
				atomic_store(&foreign_key_state, 2);
			}
			while (atomic_load(&foreign_key_state) != 2)
				gmp_cpu_relax();
			gmp_libc.pthread_setspecific(foreign_key, (void *)1);
			tsd_foreign_hooked = true;
		}
	}
	b[k % BLK].seq = seq;
	b[k % BLK].val = (void *)val;
	return 0;
}

void gmp_keys_run_destructors(void)
{
	if (!tsd)
		return;
	for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; round++) {
		bool any = false;
		for (unsigned bi = 0; bi < NKEYS / BLK; bi++) {
			struct slot *b = tsd[bi];
			if (!b)
				continue;
			for (unsigned i = 0; i < BLK; i++) {
				unsigned k = bi * BLK + i;
				void *v = b[i].val;
				if (!v)
					continue;
				b[i].val = NULL;
				void (*d)(void *) = atomic_load(&keys[k].dtor);
				if (b[i].seq == atomic_load(&keys[k].seq) && d) {
					d(v);
					any = true;
				}
			}
		}
		if (!any)
			break;
	}
	for (unsigned bi = 0; bi < NKEYS / BLK; bi++)
		unit_put(tsd[bi]);
	unit_put(tsd);
	tsd = NULL;
}
