/*
 * Every G has its own glibc thread control block (struct pthread) with
 * static TLS below it (docs/design.md §4), so errno, __thread, thread_local,
 * the C++ exception stack, locale and allocator caches belong to the user
 * thread and follow it from M to M.
 *
 * struct pthread is not ABI.  Its size and the offsets we write come from
 * libc's GLIBC_PRIVATE _thread_db_* descriptors (made for debuggers) and
 * from probing one real glibc thread at start-up; each is checked, and an
 * unknown layout stops the program with a message (gmp_tcb_layout_init).
 * The tcbhead_t fields at the start are fixed by the compiler ABI
 * (arch/arch.h).
 *
 * Memory: a TCB sits at the top of its G's stack mapping, as NPTL places
 * it: struct pthread at the top, static TLS below it.  The stack's top is
 * put just below the TLS blocks in use plus a reserve (GMP_TLS_RESERVE
 * bytes, default 512 as glibc's rtld.optional_static_tls), not below the
 * whole static TLS surplus, so the TCB, the TLS and the first frames share
 * one page: a thread that blocks soon after it starts costs one page.  A
 * module dlopen'ed later whose initial-exec TLS does not fit in the reserve
 * would land on live frames (gmp_tcb_dlopen_sync).  Gs without such a
 * stack (user stacks, foreign threads seen by dumps) get a TCB cell cut
 * from 2 MiB chunks instead.  _dl_allocate_tls(tcb) (ld.so, GLIBC_PRIVATE)
 * allocates the DTV and copies every module's TLS image.  A TCB belongs
 * to its G struct for ever (both are pooled; stack.c keeps a TCB's pages
 * when its stack goes), because freeing leaks glibc's per-thread malloc
 * cache.  Before reuse, gmp_tcb_reimage copies fresh images for every
 * module except libc's (whose block holds that cache), resets dynamic-TLS
 * slots, and the G itself resets errno and its locale on start.
 */
#include "runtime.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define MAXMODS 256

struct tlsmod {
	size_t modid;
	uintptr_t image;
	size_t filesz, memsz;
	size_t off; /* block = tp - off; 0 if not in static TLS */
	bool libc;
};

static struct {
	size_t static_size, static_align, sizeof_pthread, cell;
	size_t gap;             /* thread pointer to a stack's top: TLS in use + reserve (modlock) */
	size_t reserve;         /* static TLS kept free below the blocks in use, for dlopen */
	size_t pthread_top;     /* struct pthread rounded to static_align: top of mapping to tp */
	size_t libc_off, libc_size; /* libc's static TLS block: tp - libc_off, libc_size bytes */
	size_t off_list, off_tid, off_robust, off_specific, off_specific1, off_res;
	size_t off_cancel;      /* int cancelhandling (descriptor) */
	size_t off_cleanup_jmp; /* struct pthread_unwind_buf *cleanup_jmp_buf (probed) */
	size_t off_cleanup;     /* struct _pthread_cleanup_buffer *cleanup (probed) */
	uint32_t cancel_disabled_bit, cancel_async_bit; /* probed with setcancelstate/type */
	long robust_futex_offset;
	long rseq_off;          /* thread pointer to struct rseq, 0 if rseq is not used */
	long resp_tpoff;        /* thread pointer to the __resp TLS variable */
	size_t lm_tls_offset;   /* offsetof(struct link_map, l_tls_offset) */
	size_t lm_tls_modid;
	uintptr_t stack_guard, pointer_guard;
	uint64_t feature_1;
	gmp_lock_t modlock;     /* mods, nmods */
	struct tlsmod mods[MAXMODS];
	int nmods;
	gmp_lock_t celllock;    /* chunk, chunkleft, spare */
	char *chunk;
	size_t chunkleft;
	void *spare;            /* cells given back after a failed _dl_allocate_tls, linked by their first word */
} L = {.modlock = GMP_LOCK_RANKED(GMP_RANK_TCBMOD), .celllock = GMP_LOCK_RANKED(GMP_RANK_TCBCELL)};

