/*
 * Calls that block in the kernel and cannot be parked: they run on this M
 * inside entersyscall/exitsyscall, so the P and its queue move to another
 * M while the call waits (docs/design.md §8).  Each calls glibc's own function,
 * which keeps its cancellation-point behaviour and errno handling.
 */
/* The 32-bit-offset names are defined here too (aio); meson's _FILE_OFFSET_BITS would rename them. */
#undef _FILE_OFFSET_BITS
#include "shim.h"

#include <aio.h>
#include <mqueue.h>
#include <netdb.h>
#include <time.h>
#include <spawn.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <sys/msg.h>
#include <sys/select.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* glibc's name, called inside BY (HANDOFF, GMP_FSTRAP_HELD) */
#define WRAP_BY(BY, ret, name, params, args)           \
	GMP_EXPORT ret name params                     \
	{                                              \
		GMP_REAL(ret, name, params);           \
		ret ret_;                              \
		BY(ret_ = real_##name args);           \
		return ret_;                           \
	}
#define WRAP(ret, name, params, args) WRAP_BY(HANDOFF, ret, name, params, args)

WRAP(pid_t, waitpid, (pid_t pid, int *st, int opt), (pid, st, opt))
WRAP(pid_t, wait, (int *st), (st))
WRAP(pid_t, wait3, (int *st, int opt, struct rusage *ru), (st, opt, ru))
WRAP(pid_t, wait4, (pid_t pid, int *st, int opt, struct rusage *ru), (pid, st, opt, ru))
WRAP(int, waitid, (idtype_t t, id_t id, siginfo_t *si, int opt), (t, id, si, opt))
WRAP(int, fsync, (int fd), (fd))
WRAP(int, fdatasync, (int fd), (fd))
WRAP(int, flock, (int fd, int op), (fd, op))

/* sigsuspend: the G's pending signals its mask lets in go to its kernel thread first, where the call takes them. */
GMP_EXPORT int sigsuspend(const sigset_t *set)
{
	GMP_REAL(int, sigsuspend, (const sigset_t *));
	struct gmp_g *g = gmp_getg();
	if (g) {
		uint64_t w;
		memcpy(&w, set, sizeof w);
		gmp_signal_sync(g, ~w);
	}
	int r;
	HANDOFF(r = real_sigsuspend(set));
	return r;
}

/*
 * sigwait and its kin park the G (core/sigwait.c): the signal, or -1 with
 * errno as glibc's: EAGAIN when the timeout passed, EINTR when a handler
 * ran, EINVAL for a bad timeout.  Cancellation points.  In the kernel
 * with a hand-off where gmp cannot take signals for them (its thread for
 * that could not be created), or on a thread gmp did not create.
 */
static int timed_wait(const sigset_t *set, siginfo_t *si, const struct timespec *to)
{
	struct gmp_g *g = gmp_getg();
	uint64_t w;
	memcpy(&w, set, sizeof w);
	if (g) {
		if (to && (to->tv_sec < 0 || to->tv_nsec < 0 || to->tv_nsec >= 1000000000)) {
			errno = EINVAL;
			return -1;
		}
		gmp_testcancel();
		int64_t deadline = to ? gmp_deadline_from(to, CLOCK_MONOTONIC, false) : 0;
		int r;
		while ((r = gmp_sigwait(g, w, si, deadline)) == -ECANCELED)
			gmp_testcancel();
		if (r > 0) {
			if (si && si->si_code == SI_TKILL)
				si->si_code = SI_USER; /* as glibc's: a raise's tgkill reads as a kill */
			return r;
		}
		if (r != -ENOSYS) {
			errno = -r;
			return -1;
		}
		gmp_signal_sync(g, w);
	}
	GMP_REAL(int, sigtimedwait, (const sigset_t *, siginfo_t *, const struct timespec *));
	int r;
	HANDOFF(r = real_sigtimedwait(set, si, to));
	return r;
}

GMP_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *si, const struct timespec *to)
{
	return timed_wait(set, si, to);
}

GMP_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *si) { return timed_wait(set, si, NULL); }

