/* sync: the other blocking primitives threads use, each checked by counts.
 *  - mutex: a plain counter incremented under contention;
 *  - rwlock: readers hold the read lock at the same time (they meet at a
 *    barrier while holding it); then readers and writers mix, writers are
 *    exclusive;
 *  - semaphores: a bounded buffer (producers/consumers), sem_trywait EAGAIN,
 *    sem_timedwait ETIMEDOUT, sem_getvalue;
 *  - barrier: exactly one PTHREAD_BARRIER_SERIAL_THREAD per round;
 *  - spinlock: a counter;
 *  - condvar: a queue with signal and broadcast. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define T 8

static void spawn(void *(*fn)(void *), int n)
{
    pthread_t ts[64];
    for (intptr_t i = 0; i < n; i++)
        CHECK0(pthread_create(&ts[i], NULL, fn, (void *)i));
    for (int i = 0; i < n; i++)
        CHECK0(pthread_join(ts[i], NULL));
}

/* mutex */
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static long mcount;
static void *mutex_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&mtx);
        mcount++;
        pthread_mutex_unlock(&mtx);
    }
    return NULL;
}

/* rwlock */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t readers_in;
static long shared_value, writer_violations;
static volatile int writing;
static void *readers_together(void *arg)
{
    (void)arg;
    CHECK0(pthread_rwlock_rdlock(&rw));
    int r = pthread_barrier_wait(&readers_in);     /* all readers inside at once */
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    CHECK(pthread_rwlock_trywrlock(&rw) == EBUSY);
    CHECK0(pthread_rwlock_unlock(&rw));
    return NULL;
}
static void *reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        CHECK0(pthread_rwlock_rdlock(&rw));
        if (writing)
            writer_violations++;
        CHECK0(pthread_rwlock_unlock(&rw));
    }
    return NULL;
}
static void *writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        CHECK0(pthread_rwlock_wrlock(&rw));
        writing = 1;
        long v = shared_value;
        if (i % 100 == 0)
            sched_yield();
        shared_value = v + 1;
        writing = 0;
        CHECK0(pthread_rwlock_unlock(&rw));
    }
    return NULL;
}
static void *rw_mixed(void *arg)
{
    return (intptr_t)arg % 2 ? writer(arg) : reader(arg);
}

/* semaphores: bounded buffer */
#define SLOTS 4
#define ITEMS 5000
static sem_t empty, full;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static long buf[SLOTS], head, tail, consumed_sum, consumed_n;
static void *producer(void *arg)
{
    intptr_t id = (intptr_t)arg;
    for (long i = 0; i < ITEMS; i++) {
        while (sem_wait(&empty) != 0)
            CHECK(errno == EINTR);
        pthread_mutex_lock(&qlock);
        buf[tail++ % SLOTS] = id * ITEMS + i;
        pthread_mutex_unlock(&qlock);
        CHECK(sem_post(&full) == 0);
    }
    return NULL;
}
static void *consumer(void *arg)
{
    (void)arg;
    for (long i = 0; i < ITEMS; i++) {
        while (sem_wait(&full) != 0)
            CHECK(errno == EINTR);
        pthread_mutex_lock(&qlock);
        consumed_sum += buf[head++ % SLOTS];
        consumed_n++;
        pthread_mutex_unlock(&qlock);
        CHECK(sem_post(&empty) == 0);
    }
    return NULL;
}
static void *prod_cons(void *arg)
{
    return (intptr_t)arg < 2 ? producer(arg) : consumer(arg);
}

/* barrier */
static pthread_barrier_t bar;
static int serials[100];
static void *barrier_worker(void *arg)
{
    (void)arg;
    for (int r = 0; r < 100; r++) {
        int x = pthread_barrier_wait(&bar);
        if (x == PTHREAD_BARRIER_SERIAL_THREAD)
            __atomic_fetch_add(&serials[r], 1, __ATOMIC_RELAXED);
        else
            CHECK(x == 0);
    }
    return NULL;
}

