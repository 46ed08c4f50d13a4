/*
 * Reads, writes, sends, receives, accept and connect.  On an fd gmp
 * manages (made by the program: sockets, pipes, eventfd, ...) a call the
 * program made blocking parks the G until the fd is ready; on any other fd
 * it is a hand-off.  Short reads and writes are returned exactly as the
 * kernel gives them.  SO_RCVTIMEO/SO_SNDTIMEO are honoured from what
 * setsockopt recorded (fd.c).
 */
/* The 32-bit-offset names are defined here; meson's _FILE_OFFSET_BITS would rename them. */
#undef _FILE_OFFSET_BITS
#include "shim.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <poll.h>

int64_t gmp_fd_timeout(int fd, int mode) GMP_HIDDEN;

/*
 * Drained reads (core/netpoll.h, gmp_fd_read_drained).  A socket is
 * registered edge-triggered, so any data that reaches it raises a read
 * edge.  A read that returned EAGAIN, or on a TCP socket less than it asked
 * for, left its receive queue empty at some moment during the call; so
 * while the poller has taken no read edge for the fd since just before
 * that read, another read would fail, and the blocking read parks at once
 * instead of asking the kernel.  Only TCP's short reads count: a Unix
 * socket's read also stops short where the sender's credentials or passed
 * fds change.  A TCP read also stops short at the FIN, at an urgent mark
 * and, under kernel TLS, at a record boundary, with more to read and no
 * edge to come: an edge that said end of file, an error or urgent data, a
 * receive with MSG_OOB and setting an upper-layer protocol make the fd's
 * reads never skipped again (rsticky).
 */

/*
 * A blocking call's wait budget: the socket's timeout (SO_RCVTIMEO,
 * SO_SNDTIMEO; to < 0 until read) and the deadline it sets.  The timeout
 * counts from the call's first EAGAIN, as the kernel's counts the time the
 * call waits; it is read only then, since most calls never wait (and with
 * a thousand connections the table's line for fd is a cache miss each
 * time).  A call that gmp makes of several pieces (a blocking send of more
 * than the buffer takes, a receive that waits for MSG_WAITALL's or
 * SO_RCVLOWAT's bytes) shares one budget across them: the kernel's call
 * waits at most the timeout in all, then returns what it moved.
 */
struct iowait {
	int64_t to, deadline;
};
#define IOWAIT_INIT {-1, -1}

/* At a call's first wait: read fd's timeout for mode and set the deadline (nb: a forced pipe's call, which has none). */
static void iowait_begin(struct iowait *w, int fd, int mode, bool nb)
{
	if (w->to >= 0)
		return;
	w->to = nb ? 0 : gmp_fd_timeout(fd, mode);
	w->deadline = w->to > 0 ? gmp_nanotime() + w->to : -1;
}

/*
 * The blocking call of a G on a managed fd: try it non-blocking, park on
 * EAGAIN, retry.  nr/args is the non-blocking form of the call.  A G with
 * a receive/send timeout gets EAGAIN when it expires, as from the kernel.
 * drain_len: a read of that many bytes from a TCP socket (drained reads,
 * above), else 0.  nb: a plain call on a forced pipe (core/netpoll.h),
 * non-blocking by the pipe's flag: GMP_FD_UNFORCED once the pipe was
 * given back its blocking mode.
 */
