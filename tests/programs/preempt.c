/* preempt: threads that compute without ever calling anything must share
 * the CPUs with the rest, as the kernel makes them natively (under gmp:
 * asynchronous preemption, core/preempt.c).  Modes:
 *
 *   fair HOGS SECS   HOGS threads loop on a flag; another sleeps 1 ms in a
 *                    loop and measures how late each wake-up is.  Checks
 *                    the sleeper's 99th percentile under 20 ms and that
 *                    every hog got a fair share of CPU time (min/max >= 0.7),
 *                    under gmp (the kernel's shares vary by machine).
 *   state THREADS    each thread computes a fixed series in registers: AVX
 *                    (when the CPU has it) or SSE vectors under its own
 *                    MXCSR rounding mode, x87 long doubles under its own
 *                    control word, integers; prints the results bit for bit.
 *   libc THREADS SECS  memcpy, malloc/free and stdio to /dev/null in a loop,
 *                    every result checked.
 *   sigurg           the program's own SIGURG: handler, SIG_IGN, masks,
 *                    pending sets, all while threads compute.
 *   rt fifo|rr       on one CPU (the process pins itself), two computing
 *                    threads of one real-time priority: SCHED_FIFO runs the
 *                    first to its end before the second starts; SCHED_RR
 *                    takes turns (the kernel's 100 ms quantum).  Prints
 *                    EPERM where real-time priorities are not allowed.
 *   syscalls THREADS  THREADS threads loop on a kernel call that returns at
 *                    once (pread of /proc/self/stat: a hand-off call under
 *                    gmp) while main sleeps 20 ms five times; each sleep
 *                    must end within 500 ms (under gmp such loops once kept
 *                    every P until they stopped, after 5 s: each call
 *                    started a new time slice for sysmon).
 *   special          computing threads that are locked to their kernel
 *                    thread (an affinity call), that compute inside a
 *                    signal handler, that have an alternate signal stack
 *                    of their own (a handler must run on it, wherever the
 *                    thread ran before), and fork while others compute.
 *
 * The output is the same natively and under gmp.  Under gmp, the program
 * also checks with gmp_stats (when it is there) that preemption happened,
 * and prints only when it did not. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sched.h>
#include <errno.h>
#include <fenv.h>
#include <immintrin.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "../../preload/gmp.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double thread_cpu_s(pthread_t t)
{
    clockid_t c;
    struct timespec ts;
    CHECK0(pthread_getcpuclockid(t, &c));
    CHECK(clock_gettime(c, &ts) == 0);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Under gmp: how many preemptions so far (gmp_stats, looked up as gmp.h advises), else -1. */
static long long preemptions(void)
{
    int (*st)(struct gmp_stats *, size_t) = (int (*)(struct gmp_stats *, size_t))dlsym(RTLD_DEFAULT, "gmp_stats");
    struct gmp_stats s;
    if (!st || st(&s, sizeof s) != 0 || s.size < sizeof s)
        return -1;
    return (long long)s.preemptions;
}

static void expect_preempted(void)
{
    long long n = preemptions();
    if (n == 0)
        printf("gmp: no thread was preempted\n");
}

/* ------------------------------------------------------------------ fair */

static volatile int stop;

