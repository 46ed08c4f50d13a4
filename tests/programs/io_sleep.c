/* io_sleep: sleeps and timeouts take at least the time asked for, and not
 * much more (bounds are generous: requested + 50 ms, best of 5 attempts).
 *  - usleep(100), usleep(1000), nanosleep 10 ms, clock_nanosleep 10 ms
 *    relative and TIMER_ABSTIME on CLOCK_MONOTONIC and CLOCK_REALTIME, an
 *    absolute deadline in the past, zero-length sleeps, invalid arguments;
 *  - 1,000 threads each doing 20 x usleep(1000) at the same time all finish,
 *    concurrently (far sooner than one after the other);
 *  - poll, ppoll, select, pselect and epoll_wait with a timeout and nothing
 *    ready return 0 after at least the timeout; with timeout 0 they return
 *    at once; epoll_wait returns early when a thread makes the fd ready;
 *  - select that a signal handler interrupts fails with EINTR (SA_RESTART
 *    or not) and, as Linux's, leaves the time it did not sleep in its
 *    timeval. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)
#define CHECKSYS(e) do { if ((e) < 0) { printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, \
    #e, strerror(errno)); fflush(stdout); exit(1); } } while (0)

#define MS 1000000LL
#define SLACK (50 * MS)

static int64_t ts_ns(const struct timespec *ts) { return ts->tv_sec * 1000000000LL + ts->tv_nsec; }

static int64_t now(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts_ns(&ts);
}

static struct timespec ns_ts(int64_t ns) { return (struct timespec){ns / 1000000000LL, ns % 1000000000LL}; }

static int failed;

/*
 * One timed call: fn makes it and returns how long it took; want is the
 * time asked for.  Every attempt must take at least want; the upper bound
 * (want + SLACK) must hold for one of up to ATTEMPTS attempts, so a busy
 * machine delaying one wake-up does not fail the test, while a sleep that is
 * always late does.  The numbers go to stderr only.
 */
#define ATTEMPTS 5

static void timed(const char *what, int64_t (*fn)(void), int64_t want)
{
    int64_t e = 0;
    int ok = 0, short_ = 0;
    for (int i = 0; i < ATTEMPTS && !ok; i++) {
        e = fn();
        if (e < want) {
            short_ = 1;
            break;
        }
        ok = e <= want + SLACK;
    }
    printf("%s: %s\n", what, ok && !short_ ? "ok" : short_ ? "FAIL (too short)" : "FAIL (too long)");
    if (!ok || short_) {
        fprintf(stderr, "io_sleep: %s took %lld ns, wanted %lld ns (+ %lld slack)\n", what,
                (long long)e, (long long)want, (long long)SLACK);
        failed = 1;
    }
}

