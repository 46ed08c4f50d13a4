/* io_fdview: what fcntl(F_GETFL) shows is exactly what the program set.
 *  - pipe, socketpair, TCP socket and eventfd ends: created blocking or
 *    non-blocking, then F_SETFL O_NONBLOCK on and off, ioctl(FIONBIO) on and
 *    off; the full F_GETFL value is printed each time;
 *  - a non-blocking read on an empty pipe / eventfd gives EAGAIN, a
 *    non-blocking write on a full pipe gives EAGAIN;
 *  - a listening socket shows the same view, a non-blocking accept gives
 *    EAGAIN and a blocking one waits for a client;
 *  - dup'ed fds share the file description: a flag set through one fd is
 *    seen (and obeyed by read and accept) through the other;
 *  - fcntl(0/1/2, F_GETFL) is unchanged by threads that used stdin, stdout
 *    and stderr;
 *  - MSG_DONTWAIT on a blocking socket: recv, recvfrom, recvmsg and
 *    recvmmsg of an empty one give EAGAIN at once, send fills the buffer and
 *    then gives EAGAIN, and the socket stays blocking. */
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
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)
#define CHECKSYS(e) do { if ((e) < 0) { printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, \
    #e, strerror(errno)); fflush(stdout); exit(1); } } while (0)

static int failed;

/* Print the F_GETFL value and check its O_NONBLOCK bit. */
static void view(const char *what, int fd, int want_nonblock)
{
    int fl = fcntl(fd, F_GETFL);
    CHECKSYS(fl);
    int nb = (fl & O_NONBLOCK) != 0;
    printf("%-48s flags %#07o %s\n", what, fl, nb ? "O_NONBLOCK" : "blocking");
    if (nb != want_nonblock) {
        printf("FAIL: %s: O_NONBLOCK is %d, the program set %d\n", what, nb, want_nonblock);
        failed = 1;
    }
}

static void set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    CHECKSYS(fl);
    CHECKSYS(fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK));
}

static void fionbio(int fd, int on)
{
    CHECKSYS(ioctl(fd, FIONBIO, &on));
}

static const char *errname(int e)
{
    return e == EAGAIN ? "EAGAIN" : strerror(e);
}

/* The usual sequence on one fd that starts blocking. */
static void toggles(const char *name, int fd)
{
    char what[64];
    snprintf(what, sizeof what, "%s: created", name);
    view(what, fd, 0);
    set_nonblock(fd, 1);
    snprintf(what, sizeof what, "%s: F_SETFL O_NONBLOCK", name);
    view(what, fd, 1);
    set_nonblock(fd, 0);
    snprintf(what, sizeof what, "%s: F_SETFL ~O_NONBLOCK", name);
    view(what, fd, 0);
    fionbio(fd, 1);
    snprintf(what, sizeof what, "%s: FIONBIO 1", name);
    view(what, fd, 1);
    fionbio(fd, 0);
    snprintf(what, sizeof what, "%s: FIONBIO 0", name);
    view(what, fd, 0);
}

static void test_pipes(void)
{
    int p[2];
    CHECKSYS(pipe(p));
    toggles("pipe read end", p[0]);
    toggles("pipe write end", p[1]);
    set_nonblock(p[0], 1);
    view("pipe write end after read end set", p[1], 0);
    char c;
    errno = 0;
    ssize_t r = read(p[0], &c, 1);
    printf("non-blocking read on an empty pipe: %zd %s\n", r, errname(errno));
    close(p[0]);
    close(p[1]);

    CHECKSYS(pipe2(p, O_NONBLOCK));
    view("pipe2(O_NONBLOCK) read end", p[0], 1);
    view("pipe2(O_NONBLOCK) write end", p[1], 1);
    errno = 0;
    r = read(p[0], &c, 1);
    printf("read on an empty pipe2(O_NONBLOCK) pipe: %zd %s\n", r, errname(errno));
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    long total = 0;
    for (;;) {
        r = write(p[1], buf, sizeof buf);
        if (r < 0)
            break;
        total += r;
        CHECK(total < (64L << 20));
    }
    printf("writes to a full non-blocking pipe: %s after %s\n", errname(errno), total > 0 ? "some bytes" : "nothing");
    set_nonblock(p[0], 0);
    view("pipe2(O_NONBLOCK) read end, cleared", p[0], 0);
    view("pipe2(O_NONBLOCK) write end, untouched", p[1], 1);
    CHECK(read(p[0], buf, 10) == 10);    /* there is data: a blocking read returns at once */
    close(p[0]);
    close(p[1]);
}

