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
 * foreign-thread paths (see tp_enter).  Remaining risk: dl_iterate_phdr
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
 * answers, and programs cannot use it.  core/signal.c owns the handler of
 * signal 32 (glibc's cancellation signal, which it routes to the G it is
 * for) and passes every dump request here first (gmp_debug_req_signal).
 * A G in a kernel call is not signalled:
 * the signal could end its call with EINTR, which NPTL would not do.
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
#include "runtime.h"

#define UNW_LOCAL_ONLY
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>

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

static void fatal_init(void);
static void dump_tcbs_init(void);

void gmp_debug_init(void)
{
	const char *tb = getenv("GMP_TRACEBACK");
	if (tb) {
		if (!strcmp(tb, "none") || !strcmp(tb, "0"))
			gmp_debug.traceback = 0;
		else if (!strcmp(tb, "all") || !strcmp(tb, "2") || !strcmp(tb, "system") || !strcmp(tb, "crash"))
			gmp_debug.traceback = 2;
	}
	dump_tcbs_init();
	fatal_init();
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

static pid_t gettid_raw(void) { return (pid_t)gmp_sys0(SYS_gettid); }

static void sleep_ms(long ms)
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

static bool dump_lock(pid_t me)
{
	for (int i = 0; i < 2000; i++) {
		pid_t z = 0;
		if (atomic_compare_exchange_strong(&dump_owner, &z, me))
			return true;
		if (z == me)
			return false;
		sleep_ms(1);
	}
	return false;
}

static void dump_unlock(bool held)
{
	if (held)
		atomic_store(&dump_owner, 0);
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

static void dump_tcbs_init(void)
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
 * tp_leave, NULL if not switched.  The first switch to TCB 0 also sets
 * libunwind up: its global cache takes a pthread mutex and changes the
 * signal mask, so it is turned off.  Not at start-up: libunwind's set-up
 * opens a pipe, and a program that never dumps must see the same file
 * descriptors as natively.
 */
static __attribute__((noinline)) void *tp_enter(int i)
{
	static bool unw_ready; /* dump lock */
	void *tp = gmp_arch_get_tp();
	if (!dump_tcb[i] || gmp_set_tp_any(dump_tcb[i]) != 0)
		return NULL;
	if (i == 0 && !unw_ready) {
		unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);
		unw_ready = true;
	}
	return tp;
}

static __attribute__((noinline)) void tp_leave(void *tp)
{
	if (tp)
		gmp_set_tp_any(tp);
}

/* ------------------------------------------------------------ symbols */

/*
 * A module's symbol table: the file mapped read-only once (never unmapped;
 * costs address space only) and its .symtab, else .dynsym.  Protected by
 * the dump lock.  The main program is /proc/self/exe.
 */
#define NSYMMOD 64
struct symmod {
	uintptr_t base; /* load bias (dlpi_addr) */
	const Elf64_Sym *syms;
	size_t nsyms;
	const char *strs;
	size_t strsz;
};
static struct symmod symmods[NSYMMOD];
static int nsymmods;

static void symmod_parse(struct symmod *s, const char *map, size_t len)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff == 0 ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > len)
		return;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(const void *)(map + eh->e_shoff);
	const uint32_t kinds[2] = {SHT_SYMTAB, SHT_DYNSYM};
	for (int k = 0; k < 2; k++) {
		for (unsigned i = 0; i < eh->e_shnum; i++) {
			const Elf64_Shdr *t = &sh[i];
			if (t->sh_type != kinds[k] || t->sh_link >= eh->e_shnum || t->sh_offset + t->sh_size > len)
				continue;
			const Elf64_Shdr *str = &sh[t->sh_link];
			if (str->sh_offset + str->sh_size > len)
				continue;
			s->syms = (const Elf64_Sym *)(const void *)(map + t->sh_offset);
			s->nsyms = t->sh_size / sizeof(Elf64_Sym);
			s->strs = map + str->sh_offset;
			s->strsz = str->sh_size;
			return;
		}
	}
}

static struct symmod *symmod_get(uintptr_t base, const char *path)
{
	for (int i = 0; i < nsymmods; i++)
		if (symmods[i].base == base)
			return &symmods[i];
	if (nsymmods == NSYMMOD)
		return NULL;
	struct symmod *s = &symmods[nsymmods];
	memset(s, 0, sizeof *s);
	s->base = base;
	int fd = (int)gmp_sys4(SYS_openat, AT_FDCWD, path && *path ? path : "/proc/self/exe", O_RDONLY | O_CLOEXEC, 0);
	if (fd >= 0) {
		struct stat st;
		if (gmp_sys2(SYS_fstat, fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)sizeof(Elf64_Ehdr)) {
			long map = gmp_sys6(SYS_mmap, 0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
			if ((unsigned long)map < -4096UL) {
				symmod_parse(s, (const char *)map, (size_t)st.st_size);
				if (!s->syms)
					gmp_sys2(SYS_munmap, map, st.st_size);
			}
		}
		gmp_sys1(SYS_close, fd);
	}
	nsymmods++;
	return s;
}

struct findmod {
	uintptr_t ip, base;
	const char *name;
	bool found;
};

static int findmod_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct findmod *f = arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && f->ip >= lo && f->ip < lo + ph->p_memsz) {
			f->base = info->dlpi_addr;
			f->name = info->dlpi_name;
			f->found = true;
			return 1;
		}
	}
	return 0;
}

