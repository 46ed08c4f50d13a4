/*
 * Barriers (process-private): set-up and destruction of gmp's own layout
 * (struct gmp_barrier, core/sync.h).  Waiting is gmp_barrier_wait
 * (core/sema.c): a small lock and a generation number; the last arriver
 * starts a new generation and wakes everyone waiting on the old one.
 *
 * A process-shared barrier is glibc's (its memory is used by other
 * processes with their own glibc).  Its layout ends before magic, which
 * marks ours: the caller zeroes the object before glibc's init, so a
 * shared barrier never carries the mark.
 */
#include "sync.h"

#include <errno.h>
#include <string.h>

#define BARRIER_MAGIC 0x676d7062u /* "gmpb" */

void gmp_barrier_init(struct gmp_barrier *b, unsigned count)
{
	memset(b, 0, sizeof *b);
	b->count = count;
	b->magic = BARRIER_MAGIC;
}

bool gmp_barrier_ours(const struct gmp_barrier *b) { return b->magic == BARRIER_MAGIC; }

int gmp_barrier_destroy(struct gmp_barrier *b)
{
	gmp_lock(&b->lock);
	bool busy = b->arrived != 0;
	gmp_unlock(&b->lock);
	return busy ? -EBUSY : 0;
}
