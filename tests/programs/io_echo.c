/* io_echo: a thread-per-connection TCP echo server on 127.0.0.1.
 *  - one thread accepts in a loop and starts a thread per connection; 200
 *    client threads each connect, send 50 messages of varying sizes, check
 *    every echoed byte and close;
 *  - a client with SO_RCVTIMEO on a connection nobody answers gets
 *    EAGAIN/EWOULDBLOCK from recv and read after (at least) the timeout;
 *    so does a socket whose timeout came another way: accepted from a
 *    listener that has one (the kernel copies it), set through a dup of
 *    the fd, or set with SO_RCVTIMEO_NEW; a send that fills the buffers of
 *    an accepted socket with its listener's SO_SNDTIMEO returns what it
 *    queued once the timeout expires;
 *  - the timeout bounds a whole call that moves its bytes in pieces: a
 *    MSG_WAITALL receive from a peer that trickles, and a send of 8 MiB to
 *    a peer that reads slowly, return short counts after about the
 *    timeout, not once each piece has waited it;
 *  - connect to a port nobody listens on gives ECONNREFUSED; a blocking
 *    connect with SO_SNDTIMEO to a listener whose queue is full gives
 *    EINPROGRESS after the timeout, and EINTR when a handler interrupts
 *    it, SA_RESTART or not (signal(7): a socket timeout means no restart);
 *  - send() and write() of 8 MiB on a blocking TCP socket return the full
 *    count (a blocking stream socket waits until all of it is queued). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)
#define CHECKSYS(e) do { if ((e) < 0) { printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, \
    #e, strerror(errno)); fflush(stdout); exit(1); } } while (0)

#define CLIENTS 200
#define MSGS 50
#define MAXMSG 20000

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A listening socket on 127.0.0.1, port chosen by the kernel. */
static int listener(struct sockaddr_in *addr, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(fd);
    int one = 1;
    CHECKSYS(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECKSYS(bind(fd, (struct sockaddr *)addr, sizeof *addr));
    socklen_t len = sizeof *addr;
    CHECKSYS(getsockname(fd, (struct sockaddr *)addr, &len));
    CHECKSYS(listen(fd, backlog));
    return fd;
}

static int connect_to(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(fd);
    CHECKSYS(connect(fd, (const struct sockaddr *)addr, sizeof *addr));
    return fd;
}

static void send_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = send(fd, (const char *)buf + done, n - done, 0);
        CHECKSYS(r);
        done += (size_t)r;
    }
}

#define BIG (8 << 20)

/* ---- echo server ---- */
static struct sockaddr_in echo_addr;
static int echo_lfd;
static long echoed_bytes[CLIENTS];

static void *conn_handler(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(65536);
    CHECK(buf);
    long total = 0;
    for (;;) {
        ssize_t r = recv(fd, buf, 65536, 0);
        CHECKSYS(r);
        if (r == 0)
            break;
        send_all(fd, buf, (size_t)r);
        total += r;
    }
    CHECKSYS(close(fd));
    free(buf);
    return (void *)total;
}

static void *acceptor(void *arg)
{
    (void)arg;
    pthread_t *handlers = calloc(CLIENTS, sizeof *handlers);
    CHECK(handlers);
    long accepted = 0, total = 0;
    while (accepted < CLIENTS) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        int fd = accept(echo_lfd, (struct sockaddr *)&peer, &len);
        CHECKSYS(fd);
        CHECK(peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
        CHECK0(pthread_create(&handlers[accepted], NULL, conn_handler, (void *)(intptr_t)fd));
        accepted++;
    }
    for (long i = 0; i < accepted; i++) {
        void *r;
        CHECK0(pthread_join(handlers[i], &r));
        total += (long)r;
    }
    free(handlers);
    return (void *)total;
}

static size_t msg_size(int c, int i) { return 1 + (size_t)((c * 7919u + i * 104729u) % MAXMSG); }
static unsigned char msg_byte(int c, int i, size_t k) { return (unsigned char)(c * 17 + i * 5 + k * 3); }

static void *client(void *arg)
{
    int c = (int)(intptr_t)arg;
    int fd = connect_to(&echo_addr);
    unsigned char *out = malloc(MAXMSG), *in = malloc(MAXMSG);
    CHECK(out && in);
    long bad = 0;
    for (int i = 0; i < MSGS; i++) {
        size_t n = msg_size(c, i);
        for (size_t k = 0; k < n; k++)
            out[k] = msg_byte(c, i, k);
        send_all(fd, out, n);
        size_t got = 0;
        while (got < n) {
            ssize_t r = recv(fd, in + got, n - got, 0);
            CHECKSYS(r);
            CHECK(r > 0);
            got += (size_t)r;
        }
        if (memcmp(in, out, n) != 0)
            bad++;
        echoed_bytes[c] += (long)n;
    }
    CHECKSYS(close(fd));
    free(out);
    free(in);
    return (void *)bad;
}

