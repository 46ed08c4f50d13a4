/*
 * User threads: creation, start, exit, join, detach, and the free lists
 * that make creation cheap.
 *
 * A G struct, its TCB and (for the default size) its stack stay together
 * for ever: a dead G goes to its P's free list (or the global one), and the
 * next pthread_create takes it, re-images its TLS and runs.  No system call
 * and no malloc on that path.
 *
 * Join/detach word (g->joinword, runtime.h): one atomic word holds "has
 * exited" and the mode (joinable, detached, claimed by a joiner), so exit,
 * detach and join agree by CAS on who frees the G:
 *   exit sees DETACHED        -> the exiting G's M frees it
 *   detach sees EXITED        -> the detacher frees it
 *   join claims, then waits   -> the joiner frees it
 */
#include "runtime.h"
#include "trace.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define GFREE_LOCAL_MAX 64

/* glibc 2.32; weak so that gmp loads on older ones (init.c refuses those by name) */
extern char __libc_single_threaded __attribute__((weak));

static struct gmp_g *galloc(void)
{
	static struct gmp_g *slab; /* allglock */
	static size_t slableft;    /* allglock */
	gmp_lock(&gmp_sched.allglock);
	if (slableft == 0) {
		size_t n = 256;
		slab = GMP_FAULT(G_SLAB) ? NULL : gmp_rt_alloc(n * sizeof(struct gmp_g));
		if (!slab) {
			gmp_unlock(&gmp_sched.allglock);
			return NULL;
		}
		slableft = n;
	}
	struct gmp_g *g = slab++;
	gmp_lock_init(&g->cwlock, GMP_RANK_CWLOCK);
	slableft--;
	g->index = gmp_sched.nallg++;
	g->alllink = gmp_sched.allg;
	gmp_sched.allg = g;
	gmp_unlock(&gmp_sched.allglock);
	return g;
}

struct gmp_g *gmp_galloc(void) { return galloc(); }

void gmp_gfput(struct gmp_p *p, struct gmp_g *g)
{
	if (g->ismain)
		return; /* the original main thread's TCB and stack are not ours to reuse */
	if (g->stack.user)
		gmp_stack_free(&g->stack);
	gmp_casgstatus(g, G_DEAD, G_IDLE);
	if (p) {
		g->schedlink = p->gfree;
		p->gfree = g;
		if (++p->ngfree < GFREE_LOCAL_MAX)
			return;
		/* move half to the global list */
		gmp_lock(&gmp_sched.lock);
		while (p->ngfree > GFREE_LOCAL_MAX / 2) {
			struct gmp_g *x = p->gfree;
			p->gfree = x->schedlink;
			p->ngfree--;
			x->schedlink = gmp_sched.gfree;
			gmp_sched.gfree = x;
			gmp_sched.ngfree++;
		}
		gmp_unlock(&gmp_sched.lock);
		return;
	}
	gmp_lock(&gmp_sched.lock);
	g->schedlink = gmp_sched.gfree;
	gmp_sched.gfree = g;
	gmp_sched.ngfree++;
	gmp_unlock(&gmp_sched.lock);
}

/*
 * Can a pooled G serve a thread with these attributes?  A G whose TCB is
 * at the top of its stack keeps that stack (freeing it would leave the TCB's
 * pages as a mapping of their own, and enough of those exhaust
 * vm.max_map_count), so it serves only its own stack size and guard.  Any
 * other G takes any stack.  So pooled stacks are matched by size, as in
 * NPTL's stack cache.
 */
static bool gfits(const struct gmp_g *g, const struct gmp_thread_attr *a)
{
	return !g->stack.keep ||
	       (!a->stackaddr && g->stack.reqsize == a->stacksize && g->stack.reqguard == a->guardsize);
}

#define GFIT_SCAN 64 /* Gs looked at on each list: creation stays O(1) */

