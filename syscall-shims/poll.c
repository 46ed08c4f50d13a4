/*
 * poll, ppoll, select, pselect, epoll_wait, epoll_pwait park the G.
 *
 * A call that would block is turned into a wait on one pollable fd that the
 * netpoller watches like any other: for epoll_wait the program's own epoll
 * fd; for poll and select a short-lived epoll instance holding the
 * program's fds (level-triggered, so a ready fd shows at once).  When it
 * reports readiness, or the timeout passes, the call is made again with a
 * zero timeout and its result is returned.  This costs a few system calls
 * per blocking call (one per fd to fill the instance) and no kernel thread.
 * ppoll/pselect/epoll_pwait with a signal mask keep the kernel's atomic mask
 * swap: they run with hand-off.  A signal handler that runs while the G is
 * parked ends the call with EINTR, as the kernel's (never restarted).
 */
#include "shim.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <string.h>
#include <sys/syscall.h>

/* A G about to wait with mask: its pending signals the mask lets in go to its kernel thread first. */
static void sync_signals(const sigset_t *mask)
{
	struct gmp_g *g = gmp_getg();
	if (g && mask) {
		uint64_t m;
		memcpy(&m, mask, sizeof m);
		gmp_signal_sync(g, ~m);
	}
}

/*
 * Park until fd is ready for mode or the deadline passes; 0, -ETIMEDOUT, or
 * other -errno.  seen: as gmp_netpoll_wait's.
 */
static int park_on(int fd, int mode, int64_t deadline, uint32_t seen)
{
	gmp_testcancel();
	int w = gmp_netpoll_wait(fd, mode, deadline, seen);
	if (w == -ECANCELED)
		gmp_testcancel();
	return w;
}

/*
 * Before parking: retry the zero-timeout call nr(a, b, c, 0) in place while
 * the M has nothing else to do (gmp_io_spin, core/spin.c).  Returns its first
 * non-zero result (events, or -errno), or 0 when the spin ends without one.
 */
static long spin_retry(long nr, long a, long b, long c)
{
	struct gmp_g *g = gmp_getg();
	int64_t since = 0;
	while (gmp_io_spin(g, &since)) {
		long r = gmp_sys4(nr, a, b, c, 0);
		if (r != 0) {
			if (r > 0)
				gmp_io_spin_won(g);
			return r;
		}
	}
	return 0;
}

/*
 * One fd the poller manages, waited on for one direction (a server that
 * polls its connection before each read): park on the fd's own record, as
 * a blocking read does, instead of an epoll instance of the call's own
 * (which cost five system calls more a wait: create, add, register, arm,
 * close).  The edge count read before each zero-timeout poll makes an edge
 * that comes between that poll and the park end the park at once.  A poll
 * for input right after a read found the fd empty (libmariadb's recv with
 * MSG_DONTWAIT, then poll; gmp_fd_read_drained) parks without asking the
 * kernel first: no edge came since, so the fd is not readable, and the
 * park ends with the edge that makes it so.  Sets *done and returns the
 * call's result (events, 0 on timeout, -errno), or leaves *done false when
 * the general path must do it.
 */
static long poll_one(struct pollfd *p, int64_t deadline, bool *done)
{
	struct gmp_pollfd *pd = gmp_fd_get(p->fd);
	bool rd = p->events & (POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND | POLLRDHUP);
	bool wr = p->events & (POLLOUT | POLLWRNORM | POLLWRBAND);
	*done = pd && rd != wr;
	if (!*done)
		return 0;
	int mode = rd ? GMP_NETPOLL_READ : GMP_NETPOLL_WRITE;
	for (bool first = true;; first = false) {
		uint32_t seen = gmp_netpoll_edges(pd, mode);
		long r = 0;
		if (!rd || !gmp_fd_read_drained(pd, seen)) {
			r = gmp_sys3(SYS_poll, p, 1, 0);
			if (r == 0 && first)
				r = spin_retry(SYS_poll, (long)p, 1, 0);
			if (r != 0)
				return r;
		}
		if (shim_wait_in_kernel())
			return shim_cancelpoint(SYS_poll, (long)p, 1, shim_ms_left(deadline), 0, 0, 0);
		int w = park_on(p->fd, mode, deadline, seen);
		if (w < 0) {
			/* the deadline, a handler that ran (poll is never restarted), a close: as poll says now */
			r = gmp_sys3(SYS_poll, p, 1, 0);
			return r == 0 && w == -EINTR ? -EINTR : r;
		}
	}
}

static int64_t deadline_ms(int timeout)
{
	return timeout < 0 ? -1 : gmp_nanotime() + (int64_t)timeout * 1000000;
}

