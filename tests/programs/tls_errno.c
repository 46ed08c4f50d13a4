/* tls_errno: errno and __thread variables are per thread and survive
 * blocking points. Each thread caches &errno and the addresses of its
 * __thread variables, blocks (sched_yield, nanosleep, condition variable,
 * barrier) and checks that the addresses and values are unchanged, that its
 * copies start from their initialisers, and that no two live threads share
 * them. Many threads run at once so that under a user-level scheduler they
 * resume on other kernel threads. Two waves: the second wave must see the
 * initialisers again, not values left by the first. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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

#define THREADS 64
#define WAVES   2
#define ROUNDS  20

static __thread int tls_int = 1234;
static __thread char tls_str[32] = "initial value";
static __thread struct { long a; double b; int arr[4]; } tls_struct = { 7, 2.5, { 1, 2, 3, 4 } };
static __thread long tls_zero;       /* .tbss */
static __thread int tls_counter;

struct slot {
    int *errno_addr;
    int *int_addr;
    int ok_rounds;
};
static struct slot slots[THREADS];

static pthread_barrier_t barrier;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long ticket;

static void barrier_wait(void)
{
    int r = pthread_barrier_wait(&barrier);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
}

/* A blocking point of kind k; never touches errno on success. */
static void block(int k)
{
    switch (k % 4) {
    case 0:
        sched_yield();
        break;
    case 1: {
        struct timespec ts = { 0, 200 * 1000 };
        CHECK(nanosleep(&ts, NULL) == 0);
        break;
    }
    case 2: {
        /* Wait until some other thread takes a ticket (or time out). */
        pthread_mutex_lock(&lock);
        long mine = ++ticket;
        pthread_cond_broadcast(&cond);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += 1000 * 1000;
        if (dl.tv_nsec >= 1000000000) { dl.tv_sec++; dl.tv_nsec -= 1000000000; }
        while (ticket == mine)
            if (pthread_cond_timedwait(&cond, &lock, &dl) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&lock);
        break;
    }
    case 3:
        usleep(100);
        break;
    }
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;

    /* Initialisers, in a thread that may reuse an earlier thread's memory. */
    CHECK(errno == 0);
    CHECK(tls_int == 1234);
    CHECK(strcmp(tls_str, "initial value") == 0);
    CHECK(tls_struct.a == 7 && tls_struct.b == 2.5 && tls_struct.arr[3] == 4);
    CHECK(tls_zero == 0);
    CHECK(tls_counter == 0);

    int *e = &errno;
    int *ip = &tls_int;
    slots[id].errno_addr = e;
    slots[id].int_addr = ip;

    /* errno set by a failing call, then blocking. */
    CHECK(close(-1) == -1);
    CHECK(errno == EBADF);
    block(1);
    block(2);
    CHECK(errno == EBADF);
    CHECK(&errno == e);

    tls_int = id;
    snprintf(tls_str, sizeof tls_str, "thread %d", id);
    tls_struct.a = id * 10;
    tls_zero = -id;

    barrier_wait();             /* every thread of the wave has written */

    for (int r = 0; r < ROUNDS; r++) {
        errno = 10000 + id * 100 + r;
        tls_counter++;
        block(id + r);
        CHECK(&errno == e);
        CHECK(*e == 10000 + id * 100 + r);
        CHECK(errno == 10000 + id * 100 + r);
        CHECK(&tls_int == ip);
        CHECK(tls_int == id);
        char want[32];
        snprintf(want, sizeof want, "thread %d", id);
        CHECK(strcmp(tls_str, want) == 0);
        CHECK(tls_struct.a == id * 10 && tls_struct.arr[0] == 1);
        CHECK(tls_zero == -id);
        CHECK(tls_counter == r + 1);
        slots[id].ok_rounds++;
    }

    barrier_wait();             /* all still alive: addresses must be distinct */
    errno = 0;
    return NULL;
}

int main(void)
{
    int *main_errno = &errno;
    errno = 77;
    tls_int = -1;
    CHECK0(pthread_barrier_init(&barrier, NULL, THREADS));
    for (int wave = 0; wave < WAVES; wave++) {
        memset(slots, 0, sizeof slots);
        pthread_t ts[THREADS];
        for (int i = 0; i < THREADS; i++)
            CHECK0(pthread_create(&ts[i], NULL, worker, (void *)(intptr_t)i));
        for (int i = 0; i < THREADS; i++)
            CHECK0(pthread_join(ts[i], NULL));
        int distinct = 1, rounds = 0;
        for (int i = 0; i < THREADS; i++) {
            rounds += slots[i].ok_rounds;
            if (slots[i].errno_addr == main_errno || slots[i].int_addr == &tls_int)
                distinct = 0;
            for (int k = 0; k < i; k++)
                if (slots[k].errno_addr == slots[i].errno_addr ||
                    slots[k].int_addr == slots[i].int_addr)
                    distinct = 0;
        }
        CHECK(distinct);
        CHECK(rounds == THREADS * ROUNDS);
        printf("wave %d: %d threads, %d checked rounds, errno and __thread distinct per thread\n",
               wave, THREADS, rounds);
    }
    CHECK(&errno == main_errno);
    CHECK(errno == 77);
    CHECK(tls_int == -1);
    printf("main: errno and __thread untouched by other threads\n");
    printf("ok\n");
    return 0;
}
