/* errors: the error numbers NPTL returns for misuse of thread handles,
 * joins with deadlines, mutex kinds, timed waits with bad deadlines or clocks,
 * and semaphores. Each line prints the error name. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
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

static const char *ename(int e)
{
    switch (e) {
    case 0: return "0";
    case EDEADLK: return "EDEADLK";
    case EINVAL: return "EINVAL";
    case EBUSY: return "EBUSY";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EPERM: return "EPERM";
    case ESRCH: return "ESRCH";
    case EAGAIN: return "EAGAIN";
    default: return "other";
    }
}

static void expect(const char *what, int got, int want)
{
    printf("%s: %s\n", what, ename(got));
    if (got != want) {
        printf("FAIL: %s: want %s\n", what, ename(want));
        fflush(stdout);
        exit(1);
    }
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int release, started;

static void *blocker(void *arg)
{
    pthread_mutex_lock(&lock);
    started++;
    pthread_cond_broadcast(&cond);
    while (!release)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return arg;
}

static void wait_started(int n)
{
    pthread_mutex_lock(&lock);
    while (started < n)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static void do_release(void)
{
    pthread_mutex_lock(&lock);
    release = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void *join_self(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)pthread_join(pthread_self(), NULL);
}

static pthread_mutex_t m_other;
static void *unlock_other(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)pthread_mutex_unlock(&m_other);
}

/* Changes state all the time (running, runnable, waiting) until told to stop. */
static atomic_int churn_stop;
static void *churner(void *arg)
{
    while (!atomic_load(&churn_stop)) {
        sched_yield();
        usleep(1);
    }
    return arg;
}

static void deadline_in(struct timespec *ts, clockid_t clk, long ms)
{
    clock_gettime(clk, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) { ts->tv_sec++; ts->tv_nsec -= 1000000000; }
}