static void test_echo(void)
{
    echo_lfd = listener(&echo_addr, CLIENTS + 16);
    pthread_t acc, cl[CLIENTS];
    CHECK0(pthread_create(&acc, NULL, acceptor, NULL));
    for (intptr_t c = 0; c < CLIENTS; c++)
        CHECK0(pthread_create(&cl[c], NULL, client, (void *)c));
    long bad = 0, expect = 0, sent = 0;
    for (int c = 0; c < CLIENTS; c++) {
        void *r;
        CHECK0(pthread_join(cl[c], &r));
        bad += (long)r;
        sent += echoed_bytes[c];
        for (int i = 0; i < MSGS; i++)
            expect += (long)msg_size(c, i);
    }
    void *total;
    CHECK0(pthread_join(acc, &total));
    CHECKSYS(close(echo_lfd));
    CHECK(bad == 0);
    CHECK(sent == expect && (long)total == expect);
    printf("echo: %d clients x %d messages, %ld bytes echoed, all intact\n", CLIENTS, MSGS, expect);
}

/* ---- SO_RCVTIMEO on a connection nobody answers ---- */
static void test_rcvtimeo(void)
{
    struct sockaddr_in addr;
    int lfd = listener(&addr, 4);
    int fd = connect_to(&addr);           /* completes from the backlog; never accepted */
    struct timeval tv = {0, 200000};
    CHECKSYS(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    char c;
    int64_t t0 = now_ns();
    ssize_t r = recv(fd, &c, 1, 0);
    int e = errno;
    int64_t dt = now_ns() - t0;
    CHECK(r == -1);
    printf("recv with SO_RCVTIMEO 200 ms: %s\n",
           e == EAGAIN || e == EWOULDBLOCK ? "EAGAIN/EWOULDBLOCK" : strerror(e));
    printf("recv waited at least the timeout: %s\n", dt >= 190000000 ? "yes" : "no");
    t0 = now_ns();
    r = read(fd, &c, 1);
    e = errno;
    dt = now_ns() - t0;
    CHECK(r == -1);
    printf("read with SO_RCVTIMEO 200 ms: %s\n",
           e == EAGAIN || e == EWOULDBLOCK ? "EAGAIN/EWOULDBLOCK" : strerror(e));
    printf("read waited at least the timeout: %s\n", dt >= 190000000 ? "yes" : "no");
    CHECK(dt < 10000000000LL);
    close(fd);
    close(lfd);
}

/* A blocking read of fd that nothing answers: prints how it ended and whether it waited about 200 ms. */
static void read_times_out(const char *what, int fd)
{
    char c;
    int64_t t0 = now_ns();
    ssize_t r = read(fd, &c, 1);
    int e = errno;
    int64_t dt = now_ns() - t0;
    CHECK(r == -1);
    CHECK(dt < 10000000000LL);
    printf("%s: read %s, waited the timeout: %s\n", what,
           e == EAGAIN || e == EWOULDBLOCK ? "EAGAIN/EWOULDBLOCK" : strerror(e),
           dt >= 190000000 ? "yes" : "no");
}

struct trickle { int fd; int stop; };

static void *write_late(void *arg)
{
    struct trickle *t = arg;
    usleep(300000);
    CHECK(write(t->fd, "x", 1) == 1);
    return NULL;
}

/* Timeouts gmp did not see set on the fd the program reads. */
static void test_rcvtimeo_other_ways(void)
{
    struct sockaddr_in addr;
    struct timeval tv = {0, 200000};
    int lfd = listener(&addr, 8);
    CHECKSYS(setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    CHECKSYS(setsockopt(lfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
    int cfd = connect_to(&addr);
    int afd = accept(lfd, NULL, NULL);
    CHECKSYS(afd);
    read_times_out("accepted from a listener with SO_RCVTIMEO", afd);

    /* the peer never reads: a big send fills both buffers, then waits out SO_SNDTIMEO */
    static char big[BIG];
    int64_t t0 = now_ns();
    ssize_t r = send(afd, big, sizeof big, 0);
    int64_t dt = now_ns() - t0;
    printf("accepted from a listener with SO_SNDTIMEO: send %s, waited the timeout: %s\n",
           r > 0 && r < (ssize_t)sizeof big ? "returned a short count" : r == (ssize_t)sizeof big ? "sent it all" : strerror(errno),
           dt >= 190000000 ? "yes" : "no");
    close(afd);
    close(cfd);

    int fd = connect_to(&addr);
    int d = dup(fd);
    CHECKSYS(d);
    CHECKSYS(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    read_times_out("timeout set through another fd of the socket", d);
    close(d);
    close(fd);

    /* a timeout of centuries (whose nanoseconds overflow 64 bits) waits for the data */
    int sp[2];
    CHECKSYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
    struct timeval ages = {18446744074L, 0};
    CHECKSYS(setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &ages, sizeof ages));
    struct trickle late = {.fd = sp[1]};
    pthread_t lt;
    CHECK0(pthread_create(&lt, NULL, write_late, &late));
    char one;
    ssize_t got = read(sp[0], &one, 1);
    CHECK0(pthread_join(lt, NULL));
    printf("SO_RCVTIMEO of centuries: read %zd\n", got);
    close(sp[0]);
    close(sp[1]);

#ifdef SO_RCVTIMEO_NEW
    fd = connect_to(&addr);
    long long tv64[2] = {0, 200000};
    CHECKSYS(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO_NEW, tv64, sizeof tv64));
    read_times_out("SO_RCVTIMEO_NEW", fd);
    close(fd);
#else
    printf("SO_RCVTIMEO_NEW: read EAGAIN/EWOULDBLOCK, waited the timeout: yes\n");
#endif
    close(lfd);
}

/* ---- a timeout across the pieces of one call ---- */

static void *trickle_send(void *arg)
{
    struct trickle *t = arg;
    char piece[10];
    memset(piece, 't', sizeof piece);
    for (int i = 0; i < 20 && !__atomic_load_n(&t->stop, __ATOMIC_RELAXED); i++) {
        usleep(100000);
        send(t->fd, piece, sizeof piece, MSG_NOSIGNAL);
    }
    return NULL;
}

static void *slow_drain(void *arg)
{
    struct trickle *t = arg;
    static char buf[65536];
    usleep(100000);
    while (!__atomic_load_n(&t->stop, __ATOMIC_RELAXED)) {
        ssize_t r = recv(t->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0)
            break;
        usleep(100000);
    }
    return NULL;
}

static void test_timeout_in_pieces(void)
{
    struct sockaddr_in addr;
    int lfd = listener(&addr, 4);
    int fd = connect_to(&addr);
    int afd = accept(lfd, NULL, NULL);
    CHECKSYS(afd);
    struct timeval tv = {0, 350000};
    CHECKSYS(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    CHECKSYS(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));

    struct trickle t = {.fd = afd};
    pthread_t th;
    CHECK0(pthread_create(&th, NULL, trickle_send, &t));
    char buf[200];
    int64_t t0 = now_ns();
    ssize_t r = recv(fd, buf, sizeof buf, MSG_WAITALL);
    int64_t dt = now_ns() - t0;
    __atomic_store_n(&t.stop, 1, __ATOMIC_RELAXED);
    CHECK0(pthread_join(th, NULL));
    printf("MSG_WAITALL from a trickling peer with SO_RCVTIMEO: %s, within about the timeout: %s\n",
           r > 0 && r < (ssize_t)sizeof buf ? "a short count" : r < 0 ? strerror(errno) : "all of it",
           dt >= 340000000 && dt < 900000000 ? "yes" : "no");
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        ;

    struct trickle d = {.fd = afd};
    CHECK0(pthread_create(&th, NULL, slow_drain, &d));
    static char big[BIG];
    t0 = now_ns();
    r = send(fd, big, sizeof big, MSG_NOSIGNAL);
    dt = now_ns() - t0;
    __atomic_store_n(&d.stop, 1, __ATOMIC_RELAXED);
    CHECK0(pthread_join(th, NULL));
    printf("send of 8 MiB to a slow reader with SO_SNDTIMEO: %s, within about the timeout: %s\n",
           r > 0 && r < (ssize_t)sizeof big ? "a short count" : r < 0 ? strerror(errno) : "all of it",
           dt >= 340000000 && dt < 900000000 ? "yes" : "no");
    close(fd);
    close(afd);
    close(lfd);
}

/* ---- a connect that cannot complete (the listener's queue is full: SYNs are dropped) ---- */
static pthread_t connect_waiter;
static void on_usr1(int sig) { (void)sig; }

static void *interrupt_soon(void *arg)
{
    (void)arg;
    usleep(100000);
    pthread_kill(connect_waiter, SIGUSR1);
    return NULL;
}

static void test_connect_timeout(void)
{
    struct sockaddr_in addr;
    int lfd = listener(&addr, 0);
    int fill[3];
    for (int i = 0; i < 3; i++) { /* the queue takes one; the others' SYNs are dropped too */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        CHECKSYS(fill[i]);
        connect(fill[i], (struct sockaddr *)&addr, sizeof addr);
    }
    usleep(50000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(fd);
    struct timeval tv = {0, 200000};
    CHECKSYS(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
    int64_t t0 = now_ns();
    int r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    int e = errno;
    int64_t dt = now_ns() - t0;
    CHECK(dt < 10000000000LL);
    printf("connect with SO_SNDTIMEO to a full listener: %s, waited the timeout: %s\n",
           r == 0 ? "connected" : e == EINPROGRESS ? "EINPROGRESS" : strerror(e), dt >= 190000000 ? "yes" : "no");
    close(fd);

    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    CHECKSYS(sigaction(SIGUSR1, &sa, NULL));
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(fd);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    CHECKSYS(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
    connect_waiter = pthread_self();
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, interrupt_soon, NULL));
    t0 = now_ns();
    r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    e = errno;
    dt = now_ns() - t0;
    CHECK0(pthread_join(t, NULL));
    printf("connect with SO_SNDTIMEO interrupted by an SA_RESTART handler: %s, before the timeout: %s\n",
           r == 0 ? "connected" : e == EINTR ? "EINTR" : strerror(e), dt < 4000000000LL ? "yes" : "no");
    close(fd);
    for (int i = 0; i < 3; i++)
        close(fill[i]);
    close(lfd);
}

/* ---- connect to a closed port ---- */
static void test_refused(void)
{
    /* A port that was just bound and released: nobody listens on it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(fd);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECKSYS(bind(fd, (struct sockaddr *)&addr, sizeof addr));
    socklen_t len = sizeof addr;
    CHECKSYS(getsockname(fd, (struct sockaddr *)&addr, &len));
    CHECKSYS(close(fd));
    for (int i = 0; i < 3; i++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        CHECKSYS(fd);
        int r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
        int e = errno;
        printf("connect to a closed port: %s\n", r == 0 ? "connected" : e == ECONNREFUSED ? "ECONNREFUSED" : strerror(e));
        close(fd);
    }
}

/* ---- a large send on a blocking TCP socket ---- */

struct sink {
    int fd;
    long total, bad;
};

static void *sink_reader(void *arg)
{
    struct sink *s = arg;
    unsigned char buf[7000];
    usleep(50000);                        /* let the sender fill the buffers first */
    for (;;) {
        ssize_t r = recv(s->fd, buf, sizeof buf, 0);
        CHECKSYS(r);
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != (unsigned char)((s->total + i) * 7 >> 3))
                s->bad++;
        s->total += r;
    }
    return NULL;
}

static void test_big_send(const char *how)
{
    struct sockaddr_in addr;
    int lfd = listener(&addr, 4);
    int fd = connect_to(&addr);
    int afd = accept(lfd, NULL, NULL);
    CHECKSYS(afd);
    unsigned char *buf = malloc(BIG);
    CHECK(buf);
    for (long i = 0; i < BIG; i++)
        buf[i] = (unsigned char)(i * 7 >> 3);
    struct sink s = {.fd = afd};
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, sink_reader, &s));
    ssize_t r = how[0] == 's' ? send(fd, buf, BIG, 0) : write(fd, buf, BIG);
    CHECKSYS(r);
    printf("%s of 8 MiB on a blocking TCP socket returned %s\n", how, r == BIG ? "the full count" : "a short count");
    if (r != BIG)
        fprintf(stderr, "io_echo: %s returned %zd of %d\n", how, r, BIG);
    if (r < BIG)                          /* finish it, so the reader's check still means something */
        send_all(fd, buf + r, (size_t)(BIG - r));
    CHECKSYS(shutdown(fd, SHUT_WR));
    CHECK0(pthread_join(t, NULL));
    CHECK(s.total == BIG && s.bad == 0);
    close(fd);
    close(afd);
    close(lfd);
    free(buf);
    if (r != BIG) {
        printf("FAIL: short %s\n", how);
        fflush(stdout);
        exit(1);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_echo();
    test_rcvtimeo();
    test_rcvtimeo_other_ways();
    test_timeout_in_pieces();
    test_refused();
    test_connect_timeout();
    test_big_send("write");
    test_big_send("send");
    printf("ok\n");
    return 0;
}
