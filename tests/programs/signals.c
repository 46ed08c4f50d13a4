/* signals: signals aimed at threads.
 *  - pthread_kill runs the handler on the target thread (seen through a
 *    __thread flag) and interrupts its sigsuspend / ppoll with EINTR; the
 *    signal is unblocked only inside the wait, so this is deterministic;
 *  - signal masks are per thread and inherited by threads a thread creates;
 *  - sigwait / sigwaitinfo in one thread receive a signal sent with
 *    pthread_kill, pthread_sigqueue (with its value) and kill(getpid())
 *    while every other thread blocks it;
 *  - raise() in a thread runs the handler on that thread;
 *  - pthread_kill(t, 0) on a live thread is 0;
 *  - SIGSYS (gmp's kernel handler while it traps waits) keeps the program's
 *    actions: its handler runs, SIG_IGN ignores, SIG_DFL ends the process. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

static __thread volatile sig_atomic_t got_usr1;
static volatile sig_atomic_t handler_runs;

static void on_usr1(int sig)
{
    (void)sig;
    got_usr1++;
    handler_runs++;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int ready;

static void set_ready(void)
{
    pthread_mutex_lock(&lock);
    ready = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void wait_ready(void)
{
    pthread_mutex_lock(&lock);
    while (!ready)
        pthread_cond_wait(&cond, &lock);
    ready = 0;
    pthread_mutex_unlock(&lock);
}

/* SIGUSR1 and SIGUSR2 are blocked in every thread (main blocks them before
 * creating any); a waiter unblocks SIGUSR1 only atomically inside its wait. */
static sigset_t usr_both;

static void *suspender(void *arg)
{
    (void)arg;
    sigset_t during;
    CHECK0(pthread_sigmask(SIG_BLOCK, NULL, &during));
    CHECK(sigismember(&during, SIGUSR1));
    sigdelset(&during, SIGUSR1);
    set_ready();
    int r = sigsuspend(&during);
    CHECK(r == -1 && errno == EINTR);
    return (void *)(intptr_t)got_usr1;
}

static void *ppoller(void *arg)
{
    (void)arg;
    sigset_t during;
    CHECK0(pthread_sigmask(SIG_BLOCK, NULL, &during));
    sigdelset(&during, SIGUSR1);
    int fds[2];
    CHECK(pipe(fds) == 0);
    struct pollfd p = { .fd = fds[0], .events = POLLIN };
    struct timespec ts = { 30, 0 };
    set_ready();
    int r = ppoll(&p, 1, &ts, &during);
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    CHECK(r == -1 && e == EINTR);
    return (void *)(intptr_t)got_usr1;
}

static void *mask_child(void *arg)
{
    (void)arg;
    sigset_t now;
    CHECK0(pthread_sigmask(SIG_BLOCK, NULL, &now));
    return (void *)(intptr_t)(sigismember(&now, SIGTERM) == 1);
}

static void *mask_parent(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    CHECK0(pthread_sigmask(SIG_BLOCK, &s, NULL));
    pthread_t t;
    void *ret;
    CHECK0(pthread_create(&t, NULL, mask_child, NULL));
    CHECK0(pthread_join(t, &ret));
    return ret;
}

static void *waiter(void *arg)
{
    (void)arg;
    int results = 0, sig;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    set_ready();
    CHECK0(sigwait(&s, &sig));               /* pthread_kill */
    results += sig == SIGUSR2;
    set_ready();
    siginfo_t si;
    CHECK(sigwaitinfo(&s, &si) == SIGUSR2);  /* pthread_sigqueue */
    results += si.si_code == SI_QUEUE && si.si_value.sival_int == 4321;
    set_ready();
    CHECK0(sigwait(&s, &sig));               /* kill(getpid()) */
    results += sig == SIGUSR2;
    return (void *)(intptr_t)results;
}

