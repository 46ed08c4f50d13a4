/*
 * Asynchronous preemption (docs/design.md §6; HACKING.md "Preemption").
 *
 * A G that runs its own code for a whole time slice (GMP_PREEMPT, 10 ms)
 * while other threads wait for a P is stopped by a signal, as in Go since
 * 1.14, and queued behind them; its M runs the scheduler.  So a loop
 * without calls cannot starve the others, and GMP_MAXPROCS bounds the
 * kernel threads that run user code.
 *
 *   sysmon (gmp_preempt_try)      sees the P's schedtick unchanged for a
 *                                 slice, work waiting, the M's kernel
 *                                 thread running (not asleep in a kernel
 *                                 call gmp does not see); stores the
 *                                 request in m->preemptreq and sends
 *                                 GMP_SIGPREEMPT (SIGURG) to that thread,
 *                                 marked as its own.
 *   the handler (gmp_preempt_signal), on the G's stack with the G's TLS:
 *                                 takes the request; the point is safe when
 *                                 the interrupted instruction is in the
 *                                 program's code or a library other than
 *                                 glibc, ld.so and gmp, the G is in user
 *                                 state (its P P_USER, not in a kernel
 *                                 call), not in a handler of the program's
 *                                 and not where gmp's fork holds its locks.
 *                                 Then the G parks in the handler: its P
 *                                 goes P_USER -> P_RUNNING, the G
 *                                 G_RUNNING -> G_PREEMPTED -> G_RUNNABLE on
 *                                 the global queue, and the M schedules.
 *   resumed (any M)               the handler returns; the kernel's
 *                                 rt_sigreturn restores every register the
 *                                 signal frame holds: the general ones,
 *                                 flags, and the whole x87/SSE/AVX state the
 *                                 kernel saved with xsave at the size the
 *                                 CPU reports.  The frame's signal mask and
 *                                 alternate stack are rewritten first to
 *                                 the ones of the kernel thread it now
 *                                 runs on.  The thread pointer is not in
 *                                 the frame: the M loaded the G's already.
 *
 * An unsafe point is tried again every millisecond; after PREEMPT_TRIES
 * of them (the G loops inside glibc, say), or when the kernel
 * thread sleeps in a kernel call, sysmon hands the P off as before
 * preemption (core/sysmon.c), and the G keeps its kernel thread.
 *
 * The program keeps its view of SIGURG: its handler, SIG_DFL or SIG_IGN
 * (the same for SIGURG, which is ignored by default) and its masks.  The
 * kernel handler stays gmp_sig_dispatch, which sends the program's own
 * SIGURGs to the program's handler; the kernel masks never block SIGURG
 * (gmp_kmask), and a SIGURG a G blocks is kept pending for it
 * (core/sigdispatch.c).
 */
#include "runtime.h"
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

/*
 * A signal to a thread that runs on another CPU arrives when that CPU next
 * returns to user mode: at once where the kernel's IPI does it, else at
 * its next timer tick (measured on our PVM guests: up to 4 ms, HZ=250),
 * and to a thread the kernel has taken off its CPU, when it runs again.
 * So a request is sent again only after a millisecond and once the last
 * one was delivered (the SigPnd bit gone), and sysmon gives up on a slice
 * after 20 delivered requests found no safe point.
 */
#define PREEMPT_TRIES 20
/* A request still undelivered after this long: the thread is stuck in the kernel; hand the P off. */
#define PREEMPT_PENDING_NS (100 * 1000000LL)
#define PREEMPT_MARK 0x676d7070 /* si_uid of sysmon's requests */

int64_t gmp_preempt_ns;
uint64_t gmp_preempt_kbit;

void gmp_preempt_init(void)
{
	/* GMP_PREEMPT=MS: the time slice; 0 or "off": no preemption (sysmon hands the P off instead) */
	const char *e = getenv("GMP_PREEMPT");
	long ms = 10;
	if (e && *e)
		ms = strcmp(e, "off") == 0 ? 0 : strtol(e, NULL, 10);
	if (ms <= 0)
		return;
	if (ms > 10000)
		ms = 10000;
	if (gmp_sig_take_kernel(GMP_SIGPREEMPT) < 0)
		return;
	gmp_preempt_kbit = 1ULL << (GMP_SIGPREEMPT - 1);
	gmp_preempt_ns = ms * 1000000LL;
}