static void test_sockets(void)
{
    int sv[2];
    CHECKSYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    toggles("socketpair end", sv[0]);
    view("other socketpair end", sv[1], 0);
    set_nonblock(sv[0], 1);
    char c;
    errno = 0;
    ssize_t r = recv(sv[0], &c, 1, 0);
    printf("recv on an empty non-blocking socketpair: %zd %s\n", r, errname(errno));
    close(sv[0]);
    close(sv[1]);
    CHECKSYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    view("socketpair(SOCK_NONBLOCK)", sv[0], 1);
    close(sv[0]);
    close(sv[1]);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(fd);
    toggles("tcp socket", fd);
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECKSYS(fd);
    view("tcp socket(SOCK_NONBLOCK)", fd, 1);
    close(fd);

    fd = eventfd(0, 0);
    CHECKSYS(fd);
    toggles("eventfd", fd);
    close(fd);
    fd = eventfd(0, EFD_NONBLOCK);
    CHECKSYS(fd);
    view("eventfd(EFD_NONBLOCK)", fd, 1);
    uint64_t v;
    errno = 0;
    r = read(fd, &v, sizeof v);
    printf("read on an empty non-blocking eventfd: %zd %s\n", r, errname(errno));
    close(fd);
}

/* ---- MSG_DONTWAIT: one call that does not wait, on a socket that does ---- */
static void test_dontwait(void)
{
    int types[2] = {SOCK_STREAM, SOCK_DGRAM};
    for (int t = 0; t < 2; t++) {
        const char *name = types[t] == SOCK_STREAM ? "stream" : "datagram";
        int sv[2];
        char buf[512];
        CHECKSYS(socketpair(AF_UNIX, types[t], 0, sv));
        errno = 0;
        ssize_t r = recv(sv[0], buf, sizeof buf, MSG_DONTWAIT);
        printf("%s: recv(MSG_DONTWAIT) on an empty blocking socket: %zd %s\n", name, r, errname(errno));
        errno = 0;
        r = recvfrom(sv[0], buf, sizeof buf, MSG_DONTWAIT, NULL, NULL);
        printf("%s: recvfrom(MSG_DONTWAIT): %zd %s\n", name, r, errname(errno));
        struct iovec v = {buf, sizeof buf};
        struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
        errno = 0;
        r = recvmsg(sv[0], &m, MSG_DONTWAIT);
        printf("%s: recvmsg(MSG_DONTWAIT): %zd %s\n", name, r, errname(errno));
        struct mmsghdr mm = {.msg_hdr = m};
        errno = 0;
        r = recvmmsg(sv[0], &mm, 1, MSG_DONTWAIT, NULL);
        printf("%s: recvmmsg(MSG_DONTWAIT): %zd %s\n", name, r, errname(errno));
        memset(buf, 'x', sizeof buf);
        long sent = 0, calls = 0;
        for (;;) {
            errno = 0;
            r = send(sv[1], buf, sizeof buf, MSG_DONTWAIT);
            if (r < 0)
                break;
            sent += r;
            CHECK(++calls < 1000000);
        }
        printf("%s: send(MSG_DONTWAIT) until full: some sent: %s, then %s\n", name, sent > 0 ? "yes" : "no",
               errname(errno));
        r = recv(sv[0], buf, sizeof buf, MSG_DONTWAIT);
        printf("%s: recv(MSG_DONTWAIT) of a full one: %s\n", name, r > 0 ? "data" : errname(errno));
        view(types[t] == SOCK_STREAM ? "stream socketpair after MSG_DONTWAIT" : "datagram socketpair after MSG_DONTWAIT",
             sv[0], 0);
        close(sv[0]);
        close(sv[1]);
    }
}

/* ---- listening sockets ---- */
static struct sockaddr_in laddr;

static int listener(int type)
{
    int fd = socket(AF_INET, type, 0);
    CHECKSYS(fd);
    memset(&laddr, 0, sizeof laddr);
    laddr.sin_family = AF_INET;
    laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECKSYS(bind(fd, (struct sockaddr *)&laddr, sizeof laddr));
    socklen_t len = sizeof laddr;
    CHECKSYS(getsockname(fd, (struct sockaddr *)&laddr, &len));
    CHECKSYS(listen(fd, 8));
    return fd;
}

static void *late_client(void *arg)
{
    (void)arg;
    usleep(100000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(fd);
    CHECKSYS(connect(fd, (struct sockaddr *)&laddr, sizeof laddr));
    return (void *)(intptr_t)fd;
}

/* accept on fd with a client connecting 100 ms later. */
static void accept_with_late_client(const char *what, int fd)
{
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, late_client, NULL));
    errno = 0;
    int a = accept(fd, NULL, NULL);
    int e = errno;
    void *cfd;
    CHECK0(pthread_join(t, &cfd));
    printf("%s: %s\n", what, a >= 0 ? "accepted the client" : errname(e));
    if (a < 0) {                          /* take the client off the backlog */
        failed = 1;
        set_nonblock(fd, 0);
        a = accept(fd, NULL, NULL);
        CHECKSYS(a);
    }
    view("  accepted socket", a, 0);
    close(a);
    close((int)(intptr_t)cfd);
}

