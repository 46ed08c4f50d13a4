/* create_join: creating and joining threads, one after another and many at
 * once; arguments in, return values out through pthread_join and
 * pthread_exit; pthread_self and pthread_equal. */
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

#define SEQUENTIAL 1000
#define AT_ONCE    200

static pthread_t main_thread;

static void *double_plus_one(void *arg)
{
    intptr_t i = (intptr_t)arg;
    return (void *)(2 * i + 1);
}

static void *exit_with(void *arg)
{
    intptr_t i = (intptr_t)arg;
    pthread_exit((void *)(i * 3));
    return NULL;                /* not reached */
}

struct job {
    int a, b;                   /* in */
    char name[16];              /* in */
    pthread_t self;             /* out: what pthread_self said */
    int self_is_main;           /* out */
    int self_equal_self;        /* out */
    long sum;                   /* out */
};

static pthread_barrier_t all_alive;

static void *run_job(void *arg)
{
    struct job *j = arg;
    j->self = pthread_self();
    j->self_is_main = pthread_equal(j->self, main_thread) != 0;
    j->self_equal_self = pthread_equal(pthread_self(), j->self) != 0;
    j->sum = (long)j->a + j->b + (long)strlen(j->name);
    /* Keep every thread of the batch alive until all have started, so their
     * ids are all distinct at the same time. */
    int r = pthread_barrier_wait(&all_alive);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    long *result = malloc(sizeof *result);
    CHECK(result != NULL);
    *result = j->sum * 10;
    return result;
}

int main(void)
{
    main_thread = pthread_self();
    CHECK(pthread_equal(main_thread, pthread_self()));

    /* 1. One at a time: return value through return and pthread_exit. */
    long sum = 0;
    for (intptr_t i = 0; i < SEQUENTIAL; i++) {
        pthread_t t;
        void *ret;
        if (i % 2 == 0) {
            CHECK0(pthread_create(&t, NULL, double_plus_one, (void *)i));
            CHECK0(pthread_join(t, &ret));
            CHECK((intptr_t)ret == 2 * i + 1);
        } else {
            CHECK0(pthread_create(&t, NULL, exit_with, (void *)i));
            CHECK0(pthread_join(t, &ret));
            CHECK((intptr_t)ret == 3 * i);
        }
        CHECK(!pthread_equal(t, main_thread));
        sum += (intptr_t)ret;
    }
    long want = 0;
    for (long i = 0; i < SEQUENTIAL; i++)
        want += i % 2 == 0 ? 2 * i + 1 : 3 * i;
    CHECK(sum == want);
    printf("sequential: %d threads joined, sum of results %ld\n", SEQUENTIAL, sum);

    /* 2. Many at once, with a struct argument and a heap result. */
    static struct job jobs[AT_ONCE];
    static pthread_t ts[AT_ONCE];
    CHECK0(pthread_barrier_init(&all_alive, NULL, AT_ONCE));
    for (int i = 0; i < AT_ONCE; i++) {
        jobs[i].a = i;
        jobs[i].b = 1000 * i;
        snprintf(jobs[i].name, sizeof jobs[i].name, "job%d", i);
        CHECK0(pthread_create(&ts[i], NULL, run_job, &jobs[i]));
    }
    long total = 0;
    int distinct = 1;
    for (int i = 0; i < AT_ONCE; i++) {
        void *ret;
        CHECK0(pthread_join(ts[i], &ret));
        long *r = ret;
        CHECK(*r == jobs[i].sum * 10);
        total += *r;
        free(r);
        CHECK(pthread_equal(ts[i], jobs[i].self));
        CHECK(!jobs[i].self_is_main);
        CHECK(jobs[i].self_equal_self);
        for (int k = 0; k < i; k++)
            if (pthread_equal(ts[k], ts[i]))
                distinct = 0;
    }
    CHECK(distinct);
    long want_total = 0;
    for (int i = 0; i < AT_ONCE; i++)
        want_total += 10L * (i + 1000L * i + (long)strlen(jobs[i].name));
    CHECK(total == want_total);
    CHECK0(pthread_barrier_destroy(&all_alive));
    printf("at once: %d threads joined, ids distinct, pthread_self matches handle, total %ld\n",
           AT_ONCE, total);

    CHECK(pthread_equal(main_thread, pthread_self()));
    printf("ok\n");
    return 0;
}
