/* Calls about "this thread" that the kernel answers per kernel thread:
 * per-thread CPU clocks (CLOCK_THREAD_CPUTIME_ID, pthread_getcpuclockid),
 * CPU affinity (pthread_/sched_ set/getaffinity, and its errors: a NULL
 * set, as strace probes the size with, a size the kernel refuses, a large
 * set zeroed past the mask; for a thread with a mask of its own and one
 * without), thread
 * names through prctl and pthread_getname_np, unshare(0); 64 threads that
 * each setns into the UTS namespace they are in already and then wait all
 * at once (stress-ng's pthread stressor does so): a join that changes
 * nothing must not cost gmp a kernel thread per thread (max_kthreads). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)

static double secs(clockid_t c)
{
    struct timespec ts;
    CHECK(clock_gettime(c, &ts) == 0);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void spin(double s)
{
    double t0 = secs(CLOCK_MONOTONIC);
    while (secs(CLOCK_MONOTONIC) - t0 < s)
        ;
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ---- CPU clocks */

static atomic_int phase;

static void *cpu_worker(void *arg)
{
    (void)arg;
    double c0 = secs(CLOCK_THREAD_CPUTIME_ID);
    spin(0.08);
    double c1 = secs(CLOCK_THREAD_CPUTIME_ID);
    nap(100);
    double c2 = secs(CLOCK_THREAD_CPUTIME_ID);
    /* spinning 80 ms wall is at most 80 ms CPU (less if the machine is busy); sleeping adds ~0 */
    printf("own CPU clock: spin counted %s, sleep not counted %s\n", c1 - c0 > 0.005 && c1 - c0 < 0.12 ? "yes" : "no",
           c2 - c1 < 0.02 ? "yes" : "no");
    atomic_store(&phase, 1);
    while (atomic_load(&phase) != 2)
        nap(1);
    return NULL;
}

static void clocks(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, cpu_worker, NULL) == 0);
    clockid_t c;
    CHECK(pthread_getcpuclockid(t, &c) == 0);
    while (atomic_load(&phase) != 1)
        nap(1);
    double used = secs(c);
    printf("its clock from another thread: %s\n", used > 0.005 && used < 0.15 ? "in range" : "wrong");
    struct timespec res;
    CHECK(clock_getres(c, &res) == 0);
    atomic_store(&phase, 2);
    CHECK(pthread_join(t, NULL) == 0);
    double m = secs(CLOCK_THREAD_CPUTIME_ID);
    printf("main's own clock: %s\n", m >= 0 && m < 5 ? "in range" : "wrong");
}

/* ---- affinity */

/* The kernel's checks and glibc's zeroing, as sched_getaffinity and pthread_getaffinity_np give them. */
static void aff_edges(const char *who)
{
    static unsigned char big[4096];
    cpu_set_t *volatile none = NULL; /* (not a constant: the compiler would warn) */
    errno = 0;
    int r = sched_getaffinity(0, 8, none);
    printf("%s: sched_getaffinity(0, 8, NULL) -> %d %s\n", who, r, strerror(errno));
    errno = 0;
    r = sched_getaffinity(0, 3, (cpu_set_t *)big);
    printf("%s: sched_getaffinity(0, 3) -> %d %s\n", who, r, strerror(errno));
    memset(big, 0xff, sizeof big);
    r = sched_getaffinity(0, sizeof big, (cpu_set_t *)big);
    int tail = 0;
    for (size_t i = 64; i < sizeof big; i++)
        tail |= big[i];
    printf("%s: sched_getaffinity(0, 4096) -> %d, %d CPU(s), zero past the mask: %s\n", who, r,
           CPU_COUNT_S(sizeof big, (cpu_set_t *)big), tail ? "no" : "yes");
    printf("%s: pthread_getaffinity_np(self, 8, NULL) -> %s\n", who,
           strerror(pthread_getaffinity_np(pthread_self(), 8, none)));
    printf("%s: pthread_getaffinity_np(self, 3) -> %s\n", who,
           strerror(pthread_getaffinity_np(pthread_self(), 3, (cpu_set_t *)big)));
}

static void *aff_other(void *arg)
{
    cpu_set_t s;
    CHECK(pthread_getaffinity_np(pthread_self(), sizeof s, &s) == 0);
    *(int *)arg = CPU_COUNT(&s);
    return NULL;
}

