/* io_poll_one: threads that wait with poll() on one fd before each read, as
 * a thread-per-connection server does (gmp parks such a poll on the fd's
 * own record: syscall-shims/poll.c, poll_one):
 *  - 16 streams (TCP, AF_UNIX stream sockets and pipes), each with a
 *    writer of random pieces at random pauses and two readers that poll
 *    with random timeouts (0 to 3 ms, some infinite) and then read
 *    without blocking: every byte arrives once, and both readers see the
 *    end (POLLIN or POLLHUP, then a read of 0);
 *  - a poll for POLLOUT on a full pipe ends when a reader makes room;
 *  - a poll with a timeout on a silent socket returns 0 after it.
 * Output is the same natively. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)
#define CHECKSYS(e) do { if ((e) < 0) { printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, \
    #e, strerror(errno)); fflush(stdout); exit(1); } } while (0)

#define STREAMS 16
#define BYTES (96 * 1024)

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static int lfd;
static struct sockaddr_in addr;

/* A connected pair: [0] read end, [1] write end.  kind 0 TCP, 1 AF_UNIX stream, 2 pipe. */
static void make_pair(int kind, int fds[2])
{
    if (kind == 2) {
        CHECKSYS(pipe(fds));
    } else if (kind == 1) {
        CHECKSYS(socketpair(AF_UNIX, SOCK_STREAM, 0, fds));
    } else {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        CHECKSYS(c);
        CHECKSYS(connect(c, (struct sockaddr *)&addr, sizeof addr));
        int a = accept(lfd, NULL, NULL);
        CHECKSYS(a);
        fds[0] = a;
        fds[1] = c;
    }
}

struct stream {
    int fds[2];
    int kind;
    uint32_t seed;
    pthread_mutex_t lock;
    uint64_t sum, count;
    int ends; /* readers that saw the end */
};

static unsigned char byte_at(uint32_t seed, size_t i)
{
    return (unsigned char)(seed * 17 + i * 5 + (i >> 10));
}

static void *writer(void *arg)
{
    struct stream *st = arg;
    uint32_t seed = st->seed;
    unsigned char buf[3000];
    size_t off = 0;
    while (off < BYTES) {
        size_t n = 1 + rnd(&seed) % sizeof buf;
        if (n > BYTES - off)
            n = BYTES - off;
        for (size_t k = 0; k < n; k++)
            buf[k] = byte_at(st->seed, off + k);
        size_t done = 0;
        while (done < n) {
            ssize_t w = write(st->fds[1], buf + done, n - done);
            if (w < 0 && errno == EINTR)
                continue;
            CHECKSYS(w);
            done += (size_t)w;
        }
        off += n;
        if (rnd(&seed) % 6 == 0)
            sleep_us(rnd(&seed) % 400);
    }
    CHECKSYS(close(st->fds[1]));
    return NULL;
}

static void *reader(void *arg)
{
    struct stream *st = arg;
    uint32_t seed = st->seed ^ (uint32_t)(uintptr_t)&seed;
    unsigned char buf[4096];
    uint64_t sum = 0, count = 0;
    for (;;) {
        struct pollfd p = {st->fds[0], POLLIN, 0};
        uint32_t t = rnd(&seed) % 5;
        int timeout = t == 4 ? -1 : (int)t;
        int r = poll(&p, 1, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        CHECKSYS(r);
        if (r == 0)
            continue; /* the timeout: poll again */
        CHECK(p.revents & (POLLIN | POLLHUP));
        ssize_t n = recv(st->fds[0], buf, 1 + rnd(&seed) % sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK)
            n = read(st->fds[0], buf, 1 + rnd(&seed) % sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue; /* the other reader took it */
        CHECKSYS(n);
        if (n == 0)
            break;
        for (ssize_t k = 0; k < n; k++)
            sum += buf[k];
        count += (uint64_t)n;
    }
    pthread_mutex_lock(&st->lock);
    st->sum += sum;
    st->count += count;
    st->ends++;
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

static void case_streams(void)
{
    static struct stream st[STREAMS];
    pthread_t t[STREAMS][3];
    for (int i = 0; i < STREAMS; i++) {
        st[i].kind = i % 3;
        make_pair(st[i].kind, st[i].fds);
        /* the readers' fd is non-blocking, as a server's is: the wait is poll's */
        CHECKSYS(fcntl(st[i].fds[0], F_SETFL, fcntl(st[i].fds[0], F_GETFL) | O_NONBLOCK));
        st[i].seed = 77u + (uint32_t)i;
        st[i].sum = st[i].count = 0;
        st[i].ends = 0;
        pthread_mutex_init(&st[i].lock, NULL);
    }
    for (int i = 0; i < STREAMS; i++) {
        CHECK0(pthread_create(&t[i][0], NULL, reader, &st[i]));
        CHECK0(pthread_create(&t[i][1], NULL, reader, &st[i]));
        CHECK0(pthread_create(&t[i][2], NULL, writer, &st[i]));
    }
    int kinds[3] = {0};
    for (int i = 0; i < STREAMS; i++) {
        for (int k = 0; k < 3; k++)
            CHECK0(pthread_join(t[i][k], NULL));
        uint64_t sum = 0;
        for (size_t k = 0; k < BYTES; k++)
            sum += byte_at(st[i].seed, k);
        CHECK(st[i].count == BYTES);
        CHECK(st[i].sum == sum);
        CHECK(st[i].ends == 2);
        close(st[i].fds[0]);
        kinds[st[i].kind]++;
    }
    printf("streams: %d TCP, %d AF_UNIX, %d pipes, two polling readers each: every byte once, both saw the end\n",
           kinds[0], kinds[1], kinds[2]);
}

static void *drain_later(void *arg)
{
    int fd = *(int *)arg;
    char buf[65536];
    sleep_us(20000);
    CHECK(read(fd, buf, sizeof buf) > 0);
    return NULL;
}

/* POLLOUT on a full pipe: ready once a reader makes room. */
static void case_pollout(void)
{
    int fds[2];
    CHECKSYS(pipe(fds));
    CHECKSYS(fcntl(fds[1], F_SETFL, O_NONBLOCK));
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (write(fds[1], buf, sizeof buf) > 0)
        ;
    CHECK(errno == EAGAIN);
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, drain_later, &fds[0]));
    struct pollfd p = {fds[1], POLLOUT, 0};
    int r = poll(&p, 1, 5000);
    CHECK(r == 1 && (p.revents & POLLOUT));
    CHECK0(pthread_join(t, NULL));
    close(fds[0]);
    close(fds[1]);
    printf("pollout: a full pipe became writable when read\n");
}

/* A timeout on a silent socket: 0 after at least the timeout. */
static void case_timeout(void)
{
    int fds[2];
    make_pair(0, fds);
    struct pollfd p = {fds[0], POLLIN, 0};
    int64_t t0 = now_ns();
    int r = poll(&p, 1, 30);
    int64_t ms = (now_ns() - t0) / 1000000;
    CHECK(r == 0 && p.revents == 0);
    CHECK(ms >= 29);
    close(fds[0]);
    close(fds[1]);
    printf("timeout: 0 after the timeout\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(lfd);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECKSYS(bind(lfd, (struct sockaddr *)&addr, sizeof addr));
    CHECKSYS(listen(lfd, 64));
    socklen_t len = sizeof addr;
    CHECKSYS(getsockname(lfd, (struct sockaddr *)&addr, &len));
    case_streams();
    case_streams();
    case_pollout();
    case_timeout();
    close(lfd);
    printf("done\n");
    return 0;
}
