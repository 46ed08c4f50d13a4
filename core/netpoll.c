/*
 * Netpoller: fd table and parking on fd readiness.
 *
 * A G whose non-blocking call returned EAGAIN calls gmp_netpoll_wait: the
 * G is recorded in the fd's record, the fd is armed for its direction, and
 * the G parks; the poller (gmp_netpoll_poll, run by an idle M blocking in
 * the kernel or by any M looking for work) readies it when the fd is
 * ready, and the call is retried.
 * One reader and one writer may park per fd, as in Go; a second parked
 * reader on the same fd waits its turn on the record (rare in real
 * programs, and correct: it is woken by the first one's wake-up).
 *
 * The table is indexed by fd, grown in pages of 1024 records that are
 * never freed, so a record pointer stays valid however the table grows.
 */
#include "netpoll.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/syscall.h>

#define PAGE_FDS GMP_FD_PAGE_FDS
#define MAX_PAGES GMP_FD_MAX_PAGES

struct gmp_pollfd *_Atomic gmp_fd_pages[GMP_FD_MAX_PAGES];
static gmp_lock_t initlock;
static _Atomic int inited; /* 0 no (or it failed: tried again), 1 yes */
static _Atomic int32_t nwaiters;

static struct gmp_pollfd *rec(int fd, bool create)
{
	if (fd < 0 || fd >= PAGE_FDS * MAX_PAGES)
		return NULL;
	struct gmp_pollfd *pg = atomic_load_explicit(&gmp_fd_pages[fd / PAGE_FDS], memory_order_acquire);
	if (!pg) {
		if (!create)
			return NULL;
		struct gmp_pollfd *np = GMP_FAULT(FD_PAGE) ? NULL : gmp_rt_alloc(PAGE_FDS * sizeof *np);
		if (!np)
			return NULL;
		for (int i = 0; i < PAGE_FDS; i++)
			gmp_lock_init(&np[i].lock, GMP_RANK_PD);
		struct gmp_pollfd *z = NULL;
		if (atomic_compare_exchange_strong(&gmp_fd_pages[fd / PAGE_FDS], &z, np))
			pg = np;
		else {
			gmp_rt_free(np, PAGE_FDS * sizeof *np);
			pg = z;
		}
	}
	return &pg[fd % PAGE_FDS];
}

struct gmp_pollfd *gmp_fd_get(int fd)
{
	struct gmp_pollfd *pd = rec(fd, false);
	return pd && pd->managed ? pd : NULL;
}

bool gmp_netpoll_waiters(void) { return atomic_load_explicit(&nwaiters, memory_order_relaxed) > 0; }

static int ensure_init(void)
{
	if (atomic_load(&inited) > 0)
		return 0;
	/* A failure (no fds, no memory) is not remembered: the next pollable fd tries again. */
	gmp_lock(&initlock);
	if (!atomic_load(&inited) && gmp_netpoll_os_init() == 0)
		atomic_store(&inited, 1);
	gmp_unlock(&initlock);
	return atomic_load(&inited) > 0 ? 0 : -ENOMEM;
}

int gmp_fd_manage(int fd, bool user_nonblock, int kind)
{
	bool edge = kind == GMP_FD_EDGE;
	if (ensure_init() != 0)
		return -ENOMEM;
	struct gmp_pollfd *pd = rec(fd, true);
	if (!pd)
		return -ENOMEM;
	gmp_lock(&pd->lock);
	pd->seq++;
	pd->managed = true;
	atomic_store(&pd->forced_nonblock, false);
	pd->pipe = false;
	pd->no_nowait = false;
	pd->viewgen = atomic_load(&gmp_fd_viewgen);
	pd->user_nonblock = user_nonblock;
	pd->fd = fd;
	pd->rg = pd->wg = NULL;
	pd->edge = edge;
	pd->edge_out = false;
	pd->stream = false;
	pd->tcp = false;
	pd->rcvlowat = 0;
	atomic_store(&pd->rsticky, false);
	atomic_store(&pd->rdrained, 0);
	pd->rready = pd->wready = false;
	uint64_t token = (uint64_t)fd << 32 | pd->seq;
	pd->in_set = false;
	pd->registered = kind == GMP_FD_PIPE || gmp_netpoll_os_add(fd, token, edge ? 1 : 0) == 0;
	if (pd->registered && kind == GMP_FD_ONESHOT)
		gmp_netpoll_os_del(fd); /* epoll takes it; in the set only while a G waits */
	if (!pd->registered)
		pd->managed = false; /* e.g. a regular file: epoll refuses it; plain hand-off then */
	gmp_unlock(&pd->lock);
	return 0;
}

