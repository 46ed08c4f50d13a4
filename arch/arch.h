/*
 * The interface of arch/: everything ISA- and ABI-specific the core needs.
 * arch/ knows nothing of G, M or P.  meson picks the files for the target.
 */
#ifndef GMP_ARCH_H
#define GMP_ARCH_H

#if defined(__x86_64__)
#include "context_x86_64.h"
#include "syscall_x86_64.h"
/* Offsets in the x86_64 TCB header (tcbhead_t) that the compiler ABI fixes. */
#define GMP_TCB_TCB            0x00 /* pointer to the TCB itself */
#define GMP_TCB_DTV            0x08
#define GMP_TCB_SELF           0x10 /* struct pthread *self */
#define GMP_TCB_MULTIPLE       0x18 /* int multiple_threads */
#define GMP_TCB_STACK_GUARD    0x28 /* -fstack-protector canary */
#define GMP_TCB_POINTER_GUARD  0x30 /* PTR_MANGLE key */
#define GMP_TCB_FEATURE_1      0x48 /* CET feature bits */
#else
#error "gmp: no arch/ port for this target"
#endif

void gmp_arch_init(void);
int gmp_arch_has_fast_fs(void);    /* the kernel saves a wrfsbase (AT_HWCAP2) */
int gmp_arch_cpu_fsgsbase(void);   /* the CPU has the instructions (CPUID), whatever the kernel says */
void gmp_arch_set_fs_wrfsbase(void); /* set the thread pointer by wrfsbase from now on (core/fstrap.c) */
/* Returns 0 or -errno.  The caller must be prepared for any TLS access to go to the new block. */
int gmp_arch_set_tp(void *tp);
#endif
