/*
 * sysmon: a kernel thread without a P that watches the Ps (DESIGN.md §6).
 *
 * It wakes every 20 us while it retakes Ps from kernel calls, backing off
 * to 10 ms after 50 rounds without one (as Go's sysmon), and sooner when a
 * time slice ends or a check is due (a preemption retry, asleep_unseen).
 * Each round it
 *   - preempts a G that has run user code for a slice (GMP_PREEMPT,
 *     10 ms) without going through the scheduler (schedtick unchanged)
 *     while other Gs wait (core/preempt.c);
 *   - retakes a P whose G has sat in a kernel call for 20 us (syscalltick
 *     unchanged), or asleep in a kernel call gmp does not see while other
 *     work waits (asleep_unseen: from 100 us on), or in user code for a
 *     slice where preemption is off or failed (a loop inside glibc), and
 *     hands the P with its queue to another M (gmp_handoffp): so a
 *     thread blocked inside glibc where gmp cannot see it never holds up
 *     the others;
 *   - starts an M for overdue timers when a P is idle;
 *   - prints schedtrace lines and rewrites the GMP_STATS file when due
 *     (core/stats.c).
 * The retaken G keeps its M; when it next enters the runtime its CAS on
 * the P fails and it takes an idle P or queues itself (sched.c).
 */
#include "runtime.h"
#include "trace.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <sys/syscall.h>

#define USER_SLICE_NS (10 * 1000000LL)
#define SYSCALL_SLICE_NS (20 * 1000LL)

#define UNSEEN_FIRST_NS (100 * 1000LL)

static _Atomic int started; /* 0 not running, 1 being started, 2 running */
uint64_t gmp_sysmon_nretake, gmp_sysmon_nwake;

static void wake_by(int64_t *due, int64_t when)
{
	if (*due == 0 || when < *due)
		*due = when;
}

/*
 * Is p's G, in user state as far as gmp knows, asleep in a kernel call
 * gmp does not see?  A raw `syscall` instruction does that: libgomp's
 * futex waits at every OpenMP barrier and lock, whose threads then held
 * their Ps until a whole slice (10 ms) ran out, so an OpenMP program with
 * more threads than Ps ran 100 times slower than natively; also glibc's
 * internal locks (stdio, malloc arenas).  Checked while work waits, first
 * 100 us after the G's slice began, then at doubling gaps: the kernel
 * thread's CPU clock has not moved since the last check (one system
 * call; a G that computes moves it), and /proc says it sleeps ('S' or
 * 'D', not 'R': a thread the kernel has off its CPU is not asleep, and a
 * hand-off would only add a kernel thread beside it).  sysmon.
 */
static bool asleep_unseen(struct gmp_p *p, struct gmp_m *m, int64_t now, int64_t slice)
{
	if (!m || now < p->blk_next)
		return false;
	int64_t cpu = gmp_kthread_cpu_ns(m->tid);
	bool flat = cpu >= 0 && cpu == p->blk_cpu;
	p->blk_cpu = cpu;
	if (flat && gmp_kthread_asleep(m->tid))
		return true;
	p->blk_gap = p->blk_gap * 2 < slice ? p->blk_gap * 2 : slice;
	p->blk_next = now + p->blk_gap;
	return false;
}

/* p's G went through the scheduler or a kernel call since the last look (tick): a new slice from now. */
static void new_slice(struct gmp_p *p, uint32_t tick, int64_t now)
{
	p->sysmon_tick = tick;
	p->sysmon_when = now;
	p->preempt_sent = 0;
	p->preempt_tries = 0;
	p->blk_next = now + UNSEEN_FIRST_NS;
	p->blk_gap = UNSEEN_FIRST_NS;
	p->blk_cpu = -1;
}

/*
 * A P in a kernel call past its 20 us that is not worth a hand-off yet:
 * nothing waits for it, and others are free or it has nothing to run
 * (spin.c).
 */
static bool syscall_p_unwanted(struct gmp_p *p, int64_t now)
{
	return gmp_runqempty(p) && now - p->sysmon_when < USER_SLICE_NS &&
	       (atomic_load(&gmp_sched.nmspinning) + atomic_load(&gmp_sched.npidle) > 0 ||
		(atomic_load_explicit(&p->idlewait, memory_order_relaxed) && !gmp_work_queued()));
}

