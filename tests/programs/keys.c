/* keys: pthread_key_create/getspecific/setspecific/key_delete.
 *  - a new thread sees NULL for every key; values are private per thread and
 *    survive blocking points;
 *  - destructors run at thread exit with the thread's value, never for NULL;
 *  - a destructor that sets the value again is called again, up to
 *    PTHREAD_DESTRUCTOR_ITERATIONS rounds;
 *  - pthread_key_delete: no destructor afterwards; a key created after a
 *    delete (which may reuse the slot) reads NULL in a thread that had set
 *    the old key;
 *  - many keys at once. */
#define _GNU_SOURCE
#include <limits.h>
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

#define THREADS  20
#define MANY_KEYS 100

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

/* ---- 1. private values and destructors ---- */

static pthread_key_t key_a, key_b;
static long dtor_a_calls, dtor_a_sum, dtor_b_calls;

static void dtor_a(void *v)
{
    pthread_mutex_lock(&lock);
    dtor_a_calls++;
    dtor_a_sum += (intptr_t)v;
    pthread_mutex_unlock(&lock);
}

static void dtor_b(void *v)
{
    (void)v;
    pthread_mutex_lock(&lock);
    dtor_b_calls++;
    pthread_mutex_unlock(&lock);
}

static void *private_values(void *arg)
{
    intptr_t id = (intptr_t)arg;
    CHECK(pthread_getspecific(key_a) == NULL);
    CHECK(pthread_getspecific(key_b) == NULL);
    CHECK0(pthread_setspecific(key_a, (void *)(id + 1)));
    /* key_b: set then cleared, so its destructor must not run. */
    CHECK0(pthread_setspecific(key_b, (void *)1));
    CHECK0(pthread_setspecific(key_b, NULL));
    for (int r = 0; r < 10; r++) {
        if (r % 2)
            sched_yield();
        else
            usleep(100);
        CHECK(pthread_getspecific(key_a) == (void *)(id + 1));
        CHECK(pthread_getspecific(key_b) == NULL);
    }
    return NULL;
}

/* ---- 2. destructor rounds ---- */

static pthread_key_t key_again3, key_forever;
static int again3_calls, forever_calls;

static void dtor_again3(void *v)
{
    again3_calls++;                  /* one thread only: no lock needed */
    CHECK(v == (void *)(intptr_t)again3_calls);
    CHECK(pthread_getspecific(key_again3) == NULL);
    if (again3_calls < 3)
        CHECK0(pthread_setspecific(key_again3, (void *)(intptr_t)(again3_calls + 1)));
}

static void dtor_forever(void *v)
{
    (void)v;
    forever_calls++;
    CHECK0(pthread_setspecific(key_forever, (void *)1));
}

static void *rounds_thread(void *arg)
{
    (void)arg;
    CHECK0(pthread_setspecific(key_again3, (void *)1));
    CHECK0(pthread_setspecific(key_forever, (void *)1));
    return NULL;
}

/* ---- 3. delete and reuse ---- */

static pthread_key_t key_old, key_new;
static int old_dtor_calls, new_dtor_calls;
static int stage;                    /* protected by lock */

static void dtor_old(void *v) { (void)v; old_dtor_calls++; }
static void dtor_new(void *v) { (void)v; new_dtor_calls++; }

