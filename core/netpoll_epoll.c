/*
 * Linux backend of the netpoller: one epoll set, plus an eventfd that
 * breaks a blocking wait.  Sockets are registered once, edge-triggered
 * (EPOLLOUT added the first time a write waits, so that the many sockets
 * that never fill up report no write edges); netpoll.c keeps what an edge
 * said until a G parks.  Other fds are in the set only while a G waits on
 * them (an entry on a pipe's wait queue costs every write to it a callback,
 * ~150 ns here, even disarmed), armed one-shot and level-triggered
 * for exactly the directions that have a parked G, each time a G parks:
 * arming reports an fd that is ready already, so no readiness can be lost
 * between the failed call and the park (a pipe's RWF_NOWAIT EAGAIN may
 * come from a contended lock, with no edge after it).  epoll_pwait2 gives the wait a
 * nanosecond timeout, so a 100 us sleep does not become 1 ms; on kernels
 * without it (ENOSYS) the timeout is rounded up to milliseconds.
 */
#include "netpoll.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

#define BREAK_TOKEN (~0ULL)

static int epfd = -1, evfd = -1;
static _Atomic int breaking; /* a break is pending in the eventfd */
static bool no_pwait2;

int gmp_netpoll_os_init(void)
{
	int e = GMP_FAULT(EPOLL_CREATE) ? -EMFILE : (int)gmp_sys1(SYS_epoll_create1, EPOLL_CLOEXEC);
	if (e < 0)
		return e;
	int v = GMP_FAULT(EVENTFD) ? -EMFILE : (int)gmp_sys2(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v < 0) {
		gmp_sys1(SYS_close, e);
		return v;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = BREAK_TOKEN};
	long r = gmp_sys4(SYS_epoll_ctl, e, EPOLL_CTL_ADD, v, &ev);
	if (r < 0) {
		gmp_sys1(SYS_close, e);
		gmp_sys1(SYS_close, v);
		return (int)r;
	}
	epfd = e;
	evfd = v;
	return 0;
}

int gmp_netpoll_os_fork_child(void)
{
	gmp_sys1(SYS_close, epfd);
	gmp_sys1(SYS_close, evfd);
	epfd = evfd = -1;
	atomic_store(&breaking, 0);
	return gmp_netpoll_os_init();
}

static uint32_t edge_events(int edge)
{
	if (!edge)
		return EPOLLONESHOT; /* disarmed until a G parks */
	return EPOLLET | EPOLLIN | EPOLLRDHUP | EPOLLPRI | (edge & 2 ? EPOLLOUT : 0);
}

int gmp_netpoll_os_add(int fd, uint64_t token, int edge)
{
	struct epoll_event ev = {.events = edge_events(edge), .data.u64 = token};
	long r = gmp_sys4(SYS_epoll_ctl, epfd, EPOLL_CTL_ADD, fd, &ev);
	if (r == -EEXIST)
		r = gmp_sys4(SYS_epoll_ctl, epfd, EPOLL_CTL_MOD, fd, &ev);
	return (int)r;
}

/* An edge-triggered fd: add EPOLLOUT (a modification reports readiness at once, as an edge). */
int gmp_netpoll_os_edge_out(int fd, uint64_t token)
{
	struct epoll_event ev = {.events = edge_events(3), .data.u64 = token};
	return (int)gmp_sys4(SYS_epoll_ctl, epfd, EPOLL_CTL_MOD, fd, &ev);
}

int gmp_netpoll_os_arm(int fd, uint64_t token, int rw, bool add)
{
	uint32_t e = EPOLLONESHOT;
	if (rw & 1)
		e |= EPOLLIN | EPOLLRDHUP;
	if (rw & 2)
		e |= EPOLLOUT;
	struct epoll_event ev = {.events = e, .data.u64 = token};
	long r = gmp_sys4(SYS_epoll_ctl, epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
	if (r == (add ? -EEXIST : -ENOENT)) /* a dup of the fd number's file was in the set, or not */
		r = gmp_sys4(SYS_epoll_ctl, epfd, add ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
	return (int)r;
}

int gmp_netpoll_os_del(int fd)
{
	struct epoll_event ev = {0};
	return (int)gmp_sys4(SYS_epoll_ctl, epfd, EPOLL_CTL_DEL, fd, &ev);
}

void gmp_netpoll_os_break(void)
{
	int z = 0;
	if (!atomic_compare_exchange_strong(&breaking, &z, 1))
		return;
	uint64_t one = 1;
	gmp_sys3(SYS_write, evfd, &one, sizeof one);
}

int gmp_netpoll_os_wait(int64_t timeout_ns, void (*ready)(uint64_t, int, void *), void *arg)
{
	struct epoll_event evs[128];
	long n;
	if (!no_pwait2) {
		struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
		n = gmp_sys6(SYS_epoll_pwait2, epfd, evs, 128, timeout_ns < 0 ? NULL : &ts, NULL, 8);
		if (n == -ENOSYS)
			no_pwait2 = true;
	}
	if (no_pwait2) {
		int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
		n = gmp_sys4(SYS_epoll_wait, epfd, evs, 128, ms);
	}
	if (n < 0)
		return (int)n;
	int got = 0;
	bool broke = false;
	for (long i = 0; i < n; i++) {
		if (evs[i].data.u64 == BREAK_TOKEN) {
			broke = true;
			/*
			 * Drain first, then let breaks in again.  The other order lost
			 * every later wake-up: a break written between the reset and
			 * the read was drained with this one, so its edge was harvested
			 * with the count at 0 and dropped, and `breaking` stayed 1 for
			 * good (an M blocked in the poller with a P handed to it slept
			 * on).  A break refused meanwhile needs no write: its caller
			 * changed what the woken poller looks at before it looked here.
			 */
			uint64_t v;
			gmp_sys3(SYS_read, evfd, &v, sizeof v);
			atomic_store(&breaking, 0);
			continue;
		}
		int rw = 0;
		uint32_t e = evs[i].events;
		if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
			rw |= 1;
		if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
			rw |= GMP_NETPOLL_STICKY;
		if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			rw |= 2;
		ready(evs[i].data.u64, rw, arg);
		got++;
	}
	/*
	 * A poll that does not block took a break meant for the M blocked in
	 * the poller (epoll wakes one waiter per event, and whoever harvests
	 * first gets it): send it again, or that M sleeps on with a P handed
	 * to it.  With no M blocked, the next blocking poll returns at once.
	 */
	if (broke && timeout_ns == 0)
		gmp_netpoll_os_break();
	return got;
}
