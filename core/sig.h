/*
 * What core/signal.c (signals to Gs, the dispatcher), core/sighandler.c
 * (the program's handlers, run on a G) and core/cancel.c (SIGCANCEL for
 * Gs) share.  Private to the three.
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
/* signal.c: the signals with a handler of the program's behind the dispatcher (sysmon lets them in) */
extern _Atomic uint64_t gmp_sig_dispatched GMP_HIDDEN;

/* sighandler.c */
void gmp_sig_call_user(int sig, siginfo_t *si, void *uc) GMP_HIDDEN; /* the program's handler for sig, here */
bool gmp_sig_has_user(int sig) GMP_HIDDEN;                            /* any: one is installed */
/* A handler (the program's, or glibc's SIGCANCEL) on g, here; a G in a kernel call leaves it meanwhile. */
void gmp_sig_call_on(struct gmp_g *g, void (*fn)(int, siginfo_t *, void *), int sig, siginfo_t *si,
		     void *uc) GMP_HIDDEN;

#endif
