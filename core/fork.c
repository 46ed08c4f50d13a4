/*
 * fork: the child continues with only the calling thread (docs/design.md §11).
 *
 * Handler order.  gmp keeps every pthread_atfork registration itself
 * (__register_atfork is interposed: the program's, its libraries', an
 * allocator's made inside its first malloc before gmp started) and gives
 * glibc one trio: the program's prepare handlers run first (in reverse
 * order, as glibc would) with the runtime still working, so one that
 * blocks on a mutex parks as anywhere else; then gmp's own prepare.  In
 * the parent and the child gmp's own handler runs first, so the program's
 * run on a working runtime (an allocator's child handler unlocks with a
 * futex wake).  Handlers of a library that has been unloaded since are
 * skipped (checked before the fork, with dladdr).
 * Prepare takes the scheduler and TCB locks, so the child sees the
 * scheduler's lists in a consistent state; the child then rebuilds the
 * scheduler around the calling thread: one M (this kernel thread), its P
 * if it had one, every other P idle, no other Ms, no queued Gs, no timers,
 * empty wait queues, a netpoller of its own (the parent's epoll set is a
 * shared open file).  Gs that were other threads are marked dead and never
 * run, as POSIX says.  sysmon is started again by the next thread creation.
 * The parent is untouched.
 */
#include "netpoll.h"
#include "runtime.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>

void gmp_futex_reset(void) GMP_HIDDEN;
void gmp_sysmon_reset(void) GMP_HIDDEN;
void gmp_sched_fork_child(void) GMP_HIDDEN;

static void prepare(void)
{
	gmp_fd_fork_prepare(); /* the child shares the pipes: no more O_NONBLOCK underneath (netpoll.h) */
	gmp_lock(&gmp_sched.lock);
	gmp_lock(&gmp_sched.allglock);
	gmp_tcb_fork_lock(); /* the child creates threads: TCB cells and modules must be whole */
	gmp_stack_fork_lock(); /* and stack slabs */
	gmp_key_fork_lock();   /* and thread-specific data units */
}

static void parent(void)
{
	gmp_key_fork_unlock();
	gmp_stack_fork_unlock();
	gmp_tcb_fork_unlock();
	gmp_unlock(&gmp_sched.allglock);
	gmp_unlock(&gmp_sched.lock);
	gmp_fd_forceunlock();
}

/* fork child: the scheduler's queues and counts as for one M (m, or none) and no other (sched.lock held). */
static void child_sched(struct gmp_m *m)
{
	gmp_sched.pid = (pid_t)gmp_sys0(SYS_getpid);
	gmp_sched.runqhead = gmp_sched.runqtail = NULL;
	atomic_store(&gmp_sched.runqsize, 0);
	gmp_sched.pidle = NULL;
	atomic_store(&gmp_sched.npidle, 0);
	gmp_sched.midle = NULL;
	gmp_sched.nmidle = 0;
	gmp_sched.nmtotal = m ? 1 : 0;
	atomic_store(&gmp_sched.nmspinning, 0);
	atomic_store(&gmp_sched.nidlespin, 0);
	atomic_store(&gmp_sched.spinm, NULL);
}

/* fork child: every P empty and idle, but the forking M's (mine), which it holds in user code. */
static void child_ps(struct gmp_m *m, struct gmp_p *mine)
{
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++) {
		struct gmp_p *p = gmp_sched.allp[i];
		atomic_store(&p->runqhead, 0);
		atomic_store(&p->runqtail, 0);
		atomic_store(&p->runnext, NULL);
		gmp_lock_reset(&p->timerlock);
		p->ntimers = 0;
		atomic_store(&p->timer0, 0);
		p->sysmon_when = 0;
	}
	for (uint32_t i = gmp_sched.nprocs; i-- > 0;) {
		struct gmp_p *p = gmp_sched.allp[i];
		if (p == mine)
			continue;
		gmp_pstatus_reset(p, P_RUNNING); /* its word is the parent's: held now, then idle */
		gmp_pidleput(p);
	}
	if (mine) {
		/*
		 * The forking G is in user code (the runtime never forks), so
		 * its P is P_USER here, whatever the parent's status word said:
		 * m->p may be a P that sysmon retook and another M held in the
		 * runtime (P_RUNNING) at the fork; left so, the G could never
		 * take it back and the child would hang.
		 */
		mine->m = m;
		gmp_pstatus_reset(mine, P_USER);
	}
}

