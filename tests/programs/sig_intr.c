/* Signals to blocked threads: a handler runs promptly on the target thread
 * (with that thread's TLS), and the blocking call ends as POSIX says: sleeps
 * with EINTR and the time left, semaphore/futex/poll with EINTR, reads with
 * EINTR unless the handler has SA_RESTART, condvar and mutex waits resume.
 * A blocked signal waits until it is unblocked; pthread_sigqueue's value
 * reaches the handler. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)

static __thread volatile int tls_hits; /* handler runs on the target's TLS */
static atomic_int hits;           /* handler runs in total */
static atomic_int last_value;     /* si_value of the last SA_SIGINFO handler run */

static void on_sig(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    tls_hits++;
    if (si->si_code == SI_QUEUE)
        atomic_store(&last_value, si->si_value.sival_int);
    atomic_fetch_add(&hits, 1);
}

static void install(int sig, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO | flags;
    CHECK(sigaction(sig, &sa, NULL) == 0);
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ---- each case: a thread blocks in one call, main signals it once it is blocked */

enum what { NANOSLEEP, SLEEP, USLEEP, CLOCK_REL, CLOCK_ABS, SEM, SEM_RESTART, READ, READ_RESTART, POLL, FUTEX,
            COND, MUTEX, SIGQUEUE, BLOCKED };
static const char *names[] = {"nanosleep", "sleep", "usleep", "clock_nanosleep relative", "clock_nanosleep absolute",
                              "sem_wait", "sem_wait (SA_RESTART)", "read", "read (SA_RESTART)", "poll", "futex wait",
                              "cond_wait", "mutex_lock", "sigqueue to a sleeper", "blocked signal"};

static atomic_int blocking;
static int pfd[2];
static sem_t sem;
static atomic_uint fword;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_go;

static void *target(void *arg)
{
    enum what w = (enum what)(long)arg;
    char out[160];
    struct timespec five = {5, 0}, rem = {0, 0};
    int r, e;
    atomic_store(&blocking, 1);
    switch (w) {
    case NANOSLEEP:
        r = nanosleep(&five, &rem), e = errno;
        snprintf(out, sizeof out, "%s -> %d %s, time left %s", names[w], r, r ? strerror(e) : "",
                 rem.tv_sec >= 3 && rem.tv_sec < 5 ? "3-5 s" : "wrong");
        break;
    case SLEEP: {
        unsigned left = sleep(5);
        snprintf(out, sizeof out, "%s -> %s", names[w], left >= 4 && left <= 5 ? "4-5 s left" : "wrong");
        break;
    }
    case USLEEP:
        r = usleep(5000000), e = errno;
        snprintf(out, sizeof out, "%s -> %d %s", names[w], r, r ? strerror(e) : "");
        break;
    case CLOCK_REL:
        r = clock_nanosleep(CLOCK_MONOTONIC, 0, &five, &rem);
        snprintf(out, sizeof out, "%s -> %s, time left %s", names[w], r ? strerror(r) : "0",
                 rem.tv_sec >= 3 && rem.tv_sec < 5 ? "3-5 s" : "wrong");
        break;
    case CLOCK_ABS: {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 5;
        r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
        snprintf(out, sizeof out, "%s -> %s", names[w], r ? strerror(r) : "0");
        break;
    }
    case SEM:
    case SEM_RESTART:
        r = sem_wait(&sem), e = errno;
        snprintf(out, sizeof out, "%s -> %d %s", names[w], r, r ? strerror(e) : "");
        break;
    case READ:
    case READ_RESTART: {
        char c;
        ssize_t n = read(pfd[0], &c, 1);
        e = errno;
        snprintf(out, sizeof out, "%s -> %zd %s", names[w], n, n < 0 ? strerror(e) : "");
        break;
    }
    case POLL: {
        struct pollfd p = {pfd[0], POLLIN, 0};
        r = poll(&p, 1, 5000), e = errno;
        snprintf(out, sizeof out, "%s -> %d %s", names[w], r, r < 0 ? strerror(e) : "");
        break;
    }
    case FUTEX:
        r = (int)syscall(SYS_futex, &fword, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), e = errno;
        snprintf(out, sizeof out, "%s -> %d %s", names[w], r, r ? strerror(e) : "");
        break;
    case COND:
        CHECK(pthread_mutex_lock(&mu) == 0);
        while (!cond_go)
            CHECK(pthread_cond_wait(&cv, &mu) == 0);
        CHECK(pthread_mutex_unlock(&mu) == 0);
        snprintf(out, sizeof out, "%s -> resumed after the handler", names[w]);
        break;
    case MUTEX:
        CHECK(pthread_mutex_lock(&mu) == 0);
        CHECK(pthread_mutex_unlock(&mu) == 0);
        snprintf(out, sizeof out, "%s -> resumed after the handler", names[w]);
        break;
    case SIGQUEUE:
        r = nanosleep(&five, &rem), e = errno;
        snprintf(out, sizeof out, "%s -> %d %s, value %d", names[w], r, r ? strerror(e) : "",
                 atomic_load(&last_value));
        break;
    case BLOCKED: {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        CHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0);
        atomic_store(&blocking, 2);
        struct timespec t = {0, 300 * 1000000L};
        r = nanosleep(&t, NULL);
        int before = tls_hits;
        CHECK(pthread_sigmask(SIG_UNBLOCK, &s, NULL) == 0);
        snprintf(out, sizeof out, "%s -> sleep %d, handler ran %d time(s) while blocked, %d after unblocking",
                 names[w], r, before, tls_hits - before);
        break;
    }
    }
    if (w != BLOCKED)
        snprintf(out + strlen(out), sizeof out - strlen(out), "; handler on this thread: %d", tls_hits);
    printf("%s\n", out);
    return NULL;
}