static void *hog(void *arg)
{
    volatile unsigned long *spins = arg;
    while (!stop)
        (*spins)++;
    return NULL;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double lateness[100000];
static int nlate;

static void *sleeper(void *arg)
{
    double end = *(double *)arg;
    while (now_s() < end && nlate < 100000) {
        double t0 = now_s();
        CHECK(usleep(1000) == 0);
        lateness[nlate++] = now_s() - t0 - 0.001;
    }
    return NULL;
}

static int fair(int hogs, double secs)
{
    pthread_t h[64], s;
    static volatile unsigned long spins[64][8];
    CHECK(hogs > 0 && hogs <= 64);
    for (int i = 0; i < hogs; i++)
        CHECK0(pthread_create(&h[i], NULL, hog, (void *)&spins[i][0]));
    double end = now_s() + secs;
    CHECK0(pthread_create(&s, NULL, sleeper, &end));
    CHECK0(pthread_join(s, NULL));
    double cpu[64], lo = 1e9, hi = 0;
    for (int i = 0; i < hogs; i++) {
        cpu[i] = thread_cpu_s(h[i]);
        lo = cpu[i] < lo ? cpu[i] : lo;
        hi = cpu[i] > hi ? cpu[i] : hi;
    }
    stop = 1;
    for (int i = 0; i < hogs; i++)
        CHECK0(pthread_join(h[i], NULL));
    qsort(lateness, (size_t)nlate, sizeof lateness[0], cmpd);
    double p99 = nlate ? lateness[nlate * 99 / 100] : 1e9;
    printf("%d hogs for %.0f s: sleeper woke %s times, every hog ran\n", hogs, secs, nlate > 50 ? "many" : "few");
    /*
     * The targets hold for gmp's scheduler; the kernel's share of two CPUs
     * among nine threads is not that even on every machine (min/max 0.62
     * was seen natively), so they are checked under gmp only and print
     * only when missed: the output stays the same both ways.
     */
    bool gmp = preemptions() >= 0;
    if (getenv("PREEMPT_VERBOSE") || (gmp && (p99 >= 0.020 || !(hi > 0 && lo / hi >= 0.7))))
        fprintf(stderr, "lateness p50 %.3f p90 %.3f p99 %.3f max %.3f ms over %d wake-ups; cpu min %.3f max %.3f s\n",
                nlate ? lateness[nlate / 2] * 1e3 : 0, nlate ? lateness[nlate * 9 / 10] * 1e3 : 0, p99 * 1e3,
                nlate ? lateness[nlate - 1] * 1e3 : 0, nlate, lo, hi);
    if (gmp && p99 >= 0.020)
        printf("gmp: the sleeper's 99th percentile is over 20 ms\n");
    if (gmp && !(hi > 0 && lo / hi >= 0.7))
        printf("gmp: a hog got less than 0.7 of another's CPU time\n");
    for (int i = 0; i < hogs; i++)
        CHECK(cpu[i] > 0);
    expect_preempted();
    return 0;
}

/* ------------------------------------------------------------------ state */

struct state_res {
    uint64_t vec[4];
    long double x87;
    uint64_t ints;
    unsigned mxcsr, x87cw;
};

static const unsigned rc_sse[4] = {_MM_ROUND_NEAREST, _MM_ROUND_DOWN, _MM_ROUND_UP, _MM_ROUND_TOWARD_ZERO};
static const unsigned short rc_x87[4] = {0x000, 0x400, 0x800, 0xc00};

#define STATE_ITERS 60000000L

__attribute__((target("avx"), noinline)) static void vec_avx(double seed, uint64_t out[4])
{
    __m256d a = _mm256_set_pd(seed, seed * 1.5, seed * 2.25, seed * 3.125);
    __m256d b = _mm256_set1_pd(1.0000001);
    __m256d c = _mm256_set1_pd(1e-7);
    __m256d d = _mm256_set_pd(0.3, 0.7, 1.1, 1.3);
    for (long i = 0; i < STATE_ITERS; i++) {
        a = _mm256_add_pd(_mm256_mul_pd(a, b), c);
        d = _mm256_sub_pd(_mm256_mul_pd(d, b), a);
        d = _mm256_mul_pd(d, c);
    }
    a = _mm256_add_pd(a, d);
    double r[4];
    _mm256_storeu_pd(r, a);
    memcpy(out, r, sizeof r);
}

__attribute__((noinline)) static void vec_sse(double seed, uint64_t out[4])
{
    __m128d a = _mm_set_pd(seed, seed * 1.5), e = _mm_set_pd(seed * 2.25, seed * 3.125);
    __m128d b = _mm_set1_pd(1.0000001), c = _mm_set1_pd(1e-7);
    for (long i = 0; i < STATE_ITERS; i++) {
        a = _mm_add_pd(_mm_mul_pd(a, b), c);
        e = _mm_sub_pd(_mm_mul_pd(e, b), a);
        e = _mm_mul_pd(e, c);
    }
    double r[4];
    _mm_storeu_pd(r, a);
    _mm_storeu_pd(r + 2, e);
    memcpy(out, r, sizeof r);
}

static void *state(void *arg)
{
    struct state_res *r = arg;
    int k = (int)(r->ints & 3);
    double seed = 1.0 + (double)r->ints / 7.0;
    _mm_setcsr((_mm_getcsr() & ~0x6000u) | rc_sse[k]);
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    cw = (unsigned short)((cw & ~0xc00) | rc_x87[(k + 1) & 3]);
    __asm__ volatile("fldcw %0" : : "m"(cw));
    if (__builtin_cpu_supports("avx"))
        vec_avx(seed, r->vec);
    else
        vec_sse(seed, r->vec);
    long double x = (long double)seed;
    for (long i = 0; i < STATE_ITERS; i++)
        x = x * 1.0000001L + 1e-9L / (long double)(i + 1);
    r->x87 = x;
    uint64_t h = r->ints * 0x9e3779b97f4a7c15ull;
    for (long i = 0; i < STATE_ITERS * 2; i++)
        h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull + (uint64_t)i;
    r->ints = h;
    r->mxcsr = _mm_getcsr() & 0x6000u;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    r->x87cw = cw & 0xf00;
    return NULL;
}

static int states(int n)
{
    pthread_t t[32];
    struct state_res r[32];
    CHECK(n > 0 && n <= 32);
    memset(r, 0, sizeof r);
    for (int i = 0; i < n; i++) {
        r[i].ints = (uint64_t)i;
        CHECK0(pthread_create(&t[i], NULL, state, &r[i]));
    }
    for (int i = 0; i < n; i++)
        CHECK0(pthread_join(t[i], NULL));
    for (int i = 0; i < n; i++) {
        unsigned char xb[10];
        memcpy(xb, &r[i].x87, 10);
        printf("thread %d: vec %016llx %016llx %016llx %016llx x87 ", i, (unsigned long long)r[i].vec[0],
               (unsigned long long)r[i].vec[1], (unsigned long long)r[i].vec[2], (unsigned long long)r[i].vec[3]);
        for (int b = 9; b >= 0; b--)
            printf("%02x", xb[b]);
        printf(" int %016llx mxcsr.rc %04x x87.cw %03x\n", (unsigned long long)r[i].ints, r[i].mxcsr, r[i].x87cw);
    }
    expect_preempted();
    return 0;
}

/* ------------------------------------------------------------------ libc */

static double libc_end;

static void *libc_worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    FILE *null = fopen("/dev/null", "w");
    CHECK(null);
    static __thread char src[65536], dst[65536];
    long rounds = 0;
    while (now_s() < libc_end) {
        /* memcpy of a pattern, checked */
        size_t len = 1 + rand_r(&seed) % sizeof src;
        unsigned char v = (unsigned char)rand_r(&seed);
        memset(src, v, len);
        for (int i = 0; i < 20; i++) {
            memcpy(dst, src, len);
            memmove(src, dst, len);
        }
        for (size_t i = 0; i < len; i += 97)
            CHECK((unsigned char)dst[i] == v);
        /* a malloc/free storm, each block filled and checked */
        void *blocks[64];
        for (int i = 0; i < 64; i++) {
            size_t n = 16 + rand_r(&seed) % 8192;
            blocks[i] = malloc(n);
            CHECK(blocks[i]);
            memset(blocks[i], i, n);
            ((unsigned char *)blocks[i])[n - 1] = (unsigned char)i;
        }
        for (int i = 0; i < 64; i++) {
            CHECK(((unsigned char *)blocks[i])[0] == (unsigned char)i);
            free(blocks[i]);
        }
        /* formatted output, to /dev/null and checked in memory */
        char line[128];
        for (int i = 0; i < 50; i++) {
            int n = snprintf(line, sizeof line, "%d %s %.3f %x", i, "word", i / 8.0, (unsigned)i * 7);
            CHECK(n > 0 && fprintf(null, "%s\n", line) == n + 1);
        }
        CHECK(strncmp(line, "49 word 6.125 157", 17) == 0);
        rounds++;
    }
    CHECK(fclose(null) == 0);
    return (void *)rounds;
}