/*
 * The G on p has not been through the scheduler for a whole user slice,
 * its kernel calls included, while work waits (Go's pd.schedtick and
 * schedwhen, kept apart from the kernel calls' tick).  The slice above
 * starts again at every kernel call and at every return to user state: a
 * G whose hand-off calls each return at once (reads of a regular file,
 * a pinned thread's epoll_wait on writable sockets) never reached its
 * end, and with every P held by such a loop nothing else ran (main's
 * 20 ms sleep beside two threads looping on pread: 4.5 s).  Such a P is
 * then preempted (user state) or taken (a kernel call) as at a slice's end.
 */
static bool overdue(struct gmp_p *p, uint32_t s, int64_t now)
{
	int64_t slice = gmp_preempt_ns ? gmp_preempt_ns : USER_SLICE_NS;
	return (s == P_USER || s == P_SYSCALL) && now - p->sysmon_sched_when >= slice && gmp_work_waits(p, now);
}

/*
 * *due: when sysmon should look again for preemption (preemption on): the
 * next end of a time slice, or the next timer while a slice is over and
 * nothing else waits; 0 none.
 */
static int retake(int64_t now, int64_t *due)
{
	int n = 0;
	*due = 0;
	for (uint32_t i = 0; i < gmp_sched.nprocs; i++) {
		struct gmp_p *p = gmp_sched.allp[i];
		uint32_t s = atomic_load_explicit(&p->status, memory_order_acquire);
		if (s == P_IDLE) {
			p->sysmon_when = 0;
			continue;
		}
		/*
		 * P_RUNNING (the M is in the runtime) counts as user time: Gs
		 * that hand the P to each other through runnext inherit one
		 * slice and enter the runtime at every hand-off, and if the
		 * slice restarted there the pair would keep the P (and starve
		 * the global queue) for ever.
		 */
		uint32_t tick = s == P_SYSCALL ? p->syscalltick + 0x80000000u : p->schedtick;
		if (p->sysmon_sched != p->schedtick || p->sysmon_sched_when == 0) {
			p->sysmon_sched = p->schedtick;
			p->sysmon_sched_when = now;
		}
		if (p->sysmon_when == 0 || p->sysmon_tick != tick) {
			new_slice(p, tick, now);
			if (!overdue(p, s, now))
				continue;
			p->sysmon_when = p->sysmon_sched_when; /* its slice began at its last pass through the scheduler */
		}
		int64_t slice = s == P_SYSCALL ? SYSCALL_SLICE_NS : gmp_preempt_ns ? gmp_preempt_ns : USER_SLICE_NS;
		bool unseen = false;
		if (s == P_USER && now - p->sysmon_when < slice && gmp_work_waits(p, now)) {
			unseen = asleep_unseen(p, p->m, now, slice);
			if (!unseen)
				wake_by(due, p->blk_next);
		}
		if (s != P_SYSCALL && gmp_preempt_ns && now - p->sysmon_when < slice)
			wake_by(due, p->sysmon_when + slice);
		if (unseen) {
			p->nunseen++;
			struct gmp_g *ug = p->m ? p->m->curg : NULL; /* racy: a G's memory stays a G's */
			if (ug)
				gmp_preempt_slept_unseen(ug);
			gmp_rawtrap_unseen(p->m);
		} else if (s == P_RUNNING || now - p->sysmon_when < slice)
			continue; /* a P in the runtime cannot be taken: next round */
		else if (s == P_USER && gmp_preempt_ns) {
			int r = gmp_preempt_try(p, now);
			if (r >= 0) {
				/*
				 * A request is not a retake: sysmon keeps backing off
				 * (as Go's), and comes back when a retry is due.  Counted
				 * as one, every request (most find glibc code: retried)
				 * held sysmon at 20 us for 50 rounds, 8,000 wake-ups a
				 * second preempting the Ms of a busy pipe benchmark.
				 */
				if (p->preempt_sent)
					wake_by(due, p->preempt_sent + GMP_PREEMPT_RETRY_NS);
				if (r == 0) {
					/* its slice is over, nothing waits yet: look again when a timer fires */
					int64_t next = gmp_timers_next();
					if (next > now)
						wake_by(due, next);
				}
				continue;
			}
			p->npreemptfall++; /* asleep in a kernel call, or no safe point: the P goes */
		}
		if (s == P_SYSCALL && syscall_p_unwanted(p, now))
			continue;
		struct gmp_m *om = p->m;
		if (!gmp_takep(p, s))
			continue;
		if (s == P_USER && gmp_preempt_ns && om)
			gmp_preempt_orphan(om); /* its G goes on without a P: preempt it when it can be */
		p->sysmon_when = 0;
		gmp_sysmon_nretake++;
		gmp_handoffp(p);
		n++;
	}
	return n;
}