static void run(enum what w)
{
    int sig = (w == SEM_RESTART || w == READ_RESTART) ? SIGUSR2 : SIGUSR1;
    atomic_store(&blocking, 0);
    int h0 = atomic_load(&hits);
    if (w == COND || w == MUTEX)
        CHECK(pthread_mutex_lock(&mu) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, target, (void *)(long)w) == 0);
    while (atomic_load(&blocking) != (w == BLOCKED ? 2 : 1))
        pause_ms(1);
    if (w == COND) { /* cond_wait unlocks the mutex: then it is blocked */
        CHECK(pthread_mutex_unlock(&mu) == 0);
        pause_ms(50);
        CHECK(pthread_mutex_lock(&mu) == 0);
    }
    pause_ms(50); /* it is blocked by now */
    if (w == SIGQUEUE) {
        union sigval v = {.sival_int = 42};
        CHECK(pthread_sigqueue(t, sig, v) == 0);
    } else {
        CHECK(pthread_kill(t, sig) == 0);
    }
    if (w == COND || w == MUTEX) {
        /* the handler must run while the thread is still blocked */
        for (int i = 0; i < 5000 && atomic_load(&hits) == h0; i++)
            pause_ms(1);
        printf("%s: handler ran while blocked: %s\n", names[w], atomic_load(&hits) > h0 ? "yes" : "no");
        cond_go = 1;
        CHECK(pthread_cond_signal(&cv) == 0);
        CHECK(pthread_mutex_unlock(&mu) == 0);
    }
    if (w == READ_RESTART || w == SEM_RESTART) {
        for (int i = 0; i < 5000 && atomic_load(&hits) == h0; i++)
            pause_ms(1);
        pause_ms(50);
        /* the restarted call gets it */
        if (w == READ_RESTART)
            CHECK(write(pfd[1], "x", 1) == 1);
        else
            CHECK(sem_post(&sem) == 0);
    }
    CHECK(pthread_join(t, NULL) == 0);
    cond_go = 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    install(SIGUSR1, 0);
    install(SIGUSR2, SA_RESTART);
    CHECK(pipe(pfd) == 0);
    CHECK(sem_init(&sem, 0, 0) == 0);
    for (int w = NANOSLEEP; w <= BLOCKED; w++)
        run((enum what)w);
    printf("handlers ran %d times\n", atomic_load(&hits));
    return 0;
}
