/*
 * Calls that take a pipe past the shims.  A pipe the program made is
 * O_NONBLOCK underneath while only gmp's read/write shims use it (forced
 * pipes, core/netpoll.h).  Each call here lets it reach code that
 * would see the flag: another program (exec, spawn, fork, a descriptor
 * passed in SCM_RIGHTS), glibc's own reads and writes (stdio through
 * fdopen, dprintf, backtrace_symbols_fd, aio: handoff.c), or a kernel call that
 * honours O_NONBLOCK itself (splice and relatives, preadv2/pwritev2,
 * io_uring).  So it gives the pipe back its blocking mode first
 * (gmp_fd_unforce), then does what glibc does.  A pipe made later is
 * forced again.
 */
/* The 32-bit-offset names are defined here; meson's _FILE_OFFSET_BITS would rename them. */
#undef _FILE_OFFSET_BITS
#include "shim.h"

#include <sys/ioctl.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- another program: exec, fork without handlers (spawns and fork itself: handoff.c, core/fork.c) ---- */

/*
 * The exec functions may run in a vfork child, on its parent's memory and
 * TLS, where a first dlsym could wait on a lock of the suspended parent:
 * glibc's path-searching ones and fexecve come from gmp_libc, looked up at
 * start-up (before it, from another library's constructor, they are looked
 * up at the call); the others are the system call itself.
 */
extern char **environ;
#define LIBC(name) (gmp_libc.name ? gmp_libc.name : (__typeof__(gmp_libc.name))gmp_real(#name))

GMP_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	gmp_fd_unforce_all();
	return (int)shim_ret(gmp_sys3(SYS_execve, path, argv, envp));
}

GMP_EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

GMP_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	gmp_fd_unforce_all();
	return LIBC(execvpe)(file, argv, envp);
}

GMP_EXPORT int execvp(const char *file, char *const argv[])
{
	gmp_fd_unforce_all();
	return LIBC(execvp)(file, argv);
}

GMP_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	gmp_fd_unforce_all();
	return (int)shim_ret(gmp_syscall6(SYS_execveat, dirfd, (long)path, (long)argv, (long)envp, flags, 0));
}

GMP_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	gmp_fd_unforce_all();
	return LIBC(fexecve)(fd, argv, envp);
}

/*
 * execl, execle, execlp: the list as an array, as glibc builds it, then
 * the array form above.  envp: execle's environment after the NULL.
 */
static int exec_list(int kind, const char *path, const char *arg0, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	size_t n = 1;
	while (va_arg(cp, char *))
		n++;
	va_end(cp);
	char *argv[n + 1];
	argv[0] = (char *)arg0;
	for (size_t i = 1; i <= n; i++)
		argv[i] = va_arg(ap, char *); /* the last is the NULL */
	if (kind == 'e')
		return execve(path, argv, va_arg(ap, char *const *));
	if (kind == 'p')
		return execvp(path, argv);
	return execve(path, argv, environ);
}

#define EXEC_LIST(name, kind)                                     \
	GMP_EXPORT int name(const char *path, const char *arg, ...) \
	{                                                           \
		va_list ap;                                         \
		va_start(ap, arg);                                  \
		int r = exec_list(kind, path, arg, ap);             \
		va_end(ap);                                         \
		return r;                                           \
	}
EXEC_LIST(execl, 'l')
EXEC_LIST(execle, 'e')
EXEC_LIST(execlp, 'p')

/* _Fork runs no fork handlers (core/fork.c gives the pipes back for fork). */
GMP_EXPORT pid_t _Fork(void)
{
	GMP_REAL(pid_t, _Fork, (void));
	gmp_fd_unforce_all();
	return real__Fork();
}

/* Descriptors passed in SCM_RIGHTS: the receiver shares their pipes (io.c's sendmsg calls this). */
void gmp_shim_unforce_passed(const struct msghdr *mh)
{
	if (!mh || !mh->msg_control)
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)mh); c; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const int *fds = (const int *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++)
			gmp_fd_unforce(fds[i]);
	}
}

/* ---- glibc's own reads and writes ---- */

GMP_EXPORT FILE *fdopen(int fd, const char *mode)
{
	GMP_REAL(FILE *, fdopen, (int, const char *));
	gmp_fd_unforce(fd);
	return real_fdopen(fd, mode);
}

GMP_EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
	GMP_REAL(int, vdprintf, (int, const char *, va_list));
	gmp_fd_unforce(fd);
	return real_vdprintf(fd, fmt, ap);
}

GMP_EXPORT int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vdprintf(fd, fmt, ap);
	va_end(ap);
	return r;
}

GMP_EXPORT void backtrace_symbols_fd(void *const *buf, int n, int fd)
{
	GMP_REAL(void, backtrace_symbols_fd, (void *const *, int, int));
	gmp_fd_unforce(fd);
	real_backtrace_symbols_fd(buf, n, fd);
}