static void wait_stage(int s)
{
    pthread_mutex_lock(&lock);
    while (stage < s)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static void set_stage(int s)
{
    pthread_mutex_lock(&lock);
    stage = s;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void *reuse_thread(void *arg)
{
    (void)arg;
    CHECK0(pthread_setspecific(key_old, (void *)0x1234));
    set_stage(1);
    wait_stage(2);                   /* main deleted key_old, created key_new */
    CHECK(pthread_getspecific(key_new) == NULL);
    CHECK0(pthread_setspecific(key_new, (void *)0x5678));
    CHECK(pthread_getspecific(key_new) == (void *)0x5678);
    return NULL;
}

/* ---- 4. many keys ---- */

static pthread_key_t many[MANY_KEYS];

static void *many_keys_thread(void *arg)
{
    intptr_t id = (intptr_t)arg;
    for (int i = 0; i < MANY_KEYS; i++) {
        CHECK(pthread_getspecific(many[i]) == NULL);
        CHECK0(pthread_setspecific(many[i], (void *)(id * 1000 + i + 1)));
    }
    usleep(200);
    for (int i = 0; i < MANY_KEYS; i++)
        CHECK(pthread_getspecific(many[i]) == (void *)(id * 1000 + i + 1));
    return NULL;
}

int main(void)
{
    pthread_t ts[THREADS];

    /* 1 */
    CHECK0(pthread_key_create(&key_a, dtor_a));
    CHECK0(pthread_key_create(&key_b, dtor_b));
    CHECK(pthread_getspecific(key_a) == NULL);
    CHECK0(pthread_setspecific(key_a, (void *)-1));   /* main's own value */
    for (intptr_t i = 0; i < THREADS; i++)
        CHECK0(pthread_create(&ts[i], NULL, private_values, (void *)i));
    for (int i = 0; i < THREADS; i++)
        CHECK0(pthread_join(ts[i], NULL));
    CHECK(dtor_a_calls == THREADS);
    CHECK(dtor_a_sum == (long)THREADS * (THREADS + 1) / 2);
    CHECK(dtor_b_calls == 0);
    CHECK(pthread_getspecific(key_a) == (void *)-1);
    printf("private values: %d threads, destructor calls %ld, sum %ld, none for NULL\n",
           THREADS, dtor_a_calls, dtor_a_sum);

    /* 2 */
    CHECK0(pthread_key_create(&key_again3, dtor_again3));
    CHECK0(pthread_key_create(&key_forever, dtor_forever));
    CHECK0(pthread_create(&ts[0], NULL, rounds_thread, NULL));
    CHECK0(pthread_join(ts[0], NULL));
    CHECK(again3_calls == 3);
    CHECK(forever_calls == PTHREAD_DESTRUCTOR_ITERATIONS);
    printf("destructor rounds: re-set twice -> %d calls, re-set always -> %d calls (PTHREAD_DESTRUCTOR_ITERATIONS %d)\n",
           again3_calls, forever_calls, PTHREAD_DESTRUCTOR_ITERATIONS);
    CHECK0(pthread_key_delete(key_again3));
    CHECK0(pthread_key_delete(key_forever));

    /* 3 */
    CHECK0(pthread_key_create(&key_old, dtor_old));
    CHECK0(pthread_create(&ts[0], NULL, reuse_thread, NULL));
    wait_stage(1);
    CHECK0(pthread_key_delete(key_old));
    CHECK0(pthread_key_create(&key_new, dtor_new));
    set_stage(2);
    CHECK0(pthread_join(ts[0], NULL));
    CHECK(old_dtor_calls == 0);
    CHECK(new_dtor_calls == 1);
    CHECK(pthread_getspecific(key_new) == NULL);
    printf("key delete: old destructor calls %d; new key reads NULL, destructor calls %d\n",
           old_dtor_calls, new_dtor_calls);
    CHECK0(pthread_key_delete(key_new));

    /* 4 */
    for (int i = 0; i < MANY_KEYS; i++)
        CHECK0(pthread_key_create(&many[i], NULL));
    for (intptr_t i = 0; i < THREADS; i++)
        CHECK0(pthread_create(&ts[i], NULL, many_keys_thread, (void *)i));
    for (int i = 0; i < THREADS; i++)
        CHECK0(pthread_join(ts[i], NULL));
    for (int i = 0; i < MANY_KEYS; i++)
        CHECK0(pthread_key_delete(many[i]));
    printf("many keys: %d keys x %d threads private\n", MANY_KEYS, THREADS);

    /* Keys freed above can be created again. */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < MANY_KEYS; i++)
            CHECK0(pthread_key_create(&many[i], NULL));
        for (int i = 0; i < MANY_KEYS; i++) {
            CHECK(pthread_getspecific(many[i]) == NULL);   /* not the last round's value */
            CHECK0(pthread_setspecific(many[i], (void *)(intptr_t)(i + 1)));
        }
        for (int i = 0; i < MANY_KEYS; i++)
            CHECK0(pthread_key_delete(many[i]));
    }
    printf("key reuse: 3 rounds of %d create/delete\n", MANY_KEYS);
    printf("ok\n");
    return 0;
}
