/*
 * dlopen: after glibc loads a module, copy the TLS image of a new
 * initial-exec module into every G's TCB (core/tcb.c explains why).
 */
#include "export.h"

#include <dlfcn.h>

GMP_EXPORT void *dlopen(const char *file, int mode)
{
	gmp_init();
	void *h = gmp_libc.dlopen(file, mode);
	if (h)
		gmp_tcb_dlopen_sync();
	return h;
}

GMP_EXPORT void *dlmopen(Lmid_t lmid, const char *file, int mode)
{
	gmp_init();
	void *h = gmp_libc.dlmopen(lmid, file, mode);
	if (h)
		gmp_tcb_dlopen_sync();
	return h;
}
