/* locked_kernel_wait: a thread pinned to one CPU (under gmp: locked to its
 * kernel thread) that waits for an fd waits in the kernel, in the call the
 * program made (epoll_wait, poll, select) or in a poll of the fd (read,
 * recv, accept), never asleep on a futex the way a parked thread's kernel
 * thread is.  Another thread reads the pinned thread's
 * /proc/self/task/TID/syscall while it waits and prints whether it sleeps
 * in a futex call or another one: natively always another one.
 *
 * Steps, each with its result checked:
 *   - an event loop (epoll, a socketpair) answers 3,000 pings from an
 *     unpinned thread, one at a time: every ping answered, in order;
 *   - epoll_wait, poll of one fd, poll of two fds, select and a read
 *     each wait until another thread writes, 30 ms later;
 *   - epoll_wait and poll time out (0 after at least their timeout);
 *     a recv with SO_RCVTIMEO returns EAGAIN after at least its timeout;
 *   - a signal whose handler has SA_RESTART interrupts a read, which goes
 *     on and gets its byte; one without SA_RESTART makes it fail with EINTR;
 *   - pthread_cancel ends a pinned thread blocked in read and one blocked
 *     in epoll_wait (cleanup handlers run, join gives PTHREAD_CANCELED);
 *   - two pinned threads whose epoll_wait returns at once (writable
 *     sockets), on two CPUs, loop on it until main, after three 20 ms
 *     sleeps, stops them: each sleep ends within 2 s (under gmp such loops
 *     once held every P until they stopped by themselves, here after 10 s:
 *     each wait was a new kernel call to sysmon).
 * Natively and under gmp the output is the same. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pin_cpu.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, #c, strerror(errno)); \
    fflush(stdout); exit(1); } } while (0)

#define PINGS 3000

static void pin_to_one_cpu(void) { pin_to_one_cpu_from(1); }

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------ the pinned thread's waits */

static _Atomic pid_t pinned_tid;
static _Atomic int step_ready; /* the pinned thread is about to wait in step n */

/*
 * Wait until the pinned thread sleeps in a system call (its syscall file
 * shows a number), then say which kind: a futex, or another call.
 */
static const char *how_it_waits(void)
{
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)atomic_load(&pinned_tid));
    for (int tries = 0; tries < 5000; tries++) {
        FILE *f = fopen(path, "r");
        CHECK(f != NULL);
        char *got = fgets(buf, sizeof buf, f);
        fclose(f);
        long nr;
        /* its state must be sleeping too: the syscall file shows the last call of a running thread */
        char spath[64], st[512];
        snprintf(spath, sizeof spath, "/proc/self/task/%d/stat", (int)atomic_load(&pinned_tid));
        FILE *s = fopen(spath, "r");
        CHECK(s != NULL);
        char *sg = fgets(st, sizeof st, s);
        fclose(s);
        char *close_paren = sg ? strrchr(st, ')') : NULL;
        bool asleep = close_paren && close_paren[1] == ' ' && close_paren[2] == 'S';
        if (got && asleep && sscanf(buf, "%ld", &nr) == 1)
            return nr == SYS_futex ? "asleep in a futex call" : "asleep in the kernel in another call";
        sleep_ms(1);
    }
    return "never seen asleep";
}

static int wake_fd; /* what the checker writes to after looking */

struct step {
    const char *name;
    int delay_ms; /* the checker writes wake_fd this long after seeing the wait */
};

static void *checker(void *arg)
{
    const struct step *steps = arg;
    for (int i = 0; steps[i].name; i++) {
        while (atomic_load(&step_ready) != i + 1)
            sleep_ms(1);
        sleep_ms(steps[i].delay_ms);
        printf("%s: %s\n", steps[i].name, how_it_waits());
        CHECK(write(wake_fd, "w", 1) == 1);
    }
    return NULL;
}

static const struct step steps[] = {
    {"epoll_wait", 30}, {"poll of one fd", 30}, {"poll of two fds", 30}, {"select", 30}, {"read", 30},
    {"recv", 30}, {NULL, 0},
};

