/*
 * Unit tests of what the kernel keeps per thread and gmp keeps per G: the
 * CPU clock (core/cpuclock.c), the CPU affinity (core/affinity.c), the
 * scheduling parameters (core/schedparam.c) and the signal mask
 * (core/sigmask.c).  The Gs are zeroed structs of the test's, the caller
 * has no G, and nothing starts gmp: only paths that change no kernel
 * thread run here (applying a mask or an affinity is the behaviour tests'
 * kernel_calls, signals and sig_*).
 */
#define _GNU_SOURCE
#include "unit.h"

#include <sched.h>

static struct gmp_g *gs;

static void setup(void)
{
	unit_sched_init(1);
	gs = unit_newgs(4);
	for (int i = 0; i < 4; i++) { /* on allg, as galloc leaves them: newest first */
		gs[i].alllink = gmp_sched.allg;
		gmp_sched.allg = &gs[i];
		atomic_store(&gs[i].status, G_RUNNING);
	}
}
static void teardown(void) {}

/* ------------------------------------------------------------ CPU clock */

START_TEST(test_cpuclock_of_g)
{
	gs[2].cputime = 1500000000;
	clockid_t clk = gmp_cpuclock_id(&gs[2]);
	ck_assert_int_lt(clk, 0);
	ck_assert_int_eq(clk & 7, 6); /* glibc's per-thread CPUCLOCK_SCHED */
	struct timespec ts = {0, 0};
	ck_assert_int_eq(gmp_cpuclock_gettime(clk, &ts), 0);
	ck_assert_int_eq(ts.tv_sec, 1);
	ck_assert_int_eq(ts.tv_nsec, 500000000);
	struct timespec res = {9, 9};
	ck_assert_int_eq(gmp_cpuclock_getres(clk, &res), 0);
	ck_assert_int_eq(res.tv_sec, 0);
	ck_assert_int_eq(res.tv_nsec, 1);
	ck_assert_int_eq(gmp_cpuclock_getres(clk, NULL), 0);
}
END_TEST

START_TEST(test_cpuclock_ended)
{
	clockid_t clk = gmp_cpuclock_id(&gs[1]);
	atomic_store(&gs[1].status, G_DEAD);
	struct timespec ts;
	ck_assert_int_eq(gmp_cpuclock_gettime(clk, &ts), -EINVAL);
	ck_assert_int_eq(gmp_cpuclock_getres(clk, &ts), 1); /* the kernel answers */
	struct gmp_g never = {.index = 77};
	ck_assert_int_eq(gmp_cpuclock_gettime(gmp_cpuclock_id(&never), &ts), -EINVAL);
}
END_TEST

START_TEST(test_cpuclock_not_ours)
{
	struct timespec ts;
	ck_assert_int_eq(gmp_cpuclock_gettime(CLOCK_MONOTONIC, &ts), 1);
	ck_assert_int_eq(gmp_cpuclock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts), 1); /* no G here */
	ck_assert_int_eq(gmp_cpuclock_getres(CLOCK_THREAD_CPUTIME_ID, &ts), 1);
	clockid_t kernel_thread = (clockid_t)((~(unsigned)getpid() << 3) | 4 | 2);
	ck_assert_int_eq(gmp_cpuclock_gettime(kernel_thread, &ts), 1);
}
END_TEST

/* ------------------------------------------------------------ CPU affinity */

START_TEST(test_affinity_get_process)
{
	cpu_set_t want, got;
	ck_assert_int_eq(sched_getaffinity(0, sizeof want, &want), 0);
	memset(&got, 0xff, sizeof got);
	ck_assert_int_eq(gmp_affinity_get(&gs[0], sizeof got, &got), 0); /* no mask of its own */
	ck_assert(CPU_EQUAL(&want, &got));
}
END_TEST

START_TEST(test_affinity_set_other)
{
	cpu_set_t allowed, one, got;
	ck_assert_int_eq(sched_getaffinity(0, sizeof allowed, &allowed), 0);
	int cpu = 0;
	while (!CPU_ISSET(cpu, &allowed))
		cpu++;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	ck_assert_int_eq(gmp_affinity_set(&gs[3], sizeof one, &one), 0);
	ck_assert(atomic_load(&gs[3].affinity_pending)); /* another thread's: applied at its next scheduling point */
	ck_assert_ptr_nonnull(atomic_load(&gs[3].affinity));
	uint64_t *words = atomic_load(&gs[3].affinity);
	ck_assert_int_eq(gmp_affinity_get(&gs[3], sizeof got, &got), 0);
	ck_assert(CPU_EQUAL(&one, &got));
	ck_assert_int_eq(gmp_affinity_set(&gs[3], sizeof allowed, &allowed), 0);
	ck_assert_ptr_eq(atomic_load(&gs[3].affinity), words); /* rewritten in place */
	ck_assert_int_eq(gmp_affinity_get(&gs[3], sizeof got, &got), 0);
	ck_assert(CPU_EQUAL(&allowed, &got));
}
END_TEST

START_TEST(test_affinity_set_invalid)
{
	unsigned char big[GMP_AFFINITY_WORDS * 8 + 8];
	memset(big, 0, sizeof big);
	big[sizeof big - 1] = 1; /* a CPU beyond what the kernel knows */
	ck_assert_int_eq(gmp_affinity_set(&gs[0], sizeof big, big), -EINVAL);
	cpu_set_t none;
	CPU_ZERO(&none);
	ck_assert_int_eq(gmp_affinity_set(&gs[0], sizeof none, &none), -EINVAL); /* no CPU allowed */
	ck_assert(!atomic_load(&gs[0].affinity_pending));
}
END_TEST

