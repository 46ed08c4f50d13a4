/*
 * badinput: one row per call of an interposed function with arguments that
 * POSIX or NPTL define an error for. Each row prints "name: RESULT", the
 * error's name (strerrorname_np) or 0; compare.sh runs the program natively
 * and under gmp and requires the same lines. Only defined behaviour: no
 * destroyed or uninitialised objects, no handles of joined threads.
 *
 * pthread_* rows print the returned number; libc rows (sem_*, sleeps, I/O)
 * print errno when the call returns -1, and "returned N" otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

/* ---- fixtures, made in main before the rows run */
static pthread_t detached_t;  /* detached, alive until the end */
static pthread_t running_t;   /* joinable, alive until the end */
static pthread_t finished_t;  /* joinable, returned, not joined yet */
static sem_t release_sem;     /* posted at the end: the alive threads return */
static sem_t held_sem;        /* posted by the holder once it holds its locks */
static pthread_mutex_t m_err, m_rec, m_norm, m_err_other, m_rec_other;
static pthread_rwlock_t rw_other = PTHREAD_RWLOCK_INITIALIZER, rw_mine = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t m_norm2 = PTHREAD_MUTEX_INITIALIZER; /* free: for condvar waits */
static pthread_spinlock_t spin;
static mtx_t c11m;
static int rpipe[2], wpipe_noreader[2], datapipe[2];

static void *wait_release(void *arg)
{
	while (sem_wait(&release_sem) != 0)
		;
	return arg;
}
static void *returns_now(void *arg) { return arg; }
static void *holder(void *arg)
{
	pthread_mutex_lock(&m_err_other);
	pthread_mutex_lock(&m_rec_other);
	pthread_rwlock_wrlock(&rw_other);
	sem_post(&held_sem);
	while (sem_wait(&release_sem) != 0)
		;
	pthread_rwlock_unlock(&rw_other);
	pthread_mutex_unlock(&m_rec_other);
	pthread_mutex_unlock(&m_err_other);
	return arg;
}

static struct timespec ts_nsec(long nsec)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	ts.tv_nsec = nsec;
	return ts;
}
static struct timespec ts_past(void) { return (struct timespec){1, 0}; }
static struct timespec ts_negative(void) { return (struct timespec){-1, 0}; }

/* libc convention: -1 and errno */
#define LIBC(expr) ({ errno = 0; long r_ = (long)(expr); r_ == -1 ? errno : (r_ == 0 ? 0 : -1000 - (int)r_); })

/* ---- threads */
static int join_self(void) { return pthread_join(pthread_self(), NULL); }
static int join_detached(void) { return pthread_join(detached_t, NULL); }
static int detach_detached(void) { return pthread_detach(detached_t); }
static int tryjoin_running(void) { return pthread_tryjoin_np(running_t, NULL); }
static int timedjoin_past(void) { struct timespec ts = ts_past(); return pthread_timedjoin_np(running_t, NULL, &ts); }
static int clockjoin_cputime(void)
{
	struct timespec ts = ts_nsec(0);
	return pthread_clockjoin_np(running_t, NULL, CLOCK_PROCESS_CPUTIME_ID, &ts);
}
static int clockjoin_bogus(void) { struct timespec ts = ts_nsec(0); return pthread_clockjoin_np(running_t, NULL, 999, &ts); }
static int kill_999(void) { return pthread_kill(running_t, 999); }
static int kill_neg(void) { return pthread_kill(running_t, -1); }
static int kill_65(void) { return pthread_kill(running_t, 65); }
static int kill_0(void) { return pthread_kill(running_t, 0); }
static int kill_finished(void) { return pthread_kill(finished_t, 0); }
static int sigqueue_999(void) { return pthread_sigqueue(running_t, 999, (union sigval){0}); }
static int cancel_finished(void) { return pthread_cancel(finished_t); }
static int setcancelstate_99(void) { return pthread_setcancelstate(99, NULL); }
static int setcanceltype_99(void) { return pthread_setcanceltype(99, NULL); }
static int setname_long(void) { return pthread_setname_np(pthread_self(), "a-name-of-twenty-chars"); }
static int setname_15(void) { return pthread_setname_np(pthread_self(), "fifteen-chars-x"); }
static int getname_small(void) { char b[4]; return pthread_getname_np(pthread_self(), b, sizeof b); }
static int setschedparam_policy(void)
{
	struct sched_param sp = {0};
	return pthread_setschedparam(running_t, 99, &sp);
}
static int setschedparam_prio(void)
{
	struct sched_param sp = {5};
	return pthread_setschedparam(running_t, SCHED_OTHER, &sp);
}
static int setschedprio_other(void) { return pthread_setschedprio(running_t, 5); }
static int setconcurrency_neg(void) { return pthread_setconcurrency(-1); }
static int sigmask_how(void) { sigset_t s; sigemptyset(&s); return pthread_sigmask(99, &s, NULL); }
static int sigprocmask_how(void) { sigset_t s; sigemptyset(&s); return LIBC(sigprocmask(99, &s, NULL)); }