static void set_gap(void);

static uint32_t db_off(void *libc, const char *name, bool *ok)
{
	const uint32_t *d = dlsym(libc, name);
	if (!d) {
		*ok = false;
		return 0;
	}
	return d[2]; /* {bits, count, offset} */
}

/* ------------------------------------------------------------ TLS module table */

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	if (info->dlpi_tls_modid == 0)
		return 0;
	for (int i = 0; i < L.nmods; i++)
		if (L.mods[i].modid == info->dlpi_tls_modid)
			return 0;
	if (L.nmods == MAXMODS)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_TLS)
			continue;
		struct tlsmod *m = &L.mods[L.nmods++];
		m->modid = info->dlpi_tls_modid;
		m->image = info->dlpi_addr + ph->p_vaddr;
		m->filesz = ph->p_filesz;
		m->memsz = ph->p_memsz;
		m->off = 0;
		const char *n = info->dlpi_name ? info->dlpi_name : "";
		size_t len = strlen(n);
		m->libc = len >= 9 && strcmp(n + len - 9, "libc.so.6") == 0;
		break;
	}
	return 0;
}

/* Fill in static offsets from the link maps (r_debug) for modules that have them. */
static void link_offsets(void)
{
	extern struct r_debug _r_debug;
	for (struct link_map *lm = _r_debug.r_map; lm; lm = lm->l_next) {
		size_t modid = *(size_t *)((char *)lm + L.lm_tls_modid);
		ptrdiff_t off = *(ptrdiff_t *)((char *)lm + L.lm_tls_offset);
		if (modid == 0)
			continue;
		for (int i = 0; i < L.nmods; i++)
			if (L.mods[i].modid == modid && off > 0 && (size_t)off <= L.static_size)
				L.mods[i].off = (size_t)off;
	}
}

/* Rescan; returns the index of the first module not known before. */
static int scan_mods(void)
{
	int before = L.nmods;
	dl_iterate_phdr(phdr_cb, NULL);
	link_offsets();
	return before;
}

/* ------------------------------------------------------------ layout probe */

struct probe {
	size_t off_robust, off_specific1, off_res, off_cleanup_jmp;
	uint32_t disabled_bit, async_bit;
	long robust_futex_offset, resp_tpoff;
	bool tid_ok, list_ok;
};

static void *probe_main(void *arg)
{
	struct probe *pr = arg;
	char *tp = gmp_arch_get_tp();
	pid_t tid = (pid_t)gmp_sys0(SYS_gettid);
	pr->tid_ok = *(pid_t *)(tp + L.off_tid) == tid;
	void **list = (void **)(tp + L.off_list);
	pr->list_ok = list[0] != NULL && list[1] != NULL && list[0] != (void *)list;
	/* robust_head.list points to itself in a thread that has not locked a robust mutex */
	for (size_t o = (L.off_tid + 4 + 7) & ~(size_t)7; o < L.off_specific; o += 8) {
		if (*(uintptr_t *)(tp + o) == (uintptr_t)(tp + o)) {
			pr->off_robust = o;
			pr->robust_futex_offset = *(long *)(tp + o + 8);
			break;
		}
	}
	char *s0 = *(char **)(tp + L.off_specific);
	if (s0 > tp && s0 < tp + L.sizeof_pthread)
		pr->off_specific1 = (size_t)(s0 - tp);
	/*
	 * cleanup_jmp_buf: the word before cancelhandling points into this
	 * thread's stack (start_thread's unwind buffer), and the word before
	 * it (the old-style cleanup list) is NULL.
	 */
	uintptr_t sp = (uintptr_t)&pr;
	uintptr_t cj = *(uintptr_t *)(tp + L.off_cancel - 8);
	if (L.off_cancel >= 16 && cj > sp && cj < sp + (1u << 20) && *(void **)(tp + L.off_cancel - 16) == NULL)
		pr->off_cleanup_jmp = L.off_cancel - 8;
	/* The cancellation state and type bits, read back from the word. */
	int old, oldt;
	uint32_t before = *(uint32_t *)(tp + L.off_cancel);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	pr->disabled_bit = *(uint32_t *)(tp + L.off_cancel) & ~before;
	pthread_setcancelstate(old, NULL);
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &oldt);
	pr->async_bit = *(uint32_t *)(tp + L.off_cancel) & ~before;
	pthread_setcanceltype(oldt, NULL);
	char **resp = dlsym(RTLD_DEFAULT, "__resp");
	if (resp && *resp > tp && *resp < tp + L.sizeof_pthread) {
		pr->off_res = (size_t)(*resp - tp);
		pr->resp_tpoff = (char *)resp - tp;
	}
	return NULL;
}

