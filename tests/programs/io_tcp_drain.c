/* io_tcp_drain: blocking reads of TCP sockets that stop short of the data
 * still to come, where no new readiness edge follows (gmp skips a read
 * that cannot succeed: syscall-shims/io.c, "drained reads"):
 *  - fin: a short read ends at the peer's FIN; the next read must give 0;
 *  - urgent: a read stops at the urgent mark (MSG_OOB), with and without
 *    SO_OOBINLINE; the data after the mark must still come, and a recv
 *    with MSG_OOB takes the urgent byte;
 *  - lowat: with SO_RCVLOWAT a blocking read waits for that many bytes;
 *  - stream (three rounds): 12 connections, each with a writer of random
 *    pieces at random pauses and two readers sharing the fd with random
 *    read sizes (some exact, some larger than what is there): every byte
 *    arrives once, and both readers see the end (an edge that woke one
 *    reader must not leave the other, whose read failed before it, parked).
 * Every case runs with the reader parked before the data comes and with
 * the data there before it reads.  Output is the same natively. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdbool.h>
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

static struct sockaddr_in addr;
static int lfd;

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

/* A connected pair over loopback: *w the client end, *r the accepted end. */
static void tcp_pair(int *w, int *r)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECKSYS(c);
    CHECKSYS(connect(c, (struct sockaddr *)&addr, sizeof addr));
    int one = 1;
    CHECKSYS(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    int a = accept(lfd, NULL, NULL);
    CHECKSYS(a);
    *w = c;
    *r = a;
}

static void write_full(int fd, const void *p, size_t n, int flags)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, flags);
        if (k < 0 && errno == EINTR)
            continue;
        CHECKSYS(k);
        p = (const char *)p + k;
        n -= (size_t)k;
    }
}

/* Reads until EOF into buf (cap bytes at most), in reads of at most chunk. */
static size_t read_to_eof(int fd, char *buf, size_t cap, size_t chunk)
{
    size_t got = 0;
    for (;;) {
        size_t want = chunk < cap - got ? chunk : cap - got;
        CHECK(want > 0);
        ssize_t n = read(fd, buf + got, want);
        if (n < 0 && errno == EINTR)
            continue;
        CHECKSYS(n);
        if (n == 0)
            return got;
        got += (size_t)n;
    }
}

struct sender {
    int fd;
    int kind;    /* 0 fin, 1 urgent */
    long delay;  /* us before sending */
    uint32_t seed;
    sem_t done;  /* urgent: the reader has every byte */
};

static void *send_fin(void *arg)
{
    struct sender *s = arg;
    char buf[3000];
    uint32_t seed = s->seed;
    size_t n = 1 + rnd(&seed) % sizeof buf;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(s->seed + i);
    if (s->delay)
        sleep_us(s->delay);
    write_full(s->fd, buf, n, 0);
    if (rnd(&seed) & 1)
        CHECKSYS(shutdown(s->fd, SHUT_WR));
    else
        CHECKSYS(close(s->fd));
    return (void *)n;
}

/* fin: data then FIN, read in pieces larger than the data: all of it, then 0. */
static void case_fin(void)
{
    for (int i = 0; i < 200; i++) {
        int w, r;
        tcp_pair(&w, &r);
        struct sender s = {.fd = w, .kind = 0, .delay = (i & 1) ? 2000 : 0, .seed = (uint32_t)i * 7919u + 1};
        pthread_t t;
        CHECK0(pthread_create(&t, NULL, send_fin, &s));
        if (!(i & 1))
            sleep_us(1000); /* the data and the FIN are there before the first read */
        char buf[8192];
        size_t got = read_to_eof(r, buf, sizeof buf, 4096);
        void *sent;
        CHECK0(pthread_join(t, &sent));
        CHECK(got == (size_t)sent);
        for (size_t k = 0; k < got; k++)
            CHECK(buf[k] == (char)(s.seed + k));
        char c;
        CHECK(read(r, &c, 1) == 0); /* still end of file */
        close(r);
        if (shutdown(w, SHUT_RDWR) == 0 || errno != EBADF)
            close(w);
    }
    printf("fin: 200 connections, every byte then end of file\n");
}

