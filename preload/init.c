/*
 * Library constructor: start the runtime and adopt the main thread.
 * Interposed functions also start it lazily (gmp_init), because another
 * library's constructor may create threads before this one runs.
 */
#include "export.h"
#include "../core/netpoll.h"

__attribute__((constructor(101))) static void gmp_preload_init(void)
{
	gmp_init();
	gmp_init_main();
	gmp_fd_libs_changed(); /* pipes may be forced from here on (core/netpoll.h) */
	/* here, not in gmp_init: that can run inside the program's allocator's own set-up, and dlopen mallocs */
	gmp_unwind_load();
}