int gmp_tcb_layout_init(void)
{
	/*
	 * The global scope: only libc defines these.  A dlopen of libc here
	 * would call the program's malloc, which may be an allocator that is
	 * initialising and called us (issue 17).
	 */
	void *libc = RTLD_DEFAULT;
	bool ok = true;
	const uint32_t *sz = dlsym(libc, "_thread_db_sizeof_pthread");
	if (!sz)
		return -1;
	L.sizeof_pthread = *sz;
	L.off_list = db_off(libc, "_thread_db_pthread_list", &ok);
	L.off_tid = db_off(libc, "_thread_db_pthread_tid", &ok);
	L.off_specific = db_off(libc, "_thread_db_pthread_specific", &ok);
	L.lm_tls_offset = db_off(libc, "_thread_db_link_map_l_tls_offset", &ok);
	L.lm_tls_modid = db_off(libc, "_thread_db_link_map_l_tls_modid", &ok);
	L.off_cancel = db_off(libc, "_thread_db_pthread_cancelhandling", &ok);
	if (!ok || !gmp_libc.allocate_tls || !gmp_libc.get_tls_static_info)
		return -1;
	if (!(L.off_list < L.off_tid && L.off_tid < L.off_specific && L.off_specific < L.sizeof_pthread))
		return -1;
	gmp_libc.get_tls_static_info(&L.static_size, &L.static_align);
	if (L.static_size <= L.sizeof_pthread || L.static_align == 0 || L.static_align > 4096)
		return -1;
	L.cell = (L.static_size + L.static_align - 1) & ~(L.static_align - 1);

	const ptrdiff_t *rso = dlsym(RTLD_DEFAULT, "__rseq_offset");
	const unsigned *rss = dlsym(RTLD_DEFAULT, "__rseq_size");
	L.rseq_off = (rso && rss && *rss) ? (long)*rso : 0;

	struct probe pr = {0};
	unsigned long th;
	if (gmp_libc.pthread_create(&th, NULL, probe_main, &pr) != 0 || gmp_libc.pthread_join(th, NULL) != 0)
		return -1;
	if (!pr.tid_ok || !pr.list_ok || !pr.off_robust || !pr.off_specific1 || !pr.off_res ||
	    !pr.off_cleanup_jmp || __builtin_popcount(pr.disabled_bit) != 1 || __builtin_popcount(pr.async_bit) != 1)
		return -1;
	L.off_cleanup_jmp = pr.off_cleanup_jmp;
	L.off_cleanup = pr.off_cleanup_jmp - 8;
	L.cancel_disabled_bit = pr.disabled_bit;
	L.cancel_async_bit = pr.async_bit;
	L.off_robust = pr.off_robust;
	L.robust_futex_offset = pr.robust_futex_offset;
	L.off_specific1 = pr.off_specific1;
	L.off_res = pr.off_res;
	L.resp_tpoff = pr.resp_tpoff;

	char *tp = gmp_arch_get_tp();
	L.stack_guard = *(uintptr_t *)(tp + GMP_TCB_STACK_GUARD);
	L.pointer_guard = *(uintptr_t *)(tp + GMP_TCB_POINTER_GUARD);
	L.feature_1 = *(uint64_t *)(tp + GMP_TCB_FEATURE_1);

	scan_mods();
	for (int i = 0; i < L.nmods; i++)
		if (L.mods[i].off == 0 || L.mods[i].off > L.static_size)
			return -1; /* every module loaded at start-up has static TLS */
	L.pthread_top = (L.sizeof_pthread + L.static_align - 1) & ~(L.static_align - 1);
	for (int i = 0; i < L.nmods; i++)
		if (L.mods[i].libc) {
			L.libc_off = L.mods[i].off;
			L.libc_size = L.mods[i].memsz;
		}
	const char *r = getenv("GMP_TLS_RESERVE");
	L.reserve = r && *r ? (size_t)atol(r) : 512;
	set_gap();
	return 0;
}

