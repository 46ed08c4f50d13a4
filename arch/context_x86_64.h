/*
 * Saved user-thread context for x86_64 System V, shared between C and
 * arch/switch_x86_64_sysv_elf_gas.S.  Only what the ABI says a callee must
 * preserve is saved: rsp, rbx, rbp, r12-r15, the MXCSR control bits and the
 * x87 control word.  Everything else is dead across a call.
 */
#ifndef GMP_ARCH_CONTEXT_X86_64_H
#define GMP_ARCH_CONTEXT_X86_64_H

#define GMP_CTX_RSP    0x00
#define GMP_CTX_RBX    0x08
#define GMP_CTX_RBP    0x10
#define GMP_CTX_R12    0x18
#define GMP_CTX_R13    0x20
#define GMP_CTX_R14    0x28
#define GMP_CTX_R15    0x30
#define GMP_CTX_RIP    0x38
#define GMP_CTX_MXCSR  0x40
#define GMP_CTX_FPUCW  0x44
#define GMP_CTX_SIZE   0x48

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

struct gmp_ctx {
	uintptr_t rsp, rbx, rbp, r12, r13, r14, r15, rip;
	uint32_t mxcsr;
	uint16_t fpucw;
	uint16_t pad;
};

_Static_assert(offsetof(struct gmp_ctx, rsp) == GMP_CTX_RSP, "ctx rsp");
_Static_assert(offsetof(struct gmp_ctx, rbx) == GMP_CTX_RBX, "ctx rbx");
_Static_assert(offsetof(struct gmp_ctx, rbp) == GMP_CTX_RBP, "ctx rbp");
_Static_assert(offsetof(struct gmp_ctx, r12) == GMP_CTX_R12, "ctx r12");
_Static_assert(offsetof(struct gmp_ctx, r15) == GMP_CTX_R15, "ctx r15");
_Static_assert(offsetof(struct gmp_ctx, rip) == GMP_CTX_RIP, "ctx rip");
_Static_assert(offsetof(struct gmp_ctx, mxcsr) == GMP_CTX_MXCSR, "ctx mxcsr");
_Static_assert(offsetof(struct gmp_ctx, fpucw) == GMP_CTX_FPUCW, "ctx fpucw");
_Static_assert(sizeof(struct gmp_ctx) == GMP_CTX_SIZE, "ctx size");

/*
 * Save the running context into *from and resume *to.  Returns when some
 * later switch resumes *from.  Context: any stack; no locks needed by itself.
 */
void gmp_ctx_switch(struct gmp_ctx *from, const struct gmp_ctx *to);

/* Entry of a fresh context: calls fn(arg) (held in r12/r13); fn must not return. */
void gmp_ctx_trampoline(void);
/* rt_sigreturn: the restorer of handlers gmp installs with rt_sigaction itself */
void gmp_sigreturn(void);
/* rt_sigreturn of the signal frame whose ucontext is uc, from gmp's code (core/xwait.c) */
__attribute__((noreturn)) void gmp_sigreturn_uc(void *uc);
__attribute__((noreturn)) void gmp_sigreturn_at(uintptr_t sp); /* rawtrap.c: a trapped restorer's */
/* rawtrap.c: out of a trapped system call's handler without rt_sigreturn (rfbm 0: fxrstor) */
__attribute__((noreturn)) void gmp_trap_return(void *uc, uint64_t rfbm);

/*
 * Prepare *ctx so that switching to it runs fn(arg) on the stack whose
 * highest usable address is top.  The new frame inherits the caller's
 * MXCSR and x87 control word, as a new thread inherits its creator's.
 */
static inline void gmp_ctx_make(struct gmp_ctx *ctx, void *top, void (*fn)(void *), void *arg)
{
	/* The trampoline runs with rsp 16-aligned, so its call gives fn the ABI's rsp+8 alignment. */
	uintptr_t sp = ((uintptr_t)top & ~(uintptr_t)15) - 16;
	*(uintptr_t *)sp = 0; /* a null "return address" above the first frame ends backtraces */
	ctx->rsp = sp;
	ctx->rbx = ctx->rbp = ctx->r14 = ctx->r15 = 0;
	ctx->r12 = (uintptr_t)fn;
	ctx->r13 = (uintptr_t)arg;
	ctx->rip = (uintptr_t)gmp_ctx_trampoline;
	__asm__ volatile("stmxcsr %0" : "=m"(ctx->mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(ctx->fpucw));
}
#endif
#endif