static long shim_io_nb(int fd, int mode, size_t drain_len, bool nb, struct iowait *w, long nr, long a, long b, long c,
		       long d, long e, long f)
{
	gmp_testcancel();
	struct gmp_g *g = gmp_getg();
	struct gmp_pollfd *pd = g ? gmp_fd_get(fd) : NULL;
	struct iowait own = IOWAIT_INIT;
	if (!w)
		w = &own;
	int64_t spin = 0;
	bool kready = false; /* the kernel's poll said ready: no edge was counted for it (drained reads) */
	bool drain = drain_len && pd && pd->edge;
	for (;;) {
		long r;
		uint32_t seen = gmp_netpoll_edges(pd, mode); /* before the call: an edge during it is new */
		if (drain && !spin && !kready && gmp_fd_read_drained(pd, seen)) {
			r = -EAGAIN; /* nothing came since the last read emptied it */
		} else if (nb) {
			r = gmp_fd_nbcall(g->m, pd, nr, a, b, c);
			if (r == GMP_FD_UNFORCED)
				return r;
		} else {
			r = gmp_syscall6(nr, a, b, c, d, e, f);
			if (drain && (r == -EAGAIN || (pd->tcp && r > 0 && (size_t)r < drain_len)))
				gmp_fd_set_drained(pd, seen);
		}
		if (g)
			gmp_fstrap_refresh(g->m); /* (a pipe's lock may have slept) */
		if (r != -EAGAIN) {
			if (spin)
				gmp_io_spin_won(g);
			if (g && GMP_UNLIKELY(atomic_load_explicit(&g->m->preemptreq, memory_order_relaxed) != 0))
				gmp_preempt_at_call(g); /* sysmon asked: stop here, not at its signal (core/preempt.c) */
			return r;
		}
		iowait_begin(w, fd, mode, nb);
		int64_t to = w->to, deadline = w->deadline;
		if (deadline < 0 && gmp_io_spin(g, &spin))
			continue; /* the M has nothing else to do: retry now rather than park (core/spin.c) */
		if (g && shim_wait_in_kernel() && pd) {
			struct pollfd pfd = {fd, mode == GMP_NETPOLL_READ ? POLLIN : POLLOUT, 0};
			g->sig_norestart = false; /* a handler that interrupts the poll says (core/sigdispatch.c) */
			long k = shim_cancelpoint(SYS_poll, (long)&pfd, 1, shim_ms_left(deadline), 0, 0, 0);
			if (k == 0)
				return -EAGAIN; /* the socket's timeout */
			kready = k > 0;
			if (k > 0 || (k == -EINTR && shim_restart(to)))
				continue; /* ready (or an error the call itself reports) */
			if (k == -EINTR)
				return k;
			/* the kernel's poll failed (out of memory): park instead */
		}
		/*
		 * RWF_NOWAIT on a pipe also fails when the pipe's lock is merely
		 * contended; the park below still returns at once then, because
		 * arming is level-triggered and sees the fd ready.
		 */
		int pw = gmp_netpoll_wait(fd, mode, deadline, seen);
		if (pw == -ETIMEDOUT)
			return -EAGAIN;
		if (pw == -ECANCELED)
			gmp_testcancel();
		else if (pw == -EINTR && shim_restart(to))
			continue; /* every handler that ran has SA_RESTART */
		else if (pw < 0)
			return pw;
	}
}

static long shim_io(int fd, int mode, size_t drain_len, long nr, long a, long b, long c, long d, long e, long f)
{
	return shim_io_nb(fd, mode, drain_len, false, NULL, nr, a, b, c, d, e, f);
}

long gmp_shim_io(int fd, int mode, long nr, long a, long b, long c, long d, long e, long f)
{
	return shim_io(fd, mode, 0, nr, a, b, c, d, e, f);
}

#define RD GMP_NETPOLL_READ
#define WR GMP_NETPOLL_WRITE

/* How write_all_ex makes each call. */
enum wr_how {
	WR_SENDMSG, /* sendmsg with MSG_DONTWAIT */
	WR_NOWAIT,  /* pwritev2 with RWF_NOWAIT */
	WR_NBPIPE,  /* write/writev on a forced pipe (WR_NOWAIT once it is given back) */
	WR_FOREIGN, /* a kernel thread gmp did not create, on a forced pipe: glibc's writev, poll on EAGAIN */
};
static long write_all_ex(int fd, const struct iovec *iov, int cnt, const struct msghdr *mh, int flags, enum wr_how how);
static long send_all(int fd, const void *buf, size_t want, int flags, long addr, long addrlen);

/* The record of a managed fd the program uses in blocking mode, else NULL. */
static struct gmp_pollfd *blocking_managed(int fd)
{
	if (!gmp_getg())
		return NULL;
	struct gmp_pollfd *pd = gmp_fd_get(fd);
	return pd && !gmp_fd_nonblock(fd, pd) ? pd : NULL;
}

