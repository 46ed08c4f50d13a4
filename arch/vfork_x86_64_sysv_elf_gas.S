/*
 * vfork, interposed (core/fork.c, gmp_vfork_enter/leave).  A C wrapper
 * cannot call vfork: the child returns through the wrapper's frame, which
 * the parent then needs again.  So, as glibc's own vfork does, the return
 * address is kept in a register across the system call; the stack above
 * it is the caller's, which the child may use but does not unwind.
 *
 *   gmp_vfork_enter()          before: in the parent
 *   vfork system call          the parent sleeps until the child execs or exits
 *   child: return 0            (gmp_vforking stays set in the shared TLS)
 *   parent: gmp_vfork_leave(r) the pid, or -1 with errno
 */
	.text
	.globl vfork
	.type vfork, @function
vfork:
	.cfi_startproc
	sub $8, %rsp
	.cfi_adjust_cfa_offset 8
	call gmp_vfork_enter
	add $8, %rsp
	.cfi_adjust_cfa_offset -8
	pop %rdi
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rdi
	mov $58, %eax /* SYS_vfork */
	syscall
	push %rdi
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rip, 0
	test %rax, %rax
	jz 1f
	push %rax
	.cfi_adjust_cfa_offset 8
	mov %rax, %rdi
	call gmp_vfork_leave
	add $8, %rsp
	.cfi_adjust_cfa_offset -8
1:	ret
	.cfi_endproc
	.size vfork, .-vfork

	.section .note.GNU-stack, "", @progbits
