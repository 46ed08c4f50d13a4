/* Robust mutexes: EOWNERDEAD when the owner thread exits or the owner
 * process dies (also while the owner thread is blocked), ENOTRECOVERABLE when
 * nobody marks the state consistent, mutual exclusion under contention, and
 * threads that hold a robust mutex going on to use ordinary mutexes, condvars,
 * sleeps and thread creation. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)

static void robust_init(pthread_mutex_t *m, int pshared, int type)
{
    pthread_mutexattr_t a;
    CHECK(pthread_mutexattr_init(&a) == 0);
    CHECK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0);
    CHECK(pthread_mutexattr_settype(&a, type) == 0);
    if (pshared)
        CHECK(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0);
    CHECK(pthread_mutex_init(m, &a) == 0);
    CHECK(pthread_mutexattr_destroy(&a) == 0);
}

static const char *ename(int e)
{
    switch (e) {
    case 0: return "0";
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    case EBUSY: return "EBUSY";
    case EDEADLK: return "EDEADLK";
    case EPERM: return "EPERM";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EINVAL: return "EINVAL";
    default: return strerror(e);
    }
}

/* ---- the owner thread exits while holding the lock */

static pthread_mutex_t rm;

static void *lock_and_exit(void *arg)
{
    CHECK(pthread_mutex_lock(&rm) == 0);
    if (arg)
        pthread_exit(NULL);
    return NULL;
}

static void thread_exit_case(int type, int use_pthread_exit)
{
    robust_init(&rm, 0, type);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, lock_and_exit, use_pthread_exit ? &rm : NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    int r = pthread_mutex_lock(&rm);
    printf("thread exit (type %d%s): lock -> %s\n", type, use_pthread_exit ? ", pthread_exit" : "", ename(r));
    if (type == PTHREAD_MUTEX_ERRORCHECK)
        printf("  relock -> %s\n", ename(pthread_mutex_lock(&rm)));
    printf("  consistent -> %s\n", ename(pthread_mutex_consistent(&rm)));
    printf("  unlock -> %s\n", ename(pthread_mutex_unlock(&rm)));
    printf("  lock again -> %s\n", ename(pthread_mutex_lock(&rm)));
    printf("  unlock -> %s\n", ename(pthread_mutex_unlock(&rm)));
    printf("  destroy -> %s\n", ename(pthread_mutex_destroy(&rm)));
}

/* Nobody calls consistent: the mutex becomes unusable. */
static void not_recovered_case(void)
{
    robust_init(&rm, 0, PTHREAD_MUTEX_NORMAL);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, lock_and_exit, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("not recovered: lock -> %s\n", ename(pthread_mutex_lock(&rm)));
    printf("  unlock -> %s\n", ename(pthread_mutex_unlock(&rm)));
    printf("  lock -> %s\n", ename(pthread_mutex_lock(&rm)));
    printf("  trylock -> %s\n", ename(pthread_mutex_trylock(&rm)));
}

/* A waiter blocked in lock when the owner exits gets EOWNERDEAD. */
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;

static void *owner_waits_then_exits(void *arg)
{
    (void)arg;
    CHECK(pthread_mutex_lock(&rm) == 0);
    CHECK(pthread_mutex_lock(&gate) == 0);
    while (!gate_open)
        CHECK(pthread_cond_wait(&gate_cv, &gate) == 0);
    CHECK(pthread_mutex_unlock(&gate) == 0);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the waiter is blocked in lock by now */
    return NULL;
}

struct wait_arg {
    pthread_mutex_t *m;
    int r;
};

static void *waiter(void *arg)
{
    struct wait_arg *w = arg;
    int r = pthread_mutex_lock(w->m);
    w->r = r;
    if (r == EOWNERDEAD)
        CHECK(pthread_mutex_consistent(w->m) == 0);
    CHECK(pthread_mutex_unlock(w->m) == 0);
    return NULL;
}

static void blocked_waiter_case(void)
{
    robust_init(&rm, 0, PTHREAD_MUTEX_NORMAL);
    gate_open = 0;
    pthread_t o, w;
    struct wait_arg wa = {&rm, -1};
    CHECK(pthread_create(&o, NULL, owner_waits_then_exits, NULL) == 0);
    for (;;) { /* until the owner holds it */
        int r = pthread_mutex_trylock(&rm);
        if (r == EBUSY)
            break;
        CHECK(r == 0 && pthread_mutex_unlock(&rm) == 0);
        sched_yield();
    }
    CHECK(pthread_create(&w, NULL, waiter, &wa) == 0);
    CHECK(pthread_mutex_lock(&gate) == 0);
    gate_open = 1;
    CHECK(pthread_cond_signal(&gate_cv) == 0);
    CHECK(pthread_mutex_unlock(&gate) == 0);
    CHECK(pthread_join(o, NULL) == 0);
    CHECK(pthread_join(w, NULL) == 0);
    printf("blocked waiter: lock -> %s\n", ename(wa.r));
}

/* ---- contention: mutual exclusion, and the holders keep using the rest of the API */

#define NT 8
#define ITER 300
static long counter;
static int inside;
static pthread_mutex_t plain = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static pthread_cond_t plain_cv = PTHREAD_COND_INITIALIZER;
static long plain_count;