/*
 * The bytes a blocking read of a stream socket waits for (recv(2)): all of
 * them with MSG_WAITALL, else SO_RCVLOWAT's, at most len.  The kernel's own
 * read waits so; gmp's non-blocking one returns what is there.
 */
static size_t read_target(const struct gmp_pollfd *pd, size_t len, int flags)
{
	if (flags & MSG_WAITALL)
		return len;
	size_t lw = pd->stream && pd->rcvlowat > 1 ? (size_t)pd->rcvlowat : 1;
	return lw < len ? lw : len;
}

/* A blocking recv(from) of a stream socket that waits for target bytes: keep receiving until then, EOF or an error. */
static long recv_target(int fd, long buf, size_t want, size_t target, int fl, long a4, long a5, bool drain)
{
	size_t got = 0;
	struct iowait w = IOWAIT_INIT;
	while (got < target) {
		long r = shim_io_nb(fd, RD, drain ? want - got : 0, false, &w, SYS_recvfrom, fd, buf + (long)got,
				    (long)(want - got), fl | MSG_DONTWAIT, a4, a5);
		if (r <= 0)
			return got ? (long)got : r;
		got += (size_t)r;
	}
	return (long)got;
}

/*
 * A kernel thread gmp did not create, on a forced pipe: glibc's call (a
 * cancellation point), and on EAGAIN glibc's poll until the pipe is ready.
 */
static long foreign_pipe_call(long nr, int fd, const struct iovec *iov, int cnt)
{
	for (;;) {
		long r = shim_cancelpoint(nr, fd, (long)iov, cnt, 0, 0, 0);
		if (r != -EAGAIN)
			return r;
		struct pollfd pf = {fd, nr == SYS_readv ? POLLIN : POLLOUT, 0};
		shim_cancelpoint(SYS_poll, (long)&pf, 1, -1, 0, 0, 0);
	}
}

/* A pipe end gmp keeps O_NONBLOCK underneath (the program's view: gmp_fd_nonblock). */
static bool forced_pipe(const struct gmp_pollfd *pd)
{
	return pd->pipe && atomic_load_explicit(&pd->forced_nonblock, memory_order_relaxed);
}

/* Blocking read/write family on a managed fd: per-call RWF_NOWAIT, else a hand-off. */
static long rw_blocking(int fd, int mode, long plain_nr, const struct iovec *iov, int cnt)
{
	if (GMP_UNLIKELY(gmp_vforked()))
		return gmp_syscall6(plain_nr, fd, (long)iov, cnt, 0, 0, 0);
	struct gmp_pollfd *pd = blocking_managed(fd);
	if (!pd) {
		struct gmp_pollfd *fp = gmp_fd_get(fd);
		if (!fp || !gmp_getg()) {
			if (fp && forced_pipe(fp) && !gmp_fd_nonblock(fd, fp))
				return mode == RD ? foreign_pipe_call(SYS_readv, fd, iov, cnt)
						  : write_all_ex(fd, iov, cnt, NULL, 0, WR_FOREIGN);
			return shim_cancelpoint(plain_nr, fd, (long)iov, cnt, 0, 0, 0); /* may block: glibc's cancellable call */
		}
		if (cnt == 1) /* the program's non-blocking fd: read/write themselves, no iovec to copy in */
			return gmp_syscall6(mode == RD ? SYS_read : SYS_write, fd, (long)iov[0].iov_base,
					    (long)iov[0].iov_len, 0, 0, 0);
		return gmp_syscall6(plain_nr, fd, (long)iov, cnt, 0, 0, 0);
	}
	if (pd->stream && cnt == 1 && iov[0].iov_len > 0) {
		/* a stream socket: read and write are recv and send (recv(2)), which take MSG_DONTWAIT */
		if (mode == RD)
			return recv_target(fd, (long)iov[0].iov_base, iov[0].iov_len, read_target(pd, iov[0].iov_len, 0),
					   0, 0, 0, true);
		return send_all(fd, iov[0].iov_base, iov[0].iov_len, 0, 0, 0);
	}
	if (forced_pipe(pd)) {
		if (mode == WR)
			return write_all_ex(fd, iov, cnt, NULL, 0, WR_NBPIPE);
		long r = cnt == 1 ? shim_io_nb(fd, RD, 0, true, NULL, SYS_read, fd, (long)iov[0].iov_base, (long)iov[0].iov_len, 0, 0, 0)
				  : shim_io_nb(fd, RD, 0, true, NULL, SYS_readv, fd, (long)iov, cnt, 0, 0, 0);
		if (r != GMP_FD_UNFORCED)
			return r;
	}
	if (!pd->no_nowait) {
		long r = mode == GMP_NETPOLL_READ ? gmp_shim_io(fd, RD, SYS_preadv2, fd, (long)iov, cnt, -1, 0, RWF_NOWAIT)
						  : write_all_ex(fd, iov, cnt, NULL, 0, WR_NOWAIT);
		if (r != -EOPNOTSUPP)
			return r;
		gmp_fd_set_no_nowait(pd); /* a named FIFO: no per-call non-blocking I/O */
	}
	return shim_cancelpoint(plain_nr, fd, (long)iov, cnt, 0, 0, 0);
}

