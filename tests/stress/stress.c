/*
 * stress [--seed N] [--seconds S | --ops N] [--threads T] [--stall S] [--only OP,...]
 *
 * A randomized mix of every primitive a threaded program uses, with its
 * invariants checked while it runs and totals checked at the end. It is an
 * ordinary pthread program: run natively it proves the test itself, run with
 * LD_PRELOAD=libgmp_preload.so it tests gmp.
 *
 * Each worker draws operations from its own generator (seeded from the seed
 * and its index) until the time is up (--seconds, default 5) or it has done
 * --ops operations. The seed comes from --seed, else GMP_STRESS_SEED, else
 * the clock; it is printed first so a failure can be replayed (the
 * interleaving differs from run to run; the operation mix does not).
 *
 * Operations and what each one checks:
 *   mutex    eight mutexes, two of each type (normal, recursive, errorcheck,
 *            adaptive), taken by lock, trylock, timedlock or clocklock: the
 *            owner field is free on entry and ours throughout, a counter is
 *            incremented non-atomically (read, maybe yield, write) and the
 *            sum of every worker's increments matches it at the end; the
 *            owner's relock/trylock gives the type's answer
 *   cond     bounded ring with not-empty / not-full condvars, signal or
 *            broadcast, timedwait or clockwait: items taken plus items left
 *            equal items put, by count and by a hash of their sequence numbers
 *   rwlock   rd/tryrd/timedrd/clockrd readers see no writer and x == y;
 *            wr/trywr/timedwr/clockwr writers see no reader and no writer
 *   sem      a section bounded by a semaphore of 3 (wait, trywait,
 *            timedwait) never holds more than 3; a token semaphore balances
 *   futex    a lock made of syscall(SYS_futex) WAIT/WAKE guards a counter;
 *            a WAIT on a changed word returns EAGAIN, on an unchanged one
 *            with a timeout ETIMEDOUT
 *   once     128 once controls: each init runs once and is complete when
 *            pthread_once returns anywhere
 *   key      keys with destructors: values set by short-lived threads are
 *            destroyed exactly once by the time the join returns
 *   sleep    nanosleep, usleep, clock_nanosleep of 0-2 ms last at least that
 *   msg      framed messages (writer, sequence number, length, checksum)
 *            over two pipes and two socketpairs, each drained by a reader
 *            thread that polls and reads: every message arrives exactly
 *            once, in each writer's order, intact
 *   thread   create + join (return or pthread_exit, value checked), detach,
 *            nested creation
 *   barrier  2-4 threads, two rounds: everyone arrived, one serial thread
 *   signal   pthread_kill(SIGUSR1) to a thread, one at a time: its handler
 *            (on that thread) counts each one; sent == received, no strays
 *   cancel   pthread_cancel of a thread blocked in cond_wait, read, poll,
 *            nanosleep, sem_wait or pause: the cleanup handler runs and
 *            join returns PTHREAD_CANCELED
 *   fork     from a worker (one at a time): the child creates and joins a
 *            thread, uses a mutex and a pipe, and _exits; waitpid sees 0
 *
 * A watchdog thread fails the run when no operation completes for --stall
 * seconds (default 30): it prints "stress: no progress", what each worker
 * is doing, a gmp thread dump (gmp_dump if the library exports it, else
 * SIGQUIT, which gmp turns into a dump under GMP_DEBUG=dumpsignal=SIGQUIT)
 * and exits 3. An alarm backs it up in case threads stop running at all.
 *
 * Output on success: "stress: seed=...", one "stress: ops ..." line with
 * the count of each operation, and "stress: ok". Exit 0; 1 on a failed
 * check (the line says which); 2 on bad arguments; 3 on a stall.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAIL(...)                                                                 \
	do {                                                                      \
		fprintf(stderr, "stress: FAIL %s:%d: ", __FILE__, __LINE__);      \
		fprintf(stderr, __VA_ARGS__);                                     \
		fprintf(stderr, " (seed %llu)\n", (unsigned long long)seed);      \
		fflush(NULL);                                                     \
		_exit(1);                                                         \
	} while (0)
#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c))                                                         \
			FAIL("%s", #c);                                           \
	} while (0)
#define CHECKR(e, want)                                                           \
	do {                                                                      \
		int r_ = (e);                                                     \
		if (r_ != (want))                                                 \
			FAIL("%s = %d (%s), want %d", #e, r_, strerror(r_), (want));  \
	} while (0)
#define CHECK0(e) CHECKR(e, 0)

#define X_OPS(X)                                                                  \
	X(mutex, 20) X(cond, 12) X(rwlock, 12) X(sem, 8) X(futex, 8) X(once, 4) \
	X(key, 2) X(sleep, 6) X(msg, 16) X(thread, 5) X(barrier, 2) X(signal, 2) \
	X(cancel, 2) X(fork, 1)

enum op {
#define X(n, w) OP_##n,
	X_OPS(X)
#undef X
	NOPS
};
static const char *const op_name[NOPS] = {
#define X(n, w) #n,
	X_OPS(X)
#undef X
};
static int op_weight[NOPS] = {
#define X(n, w) w,
	X_OPS(X)
#undef X
};

#define MAXW 64
#define NMTX 8
#define NCHAN 4
#define NONCE 128

static unsigned long long seed;
static int nworkers = 8;
static double seconds = 5;
static long max_ops; /* per worker; 0: run for `seconds` */
static int stall_s = 30;
static const char *only; /* comma-separated operation names, for narrowing a failure down */
static struct timespec t_end;

struct worker {
	int id; /* 1..nworkers: the owner value in the mutexes */
	uint64_t rng;
	_Atomic int cur; /* operation in progress, -1 none: for the stall report */
	long ops[NOPS];
	long mtx_incs[NMTX];
	long rw_writes, futex_incs;
	uint32_t seq[NCHAN]; /* messages sent on each channel */
	void *keyval[2];
};
static struct worker workers[MAXW];
static _Atomic long progress;

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static void deadline(struct timespec *ts, clockid_t clk, long us)
{
	clock_gettime(clk, ts);
	ts->tv_nsec += us * 1000;
	while (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}
static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}
static void maybe_yield(uint64_t *s)
{
	if (rnd(s) % 4 == 0)
		sched_yield();
}

