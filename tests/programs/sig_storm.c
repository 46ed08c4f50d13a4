/* A signal storm against threads that are parked (condvar, semaphore, sleep,
 * poll on a pipe) and threads that are running (spinning, yielding): every
 * thread-directed signal runs its handler exactly once on the thread it was
 * sent to (counted in a __thread variable), and every process-directed one
 * runs once on some thread. Sends are paced (the next once the handler ran)
 * so that no two copies of one standard signal can merge. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)
#define NT 8
#define SENDS 1500
#define PROC_SENDS 300

static __thread volatile long mine;
static atomic_long total, total_proc;
static atomic_int stop;
static long got[NT];

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
    mine++;
    atomic_fetch_add(&total, 1);
}

static void on_usr2(int sig)
{
    (void)sig;
    atomic_fetch_add(&total_proc, 1);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static int pfd[2];

static void *target(void *arg)
{
    long id = (long)arg;
    unsigned x = (unsigned)id * 2654435761u;
    while (!atomic_load(&stop)) {
        switch (id % 8) {
        case 0: { /* condvar with a timeout */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 2000000;
            if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
            CHECK(pthread_mutex_lock(&mu) == 0);
            int r = pthread_cond_timedwait(&cv, &mu, &ts);
            CHECK(r == 0 || r == ETIMEDOUT);
            CHECK(pthread_mutex_unlock(&mu) == 0);
            break;
        }
        case 1: { /* semaphore with a timeout */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 2000000;
            if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
            int r = sem_timedwait(&sem, &ts);
            CHECK(r == 0 || errno == ETIMEDOUT || errno == EINTR);
            break;
        }
        case 2: { /* sleeps */
            struct timespec ts = {0, 1000000};
            int r = nanosleep(&ts, NULL);
            CHECK(r == 0 || errno == EINTR);
            break;
        }
        case 3: { /* poll on a pipe nobody writes */
            struct pollfd p = {pfd[0], POLLIN, 0};
            int r = poll(&p, 1, 2);
            CHECK(r == 0 || (r == -1 && errno == EINTR));
            break;
        }
        case 4: case 5: /* spinning */
            for (int i = 0; i < 20000; i++)
                x = x * 1103515245u + 12345u;
            break;
        default: /* spinning and yielding */
            for (int i = 0; i < 2000; i++)
                x = x * 1103515245u + 12345u;
            sched_yield();
            break;
        }
    }
    got[id] = mine;
    return (void *)(long)(x & 1);
}

static void pace(atomic_long *counter, long want)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load(counter) < want) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 10) {
            printf("FAIL: signal %ld never handled\n", want);
            fflush(stdout);
            _exit(1);
        }
        sched_yield();
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    CHECK(signal(SIGUSR2, on_usr2) != SIG_ERR);
    CHECK(sem_init(&sem, 0, 0) == 0);
    CHECK(pipe(pfd) == 0);

    /* main blocks SIGUSR2: process-directed ones go to the targets */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_t t[NT];
    for (long i = 0; i < NT; i++)
        CHECK(pthread_create(&t[i], NULL, target, (void *)i) == 0);
    CHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0);

    long expect[NT] = {0};
    unsigned seed = 12345;
    for (long i = 0; i < SENDS; i++) {
        int k = rand_r(&seed) % NT;
        expect[k]++;
        CHECK(pthread_kill(t[k], SIGUSR1) == 0);
        pace(&total, i + 1);
    }
    for (long i = 0; i < PROC_SENDS; i++) {
        CHECK(kill(getpid(), SIGUSR2) == 0);
        pace(&total_proc, i + 1);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < NT; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    int match = 1;
    for (int i = 0; i < NT; i++)
        if (got[i] != expect[i]) {
            match = 0;
            printf("thread %d: handler ran %ld times, sent %ld\n", i, got[i], expect[i]);
        }
    printf("thread-directed: %d sent, %ld handled, each on its target: %s\n", SENDS, atomic_load(&total),
           match ? "yes" : "no");
    printf("process-directed: %d sent, %ld handled\n", PROC_SENDS, atomic_load(&total_proc));
    return 0;
}