static _Atomic uint32_t kick; /* 1: look now (a signal handler deferred a wake-up) */

void gmp_sysmon_kick(void)
{
	atomic_store(&kick, 1);
	gmp_kfutex_wake(&kick, 1);
}

__thread bool gmp_sysmon_thread;

/*
 * sysmon's kernel mask lets in every signal with a handler of the program's
 * that some G does not block
 * (gmp_signal_sysmon_mask): a process-directed signal must find a kernel
 * thread that takes it even when every M runs a G that blocks it and the
 * Gs that do not are parked.  The dispatcher forwards what arrives here.
 */
static uint64_t sysmon_mask(uint64_t had)
{
	uint64_t want = gmp_signal_sysmon_mask();
	if (want != had)
		gmp_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &want, NULL, 8);
	return want;
}

/*
 * How long sysmon sleeps: 20 us while it retakes Ps, doubling after 50
 * rounds without a retake (idle), up to maxdelay; less when a time slice
 * ends or a check is due first (slice_due).
 */
static int64_t sleep_ns(int64_t *backoff, int idle, int64_t maxdelay, int64_t slice_due)
{
	if (idle == 0)
		*backoff = 20000;
	else if (idle > 50)
		*backoff *= 2;
	if (*backoff > maxdelay)
		*backoff = maxdelay;
	int64_t delay = *backoff;
	if (slice_due) {
		/*
		 * Wake when a time slice ends or a check is due, not up to
		 * 10 ms after (a sleeper's timer waits on it); the back-off
		 * itself goes on.
		 */
		int64_t left = slice_due - gmp_nanotime();
		if (left < delay)
			delay = left < 20000 ? 20000 : left;
	}
	return delay;
}

/* Nobody has polled the network for 10 ms (every P busy): do it here. */
static void poll_network(int64_t now)
{
	int64_t lp = atomic_load(&gmp_sched.lastpoll);
	if (gmp_netpoll_waiters() && lp != 0 && now - lp > 10000000) {
		struct gmp_g *list;
		int k = gmp_netpoll_poll(0, &list);
		atomic_store(&gmp_sched.lastpoll, now);
		if (k > 0) {
			GMP_TRACE(gmp_trace_unpark_list(NULL, list));
			gmp_inject(list, k); /* not a retake: sysmon's back-off goes on (as Go's) */
		}
	}
}

/*
 * Work left on an idle P, or on the global queue while every P is idle
 * (GMP_MAXTHREADS was reached, or an M could not be created): try again
 * to start an M.  Likewise for timers overdue while a P is idle.
 */
static void wake_stranded(int64_t now)
{
	bool stranded = atomic_load(&gmp_sched.runqsize) > 0 &&
			atomic_load(&gmp_sched.npidle) == (int32_t)gmp_sched.nprocs;
	for (uint32_t i = 0; i < gmp_sched.nprocs && !stranded; i++) {
		struct gmp_p *p = gmp_sched.allp[i];
		stranded = atomic_load(&p->status) == P_IDLE && !gmp_runqempty(p);
	}
	if (stranded)
		gmp_wakep();
	int64_t next = gmp_timers_next();
	if (next != 0 && next < now && atomic_load(&gmp_sched.npidle) > 0)
		gmp_wakep(); /* the M takes the timers; sysmon's back-off goes on */
}

