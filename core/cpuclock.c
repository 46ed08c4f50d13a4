/*
 * A G's CPU clock (clock_gettime, clock_getres, pthread_getcpuclockid;
 * docs/behaviour.md, "Kernel-facing calls").  A G moves between kernel
 * threads, so its CPU time is gmp's count of the time it runs on an M
 * (g->cputime, blocking kernel calls excluded: gmp_g_cputime), answered
 * for CLOCK_THREAD_CPUTIME_ID and for the clock id of one of its own.
 *
 * That id is glibc's encoding of a per-thread CPU clock, ~tid << 3 |
 * per-thread (4) | CPUCLOCK_SCHED (2), with a fake tid of
 * CPUCLOCK_TID_BASE + g->index: above the kernel's largest tid (2^22), so
 * it names no kernel thread.
 */
#include "runtime.h"

#include <errno.h>

#define CPUCLOCK_TID_BASE ((1 << 22) + 1)

clockid_t gmp_cpuclock_id(struct gmp_g *g)
{
	uint32_t tid = CPUCLOCK_TID_BASE + g->index;
	return (clockid_t)((~tid << 3) | 4 | 2);
}

/* Does clk name a G's clock (alive or not)? */
static bool g_clockid(clockid_t clk) { return clk < 0 && (clk & 7) == 6 && ~(clk >> 3) >= CPUCLOCK_TID_BASE; }

/*
 * The live G whose clock clk is, or NULL.
 *
 * allg is walked without allglock, so that clock_gettime stays
 * async-signal-safe: a handler runs at once on a thread gmp did not create
 * (core/sigdispatch.c), and that thread may be inside galloc (pthread_create)
 * holding allglock.  The unlocked walk is safe because allg is push-only:
 *   - a G struct is carved once from slab memory that is zeroed and never
 *     freed (galloc, core/thread.c), pushed once, under allglock, and never
 *     unlinked (a dead G is reused from the free lists, still on allg), so
 *     every pointer the walk follows is a G or NULL;
 *   - index and alllink are written before the push and never again, and
 *     the head is read with acquire.  The push is a plain store before
 *     allglock's release, not a release store of its own; the fields
 *     reach memory before it through x86-64's store order as long as the
 *     compiler keeps the three stores in order.  Were it to sink the head
 *     store, a walk would read a zero alllink (fresh slab memory) and
 *     stop early: a missed G, never a wild pointer;
 *   - the G a clock id names was pushed before the id existed: the id
 *     comes from pthread_getcpuclockid, after pthread_create returned.
 * Status is read with gmp_gstatus (atomic; a fork child's dead Gs read
 * dead).  The dump, the signal dispatcher and gmp_stats walk allg the same way.
 */
static struct gmp_g *clock_g(clockid_t clk)
{
	if (clk == CLOCK_THREAD_CPUTIME_ID)
		return gmp_getg();
	if (!g_clockid(clk))
		return NULL;
	uint32_t index = (uint32_t)(~(clk >> 3) - CPUCLOCK_TID_BASE);
	for (struct gmp_g *g = __atomic_load_n(&gmp_sched.allg, __ATOMIC_ACQUIRE); g; g = g->alllink)
		if (g->index == index && !g->isg0) {
			uint32_t st = gmp_gstatus(g);
			return st == G_DEAD || st == G_IDLE ? NULL : g;
		}
	return NULL;
}

int gmp_cpuclock_gettime(clockid_t clk, struct timespec *ts)
{
	struct gmp_g *g = clock_g(clk);
	if (!g)
		return g_clockid(clk) ? -EINVAL /* a thread that has ended */ : 1;
	int64_t ns = gmp_g_cputime(g);
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	return 0;
}

int gmp_cpuclock_getres(clockid_t clk, struct timespec *res)
{
	if (!clock_g(clk))
		return 1;
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = 1;
	}
	return 0;
}