/* ---- threads started by operations: counted so the end can check every one finished */
static _Atomic long thr_started, thr_finished, detached_live;

static void spawn(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	int r;
	while ((r = pthread_create(t, a, fn, arg)) == EAGAIN)
		usleep(1000);
	CHECK0(r);
	atomic_fetch_add(&thr_started, 1);
}
static void joined(pthread_t t, void *want)
{
	void *ret;
	CHECK0(pthread_join(t, &ret));
	if (ret != want)
		FAIL("join returned %p, want %p", ret, want);
	atomic_fetch_add(&thr_finished, 1);
}

/* ---- mutex */
struct mtx {
	pthread_mutex_t m;
	int type;
	_Atomic int owner;
	long count;
};
static struct mtx mtxs[NMTX];
static const int mtx_types[4] = {PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ERRORCHECK,
				 PTHREAD_MUTEX_ADAPTIVE_NP};

static void mtx_acquire(struct mtx *x, uint64_t *s)
{
	struct timespec ts;
	int r;
	switch (rnd(s) % 4) {
	case 0:
		CHECK0(pthread_mutex_lock(&x->m));
		break;
	case 1:
		while ((r = pthread_mutex_trylock(&x->m)) == EBUSY)
			sched_yield();
		CHECK0(r);
		break;
	case 2:
		do {
			deadline(&ts, CLOCK_REALTIME, 1 + rnd(s) % 2000);
		} while ((r = pthread_mutex_timedlock(&x->m, &ts)) == ETIMEDOUT);
		CHECK0(r);
		break;
	default:
		do {
			deadline(&ts, CLOCK_MONOTONIC, 1 + rnd(s) % 2000);
		} while ((r = pthread_mutex_clocklock(&x->m, CLOCK_MONOTONIC, &ts)) == ETIMEDOUT);
		CHECK0(r);
	}
}

static void op_mutex(struct worker *w)
{
	int i = (int)(rnd(&w->rng) % NMTX);
	struct mtx *x = &mtxs[i];
	mtx_acquire(x, &w->rng);
	int o = atomic_load(&x->owner);
	if (o != 0)
		FAIL("mutex %d (type %d) acquired while owned by worker %d", i, x->type, o);
	atomic_store(&x->owner, w->id);
	switch (x->type) {
	case PTHREAD_MUTEX_RECURSIVE: {
		int depth = 1 + (int)(rnd(&w->rng) % 3);
		for (int d = 0; d < depth; d++)
			CHECK0(d & 1 ? pthread_mutex_trylock(&x->m) : pthread_mutex_lock(&x->m));
		for (int d = 0; d < depth; d++)
			CHECK0(pthread_mutex_unlock(&x->m));
		break;
	}
	case PTHREAD_MUTEX_ERRORCHECK:
		CHECKR(pthread_mutex_lock(&x->m), EDEADLK);
		CHECKR(pthread_mutex_trylock(&x->m), EBUSY);
		break;
	default:
		CHECKR(pthread_mutex_trylock(&x->m), EBUSY);
	}
	long c = x->count;
	maybe_yield(&w->rng);
	x->count = c + 1;
	if (atomic_load(&x->owner) != w->id)
		FAIL("mutex %d: owner changed to %d while held by %d", i, atomic_load(&x->owner), w->id);
	atomic_store(&x->owner, 0);
	w->mtx_incs[i]++;
	CHECK0(pthread_mutex_unlock(&x->m));
}

/* ---- condvar: a bounded ring */
#define QCAP 64
static pthread_mutex_t qm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_notempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_notfull;      /* CLOCK_MONOTONIC, for clockwait and timedwait alike */
static uint64_t qbuf[QCAP];
static unsigned qhead, qlen;
static uint64_t q_seq, q_put_n, q_put_hash, q_got_n, q_got_hash;

static int q_wait(pthread_cond_t *c, clockid_t clk, uint64_t *s)
{
	struct timespec ts;
	deadline(&ts, clk, 100 + rnd(s) % 2000);
	int r = rnd(s) % 2 ? pthread_cond_clockwait(c, &qm, clk, &ts)
			   : (clk == CLOCK_REALTIME ? pthread_cond_timedwait(c, &qm, &ts)
						    : pthread_cond_clockwait(c, &qm, CLOCK_MONOTONIC, &ts));
	if (r != 0 && r != ETIMEDOUT)
		FAIL("cond wait: %s", strerror(r));
	return r;
}

static void op_cond(struct worker *w)
{
	CHECK0(pthread_mutex_lock(&qm));
	if (rnd(&w->rng) % 2) {
		int tries = 0;
		while (qlen == QCAP && tries++ < 3)
			q_wait(&q_notfull, CLOCK_MONOTONIC, &w->rng);
		if (qlen < QCAP) {
			uint64_t v = mix(++q_seq);
			qbuf[(qhead + qlen++) % QCAP] = v;
			q_put_n++;
			q_put_hash += v;
			CHECK0(rnd(&w->rng) % 3 ? pthread_cond_signal(&q_notempty) : pthread_cond_broadcast(&q_notempty));
		}
	} else {
		int tries = 0;
		while (qlen == 0 && tries++ < 3)
			q_wait(&q_notempty, CLOCK_REALTIME, &w->rng);
		if (qlen > 0) {
			uint64_t v = qbuf[qhead];
			qhead = (qhead + 1) % QCAP;
			qlen--;
			q_got_n++;
			q_got_hash += v;
			CHECK0(rnd(&w->rng) % 3 ? pthread_cond_signal(&q_notfull) : pthread_cond_broadcast(&q_notfull));
		}
	}
	CHECK0(pthread_mutex_unlock(&qm));
}

/* ---- rwlock */
static pthread_rwlock_t rw;
static _Atomic int rw_readers, rw_writer;
static long rw_x, rw_y;

