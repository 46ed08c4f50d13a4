/*
 * Runtime start-up: configuration, Ps, and adopting the main thread as the
 * main G on m0 (docs/design.md §9, §12).
 *
 * gmp_init_slow may run on any thread and before the library constructor:
 * another library's constructor can create a thread first.  The main
 * thread is adopted only on the main thread itself (the constructor); a
 * runtime started elsewhere treats main as a foreign thread until then.
 * A recursive call on the initialising thread (dlsym calling back into an
 * interposed function) sees "in progress" and takes the foreign path.
 */
#include "netpoll.h"
#include "runtime.h"
#include "sync.h"
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

_Atomic int gmp_inited;
static _Atomic pid_t init_tid;
static gmp_lock_t initlock = GMP_LOCK_INIT;

static size_t env_size(const char *name, size_t def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'm' || *end == 'M')
		v <<= 20;
	return v ? (size_t)v : def;
}

/* Read a small file with raw system calls (read may be interposed). */
static int readfile(const char *path, char *buf, size_t len)
{
	int fd = (int)gmp_sys3(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long n = gmp_sys3(SYS_read, fd, buf, len - 1);
	gmp_sys1(SYS_close, fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return (int)n;
}

/* CPUs this process may use: the affinity mask, lowered by a cgroup v2 cpu.max quota. */
static uint32_t default_procs(void)
{
	cpu_set_t set;
	CPU_ZERO(&set); /* the kernel fills only the bytes it has */
	uint32_t n = 1;
	if (gmp_sys3(SYS_sched_getaffinity, 0, sizeof set, &set) > 0 && CPU_COUNT(&set) > 0) /* (not gmp's interposed one) */
		n = (uint32_t)CPU_COUNT(&set);
	char cg[512], path[700], q[64];
	if (readfile("/proc/self/cgroup", cg, sizeof cg) > 0 && strncmp(cg, "0::", 3) == 0) {
		char *nl = strchr(cg, '\n');
		if (nl)
			*nl = 0;
		snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", cg + 3);
		if (readfile(path, q, sizeof q) > 0 && strncmp(q, "max", 3) != 0) {
			long quota = 0, period = 0;
			if (sscanf(q, "%ld %ld", &quota, &period) == 2 && quota > 0 && period > 0) {
				uint32_t c = (uint32_t)((quota + period - 1) / period);
				if (c < n)
					n = c ? c : 1;
			}
		}
	}
	return n;
}

struct gmp_m *gmp_allocm(void)
{
	static _Atomic uint64_t mid;
	struct gmp_m *m = GMP_FAULT(M_ALLOC) ? NULL : gmp_rt_alloc(sizeof *m);
	if (!m)
		return NULL;
	m->id = atomic_fetch_add(&mid, 1);
	m->fastrand = 0x9E3779B97F4A7C15ULL * (m->id + 1) ^ (uint64_t)gmp_nanotime();
	m->g0.isg0 = true;
	m->g0.m = m;
	atomic_store(&m->nextg, GMP_NEXTG_CLOSED);
	m->spinbudget = gmp_sched.spinmax;
	m->iospin = gmp_sched.spinmax;
	struct gmp_m *head = atomic_load(&gmp_sched.allm);
	do
		m->alllink = head;
	while (!atomic_compare_exchange_weak(&gmp_sched.allm, &head, m));
	return m;
}

static void refuse(const char *why)
{
	gmp_printf("gmp: fatal: %s; this glibc is not supported, refusing to start\n", why);
	_exit(127);
}

/*
 * Before 2.34 glibc kept its threads in libpthread.so.0, apart from libc:
 * with its own start-up, SIGCANCEL handler, thread count and stack cache,
 * stdio locks switched on from its pthread_create, and struct pthread's
 * descriptors only in libpthread's static symbol table.  gmp stands in for
 * the NPTL that libc itself holds (2.34 and later) and names an older glibc
 * instead of failing on a layout probe.  (Debian 11, glibc 2.31, left LTS
 * in August 2026.)
 */
static void check_glibc_release(void)
{
	const char *v = gnu_get_libc_version();
	unsigned major = 0, minor = 0;
	const char *c = v;
	while (*c >= '0' && *c <= '9')
		major = major * 10 + (unsigned)(*c++ - '0');
	if (*c == '.')
		c++;
	while (*c >= '0' && *c <= '9')
		minor = minor * 10 + (unsigned)(*c++ - '0');
	if (major < 2 || (major == 2 && minor < 34)) {
		gmp_printf("gmp: fatal: glibc %s keeps its threads in libpthread.so.0 (gmp needs glibc 2.34 or later); "
			   "this glibc is not supported, refusing to start\n",
			   v);
		_exit(127);
	}
}

/*
 * The one failure that cannot be reported to a caller: memory for the main
 * thread's G, m0 and m0's scheduler stack, or the Ps, at start-up.
 */
static void startup_nomem(const char *what)
{
	gmp_printf("gmp: fatal: out of memory at start-up (%s); cannot run the program\n", what);
	_exit(127);
}

/* Make the calling (main) thread the main G, running on m0. */
static void adopt_main(void)
{
	struct gmp_g *g = gmp_galloc();
	struct gmp_m *m0 = gmp_allocm();
	if (!g || !m0)
		startup_nomem(g ? "m0" : "the main thread's G");
	void *tp = gmp_arch_get_tp();
	g->tcb = tp;
	g->ismain = true;
	atomic_store(&gmp_sched.maing, g);
	g->goid = atomic_fetch_add(&gmp_sched.goidgen, 1) + 1;
	g->stack.user = true;
	gmp_main_stack_note((uintptr_t)__builtin_frame_address(0));
	atomic_store(&g->joinword, GMP_JOIN_JOINABLE);
	*(int *)((char *)tp + GMP_TCB_MULTIPLE) = 1;

	/* m0's g0 gets a stack of its own; the original stack stays the main G's. */
	struct gmp_stack s0;
	if (gmp_stack_alloc(&s0, 256 * 1024, gmp_pagesize(), 0) != 0)
		startup_nomem("m0's scheduler stack");
	m0->g0.stack = s0;
	gmp_ctx_make(&m0->g0.ctx, (char *)s0.lo + s0.size, gmp_m0_g0_start, m0);
	m0->tid = (pid_t)gmp_sys0(SYS_gettid);
	m0->cur_tp = tp; /* FS-base traps: m0 is armed at its first switch (set_tp), when there are threads */
	gmp_sys4(SYS_rt_sigprocmask, SIG_SETMASK, NULL, &m0->cur_sigmask, 8);
	g->sigmask = m0->cur_sigmask;
	if (m0->cur_sigmask != gmp_kmask(g->sigmask)) {
		/* blocked from the start, the preemption signal stays blocked for the program only */
		m0->cur_sigmask = gmp_kmask(g->sigmask);
		gmp_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &m0->cur_sigmask, NULL, 8);
	}
	gmp_signal_note_mask(g->sigmask);
	int policy, prio;
	gmp_sched_self(&policy, &prio); /* no G yet: the kernel's, what the process started with */
	gmp_sched_set(g, policy, prio);
	gmp_sigstack_init(m0);

	gmp_casgstatus(g, G_IDLE, G_RUNNING);
	g->m = m0;
	m0->curg = g;
	gmp_lock(&gmp_sched.lock);
	gmp_sched.nmtotal++;
	struct gmp_p *p = gmp_pidleget();
	gmp_unlock(&gmp_sched.lock);
	if (p) {
		m0->p = p;
		atomic_store_explicit(&p->m, m0, memory_order_relaxed);
		gmp_setpstatus(p, P_RUNNING, P_USER, memory_order_seq_cst);
	}
	atomic_fetch_add(&gmp_sched.ngalive, 1);
	gmp_curg = g;
	GMP_TRACE(gmp_trace_gostart(m0, g));
}

/* The tuning the environment sets (GMP_SPIN, GMP_PIPES), and TLS affinity; ncpu: the CPUs we may use. */
static void read_tuning(uint32_t ncpu)
{
	/*
	 * GMP_SPIN=US: how long an M whose threads all wait spins before it
	 * sleeps (core/spin.c).  Default 50 us, twice the cost of
	 * waking a sleeping kernel thread on another CPU as measured on PVM
	 * guests; never on one CPU, where the spinner would only delay the
	 * thread it waits for.
	 */
	const char *spin = getenv("GMP_SPIN");
	long spinus = spin && *spin ? strtol(spin, NULL, 10) : 50;
	if (spinus < 0 || ncpu < 2)
		spinus = 0;
	gmp_sched.spinmax = (int64_t)(spinus > 100000 ? 100000 : spinus) * 1000;
	/* GMP_PIPES=plain: pipes keep the blocking mode they were made with (core/netpoll.h, forced pipes) */
	const char *pipes = getenv("GMP_PIPES");
	gmp_fd_pipes_plain = pipes && !strcmp(pipes, "plain");
	/* TLS affinity pays where an FS write is a system call, and only there (core/spin.c) */
	gmp_sched.tls_affine = !gmp_fstrap && !gmp_arch_has_fast_fs();
}

/* The np Ps, all idle. */
static void make_ps(uint32_t np)
{
	gmp_sched.allp = gmp_rt_alloc(np * sizeof(struct gmp_p *));
	if (!gmp_sched.allp)
		startup_nomem("the P table");
	for (uint32_t i = 0; i < np; i++) {
		struct gmp_p *p = gmp_rt_alloc(sizeof(struct gmp_p));
		if (!p)
			startup_nomem("a P");
		p->id = i;
		gmp_lock_init(&p->timerlock, GMP_RANK_TIMER);
		gmp_sched.allp[i] = p;
	}
	gmp_lock(&gmp_sched.lock);
	for (uint32_t i = np; i-- > 0;) {
		gmp_pstatus_reset(gmp_sched.allp[i], P_RUNNING); /* new: as if held, then idle */
		gmp_pidleput(gmp_sched.allp[i]);
	}
	gmp_unlock(&gmp_sched.lock);
}

void gmp_init_slow(void)
{
	pid_t me = (pid_t)gmp_sys0(SYS_gettid);
	if (atomic_load(&gmp_inited) == 1 && atomic_load(&init_tid) == me)
		return; /* recursive call during init: caller proceeds as a foreign thread */
	gmp_lock(&initlock);
	if (atomic_load(&gmp_inited) == 2) {
		gmp_unlock(&initlock);
		return;
	}
	atomic_store(&init_tid, me);
	atomic_store(&gmp_inited, 1);

	gmp_arch_init();
	gmp_tls_curg_off = (char *)&gmp_curg - (char *)gmp_arch_get_tp();
	gmp_tls_errno_off = (char *)&errno - (char *)gmp_arch_get_tp();
	check_glibc_release();
	if (gmp_libc_resolve() != 0)
		refuse("cannot resolve glibc's thread internals");
	gmp_fstrap_init();
	if (gmp_tcb_layout_init() != 0)
		refuse("struct pthread layout could not be confirmed");
	const char *bad = gmp_sync_layout_init();
	if (bad)
		refuse(bad);

	gmp_sched.pid = (pid_t)gmp_sys0(SYS_getpid);
	uint32_t ncpu = default_procs();
	uint32_t np = (uint32_t)env_size("GMP_MAXPROCS", ncpu);
	read_tuning(ncpu);
	if (np > 1024)
		np = 1024;
	gmp_sched.nprocs = np;
	gmp_sched.maxthreads = (uint32_t)env_size("GMP_MAXTHREADS", 10000);
	if (gmp_sched.maxthreads < np + 1)
		gmp_sched.maxthreads = np + 1;
	gmp_sched.stacksize = env_size("GMP_STACKSIZE", 0);
	pthread_attr_t da;
	if (!gmp_sched.stacksize && gmp_libc.pthread_getattr_default_np && gmp_libc.pthread_getattr_default_np(&da) == 0) {
		/* NPTL's own default (RLIMIT_STACK at start-up, else its architecture default) */
		size_t ss = 0;
		pthread_attr_getstacksize(&da, &ss);
		gmp_sched.stacksize = ss;
		pthread_attr_destroy(&da);
	}
	if (!gmp_sched.stacksize) {
		struct rlimit rl;
		/* NPTL: RLIMIT_STACK if set and finite, else 8 MiB (ARCH_STACK_DEFAULT_SIZE is 32 MiB only if unlimited) */
		gmp_sched.stacksize = 8u << 20;
		if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= 16384)
			gmp_sched.stacksize = rl.rlim_cur;
	}
	gmp_sched.stacksize = (gmp_sched.stacksize + gmp_pagesize() - 1) & ~(gmp_pagesize() - 1);
	gmp_sched.guardsize = gmp_pagesize();

	make_ps(np);

	atomic_store(&gmp_sched.lastpoll, 1);
	gmp_debug_init();
	gmp_codemap_init();
	gmp_preempt_init();
	gmp_xwait_init();
	gmp_rawtrap_init();
	gmp_stats_init();
	gmp_fork_init();
	gmp_trace_init();
	if (me == gmp_sched.pid)
		adopt_main();
	atomic_store_explicit(&gmp_inited, 2, memory_order_release);
	gmp_unlock(&initlock);
}

void gmp_init_main(void)
{
	if (gmp_curg == NULL && (pid_t)gmp_sys0(SYS_gettid) == gmp_sched.pid) {
		gmp_lock(&initlock);
		if (gmp_curg == NULL)
			adopt_main();
		gmp_unlock(&initlock);
	}
}