/* One non-blocking call of write_all_ex (a foreign thread's waits for room). */
static long write_piece(int fd, const struct iovec *chunk, int n, const struct msghdr *mh, int flags, enum wr_how *how,
			struct iowait *w)
{
	long r;
	switch (*how) {
	case WR_SENDMSG:
		return shim_io_nb(fd, WR, 0, false, w, SYS_sendmsg, fd, (long)mh, flags | MSG_DONTWAIT, 0, 0, 0);
	case WR_NBPIPE:
		r = n == 1 ? shim_io_nb(fd, WR, 0, true, w, SYS_write, fd, (long)chunk[0].iov_base, (long)chunk[0].iov_len, 0, 0, 0)
			   : shim_io_nb(fd, WR, 0, true, w, SYS_writev, fd, (long)chunk, n, 0, 0, 0);
		if (r != GMP_FD_UNFORCED)
			return r;
		*how = WR_NOWAIT; /* given back: per-call non-blocking from here on */
		/* fall through */
	case WR_NOWAIT:
		return shim_io_nb(fd, WR, 0, false, w, SYS_pwritev2, fd, (long)chunk, n, -1, 0, RWF_NOWAIT);
	case WR_FOREIGN:
		return foreign_pipe_call(SYS_writev, fd, chunk, n);
	}
	return -EINVAL;
}

/*
 * Writes on a blocking fd complete fully, as the kernel's blocking write
 * to a pipe or stream socket does: keep writing the rest, parking when
 * the fd is full.  With mh (WR_SENDMSG), the pieces go out with
 * sendmsg(mh's address and control data, flags).
 */
static long write_all_ex(int fd, const struct iovec *iov, int cnt, const struct msghdr *mh, int flags, enum wr_how how)
{
	size_t total = 0;
	int i = 0;
	size_t off = 0; /* bytes of iov[i] already written */
	struct iovec chunk[64];
	struct iowait w = IOWAIT_INIT;
	while (i < cnt) {
		int n = 0;
		for (int k = i; k < cnt && n < 64; k++, n++) {
			chunk[n] = iov[k];
			if (k == i) {
				chunk[n].iov_base = (char *)chunk[n].iov_base + off;
				chunk[n].iov_len -= off;
			}
		}
		struct msghdr m;
		if (mh) {
			m = *mh;
			m.msg_iov = chunk;
			m.msg_iovlen = (size_t)n;
			if (total) {
				m.msg_control = NULL; /* ancillary data goes with the first piece only */
				m.msg_controllen = 0;
			}
		}
		long r = write_piece(fd, chunk, n, mh ? &m : NULL, flags, &how, &w);
		if (r < 0)
			return total ? (long)total : r;
		total += (size_t)r;
		size_t left = (size_t)r;
		while (i < cnt && left >= iov[i].iov_len - off) {
			left -= iov[i].iov_len - off;
			off = 0;
			i++;
		}
		off += left;
	}
	return (long)total;
}

GMP_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	struct iovec v = {buf, n};
	return shim_ret(rw_blocking(fd, RD, SYS_readv, &v, 1));
}

GMP_EXPORT ssize_t readv(int fd, const struct iovec *v, int n) { return shim_ret(rw_blocking(fd, RD, SYS_readv, v, n)); }