/* with_X(fn): fn on a fresh attribute object of type T (init/destroy: PREFIX_init, PREFIX_destroy) */
#define WITH_ATTR(name, T, prefix)              \
	static int name(int (*fn)(T *))         \
	{                                       \
		T a;                            \
		prefix##_init(&a);              \
		int r = fn(&a);                 \
		prefix##_destroy(&a);           \
		return r;                       \
	}

/* ---- thread attributes */
WITH_ATTR(with_attr, pthread_attr_t, pthread_attr)
static int a_detach(pthread_attr_t *a) { return pthread_attr_setdetachstate(a, 99); }
static int a_stack_small(pthread_attr_t *a) { return pthread_attr_setstacksize(a, PTHREAD_STACK_MIN - 1); }
static int a_stack_min(pthread_attr_t *a) { return pthread_attr_setstacksize(a, PTHREAD_STACK_MIN); }
static int a_policy(pthread_attr_t *a) { return pthread_attr_setschedpolicy(a, 99); }
static int a_scope_process(pthread_attr_t *a) { return pthread_attr_setscope(a, PTHREAD_SCOPE_PROCESS); }
static int a_scope_99(pthread_attr_t *a) { return pthread_attr_setscope(a, 99); }
static int a_inherit(pthread_attr_t *a) { return pthread_attr_setinheritsched(a, 99); }
static int a_param(pthread_attr_t *a)
{
	struct sched_param sp = {1000};
	return pthread_attr_setschedparam(a, &sp);
}
static int a_guard_big(pthread_attr_t *a) { return pthread_attr_setguardsize(a, (size_t)1 << 30); }
static int a_setstack_small(pthread_attr_t *a)
{
	static char buf[4096];
	return pthread_attr_setstack(a, buf, 64);
}
#define ATTR_ROW(f) static int f##_row(void) { return with_attr(f); }
ATTR_ROW(a_detach)
ATTR_ROW(a_stack_small)
ATTR_ROW(a_stack_min)
ATTR_ROW(a_policy)
ATTR_ROW(a_scope_process)
ATTR_ROW(a_scope_99)
ATTR_ROW(a_inherit)
ATTR_ROW(a_param)
ATTR_ROW(a_guard_big)
ATTR_ROW(a_setstack_small)

/* ---- mutexes */
WITH_ATTR(with_mattr, pthread_mutexattr_t, pthread_mutexattr)
static int ma_type(pthread_mutexattr_t *a) { return pthread_mutexattr_settype(a, 99); }
static int ma_pshared(pthread_mutexattr_t *a) { return pthread_mutexattr_setpshared(a, 99); }
static int ma_protocol(pthread_mutexattr_t *a) { return pthread_mutexattr_setprotocol(a, 99); }
static int ma_robust(pthread_mutexattr_t *a) { return pthread_mutexattr_setrobust(a, 99); }
static int ma_ceiling(pthread_mutexattr_t *a) { return pthread_mutexattr_setprioceiling(a, -1); }
static int ma_type_neg(pthread_mutexattr_t *a) { return pthread_mutexattr_settype(a, -1); }
#define MATTR_ROW(f) static int f##_row(void) { return with_mattr(f); }
MATTR_ROW(ma_type)
MATTR_ROW(ma_pshared)
MATTR_ROW(ma_protocol)
MATTR_ROW(ma_robust)
MATTR_ROW(ma_ceiling)
MATTR_ROW(ma_type_neg)

