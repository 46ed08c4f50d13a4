/*
 * Live statistics: gmp_stats() (preload/gmp.h) and the per-process stats
 * file that scripts/gmp-top reads (docs/design.md §12).
 *
 * Nothing is counted on the hot paths for this: a snapshot reads the state
 * the scheduler keeps anyway (P status and run queues, sched's idle and
 * spinning counts, each G's status and wait reason by walking allg, the
 * per-P schedtick/syscalltick), plus three counters bumped off the fast
 * paths (a successful steal, a P hand-off, a sysmon retake).  The allg walk
 * is O(all Gs ever created): measured 25 us for 10,000 threads and 0.8 ms
 * for 100,000 (2-core PVM guest).
 *
 * GMP_STATS=1 (or =DIR) makes sysmon write the snapshot as text to
 * DIR/gmp-stats.PID (default DIR: $XDG_RUNTIME_DIR, else /tmp) every 250 ms,
 * or every 50 walks' worth of time if the walk is slower, so the file never
 * costs sysmon more than 2% of a CPU.  The file is written as
 * gmp-stats.PID.tmp and renamed, so a reader never sees half of it; exit()
 * removes it (a process killed by a signal leaves it behind: readers check
 * its age).  Chosen over a unix socket: no listener thread, no protocol, and
 * `cat` is a client.  sysmon is a foreign thread: the file is written with
 * raw system calls, never with the interposed ones.
 *
 * File format, one "key value" per line (keys as in struct gmp_stats):
 *
 *   gmp-stats 1            format version
 *   pid 1234
 *   time_ns ...            CLOCK_MONOTONIC
 *   procs 2
 *   ...
 *   waiting.mutex 5000     one line per wait reason with waiters
 *   p.0 user 3             one line per P (first 64): status, local queue length
 */
#include "runtime.h"
#include "../preload/gmp.h" /* the public struct gmp_stats: core fills it */
#include "netpoll.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

/* The public enums keep the runtime's numbers. */
#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " == " #b)
SAME(GMP_WAIT_NREASONS, WR_NREASONS);
SAME(GMP_WAIT_JOIN, WR_JOIN);
SAME(GMP_WAIT_MUTEX, WR_MUTEX);
SAME(GMP_WAIT_COND, WR_COND);
SAME(GMP_WAIT_RWLOCK, WR_RWLOCK);
SAME(GMP_WAIT_SEM, WR_SEM);
SAME(GMP_WAIT_BARRIER, WR_BARRIER);
SAME(GMP_WAIT_FUTEX, WR_FUTEX);
SAME(GMP_WAIT_ONCE, WR_ONCE);
SAME(GMP_WAIT_SLEEP, WR_SLEEP);
SAME(GMP_WAIT_YIELD, WR_YIELD);
SAME(GMP_WAIT_NETPOLL, WR_NETPOLL);
SAME(GMP_WAIT_SYSCALL, WR_SYSCALL);
SAME(GMP_WAIT_SIGNAL, WR_SIGNAL);
SAME(GMP_P_IDLE, P_IDLE);
SAME(GMP_P_RUNNING, P_RUNNING);
SAME(GMP_P_USER, P_USER);
SAME(GMP_P_SYSCALL, P_SYSCALL);
_Static_assert(WR_NREASONS <= GMP_STATS_NWAIT, "waiting_by[] is large enough");

