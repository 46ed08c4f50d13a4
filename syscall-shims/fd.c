/*
 * File descriptors: creation of pollable fds (which gmp then manages),
 * close/dup, the blocking-mode view (fcntl, ioctl FIONBIO), socket
 * timeouts, listen and open.  See core/netpoll.h for what "managed" means;
 * dup'ed fds share the file description, so they are managed with the
 * same view.
 */
/* The 32-bit-offset names are defined here; meson's _FILE_OFFSET_BITS would rename them. */
#undef _FILE_OFFSET_BITS
#include "shim.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/signalfd.h>
#include <sys/inotify.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/*
 * Socket timeouts (SO_RCVTIMEO, SO_SNDTIMEO) as gmp's waits honour them
 * (io.c), in ns, 0 = none, cached per fd; the kernel's values are the
 * truth.  A socket from socket() or socketpair(), a pipe, an eventfd start
 * with none; one from accept() has its listener's (the kernel copies
 * them) and so is read from the kernel at its first wait, as is a socket
 * after a setsockopt of either (also the 64-bit _NEW names), or after such
 * a setsockopt through a dup of it: the file description is shared, so a
 * setsockopt on an fd that has dups makes every cache old (to_gen), as
 * fcntl's O_NONBLOCK does (gmp_fd_viewgen).  Read only when a call first
 * finds its fd not ready, so most calls never look.
 */
#define MAXTO 65536
static struct sockto {
	_Atomic int64_t rcv, snd;
	_Atomic uint32_t gen; /* to_gen when rcv/snd were set; 0: ask the kernel */
	_Atomic bool dup;     /* dup'ed, or made by a dup: shares its file description */
} sockto[MAXTO];
static _Atomic uint32_t to_gen = 1;