/* The four ways to take one side of the rwlock. */
struct rw_side {
	int (*lock)(pthread_rwlock_t *);
	int (*trylock)(pthread_rwlock_t *);
	int (*timedlock)(pthread_rwlock_t *, const struct timespec *);
	int (*clocklock)(pthread_rwlock_t *, clockid_t, const struct timespec *);
};
static const struct rw_side rw_rd = {pthread_rwlock_rdlock, pthread_rwlock_tryrdlock, pthread_rwlock_timedrdlock,
				     pthread_rwlock_clockrdlock};
static const struct rw_side rw_wr = {pthread_rwlock_wrlock, pthread_rwlock_trywrlock, pthread_rwlock_timedwrlock,
				     pthread_rwlock_clockwrlock};

static void rw_acquire(const struct rw_side *side, uint64_t *s)
{
	struct timespec ts;
	int r;
	switch (rnd(s) % 4) {
	case 0:
		r = side->lock(&rw);
		break;
	case 1:
		while ((r = side->trylock(&rw)) == EBUSY)
			sched_yield();
		break;
	case 2:
		do
			deadline(&ts, CLOCK_REALTIME, 1 + rnd(s) % 2000);
		while ((r = side->timedlock(&rw, &ts)) == ETIMEDOUT);
		break;
	default:
		do
			deadline(&ts, CLOCK_MONOTONIC, 1 + rnd(s) % 2000);
		while ((r = side->clocklock(&rw, CLOCK_MONOTONIC, &ts)) == ETIMEDOUT);
	}
	CHECK0(r);
}

static void op_rwlock(struct worker *w)
{
	if (rnd(&w->rng) % 3) {
		rw_acquire(&rw_rd, &w->rng);
		atomic_fetch_add(&rw_readers, 1);
		CHECK(atomic_load(&rw_writer) == 0);
		long x = rw_x;
		maybe_yield(&w->rng);
		CHECK(rw_y == x && rw_x == x);
		atomic_fetch_sub(&rw_readers, 1);
	} else {
		rw_acquire(&rw_wr, &w->rng);
		CHECK(atomic_load(&rw_readers) == 0 && atomic_exchange(&rw_writer, 1) == 0);
		rw_x++;
		maybe_yield(&w->rng);
		rw_y++;
		w->rw_writes++;
		CHECK(atomic_exchange(&rw_writer, 0) == 1 && atomic_load(&rw_readers) == 0);
	}
	CHECK0(pthread_rwlock_unlock(&rw));
}

/* ---- semaphores */
#define SEM_K 3
static sem_t sem_section, sem_tokens;
static _Atomic int in_section;
static _Atomic long tokens_posted, tokens_taken;

static void op_sem(struct worker *w)
{
	struct timespec ts;
	switch (rnd(&w->rng) % 3) {
	case 0:
		while (sem_wait(&sem_section) != 0)
			CHECK(errno == EINTR);
		break;
	case 1:
		while (sem_trywait(&sem_section) != 0) {
			CHECK(errno == EAGAIN);
			sched_yield();
		}
		break;
	default:
		for (;;) {
			deadline(&ts, CLOCK_REALTIME, 1 + rnd(&w->rng) % 2000);
			if (sem_timedwait(&sem_section, &ts) == 0)
				break;
			CHECK(errno == ETIMEDOUT || errno == EINTR);
		}
	}
	int n = atomic_fetch_add(&in_section, 1) + 1;
	if (n > SEM_K)
		FAIL("%d threads inside a section bounded by %d", n, SEM_K);
	maybe_yield(&w->rng);
	atomic_fetch_sub(&in_section, 1);
	CHECK(sem_post(&sem_section) == 0);

	if (rnd(&w->rng) % 2) {
		CHECK(sem_post(&sem_tokens) == 0);
		atomic_fetch_add(&tokens_posted, 1);
	} else if (sem_trywait(&sem_tokens) == 0) {
		atomic_fetch_add(&tokens_taken, 1);
	} else {
		CHECK(errno == EAGAIN);
	}
}

/* ---- raw futex: a three-state lock (0 free, 1 locked, 2 locked with waiters) */
static _Atomic uint32_t fword;
static _Atomic int f_owner;
static long f_count;

static long futex(_Atomic uint32_t *a, int op, uint32_t v, const struct timespec *ts)
{
	return syscall(SYS_futex, a, op, v, ts, NULL, 0);
}
static void futex_lock(void)
{
	uint32_t c = 0;
	if (atomic_compare_exchange_strong(&fword, &c, 1))
		return;
	if (c != 2)
		c = atomic_exchange(&fword, 2);
	while (c != 0) {
		if (futex(&fword, FUTEX_WAIT_PRIVATE, 2, NULL) != 0)
			CHECK(errno == EAGAIN || errno == EINTR);
		c = atomic_exchange(&fword, 2);
	}
}
static void futex_unlock(void)
{
	if (atomic_exchange(&fword, 0) == 2)
		CHECK(futex(&fword, FUTEX_WAKE_PRIVATE, 1, NULL) >= 0);
}

static void op_futex(struct worker *w)
{
	futex_lock();
	CHECK(atomic_exchange(&f_owner, w->id) == 0);
	long c = f_count;
	maybe_yield(&w->rng);
	f_count = c + 1;
	w->futex_incs++;
	CHECK(atomic_exchange(&f_owner, 0) == w->id);
	futex_unlock();
	if (rnd(&w->rng) % 8 == 0) {
		_Atomic uint32_t word = 5;
		struct timespec ts = {0, (long)(rnd(&w->rng) % 500) * 1000};
		errno = 0;
		CHECK(futex(&word, FUTEX_WAIT_PRIVATE, 4, &ts) == -1 && errno == EAGAIN);
		CHECK(futex(&word, FUTEX_WAIT_PRIVATE, 5, &ts) == -1 && (errno == ETIMEDOUT || errno == EINTR));
		CHECK(futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL) == 0);
	}
}

/* ---- once */
static pthread_once_t onces[NONCE];
static _Atomic int once_runs[NONCE];
static _Atomic char once_touched[NONCE];
static __thread int once_idx;

static void once_init(void)
{
	CHECK(atomic_fetch_add(&once_runs[once_idx], 1) == 0);
	sched_yield(); /* others must wait for us to finish */
}
static void op_once(struct worker *w)
{
	once_idx = (int)(rnd(&w->rng) % NONCE);
	atomic_store(&once_touched[once_idx], 1);
	CHECK0(pthread_once(&onces[once_idx], once_init));
	CHECK(atomic_load(&once_runs[once_idx]) == 1);
}