static int err_relock(void) { return pthread_mutex_lock(&m_err); }       /* m_err held by main */
static int err_trylock_owner(void) { return pthread_mutex_trylock(&m_err); }
static int err_timedlock_owner(void) { struct timespec ts = ts_nsec(0); return pthread_mutex_timedlock(&m_err, &ts); }
static int err_unlock_other(void) { return pthread_mutex_unlock(&m_err_other); }
static int rec_unlock_other(void) { return pthread_mutex_unlock(&m_rec_other); }
static int rec_trylock_other(void) { return pthread_mutex_trylock(&m_rec_other); }
static int err_trylock_other(void) { return pthread_mutex_trylock(&m_err_other); }
static int err_timedlock_other_past(void) { struct timespec ts = ts_past(); return pthread_mutex_timedlock(&m_err_other, &ts); }
static int err_timedlock_other_negative(void)
{
	struct timespec ts = ts_negative();
	return pthread_mutex_timedlock(&m_err_other, &ts);
}
static int err_timedlock_other_nsec_big(void) { struct timespec ts = ts_nsec(1000000000); return pthread_mutex_timedlock(&m_err_other, &ts); }
static int err_timedlock_other_nsec_neg(void) { struct timespec ts = ts_nsec(-1); return pthread_mutex_timedlock(&m_err_other, &ts); }
static int err_clocklock_cputime(void)
{
	struct timespec ts = ts_nsec(0);
	return pthread_mutex_clocklock(&m_err_other, CLOCK_PROCESS_CPUTIME_ID, &ts);
}
static int err_clocklock_bogus(void) { struct timespec ts = ts_nsec(0); return pthread_mutex_clocklock(&m_err_other, 999, &ts); }
static int norm_trylock_held(void) { return pthread_mutex_trylock(&m_norm); } /* m_norm held by main */
static int norm_destroy_held(void) { return pthread_mutex_destroy(&m_norm); }
static int err_unlock_unlocked(void)
{
	pthread_mutex_t m;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&m, &a);
	pthread_mutexattr_destroy(&a);
	int r = pthread_mutex_unlock(&m);
	pthread_mutex_destroy(&m);
	return r;
}
static int rec_unlock_unlocked(void) { return pthread_mutex_unlock(&m_rec); }
static int consistent_nonrobust(void) { return pthread_mutex_consistent(&m_rec); }

/* ---- condition variables */
WITH_ATTR(with_cattr, pthread_condattr_t, pthread_condattr)
static int ca_clock_cputime(pthread_condattr_t *a) { return pthread_condattr_setclock(a, CLOCK_PROCESS_CPUTIME_ID); }
static int ca_clock_bogus(pthread_condattr_t *a) { return pthread_condattr_setclock(a, 999); }
static int ca_clock_mono(pthread_condattr_t *a) { return pthread_condattr_setclock(a, CLOCK_MONOTONIC); }
static int ca_pshared(pthread_condattr_t *a) { return pthread_condattr_setpshared(a, 99); }
#define CATTR_ROW(f) static int f##_row(void) { return with_cattr(f); }
CATTR_ROW(ca_clock_cputime)
CATTR_ROW(ca_clock_bogus)
CATTR_ROW(ca_clock_mono)
CATTR_ROW(ca_pshared)

static int cond_timed(struct timespec ts)
{
	pthread_mutex_lock(&m_norm2);
	int r = pthread_cond_timedwait(&cond, &m_norm2, &ts);
	pthread_mutex_unlock(&m_norm2);
	return r;
}
static int cond_nsec_big(void) { return cond_timed(ts_nsec(1000000000)); }
static int cond_nsec_neg(void) { return cond_timed(ts_nsec(-1)); }
static int cond_past(void) { return cond_timed(ts_past()); }
static int cond_negative(void) { return cond_timed(ts_negative()); }
static int cond_clock_bogus(void)
{
	struct timespec ts = ts_nsec(0);
	pthread_mutex_lock(&m_norm2);
	int r = pthread_cond_clockwait(&cond, &m_norm2, 999, &ts);
	pthread_mutex_unlock(&m_norm2);
	return r;
}
static int cond_wait_unowned_errcheck(void) { return pthread_cond_wait(&cond, &m_err_other); }
static int cond_signal_unused(void) { return pthread_cond_signal(&cond); }
static int cond_destroy_unused(void)
{
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	return pthread_cond_destroy(&c);
}

