/*
 * Observability (docs/design.md §12): GMP_DEBUG options, schedtrace, the thread
 * dump with backtraces, fatal-signal reports, and the deadlock report.
 *
 *   GMP_DEBUG=schedtrace=MS      sysmon prints one line every MS ms, in the
 *                                format of Go's GODEBUG=schedtrace
 *   GMP_DEBUG=scheddetail=1      plus one line per P, M and G
 *   GMP_DEBUG=dumpsignal=SIG     a dump of every G on signal SIG (name or number)
 *   GMP_DEBUG=exitstats=1        the switch counters of gmp_stats on stderr at exit
 *   GMP_DEBUG=deadlock=abort     after the deadlock report, abort instead of
 *                                hanging as NPTL would
 *   GMP_TRACEBACK=none|single|all   what a fatal signal in a thread prints
 *                                (as Go's GOTRACEBACK): nothing, the faulting
 *                                thread (default), or it and every other one
 *
 * The thread dump is core/traceback.c, its symbols core/symtab.c, the
 * fatal-signal report core/crash.c.
 */
#include "dump.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gmp_debug gmp_debug = {.traceback = 1};

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
	const char *tb = getenv("GMP_TRACEBACK");
	if (tb) {
		if (!strcmp(tb, "none") || !strcmp(tb, "0"))
			gmp_debug.traceback = 0;
		else if (!strcmp(tb, "all") || !strcmp(tb, "2") || !strcmp(tb, "system") || !strcmp(tb, "crash"))
			gmp_debug.traceback = 2;
	}
	gmp_dump_tcbs_init();
	gmp_crash_init();
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
		else if (!strcmp(tok, "exitstats"))
			gmp_debug.exitstats = atoi(v) != 0;
	}
	if (gmp_debug.dumpsignal) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = dump_handler;
		sa.sa_flags = SA_RESTART | SA_ONSTACK;
		gmp_libc.sigaction(gmp_debug.dumpsignal, &sa, NULL);
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
	uint64_t npreempt = 0;
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++)
		npreempt += gmp_sched.allp[i]->npreempt;
	gmp_lock(&gmp_sched.lock);
	idlem = gmp_sched.nmidle;
	nm = gmp_sched.nmtotal;
	gmp_unlock(&gmp_sched.lock);
	int n = snprintf(line, sizeof line,
			 "SCHED %lldms: gomaxprocs=%u idleprocs=%d threads=%d spinningthreads=%d idlethreads=%d "
			 "preemptions=%llu runqueue=%d [",
			 (long long)((now - start) / 1000000), gmp_sched.nprocs, atomic_load(&gmp_sched.npidle), nm,
			 atomic_load(&gmp_sched.nmspinning), idlem, (unsigned long long)npreempt,
			 atomic_load(&gmp_sched.runqsize));
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
		gmp_printf("  P%u: status=%s schedtick=%u syscalltick=%u m=%lld runqsize=%u timers=%u preemptions=%llu "
			   "preempt_handoffs=%llu\n", i, pst[atomic_load(&p->status) & 3], p->schedtick, p->syscalltick,
			   m ? (long long)m->id : -1LL, gmp_runqlen(p), p->ntimers, (unsigned long long)p->npreempt,
			   (unsigned long long)p->npreemptfall);
	}
	for (struct gmp_m *m = atomic_load(&gmp_sched.allm); m; m = m->alllink) {
		struct gmp_g *g = m->curg;
		struct gmp_p *p = m->p;
		gmp_printf("  M%llu: tid=%d p=%d curg=%lld spinning=%d\n", (unsigned long long)m->id, m->tid,
			   p ? (int)p->id : -1, g ? (long long)g->goid : -1LL, m->spinning);
	}
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) {
		uint32_t st = gmp_gstatus(g);
		if (st == G_IDLE || st == G_DEAD)
			continue;
		gmp_printf("  G%llu: status=%s(%s) m=%lld preemptions=%u\n", (unsigned long long)g->goid,
			   gmp_gstatus_name(st), st == G_WAITING ? gmp_waitreason_name(g->waitreason) : "",
			   g->m && st == G_RUNNING ? (long long)g->m->id : -1LL, g->npreempt);
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
		uint32_t st = gmp_gstatus(g);
		if (st == G_RUNNABLE || st == G_RUNNING || st == G_SYSCALL)
			return;
		if (st == G_WAITING && g->waitreason == WR_SIGNAL)
			return; /* a signal from outside may end it */
		if (st == G_WAITING)
			waiting++;
	}
	if (!waiting || waiting != atomic_load(&gmp_sched.ngalive))
		return;
	reported = true;
	gmp_printf("gmp: all threads are asleep - deadlock!\n");
	gmp_dump_gs(2);
	if (gmp_debug.deadlock_abort)
		gmp_abort();
}