/* ---- keys with destructors */
static pthread_key_t keys[2];
struct keyval {
	uint32_t magic;
	_Atomic int destroyed;
};
#define KEY_MAGIC 0x6b657976u
static _Atomic long key_dtor_calls;

static void key_dtor(void *p)
{
	struct keyval *v = p;
	CHECK(v->magic == KEY_MAGIC);
	CHECK(atomic_fetch_add(&v->destroyed, 1) == 0);
	atomic_fetch_add(&key_dtor_calls, 1);
}
static void *key_thread(void *arg)
{
	struct keyval *v = arg;
	for (int k = 0; k < 2; k++) {
		CHECK(pthread_getspecific(keys[k]) == NULL);
		CHECK0(pthread_setspecific(keys[k], &v[k]));
		CHECK(pthread_getspecific(keys[k]) == &v[k]);
	}
	/* a key made and deleted here: its value is never destroyed */
	pthread_key_t tmp;
	CHECK0(pthread_key_create(&tmp, key_dtor));
	CHECK0(pthread_setspecific(tmp, &v[2]));
	CHECK0(pthread_key_delete(tmp));
	sched_yield();
	return arg;
}
static void op_key(struct worker *w)
{
	struct keyval v[3] = {{KEY_MAGIC, 0}, {KEY_MAGIC, 0}, {KEY_MAGIC, 0}};
	pthread_t t;
	spawn(&t, NULL, key_thread, v);
	joined(t, v);
	CHECK(atomic_load(&v[0].destroyed) == 1 && atomic_load(&v[1].destroyed) == 1);
	CHECK(atomic_load(&v[2].destroyed) == 0);
	/* the worker's own values: destroyed when it exits */
	for (int k = 0; k < 2; k++)
		if (!w->keyval[k]) {
			struct keyval *kv = malloc(sizeof *kv);
			CHECK(kv);
			kv->magic = KEY_MAGIC;
			atomic_init(&kv->destroyed, 0);
			w->keyval[k] = kv;
			CHECK0(pthread_setspecific(keys[k], kv));
		}
	CHECK(pthread_getspecific(keys[0]) == w->keyval[0] && pthread_getspecific(keys[1]) == w->keyval[1]);
}

/* ---- sleeps */
static void op_sleep(struct worker *w)
{
	long us = (long)(rnd(&w->rng) % 2001);
	struct timespec ts = {0, us * 1000}, rem;
	long long t0 = now_us();
	int intr = 0;
	switch (rnd(&w->rng) % 3) {
	case 0:
		while (nanosleep(&ts, &rem) != 0) {
			CHECK(errno == EINTR);
			ts = rem;
		}
		break;
	case 1:
		if (usleep((useconds_t)us) != 0) {
			CHECK(errno == EINTR);
			intr = 1;
		}
		break;
	default: {
		int r;
		while ((r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem)) != 0) {
			CHECKR(r, EINTR);
			ts = rem;
		}
	}
	}
	long long el = now_us() - t0;
	if (el < us && !intr)
		FAIL("a sleep of %ld us returned after %lld us", us, el);
}

/* ---- framed messages over pipes and socketpairs */
struct msghdr_s {
	uint32_t magic;
	uint16_t writer; /* worker id, or END_WRITER */
	uint16_t len;    /* payload bytes */
	uint32_t seq;    /* per writer and channel, from 1 */
	uint32_t sum;    /* checksum of the payload */
};
#define MSG_MAGIC 0x4d534721u
#define END_WRITER 0xffff
#define MSG_MAX 1024
struct chan {
	int rfd, wfd;
	int sock;
	pthread_mutex_t wlock; /* socket writers: a stream write is not atomic */
	pthread_t reader;
	uint32_t got[MAXW + 1]; /* reader only until joined */
	long msgs, polls;
};
static struct chan chans[NCHAN];

static uint32_t checksum(const unsigned char *p, size_t n, uint32_t seq)
{
	uint32_t h = 2166136261u ^ seq;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void write_all(struct chan *c, const void *buf, size_t n, int vec)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t r;
		if (vec) {
			struct iovec iov[2] = {{(void *)p, n / 2}, {(void *)(p + n / 2), n - n / 2}};
			r = writev(c->wfd, iov, 2);
		} else if (c->sock) {
			r = send(c->wfd, p, n, MSG_NOSIGNAL);
		} else {
			r = write(c->wfd, p, n);
		}
		if (r < 0) {
			CHECK(errno == EINTR);
			continue;
		}
		/* a pipe write of at most PIPE_BUF bytes is atomic: all or nothing */
		if (!c->sock && (size_t)r != n)
			FAIL("pipe write of %zu bytes wrote %zd", n, r);
		p += r;
		n -= (size_t)r;
	}
}

static void send_msg(struct chan *c, int writer, uint32_t seq, uint64_t *s)
{
	unsigned char buf[sizeof(struct msghdr_s) + MSG_MAX];
	struct msghdr_s h = {MSG_MAGIC, (uint16_t)writer, (uint16_t)(rnd(s) % (MSG_MAX + 1)), seq, 0};
	for (unsigned i = 0; i < h.len; i++)
		buf[sizeof h + i] = (unsigned char)rnd(s);
	h.sum = checksum(buf + sizeof h, h.len, seq);
	memcpy(buf, &h, sizeof h);
	int vec = rnd(s) % 4 == 0;
	if (c->sock)
		CHECK0(pthread_mutex_lock(&c->wlock));
	write_all(c, buf, sizeof h + h.len, vec);
	if (c->sock)
		CHECK0(pthread_mutex_unlock(&c->wlock));
}

