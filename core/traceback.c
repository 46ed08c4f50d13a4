/*
 * The thread dump (GMP_DEBUG=dumpsignal, the deadlock report, a fatal
 * signal's GMP_TRACEBACK=all): every G's line and backtrace.
 *
 * Output.  Every line is formatted into one buffer and written with one
 * write(2), so it never interleaves mid-line with the program's own stderr
 * output.  Dumps run in signal handlers and on any stack (a G, g0 with a
 * stale TLS, a foreign thread), so this file calls no function gmp
 * interposes, never mallocs, and takes no lock a parked G can hold:
 * symbols come from our own ELF reader (raw open/mmap, a cache of mapped
 * symbol tables), not from libunwind's unw_get_proc_name (which opens
 * files, mallocs and locks).  libunwind is used only to unwind
 * (unw_init_local2/unw_step), with its cache off; the calls it still makes
 * (read and syscall to validate addresses, a mutex and sigprocmask around
 * its memory pool) run on a TCB of the dump's own, where they take gmp's
 * foreign-thread paths (see gmp_dump_tp_enter).  Remaining risk: dl_iterate_phdr
 * takes ld.so's module-list lock, so a thread that faults inside dlopen
 * cannot be symbolized.
 *
 * Whose registers.  A G that is not running is unwound from its saved
 * context (struct gmp_ctx).  The caller's own G is unwound from here.  A G
 * running on another M is asked for its registers: the dumper sends
 * SIGCANCEL (32) to that M's kernel thread with rt_tgsigqueueinfo, code
 * SI_QUEUE and a magic value; our handler there unwinds from its ucontext
 * into a shared buffer and wakes the dumper, which waits at most
 * REMOTE_WAIT_NS.  Why 32: gmp never lets a G block it (pthread_sigmask
 * strips it, as NPTL does), so a worker that blocked every signal still
 * answers, and programs cannot use it.  core/cancel.c owns the handler of
 * signal 32 (glibc's cancellation signal, which it routes to the G it is
 * for) and passes every dump request here first (gmp_debug_req_signal).
 * A G in a kernel call is not signalled:
 * the signal could end its call with EINTR, which NPTL would not do.
 */
#include "dump.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

pid_t gmp_dump_gettid(void) { return (pid_t)gmp_sys0(SYS_gettid); }

void gmp_dump_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	gmp_sys2(SYS_nanosleep, &ts, NULL);
}

/*
 * One dump at a time: the symbol cache and the remote-backtrace slot are
 * shared.  Owned by a kernel thread id, so a fault inside a dump on the
 * same thread is seen (the nested report goes without symbols) instead of
 * waiting for itself.  A dump never waits more than ~2 s for another.
 */
static _Atomic pid_t dump_owner;

bool gmp_dump_lock(pid_t me)
{
	for (int i = 0; i < 2000; i++) {
		pid_t z = 0;
		if (atomic_compare_exchange_strong(&dump_owner, &z, me))
			return true;
		if (z == me)
			return false;
		gmp_dump_sleep_ms(1);
	}
	return false;
}

void gmp_dump_unlock(bool held)
{
	if (held)
		atomic_store(&dump_owner, 0);
}

/*
 * libunwind, opened at start-up with RTLD_LOCAL, never linked.  Debian's
 * libunwind.so.8 also defines _Unwind_RaiseException and the rest of the
 * C++ unwinding ABI, without symbol versions, so a versioned reference
 * (_Unwind_RaiseException@GCC_3.0) binds to it.  As a dependency of the
 * preloaded library it would sit in the global scope ahead of libgcc_s
 * wherever the program reaches libgcc_s through another library: LuaJIT's
 * error unwinding (sysbench's client) then ran on libunwind's instead of
 * libgcc's, two sigprocmask calls a frame, 150,000 a second, and the
 * program used another unwinder than natively.  Opened locally, its symbols
 * are seen only through the pointers below.  Loaded with the real dlopen
 * before any G exists (libunwind's 16 bytes of TLS are dynamic then, and
 * with its cache off it does not touch them); not opened: dumps print no
 * backtraces.
 */
#define UNW_SYM2(x) #x
#define UNW_SYM(x) UNW_SYM2(x)
static struct {
	__typeof__(unw_init_local2) *init_local2;
	__typeof__(unw_step) *step;
	__typeof__(unw_get_reg) *get_reg;
	__typeof__(unw_is_signal_frame) *is_signal_frame;
	__typeof__(unw_set_caching_policy) *set_caching_policy;
	__typeof__(unw_tdep_getcontext) *getcontext;
	unw_addr_space_t *local_addr_space;
} unw; /* immutable after start-up; all or none set */

