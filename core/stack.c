/*
 * Stacks and runtime memory.
 *
 * A thread stack is one private anonymous mapping, MAP_NORESERVE so that
 * pages are committed on first touch: a thread that uses 8 KiB of an 8 MiB
 * reservation costs 8 KiB.  The guard area at the bottom is made
 * inaccessible in one of two ways:
 *
 *   - page-table guard markers (madvise MADV_GUARD_INSTALL, Linux 6.13):
 *     the mapping stays one kernel VMA and the guard costs 1.7 us against
 *     3.2 us for the mprotect below (10,000 fresh 64 KiB stacks, PVM
 *     guest; the burst of 10,000 threads: 335-367 -> 265-299 ms).  A
 *     marker lives in a page table, though: used where the guard and the
 *     stack's top page (TCB, first frames) share a page-table page (2 MiB
 *     of address space), i.e. for small stacks, it costs nothing more; at
 *     the bottom of a default 8 MiB stack it would cost a page-table page
 *     of 4 KiB per thread (scale/million: 12.4 -> 16.2 KB per blocked
 *     thread), so those keep the mprotect guard.  A guard hit raises
 *     SIGSEGV with SEGV_MAPERR (a PROT_NONE page gives SEGV_ACCERR).
 *     Markers survive fork and MADV_DONTNEED; munmap removes them.
 *   - PROT_NONE (mprotect): for the other stacks, on kernels before 6.13,
 *     and for all with GMP_STACKGUARD=mprotect.  That splits the mapping
 *     in two VMAs, so vm.max_map_count (65530 by default) bounds the
 *     number of such guarded stacks to about 32,000.  They are given
 *     while the mapping budget lasts (40% of vm.max_map_count in guarded
 *     stacks); beyond it stacks come without a guard, and the kernel
 *     merges adjacent unguarded stacks into few VMAs, so the thread count
 *     is bounded by memory, not by mappings.  GMP_STACKGUARD=strict
 *     refuses instead: pthread_create returns EAGAIN at the budget.
 *     GMP_STACKGUARD_BUDGET=N sets the budget to N guarded stacks (m0's
 *     scheduler stack is one of them).
 *
 * The method is probed once, at the first guarded stack.  Any
 * mmap/madvise/mprotect failure is EAGAIN, never a crash.
 *
 * Stacks of the default size stay with their G when it dies (thread.c's
 * free lists), so a create after an exit makes no system call at all.
 *
 * A thread's stack and its TCB are one mapping, as in NPTL (docs/design.md §5):
 * `above` bytes at the top of the mapping hold the TCB with its static TLS
 * (core/tcb.c places it), and the stack's top is just below them, so a
 * thread that blocks soon after it starts touches one page for both.  When
 * such a stack is freed (the G gets a stack of another size), the pages
 * from s->keep up stay mapped: the TCB lives on there, because a TCB is
 * never freed (docs/design.md §4).
 *
 * Slabs: thread stacks (with their TCB room) are cut from slabs, one
 * mapping of many stacks of one size (at least 64, about 256 MiB), so the
 * VMA count does not grow with the number of threads: a slab is one VMA
 * until guards split it (the budget above).  Stacks of 2 MiB and more are
 * rounded to a multiple of 2 MiB in a 2 MiB-aligned slab, so each stack's
 * top page has a page-table page of its own and giving the whole stack
 * back (a retired G, tcb.c) frees that page-table page too.  A stack whose
 * G keeps a TCB on it is never freed (thread.c matches pooled Gs by stack
 * size), so slabs get holes only from the rare stack freed whole.
 */
#include "runtime.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GMP_MADV_GUARD_INSTALL 102 /* Linux 6.13 */

static size_t pagesz;
static _Atomic long guarded;     /* live stacks guarded by mprotect (a VMA each: s->guardvma) */
static _Atomic long guard_budget = -1; /* set on first use, after the two below */
static bool guard_strict;
static bool guard_markers;       /* the kernel has page-table guard markers (not GMP_STACKGUARD=mprotect) */

static void *rawmmap(size_t len, int prot, int flags);

