/* Thread-specific data: pthread keys and C11 tss, adapters over core/key.c. */
#include "export.h"

#include <pthread.h>
#include <threads.h>

GMP_EXPORT int pthread_key_create(pthread_key_t *k, void (*dtor)(void *)) { return -gmp_key_create(k, dtor); }
GMP_EXPORT int pthread_key_delete(pthread_key_t k) { return -gmp_key_delete(k); }
GMP_EXPORT void *pthread_getspecific(pthread_key_t k) { return gmp_key_get(k); }
/* <pthread.h> marks the value access(none): it is stored, never read through. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
GMP_EXPORT int pthread_setspecific(pthread_key_t k, const void *v) { return -gmp_key_set(k, v); }
#pragma GCC diagnostic pop

GMP_EXPORT int tss_create(tss_t *k, tss_dtor_t dtor)
{
	unsigned key;
	if (gmp_key_create(&key, dtor) != 0)
		return thrd_error;
	*k = key;
	return thrd_success;
}
GMP_EXPORT void tss_delete(tss_t k) { gmp_key_delete(k); }
GMP_EXPORT void *tss_get(tss_t k) { return gmp_key_get(k); }
GMP_EXPORT int tss_set(tss_t k, void *v) { return gmp_key_set(k, v) == 0 ? thrd_success : thrd_error; }