static int poll_parked(struct pollfd *fds, nfds_t n, int timeout)
{
	if (timeout != 0 && gmp_io_wait_direct(gmp_getg())) {
		/* nothing else to run here: block in the kernel as natively, as epoll_parked does */
		GMP_REAL(int, poll, (struct pollfd *, nfds_t, int));
		int rr;
		HANDOFF(rr = real_poll(fds, n, timeout));
		return rr;
	}
	int64_t deadline = timeout == 0 ? 0 : deadline_ms(timeout);
	long r;
	if (timeout != 0 && n == 1 && fds[0].fd >= 0) {
		bool done;
		r = poll_one(&fds[0], deadline, &done);
		if (done)
			return (int)shim_ret(r);
	}
	r = gmp_sys3(SYS_poll, fds, n, 0);
	if (r != 0 || timeout == 0)
		return (int)shim_ret(r);
	if (shim_wait_in_kernel())
		return (int)shim_handoff6(SYS_poll, (long)fds, (long)n, shim_ms_left(deadline), 0, 0, 0);
	if ((r = spin_retry(SYS_poll, (long)fds, (long)n, 0)) != 0)
		return (int)shim_ret(r);
	int ep = (int)gmp_sys1(SYS_epoll_create1, EPOLL_CLOEXEC);
	if (ep < 0)
		return (int)shim_handoff6(SYS_poll, (long)fds, (long)n, timeout, 0, 0, 0);
	for (nfds_t i = 0; i < n; i++) {
		if (fds[i].fd < 0)
			continue;
		struct epoll_event ev = {.events = 0, .data.u64 = i};
		if (fds[i].events & (POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND))
			ev.events |= EPOLLIN | EPOLLPRI;
		if (fds[i].events & (POLLOUT | POLLWRNORM | POLLWRBAND))
			ev.events |= EPOLLOUT;
		if (fds[i].events & POLLRDHUP)
			ev.events |= EPOLLRDHUP;
		if (gmp_sys4(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, fds[i].fd, &ev) < 0) {
			/* not pollable through epoll (a regular file): poll itself would say ready */
			gmp_sys1(SYS_close, ep);
			return (int)shim_handoff6(SYS_poll, (long)fds, (long)n, timeout, 0, 0, 0);
		}
	}
	if (gmp_fd_manage(ep, false, GMP_FD_ONESHOT) != 0 || !gmp_fd_get(ep)) {
		gmp_sys1(SYS_close, ep); /* no fd record (out of memory): poll in the kernel */
		return (int)shim_handoff6(SYS_poll, (long)fds, (long)n, timeout, 0, 0, 0);
	}
	for (;;) {
		int w = park_on(ep, GMP_NETPOLL_READ, deadline, 0);
		r = gmp_sys3(SYS_poll, fds, n, 0);
		if (r == 0 && w == -EINTR)
			r = -EINTR; /* a handler ran: poll is never restarted */
		if (r != 0 || w == -ETIMEDOUT || w < 0)
			break;
	}
	gmp_fd_close(ep);
	gmp_sys1(SYS_close, ep);
	return (int)shim_ret(r);
}

GMP_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!gmp_getg())
		return (int)shim_handoff6(SYS_poll, (long)fds, (long)n, timeout, 0, 0, 0);
	return poll_parked(fds, n, timeout);
}

GMP_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	sync_signals(mask);
	if (!gmp_getg() || mask) /* the atomic mask swap is the kernel's */
		return (int)shim_handoff6(SYS_ppoll, (long)fds, (long)n, (long)ts, (long)mask, 8, 0);
	if (ts && (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000 || ts->tv_sec < 0))
		return (int)shim_ret(-EINVAL);
	long ms = ts ? ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000 : -1;
	return poll_parked(fds, n, ms > 0x7fffffff ? 0x7fffffff : (int)ms);
}

/* The fortified forms, which glibc would run on its internal poll, past the shims. */
extern void __chk_fail(void) __attribute__((noreturn));
GMP_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		__chk_fail();
	return poll(fds, n, timeout);
}
GMP_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		__chk_fail();
	return ppoll(fds, n, ts, mask);
}

/* select through poll_parked; the fd sets are rebuilt from the poll result. */
static int select_parked(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int timeout)
{
	if (nfds < 0 || nfds > FD_SETSIZE)
		return (int)shim_ret(-EINVAL);
	struct pollfd pf[FD_SETSIZE];
	nfds_t n = 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;
		if (rd && FD_ISSET(fd, rd))
			ev |= POLLIN;
		if (wr && FD_ISSET(fd, wr))
			ev |= POLLOUT;
		if (ex && FD_ISSET(fd, ex))
			ev |= POLLPRI;
		if (ev)
			pf[n++] = (struct pollfd){fd, ev, 0};
	}
	int r = poll_parked(pf, n, timeout);
	if (r < 0)
		return r;
	for (nfds_t i = 0; i < n; i++)
		if (pf[i].revents & POLLNVAL)
			return (int)shim_ret(-EBADF);
	int count = 0;
	if (rd)
		FD_ZERO(rd);
	if (wr)
		FD_ZERO(wr);
	if (ex)
		FD_ZERO(ex);
	for (nfds_t i = 0; i < n; i++) {
		short re = pf[i].revents;
		if (rd && (pf[i].events & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) {
			FD_SET(pf[i].fd, rd);
			count++;
		}
		if (wr && (pf[i].events & POLLOUT) && (re & (POLLOUT | POLLERR))) {
			FD_SET(pf[i].fd, wr);
			count++;
		}
		if (ex && (pf[i].events & POLLPRI) && (re & POLLPRI)) {
			FD_SET(pf[i].fd, ex);
			count++;
		}
	}
	return count;
}