static void *raiser(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    CHECK0(pthread_sigmask(SIG_UNBLOCK, &s, NULL));
    CHECK(raise(SIGUSR1) == 0);              /* delivered before raise returns */
    return (void *)(intptr_t)got_usr1;
}

/* A new thread's pending set is empty: what its creator raised while blocking it stays the creator's. */
static void *pending_child(void *arg)
{
    (void)arg;
    sigset_t p;
    CHECK(sigpending(&p) == 0);
    return (void *)(intptr_t)sigismember(&p, SIGUSR1);
}

static void raise_blocked_then_create(void)
{
    sigset_t p;
    pthread_t t;
    void *ret;
    int runs = handler_runs;
    CHECK(raise(SIGUSR1) == 0);              /* main blocks SIGUSR1: pending for main */
    CHECK(sigpending(&p) == 0);
    int mine = sigismember(&p, SIGUSR1);
    CHECK0(pthread_create(&t, NULL, pending_child, NULL));
    CHECK0(pthread_join(t, &ret));
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    CHECK0(pthread_sigmask(SIG_UNBLOCK, &s, NULL)); /* runs the handler here, before it returns */
    int ran = handler_runs - runs;
    CHECK0(pthread_sigmask(SIG_BLOCK, &s, NULL));
    printf("raise while blocked: pending in main %d, in a new thread %ld, handler ran %d time(s) at unblock\n",
           mine, (long)(intptr_t)ret, ran);
    CHECK(mine == 1 && ret == (void *)0 && ran == 1);
    got_usr1 = 0;
    handler_runs = 0;
}

/* Real-time signals queue: every pthread_sigqueue value arrives, in order, once unblocked. */
static int rt_values[8], n_rt_values;
static sem_t rt_go;

static void on_rt(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (n_rt_values < 8)
        rt_values[n_rt_values++] = si->si_value.sival_int;
}

static void *rt_receiver(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN);
    CHECK0(pthread_sigmask(SIG_BLOCK, &s, NULL));
    set_ready();
    while (sem_wait(&rt_go) != 0) /* parked while the values are queued */
        ;
    CHECK0(pthread_sigmask(SIG_UNBLOCK, &s, NULL)); /* all of them run here */
    return NULL;
}

static void rt_queue(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_rt;
    sa.sa_flags = SA_SIGINFO;
    CHECK(sigaction(SIGRTMIN, &sa, NULL) == 0);
    sem_init(&rt_go, 0, 0);
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, rt_receiver, NULL));
    wait_ready();
    for (int v = 1; v <= 5; v++) {
        union sigval val = {.sival_int = v * 11};
        CHECK0(pthread_sigqueue(t, SIGRTMIN, val));
    }
    sem_post(&rt_go);
    CHECK0(pthread_join(t, NULL));
    printf("5 queued real-time signals:");
    for (int i = 0; i < n_rt_values; i++)
        printf(" %d", rt_values[i]);
    printf("\n");
    CHECK(n_rt_values == 5);
}

/* SIGKILL and SIGSTOP cannot be blocked: a mask that names them never reports them. */
static void kill_stop_never_blocked(void)
{
    sigset_t s, cur;
    sigemptyset(&s);
    sigaddset(&s, SIGKILL);
    sigaddset(&s, SIGSTOP);
    sigaddset(&s, SIGUSR2);
    CHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0);
    CHECK(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0);
    printf("mask after blocking KILL, STOP, USR2: KILL %d STOP %d USR2 %d\n", sigismember(&cur, SIGKILL),
           sigismember(&cur, SIGSTOP), sigismember(&cur, SIGUSR2));
    CHECK(sigprocmask(SIG_SETMASK, &s, NULL) == 0);
    CHECK(sigprocmask(SIG_BLOCK, NULL, &cur) == 0);
    printf("sigprocmask(SETMASK) of the same: KILL %d STOP %d USR2 %d\n", sigismember(&cur, SIGKILL),
           sigismember(&cur, SIGSTOP), sigismember(&cur, SIGUSR2));
    CHECK(pthread_sigmask(SIG_UNBLOCK, &s, NULL) == 0);
}