/* fork child: the forking M, now this process's one kernel thread. */
static void child_m(struct gmp_m *m)
{
	m->tid = (pid_t)gmp_sys0(SYS_gettid);
	m->spinning = false;
	gmp_rawtrap_fork_child(m); /* the kernel does not copy syscall user dispatch to a child */
	m->nextp = NULL;
	/*
	 * glibc's child sees only the forking thread (the G's TCB) and
	 * puts the stack and TCB of this kernel thread's glibc thread,
	 * which were our g0's, in its stack cache for reuse.  Give g0 a
	 * stack of ours, like m0's.
	 */
	if (!m->g0.stack.map) {
		struct gmp_stack s0;
		if (gmp_stack_alloc(&s0, 256 * 1024, gmp_pagesize(), 0) != 0)
			gmp_fatal("fork child: cannot allocate a scheduler stack");
		m->g0.stack = s0;
	}
	gmp_ctx_make(&m->g0.ctx, (char *)m->g0.stack.lo + m->g0.stack.size, gmp_m0_g0_start, m);
	m->g0.tcb = NULL;
}

static void child(void)
{
	struct gmp_g *self = gmp_getg();
	struct gmp_m *m = self && !self->isg0 ? self->m : NULL;
	struct gmp_p *mine = m ? m->p : NULL;

	gmp_key_fork_unlock();
	gmp_stack_fork_unlock();
	gmp_tcb_fork_unlock();
	child_sched(m);
	/*
	 * A new epoch: the parent's other Ms and its other live Gs are not
	 * here.  They are told apart by their epoch, not marked one by one:
	 * a write to each would copy a page each (1,000 threads: 1,000 page
	 * copies per fork, a third of a fork-heavy run's time).  An M of
	 * the parent gets no hand-off (gmp_handoff_nextg: its open slot would
	 * swallow the G), a G of the parent reads as dead (gmp_gstatus).
	 */
	gmp_sched.epoch++;
	if (self)
		self->epoch = gmp_sched.epoch;
	if (m)
		m->epoch = gmp_sched.epoch;
	gmp_sched.sleeper = NULL;
	atomic_store(&gmp_sched.sleeper_when, 0);
	child_ps(m, mine);
	if (m)
		child_m(m);
	/* held since prepare: the queues and lists above are rebuilt */
	gmp_unlock(&gmp_sched.allglock);
	gmp_unlock(&gmp_sched.lock);

	/* Every other user thread is gone (their epoch is the parent's: gmp_gstatus). */
	atomic_store(&gmp_sched.ngalive, 1);
	gmp_futex_reset();
	gmp_netpoll_fork_child();
	gmp_sched_fork_child();
	gmp_signal_fork_child(self);
	gmp_sigwait_fork_child();
	gmp_xwait_fork_child();
	gmp_sysmon_reset();
}

#define MAXATFORK 1024
static struct atfork {
	void (*prepare)(void), (*parent)(void), (*child)(void);
	bool alive; /* set before each fork */
} atfork[MAXATFORK];
static _Atomic int natfork;
/*
 * Registrations and forks, one at a time (as glibc's atfork lock): held
 * across a fork, around the program's handlers, which may block (an
 * allocator's prepare locks its mutexes), so a G waits for it parked, not
 * in the kernel, and may come back on another M: not a runtime lock (those
 * are released on the kernel thread that took them).  0 free, 1 held, 2
 * held with waiters.
 */
static _Atomic uint32_t atforkword;

