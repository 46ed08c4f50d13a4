/* exit_paths: how a process with live threads ends. argv[1] is one of
 *   return             main returns while other threads block or sleep:
 *                      the process exits 0 and atexit handlers run once;
 *   exit_from_thread   a thread calls exit(3) while main is in pthread_join
 *                      and others run: status 3, the atexit handler once;
 *   quick_exit_from_thread  the same with quick_exit(4): status 4, only the
 *                      at_quick_exit handler;
 *   _exit_from_thread  the same with _exit(5): status 5, no handler;
 *   pthread_exit_main  main calls pthread_exit(7) with two cleanup handlers
 *                      pushed (they run, innermost first): the other threads keep
 *                      running, one joins main and gets 7, they print in a
 *                      fixed order, and the process exits 0 when the last
 *                      thread ends, running the atexit handler once. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define BLOCKERS 4
#define SLEEPERS 2
#define WORKERS  3

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int started, main_exiting, turn;
static pthread_t main_thread;
static int atexit_runs;

static void at_exit(void)
{
    atexit_runs++;
    printf("atexit handler: run %d\n", atexit_runs);
}

static void arrived(void)
{
    pthread_mutex_lock(&lock);
    started++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void wait_started(int n)
{
    pthread_mutex_lock(&lock);
    while (started < n)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

/* Blocks for ever on a condition variable nobody signals for it. */
static void *blocker(void *arg)
{
    (void)arg;
    static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&lock);
    started++;
    pthread_cond_broadcast(&cond);
    for (;;)
        pthread_cond_wait(&never, &lock);
    return NULL;
}

/* Sleeps for ever in short naps. */
static void *sleeper(void *arg)
{
    (void)arg;
    arrived();
    for (;;)
        usleep(1000);
    return NULL;
}

static void *exiter(void *arg)
{
    (void)arg;
    wait_started(BLOCKERS + SLEEPERS);
    printf("thread: calling exit(3)\n");
    exit(3);
}

/* quick_exit runs the at_quick_exit handlers, not the atexit ones; _exit runs neither. */
static void at_quick(void)
{
    printf("at_quick_exit handler\n");
    fflush(stdout);
}

static void *quick_exiter(void *arg)
{
    (void)arg;
    wait_started(BLOCKERS + SLEEPERS);
    quick_exit(4);
}

static void *hard_exiter(void *arg)
{
    (void)arg;
    wait_started(BLOCKERS + SLEEPERS);
    _exit(5);
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    pthread_mutex_lock(&lock);
    while (!main_exiting)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    if (id == 0) {
        void *ret;
        CHECK0(pthread_join(main_thread, &ret));   /* main has really gone */
        printf("worker 0: joined main, which returned %ld\n", (long)(intptr_t)ret);
    }
    pthread_mutex_lock(&lock);
    while (turn != id)
        pthread_cond_wait(&cond, &lock);
    usleep(1000);
    printf("worker %d: finishing after main's pthread_exit\n", id);
    fflush(stdout);
    turn++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* pthread_exit in main unwinds main's stack: its cleanup handlers run, innermost first. */
static void main_cleanup(void *what)
{
    printf("main: cleanup handler %s\n", (const char *)what);
    fflush(stdout);
}

static void start_background(void)
{
    pthread_t t;
    for (int i = 0; i < BLOCKERS; i++)
        CHECK0(pthread_create(&t, NULL, blocker, NULL));
    for (int i = 0; i < SLEEPERS; i++)
        CHECK0(pthread_create(&t, NULL, sleeper, NULL));
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "return";
    main_thread = pthread_self();
    CHECK(atexit(at_exit) == 0);

    if (strcmp(mode, "return") == 0) {
        start_background();
        wait_started(BLOCKERS + SLEEPERS);
        printf("main: %d threads blocked, %d sleeping; returning 0\n", BLOCKERS, SLEEPERS);
        return 0;
    }
    if (strcmp(mode, "exit_from_thread") == 0) {
        start_background();
        /* Flush before the exiting thread exists: exit() flushes stdio
         * without taking the stream locks, so a concurrent fflush in main
         * could write the buffer twice. */
        printf("main: joining the thread that calls exit\n");
        fflush(stdout);
        pthread_t t;
        CHECK0(pthread_create(&t, NULL, exiter, NULL));
        pthread_join(t, NULL);
        printf("FAIL: pthread_join returned\n");
        return 1;
    }
    if (strcmp(mode, "quick_exit_from_thread") == 0 || strcmp(mode, "_exit_from_thread") == 0) {
        start_background();
        CHECK(at_quick_exit(at_quick) == 0);
        printf("main: a thread ends the process with %s\n", mode[0] == 'q' ? "quick_exit(4)" : "_exit(5)");
        fflush(stdout);
        pthread_t t;
        CHECK0(pthread_create(&t, NULL, mode[0] == 'q' ? quick_exiter : hard_exiter, NULL));
        pthread_join(t, NULL);
        printf("FAIL: pthread_join returned\n");
        return 1;
    }
    if (strcmp(mode, "pthread_exit_main") == 0) {
        pthread_t t;
        for (int i = 0; i < WORKERS; i++)
            CHECK0(pthread_create(&t, NULL, worker, (void *)(intptr_t)i));
        printf("main: calling pthread_exit(7) with %d workers waiting\n", WORKERS);
        fflush(stdout);
        pthread_cleanup_push(main_cleanup, "outer");
        pthread_cleanup_push(main_cleanup, "inner");
        pthread_mutex_lock(&lock);
        main_exiting = 1;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
        pthread_exit((void *)7);
        pthread_cleanup_pop(0);
        pthread_cleanup_pop(0);
    }
    fprintf(stderr, "usage: exit_paths return|exit_from_thread|quick_exit_from_thread|_exit_from_thread|pthread_exit_main\n");
    return 2;
}