static void read_all(struct chan *c, void *buf, size_t n, uint64_t *s)
{
	char *p = buf;
	while (n > 0) {
		if (rnd(s) % 3 == 0) {
			struct pollfd pfd = {c->rfd, POLLIN, 0};
			int r = poll(&pfd, 1, (int)(rnd(s) % 50));
			CHECK(r >= 0 || errno == EINTR);
			if (r == 1)
				CHECK(pfd.revents & POLLIN);
			c->polls++;
		}
		size_t want = n;
		if (rnd(s) % 4 == 0 && want > 1)
			want = 1 + rnd(s) % want; /* short reads split messages */
		ssize_t r = c->sock && rnd(s) % 2 ? recv(c->rfd, p, want, 0) : read(c->rfd, p, want);
		if (r < 0) {
			CHECK(errno == EINTR);
			continue;
		}
		if (r == 0)
			FAIL("channel %d: end of file with %zu bytes of a message missing", (int)(c - chans), n);
		p += r;
		n -= (size_t)r;
	}
}

static void *chan_reader(void *arg)
{
	struct chan *c = arg;
	int ci = (int)(c - chans);
	uint64_t s = mix(seed ^ (0x5eedULL + (uint64_t)ci)) | 1;
	unsigned char buf[MSG_MAX];
	for (;;) {
		struct msghdr_s h;
		read_all(c, &h, sizeof h, &s);
		if (h.magic != MSG_MAGIC)
			FAIL("channel %d: bad magic %#x after %ld messages", ci, h.magic, c->msgs);
		if (h.writer == END_WRITER)
			break;
		if (h.writer < 1 || h.writer > nworkers || h.len > MSG_MAX)
			FAIL("channel %d: bad header writer %u len %u", ci, h.writer, h.len);
		read_all(c, buf, h.len, &s);
		if (checksum(buf, h.len, h.seq) != h.sum)
			FAIL("channel %d: message %u of writer %u corrupt", ci, h.seq, h.writer);
		if (h.seq != c->got[h.writer] + 1)
			FAIL("channel %d: writer %u: message %u after %u (lost, repeated or reordered)", ci,
			     h.writer, h.seq, c->got[h.writer]);
		c->got[h.writer] = h.seq;
		c->msgs++;
		atomic_fetch_add(&progress, 1);
	}
	return c;
}

static void op_msg(struct worker *w)
{
	int ci = (int)(rnd(&w->rng) % NCHAN);
	send_msg(&chans[ci], w->id, ++w->seq[ci], &w->rng);
}

/* ---- threads: create, join, exit, detach */
static void *thr_body(void *arg)
{
	uintptr_t v = (uintptr_t)arg;
	if (v & 1)
		pthread_exit(arg);
	if (v & 2) { /* nested */
		pthread_t t;
		void *cv = (void *)((v & ~(uintptr_t)3) | 0x100000); /* returns at once */
		spawn(&t, NULL, thr_body, cv);
		joined(t, cv);
	}
	return arg;
}
static void *thr_detached(void *arg)
{
	(void)arg;
	sched_yield();
	atomic_fetch_add(&thr_finished, 1);
	atomic_fetch_sub(&detached_live, 1);
	return NULL;
}
static void op_thread(struct worker *w)
{
	int n = 1 + (int)(rnd(&w->rng) % 3);
	pthread_t t[3];
	void *v[3];
	for (int i = 0; i < n; i++) {
		v[i] = (void *)(uintptr_t)((rnd(&w->rng) & 0xfff0) | (rnd(&w->rng) % 4) | 0x10000);
		spawn(&t[i], NULL, thr_body, v[i]);
	}
	for (int i = 0; i < n; i++)
		joined(t[i], v[i]);
	if (rnd(&w->rng) % 2) {
		atomic_fetch_add(&detached_live, 1);
		if (rnd(&w->rng) % 2) {
			pthread_attr_t a;
			CHECK0(pthread_attr_init(&a));
			CHECK0(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED));
			pthread_t d;
			spawn(&d, &a, thr_detached, NULL);
			CHECK0(pthread_attr_destroy(&a));
		} else {
			pthread_t d;
			spawn(&d, NULL, thr_detached, NULL);
			CHECK0(pthread_detach(d));
		}
	}
}

/* ---- barriers */
struct bar {
	pthread_barrier_t b;
	int k;
	_Atomic int arrived[2], serial[2];
};
static void bar_rounds(struct bar *b)
{
	for (int round = 0; round < 2; round++) {
		atomic_fetch_add(&b->arrived[round], 1);
		int r = pthread_barrier_wait(&b->b);
		CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
		if (r)
			atomic_fetch_add(&b->serial[round], 1);
		CHECK(atomic_load(&b->arrived[round]) == b->k);
	}
}
static void *bar_thread(void *arg)
{
	bar_rounds(arg);
	return arg;
}
static void op_barrier(struct worker *w)
{
	struct bar b = {.k = 2 + (int)(rnd(&w->rng) % 3)};
	CHECK0(pthread_barrier_init(&b.b, NULL, (unsigned)b.k));
	pthread_t t[3];
	for (int i = 0; i < b.k - 1; i++)
		spawn(&t[i], NULL, bar_thread, &b);
	bar_rounds(&b);
	for (int i = 0; i < b.k - 1; i++)
		joined(t[i], &b);
	CHECK(atomic_load(&b.serial[0]) == 1 && atomic_load(&b.serial[1]) == 1);
	CHECK0(pthread_barrier_destroy(&b.b));
}

/* ---- signals to threads */
struct sigtarget {
	_Atomic int ready, got, stop;
};
static __thread struct sigtarget *my_sigtarget;
static _Atomic long sig_sent, sig_received, sig_stray;