static void *send_urgent(void *arg)
{
    struct sender *s = arg;
    if (s->delay)
        sleep_us(s->delay);
    write_full(s->fd, "abc", 3, 0);
    write_full(s->fd, "X", 1, MSG_OOB);
    write_full(s->fd, "def", 3, 0);
    /* nothing more comes until the reader has read it all: no later edge may rescue a lost read */
    CHECK0(sem_wait(&s->done));
    CHECKSYS(shutdown(s->fd, SHUT_WR));
    return NULL;
}

static void *wait_pipe(void *arg)
{
    char c;
    CHECK(read(*(int *)arg, &c, 1) == 1);
    return NULL;
}

/* urgent: "abc", urgent "X", "def": read in large pieces until EOF. */
static void case_urgent(void)
{
    int counts[3][2] = {{0}};
    /* A thread blocked in a read all along: under gmp, an idle kernel thread then takes
     * readiness as it comes, before the reader looks (the order that matters here). */
    int idle[2];
    pthread_t idler;
    CHECKSYS(pipe(idle));
    CHECK0(pthread_create(&idler, NULL, wait_pipe, &idle[0]));
    for (int i = 0; i < 60; i++) {
        int mode = i % 3; /* 0 plain, 1 SO_OOBINLINE, 2 recv(MSG_OOB) once at the mark */
        int w, r, one = 1;
        tcp_pair(&w, &r);
        if (mode == 1)
            CHECKSYS(setsockopt(r, SOL_SOCKET, SO_OOBINLINE, &one, sizeof one));
        struct sender s = {.fd = w, .kind = 1, .delay = (i & 1) ? 2000 : 0};
        CHECKSYS(sem_init(&s.done, 0, 0));
        size_t expect = mode == 1 ? 7 : 6;
        pthread_t t;
        CHECK0(pthread_create(&t, NULL, send_urgent, &s));
        if (!(i & 1))
            sleep_us(1000);
        char buf[64];
        size_t got = 0;
        bool oob_taken = false;
        for (;;) {
            ssize_t n = read(r, buf + got, sizeof buf - got);
            if (n < 0 && errno == EINTR)
                continue;
            CHECKSYS(n);
            if (n == 0)
                break;
            got += (size_t)n;
            if (got == expect)
                CHECKSYS(sem_post(&s.done));
            if (mode == 2 && !oob_taken && got >= 3) {
                char c;
                ssize_t k;
                while ((k = recv(r, &c, 1, MSG_OOB)) < 0 && (errno == EINTR || errno == EINVAL))
                    sleep_us(100); /* EINVAL: the urgent byte is not there yet */
                CHECKSYS(k);
                CHECK(k == 1 && c == 'X');
                oob_taken = true;
            }
        }
        CHECK0(pthread_join(t, NULL));
        sem_destroy(&s.done);
        buf[got] = 0;
        if (mode == 1)
            CHECK(strcmp(buf, "abcXdef") == 0);
        else
            CHECK(strcmp(buf, "abcdef") == 0);
        counts[mode][i & 1]++;
        close(r);
        close(w);
    }
    CHECK(write(idle[1], "x", 1) == 1);
    CHECK0(pthread_join(idler, NULL));
    close(idle[0]);
    close(idle[1]);
    printf("urgent: plain %d+%d, inline %d+%d, taken with MSG_OOB %d+%d: every byte\n", counts[0][0],
           counts[0][1], counts[1][0], counts[1][1], counts[2][0], counts[2][1]);
}

static void *send_drip(void *arg)
{
    struct sender *s = arg;
    char b[10];
    memset(b, 'd', sizeof b);
    for (int k = 0; k < 30; k++) {
        write_full(s->fd, b, sizeof b, 0);
        sleep_us(500);
    }
    CHECKSYS(shutdown(s->fd, SHUT_WR));
    return NULL;
}