int main(void)
{
    pthread_t t, d;
    void *ret;
    struct timespec ts;

    /* joins */
    expect("pthread_join(self) in main", pthread_join(pthread_self(), NULL), EDEADLK);
    CHECK0(pthread_create(&t, NULL, join_self, NULL));
    CHECK0(pthread_join(t, &ret));
    expect("pthread_join(self) in a thread", (int)(intptr_t)ret, EDEADLK);

    CHECK0(pthread_create(&t, NULL, blocker, (void *)7));
    wait_started(1);
    expect("pthread_tryjoin_np(running)", pthread_tryjoin_np(t, NULL), EBUSY);
    ts.tv_sec = 1;                     /* 1970: long past */
    ts.tv_nsec = 0;
    expect("pthread_timedjoin_np(running, past deadline)", pthread_timedjoin_np(t, NULL, &ts), ETIMEDOUT);
    deadline_in(&ts, CLOCK_REALTIME, 10);
    expect("pthread_timedjoin_np(running, 10 ms)", pthread_timedjoin_np(t, NULL, &ts), ETIMEDOUT);
    deadline_in(&ts, CLOCK_MONOTONIC, 10);
    expect("pthread_clockjoin_np(running, MONOTONIC, 10 ms)",
           pthread_clockjoin_np(t, NULL, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
    /* An invalid tv_nsec is not tested on joins: glibc 2.36 passes it to
     * the kernel, gets EINVAL and retries until the thread ends, then
     * returns 0. It is tested on condvars, mutexes and semaphores below. */
    deadline_in(&ts, CLOCK_REALTIME, 10);
    expect("pthread_clockjoin_np(running, CLOCK_PROCESS_CPUTIME_ID)",
           pthread_clockjoin_np(t, NULL, CLOCK_PROCESS_CPUTIME_ID, &ts), EINVAL);
    expect("pthread_kill(running, 0)", pthread_kill(t, 0), 0);
    do_release();
    deadline_in(&ts, CLOCK_REALTIME, 30000);
    expect("pthread_timedjoin_np(finishing, 30 s)", pthread_timedjoin_np(t, &ret, &ts), 0);
    CHECK(ret == (void *)7);

    /* A running thread whose state keeps changing is EBUSY to every tryjoin,
     * never EINVAL or ESRCH (the state is read once per call). */
    CHECK0(pthread_create(&t, NULL, churner, (void *)9));
    int busy = 0, tries;
    for (tries = 0; tries < 100000; tries++) {
        int r = pthread_tryjoin_np(t, NULL);
        if (r != EBUSY) {
            printf("FAIL: pthread_tryjoin_np(changing state) = %s at try %d\n", ename(r), tries);
            exit(1);
        }
        busy++;
    }
    atomic_store(&churn_stop, 1);
    CHECK0(pthread_join(t, &ret));
    CHECK(ret == (void *)9);
    expect("pthread_tryjoin_np(changing state), 100000 times", busy == tries ? EBUSY : 0, EBUSY);

    /* A CLOCK_MONOTONIC condvar: pthread_cond_timedwait takes a monotonic
     * deadline, and waits until it (the clock is read from the object). */
    pthread_condattr_t ca;
    pthread_cond_t mono;
    CHECK0(pthread_condattr_init(&ca));
    CHECK0(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC));
    CHECK0(pthread_cond_init(&mono, &ca));
    pthread_condattr_destroy(&ca);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    deadline_in(&ts, CLOCK_MONOTONIC, 100);
    pthread_mutex_lock(&lock);
    int tr;
    do
        tr = pthread_cond_timedwait(&mono, &lock, &ts);
    while (tr == 0); /* spurious wake-ups are allowed */
    pthread_mutex_unlock(&lock);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long waited = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    expect("pthread_cond_timedwait(MONOTONIC condvar, 100 ms)", tr, ETIMEDOUT);
    printf("  waited its 100 ms: %s\n", waited >= 100 ? "yes" : "no");
    CHECK(waited >= 100);
    pthread_cond_destroy(&mono);

    /* tryjoin of a finished thread succeeds */
    release = 0;
    CHECK0(pthread_create(&t, NULL, blocker, (void *)8));
    do_release();
    while ((errno = pthread_tryjoin_np(t, &ret)) == EBUSY)
        usleep(500);
    expect("pthread_tryjoin_np(finished)", errno, 0);
    CHECK(ret == (void *)8);
    /* joined, and no thread created since (its descriptor is not reused): ESRCH
       (NPTL's tryjoin says EBUSY: it reads the freed descriptor's tid as running) */
    expect("pthread_join(already joined)", pthread_join(t, NULL), ESRCH);
    expect("pthread_tryjoin_np(already joined)", pthread_tryjoin_np(t, NULL), EBUSY);
    expect("pthread_detach(already joined)", pthread_detach(t), ESRCH);

    /* detached threads */
    release = 0;
    started = 0;
    pthread_attr_t a;
    CHECK0(pthread_attr_init(&a));
    CHECK0(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED));
    CHECK0(pthread_create(&d, &a, blocker, NULL));
    pthread_attr_destroy(&a);
    wait_started(1);
    expect("pthread_join(detached)", pthread_join(d, NULL), EINVAL);
    /* NPTL's tryjoin looks at "still running" before "detached". */
    expect("pthread_tryjoin_np(detached, running)", pthread_tryjoin_np(d, NULL), EBUSY);
    expect("pthread_detach(detached)", pthread_detach(d), EINVAL);
    CHECK0(pthread_create(&t, NULL, blocker, NULL));
    expect("pthread_detach(joinable)", pthread_detach(t), 0);
    expect("pthread_detach(same thread again)", pthread_detach(t), EINVAL);
    do_release();

    /* mutex kinds */
    pthread_mutexattr_t ma;
    CHECK0(pthread_mutexattr_init(&ma));
    expect("mutexattr_settype(42)", pthread_mutexattr_settype(&ma, 42), EINVAL);
    CHECK0(pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK));
    CHECK0(pthread_mutex_init(&m_other, &ma));
    expect("errorcheck: unlock while unlocked", pthread_mutex_unlock(&m_other), EPERM);
    CHECK0(pthread_mutex_lock(&m_other));
    expect("errorcheck: relock by owner", pthread_mutex_lock(&m_other), EDEADLK);
    expect("errorcheck: trylock by owner", pthread_mutex_trylock(&m_other), EBUSY);
    CHECK0(pthread_create(&t, NULL, unlock_other, NULL));
    CHECK0(pthread_join(t, &ret));
    expect("errorcheck: unlock by another thread", (int)(intptr_t)ret, EPERM);
    deadline_in(&ts, CLOCK_REALTIME, 10);
    expect("errorcheck: timedlock by owner", pthread_mutex_timedlock(&m_other, &ts), EDEADLK);
    CHECK0(pthread_mutex_unlock(&m_other));
    CHECK0(pthread_mutex_destroy(&m_other));

    CHECK0(pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_NORMAL));
    CHECK0(pthread_mutex_init(&m_other, &ma));
    CHECK0(pthread_mutex_lock(&m_other));
    expect("normal: trylock by owner", pthread_mutex_trylock(&m_other), EBUSY);
    ts.tv_sec = 1;
    ts.tv_nsec = 0;
    expect("normal: timedlock, held, past deadline", pthread_mutex_timedlock(&m_other, &ts), ETIMEDOUT);
    deadline_in(&ts, CLOCK_MONOTONIC, 10);
    expect("normal: clocklock, held, MONOTONIC 10 ms",
           pthread_mutex_clocklock(&m_other, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
    ts.tv_nsec = 1000000000;
    expect("normal: timedlock, held, tv_nsec = 1e9", pthread_mutex_timedlock(&m_other, &ts), EINVAL);
    deadline_in(&ts, CLOCK_REALTIME, 10);
    expect("normal: clocklock, held, CLOCK_PROCESS_CPUTIME_ID",
           pthread_mutex_clocklock(&m_other, CLOCK_PROCESS_CPUTIME_ID, &ts), EINVAL);
    CHECK0(pthread_mutex_unlock(&m_other));
    CHECK0(pthread_mutex_destroy(&m_other));
    pthread_mutexattr_destroy(&ma);

    /* condition variables */
    pthread_mutex_lock(&lock);
    ts.tv_sec = 1;
    ts.tv_nsec = 0;
    expect("cond_timedwait(past deadline)", pthread_cond_timedwait(&cond, &lock, &ts), ETIMEDOUT);
    deadline_in(&ts, CLOCK_REALTIME, 5);
    expect("cond_timedwait(5 ms, no signal)", pthread_cond_timedwait(&cond, &lock, &ts), ETIMEDOUT);
    deadline_in(&ts, CLOCK_MONOTONIC, 5);
    expect("cond_clockwait(MONOTONIC 5 ms, no signal)",
           pthread_cond_clockwait(&cond, &lock, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
    expect("cond_clockwait(CLOCK_PROCESS_CPUTIME_ID)",
           pthread_cond_clockwait(&cond, &lock, CLOCK_PROCESS_CPUTIME_ID, &ts), EINVAL);
    deadline_in(&ts, CLOCK_REALTIME, 5);
    ts.tv_nsec = 1000000000;
    expect("cond_timedwait(tv_nsec = 1e9)", pthread_cond_timedwait(&cond, &lock, &ts), EINVAL);
    ts.tv_nsec = -1;
    expect("cond_timedwait(tv_nsec = -1)", pthread_cond_timedwait(&cond, &lock, &ts), EINVAL);
    pthread_mutex_unlock(&lock);

    /* semaphores report through errno */
    sem_t sem;
    CHECK(sem_init(&sem, 0, 0) == 0);
    deadline_in(&ts, CLOCK_REALTIME, 5);
    ts.tv_nsec = 1000000000;
    errno = 0;
    expect("sem_timedwait(tv_nsec = 1e9)", sem_timedwait(&sem, &ts) == -1 ? errno : 0, EINVAL);
    ts.tv_sec = 1;
    ts.tv_nsec = 0;
    errno = 0;
    expect("sem_timedwait(past deadline)", sem_timedwait(&sem, &ts) == -1 ? errno : 0, ETIMEDOUT);
    errno = 0;
    expect("sem_trywait(0)", sem_trywait(&sem) == -1 ? errno : 0, EAGAIN);
    CHECK(sem_destroy(&sem) == 0);

    printf("ok\n");
    return 0;
}