static int64_t t_usleep100(void)
{
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(usleep(100) == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

static int64_t t_usleep1000(void)
{
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(usleep(1000) == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

static int64_t t_nanosleep(void)
{
    struct timespec ten = ns_ts(10 * MS), rem = {99, 99};
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(nanosleep(&ten, &rem) == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

static int64_t rel(clockid_t c)
{
    struct timespec ten = ns_ts(10 * MS);
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK0(clock_nanosleep(c, 0, &ten, NULL));
    return now(CLOCK_MONOTONIC) - t0;
}
static int64_t t_rel_mono(void) { return rel(CLOCK_MONOTONIC); }
static int64_t t_rel_real(void) { return rel(CLOCK_REALTIME); }

/* absolute: the clock itself must have reached the deadline */
static int64_t absolute(clockid_t c)
{
    int64_t start = now(c);
    struct timespec abs = ns_ts(start + 10 * MS);
    CHECK0(clock_nanosleep(c, TIMER_ABSTIME, &abs, NULL));
    return now(c) - start;
}
static int64_t t_abs_mono(void) { return absolute(CLOCK_MONOTONIC); }
static int64_t t_abs_real(void) { return absolute(CLOCK_REALTIME); }

/* a deadline in the past, zero-length sleeps: no wait at all */
static int64_t t_no_wait(void)
{
    int64_t t0 = now(CLOCK_MONOTONIC);
    struct timespec past = ns_ts(now(CLOCK_MONOTONIC) - 1000 * MS), zero = {0, 0};
    CHECK0(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL));
    past = ns_ts(now(CLOCK_REALTIME) - 1000 * MS);
    CHECK0(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &past, NULL));
    CHECK(nanosleep(&zero, NULL) == 0);
    CHECK(usleep(0) == 0);
    CHECK0(clock_nanosleep(CLOCK_MONOTONIC, 0, &zero, NULL));
    return now(CLOCK_MONOTONIC) - t0;
}

static void test_precision(void)
{
    timed("usleep(100)", t_usleep100, 100000);
    timed("usleep(1000)", t_usleep1000, 1 * MS);
    timed("nanosleep 10 ms", t_nanosleep, 10 * MS);
    timed("clock_nanosleep MONOTONIC relative 10 ms", t_rel_mono, 10 * MS);
    timed("clock_nanosleep REALTIME relative 10 ms", t_rel_real, 10 * MS);
    timed("clock_nanosleep MONOTONIC TIMER_ABSTIME +10 ms", t_abs_mono, 10 * MS);
    timed("clock_nanosleep REALTIME TIMER_ABSTIME +10 ms", t_abs_real, 10 * MS);
    timed("past deadlines and zero-length sleeps", t_no_wait, 0);

    /* invalid arguments */
    struct timespec bad = {0, 1000000000};
    errno = 0;
    int r = nanosleep(&bad, NULL);
    printf("nanosleep with tv_nsec = 1e9: %d %s\n", r, errno == EINVAL ? "EINVAL" : strerror(errno));
    printf("clock_nanosleep with tv_nsec = 1e9: %s\n",
           clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL) == EINVAL ? "EINVAL" : "other");
    bad = (struct timespec){-1, 0};
    errno = 0;
    r = nanosleep(&bad, NULL);
    printf("nanosleep with tv_sec = -1: %d %s\n", r, errno == EINVAL ? "EINVAL" : strerror(errno));
    struct timespec ten = ns_ts(10 * MS);
    r = clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ten, NULL);
    printf("clock_nanosleep on CLOCK_THREAD_CPUTIME_ID: %s\n", r == EINVAL ? "EINVAL" : r == 0 ? "0" : strerror(r));
}

/* ---- 1,000 sleeping threads ---- */
#define SLEEPERS 1000
#define NAPS 20
static long naps_done;

static void *sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < NAPS; i++) {
        CHECK(usleep(1000) == 0);
        __atomic_fetch_add(&naps_done, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_many_sleepers(void)
{
    static pthread_t ts[SLEEPERS];
    pthread_attr_t a;
    CHECK0(pthread_attr_init(&a));
    CHECK0(pthread_attr_setstacksize(&a, 64 * 1024));
    int64_t t0 = now(CLOCK_MONOTONIC);
    for (int i = 0; i < SLEEPERS; i++)
        CHECK0(pthread_create(&ts[i], &a, sleeper, NULL));
    for (int i = 0; i < SLEEPERS; i++)
        CHECK0(pthread_join(ts[i], NULL));
    int64_t dt = now(CLOCK_MONOTONIC) - t0;
    CHECK0(pthread_attr_destroy(&a));
    printf("%d threads x %d usleep(1000): %ld sleeps done\n", SLEEPERS, NAPS, naps_done);
    CHECK(naps_done == (long)SLEEPERS * NAPS);
    /* one after the other would be 20 s */
    printf("they slept at the same time: %s\n", dt < 10000 * MS ? "yes" : "no");
    if (dt >= 10000 * MS)
        fprintf(stderr, "io_sleep: %d sleeping threads took %lld ms\n", SLEEPERS, (long long)(dt / MS));
    CHECK(dt < 10000 * MS);
}

/* ---- timeouts of the polling calls ---- */
static int pp[2], ep;

static void *late_write(void *arg)
{
    usleep((useconds_t)(intptr_t)arg * 1000);
    CHECK(write(pp[1], "x", 1) == 1);
    return NULL;
}

/* Each returns its elapsed time and checks the call's result. */
static int64_t t_poll50(void)
{
    struct pollfd pfd = {pp[0], POLLIN, 0};
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(poll(&pfd, 1, 50) == 0 && pfd.revents == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

static int64_t t_poll_nofds(void)
{
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(poll(NULL, 0, 30) == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

static int64_t t_poll0(void)
{
    struct pollfd pfd = {pp[0], POLLIN, 0};
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(poll(&pfd, 1, 0) == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

static int64_t t_ppoll40(void)
{
    struct pollfd pfd = {pp[0], POLLIN, 0};
    struct timespec ts = ns_ts(40 * MS);
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(ppoll(&pfd, 1, &ts, NULL) == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

static int64_t t_select50(void)
{
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(pp[0], &rd);
    struct timeval tv = {0, 50000};
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(select(pp[0] + 1, &rd, NULL, NULL, &tv) == 0);
    int64_t e = now(CLOCK_MONOTONIC) - t0;
    CHECK(!FD_ISSET(pp[0], &rd));              /* the set is cleared */
    CHECK(tv.tv_sec == 0 && tv.tv_usec == 0);  /* Linux: the time left */
    return e;
}

static int64_t t_select_nofds(void)
{
    struct timeval tv = {0, 30000};
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(select(0, NULL, NULL, NULL, &tv) == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

static int64_t t_pselect40(void)
{
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(pp[0], &rd);
    struct timespec ts = ns_ts(40 * MS);
    sigset_t none;
    sigemptyset(&none);
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(pselect(pp[0] + 1, &rd, NULL, NULL, &ts, &none) == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

static int64_t t_epoll50(void)
{
    struct epoll_event out[2];
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(epoll_wait(ep, out, 2, 50) == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

static int64_t t_epoll0(void)
{
    struct epoll_event out[2];
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK(epoll_wait(ep, out, 2, 0) == 0);
    return now(CLOCK_MONOTONIC) - t0;
}

/* made ready by another thread after 20 ms: returns then, not at the timeout */
static int64_t t_epoll_ready(void)
{
    pthread_t t;
    struct epoll_event out[2];
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK0(pthread_create(&t, NULL, late_write, (void *)(intptr_t)20));
    int r = epoll_wait(ep, out, 2, 5000);
    int64_t e = now(CLOCK_MONOTONIC) - t0;
    CHECK0(pthread_join(t, NULL));
    CHECK(r == 1 && out[0].data.u32 == 42);
    char c;
    CHECK(read(pp[0], &c, 1) == 1);
    return e;
}

static int64_t t_poll_ready(void)
{
    pthread_t t;
    struct pollfd pfd = {pp[0], POLLIN, 0};
    int64_t t0 = now(CLOCK_MONOTONIC);
    CHECK0(pthread_create(&t, NULL, late_write, (void *)(intptr_t)20));
    int r = poll(&pfd, 1, 5000);
    int64_t e = now(CLOCK_MONOTONIC) - t0;
    CHECK0(pthread_join(t, NULL));
    CHECK(r == 1 && pfd.revents == POLLIN);
    char c;
    CHECK(read(pp[0], &c, 1) == 1);
    return e;
}

static pthread_t select_waiter;
static void on_usr2(int sig) { (void)sig; }

static void *signal_later(void *arg)
{
    (void)arg;
    usleep(100000);
    pthread_kill(select_waiter, SIGUSR2);
    return NULL;
}

static void test_select_interrupted(void)
{
    struct sigaction sa = {.sa_handler = on_usr2, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    CHECKSYS(sigaction(SIGUSR2, &sa, NULL));
    int p[2];
    CHECKSYS(pipe(p));
    select_waiter = pthread_self();
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, signal_later, NULL));
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    struct timeval tv = {2, 0};
    int r = select(p[0] + 1, &rd, NULL, NULL, &tv);
    int e = errno;
    CHECK0(pthread_join(t, NULL));
    int64_t left = tv.tv_sec * 1000000LL + tv.tv_usec;
    printf("select interrupted by an SA_RESTART handler: %s, the time not slept left in its timeval: %s\n",
           r == -1 && e == EINTR ? "EINTR" : r == -1 ? strerror(e) : "returned", left > 1000000 && left < 1950000 ? "yes" : "no");
    close(p[0]);
    close(p[1]);
}

static void test_poll_timeouts(void)
{
    CHECKSYS(pipe(pp));
    ep = epoll_create1(0);
    CHECKSYS(ep);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 42};
    CHECKSYS(epoll_ctl(ep, EPOLL_CTL_ADD, pp[0], &ev));
    timed("poll 50 ms on an empty pipe returns 0", t_poll50, 50 * MS);
    timed("poll 30 ms with no fds returns 0", t_poll_nofds, 30 * MS);
    timed("poll 0 ms returns 0 at once", t_poll0, 0);
    timed("ppoll 40 ms on an empty pipe returns 0", t_ppoll40, 40 * MS);
    timed("select 50 ms on an empty pipe returns 0", t_select50, 50 * MS);
    timed("select 30 ms with no fds returns 0", t_select_nofds, 30 * MS);
    timed("pselect 40 ms on an empty pipe returns 0", t_pselect40, 40 * MS);
    timed("epoll_wait 50 ms on an empty pipe returns 0", t_epoll50, 50 * MS);
    timed("epoll_wait 0 ms returns 0 at once", t_epoll0, 0);
    timed("epoll_wait 5 s, pipe written after 20 ms, returns 1", t_epoll_ready, 20 * MS);
    timed("poll 5 s, pipe written after 20 ms, returns 1", t_poll_ready, 20 * MS);
    close(ep);
    close(pp[0]);
    close(pp[1]);
}

int main(void)
{
    test_precision();
    test_many_sleepers();
    test_poll_timeouts();
    test_select_interrupted();
    if (failed) {
        printf("FAIL\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