static int libc_mix(int n, double secs)
{
    pthread_t t[32];
    CHECK(n > 0 && n <= 32);
    libc_end = now_s() + secs;
    for (int i = 0; i < n; i++)
        CHECK0(pthread_create(&t[i], NULL, libc_worker, (void *)(uintptr_t)(i + 1)));
    int ok = 0;
    for (int i = 0; i < n; i++) {
        void *r;
        CHECK0(pthread_join(t[i], &r));
        ok += (long)r > 0;
    }
    printf("%d of %d threads made progress, every result checked\n", ok, n);
    expect_preempted();
    return 0;
}

/* ------------------------------------------------------------------ sigurg */

static _Atomic int urgs; /* handlers may run on two CPUs at once */
static void on_urg(int sig) { (void)sig; urgs++; }

static void *spin_until(void *arg)
{
    (void)arg;
    while (!stop)
        ;
    return NULL;
}

static void show_disp(const char *when)
{
    struct sigaction sa;
    CHECK(sigaction(SIGURG, NULL, &sa) == 0);
    const char *h = sa.sa_handler == SIG_DFL ? "SIG_DFL" : sa.sa_handler == SIG_IGN ? "SIG_IGN"
                    : sa.sa_handler == on_urg ? "on_urg" : "other";
    printf("%s: SIGURG handler %s flags %#x\n", when, h, (unsigned)sa.sa_flags & ~0x04000000u);
}

