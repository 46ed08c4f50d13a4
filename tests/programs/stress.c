/* stress SEED [THREADS] [OPS] [COMPUTE]: a randomized mix of every primitive, with its
 * invariants checked throughout, and a watchdog that fails the run if
 * progress stops. Each thread draws its operations from its own generator
 * (seeded from SEED and its index), so the work is the same natively and
 * under any scheduler; only totals and invariants are printed.
 *
 * Operations: lock a mutex (normal, recursive, errorcheck; lock, trylock
 * loop or timedlock loop) and update a guarded pair; condvar producer /
 * consumer with signal, broadcast and timed waits; rwlock readers check a
 * writer's two-field invariant; semaphore-bounded section (never more than
 * K inside); barrier rounds among a fixed group; create+join and detached
 * helper threads; short sleeps; pipe messages to a per-thread echo
 * partner; once; thread-specific data; with COMPUTE, loops without calls
 * of up to COMPUTE iterations, inside mutexes and outside (preemption).
 * STRESS_SCALE multiplies OPS. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)

static unsigned nthreads = 16;
static long nops = 400;
static uint64_t seed;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* guarded pair: a + b == 0 always under the mutex */
static pthread_mutex_t pm[3];
static long pa[3], pb[3], pcount[3];

static pthread_mutex_t qm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qc = PTHREAD_COND_INITIALIZER;
static long queue_items, produced, consumed;

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long rw_x, rw_y, rw_writes;

static sem_t sem;
static _Atomic int in_sem, max_in_sem;
#define SEM_K 3

static _Atomic long progress, helpers_done, pipe_msgs, sleeps, once_runs, keyok;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;

static void once_fn(void) { atomic_fetch_add(&once_runs, 1); }

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += ms * 1000000L;
    while (ts->tv_nsec >= 1000000000L) { ts->tv_sec++; ts->tv_nsec -= 1000000000L; }
}

static void *helper(void *arg) { atomic_fetch_add(&helpers_done, 1); return arg; }

/* COMPUTE: computing without calls for up to that many iterations, inside and outside locks. */
static long compute_iters;
static volatile uint64_t compute_sink;
static void compute(uint64_t n)
{
    uint64_t h = n;
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull + i;
    compute_sink = h;
}

static void op_mutex(uint64_t *s)
{
    int which = (int)(rnd(s) % 3), how = (int)(rnd(s) % 3);
    pthread_mutex_t *m = &pm[which];
    if (how == 0) {
        CHECK(pthread_mutex_lock(m) == 0);
    } else if (how == 1) {
        int r;
        while ((r = pthread_mutex_trylock(m)) == EBUSY)
            sched_yield();
        CHECK(r == 0);
    } else {
        struct timespec ts;
        int r;
        do {
            deadline_in(&ts, 1);
            r = pthread_mutex_timedlock(m, &ts);
        } while (r == ETIMEDOUT);
        CHECK(r == 0);
    }
    if (which == 1) { /* recursive: nest once more */
        CHECK(pthread_mutex_lock(m) == 0);
        CHECK(pthread_mutex_unlock(m) == 0);
    }
    if (which == 2) /* errorcheck: relock reports EDEADLK */
        CHECK(pthread_mutex_lock(m) == EDEADLK);
    CHECK(pa[which] + pb[which] == 0);
    pa[which]++;
    if (rnd(s) % 4 == 0)
        sched_yield(); /* hold it across a switch now and then */
    if (compute_iters && rnd(s) % 4 == 0)
        compute(rnd(s) % compute_iters); /* hold it while computing (preempted holders) */
    pb[which]--;
    pcount[which]++;
    CHECK(pthread_mutex_unlock(m) == 0);
}

static void op_queue(uint64_t *s)
{
    pthread_mutex_lock(&qm);
    if (rnd(s) % 2) {
        queue_items++;
        produced++;
        if (rnd(s) % 3 == 0)
            pthread_cond_broadcast(&qc);
        else
            pthread_cond_signal(&qc);
    } else {
        while (queue_items == 0) {
            struct timespec ts;
            deadline_in(&ts, 2);
            int r = pthread_cond_timedwait(&qc, &qm, &ts);
            CHECK(r == 0 || r == ETIMEDOUT);
            if (r == ETIMEDOUT && queue_items == 0) {
                /* nothing came: produce instead, so the totals stay fixed */
                queue_items++;
                produced++;
                pthread_cond_signal(&qc);
            }
        }
        queue_items--;
        consumed++;
    }
    pthread_mutex_unlock(&qm);
}

static void op_rwlock(uint64_t *s)
{
    if (rnd(s) % 4 == 0) {
        CHECK(pthread_rwlock_wrlock(&rw) == 0);
        rw_x++;
        if (rnd(s) % 2)
            sched_yield();
        rw_y++;
        rw_writes++;
        CHECK(pthread_rwlock_unlock(&rw) == 0);
    } else {
        int r = rnd(s) % 2 ? pthread_rwlock_rdlock(&rw) : -1;
        if (r == -1)
            while ((r = pthread_rwlock_tryrdlock(&rw)) == EBUSY)
                sched_yield();
        CHECK(r == 0);
        CHECK(rw_x == rw_y);
        CHECK(pthread_rwlock_unlock(&rw) == 0);
    }
}

