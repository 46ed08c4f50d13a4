/*
 * The siginfo of pending signals (docs/design.md §11), and gmp's own
 * raises.
 *
 * A signal pending on a G that does not run, or forwarded by the
 * dispatcher, is raised again later on the kernel thread of the G that
 * takes it; its handler must see the siginfo the sender gave (a
 * sigqueue's value, a kill's sender).  A standard signal keeps one siginfo
 * per signal number (kept_info: the latest, as the kernel merges standard
 * signals); each queued instance of a real-time one keeps its own
 * (rtinfo), for the G it is pending on or for the process (PROC_G), so
 * that sigqueue values all arrive, in order.
 *
 * gmp raises a pending signal marked (gmp_sig_send_marked: si_uid is the
 * mark, sival_ptr the G), so that the dispatcher knows it for a raise of a
 * bit still pending, not a new signal.
 */
#include "sig.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>

char gmp_sig_proc_key;

long gmp_sig_send_marked(pid_t tid, int sig, uint32_t mark, void *val)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = gmp_sched.pid;
	si.si_uid = mark;
	si.si_value.sival_ptr = val;
	return gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, tid, sig, &si);
}

void gmp_sig_raise_marked(struct gmp_g *g, struct gmp_m *m, int sig)
{
	gmp_sig_send_marked(m->tid, sig, GMP_SIG_MARK, g); /* for g */
}

/* The siginfo pthread_kill's tgkill gives. */
void gmp_sig_tkill_info(siginfo_t *si, int sig)
{
	memset(si, 0, sizeof *si);
	si->si_signo = sig;
	si->si_code = SI_TKILL;
	si->si_pid = gmp_sched.pid;
	si->si_uid = (uid_t)gmp_sys0(SYS_getuid);
}

/* siginfo kept for a signal queued to a G that was not running, or forwarded */
static siginfo_t kept_info[65];
static _Atomic uint64_t kept_valid;

static void keep(int sig, const siginfo_t *si)
{
	if (!si)
		return;
	kept_info[sig] = *si;
	atomic_fetch_or(&kept_valid, gmp_sigbit(sig));
}

/*
 * The siginfo of each queued real-time instance, for the G it is pending
 * on (sigqueue values must all arrive, in order): a small lock-free pool;
 * when it is full, the signal's one kept siginfo serves.  state: 0 free,
 * 1 being written, 2 ready, 3 being taken.
 */
#define NRTINFO 256
static struct rtinfo {
	_Atomic uint32_t state;
	int sig;
	struct gmp_g *g;
	uint64_t seq;
	siginfo_t si;
} rtinfo[NRTINFO];
static _Atomic uint64_t rtseq;
static _Atomic int rtinfo_used; /* entries not free: every thread exit looks at it, not at the pool */

static bool rtinfo_put(struct gmp_g *g, int sig, const siginfo_t *si)
{
	for (int i = 0; i < NRTINFO; i++) {
		uint32_t z = 0;
		if (atomic_load_explicit(&rtinfo[i].state, memory_order_relaxed) != 0 ||
		    !atomic_compare_exchange_strong(&rtinfo[i].state, &z, 1))
			continue;
		atomic_fetch_add(&rtinfo_used, 1);
		rtinfo[i].g = g;
		rtinfo[i].sig = sig;
		rtinfo[i].seq = atomic_fetch_add(&rtseq, 1);
		rtinfo[i].si = *si;
		atomic_store_explicit(&rtinfo[i].state, 2, memory_order_release);
		return true;
	}
	return false;
}