static void *aff_worker(void *arg)
{
    (void)arg;
    int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t s, got;
    CPU_ZERO(&s);
    CPU_SET(0, &s);
    printf("pthread_setaffinity_np(self, {0}) -> %d\n", pthread_setaffinity_np(pthread_self(), sizeof s, &s));
    int on0 = 1;
    for (int i = 0; i < 50; i++) {
        sched_yield();
        nap(1);
        if (sched_getcpu() != 0)
            on0 = 0;
    }
    printf("runs only on CPU 0 afterwards: %s\n", on0 ? "yes" : "no");
    CHECK(pthread_getaffinity_np(pthread_self(), sizeof got, &got) == 0);
    printf("pthread_getaffinity_np: %d CPU(s), CPU 0 %s\n", CPU_COUNT(&got), CPU_ISSET(0, &got) ? "in" : "out");
    CHECK(sched_getaffinity(0, sizeof got, &got) == 0);
    printf("sched_getaffinity(0): %d CPU(s)\n", CPU_COUNT(&got));
    aff_edges("own mask");
    int other = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, aff_other, &other) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("a thread it creates inherits it: %d CPU(s)\n", other);
    (void)ncpu;
    CPU_ZERO(&s);
    printf("empty set -> %s\n", strerror(pthread_setaffinity_np(pthread_self(), sizeof s, &s)));
    CPU_ZERO(&s);
    CPU_SET(1000, &s);
    printf("only CPU 1000 -> %s\n", strerror(pthread_setaffinity_np(pthread_self(), sizeof s, &s)));
    errno = 0;
    int r = sched_setaffinity(0, sizeof s, &s);
    printf("sched_setaffinity(0, {1000}) -> %d %s\n", r, strerror(errno));
    return NULL;
}

/* ---- names */

static void *name_worker(void *arg)
{
    (void)arg;
    char buf[32] = "";
    CHECK(prctl(PR_SET_NAME, "a-very-long-thread-name") == 0);
    CHECK(prctl(PR_GET_NAME, buf) == 0);
    printf("prctl names: %s\n", buf);
    CHECK(pthread_getname_np(pthread_self(), buf, sizeof buf) == 0);
    printf("pthread_getname_np: %s\n", buf);
    nap(5); /* a scheduling point: under gmp it may come back on another kernel thread */
    CHECK(prctl(PR_GET_NAME, buf) == 0);
    printf("after a sleep: %s\n", buf);
    printf("unshare(0) -> %d\n", unshare(0));
    return NULL;
}

static void *unnamed(void *arg)
{
    char buf[32];
    CHECK(pthread_getname_np(pthread_self(), buf, sizeof buf) == 0);
    strcpy(arg, buf);
    return NULL;
}

#define NS_THREADS 64
static pthread_barrier_t ns_bar;
static atomic_int ns_ok, ns_eperm;

static void *ns_worker(void *arg)
{
    (void)arg;
    int fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    int r = setns(fd, CLONE_NEWUTS);
    if (r == 0)
        atomic_fetch_add(&ns_ok, 1);
    else if (errno == EPERM) /* not root: the same both ways */
        atomic_fetch_add(&ns_eperm, 1);
    close(fd);
    pthread_barrier_wait(&ns_bar); /* every thread waits at once */
    return NULL;
}

static void same_namespace(void)
{
    pthread_t t[NS_THREADS];
    CHECK(pthread_barrier_init(&ns_bar, NULL, NS_THREADS) == 0);
    for (int i = 0; i < NS_THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, ns_worker, NULL) == 0);
    for (int i = 0; i < NS_THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    printf("setns into its own UTS namespace: %d threads, %s\n", NS_THREADS,
           ns_ok == NS_THREADS ? "all succeeded" : ns_eperm == NS_THREADS ? "all EPERM" : "mixed");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    clocks();
    aff_edges("process mask");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, aff_worker, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(pthread_create(&t, NULL, name_worker, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    char inherited[32], mine[32];
    CHECK(pthread_create(&t, NULL, unnamed, inherited) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(prctl(PR_GET_NAME, mine) == 0);
    printf("an unnamed thread has the process's name: %s\n", strcmp(inherited, mine) == 0 ? "yes" : "no");
    same_namespace();
    return 0;
}
