/*
 * Context switch for x86_64, System V ABI, ELF, GNU as.
 *
 * Saved frame (struct gmp_ctx, arch/context_x86_64.h):
 *
 *   offset  register  why
 *   0x00    rsp       stack of the suspended context
 *   0x08    rbx       callee-saved
 *   0x10    rbp       callee-saved (frame pointer)
 *   0x18    r12       callee-saved; fresh context: entry function
 *   0x20    r13       callee-saved; fresh context: its argument
 *   0x28    r14       callee-saved
 *   0x30    r15       callee-saved
 *   0x38    rip       where to resume
 *   0x40    mxcsr     SSE control/status (control bits are callee-saved)
 *   0x44    fpucw     x87 control word (callee-saved)
 *
 * Caller-saved registers are dead across the call by the ABI, so they are
 * not saved.  The thread pointer (FS base) is not touched here: the
 * scheduler writes it only when the TCB really changes (arch/tls_x86_64.c).
 */
#include "context_x86_64.h"

	.text

/* void gmp_ctx_switch(struct gmp_ctx *from [rdi], const struct gmp_ctx *to [rsi]) */
	.globl	gmp_ctx_switch
	.hidden	gmp_ctx_switch
	.type	gmp_ctx_switch, @function
	.p2align 4
gmp_ctx_switch:
	.cfi_startproc
	movq	(%rsp), %rax			/* our return address becomes the saved rip */
	leaq	8(%rsp), %rdx			/* rsp as it will be after that return */
	movq	%rdx, GMP_CTX_RSP(%rdi)
	movq	%rax, GMP_CTX_RIP(%rdi)
	movq	%rbx, GMP_CTX_RBX(%rdi)
	movq	%rbp, GMP_CTX_RBP(%rdi)
	movq	%r12, GMP_CTX_R12(%rdi)
	movq	%r13, GMP_CTX_R13(%rdi)
	movq	%r14, GMP_CTX_R14(%rdi)
	movq	%r15, GMP_CTX_R15(%rdi)
	stmxcsr	GMP_CTX_MXCSR(%rdi)
	fnstcw	GMP_CTX_FPUCW(%rdi)

	/* From here on we run on the target's registers. */
	movq	GMP_CTX_RBX(%rsi), %rbx
	movq	GMP_CTX_RBP(%rsi), %rbp
	movq	GMP_CTX_R12(%rsi), %r12
	movq	GMP_CTX_R13(%rsi), %r13
	movq	GMP_CTX_R14(%rsi), %r14
	movq	GMP_CTX_R15(%rsi), %r15
	ldmxcsr	GMP_CTX_MXCSR(%rsi)
	fldcw	GMP_CTX_FPUCW(%rsi)
	movq	GMP_CTX_RSP(%rsi), %rsp
	jmpq	*GMP_CTX_RIP(%rsi)		/* as if gmp_ctx_switch returned there */
	.cfi_endproc
	.size	gmp_ctx_switch, .-gmp_ctx_switch

/*
 * First code of a fresh context: call r12(r13).  The entry function never
 * returns.  The CFI marks rip as undefined so unwinders stop here instead of
 * walking into garbage above the initial frame.
 */
	.globl	gmp_ctx_trampoline
	.hidden	gmp_ctx_trampoline
	.type	gmp_ctx_trampoline, @function
	.p2align 4
gmp_ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp			/* outermost frame */
	movq	%r13, %rdi
	callq	*%r12
	ud2					/* the entry function must not return */
	.cfi_endproc
	.size	gmp_ctx_trampoline, .-gmp_ctx_trampoline

/*
 * The restorer of the handlers gmp installs with rt_sigaction itself
 * (signal 32, which glibc's sigaction refuses): the kernel returns from a
 * handler through it.  No CFI on purpose: unwinders (libgcc, libunwind)
 * recognise a signal frame by exactly these bytes, mov $15,%rax; syscall.
 */
	.globl	gmp_sigreturn
	.hidden	gmp_sigreturn
	.type	gmp_sigreturn, @function
	.p2align 4
gmp_sigreturn:
	movq	$15, %rax			/* __NR_rt_sigreturn */
	syscall
	.size	gmp_sigreturn, .-gmp_sigreturn

