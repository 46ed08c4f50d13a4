/* detached: threads detached three ways (attribute, pthread_detach by the
 * thread itself, pthread_detach by its creator) report completion through a
 * mutex+condvar counter; main waits for all of them, several rounds. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define PER_KIND 100
#define ROUNDS   3

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long done, sum;

static void finish(intptr_t v)
{
    pthread_mutex_lock(&lock);
    done++;
    sum += v;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

static void *by_attr(void *arg)
{
    pthread_attr_t a;
    int state;
    CHECK0(pthread_getattr_np(pthread_self(), &a));
    CHECK0(pthread_attr_getdetachstate(&a, &state));
    CHECK(state == PTHREAD_CREATE_DETACHED);
    pthread_attr_destroy(&a);
    finish((intptr_t)arg);
    return NULL;
}

static void *by_self(void *arg)
{
    CHECK0(pthread_detach(pthread_self()));
    finish((intptr_t)arg);
    return NULL;
}

static void *by_creator(void *arg)
{
    finish((intptr_t)arg);
    return NULL;
}

int main(void)
{
    pthread_attr_t attr;
    int state;
    CHECK0(pthread_attr_init(&attr));
    CHECK0(pthread_attr_getdetachstate(&attr, &state));
    CHECK(state == PTHREAD_CREATE_JOINABLE);
    CHECK0(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED));
    CHECK0(pthread_attr_getdetachstate(&attr, &state));
    CHECK(state == PTHREAD_CREATE_DETACHED);

    long want_done = 0, want_sum = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (intptr_t i = 0; i < PER_KIND; i++) {
            pthread_t t;
            CHECK0(pthread_create(&t, &attr, by_attr, (void *)i));
            CHECK0(pthread_create(&t, NULL, by_self, (void *)(1000 + i)));
            CHECK0(pthread_create(&t, NULL, by_creator, (void *)(2000 + i)));
            CHECK0(pthread_detach(t));
            want_done += 3;
            want_sum += 3 * i + 3000;
        }
        pthread_mutex_lock(&lock);
        while (done < want_done)
            pthread_cond_wait(&cond, &lock);
        CHECK(done == want_done);
        CHECK(sum == want_sum);
        pthread_mutex_unlock(&lock);
        printf("round %d: %ld detached threads done, sum %ld\n", round, done, sum);
    }
    pthread_attr_destroy(&attr);
    printf("ok\n");
    return 0;
}
