/* cancel: deferred cancellation. A thread is cancelled while blocked in a
 * cancellation point (pthread_cond_wait, nanosleep, read on a pipe,
 * pthread_join, sem_wait, read on a FIFO, accept, select, epoll_wait, and
 * calls that block in the kernel: pause, sigsuspend, waitpid, poll, sigwait,
 * open of a FIFO without a writer, read of a terminal, whose cleanup handler
 * sleeps); its cleanup handlers run in reverse order (the
 * condvar one with the mutex re-acquired), key destructors run, and
 * pthread_join returns PTHREAD_CANCELED. Cancellation disabled stays pending
 * until re-enabled and pthread_testcancel, or a recv with MSG_DONTWAIT
 * (a cancellation point even when it cannot wait); pthread_exit runs cleanup
 * handlers; cleanup_pop(1) runs one; cancelling a finished thread is 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;      /* never signalled */
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int ready;                  /* thread -> main */
static int go;                     /* main -> thread */
static char trail[256];            /* cleanup handlers append here */
static pthread_key_t key;
static int key_dtor_calls;

static void note(const char *s)
{
    strncat(trail, s, sizeof trail - strlen(trail) - 1);
}

static void set_ready(void)
{
    pthread_mutex_lock(&ready_lock);
    ready = 1;
    pthread_cond_broadcast(&ready_cond);
    pthread_mutex_unlock(&ready_lock);
}

static void wait_ready(void)
{
    pthread_mutex_lock(&ready_lock);
    while (!ready)
        pthread_cond_wait(&ready_cond, &ready_lock);
    ready = 0;
    pthread_mutex_unlock(&ready_lock);
}

static void set_go(void)
{
    pthread_mutex_lock(&ready_lock);
    go = 1;
    pthread_cond_broadcast(&ready_cond);
    pthread_mutex_unlock(&ready_lock);
}

static void wait_go(void)
{
    pthread_mutex_lock(&ready_lock);
    while (!go)
        pthread_cond_wait(&ready_cond, &ready_lock);
    go = 0;
    pthread_mutex_unlock(&ready_lock);
}

static void cleanup_unlock(void *arg)
{
    /* pthread_cond_wait re-acquires the mutex before cleanup handlers run. */
    CHECK(pthread_mutex_trylock(&m) == EBUSY);
    note("unlock ");
    pthread_mutex_unlock(arg);
}

static void cleanup_note(void *arg) { note(arg); }
static void key_dtor(void *v) { (void)v; key_dtor_calls++; }

static void *in_cond_wait(void *arg)
{
    (void)arg;
    CHECK0(pthread_setspecific(key, (void *)1));
    pthread_cleanup_push(cleanup_note, "outer ");
    pthread_mutex_lock(&m);
    pthread_cleanup_push(cleanup_unlock, &m);
    set_ready();
    for (;;)
        pthread_cond_wait(&c, &m);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *in_sleep(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup_note, "sleep ");
    set_ready();
    for (;;) {
        struct timespec ts = { 10, 0 };
        nanosleep(&ts, NULL);
    }
    pthread_cleanup_pop(0);
    return NULL;
}

static int pipefd[2];
static void *in_read(void *arg)
{
    (void)arg;
    char b;
    pthread_cleanup_push(cleanup_note, "read ");
    set_ready();
    for (;;)
        if (read(pipefd[0], &b, 1) == 0)
            break;
    pthread_cleanup_pop(0);
    return NULL;
}

/* Calls that block in the kernel under gmp too (hand-off): cancelled by the
 * signal glibc's protocol sends; the cleanup handler then sleeps (parks). */
static void cleanup_sleep_note(void *what)
{
    usleep(100);
    cleanup_note(what);
}

static void *in_pause(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup_sleep_note, "pause ");
    set_ready();
    for (;;)
        pause();
    pthread_cleanup_pop(0);
    return NULL;
}

