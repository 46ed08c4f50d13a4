/* io_pipe_escape: a pipe made with pipe() blocks wherever it is used,
 * through every road that leads past read() and write().  gmp keeps such a
 * pipe O_NONBLOCK underneath while only its shims use it (core/netpoll.h,
 * forced pipes); each case here takes one road while the other end is
 * slow, so that a pipe left non-blocking would show EAGAIN, a short count,
 * a stdio error or lost bytes:
 *  - fdopen'ed read end read with fgets, and a pipe dup2'ed onto stdout
 *    written with printf (glibc's internal read and write);
 *  - dprintf of more than a pipe holds;
 *  - syscall(SYS_read) and syscall(SYS_write) of a pipe, splice from one;
 *  - a kernel thread gmp did not create (glibc's SIGEV_THREAD helper)
 *    reading a pipe and writing more than it holds;
 *  - a descriptor passed in SCM_RIGHTS, then read through stdio;
 *  - posix_spawn and vfork+exec of cat on a pipe dup2'ed onto its stdin,
 *    and a fork child reading through stdio;
 *  - exec of this program, which then checks that the pipe it inherited
 *    is blocking (F_GETFL) and reads it;
 *  - F_GETFL shows what the program set, and O_NONBLOCK it sets is obeyed;
 *  - once liburing is loaded (its io_uring requests honour O_NONBLOCK and
 *    gmp cannot see them), a new pipe is blocking even in
 *    /proc/self/fdinfo, the kernel's own account.
 * Every result is printed and compared with the native run. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, #c, strerror(errno)); \
    fflush(stdout); _exit(1); } } while (0)

#define BIG (256 * 1024) /* four times what a pipe holds */

extern char **environ;
static char self[4096];

/* A slow writer: n bytes of a pattern in pieces, a pause before each. */
struct writer { int fd; size_t n; int close_after; };

static void *slow_write(void *arg)
{
    struct writer *w = arg;
    char buf[4096];
    size_t off = 0;
    while (off < w->n) {
        usleep(300);
        size_t k = w->n - off < sizeof buf ? w->n - off : sizeof buf;
        for (size_t i = 0; i < k; i++)
            buf[i] = (char)('a' + (off + i) % 26);
        ssize_t r = write(w->fd, buf, k);
        CHECK(r == (ssize_t)k);
        off += k;
    }
    if (w->close_after)
        close(w->fd);
    return NULL;
}

/* A slow reader: reads everything until EOF, in small pieces with pauses; returns the byte count. */
static void *slow_read(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[1000];
    size_t total = 0;
    for (;;) {
        usleep(100);
        ssize_t r = read(fd, buf, sizeof buf);
        CHECK(r >= 0);
        if (r == 0)
            break;
        total += (size_t)r;
    }
    return (void *)(uintptr_t)total;
}

static unsigned long sum_pattern(size_t n)
{
    unsigned long s = 0;
    for (size_t i = 0; i < n; i++)
        s += (unsigned char)('a' + i % 26);
    return s;
}

static void case_fdopen(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    FILE *f = fdopen(p[0], "r");
    CHECK(f);
    struct writer w = {p[1], 20000, 1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, slow_write, &w) == 0);
    size_t n = 0;
    unsigned long s = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        n++;
        s += (unsigned char)c;
    }
    printf("fdopen: read %zu bytes, sum ok %d, error %d\n", n, s == sum_pattern(20000), ferror(f));
    pthread_join(t, NULL);
    fclose(f);
}

static void case_stdout(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(stdout);
    int saved = dup(1);
    CHECK(saved >= 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, slow_read, (void *)(intptr_t)p[0]) == 0);
    CHECK(dup2(p[1], 1) == 1);
    close(p[1]);
    int bad = 0;
    for (int i = 0; i < 4000; i++)
        if (printf("line %05d of the stdout pipe case, padded to about sixty-four bytes\n", i) < 0)
            bad++;
    int ferr = fflush(stdout) != 0 || ferror(stdout);
    CHECK(dup2(saved, 1) == 1); /* the last write end closes: the reader sees EOF */
    close(saved);
    void *got;
    pthread_join(t, &got);
    printf("stdout pipe: %lu bytes through, %d printf errors, stream error %d\n", (unsigned long)(uintptr_t)got, bad, ferr);
}

static void case_dprintf(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, slow_read, (void *)(intptr_t)p[0]) == 0);
    long total = 0;
    for (int i = 0; i < 2000; i++) {
        int r = dprintf(p[1], "%0100d\n", i);
        CHECK(r == 101);
        total += r;
    }
    close(p[1]);
    void *got;
    pthread_join(t, &got);
    printf("dprintf: wrote %ld, read %lu\n", total, (unsigned long)(uintptr_t)got);
}

