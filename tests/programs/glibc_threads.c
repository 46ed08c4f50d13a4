/* Threads that glibc itself creates keep working beside the program's:
 * POSIX timers with SIGEV_THREAD (glibc's helper thread starts a thread per
 * expiry), POSIX AIO (glibc's aio worker threads), and getaddrinfo_a
 * (asynchronous name lookup in glibc's threads). Each notifies a waiting
 * program thread through a condvar or a semaphore. */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int fired;

static void on_timer(union sigval v)
{
    CHECK(v.sival_int == 7);
    CHECK(pthread_mutex_lock(&mu) == 0);
    fired++;
    CHECK(pthread_cond_broadcast(&cv) == 0);
    CHECK(pthread_mutex_unlock(&mu) == 0);
}

static void *timer_waiter(void *arg)
{
    (void)arg;
    timer_t tm;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = on_timer;
    ev.sigev_value.sival_int = 7;
    CHECK(timer_create(CLOCK_MONOTONIC, &ev, &tm) == 0);
    struct itimerspec its = {{0, 5 * 1000000}, {0, 5 * 1000000}};
    CHECK(timer_settime(tm, 0, &its, NULL) == 0);
    CHECK(pthread_mutex_lock(&mu) == 0);
    while (fired < 5)
        CHECK(pthread_cond_wait(&cv, &mu) == 0);
    CHECK(pthread_mutex_unlock(&mu) == 0);
    CHECK(timer_delete(tm) == 0);
    printf("SIGEV_THREAD timer fired at least 5 times\n");
    return NULL;
}

static sem_t aio_done;

static void on_aio(union sigval v)
{
    (void)v;
    CHECK(sem_post(&aio_done) == 0);
}

static void *aio_user(void *arg)
{
    (void)arg;
    char path[] = "/tmp/gmp-aio-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    static char data[65536], back[65536];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 131 + 7);
    struct aiocb w;
    memset(&w, 0, sizeof w);
    w.aio_fildes = fd;
    w.aio_buf = data;
    w.aio_nbytes = sizeof data;
    w.aio_sigevent.sigev_notify = SIGEV_THREAD;
    w.aio_sigevent.sigev_notify_function = on_aio;
    CHECK(aio_write(&w) == 0);
    CHECK(sem_wait(&aio_done) == 0);
    CHECK(aio_error(&w) == 0 && aio_return(&w) == (ssize_t)sizeof data);
    struct aiocb r;
    memset(&r, 0, sizeof r);
    r.aio_fildes = fd;
    r.aio_buf = back;
    r.aio_nbytes = sizeof back;
    r.aio_sigevent.sigev_notify = SIGEV_NONE;
    CHECK(aio_read(&r) == 0);
    const struct aiocb *list[1] = {&r};
    while (aio_error(&r) == EINPROGRESS)
        CHECK(aio_suspend(list, 1, NULL) == 0 || errno == EINTR);
    CHECK(aio_return(&r) == (ssize_t)sizeof back);
    printf("POSIX AIO: wrote and read back 64 KiB: %s\n", memcmp(data, back, sizeof data) == 0 ? "equal" : "DIFFERENT");
    close(fd);
    return NULL;
}

static void *lookup(void *arg)
{
    (void)arg;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    struct gaicb req = {.ar_name = "127.0.0.1", .ar_service = "80", .ar_request = &hints};
    struct gaicb *reqs[1] = {&req};
    CHECK(getaddrinfo_a(GAI_NOWAIT, reqs, 1, NULL) == 0);
    const struct gaicb *wait[1] = {&req};
    int r;
    while ((r = gai_error(&req)) == EAI_INPROGRESS)
        gai_suspend(wait, 1, NULL);
    printf("getaddrinfo_a: %s\n", r == 0 && req.ar_result ? "resolved" : gai_strerror(r));
    if (req.ar_result)
        freeaddrinfo(req.ar_result);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK(sem_init(&aio_done, 0, 0) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, timer_waiter, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(pthread_create(&t, NULL, aio_user, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(pthread_create(&t, NULL, lookup, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("ok\n");
    return 0;
}
