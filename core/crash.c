/*
 * Fatal signals and alternate signal stacks.
 *
 * Fatal signals.  At start-up, for SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT
 * and SIGTRAP whose disposition is still SIG_DFL, a handler is installed
 * that runs on a per-M alternate signal stack (so a stack overflow is
 * reported too).  It prints the faulting thread and its backtrace from the
 * signal context (and with GMP_TRACEBACK=all the dump of every other
 * thread), then restores SIG_DFL and raises the signal again, so the
 * process dies by the same signal (exit status, core dump) as natively.  A
 * program that installs its own handler simply replaces ours.  With
 * GMP_TRACEBACK=none nothing is installed at all.
 */
#include "dump.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

static const struct {
	int sig;
	const char *name;
} fatal_sigs[] = {{SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
		  {SIGILL, "SIGILL"},   {SIGABRT, "SIGABRT"}, {SIGTRAP, "SIGTRAP"}};
#define NFATAL (sizeof fatal_sigs / sizeof fatal_sigs[0])
static _Atomic pid_t crashing;       /* the kernel thread reporting a fatal signal */

#define SIGSTACK_SIZE (128 * 1024)

/* Die by sig with its default action: the pending signal is delivered as the handler returns. */
static void die(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	gmp_libc.sigaction(sig, &sa, NULL);
	gmp_sys3(SYS_tgkill, gmp_sched.pid, gmp_dump_gettid(), sig);
}

/*
 * The G that was running on this kernel thread when the signal came, or
 * NULL (the scheduler's g0, sysmon, a foreign thread).  On g0 the TLS slot
 * may name the last G, which is not running here: check its M and stack.
 */
static struct gmp_g *faulting_g(pid_t me, uintptr_t sp)
{
	struct gmp_g *g = gmp_getg();
	if (!g || !g->m || g->m->tid != me || g->m->curg != g || gmp_gstatus(g) == G_DEAD)
		return NULL;
	struct gmp_stack *s0 = &g->m->g0.stack;
	if (s0->lo && sp >= (uintptr_t)s0->lo && sp < (uintptr_t)s0->lo + s0->size)
		return NULL; /* m0's scheduler stack */
	if (g->stack.lo && (sp < (uintptr_t)g->stack.lo - g->stack.guard - 65536 ||
			    sp >= (uintptr_t)g->stack.lo + g->stack.size))
		return NULL;
	return g;
}

/* The faulting G's line and backtrace, then (GMP_TRACEBACK=all) the others. */
static __attribute__((noinline)) void fatal_report(struct gmp_g *g, ucontext_t *uc, pid_t me, bool held)
{
	void *tp = held ? gmp_dump_tp_enter(0) : NULL;
	if (g)
		gmp_dump_print_g(g, gmp_gstatus(g), gmp_nanotime(), tp != NULL);
	if (tp) {
		struct trace t;
		gmp_unwind(uc, true, &t);
		gmp_print_trace(&t, true);
	}
	if (gmp_debug.traceback >= 2) {
		gmp_printf("\n");
		gmp_dump_all(g, me, tp != NULL);
	}
	gmp_dump_tp_leave(tp);
}

static void fatal_handler(int sig, siginfo_t *si, void *ucv)
{
	/* a fault inside a trapped call (xwait.c): the report's and die's calls from glibc must not trap; never released */
	gmp_xwait_hold(gmp_getg(), ucv);
	pid_t me = gmp_dump_gettid(), z = 0;
	if (!atomic_compare_exchange_strong(&crashing, &z, me)) {
		if (z != me) /* another thread is reporting and will end the process */
			for (int i = 0; i < 10000; i++)
				gmp_dump_sleep_ms(1);
		die(sig);
		return;
	}
	int e = errno;
	ucontext_t *uc = ucv;
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP], sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	uintptr_t addr = (uintptr_t)si->si_addr;
	const char *name = "?";
	for (size_t i = 0; i < NFATAL; i++)
		if (fatal_sigs[i].sig == sig)
			name = fatal_sigs[i].name;
	bool held = gmp_dump_lock(me);
	struct gmp_g *g = faulting_g(me, sp);
	char who[96], extra[96] = "";
	if (g) {
		snprintf(who, sizeof who, "thread %llu%s%s%s", (unsigned long long)g->goid, g->name[0] ? " \"" : "",
			 g->name, g->name[0] ? "\"" : "");
		uintptr_t lo = (uintptr_t)g->stack.lo;
		if (sig == SIGSEGV && lo && addr < lo && addr + g->stack.guard + 65536 >= lo)
			snprintf(extra, sizeof extra, " (stack overflow: stack 0x%lx-0x%lx)", (unsigned long)lo,
				 (unsigned long)(lo + g->stack.size));
		else if (sig == SIGSEGV && !lo && addr < sp + 4096 && addr + 65536 >= sp)
			snprintf(extra, sizeof extra, " (stack overflow?)"); /* the main thread: no bounds known */
	} else {
		struct gmp_m *m = NULL;
		for (struct gmp_m *x = atomic_load(&gmp_sched.allm); x; x = x->alllink)
			if (x->tid == me)
				m = x;
		if (m)
			snprintf(who, sizeof who, "the scheduler of M%llu", (unsigned long long)m->id);
		else
			snprintf(who, sizeof who, "a thread gmp did not create (tid %d)", me);
	}
	if (si->si_code > 0 && sig != SIGABRT)
		gmp_printf("gmp: fatal signal %s in %s at addr 0x%lx, pc 0x%lx%s\n", name, who, (unsigned long)addr,
			   (unsigned long)pc, extra);
	else
		gmp_printf("gmp: fatal signal %s in %s, pc 0x%lx\n", name, who, (unsigned long)pc);
	fatal_report(g, uc, me, held);
	gmp_dump_unlock(held);
	errno = e;
	die(sig);
}