/* word is one of the comma-separated words of s */
static bool has_word(const char *s, const char *word)
{
	size_t n = strlen(word);
	for (; s && *s; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
		if (strncmp(s, word, n) == 0 && (s[n] == ',' || s[n] == 0))
			return true;
	return false;
}

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
	guard_strict = has_word(e, "strict");
	if (!has_word(e, "mprotect")) {
		size_t ps = gmp_pagesize();
		char *t = rawmmap(2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
		if (t) {
			guard_markers = gmp_sys3(SYS_madvise, t, ps, GMP_MADV_GUARD_INSTALL) == 0;
			gmp_sys2(SYS_munmap, t, 2 * ps);
		}
	}
	long budget = maxmap * 4 / 10 / 2;
	/* GMP_STACKGUARD_BUDGET=N: N guarded stacks instead (tests reach the limit with it) */
	const char *b = getenv("GMP_STACKGUARD_BUDGET");
	if (b && atol(b) > 0)
		budget = atol(b);
	atomic_store_explicit(&guard_budget, budget, memory_order_release);
}

/* Make [map, map + len) the guard of a stack: page-table markers, or PROT_NONE. */
static bool guard_set(char *map, size_t len, bool marker)
{
	if (GMP_FAULT(STACK_GUARD))
		return false;
	if (marker)
		return gmp_sys3(SYS_madvise, map, len, GMP_MADV_GUARD_INSTALL) == 0;
	return gmp_sys3(SYS_mprotect, map, len, PROT_NONE) == 0;
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

#define SLAB_CLASSES 8
#define HUGE_ALIGN (2UL << 20)

static struct slabclass {
	size_t unitlen, guardlen; /* 0: free class */
	char *next;
	size_t left;
} classes[SLAB_CLASSES];     /* slablock */
static gmp_lock_t slablock = GMP_LOCK_RANKED(GMP_RANK_STACK);

/* A unit of unitlen bytes from a slab of its class; NULL: no class left (map one alone) or no memory. */
static char *slab_unit(size_t unitlen, size_t guardlen, bool *nomem)
{
	gmp_lock(&slablock);
	struct slabclass *c = NULL, *spare = NULL;
	for (int i = 0; i < SLAB_CLASSES && !c; i++) {
		if (classes[i].unitlen == unitlen && classes[i].guardlen == guardlen)
			c = &classes[i];
		else if (!classes[i].unitlen && !spare)
			spare = &classes[i];
	}
	if (!c && spare) {
		c = spare;
		c->unitlen = unitlen;
		c->guardlen = guardlen;
		c->left = 0;
	}
	if (!c) {
		gmp_unlock(&slablock);
		return NULL;
	}
	if (!c->left) {
		size_t n = (256UL << 20) / unitlen;
		n = n < 64 ? 64 : n > 4096 ? 4096 : n;
		size_t len, slack = unitlen % HUGE_ALIGN == 0 ? HUGE_ALIGN : 0;
		char *m = NULL;
		/* smaller slabs when the address space is short (RLIMIT_AS) */
		for (;;) {
			len = n * unitlen;
			m = GMP_FAULT(STACK_MMAP) ? NULL
			  : rawmmap(len + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK);
			if (m || n == 1)
				break;
			n /= 2;
		}
		if (!m) {
			gmp_unlock(&slablock);
			*nomem = true;
			return NULL;
		}
		if (slack) {
			char *a = (char *)(((uintptr_t)m + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1));
			if (a > m)
				gmp_sys2(SYS_munmap, m, a - m);
			if (a + len < m + len + slack)
				gmp_sys2(SYS_munmap, a + len, m + len + slack - (a + len));
			m = a;
		}
		c->next = m;
		c->left = n;
	}
	char *u = c->next;
	c->next += unitlen;
	c->left--;
	gmp_unlock(&slablock);
	return u;
}

void gmp_stack_fork_lock(void) { gmp_lock(&slablock); }
void gmp_stack_fork_unlock(void) { gmp_unlock(&slablock); }

/* a and b are mapped by one page-table page (2 MiB of address space) */
static bool same_pt_page(const char *a, const char *b) { return (uintptr_t)a >> 21 == (uintptr_t)b >> 21; }

int gmp_stack_alloc(struct gmp_stack *s, size_t size, size_t guard, size_t above)
{
	size_t ps = gmp_pagesize();
	if (GMP_UNLIKELY(atomic_load_explicit(&guard_budget, memory_order_acquire) < 0))
		guard_init();
	size_t asked = guard;
	size_t reqsize = size;
	size_t guardlen = (asked + ps - 1) & ~(ps - 1); /* room for a guard, given or not */
	size_t len = (guardlen + size + above + ps - 1) & ~(ps - 1);
	char *map = NULL;
	if (above) {
		if (len >= HUGE_ALIGN)
			len = (len + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1);
		bool nomem = false;
		map = slab_unit(len, guardlen, &nomem);
		if (nomem)
			return -EAGAIN;
	}
	if (!map)
		map = GMP_FAULT(STACK_MMAP) ? NULL
		    : rawmmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK);
	if (!map)
		return -EAGAIN;
	/* a marker only where it costs no page-table page of its own (see above); else a VMA from the budget */
	bool marker = guardlen && guard_markers && same_pt_page(map, map + len - 1);
	guard = 0;
	if (guardlen && (marker || atomic_load_explicit(&guarded, memory_order_relaxed) <
					   atomic_load_explicit(&guard_budget, memory_order_relaxed)))
		guard = guardlen;
	else if (guardlen && guard_strict)
		goto fail;
	/* else over the mapping budget: no guard page (see above) */
	if (guard && !guard_set(map, guard, marker))
		goto fail;
	if (guard && !marker)
		atomic_fetch_add_explicit(&guarded, 1, memory_order_relaxed);
	s->map = map;
	s->maplen = len;
	s->lo = map + guardlen;
	s->size = len - guardlen - above;
	s->reqsize = reqsize;
	s->guard = guard;
	s->guardvma = guard && !marker;
	s->reqguard = asked;
	s->keep = NULL;
	s->user = false;
	return 0;
fail:
	gmp_sys2(SYS_munmap, map, len);
	return -EAGAIN;
}

void gmp_stack_free(struct gmp_stack *s)
{
	if (s->map && !s->user) {
		/* below s->keep only: a TCB lives above it (see above) */
		gmp_sys2(SYS_munmap, s->map, s->keep ? (size_t)((char *)s->keep - (char *)s->map) : s->maplen);
		if (s->guardvma)
			atomic_fetch_sub_explicit(&guarded, 1, memory_order_relaxed);
	}
	s->map = NULL;
	s->lo = NULL;
	s->keep = NULL;
	s->size = s->reqsize = s->guard = s->maplen = 0;
	s->guardvma = false;
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

/*
 * Stacks shrink (docs/design.md §5).  A G parked for longer than
 * GMP_STACKSHRINK milliseconds (default 1000; "off" disables) gives back
 * the pages of its stack below the one its stack pointer is in: a thread
 * that once used 1 MiB of stack and now waits keeps one or two pages.
 * Pages come back on first touch, zeroed, which is all a stack below its
 * pointer may hold.
 *
 * sysmon calls this every 100 ms.  It walks allg from where it stopped,
 * at most SHRINK_BATCH Gs per call, so one pass over a million threads
 * takes about 25 s and costs one mincore per G and park, plus a madvise
 * for a G that did go deeper than the page its stack pointer is in.
 *
 * Against the G running again meanwhile: the shrinker sets g->shrinking,
 * then checks the G still waits; execute() sets the G running, then waits
 * for g->shrinking to clear (both sequentially consistent, so one of them
 * sees the other).
 */
#define SHRINK_BATCH 4096

static int64_t shrink_after = -1; /* ns; 0 off; sysmon only */
static struct gmp_g *shrink_cursor; /* sysmon only */

void gmp_shrink_parked_stacks(int64_t now)
{
	if (GMP_UNLIKELY(shrink_after < 0)) {
		const char *e = getenv("GMP_STACKSHRINK");
		shrink_after = 1000000000LL;
		if (e && strcmp(e, "off") == 0)
			shrink_after = 0;
		else if (e && *e)
			shrink_after = atol(e) * 1000000LL > 0 ? atol(e) * 1000000LL : 1;
	}
	if (shrink_after == 0)
		return;
	size_t ps = gmp_pagesize();
	for (int n = 0; n < SHRINK_BATCH; n++) {
		struct gmp_g *g = shrink_cursor;
		if (!g) {
			gmp_lock(&gmp_sched.allglock);
			g = gmp_sched.allg;
			gmp_unlock(&gmp_sched.allglock);
			if (n > 0 || !g)
				break; /* a pass ended: the next call starts a new one */
		}
		shrink_cursor = g->alllink; /* immutable once g is on allg */
		if (g->ismain || g->isg0 || g->stack.user || !g->stack.map ||
		    gmp_gstatus(g) != G_WAITING) /* (a fork child's copies of the parent's threads are dead) */
			continue;
		int64_t since = g->waitsince;
		if (since == g->shrunk_since || now - since < shrink_after)
			continue;
		atomic_store(&g->shrinking, true);
		if (atomic_load(&g->status) == G_WAITING && g->waitsince == since) {
			uintptr_t lo = (uintptr_t)g->stack.lo;
			uintptr_t end = ((uintptr_t)g->ctx.rsp - 256) & ~(uintptr_t)(ps - 1);
			unsigned char vec = 0;
			/*
			 * Stacks are touched from the top down, page after page
			 * (compilers probe big frames page by page), so if the
			 * page below the pointer's is not resident, none below is:
			 * one mincore instead of a madvise for most Gs.
			 */
			if (end > lo && end <= lo + g->stack.size &&
			    gmp_sys3(SYS_mincore, end - ps, ps, &vec) == 0 && (vec & 1))
				gmp_sys3(SYS_madvise, lo, end - lo, MADV_DONTNEED);
			g->shrunk_since = since;
		}
		atomic_store(&g->shrinking, false);
	}
}