/* Take the parked G of one direction, telling it res.  pd->lock held. */
static struct gmp_g *take(struct gmp_pollfd *pd, int mode, int res)
{
	gmp_lock_assert_held(&pd->lock);
	struct gmp_g **slot = mode == GMP_NETPOLL_READ ? &pd->rg : &pd->wg;
	struct gmp_g *g = *slot;
	if (g) {
		*slot = NULL;
		if (mode == GMP_NETPOLL_READ)
			pd->rres = res;
		else
			pd->wres = res;
		atomic_fetch_sub(&nwaiters, 1);
	}
	return g;
}

static void wake(struct gmp_g *g, struct gmp_p *p)
{
	gmp_casgstatus(g, G_WAITING, G_RUNNABLE);
	gmp_ready(p, g, true);
}

static struct gmp_p *caller_p(struct gmp_g **self)
{
	*self = gmp_getg();
	return *self ? gmp_acquirep_user(*self) : NULL;
}

void gmp_fd_close(int fd)
{
	struct gmp_pollfd *pd = rec(fd, false);
	if (!pd || !pd->managed)
		return;
	struct gmp_g *self;
	struct gmp_p *p = caller_p(&self);
	gmp_lock(&pd->lock);
	pd->managed = false;
	pd->seq++;
	struct gmp_g *r = take(pd, GMP_NETPOLL_READ, -EBADF), *w = take(pd, GMP_NETPOLL_WRITE, -EBADF);
	gmp_unlock(&pd->lock);
	if (r)
		wake(r, p);
	if (w)
		wake(w, p);
	if (p)
		gmp_releasep_user(p);
}

/* pthread_cancel (-ECANCELED) or a signal (-EINTR): end t's wait on an fd, if it is in one. */
void gmp_netpoll_cancel_g(struct gmp_g *t, int res)
{
	if (atomic_load(&t->npfd) == 0)
		return;
	struct gmp_g *self;
	struct gmp_p *p = caller_p(&self);
	gmp_netpoll_cancel_gp(t, res, p);
	if (p)
		gmp_releasep_user(p);
}

/* As gmp_netpoll_cancel_g with the caller's P (or NULL): g0 and sysmon. */
void gmp_netpoll_cancel_gp(struct gmp_g *t, int res, struct gmp_p *p)
{
	int fd = atomic_load(&t->npfd) - 1;
	if (fd < 0)
		return;
	struct gmp_pollfd *pd = rec(fd, false);
	if (!pd)
		return;
	gmp_lock(&pd->lock);
	struct gmp_g *g = NULL;
	if (pd->rg == t)
		g = take(pd, GMP_NETPOLL_READ, res);
	else if (pd->wg == t)
		g = take(pd, GMP_NETPOLL_WRITE, res);
	gmp_unlock(&pd->lock);
	if (g)
		wake(g, p);
}

struct waitarg {
	struct gmp_pollfd *pd;
	int mode;
	struct gmp_g *g;
};

/*
 * A parked G's deadline.  The timer is the G's own (on its stack), and it
 * ends only that G's wait: a woken G leaves the slot before it deletes its
 * timer, and another G of the same direction may park there meanwhile.
 * (A timer per fd and direction, shared by those two, was added to a heap
 * again while still in one: lost timers and a crash, with two threads
 * polling one socket with timeouts; behaviour/io_poll_one.)
 */