/* As the kernel's call: its size checks and EFAULT, glibc's zeroing past the copy, a G's own mask over it. */
START_TEST(test_affinity_get_small)
{
	uint64_t *words = calloc(GMP_AFFINITY_WORDS, 8);
	ck_assert_ptr_nonnull(words);
	words[0] = 1; /* CPU 0 */
	atomic_store(&gs[0].affinity, words);
	unsigned char small[3], big[256];
	ck_assert_int_eq(gmp_affinity_get(&gs[0], sizeof small, small), -EINVAL); /* not a multiple of 8 */
	ck_assert_int_eq(gmp_affinity_get(&gs[0], 8, NULL), -EFAULT);
	memset(big, 0xff, sizeof big);
	ck_assert_int_eq(gmp_affinity_get(&gs[0], sizeof big, big), 0);
	ck_assert_int_eq(big[0], 1);
	for (size_t i = 1; i < sizeof big; i++)
		ck_assert_int_eq(big[i], 0);
	atomic_store(&gs[0].affinity, NULL);
	free(words);
}
END_TEST

/* ------------------------------------------------------------ scheduling parameters */

START_TEST(test_schedparam_checks)
{
	ck_assert_int_eq(gmp_sched_setparam(&gs[0], SCHED_OTHER, 1), -EINVAL);
	ck_assert_int_eq(gmp_sched_setparam(&gs[0], 12345, 0), -EINVAL);
	ck_assert_int_eq(gmp_sched_setparam(&gs[0], SCHED_FIFO, 0), -EINVAL);
	ck_assert_int_eq(gmp_sched_setparam(&gs[0], SCHED_RR, 100), -EINVAL);
	int r = gmp_sched_setparam(&gs[0], SCHED_FIFO, 1); /* allowed by CAP_SYS_NICE or RLIMIT_RTPRIO */
	ck_assert_msg(r == 0 || r == -EPERM, "SCHED_FIFO 1: %d", r);
	ck_assert_int_eq(gmp_sched_setparam(&gs[0], SCHED_BATCH, 0), 0);
	int policy = -1, prio = -1;
	gmp_sched_getparam(&gs[0], &policy, &prio);
	ck_assert_int_eq(policy, SCHED_BATCH);
	ck_assert_int_eq(prio, 0);
	ck_assert_uint_eq(atomic_load(&gs[0].rtprio), 0);
}
END_TEST

/* ------------------------------------------------------------ signal masks */

static uint64_t word(const sigset_t *s)
{
	uint64_t w;
	memcpy(&w, s, sizeof w);
	return w;
}

START_TEST(test_sigmask_query)
{
	gs[0].sigmask = 1ULL << (SIGUSR1 - 1);
	sigset_t set, old;
	sigemptyset(&set);
	memset(&old, 0x55, sizeof old);
	ck_assert_int_eq(gmp_sigmask(&gs[0], 12345, &set, &old), -EINVAL);
	ck_assert_uint_eq(word(&old), 0x5555555555555555ULL); /* untouched */
	ck_assert_int_eq(gmp_sigmask(&gs[0], SIG_BLOCK, NULL, &old), 0);
	ck_assert(sigismember(&old, SIGUSR1));
	ck_assert_uint_eq(word(&old), 1ULL << (SIGUSR1 - 1));
}
END_TEST

START_TEST(test_sigpending_blocked_only)
{
	gs[0].sigmask = 1ULL << (SIGUSR2 - 1);
	atomic_store(&gs[0].sigpending, (1ULL << (SIGUSR2 - 1)) | (1ULL << (SIGHUP - 1)));
	sigset_t set;
	gmp_sigpending(&gs[0], &set);
	ck_assert(sigismember(&set, SIGUSR2));
	ck_assert(!sigismember(&set, SIGHUP)); /* not blocked: not pending for sigpending */
}
END_TEST

/* kill calls that the G does not take itself: 1, for the kernel */
START_TEST(test_kill_self_declines)
{
	gs[0].sigmask = 1ULL << (SIGUSR1 - 1);
	pid_t me = getpid();
	ck_assert_int_eq(gmp_kill_self(&gs[0], me, SIGUSR1), 1); /* blocked */
	ck_assert_int_eq(gmp_kill_self(&gs[0], me, 0), 1);
	ck_assert_int_eq(gmp_kill_self(&gs[0], me, 65), 1);
	ck_assert_int_eq(gmp_kill_self(&gs[0], me, SIGKILL), 1);
	ck_assert_int_eq(gmp_kill_self(&gs[0], me, SIGCONT), 1);
	ck_assert_int_eq(gmp_kill_self(&gs[0], me, GMP_SIGCANCEL), 1);
	ck_assert_int_eq(gmp_kill_self(&gs[0], me + 1, SIGUSR2), 1); /* another process */
}
END_TEST

static Suite *kernel_suite(void)
{
	Suite *s = suite_create("kernel");
	UNIT_TEST(s, cpuclock_of_g);
	UNIT_TEST(s, cpuclock_ended);
	UNIT_TEST(s, cpuclock_not_ours);
	UNIT_TEST(s, affinity_get_process);
	UNIT_TEST(s, affinity_set_other);
	UNIT_TEST(s, affinity_set_invalid);
	UNIT_TEST(s, affinity_get_small);
	UNIT_TEST(s, schedparam_checks);
	UNIT_TEST(s, sigmask_query);
	UNIT_TEST(s, sigpending_blocked_only);
	UNIT_TEST(s, kill_self_declines);
	return s;
}

int main(void) { return unit_run(kernel_suite()); }