static void op_sem(uint64_t *s)
{
    if (rnd(s) % 2) {
        CHECK(sem_wait(&sem) == 0);
    } else {
        struct timespec ts;
        int r;
        do {
            deadline_in(&ts, 1);
            r = sem_timedwait(&sem, &ts);
        } while (r == -1 && errno == ETIMEDOUT);
        CHECK(r == 0);
    }
    int n = atomic_fetch_add(&in_sem, 1) + 1;
    CHECK(n <= SEM_K);
    int m = atomic_load(&max_in_sem);
    while (n > m && !atomic_compare_exchange_weak(&max_in_sem, &m, n)) {}
    if (rnd(s) % 2)
        usleep(50);
    atomic_fetch_sub(&in_sem, 1);
    CHECK(sem_post(&sem) == 0);
}

static void op_threads(uint64_t *s)
{
    pthread_t t;
    if (rnd(s) % 2) {
        void *ret;
        CHECK(pthread_create(&t, NULL, helper, (void *)7) == 0);
        CHECK(pthread_join(t, &ret) == 0 && ret == (void *)7);
    } else {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        CHECK(pthread_create(&t, &a, helper, NULL) == 0);
        pthread_attr_destroy(&a);
    }
}

static void op_pipe(int wfd, int rfd, uint64_t *s)
{
    uint32_t v = (uint32_t)rnd(s), back = 0;
    CHECK(write(wfd, &v, sizeof v) == sizeof v);
    CHECK(read(rfd, &back, sizeof back) == sizeof back);
    CHECK(back == v + 1);
    atomic_fetch_add(&pipe_msgs, 1);
}

struct partner { int rfd, wfd; };

static void *echo_partner(void *arg)
{
    struct partner *p = arg;
    uint32_t v;
    ssize_t n;
    while ((n = read(p->rfd, &v, sizeof v)) == sizeof v) {
        v++;
        CHECK(write(p->wfd, &v, sizeof v) == sizeof v);
    }
    CHECK(n == 0);
    return NULL;
}

static void *worker(void *arg)
{
    unsigned idx = (unsigned)(uintptr_t)arg;
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + idx + 1;
    int to[2], from[2];
    CHECK(pipe(to) == 0 && pipe(from) == 0);
    struct partner part = {to[0], from[1]};
    pthread_t pt;
    CHECK(pthread_create(&pt, NULL, echo_partner, &part) == 0);
    CHECK(pthread_setspecific(key, (void *)(uintptr_t)(idx + 1)) == 0);
    for (long i = 0; i < nops; i++) {
        switch (rnd(&s) % 9) {
        case 0: case 1: op_mutex(&s); break;
        case 2: op_queue(&s); break;
        case 3: op_rwlock(&s); break;
        case 4: op_sem(&s); break;
        case 5: op_threads(&s); break;
        case 6: op_pipe(to[1], from[0], &s); break;
        case 7: usleep((useconds_t)(rnd(&s) % 200)); atomic_fetch_add(&sleeps, 1); break;
        case 8: pthread_once(&once, once_fn); break;
        }
        if (compute_iters && rnd(&s) % 3 == 0)
            compute(rnd(&s) % compute_iters);
        if (pthread_getspecific(key) == (void *)(uintptr_t)(idx + 1))
            atomic_fetch_add(&keyok, 1);
        atomic_fetch_add(&progress, 1);
    }
    close(to[1]);
    CHECK(pthread_join(pt, NULL) == 0);
    close(to[0]);
    close(from[0]);
    close(from[1]);
    return NULL;
}

static void watchdog(int sig)
{
    (void)sig;
    static long last = -1;
    long now = atomic_load(&progress);
    if (now == last) {
        static const char msg[] = "FAIL stress: no progress for 10 s\n";
        write(1, msg, sizeof msg - 1);
        _exit(1);
    }
    last = now;
    alarm(10);
}

int main(int argc, char **argv)
{
    seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    if (argc > 2)
        nthreads = (unsigned)atoi(argv[2]);
    if (argc > 3)
        nops = atol(argv[3]);
    if (argc > 4)
        compute_iters = atol(argv[4]);
    const char *sc = getenv("STRESS_SCALE");
    if (sc)
        nops *= atol(sc);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutex_init(&pm[0], NULL);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&pm[1], &ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&pm[2], &ma);
    sem_init(&sem, 0, SEM_K);
    pthread_key_create(&key, NULL);
    signal(SIGALRM, watchdog);
    alarm(10);

    pthread_t *ts = calloc(nthreads, sizeof *ts);
    for (unsigned i = 0; i < nthreads; i++)
        CHECK(pthread_create(&ts[i], NULL, worker, (void *)(uintptr_t)i) == 0);
    for (unsigned i = 0; i < nthreads; i++)
        CHECK(pthread_join(ts[i], NULL) == 0);
    alarm(0);
    /* drain: consumers may have left items; the count must balance */
    CHECK(produced - consumed == queue_items);
    for (int i = 0; i < 3; i++)
        CHECK(pa[i] + pb[i] == 0 && pa[i] == pcount[i]);
    CHECK(rw_x == rw_y && rw_x == rw_writes);
    CHECK(atomic_load(&max_in_sem) <= SEM_K && atomic_load(&in_sem) == 0);
    CHECK(atomic_load(&once_runs) == 1);
    CHECK(atomic_load(&keyok) == (long)nthreads * nops);
    CHECK(atomic_load(&progress) == (long)nthreads * nops);
    int v;
    sem_getvalue(&sem, &v);
    CHECK(v == SEM_K);
    /* every op's count is fixed by the seed; print the ones that are */
    printf("stress seed %llu: %u threads x %ld ops, mutex %ld, rwlock writes %ld, pipe msgs %ld, sleeps %ld: ok\n",
           (unsigned long long)seed, nthreads, nops, pcount[0] + pcount[1] + pcount[2], rw_writes,
           atomic_load(&pipe_msgs), atomic_load(&sleeps));
    return 0;
}
