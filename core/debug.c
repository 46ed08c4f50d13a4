/*
 * Observability (DESIGN.md §12): GMP_DEBUG options, schedtrace, the thread
 * dump with backtraces, and the deadlock report.
 *
 *   GMP_DEBUG=schedtrace=MS      sysmon prints one line every MS ms, in the
 *                                format of Go's GODEBUG=schedtrace
 *   GMP_DEBUG=scheddetail=1      plus one line per P, M and G
 *   GMP_DEBUG=dumpsignal=SIG     a dump of every G on signal SIG (name or number)
 *   GMP_DEBUG=deadlock=abort     after the deadlock report, abort instead of
 *                                hanging as NPTL would
 *
 * Every line is formatted into one buffer and written with one write(2), so
 * it never interleaves mid-line with the program's own stderr output.
 * Backtraces of Gs that are not running come from their saved registers
 * through libunwind (a ucontext built from struct gmp_ctx); a running G is
 * shown with its M.
 */
#include "runtime.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

struct gmp_debug gmp_debug;

static int signum(const char *s)
{
	static const struct {
		const char *n;
		int v;
	} t[] = {{"SIGQUIT", SIGQUIT}, {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGHUP", SIGHUP},
		 {"SIGWINCH", SIGWINCH}, {"SIGPWR", SIGPWR}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (!strcmp(s, t[i].n) || !strcmp(s, t[i].n + 3))
			return t[i].v;
	int v = atoi(s);
	return v > 0 && v < 65 ? v : 0;
}

static void dump_handler(int sig)
{
	(void)sig;
	gmp_dump_gs(2);
}

void gmp_debug_init(void)
{
	const char *e = getenv("GMP_DEBUG");
	if (!e)
		return;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", e);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = 0;
		const char *v = eq + 1;
		if (!strcmp(tok, "schedtrace"))
			gmp_debug.schedtrace_ms = atoi(v);
		else if (!strcmp(tok, "scheddetail"))
			gmp_debug.scheddetail = atoi(v);
		else if (!strcmp(tok, "dumpsignal"))
			gmp_debug.dumpsignal = signum(v);
		else if (!strcmp(tok, "deadlock"))
			gmp_debug.deadlock_abort = !strcmp(v, "abort");
	}
	if (gmp_debug.dumpsignal) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = dump_handler;
		sa.sa_flags = SA_RESTART;
		sigaction(gmp_debug.dumpsignal, &sa, NULL);
	}
}

/* ------------------------------------------------------------ backtraces */

static void backtrace_ctx(const struct gmp_ctx *c)
{
	ucontext_t uc;
	memset(&uc, 0, sizeof uc);
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)c->rip;
	uc.uc_mcontext.gregs[REG_RSP] = (greg_t)c->rsp;
	uc.uc_mcontext.gregs[REG_RBP] = (greg_t)c->rbp;
	uc.uc_mcontext.gregs[REG_RBX] = (greg_t)c->rbx;
	uc.uc_mcontext.gregs[REG_R12] = (greg_t)c->r12;
	uc.uc_mcontext.gregs[REG_R13] = (greg_t)c->r13;
	uc.uc_mcontext.gregs[REG_R14] = (greg_t)c->r14;
	uc.uc_mcontext.gregs[REG_R15] = (greg_t)c->r15;
	unw_cursor_t cur;
	if (unw_init_local(&cur, (unw_context_t *)&uc) < 0)
		return;
	for (int depth = 0; depth < 32; depth++) {
		unw_word_t ip = 0, off = 0;
		char name[128];
		unw_get_reg(&cur, UNW_REG_IP, &ip);
		if (!ip)
			break;
		if (unw_get_proc_name(&cur, name, sizeof name, &off) != 0)
			snprintf(name, sizeof name, "?");
		gmp_printf("\t#%d 0x%lx %s+0x%lx\n", depth, (unsigned long)ip, name, (unsigned long)off);
		if (unw_step(&cur) <= 0)
			break;
	}
}