bool gmp_preempt_marked(const siginfo_t *si) { return gmp_sig_is_marked(si, PREEMPT_MARK); }

#define ORPHAN_REQ 0xffffffffu /* m->preemptreq: its G has no P; get one or queue */
#define ORPHAN_CPU_NS (2 * 1000000LL)
#define ORPHAN_CPU_MAX_NS (256 * 1000000LL)
static int norphans; /* Ms marked orphan; sysmon */

/* The CPU time of kernel thread tid, in ns (its thread CPU clock: one system call); -1 if unknown. */
int64_t gmp_kthread_cpu_ns(pid_t tid)
{
	struct timespec ts;
	clockid_t clk = (clockid_t)((~(unsigned)tid << 3) | 6); /* CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD_MASK */
	if (gmp_sys2(SYS_clock_gettime, clk, &ts) != 0)
		return -1;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* How long g may compute as an orphan before it is asked back (see struct gmp_g). */
static int64_t orphan_grace(struct gmp_g *g)
{
	int64_t v = __atomic_load_n(&g->orphan_grace, __ATOMIC_RELAXED);
	return v ? v : ORPHAN_CPU_NS;
}

void gmp_preempt_slept_unseen(struct gmp_g *g)
{
	int64_t v = orphan_grace(g) * 2;
	__atomic_store_n(&g->orphan_grace, v < ORPHAN_CPU_MAX_NS ? v : ORPHAN_CPU_MAX_NS, __ATOMIC_RELAXED);
}

void gmp_preempt_orphan(struct gmp_m *m)
{
	if (!m->orphan) {
		m->orphan = true;
		m->orphan_next = 0;
		m->orphan_cpu = gmp_kthread_cpu_ns(m->tid);
		norphans++;
	}
}

static char thread_state(pid_t tid, bool *urg_pending);

/* Store request req for m and send it the signal; false if the signal could not be sent.  sysmon. */
static bool ask(struct gmp_m *m, uint32_t req)
{
	atomic_store(&m->preemptreq, req);
	return gmp_sig_send_marked(m->tid, GMP_SIGPREEMPT, PREEMPT_MARK, NULL) == 0;
}

/*
 * A G whose P sysmon handed off (no safe point came in time) keeps running
 * on its kernel thread without a P, beside the GMP_MAXPROCS that have one.
 * Ask it again every few milliseconds; at a safe point it takes a P as
 * after a kernel call (gmp_acquirep_user: an idle one, or it queues itself
 * globally and its M sleeps).  sysmon; returns how many were asked.
 */
int gmp_preempt_orphans(int64_t now)
{
	if (GMP_LIKELY(norphans == 0))
		return 0;
	int n = 0;
	for (struct gmp_m *m = atomic_load(&gmp_sched.allm); m; m = m->alllink) {
		if (!m->orphan)
			continue;
		struct gmp_g *g = m->curg;
		struct gmp_p *p = m->p;
		if (!g || atomic_load(&g->status) != G_RUNNING || g->m != m || (p && p->m == m)) {
			m->orphan = false; /* it came back to the runtime, or parked, or exited */
			norphans--;
			continue;
		}
		/*
		 * Asked only once it has computed for ORPHAN_CPU_NS since it lost
		 * its P or was last asked: a G that sleeps in kernel calls gmp
		 * does not see (an OpenMP thread in libgomp's futex waits) runs
		 * as a kernel thread of its own meanwhile, which costs nothing
		 * while it sleeps; pulled back at once, it waited for a P, slept
		 * again holding it, and had it taken again (an OpenMP program
		 * 1.2 s instead of 0.26 s, native 0.13 s).
		 */
		bool pending;
		if (now < m->orphan_next)
			continue;
		int64_t cpu = gmp_kthread_cpu_ns(m->tid);
		int64_t grace = orphan_grace(g);
		if (cpu >= 0 && m->orphan_cpu >= 0 && cpu - m->orphan_cpu < grace) {
			/* (it cannot have computed the rest sooner: no clock read until then) */
			m->orphan_next = now + (grace - (cpu - m->orphan_cpu));
			continue;
		}
		if (thread_state(m->tid, &pending) != 'R' || pending)
			continue;
		if (ask(m, ORPHAN_REQ))
			n++;
		m->orphan_next = now + 4 * GMP_PREEMPT_RETRY_NS;
		m->orphan_cpu = cpu;
	}
	return n;
}

/* A hex field of /proc's status file ("SigPnd:\t0000000000000000"), 0 if missing. */
static uint64_t status_hex(const char *buf, const char *key)
{
	const char *q = strstr(buf, key);
	uint64_t v = 0;
	if (!q)
		return 0;
	for (q += strlen(key); *q == '\t' || *q == ' '; q++)
		;
	for (;; q++) {
		int d = *q >= '0' && *q <= '9' ? *q - '0' : *q >= 'a' && *q <= 'f' ? *q - 'a' + 10 : -1;
		if (d < 0)
			return v;
		v = v << 4 | (uint64_t)d;
	}
}

/*
 * The kernel thread tid as the kernel sees it: its state letter ('R'
 * running or runnable, 'S' or 'D' asleep in a kernel call), 0 when it
 * cannot be read; and whether a preemption signal still waits to be
 * delivered to it (it has not returned to user mode since: off the CPU,
 * or busy in the kernel).  One read of /proc/self/task/TID/status.
 * sysmon.
 */
long gmp_task_read(pid_t tid, const char *file, char *buf, size_t size)
{
	char path[64];
	int n = 16;
	memcpy(path, "/proc/self/task/", 16);
	char digits[12];
	int nd = 0;
	for (unsigned v = (unsigned)tid; nd == 0 || v; v /= 10)
		digits[nd++] = (char)('0' + v % 10);
	while (nd)
		path[n++] = digits[--nd];
	path[n++] = '/';
	size_t fl = strlen(file);
	if (n + fl >= sizeof path)
		return -1;
	memcpy(path + n, file, fl + 1);
	long fd = gmp_sys4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	long len = gmp_sys3(SYS_read, fd, buf, size - 1);
	gmp_sys1(SYS_close, fd);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	return len;
}

static char thread_state(pid_t tid, bool *urg_pending)
{
	char buf[2048];
	*urg_pending = false;
	if (gmp_task_read(tid, "status", buf, sizeof buf) < 0)
		return 0;
	*urg_pending = (status_hex(buf, "SigPnd:") >> (GMP_SIGPREEMPT - 1)) & 1;
	const char *st = strstr(buf, "State:");
	if (!st)
		return 0;
	for (st += 6; *st == '\t' || *st == ' '; st++)
		;
	return *st;
}

bool gmp_kthread_asleep(pid_t tid)
{
	bool pending;
	char st = thread_state(tid, &pending);
	return st == 'S' || st == 'D';
}

/* Is SIGURG's kernel handler still the dispatcher (a raw rt_sigaction may have replaced it)? */
static bool handler_ours(void)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} ka;
	return gmp_sys4(SYS_rt_sigaction, GMP_SIGPREEMPT, NULL, &ka, 8) == 0 && ka.handler == (void *)gmp_sig_dispatch;
}