static pid_t sleeper_child;
static void *in_waitpid(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup_sleep_note, "waitpid ");
    set_ready();
    for (;;)
        waitpid(sleeper_child, NULL, 0);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *in_poll(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup_sleep_note, "poll ");
    set_ready();
    struct pollfd p = { pipefd[0], POLLIN, 0 };
    for (;;)
        poll(&p, 1, -1);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *in_sigwait(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);            /* blocked everywhere, never sent */
    pthread_cleanup_push(cleanup_sleep_note, "sigwait ");
    set_ready();
    int sig;
    for (;;)
        sigwait(&s, &sig);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *in_sigsuspend(void *arg)
{
    (void)arg;
    sigset_t none;
    sigemptyset(&none);
    sigaddset(&none, SIGUSR2);         /* still blocked while suspended; never sent */
    pthread_cleanup_push(cleanup_sleep_note, "sigsuspend ");
    set_ready();
    for (;;)
        sigsuspend(&none);
    pthread_cleanup_pop(0);
    return NULL;
}

static char fifo_path[64];
static void *in_fifo_open(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup_sleep_note, "open ");
    set_ready();
    for (;;)
        open(fifo_path, O_RDONLY);     /* no writer ever: blocks in the kernel */
    pthread_cleanup_pop(0);
    return NULL;
}

static int fifo_rw;
static void *in_fifo_read(void *arg)
{
    (void)arg;
    char b;
    pthread_cleanup_push(cleanup_note, "fifo-read ");
    set_ready();
    for (;;)
        read(fifo_rw, &b, 1);
    pthread_cleanup_pop(0);
    return NULL;
}

static int tty;
static void *in_tty_read(void *arg)
{
    (void)arg;
    char b;
    pthread_cleanup_push(cleanup_sleep_note, "tty-read ");
    set_ready();
    for (;;)
        read(tty, &b, 1);              /* a terminal nobody types on */
    pthread_cleanup_pop(0);
    return NULL;
}

static int listener;
static void *in_accept(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup_note, "accept ");
    set_ready();
    for (;;)
        accept(listener, NULL, NULL);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *in_select(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup_note, "select ");
    set_ready();
    for (;;) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(pipefd[0], &r);
        select(pipefd[0] + 1, &r, NULL, NULL, NULL);
    }
    pthread_cleanup_pop(0);
    return NULL;
}

static int ep;
static void *in_epoll_wait(void *arg)
{
    (void)arg;
    struct epoll_event ev;
    pthread_cleanup_push(cleanup_note, "epoll_wait ");
    set_ready();
    for (;;)
        epoll_wait(ep, &ev, 1, -1);
    pthread_cleanup_pop(0);
    return NULL;
}

static pthread_t never_ending;
static void *in_join(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup_note, "join ");
    set_ready();
    pthread_join(never_ending, NULL);
    pthread_cleanup_pop(0);
    return NULL;
}

static sem_t sem;
static void *in_sem_wait(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup_note, "sem ");
    set_ready();
    for (;;)
        sem_wait(&sem);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *disabled(void *arg)
{
    (void)arg;
    int old;
    CHECK0(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old));
    CHECK(old == PTHREAD_CANCEL_ENABLE);
    pthread_cleanup_push(cleanup_note, "disabled ");
    set_ready();
    wait_go();                         /* main has called pthread_cancel */
    usleep(1000);                      /* a cancellation point, but disabled */
    note("survived ");
    CHECK0(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old));
    CHECK(old == PTHREAD_CANCEL_DISABLE);
    pthread_testcancel();
    note("NOT-REACHED ");
    pthread_cleanup_pop(0);
    return NULL;
}

static int dw_sv[2]; /* an empty socketpair, blocking */
static void *pending_recv(void *arg)
{
    (void)arg;
    int old;
    CHECK0(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old));
    pthread_cleanup_push(cleanup_note, "recv ");
    set_ready();
    wait_go();                         /* main has called pthread_cancel */
    CHECK0(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old)); /* not a cancellation point */
    char b;
    recv(dw_sv[0], &b, 1, MSG_DONTWAIT);
    note("NOT-REACHED ");
    pthread_cleanup_pop(0);
    return NULL;
}

static void *exits(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup_note, "first ");
    pthread_cleanup_push(cleanup_note, "popped ");
    pthread_cleanup_pop(1);
    pthread_cleanup_push(cleanup_note, "second ");
    pthread_exit((void *)5);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *returns(void *arg) { return arg; }

