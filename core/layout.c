/*
 * glibc's synchronization objects, confirmed at start-up (sync.h lays
 * gmp's state over them).  Each probe has glibc's own init function (not
 * interposed) fill an object from attributes and checks that the fields
 * gmp reads hold what the attributes say, so a glibc whose layout moved
 * is detected instead of guessed at.  What moves between releases is
 * measured here, not assumed: the flags word of pthread_cond_t (process
 * shared, CLOCK_MONOTONIC) was __wrefs at byte 36 until glibc removed
 * __g_refs (2.41, and the 2.38-2.40 stable updates), and is at 28 since.
 * Anything else that does not match refuses to start (init.c).
 */
#include "sync.h"

#include <string.h>
#include <time.h>

uint32_t gmp_cond_flags_off GMP_HIDDEN = 36;

/* The offset of the one 4-byte word of obj that holds want (non-zero), all others zero; or -1. */
static int only_word(const void *obj, size_t size, uint32_t want)
{
	int found = -1;
	for (size_t off = 0; off + 4 <= size; off += 4) {
		uint32_t v;
		memcpy(&v, (const char *)obj + off, 4);
		if (v == want && found < 0)
			found = (int)off;
		else if (v != 0)
			return -1;
	}
	return found;
}

static bool all_zero(const void *obj, size_t size)
{
	for (size_t i = 0; i < size; i++)
		if (((const unsigned char *)obj)[i])
			return false;
	return true;
}

static int cond_probe(int pshared, clockid_t clk)
{
	pthread_condattr_t a;
	pthread_cond_t c;
	if (pthread_condattr_init(&a) || pthread_condattr_setpshared(&a, pshared) || pthread_condattr_setclock(&a, clk))
		return -1;
	memset(&c, 0xa5, sizeof c); /* glibc's init clears it all */
	int r = pthread_cond_init(&c, &a) ? -1 : only_word(&c, sizeof c, (pshared ? GMP_COND_PSHARED : 0) |
									 (clk == CLOCK_MONOTONIC ? GMP_COND_MONOTONIC : 0));
	pthread_condattr_destroy(&a);
	return r;
}

static bool cond_ok(void)
{
	int off = cond_probe(PTHREAD_PROCESS_SHARED, CLOCK_MONOTONIC);
	/* gmp's own words: the mutex pointer (0), seq (40) and nwaiters (44) */
	if (off < (int)offsetof(struct gmp_cond, unused1) || off + 4 > (int)offsetof(struct gmp_cond, seq) ||
	    cond_probe(PTHREAD_PROCESS_PRIVATE, CLOCK_MONOTONIC) != off ||
	    cond_probe(PTHREAD_PROCESS_SHARED, CLOCK_REALTIME) != off)
		return false;
	static const pthread_cond_t z = PTHREAD_COND_INITIALIZER;
	if (!all_zero(&z, sizeof z))
		return false;
	gmp_cond_flags_off = (uint32_t)off;
	return true;
}

static bool mutex_ok(void)
{
	pthread_mutexattr_t a;
	pthread_mutex_t m;
	if (pthread_mutexattr_init(&a) || pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE) ||
	    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) || pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST))
		return false;
	memset(&m, 0xa5, sizeof m);
	bool ok = pthread_mutex_init(&m, &a) == 0;
	pthread_mutexattr_destroy(&a);
	struct gmp_mutex *g = (struct gmp_mutex *)&m;
	return ok && atomic_load(&g->lock) == 0 && g->count == 0 && atomic_load(&g->owner) == 0 &&
	       g->kind == (PTHREAD_MUTEX_RECURSIVE | GMP_MUTEX_ROBUST | GMP_MUTEX_PSHARED);
}

static bool rwlock_ok(void)
{
	pthread_rwlockattr_t a;
	pthread_rwlock_t l;
	if (pthread_rwlockattr_init(&a) || pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_SHARED) ||
	    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
		return false;
	memset(&l, 0, sizeof l);
	bool ok = pthread_rwlock_init(&l, &a) == 0;
	pthread_rwlockattr_destroy(&a);
	struct gmp_rwlock *g = (struct gmp_rwlock *)&l;
	if (!ok || g->shared == 0 || g->flags != PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP)
		return false;
	pthread_rwlock_t d = PTHREAD_RWLOCK_INITIALIZER;
	g = (struct gmp_rwlock *)&d;
	return g->shared == 0 && g->flags == 0 && atomic_load(&g->state) == 0;
}

static bool sem_ok(void)
{
	sem_t s;
	memset(&s, 0xa5, sizeof s);
	if (sem_init(&s, 0, 5) != 0)
		return false;
	struct gmp_sem *g = (struct gmp_sem *)&s;
	if (atomic_load(&g->value) != 5 || atomic_load(&g->nwaiters) != 0 || g->priv != 0)
		return false;
	if (sem_init(&s, 1, 7) != 0)
		return false;
	return atomic_load(&g->value) == 7 && g->priv != 0;
}

const char *gmp_sync_layout_init(void)
{
	if (!cond_ok())
		return "pthread_cond_t layout could not be confirmed";
	if (!mutex_ok())
		return "pthread_mutex_t layout could not be confirmed";
	if (!rwlock_ok())
		return "pthread_rwlock_t layout could not be confirmed";
	if (!sem_ok())
		return "sem_t layout could not be confirmed";
	return NULL;
}