static void on_usr1(int sig)
{
	(void)sig;
	int e = errno;
	struct sigtarget *t = my_sigtarget;
	if (t)
		atomic_fetch_add(&t->got, 1);
	else
		atomic_fetch_add(&sig_stray, 1);
	atomic_fetch_add(&sig_received, 1);
	errno = e;
}
static void *sig_thread(void *arg)
{
	struct sigtarget *t = arg;
	my_sigtarget = t;
	atomic_store(&t->ready, 1);
	unsigned n = 0;
	while (!atomic_load(&t->stop)) {
		if (n++ % 2) {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
		} else {
			sched_yield();
		}
	}
	my_sigtarget = NULL;
	return arg;
}
static void op_signal(struct worker *w)
{
	struct sigtarget tg = {0, 0, 0};
	pthread_t t;
	spawn(&t, NULL, sig_thread, &tg);
	while (!atomic_load(&tg.ready)) /* a signal before that would find no target */
		usleep(50);
	int n = 1 + (int)(rnd(&w->rng) % 4);
	for (int i = 1; i <= n; i++) {
		CHECK0(pthread_kill(t, SIGUSR1));
		atomic_fetch_add(&sig_sent, 1);
		/* one at a time: a second SIGUSR1 sent while one is pending merges with it */
		long long t0 = now_us();
		int got;
		while ((got = atomic_load(&tg.got)) < i) {
			if (now_us() - t0 > 10 * 1000000LL)
				FAIL("pthread_kill: signal %d of %d not handled by its thread in 10 s (got %d, strays %ld)",
				     i, n, got, atomic_load(&sig_stray));
			usleep(100);
		}
		if (got != i)
			FAIL("signal target counted %d signals, %d sent", got, i);
	}
	atomic_store(&tg.stop, 1);
	joined(t, &tg);
	CHECK(atomic_load(&tg.got) == n);
}

/* ---- cancellation of blocked threads */
struct canc {
	int kind;
	_Atomic int started, cleaned;
	pthread_mutex_t m;
	pthread_cond_t c;
	int pfd[2];
	sem_t sem;
};
enum { C_COND, C_READ, C_POLL, C_SLEEP, C_SEM, C_PAUSE, C_NKIND };

static void canc_cleanup(void *arg)
{
	struct canc *c = arg;
	if (c->kind == C_COND)
		CHECK0(pthread_mutex_unlock(&c->m)); /* cond_wait re-took it */
	atomic_fetch_add(&c->cleaned, 1);
}
static void *canc_thread(void *arg)
{
	struct canc *c = arg;
	char b;
	pthread_cleanup_push(canc_cleanup, c);
	switch (c->kind) {
	case C_COND:
		CHECK0(pthread_mutex_lock(&c->m));
		atomic_store(&c->started, 1);
		for (;;)
			pthread_cond_wait(&c->c, &c->m);
		break;
	case C_READ:
		atomic_store(&c->started, 1);
		for (;;)
			if (read(c->pfd[0], &b, 1) >= 0)
				FAIL("read on a pipe nobody writes returned");
		break;
	case C_POLL: {
		struct pollfd p = {c->pfd[0], POLLIN, 0};
		atomic_store(&c->started, 1);
		for (;;)
			if (poll(&p, 1, -1) > 0)
				FAIL("poll on a pipe nobody writes returned");
		break;
	}
	case C_SLEEP:
		atomic_store(&c->started, 1);
		for (;;) {
			struct timespec ts = {30, 0};
			nanosleep(&ts, NULL);
		}
		break;
	case C_SEM:
		atomic_store(&c->started, 1);
		for (;;)
			if (sem_wait(&c->sem) == 0)
				FAIL("sem_wait on a zero semaphore returned");
		break;
	default:
		atomic_store(&c->started, 1);
		for (;;)
			pause();
	}
	pthread_cleanup_pop(0);
	return NULL;
}
static void op_cancel(struct worker *w)
{
	struct canc c = {.kind = (int)(rnd(&w->rng) % C_NKIND)};
	CHECK0(pthread_mutex_init(&c.m, NULL));
	CHECK0(pthread_cond_init(&c.c, NULL));
	CHECK(pipe(c.pfd) == 0);
	CHECK(sem_init(&c.sem, 0, 0) == 0);
	pthread_t t;
	spawn(&t, NULL, canc_thread, &c);
	while (!atomic_load(&c.started))
		usleep(50);
	if (rnd(&w->rng) % 2)
		usleep((useconds_t)(rnd(&w->rng) % 1000)); /* usually blocked by now; either way it must end */
	CHECK0(pthread_cancel(t));
	joined(t, PTHREAD_CANCELED);
	CHECK(atomic_load(&c.cleaned) == 1);
	CHECK0(pthread_mutex_trylock(&c.m));
	CHECK0(pthread_mutex_unlock(&c.m));
	CHECK0(pthread_mutex_destroy(&c.m));
	CHECK0(pthread_cond_destroy(&c.c));
	CHECK(close(c.pfd[0]) == 0 && close(c.pfd[1]) == 0);
	CHECK(sem_destroy(&c.sem) == 0);
}

/* ---- fork from a thread */
static _Atomic int fork_busy;

static void *child_thread(void *arg) { return (void *)((uintptr_t)arg * 3); }
static int child_main(pid_t parent)
{
	if (getppid() != parent)
		return 10;
	pthread_t t;
	void *r;
	if (pthread_create(&t, NULL, child_thread, (void *)7) != 0 || pthread_join(t, &r) != 0 || r != (void *)21)
		return 11;
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	if (pthread_mutex_lock(&m) != 0 || pthread_mutex_trylock(&m) != EBUSY || pthread_mutex_unlock(&m) != 0)
		return 12;
	int p[2];
	char b = 0;
	if (pipe(p) != 0 || write(p[1], "x", 1) != 1 || read(p[0], &b, 1) != 1 || b != 'x')
		return 13;
	return 0;
}
static void op_fork(struct worker *w)
{
	(void)w;
	int z = 0;
	if (!atomic_compare_exchange_strong(&fork_busy, &z, 1))
		return;
	pid_t parent = getpid();
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(child_main(parent));
	int st;
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	CHECK(r == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("forked child: status %#x (exit code 10+n: check n failed)", st);
	atomic_store(&fork_busy, 0);
}

/* ---- workers */
static void (*const op_fn[NOPS])(struct worker *) = {
#define X(n, w) op_##n,
	X_OPS(X)
#undef X
};
static int weight_total;

static int time_up(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec > t_end.tv_sec || (ts.tv_sec == t_end.tv_sec && ts.tv_nsec >= t_end.tv_nsec);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (long n = 0; max_ops ? n < max_ops : !time_up(); n++) {
		int pick = (int)(rnd(&w->rng) % (uint64_t)weight_total), op = 0;
		while (pick >= op_weight[op])
			pick -= op_weight[op++];
		atomic_store(&w->cur, op);
		op_fn[op](w);
		atomic_store(&w->cur, -1);
		w->ops[op]++;
		atomic_fetch_add(&progress, 1);
	}
	return w;
}

/* ---- the watchdog */
static void (*gmp_dump_fn)(void);

static void dump_threads(void)
{
	if (gmp_dump_fn) {
		gmp_dump_fn();
	} else if (getenv("GMP_DEBUG") && strstr(getenv("GMP_DEBUG"), "dumpsignal=SIGQUIT")) {
		raise(SIGQUIT);
		usleep(500000); /* the dump is written by the handler */
	}
}

static void *watchdog(void *arg)
{
	(void)arg;
	long last = -1;
	long long since = now_us();
	for (;;) {
		struct timespec ts = {0, 250000000};
		nanosleep(&ts, NULL);
		long p = atomic_load(&progress);
		if (p != last) {
			last = p;
			since = now_us();
			continue;
		}
		if (now_us() - since < stall_s * 1000000LL)
			continue;
		char line[4096];
		int n = snprintf(line, sizeof line, "stress: no progress for %d s (seed %llu); workers in:", stall_s,
				 seed);
		for (int i = 0; i < nworkers && n < (int)sizeof line - 32; i++) {
			int c = atomic_load(&workers[i].cur);
			n += snprintf(line + n, sizeof line - (size_t)n, " %d:%s", i + 1, c < 0 ? "-" : op_name[c]);
		}
		fprintf(stderr, "%s\n", line);
		fflush(NULL);
		dump_threads();
		_exit(3);
	}
	return NULL;
}

/* The backstop: if even the watchdog cannot run, the alarm still fires. */
static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "stress: no progress (alarm: the watchdog did not run)\n";
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(4);
	if (gmp_dump_fn)
		gmp_dump_fn();
	else if (getenv("GMP_DEBUG") && strstr(getenv("GMP_DEBUG"), "dumpsignal=SIGQUIT"))
		raise(SIGQUIT);
	_exit(3);
}