/* The stack top below the TLS in use and the reserve, within the static area; modlock or init. */
static void set_gap(void)
{
	size_t used = 0;
	for (int i = 0; i < L.nmods; i++)
		if (L.mods[i].off > used)
			used = L.mods[i].off;
	size_t gap = (used + L.reserve + 63) & ~(size_t)63;
	size_t max = L.static_size - L.sizeof_pthread;
	L.gap = gap > max ? max : gap;
}

size_t gmp_tcb_stack_above(void) { return L.pthread_top + L.gap; }

/* Is g's TCB at the top of its current stack, above its frames? */
static bool tcb_on_stack(struct gmp_g *g)
{
	return g->tcb && g->stack.keep && !g->stack.user && (char *)g->tcb > (char *)g->stack.lo &&
	       (char *)g->tcb < (char *)g->stack.map + g->stack.maplen;
}

/* ------------------------------------------------------------ TCBs */

static void *cell_alloc(void)
{
	gmp_lock(&L.celllock);
	if (L.spare) {
		void *r = L.spare;
		L.spare = *(void **)r;
		*(void **)r = NULL;
		gmp_unlock(&L.celllock);
		return r;
	}
	if (L.chunkleft < L.cell) {
		size_t chunk = 2u << 20;
		if (chunk < L.cell * 4)
			chunk = L.cell * 4;
		char *c = GMP_FAULT(TCB_CELL) ? NULL : gmp_rt_alloc(chunk);
		if (!c) {
			gmp_unlock(&L.celllock);
			return NULL;
		}
		L.chunk = c;
		L.chunkleft = chunk;
	}
	void *r = L.chunk;
	L.chunk += L.cell;
	L.chunkleft -= L.cell;
	gmp_unlock(&L.celllock);
	return r;
}

static void *tcb_init(struct gmp_g *g, char *tcb);

void **gmp_tcb_tls_slot(void *tcb, void *var)
{
	return (void **)((char *)tcb + ((char *)var - (char *)gmp_arch_get_tp()));
}

pid_t *gmp_tcb_tid_addr(void *tcb) { return (pid_t *)((char *)tcb + L.off_tid); }
void *gmp_tcb_robust_head(void *tcb) { return (char *)tcb + L.off_robust; }

/*
 * Fault in the pages a new TCB and its TLS are about to be written to, in
 * one call.  On PVM guests a first-touch page fault costs 12-13.5 us, and
 * MADV_POPULATE_WRITE (Linux 5.14) 2.4-2.9 us for the same page (measured
 * over 5,000 fresh 64 KiB stacks): thread creation pays a fault or two per
 * new stack.  Kernels without it say EINVAL once; the writes then fault.
 */
static void populate(void *p, size_t len)
{
	static _Atomic bool unsupported;
	if (atomic_load_explicit(&unsupported, memory_order_relaxed))
		return;
	if (gmp_sys3(SYS_madvise, p, len, 23 /* MADV_POPULATE_WRITE */) == -EINVAL)
		atomic_store_explicit(&unsupported, true, memory_order_relaxed);
}