static void *child(void *arg)
{
    CHECK(pthread_mutex_lock(&plain) == 0);
    plain_count += (long)arg;
    CHECK(pthread_cond_broadcast(&plain_cv) == 0);
    CHECK(pthread_mutex_unlock(&plain) == 0);
    return NULL;
}

static void *contender(void *arg)
{
    long id = (long)arg;
    /* an ordinary errorcheck mutex held across the first robust lock */
    CHECK(pthread_mutex_lock(&plain) == 0);
    CHECK(pthread_mutex_lock(&rm) == 0);
    CHECK(pthread_mutex_unlock(&plain) == 0);
    CHECK(pthread_mutex_unlock(&rm) == 0);
    for (int i = 0; i < ITER; i++) {
        int r = (i % 3 == 0) ? pthread_mutex_trylock(&rm) : pthread_mutex_lock(&rm);
        if (r == EBUSY) {
            CHECK(pthread_mutex_lock(&rm) == 0);
        } else {
            CHECK(r == 0);
        }
        CHECK(inside == 0);
        inside = 1;
        counter++;
        if (i % 50 == 0) {
            struct timespec ts = {0, 100 * 1000};
            nanosleep(&ts, NULL); /* park while holding it */
        }
        inside = 0;
        CHECK(pthread_mutex_unlock(&rm) == 0);
        if (i % 100 == 0) {
            pthread_t t;
            CHECK(pthread_create(&t, NULL, child, (void *)1) == 0);
            CHECK(pthread_join(t, NULL) == 0);
            CHECK(pthread_mutex_lock(&plain) == 0);
            CHECK(pthread_mutex_lock(&plain) == EDEADLK);
            CHECK(pthread_mutex_unlock(&plain) == 0);
            CHECK(pthread_mutex_unlock(&plain) == EPERM);
        }
    }
    (void)id;
    return NULL;
}

static void contention_case(void)
{
    robust_init(&rm, 0, PTHREAD_MUTEX_NORMAL);
    pthread_t t[NT];
    for (long i = 0; i < NT; i++)
        CHECK(pthread_create(&t[i], NULL, contender, (void *)i) == 0);
    for (int i = 0; i < NT; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    printf("contention: counter %ld (want %d), children %ld\n", counter, NT * ITER, plain_count);
    printf("  trylock after -> %s\n", ename(pthread_mutex_trylock(&rm)));
    CHECK(pthread_mutex_unlock(&rm) == 0);
}

/* ---- the owner process dies */

struct shared {
    pthread_mutex_t m;
    volatile int held;
};

static struct shared *sh;

static void *hold_and_block(void *arg)
{
    CHECK(pthread_mutex_lock(&sh->m) == 0);
    sh->held = 1;
    int how = *(int *)arg;
    if (how == 1)
        _exit(0); /* process exits from the owner thread */
    for (;;) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL); /* parked while the process is killed */
    }
    return NULL;
}

static void process_death_case(int how)
{
    robust_init(&sh->m, 1, PTHREAD_MUTEX_NORMAL);
    sh->held = 0;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        static int h;
        h = how;
        pthread_t t;
        CHECK(pthread_create(&t, NULL, hold_and_block, &h) == 0);
        if (how == 2) {
            /* the main thread exits the process while the owner is parked */
            while (!sh->held) {
                struct timespec ts = {0, 1000 * 1000};
                nanosleep(&ts, NULL);
            }
            exit(0);
        }
        for (;;)
            pause();
    }
    while (!sh->held) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (how == 0)
        CHECK(kill(pid, SIGKILL) == 0);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    int r = pthread_mutex_lock(&sh->m);
    printf("process death (%s): lock -> %s\n",
           how == 0 ? "SIGKILL while the owner sleeps" : how == 1 ? "owner thread calls _exit" : "exit while the owner sleeps",
           ename(r));
    if (r == EOWNERDEAD)
        CHECK(pthread_mutex_consistent(&sh->m) == 0);
    CHECK(pthread_mutex_unlock(&sh->m) == 0);
    CHECK(pthread_mutex_destroy(&sh->m) == 0);
}

/* A waiter in the other process is blocked in lock when the owner process dies. */
static void process_death_waiter_case(void)
{
    robust_init(&sh->m, 1, PTHREAD_MUTEX_NORMAL);
    sh->held = 0;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        static int h = 0;
        pthread_t t;
        CHECK(pthread_create(&t, NULL, hold_and_block, &h) == 0);
        for (;;)
            pause();
    }
    while (!sh->held) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    struct wait_arg wa = {&sh->m, -1};
    pthread_t w;
    CHECK(pthread_create(&w, NULL, waiter, &wa) == 0);
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK(kill(pid, SIGKILL) == 0);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(pthread_join(w, NULL) == 0);
    printf("process death with a blocked waiter: lock -> %s\n", ename(wa.r));
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    thread_exit_case(PTHREAD_MUTEX_NORMAL, 0);
    thread_exit_case(PTHREAD_MUTEX_ERRORCHECK, 1);
    thread_exit_case(PTHREAD_MUTEX_RECURSIVE, 0);
    not_recovered_case();
    blocked_waiter_case();
    contention_case();

    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    for (int how = 0; how < 3; how++)
        process_death_case(how);
    process_death_waiter_case();
    printf("done\n");
    return 0;
}