static void test_listen(void)
{
    int fd = listener(SOCK_STREAM);
    view("listening socket", fd, 0);
    fionbio(fd, 1);
    view("listening socket: FIONBIO 1", fd, 1);
    errno = 0;
    int a = accept(fd, NULL, NULL);
    printf("non-blocking accept, nobody connecting: %d %s\n", a, errname(errno));
    fionbio(fd, 0);
    view("listening socket: FIONBIO 0", fd, 0);
    set_nonblock(fd, 1);
    view("listening socket: F_SETFL O_NONBLOCK", fd, 1);
    errno = 0;
    a = accept(fd, NULL, NULL);
    printf("non-blocking accept, nobody connecting: %d %s\n", a, errname(errno));
    set_nonblock(fd, 0);
    view("listening socket: F_SETFL ~O_NONBLOCK", fd, 0);
    accept_with_late_client("blocking accept", fd);
    close(fd);

    fd = listener(SOCK_STREAM | SOCK_NONBLOCK);
    view("listening socket(SOCK_NONBLOCK)", fd, 1);
    errno = 0;
    a = accept(fd, NULL, NULL);
    printf("non-blocking accept, nobody connecting: %d %s\n", a, errname(errno));
    close(fd);
}

/* ---- dup'ed fds: one file description, one set of flags ---- */
static void *late_writer(void *arg)
{
    usleep(300000);
    CHECK(write((int)(intptr_t)arg, "z", 1) == 1);
    return NULL;
}

static void test_dup(void)
{
    int p[2];
    CHECKSYS(pipe(p));
    int d = dup(p[0]);
    CHECKSYS(d);
    view("dup of a pipe read end", d, 0);
    set_nonblock(p[0], 1);
    view("dup, after F_SETFL O_NONBLOCK on the original", d, 1);
    /* The dup is non-blocking now: read must not wait for the late writer. */
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, late_writer, (void *)(intptr_t)p[1]));
    char c;
    errno = 0;
    ssize_t r = read(d, &c, 1);
    printf("read on the dup, empty pipe: %s\n", r < 0 ? errname(errno) : r == 1 ? "waited, got a byte" : "EOF");
    if (r >= 0)
        failed = 1;
    CHECK0(pthread_join(t, NULL));
    set_nonblock(d, 0);
    view("original, after F_SETFL ~O_NONBLOCK on the dup", p[0], 0);
    CHECK(r == 1 || read(p[0], &c, 1) == 1);
    int d2 = fcntl(p[1], F_DUPFD_CLOEXEC, 100);
    CHECK(d2 >= 100);
    fionbio(d2, 1);
    view("write end, after FIONBIO 1 on its F_DUPFD", p[1], 1);
    close(d2);
    close(d);
    close(p[0]);
    close(p[1]);

    int lfd = listener(SOCK_STREAM);
    d = dup(lfd);
    CHECKSYS(d);
    view("dup of a listening socket", d, 0);
    accept_with_late_client("blocking accept on the dup", d);
    int d3 = dup2(lfd, 200);
    CHECK(d3 == 200);
    view("dup2 of a listening socket", d3, 0);
    set_nonblock(lfd, 1);
    view("dup2, after F_SETFL O_NONBLOCK on the original", d3, 1);
    errno = 0;
    int a = accept(d3, NULL, NULL);
    printf("accept on the dup2, nobody connecting: %d %s\n", a, errname(errno));
    close(d3);
    close(d);
    close(lfd);
}

/* ---- the process's stdin/stdout/stderr ---- */
static void *use_std(void *arg)
{
    (void)arg;
    struct pollfd pfd = {0, POLLIN, 0};
    char buf[64];
    if (poll(&pfd, 1, 0) == 1)            /* /dev/null under compare.sh; never wait on a terminal */
        CHECK(read(0, buf, sizeof buf) >= 0);
    const char line[] = "a thread wrote this line to stdout with write(1)\n";
    CHECK(write(1, line, sizeof line - 1) == (ssize_t)(sizeof line - 1));
    CHECK(write(2, "", 0) == 0);
    return NULL;
}

static void test_std(void)
{
    int before[3], after[3];
    for (int i = 0; i < 3; i++)
        before[i] = fcntl(i, F_GETFL);
    fflush(stdout);
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, use_std, NULL));
    CHECK0(pthread_join(t, NULL));
    for (int i = 0; i < 3; i++)
        after[i] = fcntl(i, F_GETFL);
    for (int i = 0; i < 3; i++) {
        printf("fd %d flags after threads used it: %s\n", i, before[i] == after[i] ? "unchanged" : "CHANGED");
        if (before[i] != after[i])
            failed = 1;
    }
}

int main(void)
{
    test_std();
    test_pipes();
    test_sockets();
    test_dontwait();
    test_listen();
    test_dup();
    if (failed) {
        printf("FAIL\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