void *gmp_tcb_alloc(struct gmp_g *g)
{
	struct gmp_stack *s = &g->stack;
	char *tcb;
	char *top = (char *)s->map + s->maplen;
	if (s->map && !s->user && !s->keep && (size_t)(top - ((char *)s->lo + s->size)) >= gmp_tcb_stack_above()) {
		/* at the top of its stack (stack.c allocated the room) */
		tcb = top - L.pthread_top;
		size_t ps = gmp_pagesize();
		char *keep = (char *)((uintptr_t)(tcb - (L.static_size - L.sizeof_pthread)) & ~(uintptr_t)(ps - 1));
		populate(keep, (size_t)(top - keep));
		if (GMP_FAULT(TCB_DTV) || gmp_libc.allocate_tls(tcb) == NULL)
			return NULL; /* nothing to give back: the room stays with the stack */
		s->keep = keep;
		return tcb_init(g, tcb);
	}
	char *cell = cell_alloc();
	if (!cell)
		return NULL;
	tcb = cell + L.static_size - L.sizeof_pthread;
	if (GMP_FAULT(TCB_DTV) || gmp_libc.allocate_tls(tcb) == NULL) {
		/* ENOMEM: keep the cell for the next TCB; _dl_allocate_tls wrote nothing in it */
		gmp_lock(&L.celllock);
		*(void **)cell = L.spare;
		L.spare = cell;
		gmp_unlock(&L.celllock);
		return NULL;
	}
	return tcb_init(g, tcb);
}

/* The fields glibc expects of a thread it made (docs/design.md §4), in a TCB fresh from _dl_allocate_tls. */
static void *tcb_init(struct gmp_g *g, char *tcb)
{
	g->fresh_tcb = true;
	if (g->libc_tls) {
		/* a retired G again: its libc TLS (malloc's thread cache, arena, ...) comes back */
		memcpy(tcb - L.libc_off, g->libc_tls, L.libc_size);
		free(g->libc_tls);
		g->libc_tls = NULL;
		g->fresh_tcb = false; /* as a reused TCB: errno and the locale are reset at start */
	}
	*(void **)(tcb + GMP_TCB_TCB) = tcb;
	*(void **)(tcb + GMP_TCB_SELF) = tcb;
	*(int *)(tcb + GMP_TCB_MULTIPLE) = 1;
	*(uintptr_t *)(tcb + GMP_TCB_STACK_GUARD) = L.stack_guard;
	*(uintptr_t *)(tcb + GMP_TCB_POINTER_GUARD) = L.pointer_guard;
	*(uint64_t *)(tcb + GMP_TCB_FEATURE_1) = L.feature_1;
	void **list = (void **)(tcb + L.off_list);
	list[0] = list[1] = list; /* not on glibc's thread lists */
	/* A unique fake tid above any pid (pid_max <= 2^22) and below 2^30. */
	*(pid_t *)(tcb + L.off_tid) = (pid_t)((1 << 22) + 1 + g->index);
	*(void **)(tcb + L.off_robust) = tcb + L.off_robust;
	*(long *)(tcb + L.off_robust + 8) = L.robust_futex_offset;
	*(void **)(tcb + L.off_specific) = tcb + L.off_specific1;
	if (L.rseq_off) {
		*(uint32_t *)(tcb + L.rseq_off) = 0;                /* cpu_id_start */
		*(int32_t *)(tcb + L.rseq_off + 4) = -2;            /* cpu_id: not registered */
	}
	*(void **)(tcb + L.resp_tpoff) = tcb + L.off_res;
	return tcb;
}

/*
 * A G long on the global free list gives back everything but its struct
 * (thread.c, gmp_trim_pooled_stacks): its TCB and whole stack mapping
 * lose their pages (the kernel frees the page tables with them), its DTV is
 * freed, and only libc's TLS block is kept, malloc'ed: it holds malloc's
 * thread cache and arena, which freeing a TCB would leak (docs/design.md §4).
 * The mapping stays reserved; gmp_tcb_alloc puts a TCB there again and
 * the block back.  Only for a TCB at the top of its own stack.
 */
