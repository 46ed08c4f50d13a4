/* io_handoff: while one thread waits in a slow kernel call, the others keep
 * running (meant to run with a single processor for user code,
 * GMP_MAXPROCS=1). The "work" is a round of 1,000 mutex/condvar hand-offs
 * between two threads plus 20 short sleeps. Cases:
 *  - poll, select and epoll_wait with a 300 ms timeout on an empty pipe
 *    (return 0), and without a timeout on a pipe written after the work;
 *  - waitpid on a child that is let go after the work, then sleeps 300 ms;
 *  - sigwait for a signal sent only after the work is done;
 *  - reads of a 4 MiB regular file, checked, while the work runs;
 *  - a FIFO: the reader waits in open (nobody has opened it for writing
 *    yet) and then in read, and the work runs during each wait; the writer
 *    opens and writes only after the work.
 * Except with the 300 ms timeouts, the call cannot end before the work has
 * (what ends it happens after), and the program checks that it was still in
 * progress when the work ended: without hand-off the work could not run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)
#define CHECKSYS(e) do { if ((e) < 0) { printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, \
    #e, strerror(errno)); fflush(stdout); exit(1); } } while (0)

/* ---- the work: cond hand-offs between two threads, then short sleeps ---- */
#define HANDOFFS 1000
#define NAPS 20

static pthread_mutex_t wm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wc = PTHREAD_COND_INITIALIZER;
static int turn;

static void *partner(void *arg)
{
    (void)arg;
    for (int i = 0; i < HANDOFFS; i++) {
        pthread_mutex_lock(&wm);
        while (turn != 1)
            pthread_cond_wait(&wc, &wm);
        turn = 0;
        pthread_cond_signal(&wc);
        pthread_mutex_unlock(&wm);
    }
    return NULL;
}

static long work(void)
{
    long n = 0;
    pthread_t t;
    turn = 0;
    CHECK0(pthread_create(&t, NULL, partner, NULL));
    for (int i = 0; i < HANDOFFS; i++) {
        pthread_mutex_lock(&wm);
        while (turn != 0)
            pthread_cond_wait(&wc, &wm);
        turn = 1;
        n++;
        pthread_cond_signal(&wc);
        pthread_mutex_unlock(&wm);
    }
    CHECK0(pthread_join(t, NULL));
    for (int i = 0; i < NAPS; i++) {
        CHECK(usleep(1000) == 0);
        n++;
    }
    return n;
}

/* ---- a thread in a blocking call ---- */
struct blocked {
    void (*fn)(struct blocked *);
    int fd;
    pid_t pid;
    long r;
    int status;
    volatile int entered, returned;
};

static void *blocked_main(void *arg)
{
    struct blocked *b = arg;
    b->fn(b);
    __atomic_store_n(&b->returned, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Start b, wait until it is about to make its call, do the work while the
 * call is in progress, then end the call with release (NULL: it ends by
 * itself) and join.  With a release, the call cannot have returned before
 * the work ended, however slow the machine: that is checked. */
static void work_during(const char *what, struct blocked *b, void (*release)(struct blocked *))
{
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, blocked_main, b));
    while (!__atomic_load_n(&b->entered, __ATOMIC_SEQ_CST))
        usleep(1000);
    long n = work();
    int still = !__atomic_load_n(&b->returned, __ATOMIC_SEQ_CST);
    if (release)
        release(b);
    CHECK0(pthread_join(t, NULL));
    if (release) {
        printf("%s: work counted %ld %s\n", what, n, still ? "while the call was in progress" : "but the call had returned first");
        CHECK(still);
    } else {
        printf("%s: work counted %ld meanwhile\n", what, n);
    }
    CHECK(n == HANDOFFS + NAPS);
}

static int wake_pipe[2];
static int timeout_ms;

static void do_poll(struct blocked *b)
{
    struct pollfd p = {wake_pipe[0], POLLIN, 0};
    b->entered = 1;
    b->r = poll(&p, 1, timeout_ms);
}

static void do_select(struct blocked *b)
{
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(wake_pipe[0], &rd);
    struct timeval tv = {timeout_ms / 1000, timeout_ms % 1000 * 1000};
    b->entered = 1;
    b->r = select(wake_pipe[0] + 1, &rd, NULL, NULL, &tv);
}