static void *forever(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static void run(const char *name, void *(*fn)(void *))
{
    pthread_t t;
    void *ret;
    trail[0] = '\0';
    CHECK0(pthread_create(&t, NULL, fn, NULL));
    wait_ready();
    CHECK0(pthread_cancel(t));
    if (fn == disabled || fn == pending_recv)
        set_go();
    CHECK0(pthread_join(t, &ret));
    printf("cancel in %s: %s, cleanup: %s\n", name,
           ret == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "not cancelled", trail);
    CHECK(ret == PTHREAD_CANCELED);
}

int main(void)
{
    CHECK0(pthread_key_create(&key, key_dtor));
    CHECK(pipe(pipefd) == 0);
    CHECK(sem_init(&sem, 0, 0) == 0);
    CHECK0(pthread_create(&never_ending, NULL, forever, NULL));

    run("pthread_cond_wait", in_cond_wait);
    CHECK(strcmp(trail, "unlock outer ") == 0);
    CHECK0(pthread_mutex_trylock(&m));          /* the handler released it */
    CHECK0(pthread_mutex_unlock(&m));
    CHECK(key_dtor_calls == 1);
    printf("key destructor after cancellation: %d call\n", key_dtor_calls);
    run("nanosleep", in_sleep);
    run("read", in_read);
    run("pthread_join", in_join);
    run("sem_wait", in_sem_wait);
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    CHECK0(pthread_sigmask(SIG_BLOCK, &usr2, NULL)); /* inherited by the threads below */
    sleeper_child = fork();
    if (sleeper_child == 0) {
        pause();                       /* until killed */
        _exit(0);
    }
    run("pause", in_pause);
    run("waitpid", in_waitpid);
    run("poll", in_poll);
    run("sigwait", in_sigwait);
    run("sigsuspend", in_sigsuspend);
    snprintf(fifo_path, sizeof fifo_path, "/tmp/gmp-cancel-fifo.%d", (int)getpid());
    unlink(fifo_path);
    CHECK(mkfifo(fifo_path, 0600) == 0);
    run("open of a FIFO", in_fifo_open);
    CHECK((fifo_rw = open(fifo_path, O_RDWR)) >= 0); /* a reader and a writer: opens at once */
    run("read of a FIFO", in_fifo_read);
    close(fifo_rw);
    unlink(fifo_path);
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    CHECK(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
    CHECK((tty = open(ptsname(master), O_RDWR | O_NOCTTY)) >= 0);
    run("read of a terminal", in_tty_read);
    close(tty);
    close(master);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    CHECK((listener = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    CHECK(bind(listener, (struct sockaddr *)&a, sizeof a) == 0 && listen(listener, 4) == 0);
    run("accept", in_accept);
    close(listener);
    run("select", in_select);
    CHECK((ep = epoll_create1(0)) >= 0);
    struct epoll_event ev = { .events = EPOLLIN };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev) == 0);
    run("epoll_wait", in_epoll_wait);
    close(ep);
    kill(sleeper_child, SIGKILL);
    waitpid(sleeper_child, NULL, 0);
    run("disabled then testcancel", disabled);
    CHECK(strcmp(trail, "survived disabled ") == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, dw_sv) == 0);
    run("recv with MSG_DONTWAIT, pending", pending_recv);
    CHECK(strcmp(trail, "recv ") == 0);
    close(dw_sv[0]);
    close(dw_sv[1]);

    pthread_t t;
    void *ret;
    trail[0] = '\0';
    CHECK0(pthread_create(&t, NULL, exits, NULL));
    CHECK0(pthread_join(t, &ret));
    printf("pthread_exit(5): returned %ld, cleanup: %s\n", (long)(intptr_t)ret, trail);
    CHECK(ret == (void *)5 && strcmp(trail, "popped second first ") == 0);

    CHECK0(pthread_create(&t, NULL, returns, (void *)9));
    usleep(10000);
    CHECK0(pthread_cancel(t));                  /* finished or not: 0 */
    CHECK0(pthread_join(t, &ret));
    printf("cancel of a thread that returns without a cancellation point: ok\n");
    CHECK(ret == (void *)9);
    printf("ok\n");
    return 0;
}