/* The first G on *l (at most GFIT_SCAN looked at) that fits a, unlinked; NULL if none. */
static struct gmp_g *gfit_take(struct gmp_g **l, const struct gmp_thread_attr *a)
{
	for (int i = 0; *l && i < GFIT_SCAN; i++, l = &(*l)->schedlink) {
		struct gmp_g *g = *l;
		if (gfits(g, a)) {
			*l = g->schedlink;
			return g;
		}
	}
	return NULL;
}

/* A G from the global free lists that fits a, warm ones first; sched.lock. */
static struct gmp_g *globgfget(const struct gmp_thread_attr *a)
{
	struct gmp_g *g = gfit_take(&gmp_sched.gfree, a);
	if (!g)
		g = gfit_take(&gmp_sched.gfree_aging, a);
	if (!g)
		g = gfit_take(&gmp_sched.gfree_cold, a);
	if (g)
		gmp_sched.ngfree--;
	return g;
}

/* A pooled G for a thread with attributes a, or NULL: make a new one. */
struct gmp_g *gmp_gfget(struct gmp_p *p, const struct gmp_thread_attr *a)
{
	struct gmp_g *g = NULL;
	if (p) {
		if (!p->gfree && gmp_sched.ngfree > 0) {
			gmp_lock(&gmp_sched.lock);
			while (p->ngfree < GFREE_LOCAL_MAX / 2) {
				struct gmp_g **l = gmp_sched.gfree         ? &gmp_sched.gfree
						   : gmp_sched.gfree_aging ? &gmp_sched.gfree_aging
									   : &gmp_sched.gfree_cold;
				struct gmp_g *x = *l;
				if (!x)
					break;
				*l = x->schedlink;
				gmp_sched.ngfree--;
				x->schedlink = p->gfree;
				p->gfree = x;
				p->ngfree++;
			}
			gmp_unlock(&gmp_sched.lock);
		}
		g = gfit_take(&p->gfree, a);
		if (g) {
			p->ngfree--;
			return g;
		}
	}
	if (gmp_sched.ngfree > 0) {
		gmp_lock(&gmp_sched.lock);
		g = globgfget(a);
		gmp_unlock(&gmp_sched.lock);
	}
	return g;
}

struct gmp_g *gmp_g_from_tcb(void *tcb)
{
	if (!tcb)
		return NULL;
	struct gmp_g *g = *(struct gmp_g **)gmp_tcb_tls_slot(tcb, &gmp_curg);
	if (!g || g->tcb != tcb || g->isg0)
		return NULL;
	return g;
}

/* ------------------------------------------------------------ start and exit */

/*
 * First code of every new G, on its own stack with its own TCB.  Like
 * glibc's start_thread it plants an unwind buffer in the TCB: glibc's
 * pthread_exit and cancellation unwind the G's stack (running C cleanup
 * handlers and C++ destructors) and land back here.
 */
static _Noreturn void gstart(void *arg)
{
	struct gmp_g *volatile g = arg;
	gmp_tcb_on_start(g);
	if (GMP_UNLIKELY(atomic_load(&g->affinity_pending)))
		gmp_apply_affinity(g); /* inherited from its creator, as a cloned kernel thread's */
	if (GMP_UNLIKELY(gmp_signal_deliverable(g)))
		gmp_deliver_pending(g); /* sent before it first ran, or pending for the process */
	__pthread_unwind_buf_t ub;
	memset(ub.__pad, 0, sizeof ub.__pad);
	void *ret;
	/* __pthread_unwind_buf_t is smaller than jmp_buf; setjmp uses only the common prefix. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
	int unwound = __sigsetjmp((struct __jmp_buf_tag *)(void *)ub.__cancel_jmp_buf, 0);
#pragma GCC diagnostic pop
	if (unwound == 0) {
		*gmp_tcb_cleanup_jmp_buf(g->tcb) = &ub;
		if (g->c11)
			ret = (void *)(intptr_t)((int (*)(void *))(void *)g->start)(g->arg);
		else
			ret = g->start(g->arg);
	} else {
		ret = g->exiting ? g->retval : PTHREAD_CANCELED; /* unwound by pthread_exit or cancellation */
		/*
		 * Asynchronous cancellation unwinds out of glibc's SIGCANCEL
		 * handler (and pthread_exit may be called in any handler):
		 * there is no sigreturn, so the kernel thread keeps the
		 * handler's mask, SIGCANCEL blocked.  Mark the M's mask unknown
		 * (while the G is still on it) so that execute() loads the next
		 * G's; otherwise a later cancellation of a G on this M stays
		 * pending for ever.
		 */
		g->m->cur_sigmask = ~0ULL;
		if (g->insyscall)
			gmp_exitsyscall(g); /* unwound out of a kernel call (gmp_acquirep_user) */
	}
	gmp_thread_exit(ret);
}