void gmp_unwind_load(void)
{
	void *h = gmp_libc.dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	__typeof__(unw) u = {
		dlsym(h, UNW_SYM(unw_init_local2)), dlsym(h, UNW_SYM(unw_step)),
		dlsym(h, UNW_SYM(unw_get_reg)), dlsym(h, UNW_SYM(unw_is_signal_frame)),
		dlsym(h, UNW_SYM(unw_set_caching_policy)), dlsym(h, UNW_SYM(unw_tdep_getcontext)),
		dlsym(h, UNW_SYM(unw_local_addr_space)),
	};
	if (u.init_local2 && u.step && u.get_reg && u.is_signal_frame && u.set_caching_policy && u.getcontext &&
	    u.local_addr_space)
		unw = u;
}

/*
 * Thread pointers for dumping.  libunwind calls read, syscall, pipe2,
 * sigprocmask and pthread_mutex_lock, which gmp interposes; on a G they
 * would enter the scheduler (a hand-off, a park), and on g0 the TLS names
 * a G that is not running here at all.  So a dump runs with FS on a TCB of
 * its own whose "current G" is NULL: every interposed function takes its
 * foreign-thread path (plain system calls).  Two TCBs, allocated at
 * start-up: [0] for the thread dumping (under the dump lock), [1] for the
 * thread answering a backtrace request (one at a time).  Each costs two
 * arch_prctl calls here (~7 us).  The TCBs are those of two G structs that
 * stay G_IDLE for ever (never run, never on a free list), so dlopen's TLS
 * copy reaches them too.
 */
static void *dump_tcb[2]; /* immutable after init */

void gmp_dump_tcbs_init(void)
{
	for (int i = 0; i < 2; i++) {
		struct gmp_g *g = gmp_galloc();
		if (!g || !(g->tcb = gmp_tcb_alloc(g)))
			return;
		dump_tcb[i] = g->tcb;
	}
}

/*
 * Switch to dump TCB i; returns the thread pointer to give back to
 * gmp_dump_tp_leave, NULL if not switched.  The first switch to TCB 0 also sets
 * libunwind up: its global cache takes a pthread mutex and changes the
 * signal mask, so it is turned off.  Not at start-up: libunwind's set-up
 * opens a pipe, and a program that never dumps must see the same file
 * descriptors as natively.
 */
__attribute__((noinline)) void *gmp_dump_tp_enter(int i)
{
	static bool unw_ready; /* dump lock */
	void *tp = gmp_arch_get_tp();
	if (!dump_tcb[i] || gmp_set_tp_any(dump_tcb[i]) != 0)
		return NULL;
	if (i == 0 && !unw_ready && unw.set_caching_policy) {
		unw.set_caching_policy(*unw.local_addr_space, UNW_CACHE_NONE);
		unw_ready = true;
	}
	return tp;
}

__attribute__((noinline)) void gmp_dump_tp_leave(void *tp)
{
	if (tp)
		gmp_set_tp_any(tp);
}

/* ------------------------------------------------------------ backtraces */

/* Unwind from a register context: sigframe says uc is a signal context (its pc is exact). */
void gmp_unwind(ucontext_t *uc, bool sigframe, struct trace *t)
{
	unw_cursor_t cur;
	t->n = 0;
	if (!unw.init_local2 || unw.init_local2(&cur, (unw_context_t *)uc, sigframe ? UNW_INIT_SIGNAL_FRAME : 0) < 0)
		return;
	bool exact = sigframe;
	do {
		unw_word_t ip = 0;
		unw.get_reg(&cur, UNW_REG_IP, &ip);
		if (!ip)
			break;
		struct frame *f = t->n < TB_HEAD ? &t->head[t->n] : &t->tail[t->n % TB_TAIL];
		f->pc = (uintptr_t)ip;
		f->exact = exact;
		t->n++;
		exact = unw.is_signal_frame(&cur) > 0;
	} while (t->n < TB_STEPS && unw.step(&cur) > 0);
}

static void print_frame(int i, const struct frame *f, bool syms)
{
	char s[200];
	gmp_symstr(f->pc, f->exact ? f->pc : f->pc - 1, syms, s, sizeof s);
	gmp_printf("\t#%d 0x%lx %s\n", i, (unsigned long)f->pc, s);
}