static void do_epoll(struct blocked *b)
{
    int ep = epoll_create1(0);
    CHECKSYS(ep);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = wake_pipe[0]};
    CHECKSYS(epoll_ctl(ep, EPOLL_CTL_ADD, wake_pipe[0], &ev));
    b->entered = 1;
    b->r = epoll_wait(ep, &ev, 1, timeout_ms);
    close(ep);
}

/* Make the pipe readable; the woken call's thread is joined, then the byte is taken back. */
static void wake_write(struct blocked *b)
{
    (void)b;
    CHECK(write(wake_pipe[1], "w", 1) == 1);
}

static void take_back(void)
{
    char c;
    CHECK(read(wake_pipe[0], &c, 1) == 1);
}

static void test_polling(void)
{
    CHECKSYS(pipe(wake_pipe));
    /* nothing ready for 300 ms: each returns 0 after its timeout */
    timeout_ms = 300;
    struct blocked b1 = {.fn = do_poll}, b2 = {.fn = do_select}, b3 = {.fn = do_epoll};
    work_during("poll 300 ms timeout", &b1, NULL);
    printf("  poll returned %ld\n", b1.r);
    work_during("select 300 ms timeout", &b2, NULL);
    printf("  select returned %ld\n", b2.r);
    work_during("epoll_wait 300 ms timeout", &b3, NULL);
    printf("  epoll_wait returned %ld\n", b3.r);
    CHECK(b1.r == 0 && b2.r == 0 && b3.r == 0);

    /* made ready only after the work (timeout 10 s) */
    timeout_ms = 10000;
    struct blocked c1 = {.fn = do_poll}, c2 = {.fn = do_select}, c3 = {.fn = do_epoll};
    work_during("poll until a write after the work", &c1, wake_write);
    take_back();
    printf("  poll returned %ld\n", c1.r);
    work_during("select until a write after the work", &c2, wake_write);
    take_back();
    printf("  select returned %ld\n", c2.r);
    work_during("epoll_wait until a write after the work", &c3, wake_write);
    take_back();
    printf("  epoll_wait returned %ld\n", c3.r);
    CHECK(c1.r == 1 && c2.r == 1 && c3.r == 1);
    close(wake_pipe[0]);
    close(wake_pipe[1]);
}

static void do_waitpid(struct blocked *b)
{
    b->entered = 1;
    b->r = waitpid(b->pid, &b->status, 0);
}

static int go_pipe[2];

static void let_child_go(struct blocked *b)
{
    (void)b;
    CHECK(write(go_pipe[1], "g", 1) == 1);
}

/* The child waits for a byte from the parent (sent after the work), then
 * sleeps 300 ms and exits 7. */
static void test_waitpid(void)
{
    CHECKSYS(pipe(go_pipe));
    fflush(stdout);
    pid_t pid = fork();
    CHECKSYS(pid);
    if (pid == 0) {
        char c;
        if (read(go_pipe[0], &c, 1) != 1)
            _exit(99);
        struct timespec ts = {0, 300000000};
        nanosleep(&ts, NULL);
        _exit(7);
    }
    struct blocked b = {.fn = do_waitpid, .pid = pid};
    work_during("waitpid on a child that then sleeps 300 ms", &b, let_child_go);
    CHECK(b.r == pid);
    printf("  child exited with %d\n", WIFEXITED(b.status) ? WEXITSTATUS(b.status) : -1);
    close(go_pipe[0]);
    close(go_pipe[1]);
}

static void do_sigwait(struct blocked *b)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    int sig = 0;
    b->entered = 1;
    b->r = sigwait(&set, &sig);
    b->status = sig;
}

static void test_sigwait(void)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK0(pthread_sigmask(SIG_BLOCK, &set, &old));   /* inherited by the threads */
    struct blocked b = {.fn = do_sigwait};
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, blocked_main, &b));
    while (!__atomic_load_n(&b.entered, __ATOMIC_SEQ_CST))
        usleep(1000);
    long n = work();
    int still = !b.returned;
    CHECK0(pthread_kill(t, SIGUSR1));
    CHECK0(pthread_join(t, NULL));
    printf("sigwait: work counted %ld %s\n", n, still ? "while the call was in progress" : "but the call had returned first");
    CHECK(still && n == HANDOFFS + NAPS);
    printf("  sigwait returned %ld with %s\n", b.r, b.status == SIGUSR1 ? "SIGUSR1" : "another signal");
    CHECK(b.r == 0 && b.status == SIGUSR1);
    CHECK0(pthread_sigmask(SIG_SETMASK, &old, NULL));
}