/* ---- rwlocks (rw_mine write-locked by main, rw_other by the holder) */
static int rw_wrlock_again(void) { return pthread_rwlock_wrlock(&rw_mine); }
static int rw_rdlock_own_writer(void) { return pthread_rwlock_rdlock(&rw_mine); }
static int rw_trywrlock_held(void) { return pthread_rwlock_trywrlock(&rw_other); }
static int rw_tryrdlock_held(void) { return pthread_rwlock_tryrdlock(&rw_other); }
static int rw_timedrd_past(void) { struct timespec ts = ts_past(); return pthread_rwlock_timedrdlock(&rw_other, &ts); }
static int rw_timedwr_past(void) { struct timespec ts = ts_past(); return pthread_rwlock_timedwrlock(&rw_other, &ts); }
static int rw_timedrd_nsec(void) { struct timespec ts = ts_nsec(1000000000); return pthread_rwlock_timedrdlock(&rw_other, &ts); }
static int rw_timedwr_nsec(void) { struct timespec ts = ts_nsec(-1); return pthread_rwlock_timedwrlock(&rw_other, &ts); }
static int rw_clockrd_bogus(void) { struct timespec ts = ts_nsec(0); return pthread_rwlock_clockrdlock(&rw_other, 999, &ts); }
static int rw_clockwr_cputime(void)
{
	struct timespec ts = ts_nsec(0);
	return pthread_rwlock_clockwrlock(&rw_other, CLOCK_PROCESS_CPUTIME_ID, &ts);
}
WITH_ATTR(with_rwattr, pthread_rwlockattr_t, pthread_rwlockattr)
static int rwa_kind_set(pthread_rwlockattr_t *a) { return pthread_rwlockattr_setkind_np(a, 99); }
static int rwa_pshared_set(pthread_rwlockattr_t *a) { return pthread_rwlockattr_setpshared(a, 99); }
static int rwa_kind(void) { return with_rwattr(rwa_kind_set); }
static int rwa_pshared(void) { return with_rwattr(rwa_pshared_set); }

/* ---- barriers, spin locks, keys */
static int barrier_zero(void)
{
	pthread_barrier_t b;
	return pthread_barrier_init(&b, NULL, 0);
}
static int barrierattr_pshared(void)
{
	pthread_barrierattr_t a;
	pthread_barrierattr_init(&a);
	int r = pthread_barrierattr_setpshared(&a, 99);
	pthread_barrierattr_destroy(&a);
	return r;
}
static int spin_trylock_held(void) { return pthread_spin_trylock(&spin); } /* held by main */
static int key_delete_bogus(void) { return pthread_key_delete((pthread_key_t)100000); }
static int key_setspecific_bogus(void) { return pthread_setspecific((pthread_key_t)100000, (void *)1); }
static int key_getspecific_bogus(void) { return pthread_getspecific((pthread_key_t)100000) == NULL ? 0 : -1; }
static int key_delete_twice(void)
{
	pthread_key_t k;
	pthread_key_create(&k, NULL);
	pthread_key_delete(k);
	return pthread_key_delete(k);
}