/* Runs of one return address (recursion) print once. */
static void print_frames(const struct frame *fr, int first, int n, int (*idx)(int), bool syms)
{
	for (int k = 0; k < n;) {
		const struct frame *f = &fr[idx ? idx(first + k) : k];
		int run = 1;
		while (k + run < n && fr[idx ? idx(first + k + run) : k + run].pc == f->pc)
			run++;
		print_frame(first + k, f, syms);
		if (run > 1)
			gmp_printf("\t#%d-#%d: the same\n", first + k + 1, first + k + run - 1);
		k += run;
	}
}

static int tail_slot(int i) { return i % TB_TAIL; }

void gmp_print_trace(const struct trace *t, bool syms)
{
	int nh = t->n < TB_HEAD ? t->n : TB_HEAD;
	print_frames(t->head, 0, nh, NULL, syms);
	if (t->n <= TB_HEAD)
		return;
	int nt = t->n - TB_HEAD < TB_TAIL ? t->n - TB_HEAD : TB_TAIL;
	int first = t->n - nt;
	if (first > TB_HEAD)
		gmp_printf("\t... %d frames elided ...\n", first - TB_HEAD);
	print_frames(t->tail, first, nt, tail_slot, syms);
	if (t->n == TB_STEPS)
		gmp_printf("\t... (unwinding stopped after %d frames)\n", TB_STEPS);
}

static void unwind_ctx(const struct gmp_ctx *c, struct trace *t)
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
	gmp_unwind(&uc, false, t);
}

static __attribute__((noinline)) void unwind_here(struct trace *t)
{
	ucontext_t uc;
	t->n = 0;
	if (!unw.getcontext)
		return;
	unw.getcontext(&uc);
	gmp_unwind(&uc, false, t);
}

/* ------------------------------------------------------------ registers of a G running on another M */

#define SIG_REQ GMP_SIGCANCEL /* whose handler core/cancel.c owns: never blocked in a G */
#define REQ_MAGIC 0x676d7064
#define REMOTE_WAIT_NS (2 * 1000000000LL)   /* per G */
#define REMOTE_BUDGET_NS (5 * 1000000000LL) /* per dump */


/* The one request in flight; the dump lock serialises requests. */
static struct {
	_Atomic uint32_t done;
	_Atomic pid_t tid;    /* kernel thread asked; 0: nobody (late answers are dropped) */
	struct gmp_m *m;
	struct gmp_g *g;
	bool moved;           /* the M was not running g when it answered */
	struct trace t;
} req;

/* cancel.c's handler of signal 32, first: true if si is a request of ours (answered here). */
bool gmp_debug_req_signal(siginfo_t *si, void *ucv)
{
	if (si->si_code != SI_QUEUE || si->si_value.sival_int != REQ_MAGIC || si->si_pid != gmp_sched.pid)
		return false;
	if (atomic_load(&req.tid) == gmp_dump_gettid() && !atomic_load(&req.done)) {
		req.moved = req.m->curg != req.g;
		void *tp = gmp_dump_tp_enter(1);
		if (tp)
			gmp_unwind(ucv, true, &req.t);
		else
			req.t.n = 0;
		gmp_dump_tp_leave(tp);
		atomic_store(&req.done, 1);
		gmp_kfutex_wake(&req.done, 1);
	}
	return true;
}

/* Ask m for the registers of g, which it runs.  Dump lock held.  false: no answer in time. */
static bool remote_trace(struct gmp_g *g, struct gmp_m *m, struct trace *t, int64_t *budget)
{
	if (*budget <= 0 || !gmp_sig32_install())
		return false;
	req.m = m;
	req.g = g;
	req.moved = false;
	atomic_store(&req.done, 0);
	atomic_store(&req.tid, m->tid);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIG_REQ;
	si.si_code = SI_QUEUE;
	si.si_pid = gmp_sched.pid;
	si.si_uid = (uid_t)gmp_sys0(SYS_getuid);
	si.si_value.sival_int = REQ_MAGIC;
	bool ok = false;
	int64_t t0 = gmp_nanotime(), wait = *budget < REMOTE_WAIT_NS ? *budget : REMOTE_WAIT_NS;
	if (gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, SIG_REQ, &si) == 0) {
		for (;;) {
			if (atomic_load(&req.done)) {
				ok = !req.moved;
				*t = req.t;
				break;
			}
			int64_t left = t0 + wait - gmp_nanotime();
			if (left <= 0)
				break;
			gmp_kfutex_wait(&req.done, 0, left);
		}
	}
	atomic_store(&req.tid, 0);
	*budget -= gmp_nanotime() - t0;
	return ok;
}

/* ------------------------------------------------------------ the dump */

