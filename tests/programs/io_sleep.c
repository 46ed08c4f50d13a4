/* io_sleep: sleeps and timeouts take at least the time asked for, and not
 * much more (bounds are generous: requested + 50 ms).
 *  - usleep(100), usleep(1000), nanosleep 10 ms, clock_nanosleep 10 ms
 *    relative and TIMER_ABSTIME on CLOCK_MONOTONIC and CLOCK_REALTIME, an
 *    absolute deadline in the past, zero-length sleeps, invalid arguments;
 *  - 1,000 threads each doing 20 x usleep(1000) at the same time all finish,
 *    concurrently (far sooner than one after the other);
 *  - poll, ppoll, select, pselect and epoll_wait with a timeout and nothing
 *    ready return 0 after at least the timeout; with timeout 0 they return
 *    at once; epoll_wait returns early when a thread makes the fd ready. */
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

/* Elapsed must be in [want, want + SLACK]; the numbers go to stderr only. */
static void bound(const char *what, int64_t elapsed, int64_t want)
{
    int ok = elapsed >= want && elapsed <= want + SLACK;
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok) {
        fprintf(stderr, "io_sleep: %s took %lld ns, wanted %lld ns (+ %lld slack)\n", what,
                (long long)elapsed, (long long)want, (long long)SLACK);
        failed = 1;
    }
}

static void test_precision(void)
{
    int64_t t0;
    for (int i = 0; i < 3; i++) {     /* a few times each: one good run is not enough */
        t0 = now(CLOCK_MONOTONIC);
        CHECK(usleep(100) == 0);
        bound("usleep(100)", now(CLOCK_MONOTONIC) - t0, 100000);

        t0 = now(CLOCK_MONOTONIC);
        CHECK(usleep(1000) == 0);
        bound("usleep(1000)", now(CLOCK_MONOTONIC) - t0, 1 * MS);

        struct timespec ten = ns_ts(10 * MS), rem = {99, 99};
        t0 = now(CLOCK_MONOTONIC);
        CHECK(nanosleep(&ten, &rem) == 0);
        bound("nanosleep 10 ms", now(CLOCK_MONOTONIC) - t0, 10 * MS);

        t0 = now(CLOCK_MONOTONIC);
        CHECK0(clock_nanosleep(CLOCK_MONOTONIC, 0, &ten, NULL));
        bound("clock_nanosleep MONOTONIC relative 10 ms", now(CLOCK_MONOTONIC) - t0, 10 * MS);

        t0 = now(CLOCK_MONOTONIC);
        CHECK0(clock_nanosleep(CLOCK_REALTIME, 0, &ten, NULL));
        bound("clock_nanosleep REALTIME relative 10 ms", now(CLOCK_MONOTONIC) - t0, 10 * MS);

        /* absolute: the clock itself must have reached the deadline */
        int64_t start = now(CLOCK_MONOTONIC), dl = start + 10 * MS;
        struct timespec abs = ns_ts(dl);
        CHECK0(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL));
        int64_t end = now(CLOCK_MONOTONIC);
        bound("clock_nanosleep MONOTONIC TIMER_ABSTIME +10 ms", end - start, dl - start);

        start = now(CLOCK_REALTIME);
        dl = start + 10 * MS;
        abs = ns_ts(dl);
        CHECK0(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &abs, NULL));
        end = now(CLOCK_REALTIME);
        bound("clock_nanosleep REALTIME TIMER_ABSTIME +10 ms", end - start, dl - start);
    }

    /* a deadline in the past, zero-length sleeps: no wait at all */
    int64_t t1 = now(CLOCK_MONOTONIC);
    struct timespec past = ns_ts(now(CLOCK_MONOTONIC) - 1000 * MS), zero = {0, 0};
    CHECK0(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL));
    past = ns_ts(now(CLOCK_REALTIME) - 1000 * MS);
    CHECK0(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &past, NULL));
    CHECK(nanosleep(&zero, NULL) == 0);
    CHECK(usleep(0) == 0);
    CHECK0(clock_nanosleep(CLOCK_MONOTONIC, 0, &zero, NULL));
    bound("past deadlines and zero-length sleeps", now(CLOCK_MONOTONIC) - t1, 0);

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
    printf("they slept at the same time: %s\n", dt < 5000 * MS ? "yes" : "no");
    if (dt >= 5000 * MS)
        fprintf(stderr, "io_sleep: %d sleeping threads took %lld ms\n", SLEEPERS, (long long)(dt / MS));
    CHECK(dt < 5000 * MS);
}

/* ---- timeouts of the polling calls ---- */
static int pp[2];

static void *late_write(void *arg)
{
    usleep((useconds_t)(intptr_t)arg * 1000);
    CHECK(write(pp[1], "x", 1) == 1);
    return NULL;
}

