/* c11_threads: the C11 <threads.h> API.
 *  thrd_create/thrd_join (result), thrd_exit, thrd_detach, thrd_current and
 *  thrd_equal, thrd_yield, thrd_sleep; tss_create with a destructor, tss_get,
 *  tss_set, tss_delete; mtx_init plain/recursive/timed, mtx_trylock ->
 *  thrd_busy from another thread, mtx_timedlock -> thrd_timedout; cnd_wait,
 *  cnd_signal, cnd_broadcast, cnd_timedwait -> thrd_timedout; call_once. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECKS(e) CHECK((e) == thrd_success)

#define THREADS 20

static thrd_t main_thrd;
static mtx_t lock;                     /* plain */
static cnd_t cond;                     /* main waits for arrivals and detached threads */
static cnd_t go;                       /* workers wait for release */
static int arrived, released;
static tss_t key;
static int tss_dtor_calls;
static long tss_dtor_sum;

static void tss_dtor(void *v)
{
    mtx_lock(&lock);
    tss_dtor_calls++;
    tss_dtor_sum += (intptr_t)v;
    mtx_unlock(&lock);
}

static int worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    CHECK(!thrd_equal(thrd_current(), main_thrd));
    CHECK(thrd_equal(thrd_current(), thrd_current()));
    CHECK(tss_get(key) == NULL);
    CHECKS(tss_set(key, (void *)(intptr_t)(id + 1)));

    struct timespec d = { 0, 500 * 1000 };
    CHECK(thrd_sleep(&d, NULL) == 0);
    thrd_yield();
    CHECK(tss_get(key) == (void *)(intptr_t)(id + 1));

    CHECKS(mtx_lock(&lock));
    arrived++;
    CHECKS(cnd_signal(&cond));
    while (!released)
        CHECKS(cnd_wait(&go, &lock));
    CHECKS(mtx_unlock(&lock));
    CHECK(tss_get(key) == (void *)(intptr_t)(id + 1));
    if (id % 2)
        thrd_exit(id * 3);
    return id * 3;
}

static int detached_done;
static int detached_worker(void *arg)
{
    (void)arg;
    mtx_lock(&lock);
    detached_done++;
    cnd_broadcast(&cond);
    mtx_unlock(&lock);
    return 0;
}

static mtx_t other;                    /* held by main while a thread tries it */
static int try_other(void *arg)
{
    (void)arg;
    int r = mtx_trylock(&other);
    if (r == thrd_success)
        mtx_unlock(&other);
    return r;
}

static int timed_other(void *arg)
{
    (void)arg;
    struct timespec ts;
    CHECK(timespec_get(&ts, TIME_UTC) == TIME_UTC);
    ts.tv_nsec += 2 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    return mtx_timedlock(&other, &ts);
}

static int once_runs;
static once_flag once = ONCE_FLAG_INIT;
static void once_init(void) { once_runs++; }
static int once_worker(void *arg) { (void)arg; call_once(&once, once_init); return once_runs; }

int main(void)
{
    main_thrd = thrd_current();
    CHECK(thrd_equal(main_thrd, thrd_current()));
    CHECKS(mtx_init(&lock, mtx_plain));
    CHECKS(cnd_init(&cond));
    CHECKS(cnd_init(&go));
    CHECKS(tss_create(&key, tss_dtor));

    /* create / join / exit / tss */
    thrd_t ts[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECKS(thrd_create(&ts[i], worker, (void *)(intptr_t)i));
    CHECKS(mtx_lock(&lock));
    while (arrived < THREADS)
        CHECKS(cnd_wait(&cond, &lock));
    released = 1;
    CHECKS(cnd_broadcast(&go));
    CHECKS(mtx_unlock(&lock));
    long sum = 0;
    for (int i = 0; i < THREADS; i++) {
        int res = -1;
        CHECKS(thrd_join(ts[i], &res));
        CHECK(res == i * 3);
        sum += res;
        CHECK(!thrd_equal(ts[i], main_thrd));
    }
    CHECK(tss_dtor_calls == THREADS);
    CHECK(tss_dtor_sum == THREADS * (THREADS + 1) / 2);
    CHECK(tss_get(key) == NULL);
    printf("thrd_create/join: %d threads, results sum %ld (half via thrd_exit)\n", THREADS, sum);
    printf("tss: destructor ran %d times, sum %ld\n", tss_dtor_calls, tss_dtor_sum);
    tss_delete(key);

    /* detach */
    for (int i = 0; i < 10; i++) {
        thrd_t t;
        CHECKS(thrd_create(&t, detached_worker, NULL));
        CHECKS(thrd_detach(t));
    }
    mtx_lock(&lock);
    while (detached_done < 10)
        cnd_wait(&cond, &lock);
    mtx_unlock(&lock);
    printf("thrd_detach: %d detached threads finished\n", detached_done);

    /* mutex kinds */
    mtx_t rec;
    CHECKS(mtx_init(&rec, mtx_plain | mtx_recursive));
    CHECKS(mtx_lock(&rec));
    CHECKS(mtx_lock(&rec));
    CHECKS(mtx_trylock(&rec));
    CHECKS(mtx_unlock(&rec));
    CHECKS(mtx_unlock(&rec));
    CHECKS(mtx_unlock(&rec));
    mtx_destroy(&rec);

    CHECKS(mtx_init(&other, mtx_timed));
    CHECKS(mtx_lock(&other));
    thrd_t t;
    int res;
    CHECKS(thrd_create(&t, try_other, NULL));
    CHECKS(thrd_join(t, &res));
    CHECK(res == thrd_busy);
    CHECKS(thrd_create(&t, timed_other, NULL));
    CHECKS(thrd_join(t, &res));
    CHECK(res == thrd_timedout);
    CHECKS(mtx_unlock(&other));
    CHECKS(thrd_create(&t, try_other, NULL));
    CHECKS(thrd_join(t, &res));
    CHECK(res == thrd_success);
    mtx_destroy(&other);
    printf("mtx: recursive 3 deep ok, trylock from other thread busy, timedlock timed out\n");

    /* cnd_timedwait with nobody signalling */
    struct timespec ts_dl;
    CHECK(timespec_get(&ts_dl, TIME_UTC) == TIME_UTC);
    ts_dl.tv_nsec += 1000 * 1000;
    if (ts_dl.tv_nsec >= 1000000000) { ts_dl.tv_sec++; ts_dl.tv_nsec -= 1000000000; }
    CHECKS(mtx_lock(&lock));
    CHECK(cnd_timedwait(&cond, &lock, &ts_dl) == thrd_timedout);
    CHECKS(mtx_unlock(&lock));
    printf("cnd_timedwait: timed out with no signal\n");

    /* call_once */
    for (int i = 0; i < THREADS; i++)
        CHECKS(thrd_create(&ts[i], once_worker, NULL));
    for (int i = 0; i < THREADS; i++) {
        CHECKS(thrd_join(ts[i], &res));
        CHECK(res == 1);
    }
    CHECK(once_runs == 1);
    printf("call_once: ran %d time(s) for %d threads\n", once_runs, THREADS);

    /* thrd_sleep reports no remaining time on success */
    struct timespec d = { 0, 1000 * 1000 }, rem = { 9, 9 };
    CHECK(thrd_sleep(&d, &rem) == 0);
    cnd_destroy(&cond);
    cnd_destroy(&go);
    mtx_destroy(&lock);
    printf("ok\n");
    return 0;
}