/* The oldest siginfo queued for g's sig; false: none. */
static bool rtinfo_take(struct gmp_g *g, int sig, siginfo_t *out)
{
	for (;;) {
		int best = -1;
		uint64_t bseq = UINT64_MAX;
		for (int i = 0; i < NRTINFO; i++) {
			if (atomic_load_explicit(&rtinfo[i].state, memory_order_acquire) == 2 && rtinfo[i].g == g &&
			    rtinfo[i].sig == sig && rtinfo[i].seq < bseq) {
				best = i;
				bseq = rtinfo[i].seq;
			}
		}
		if (best < 0)
			return false;
		uint32_t two = 2;
		if (atomic_compare_exchange_strong(&rtinfo[best].state, &two, 3)) {
			*out = rtinfo[best].si;
			atomic_store_explicit(&rtinfo[best].state, 0, memory_order_release);
			atomic_fetch_sub(&rtinfo_used, 1);
			return true;
		}
	}
}

/* g is gone (or a fork child starts, g NULL: all, the kept siginfo too): its queued siginfo with it. */
void gmp_sig_info_drop(struct gmp_g *g)
{
	if (!g) { /* fork child: only this thread is left */
		atomic_store(&kept_valid, 0);
		for (int i = 0; i < NRTINFO; i++)
			atomic_store(&rtinfo[i].state, 0);
		atomic_store(&rtinfo_used, 0);
		return;
	}
	if (GMP_LIKELY(atomic_load_explicit(&rtinfo_used, memory_order_relaxed) == 0))
		return;
	for (int i = 0; i < NRTINFO; i++) {
		uint32_t two = 2;
		if (atomic_load(&rtinfo[i].state) == 2 && rtinfo[i].g == g &&
		    atomic_compare_exchange_strong(&rtinfo[i].state, &two, 3)) {
			atomic_store(&rtinfo[i].state, 0);
			atomic_fetch_sub(&rtinfo_used, 1);
		}
	}
}

void gmp_sig_keep_for(struct gmp_g *t, int sig, const siginfo_t *si)
{
	if (!si)
		return;
	if (sig > GMP_SIGSETXID && t && rtinfo_put(t, sig, si))
		return;
	keep(sig, si);
}

void gmp_sig_info_take(struct gmp_g *g, int sig, const siginfo_t *si, siginfo_t *k)
{
	if (sig > GMP_SIGSETXID && (rtinfo_take(g, sig, k) || rtinfo_take(PROC_G, sig, k))) {
		/* this instance's own */
	} else if (atomic_fetch_and(&kept_valid, ~gmp_sigbit(sig)) & gmp_sigbit(sig)) {
		*k = kept_info[sig];
	} else if (gmp_sig_marked_g(si)) {
		gmp_sig_tkill_info(k, sig);
	} else {
		*k = *si;
	}
}

/* Raise sig on m's kernel thread as it is: with its kept siginfo if there is one. */
static void raise_kept(struct gmp_m *m, int sig)
{
	if (atomic_fetch_and(&kept_valid, ~gmp_sigbit(sig)) & gmp_sigbit(sig)) {
		siginfo_t si = kept_info[sig];
		/*
		 * The kernel lets only the target itself raise a kill()'s or
		 * tgkill()'s siginfo (EPERM otherwise): from another kernel
		 * thread such a signal goes as a plain tgkill.
		 */
		if (gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, sig, &si) == -EPERM)
			gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
	} else {
		gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
	}
}

/*
 * One instance of sig pending on g (NULL: the process) to m's kernel
 * thread, with its own siginfo if it is a real-time one (a sigwait there
 * takes it; sent as it is, the kernel runs its handler or action).
 */
void gmp_sig_raise_instance(struct gmp_m *m, struct gmp_g *g, int sig)
{
	siginfo_t si;
	if (sig > GMP_SIGSETXID && ((g && rtinfo_take(g, sig, &si)) || rtinfo_take(PROC_G, sig, &si))) {
		if (gmp_sys4(SYS_rt_tgsigqueueinfo, gmp_sched.pid, m->tid, sig, &si) == -EPERM)
			gmp_sys3(SYS_tgkill, gmp_sched.pid, m->tid, sig);
	} else {
		raise_kept(m, sig);
	}
}
