/*
 * The thread dump, shared by its three users: core/traceback.c (backtraces,
 * the dump of every G), core/crash.c (the fatal-signal report) and
 * core/symtab.c (symbols).  Private to them and core/debug.c; everything
 * here runs in signal handlers and on any stack: no malloc, no function gmp
 * interposes, no lock a parked G can hold (core/traceback.c says why).
 */
#ifndef GMP_DUMP_H
#define GMP_DUMP_H

#include "runtime.h"

#include <ucontext.h>

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

/* traceback.c */
pid_t gmp_dump_gettid(void) GMP_HIDDEN;
void gmp_dump_sleep_ms(long ms) GMP_HIDDEN;
bool gmp_dump_lock(pid_t me) GMP_HIDDEN;        /* false: not taken (another dump for ~2 s, or this thread's own) */
void gmp_dump_unlock(bool held) GMP_HIDDEN;
void gmp_dump_tcbs_init(void) GMP_HIDDEN;       /* start-up */
void *gmp_dump_tp_enter(int i) GMP_HIDDEN;      /* FS on dump TCB i; the old thread pointer, or NULL */
void gmp_dump_tp_leave(void *tp) GMP_HIDDEN;
void gmp_unwind(ucontext_t *uc, bool sigframe, struct trace *t) GMP_HIDDEN;
void gmp_print_trace(const struct trace *t, bool syms) GMP_HIDDEN;
void gmp_dump_print_g(struct gmp_g *g, uint32_t st, int64_t now, bool syms) GMP_HIDDEN;
void gmp_dump_all(struct gmp_g *skip, pid_t me, bool full) GMP_HIDDEN;

/* symtab.c: "name+0xoff" for addr (looked up at lookup), "?(module+0xoff)" or "?"; symbols only with syms (dump lock held) */
void gmp_symstr(uintptr_t addr, uintptr_t lookup, bool syms, char *buf, size_t len) GMP_HIDDEN;

/* crash.c */
void gmp_crash_init(void) GMP_HIDDEN; /* start-up: the fatal-signal handlers */

#endif