/* spinlock */
static pthread_spinlock_t spin;
static long scount;
static void *spin_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        CHECK0(pthread_spin_lock(&spin));
        scount++;
        CHECK0(pthread_spin_unlock(&spin));
    }
    return NULL;
}

/* condvar queue */
static pthread_mutex_t cl = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nonempty = PTHREAD_COND_INITIALIZER, drained = PTHREAD_COND_INITIALIZER;
static long pending, handled, handled_sum;
static int closing;
static void *cond_worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cl);
    for (;;) {
        while (pending == 0 && !closing)
            pthread_cond_wait(&nonempty, &cl);
        if (pending == 0 && closing)
            break;
        handled_sum += pending--;
        handled++;
        if (pending == 0)
            pthread_cond_signal(&drained);
    }
    pthread_mutex_unlock(&cl);
    return NULL;
}

int main(void)
{
    spawn(mutex_worker, T);
    CHECK(mcount == T * 20000L);
    printf("mutex: %d threads, counter %ld\n", T, mcount);

    CHECK0(pthread_barrier_init(&readers_in, NULL, T / 2));
    spawn(readers_together, T / 2);
    spawn(rw_mixed, T);
    CHECK(shared_value == (T / 2) * 2000L);
    CHECK(writer_violations == 0);
    printf("rwlock: %d readers held it together, writers counted %ld, no overlap\n",
           T / 2, shared_value);
    CHECK0(pthread_barrier_destroy(&readers_in));

    CHECK(sem_init(&empty, 0, SLOTS) == 0);
    CHECK(sem_init(&full, 0, 0) == 0);
    spawn(prod_cons, 4);
    long n = 2L * ITEMS;
    CHECK(consumed_n == n && consumed_sum == n * (n - 1) / 2);
    int v;
    CHECK(sem_getvalue(&empty, &v) == 0 && v == SLOTS);
    CHECK(sem_getvalue(&full, &v) == 0 && v == 0);
    errno = 0;
    CHECK(sem_trywait(&full) == -1 && errno == EAGAIN);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 2000000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    CHECK(sem_timedwait(&full, &ts) == -1 && errno == ETIMEDOUT);
    printf("semaphores: %ld items through a %d-slot buffer, sum %ld; trywait EAGAIN, timedwait ETIMEDOUT\n",
           consumed_n, SLOTS, consumed_sum);

    CHECK0(pthread_barrier_init(&bar, NULL, T));
    spawn(barrier_worker, T);
    int good = 0;
    for (int r = 0; r < 100; r++)
        good += serials[r] == 1;
    CHECK(good == 100);
    printf("barrier: %d rounds, one serial thread each\n", good);

    CHECK0(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE));
    spawn(spin_worker, 2);              /* no more spinners than CPUs */
    CHECK(scount == 2 * 20000L);
    printf("spinlock: counter %ld\n", scount);

    pthread_t ws[T];
    for (int i = 0; i < T; i++)
        CHECK0(pthread_create(&ws[i], NULL, cond_worker, NULL));
    long want_sum = 0;
    for (int round = 0; round < 200; round++) {
        pthread_mutex_lock(&cl);
        pending = round % 7 + 1;
        for (long k = pending; k > 0; k--)
            want_sum += k;
        if (round % 2)
            pthread_cond_broadcast(&nonempty);
        else
            for (int k = 0; k < pending; k++)
                pthread_cond_signal(&nonempty);
        while (pending > 0)
            pthread_cond_wait(&drained, &cl);
        pthread_mutex_unlock(&cl);
    }
    pthread_mutex_lock(&cl);
    closing = 1;
    pthread_cond_broadcast(&nonempty);
    pthread_mutex_unlock(&cl);
    for (int i = 0; i < T; i++)
        CHECK0(pthread_join(ws[i], NULL));
    CHECK(handled_sum == want_sum);
    printf("condvar queue: %ld items handled, sum %ld\n", handled, handled_sum);
    printf("ok\n");
    return 0;
}
