/* io_pipes: blocking I/O on pipes and socketpairs between threads.
 *  - pipe ping-pong: two threads pass a counter back and forth 10,000 times;
 *  - socketpair ping-pong, one side using read/write, the other send/recv;
 *  - fan-in: 20 writer threads each send 200 messages of 100 bytes to each of
 *    20 pipes; one reader per pipe checks every byte, the order of each
 *    writer's messages and that nothing is lost or duplicated;
 *  - a 1 MiB write() to a blocking pipe returns the full count while a reader
 *    drains it in small reads;
 *  - writev/readv with a few iovecs, and a writev of 128 iovecs (128 KiB,
 *    twice a pipe's capacity) that must also complete in full;
 *  - stdio (fprintf/fgets) on fdopen'ed pipe ends across two threads. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)
#define CHECKSYS(e) do { if ((e) < 0) { printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, \
    #e, strerror(errno)); fflush(stdout); exit(1); } } while (0)

/* Read exactly n bytes (a pipe may return less per call); 0 on EOF first. */
static size_t read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        CHECKSYS(r);
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* ---- ping-pong ---- */
#define ROUNDS 10000

struct pp {
    int in, out;     /* this side reads from in, writes to out */
    int use_sock;    /* send/recv instead of read/write */
    long rounds;
};

static void *pong(void *arg)
{
    struct pp *p = arg;
    for (;;) {
        uint32_t v;
        ssize_t r = p->use_sock ? recv(p->in, &v, sizeof v, MSG_WAITALL) : (ssize_t)read_full(p->in, &v, sizeof v);
        CHECKSYS(r);
        if (r == 0)
            break;
        CHECK(r == sizeof v);
        v++;
        ssize_t w = p->use_sock ? send(p->out, &v, sizeof v, 0) : write(p->out, &v, sizeof v);
        CHECK(w == sizeof v);
        p->rounds++;
    }
    return NULL;
}

/* main side: sends v, expects v+1 back. */
static long ping(int in, int out)
{
    long n = 0;
    uint32_t v = 0;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(write(out, &v, sizeof v) == sizeof v);
        uint32_t back;
        CHECK(read_full(in, &back, sizeof back) == sizeof back);
        CHECK(back == v + 1);
        v = back + 1;
        n++;
    }
    return n;
}

static void test_pipe_pingpong(void)
{
    int a[2], b[2];
    CHECKSYS(pipe(a));
    CHECKSYS(pipe(b));
    struct pp p = {.in = a[0], .out = b[1]};
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, pong, &p));
    long n = ping(b[0], a[1]);
    CHECKSYS(close(a[1]));               /* EOF ends pong */
    CHECK0(pthread_join(t, NULL));
    CHECK(n == ROUNDS && p.rounds == ROUNDS);
    printf("pipe ping-pong: %ld round trips\n", n);
    close(a[0]); close(b[0]); close(b[1]);
}

static void test_socketpair_pingpong(void)
{
    int sv[2];
    CHECKSYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct pp p = {.in = sv[1], .out = sv[1], .use_sock = 1};
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, pong, &p));
    long n = ping(sv[0], sv[0]);
    CHECKSYS(shutdown(sv[0], SHUT_WR));  /* EOF ends pong */
    CHECK0(pthread_join(t, NULL));
    CHECK(n == ROUNDS && p.rounds == ROUNDS);
    printf("socketpair ping-pong: %ld round trips\n", n);
    close(sv[0]); close(sv[1]);
}

/* ---- fan-in: 20 writers x 20 pipes x 200 messages of 100 bytes ---- */
#define NW 20
#define NP 20
#define NMSG 200
#define MSGSZ 100

static int fan[NP][2];

static unsigned char msg_byte(int w, int p, int seq, int i)
{
    return (unsigned char)(w * 131 + p * 31 + seq * 7 + i * 13 + 1);
}

static void make_msg(unsigned char *m, int w, int p, int seq)
{
    m[0] = (unsigned char)w;
    m[1] = (unsigned char)p;
    m[2] = (unsigned char)(seq & 0xff);
    m[3] = (unsigned char)(seq >> 8);
    for (int i = 4; i < MSGSZ; i++)
        m[i] = msg_byte(w, p, seq, i);
}

static void *fan_writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    unsigned char m[MSGSZ];
    for (int seq = 0; seq < NMSG; seq++)
        for (int p = 0; p < NP; p++) {
            make_msg(m, w, p, seq);
            ssize_t r = write(fan[p][1], m, MSGSZ); /* <= PIPE_BUF: atomic */
            CHECKSYS(r);
            CHECK(r == MSGSZ);
        }
    return NULL;
}

struct fan_result {
    long msgs, bytes, bad;
};