static void timeout_fn(struct gmp_timer *t, struct gmp_p *runner)
{
	struct waitarg *wa = t->arg;
	struct gmp_pollfd *pd = wa->pd;
	gmp_lock(&pd->lock);
	struct gmp_g **slot = wa->mode == GMP_NETPOLL_READ ? &pd->rg : &pd->wg;
	struct gmp_g *g = *slot == wa->g ? take(pd, wa->mode, -ETIMEDOUT) : NULL;
	gmp_unlock(&pd->lock);
	if (g)
		wake(g, runner);
}

uint32_t gmp_netpoll_edges(struct gmp_pollfd *pd, int mode)
{
	if (!pd || !pd->edge)
		return 0;
	return atomic_load_explicit(mode == GMP_NETPOLL_READ ? &pd->redges : &pd->wedges, memory_order_acquire) + 1;
}

/* gmp_netpoll_wait returns r without parking: pd's lock and the P go back. */
static inline int wait_leave(struct gmp_pollfd *pd, struct gmp_p *p, int r)
{
	gmp_unlock(&pd->lock);
	gmp_releasep_user(p);
	return r;
}

/*
 * An edge came since the call failed: retry it at once.  rready keeps one
 * that no parked G took; the count also sees one that went to another G of
 * this direction, parked before us and woken but not yet run: that G may
 * take what it made ready and leave, and no further edge would come for us.
 */
static inline bool edge_since(struct gmp_pollfd *pd, int mode, uint32_t seen)
{
	bool *ready = mode == GMP_NETPOLL_READ ? &pd->rready : &pd->wready;
	_Atomic uint32_t *edges = mode == GMP_NETPOLL_READ ? &pd->redges : &pd->wedges;
	bool came = pd->edge && (*ready || (seen && atomic_load_explicit(edges, memory_order_relaxed) + 1 != seen));
	if (came)
		*ready = false;
	return came;
}

/*
 * Another G of the same direction is parked.  Wait until it is woken, then
 * let the caller retry its call: the edge that woke the other G may have
 * made room or data for us too, and no new edge will come for it.
 */
static inline int wait_turn(struct gmp_pollfd *pd, struct gmp_p *p, int64_t deadline)
{
	uint32_t turn = atomic_load(&pd->turn);
	atomic_fetch_add(&pd->nturn, 1); /* seq_cst, before the wait reads turn: pairs with the park's end */
	wait_leave(pd, p, 0);
	int r = gmp_futex_wait(&pd->turn, turn, GMP_FUTEX_BITSET_ANY, deadline, CLOCK_MONOTONIC, WR_NETPOLL);
	atomic_fetch_sub(&pd->nturn, 1);
	return r == -ETIMEDOUT || r == -EINTR ? r : 0;
}

/*
 * Arm for every direction that has a parked G; a ready fd fires at once.
 * An edge-triggered fd is armed already, for writing from its first wait
 * to write on.  0, or the backend's error.
 */
static inline int arm(struct gmp_pollfd *pd, int fd, int mode)
{
	uint64_t token = (uint64_t)fd << 32 | pd->seq;
	int ar = 0;
	if (!pd->edge) {
		ar = gmp_netpoll_os_arm(fd, token, (pd->rg ? 1 : 0) | (pd->wg ? 2 : 0), !pd->in_set);
		pd->in_set |= ar == 0;
	} else if (mode == GMP_NETPOLL_WRITE && !pd->edge_out && (ar = gmp_netpoll_os_edge_out(fd, token)) == 0)
		pd->edge_out = true;
	return ar;
}