/*
 * The function containing addr: its name and start.  A function whose size
 * covers addr wins over the nearest unsized one.  Without a symbol, the
 * module's file name and load bias, if addr is in one.  Dump lock held.
 */
static int symbolize(uintptr_t addr, char *name, size_t len, uintptr_t *start)
{
	struct findmod f = {.ip = addr};
	dl_iterate_phdr(findmod_cb, &f);
	if (!f.found)
		return 0;
	struct symmod *s = symmod_get(f.base, f.name);
	const Elf64_Sym *sized = NULL, *near = NULL;
	uintptr_t v = addr - f.base;
	for (size_t i = 0; s && s->syms && i < s->nsyms; i++) {
		const Elf64_Sym *y = &s->syms[i];
		int t = ELF64_ST_TYPE(y->st_info);
		if ((t != STT_FUNC && t != STT_GNU_IFUNC) || y->st_shndx == SHN_UNDEF || y->st_value > v)
			continue;
		if (y->st_size && v < y->st_value + y->st_size) {
			if (!sized || y->st_value > sized->st_value)
				sized = y;
		} else if (!y->st_size && (!near || y->st_value > near->st_value)) {
			near = y;
		}
	}
	const Elf64_Sym *b = sized ? sized : near;
	if (b && b->st_name >= s->strsz)
		b = NULL;
	const char *n;
	size_t max;
	if (b) {
		n = s->strs + b->st_name;
		max = s->strsz - b->st_name;
		*start = f.base + b->st_value;
	} else {
		const char *slash = f.name && *f.name ? strrchr(f.name, '/') : NULL;
		n = slash ? slash + 1 : f.name && *f.name ? f.name : "exe";
		max = len;
		*start = f.base;
	}
	size_t i = 0;
	while (i + 1 < len && i < max && n[i]) {
		name[i] = n[i];
		i++;
	}
	name[i] = 0;
	return b ? 1 : 2;
}

/*
 * Recent answers of symbolize, direct-mapped by address: the frames of
 * parked threads repeat (gmp_park, futex_wait, ...), and a lookup is a
 * linear scan of a symbol table.  Dump lock.  Stale after a dlclose that
 * maps other code at the same address; names are then wrong, not unsafe.
 */
#define SYMCACHE 512
static struct {
	uintptr_t addr, start;
	int r;
	char name[72];
} symcache[SYMCACHE];

static int symbolize_cached(uintptr_t addr, char *name, size_t len, uintptr_t *start)
{
	size_t h = (addr ^ (addr >> 9)) % SYMCACHE;
	if (symcache[h].addr != addr) {
		symcache[h].r = symbolize(addr, symcache[h].name, sizeof symcache[h].name, &symcache[h].start);
		symcache[h].addr = addr;
	}
	snprintf(name, len, "%s", symcache[h].name);
	*start = symcache[h].start;
	return symcache[h].r;
}

/* "name+0xoff" for addr into buf, "?(module+0xoff)", or "?"; symbols only while the dump lock is held. */
static void symstr(uintptr_t addr, uintptr_t lookup, bool syms, char *buf, size_t len)
{
	char name[128];
	uintptr_t start = 0;
	int r = syms && addr ? symbolize_cached(lookup, name, sizeof name, &start) : 0;
	if (r == 1)
		snprintf(buf, len, "%s+0x%lx", name, (unsigned long)(addr - start));
	else if (r == 2)
		snprintf(buf, len, "?(%s+0x%lx)", name, (unsigned long)(addr - start));
	else
		snprintf(buf, len, "?");
}

/* ------------------------------------------------------------ backtraces */

/*
 * A backtrace: the first TB_HEAD frames and the last TB_TAIL of at most
 * TB_STEPS (a stack overflow is ~30,000 frames deep; its bottom says which
 * thread function recursed).
 */
#define TB_HEAD 32
#define TB_TAIL 8
#define TB_STEPS 200000

struct frame {
	uintptr_t pc;
	bool exact; /* the faulting/interrupted instruction, not a return address */
};

struct trace {
	int n;      /* frames unwound */
	struct frame head[TB_HEAD];
	struct frame tail[TB_TAIL]; /* ring: frame i (i >= TB_HEAD) is tail[i % TB_TAIL] */
};