int gmp_stats_collect(struct gmp_stats *out, size_t size)
{
	if (!out || size < 8)
		return -EINVAL;
	if (atomic_load_explicit(&gmp_inited, memory_order_acquire) != 2)
		return -ENOSYS;
	struct gmp_stats s;
	memset(&s, 0, sizeof s);
	s.time_ns = gmp_nanotime();
	s.nprocs = gmp_sched.nprocs;
	s.procs_idle = (uint32_t)atomic_load(&gmp_sched.npidle);
	gmp_lock(&gmp_sched.lock);
	s.ms = (uint32_t)gmp_sched.nmtotal;
	s.ms_idle = (uint32_t)gmp_sched.nmidle;
	gmp_unlock(&gmp_sched.lock);
	s.ms_spinning = (uint32_t)atomic_load(&gmp_sched.nmspinning);
	s.global_runq = (uint32_t)atomic_load(&gmp_sched.runqsize);
	s.created = atomic_load(&gmp_sched.goidgen);
	s.retakes = gmp_sysmon_nretake;
	s.sysmon_wakes = gmp_sysmon_nwake;
	s.trapped_waits = atomic_load_explicit(&gmp_xwait_parks, memory_order_relaxed);
	s.raw_traps = atomic_load_explicit(&gmp_rawtrap_traps, memory_order_relaxed);
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++) {
		struct gmp_p *p = gmp_sched.allp[i];
		if (i < GMP_STATS_MAXP) {
			s.local_runq[i] = gmp_runqlen(p);
			s.p_status[i] = (uint8_t)atomic_load_explicit(&p->status, memory_order_relaxed);
		}
		s.switches += p->schedtick;
		s.syscalls += p->syscalltick;
		s.steals += p->nsteal;
		s.handoffs += p->nhandoff;
		s.retakes += p->nidletake; /* a retake too, done by a poller M instead of sysmon */
		s.preemptions += p->npreempt;
		s.preempt_handoffs += p->npreemptfall;
		s.unseen_handoffs += p->nunseen;
	}
	for (struct gmp_m *m = atomic_load(&gmp_sched.allm); m; m = m->alllink) {
		struct gmp_g *g = m->curg;
		if (g && gmp_gstatus(g) == G_SYSCALL)
			s.ms_syscall++;
		s.fs_writes += m->nfswrite;
		s.fs_traps += m->nfstrap;
		s.spins += m->nspin;
		s.spin_wins += m->nspinwin;
		s.spin_yields += m->nspinyield;
		s.direct_handoffs += m->nnextg;
		s.m_sleeps += m->nsleep;
		s.io_spins += m->niospin;
		s.io_spin_wins += m->niospinwin;
	}
	/* allg is push-only: walking it without allglock is safe, as the dump does. */
	for (struct gmp_g *g = __atomic_load_n(&gmp_sched.allg, __ATOMIC_ACQUIRE); g; g = g->alllink) {
		switch (gmp_gstatus(g)) {
		case G_RUNNABLE:
		case G_PREEMPTED: s.runnable++; break;
		case G_RUNNING: s.running++; break;
		case G_SYSCALL: s.syscall++; break;
		case G_WAITING:
			s.waiting++;
			s.waiting_by[g->waitreason < WR_NREASONS ? g->waitreason : WR_NONE]++;
			break;
		default: break;
		}
	}
	s.threads = (uint32_t)atomic_load(&gmp_sched.ngalive);
	s.polls = atomic_load_explicit(&gmp_netpoll_npoll, memory_order_relaxed);
	s.poll_ready = atomic_load_explicit(&gmp_netpoll_nready, memory_order_relaxed);
	size_t n = size < sizeof s ? size : sizeof s;
	s.size = (uint32_t)n;
	memcpy(out, &s, n);
	if (size > n)
		memset((char *)out + n, 0, size - n);
	return 0;
}

/* ------------------------------------------------------------ the stats file */

#define STATS_INTERVAL_NS (250 * 1000000LL)

static char stats_dir[200];  /* immutable after init; empty: no file */
static _Atomic int stats_closed; /* set by exit: the file must not come back */

static void stats_path(char *buf, size_t len, pid_t pid, const char *suffix)
{
	snprintf(buf, len, "%s/gmp-stats.%d%s", stats_dir, (int)pid, suffix);
}