bool gmp_tcb_retire(struct gmp_g *g)
{
	if (!tcb_on_stack(g) || !gmp_libc.deallocate_tls || !L.libc_size || g->libc_tls)
		return false;
	char *tcb = g->tcb;
	void *save = malloc(L.libc_size);
	if (!save)
		return false;
	memcpy(save, tcb - L.libc_off, L.libc_size);
	gmp_libc.deallocate_tls(tcb, false); /* the DTV and dynamic TLS blocks */
	g->libc_tls = save;
	g->tcb = NULL;
	g->stack.keep = NULL;
	gmp_sys3(SYS_madvise, g->stack.lo, (char *)g->stack.map + g->stack.maplen - (char *)g->stack.lo, MADV_DONTNEED);
	return true;
}

/* fork (fork.c): held across the fork, so the child's copies are consistent. */
void gmp_tcb_fork_lock(void)
{
	gmp_lock(&L.modlock);
	gmp_lock(&L.celllock);
}

void gmp_tcb_fork_unlock(void)
{
	gmp_unlock(&L.celllock);
	gmp_unlock(&L.modlock);
}

void gmp_tcb_reimage(void *tcbv)
{
	char *tcb = tcbv;
	gmp_lock(&L.modlock);
	for (int i = 0; i < L.nmods; i++) {
		struct tlsmod *m = &L.mods[i];
		if (m->libc || m->off == 0)
			continue;
		char *dst = tcb - m->off;
		memcpy(dst, (void *)m->image, m->filesz);
		memset(dst + m->filesz, 0, m->memsz - m->filesz);
	}
	gmp_unlock(&L.modlock);
	/* Dynamic TLS blocks (dlopen'ed general-dynamic modules) start again unallocated. */
	struct dtvslot {
		void *val, *to_free;
	} *dtv = *(struct dtvslot **)(tcb + GMP_TCB_DTV);
	size_t n = (size_t)dtv[-1].val;
	for (size_t i = 1; i <= n; i++) {
		char *v = dtv[i].val;
		if (v == (void *)-1L || (v >= tcb - L.static_size && v < tcb))
			continue;
		free(dtv[i].to_free);
		dtv[i].val = (void *)-1L;
		dtv[i].to_free = NULL;
	}
	*(void **)(tcb + L.resp_tpoff) = tcb + L.off_res;
	*(uint32_t *)(tcb + L.off_cancel) = 0;
	*(void **)(tcb + L.off_cleanup) = NULL;
	*(void **)(tcb + L.off_cleanup_jmp) = NULL;
}

void **gmp_tcb_cleanup_jmp_buf(void *tcb) { return (void **)((char *)tcb + L.off_cleanup_jmp); }

/* glibc's cancelhandling word of a TCB. */
static uint32_t cancel_word(void *tcb) { return atomic_load((_Atomic uint32_t *)((char *)tcb + L.off_cancel)); }

/*
 * Cancellation requested, enabled, and not already exiting?  glibc's word:
 * the enable/disable and deferred/async bits are probed; CANCELED is the
 * bit pthread_cancel sets after them (bit 3) and EXITING bit 4, as in
 * glibc 2.34 and later.
 */
bool gmp_tcb_cancel_pending(void *tcb)
{
	uint32_t ch = cancel_word(tcb);
	return (ch & (L.cancel_disabled_bit | 8u | 16u)) == 8u;
}

/*
 * pthread_cancel found the target in asynchronous mode and left the request
 * "canceling" without "canceled" (bits 2 and 3, as glibc's own tests): it
 * counts on SIGCANCEL, whose handler marks it canceled.  Until then a
 * target leaving its blocking call waits for that signal in glibc's
 * __pthread_disable_asynccancel, so the signal must come even if the
 * target has left asynchronous mode since.
 */
bool gmp_tcb_cancel_wants_signal(void *tcb)
{
	uint32_t ch = cancel_word(tcb);
	return (ch & (4u | 8u)) == 4u;
}

