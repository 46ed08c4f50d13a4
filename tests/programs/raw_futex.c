/*
 * Threads that wait with the raw `syscall` instruction, as libgomp's
 * futex waits do: no libc function that gmp could see.  Eight threads
 * (more than the Ps) meet at a barrier made of raw futex calls every
 * round and take a lock made of them, and each checks its own TLS and
 * errno after every wait: a thread that slept in the kernel may have lost
 * its P to another kernel thread meanwhile, and comes back on its own.
 *
 * Under gmp such calls trap once sysmon has seen one asleep (GMP_RAWTRAP,
 * core/rawtrap.c): so the odd threads block SIGSYS, as a program may
 * (the trap must still reach gmp), every thread also makes a raw getppid
 * (a trapped call that is not a futex one), and a child forked after the
 * threads ended runs a second team (trapping starts over in the child).
 * The barrier's waits and the getppid calls check that every register the
 * syscall instruction keeps comes back, the vector ones at full width.
 *
 * With the argument "pshared", two more threads wait on a process-shared
 * condition variable while the team runs (glibc's wait, trapped by
 * core/xwait.c with GMP_KWAITS=0): trapping raw calls must wait until
 * they are woken, and nothing may break meanwhile.
 *
 * Prints the same lines natively and under gmp; exits 1 on a broken check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <immintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 300

static long raw_syscall(long nr, long a, long b, long c)
{
	long r;
	register long r10 __asm__("r10") = 0;
	__asm__ volatile("syscall" : "=a"(r) : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return r;
}

static long raw_futex(_Atomic int *addr, int op, int val)
{
	return raw_syscall(SYS_futex, (long)addr, op, val);
}

/*
 * Raw calls with registers the syscall instruction keeps (all but rax,
 * rcx and r11) set to patterns from seed: the result, and *kept false if
 * one came back changed.  A trapped call is made by gmp in a signal
 * handler, and a wait that parks lets other threads run on this kernel
 * thread meanwhile: the vector registers must come back too, with AVX2 at
 * full width.  (An asm takes at most 30 operands: the general registers,
 * and each half of the vector ones, are checked by separate calls.)
 */
static long kept_gprs(long nr, long a, long b, long c, unsigned long seed, bool *kept)
{
	register long rdi __asm__("rdi") = a, rsi __asm__("rsi") = b, rdx __asm__("rdx") = c, r10 __asm__("r10") = 0;
	register unsigned long r8 __asm__("r8") = seed ^ 0x0808, r9 __asm__("r9") = seed ^ 0x0909,
				       r12 __asm__("r12") = seed ^ 0x1212, r13 __asm__("r13") = seed ^ 0x1313,
				       r14 __asm__("r14") = seed ^ 0x1414, r15 __asm__("r15") = seed ^ 0x1515,
				       rbx __asm__("rbx") = seed ^ 0xbbbb;
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10), "+r"(r8), "+r"(r9), "+r"(r12), "+r"(r13),
			   "+r"(r14), "+r"(r15), "+r"(rbx)
			 : "0"(nr)
			 : "rcx", "r11", "memory");
	*kept = rdi == a && rsi == b && rdx == c && r10 == 0 && r8 == (seed ^ 0x0808) && r9 == (seed ^ 0x0909) &&
		r12 == (seed ^ 0x1212) && r13 == (seed ^ 0x1313) && r14 == (seed ^ 0x1414) && r15 == (seed ^ 0x1515) &&
		rbx == (seed ^ 0xbbbb);
	return r;
}

#define XV(i) _mm_set_epi64x((long long)(seed * 3 + i), (long long)(seed * 7 + i))
#define XR(i, n) register __m128i x##i __asm__("xmm" #n) = XV(i);
#define XC(i) *kept &= _mm_movemask_epi8(_mm_cmpeq_epi8(x##i, XV(i))) == 0xffff;
#define YV(i) _mm256_set1_epi64x((long long)(seed * 11 + i))
#define YR(i, n) register __m256i y##i __asm__("xmm" #n) = YV(i);
#define YC(i) *kept &= _mm256_movemask_epi8(_mm256_cmpeq_epi64(y##i, YV(i))) == -1;
#define EIGHT1(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

