/*
 * The real libc and ld.so functions the runtime still needs, resolved once
 * at start-up.  Interposed names are taken with RTLD_NEXT (the next
 * definition after this library, i.e. glibc's); GLIBC_PRIVATE ones with
 * RTLD_DEFAULT.  dlsym may call malloc, which is not interposed, so this
 * cannot recurse into gmp.
 */
#include "runtime.h"

#include <dlfcn.h>

struct gmp_libc gmp_libc;

int gmp_libc_resolve(void)
{
	gmp_libc.pthread_create = dlsym(RTLD_NEXT, "pthread_create");
	gmp_libc.pthread_join = dlsym(RTLD_NEXT, "pthread_join");
	gmp_libc.pthread_exit = dlsym(RTLD_NEXT, "pthread_exit");
	gmp_libc.pthread_getattr_np = dlsym(RTLD_NEXT, "pthread_getattr_np");
	gmp_libc.pthread_key_create = dlsym(RTLD_NEXT, "pthread_key_create");
	gmp_libc.pthread_setspecific = dlsym(RTLD_NEXT, "pthread_setspecific");
	gmp_libc.dlopen = dlsym(RTLD_NEXT, "dlopen");
	gmp_libc.dlmopen = dlsym(RTLD_NEXT, "dlmopen");
	gmp_libc.allocate_tls = dlsym(RTLD_DEFAULT, "_dl_allocate_tls");
	gmp_libc.get_tls_static_info = dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
	gmp_libc.deallocate_tls = dlsym(RTLD_DEFAULT, "_dl_deallocate_tls"); /* optional: TCBs are then never retired */
	gmp_libc.call_tls_dtors = dlsym(RTLD_DEFAULT, "__call_tls_dtors");
	gmp_libc.ctype_init = dlsym(RTLD_DEFAULT, "__ctype_init");
	gmp_libc.sigaction = dlsym(RTLD_NEXT, "sigaction");
	gmp_libc.clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
	if (!gmp_libc.pthread_create || !gmp_libc.pthread_join || !gmp_libc.pthread_exit || !gmp_libc.pthread_key_create ||
	    !gmp_libc.pthread_setspecific || !gmp_libc.dlopen || !gmp_libc.allocate_tls ||
	    !gmp_libc.get_tls_static_info || !gmp_libc.ctype_init || !gmp_libc.pthread_getattr_np || !gmp_libc.sigaction || !gmp_libc.clock_gettime)
		return -1;
	return 0;
}