int gmp_netpoll_wait(int fd, int mode, int64_t deadline, uint32_t seen)
{
	struct gmp_pollfd *pd = rec(fd, false);
	struct gmp_g *g = gmp_getg();
	if (!pd || !g)
		return -EBADF;
	struct gmp_p *p = gmp_acquirep_user(g);
	gmp_lock(&pd->lock);
	if (!pd->managed)
		return wait_leave(pd, p, -EBADF);
	if (deadline > 0 && deadline <= gmp_nanotime())
		return wait_leave(pd, p, -ETIMEDOUT);
	if (edge_since(pd, mode, seen))
		return wait_leave(pd, p, 0);
	struct gmp_g **slot = mode == GMP_NETPOLL_READ ? &pd->rg : &pd->wg;
	if (*slot)
		return wait_turn(pd, p, deadline);
	*slot = g;
	g->npmode = (uint8_t)mode;
	atomic_store(&g->npfd, fd + 1); /* seq_cst: pairs with pthread_cancel's bits-then-npfd */
	bool canceled = gmp_cancel_pending(g);
	if (canceled || (atomic_load(&g->sigpending) & ~g->sigmask)) {
		/* pthread_cancel or a signal came before we were queued */
		*slot = NULL;
		atomic_store(&g->npfd, 0);
		wait_leave(pd, p, 0);
		if (!canceled)
			gmp_deliver_pending(g); /* the handlers run now, as after a park */
		return canceled ? -ECANCELED : -EINTR;
	}
	if (atomic_fetch_add(&nwaiters, 1) == 0) {
		/* An idle M sleeping on a far timer must switch to polling now. */
		struct gmp_m *sl = gmp_sched.sleeper;
		if (sl)
			gmp_mkick_sleeper(sl);
	}
	if (arm(pd, fd, mode) != 0) {
		*slot = NULL;
		g->npfd = 0;
		atomic_fetch_sub(&nwaiters, 1);
		return wait_leave(pd, p, 0); /* cannot poll it (closed under us?): let the call itself report */
	}
	struct waitarg wa = {pd, mode, g};
	struct gmp_timer timer = {0}, *t = &timer;
	if (deadline > 0) {
		t->when = deadline;
		t->fn = timeout_fn;
		t->arg = &wa;
		if (gmp_timer_add(p, t) != 0) {
			/* The timer heap could not grow: no timed park; yield, the caller retries. */
			*slot = NULL;
			g->npfd = 0;
			atomic_fetch_sub(&nwaiters, 1);
			wait_leave(pd, p, 0);
			gmp_yield(g);
			return 0;
		}
	}
	gmp_park(g, p, gmp_unlock_void, &pd->lock, WR_NETPOLL);
	g->npfd = 0;
	if (deadline > 0)
		gmp_timer_del_user(g, t);
	int res = mode == GMP_NETPOLL_READ ? pd->rres : pd->wres;
	atomic_fetch_add(&pd->turn, 1); /* others of this direction may park now (seq_cst: then nturn) */
	if (atomic_load(&pd->nturn))
		gmp_futex_wake(&pd->turn, INT_MAX, GMP_FUTEX_BITSET_ANY);
	/* the handlers of what came meanwhile, now that the wait is undone: one may siglongjmp out */
	if (GMP_UNLIKELY(atomic_load_explicit(&g->sigpending, memory_order_relaxed)))
		gmp_deliver_pending(g);
	return res; /* 0: woken by an edge, the caller retries its call */
}

struct pollctx {
	struct gmp_g *head, *tail;
	int n;
};

