/*
 * What the signal files share.  Private to them:
 *
 *   signal.c       signals to a G: pthread_kill and pthread_sigqueue, its
 *                  pending set, delivery when it runs or unblocks them
 *   sigdispatch.c  the dispatcher, the kernel's handler: runs the program's
 *                  handler where it interrupted a G, or forwards the signal
 *   sigproc.c      signals for the process: pending for it, the G chosen to
 *                  take one, a G's exit, sigsuspend
 *   sigwait.c      sigwait and its kin, parked; the taker thread
 *   siginfo.c      the siginfo kept for pending signals; gmp's marked raises
 *   sighandler.c   the program's handlers: their table, running one on a G
 *   cancel.c       SIGCANCEL for Gs
 */
#ifndef GMP_CORE_SIG_H
#define GMP_CORE_SIG_H

#include "runtime.h"

#include <signal.h>

#define SIGCANCEL_NR GMP_SIGCANCEL
#define SIGMASK_EXITED (~0ULL) /* an exiting G's: no program mask has 32, 33, SIGKILL or SIGSTOP */

static inline uint64_t gmp_sigbit(int sig) { return 1ULL << (sig - 1); }

/*
 * gmp raises a pending signal on the G's own kernel thread marked, so that
 * the dispatcher runs the handler once per pending signal however many
 * raises race (the pending bit is cleared by whoever runs it).
 */
#define GMP_SIG_MARK 0x676d7073

/* The G a signal raised by gmp is for, or NULL for any other signal. */
static inline struct gmp_g *gmp_sig_marked_g(const siginfo_t *si)
{
	return gmp_sig_is_marked(si, GMP_SIG_MARK) ? si->si_value.sival_ptr : NULL;
}

/* Did the kernel deliver si for the process (kill, sigqueue, timers, I/O), not for one thread? */
static inline bool gmp_sig_process_directed(const siginfo_t *si)
{
	return si && si->si_code != SI_TKILL && !gmp_sig_marked_g(si);
}

/* Can g take a signal (a G that runs user code, not one that is gone or not started)? */
static inline bool gmp_sig_alive(struct gmp_g *g)
{
	uint32_t st = gmp_gstatus(g);
	return st != G_DEAD && st != G_IDLE && !g->isg0;
}

/* A G's pending set (g->sigpending, sigqueued, sigshared; atomic, any thread). */

void gmp_sigwait_note(struct gmp_g *t, int sig) GMP_HIDDEN; /* sigwait.c: t waits for sig parked: wake it */

/* Pending for t on behalf of the process (shared: another G takes it if t exits first). */
static inline void gmp_sig_pend(struct gmp_g *t, int sig, bool shared)
{
	if (sig > GMP_SIGSETXID)
		atomic_fetch_add(&t->sigqueued[sig - GMP_SIGSETXID], 1); /* real-time: one more instance */
	if (shared)
		atomic_fetch_or(&t->sigshared, gmp_sigbit(sig));
	else
		atomic_fetch_and(&t->sigshared, ~gmp_sigbit(sig));
	atomic_fetch_or(&t->sigpending, gmp_sigbit(sig));
	if (GMP_UNLIKELY(atomic_load(&t->sigwait_parked))) /* seq_cst: after the bit (gmp_sigwait) */
		gmp_sigwait_note(t, sig);
}

/*
 * Take one pending instance of sig from g: the bit of a standard signal;
 * one of the queued instances of a real-time one (the bit stays while
 * more remain).
 */
static inline bool gmp_sig_take(struct gmp_g *g, int sig)
{
	if (sig > GMP_SIGSETXID) {
		_Atomic uint16_t *q = &g->sigqueued[sig - GMP_SIGSETXID];
		uint16_t n = atomic_load(q);
		while (n > 0) {
			if (atomic_compare_exchange_weak(q, &n, (uint16_t)(n - 1))) {
				if (n == 1) {
					atomic_fetch_and(&g->sigpending, ~gmp_sigbit(sig));
					if (atomic_load(q) > 0) /* one came meanwhile: gmp_sig_pend sets the bit after */
						atomic_fetch_or(&g->sigpending, gmp_sigbit(sig));
				}
				return true;
			}
		}
	}
	return atomic_fetch_and(&g->sigpending, ~gmp_sigbit(sig)) & gmp_sigbit(sig);
}

/* siginfo.c */
void gmp_sig_raise_marked(struct gmp_g *g, struct gmp_m *m, int sig) GMP_HIDDEN; /* sig to m's thread, for g */
void gmp_sig_tkill_info(siginfo_t *si, int sig) GMP_HIDDEN;     /* the siginfo pthread_kill's tgkill gives */
/* Keep si for the instance of sig about to be pending on t (PROC_G: the process's). */
void gmp_sig_keep_for(struct gmp_g *t, int sig, const siginfo_t *si) GMP_HIDDEN;
/* One instance of sig pending on g (NULL: the process) to m's kernel thread, with its siginfo. */
void gmp_sig_raise_instance(struct gmp_m *m, struct gmp_g *g, int sig) GMP_HIDDEN;
/* The siginfo a pending (or marked) sig runs with on g: its instance's own, the kept one, or si's. */
void gmp_sig_info_take(struct gmp_g *g, int sig, const siginfo_t *si, siginfo_t *k) GMP_HIDDEN;
void gmp_sig_info_drop(struct gmp_g *g) GMP_HIDDEN; /* g is gone (NULL: a fork child, all): its siginfo */
/* The owner whose siginfo is the process's: a process-directed instance's, wherever its count moves. */
extern char gmp_sig_proc_key GMP_HIDDEN;
#define PROC_G ((struct gmp_g *)&gmp_sig_proc_key)

/* sigproc.c */
/* Signals that arrived where no G could take them (all blocked them); atomic, any thread. */
extern _Atomic uint64_t gmp_sig_proc_pending GMP_HIDDEN;
int gmp_sig_proc_instances(int sig) GMP_HIDDEN; /* sig's bit taken from gmp_sig_proc_pending: how many */
struct gmp_g *gmp_sig_pick(int sig, struct gmp_g *last) GMP_HIDDEN; /* a G that does not block sig, or NULL */
void gmp_sig_pend_shared(struct gmp_g *t, int sig) GMP_HIDDEN;      /* a process signal pending on t */
void gmp_sig_pend_process(int sig) GMP_HIDDEN;                      /* sig pending for the process */
int gmp_sig_proc_take(int sig) GMP_HIDDEN; /* sig's instances taken from the process (0: none pending) */
/* the signals with a handler of the program's behind the dispatcher (sysmon lets them in) */
extern _Atomic uint64_t gmp_sig_dispatched GMP_HIDDEN;

/* sighandler.c */
void gmp_sig_call_user(int sig, siginfo_t *si, void *uc) GMP_HIDDEN; /* the program's handler for sig, here */
bool gmp_sig_has_user(int sig) GMP_HIDDEN;                            /* any: one is installed */
/* A handler (the program's, or glibc's SIGCANCEL) on g, here; a G in a kernel call leaves it meanwhile. */
void gmp_sig_call_on(struct gmp_g *g, void (*fn)(int, siginfo_t *, void *), int sig, siginfo_t *si,
		     void *uc) GMP_HIDDEN;

#endif