static volatile sig_atomic_t sys_runs;
static void on_sys(int s) { (void)s; sys_runs++; }

static void sigsys_actions(void)
{
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        struct sigaction o;
        signal(SIGSYS, on_sys);
        raise(SIGSYS);
        sigaction(SIGSYS, NULL, &o);
        signal(SIGSYS, SIG_IGN);
        raise(SIGSYS);
        struct sigaction i;
        sigaction(SIGSYS, NULL, &i);
        printf("SIGSYS: handler ran %d time(s), reported %d; SIG_IGN reported %d\n", (int)sys_runs,
               o.sa_handler == on_sys, i.sa_handler == SIG_IGN);
        fflush(stdout);
        signal(SIGSYS, SIG_DFL);
        raise(SIGSYS);
        _exit(3);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    printf("SIGSYS with SIG_DFL: %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS ? "killed by it" : "survived");
}

int main(void)
{
    kill_stop_never_blocked();
    sigsys_actions();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;                 /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    sigemptyset(&usr_both);
    sigaddset(&usr_both, SIGUSR1);
    sigaddset(&usr_both, SIGUSR2);
    CHECK0(pthread_sigmask(SIG_BLOCK, &usr_both, NULL));
    raise_blocked_then_create();
    rt_queue();

    pthread_t t;
    void *ret;

    CHECK0(pthread_create(&t, NULL, suspender, NULL));
    wait_ready();
    CHECK0(pthread_kill(t, 0));
    CHECK0(pthread_kill(t, SIGUSR1));
    CHECK0(pthread_join(t, &ret));
    printf("sigsuspend: interrupted with EINTR, handler ran on the target thread %ld time(s)\n",
           (long)(intptr_t)ret);
    CHECK(ret == (void *)1);

    CHECK0(pthread_create(&t, NULL, ppoller, NULL));
    wait_ready();
    CHECK0(pthread_kill(t, SIGUSR1));
    CHECK0(pthread_join(t, &ret));
    printf("ppoll: interrupted with EINTR, handler ran on the target thread %ld time(s)\n",
           (long)(intptr_t)ret);
    CHECK(ret == (void *)1);
    CHECK(got_usr1 == 0);
    CHECK(handler_runs == 2);
    printf("main's own flag untouched, handler ran %d times in all\n", (int)handler_runs);

    CHECK0(pthread_create(&t, NULL, mask_parent, NULL));
    CHECK0(pthread_join(t, &ret));
    sigset_t now;
    CHECK0(pthread_sigmask(SIG_BLOCK, NULL, &now));
    printf("mask: child inherits its creator's blocked SIGTERM: %s; main's mask unchanged: %s\n",
           ret ? "yes" : "no", sigismember(&now, SIGTERM) ? "no" : "yes");
    CHECK(ret == (void *)1 && !sigismember(&now, SIGTERM));

    CHECK0(pthread_create(&t, NULL, waiter, NULL));
    wait_ready();
    CHECK0(pthread_kill(t, SIGUSR2));
    wait_ready();
    union sigval v = { .sival_int = 4321 };
    CHECK0(pthread_sigqueue(t, SIGUSR2, v));
    wait_ready();
    CHECK(kill(getpid(), SIGUSR2) == 0);
    CHECK0(pthread_join(t, &ret));
    printf("sigwait: %ld of 3 signals received (pthread_kill, pthread_sigqueue, kill)\n",
           (long)(intptr_t)ret);
    CHECK(ret == (void *)3);

    CHECK0(pthread_create(&t, NULL, raiser, NULL));
    CHECK0(pthread_join(t, &ret));
    printf("raise in a thread: handler ran on that thread %ld time(s)\n", (long)(intptr_t)ret);
    CHECK(ret == (void *)1);
    CHECK(got_usr1 == 0);
    printf("ok\n");
    return 0;
}
