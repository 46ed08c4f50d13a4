/*
 * Fatal signals in a thread, run natively and under gmp (debug.sh compares
 * the exit status).  A named thread crashes in a function with a
 * distinctive name while another thread is parked; main joins the crasher.
 *   crash segv      NULL dereference in crash_null            -> SIGSEGV
 *   crash overflow  infinite recursion in recurse_forever     -> SIGSEGV
 *   crash abort     abort() in calls_abort                    -> SIGABRT
 *   crash handled   the thread's own SIGSEGV handler recovers with
 *                   siglongjmp: prints "recovered", exits 0
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static const char *mode;
static sigjmp_buf jb;
static int volatile *volatile nullp;

__attribute__((noinline)) static void *parked_forever(void *a)
{
    pthread_mutex_lock(&m);
    for (;;)
        pthread_cond_wait(&c, &m);
    return a;
}

__attribute__((noinline)) static void crash_null(void) { *nullp = 42; }

static volatile int never = -1; /* keeps the compiler from calling the recursion infinite */

__attribute__((noinline)) static int recurse_forever(int n)
{
    volatile char pad[256];
    pad[0] = (char)n;
    if (n == never)
        return 0;
    return recurse_forever(n + 1) + pad[0];
}

__attribute__((noinline)) static void calls_abort(void) { abort(); }

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(jb, 1);
}

__attribute__((noinline)) static void *crasher(void *a)
{
    pthread_setname_np(pthread_self(), "crasher");
    usleep(50000); /* main is in pthread_join by now */
    if (!strcmp(mode, "segv"))
        crash_null();
    else if (!strcmp(mode, "overflow"))
        recurse_forever(0);
    else if (!strcmp(mode, "abort"))
        calls_abort();
    else {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_segv;
        sigaction(SIGSEGV, &sa, NULL);
        if (sigsetjmp(jb, 1) == 0) {
            crash_null();
            printf("not reached\n");
        } else {
            printf("recovered\n");
        }
    }
    return a;
}

int main(int argc, char **argv)
{
    mode = argc > 1 ? argv[1] : "segv";
    pthread_t p, t;
    pthread_create(&p, NULL, parked_forever, NULL);
    pthread_setname_np(p, "parked");
    usleep(50000);
    pthread_create(&t, NULL, crasher, NULL);
    pthread_join(t, NULL);
    printf("done\n");
    fflush(stdout);
    _exit(0);
}