GMP_EXPORT int sigwait(const sigset_t *set, int *sig)
{
	int r;
	do /* as glibc's: a handler that ran does not end it */
		r = timed_wait(set, NULL, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	*sig = r;
	return 0;
}
WRAP(int, pause, (void), ())
WRAP(ssize_t, msgrcv, (int id, void *p, size_t n, long t, int fl), (id, p, n, t, fl))
WRAP(int, msgsnd, (int id, const void *p, size_t n, int fl), (id, p, n, fl))
WRAP(int, semop, (int id, struct sembuf *ops, size_t n), (id, ops, n))
WRAP(int, getaddrinfo, (const char *n, const char *s, const struct addrinfo *h, struct addrinfo **r),
     (n, s, h, r))

/* glibc's result as -errno */
static long neg(long r)
{
	return r == -1 ? -(long)errno : r;
}

/* One system call number and glibc's function for it (a..f: the call's arguments). */
#define CP(nr, ret, name, params, args)            \
	case nr: {                                 \
		GMP_REAL(ret, name, params);       \
		r = neg((long)real_##name args);   \
		break;                             \
	}

long shim_cancelpoint(long nr, long a, long b, long c, long d, long e, long f)
{
	if (GMP_UNLIKELY(gmp_vforked())) /* a vfork child: its parent's G is in the call already */
		return gmp_syscall6(nr, a, b, c, d, e, f);
	struct gmp_g *g = gmp_getg();
	long r;
	if (g)
		gmp_entersyscall(g);
	switch (nr) {
		CP(SYS_read, ssize_t, read, (int, void *, size_t), ((int)a, (void *)b, (size_t)c))
		CP(SYS_write, ssize_t, write, (int, const void *, size_t), ((int)a, (const void *)b, (size_t)c))
		CP(SYS_readv, ssize_t, readv, (int, const struct iovec *, int), ((int)a, (const struct iovec *)b, (int)c))
		CP(SYS_writev, ssize_t, writev, (int, const struct iovec *, int), ((int)a, (const struct iovec *)b, (int)c))
		CP(SYS_pread64, ssize_t, pread64, (int, void *, size_t, off_t), ((int)a, (void *)b, (size_t)c, (off_t)d))
		CP(SYS_pwrite64, ssize_t, pwrite64, (int, const void *, size_t, off_t),
		   ((int)a, (const void *)b, (size_t)c, (off_t)d))
		CP(SYS_openat, int, openat, (int, const char *, int, ...), ((int)a, (const char *)b, (int)c, (mode_t)d))
		CP(SYS_accept4, int, accept4, (int, struct sockaddr *, socklen_t *, int),
		   ((int)a, (struct sockaddr *)b, (socklen_t *)c, (int)d))
		CP(SYS_connect, int, connect, (int, const struct sockaddr *, socklen_t),
		   ((int)a, (const struct sockaddr *)b, (socklen_t)c))
		CP(SYS_recvfrom, ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *),
		   ((int)a, (void *)b, (size_t)c, (int)d, (struct sockaddr *)e, (socklen_t *)f))
		CP(SYS_sendto, ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t),
		   ((int)a, (const void *)b, (size_t)c, (int)d, (const struct sockaddr *)e, (socklen_t)f))
		CP(SYS_recvmsg, ssize_t, recvmsg, (int, struct msghdr *, int), ((int)a, (struct msghdr *)b, (int)c))
		CP(SYS_sendmsg, ssize_t, sendmsg, (int, const struct msghdr *, int), ((int)a, (const struct msghdr *)b, (int)c))
		CP(SYS_recvmmsg, int, recvmmsg, (int, struct mmsghdr *, unsigned, int, struct timespec *),
		   ((int)a, (struct mmsghdr *)b, (unsigned)c, (int)d, (struct timespec *)e))
		CP(SYS_sendmmsg, int, sendmmsg, (int, struct mmsghdr *, unsigned, int),
		   ((int)a, (struct mmsghdr *)b, (unsigned)c, (int)d))
		CP(SYS_poll, int, poll, (struct pollfd *, nfds_t, int), ((struct pollfd *)a, (nfds_t)b, (int)c))
		/* glibc's ppoll leaves the caller's timeout as it was; the kernel's writes the time left into it */
		CP(SYS_ppoll, int, ppoll, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *),
		   ((struct pollfd *)a, (nfds_t)b, (const struct timespec *)c, (const sigset_t *)d))
		/* f: the kernel's {mask, size} pair */
		CP(SYS_pselect6, int, pselect, (int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *),
		   ((int)a, (fd_set *)b, (fd_set *)c, (fd_set *)d, (const struct timespec *)e,
		    f ? *(const sigset_t *const *)f : NULL))
		CP(SYS_select, int, select, (int, fd_set *, fd_set *, fd_set *, struct timeval *),
		   ((int)a, (fd_set *)b, (fd_set *)c, (fd_set *)d, (struct timeval *)e))
		CP(SYS_epoll_wait, int, epoll_wait, (int, struct epoll_event *, int, int),
		   ((int)a, (struct epoll_event *)b, (int)c, (int)d))
		CP(SYS_epoll_pwait, int, epoll_pwait, (int, struct epoll_event *, int, int, const sigset_t *),
		   ((int)a, (struct epoll_event *)b, (int)c, (int)d, (const sigset_t *)e))
		CP(SYS_fcntl, int, fcntl, (int, int, ...), ((int)a, (int)b, c)) /* F_SETLKW, F_OFD_SETLKW */
	default:
		r = gmp_syscall6(nr, a, b, c, d, e, f);
	}
	if (g)
		gmp_exitsyscall(g);
	return r;
}

