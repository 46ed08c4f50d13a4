/*
 * Raw system calls for x86_64 Linux.  The runtime uses these instead of libc
 * wrappers so that it never enters its own interposed functions and never
 * touches errno: each returns the kernel's result, -errno on failure
 * (musl's __syscall convention).
 */
#ifndef GMP_ARCH_SYSCALL_X86_64_H
#define GMP_ARCH_SYSCALL_X86_64_H

/*
 * Where the runtime's system calls run.  Inline, from gmp's code, until raw
 * calls are trapped (core/rawtrap.c, gmp_sys_via_glibc set once); from then
 * on through gmp_sys_gadget, a `syscall; ret` in glibc's code, the only
 * code whose calls the kernel then lets through, reached with a call below
 * the red zone (the caller may keep data there).
 */
extern void *gmp_sys_gadget __attribute__((visibility("hidden")));
extern _Bool gmp_sys_via_glibc __attribute__((visibility("hidden")));

static inline long gmp_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	if (__builtin_expect(!__atomic_load_n(&gmp_sys_via_glibc, __ATOMIC_RELAXED), 1))
		__asm__ volatile("syscall"
				 : "=a"(ret)
				 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
				 : "rcx", "r11", "memory");
	else
		__asm__ volatile("lea -128(%%rsp), %%rsp\n\t"
				 "call *%[gad]\n\t"
				 "lea 128(%%rsp), %%rsp"
				 : "=a"(ret)
				 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9), [gad] "m"(gmp_sys_gadget)
				 : "rcx", "r11", "memory");
	return ret;
}

#define gmp_sys0(n)             gmp_syscall6((n), 0, 0, 0, 0, 0, 0)
#define gmp_sys1(n, a)          gmp_syscall6((n), (long)(a), 0, 0, 0, 0, 0)
#define gmp_sys2(n, a, b)       gmp_syscall6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define gmp_sys3(n, a, b, c)    gmp_syscall6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define gmp_sys4(n, a, b, c, d) gmp_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define gmp_sys6(n, a, b, c, d, e, f) \
	gmp_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static inline void gmp_cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* The FS base read and written directly: only where the CPU allows it (arch/tls_x86_64.c, core/fstrap.c). */
static inline void *gmp_rdfsbase(void)
{
	void *v;
	__asm__ volatile("rdfsbase %0" : "=r"(v));
	return v;
}
static inline void gmp_wrfsbase(void *v) { __asm__ volatile("wrfsbase %0" ::"r"(v) : "memory"); }

/* The thread pointer, from the TCB's self pointer (%fs:0x10), which glibc keeps for this.  Inline: mutex fast paths read it. */
static inline void *gmp_arch_get_tp(void)
{
	void *tp;
	__asm__ volatile("movq %%fs:0x10, %0" : "=r"(tp));
	return tp;
}
#endif
