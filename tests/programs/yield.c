/* yield: a token passed round a ring of threads that wait for it by
 * yielding (sched_yield, pthread_yield, thrd_yield) instead of blocking. With
 * one processor for user code (GMP_MAXPROCS=1) this only finishes if yield
 * lets the other threads run. Only counts are printed. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define RING   3
#define ROUNDS 2000

static atomic_int turn;
static long passes[RING];

/* pthread_yield is deprecated in favour of sched_yield, but programs call it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void yield_by(int how)
{
    switch (how) {
    case 0: CHECK(sched_yield() == 0); break;
    case 1: CHECK(pthread_yield() == 0); break;
    default: thrd_yield(); break;
    }
}
#pragma GCC diagnostic pop

static void *member(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        while (atomic_load(&turn) != id)
            yield_by(id);
        passes[id]++;
        atomic_store(&turn, (id + 1) % RING);
    }
    return NULL;
}

int main(void)
{
    pthread_t ts[RING];
    for (int i = 0; i < RING; i++)
        CHECK0(pthread_create(&ts[i], NULL, member, (void *)(intptr_t)i));
    for (int i = 0; i < RING; i++)
        CHECK0(pthread_join(ts[i], NULL));
    long total = 0;
    for (int i = 0; i < RING; i++) {
        CHECK(passes[i] == ROUNDS);
        total += passes[i];
    }
    CHECK(atomic_load(&turn) == 0);
    printf("ring of %d threads (sched_yield, pthread_yield, thrd_yield): %ld passes\n", RING, total);
    printf("ok\n");
    return 0;
}
