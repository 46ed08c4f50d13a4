/* locked_blocking: a thread pinned to one CPU (under gmp: locked to its
 * kernel thread) blocks in every kind of call, before any other thread
 * exists and after.
 *
 * Each round: the calling thread sets its CPU affinity to one CPU it may
 * use, then reads a pipe and a socketpair that a forked child writes to
 * 50 ms later, polls a pipe the same way, sleeps 20 ms, and lets a
 * semaphore wait time out after 20 ms.  Round 1 runs in main before any
 * pthread_create; round 2 in a new thread while main waits in join;
 * round 3 in main again, with another thread blocked in a read.  Prints
 * one line per step; natively and under gmp the output is the same. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pin_cpu.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, #c, strerror(errno)); \
    fflush(stdout); exit(1); } } while (0)

static void pin_to_one_cpu(void) { pin_to_one_cpu_from(0); }

/* A child that writes one byte to fd after 50 ms. */
static pid_t writer_child(int fd)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
        _exit(write(fd, "x", 1) == 1 ? 0 : 1);
    }
    return pid;
}

static void reap(pid_t pid)
{
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void round_of_calls(const char *who)
{
    pin_to_one_cpu();
    char c = 0;

    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = writer_child(p[1]);
    CHECK(read(p[0], &c, 1) == 1 && c == 'x');
    reap(pid);
    printf("%s: pipe read\n", who);

    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    pid = writer_child(sv[1]);
    CHECK(recv(sv[0], &c, 1, 0) == 1 && c == 'x');
    reap(pid);
    printf("%s: socket read\n", who);

    pid = writer_child(p[1]);
    struct pollfd pf = {p[0], POLLIN, 0};
    CHECK(poll(&pf, 1, 5000) == 1 && (pf.revents & POLLIN));
    CHECK(read(p[0], &c, 1) == 1);
    reap(pid);
    printf("%s: poll\n", who);

    struct timespec ts = {0, 20000000};
    CHECK(nanosleep(&ts, NULL) == 0);
    printf("%s: sleep\n", who);

    sem_t s;
    CHECK(sem_init(&s, 0, 0) == 0);
    struct timespec dl;
    CHECK(clock_gettime(CLOCK_REALTIME, &dl) == 0);
    dl.tv_nsec += 20000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    CHECK(sem_timedwait(&s, &dl) == -1 && errno == ETIMEDOUT);
    printf("%s: timed wait\n", who);

    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

static void *pinned_thread(void *arg)
{
    (void)arg;
    round_of_calls("thread");
    return NULL;
}

static int bg_pipe[2];

static void *background_reader(void *arg)
{
    (void)arg;
    char c;
    CHECK(read(bg_pipe[0], &c, 1) == 1);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    round_of_calls("main before threads");

    pthread_t t;
    CHECK(pthread_create(&t, NULL, pinned_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);

    CHECK(pipe(bg_pipe) == 0);
    CHECK(pthread_create(&t, NULL, background_reader, NULL) == 0);
    round_of_calls("main with a reader");
    CHECK(write(bg_pipe[1], "y", 1) == 1);
    CHECK(pthread_join(t, NULL) == 0);
    printf("done\n");
    return 0;
}
