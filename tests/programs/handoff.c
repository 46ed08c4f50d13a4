/* handoff: wake-ups that race with a kernel thread that stops spinning.
 *
 * Under gmp a thread that wakes another hands it to the kernel thread that
 * ran it last when that one spins idle (core/spin.c), and a
 * spinner stops after an adaptive time.  These cases put the wake-up right
 * where it hurts and check that nothing is lost or run twice:
 *
 *   pairs    8 pairs of threads pass a token back and forth through one
 *            primitive each (mutex+cond, semaphore, futex, pipe), with a
 *            random pause before each pass: none, a few hundred
 *            nanoseconds, or around the spin time (sleeps of 10-100 us),
 *            so that some wake-ups meet a spinner as it gives up.
 *   fanout   one thread wakes 16 sleepers at once, round after round,
 *            each of which answers on a semaphore (more Gs handed over
 *            than there are spinning kernel threads).
 *   fork     pairs keep passing while the main thread creates and joins a
 *            few threads and forks at once: the child (where no other
 *            kernel thread exists) creates and joins threads, then exits
 *            with a code the parent checks.
 *   lastm    threads run while other threads hold kernel threads in
 *            blocking kernel calls (so gmp starts more of them), then wait
 *            6 s (gmp ends idle kernel threads after 5 s) and are woken:
 *            the kernel thread they ran on last is gone.
 *
 * Usage: handoff [CASE] [SEED].  Prints counts only; exit status 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define NPAIRS 8
#define PASSES 3000

static unsigned seed = 1;

/* xorshift32 on a caller-owned state: no shared generator between threads. */
static unsigned rnd(unsigned *s)
{
    unsigned x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x ? x : 1;
}

static void pause_random(unsigned *s)
{
    unsigned r = rnd(s) % 16;
    if (r < 8)
        return;                               /* pass at once */
    if (r < 12) {
        for (volatile int i = 0; i < (int)(rnd(s) % 500); i++)
            ;                                 /* a few hundred ns of work */
        return;
    }
    struct timespec ts = {0, 10000 + (long)(rnd(s) % 90000)}; /* 10-100 us: around the spin time */
    nanosleep(&ts, NULL);
}

enum kind { K_COND, K_SEM, K_FUTEX, K_PIPE, K_NKINDS };

struct pair {
    enum kind kind;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn;                 /* K_COND: whose turn, under mu */
    sem_t sem[2];
    _Atomic int word;         /* K_FUTEX: whose turn */
    int fd[2][2];             /* K_PIPE: fd[side] is the pipe side reads from */
    long seen[2];             /* passes each side made */
    long sum[2];              /* sum of the token values each side received */
    unsigned rs[2];
    int passes;
};

static struct pair pairs[NPAIRS];

static void futex_wait(_Atomic int *a, int v)
{
    if (syscall(SYS_futex, a, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0) == -1)
        CHECK(errno == EAGAIN || errno == EINTR);
}

static void futex_wake(_Atomic int *a)
{
    CHECK(syscall(SYS_futex, a, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) >= 0);
}

/* Side `side` waits for its turn, takes the token value, passes value+1. */
static void play(struct pair *p, int side)
{
    int value = 0;
    for (int i = 0; i < p->passes; i++) {
        switch (p->kind) {
        case K_COND:
            CHECK0(pthread_mutex_lock(&p->mu));
            while (p->turn != side)
                CHECK0(pthread_cond_wait(&p->cv, &p->mu));
            value = 2 * i + side;
            CHECK0(pthread_mutex_unlock(&p->mu));
            break;
        case K_SEM:
            while (sem_wait(&p->sem[side]) != 0)
                CHECK(errno == EINTR);
            value = 2 * i + side;
            break;
        case K_FUTEX:
            while (atomic_load(&p->word) != side)
                futex_wait(&p->word, 1 - side);
            value = 2 * i + side;
            break;
        case K_PIPE:
            CHECK(read(p->fd[side][0], &value, sizeof value) == sizeof value);
            break;
        default:
            break;
        }
        CHECK(value == 2 * i + side);
        p->seen[side]++;
        p->sum[side] += value;
        pause_random(&p->rs[side]);
        int next = value + 1;
        switch (p->kind) {
        case K_COND:
            CHECK0(pthread_mutex_lock(&p->mu));
            p->turn = 1 - side;
            CHECK0(pthread_cond_signal(&p->cv));
            CHECK0(pthread_mutex_unlock(&p->mu));
            break;
        case K_SEM:
            CHECK(sem_post(&p->sem[1 - side]) == 0);
            break;
        case K_FUTEX:
            atomic_store(&p->word, 1 - side);
            futex_wake(&p->word);
            break;
        case K_PIPE:
            CHECK(write(p->fd[1 - side][1], &next, sizeof next) == sizeof next);
            break;
        default:
            break;
        }
    }
}