static void *blocker(void *arg)
{
    (void)arg;
    sigset_t s, old, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGURG);
    CHECK0(pthread_sigmask(SIG_BLOCK, &s, &old));
    CHECK(!sigismember(&old, SIGURG));
    CHECK0(pthread_kill(pthread_self(), SIGURG));
    for (volatile long i = 0; i < 50000000; i++)
        ; /* compute with it pending and blocked: nothing runs */
    CHECK(sigpending(&pend) == 0);
    printf("blocked SIGURG pending: %s, handled: %d\n", sigismember(&pend, SIGURG) ? "yes" : "no", (int)urgs);
    CHECK0(pthread_sigmask(SIG_SETMASK, NULL, &old));
    printf("mask reports SIGURG blocked: %s\n", sigismember(&old, SIGURG) ? "yes" : "no");
    CHECK0(pthread_sigmask(SIG_UNBLOCK, &s, NULL));
    printf("after unblocking, handled: %d\n", (int)urgs);
    return NULL;
}

static int sigurg(void)
{
    show_disp("at start");
    CHECK(signal(SIGURG, SIG_IGN) == SIG_DFL);
    show_disp("after SIG_IGN");
    CHECK(raise(SIGURG) == 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_urg;
    sa.sa_flags = SA_RESTART;
    CHECK(sigaction(SIGURG, &sa, NULL) == 0);
    show_disp("after sigaction");
    pthread_t h[3], b;
    for (int i = 0; i < 3; i++)
        CHECK0(pthread_create(&h[i], NULL, spin_until, NULL));
    /* one at a time (a standard signal sent while one is pending merges with it) */
    for (int i = 0; i <= 20; i++) {
        int before = urgs;
        if (i < 20)
            CHECK0(pthread_kill(h[i % 3], SIGURG));
        else
            CHECK(kill(getpid(), SIGURG) == 0);
        for (int w = 0; w < 5000 && urgs == before; w++)
            usleep(1000);
    }
    printf("handled while computing: %d\n", (int)urgs);
    urgs = 0;
    CHECK0(pthread_create(&b, NULL, blocker, NULL));
    CHECK0(pthread_join(b, NULL));
    stop = 1;
    for (int i = 0; i < 3; i++)
        CHECK0(pthread_join(h[i], NULL));
    CHECK(signal(SIGURG, SIG_DFL) == on_urg);
    show_disp("after SIG_DFL");
    return 0;
}

/* ------------------------------------------------------------------ special */

static uint64_t series(uint64_t h, long n)
{
    for (long i = 0; i < n; i++)
        h = (h ^ (h >> 31)) * 0x94d049bb133111ebull + (uint64_t)i;
    return h;
}

static void *hog_series(void *arg)
{
    *(uint64_t *)arg = series(*(uint64_t *)arg, 50000000);
    return NULL;
}

static void *locked(void *arg)
{
    cpu_set_t all;
    CHECK0(pthread_getaffinity_np(pthread_self(), sizeof all, &all));
    CHECK0(pthread_setaffinity_np(pthread_self(), sizeof all, &all));
    *(uint64_t *)arg = series(*(uint64_t *)arg, 150000000);
    return NULL;
}

static volatile uint64_t in_handler;
static void long_handler(int sig)
{
    (void)sig;
    in_handler = series(in_handler, 100000000);
}

static void *handler_thread(void *arg)
{
    (void)arg;
    in_handler = 5;
    CHECK0(pthread_kill(pthread_self(), SIGUSR1));
    return NULL;
}

/* A handler that blocks every signal and sleeps (its thread parks inside it). */
static volatile int parked_in_handler, got_rt2;
static void sleepy_handler(int sig)
{
    (void)sig;
    parked_in_handler = 1;
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
}
static void rt2_handler(int sig) { (void)sig; got_rt2 = 1; }
static void *sleepy_thread(void *arg)
{
    (void)arg;
    CHECK0(pthread_kill(pthread_self(), SIGRTMIN + 1));
    return NULL;
}
static void *waits_for_rt2(void *arg)
{
    (void)arg;
    double end = now_s() + 5;
    while (!got_rt2 && now_s() < end)
        ; /* computing, on whatever kernel thread ran the sleepy handler */
    return NULL;
}

static char *alt_lo;
static volatile int on_alt;
static void alt_handler(int sig)
{
    (void)sig;
    char here;
    on_alt = &here >= alt_lo && &here < alt_lo + 65536;
}

static void *alt_thread(void *arg)
{
    stack_t ss = {.ss_sp = alt_lo, .ss_size = 65536, .ss_flags = 0}, old;
    CHECK(sigaltstack(NULL, &old) == 0);
    printf("a new thread's alternate stack: %s\n", (old.ss_flags & SS_DISABLE) ? "none" : "some");
    CHECK(sigaltstack(&ss, NULL) == 0);
    *(uint64_t *)arg = series(*(uint64_t *)arg, 150000000); /* long enough to move */
    CHECK0(pthread_kill(pthread_self(), SIGUSR2));
    CHECK(sigaltstack(NULL, &old) == 0);
    printf("handler on the thread's own alternate stack: %s; reported back: %s\n", on_alt ? "yes" : "no",
           old.ss_sp == alt_lo && old.ss_size == 65536 && !(old.ss_flags & (SS_DISABLE | SS_ONSTACK)) ? "yes" : "no");
    return NULL;
}

static int special(void)
{
    stack_t m;
    CHECK(sigaltstack(NULL, &m) == 0);
    printf("main's alternate stack: %s\n", (m.ss_flags & SS_DISABLE) ? "none" : "some");
    pthread_t t[8];
    uint64_t v[8];
    for (int i = 0; i < 8; i++)
        v[i] = (uint64_t)i + 1;
    /* locked threads and ordinary ones compete */
    for (int i = 0; i < 3; i++)
        CHECK0(pthread_create(&t[i], NULL, i == 2 ? hog_series : locked, &v[i]));
    for (int i = 0; i < 3; i++)
        CHECK0(pthread_join(t[i], NULL));
    printf("locked: %016llx %016llx, unlocked: %016llx\n", (unsigned long long)v[0], (unsigned long long)v[1],
           (unsigned long long)v[2]);
    /* a handler that computes for a while, next to a computing thread */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = long_handler;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    CHECK0(pthread_create(&t[0], NULL, hog_series, &v[3]));
    CHECK0(pthread_create(&t[1], NULL, handler_thread, NULL));
    CHECK0(pthread_join(t[1], NULL));
    CHECK0(pthread_join(t[0], NULL));
    printf("in a handler: %016llx, beside it: %016llx\n", (unsigned long long)in_handler, (unsigned long long)v[3]);
    /*
     * a handler with every signal blocked parks its thread; a thread that runs next where it
     * ran must still get its own signal (the kernel thread's mask is the handler's meanwhile)
     */
    sa.sa_handler = sleepy_handler;
    sigfillset(&sa.sa_mask);
    CHECK(sigaction(SIGRTMIN + 1, &sa, NULL) == 0);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = rt2_handler;
    CHECK(sigaction(SIGRTMIN + 2, &sa, NULL) == 0);
    CHECK0(pthread_create(&t[0], NULL, sleepy_thread, NULL));
    while (!parked_in_handler)
        usleep(1000);
    CHECK0(pthread_create(&t[1], NULL, waits_for_rt2, NULL));
    usleep(10000);
    CHECK0(pthread_kill(t[1], SIGRTMIN + 2));
    CHECK0(pthread_join(t[1], NULL));
    CHECK0(pthread_join(t[0], NULL));
    printf("a signal to a thread beside a handler that blocks all and sleeps: %s\n",
           got_rt2 ? "received" : "not received in 5 s");
    /* an alternate signal stack of the thread's own, while others compute */
    alt_lo = malloc(65536);
    CHECK(alt_lo);
    sa.sa_handler = alt_handler;
    sa.sa_flags = SA_ONSTACK;
    CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
    for (int i = 0; i < 3; i++)
        CHECK0(pthread_create(&t[i], NULL, i ? hog_series : alt_thread, &v[4 + i]));
    for (int i = 0; i < 3; i++)
        CHECK0(pthread_join(t[i], NULL));
    CHECK(sigaltstack(NULL, &m) == 0);
    printf("main's alternate stack after: %s\n", (m.ss_flags & SS_DISABLE) ? "none" : "some");
    /* fork while others compute: the child computes with threads of its own */
    CHECK0(pthread_create(&t[0], NULL, hog_series, &v[7]));
    for (int k = 0; k < 3; k++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            uint64_t c[2] = {100 + (uint64_t)k, 200 + (uint64_t)k};
            pthread_t ct[2];
            for (int i = 0; i < 2; i++)
                if (pthread_create(&ct[i], NULL, hog_series, &c[i]) != 0)
                    _exit(3);
            for (int i = 0; i < 2; i++)
                pthread_join(ct[i], NULL);
            _exit(c[0] == series(100 + (uint64_t)k, 50000000) && c[1] == series(200 + (uint64_t)k, 50000000) ? 0 : 4);
        }
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        printf("child %d: exit %d\n", k, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    CHECK0(pthread_join(t[0], NULL));
    printf("beside the forks: %016llx\n", (unsigned long long)v[7]);
    expect_preempted();
    return 0;
}

/* ------------------------------------------------------------------ rt */

static volatile long rt_progress[2];
static long rt_other_at_end[2];
static sem_t rt_go;

static void *rt_hog(void *arg)
{
    int me = (int)(intptr_t)arg;
    sem_wait(&rt_go);
    uint64_t h = (uint64_t)me;
    for (long i = 0; i < 40; i++) {
        h = series(h, 4000000);
        rt_progress[me] = i + 1;
    }
    rt_other_at_end[me] = rt_progress[1 - me];
    return (void *)(uintptr_t)(h & 1);
}

static int rt(const char *which)
{
    int policy = strcmp(which, "rr") == 0 ? SCHED_RR : SCHED_FIFO;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    CHECK(sched_setaffinity(0, sizeof one, &one) == 0);
    struct sched_param sp = {.sched_priority = 20};
    int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (err == EPERM) {
        printf("real-time priorities refused with EPERM: nothing else to check\n");
        return 0;
    }
    CHECK0(err);
    CHECK(sem_init(&rt_go, 0, 0) == 0);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&a, policy);
    sp.sched_priority = 10;
    pthread_attr_setschedparam(&a, &sp);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK0(pthread_create(&t[i], &a, rt_hog, (void *)(intptr_t)i));
    /* both are runnable and have not run (main's priority is higher): release them and wait */
    sem_post(&rt_go);
    sem_post(&rt_go);
    for (int i = 0; i < 2; i++)
        CHECK0(pthread_join(t[i], NULL));
    int first = rt_other_at_end[0] <= rt_other_at_end[1] ? 0 : 1;
    long other = rt_other_at_end[first];
    if (policy == SCHED_FIFO)
        printf("SCHED_FIFO: the second thread started after the first ended: %s\n", other == 0 ? "yes" : "no");
    else
        printf("SCHED_RR: the threads took turns (the other was part way when the first ended): %s\n",
               other > 0 && other < 40 ? "yes" : "no");
    if (getenv("PREEMPT_VERBOSE"))
        fprintf(stderr, "at ends: %ld %ld\n", rt_other_at_end[0], rt_other_at_end[1]);
    return 0;
}

/* ------------------------------------------------------------------ orphan */

/*
 * A thread computes inside a handler (never preempted: sysmon hands its P
 * off), then goes on computing beside two others.  Under gmp with one P it
 * must come back under the P (a request after the hand-off) and take a
 * third of the CPU like them, not a kernel thread's worth of its own.
 */
static double tcpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
static volatile uint64_t osink;
static void spin_wall(double s)
{
    double e = now_s() + s;
    uint64_t h = 1;
    while (now_s() < e)
        h = h * 31 + 1;
    osink = h;
}
static void orphan_handler(int sig) { (void)sig; spin_wall(0.1); }
static double ocpu[3];
static void *orphan_a(void *arg)
{
    (void)arg;
    CHECK0(pthread_kill(pthread_self(), SIGUSR1));
    double c0 = tcpu();
    spin_wall(1.0);
    ocpu[0] = tcpu() - c0;
    return NULL;
}
static void *orphan_hog(void *arg)
{
    double c0 = tcpu();
    spin_wall(1.0);
    ocpu[(intptr_t)arg] = tcpu() - c0;
    return NULL;
}
static int orphan(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = orphan_handler;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    pthread_t t[3];
    CHECK0(pthread_create(&t[0], NULL, orphan_a, NULL));
    for (intptr_t i = 1; i < 3; i++)
        CHECK0(pthread_create(&t[i], NULL, orphan_hog, (void *)i));
    for (int i = 0; i < 3; i++)
        CHECK0(pthread_join(t[i], NULL));
    printf("three threads computed after a handler that computed\n");
    double hog = ocpu[1] > ocpu[2] ? ocpu[1] : ocpu[2];
    if (preemptions() >= 0 && ocpu[0] > 1.5 * hog)
        printf("gmp: the thread whose handler computed took %.2f s of CPU, the others %.2f and %.2f\n", ocpu[0],
               ocpu[1], ocpu[2]);
    return 0;
}

static _Atomic int syscall_loops_stop;

static void *syscall_loop(void *arg)
{
    (void)arg;
    int fd = open("/proc/self/stat", O_RDONLY);
    if (fd < 0) {
        printf("FAIL: open /proc/self/stat: %s\n", strerror(errno));
        exit(1);
    }
    char buf[64];
    long n = 0;
    double give_up = now_s() + 5;
    while (!atomic_load(&syscall_loops_stop) && now_s() < give_up) {
        if (pread(fd, buf, sizeof buf, 0) <= 0) {
            printf("FAIL: pread: %s\n", strerror(errno));
            exit(1);
        }
        n++;
    }
    close(fd);
    return (void *)n;
}

static int syscall_loops(int threads)
{
    pthread_t t[64];
    if (threads < 1 || threads > 64)
        return 2;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, syscall_loop, NULL) != 0)
            return 1;
    double worst = 0;
    for (int i = 0; i < 5; i++) {
        double a = now_s();
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        if (now_s() - a > worst)
            worst = now_s() - a;
    }
    atomic_store(&syscall_loops_stop, 1);
    long calls = 0;
    for (int i = 0; i < threads; i++) {
        void *n;
        pthread_join(t[i], &n);
        calls += (long)n;
    }
    printf("syscalls: main's five 20 ms sleeps beside %d looping threads %s; the loops ran: %s\n", threads,
           worst < 0.5 ? "ended in time" : "were late", calls > 0 ? "yes" : "no");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "fair";
    if (strcmp(mode, "fair") == 0)
        return fair(argc > 2 ? atoi(argv[2]) : 8, argc > 3 ? atof(argv[3]) : 3);
    if (strcmp(mode, "state") == 0)
        return states(argc > 2 ? atoi(argv[2]) : 6);
    if (strcmp(mode, "libc") == 0)
        return libc_mix(argc > 2 ? atoi(argv[2]) : 8, argc > 3 ? atof(argv[3]) : 10);
    if (strcmp(mode, "sigurg") == 0)
        return sigurg();
    if (strcmp(mode, "special") == 0)
        return special();
    if (strcmp(mode, "syscalls") == 0)
        return syscall_loops(argc > 2 ? atoi(argv[2]) : 2);
    if (strcmp(mode, "orphan") == 0)
        return orphan();
    if (strcmp(mode, "rt") == 0)
        return rt(argc > 2 ? argv[2] : "fifo");
    fprintf(stderr, "usage: preempt fair|state|libc|sigurg|special|syscalls|orphan|rt ...\n");
    return 2;
}
