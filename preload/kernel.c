/*
 * Calls about the calling kernel thread, made by a G (docs/behaviour.md: "Kernel-facing
 * calls").  A G moves between kernel threads, so:
 *   - its CPU clock is its own: gmp counts the time it runs on an M
 *     (blocking kernel calls excluded) and answers CLOCK_THREAD_CPUTIME_ID
 *     and the clock of pthread_getcpuclockid from it;
 *   - a CPU affinity, setns and unshare change the kernel thread: the G is
 *     locked to its M for the rest of its life (as a goroutine after
 *     LockOSThread), so the change applies to this thread only, and stays
 *     (a setns that fails, or joins a namespace the thread is in already,
 *     changes nothing and locks nothing);
 *     an affinity set on another thread applies when that thread next
 *     passes through the scheduler;
 *   - its name (prctl PR_SET_NAME/PR_GET_NAME) is the G's, as
 *     pthread_setname_np's.
 * gettid() stays the kernel's: the kernel thread running the G now.
 */
#include "export.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* glibc's per-thread CPU clock ids: ~tid << 3 | per-thread | CPUCLOCK_SCHED */
#define FAKE_TID_BASE ((1 << 22) + 1)
static clockid_t g_clock(struct gmp_g *g)
{
	uint32_t tid = FAKE_TID_BASE + g->index;
	return (clockid_t)((~tid << 3) | 4 | 2);
}

static struct gmp_g *clock_g(clockid_t clk)
{
	if (clk == CLOCK_THREAD_CPUTIME_ID)
		return gmp_getg();
	if (clk >= 0 || (clk & 7) != 6)
		return NULL;
	int tid = ~(clk >> 3);
	if (tid < FAKE_TID_BASE)
		return NULL;
	uint32_t index = (uint32_t)(tid - FAKE_TID_BASE);
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) /* push-only list */
		if (g->index == index && !g->isg0) {
			uint32_t st = gmp_gstatus(g);
			return st == G_DEAD || st == G_IDLE ? NULL : g;
		}
	return NULL;
}

GMP_EXPORT int clock_gettime(clockid_t clk, struct timespec *ts)
{
	GMP_REAL(int, clock_gettime, (clockid_t, struct timespec *));
	if (GMP_LIKELY(clk >= 0 && clk != CLOCK_THREAD_CPUTIME_ID))
		return real_clock_gettime(clk, ts);
	struct gmp_g *g = clock_g(clk);
	if (!g) {
		if (clk < 0 && (clk & 7) == 6 && ~(clk >> 3) >= FAKE_TID_BASE) {
			errno = EINVAL; /* a thread that has ended */
			return -1;
		}
		return real_clock_gettime(clk, ts);
	}
	int64_t ns = gmp_g_cputime(g);
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	return 0;
}

GMP_EXPORT int clock_getres(clockid_t clk, struct timespec *res)
{
	GMP_REAL(int, clock_getres, (clockid_t, struct timespec *));
	if (GMP_LIKELY(clk >= 0 && clk != CLOCK_THREAD_CPUTIME_ID) || !clock_g(clk))
		return real_clock_getres(clk, res);
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = 1;
	}
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
	*clk = g_clock(t);
	return 0;
}

/* ------------------------------------------------------------ affinity */

static int copy_mask(uint64_t *dst, size_t size, const cpu_set_t *set)
{
	memset(dst, 0, GMP_AFFINITY_WORDS * 8);
	size_t n = size < GMP_AFFINITY_WORDS * 8 ? size : GMP_AFFINITY_WORDS * 8;
	memcpy(dst, set, n);
	for (size_t i = n; i < size; i++)
		if (((const unsigned char *)set)[i])
			return EINVAL; /* CPUs beyond what the kernel knows */
	uint64_t allowed[GMP_AFFINITY_WORDS] = {0};
	if (gmp_sys3(SYS_sched_getaffinity, gmp_sched.pid, sizeof allowed, allowed) < 0)
		return 0;
	for (int i = 0; i < GMP_AFFINITY_WORDS; i++)
		if (dst[i] & allowed[i])
			return 0;
	return EINVAL; /* no CPU of the set is allowed */
}

static int set_affinity(struct gmp_g *t, size_t size, const cpu_set_t *set)
{
	uint64_t m[GMP_AFFINITY_WORDS];
	int err = copy_mask(m, size, set);
	if (err)
		return err;
	uint64_t *a = atomic_load(&t->affinity);
	if (!a) {
		uint64_t *n = malloc(GMP_AFFINITY_WORDS * 8);
		if (!n)
			return ENOMEM;
		memcpy(n, m, sizeof m);
		uint64_t *z = NULL;
		if (!atomic_compare_exchange_strong(&t->affinity, &z, n)) {
			free(n);
			a = z;
		} else {
			a = n;
		}
	}
	memcpy(a, m, sizeof m);
	if (t == gmp_getg())
		return -gmp_apply_affinity(t);
	atomic_store(&t->affinity_pending, true); /* it applies it at its next scheduling point */
	return 0;
}

static int get_affinity(struct gmp_g *t, size_t size, cpu_set_t *set)
{
	uint64_t m[GMP_AFFINITY_WORDS] = {0};
	uint64_t *a = atomic_load(&t->affinity);
	if (a)
		memcpy(m, a, sizeof m);
	else if (gmp_sys3(SYS_sched_getaffinity, gmp_sched.pid, sizeof m, m) < 0)
		return EINVAL;
	size_t n = size < sizeof m ? size : sizeof m;
	for (size_t i = n; i < sizeof m; i++)
		if (((unsigned char *)m)[i])
			return EINVAL; /* the set is too small for the mask */
	memset(set, 0, size);
	memcpy(set, m, n);
	return 0;
}

GMP_EXPORT int pthread_setaffinity_np(pthread_t th, size_t size, const cpu_set_t *set)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_setaffinity_np, (pthread_t, size_t, const cpu_set_t *));
		return real_pthread_setaffinity_np(th, size, set);
	}
	return set_affinity(t, size, set);
}

GMP_EXPORT int pthread_getaffinity_np(pthread_t th, size_t size, cpu_set_t *set)
{
	struct gmp_g *t = gmp_thread_g(th);
	if (!t) {
		GMP_REAL(int, pthread_getaffinity_np, (pthread_t, size_t, cpu_set_t *));
		return real_pthread_getaffinity_np(th, size, set);
	}
	return get_affinity(t, size, set);
}

static int ret(int err)
{
	if (!err)
		return 0;
	errno = err;
	return -1;
}

GMP_EXPORT int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set)
{
	struct gmp_g *g = gmp_getg();
	if (pid != 0 || !g) {
		GMP_REAL(int, sched_setaffinity, (pid_t, size_t, const cpu_set_t *));
		return real_sched_setaffinity(pid, size, set);
	}
	return ret(set_affinity(g, size, set));
}

GMP_EXPORT int sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set)
{
	struct gmp_g *g = gmp_getg();
	if (pid != 0 || !g) {
		GMP_REAL(int, sched_getaffinity, (pid_t, size_t, cpu_set_t *));
		return real_sched_getaffinity(pid, size, set);
	}
	return ret(get_affinity(g, size, set));
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