void gmp_crash_init(void)
{
	if (gmp_debug.traceback == 0)
		return;
	for (size_t i = 0; i < NFATAL; i++) {
		struct sigaction old, sa;
		int sig = fatal_sigs[i].sig;
		bool trap = sig == SIGSEGV && gmp_fstrap; /* the kernel has fstrap.c's handler: it keeps ours */
		if ((trap ? gmp_fstrap_sigaction(NULL, &old) : gmp_libc.sigaction(sig, NULL, &old)) != 0 ||
		    (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
			continue;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = fatal_handler;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
		if (trap)
			gmp_fstrap_sigaction(&sa, NULL);
		else
			gmp_libc.sigaction(sig, &sa, NULL);
	}
}

void gmp_sigstack_init(struct gmp_m *m)
{
	if (gmp_debug.traceback == 0)
		return;
	if (!m->sigstack.lo && gmp_stack_alloc(&m->sigstack, SIGSTACK_SIZE, gmp_pagesize(), 0) != 0)
		return;
	stack_t ss = {.ss_sp = m->sigstack.lo, .ss_size = m->sigstack.size, .ss_flags = 0};
	gmp_sys2(SYS_sigaltstack, &ss, NULL);
}

/*
 * Alternate signal stacks are per kernel thread, and a G moves: each G's
 * own (preload/signal.c sigaltstack) is loaded on the M that runs it, and
 * the M's own (gmp's fatal-signal stack above, or none) for a G that never
 * set one.  Only programs that call sigaltstack pay a system call, when
 * an M changes from one such G to another.
 */
void gmp_altstack_load(struct gmp_m *m, struct gmp_g *gp)
{
	struct gmp_g *want = gp && gp->altgen ? gp : NULL;
	if (GMP_LIKELY(m->altowner == want && (!want || m->altgen == want->altgen)))
		return;
	stack_t ss = {.ss_flags = SS_DISABLE};
	if (want)
		ss = want->altstack;
	else if (m->sigstack.lo)
		ss = (stack_t){.ss_sp = m->sigstack.lo, .ss_size = m->sigstack.size, .ss_flags = 0};
	gmp_sys2(SYS_sigaltstack, &ss, NULL);
	m->altowner = want;
	m->altgen = want ? want->altgen : 0;
}

void gmp_sigstack_free(struct gmp_m *m)
{
	if (!m->sigstack.lo)
		return;
	stack_t ss = {.ss_flags = SS_DISABLE};
	gmp_sys2(SYS_sigaltstack, &ss, NULL);
	gmp_stack_free(&m->sigstack);
	memset(&m->sigstack, 0, sizeof m->sigstack);
}

_Noreturn void gmp_abort(void)
{
	struct sigaction cur;
	if (gmp_libc.sigaction && gmp_libc.sigaction(SIGABRT, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == fatal_handler) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		gmp_libc.sigaction(SIGABRT, &sa, NULL); /* already reported: no second report from our handler */
	}
	abort();
}

/* Is fn a handler gmp installed for itself (preload/signal.c shows SIG_DFL instead)? */
bool gmp_debug_own_handler(void *fn) { return fn == (void *)fatal_handler; }
