/* io_close: threads blocked in I/O are released when the other end goes away.
 *  - read on a pipe returns 0 (EOF) when the write end is closed; with the
 *    write end dup'ed, only closing the last one does it;
 *  - recv on a socketpair and on a TCP connection returns 0 when the peer
 *    closes or shuts down writing, and when another thread shuts down the
 *    reader's own receive side;
 *  - a writer blocked on a full pipe gets EPIPE when the read end is closed;
 *  - poll on a pipe reports POLLHUP when the write end is closed;
 *  - read on a FIFO returns the data, then 0 when the writer closes;
 *  - accept is released by shutdown(listen_fd, SHUT_RDWR) from another
 *    thread.
 * Each blocked thread gets ~100 ms to block first; the result is the same if
 * it had not blocked yet. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)
#define CHECKSYS(e) do { if ((e) < 0) { printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, \
    #e, strerror(errno)); fflush(stdout); exit(1); } } while (0)

static void pause_ms(int ms) { usleep((useconds_t)ms * 1000); }

/* A call made in a thread; its result and errno. */
enum op { OP_READ, OP_RECV, OP_WRITE, OP_ACCEPT, OP_POLL };
struct call {
    enum op op;
    int fd;
    char buf[64];
    size_t len;
    long r;
    int err;
    short revents;
    volatile int done;
};

static void *do_call(void *arg)
{
    struct call *c = arg;
    errno = 0;
    switch (c->op) {
    case OP_READ:
        c->r = read(c->fd, c->buf, c->len);
        break;
    case OP_RECV:
        c->r = recv(c->fd, c->buf, c->len, 0);
        break;
    case OP_WRITE:
        c->r = write(c->fd, c->buf, c->len);
        break;
    case OP_ACCEPT:
        c->r = accept(c->fd, NULL, NULL);
        break;
    case OP_POLL: {
        struct pollfd p = {c->fd, POLLIN, 0};
        c->r = poll(&p, 1, 10000);
        c->revents = p.revents;
        break;
    }
    }
    c->err = errno;
    c->done = 1;
    return NULL;
}

static pthread_t start(struct call *c)
{
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, do_call, c));
    return t;
}

static const char *errname(int e)
{
    switch (e) {
    case EINVAL: return "EINVAL";
    case EPIPE: return "EPIPE";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ECONNABORTED: return "ECONNABORTED";
    default: return strerror(e);
    }
}

static void report(const char *what, struct call *c)
{
    if (c->r < 0)
        printf("%s: -1 %s\n", what, errname(c->err));
    else
        printf("%s: %ld\n", what, c->r);
}

static void test_pipe_eof(void)
{
    int p[2];
    CHECKSYS(pipe(p));
    struct call c = {.op = OP_READ, .fd = p[0], .len = sizeof c.buf};
    pthread_t t = start(&c);
    pause_ms(100);
    CHECKSYS(close(p[1]));
    CHECK0(pthread_join(t, NULL));
    report("read on a pipe, write end closed", &c);
    CHECK(c.r == 0);
    close(p[0]);

    /* two write fds: EOF only when both are closed */
    CHECKSYS(pipe(p));
    int w2 = dup(p[1]);
    CHECKSYS(w2);
    struct call c2 = {.op = OP_READ, .fd = p[0], .len = sizeof c2.buf};
    t = start(&c2);
    pause_ms(50);
    CHECKSYS(close(p[1]));
    pause_ms(100);
    printf("read after closing one of two write fds: %s\n", c2.done ? "returned" : "still blocked");
    CHECK(write(w2, "late", 4) == 4);
    CHECK0(pthread_join(t, NULL));
    report("  then a write through the other one", &c2);
    CHECK(c2.r == 4 && memcmp(c2.buf, "late", 4) == 0);
    struct call c3 = {.op = OP_READ, .fd = p[0], .len = sizeof c3.buf};
    t = start(&c3);
    pause_ms(100);
    CHECKSYS(close(w2));
    CHECK0(pthread_join(t, NULL));
    report("  read again, last write fd closed", &c3);
    CHECK(c3.r == 0);
    close(p[0]);
}

static void test_pipe_epipe(void)
{
    int p[2];
    CHECKSYS(pipe(p));
    /* fill the pipe, so the next blocking write has to wait */
    CHECKSYS(fcntl(p[1], F_SETFL, O_NONBLOCK));
    char fill[4096];
    memset(fill, 'f', sizeof fill);
    while (write(p[1], fill, sizeof fill) > 0)
        ;
    CHECK(errno == EAGAIN);
    while (write(p[1], fill, 1) > 0)
        ;
    CHECKSYS(fcntl(p[1], F_SETFL, 0));
    struct call c = {.op = OP_WRITE, .fd = p[1], .len = 10};
    memset(c.buf, 'w', 10);
    pthread_t t = start(&c);
    pause_ms(100);
    printf("write on a full pipe: %s\n", c.done ? "returned" : "blocked");
    CHECKSYS(close(p[0]));
    CHECK0(pthread_join(t, NULL));
    report("  after the read end was closed", &c);
    CHECK(c.r == -1 && c.err == EPIPE);
    close(p[1]);
}