/* The kernel's value (0 for a file that is not a socket). */
static int64_t kernel_timeout(int fd, int name)
{
	struct timeval tv;
	socklen_t len = sizeof tv;
	if (gmp_sys6(SYS_getsockopt, fd, SOL_SOCKET, name, &tv, &len, 0) != 0)
		return 0;
	if (tv.tv_sec < 0 || tv.tv_sec >= INT64_MAX / 1000000000 - 1)
		return 0; /* centuries: a wait without end, as the kernel's all but is */
	return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

int64_t gmp_fd_timeout(int fd, int mode)
{
	int name = mode == GMP_NETPOLL_READ ? SO_RCVTIMEO : SO_SNDTIMEO;
	if (fd < 0)
		return 0;
	if (fd >= MAXTO)
		return kernel_timeout(fd, name);
	struct sockto *t = &sockto[fd];
	uint32_t gen = atomic_load(&to_gen);
	if (atomic_load(&t->gen) != gen) {
		atomic_store(&t->rcv, kernel_timeout(fd, SO_RCVTIMEO));
		atomic_store(&t->snd, kernel_timeout(fd, SO_SNDTIMEO));
		atomic_store(&t->gen, gen);
	}
	return atomic_load_explicit(mode == GMP_NETPOLL_READ ? &t->rcv : &t->snd, memory_order_relaxed);
}

/* What o's fd knows of its socket's timeouts, for n's (the same socket, or one the kernel copied them to). */
static void timeouts_copy(struct sockto *n, struct sockto *o)
{
	atomic_store(&n->rcv, atomic_load(&o->rcv));
	atomic_store(&n->snd, atomic_load(&o->snd));
	atomic_store(&n->gen, atomic_load(&o->gen));
}

/* fd was just made: no timeouts (known), or unknown (accept: its listener's). */
static void timeouts_new(long fd, bool known)
{
	if (fd < 0 || fd >= MAXTO)
		return;
	struct sockto *t = &sockto[fd];
	atomic_store(&t->rcv, 0);
	atomic_store(&t->snd, 0);
	atomic_store(&t->dup, false);
	atomic_store(&t->gen, known ? atomic_load(&to_gen) : 0);
}

/* kind: GMP_FD_EDGE a socket, registered edge-triggered; GMP_FD_PIPE; else GMP_FD_ONESHOT (core/netpoll.h) */
static int manage(long fd, bool nonblock, int kind)
{
	if (fd >= 0 && gmp_inited == 2) {
		gmp_fd_manage((int)fd, nonblock, kind);
		timeouts_new(fd, true);
	}
	return (int)fd;
}

/*
 * A socket: edge-triggered; stream says read/write may be recv/send, tcp
 * that a short read leaves it empty (io.c).
 */
static int manage_sock(long fd, bool nonblock, bool stream, bool tcp)
{
	manage(fd, nonblock, GMP_FD_EDGE);
	if (fd >= 0)
		gmp_fd_set_socket((int)fd, stream, tcp);
	return (int)fd;
}

int gmp_fd_adopt_accepted(int nfd, int flags, const struct gmp_pollfd *listener)
{
	manage_sock(nfd, flags & SOCK_NONBLOCK, listener && listener->stream, listener && listener->tcp);
	if (gmp_inited != 2 || nfd < 0 || nfd >= MAXTO)
		return nfd;
	/* the listener's, which the kernel copied: from its cache if that is current, else asked at the first wait */
	struct sockto *l = listener && listener->fd >= 0 && listener->fd < MAXTO ? &sockto[listener->fd] : NULL;
	timeouts_new(nfd, false);
	if (l && atomic_load(&l->gen) == atomic_load(&to_gen))
		timeouts_copy(&sockto[nfd], l);
	return nfd;
}

GMP_EXPORT int socket(int dom, int type, int proto)
{
	bool stream = (type & 0xf) == SOCK_STREAM;
	return manage_sock(shim_ret(gmp_sys3(SYS_socket, dom, type, proto)), type & SOCK_NONBLOCK, stream,
			   stream && (dom == AF_INET || dom == AF_INET6) && (proto == 0 || proto == IPPROTO_TCP));
}

GMP_EXPORT int socketpair(int dom, int type, int proto, int sv[2])
{
	long r = shim_ret(gmp_sys4(SYS_socketpair, dom, type, proto, sv));
	if (r == 0) {
		manage_sock(sv[0], type & SOCK_NONBLOCK, (type & 0xf) == SOCK_STREAM, false);
		manage_sock(sv[1], type & SOCK_NONBLOCK, (type & 0xf) == SOCK_STREAM, false);
	}
	return (int)r;
}

/*
 * A pipe: both ends O_NONBLOCK underneath while only the shims reach them
 * (core/netpoll.h, forced pipes), unless one is stdin, stdout or stderr,
 * which glibc's stdio reads and writes itself.
 */
GMP_EXPORT int pipe2(int fds[2], int flags)
{
	SHIM_VFORK_RAW(SYS_pipe2, fds, flags, 0, 0);
	long r = shim_ret(gmp_sys2(SYS_pipe2, fds, flags));
	if (r == 0) {
		manage(fds[0], flags & O_NONBLOCK, GMP_FD_PIPE);
		manage(fds[1], flags & O_NONBLOCK, GMP_FD_PIPE);
		if (!(flags & O_NONBLOCK) && fds[0] > 2 && fds[1] > 2) {
			gmp_fd_force_pipe(fds[0], flags);
			gmp_fd_force_pipe(fds[1], flags);
		}
	}
	return (int)r;
}

GMP_EXPORT int pipe(int fds[2]) { return pipe2(fds, 0); }

GMP_EXPORT int eventfd(unsigned v, int flags)
{
	return manage(shim_ret(gmp_sys2(SYS_eventfd2, v, flags)), flags & EFD_NONBLOCK, GMP_FD_ONESHOT);
}

GMP_EXPORT int timerfd_create(int clk, int flags)
{
	return manage(shim_ret(gmp_sys2(SYS_timerfd_create, clk, flags)), flags & TFD_NONBLOCK, GMP_FD_ONESHOT);
}

GMP_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
	long r = shim_ret(gmp_sys4(SYS_signalfd4, fd, mask, 8, flags));
	if (r >= 0 && fd == -1)
		manage(r, flags & SFD_NONBLOCK, GMP_FD_ONESHOT);
	return (int)r;
}

GMP_EXPORT int inotify_init1(int flags) { return manage(shim_ret(gmp_sys1(SYS_inotify_init1, flags)), flags & IN_NONBLOCK, GMP_FD_ONESHOT); }
GMP_EXPORT int inotify_init(void) { return inotify_init1(0); }

GMP_EXPORT int close(int fd)
{
	SHIM_VFORK_RAW(SYS_close, fd, 0, 0, 0);
	gmp_fd_close(fd);
	return (int)shim_ret(gmp_sys1(SYS_close, fd));
}

static int dup_like(long r, int oldfd)
{
	if (r >= 0) {
		struct gmp_pollfd *pd = gmp_fd_get(oldfd);
		if (pd) {
			manage(r, gmp_fd_nonblock(oldfd, pd), pd->edge ? GMP_FD_EDGE : pd->pipe ? GMP_FD_PIPE : GMP_FD_ONESHOT);
			gmp_fd_copy_facts((int)r, pd); /* the same file description */
			if (oldfd < MAXTO && r < MAXTO) {
				struct sockto *o = &sockto[oldfd], *n = &sockto[r];
				atomic_store(&o->dup, true);
				atomic_store(&n->dup, true);
				timeouts_copy(n, o);
			}
			if (r <= 2) /* stdin, stdout, stderr: stdio's, past the shims */
				gmp_fd_unforce((int)r);
		}
	}
	return (int)r;
}

GMP_EXPORT int dup(int fd)
{
	SHIM_VFORK_RAW(SYS_dup, fd, 0, 0, 0);
	return dup_like(shim_ret(gmp_sys1(SYS_dup, fd)), fd);
}

