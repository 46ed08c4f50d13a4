/* stack_use: threads really get the stack they are promised. Recursion
 * touching 2 MiB of a default (8 MiB) stack, 12 MiB of a 16 MiB stack set
 * with pthread_attr_setstacksize, 32 KiB of a 64 KiB stack, 2 MiB of main's
 * stack, and 32 threads using 1 MiB each at the same time while blocking in
 * the middle of their recursion. Each frame's contents are checked on the
 * way back up, so a stack shared or reused by another thread is detected. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define FRAME 1024                     /* bytes of locals per level, roughly */
#define STRIDE 8                       /* every byte is written, every 8th checked */

static pthread_barrier_t middle;
static int use_barrier;

/* Uses about depth * FRAME bytes of stack; blocks at the deepest level. */
static __attribute__((noinline)) long dig(int depth, unsigned seed)
{
    volatile unsigned char buf[FRAME - 64];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(seed + i + depth);
    long below = 0;
    if (depth > 0) {
        below = dig(depth - 1, seed);
    } else if (use_barrier) {
        int r = pthread_barrier_wait(&middle);
        CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
        usleep(1000);
        sched_yield();
    }
    long sum = 0;
    for (size_t i = 0; i < sizeof buf; i += STRIDE) {
        CHECK(buf[i] == (unsigned char)(seed + i + depth));
        sum += buf[i];
    }
    return sum + below;
}

struct req { int depth; unsigned seed; long result; };

static void *run(void *arg)
{
    struct req *r = arg;
    r->result = dig(r->depth, r->seed);
    return NULL;
}

static long expected(int depth, unsigned seed)
{
    long s = 0;
    for (int d = 0; d <= depth; d++)
        for (size_t i = 0; i < FRAME - 64; i += STRIDE)
            s += (unsigned char)(seed + i + d);
    return s;
}

static void one(const char *what, size_t stacksize, int depth)
{
    pthread_attr_t a;
    pthread_t t;
    struct req r = { depth, 7, 0 };
    CHECK0(pthread_attr_init(&a));
    if (stacksize)
        CHECK0(pthread_attr_setstacksize(&a, stacksize));
    CHECK0(pthread_create(&t, &a, run, &r));
    CHECK0(pthread_join(t, NULL));
    pthread_attr_destroy(&a);
    CHECK(r.result == expected(depth, 7));
    printf("%s: %d KiB of stack used and checked\n", what, depth * FRAME / 1024);
}

int main(void)
{
    one("default stack", 0, 2048);
    one("16 MiB stack", 16u << 20, 12 * 1024);
    one("64 KiB stack", 64u << 10, 32);

    struct req m = { 2048, 3, 0 };
    run(&m);
    CHECK(m.result == expected(2048, 3));
    printf("main: 2048 KiB of stack used and checked\n");

    enum { N = 32 };
    pthread_t ts[N];
    struct req rs[N];
    use_barrier = 1;
    CHECK0(pthread_barrier_init(&middle, NULL, N));
    for (int i = 0; i < N; i++) {
        rs[i] = (struct req){ 1024, (unsigned)i * 13, 0 };
        CHECK0(pthread_create(&ts[i], NULL, run, &rs[i]));
    }
    int good = 0;
    for (int i = 0; i < N; i++) {
        CHECK0(pthread_join(ts[i], NULL));
        good += rs[i].result == expected(1024, (unsigned)i * 13);
    }
    printf("%d threads using 1 MiB each at once: %d checked\n", N, good);
    CHECK(good == N);
    printf("ok\n");
    return 0;
}