GMP_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	struct iovec v = {(void *)buf, n};
	return shim_ret(rw_blocking(fd, WR, SYS_writev, &v, 1));
}

GMP_EXPORT ssize_t writev(int fd, const struct iovec *v, int n) { return shim_ret(rw_blocking(fd, WR, SYS_writev, v, n)); }

/*
 * A blocking send(to) on a managed socket: completes fully on a stream
 * socket, as the kernel's does (datagrams go out whole or not at all).
 * Returns bytes sent, or -errno if none was.
 */
static long send_all(int fd, const void *buf, size_t want, int flags, long addr, long addrlen)
{
	size_t sent = 0;
	struct iowait w = IOWAIT_INIT;
	do {
		long r = shim_io_nb(fd, WR, 0, false, &w, SYS_sendto, fd, (long)buf + (long)sent, (long)(want - sent),
				    flags | MSG_DONTWAIT, addr, addrlen);
		if (r < 0)
			return sent ? (long)sent : r;
		sent += (size_t)r;
	} while (sent < want);
	return (long)sent;
}

/* Socket calls take a per-call MSG_DONTWAIT. */
static long sock_io(int fd, int mode, long nr, long a1, long a2, int flags, long a4, long a5, int flagpos)
{
	if (GMP_UNLIKELY(mode == RD && (flags & MSG_OOB))) {
		struct gmp_pollfd *op = gmp_fd_get(fd);
		if (op) /* a read may now stop at the urgent mark, in whichever mode the fd is read later */
			atomic_store(&op->rsticky, true);
	}
	/* (as blocking_managed, with the record kept: the view is not needed for a call that does not wait) */
	struct gmp_pollfd *np = gmp_getg() ? gmp_fd_get(fd) : NULL;
	bool nowait = flags & (MSG_DONTWAIT | MSG_ERRQUEUE);
	struct gmp_pollfd *pd = np && !nowait && !gmp_fd_nonblock(fd, np) ? np : NULL;
	if (!pd) {
		/*
		 * A non-blocking fd, or a call that does not wait (libmariadb's
		 * recv before its poll; the error queue's reads never wait): the
		 * kernel's answer, EAGAIN included.
		 */
		long args[6] = {fd, a1, a2, flags, a4, a5};
		if (flagpos == 2) {
			args[2] = flags;
			args[3] = a4;
			args[4] = a5;
		}
		if (!np)
			return shim_handoff6(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
		gmp_testcancel(); /* a cancellation point even when it cannot wait, as glibc's */
		uint32_t seen = mode == RD && !(flags & (MSG_OOB | MSG_ERRQUEUE)) ? gmp_netpoll_edges(np, RD) : 0;
		long r = gmp_syscall6(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
		if (r == -EAGAIN)
			gmp_fd_set_drained(np, seen); /* (its poll that follows may park at once: poll.c) */
		return shim_ret(r);
	}
	int fl = flags | MSG_DONTWAIT;
	size_t dlen = 0; /* drained reads: the bytes a read asks for */
	if (mode == RD && !(flags & (MSG_PEEK | MSG_TRUNC | MSG_OOB))) {
		if (nr == SYS_recvfrom)
			dlen = (size_t)a2;
		else if (nr == SYS_recvmsg)
			for (size_t i = 0; i < ((const struct msghdr *)a1)->msg_iovlen; i++)
				dlen += ((const struct msghdr *)a1)->msg_iov[i].iov_len;
	}
	if (mode == WR && nr == SYS_sendmsg) {
		const struct msghdr *mh = (const struct msghdr *)a1;
		return shim_ret(write_all_ex(fd, mh->msg_iov, (int)mh->msg_iovlen, mh, flags, WR_SENDMSG));
	}
	if (mode == WR && nr == SYS_sendto)
		return shim_ret(send_all(fd, (const void *)a1, (size_t)a2, flags, a4, a5));
	if (flagpos == 2)
		return shim_ret(shim_io(fd, mode, dlen, nr, fd, a1, fl, a4, a5, 0));
	if (mode == RD && nr == SYS_recvfrom && !(flags & MSG_PEEK)) {
		size_t target = read_target(pd, (size_t)a2, flags);
		if (target > 1) /* MSG_WAITALL, SO_RCVLOWAT */
			return shim_ret(recv_target(fd, a1, (size_t)a2, target, flags, a4, a5, dlen != 0));
	}
	return shim_ret(shim_io(fd, mode, dlen, nr, fd, a1, a2, fl, a4, a5));
}

GMP_EXPORT ssize_t recv(int fd, void *buf, size_t n, int fl) { return sock_io(fd, RD, SYS_recvfrom, (long)buf, (long)n, fl, 0, 0, 3); }
GMP_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int fl, struct sockaddr *sa, socklen_t *sl)
{
	return sock_io(fd, RD, SYS_recvfrom, (long)buf, (long)n, fl, (long)sa, (long)sl, 3);
}
GMP_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int fl) { return sock_io(fd, RD, SYS_recvmsg, (long)m, fl, fl, 0, 0, 2); }
/*
 * A blocking recvmmsg as the kernel's (recvmmsg(2)): it waits until all n
 * messages came (after the first, MSG_WAITFORONE takes only what is
 * there); a timeout is looked at only after each message (so one message
 * a call then), and what is left of it is written back; a message with
 * urgent data ends it; an error after some messages returns those.
 */