/*
 * pthread_exit in the main thread.  glibc unwinds main's frames (cleanup
 * handlers, C++ destructors) up to the buffer its start code planted in
 * __libc_start_call_main, then longjmps there and ends the kernel thread,
 * which under gmp is whatever M runs main now.  So that buffer's resume
 * address is replaced (mangled as glibc mangles it) by main_unwound, which
 * runs on main's stack at the start code's stack pointer and ends the main
 * G like any other.
 */
__attribute__((force_align_arg_pointer, noreturn)) static void main_unwound(void)
{
	struct gmp_g *g = gmp_getg();
	gmp_thread_exit(g->retval);
}

bool gmp_main_unwind_prepare(struct gmp_g *g)
{
	__pthread_unwind_buf_t *b = *(__pthread_unwind_buf_t **)gmp_tcb_cleanup_jmp_buf(g->tcb);
	if (!b)
		return false;
	while (b->__pad[0]) /* glibc's priv.data.prev: pthread_cleanup_push buffers chain above the start code's */
		b = b->__pad[0];
	uintptr_t guard = *(uintptr_t *)((char *)g->tcb + GMP_TCB_POINTER_GUARD);
	uintptr_t pc = (uintptr_t)main_unwound ^ guard;
	pc = (pc << 0x11) | (pc >> (64 - 0x11));
	b->__cancel_jmp_buf[0].__cancel_jmp_buf[7] = (long)pc; /* JB_PC */
	return true;
}

_Noreturn void gmp_thread_exit(void *ret)
{
	struct gmp_g *g = gmp_getg();
	if (atomic_load(&g->status) == G_SYSCALL)
		gmp_exitsyscall(g); /* cancelled inside a kernel call: unwound past its exitsyscall */
	if (GMP_UNLIKELY(g->xwait || g->xwait_kernel || g->xwait_trapping || atomic_load(&g->m->sud_mode) == SUD_XWAIT))
		gmp_xwait_exit(g); /* the same in glibc's wait on a process-shared object */
	g->retval = ret;
	if (GMP_UNLIKELY(gmp_signal_deliverable(g)))
		gmp_deliver_pending(g); /* sent while it still ran: as the kernel, before it is gone */
	gmp_tcb_on_exit();
	gmp_keys_run_destructors();
	/* As NPTL: the last thread to exit ends the process with status 0 (atexit handlers run here). */
	if (atomic_fetch_sub(&gmp_sched.ngalive, 1) == 1)
		exit(0);
	gmp_signal_exit(g); /* no more user code: process signals pending here go to another thread */
	gmp_goexit(g);
}

/* ------------------------------------------------------------ create */

/* A G that could not be started: back to the free list (it keeps its stack and TCB for the next create). */
static int gdrop(struct gmp_g *ng, int err)
{
	gmp_casgstatus(ng, G_IDLE, G_DEAD);
	gmp_gfput(NULL, ng);
	return err;
}