int gmp_preempt_try(struct gmp_p *p, int64_t now)
{
	if (!gmp_work_waits(p, now))
		return 0; /* nothing else would run: let it be (a request follows as soon as something waits) */
	struct gmp_m *m = p->m;
	if (!m)
		return 0;
	struct gmp_g *g = m->curg; /* racy: a G's memory stays a G's */
	uint8_t rt = g ? atomic_load_explicit(&g->rtprio, memory_order_relaxed) : 0;
	if (GMP_UNLIKELY(rt)) {
		/*
		 * Real-time threads as the kernel runs them: SCHED_FIFO until
		 * it blocks or yields; SCHED_RR for its round-robin quantum,
		 * then behind the others of its priority, and only when one
		 * waits (never for SCHED_OTHER work).
		 */
		struct gmp_g *h = gmp_sched.runqhead; /* racy peek, as gmp_rt_preempt */
		if (g->schedpolicy != SCHED_RR || now - p->sysmon_when < GMP_RR_QUANTUM_NS || !h ||
		    atomic_load_explicit(&h->rtprio, memory_order_relaxed) < rt)
			return 0;
	}
	if (p->preempt_sent && now - p->preempt_sent < GMP_PREEMPT_RETRY_NS)
		return 0; /* the last one is on its way, or found an unsafe point: next round */
	bool pending;
	if (thread_state(m->tid, &pending) != 'R' || !handler_ours())
		return -1;
	if (pending)
		/* not delivered yet: the thread has not run since (an overloaded machine); a hand-off
		   would only add a kernel thread, unless it stays in the kernel that long */
		return now - p->preempt_sent < PREEMPT_PENDING_NS ? 0 : -1;
	if (p->preempt_tries >= PREEMPT_TRIES)
		return -1;
	if (!ask(m, p->schedtick + 1))
		return -1;
	p->preempt_sent = now;
	p->preempt_tries++;
	return 1;
}