/* One G's header line: id, state, wait, M, name, creator and where it started. */
void gmp_dump_print_g(struct gmp_g *g, uint32_t st, int64_t now, bool syms)
{
	char line[400];
	int n = snprintf(line, sizeof line, "goroutine %llu [%s", (unsigned long long)g->goid, gmp_gstatus_name(st));
	if (st == G_WAITING && g->waitreason == WR_NETPOLL && g->npfd)
		n += snprintf(line + n, sizeof line - (size_t)n, ", netpoll fd %d %s, %lld ms", g->npfd - 1,
			      g->npmode ? "write" : "read", (long long)((now - g->waitsince) / 1000000));
	else if (st == G_WAITING)
		n += snprintf(line + n, sizeof line - (size_t)n, ", %s, %lld ms", gmp_waitreason_name(g->waitreason),
			      (long long)((now - g->waitsince) / 1000000));
	struct gmp_m *m = g->m;
	if ((st == G_RUNNING || st == G_SYSCALL) && m)
		n += snprintf(line + n, sizeof line - (size_t)n, ", on M%llu tid %d", (unsigned long long)m->id, m->tid);
	uint64_t sp = atomic_load(&g->sigpending);
	if (sp)
		n += snprintf(line + n, sizeof line - (size_t)n, ", signals pending %#llx", (unsigned long long)sp);
	if (g->npreempt)
		n += snprintf(line + n, sizeof line - (size_t)n, ", preempted %u times, last %lld ms ago", g->npreempt,
			      (long long)((now - g->lastpreempt) / 1000000));
	n += snprintf(line + n, sizeof line - (size_t)n, "]%s%s%s", g->name[0] ? " \"" : "", g->name,
		      g->name[0] ? "\"" : "");
	if (g->ismain) {
		snprintf(line + n, sizeof line - (size_t)n, ", main thread\n");
	} else {
		char where[160], from[160] = "";
		gmp_symstr((uintptr_t)g->start, (uintptr_t)g->start, syms, where, sizeof where);
		uintptr_t pc = (uintptr_t)g->createpc;
		if (pc) {
			memcpy(from, " from ", 6);
			gmp_symstr(pc, pc - 1, syms, from + 6, sizeof from - 6);
		}
		if (g->createdby)
			snprintf(line + n, sizeof line - (size_t)n, ", created by goroutine %llu at %s%s\n",
				 (unsigned long long)g->createdby, where, from);
		else
			snprintf(line + n, sizeof line - (size_t)n, ", created by a thread gmp did not create at %s%s\n",
				 where, from);
	}
	gmp_printf("%s", line);
}

/*
 * Every live G but skip.  full: the dump lock is held and FS is on dump
 * TCB 0, so backtraces and symbols can be made; else header lines only.
 */
void gmp_dump_all(struct gmp_g *skip, pid_t me, bool full)
{
	bool syms = full;
	int64_t now = gmp_nanotime(), budget = REMOTE_BUDGET_NS;
	gmp_printf("gmp: %u Ps, %d Ms, %d live threads\n", gmp_sched.nprocs, gmp_sched.nmtotal,
		   atomic_load(&gmp_sched.ngalive));
	uint64_t pp = gmp_signal_process_pending();
	if (pp)
		gmp_printf("gmp: signals pending for the process, blocked by every thread: %#llx\n",
			   (unsigned long long)pp);
	/* allg is push-only: walking it without the lock is safe (and a dump must not block). */
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) {
		uint32_t st = gmp_gstatus(g);
		if (st == G_IDLE || st == G_DEAD || g == skip)
			continue;
		gmp_dump_print_g(g, st, now, syms);
		struct trace t;
		struct gmp_m *m = g->m;
		if (!full)
			continue;
		if (st == G_WAITING || st == G_RUNNABLE) {
			unwind_ctx(&g->ctx, &t);
			gmp_print_trace(&t, syms);
		} else if (st == G_RUNNING && m && m->curg == g) {
			if (m->tid == me) {
				unwind_here(&t);
				gmp_print_trace(&t, syms);
			} else if (remote_trace(g, m, &t, &budget)) {
				gmp_print_trace(&t, syms);
			} else {
				gmp_printf("\t(running: no backtrace)\n");
			}
		} else if (st == G_SYSCALL) {
			gmp_printf("\t(in a kernel call: not interrupted for a backtrace)\n");
		}
	}
}

void gmp_dump_gs(int fd)
{
	(void)fd;
	pid_t me = gmp_dump_gettid();
	bool held = gmp_dump_lock(me);
	void *tp = held ? gmp_dump_tp_enter(0) : NULL;
	gmp_dump_all(NULL, me, tp != NULL);
	gmp_dump_tp_leave(tp);
	gmp_dump_unlock(held);
}
