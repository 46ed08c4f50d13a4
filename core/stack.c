/*
 * Stacks and runtime memory.
 *
 * A thread stack is one private anonymous mapping, MAP_NORESERVE so that
 * pages are committed on first touch: a thread that uses 8 KiB of an 8 MiB
 * reservation costs 8 KiB.  The guard area at the bottom is made
 * PROT_NONE, which splits the mapping in two kernel VMAs, so
 * vm.max_map_count (65530 by default) bounds the number of guarded stacks
 * to about 32,000.  Guards are given while the mapping budget lasts (40% of
 * vm.max_map_count in guarded stacks); beyond it stacks come without a
 * guard, and the kernel merges adjacent unguarded stacks into few VMAs, so
 * the thread count is bounded by memory, not by mappings.
 * GMP_STACKGUARD=strict refuses instead: pthread_create returns EAGAIN at
 * the budget.  GMP_STACKGUARD_BUDGET=N sets the budget to N guarded stacks
 * (m0's scheduler stack is one of them).  Any mmap/mprotect failure is EAGAIN, never a crash.
 *
 * Stacks of the default size stay with their G when it dies (thread.c's
 * free lists), so a create after an exit makes no system call at all.
 *
 * A thread's stack and its TCB are one mapping, as in NPTL (DESIGN.md §5):
 * `above` bytes at the top of the mapping hold the TCB with its static TLS
 * (core/tcb.c places it), and the stack's top is just below them, so a
 * thread that blocks soon after it starts touches one page for both.  When
 * such a stack is freed (the G gets a stack of another size), the pages
 * from s->keep up stay mapped: the TCB lives on there, because a TCB is
 * never freed (DESIGN.md §4).
 *
 * Mappings: without guards, stacks are adjacent anonymous mappings with the
 * same flags, which the kernel merges into one VMA; so stacks come in slabs
 * of the kernel's making and the VMA count stays bounded whatever the
 * number of threads.  Default-size stacks are never unmapped (they are
 * pooled with their G), so no munmap splits those slabs.
 */
#include "runtime.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t pagesz;
static _Atomic long guarded;     /* live guarded stacks */
static long guard_budget = -1;   /* set on first use */
static bool guard_strict;

static void guard_init(void)
{
	char buf[32];
	long maxmap = 65530;
	int fd = (int)gmp_sys3(SYS_openat, -100 /* AT_FDCWD */, "/proc/sys/vm/max_map_count", 0);
	if (fd >= 0) {
		long n = gmp_sys3(SYS_read, fd, buf, sizeof buf - 1);
		gmp_sys1(SYS_close, fd);
		if (n > 0) {
			buf[n] = 0;
			maxmap = atol(buf);
		}
	}
	const char *e = getenv("GMP_STACKGUARD");
	guard_strict = e && strcmp(e, "strict") == 0;
	guard_budget = maxmap * 4 / 10 / 2;
	/* GMP_STACKGUARD_BUDGET=N: N guarded stacks instead (tests reach the limit with it) */
	const char *b = getenv("GMP_STACKGUARD_BUDGET");
	if (b && atol(b) > 0)
		guard_budget = atol(b);
}

size_t gmp_pagesize(void)
{
	if (!pagesz)
		pagesz = (size_t)sysconf(_SC_PAGESIZE);
	return pagesz;
}

static void *rawmmap(size_t len, int prot, int flags)
{
	long r = gmp_sys6(SYS_mmap, 0, len, prot, flags, -1, 0);
	return (unsigned long)r > -4096UL ? NULL : (void *)r;
}

void *gmp_rt_alloc(size_t size)
{
	size_t ps = gmp_pagesize();
	return rawmmap((size + ps - 1) & ~(ps - 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
}

void gmp_rt_free(void *p, size_t size)
{
	size_t ps = gmp_pagesize();
	gmp_sys2(SYS_munmap, p, (size + ps - 1) & ~(ps - 1));
}

int gmp_stack_alloc(struct gmp_stack *s, size_t size, size_t guard, size_t above)
{
	size_t ps = gmp_pagesize();
	if (GMP_UNLIKELY(guard_budget < 0))
		guard_init();
	size_t asked = guard;
	bool guarded_one = guard != 0;
	if (guarded_one && atomic_load_explicit(&guarded, memory_order_relaxed) >= guard_budget) {
		if (guard_strict)
			return -EAGAIN;
		guard = 0; /* over the mapping budget: no guard page (see above) */
		guarded_one = false;
	}
	size_t reqsize = size;
	size = (size + above + ps - 1) & ~(ps - 1);
	guard = (guard + ps - 1) & ~(ps - 1);
	size_t len = size + guard;
	void *map = GMP_FAULT(STACK_MMAP) ? NULL
		  : rawmmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK);
	if (!map)
		return -EAGAIN;
	if (guard && (GMP_FAULT(STACK_MPROTECT) || gmp_sys3(SYS_mprotect, map, guard, PROT_NONE) != 0)) {
		gmp_sys2(SYS_munmap, map, len);
		return -EAGAIN;
	}
	if (guarded_one)
		atomic_fetch_add_explicit(&guarded, 1, memory_order_relaxed);
	s->map = map;
	s->maplen = len;
	s->lo = (char *)map + guard;
	s->size = size - above;
	s->reqsize = reqsize;
	s->guard = guard;
	s->reqguard = asked;
	s->keep = NULL;
	s->user = false;
	return 0;
}

void gmp_stack_free(struct gmp_stack *s)
{
	if (s->map && !s->user) {
		/* below s->keep only: a TCB lives above it (see above) */
		gmp_sys2(SYS_munmap, s->map, s->keep ? (size_t)((char *)s->keep - (char *)s->map) : s->maplen);
		if (s->guard)
			atomic_fetch_sub_explicit(&guarded, 1, memory_order_relaxed);
	}
	s->map = NULL;
	s->lo = NULL;
	s->keep = NULL;
	s->size = s->reqsize = s->guard = s->maplen = 0;
	s->user = false;
}

/*
 * Is sp on g's stack?  The main thread's stack is not ours: its range is
 * taken as RLIMIT_STACK below the frame seen at start-up (at most 120 MiB:
 * the kernel keeps mmap areas at least 128 MiB below the stack top) and a
 * little above it (the caller frames, argv and the environment).
 */
static uintptr_t main_lo, main_hi;

void gmp_main_stack_note(uintptr_t sp)
{
	struct rlimit rl;
	uint64_t lim = 8 << 20;
	if (gmp_sys2(SYS_getrlimit, RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		lim = rl.rlim_cur;
	if (lim > (120ULL << 20))
		lim = 120ULL << 20;
	main_lo = sp - lim;
	main_hi = sp + (4 << 20);
}

bool gmp_on_g_stack(struct gmp_g *g, uintptr_t sp)
{
	if (g->ismain)
		return sp >= main_lo && sp < main_hi;
	uintptr_t lo = (uintptr_t)g->stack.lo;
	return sp >= lo && sp < lo + g->stack.size;
}
