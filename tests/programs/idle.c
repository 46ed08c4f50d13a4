/* idle: a program whose threads all wait costs no CPU.
 *
 * Under gmp a kernel thread with no work spins a while before it sleeps
 * (core/spin.c).  First 4 pairs of threads pass tokens quickly
 * (which makes gmp's spinning as long as it gets), then every thread
 * blocks: on a condition variable, a semaphore, a pipe read, a join, a
 * 3-second sleep.  The process's CPU time over the next second must stay
 * under 10 ms (natively it is ~0).  Prints only pass/fail lines. */
#define _GNU_SOURCE
#include <pthread.h>
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

static sem_t ping[4][2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int released;
static sem_t gate;
static int pfd[2];

static void *pinger(void *arg)
{
    intptr_t v = (intptr_t)arg;
    int pair = (int)(v >> 1), side = (int)(v & 1);
    for (int i = 0; i < 5000; i++) {
        CHECK(sem_wait(&ping[pair][side]) == 0);
        CHECK(sem_post(&ping[pair][1 - side]) == 0);
    }
    return NULL;
}

static void *on_cond(void *arg)
{
    (void)arg;
    CHECK0(pthread_mutex_lock(&mu));
    while (!released)
        CHECK0(pthread_cond_wait(&cv, &mu));
    CHECK0(pthread_mutex_unlock(&mu));
    return NULL;
}

static void *on_sem(void *arg)
{
    (void)arg;
    CHECK(sem_wait(&gate) == 0);
    return NULL;
}

static void *on_pipe(void *arg)
{
    (void)arg;
    char c;
    CHECK(read(pfd[0], &c, 1) == 1);
    return NULL;
}

static void *on_sleep(void *arg)
{
    (void)arg;
    sleep(3);
    return NULL;
}

static void *on_join(void *arg)
{
    CHECK0(pthread_join(*(pthread_t *)arg, NULL));
    return NULL;
}

static double cpu_s(void)
{
    struct timespec ts;
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    pthread_t p[8], w[5];
    for (int i = 0; i < 4; i++) {
        CHECK(sem_init(&ping[i][0], 0, 1) == 0);
        CHECK(sem_init(&ping[i][1], 0, 0) == 0);
    }
    for (intptr_t i = 0; i < 8; i++)
        CHECK0(pthread_create(&p[i], NULL, pinger, (void *)i));
    for (int i = 0; i < 8; i++)
        CHECK0(pthread_join(p[i], NULL));
    printf("busy phase done\n");

    CHECK(sem_init(&gate, 0, 0) == 0);
    CHECK(pipe(pfd) == 0);
    CHECK0(pthread_create(&w[0], NULL, on_cond, NULL));
    CHECK0(pthread_create(&w[1], NULL, on_sem, NULL));
    CHECK0(pthread_create(&w[2], NULL, on_pipe, NULL));
    CHECK0(pthread_create(&w[3], NULL, on_sleep, NULL));
    CHECK0(pthread_create(&w[4], NULL, on_join, &w[3]));
    struct timespec settle = {0, 100000000};
    nanosleep(&settle, NULL); /* every thread reaches its wait */

    double c0 = cpu_s();
    struct timespec one = {1, 0};
    nanosleep(&one, NULL);
    double used_ms = (cpu_s() - c0) * 1e3;
    if (used_ms < 10.0)
        printf("idle second: under 10 ms of CPU\n");
    else
        printf("idle second: %.1f ms of CPU (want < 10)\n", used_ms);

    CHECK0(pthread_mutex_lock(&mu));
    released = 1;
    CHECK0(pthread_cond_broadcast(&cv));
    CHECK0(pthread_mutex_unlock(&mu));
    CHECK(sem_post(&gate) == 0);
    CHECK(write(pfd[1], "x", 1) == 1);
    for (int i = 0; i < 5; i++)
        if (i != 3)
            CHECK0(pthread_join(w[i], NULL));
    printf("all woken\n");
    return 0;
}