static void atfork_lock(void)
{
	uint32_t c = 0;
	if (atomic_compare_exchange_strong(&atforkword, &c, 1))
		return;
	if (c != 2)
		c = atomic_exchange(&atforkword, 2);
	while (c != 0) {
		gmp_futex_wait(&atforkword, 2, GMP_FUTEX_BITSET_ANY, -1, CLOCK_MONOTONIC, WR_MUTEX);
		c = atomic_exchange(&atforkword, 2);
	}
}

static void atfork_unlock(void)
{
	if (atomic_exchange(&atforkword, 0) == 2)
		gmp_futex_wake(&atforkword, 1, GMP_FUTEX_BITSET_ANY);
}

int gmp_atfork_add(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	atfork_lock();
	int n = atomic_load(&natfork);
	if (n == MAXATFORK) {
		atfork_unlock();
		return -ENOMEM;
	}
	atfork[n] = (struct atfork){prepare, parent, child, true};
	atomic_store(&natfork, n + 1);
	atfork_unlock();
	return 0;
}

static bool mapped(void (*fn)(void))
{
	Dl_info info;
	return !fn || dladdr((void *)fn, &info) != 0;
}

/* A G is not preempted while it holds the atfork lock, nor between gmp's prepare and its parent or child (preempt.c). */
static void nopreempt(int d)
{
	struct gmp_g *g = gmp_getg();
	if (g)
		g->nopreempt = (uint8_t)(g->nopreempt + d);
}

/* As a spawner: the child inherits the pipes (netpoll.h); the parent waits for it with hand-off. */
void gmp_vfork_enter(void)
{
	gmp_fd_unforce_all();
	struct gmp_g *g = gmp_getg();
	struct gmp_m *held = NULL;
	if (g)
		gmp_entersyscall(g);
	held = gmp_fstrap_hold(); /* the child runs with the kernel's FS base: ours (runtime.h) */
	if (g) {
		g->vfork_held = held;
		g->vforking = true;
	} else if (held) {
		gmp_fstrap_arm(held); /* no G to keep it on: as before the call */
	}
}

long gmp_vfork_leave(long r)
{
	struct gmp_g *g = gmp_getg();
	if (g) {
		g->vforking = false;
		if (g->vfork_held)
			gmp_fstrap_arm(g->vfork_held);
		g->vfork_held = NULL;
		gmp_exitsyscall(g);
	}
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

static void all_prepare(void)
{
	nopreempt(1);
	atfork_lock(); /* held across the fork: registrations and other forks wait */
	int n = atomic_load(&natfork);
	for (int i = 0; i < n; i++)
		atfork[i].alive = mapped(atfork[i].prepare) && mapped(atfork[i].parent) && mapped(atfork[i].child);
	for (int i = n - 1; i >= 0; i--)
		if (atfork[i].alive && atfork[i].prepare)
			atfork[i].prepare();
	gmp_lock_fork_prepare(); /* the kernel thread that forks: the handlers may have moved the G */
	prepare();
	gmp_fstrap_fork_prepare();
}

static void fstrap_rearm(void)
{
	struct gmp_g *g = gmp_getg();
	if (g && g->m && g->m->fsarmed)
		gmp_fstrap_arm(g->m);
}

static void all_parent(void)
{
	fstrap_rearm();
	parent();
	int n = atomic_load(&natfork);
	for (int i = 0; i < n; i++)
		if (atfork[i].alive && atfork[i].parent)
			atfork[i].parent();
	atfork_unlock();
	nopreempt(-1);
}

static void all_child(void)
{
	gmp_lock_fork_child();
	child();
	fstrap_rearm();
	atomic_store(&atforkword, 0); /* the child's one thread: nobody waits */
	int n = atomic_load(&natfork);
	for (int i = 0; i < n; i++)
		if (atfork[i].alive && atfork[i].child)
			atfork[i].child();
	nopreempt(-1);
}

void gmp_fork_init(void)
{
	/* glibc's own registration, not gmp's wrapper: the only trio glibc runs */
	if (!gmp_libc.register_atfork || gmp_libc.register_atfork(all_prepare, all_parent, all_child, NULL) != 0)
		gmp_fatal("cannot register gmp's fork handlers");
}