/* Is w a return address: code of a known object just after a call instruction? */
static bool after_call(uintptr_t w)
{
	const uint8_t *b = (const uint8_t *)w;
	return b[-5] == 0xe8 ||                                   /* call rel32 */
	       (b[-6] == 0xff && b[-5] == 0x15) ||                /* call *disp32(%rip) */
	       (b[-2] == 0xff && (b[-1] & 0xf8) == 0xd0) ||       /* call *%reg */
	       (b[-3] == 0xff && (b[-2] & 0x38) == 0x10);         /* call *disp8(%reg) */
}

/*
 * Interrupted inside glibc (or the vDSO): who called it?  The first
 * return address above the stack pointer that is not glibc's decides: the
 * program's or another library's, safe; gmp's (runtime code in user state
 * may keep its kernel thread's M in a local across the call) or ld.so's,
 * not.  Return addresses are told from data by the call instruction
 * before them, in the code of objects known at start-up; anything unsure
 * is not safe.  Scans at most SCAN_BYTES of the G's stack.
 */
#define SCAN_BYTES 8192
static bool libc_called_from_program(struct gmp_g *g, uintptr_t sp)
{
	if (sp & 7)
		return false;
	for (const uintptr_t *w = (const uintptr_t *)sp;
	     (uintptr_t)w < sp + SCAN_BYTES && gmp_on_g_stack(g, (uintptr_t)w + sizeof *w - 1); w++) {
		enum gmp_code c = gmp_code_at(*w);
		if (c == CODE_OTHER || c == CODE_VDSO || !after_call(*w))
			continue;
		if (c == CODE_LIBC)
			continue; /* glibc calling glibc */
		return c == CODE_PROG;
	}
	return false;
}

/*
 * May g be stopped where the signal interrupted it (see the top of the
 * file)?  In the program's own code, or another library's: yes.  Inside
 * glibc, only from the third request of a slice on (glibc's internal
 * locks are futexes gmp does not see: a G stopped holding one is still
 * correct, since the thread that waits for it blocks its kernel thread
 * until sysmon hands that P off, but slow, so such points are taken only
 * when the G keeps being found there), and only when the program called
 * it.  Never in gmp or ld.so.
 */
#define PREEMPT_LIBC_AFTER 2
static bool preempt_point_safe(struct gmp_g *g, const ucontext_t *uc, uint32_t tries)
{
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	if (g->insyscall || g->nopreempt)
		return false;
	if (g->handler_sp) {
		if (sp < g->handler_sp && gmp_on_g_stack(g, g->handler_sp))
			return false; /* inside a handler of the program's (or glibc's SIGCANCEL) */
		if (sp >= g->handler_sp)
			g->handler_sp = 0; /* it left the handler by siglongjmp */
	}
	switch (gmp_code_at(pc)) {
	case CODE_OTHER:
	case CODE_PROG:
		return true;
	case CODE_LIBC:
	case CODE_VDSO:
		return tries > PREEMPT_LIBC_AFTER && libc_called_from_program(g, sp);
	default:
		return false;
	}
}