/* ---- a regular file ---- */
#define FILESZ (4 << 20)
static char tmpdir[] = "/tmp/io_handoff.XXXXXX";

static unsigned char file_byte(long i) { return (unsigned char)(i * 31 >> 4); }

struct file_reader {
    const char *path;
    long bytes, bad;
};

static void *read_file(void *arg)
{
    struct file_reader *f = arg;
    unsigned char *buf = malloc(65536);
    CHECK(buf);
    for (int pass = 0; pass < 4; pass++) {
        int fd = open(f->path, O_RDONLY);
        CHECKSYS(fd);
        long off = 0;
        ssize_t r;
        while ((r = read(fd, buf, 65536)) > 0) {
            for (ssize_t i = 0; i < r; i++)
                if (buf[i] != file_byte(off + i))
                    f->bad++;
            off += r;
        }
        CHECKSYS(r);
        CHECK(off == FILESZ);
        f->bytes += off;
        close(fd);
    }
    free(buf);
    return NULL;
}

static void test_regular_file(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/data", tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECKSYS(fd);
    unsigned char *buf = malloc(FILESZ);
    CHECK(buf);
    for (long i = 0; i < FILESZ; i++)
        buf[i] = file_byte(i);
    CHECK(write(fd, buf, FILESZ) == FILESZ);
    CHECKSYS(fsync(fd));
    close(fd);
    free(buf);
    struct file_reader f = {.path = path};
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, read_file, &f));
    long n = work();
    CHECK0(pthread_join(t, NULL));
    printf("regular file: read %ld bytes, %s; work counted %ld meanwhile\n", f.bytes,
           f.bad ? "some wrong" : "all intact", n);
    CHECK(f.bad == 0 && f.bytes == 4L * FILESZ && n == HANDOFFS + NAPS);
    unlink(path);
}

/* ---- a FIFO ---- */
static char fifo_path[64];
static volatile int fifo_stage;   /* 1 opening, 2 opened (about to read), 3 done */
static char fifo_buf[32];
static long fifo_got;
static int fifo_eof;

static void *fifo_reader(void *arg)
{
    (void)arg;
    fifo_stage = 1;
    int fd = open(fifo_path, O_RDONLY);  /* waits for a writer */
    CHECKSYS(fd);
    fifo_stage = 2;
    ssize_t r;
    while ((r = read(fd, fifo_buf + fifo_got, sizeof fifo_buf - 1 - fifo_got)) > 0)
        fifo_got += r;
    if (r < 0)
        printf("FIFO: read failed: %s\n", strerror(errno));
    fifo_eof = r == 0;
    close(fd);
    fifo_stage = 3;
    return NULL;
}

static void test_fifo(void)
{
    snprintf(fifo_path, sizeof fifo_path, "%s/fifo", tmpdir);
    CHECKSYS(mkfifo(fifo_path, 0600));
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, fifo_reader, NULL));
    while (fifo_stage < 1)
        usleep(1000);
    long n = work();
    printf("FIFO: work counted %ld while the reader %s\n", n, fifo_stage == 1 ? "waited in open" : "had got past open");
    CHECK(fifo_stage == 1);
    int fd = open(fifo_path, O_WRONLY);
    CHECKSYS(fd);
    while (fifo_stage < 2)
        usleep(1000);
    n = work();
    printf("FIFO: work counted %ld while the reader %s\n", n, fifo_stage == 2 ? "waited to read" : "had finished");
    CHECK(write(fd, "hello", 5) == 5);
    CHECKSYS(close(fd));
    CHECK0(pthread_join(t, NULL));
    fifo_buf[fifo_got] = 0;
    printf("FIFO: reader got \"%s\"%s\n", fifo_buf, fifo_eof ? " and then EOF" : "");
    CHECK(fifo_got == 5 && fifo_eof);
    unlink(fifo_path);
}

static void cleanup(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/data", tmpdir);
    unlink(path);
    snprintf(path, sizeof path, "%s/fifo", tmpdir);
    unlink(path);
    rmdir(tmpdir);
}

int main(void)
{
    CHECK(mkdtemp(tmpdir));
    atexit(cleanup);
    test_polling();
    test_waitpid();
    test_sigwait();
    test_regular_file();
    test_fifo();
    printf("ok\n");
    return 0;
}