static void *side1(void *arg)
{
    play(arg, 1);
    return NULL;
}

static void *side0(void *arg)
{
    struct pair *p = arg;
    if (p->kind == K_PIPE) {
        int v = 0; /* the first token */
        CHECK(write(p->fd[0][1], &v, sizeof v) == sizeof v);
    }
    play(p, 0);
    return NULL;
}

static void pairs_start(pthread_t *t, int passes, unsigned s)
{
    for (int i = 0; i < NPAIRS; i++) {
        struct pair *p = &pairs[i];
        memset(p, 0, sizeof *p);
        p->kind = (enum kind)(i % K_NKINDS);
        p->passes = passes;
        p->rs[0] = s * 2654435761u + 2 * (unsigned)i + 1;
        p->rs[1] = s * 2246822519u + 2 * (unsigned)i + 2;
        CHECK0(pthread_mutex_init(&p->mu, NULL));
        CHECK0(pthread_cond_init(&p->cv, NULL));
        CHECK(sem_init(&p->sem[0], 0, 1) == 0); /* side 0 goes first */
        CHECK(sem_init(&p->sem[1], 0, 0) == 0);
        CHECK(pipe(p->fd[0]) == 0 && pipe(p->fd[1]) == 0);
        CHECK0(pthread_create(&t[2 * i], NULL, side0, p));
        CHECK0(pthread_create(&t[2 * i + 1], NULL, side1, p));
    }
}

static long pairs_join(pthread_t *t)
{
    long total = 0;
    for (int i = 0; i < NPAIRS; i++) {
        struct pair *p = &pairs[i];
        CHECK0(pthread_join(t[2 * i], NULL));
        CHECK0(pthread_join(t[2 * i + 1], NULL));
        long n = p->passes;
        CHECK(p->seen[0] == n && p->seen[1] == n);
        CHECK(p->sum[0] == n * (n - 1) && p->sum[1] == n * n); /* even and odd token values */
        total += p->seen[0] + p->seen[1];
        for (int s = 0; s < 2; s++) {
            close(p->fd[s][0]);
            close(p->fd[s][1]);
            sem_destroy(&p->sem[s]);
        }
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
    }
    return total;
}

static void case_pairs(void)
{
    pthread_t t[2 * NPAIRS];
    pairs_start(t, PASSES, seed);
    printf("pairs: %ld passes\n", pairs_join(t));
}

/* ------------------------------------------------------------ fanout */

#define FAN 16
#define FAN_ROUNDS 300

static pthread_mutex_t fan_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fan_cv = PTHREAD_COND_INITIALIZER;
static int fan_round;
static sem_t fan_ack;
static long fan_count[FAN];

static void *fan_sleeper(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int r = 1; r <= FAN_ROUNDS; r++) {
        CHECK0(pthread_mutex_lock(&fan_mu));
        while (fan_round < r)
            CHECK0(pthread_cond_wait(&fan_cv, &fan_mu));
        CHECK0(pthread_mutex_unlock(&fan_mu));
        fan_count[id]++;
        CHECK(sem_post(&fan_ack) == 0);
    }
    return NULL;
}

static void case_fanout(void)
{
    pthread_t t[FAN];
    CHECK(sem_init(&fan_ack, 0, 0) == 0);
    for (int i = 0; i < FAN; i++)
        CHECK0(pthread_create(&t[i], NULL, fan_sleeper, (void *)(intptr_t)i));
    unsigned rs = seed;
    for (int r = 1; r <= FAN_ROUNDS; r++) {
        CHECK0(pthread_mutex_lock(&fan_mu));
        fan_round = r;
        if (rnd(&rs) & 1) {
            CHECK0(pthread_cond_broadcast(&fan_cv));
        } else {
            for (int i = 0; i < FAN; i++)
                CHECK0(pthread_cond_signal(&fan_cv)); /* some signal no one: fine, all see fan_round */
            CHECK0(pthread_cond_broadcast(&fan_cv));
        }
        CHECK0(pthread_mutex_unlock(&fan_mu));
        for (int i = 0; i < FAN; i++)
            while (sem_wait(&fan_ack) != 0)
                CHECK(errno == EINTR);
    }
    long total = 0;
    for (int i = 0; i < FAN; i++) {
        CHECK0(pthread_join(t[i], NULL));
        CHECK(fan_count[i] == FAN_ROUNDS);
        total += fan_count[i];
    }
    int v;
    CHECK(sem_getvalue(&fan_ack, &v) == 0 && v == 0);
    printf("fanout: %ld wake-ups answered\n", total);
}