/* Count a preemption of g on p (its P, held), just before it parks. */
static void stopped(struct gmp_p *p, struct gmp_g *g)
{
	p->npreempt++;
	g->npreempt++;
	int64_t half = orphan_grace(g) / 2; /* it computes: bound it sooner again as an orphan */
	__atomic_store_n(&g->orphan_grace, half < ORPHAN_CPU_NS ? 0 : half, __ATOMIC_RELAXED);
	g->lastpreempt = gmp_nanotime();
}

/*
 * A G back in a shim of gmp's from a system call that completed, in user
 * state: if sysmon's request for this slice is still there, stop here
 * instead of at the signal.  The signal would find the G inside gmp's code,
 * which is never a safe point: a pipe writer that spends its slice in
 * write() was asked ~40 times per preemption (hackbench: 1,700 signals
 * for 40 preemptions), and after PREEMPT_TRIES its P went to another
 * kernel thread.  Here nothing of the runtime's is held, and the G's M is
 * read again after the switch.  The signal, already on its way, finds the
 * request taken and returns.  Not in a handler of the program's, nor
 * where the G must not be stopped (nopreempt).  G, user state.
 */
void gmp_preempt_at_call(struct gmp_g *g)
{
	struct gmp_m *m = g->m;
	uint32_t want = atomic_load_explicit(&m->preemptreq, memory_order_relaxed);
	struct gmp_p *p = m->p;
	if (want == 0 || want == ORPHAN_REQ || g->nopreempt || g->handler_sp || !p || p->m != m ||
	    p->schedtick != want - 1 || !atomic_compare_exchange_strong(&m->preemptreq, &want, 0))
		return;
	stopped(gmp_acquirep_user(g), g);
	gmp_preempt_park(g);
}

void gmp_preempt_signal(void *ucv)
{
	struct gmp_g *g = atomic_load_explicit(&gmp_inited, memory_order_acquire) == 2 ? gmp_getg() : NULL;
	ucontext_t *uc = ucv;
	if (!g || !uc)
		return;
	struct gmp_m *m = g->m;
	/* This kernel thread runs g on g's own stack: not its g0 with g's TLS still loaded. */
	if (!m || m->curg != g || !gmp_on_g_stack(g, (uintptr_t)uc->uc_mcontext.gregs[REG_RSP]))
		return;
	uint32_t want = atomic_exchange(&m->preemptreq, 0);
	struct gmp_p *p = m->p;
	if (GMP_UNLIKELY(want == ORPHAN_REQ)) {
		if ((p && p->m == m) || !preempt_point_safe(g, uc, PREEMPT_LIBC_AFTER + 1))
			return;
		m->cur_sigmask = ~0ULL; /* it may leave this kernel thread (lostp_m) */
		gmp_releasep_user(gmp_acquirep_user(g));
		gmp_sigframe_back(g, m, uc);
		return;
	}
	if (!want || !p || p->m != m || p->schedtick != want - 1)
		return; /* none, or stale: the G went through the scheduler since */
	if (!preempt_point_safe(g, uc, p->preempt_tries))
		return; /* sysmon tries again */
	uint32_t from;
	p = gmp_acquirep_async(g, &from);
	if (!p)
		return;
	if (from != P_USER) {
		gmp_setpstatus(p, P_RUNNING, from, memory_order_release);
		return;
	}
	stopped(p, g);
	/* The kernel thread has the handler's mask loaded: the next G there gets its own. */
	m->cur_sigmask = ~0ULL;
	gmp_preempt_park(g);
	gmp_sigframe_back(g, m, uc);
}

void gmp_preempt_fork_child(void)
{
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++) {
		struct gmp_p *p = gmp_sched.allp[i];
		p->preempt_sent = 0;
		p->preempt_tries = 0;
	}
	for (struct gmp_m *m = atomic_load(&gmp_sched.allm); m; m = m->alllink) {
		atomic_store(&m->preemptreq, 0);
		m->orphan = false;
	}
	norphans = 0;
}