static long recvmmsg_blocking(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *t)
{
	int64_t end = 0;
	if (t) {
		if (t->tv_sec < 0 || (unsigned long)t->tv_nsec >= 1000000000ul)
			return -EINVAL;
		end = gmp_nanotime() + (t->tv_sec > 1000000000L ? 1000000000L : t->tv_sec) * 1000000000L + t->tv_nsec;
	}
	int fl = (flags & ~MSG_WAITFORONE) | MSG_DONTWAIT;
	unsigned got = 0;
	while (got < n) {
		long want = t ? 1 : (long)(n - got);
		long r = got && (flags & MSG_WAITFORONE) ? gmp_syscall6(SYS_recvmmsg, fd, (long)(v + got), want, fl, 0, 0)
							 : shim_io(fd, RD, 0, SYS_recvmmsg, fd, (long)(v + got), want, fl, 0, 0);
		if (r <= 0)
			return got ? (long)got : r;
		got += (unsigned)r;
		if (t) {
			int64_t left = end - gmp_nanotime();
			t->tv_sec = left > 0 ? left / 1000000000L : 0;
			t->tv_nsec = left > 0 ? left % 1000000000L : 0;
			if (left <= 0)
				break;
		}
		if (v[got - 1].msg_hdr.msg_flags & MSG_OOB)
			break;
	}
	return (long)got;
}

GMP_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int fl, struct timespec *t)
{
	if (n == 0 || (fl & (MSG_DONTWAIT | MSG_ERRQUEUE)) || !blocking_managed(fd) || GMP_UNLIKELY(gmp_vforked()))
		return (int)sock_io(fd, RD, SYS_recvmmsg, (long)v, n, fl, (long)t, 0, 3);
	return (int)shim_ret(recvmmsg_blocking(fd, v, n > 1024 ? 1024 : n, fl, t)); /* (the kernel's UIO_MAXIOV) */
}
GMP_EXPORT ssize_t send(int fd, const void *buf, size_t n, int fl) { return sock_io(fd, WR, SYS_sendto, (long)buf, (long)n, fl, 0, 0, 3); }
GMP_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int fl, const struct sockaddr *sa, socklen_t sl)
{
	return sock_io(fd, WR, SYS_sendto, (long)buf, (long)n, fl, (long)sa, sl, 3);
}
GMP_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int fl)
{
	gmp_shim_unforce_passed(m);
	return sock_io(fd, WR, SYS_sendmsg, (long)m, fl, fl, 0, 0, 2);
}
GMP_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int fl)
{
	for (unsigned i = 0; i < n; i++)
		gmp_shim_unforce_passed(&v[i].msg_hdr);
	return (int)sock_io(fd, WR, SYS_sendmmsg, (long)v, n, fl, 0, 0, 3);
}

/*
 * The fortified forms (_FORTIFY_SOURCE, the default of Debian's builds)
 * that glibc would run on its internal read and recv, past the shims.
 */
