/*
 * Syscall User Dispatch (Linux 5.11), as core/xwait.c and core/rawtrap.c
 * use it: spelled out here because older kernel headers lack it.  While a
 * thread has it on, a system call from outside the allowed code range
 * stops with SIGSYS (si_code SYS_USER_DISPATCH) when the selector byte
 * says block.
 */
#ifndef GMP_SUD_H
#define GMP_SUD_H

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_OFF 0
#define PR_SYS_DISPATCH_ON 1
#endif
#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2 /* si_code of its SIGSYS */
#endif
#define SEL_ALLOW 0
#define SEL_BLOCK 1

#endif