/* ------------------------------------------------------------ fork */

static void *child_thread(void *arg)
{
    return (void *)((intptr_t)arg * 3);
}

static void case_fork(void)
{
    pthread_t t[2 * NPAIRS];
    pairs_start(t, PASSES / 2, seed + 7);
    int ok = 0;
    for (int f = 0; f < 5; f++) {
        struct timespec ts = {0, 2000000}; /* let the pairs run: their kernel threads spin */
        nanosleep(&ts, NULL);
        /* Threads that end just before the fork: the kernel threads they ended on spin with
           their TLS loaded, and the child reuses them for its first threads. */
        for (int i = 0; i < 4; i++) {
            pthread_t c;
            CHECK0(pthread_create(&c, NULL, child_thread, NULL));
            CHECK0(pthread_join(c, NULL));
        }
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            /* Only this thread exists in the child: threads and hand-offs must work. */
            long sum = 0;
            for (int i = 0; i < 20; i++) {
                pthread_t c;
                void *r;
                if (pthread_create(&c, NULL, child_thread, (void *)(intptr_t)i) != 0 ||
                    pthread_join(c, &r) != 0)
                    _exit(2);
                sum += (intptr_t)r;
            }
            _exit(sum == 3 * 190 ? 42 : 3);
        }
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42);
        ok++;
    }
    long total = pairs_join(t);
    printf("fork: %d children ok, %ld passes\n", ok, total);
}

/* ------------------------------------------------------------ lastm */

#define LASTM 6

static sem_t lastm_go, lastm_done;
static _Atomic int lastm_ran;

static void *blocker(void *arg)
{
    (void)arg;
    /* A blocking kernel call gmp cannot park (waitpid on a child that sleeps): gmp hands the P on. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct timespec ts = {0, 300000000};
        nanosleep(&ts, NULL);
        _exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
    return NULL;
}

static void *lastm_thread(void *arg)
{
    (void)arg;
    atomic_fetch_add(&lastm_ran, 1);
    while (sem_wait(&lastm_go) != 0)
        CHECK(errno == EINTR);
    CHECK(sem_post(&lastm_done) == 0);
    return NULL;
}

static void case_lastm(void)
{
    pthread_t b[4], t[LASTM];
    CHECK(sem_init(&lastm_go, 0, 0) == 0);
    CHECK(sem_init(&lastm_done, 0, 0) == 0);
    for (int i = 0; i < 4; i++)
        CHECK0(pthread_create(&b[i], NULL, blocker, NULL));
    for (int i = 0; i < LASTM; i++)
        CHECK0(pthread_create(&t[i], NULL, lastm_thread, NULL));
    for (int i = 0; i < 4; i++)
        CHECK0(pthread_join(b[i], NULL));
    sleep(6); /* idle kernel threads end after 5 s */
    for (int i = 0; i < LASTM; i++)
        CHECK(sem_post(&lastm_go) == 0);
    for (int i = 0; i < LASTM; i++)
        while (sem_wait(&lastm_done) != 0)
            CHECK(errno == EINTR);
    for (int i = 0; i < LASTM; i++)
        CHECK0(pthread_join(t[i], NULL));
    printf("lastm: %d threads woken after their kernel threads went idle\n", atomic_load(&lastm_ran));
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "pairs";
    if (argc > 2)
        seed = (unsigned)strtoul(argv[2], NULL, 10) | 1;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(which, "pairs"))
        case_pairs();
    else if (!strcmp(which, "fanout"))
        case_fanout();
    else if (!strcmp(which, "fork"))
        case_fork();
    else if (!strcmp(which, "lastm"))
        case_lastm();
    else {
        printf("unknown case %s\n", which);
        return 2;
    }
    return 0;
}