static void test_poll_timeouts(void)
{
    CHECKSYS(pipe(pp));
    int64_t t0;
    int r;
    struct pollfd pfd = {pp[0], POLLIN, 0};

    t0 = now(CLOCK_MONOTONIC);
    r = poll(&pfd, 1, 50);
    printf("poll 50 ms on an empty pipe: %d\n", r);
    bound("  poll took", now(CLOCK_MONOTONIC) - t0, 50 * MS);
    t0 = now(CLOCK_MONOTONIC);
    r = poll(NULL, 0, 30);
    printf("poll 30 ms, no fds: %d\n", r);
    bound("  poll took", now(CLOCK_MONOTONIC) - t0, 30 * MS);
    t0 = now(CLOCK_MONOTONIC);
    r = poll(&pfd, 1, 0);
    printf("poll 0 ms: %d\n", r);
    bound("  poll took", now(CLOCK_MONOTONIC) - t0, 0);

    struct timespec tts = ns_ts(40 * MS);
    t0 = now(CLOCK_MONOTONIC);
    r = ppoll(&pfd, 1, &tts, NULL);
    printf("ppoll 40 ms on an empty pipe: %d\n", r);
    bound("  ppoll took", now(CLOCK_MONOTONIC) - t0, 40 * MS);

    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(pp[0], &rd);
    struct timeval tv = {0, 50000};
    t0 = now(CLOCK_MONOTONIC);
    r = select(pp[0] + 1, &rd, NULL, NULL, &tv);
    printf("select 50 ms on an empty pipe: %d, fd %s, timeval left %ld.%06ld\n", r,
           FD_ISSET(pp[0], &rd) ? "set" : "cleared", (long)tv.tv_sec, (long)tv.tv_usec);
    bound("  select took", now(CLOCK_MONOTONIC) - t0, 50 * MS);
    tv = (struct timeval){0, 30000};
    t0 = now(CLOCK_MONOTONIC);
    r = select(0, NULL, NULL, NULL, &tv);
    printf("select 30 ms, no fds: %d\n", r);
    bound("  select took", now(CLOCK_MONOTONIC) - t0, 30 * MS);

    FD_ZERO(&rd);
    FD_SET(pp[0], &rd);
    tts = ns_ts(40 * MS);
    sigset_t none;
    sigemptyset(&none);
    t0 = now(CLOCK_MONOTONIC);
    r = pselect(pp[0] + 1, &rd, NULL, NULL, &tts, &none);
    printf("pselect 40 ms on an empty pipe: %d\n", r);
    bound("  pselect took", now(CLOCK_MONOTONIC) - t0, 40 * MS);

    int ep = epoll_create1(0);
    CHECKSYS(ep);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 42}, out[2];
    CHECKSYS(epoll_ctl(ep, EPOLL_CTL_ADD, pp[0], &ev));
    t0 = now(CLOCK_MONOTONIC);
    r = epoll_wait(ep, out, 2, 50);
    printf("epoll_wait 50 ms on an empty pipe: %d\n", r);
    bound("  epoll_wait took", now(CLOCK_MONOTONIC) - t0, 50 * MS);
    t0 = now(CLOCK_MONOTONIC);
    r = epoll_wait(ep, out, 2, 0);
    printf("epoll_wait 0 ms: %d\n", r);
    bound("  epoll_wait took", now(CLOCK_MONOTONIC) - t0, 0);

    /* made ready by another thread after 20 ms: returns then, not at the timeout */
    pthread_t t;
    t0 = now(CLOCK_MONOTONIC);
    CHECK0(pthread_create(&t, NULL, late_write, (void *)(intptr_t)20));
    r = epoll_wait(ep, out, 2, 5000);
    int64_t dt = now(CLOCK_MONOTONIC) - t0;
    CHECK0(pthread_join(t, NULL));
    printf("epoll_wait 5 s, written after 20 ms: %d, data %u\n", r, r == 1 ? out[0].data.u32 : 0);
    bound("  epoll_wait took", dt, 20 * MS);
    char c;
    CHECK(read(pp[0], &c, 1) == 1);

    t0 = now(CLOCK_MONOTONIC);
    CHECK0(pthread_create(&t, NULL, late_write, (void *)(intptr_t)20));
    r = poll(&pfd, 1, 5000);
    dt = now(CLOCK_MONOTONIC) - t0;
    CHECK0(pthread_join(t, NULL));
    printf("poll 5 s, written after 20 ms: %d, revents %s\n", r, pfd.revents == POLLIN ? "POLLIN" : "other");
    bound("  poll took", dt, 20 * MS);
    CHECK(read(pp[0], &c, 1) == 1);
    close(ep);
    close(pp[0]);
    close(pp[1]);
}

int main(void)
{
    test_precision();
    test_many_sleepers();
    test_poll_timeouts();
    if (failed) {
        printf("FAIL\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
