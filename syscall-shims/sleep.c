/*
 * The sleep family parks the G on a timer of its P instead of blocking the
 * kernel thread.  Foreign threads sleep in the kernel as before.
 *
 * A sleeping G waits on its own stack word with a deadline: the runtime's
 * futex wait gives the timer handling (per-P heaps, timeouts run by any
 * M) for free.  A signal handler that runs ends the sleep with EINTR and
 * the time left (core/signal.c interrupts the wait).
 */
#include "../preload/export.h"

#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static bool on_g(void)
{
	struct gmp_g *g = gmp_getg();
	return g != NULL;
}

/* Park until the absolute CLOCK_MONOTONIC deadline; 0, or EINTR when a signal handler ran. */
static int park_until(int64_t deadline)
{
	_Atomic uint32_t word = 0;
	gmp_testcancel(); /* sleeps are cancellation points */
	while (gmp_nanotime() < deadline) {
		int r = gmp_futex_wait_cancel(&word, 0, deadline, WR_SLEEP);
		if (r == -ECANCELED)
			gmp_testcancel();
		if (r == -EINTR)
			return EINTR;
		if (r == -ENOMEM)
			break;
	}
	return 0;
}

static bool clock_ok(clockid_t c)
{
	switch (c) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_BOOTTIME:
	case CLOCK_TAI:
	case CLOCK_REALTIME_ALARM:
	case CLOCK_BOOTTIME_ALARM:
		return true;
	}
	return false;
}

GMP_EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req, struct timespec *rem)
{
	if (clk == CLOCK_THREAD_CPUTIME_ID)
		return EINVAL; /* as glibc: a thread cannot sleep on its own CPU clock */
	if (!on_g() || !clock_ok(clk))
		return (int)-gmp_sys4(SYS_clock_nanosleep, clk, flags, req, rem);
	if (req->tv_nsec < 0 || req->tv_nsec >= 1000000000 || req->tv_sec < 0)
		return EINVAL;
	int64_t deadline;
	if (flags & TIMER_ABSTIME) {
		/* Measure the distance on clk, then wait on the monotonic clock. */
		struct timespec now;
		gmp_sys2(SYS_clock_gettime, clk, &now);
		int64_t d = (req->tv_sec - now.tv_sec) * 1000000000LL + (req->tv_nsec - now.tv_nsec);
		if (d <= 0)
			return 0;
		deadline = gmp_nanotime() + d;
	} else {
		if (req->tv_sec == 0 && req->tv_nsec == 0)
			return 0;
		deadline = gmp_deadline_from(req, CLOCK_MONOTONIC, false);
	}
	int err = park_until(deadline);
	if (err == EINTR && rem && !(flags & TIMER_ABSTIME)) {
		int64_t left = deadline - gmp_nanotime();
		if (left < 0)
			left = 0;
		rem->tv_sec = left / 1000000000;
		rem->tv_nsec = left % 1000000000;
	}
	return err;
}

GMP_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
	int err = clock_nanosleep(CLOCK_REALTIME, 0, req, rem);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

GMP_EXPORT int usleep(useconds_t us)
{
	struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
	return nanosleep(&ts, NULL);
}

GMP_EXPORT unsigned sleep(unsigned s)
{
	struct timespec ts = {s, 0}, rem = {0, 0};
	if (nanosleep(&ts, &rem) == 0)
		return 0;
	/* interrupted: the whole seconds left, rounded up as glibc does */
	return (unsigned)rem.tv_sec + (rem.tv_nsec >= 500000000);
}

GMP_EXPORT int thrd_sleep(const struct timespec *req, struct timespec *rem)
{
	int err = clock_nanosleep(CLOCK_REALTIME, 0, req, rem);
	return err == 0 ? 0 : (err == EINTR ? -1 : -2);
}