extern void __chk_fail(void) __attribute__((noreturn));
GMP_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return read(fd, buf, n);
}
GMP_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int fl)
{
	if (n > buflen)
		__chk_fail();
	return recv(fd, buf, n, fl);
}
GMP_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int fl, struct sockaddr *sa, socklen_t *sl)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, buf, n, fl, sa, sl);
}

/* pread/pwrite address a file offset: regular files, so a hand-off. */
GMP_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off) { return shim_handoff6(SYS_pread64, fd, (long)buf, (long)n, off, 0, 0); }
GMP_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) { return shim_handoff6(SYS_pwrite64, fd, (long)buf, (long)n, off, 0, 0); }
GMP_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off) __attribute__((alias("pread")));
GMP_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite")));

int gmp_fd_adopt_accepted(int nfd, int flags, const struct gmp_pollfd *listener) GMP_HIDDEN;
static long connect_wait(int fd, const struct sockaddr *sa, socklen_t sl);

GMP_EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *sl, int flags)
{
	long r;
	struct gmp_pollfd *pd = gmp_getg() ? gmp_fd_get(fd) : NULL;
	if (pd && pd->forced_nonblock && !pd->user_nonblock)
		r = shim_ret(gmp_shim_io(fd, RD, SYS_accept4, fd, (long)sa, (long)sl, flags, 0, 0));
	else if (pd)
		r = shim_ret(gmp_sys4(SYS_accept4, fd, sa, sl, flags));
	else
		r = shim_handoff6(SYS_accept4, fd, (long)sa, (long)sl, flags, 0, 0);
	if (r >= 0)
		gmp_fd_adopt_accepted((int)r, flags, pd); /* a stream listener's connections are streams */
	return (int)r;
}

GMP_EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *sl) { return accept4(fd, sa, sl, 0); }

GMP_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t sl)
{
	struct gmp_pollfd *pd = blocking_managed(fd);
	if (!pd)
		return (int)(gmp_fd_get(fd) && gmp_getg() ? shim_ret(gmp_sys3(SYS_connect, fd, sa, sl))
							  : shim_handoff6(SYS_connect, fd, (long)sa, sl, 0, 0, 0));
	gmp_testcancel();
	/* connect has no per-call flag: non-blocking for the duration of the call only */
	long fl = gmp_sys2(SYS_fcntl, fd, F_GETFL);
	if (!pd->forced_nonblock)
		gmp_sys3(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK);
	long r = gmp_sys3(SYS_connect, fd, sa, sl);
	if (r != -EINPROGRESS) {
		if (!pd->forced_nonblock)
			gmp_sys3(SYS_fcntl, fd, F_SETFL, fl);
		return (int)shim_ret(r);
	}
	r = connect_wait(fd, sa, sl);
	if (!pd->forced_nonblock)
		gmp_sys3(SYS_fcntl, fd, F_SETFL, fl);
	return (int)shim_ret(r);
}

static long connect_wait(int fd, const struct sockaddr *sa, socklen_t sl)
{
	long r;
	/*
	 * A blocking connect: wait for writability, then ask the kernel again;
	 * a repeated connect says EALREADY while in progress, EISCONN once
	 * done, or the error.  (A writability edge may predate the connect.)
	 * SO_SNDTIMEO bounds the wait, as the kernel's: EINPROGRESS when it
	 * expires (the connection goes on), and a handler that interrupts it
	 * then ends it with EINTR even with SA_RESTART (signal(7)).
	 */
	struct iowait w = IOWAIT_INIT;
	iowait_begin(&w, fd, WR, false);
	for (;;) {
		int pw = gmp_netpoll_wait(fd, WR, w.deadline, 0);
		if (pw == -ECANCELED) {
			gmp_testcancel();
			continue;
		}
		if (pw == -ETIMEDOUT)
			return -EINPROGRESS;
		if (pw == -EINTR && shim_restart(w.to))
			continue;
		if (pw < 0)
			return pw;
		r = gmp_sys3(SYS_connect, fd, sa, sl);
		if (r == 0 || r == -EISCONN)
			return 0;
		if (r != -EALREADY && r != -EINPROGRESS)
			return r;
	}
}
