/* fault_prog: an ordinary pthread program for the fault-injection test
 * (tests/fault/fault.sh runs it under a -Dfaultinj=true gmp with
 * GMP_FAULT=N for every N).
 *
 * It creates and joins threads (one after another, nested, detached, with
 * a custom stack size, several at once), hands values through a mutex and
 * condition variable, sleeps, waits with timeouts (for signals too), sets thread-specific
 * values and moves data through pipes.  Every call that POSIX allows to
 * fail for lack of resources (pthread_create: EAGAIN; pthread_setspecific:
 * ENOMEM) is retried; the program counts those failures and checks that a
 * retry succeeded and that every piece of work was done and gave the right
 * result.
 *
 * Exit status: 0 all work done (the last line says how many failures were
 * retried); 3 a call failed with a resource error and kept failing after
 * RETRIES retries (the program prints "error: CALL: EAGAIN" and stops, a
 * reported error, not a crash); 1 a wrong result (a bug).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RETRIES 20
#define WORKERS 6
#define MSGS 64

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)

static int retried;                 /* resource failures that a retry got past; under lock */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static const char *errname(int e)
{
    switch (e) {
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EINTR: return "EINTR";
    default: return strerror(e);
    }
}

static int resource_error(int e) { return e == EAGAIN || e == ENOMEM || e == EINTR; }

static void give_up(const char *call, int e)
{
    printf("error: %s: %s\n", call, errname(e));
    fflush(stdout);
    exit(resource_error(e) ? 3 : 1);
}

static void count_retry(const char *call, int e)
{
    fprintf(stderr, "fault_prog: %s failed with %s; retrying\n", call, errname(e));
    pthread_mutex_lock(&lock);
    retried++;
    pthread_mutex_unlock(&lock);
    usleep(1000);
}

/* pthread_create, retried on EAGAIN/ENOMEM as a careful program would. */
static void create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    for (int i = 0;; i++) {
        int e = pthread_create(t, a, fn, arg);
        if (e == 0)
            return;
        if (!resource_error(e) || i == RETRIES)
            give_up("pthread_create", e);
        count_retry("pthread_create", e);
    }
}

static void *join(pthread_t t)
{
    void *r;
    int e = pthread_join(t, &r);
    if (e)
        give_up("pthread_join", e);
    return r;
}

/* ---------------------------------------------------------------- work */

static void *square(void *arg)
{
    intptr_t i = (intptr_t)arg;
    return (void *)(i * i);
}

static void *nested(void *arg)
{
    intptr_t i = (intptr_t)arg;
    pthread_t t;
    create(&t, NULL, square, (void *)(i + 1));
    return (void *)((intptr_t)join(t) + 1);
}

/* Mutex and condition variable: a counter every worker adds to, and a
 * start signal all of them wait for. */
static int go, total, arrived;

static void *cond_worker(void *arg)
{
    intptr_t i = (intptr_t)arg;
    pthread_mutex_lock(&lock);
    arrived++;
    pthread_cond_broadcast(&cond);
    while (!go)
        pthread_cond_wait(&cond, &lock);
    total += (int)i;
    pthread_mutex_unlock(&lock);
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
    return NULL;
}

/* A timed wait that times out, a sleep, signal waits. */
static void *timed(void *arg)
{
    (void)arg;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += 2 * 1000 * 1000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&m);
    int e;
    while ((e = pthread_cond_timedwait(&c, &m, &dl)) == 0)
        ; /* spurious wake-ups are allowed */
    pthread_mutex_unlock(&m);
    CHECK(e == ETIMEDOUT);
    usleep(500);
    /* a signal wait that times out, then one that takes a signal raised first */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    CHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0);
    struct timespec to = {0, 1000 * 1000};
    CHECK(sigtimedwait(&s, NULL, &to) == -1 && errno == EAGAIN);
    int sig = 0;
    CHECK(raise(SIGUSR1) == 0 && sigwait(&s, &sig) == 0 && sig == SIGUSR1);
    return (void *)1;
}