/* lowat: SO_RCVLOWAT 100 while 10 bytes come every 0.5 ms: each read but the last has >= 100. */
static void case_lowat(void)
{
    int w, r, lowat = 100;
    tcp_pair(&w, &r);
    CHECKSYS(setsockopt(r, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat));
    struct sender s = {.fd = w};
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, send_drip, &s));
    char buf[4096];
    size_t got = 0;
    int reads = 0, small = 0;
    for (;;) {
        ssize_t n = read(r, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        CHECKSYS(n);
        if (n == 0)
            break;
        if (n < lowat && got + (size_t)n < 300)
            small++;
        got += (size_t)n;
        reads++;
    }
    CHECK0(pthread_join(t, NULL));
    CHECK(got == 300);
    printf("lowat: 300 bytes, %s\n", small ? "a read returned fewer than SO_RCVLOWAT bytes" :
                                             "every read but the last returned at least SO_RCVLOWAT bytes");
    close(r);
    close(w);
}

#define STREAMS 12
#define STREAM_BYTES (160 * 1024)

struct stream {
    int w, r;
    uint32_t seed;
    pthread_mutex_t lock;
    uint64_t sum, count; /* what the readers took */
};

static unsigned char stream_byte(uint32_t seed, size_t i)
{
    return (unsigned char)(seed * 31 + i * 7 + (i >> 9));
}

static void *stream_writer(void *arg)
{
    struct stream *st = arg;
    uint32_t seed = st->seed;
    unsigned char buf[5000];
    size_t off = 0;
    while (off < STREAM_BYTES) {
        size_t n = 1 + rnd(&seed) % sizeof buf;
        if (n > STREAM_BYTES - off)
            n = STREAM_BYTES - off;
        for (size_t k = 0; k < n; k++)
            buf[k] = stream_byte(st->seed, off + k);
        write_full(st->w, buf, n, 0);
        off += n;
        uint32_t p = rnd(&seed) % 8;
        if (p == 0)
            sleep_us(rnd(&seed) % 300);
        else if (p == 1)
            sched_yield();
    }
    CHECKSYS(shutdown(st->w, SHUT_WR));
    return NULL;
}

static void *stream_reader(void *arg)
{
    struct stream *st = arg;
    uint32_t seed = st->seed ^ (uint32_t)(uintptr_t)&seed;
    unsigned char buf[8192];
    uint64_t sum = 0, count = 0;
    for (;;) {
        size_t want = (rnd(&seed) & 1) ? 1 + rnd(&seed) % 64 : 1 + rnd(&seed) % sizeof buf;
        ssize_t n = (rnd(&seed) & 1) ? read(st->r, buf, want) : recv(st->r, buf, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
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
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

static void case_stream(void)
{
    static struct stream st[STREAMS];
    pthread_t t[STREAMS][3];
    for (int i = 0; i < STREAMS; i++) {
        tcp_pair(&st[i].w, &st[i].r);
        st[i].seed = 1000u + (uint32_t)i;
        st[i].sum = st[i].count = 0;
        pthread_mutex_init(&st[i].lock, NULL);
    }
    for (int i = 0; i < STREAMS; i++) {
        CHECK0(pthread_create(&t[i][0], NULL, stream_reader, &st[i]));
        CHECK0(pthread_create(&t[i][1], NULL, stream_reader, &st[i]));
        CHECK0(pthread_create(&t[i][2], NULL, stream_writer, &st[i]));
    }
    for (int i = 0; i < STREAMS; i++) {
        for (int k = 0; k < 3; k++)
            CHECK0(pthread_join(t[i][k], NULL));
        uint64_t sum = 0;
        for (size_t k = 0; k < STREAM_BYTES; k++)
            sum += stream_byte(st[i].seed, k);
        CHECK(st[i].count == STREAM_BYTES);
        CHECK(st[i].sum == sum);
        close(st[i].w);
        close(st[i].r);
    }
    printf("stream: %d connections, two readers each: every byte once\n", STREAMS);
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
    case_fin();
    case_urgent();
    case_lowat();
    for (int round = 0; round < 3; round++)
        case_stream();
    close(lfd);
    printf("done\n");
    return 0;
}