static void *pinned_waits(void *arg)
{
    (void)arg;
    pin_to_one_cpu();
    atomic_store(&pinned_tid, (pid_t)syscall(SYS_gettid));
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    wake_fd = sv[1];
    int other[2];
    CHECK(pipe(other) == 0);
    char c;
    int step = 0;

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0);
    atomic_store(&step_ready, ++step);
    CHECK(epoll_wait(ep, &ev, 1, 10000) == 1 && ev.data.u32 == 7 && (ev.events & EPOLLIN));
    CHECK(read(sv[0], &c, 1) == 1 && c == 'w');

    struct pollfd pf[2] = {{sv[0], POLLIN, 0}, {other[0], POLLIN, 0}};
    atomic_store(&step_ready, ++step);
    CHECK(poll(pf, 1, 10000) == 1 && (pf[0].revents & POLLIN));
    CHECK(read(sv[0], &c, 1) == 1);

    atomic_store(&step_ready, ++step);
    CHECK(poll(pf, 2, 10000) == 1 && (pf[0].revents & POLLIN) && pf[1].revents == 0);
    CHECK(read(sv[0], &c, 1) == 1);

    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(sv[0], &rd);
    FD_SET(other[0], &rd);
    struct timeval tv = {10, 0};
    atomic_store(&step_ready, ++step);
    CHECK(select((sv[0] > other[0] ? sv[0] : other[0]) + 1, &rd, NULL, NULL, &tv) == 1 && FD_ISSET(sv[0], &rd) &&
          !FD_ISSET(other[0], &rd));
    CHECK(read(sv[0], &c, 1) == 1);

    atomic_store(&step_ready, ++step);
    CHECK(read(sv[0], &c, 1) == 1 && c == 'w');

    atomic_store(&step_ready, ++step);
    CHECK(recv(sv[0], &c, 1, 0) == 1 && c == 'w');
    printf("pinned waits: every one ended with its byte\n");

    /* Timeouts: nothing comes. */
    double t0 = now_ms();
    CHECK(epoll_wait(ep, &ev, 1, 40) == 0);
    double t1 = now_ms();
    CHECK(poll(pf, 2, 40) == 0);
    double t2 = now_ms();
    struct timeval rt = {0, 40000};
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt) == 0);
    CHECK(recv(sv[0], &c, 1, 0) == -1 && errno == EAGAIN);
    double t3 = now_ms();
    printf("timeouts: epoll_wait %s, poll %s, SO_RCVTIMEO %s\n", t1 - t0 >= 39 ? "waited" : "early",
           t2 - t1 >= 39 ? "waited" : "early", t3 - t2 >= 39 ? "waited" : "early");
    close(ep);
    close(sv[0]);
    close(sv[1]);
    close(other[0]);
    close(other[1]);
    return NULL;
}

/* ------------------------------------------------ a pinned event loop */

static int loop_sv[2];

static void *pinned_loop(void *arg)
{
    (void)arg;
    pin_to_one_cpu();
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = loop_sv[0]};
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, loop_sv[0], &ev) == 0);
    long served = 0;
    unsigned expect = 0;
    while (served < PINGS) {
        int n = epoll_wait(ep, &ev, 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n == 1);
        unsigned v;
        CHECK(read(loop_sv[0], &v, sizeof v) == sizeof v && v == expect);
        v = ~v;
        CHECK(write(loop_sv[0], &v, sizeof v) == sizeof v);
        expect++;
        served++;
    }
    close(ep);
    return (void *)served;
}

/* ------------------------------------------------ signals and cancellation */

static volatile sig_atomic_t handled;
static void on_usr1(int s) { (void)s; handled++; }

static int sig_pipe[2];
static _Atomic int sig_phase;

static void *pinned_reader(void *arg)
{
    (void)arg;
    pin_to_one_cpu();
    atomic_store(&pinned_tid, (pid_t)syscall(SYS_gettid));
    char c;
    atomic_store(&sig_phase, 1);
    ssize_t r = read(sig_pipe[0], &c, 1); /* SA_RESTART: goes on after the handler */
    CHECK(r == 1 && c == 'a');
    atomic_store(&sig_phase, 2);
    r = read(sig_pipe[0], &c, 1); /* no SA_RESTART: EINTR */
    int e = errno;
    printf("read with SA_RESTART: got its byte; without: %s\n", r == -1 && e == EINTR ? "EINTR" : "something else");
    return NULL;
}

static _Atomic int cleanups;
static void cleanup(void *a) { (void)a; atomic_fetch_add(&cleanups, 1); }

static int cancel_pipe[2];

