/* clock_waits: every timed wait that takes a clock, with CLOCK_REALTIME and
 * CLOCK_MONOTONIC deadlines 20 ms ahead, on objects nobody releases in
 * time: each must return ETIMEDOUT (or -1/ETIMEDOUT) no earlier than its
 * deadline and not hang.  Condition variables are waited on with the
 * clock from their attribute (private and process-shared) and with
 * pthread_cond_clockwait; mutexes, rwlocks (read and write), semaphores,
 * joins and clock_nanosleep likewise.  (glibc 2.41 moved the condvar's
 * clock flag: a monotonic timed wait returned at once under an older
 * gmp.)  Prints one line per wait. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)

#define WAIT_NS 20000000L

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;    /* locked by holder */
static pthread_rwlock_t wheld = PTHREAD_RWLOCK_INITIALIZER; /* write-locked by holder */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int phase; /* gate_lock: 1 holder has both, 2 main is done */

static void *holder(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&held);
    pthread_rwlock_wrlock(&wheld);
    pthread_mutex_lock(&gate_lock);
    phase = 1;
    pthread_cond_broadcast(&gate_cond);
    while (phase != 2)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    pthread_rwlock_unlock(&wheld);
    pthread_mutex_unlock(&held);
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    while (phase != 2)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    return NULL;
}

static struct timespec deadline(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    ts.tv_nsec += WAIT_NS;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int failures;

/* r: the call's result as an error number; t0: before the deadline was taken */
static void report(const char *what, clockid_t clk, int r, long long t0)
{
    long long waited = now_ns() - t0;
    const char *cn = clk == CLOCK_MONOTONIC ? "MONOTONIC" : "REALTIME";
    /* the deadline is 20 ms after t0 on clk; 0.5 ms for the two clocks' readings */
    int early = waited < WAIT_NS - 500000, late = waited > 5000000000LL;
    printf("%-34s %-9s %s%s\n", what, cn, r == ETIMEDOUT ? "ETIMEDOUT" : strerror(r),
           early ? " EARLY" : late ? " LATE" : " after its deadline");
    if (r != ETIMEDOUT || early || late)
        failures++;
}

static int err(int r) { return r == -1 ? errno : r; }

static void cond_attr_wait(clockid_t clk, int pshared)
{
    pthread_condattr_t a;
    pthread_cond_t c;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    CHECK(pthread_condattr_init(&a) == 0 && pthread_condattr_setclock(&a, clk) == 0 &&
          pthread_condattr_setpshared(&a, pshared) == 0 && pthread_cond_init(&c, &a) == 0);
    pthread_mutex_lock(&m);
    long long t0 = now_ns();
    struct timespec ts = deadline(clk);
    int r;
    do
        r = pthread_cond_timedwait(&c, &m, &ts);
    while (r == 0); /* spurious wake-ups are allowed */
    report(pshared ? "cond_timedwait (pshared, attr clock)" : "cond_timedwait (attr clock)", clk, r, t0);
    pthread_mutex_unlock(&m);
    pthread_cond_destroy(&c);
    pthread_condattr_destroy(&a);
}

int main(void)
{
    static const clockid_t clocks[] = { CLOCK_REALTIME, CLOCK_MONOTONIC };
    pthread_t h, s;
    CHECK(pthread_create(&h, NULL, holder, NULL) == 0);
    CHECK(pthread_create(&s, NULL, sleeper, NULL) == 0);
    pthread_mutex_lock(&gate_lock);
    while (phase != 1)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    sem_t sem;
    CHECK(sem_init(&sem, 0, 0) == 0);

    for (int i = 0; i < 2; i++) {
        clockid_t clk = clocks[i];
        struct timespec ts;
        long long t0;
        int r;

        cond_attr_wait(clk, PTHREAD_PROCESS_PRIVATE);
        cond_attr_wait(clk, PTHREAD_PROCESS_SHARED);

        pthread_cond_t c = PTHREAD_COND_INITIALIZER;
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&m);
        t0 = now_ns();
        ts = deadline(clk);
        do
            r = pthread_cond_clockwait(&c, &m, clk, &ts);
        while (r == 0);
        report("cond_clockwait", clk, r, t0);
        pthread_mutex_unlock(&m);

        if (clk == CLOCK_REALTIME) {
            t0 = now_ns();
            ts = deadline(clk);
            report("mutex_timedlock", clk, pthread_mutex_timedlock(&held, &ts), t0);
            t0 = now_ns();
            ts = deadline(clk);
            report("rwlock_timedrdlock", clk, pthread_rwlock_timedrdlock(&wheld, &ts), t0);
            t0 = now_ns();
            ts = deadline(clk);
            report("rwlock_timedwrlock", clk, pthread_rwlock_timedwrlock(&wheld, &ts), t0);
            t0 = now_ns();
            ts = deadline(clk);
            report("sem_timedwait", clk, err(sem_timedwait(&sem, &ts)), t0);
            t0 = now_ns();
            ts = deadline(clk);
            report("pthread_timedjoin_np", clk, pthread_timedjoin_np(s, NULL, &ts), t0);
        }
        t0 = now_ns();
        ts = deadline(clk);
        report("mutex_clocklock", clk, pthread_mutex_clocklock(&held, clk, &ts), t0);
        t0 = now_ns();
        ts = deadline(clk);
        report("rwlock_clockrdlock", clk, pthread_rwlock_clockrdlock(&wheld, clk, &ts), t0);
        t0 = now_ns();
        ts = deadline(clk);
        report("rwlock_clockwrlock", clk, pthread_rwlock_clockwrlock(&wheld, clk, &ts), t0);
        t0 = now_ns();
        ts = deadline(clk);
        report("sem_clockwait", clk, err(sem_clockwait(&sem, clk, &ts)), t0);
        t0 = now_ns();
        ts = deadline(clk);
        report("pthread_clockjoin_np", clk, pthread_clockjoin_np(s, NULL, clk, &ts), t0);
        t0 = now_ns();
        ts = deadline(clk);
        r = clock_nanosleep(clk, TIMER_ABSTIME, &ts, NULL);
        report("clock_nanosleep (absolute)", clk, r == 0 ? ETIMEDOUT : r, t0); /* 0: slept to it */
    }

    pthread_mutex_lock(&gate_lock);
    phase = 2;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    CHECK(pthread_join(h, NULL) == 0 && pthread_join(s, NULL) == 0);
    printf("%s\n", failures ? "FAIL" : "ok");
    return failures != 0;
}