/* ---- kernel calls that honour O_NONBLOCK themselves (with hand-off: they may block) ---- */

#define UNFORCE_CALL(ret, name, params, args, ...)             \
	GMP_EXPORT ret name params                             \
	{                                                      \
		GMP_REAL(ret, name, params);                   \
		int fds_[] = {__VA_ARGS__};                    \
		for (size_t i = 0; i < sizeof fds_ / sizeof *fds_; i++) \
			gmp_fd_unforce(fds_[i]);               \
		ret r;                                         \
		HANDOFF(r = real_##name args);                 \
		return r;                                      \
	}

UNFORCE_CALL(ssize_t, splice, (int in, loff_t *ino, int out, loff_t *outo, size_t n, unsigned fl),
	     (in, ino, out, outo, n, fl), in, out)
UNFORCE_CALL(ssize_t, tee, (int in, int out, size_t n, unsigned fl), (in, out, n, fl), in, out)
UNFORCE_CALL(ssize_t, vmsplice, (int fd, const struct iovec *v, size_t n, unsigned fl), (fd, v, n, fl), fd)
UNFORCE_CALL(ssize_t, sendfile, (int out, int in, off_t *off, size_t n), (out, in, off, n), out, in)
UNFORCE_CALL(ssize_t, sendfile64, (int out, int in, off64_t *off, size_t n), (out, in, off, n), out, in)
UNFORCE_CALL(ssize_t, preadv2, (int fd, const struct iovec *v, int n, off_t off, int fl), (fd, v, n, off, fl), fd)
UNFORCE_CALL(ssize_t, pwritev2, (int fd, const struct iovec *v, int n, off_t off, int fl), (fd, v, n, off, fl), fd)
UNFORCE_CALL(ssize_t, preadv64v2, (int fd, const struct iovec *v, int n, off64_t off, int fl), (fd, v, n, off, fl), fd)
UNFORCE_CALL(ssize_t, pwritev64v2, (int fd, const struct iovec *v, int n, off64_t off, int fl), (fd, v, n, off, fl), fd)

/*
 * syscall(2) with a number that reaches a forced pipe past the shims:
 * read, write, fcntl, ioctl and dup* of an fd gmp manages go to the shims
 * (on any other fd they stay the raw call they were); the others give
 * pipes back (io_uring and process creation all of them).  Returns
 * whether it made the call.
 */
bool gmp_shim_syscall_escape(long n, long a, long b, long c, long d, long e, long f, long *ret)
{
	switch (n) {
	case SYS_read:
	case SYS_write:
	case SYS_readv:
	case SYS_writev:
	case SYS_fcntl:
	case SYS_ioctl:
	case SYS_dup:
	case SYS_dup2:
	case SYS_dup3:
		if (!gmp_fd_get((int)a))
			return false;
		break;
	}
	switch (n) {
	case SYS_read:
		*ret = read((int)a, (void *)b, (size_t)c);
		return true;
	case SYS_write:
		*ret = write((int)a, (const void *)b, (size_t)c);
		return true;
	case SYS_readv:
		*ret = readv((int)a, (const struct iovec *)b, (int)c);
		return true;
	case SYS_writev:
		*ret = writev((int)a, (const struct iovec *)b, (int)c);
		return true;
	case SYS_fcntl:
		*ret = fcntl((int)a, (int)b, c); /* the program's view of O_NONBLOCK */
		return true;
	case SYS_ioctl:
		*ret = ioctl((int)a, (unsigned long)b, c);
		return true;
	case SYS_splice:
	case SYS_tee:
		gmp_fd_unforce((int)c);
		/* fall through */
	case SYS_vmsplice:
	case SYS_preadv2:
	case SYS_pwritev2:
		gmp_fd_unforce((int)a);
		return false;
	case SYS_sendfile:
		gmp_fd_unforce((int)a);
		gmp_fd_unforce((int)b);
		return false;
	case SYS_dup:
		*ret = dup((int)a);
		return true;
	case SYS_dup2:
		*ret = dup2((int)a, (int)b);
		return true;
	case SYS_dup3:
		*ret = dup3((int)a, (int)b, (int)c);
		return true;
	case SYS_io_uring_setup:
		gmp_fd_pipes_plain = true; /* its requests honour O_NONBLOCK: no more forced pipes */
		gmp_fd_unforce_all();
		return false;
	case SYS_execve:
	case SYS_execveat:
	case SYS_fork:
	case SYS_vfork:
	case SYS_clone:
	case SYS_clone3:
		gmp_fd_unforce_all();
		return false;
	}
	(void)d, (void)e, (void)f;
	return false;
}
