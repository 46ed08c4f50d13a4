/*
 * Reaching glibc's own functions: the one way (HACKING.md, "Calling
 * glibc").  gmp_real(name) is the lookup: dlsym(RTLD_NEXT), the next
 * definition of name after this library's, i.e. glibc's, never gmp's
 * interposed one.  dlsym may call malloc, which gmp does not interpose, so
 * it cannot recurse into gmp; it needs nothing of gmp's, so it works
 * before start-up and on foreign threads (never on g0: dlsym uses TLS and
 * may allocate).  Two users:
 *
 *   - gmp_libc, the table below, filled once at start-up
 *     (gmp_libc_resolve): what core calls, and what must not be looked
 *     up at the call (a vfork child, where dlsym could wait on a lock of
 *     the suspended parent).  GLIBC_PRIVATE names of libc and ld.so, which
 *     gmp does not interpose, come from the global scope (RTLD_DEFAULT).
 *   - GMP_REAL (preload/export.h), a lazy per-function pointer in an
 *     interposed function, filled by gmp_real on its first call.
 */
#include "runtime.h"

#include <dlfcn.h>

struct gmp_libc gmp_libc;

void *gmp_real(const char *name) { return dlsym(RTLD_NEXT, name); }

static void *internal(const char *name) { return dlsym(RTLD_DEFAULT, name); }

int gmp_libc_resolve(void)
{
	gmp_libc.pthread_create = gmp_real("pthread_create");
	gmp_libc.pthread_join = gmp_real("pthread_join");
	gmp_libc.pthread_exit = gmp_real("pthread_exit");
	gmp_libc.pthread_getattr_np = gmp_real("pthread_getattr_np");
	gmp_libc.pthread_getattr_default_np = gmp_real("pthread_getattr_default_np"); /* optional */
	gmp_libc.pthread_key_create = gmp_real("pthread_key_create");
	gmp_libc.pthread_setspecific = gmp_real("pthread_setspecific");
	gmp_libc.register_atfork = gmp_real("__register_atfork"); /* checked by gmp_fork_init */
	gmp_libc.dlopen = gmp_real("dlopen");
	gmp_libc.dlmopen = gmp_real("dlmopen");
	gmp_libc.execvp = gmp_real("execvp");
	gmp_libc.execvpe = gmp_real("execvpe");
	gmp_libc.fexecve = gmp_real("fexecve");
	gmp_libc.allocate_tls = internal("_dl_allocate_tls");
	gmp_libc.get_tls_static_info = internal("_dl_get_tls_static_info");
	gmp_libc.deallocate_tls = internal("_dl_deallocate_tls"); /* optional: TCBs are then never retired */
	gmp_libc.call_tls_dtors = internal("__call_tls_dtors");
	gmp_libc.ctype_init = internal("__ctype_init");
	gmp_libc.sigaction = gmp_real("sigaction");
	gmp_libc.clock_gettime = gmp_real("clock_gettime");
	if (!gmp_libc.pthread_create || !gmp_libc.pthread_join || !gmp_libc.pthread_exit || !gmp_libc.pthread_key_create ||
	    !gmp_libc.pthread_setspecific || !gmp_libc.dlopen || !gmp_libc.allocate_tls ||
	    !gmp_libc.get_tls_static_info || !gmp_libc.ctype_init || !gmp_libc.pthread_getattr_np || !gmp_libc.sigaction || !gmp_libc.clock_gettime)
		return -1;
	return 0;
}
