/* sem_post from signal handlers (it is async-signal-safe): signals aimed at a
 * thread that keeps calling into the thread library, and a fast interval
 * timer whose SIGALRM lands on whatever thread runs (or sleeps) at the time.
 * Every post must reach a waiter: none lost, none invented. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)

static sem_t sem, other;
static atomic_long posted, handled;
static atomic_int stop_busy;

static void on_signal(int sig)
{
    (void)sig;
    int e = errno;
    atomic_fetch_add(&posted, 1);
    CHECK(sem_post(&sem) == 0);
    atomic_fetch_add(&handled, 1);
    errno = e;
}

/* Waits for exactly `target` posts (set once the senders stop), each within 10 s. */
static atomic_long target = -1;
static long got;

static void *waiter(void *arg)
{
    (void)arg;
    for (;;) {
        long t = atomic_load(&target);
        if (t >= 0 && got == t)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 10;
        int r = sem_timedwait(&sem, &ts);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1 && errno == ETIMEDOUT) {
            printf("FAIL: waiter timed out with %ld of %ld posts\n", got, atomic_load(&target));
            fflush(stdout);
            _exit(1);
        }
        CHECK(r == 0);
        got++;
    }
    return NULL;
}

/* Lives in the thread library: mutexes, condvars, semaphores, yields, short sleeps. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void *busy(void *arg)
{
    (void)arg;
    long i = 0;
    while (!atomic_load(&stop_busy)) {
        CHECK(pthread_mutex_lock(&mu) == 0);
        CHECK(pthread_cond_signal(&cv) == 0);
        CHECK(pthread_mutex_unlock(&mu) == 0);
        CHECK(sem_post(&other) == 0);
        while (sem_trywait(&other) == 0)
            ;
        if (++i % 16 == 0)
            sched_yield();
        if (i % 64 == 0) {
            struct timespec ts = {0, 20 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* Sends n signals to t, one at a time: the next only once the handler ran. */
static void aim(pthread_t t, int n)
{
    for (int i = 0; i < n; i++) {
        long h = atomic_load(&handled);
        CHECK(pthread_kill(t, SIGUSR1) == 0);
        while (atomic_load(&handled) == h)
            sched_yield();
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK(sem_init(&sem, 0, 0) == 0);
    CHECK(sem_init(&other, 0, 0) == 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);

    pthread_t w, b[3];
    CHECK(pthread_create(&w, NULL, waiter, NULL) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&b[i], NULL, busy, NULL) == 0);

    /* 1: thread-directed signals at threads busy in the library */
    for (int i = 0; i < 3; i++)
        aim(b[i], 400);
    printf("thread-directed: %ld posts from handlers\n", atomic_load(&posted));

    /* 2: process-directed signals from an interval timer, for 0.5 s */
    struct itimerval it = {{0, 500}, {0, 500}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    struct timespec half = {0, 500 * 1000 * 1000};
    while (nanosleep(&half, &half) == -1 && errno == EINTR)
        ;
    struct itimerval off = {{0, 0}, {0, 0}};
    CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
    struct timespec settle = {0, 50 * 1000 * 1000};
    while (nanosleep(&settle, &settle) == -1 && errno == EINTR)
        ;
    long timer_posts = atomic_load(&posted) - 1200;
    printf("timer: posts from handlers %s\n", timer_posts > 10 ? "many" : "few");

    atomic_store(&stop_busy, 1);
    for (int i = 0; i < 3; i++)
        CHECK(pthread_join(b[i], NULL) == 0);
    atomic_store(&target, atomic_load(&posted) + 1);
    CHECK(sem_post(&sem) == 0); /* the one more the target counts: wakes the waiter to see it */
    CHECK(pthread_join(w, NULL) == 0);
    int v;
    CHECK(sem_getvalue(&sem, &v) == 0);
    printf("every post reached the waiter: %s (left over %d)\n", got == atomic_load(&target) ? "yes" : "no", v);
    return 0;
}