static void *pinned_blocked(void *arg)
{
    int use_epoll = (int)(long)arg;
    pin_to_one_cpu();
    atomic_store(&pinned_tid, (pid_t)syscall(SYS_gettid));
    pthread_cleanup_push(cleanup, NULL);
    if (use_epoll) {
        int ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = cancel_pipe[0]};
        CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, cancel_pipe[0], &ev) == 0);
        epoll_wait(ep, &ev, 1, -1);
    } else {
        char c;
        read(cancel_pipe[0], &c, 1);
    }
    printf("FAIL: the blocked call returned\n");
    pthread_cleanup_pop(0);
    return NULL;
}

static _Atomic int stop_loops;

static void *pinned_busy_loop(void *arg)
{
    pin_to_one_cpu_from((int)(long)arg); /* one on the first CPU, one on the last */
    double give_up = now_ms() + 10000;
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = sv[0]};
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0);
    long loops = 0;
    while (!atomic_load(&stop_loops) && now_ms() < give_up) {
        CHECK(epoll_wait(ep, &ev, 1, 1000) == 1 && (ev.events & EPOLLOUT));
        loops++;
    }
    close(ep);
    close(sv[0]);
    close(sv[1]);
    return (void *)loops;
}

static void wait_asleep(void)
{
    const char *how = how_it_waits();
    CHECK(strcmp(how, "never seen asleep") != 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);

    /* the pinned thread's waits, seen from a checker */
    pthread_t t, c;
    CHECK(pthread_create(&t, NULL, pinned_waits, NULL) == 0);
    CHECK(pthread_create(&c, NULL, checker, (void *)steps) == 0);
    CHECK(pthread_join(c, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);

    /* a pinned event loop serving an unpinned client */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, loop_sv) == 0);
    CHECK(pthread_create(&t, NULL, pinned_loop, NULL) == 0);
    for (unsigned i = 0; i < PINGS; i++) {
        unsigned v;
        CHECK(write(loop_sv[1], &i, sizeof i) == sizeof i);
        CHECK(read(loop_sv[1], &v, sizeof v) == sizeof v && v == ~i);
    }
    void *served;
    CHECK(pthread_join(t, &served) == 0);
    printf("event loop: %ld of %d pings answered in order\n", (long)served, PINGS);
    close(loop_sv[0]);
    close(loop_sv[1]);

    /* signals: with SA_RESTART, then without */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    CHECK(pipe(sig_pipe) == 0);
    CHECK(pthread_create(&t, NULL, pinned_reader, NULL) == 0);
    while (atomic_load(&sig_phase) != 1)
        sleep_ms(1);
    wait_asleep();
    CHECK(pthread_kill(t, SIGUSR1) == 0);
    while (handled != 1)
        sleep_ms(1);
    sleep_ms(10);
    CHECK(write(sig_pipe[1], "a", 1) == 1);
    while (atomic_load(&sig_phase) != 2)
        sleep_ms(1);
    wait_asleep();
    sa.sa_flags = 0;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    CHECK(pthread_kill(t, SIGUSR1) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("handler ran %d times\n", (int)handled);

    /* cancellation in read and in epoll_wait */
    CHECK(pipe(cancel_pipe) == 0);
    for (long use_epoll = 0; use_epoll < 2; use_epoll++) {
        atomic_store(&pinned_tid, 0);
        CHECK(pthread_create(&t, NULL, pinned_blocked, (void *)use_epoll) == 0);
        while (atomic_load(&pinned_tid) == 0)
            sleep_ms(1);
        wait_asleep();
        CHECK(pthread_cancel(t) == 0);
        void *res;
        CHECK(pthread_join(t, &res) == 0);
        printf("cancelled in %s: %s, cleanups %d\n", use_epoll ? "epoll_wait" : "read",
               res == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "not cancelled", atomic_load(&cleanups));
    }

    /* pinned threads whose waits all return at once */
    pthread_t busy[2];
    for (long i = 0; i < 2; i++)
        CHECK(pthread_create(&busy[i], NULL, pinned_busy_loop, (void *)i) == 0);
    double slept = 0;
    for (int i = 0; i < 3; i++) {
        double s0 = now_ms();
        sleep_ms(20);
        if (now_ms() - s0 > slept)
            slept = now_ms() - s0;
    }
    atomic_store(&stop_loops, 1);
    long total = 0;
    for (int i = 0; i < 2; i++) {
        void *loops;
        CHECK(pthread_join(busy[i], &loops) == 0);
        total += (long)loops;
    }
    printf("main's 20 ms sleeps beside two looping pinned threads: %s; they looped: %s\n",
           slept < 2000 ? "ended in time" : "late", total > 0 ? "yes" : "no");
    return 0;
}
