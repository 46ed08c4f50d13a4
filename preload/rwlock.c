/* pthread_rwlock_*: adapters over core/rwlock.c; init and attributes are glibc's. */
#include "export.h"

#include <errno.h>

#include "../core/sync.h"

#define L(x) ((struct gmp_rwlock *)(x))

#define KERNEL_SIDE(l, name, proto, ...)                 \
	if (GMP_UNLIKELY(L(l)->shared)) {                \
		GMP_REAL(int, name, proto);              \
		return real_##name(__VA_ARGS__);         \
	}

static int64_t dl(const struct timespec *ts, clockid_t clk) { return gmp_abs_deadline(ts, clk); }

GMP_EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	KERNEL_SIDE(l, pthread_rwlock_rdlock, (pthread_rwlock_t *), l);
	return -gmp_rwlock_rdlock(L(l), -1, false);
}
GMP_EXPORT int pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
	KERNEL_SIDE(l, pthread_rwlock_tryrdlock, (pthread_rwlock_t *), l);
	return -gmp_rwlock_rdlock(L(l), -1, true);
}
GMP_EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *ts)
{
	KERNEL_SIDE(l, pthread_rwlock_timedrdlock, (pthread_rwlock_t *, const struct timespec *), l, ts);
	return -gmp_rwlock_rdlock(L(l), dl(ts, CLOCK_REALTIME), false);
}
GMP_EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t *l, clockid_t clk, const struct timespec *ts)
{
	KERNEL_SIDE(l, pthread_rwlock_clockrdlock, (pthread_rwlock_t *, clockid_t, const struct timespec *), l,
		    clk, ts);
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return EINVAL;
	return -gmp_rwlock_rdlock(L(l), dl(ts, clk), false);
}
GMP_EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	KERNEL_SIDE(l, pthread_rwlock_wrlock, (pthread_rwlock_t *), l);
	return -gmp_rwlock_wrlock(L(l), -1, false);
}
GMP_EXPORT int pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
	KERNEL_SIDE(l, pthread_rwlock_trywrlock, (pthread_rwlock_t *), l);
	return -gmp_rwlock_wrlock(L(l), -1, true);
}
GMP_EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *ts)
{
	KERNEL_SIDE(l, pthread_rwlock_timedwrlock, (pthread_rwlock_t *, const struct timespec *), l, ts);
	return -gmp_rwlock_wrlock(L(l), dl(ts, CLOCK_REALTIME), false);
}
GMP_EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t *l, clockid_t clk, const struct timespec *ts)
{
	KERNEL_SIDE(l, pthread_rwlock_clockwrlock, (pthread_rwlock_t *, clockid_t, const struct timespec *), l,
		    clk, ts);
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return EINVAL;
	return -gmp_rwlock_wrlock(L(l), dl(ts, clk), false);
}
GMP_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	KERNEL_SIDE(l, pthread_rwlock_unlock, (pthread_rwlock_t *), l);
	return -gmp_rwlock_unlock(L(l));
}
GMP_EXPORT int pthread_rwlock_destroy(pthread_rwlock_t *l)
{
	KERNEL_SIDE(l, pthread_rwlock_destroy, (pthread_rwlock_t *), l);
	return 0;
}
