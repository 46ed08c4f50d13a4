/* futex operations through syscall(SYS_futex), as Rust's std and hand-written
 * locks use them: a futex-based mutex under contention, WAIT value mismatch
 * (EAGAIN), relative and absolute (bitset, both clocks) timeouts
 * (ETIMEDOUT), WAKE counts, WAKE_BITSET selecting waiters, CMP_REQUEUE
 * moving waiters, WAKE_OP. Prints deterministic results only. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); exit(1); } } while (0)

static long fx(_Atomic uint32_t *a, int op, uint32_t v, const struct timespec *ts, _Atomic uint32_t *a2, uint32_t v3)
{
    return syscall(SYS_futex, a, op, v, ts, a2, v3);
}

/* A three-state futex lock. */
static _Atomic uint32_t lockw;
static long counter;
static void lk(void)
{
    uint32_t z = 0;
    if (atomic_compare_exchange_strong(&lockw, &z, 1))
        return;
    while (atomic_exchange(&lockw, 2) != 0)
        fx(&lockw, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}
static void ulk(void)
{
    if (atomic_exchange(&lockw, 0) == 2)
        fx(&lockw, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
static void *locker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        lk();
        counter++;
        ulk();
    }
    return NULL;
}

static _Atomic uint32_t word, word2;
static _Atomic int parked;
static void *waiter_bits(void *arg)
{
    uint32_t bits = (uint32_t)(uintptr_t)arg;
    atomic_fetch_add(&parked, 1);
    while (atomic_load(&word) == 0)
        fx(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, bits);
    return NULL;
}
static void *waiter_plain(void *arg)
{
    (void)arg;
    atomic_fetch_add(&parked, 1);
    while (atomic_load(&word) == 0)
        fx(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return NULL;
}

static void settle(void) { usleep(50000); } /* let waiters reach the kernel/runtime */

int main(void)
{
    pthread_t t[8];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, locker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK(counter == 80000);
    printf("futex lock: counter %ld\n", counter);

    errno = 0;
    CHECK(fx(&word, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0) == -1 && errno == EAGAIN);
    struct timespec rel = {0, 20 * 1000000};
    CHECK(fx(&word, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0) == -1 && errno == ETIMEDOUT);
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 20 * 1000000;
    if (abs.tv_nsec >= 1000000000) { abs.tv_sec++; abs.tv_nsec -= 1000000000; }
    CHECK(fx(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY) == -1 && errno == ETIMEDOUT);
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += 20 * 1000000;
    if (abs.tv_nsec >= 1000000000) { abs.tv_sec++; abs.tv_nsec -= 1000000000; }
    CHECK(fx(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY) == -1 &&
          errno == ETIMEDOUT);
    CHECK(fx(&word, FUTEX_WAKE_PRIVATE, 5, NULL, NULL, 0) == 0);
    printf("futex: EAGAIN on mismatch, ETIMEDOUT relative and absolute (both clocks), wake of none = 0\n");

    /* WAKE_BITSET wakes only matching waiters. */
    atomic_store(&word, 0);
    atomic_store(&parked, 0);
    pthread_create(&t[0], NULL, waiter_bits, (void *)(uintptr_t)1);
    pthread_create(&t[1], NULL, waiter_bits, (void *)(uintptr_t)2);
    while (atomic_load(&parked) < 2)
        usleep(1000);
    settle();
    CHECK(fx(&word, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, 4) == 0);
    atomic_store(&word, 1);
    long w1 = fx(&word, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, 1);
    long w2 = fx(&word, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, 2);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    CHECK(w1 == 1 && w2 == 1);
    printf("futex: wake_bitset wakes only matching waiters\n");

    /* CMP_REQUEUE: wake 1, move the other 3 to word2; wrong cmpval gives EAGAIN. */
    atomic_store(&word, 0);
    atomic_store(&parked, 0);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, waiter_plain, NULL);
    while (atomic_load(&parked) < 4)
        usleep(1000);
    settle();
    CHECK(fx(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)(uintptr_t)10, &word2, 7) == -1 && errno == EAGAIN);
    long r = fx(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)(uintptr_t)10, &word2, 0);
    CHECK(r == 4);
    /* The woken one loops and waits again on word (still 0); the moved ones wait on word2. */
    settle();
    atomic_store(&word, 1);
    long a = fx(&word, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0);
    long b = fx(&word2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK(a == 1 && b == 3);
    printf("futex: cmp_requeue woke 1 and moved 3; EAGAIN on a stale value\n");

    /* WAKE_OP: set word2 = 5, wake on word, and on word2 if old word2 == 0. */
    atomic_store(&word2, 0);
    int op = FUTEX_OP(FUTEX_OP_SET, 5, FUTEX_OP_CMP_EQ, 0);
    CHECK(fx(&word, FUTEX_WAKE_OP_PRIVATE, 1, (void *)(uintptr_t)1, &word2, (uint32_t)op) == 0);
    CHECK(atomic_load(&word2) == 5);
    printf("futex: wake_op applied its operation\n");
    printf("ok\n");
    return 0;
}