/*
 * gmp_sigreturn_uc(ucontext_t *uc): leave a signal handler through the
 * frame whose ucontext is uc, from this code rather than from the
 * restorer the handler was installed with (glibc's, for handlers set
 * through sigaction).  The kernel finds its frame one word below the
 * stack pointer, where the restorer's address was.  Used where system
 * calls from anywhere but gmp's code trap (core/xwait.c).  Never returns.
 */
	.globl	gmp_sigreturn_uc
	.hidden	gmp_sigreturn_uc
	.type	gmp_sigreturn_uc, @function
	.p2align 4
gmp_sigreturn_uc:
	movq	%rdi, %rsp
	movq	$15, %rax			/* __NR_rt_sigreturn */
	syscall
	ud2
	.size	gmp_sigreturn_uc, .-gmp_sigreturn_uc

/*
 * gmp_sigreturn_at(sp): rt_sigreturn through gmp_sys_gadget with the stack
 * pointer a restorer had (one word above the kernel's frame): for a
 * restorer of gmp's whose own rt_sigreturn trapped (core/rawtrap.c).
 */
	.globl	gmp_sigreturn_at
	.hidden	gmp_sigreturn_at
	.type	gmp_sigreturn_at, @function
	.p2align 4
gmp_sigreturn_at:
	movq	%rdi, %rsp
	movq	$15, %rax			/* __NR_rt_sigreturn */
	jmp	*gmp_sys_gadget(%rip)
	.size	gmp_sigreturn_at, .-gmp_sigreturn_at

/*
 * gmp_trap_return(ucontext_t *uc, uint64_t rfbm): leave the handler of a
 * trapped system call (Syscall User Dispatch's SIGSYS) without
 * rt_sigreturn: the vector state from the frame (xrstor with rfbm, or
 * fxrstor when rfbm is 0), the flags, every general register, the stack
 * pointer, and on at the frame's rip.  rcx and r11 end as the syscall
 * instruction leaves them (rip, rflags).  The caller has checked what
 * rt_sigreturn would do besides: the kernel's signal mask is the frame's
 * already, no alternate stack to restore, no shadow stack
 * (core/rawtrap.c).  Nothing below the interrupted stack pointer's red
 * zone is written after the switch; the one read from the frame after it
 * is r11's copy of the flags (a signal arriving in between could clobber
 * that copy: r11 is the syscall's scratch register).  Never returns.
 * ucontext_t: gregs at 0x28 (REG_R8 .. REG_EFL = 0..17), fpregs at 0xe0.
 */
	.globl	gmp_trap_return
	.hidden	gmp_trap_return
	.type	gmp_trap_return, @function
	.p2align 4
gmp_trap_return:
	movq	%rdi, %r11
	movq	0xe0(%r11), %rcx		/* fpregs */
	testq	%rsi, %rsi
	jz	1f
	movl	%esi, %eax
	shrq	$32, %rsi
	movl	%esi, %edx
	xrstor64 (%rcx)
	jmp	2f
1:	fxrstor64 (%rcx)
2:	pushq	0x28+8*17(%r11)			/* REG_EFL */
	popfq
	movq	0x28+8*0(%r11), %r8
	movq	0x28+8*1(%r11), %r9
	movq	0x28+8*2(%r11), %r10
	movq	0x28+8*4(%r11), %r12
	movq	0x28+8*5(%r11), %r13
	movq	0x28+8*6(%r11), %r14
	movq	0x28+8*7(%r11), %r15
	movq	0x28+8*8(%r11), %rdi
	movq	0x28+8*9(%r11), %rsi
	movq	0x28+8*10(%r11), %rbp
	movq	0x28+8*11(%r11), %rbx
	movq	0x28+8*12(%r11), %rdx
	movq	0x28+8*13(%r11), %rax
	movq	0x28+8*16(%r11), %rcx		/* REG_RIP */
	movq	0x28+8*15(%r11), %rsp		/* REG_RSP */
	movq	0x28+8*17(%r11), %r11		/* REG_EFL */
	jmp	*%rcx
	.size	gmp_trap_return, .-gmp_trap_return

	.section .note.GNU-stack,"",@progbits
