/* many_threads: N threads (argv[1], default 10000) alive at once, each
 * blocked until main releases it: a third on a condition variable, a third on
 * a mutex main holds, a third on a semaphore; main checks that all started,
 * releases them and joins them all. Stacks are 64 KiB so that the
 * native run fits; if the native system refuses a thread (EAGAIN) the
 * program exits 77, which compare.sh reports as a skip. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_started = PTHREAD_COND_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static sem_t sem;
static long started, released, n;
static int go;

static void *worker(void *arg)
{
    intptr_t i = (intptr_t)arg;
    pthread_mutex_lock(&lock);
    if (++started == n)
        pthread_cond_signal(&all_started);
    if (i % 3 == 0) {
        while (!go)
            pthread_cond_wait(&go_cond, &lock);
        pthread_mutex_unlock(&lock);
    } else if (i % 3 == 1) {
        pthread_mutex_unlock(&lock);
        pthread_mutex_lock(&gate);
        pthread_mutex_unlock(&gate);
    } else {
        pthread_mutex_unlock(&lock);
        while (sem_wait(&sem) != 0)
            CHECK(errno == EINTR);
    }
    pthread_mutex_lock(&lock);
    CHECK(go);
    released++;
    pthread_mutex_unlock(&lock);
    return (void *)(i + 1);
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atol(argv[1]) : 10000;
    CHECK(n > 0);
    pthread_t *ts = calloc(n, sizeof *ts);
    CHECK(ts != NULL);
    CHECK(sem_init(&sem, 0, 0) == 0);
    pthread_mutex_lock(&gate);

    pthread_attr_t attr;
    CHECK0(pthread_attr_init(&attr));
    CHECK0(pthread_attr_setstacksize(&attr, 64 * 1024));
    for (long i = 0; i < n; i++) {
        int r = pthread_create(&ts[i], &attr, worker, (void *)(intptr_t)i);
        if (r == EAGAIN) {
            fprintf(stderr, "many_threads: pthread_create #%ld: EAGAIN; cannot run here\n", i);
            fflush(stdout);
            _exit(77);
        }
        CHECK0(r);
    }
    pthread_attr_destroy(&attr);

    pthread_mutex_lock(&lock);
    while (started < n)
        pthread_cond_wait(&all_started, &lock);
    CHECK(started == n);
    CHECK(released == 0);
    pthread_mutex_unlock(&lock);
    usleep(100 * 1000); /* let the last ones reach their mutex or semaphore */
    pthread_mutex_lock(&lock);
    go = 1;
    pthread_cond_broadcast(&go_cond);
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&gate);
    for (long i = 2; i < n; i += 3)
        CHECK(sem_post(&sem) == 0);
    printf("started %ld threads, all alive and blocked at once\n", started);

    long sum = 0;
    for (long i = 0; i < n; i++) {
        void *ret;
        CHECK0(pthread_join(ts[i], &ret));
        CHECK((intptr_t)ret == i + 1);
        sum += (intptr_t)ret;
    }
    CHECK(released == n);
    CHECK(sum == n * (n + 1) / 2);
    printf("released and joined %ld threads, sum %ld\n", released, sum);
    free(ts);
    printf("ok\n");
    return 0;
}