static void case_syscall(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    struct writer w = {p[1], 30000, 1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, slow_write, &w) == 0);
    char buf[777];
    size_t total = 0;
    long r;
    while ((r = syscall(SYS_read, p[0], buf, sizeof buf)) > 0)
        total += (size_t)r;
    printf("syscall read: %zu bytes, last %ld\n", total, r);
    pthread_join(t, NULL);
    close(p[0]);

    CHECK(pipe(p) == 0);
    CHECK(pthread_create(&t, NULL, slow_read, (void *)(intptr_t)p[0]) == 0);
    static char big[BIG];
    memset(big, 'x', sizeof big);
    r = syscall(SYS_write, p[1], big, sizeof big);
    close(p[1]);
    void *got;
    pthread_join(t, &got);
    printf("syscall write: %ld written, %lu read\n", r, (unsigned long)(uintptr_t)got);
}

static void case_splice(void)
{
    int a[2], b[2];
    CHECK(pipe(a) == 0 && pipe(b) == 0);
    struct writer w = {a[1], 50000, 1};
    pthread_t t, u;
    CHECK(pthread_create(&t, NULL, slow_write, &w) == 0);
    CHECK(pthread_create(&u, NULL, slow_read, (void *)(intptr_t)b[0]) == 0);
    size_t total = 0;
    ssize_t r;
    while ((r = splice(a[0], NULL, b[1], NULL, 4096, 0)) > 0)
        total += (size_t)r;
    printf("splice: %zu bytes, last %zd\n", total, r);
    close(b[1]);
    void *got;
    pthread_join(t, NULL);
    pthread_join(u, &got);
    printf("splice: reader got %lu\n", (unsigned long)(uintptr_t)got);
    close(a[0]);
    close(b[0]);
}

static int foreign_in[2], foreign_out[2];
static size_t foreign_got;
static long foreign_wrote;
static int foreign_done[2];

static void foreign_fn(union sigval v)
{
    (void)v;
    char buf[512];
    size_t total = 0;
    ssize_t r;
    while ((r = read(foreign_in[0], buf, sizeof buf)) > 0)
        total += (size_t)r;
    foreign_got = total;
    static char big[BIG];
    memset(big, 'y', sizeof big);
    foreign_wrote = write(foreign_out[1], big, sizeof big);
    close(foreign_out[1]);
    char one = 1;
    CHECK(write(foreign_done[1], &one, 1) == 1);
}

static void case_foreign(void)
{
    CHECK(pipe(foreign_in) == 0 && pipe(foreign_out) == 0 && pipe(foreign_done) == 0);
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = foreign_fn;
    timer_t tm;
    CHECK(timer_create(CLOCK_MONOTONIC, &ev, &tm) == 0);
    struct itimerspec its = {{0, 0}, {0, 1000000}};
    CHECK(timer_settime(tm, 0, &its, NULL) == 0);
    pthread_t r;
    CHECK(pthread_create(&r, NULL, slow_read, (void *)(intptr_t)foreign_out[0]) == 0);
    struct writer w = {foreign_in[1], 20000, 1};
    slow_write(&w);
    char one;
    CHECK(read(foreign_done[0], &one, 1) == 1);
    void *got;
    pthread_join(r, &got);
    printf("foreign thread: read %zu, wrote %ld, other end read %lu\n", foreign_got, foreign_wrote,
           (unsigned long)(uintptr_t)got);
    timer_delete(tm);
    close(foreign_in[0]);
    close(foreign_out[0]);
}

static void case_scm_rights(void)
{
    int p[2], s[2];
    CHECK(pipe(p) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    char x = 'x';
    struct iovec iov = {&x, 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[0], sizeof(int));
    CHECK(sendmsg(s[0], &mh, 0) == 1);
    memset(cbuf, 0, sizeof cbuf);
    CHECK(recvmsg(s[1], &mh, 0) == 1);
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof fd);
    close(p[0]);
    FILE *f = fdopen(fd, "r"); /* the received fd: a record gmp never made */
    CHECK(f);
    struct writer w = {p[1], 20000, 1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, slow_write, &w) == 0);
    size_t n = 0;
    char buf[100];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        n += k;
    printf("SCM_RIGHTS: read %zu, error %d, flags %s\n", n, ferror(f),
           fcntl(fd, F_GETFL) & O_NONBLOCK ? "O_NONBLOCK" : "blocking");
    pthread_join(t, NULL);
    fclose(f);
    close(s[0]);
    close(s[1]);
}