GMP_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	SHIM_VFORK_RAW(SYS_dup3, oldfd, newfd, flags, 0);
	if (oldfd != newfd)
		gmp_fd_close(newfd); /* Gs parked on the fd being replaced get EBADF */
	return dup_like(shim_ret(gmp_sys3(SYS_dup3, oldfd, newfd, flags)), oldfd);
}

GMP_EXPORT int dup2(int oldfd, int newfd)
{
	if (oldfd == newfd) /* dup2 only checks validity then */
		return (int)shim_ret(gmp_sys2(SYS_fcntl, oldfd, F_GETFD)) < 0 ? -1 : newfd;
	return dup3(oldfd, newfd, 0);
}

GMP_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	SHIM_VFORK_RAW(SYS_fcntl, fd, cmd, arg, 0);
	struct gmp_pollfd *pd = gmp_fd_get(fd);
	switch (cmd) {
	case F_GETFL: {
		long r = shim_ret(gmp_sys2(SYS_fcntl, fd, F_GETFL));
		if (r >= 0 && pd && pd->forced_nonblock)
			r = (r & ~O_NONBLOCK) | (pd->user_nonblock ? O_NONBLOCK : 0);
		return (int)r;
	}
	case F_SETFL:
		if (pd)
			return (int)shim_ret(gmp_fd_set_view(fd, pd, false, arg));
		break;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return dup_like(shim_ret(gmp_sys3(SYS_fcntl, fd, cmd, arg)), fd);
	case F_SETLKW:
	case F_OFD_SETLKW:
		return (int)shim_handoff6(SYS_fcntl, fd, cmd, arg, 0, 0, 0); /* waits for a file lock */
	}
	return (int)shim_ret(gmp_sys3(SYS_fcntl, fd, cmd, arg));
}

GMP_EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

GMP_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	long arg = va_arg(ap, long);
	va_end(ap);
	SHIM_VFORK_RAW(SYS_ioctl, fd, req, arg, 0);
	struct gmp_pollfd *pd;
	if (req == FIONBIO && (pd = gmp_fd_get(fd)) != NULL)
		return (int)shim_ret(gmp_fd_set_view(fd, pd, true, arg));
	return (int)shim_ret(gmp_sys3(SYS_ioctl, fd, req, arg));
}

GMP_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	long r = shim_ret(gmp_sys6(SYS_setsockopt, fd, level, name, val, len, 0));
	struct gmp_pollfd *pd;
	if (r == 0 && level == IPPROTO_TCP && name == TCP_ULP && (pd = gmp_fd_get(fd)) != NULL)
		atomic_store(&pd->rsticky, true); /* kernel TLS: reads stop at records (drained reads, io.c) */
	if (r == 0 && level == SOL_SOCKET && name == SO_RCVLOWAT && len >= sizeof(int) && (pd = gmp_fd_get(fd)) != NULL)
		gmp_fd_set_rcvlowat(pd, *(const int *)val);
	if (r == 0 && level == SOL_SOCKET &&
	    (name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD || name == SO_RCVTIMEO_NEW || name == SO_SNDTIMEO_NEW) &&
	    fd >= 0 && fd < MAXTO) {
		/* read back from the kernel at the next wait: it knows what it made of the value */
		if (atomic_load(&sockto[fd].dup))
			atomic_fetch_add(&to_gen, 1); /* its dups' caches too (see above) */
		atomic_store(&sockto[fd].gen, 0);
	}
	return (int)r;
}

/* listen: O_NONBLOCK underneath for accept (core/netpoll.c).  Listening sockets are not read through stdio. */
GMP_EXPORT int listen(int fd, int backlog)
{
	long r = shim_ret(gmp_sys2(SYS_listen, fd, backlog));
	struct gmp_pollfd *pd = gmp_fd_get(fd);
	if (r == 0 && pd && !pd->forced_nonblock)
		gmp_fd_force_listener(fd, pd);
	return (int)r;
}

/*
 * open: may block (a FIFO waits for its other end), so it is a hand-off.
 * A FIFO the program opened is then managed like a pipe.
 */
static int open_common(int dirfd, const char *path, int flags, mode_t mode)
{
	SHIM_VFORK_RAW(SYS_openat, dirfd, path, flags, mode);
	long r = shim_handoff6(SYS_openat, dirfd, (long)path, flags, mode, 0, 0);
	if (r >= 0 && !(flags & O_PATH)) {
		struct stat st;
		if (gmp_sys2(SYS_fstat, r, &st) == 0 && S_ISFIFO(st.st_mode))
			manage(r, flags & O_NONBLOCK, GMP_FD_ONESHOT);
	}
	return (int)r;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

GMP_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = mode_arg(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags, m);
}

GMP_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = mode_arg(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags, m);
}

GMP_EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));
GMP_EXPORT int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));