static void on_event(uint64_t token, int rw, void *arg)
{
	struct pollctx *c = arg;
	int fd = (int)(token >> 32);
	uint32_t seq = (uint32_t)token;
	struct gmp_pollfd *pd = rec(fd, false);
	if (!pd)
		return;
	gmp_lock(&pd->lock);
	if (pd->seq != seq || !pd->managed) {
		gmp_unlock(&pd->lock);
		return; /* an event for an fd number that was closed since */
	}
	struct gmp_g *gs[2] = {NULL, NULL};
	if (rw & 1)
		gs[0] = take(pd, GMP_NETPOLL_READ, 0);
	if (rw & 2)
		gs[1] = take(pd, GMP_NETPOLL_WRITE, 0);
	if (pd->edge) {
		if (rw & GMP_NETPOLL_STICKY)
			atomic_store_explicit(&pd->rsticky, true, memory_order_relaxed);
		if (rw & 1) /* after rsticky: a reader that sees the count sees the flag */
			atomic_fetch_add_explicit(&pd->redges, 1, memory_order_release);
		if (rw & 2)
			atomic_fetch_add_explicit(&pd->wedges, 1, memory_order_release);
		/* No G parked for a direction: keep the edge for the one about to park. */
		pd->rready |= (rw & 1) && !gs[0];
		pd->wready |= (rw & 2) && !gs[1];
	} else if (pd->rg || pd->wg) {
		/* One-shot: re-arm for a direction that still has a parked G. */
		gmp_netpoll_os_arm(fd, token, (pd->rg ? 1 : 0) | (pd->wg ? 2 : 0), false);
	} else if (pd->in_set) {
		gmp_netpoll_os_del(fd); /* nobody waits: off the fd's wait queue */
		pd->in_set = false;
	}
	gmp_unlock(&pd->lock);
	for (int i = 0; i < 2; i++) {
		struct gmp_g *g = gs[i];
		if (!g)
			continue;
		gmp_casgstatus(g, G_WAITING, G_RUNNABLE);
		gmp_glist_push(&c->head, &c->tail, g);
		c->n++;
	}
}

_Atomic uint64_t gmp_netpoll_npoll, gmp_netpoll_nready;

int gmp_netpoll_poll(int64_t timeout_ns, struct gmp_g **list)
{
	*list = NULL;
	if (atomic_load(&inited) <= 0)
		return 0;
	struct pollctx c = {0};
	gmp_netpoll_os_wait(timeout_ns, on_event, &c);
	atomic_fetch_add_explicit(&gmp_netpoll_npoll, 1, memory_order_relaxed);
	if (c.n)
		atomic_fetch_add_explicit(&gmp_netpoll_nready, (uint64_t)c.n, memory_order_relaxed);
	*list = c.head;
	return c.n;
}

/*
 * fork child (fork.c; only the forking thread exists).  The epoll set and
 * its eventfd are open files shared with the parent through the inherited
 * fds: waiting on them would take the parent's one-shot events (its parked
 * Gs would never wake) and report fds whose parked Gs do not exist here.
 * The child gets a poller of its own, with every managed fd registered
 * again and no parked Gs.  The records' locks may have been held by other
 * threads at the fork: they start free.  If a new poller cannot be made,
 * the fds become unmanaged (their blocking calls hand off).
 */
void gmp_netpoll_fork_child(void)
{
	gmp_lock_reset(&initlock);
	gmp_fd_force_fork_child();
	for (struct gmp_m *m = atomic_load(&gmp_sched.allm); m; m = m->alllink)
		atomic_store(&m->nbpd, NULL); /* the parent's Ms, mid-call at the fork: none here */
	atomic_store(&nwaiters, 0);
	if (atomic_load(&inited) <= 0)
		return;
	bool ok = gmp_netpoll_os_fork_child() == 0;
	if (!ok)
		atomic_store(&inited, -1);
	FOR_EACH_REC(pd) {
		gmp_lock_reset(&pd->lock);
		pd->rg = pd->wg = NULL;
		pd->rready = pd->wready = false;
		atomic_store(&pd->rdrained, 0);
		if (!pd->managed)
			continue;
		/* an edge-triggered fd starts ready: its edges before the fork went to the parent */
		pd->rready = pd->wready = pd->edge;
		int edge = pd->edge ? (pd->edge_out ? 3 : 1) : 0;
		pd->in_set = false; /* one-shot fds join the set when a G waits */
		pd->registered = ok && (!edge || gmp_netpoll_os_add(pd->fd, (uint64_t)pd->fd << 32 | pd->seq, edge) == 0);
		if (!pd->registered)
			pd->managed = false;
	}
}