/* atexit: remove this process's file.  sysmon rechecks stats_closed after its rename. */
static void stats_atexit(void)
{
	char path[256];
	atomic_store(&stats_closed, 1);
	stats_path(path, sizeof path, (pid_t)gmp_sys0(SYS_getpid), "");
	gmp_sys1(SYS_unlink, path);
	stats_path(path, sizeof path, (pid_t)gmp_sys0(SYS_getpid), ".tmp");
	gmp_sys1(SYS_unlink, path);
}

/*
 * GMP_DEBUG=exitstats=1: one line of the switch counters on stderr at exit,
 * which scripts/bench divides by each benchmark's operation count.
 */
static void exitstats_atexit(void)
{
	struct gmp_stats s;
	if (gmp_stats_collect(&s, sizeof s) != 0)
		return;
	gmp_printf("gmp: exitstats switches=%llu fs_writes=%llu spins=%llu spin_wins=%llu direct_handoffs=%llu "
		   "m_sleeps=%llu io_spins=%llu io_spin_wins=%llu steals=%llu polls=%llu poll_ready=%llu retakes=%llu "
		   "syscalls=%llu preemptions=%llu preempt_handoffs=%llu fs_traps=%llu unseen_handoffs=%llu sysmon_wakes=%llu trapped_waits=%llu "
		   "spin_yields=%llu raw_traps=%llu ms=%u\n",
		   (unsigned long long)s.switches, (unsigned long long)s.fs_writes, (unsigned long long)s.spins,
		   (unsigned long long)s.spin_wins, (unsigned long long)s.direct_handoffs,
		   (unsigned long long)s.m_sleeps, (unsigned long long)s.io_spins, (unsigned long long)s.io_spin_wins,
		   (unsigned long long)s.steals, (unsigned long long)s.polls, (unsigned long long)s.poll_ready,
		   (unsigned long long)s.retakes, (unsigned long long)s.syscalls, (unsigned long long)s.preemptions,
		   (unsigned long long)s.preempt_handoffs, (unsigned long long)s.fs_traps,
		   (unsigned long long)s.unseen_handoffs, (unsigned long long)s.sysmon_wakes,
		   (unsigned long long)s.trapped_waits, (unsigned long long)s.spin_yields,
		   (unsigned long long)s.raw_traps, s.ms);
}

void gmp_stats_init(void)
{
	if (gmp_debug.exitstats)
		atexit(exitstats_atexit);
	const char *e = getenv("GMP_STATS");
	if (!e || !*e || !strcmp(e, "0"))
		return;
	const char *dir = e;
	if (e[0] != '/') {
		dir = getenv("XDG_RUNTIME_DIR");
		if (!dir || dir[0] != '/')
			dir = "/tmp";
	}
	if (strlen(dir) >= sizeof stats_dir) {
		gmp_printf("gmp: warning: GMP_STATS directory name too long; no stats file\n");
		return;
	}
	strcpy(stats_dir, dir);
	atexit(stats_atexit);
}

