/*
 * CPU affinity of a G (pthread_setaffinity_np and friends; docs/behaviour.md,
 * "Kernel-facing calls").  An affinity is its kernel thread's, so a G that
 * asks for one is locked to its M for the rest of its life (gmp_lockm) and
 * that M gets the mask: the thread runs only on those CPUs and no other
 * thread is affected.
 *
 * The protocol, per G:
 *   g->affinity          GMP_AFFINITY_WORDS words, NULL until a mask is set
 *                        (or inherited: core/thread.c); allocated once by
 *                        whichever setter comes first (a CAS from NULL),
 *                        then rewritten in place; owned by the G.
 *   g->affinity_pending  set by a setter on another thread after it wrote
 *                        the words; the G applies the mask at its next
 *                        scheduling point (gmp_apply_affinity from
 *                        core/sched.c, or gstart) and clears it.
 * A G setting its own mask applies it at once.
 *
 * The Ms' mask from before any G changed one is saved at the first apply
 * and given back to an M whose locked G ends (gmp_affinity_unlocked).
 */
#include "runtime.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

static uint64_t proc_affinity[GMP_AFFINITY_WORDS]; /* the Ms' mask before any G changed one */
static _Atomic int proc_affinity_saved;

/* The set as GMP_AFFINITY_WORDS words in dst: 0, or -EINVAL as the kernel would answer. */
static int copy_mask(uint64_t *dst, size_t size, const void *set)
{
	memset(dst, 0, GMP_AFFINITY_WORDS * 8);
	size_t n = size < GMP_AFFINITY_WORDS * 8 ? size : GMP_AFFINITY_WORDS * 8;
	memcpy(dst, set, n);
	for (size_t i = n; i < size; i++)
		if (((const unsigned char *)set)[i])
			return -EINVAL; /* CPUs beyond what the kernel knows */
	uint64_t allowed[GMP_AFFINITY_WORDS] = {0};
	if (gmp_sys3(SYS_sched_getaffinity, gmp_sched.pid, sizeof allowed, allowed) < 0)
		return 0;
	for (int i = 0; i < GMP_AFFINITY_WORDS; i++)
		if (dst[i] & allowed[i])
			return 0;
	return -EINVAL; /* no CPU of the set is allowed */
}

int gmp_affinity_set(struct gmp_g *t, size_t size, const void *set)
{
	uint64_t m[GMP_AFFINITY_WORDS];
	int err = copy_mask(m, size, set);
	if (err)
		return err;
	uint64_t *a = atomic_load(&t->affinity);
	if (!a) {
		uint64_t *n = malloc(GMP_AFFINITY_WORDS * 8);
		if (!n)
			return -ENOMEM;
		memcpy(n, m, sizeof m);
		uint64_t *z = NULL;
		if (!atomic_compare_exchange_strong(&t->affinity, &z, n)) {
			free(n);
			a = z;
		} else {
			a = n;
		}
	}
	memcpy(a, m, sizeof m);
	if (t == gmp_getg())
		return gmp_apply_affinity(t);
	atomic_store(&t->affinity_pending, true); /* it applies it at its next scheduling point */
	return 0;
}

/*
 * As the kernel's sched_getaffinity and glibc's wrapper: the kernel checks
 * size (EINVAL below its CPU count or not a multiple of 8) and the buffer
 * (EFAULT: strace probes the size with a NULL set), copies the process's
 * mask, and the bytes past its copy are zeroed.  A G with a mask of its own
 * then gets that one over it (its bits lie within the kernel's copy: the
 * set call accepts only CPUs that exist).
 */
int gmp_affinity_get(struct gmp_g *t, size_t size, void *set)
{
	long r = gmp_sys3(SYS_sched_getaffinity, gmp_sched.pid, size > INT_MAX ? INT_MAX : size, set);
	if (r < 0)
		return (int)r;
	uint64_t *a = atomic_load(&t->affinity);
	if (a)
		memcpy(set, a, (size_t)r < GMP_AFFINITY_WORDS * 8 ? (size_t)r : GMP_AFFINITY_WORDS * 8);
	memset((char *)set + r, 0, size - (size_t)r);
	return 0;
}

int gmp_apply_affinity(struct gmp_g *g)
{
	atomic_store(&g->affinity_pending, false);
	uint64_t *mask = atomic_load(&g->affinity);
	if (!mask)
		return 0;
	if (!atomic_load(&proc_affinity_saved) && !g->lockedm &&
	    gmp_sys3(SYS_sched_getaffinity, 0, sizeof proc_affinity, proc_affinity) > 0)
		atomic_store(&proc_affinity_saved, 1);
	gmp_lockm(g);
	long r = gmp_sys3(SYS_sched_setaffinity, 0, GMP_AFFINITY_WORDS * 8, mask);
	return r < 0 ? (int)r : 0;
}

void gmp_affinity_unlocked(struct gmp_g *gp)
{
	if (atomic_load(&gp->affinity) && atomic_load(&proc_affinity_saved))
		gmp_sys3(SYS_sched_setaffinity, 0, sizeof proc_affinity, proc_affinity); /* the M's again */
}