static void *fan_reader(void *arg)
{
    int p = (int)(intptr_t)arg;
    struct fan_result *res = calloc(1, sizeof *res);
    CHECK(res);
    int next[NW] = {0};
    unsigned char m[MSGSZ];
    for (;;) {
        size_t got = read_full(fan[p][0], m, MSGSZ);
        if (got == 0)
            break;
        CHECK(got == MSGSZ);
        res->bytes += MSGSZ;
        int w = m[0], seq = m[2] | m[3] << 8;
        if (w >= NW || m[1] != p || seq != next[w]) {
            res->bad++;
            continue;
        }
        next[w]++;
        for (int i = 4; i < MSGSZ; i++)
            if (m[i] != msg_byte(w, p, seq, i)) {
                res->bad++;
                break;
            }
        res->msgs++;
    }
    for (int w = 0; w < NW; w++)
        if (next[w] != NMSG)
            res->bad++;
    return res;
}

static void test_fan_in(void)
{
    pthread_t wt[NW], rt[NP];
    for (int p = 0; p < NP; p++)
        CHECKSYS(pipe(fan[p]));
    for (intptr_t p = 0; p < NP; p++)
        CHECK0(pthread_create(&rt[p], NULL, fan_reader, (void *)p));
    for (intptr_t w = 0; w < NW; w++)
        CHECK0(pthread_create(&wt[w], NULL, fan_writer, (void *)w));
    for (int w = 0; w < NW; w++)
        CHECK0(pthread_join(wt[w], NULL));
    for (int p = 0; p < NP; p++)
        CHECKSYS(close(fan[p][1]));
    long msgs = 0, bytes = 0, bad = 0;
    for (int p = 0; p < NP; p++) {
        void *r;
        CHECK0(pthread_join(rt[p], &r));
        struct fan_result *res = r;
        msgs += res->msgs;
        bytes += res->bytes;
        bad += res->bad;
        free(res);
        close(fan[p][0]);
    }
    CHECK(bad == 0);
    CHECK(msgs == (long)NW * NP * NMSG);
    CHECK(bytes == (long)NW * NP * NMSG * MSGSZ);
    printf("fan-in: %d writers x %d pipes: %ld messages, %ld bytes, all in order and intact\n",
           NW, NP, msgs, bytes);
}

/* ---- large writes ---- */
#define BIG (1 << 20)

static unsigned char big_byte(size_t i) { return (unsigned char)(i * 2654435761u >> 13); }

struct drain {
    int fd;
    size_t chunk;
    int delay_ms;     /* start reading only after this long */
    size_t total;
    long bad;
};

static void *drainer(void *arg)
{
    struct drain *d = arg;
    unsigned char *buf = malloc(d->chunk);
    CHECK(buf);
    if (d->delay_ms)
        usleep((useconds_t)d->delay_ms * 1000);
    for (;;) {
        ssize_t r = read(d->fd, buf, d->chunk);
        CHECKSYS(r);
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != big_byte(d->total + (size_t)i))
                d->bad++;
        d->total += (size_t)r;
    }
    free(buf);
    return NULL;
}

static void test_big_write(void)
{
    int p[2];
    CHECKSYS(pipe(p));
    unsigned char *buf = malloc(BIG);
    CHECK(buf);
    for (size_t i = 0; i < BIG; i++)
        buf[i] = big_byte(i);
    struct drain d = {.fd = p[0], .chunk = 3000};
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, drainer, &d));
    ssize_t w = write(p[1], buf, BIG);
    CHECKSYS(w);
    printf("1 MiB write to a blocking pipe returned %s\n", w == BIG ? "the full count" : "a short count");
    if (w != BIG)
        fprintf(stderr, "io_pipes: write returned %zd of %d\n", w, BIG);
    CHECKSYS(close(p[1]));
    CHECK0(pthread_join(t, NULL));
    CHECK(w == BIG);
    CHECK(d.total == BIG && d.bad == 0);
    printf("reader got %zu bytes, all intact\n", d.total);
    close(p[0]);
    free(buf);
}

struct late {
    int fd;
    struct iovec *iov;
    int n;
};

static void *late_writev(void *arg)
{
    struct late *l = arg;
    usleep(50000);
    ssize_t total = 0;
    for (int i = 0; i < l->n; i++)
        total += (ssize_t)l->iov[i].iov_len;
    CHECK(writev(l->fd, l->iov, l->n) == total);
    return NULL;
}

/* readv until want bytes arrived (each call fills the iovecs from the start
 * of what is still missing). */