static void usage(void)
{
	fprintf(stderr, "usage: stress [--seed N] [--seconds S | --ops N] [--threads T (1-%d)] [--stall S]\n"
			"              [--only OP,OP...]\n",
		MAXW);
	exit(2);
}

static void setup(void)
{
	pthread_mutexattr_t ma;
	CHECK0(pthread_mutexattr_init(&ma));
	for (int i = 0; i < NMTX; i++) {
		mtxs[i].type = mtx_types[i % 4];
		CHECK0(pthread_mutexattr_settype(&ma, mtxs[i].type));
		CHECK0(pthread_mutex_init(&mtxs[i].m, &ma));
	}
	CHECK0(pthread_mutexattr_destroy(&ma));
	pthread_condattr_t ca;
	CHECK0(pthread_condattr_init(&ca));
	CHECK0(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC));
	CHECK0(pthread_cond_init(&q_notfull, &ca));
	CHECK0(pthread_condattr_destroy(&ca));
	pthread_rwlockattr_t ra;
	CHECK0(pthread_rwlockattr_init(&ra));
	CHECK0(pthread_rwlockattr_setkind_np(&ra, seed % 2 ? PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
							    : PTHREAD_RWLOCK_PREFER_READER_NP));
	CHECK0(pthread_rwlock_init(&rw, &ra));
	CHECK0(pthread_rwlockattr_destroy(&ra));
	CHECK(sem_init(&sem_section, 0, SEM_K) == 0 && sem_init(&sem_tokens, 0, 0) == 0);
	for (int i = 0; i < NONCE; i++)
		onces[i] = (pthread_once_t)PTHREAD_ONCE_INIT;
	for (int k = 0; k < 2; k++)
		CHECK0(pthread_key_create(&keys[k], key_dtor));
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	sa.sa_handler = on_alarm;
	sa.sa_flags = 0;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < NCHAN; i++) {
		struct chan *c = &chans[i];
		int fds[2];
		c->sock = i >= NCHAN / 2;
		if (c->sock)
			CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
		else
			CHECK(pipe(fds) == 0);
		c->rfd = fds[0];
		c->wfd = fds[1];
		CHECK0(pthread_mutex_init(&c->wlock, NULL));
		CHECK0(pthread_create(&c->reader, NULL, chan_reader, c));
	}
}

static long workers_ops(int op)
{
	long n = 0;
	for (int i = 0; i < nworkers; i++)
		n += workers[i].ops[op];
	return n;
}

/* End of run: every total must add up. */
static void check_totals(void)
{
	long inc[NMTX] = {0}, rw_writes = 0, f_incs = 0;
	for (int i = 0; i < nworkers; i++) {
		for (int m = 0; m < NMTX; m++)
			inc[m] += workers[i].mtx_incs[m];
		rw_writes += workers[i].rw_writes;
		f_incs += workers[i].futex_incs;
	}
	for (int m = 0; m < NMTX; m++)
		if (inc[m] != mtxs[m].count)
			FAIL("mutex %d (type %d): counter %ld, increments %ld", m, mtxs[m].type, mtxs[m].count, inc[m]);
	if (rw_x != rw_writes || rw_y != rw_writes)
		FAIL("rwlock: x %ld y %ld, writes %ld", rw_x, rw_y, rw_writes);
	if (f_count != f_incs || atomic_load(&fword) != 0)
		FAIL("futex lock: counter %ld, increments %ld, word %u", f_count, f_incs, atomic_load(&fword));

	uint64_t left_n = 0, left_hash = 0;
	for (unsigned i = 0; i < qlen; i++, left_n++)
		left_hash += qbuf[(qhead + i) % QCAP];
	if (q_got_n + left_n != q_put_n || q_got_hash + left_hash != q_put_hash)
		FAIL("condvar queue: put %llu, got %llu, left %llu (or their hashes differ)",
		     (unsigned long long)q_put_n, (unsigned long long)q_got_n, (unsigned long long)left_n);

	int v;
	CHECK(sem_getvalue(&sem_section, &v) == 0 && v == SEM_K && atomic_load(&in_section) == 0);
	CHECK(sem_getvalue(&sem_tokens, &v) == 0);
	if (v != atomic_load(&tokens_posted) - atomic_load(&tokens_taken))
		FAIL("token semaphore: value %d, posted %ld, taken %ld", v, atomic_load(&tokens_posted),
		     atomic_load(&tokens_taken));

	for (int i = 0; i < NONCE; i++)
		if (atomic_load(&once_runs[i]) != atomic_load(&once_touched[i]))
			FAIL("once %d: init ran %d times, used %d", i, atomic_load(&once_runs[i]),
			     atomic_load(&once_touched[i]));

	long keyvals = 0;
	for (int i = 0; i < nworkers; i++)
		for (int k = 0; k < 2; k++)
			if (workers[i].keyval[k]) {
				struct keyval *kv = workers[i].keyval[k];
				CHECK(atomic_load(&kv->destroyed) == 1);
				keyvals++;
				free(kv);
			}
	if (atomic_load(&key_dtor_calls) != 2 * workers_ops(OP_key) + keyvals)
		FAIL("key destructors: %ld calls, want %ld", atomic_load(&key_dtor_calls),
		     2 * workers_ops(OP_key) + keyvals);

	for (int ci = 0; ci < NCHAN; ci++)
		for (int i = 0; i < nworkers; i++)
			if (chans[ci].got[i + 1] != workers[i].seq[ci])
				FAIL("channel %d: worker %d sent %u messages, %u arrived", ci, i + 1, workers[i].seq[ci],
				     chans[ci].got[i + 1]);

	if (atomic_load(&sig_sent) != atomic_load(&sig_received) || atomic_load(&sig_stray) != 0)
		FAIL("signals: sent %ld, handled %ld, on the wrong thread %ld", atomic_load(&sig_sent),
		     atomic_load(&sig_received), atomic_load(&sig_stray));
	if (atomic_load(&thr_started) != atomic_load(&thr_finished))
		FAIL("threads: %ld started, %ld finished", atomic_load(&thr_started), atomic_load(&thr_finished));
}