/*
 * glibc's process spawners block every signal around their clone, in the
 * parent and in the child, which runs on the parent's memory with its
 * FS-base value: under FS-base traps (core/fstrap.c) that value must be
 * the TCB in use meanwhile.  gmp_fstrap_hold and the arming after happen
 * on one kernel thread: inside entersyscall/exitsyscall, or with no
 * scheduling point in between.
 */
GMP_EXPORT int system(const char *cmd)
{
	GMP_REAL(int, system, (const char *));
	gmp_fd_unforce_all(); /* the child inherits the program's pipes (core/netpoll.h, forced pipes) */
	int r;
	HANDOFF(GMP_FSTRAP_HELD(r = real_system(cmd)));
	return r;
}

#define WRAP_HELD(ret, name, params, args) WRAP_BY(GMP_FSTRAP_HELD, ret, name, params, args)
/* A spawner: its child inherits the program's pipes (core/netpoll.h, forced pipes; escape.c). */
#define UNFORCE_ALL(stmt)                  \
	do {                               \
		gmp_fd_unforce_all();      \
		GMP_FSTRAP_HELD(stmt);     \
	} while (0)
#define WRAP_SPAWN(ret, name, params, args) WRAP_BY(UNFORCE_ALL, ret, name, params, args)

WRAP_SPAWN(int, posix_spawn,
	  (pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *at,
	   char *const argv[], char *const envp[]),
	  (pid, path, fa, at, argv, envp))
WRAP_SPAWN(int, posix_spawnp,
	  (pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *at,
	   char *const argv[], char *const envp[]),
	  (pid, file, fa, at, argv, envp))
WRAP_SPAWN(FILE *, popen, (const char *cmd, const char *mode), (cmd, mode))
/* These start glibc's helper threads (glibc's own pthread_create, every signal blocked) on first use. */
WRAP_HELD(int, timer_create, (clockid_t c, struct sigevent *ev, timer_t *t), (c, ev, t))
WRAP_HELD(int, mq_notify, (mqd_t q, const struct sigevent *ev), (q, ev))
/* glibc's aio reads and writes an unseekable fd (a pipe) with its own read and write: escape.c */
#define UNFORCE_CB(stmt)                            \
	do {                                        \
		gmp_fd_unforce(cb->aio_fildes);     \
		GMP_FSTRAP_HELD(stmt);              \
	} while (0)
#define UNFORCE_LIST(stmt)                                 \
	do {                                               \
		for (int i_ = 0; i_ < n; i_++)             \
			if (list[i_])                      \
				gmp_fd_unforce(list[i_]->aio_fildes); \
		GMP_FSTRAP_HELD(stmt);                     \
	} while (0)
WRAP_BY(UNFORCE_CB, int, aio_read, (struct aiocb *cb), (cb))
WRAP_BY(UNFORCE_CB, int, aio_write, (struct aiocb *cb), (cb))
WRAP_HELD(int, aio_fsync, (int op, struct aiocb *cb), (op, cb))
WRAP_BY(UNFORCE_LIST, int, lio_listio, (int mode, struct aiocb *const list[], int n, struct sigevent *ev), (mode, list, n, ev))
WRAP_BY(UNFORCE_CB, int, aio_read64, (struct aiocb64 *cb), (cb))
WRAP_BY(UNFORCE_CB, int, aio_write64, (struct aiocb64 *cb), (cb))
WRAP_HELD(int, aio_fsync64, (int op, struct aiocb64 *cb), (op, cb))
WRAP_BY(UNFORCE_LIST, int, lio_listio64, (int mode, struct aiocb64 *const list[], int n, struct sigevent *ev), (mode, list, n, ev))
WRAP_HELD(int, getaddrinfo_a, (int mode, struct gaicb *list[], int n, struct sigevent *ev), (mode, list, n, ev))