void gmp_dump_gs(int fd)
{
	(void)fd;
	int64_t now = gmp_nanotime();
	gmp_printf("gmp: %u Ps, %d Ms, %d live threads\n", gmp_sched.nprocs, gmp_sched.nmtotal,
		   atomic_load(&gmp_sched.ngalive));
	/* allg is push-only: walking it without the lock is safe (and a dump must not block). */
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) {
		uint32_t st = atomic_load(&g->status);
		if (st == G_IDLE || st == G_DEAD)
			continue;
		char line[256];
		int n = snprintf(line, sizeof line, "goroutine %llu [%s", (unsigned long long)g->goid,
				 gmp_gstatus_name(st));
		if (st == G_WAITING && g->waitreason == WR_NETPOLL && g->npfd)
			n += snprintf(line + n, sizeof line - (size_t)n, ", netpoll fd %d %s, %lld ms", g->npfd - 1,
				      g->npmode ? "write" : "read", (long long)((now - g->waitsince) / 1000000));
		else if (st == G_WAITING)
			n += snprintf(line + n, sizeof line - (size_t)n, ", %s, %lld ms",
				      gmp_waitreason_name(g->waitreason),
				      (long long)((now - g->waitsince) / 1000000));
		struct gmp_m *m = g->m;
		if ((st == G_RUNNING || st == G_SYSCALL) && m)
			n += snprintf(line + n, sizeof line - (size_t)n, ", on M%llu tid %d", (unsigned long long)m->id,
				      m->tid);
		snprintf(line + n, sizeof line - (size_t)n, "]%s%s%s, created by goroutine %llu\n",
			 g->name[0] ? " \"" : "", g->name, g->name[0] ? "\"" : "", (unsigned long long)g->createdby);
		gmp_printf("%s", line);
		if (st == G_WAITING || st == G_RUNNABLE)
			backtrace_ctx(&g->ctx);
	}
}

/* ------------------------------------------------------------ schedtrace */

void gmp_schedtrace(int64_t now)
{
	static int64_t start;
	if (!start)
		start = now;
	char line[1024];
	int idlem, nm;
	gmp_lock(&gmp_sched.lock);
	idlem = gmp_sched.nmidle;
	nm = gmp_sched.nmtotal;
	gmp_unlock(&gmp_sched.lock);
	int n = snprintf(line, sizeof line,
			 "SCHED %lldms: gomaxprocs=%u idleprocs=%d threads=%d spinningthreads=%d idlethreads=%d "
			 "runqueue=%d [",
			 (long long)((now - start) / 1000000), gmp_sched.nprocs, atomic_load(&gmp_sched.npidle), nm,
			 atomic_load(&gmp_sched.nmspinning), idlem, atomic_load(&gmp_sched.runqsize));
	for (uint32_t i = 0; i < gmp_sched.nprocs && n < (int)sizeof line - 16; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, i ? " %u" : "%u", gmp_runqlen(gmp_sched.allp[i]));
	snprintf(line + n, sizeof line - (size_t)n, "]\n");
	gmp_printf("%s", line);
	if (!gmp_debug.scheddetail)
		return;
	static const char *pst[] = {"idle", "running", "user", "syscall"};
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++) {
		struct gmp_p *p = gmp_sched.allp[i];
		struct gmp_m *m = p->m;
		gmp_printf("  P%u: status=%s schedtick=%u syscalltick=%u m=%lld runqsize=%u timers=%u\n", i,
			   pst[atomic_load(&p->status) & 3], p->schedtick, p->syscalltick, m ? (long long)m->id : -1LL,
			   gmp_runqlen(p), p->ntimers);
	}
	for (struct gmp_m *m = atomic_load(&gmp_sched.allm); m; m = m->alllink) {
		struct gmp_g *g = m->curg;
		struct gmp_p *p = m->p;
		gmp_printf("  M%llu: tid=%d p=%d curg=%lld spinning=%d\n", (unsigned long long)m->id, m->tid,
			   p ? (int)p->id : -1, g ? (long long)g->goid : -1LL, m->spinning);
	}
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) {
		uint32_t st = atomic_load(&g->status);
		if (st == G_IDLE || st == G_DEAD)
			continue;
		gmp_printf("  G%llu: status=%s(%s) m=%lld\n", (unsigned long long)g->goid, gmp_gstatus_name(st),
			   st == G_WAITING ? gmp_waitreason_name(g->waitreason) : "",
			   g->m && st == G_RUNNING ? (long long)g->m->id : -1LL);
	}
}

/* ------------------------------------------------------------ deadlock */

/*
 * Every user thread waits on a gmp-managed object, nothing can wake one: no
 * timer, no fd polled, no kernel call in progress, nothing runnable.  Checked
 * by sysmon when it has been idle; reported once.  Threads gmp does not
 * know (foreign) could still wake someone, so the report is a diagnosis
 * and the process keeps NPTL's behaviour (it hangs) unless
 * GMP_DEBUG=deadlock=abort.
 */
void gmp_deadlock_check(void)
{
	static bool reported;
	if (reported || atomic_load(&gmp_sched.npidle) != (int32_t)gmp_sched.nprocs ||
	    atomic_load(&gmp_sched.runqsize) != 0 || gmp_timers_next() != 0 || gmp_netpoll_waiters())
		return;
	int waiting = 0;
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) {
		uint32_t st = atomic_load(&g->status);
		if (st == G_RUNNABLE || st == G_RUNNING || st == G_SYSCALL)
			return;
		if (st == G_WAITING)
			waiting++;
	}
	if (!waiting || waiting != atomic_load(&gmp_sched.ngalive))
		return;
	reported = true;
	gmp_printf("gmp: all threads are asleep - deadlock!\n");
	gmp_dump_gs(2);
	if (gmp_debug.deadlock_abort)
		abort();
}
