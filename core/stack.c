/*
 * Stacks and runtime memory.
 *
 * A thread stack is one private anonymous mapping, MAP_NORESERVE so that
 * pages are committed on first touch: a thread that uses 8 KiB of an 8 MiB
 * reservation costs 8 KiB.  The guard area at the bottom is made
 * PROT_NONE, which splits the mapping in two kernel VMAs; vm.max_map_count
 * (65530 by default) therefore bounds the number of guarded stacks to about
 * 32,000.  At that limit mmap or mprotect fails with ENOMEM and
 * pthread_create returns EAGAIN; nothing crashes.  (Slab allocation of
 * stacks beyond that limit is future work, see README.md.)
 *
 * Stacks of the default size stay with their G when it dies (thread.c's
 * free lists), so a create after an exit makes no system call at all.
 */
#include "runtime.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static size_t pagesz;

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

int gmp_stack_alloc(struct gmp_stack *s, size_t size, size_t guard)
{
	size_t ps = gmp_pagesize();
	size = (size + ps - 1) & ~(ps - 1);
	guard = (guard + ps - 1) & ~(ps - 1);
	size_t len = size + guard;
	void *map = rawmmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK);
	if (!map)
		return -EAGAIN;
	if (guard && gmp_sys3(SYS_mprotect, map, guard, PROT_NONE) != 0) {
		gmp_sys2(SYS_munmap, map, len);
		return -EAGAIN;
	}
	s->map = map;
	s->maplen = len;
	s->lo = (char *)map + guard;
	s->size = size;
	s->guard = guard;
	s->user = false;
	return 0;
}

void gmp_stack_free(struct gmp_stack *s)
{
	if (s->map && !s->user)
		gmp_sys2(SYS_munmap, s->map, s->maplen);
	s->map = NULL;
	s->lo = NULL;
	s->size = s->guard = s->maplen = 0;
	s->user = false;
}
