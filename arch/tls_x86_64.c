/*
 * Thread-pointer (FS base) access for x86_64 Linux.
 *
 * With CR4.FSGSBASE enabled by the kernel (AT_HWCAP2 bit 1) a write is the
 * unprivileged wrfsbase instruction (~12 ns).  Otherwise it is
 * arch_prctl(ARCH_SET_FS), a system call; on PVM-style guests that call was
 * measured at ~3.4 us, which is why the scheduler writes FS only when the
 * TCB really changes.  Reads are gmp_arch_get_tp (syscall_x86_64.h).
 */
#include "arch.h"

#include <asm/prctl.h>
#include <stdbool.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include "syscall_x86_64.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

static int have_fsgsbase = -1; /* immutable after gmp_arch_init */
static bool use_wrfsbase;        /* the kernel's, or core/fstrap.c's traps; immutable after init */

void gmp_arch_init(void)
{
	have_fsgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
	use_wrfsbase = have_fsgsbase == 1;
}

int gmp_arch_has_fast_fs(void) { return have_fsgsbase == 1; }

int gmp_arch_cpu_fsgsbase(void)
{
	unsigned a = 7, b = 0, c = 0, d = 0;
	__asm__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return (b & 1) != 0; /* CPUID.(EAX=7,ECX=0):EBX bit 0, FSGSBASE */
}

void gmp_arch_set_fs_wrfsbase(void) { use_wrfsbase = true; }

int gmp_arch_set_tp(void *tp)
{
	if (use_wrfsbase) {
		gmp_wrfsbase(tp);
		return 0;
	}
	return (int)gmp_sys2(SYS_arch_prctl, ARCH_SET_FS, tp);
}
