/* A program's own SIGSEGV handler, as runtimes, garbage collectors and
 * stack-overflow checkers install one: threads fault on a PROT_NONE page
 * again and again, each on its own sigaltstack, and the handler (which
 * uses TLS: a __thread counter, errno, and sleeps now and then) sees the
 * faulting address and si_code and siglongjmps out; a handler without
 * SA_ONSTACK (installed by syscall() below) runs on the thread's stack; threads switch, sleep and yield between
 * faults so that the kernel switches their kernel threads.  Then
 * SIGSEGV sent by pthread_kill and kill (si_code SI_TKILL, SI_USER) runs
 * the handler, which returns; SA_RESETHAND gives SIG_DFL back after one
 * delivery; and a handler installed with the kernel's rt_sigaction (the
 * bare system call before the first thread, syscall() later) gets the
 * faults from then on.  Under gmp with FS-base traps
 * (core/fstrap.c) the kernel's SIGSEGV handler is gmp's, and all of this
 * must look the same as natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)
#define NT 8
#define FAULTS 300

static char *bad; /* a PROT_NONE page */
static __thread sigjmp_buf env;
static __thread volatile int faults, sent;
static atomic_long total_faults, total_sent, raw_faults;
static pthread_barrier_t bar;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int saved = errno;
	CHECK(sig == SIGSEGV);
	if (si->si_code == SI_TKILL || si->si_code == SI_USER) {
		sent++;
		atomic_fetch_add(&total_sent, 1);
		errno = saved;
		return;
	}
	CHECK(si->si_code == SEGV_ACCERR);
	CHECK((char *)si->si_addr >= bad && (char *)si->si_addr < bad + 4096);
	if (faults % 3 == 0) {
		/* a wait inside the handler (nanosleep is async-signal-safe): other threads fault meanwhile */
		struct timespec t = {0, 10000};
		nanosleep(&t, NULL);
	}
	faults++;
	atomic_fetch_add(&total_faults, 1);
	errno = saved;
	siglongjmp(env, 1);
}

static void install(int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | flags;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
}

static void fault_once(int i)
{
	if (sigsetjmp(env, 1) == 0) {
		bad[i % 4096] = 1; /* faults; the handler jumps back */
		CHECK(!"the store to a PROT_NONE page returned");
	}
}

static void *worker(void *arg)
{
	long id = (long)arg;
	stack_t ss = {.ss_sp = malloc(SIGSTKSZ * 4), .ss_size = SIGSTKSZ * 4};
	CHECK(ss.ss_sp && sigaltstack(&ss, NULL) == 0);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < FAULTS; i++) {
		fault_once((int)id * 37 + i);
		switch (i % 4) {
		case 0: sched_yield(); break;
		case 1: { struct timespec t = {0, 20000}; nanosleep(&t, NULL); break; }
		case 2: { volatile long x = 0; for (int k = 0; k < 20000; k++) x += k; break; }
		default: break;
		}
	}
	CHECK(faults == FAULTS);
	/* SIGSEGV that is not a fault: sent to this thread, the handler returns */
	for (int i = 0; i < 20; i++) {
		CHECK(pthread_kill(pthread_self(), SIGSEGV) == 0);
		CHECK(sent == i + 1);
	}
	stack_t off = {.ss_flags = SS_DISABLE};
	CHECK(sigaltstack(&off, NULL) == 0);
	free(ss.ss_sp);
	return NULL;
}

/* The x86_64 kernel needs a restorer for a handler installed by rt_sigaction. */
extern void segv_restorer(void);
__asm__(".text\n.type segv_restorer,@function\nsegv_restorer:\n\tmov $15, %eax\n\tsyscall\n\thlt\n");

static void on_segv_raw(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	int saved = errno;
	CHECK(si->si_code == SEGV_ACCERR && (char *)si->si_addr >= bad && (char *)si->si_addr < bad + 4096);
	atomic_fetch_add(&raw_faults, 1);
	errno = saved;
	siglongjmp(env, 1);
}

struct kact {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static void *raw_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) {
		fault_once(i);
		sched_yield();
	}
	return NULL;
}

static void run_raw_workers(void)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, raw_worker, NULL) == 0);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(bad != MAP_FAILED);

	/*
	 * The system call itself, without libc, before the first thread (as a
	 * runtime does at start-up): the handler gets the faults.  (gmp finds
	 * the kernel's action changed when it first needs its trap handler.)
	 */
	struct kact k = {(void *)on_segv_raw, SA_SIGINFO | 0x04000000 /* SA_RESTORER */, (void *)segv_restorer, 0}, o;
	long r;
	register long sigsetsize __asm__("r10") = 8;
	__asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_rt_sigaction), "D"((long)SIGSEGV), "S"(&k), "d"(0L),
			 "r"(sigsetsize) : "rcx", "r11", "memory");
	CHECK(r == 0);
	run_raw_workers();
	printf("faults handled by the bare rt_sigaction handler: %ld of 200\n", atomic_load(&raw_faults));
	atomic_store(&raw_faults, 0);

	install(0);

	pthread_t t[NT];
	CHECK(pthread_barrier_init(&bar, NULL, NT) == 0);
	for (long i = 0; i < NT; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	for (int i = 0; i < NT; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	printf("faults handled: %ld of %d\n", atomic_load(&total_faults), NT * FAULTS);
	printf("pthread_kill SIGSEGV handled: %ld of %d\n", atomic_load(&total_sent), NT * 20);

	/* kill: process-directed, one thread (this one: the others ended) takes it */
	CHECK(kill(getpid(), SIGSEGV) == 0);
	printf("kill SIGSEGV handled: %ld\n", atomic_load(&total_sent) - NT * 20);

	/* the action read back, then SA_RESETHAND: one delivery, then SIG_DFL */
	struct sigaction cur;
	CHECK(sigaction(SIGSEGV, NULL, &cur) == 0);
	printf("installed: %s, SA_ONSTACK %d\n", cur.sa_sigaction == on_segv ? "on_segv" : "other",
	       !!(cur.sa_flags & SA_ONSTACK));
	install(SA_RESETHAND);
	CHECK(raise(SIGSEGV) == 0);
	CHECK(sigaction(SIGSEGV, NULL, &cur) == 0);
	printf("after SA_RESETHAND: %s\n", cur.sa_handler == SIG_DFL ? "SIG_DFL" : "not SIG_DFL");

	/* syscall(SYS_rt_sigaction): the program's handler from then on, and the old one read back */
	CHECK(syscall(SYS_rt_sigaction, SIGSEGV, &k, &o, 8) == 0);
	printf("rt_sigaction's old action: %s\n", o.handler == (void *)SIG_DFL ? "SIG_DFL" : "other");
	CHECK(syscall(SYS_rt_sigaction, SIGSEGV, NULL, &o, 8) == 0);
	printf("rt_sigaction's action: %s\n", o.handler == (void *)on_segv_raw ? "on_segv_raw" : "other");
	run_raw_workers();
	printf("faults handled by the syscall() handler: %ld of 200\n", atomic_load(&raw_faults));

	return 0;
}
