/*
 * Calls about the calling kernel thread, made by a G (docs/behaviour.md: "Kernel-facing
 * calls").  A G moves between kernel threads, so:
 *   - its CPU clock is its own: gmp counts the time it runs on an M
 *     (blocking kernel calls excluded) and answers CLOCK_THREAD_CPUTIME_ID
 *     and the clock of pthread_getcpuclockid from it (core/cpuclock.c);
 *   - a CPU affinity, setns and unshare change the kernel thread: the G is
 *     locked to its M for the rest of its life (as a goroutine after
 *     LockOSThread), so the change applies to this thread only, and stays
 *     (a setns that fails, or joins a namespace the thread is in already,
 *     changes nothing and locks nothing);
 *     an affinity set on another thread applies when that thread next
 *     passes through the scheduler (core/affinity.c);
 *   - its name (prctl PR_SET_NAME/PR_GET_NAME) is the G's, as
 *     pthread_setname_np's.
 * gettid() stays the kernel's: the kernel thread running the G now.
 */
#include "export.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

GMP_EXPORT int clock_gettime(clockid_t clk, struct timespec *ts)
{
	GMP_REAL(int, clock_gettime, (clockid_t, struct timespec *));
	if (GMP_LIKELY(clk >= 0 && clk != CLOCK_THREAD_CPUTIME_ID))
		return real_clock_gettime(clk, ts);
	int r = gmp_cpuclock_gettime(clk, ts);
	if (r > 0)
		return real_clock_gettime(clk, ts); /* not a G's clock */
	return (int)shim_ret(r);
}

GMP_EXPORT int clock_getres(clockid_t clk, struct timespec *res)
{
	GMP_REAL(int, clock_getres, (clockid_t, struct timespec *));
	if (GMP_LIKELY(clk >= 0 && clk != CLOCK_THREAD_CPUTIME_ID) || gmp_cpuclock_getres(clk, res) > 0)
		return real_clock_getres(clk, res);
	return 0;
}

GMP_EXPORT int pthread_getcpuclockid(pthread_t th, clockid_t *clk)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_getcpuclockid, (pthread_t, clockid_t *));
		int r;
		GMP_FSTRAP_HELD(r = real_pthread_getcpuclockid(th, clk));
		return r;
	}
	*clk = gmp_cpuclock_id(t);
	return 0;
}

/* ------------------------------------------------------------ affinity: core/affinity.c */

GMP_EXPORT int pthread_setaffinity_np(pthread_t th, size_t size, const cpu_set_t *set)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_setaffinity_np, (pthread_t, size_t, const cpu_set_t *));
		return real_pthread_setaffinity_np(th, size, set);
	}
	return -gmp_affinity_set(t, size, set);
}

GMP_EXPORT int pthread_getaffinity_np(pthread_t th, size_t size, cpu_set_t *set)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_getaffinity_np, (pthread_t, size_t, cpu_set_t *));
		return real_pthread_getaffinity_np(th, size, set);
	}
	return -gmp_affinity_get(t, size, set);
}

GMP_EXPORT int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set)
{
	struct gmp_g *g = gmp_getg();
	if (pid != 0 || !g) {
		GMP_REAL(int, sched_setaffinity, (pid_t, size_t, const cpu_set_t *));
		return real_sched_setaffinity(pid, size, set);
	}
	return (int)shim_ret(gmp_affinity_set(g, size, set));
}

GMP_EXPORT int sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set)
{
	struct gmp_g *g = gmp_getg();
	if (pid != 0 || !g) {
		GMP_REAL(int, sched_getaffinity, (pid_t, size_t, cpu_set_t *));
		return real_sched_getaffinity(pid, size, set);
	}
	return (int)shim_ret(gmp_affinity_get(g, size, set));
}

/* ------------------------------------------------------------ namespaces and names */

/*
 * Does setns(fd, nstype) put the thread into a namespace it is in already?
 * (stress-ng's pthread stressor joins its own in every thread.)  The
 * target's nsfs inode against /proc/thread-self/ns/NAME's; a mount
 * namespace is never the same (joining resets root and cwd), nor is one
 * whose type or inode cannot be read.
 */
static bool same_ns(int fd, int nstype)
{
	static const struct {
		int type;
		const char *path;
	} ns[] = {{CLONE_NEWNET, "/proc/thread-self/ns/net"},       {CLONE_NEWUTS, "/proc/thread-self/ns/uts"},
		  {CLONE_NEWIPC, "/proc/thread-self/ns/ipc"},       {CLONE_NEWCGROUP, "/proc/thread-self/ns/cgroup"},
		  {CLONE_NEWPID, "/proc/thread-self/ns/pid_for_children"},
		  {0x00000080 /* CLONE_NEWTIME */, "/proc/thread-self/ns/time_for_children"}};
	struct stat target, cur;
	if (gmp_sys2(SYS_fstat, fd, &target) != 0)
		return false;
	long type = nstype ? nstype : gmp_sys3(SYS_ioctl, fd, 0xb703 /* NS_GET_NSTYPE */, 0);
	for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
		if (type == ns[i].type)
			return gmp_sys2(SYS_stat, ns[i].path, &cur) == 0 && cur.st_dev == target.st_dev &&
			       cur.st_ino == target.st_ino;
	return false;
}

/*
 * The kernel thread changes only if the call succeeds and does something:
 * then the G stays on it for good (locked after the call: no scheduling
 * point in between, so the change is this G's alone).
 */
GMP_EXPORT int setns(int fd, int nstype)
{
	struct gmp_g *g = gmp_getg();
	bool same = g && !g->lockedm && same_ns(fd, nstype);
	long r = gmp_sys2(SYS_setns, fd, nstype);
	if (r == 0 && g && !same)
		gmp_lockm(g);
	return (int)shim_ret(r);
}

GMP_EXPORT int unshare(int flags)
{
	struct gmp_g *g = gmp_getg();
	long r = gmp_sys1(SYS_unshare, flags);
	if (r == 0 && g && flags)
		gmp_lockm(g);
	return (int)shim_ret(r);
}

GMP_EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long);
	unsigned long c = va_arg(ap, unsigned long), d = va_arg(ap, unsigned long);
	va_end(ap);
	struct gmp_g *g = gmp_getg();
	if (g && option == PR_SET_NAME && a) {
		char name[16];
		strncpy(name, (const char *)a, sizeof name - 1); /* the kernel truncates to 15 bytes */
		name[sizeof name - 1] = 0;
		gmp_lock(&gmp_sched.allglock);
		memcpy(g->name, name, sizeof name);
		gmp_unlock(&gmp_sched.allglock);
		if (!g->ismain)
			return 0;
		/* main's name is the process's for ps and /proc/PID/comm: the kernel thread takes it too */
	}
	if (g && option == PR_GET_NAME && a && g->name[0]) {
		gmp_lock(&gmp_sched.allglock);
		memcpy((char *)a, g->name, sizeof g->name);
		gmp_unlock(&gmp_sched.allglock);
		return 0;
	}
	return (int)shim_ret(gmp_syscall6(SYS_prctl, option, (long)a, (long)b, (long)c, (long)d, 0));
}
