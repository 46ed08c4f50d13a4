/*
 * Shared by every preload/ file: the export marker and small helpers for
 * turning core results into POSIX ones.  preload/ holds adapters only:
 * check arguments, convert, call core.  No scheduling logic lives here.
 */
#ifndef GMP_PRELOAD_EXPORT_H
#define GMP_PRELOAD_EXPORT_H

#include "../core/runtime.h"

#define GMP_EXPORT __attribute__((visibility("default")))

/* The G behind a pthread_t, or NULL when it names a kernel thread gmp did not create. */
static inline struct gmp_g *gmp_thread_g(unsigned long th)
{
	return gmp_g_from_tcb((void *)th);
}
#endif