int main(int argc, char **argv)
{
	const char *env = getenv("GMP_STRESS_SEED");
	int have_seed = 0;
	if (env && *env) {
		seed = strtoull(env, NULL, 0);
		have_seed = 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "--seed")) {
			seed = strtoull(v, NULL, 0);
			have_seed = 1;
		} else if (!strcmp(a, "--seconds")) {
			seconds = atof(v);
		} else if (!strcmp(a, "--ops")) {
			max_ops = atol(v);
		} else if (!strcmp(a, "--threads")) {
			nworkers = atoi(v);
		} else if (!strcmp(a, "--stall")) {
			stall_s = atoi(v);
		} else if (!strcmp(a, "--only")) {
			only = v;
		} else {
			usage();
		}
		i++;
	}
	if (nworkers < 1 || nworkers > MAXW || seconds <= 0 || max_ops < 0 || stall_s < 1)
		usage();
	if (!have_seed)
		seed = (unsigned long long)now_us() ^ ((unsigned long long)getpid() << 32);
	printf("stress: seed=%llu threads=%d %s=%g\n", seed, nworkers, max_ops ? "ops" : "seconds",
	       max_ops ? (double)max_ops : seconds);
	fflush(stdout);

	*(void **)&gmp_dump_fn = dlsym(RTLD_DEFAULT, "gmp_dump");
	for (int op = 0; op < NOPS; op++) {
		char name[32];
		snprintf(name, sizeof name, ",%s,", op_name[op]);
		char list[256];
		snprintf(list, sizeof list, ",%s,", only ? only : "");
		if (only && !strstr(list, name))
			op_weight[op] = 0;
		weight_total += op_weight[op];
	}
	if (weight_total == 0)
		usage();
	setup();
	if (!max_ops)
		alarm((unsigned)seconds + (unsigned)stall_s + 60);

	pthread_t wd;
	CHECK0(pthread_create(&wd, NULL, watchdog, NULL));
	CHECK0(pthread_detach(wd));

	long long t0 = now_us();
	clock_gettime(CLOCK_MONOTONIC, &t_end);
	t_end.tv_sec += (time_t)seconds;
	t_end.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (t_end.tv_nsec >= 1000000000L) {
		t_end.tv_sec++;
		t_end.tv_nsec -= 1000000000L;
	}
	pthread_t wt[MAXW];
	for (int i = 0; i < nworkers; i++) {
		workers[i].id = i + 1;
		workers[i].rng = mix(seed * 0x9e3779b97f4a7c15ULL + (uint64_t)i + 1) | 1;
		atomic_init(&workers[i].cur, -1);
		CHECK0(pthread_create(&wt[i], NULL, worker_main, &workers[i]));
	}
	for (int i = 0; i < nworkers; i++) {
		void *r;
		CHECK0(pthread_join(wt[i], &r));
		CHECK(r == &workers[i]);
	}

	/* End the readers: one END message each, after every worker's last one. */
	for (int ci = 0; ci < NCHAN; ci++) {
		struct msghdr_s h = {MSG_MAGIC, END_WRITER, 0, 0, 0};
		write_all(&chans[ci], &h, sizeof h, 0);
		void *r;
		CHECK0(pthread_join(chans[ci].reader, &r));
		CHECK(r == &chans[ci]);
	}
	for (long long d0 = now_us(); atomic_load(&detached_live) > 0;) {
		if (now_us() - d0 > 30 * 1000000LL)
			FAIL("%ld detached threads did not finish in 30 s", atomic_load(&detached_live));
		usleep(1000);
	}
	check_totals();
	alarm(0);

	long total = 0, polls = 0, msgs = 0;
	char line[1024];
	int n = 0;
	for (int op = 0; op < NOPS; op++) {
		long c = workers_ops(op);
		total += c;
		n += snprintf(line + n, sizeof line - (size_t)n, " %s=%ld", op_name[op], c);
	}
	for (int ci = 0; ci < NCHAN; ci++) {
		polls += chans[ci].polls;
		msgs += chans[ci].msgs;
	}
	printf("stress: ops total=%ld%s signals=%ld threads=%ld msgs_recv=%ld polls=%ld\n", total, line,
	       atomic_load(&sig_sent), atomic_load(&thr_started), msgs, polls);
	printf("stress: ok seed=%llu %.1f s\n", seed, (double)(now_us() - t0) / 1e6);
	return 0;
}