/* A G with a stack as a asks and a TCB: from the free lists, or new.  0 or -errno. */
static int gtake(struct gmp_g *self, const struct gmp_thread_attr *a, struct gmp_g **out)
{
	struct gmp_p *p = self ? gmp_acquirep_user(self) : NULL;
	struct gmp_g *ng = gmp_gfget(p, a);
	if (p)
		gmp_releasep_user(p);

	if (!ng) {
		ng = galloc();
		if (!ng)
			return -EAGAIN;
		atomic_store(&ng->status, G_IDLE); /* a new G's first status, not a change (gmp_casgstatus from here on) */
	}
	ng->stack_trimmed = false;

	/* The stack first: a G's first TCB goes at the top of its stack (tcb.c). */
	if (a->stackaddr) {
		gmp_stack_free(&ng->stack);
		ng->stack.lo = a->stackaddr;
		ng->stack.size = ng->stack.reqsize = a->stacksize;
		ng->stack.guard = 0;
		ng->stack.user = true;
	} else if (!ng->stack.lo || ng->stack.user || ng->stack.reqsize != a->stacksize ||
		   ng->stack.reqguard != a->guardsize) {
		gmp_stack_free(&ng->stack);
		int err = gmp_stack_alloc(&ng->stack, a->stacksize, a->guardsize, ng->tcb ? 0 : gmp_tcb_stack_above());
		if (err)
			return gdrop(ng, err);
	}
	if (!ng->tcb) {
		ng->tcb = gmp_tcb_alloc(ng);
		if (!ng->tcb)
			return gdrop(ng, -EAGAIN); /* keeps the struct (and a default stack); a TCB next time */
	} else {
		gmp_tcb_reimage(ng->tcb);
	}
	*out = ng;
	return 0;
}

/* A new thread's signal state: its creator's mask (as in NPTL), nothing pending, no alternate stack. */
static void gsignal_init(struct gmp_g *ng, struct gmp_g *self)
{
	/* No alternate signal stack, as the kernel gives a thread made with CLONE_VM. */
	ng->altgen = 0;
	if (self)
		ng->sigmask = self->sigmask;
	else
		gmp_sys4(SYS_rt_sigprocmask, SIG_SETMASK, NULL, &ng->sigmask, 8);
	gmp_signal_note_mask(ng->sigmask);
	atomic_store(&ng->sigpending, 0);
	atomic_store(&ng->cancel_asked, false);
	atomic_store(&ng->sigshared, 0);
	atomic_store(&ng->sigwaitset, 0);
	for (int i = 0; i < 32; i++)
		atomic_store(&ng->sigqueued[i], 0);
}

/* A thread inherits its creator's CPU affinity (applied when it first runs); a reused G's old set goes. */
static void gaffinity_init(struct gmp_g *ng, struct gmp_g *self)
{
	atomic_store(&ng->affinity_pending, false);
	uint64_t *aff = atomic_exchange(&ng->affinity, NULL);
	uint64_t *mine = self ? atomic_load(&self->affinity) : NULL;
	if (mine) {
		if (!aff)
			aff = malloc(GMP_AFFINITY_WORDS * 8);
		if (aff) {
			memcpy(aff, mine, GMP_AFFINITY_WORDS * 8);
			atomic_store(&ng->affinity, aff);
			atomic_store(&ng->affinity_pending, true);
		}
	} else if (aff) {
		free(aff);
	}
}