/* Vector registers n0..n7 (V: x or y) */
#define KEPT_VEC(name, attr, R, C, V, n0, n1, n2, n3, n4, n5, n6, n7)                                        \
	attr static long name(long nr, long a, long b, long c, unsigned long seed, bool *kept)                    \
	{                                                                                                      \
		register long rdi __asm__("rdi") = a, rsi __asm__("rsi") = b, rdx __asm__("rdx") = c;          \
		register long r10 __asm__("r10") = 0;                                                         \
		R(0, n0) R(1, n1) R(2, n2) R(3, n3) R(4, n4) R(5, n5) R(6, n6) R(7, n7)                        \
		long r;                                                                                        \
		__asm__ volatile("syscall"                                                                     \
				 : "=a"(r), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10), "+x"(V##0), "+x"(V##1), \
				   "+x"(V##2), "+x"(V##3), "+x"(V##4), "+x"(V##5), "+x"(V##6), "+x"(V##7)       \
				 : "0"(nr)                                                                      \
				 : "rcx", "r11", "memory");                                                     \
		*kept = rdi == a && rsi == b && rdx == c && r10 == 0;                                          \
		EIGHT1(C)                                                                                      \
		return r;                                                                                      \
	}

KEPT_VEC(kept_xmm_lo, , XR, XC, x, 0, 1, 2, 3, 4, 5, 6, 7)
KEPT_VEC(kept_xmm_hi, , XR, XC, x, 8, 9, 10, 11, 12, 13, 14, 15)
KEPT_VEC(kept_ymm_lo, __attribute__((target("avx2"), noinline)), YR, YC, y, 0, 1, 2, 3, 4, 5, 6, 7)
KEPT_VEC(kept_ymm_hi, __attribute__((target("avx2"), noinline)), YR, YC, y, 8, 9, 10, 11, 12, 13, 14, 15)

static bool have_avx2;
static _Atomic long regs_bad;

/* raw_syscall, its registers checked: the general ones, or half the vector ones, in turn */
static long raw_syscall_checked(long nr, long a, long b, long c)
{
	static _Atomic unsigned long seq;
	unsigned long n = atomic_fetch_add(&seq, 1), seed = n * 0x9e3779b97f4a7c15ul;
	bool kept;
	long r;
	switch (n % (have_avx2 ? 5 : 3)) {
	case 0: r = kept_gprs(nr, a, b, c, seed, &kept); break;
	case 1: r = kept_xmm_lo(nr, a, b, c, seed, &kept); break;
	case 2: r = kept_xmm_hi(nr, a, b, c, seed, &kept); break;
	case 3: r = kept_ymm_lo(nr, a, b, c, seed, &kept); break;
	default: r = kept_ymm_hi(nr, a, b, c, seed, &kept); break;
	}
	if (!kept)
		atomic_fetch_add(&regs_bad, 1);
	return r;
}

static int nthreads = THREADS, rounds = ROUNDS;

/* A barrier: the last one in bumps the generation and wakes the rest. */
static _Atomic int arrived, generation;

static void barrier(void)
{
	int gen = atomic_load(&generation);
	if (atomic_fetch_add(&arrived, 1) == nthreads - 1) {
		atomic_store(&arrived, 0);
		atomic_fetch_add(&generation, 1);
		raw_futex(&generation, FUTEX_WAKE_PRIVATE, nthreads);
		return;
	}
	while (atomic_load(&generation) == gen)
		raw_syscall_checked(SYS_futex, (long)&generation, FUTEX_WAIT_PRIVATE, gen);
}

/* A lock: 0 free, 1 taken, 2 taken with waiters. */
static _Atomic int lockword;
static long counter; /* lockword */

static void lock(void)
{
	int z = 0;
	if (atomic_compare_exchange_strong(&lockword, &z, 1))
		return;
	while (atomic_exchange(&lockword, 2) != 0)
		raw_futex(&lockword, FUTEX_WAIT_PRIVATE, 2);
}

static void unlock(void)
{
	if (atomic_exchange(&lockword, 0) == 2)
		raw_futex(&lockword, FUTEX_WAKE_PRIVATE, 1);
}

static __thread long mine;
static _Atomic long sum, tls_bad, raw_bad;

static void *worker(void *arg)
{
	long id = (long)arg;
	mine = id;
	if (id & 1) {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGSYS);
		pthread_sigmask(SIG_BLOCK, &s, NULL);
	}
	for (int r = 0; r < rounds; r++) {
		errno = (int)id + 1;
		volatile unsigned x = 0;
		for (unsigned i = 0; i < 2000u * (unsigned)(id + 1); i++)
			x += i;
		lock();
		counter++;
		unlock();
		atomic_fetch_add(&sum, id);
		barrier();
		if (mine != id || errno != (int)id + 1)
			atomic_fetch_add(&tls_bad, 1);
		if (raw_syscall_checked(SYS_getppid, 0, 0, 0) != getppid())
			atomic_fetch_add(&raw_bad, 1);
	}
	return NULL;
}

