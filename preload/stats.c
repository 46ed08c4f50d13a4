/*
 * gmp_stats (preload/gmp.h): a snapshot of the scheduler for the program
 * itself.  The collection lives in core/stats.c; gmp_dump is debug's.
 */
#include "export.h"
#include "gmp.h"

#include <errno.h>

GMP_EXPORT int gmp_stats(struct gmp_stats *out, size_t size)
{
	gmp_init();
	int r = gmp_stats_collect(out, size);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}