/* ---- semaphores */
static int sem_init_big(void) { sem_t s; return LIBC(sem_init(&s, 0, (unsigned)SEM_VALUE_MAX + 1)); }
static int sem_post_overflow(void)
{
	sem_t s;
	sem_init(&s, 0, SEM_VALUE_MAX);
	int r = LIBC(sem_post(&s));
	sem_destroy(&s);
	return r;
}
static int sem_timed(struct timespec ts, clockid_t clk, int clockwait)
{
	sem_t s;
	sem_init(&s, 0, 0);
	int r = clockwait ? LIBC(sem_clockwait(&s, clk, &ts)) : LIBC(sem_timedwait(&s, &ts));
	sem_destroy(&s);
	return r;
}
static int sem_trywait_zero(void)
{
	sem_t s;
	sem_init(&s, 0, 0);
	int r = LIBC(sem_trywait(&s));
	sem_destroy(&s);
	return r;
}
static int sem_nsec_big(void) { return sem_timed(ts_nsec(1000000000), CLOCK_REALTIME, 0); }
static int sem_nsec_neg(void) { return sem_timed(ts_nsec(-1), CLOCK_REALTIME, 0); }
static int sem_past(void) { return sem_timed(ts_past(), CLOCK_REALTIME, 0); }
static int sem_negative(void) { return sem_timed(ts_negative(), CLOCK_REALTIME, 0); }
static int sem_clock_bogus(void) { return sem_timed(ts_nsec(0), 999, 1); }
static int sem_clock_cputime(void) { return sem_timed(ts_nsec(0), CLOCK_PROCESS_CPUTIME_ID, 1); }

/* ---- sleeps */
static int nanosleep_ts(long sec, long nsec) { struct timespec ts = {sec, nsec}; return LIBC(nanosleep(&ts, NULL)); }
static int nanosleep_nsec_neg(void) { return nanosleep_ts(0, -1); }
static int nanosleep_nsec_big(void) { return nanosleep_ts(0, 1000000000); }
static int nanosleep_sec_neg(void) { return nanosleep_ts(-1, 0); }
static int nanosleep_zero(void) { return nanosleep_ts(0, 0); }
static int cns(clockid_t clk, int flags, long sec, long nsec)
{
	struct timespec ts = {sec, nsec};
	return clock_nanosleep(clk, flags, &ts, NULL);
}
static int cns_bogus(void) { return cns(999, 0, 0, 1000); }
static int cns_nsec_big(void) { return cns(CLOCK_MONOTONIC, 0, 0, 1000000000); }
static int cns_nsec_neg(void) { return cns(CLOCK_REALTIME, 0, 0, -1); }
static int cns_thread_cputime(void) { return cns(CLOCK_THREAD_CPUTIME_ID, 0, 0, 1000); }
static int cns_abs_past(void) { return cns(CLOCK_MONOTONIC, TIMER_ABSTIME, 0, 0); }
static int usleep_zero(void) { return LIBC(usleep(0)); }

/* ---- I/O */
static int closed_fd(void)
{
	int fd = dup(0);
	close(fd);
	return fd;
}
static int read_closed(void) { char b; return LIBC(read(closed_fd(), &b, 1)); }
static int write_closed(void) { return LIBC(write(closed_fd(), "x", 1)); }
static int read_neg(void) { char b; return LIBC(read(-1, &b, 1)); }
static int read_write_end(void) { char b; return LIBC(read(rpipe[1], &b, 1)); }
static int write_read_end(void) { return LIBC(write(rpipe[0], "x", 1)); }
static int write_no_reader(void) { return LIBC(write(wpipe_noreader[1], "x", 1)); }
static int read_null_buf(void)
{
	char *volatile none = NULL; /* data is waiting: the kernel reports EFAULT */
	return LIBC(read(datapipe[0], none, 1));
}
static int recv_pipe(void) { char b; return LIBC(recv(rpipe[0], &b, 1, MSG_DONTWAIT)); }
static int accept_pipe(void) { return LIBC(accept(rpipe[0], NULL, NULL)); }
static int poll_nfds_huge(void)
{
	struct pollfd p = {0, POLLIN, 0};
	volatile nfds_t n = (nfds_t)-1; /* more than RLIMIT_NOFILE: EINVAL */
	return LIBC(poll(&p, n, 0));
}
static int poll_null(void)
{
	struct pollfd *volatile none = NULL; /* the kernel reports EFAULT */
	return LIBC(poll(none, 1, 0));
}
static int poll_closed(void)
{
	struct pollfd p = {closed_fd(), POLLIN, 0};
	int r = poll(&p, 1, 0);
	return r == 1 && p.revents == POLLNVAL ? 0 : -1;
}
static int select_neg(void) { return LIBC(select(-1, NULL, NULL, NULL, &(struct timeval){0, 0})); }
static int epoll_wait_zero(void)
{
	int e = epoll_create1(0);
	struct epoll_event ev;
	int r = LIBC(epoll_wait(e, &ev, 0, 0));
	close(e);
	return r;
}
static int epoll_wait_notepoll(void) { struct epoll_event ev; return LIBC(epoll_wait(rpipe[0], &ev, 1, 0)); }
static int close_neg(void) { return LIBC(close(-1)); }
static int close_twice(void) { int fd = dup(0); close(fd); return LIBC(close(fd)); }
static int dup2_neg(void) { return LIBC(dup2(0, -1)); }
static int fcntl_closed(void) { return LIBC(fcntl(closed_fd(), F_GETFL)); }