int gmp_thread_create(void **out, const struct gmp_thread_attr *a, void *(*fn)(void *), void *arg)
{
	struct gmp_g *self = gmp_getg();
	struct gmp_g *ng;
	int err = gtake(self, a, &ng);
	if (err)
		return err;
	if (gmp_sysmon_start() != 0)
		return gdrop(ng, -EAGAIN);

	ng->goid = atomic_fetch_add(&gmp_sched.goidgen, 1) + 1;
	ng->start = fn;
	ng->arg = arg;
	ng->retval = NULL;
	ng->exiting = false;
	ng->orphan_grace = 0;
	atomic_store(&ng->cwait, NULL);
	ng->c11 = a->c11;
	ng->joiner = NULL;
	ng->name[0] = 0;
	gmp_sched_set(ng, a->schedpolicy, a->schedprio);
	ng->inherit = a->inherit;
	ng->waitreason = WR_NONE;
	ng->createdby = self ? self->goid : 0;
	ng->createpc = a->caller;
	ng->cputime = 0;
	gsignal_init(ng, self);
	gaffinity_init(ng, self);
	atomic_store(&ng->joinword, a->detached ? GMP_JOIN_DETACHED : GMP_JOIN_JOINABLE);
	*gmp_tcb_tls_slot(ng->tcb, &gmp_curg) = ng;
	gmp_ctx_make(&ng->ctx, (char *)ng->stack.lo + ng->stack.size, gstart, ng);

	if (&__libc_single_threaded && __libc_single_threaded) {
		/* first thread (also again in a fork child): glibc must take its locks from now on */
		__libc_single_threaded = 0;
		*(int *)((char *)gmp_arch_get_tp() + GMP_TCB_MULTIPLE) = 1;
	}
	atomic_fetch_add(&gmp_sched.ngalive, 1);
	*out = ng->tcb; /* visible before the thread can run, as NPTL */

	GMP_TRACE(gmp_trace_gocreate(self, ng));
	gmp_casgstatus(ng, G_IDLE, G_RUNNABLE);
	if (self) {
		struct gmp_p *p = gmp_acquirep_user(self);
		gmp_runqready(p, ng, true);
		gmp_releasep_user(p);
	} else {
		gmp_ready(NULL, ng, false);
	}
	return 0;
}

/* ------------------------------------------------------------ join and detach */

static void reap(struct gmp_g *t)
{
	struct gmp_g *self = gmp_getg();
	if (self) {
		struct gmp_p *p = gmp_acquirep_user(self);
		gmp_gfput(p, t);
		gmp_releasep_user(p);
	} else {
		gmp_gfput(NULL, t);
	}
}

/*
 * t was joined or detached and has ended, and its G waits on a free list:
 * NPTL answers ESRCH for such a thread while its descriptor is not reused.
 */
static bool reaped(struct gmp_g *t)
{
	return atomic_load(&t->status) == G_IDLE && (atomic_load(&t->joinword) & GMP_JOIN_EXITED);
}

int gmp_thread_join(struct gmp_g *t, void **ret, int64_t deadline, clockid_t clk, bool try)
{
	if (reaped(t))
		return try ? -EBUSY : -ESRCH; /* NPTL's tryjoin sees the freed descriptor's tid (-1) as running */
	if (gmp_g_forked_away(t))
		return -EINVAL; /* a thread of the parent, seen in a fork child: never reaped here */
	struct gmp_g *self = gmp_getg();
	if (!try)
		gmp_testcancel();
	if (t == self)
		return -EDEADLK;
	if (self && self->joiner == t)
		return -EDEADLK; /* t is joining us: waiting for each other */
	uint32_t w = atomic_load(&t->joinword);
	for (;;) {
		uint32_t mode = w & GMP_JOIN_MODE;
		if (try && !(w & GMP_JOIN_EXITED))
			return -EBUSY; /* NPTL checks "still running" first, whatever the mode */
		if (mode != GMP_JOIN_JOINABLE)
			return -EINVAL; /* detached, or someone else joins it */
		if (atomic_compare_exchange_weak(&t->joinword, &w, (w & GMP_JOIN_EXITED) | GMP_JOIN_CLAIMED))
			break;
	}
	t->joiner = self;
	(void)clk;
	while (!((w = atomic_load(&t->joinword)) & GMP_JOIN_EXITED)) {
		/* A cancellation point: a canceled joiner leaves t joinable, as NPTL. */
		int r = gmp_futex_wait_cancel(&t->joinword, w, deadline, WR_JOIN);
		if (r == -ETIMEDOUT || r == -ENOMEM || r == -ECANCELED) {
			uint32_t cw = GMP_JOIN_CLAIMED;
			t->joiner = NULL;
			if (atomic_compare_exchange_strong(&t->joinword, &cw, GMP_JOIN_JOINABLE)) {
				if (r == -ECANCELED)
					gmp_testcancel();
				return r == -ETIMEDOUT ? -ETIMEDOUT : -EAGAIN;
			}
			/* it exited meanwhile: finish the join */
		}
	}
	if (ret)
		*ret = t->retval;
	t->joiner = NULL;
	reap(t);
	return 0;
}

