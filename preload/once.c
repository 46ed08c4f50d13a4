/* pthread_once and C11 call_once: core/once.c. */
#include "export.h"

#include <pthread.h>
#include <threads.h>

/* No gmp_init() here: an allocator calls pthread_once inside its first malloc (core/once.c). */
GMP_EXPORT int pthread_once(pthread_once_t *o, void (*init)(void))
{
	return -gmp_once((_Atomic uint32_t *)o, init);
}

GMP_EXPORT void call_once(once_flag *o, void (*init)(void))
{
	gmp_init();
	(void)gmp_once((_Atomic uint32_t *)o, init);
}