/* ---- C11 */
static int c11_trylock_held(void) { return mtx_trylock(&c11m) == thrd_busy ? EBUSY : -1; } /* held by main */

#define ROW(fn) {#fn, fn}
static const struct row {
	const char *name;
	int (*fn)(void);
} rows[] = {
	ROW(join_self), ROW(join_detached), ROW(detach_detached), ROW(tryjoin_running), ROW(timedjoin_past),
	ROW(clockjoin_cputime), ROW(clockjoin_bogus), ROW(kill_999), ROW(kill_neg), ROW(kill_65), ROW(kill_0),
	ROW(kill_finished), ROW(sigqueue_999), ROW(cancel_finished), ROW(setcancelstate_99),
	ROW(setcanceltype_99), ROW(setname_long), ROW(setname_15), ROW(getname_small),
	ROW(setschedparam_policy), ROW(setschedparam_prio), ROW(setschedprio_other), ROW(setconcurrency_neg),
	ROW(sigmask_how), ROW(sigprocmask_how),
	ROW(a_detach_row), ROW(a_stack_small_row), ROW(a_stack_min_row), ROW(a_policy_row),
	ROW(a_scope_process_row), ROW(a_scope_99_row), ROW(a_inherit_row), ROW(a_param_row),
	ROW(a_guard_big_row), ROW(a_setstack_small_row),
	ROW(ma_type_row), ROW(ma_pshared_row), ROW(ma_protocol_row), ROW(ma_robust_row), ROW(ma_ceiling_row),
	ROW(ma_type_neg_row),
	ROW(err_relock), ROW(err_trylock_owner), ROW(err_timedlock_owner), ROW(err_unlock_other),
	ROW(rec_unlock_other), ROW(rec_trylock_other), ROW(err_trylock_other), ROW(err_timedlock_other_past),
	ROW(err_timedlock_other_negative), ROW(err_timedlock_other_nsec_big), ROW(err_timedlock_other_nsec_neg),
	ROW(err_clocklock_cputime), ROW(err_clocklock_bogus), ROW(norm_trylock_held), ROW(norm_destroy_held),
	ROW(err_unlock_unlocked), ROW(rec_unlock_unlocked), ROW(consistent_nonrobust),
	ROW(ca_clock_cputime_row), ROW(ca_clock_bogus_row), ROW(ca_clock_mono_row), ROW(ca_pshared_row),
	ROW(cond_nsec_big), ROW(cond_nsec_neg), ROW(cond_past), ROW(cond_negative), ROW(cond_clock_bogus),
	ROW(cond_wait_unowned_errcheck), ROW(cond_signal_unused), ROW(cond_destroy_unused),
	ROW(rw_wrlock_again), ROW(rw_rdlock_own_writer), ROW(rw_trywrlock_held), ROW(rw_tryrdlock_held),
	ROW(rw_timedrd_past), ROW(rw_timedwr_past), ROW(rw_timedrd_nsec), ROW(rw_timedwr_nsec),
	ROW(rw_clockrd_bogus), ROW(rw_clockwr_cputime), ROW(rwa_kind), ROW(rwa_pshared),
	ROW(barrier_zero), ROW(barrierattr_pshared), ROW(spin_trylock_held), ROW(key_delete_bogus),
	ROW(key_setspecific_bogus), ROW(key_getspecific_bogus), ROW(key_delete_twice),
	ROW(sem_init_big), ROW(sem_post_overflow), ROW(sem_trywait_zero), ROW(sem_nsec_big), ROW(sem_nsec_neg),
	ROW(sem_past), ROW(sem_negative), ROW(sem_clock_bogus), ROW(sem_clock_cputime),
	ROW(nanosleep_nsec_neg), ROW(nanosleep_nsec_big), ROW(nanosleep_sec_neg), ROW(nanosleep_zero),
	ROW(cns_bogus), ROW(cns_nsec_big), ROW(cns_nsec_neg), ROW(cns_thread_cputime), ROW(cns_abs_past),
	ROW(usleep_zero),
	ROW(read_closed), ROW(write_closed), ROW(read_neg), ROW(read_write_end), ROW(write_read_end),
	ROW(write_no_reader), ROW(read_null_buf), ROW(recv_pipe), ROW(accept_pipe), ROW(poll_nfds_huge),
	ROW(poll_null), ROW(poll_closed), ROW(select_neg), ROW(epoll_wait_zero), ROW(epoll_wait_notepoll),
	ROW(close_neg), ROW(close_twice), ROW(dup2_neg), ROW(fcntl_closed),
	ROW(c11_trylock_held),
};