GMP_EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	if (!gmp_getg())
		return (int)shim_handoff6(SYS_select, nfds, (long)rd, (long)wr, (long)ex, (long)tv, 0);
	if (tv && (tv->tv_usec < 0 || tv->tv_usec >= 1000000 || tv->tv_sec < 0))
		return (int)shim_ret(-EINVAL);
	long ms = tv ? tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000 : -1;
	int64_t start = gmp_nanotime();
	int r = select_parked(nfds, rd, wr, ex, ms > 0x7fffffff ? 0x7fffffff : (int)ms);
	if (tv && (r >= 0 || errno == EINTR)) {
		/* Linux select reports the time not slept, also when a signal ended it */
		int64_t left = (int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000 - (gmp_nanotime() - start);
		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000000000;
		tv->tv_usec = (left % 1000000000) / 1000;
	}
	return r;
}

GMP_EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
		       const sigset_t *mask)
{
	sync_signals(mask);
	if (!gmp_getg() || mask) {
		struct {
			const sigset_t *ss;
			size_t len;
		} m = {mask, 8};
		struct timespec t, *tp = NULL;
		if (ts) {
			t = *ts; /* the kernel updates it; pselect's must not change */
			tp = &t;
		}
		return (int)shim_handoff6(SYS_pselect6, nfds, (long)rd, (long)wr, (long)ex, (long)tp, (long)&m);
	}
	if (ts && (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000 || ts->tv_sec < 0))
		return (int)shim_ret(-EINVAL);
	long ms = ts ? ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000 : -1;
	return select_parked(nfds, rd, wr, ex, ms > 0x7fffffff ? 0x7fffffff : (int)ms);
}

/* epoll_wait: the program's epoll fd is itself pollable; watch it. */
static int epoll_parked(int epfd, struct epoll_event *ev, int max, int timeout)
{
	if (timeout != 0 && gmp_io_wait_direct(gmp_getg())) {
		/*
		 * Nothing else to run here: block in the kernel as natively
		 * (core/spin.c), in glibc's cancellable call, which returns at
		 * once when something is ready: no zero-timeout try first (an
		 * event loop's every wait was two calls).
		 */
		GMP_REAL(int, epoll_wait, (int, struct epoll_event *, int, int));
		int rr;
		HANDOFF(rr = real_epoll_wait(epfd, ev, max, timeout));
		return rr;
	}
	long r = gmp_sys4(SYS_epoll_wait, epfd, ev, max, 0);
	if (r != 0 || timeout == 0)
		return (int)shim_ret(r);
	if (shim_wait_in_kernel())
		return (int)shim_handoff6(SYS_epoll_wait, epfd, (long)ev, max, timeout, 0, 0);
	if ((r = spin_retry(SYS_epoll_wait, epfd, (long)ev, max)) != 0)
		return (int)shim_ret(r);
	int64_t deadline = deadline_ms(timeout);
	if (!gmp_fd_get(epfd))
		gmp_fd_manage(epfd, false, GMP_FD_EDGE); /* ours to watch, edge-triggered (a new ready item is an edge); never read through stdio */
	if (!gmp_fd_get(epfd))
		return (int)shim_handoff6(SYS_epoll_wait, epfd, (long)ev, max, shim_ms_left(deadline), 0, 0);
	for (;;) {
		int w = park_on(epfd, GMP_NETPOLL_READ, deadline, 0);
		r = gmp_sys4(SYS_epoll_wait, epfd, ev, max, 0);
		if (r == 0 && w == -EINTR)
			r = -EINTR; /* a handler ran: epoll_wait is never restarted */
		if (r != 0 || w == -ETIMEDOUT || (w < 0 && w != -EAGAIN))
			return (int)shim_ret(r);
	}
}

GMP_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	if (!gmp_getg() || max <= 0)
		return (int)shim_handoff6(SYS_epoll_wait, epfd, (long)ev, max, timeout, 0, 0);
	return epoll_parked(epfd, ev, max, timeout);
}

GMP_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	sync_signals(mask);
	if (!gmp_getg() || mask || max <= 0)
		return (int)shim_handoff6(SYS_epoll_pwait, epfd, (long)ev, max, timeout, (long)mask, 8);
	return epoll_parked(epfd, ev, max, timeout);
}