static ssize_t read_full_v(int fd, struct iovec *v, int n, size_t want)
{
    size_t got = 0;
    while (got < want) {
        struct iovec cur[8];
        int k = 0;
        size_t skip = got;
        for (int i = 0; i < n; i++) {
            if (skip >= v[i].iov_len) {
                skip -= v[i].iov_len;
                continue;
            }
            cur[k++] = (struct iovec){(char *)v[i].iov_base + skip, v[i].iov_len - skip};
            skip = 0;
        }
        ssize_t r = readv(fd, cur, k);
        CHECKSYS(r);
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static void test_readv_writev(void)
{
    int p[2];
    CHECKSYS(pipe(p));
    /* a few iovecs: out as 3 pieces, back in as 4 pieces of other sizes */
    char h[] = "header:", b[] = "the body of the message", t[] = ":trailer";
    struct iovec out[3] = {{h, strlen(h)}, {b, strlen(b)}, {t, strlen(t)}};
    size_t want = strlen(h) + strlen(b) + strlen(t);
    CHECK(writev(p[1], out, 3) == (ssize_t)want);
    char r1[5], r2[10], r3[12], r4[20];
    struct iovec in[4] = {{r1, sizeof r1}, {r2, sizeof r2}, {r3, sizeof r3}, {r4, sizeof r4}};
    ssize_t got = readv(p[0], in, 4);
    CHECK(got == (ssize_t)want);
    char joined[64], expect[64];
    snprintf(expect, sizeof expect, "%s%s%s", h, b, t);
    memcpy(joined, r1, 5);
    memcpy(joined + 5, r2, 10);
    memcpy(joined + 15, r3, 12);
    memcpy(joined + 27, r4, want - 27);
    joined[want] = 0;
    CHECK(strcmp(joined, expect) == 0);
    printf("writev 3 iovecs / readv 4 iovecs: %zd bytes, same text\n", got);

    /* readv on an empty pipe blocks until a writer thread's writev comes */
    pthread_t th;
    struct late lw = {.fd = p[1], .iov = out, .n = 3};
    CHECK0(pthread_create(&th, NULL, late_writev, &lw));
    in[0].iov_base = joined;
    in[0].iov_len = 10;
    in[1].iov_base = joined + 10;
    in[1].iov_len = sizeof joined - 10;
    memset(joined, 0, sizeof joined);
    got = read_full_v(p[0], in, 2, want);
    CHECK0(pthread_join(th, NULL));
    CHECK(got == (ssize_t)want && memcmp(joined, expect, want) == 0);
    printf("readv waited for a late writev: %zd bytes, same text\n", got);
    close(p[0]);
    close(p[1]);

    /* 128 iovecs of 1 KiB = twice the pipe capacity: writev on a blocking
     * pipe returns only when all of it is written. */
    enum { NIOV = 128, IOVSZ = 1024 };
    CHECKSYS(pipe(p));
    unsigned char *buf = malloc(NIOV * IOVSZ);
    CHECK(buf);
    struct iovec many[NIOV];
    for (size_t i = 0; i < NIOV * IOVSZ; i++)
        buf[i] = big_byte(i);
    for (int i = 0; i < NIOV; i++)
        many[i] = (struct iovec){buf + i * IOVSZ, IOVSZ};
    struct drain d2 = {.fd = p[0], .chunk = 5000, .delay_ms = 100};
    CHECK0(pthread_create(&th, NULL, drainer, &d2));
    ssize_t w = writev(p[1], many, NIOV);
    CHECKSYS(w);
    printf("writev of %d iovecs (%d bytes) to a blocking pipe returned %s\n", NIOV, NIOV * IOVSZ,
           w == NIOV * IOVSZ ? "the full count" : "a short count");
    if (w != NIOV * IOVSZ)
        fprintf(stderr, "io_pipes: writev returned %zd of %d\n", w, NIOV * IOVSZ);
    CHECKSYS(close(p[1]));
    CHECK0(pthread_join(th, NULL));
    CHECK(d2.bad == 0 && d2.total == (size_t)w);
    CHECK(w == NIOV * IOVSZ);
    close(p[0]);
    free(buf);
}

/* ---- stdio on fdopen'ed pipe ends ---- */
#define LINES 2000

static void *stdio_reader(void *arg)
{
    FILE *in = arg;
    char line[128];
    long n = 0;
    while (fgets(line, sizeof line, in)) {
        char expect[128];
        snprintf(expect, sizeof expect, "line %ld: %0*d\n", n, (int)(n % 50) + 1, 7);
        CHECK(strcmp(line, expect) == 0);
        n++;
    }
    CHECK(feof(in) && !ferror(in));
    return (void *)n;
}

static void test_stdio(void)
{
    int p[2];
    CHECKSYS(pipe(p));
    FILE *in = fdopen(p[0], "r"), *out = fdopen(p[1], "w");
    CHECK(in && out);
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, stdio_reader, in));
    for (long n = 0; n < LINES; n++) {
        CHECK(fprintf(out, "line %ld: %0*d\n", n, (int)(n % 50) + 1, 7) > 0);
        if (n % 100 == 0)
            CHECK(fflush(out) == 0);
    }
    CHECK(fclose(out) == 0);
    void *r;
    CHECK0(pthread_join(t, &r));
    CHECK((long)r == LINES);
    CHECK(fclose(in) == 0);
    printf("stdio: %ld lines through fdopen'ed pipe ends\n", (long)r);
}

int main(void)
{
    test_pipe_pingpong();
    test_socketpair_pingpong();
    test_fan_in();
    test_big_write();
    test_stdio();
    test_readv_writev();
    printf("ok\n");
    return 0;
}