/* glibc 2.32; weak so that the program links on older ones and prints
 * numbers there (both runs alike). */
const char *strerrorname_np(int) __attribute__((weak));

static const char *result_name(int r, char *buf, size_t n)
{
	if (r == 0)
		return "0";
	if (r <= -1000) {
		snprintf(buf, n, "returned %d", -1000 - r);
		return buf;
	}
	const char *s = r > 0 && strerrorname_np ? strerrorname_np(r) : NULL;
	if (!s) {
		snprintf(buf, n, "%d", r);
		return buf;
	}
	return s;
}

static void mutex_of(pthread_mutex_t *m, int type)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, type);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	sem_init(&release_sem, 0, 0);
	sem_init(&held_sem, 0, 0);
	mutex_of(&m_err, PTHREAD_MUTEX_ERRORCHECK);
	mutex_of(&m_err_other, PTHREAD_MUTEX_ERRORCHECK);
	mutex_of(&m_rec, PTHREAD_MUTEX_RECURSIVE);
	mutex_of(&m_rec_other, PTHREAD_MUTEX_RECURSIVE);
	mutex_of(&m_norm, PTHREAD_MUTEX_NORMAL);
	pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
	mtx_init(&c11m, mtx_plain);
	if (pipe(rpipe) || pipe(wpipe_noreader) || pipe(datapipe) || write(datapipe[1], "d", 1) != 1)
		return 1;
	close(wpipe_noreader[0]);

	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_t holder_t;
	if (pthread_create(&detached_t, &a, wait_release, NULL) || pthread_create(&running_t, NULL, wait_release, NULL) ||
	    pthread_create(&finished_t, NULL, returns_now, NULL) || pthread_create(&holder_t, NULL, holder, NULL))
		return 1;
	pthread_attr_destroy(&a);
	while (sem_wait(&held_sem) != 0)
		;
	struct timespec ts = {0, 20000000};
	nanosleep(&ts, NULL); /* finished_t has returned */
	pthread_mutex_lock(&m_err);
	pthread_mutex_lock(&m_norm);
	pthread_rwlock_wrlock(&rw_mine);
	pthread_spin_lock(&spin);
	mtx_lock(&c11m);

	char buf[32];
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int r = rows[i].fn();
		printf("%s: %s\n", rows[i].name, result_name(r, buf, sizeof buf));
		fflush(stdout);
	}

	mtx_unlock(&c11m);
	pthread_spin_unlock(&spin);
	pthread_rwlock_unlock(&rw_mine);
	pthread_mutex_unlock(&m_norm);
	pthread_mutex_unlock(&m_err);
	for (int i = 0; i < 3; i++)
		sem_post(&release_sem);
	pthread_join(running_t, NULL);
	pthread_join(finished_t, NULL);
	pthread_join(holder_t, NULL);
	printf("rows: %zu\n", sizeof rows / sizeof rows[0]);
	return 0;
}