/* A team of n threads, r rounds each: 0 if every figure is right. */
static int team(int n, int r, bool print)
{
	nthreads = n;
	rounds = r;
	atomic_store(&generation, 0);
	atomic_store(&sum, 0);
	counter = 0;
	pthread_t t[THREADS];
	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			abort();
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	long want = (long)r * n * (n - 1) / 2;
	if (print)
		printf("rounds %d, barrier generations %d, locked increments %ld, sum %s, TLS and errno %s, "
		       "raw getppid %s, registers across raw calls %s\n",
		       r, atomic_load(&generation), counter, atomic_load(&sum) == want ? "right" : "WRONG",
		       atomic_load(&tls_bad) ? "CHANGED" : "kept", atomic_load(&raw_bad) ? "WRONG" : "right",
		       atomic_load(&regs_bad) ? "CHANGED" : "kept");
	return atomic_load(&sum) != want || atomic_load(&tls_bad) || atomic_load(&raw_bad) || atomic_load(&regs_bad) ||
	       counter != (long)r * n || atomic_load(&generation) != r;
}

static pthread_mutex_t pmu;
static pthread_cond_t pcv;
static int released, woken; /* pmu */

static void *pshared_waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pmu);
	while (!released)
		pthread_cond_wait(&pcv, &pmu);
	woken++;
	pthread_mutex_unlock(&pmu);
	return NULL;
}

int main(int argc, char **argv)
{
	bool pshared = argc > 1 && strcmp(argv[1], "pshared") == 0;
	__builtin_cpu_init();
	have_avx2 = __builtin_cpu_supports("avx2");
	pthread_t pw[2];
	if (pshared) {
		pthread_mutexattr_t ma;
		pthread_condattr_t ca;
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
		pthread_condattr_init(&ca);
		pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
		pthread_mutex_init(&pmu, &ma);
		pthread_cond_init(&pcv, &ca);
		for (int i = 0; i < 2; i++)
			if (pthread_create(&pw[i], NULL, pshared_waiter, NULL))
				abort();
	}
	int bad = team(THREADS, ROUNDS, true);
	if (pshared) {
		pthread_mutex_lock(&pmu);
		released = 1;
		pthread_cond_broadcast(&pcv);
		pthread_mutex_unlock(&pmu);
		for (int i = 0; i < 2; i++)
			pthread_join(pw[i], NULL);
		printf("process-shared waiters woken: %d\n", woken);
		bad |= woken != 2;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(team(4, 50, false));
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		abort();
	printf("child's team of 4, 50 rounds: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "right" : "WRONG");
	return bad || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
}
