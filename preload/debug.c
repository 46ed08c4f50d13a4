/*
 * gmp_dump(): the thread dump on demand.  A program that wants it looks it
 * up at run time, so it runs unchanged without gmp:
 *
 *     void (*dump)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gmp_dump");
 *     if (dump)
 *             dump();
 *
 * Prints every thread (state, wait reason, creator, backtrace; a thread
 * running on another kernel thread is asked for its registers) to stderr.
 * Callable from any thread and from a signal handler.
 */
#include "export.h"

GMP_EXPORT void gmp_dump(void)
{
	gmp_init();
	gmp_dump_gs(2);
}