int gmp_thread_detach(struct gmp_g *t)
{
	if (reaped(t))
		return -ESRCH;
	if (gmp_g_forked_away(t))
		return -EINVAL; /* a thread of the parent, seen in a fork child */
	uint32_t w = atomic_load(&t->joinword);
	for (;;) {
		if ((w & GMP_JOIN_MODE) != GMP_JOIN_JOINABLE)
			return -EINVAL;
		if (atomic_compare_exchange_weak(&t->joinword, &w, (w & GMP_JOIN_EXITED) | GMP_JOIN_DETACHED))
			break;
	}
	if (w & GMP_JOIN_EXITED)
		reap(t);
	return 0;
}

/*
 * sysmon, about once a second.  Gs still on the global free list's aging
 * part since the last call (a second unused) give back their memory: a G
 * whose TCB is on its stack is retired (gmp_tcb_retire: TCB and whole
 * stack, with their page tables), any other gives back its stack but the
 * top page (docs/design.md §5); both go to the cold list, which creation uses
 * last.  Then the warm list becomes the aging one, once that is empty.  Pages are committed
 * again on first touch.  Per-P caches (at most 64 Gs each) stay warm.  Gs
 * are taken off the list in batches of 32 so that sched.lock is not held
 * across the system calls; at most 32,768 a call.
 */
void gmp_trim_pooled_stacks(void)
{
	size_t ps = gmp_pagesize();
	for (int batch = 0; batch < 1024; batch++) {
		struct gmp_g *list = NULL, *tail = NULL;
		int n = 0;
		gmp_lock(&gmp_sched.lock);
		while (gmp_sched.gfree_aging && n < 32) {
			struct gmp_g *g = gmp_sched.gfree_aging;
			gmp_sched.gfree_aging = g->schedlink;
			g->schedlink = list;
			list = g;
			n++;
		}
		gmp_unlock(&gmp_sched.lock);
		if (!n)
			break;
		for (struct gmp_g *g = list; g; g = g->schedlink) {
			tail = g;
			if (gmp_tcb_retire(g))
				continue; /* all its pages given back, TCB included */
			uintptr_t lo = (uintptr_t)g->stack.lo;
			uintptr_t end = (lo + g->stack.size - 1) & ~(uintptr_t)(ps - 1); /* the top page stays */
			if (!g->stack_trimmed && g->stack.map && end > lo) {
				gmp_sys3(SYS_madvise, lo, end - lo, MADV_DONTNEED);
				g->stack_trimmed = true;
			}
		}
		gmp_lock(&gmp_sched.lock);
		tail->schedlink = gmp_sched.gfree_cold;
		gmp_sched.gfree_cold = list;
		gmp_unlock(&gmp_sched.lock);
	}
	/* what is left aging (more than a call's worth) goes first; the warm list ages after it */
	gmp_lock(&gmp_sched.lock);
	if (!gmp_sched.gfree_aging) {
		gmp_sched.gfree_aging = gmp_sched.gfree;
		gmp_sched.gfree = NULL;
	}
	gmp_unlock(&gmp_sched.lock);
}