static void test_poll_hup(void)
{
    int p[2];
    CHECKSYS(pipe(p));
    struct call c = {.op = OP_POLL, .fd = p[0]};
    pthread_t t = start(&c);
    pause_ms(100);
    CHECKSYS(close(p[1]));
    CHECK0(pthread_join(t, NULL));
    printf("poll on a pipe, write end closed: %ld, revents%s%s\n", c.r,
           c.revents & POLLHUP ? " POLLHUP" : "", c.revents & POLLIN ? " POLLIN" : "");
    CHECK(c.r == 1 && (c.revents & POLLHUP));
    close(p[0]);
}

static void test_socketpair(void)
{
    int sv[2];
    CHECKSYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct call c = {.op = OP_RECV, .fd = sv[0], .len = sizeof c.buf};
    pthread_t t = start(&c);
    pause_ms(100);
    CHECKSYS(close(sv[1]));
    CHECK0(pthread_join(t, NULL));
    report("recv on a socketpair, peer closed", &c);
    CHECK(c.r == 0);
    close(sv[0]);

    CHECKSYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct call c2 = {.op = OP_READ, .fd = sv[0], .len = sizeof c2.buf};
    t = start(&c2);
    pause_ms(100);
    CHECKSYS(shutdown(sv[1], SHUT_WR));
    CHECK0(pthread_join(t, NULL));
    report("read on a socketpair, peer shut down writing", &c2);
    CHECK(c2.r == 0);
    close(sv[0]);
    close(sv[1]);
}

/* ---- TCP ---- */
static int listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(fd);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECKSYS(bind(fd, (struct sockaddr *)addr, sizeof *addr));
    socklen_t len = sizeof *addr;
    CHECKSYS(getsockname(fd, (struct sockaddr *)addr, &len));
    CHECKSYS(listen(fd, 8));
    return fd;
}

static void tcp_pair(int lfd, const struct sockaddr_in *addr, int *a, int *b)
{
    *a = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(*a);
    CHECKSYS(connect(*a, (const struct sockaddr *)addr, sizeof *addr));
    *b = accept(lfd, NULL, NULL);
    CHECKSYS(*b);
}

static void test_tcp(void)
{
    struct sockaddr_in addr;
    int lfd = listener(&addr), a, b;

    tcp_pair(lfd, &addr, &a, &b);
    struct call c = {.op = OP_RECV, .fd = a, .len = sizeof c.buf};
    pthread_t t = start(&c);
    pause_ms(100);
    CHECKSYS(close(b));
    CHECK0(pthread_join(t, NULL));
    report("recv on TCP, peer closed", &c);
    CHECK(c.r == 0);
    close(a);

    tcp_pair(lfd, &addr, &a, &b);
    struct call c2 = {.op = OP_READ, .fd = b, .len = sizeof c2.buf};
    t = start(&c2);
    pause_ms(100);
    CHECKSYS(shutdown(a, SHUT_WR));
    CHECK0(pthread_join(t, NULL));
    report("read on TCP, peer shut down writing", &c2);
    CHECK(c2.r == 0);
    close(a);
    close(b);

    tcp_pair(lfd, &addr, &a, &b);
    struct call c3 = {.op = OP_RECV, .fd = a, .len = sizeof c3.buf};
    t = start(&c3);
    pause_ms(100);
    CHECKSYS(shutdown(a, SHUT_RD));       /* the reader's own socket */
    CHECK0(pthread_join(t, NULL));
    report("recv on TCP, own receive side shut down", &c3);
    CHECK(c3.r == 0);
    close(a);
    close(b);

    struct call c4 = {.op = OP_ACCEPT, .fd = lfd};
    t = start(&c4);
    pause_ms(100);
    printf("accept with nobody connecting: %s\n", c4.done ? "returned" : "blocked");
    CHECKSYS(shutdown(lfd, SHUT_RDWR));
    CHECK0(pthread_join(t, NULL));
    report("  after shutdown(listen_fd, SHUT_RDWR)", &c4);
    CHECK(c4.r == -1);
    close(lfd);
}

/* ---- FIFO ---- */
static char fifo_path[64];

static void *fifo_writer(void *arg)
{
    (void)arg;
    pause_ms(100);
    int fd = open(fifo_path, O_WRONLY);
    CHECKSYS(fd);
    pause_ms(50);
    CHECK(write(fd, "fifo data", 9) == 9);
    pause_ms(50);
    CHECKSYS(close(fd));
    return NULL;
}

static void test_fifo(void)
{
    char dir[] = "/tmp/io_close.XXXXXX";
    CHECK(mkdtemp(dir));
    snprintf(fifo_path, sizeof fifo_path, "%s/fifo", dir);
    CHECKSYS(mkfifo(fifo_path, 0600));
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, fifo_writer, NULL));
    int fd = open(fifo_path, O_RDONLY);  /* waits for the writer */
    CHECKSYS(fd);
    char buf[32];
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd, buf + got, sizeof buf - got)) > 0)
        got += (size_t)r;
    CHECKSYS(r);
    CHECK0(pthread_join(t, NULL));
    printf("FIFO: read %zu bytes, then EOF when the writer closed\n", got);
    CHECK(got == 9 && memcmp(buf, "fifo data", 9) == 0);
    close(fd);
    unlink(fifo_path);
    rmdir(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_pipe_eof();
    test_pipe_epipe();
    test_poll_hup();
    test_socketpair();
    test_tcp();
    test_fifo();
    printf("ok\n");
    return 0;
}
