/* Threads the program did not create through pthread_create: glibc's
 * SIGEV_THREAD timer creates its own threads for the notifications. Their
 * callbacks lock a mutex, signal a condvar that a normal thread waits on,
 * post a semaphore, use thread-specific data, sleep, and create and join a
 * thread; the main thread waits for all of it. Mixed waits both ways: a
 * normal thread wakes a callback blocked on a condvar, too. */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)
#define N 12

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER, back = PTHREAD_COND_INITIALIZER;
static int fired, created_ok, keys_ok, acked;
static sem_t sem;
static pthread_key_t key;

static void *child(void *arg) { return (void *)((intptr_t)arg + 1); }

static void notify(union sigval v)
{
    (void)v;
    CHECK(pthread_setspecific(key, (void *)&key) == 0);
    usleep(200);
    pthread_t t;
    void *ret = NULL;
    int ok = pthread_create(&t, NULL, child, (void *)41) == 0 && pthread_join(t, &ret) == 0 && ret == (void *)42;
    pthread_mutex_lock(&m);
    int me = ++fired;
    created_ok += ok;
    keys_ok += pthread_getspecific(key) == (void *)&key;
    pthread_cond_broadcast(&c);
    /* wait until the main thread acknowledges this notification */
    while (acked < me)
        pthread_cond_wait(&back, &m);
    pthread_mutex_unlock(&m);
    sem_post(&sem);
}

int main(void)
{
    CHECK(sem_init(&sem, 0, 0) == 0);
    CHECK(pthread_key_create(&key, NULL) == 0);
    timer_t tid;
    struct sigevent sev = {0};
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = notify;
    CHECK(timer_create(CLOCK_MONOTONIC, &sev, &tid) == 0);
    struct itimerspec its = {{0, 3000000}, {0, 3000000}};
    CHECK(timer_settime(tid, 0, &its, NULL) == 0);
    pthread_mutex_lock(&m);
    while (acked < N) {
        while (fired <= acked)
            pthread_cond_wait(&c, &m);
        acked = fired;
        pthread_cond_broadcast(&back);
    }
    pthread_mutex_unlock(&m);
    struct itimerspec off = {{0, 0}, {0, 0}};
    timer_settime(tid, 0, &off, NULL);
    for (int i = 0; i < N; i++)
        CHECK(sem_wait(&sem) == 0);
    usleep(20000); /* let a notification still running finish */
    pthread_mutex_lock(&m);
    int f = fired, cr = created_ok, k = keys_ok;
    acked = 1 << 30;
    pthread_cond_broadcast(&back);
    pthread_mutex_unlock(&m);
    timer_delete(tid);
    CHECK(f >= N && cr == f && k == f);
    printf("foreign threads: at least %d notifications, each created and joined a thread, "
           "used its own key value, woke and was woken by a normal thread\nok\n", N);
    return 0;
}
