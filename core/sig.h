/*
 * What core/signal.c (signals to Gs, the dispatcher) and core/cancel.c
 * (SIGCANCEL for Gs) share.  Private to the two.
 */
#ifndef GMP_CORE_SIG_H
#define GMP_CORE_SIG_H

#include "runtime.h"

#include <signal.h>

#define SIGCANCEL_NR GMP_SIGCANCEL

static inline uint64_t gmp_sigbit(int sig) { return 1ULL << (sig - 1); }

/* signal.c */
void gmp_sig_raise_marked(struct gmp_g *g, struct gmp_m *m, int sig) GMP_HIDDEN; /* sig to m's thread, for g */
struct gmp_g *gmp_sig_marked_g(const siginfo_t *si) GMP_HIDDEN; /* the G a signal gmp raised is for, or NULL */
void gmp_sig_tkill_info(siginfo_t *si, int sig) GMP_HIDDEN;     /* the siginfo pthread_kill's tgkill gives */
/* A handler (the program's, or glibc's SIGCANCEL) on g, here; a G in a kernel call leaves it meanwhile. */
void gmp_sig_call_on(struct gmp_g *g, void (*fn)(int, siginfo_t *, void *), int sig, siginfo_t *si,
		     void *uc) GMP_HIDDEN;

#endif