/* cat copies a pipe to a pipe: its stdin is a pipe that gmp made, written slowly. */
static void case_spawn(int how)
{
    int in[2], out[2];
    CHECK(pipe(in) == 0 && pipe(out) == 0);
    pid_t pid;
    char *argv[] = {"cat", NULL};
    if (how == 0) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addclose(&fa, in[1]);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        CHECK(posix_spawn(&pid, "/bin/cat", &fa, NULL, argv, environ) == 0);
        posix_spawn_file_actions_destroy(&fa);
    } else {
        pid = vfork();
        CHECK(pid >= 0);
        if (pid == 0) {
            dup2(in[0], 0);
            dup2(out[1], 1);
            close(in[1]);
            close(out[0]);
            execv("/bin/cat", argv);
            _exit(127);
        }
    }
    close(in[0]);
    close(out[1]);
    pthread_t r;
    CHECK(pthread_create(&r, NULL, slow_read, (void *)(intptr_t)out[0]) == 0);
    struct writer w = {in[1], BIG, 1};
    slow_write(&w);
    void *got;
    pthread_join(r, &got);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    printf("%s cat: copied %lu of %d, status %d\n", how ? "vfork+exec" : "posix_spawn", (unsigned long)(uintptr_t)got, BIG,
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(out[0]);
}

static void case_fork(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        FILE *f = fdopen(p[0], "r");
        size_t n = 0;
        while (fgetc(f) != EOF)
            n++;
        printf("fork child: read %zu, error %d\n", n, ferror(f));
        fflush(stdout);
        _exit(0);
    }
    close(p[0]);
    struct writer w = {p[1], 20000, 1};
    slow_write(&w);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* The program again, told which fd it inherited: the pipe must be blocking there. */
static void case_exec(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    char fdarg[16];
    snprintf(fdarg, sizeof fdarg, "%d", p[0]);
    fflush(stdout);
    pid_t pid = vfork(); /* no fork handlers: the exec must give the pipe back */
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        execl(self, self, "inherited", fdarg, (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    struct writer w = {p[1], 20000, 1};
    slow_write(&w);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int inherited(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    FILE *f = fdopen(fd, "r");
    size_t n = 0;
    while (fgetc(f) != EOF)
        n++;
    printf("exec: inherited pipe %s, read %zu, error %d\n", fl & O_NONBLOCK ? "O_NONBLOCK" : "blocking", n, ferror(f));
    return 0;
}

/* A pipe created in a thread after a fork: forced again; after an exec (in a child), its own view holds. */
static void case_view(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    printf("view: new pipe %s\n", fcntl(p[0], F_GETFL) & O_NONBLOCK ? "O_NONBLOCK" : "blocking");
    CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
    char c;
    errno = 0;
    ssize_t r = read(p[0], &c, 1);
    printf("view: after F_SETFL O_NONBLOCK %s, read %zd %s\n", fcntl(p[0], F_GETFL) & O_NONBLOCK ? "O_NONBLOCK" : "blocking",
           r, r < 0 && errno == EAGAIN ? "EAGAIN" : "?");
    CHECK(fcntl(p[0], F_SETFL, 0) == 0);
    struct writer w = {p[1], 1000, 1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, slow_write, &w) == 0);
    size_t n = 0;
    char buf[64];
    while ((r = read(p[0], buf, sizeof buf)) > 0)
        n += (size_t)r;
    printf("view: blocking again %s, read %zu, last %zd\n", fcntl(p[0], F_GETFL) & O_NONBLOCK ? "O_NONBLOCK" : "blocking", n,
           r);
    pthread_join(t, NULL);
    close(p[0]);
}

/* The file's flags as the kernel has them (octal "flags:" of /proc/self/fdinfo/FD). */
static int kernel_flags(int fd)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    CHECK(f);
    int fl = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "flags: %o", &fl) == 1)
            break;
    fclose(f);
    return fl;
}

static void case_uring(void)
{
    void *h = dlopen("liburing.so.2", RTLD_NOW);
    if (!h) {
        printf("liburing: not installed\n");
        return;
    }
    int p[2];
    CHECK(pipe(p) == 0);
    printf("liburing loaded: new pipe %s in fdinfo\n", kernel_flags(p[0]) & O_NONBLOCK ? "O_NONBLOCK" : "blocking");
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "inherited"))
        return inherited(atoi(argv[2]));
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(k > 0);
    self[k] = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    case_view();
    case_fdopen();
    case_stdout();
    case_dprintf();
    case_syscall();
    case_splice();
    case_foreign();
    case_scm_rights();
    case_spawn(0);
    case_spawn(1);
    case_view(); /* pipes made after the spawns are forced again */
    case_fork();
    case_exec();
    case_view();
    case_uring(); /* last: pipes stay plain from here on */
    printf("done\n");
    return 0;
}