/* Unwind from a register context: sigframe says uc is a signal context (its pc is exact). */
static void unwind(ucontext_t *uc, bool sigframe, struct trace *t)
{
	unw_cursor_t cur;
	t->n = 0;
	if (unw_init_local2(&cur, (unw_context_t *)uc, sigframe ? UNW_INIT_SIGNAL_FRAME : 0) < 0)
		return;
	bool exact = sigframe;
	do {
		unw_word_t ip = 0;
		unw_get_reg(&cur, UNW_REG_IP, &ip);
		if (!ip)
			break;
		struct frame *f = t->n < TB_HEAD ? &t->head[t->n] : &t->tail[t->n % TB_TAIL];
		f->pc = (uintptr_t)ip;
		f->exact = exact;
		t->n++;
		exact = unw_is_signal_frame(&cur) > 0;
	} while (t->n < TB_STEPS && unw_step(&cur) > 0);
}

static void print_frame(int i, const struct frame *f, bool syms)
{
	char s[200];
	symstr(f->pc, f->exact ? f->pc : f->pc - 1, syms, s, sizeof s);
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

static void print_trace(const struct trace *t, bool syms)
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
	unwind(&uc, false, t);
}

static __attribute__((noinline)) void unwind_here(struct trace *t)
{
	ucontext_t uc;
	unw_getcontext(&uc);
	unwind(&uc, false, t);
}

/* ------------------------------------------------------------ registers of a G running on another M */

#define SIG_REQ 32 /* SIGCANCEL, whose handler core/signal.c owns: never blocked in a G */
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

/* signal.c's handler of signal 32, first: true if si is a request of ours (answered here). */
bool gmp_debug_req_signal(siginfo_t *si, void *ucv)
{
	if (si->si_code != SI_QUEUE || si->si_value.sival_int != REQ_MAGIC || si->si_pid != gmp_sched.pid)
		return false;
	if (atomic_load(&req.tid) == gettid_raw() && !atomic_load(&req.done)) {
		req.moved = req.m->curg != req.g;
		void *tp = tp_enter(1);
		if (tp)
			unwind(ucv, true, &req.t);
		else
			req.t.n = 0;
		tp_leave(tp);
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
static void print_g(struct gmp_g *g, uint32_t st, int64_t now, bool syms)
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
		symstr((uintptr_t)g->start, (uintptr_t)g->start, syms, where, sizeof where);
		uintptr_t pc = (uintptr_t)g->createpc;
		if (pc) {
			memcpy(from, " from ", 6);
			symstr(pc, pc - 1, syms, from + 6, sizeof from - 6);
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
static void dump_all(struct gmp_g *skip, pid_t me, bool full)
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
		print_g(g, st, now, syms);
		struct trace t;
		struct gmp_m *m = g->m;
		if (!full)
			continue;
		if (st == G_WAITING || st == G_RUNNABLE) {
			unwind_ctx(&g->ctx, &t);
			print_trace(&t, syms);
		} else if (st == G_RUNNING && m && m->curg == g) {
			if (m->tid == me) {
				unwind_here(&t);
				print_trace(&t, syms);
			} else if (remote_trace(g, m, &t, &budget)) {
				print_trace(&t, syms);
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
	pid_t me = gettid_raw();
	bool held = dump_lock(me);
	void *tp = held ? tp_enter(0) : NULL;
	dump_all(NULL, me, tp != NULL);
	tp_leave(tp);
	dump_unlock(held);
}

/* ------------------------------------------------------------ fatal signals */

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
	gmp_sys3(SYS_tgkill, gmp_sched.pid, gettid_raw(), sig);
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
	void *tp = held ? tp_enter(0) : NULL;
	if (g)
		print_g(g, gmp_gstatus(g), gmp_nanotime(), tp != NULL);
	if (tp) {
		struct trace t;
		unwind(uc, true, &t);
		print_trace(&t, true);
	}
	if (gmp_debug.traceback >= 2) {
		gmp_printf("\n");
		dump_all(g, me, tp != NULL);
	}
	tp_leave(tp);
}

static void fatal_handler(int sig, siginfo_t *si, void *ucv)
{
	pid_t me = gettid_raw(), z = 0;
	if (!atomic_compare_exchange_strong(&crashing, &z, me)) {
		if (z != me) /* another thread is reporting and will end the process */
			for (int i = 0; i < 10000; i++)
				sleep_ms(1);
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
	bool held = dump_lock(me);
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
	dump_unlock(held);
	errno = e;
	die(sig);
}

static void fatal_init(void)
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

/* Is fn a handler gmp installed for itself (preload/signal.c shows SIG_DFL instead)? */
bool gmp_debug_own_handler(void *fn) { return fn == (void *)fatal_handler; }