/* Thread-specific data: set, read back; the destructor counts. */
static pthread_key_t key;
static int destructed;

static void key_dtor(void *v)
{
    (void)v;
    pthread_mutex_lock(&lock);
    destructed++;
    pthread_mutex_unlock(&lock);
}

static void *tsd(void *arg)
{
    for (int i = 0;; i++) {
        int e = pthread_setspecific(key, arg);
        if (e == 0)
            break;
        if (!resource_error(e) || i == RETRIES)
            give_up("pthread_setspecific", e);
        count_retry("pthread_setspecific", e);
    }
    CHECK(pthread_getspecific(key) == arg);
    return NULL;
}

/* Pipes: a writer sends MSGS numbers, a reader sums them; poll with a timeout first. */
struct pipejob {
    int fd[2];
    long sum;
};

static void *pipe_writer(void *arg)
{
    struct pipejob *j = arg;
    for (int i = 1; i <= MSGS; i++) {
        ssize_t n = write(j->fd[1], &i, sizeof i);
        if (n < 0)
            give_up("write", errno);
        CHECK(n == sizeof i);
    }
    close(j->fd[1]);
    return NULL;
}

static void *pipe_reader(void *arg)
{
    struct pipejob *j = arg;
    struct pollfd p = {j->fd[0], POLLIN, 0};
    int r = poll(&p, 1, 2000);
    if (r < 0)
        give_up("poll", errno);
    for (;;) {
        int v;
        ssize_t n = read(j->fd[0], &v, sizeof v);
        if (n < 0)
            give_up("read", errno);
        if (n == 0)
            break;
        CHECK(n == sizeof v);
        j->sum += v;
    }
    close(j->fd[0]);
    return NULL;
}

static int detached_done;

static void *detached(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    detached_done++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(void)
{
    pthread_t t[WORKERS];
    CHECK(pthread_key_create(&key, key_dtor) == 0);

    /* 1. One after another (reused threads after the first), and nested. */
    for (intptr_t i = 0; i < 4; i++) {
        create(&t[0], NULL, square, (void *)i);
        CHECK((intptr_t)join(t[0]) == i * i);
    }
    create(&t[0], NULL, nested, (void *)3);
    CHECK((intptr_t)join(t[0]) == 17);

    /* 2. Several at once on a mutex and condition variable. */
    for (intptr_t i = 0; i < WORKERS; i++)
        create(&t[i], NULL, cond_worker, (void *)(i + 1));
    pthread_mutex_lock(&lock);
    while (arrived < WORKERS)
        pthread_cond_wait(&cond, &lock);
    go = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < WORKERS; i++)
        join(t[i]);
    CHECK(total == WORKERS * (WORKERS + 1) / 2);

    /* 3. A custom stack size (a new stack), a timed wait, thread-specific data. */
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    create(&t[0], &a, timed, NULL);
    pthread_attr_destroy(&a);
    CHECK((intptr_t)join(t[0]) == 1);
    create(&t[0], NULL, tsd, (void *)&key);
    join(t[0]);
    CHECK(destructed == 1);

    /* 4. Pipes between threads (two pairs at once). */
    struct pipejob pj[2];
    for (int k = 0; k < 2; k++) {
        memset(&pj[k], 0, sizeof pj[k]);
        if (pipe(pj[k].fd) != 0)
            give_up("pipe", errno);
        create(&t[2 * k], NULL, pipe_reader, &pj[k]);
        create(&t[2 * k + 1], NULL, pipe_writer, &pj[k]);
    }
    for (int i = 0; i < 4; i++)
        join(t[i]);
    for (int k = 0; k < 2; k++)
        CHECK(pj[k].sum == MSGS * (MSGS + 1) / 2);

    /* 5. Detached threads, waited for through the condition variable. */
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < 3; i++)
        create(&t[0], &a, detached, NULL);
    pthread_attr_destroy(&a);
    pthread_mutex_lock(&lock);
    while (detached_done < 3)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    printf("ok: all work done, %d resource failure%s retried\n", retried, retried == 1 ? "" : "s");
    return 0;
}