static int format(char *buf, size_t len, const struct gmp_stats *s)
{
	static const char *const pst[] = {"idle", "running", "user", "syscall"};
	int n = snprintf(buf, len,
			 "gmp-stats 1\npid %d\ntime_ns %lld\nprocs %u\nprocs_idle %u\nms %u\nms_idle %u\n"
			 "ms_spinning %u\nms_syscall %u\nthreads %u\nrunning %u\nrunnable %u\nsyscall %u\n"
			 "waiting %u\n",
			 (int)gmp_sched.pid, (long long)s->time_ns, s->nprocs, s->procs_idle, s->ms, s->ms_idle,
			 s->ms_spinning, s->ms_syscall, s->threads, s->running, s->runnable, s->syscall, s->waiting);
	for (int w = 0; w < WR_NREASONS && n < (int)len; w++)
		if (s->waiting_by[w])
			n += snprintf(buf + n, len - (size_t)n, "waiting.%s %u\n", w ? gmp_waitreason_name((uint32_t)w) : "other",
				      s->waiting_by[w]);
	if (n < (int)len)
		n += snprintf(buf + n, len - (size_t)n,
			      "global_runq %u\ncreated %llu\nswitches %llu\nsteals %llu\nhandoffs %llu\nretakes %llu\n"
			      "syscalls %llu\nfs_writes %llu\nspins %llu\nspin_wins %llu\ndirect_handoffs %llu\n"
			      "m_sleeps %llu\nio_spins %llu\nio_spin_wins %llu\npreemptions %llu\npreempt_handoffs %llu\n"
			      "fs_traps %llu\nunseen_handoffs %llu\nsysmon_wakes %llu\ntrapped_waits %llu\nspin_yields %llu\nraw_traps %llu\n",
			      s->global_runq, (unsigned long long)s->created, (unsigned long long)s->switches,
			      (unsigned long long)s->steals, (unsigned long long)s->handoffs,
			      (unsigned long long)s->retakes, (unsigned long long)s->syscalls,
			      (unsigned long long)s->fs_writes, (unsigned long long)s->spins,
			      (unsigned long long)s->spin_wins, (unsigned long long)s->direct_handoffs,
			      (unsigned long long)s->m_sleeps, (unsigned long long)s->io_spins,
			      (unsigned long long)s->io_spin_wins, (unsigned long long)s->preemptions,
			      (unsigned long long)s->preempt_handoffs, (unsigned long long)s->fs_traps,
			      (unsigned long long)s->unseen_handoffs, (unsigned long long)s->sysmon_wakes,
			      (unsigned long long)s->trapped_waits, (unsigned long long)s->spin_yields,
			      (unsigned long long)s->raw_traps);
	for (uint32_t i = 0; i < s->nprocs && i < GMP_STATS_MAXP && n < (int)len; i++)
		n += snprintf(buf + n, len - (size_t)n, "p.%u %s %u\n", i, pst[s->p_status[i] & 3], s->local_runq[i]);
	return n < (int)len ? n : -1;
}

static int write_all(int fd, const char *buf, int len)
{
	for (int off = 0; off < len;) {
		long r = gmp_sys3(SYS_write, fd, buf + off, len - off);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += (int)r;
	}
	return 0;
}

/* sysmon only: rewrite the file if it is due.  Raw system calls only (a foreign thread). */
void gmp_stats_tick(int64_t now)
{
	static int64_t next;     /* sysmon only */
	static bool warned;
	static char buf[8192];
	if (!stats_dir[0] || now < next || atomic_load(&stats_closed))
		return;
	struct gmp_stats s;
	gmp_stats_collect(&s, sizeof s);
	int64_t cost = gmp_nanotime() - now;
	next = now + (50 * cost > STATS_INTERVAL_NS ? 50 * cost : STATS_INTERVAL_NS);
	int len = format(buf, sizeof buf, &s);
	char tmp[256], path[256];
	stats_path(tmp, sizeof tmp, gmp_sched.pid, ".tmp");
	stats_path(path, sizeof path, gmp_sched.pid, "");
	int fd = (int)gmp_sys4(SYS_openat, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || len < 0) {
		if (fd >= 0)
			gmp_sys1(SYS_close, fd);
		if (!warned)
			gmp_printf("gmp: warning: cannot write %s (%d); no stats file\n", tmp, fd < 0 ? -fd : 0);
		warned = true;
		return;
	}
	int err = write_all(fd, buf, len);
	gmp_sys1(SYS_close, fd);
	if (err || atomic_load(&stats_closed) || gmp_sys2(SYS_rename, tmp, path) != 0) {
		gmp_sys1(SYS_unlink, tmp);
		return;
	}
	/* exit() may have removed the file between our check and the rename: remove it again. */
	if (atomic_load(&stats_closed))
		gmp_sys1(SYS_unlink, path);
}