/*
 * glibc 2.41's protocol (BZ #12683): pthread_cancel sets only CANCELED (no
 * CANCELING) and always sends SIGCANCEL; blocking calls stay deferred,
 * and the handler unwinds a thread interrupted inside the cancellable
 * system call bridge (its PC between __syscall_cancel_arch_start and _end).
 * So a thread blocked in a kernel call is cancelled only by the signal.
 * Told apart after pthread_cancel: before 2.41 a request on a deferred
 * thread sets CANCELING with CANCELED, on an asynchronous one CANCELING
 * alone.
 */
bool gmp_tcb_cancel_by_signal(void *tcb)
{
	uint32_t ch = cancel_word(tcb);
	return (ch & (4u | 8u)) == 8u;
}

/* Acting on a cancellation: CANCELED and EXITING, which glibc sets as it starts unwinding. */
bool gmp_tcb_cancel_unwinding(void *tcb)
{
	uint32_t ch = cancel_word(tcb);
	return (ch & (8u | 16u)) == (8u | 16u);
}

bool gmp_tcb_cancel_async(void *tcb)
{
	uint32_t ch = cancel_word(tcb);
	return (ch & (L.cancel_disabled_bit | L.cancel_async_bit)) == L.cancel_async_bit;
}

void gmp_tcb_on_start(struct gmp_g *g)
{
	if (g->fresh_tcb) {
		g->fresh_tcb = false;
		gmp_libc.ctype_init();
	} else {
		errno = 0;
		uselocale(LC_GLOBAL_LOCALE);
	}
}

void gmp_tcb_on_exit(void)
{
	if (gmp_libc.call_tls_dtors)
		gmp_libc.call_tls_dtors();
}

/*
 * After dlopen: glibc copies a new initial-exec module's TLS image only
 * into threads on its own lists, which Gs are not on.  Copy it into every
 * G's TCB, live or pooled.  Threads glibc knows (main, Ms, foreign) were
 * done by glibc.
 */
void gmp_tcb_dlopen_sync(void)
{
	gmp_lock(&L.modlock);
	size_t oldgap = L.gap;
	int first = scan_mods();
	struct tlsmod newmods[MAXMODS];
	int n = 0;
	size_t need = 0; /* deepest new block, from the thread pointer */
	for (int i = first; i < L.nmods; i++)
		if (L.mods[i].off) {
			newmods[n++] = L.mods[i];
			if (L.mods[i].off > need)
				need = L.mods[i].off;
		}
	if (need > oldgap)
		set_gap(); /* stacks made from now on start below the new blocks */
	size_t gap = L.gap;
	gmp_unlock(&L.modlock);
	if (n == 0)
		return;
	gmp_lock(&gmp_sched.allglock);
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) {
		if (g->ismain || !g->tcb)
			continue;
		if (need > oldgap && tcb_on_stack(g)) {
			/*
			 * The new blocks reach below this stack's top.  A pooled G
			 * has no frames: its stack now starts lower.  A live one
			 * has frames there.
			 */
			uint32_t st = gmp_gstatus(g);
			if (st != G_IDLE && st != G_DEAD)
				gmp_fatal("dlopen: a module's initial-exec TLS reaches %zu bytes below the thread "
					  "pointer, into the stacks of live threads (gmp keeps %zu bytes; run with "
					  "GMP_TLS_RESERVE=%zu or more)",
					  need, oldgap, need + 512);
			g->stack.size = (size_t)(((uintptr_t)g->tcb - gap) & ~(uintptr_t)63) - (uintptr_t)g->stack.lo;
		}
		for (int i = 0; i < n; i++) {
			char *dst = (char *)g->tcb - newmods[i].off;
			memcpy(dst, (void *)newmods[i].image, newmods[i].filesz);
			memset(dst + newmods[i].filesz, 0, newmods[i].memsz - newmods[i].filesz);
		}
	}
	gmp_unlock(&gmp_sched.allglock);
}