/* Quiet for a second (every P idle since *idle_since): see whether everyone is stuck. */
static void watch_deadlock(int64_t now, int64_t *idle_since)
{
	if (atomic_load(&gmp_sched.npidle) == (int32_t)gmp_sched.nprocs) {
		if (!*idle_since)
			*idle_since = now;
		else if (now - *idle_since > 1000000000LL) {
			*idle_since = now;
			gmp_deadlock_check();
		}
	} else {
		*idle_since = 0;
	}
}

static void *sysmon_main(void *arg)
{
	(void)arg;
	gmp_sysmon_thread = true;
	uint64_t all = ~0ULL, mask = all;
	gmp_sys4(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, 8);
	mask = sysmon_mask(mask);
	gmp_trace_sysmon_start();
	int64_t backoff = 20000, last_trim = 0, last_shrink = 0, last_trace = 0, idle_since = 0, last_fscheck = 0;
	int idle = 0;
	int64_t maxdelay = 10000000, slice_due = 0;
	if (gmp_debug.schedtrace_ms > 0 && gmp_debug.schedtrace_ms < 10)
		maxdelay = gmp_debug.schedtrace_ms * 1000000LL;
	for (;;) {
		int64_t delay = sleep_ns(&backoff, idle, maxdelay, slice_due);
		gmp_sysmon_nwake++;
		gmp_kfutex_wait(&kick, 0, delay);
		if (atomic_exchange(&kick, 0)) {
			idle = 0;
			gmp_futex_run_deferred(NULL);
		}
		mask = sysmon_mask(mask);
		if (GMP_UNLIKELY(gmp_signal_process_pending()))
			gmp_signal_sweep();
		int64_t now = gmp_nanotime(), due;
		int n = retake(now, &due);
		n += gmp_preempt_orphans(now);
		slice_due = due;
		if (GMP_UNLIKELY(gmp_rawtrap_tick(now)))
			wake_by(&slice_due, now + 20000); /* Ms still to trap raw calls: look again soon */
		poll_network(now);
		if (GMP_UNLIKELY(gmp_fstrap) && now - last_fscheck > 10000000LL) {
			last_fscheck = now;
			gmp_fstrap_check(); /* a SIGSEGV action set by the bare system call (core/fstrap.c) */
		}
		if (now - last_shrink > 100000000LL) {
			last_shrink = now;
			gmp_shrink_parked_stacks(now);
		}
		if (now - last_trim > 1000000000LL) {
			last_trim = now;
			gmp_trim_pooled_stacks();
		}
		wake_stranded(now);
		idle = n ? 0 : idle + 1;
		if (gmp_debug.schedtrace_ms > 0 && now - last_trace >= gmp_debug.schedtrace_ms * 1000000LL) {
			last_trace = now;
			gmp_schedtrace(now);
		}
		watch_deadlock(now, &idle_since);
		gmp_stats_tick(now);
	}
	return NULL;
}

/*
 * Start sysmon with the first thread creation.  If its kernel thread
 * cannot be created, the creation fails with EAGAIN (sysmon is what
 * retries a failed M start, so running without it could hang) and the
 * next creation tries again.
 */
int gmp_sysmon_start(void)
{
	if (GMP_LIKELY(atomic_load_explicit(&started, memory_order_acquire) == 2))
		return 0;
	int z = 0;
	if (!atomic_compare_exchange_strong(&started, &z, 1)) {
		while (atomic_load(&started) == 1)
			gmp_cpu_relax(); /* another creator is starting it */
		return atomic_load(&started) == 2 ? 0 : -EAGAIN;
	}
	unsigned long th;
	if (GMP_FAULT(SYSMON_CLONE) || gmp_kthread_create(&th, sysmon_main, NULL) != 0) {
		atomic_store(&started, 0);
		return -EAGAIN;
	}
	atomic_store_explicit(&started, 2, memory_order_release);
	return 0;
}


/* fork child: sysmon's thread did not survive; the next thread creation starts it again. */
void gmp_sysmon_reset(void)
{
	atomic_store(&started, 0);
	gmp_preempt_fork_child();
}
