/*
 * Calls that block in the kernel and cannot be parked: they run on this M
 * inside entersyscall/exitsyscall, so the P and its queue move to another
 * M while the call waits (DESIGN.md §8).  Each calls glibc's own function,
 * which keeps its cancellation-point behaviour and errno handling.
 */
#include "shim.h"

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/msg.h>
#include <sys/select.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

#define WRAP(ret, name, params, args)                  \
	GMP_EXPORT ret name params                     \
	{                                              \
		GMP_REAL(ret, name, params);           \
		ret ret_;                              \
		HANDOFF(ret_ = real_##name args);      \
		return ret_;                           \
	}

WRAP(pid_t, waitpid, (pid_t pid, int *st, int opt), (pid, st, opt))
WRAP(pid_t, wait, (int *st), (st))
WRAP(pid_t, wait3, (int *st, int opt, struct rusage *ru), (st, opt, ru))
WRAP(pid_t, wait4, (pid_t pid, int *st, int opt, struct rusage *ru), (pid, st, opt, ru))
WRAP(int, waitid, (idtype_t t, id_t id, siginfo_t *si, int opt), (t, id, si, opt))
WRAP(int, fsync, (int fd), (fd))
WRAP(int, fdatasync, (int fd), (fd))
WRAP(int, flock, (int fd, int op), (fd, op))
/* As WRAP, after moving the G's pending signals that the call may take to its kernel thread. */
#define WRAP_SIG(ret, name, params, args, takes)                               \
	GMP_EXPORT ret name params                                             \
	{                                                                      \
		GMP_REAL(ret, name, params);                                   \
		struct gmp_g *g = gmp_getg();                                  \
		if (g) {                                                       \
			uint64_t w_;                                           \
			memcpy(&w_, set, sizeof w_);                           \
			gmp_signal_sync(g, takes);                             \
		}                                                              \
		ret ret_;                                                      \
		HANDOFF(ret_ = real_##name args);                              \
		return ret_;                                                   \
	}

WRAP_SIG(int, sigwait, (const sigset_t *set, int *sig), (set, sig), w_)
WRAP_SIG(int, sigwaitinfo, (const sigset_t *set, siginfo_t *si), (set, si), w_)
WRAP_SIG(int, sigtimedwait, (const sigset_t *set, siginfo_t *si, const struct timespec *to), (set, si, to), w_)
WRAP_SIG(int, sigsuspend, (const sigset_t *set), (set), ~w_)
WRAP(int, pause, (void), ())
WRAP(ssize_t, msgrcv, (int id, void *p, size_t n, long t, int fl), (id, p, n, t, fl))
WRAP(int, msgsnd, (int id, const void *p, size_t n, int fl), (id, p, n, fl))
WRAP(int, semop, (int id, struct sembuf *ops, size_t n), (id, ops, n))
WRAP(int, getaddrinfo, (const char *n, const char *s, const struct addrinfo *h, struct addrinfo **r),
     (n, s, h, r))
WRAP(int, system, (const char *cmd), (cmd))
