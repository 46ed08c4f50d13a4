/*
 * Execution trace: GMP_TRACE=FILE writes what the scheduler did as Chrome
 * Trace Event JSON ({"traceEvents":[...]}), which Perfetto
 * (ui.perfetto.dev) and chrome://tracing open, and scripts/trace-png draws.
 *
 * What is recorded, one row (JSON tid) per M, plus a "sysmon" row and a
 * "foreign threads" row:
 *   - a complete ("X") event for every stretch a G runs on an M, named
 *     "G<goid>", args goid, p and the thread's name;
 *   - nested in it, an "X" event "syscall" for every hand-off kernel call
 *     (entersyscall .. exitsyscall), and an instant when the G came back
 *     to find its P retaken;
 *   - instants ("i"): park (with the wait reason), unpark (target goid and
 *     the waker's goid, 0 for the scheduler or a foreign thread), create,
 *     exit, steal (thief P, victim P, count), timer (the P whose heap it
 *     was on, lateness), retake and handoffp (sysmon), M start and exit;
 *   - a flow arrow ("s" at the waker, "f" on the woken G's next run) for
 *     every wake-up and every thread creation;
 *   - metadata ("M") naming the process and the rows ("M3", "sysmon").
 * Timestamps are gmp_nanotime() microseconds since the trace began.
 *
 * Recording (this file): a hook fills a fixed-size binary record (struct trace_ev)
 * and appends it to its M's current buffer (m->tracebuf).  Only that M
 * writes there, on g0 or on its running G, so the hot path takes no lock;
 * sysmon and foreign threads use rows of their own under a lock (they are
 * rare).  Buffers are per M rather than per P: some hooks run on a G in
 * user code (entersyscall, create), when sysmon may retake its P at any
 * moment, whereas an M is one kernel thread, so its buffer has exactly
 * one writer whatever happens to the P.  A full buffer goes on a FIFO list and the writer thread is woken
 * with a futex; the M takes an empty buffer from the free list (or maps a
 * new one, up to MAX_BUFS; beyond that records are counted as dropped).
 * Buffers are mmap'ed (gmp_rt_alloc), so g0 may do all of this.
 *
 * The writer (core/trace_json.c) is a kernel thread of its own (created with glibc's real
 * pthread_create, like sysmon), all signals blocked; it turns full buffers
 * into JSON as they come, and every 100 ms also what the partial ones hold
 * (convert_current), and writes with raw pwrite(2), leaving the file valid
 * JSON after every write (out_flush).  It uses no interposed function and
 * formats numbers itself (no locale can put a comma in a number).
 *
 * Flushing at exit (atexit, registered at init; also the last thread's
 * exit, which calls exit): tracing is switched off, then gmp_trace_stop
 * waits for every M that is in the middle of an append (m->tracebusy; a
 * Dekker pair of seq_cst accesses with gmp_trace_on), takes the output
 * lock from the writer, converts the full list and then every M's partial
 * buffer, closes the spans still open at that moment and the JSON.  A
 * process that ends otherwise (_exit, a fatal signal, exec) loses what the
 * writer had not converted yet, and the spans still open.  A fork child
 * stops tracing.
 *
 * Known limit: a hook called from a signal handler that interrupted the
 * same M's append corrupts one record (gmp's own hooks only: the program's
 * handlers run behind the dispatcher, never inside gmp's runtime code).
 * Records of one M are converted in order; rows are independent, so the
 * file is not sorted by time (the viewers sort it).
 */
#include "trace_rec.h"

#include <stdlib.h>

_Atomic bool gmp_trace_on;

struct gmp_trace_lists gmp_tr = {
	.sysmon_row = {.id = ROW_SYSMON, .lock = GMP_LOCK_RANKED(GMP_RANK_TRACEROW)},
	.foreign_row = {.id = ROW_FOREIGN, .lock = GMP_LOCK_RANKED(GMP_RANK_TRACEROW)},
	.listlock = GMP_LOCK_RANKED(GMP_RANK_TRACELIST),
};
static __thread bool on_sysmon; /* read only on foreign threads (their own TLS) */
static bool forked, started;    /* started: immutable once tracing is on */

/* ------------------------------------------------------------ records and buffers */


static struct gmp_trace_buf *getbuf(uint32_t row)
{
	gmp_lock(&gmp_tr.listlock);
	struct gmp_trace_buf *b = gmp_tr.freelist;
	if (b)
		gmp_tr.freelist = b->next;
	gmp_unlock(&gmp_tr.listlock);
	if (!b) {
		if (atomic_fetch_add(&gmp_tr.nbufs, 1) >= MAX_BUFS) {
			atomic_fetch_sub(&gmp_tr.nbufs, 1);
			return NULL;
		}
		b = gmp_rt_alloc(BUF_BYTES);
		if (!b) {
			atomic_fetch_sub(&gmp_tr.nbufs, 1);
			return NULL;
		}
	}
	b->next = NULL;
	b->row = row;
	b->done = 0;
	atomic_store_explicit(&b->n, 0, memory_order_relaxed);
	return b;
}

static void putfull(struct gmp_trace_buf *b)
{
	b->next = NULL;
	gmp_lock(&gmp_tr.listlock);
	if (gmp_tr.fulltail)
		gmp_tr.fulltail->next = b;
	else
		gmp_tr.fullhead = b;
	gmp_tr.fulltail = b;
	gmp_unlock(&gmp_tr.listlock);
	atomic_store(&gmp_tr.writer_word, 1);
	gmp_kfutex_wake(&gmp_tr.writer_word, 1);
}

/*
 * Append e to the buffer *bp of row; the caller is the row's only writer.
 * A full buffer is queued before the next one is published in *bp
 * (release): the writer relies on that order (convert_current).
 */
static void put(struct gmp_trace_buf *_Atomic *bp, uint32_t row, const struct trace_ev *e)
{
	struct gmp_trace_buf *b = atomic_load_explicit(bp, memory_order_relaxed);
	if (GMP_UNLIKELY(!b || atomic_load_explicit(&b->n, memory_order_relaxed) == BUF_CAP)) {
		if (b)
			putfull(b);
		b = getbuf(row);
		atomic_store_explicit(bp, b, memory_order_release);
		if (!b) {
			atomic_fetch_add_explicit(&gmp_tr.dropped, 1, memory_order_relaxed);
			return;
		}
	}
	uint32_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
	b->ev[n] = *e;
	atomic_store_explicit(&b->n, n + 1, memory_order_release);
}

/* Record e on m's row, or (m NULL) on sysmon's or the foreign row. */
static void emit(struct gmp_m *m, struct trace_ev *e)
{
	e->ts = gmp_nanotime();
	if (m) {
		atomic_store_explicit(&m->tracebusy, 1, memory_order_seq_cst);
		if (atomic_load_explicit(&gmp_trace_on, memory_order_seq_cst))
			put(&m->tracebuf, (uint32_t)m->id, e);
		atomic_store_explicit(&m->tracebusy, 0, memory_order_release);
		return;
	}
	struct trace_row *r = on_sysmon ? &gmp_tr.sysmon_row : &gmp_tr.foreign_row;
	gmp_lock(&r->lock);
	if (atomic_load(&gmp_trace_on))
		put(&r->buf, r->id, e);
	gmp_unlock(&r->lock);
}

/* A flow id unique in the trace: the row in the high bits, a per-row count below. */
static uint64_t flowid(struct gmp_m *m)
{
	if (m)
		return ((uint64_t)(uint32_t)m->id + 1) << 40 | ++m->traceseq;
	struct trace_row *r = on_sysmon ? &gmp_tr.sysmon_row : &gmp_tr.foreign_row;
	return ((uint64_t)(r->id & 0xffffff) + 1) << 40 | (atomic_fetch_add(&r->seq, 1) + 1);
}

/* ------------------------------------------------------------ hooks */

void gmp_trace_gostart(struct gmp_m *m, struct gmp_g *gp)
{
	struct trace_ev e = {.type = EV_GOSTART, .a = gp->goid, .b = (uintptr_t)gp, .c = gp->tracewake,
			     .x = m->p ? m->p->id : NOP};
	gp->tracewake = 0;
	emit(m, &e);
}

void gmp_trace_gostop(struct gmp_m *m, struct gmp_g *gp)
{
	struct trace_ev e = {.type = EV_GOSTOP, .a = gp->goid};
	emit(m, &e);
}

void gmp_trace_park(struct gmp_m *m, struct gmp_g *gp)
{
	struct trace_ev e = {.type = EV_PARK, .a = gp->goid, .k = gp->waitreason};
	emit(m, &e);
}

void gmp_trace_preempt(struct gmp_m *m, struct gmp_g *gp)
{
	struct trace_ev e = {.type = EV_PREEMPT, .a = gp->goid, .b = gp->npreempt};
	emit(m, &e);
}

void gmp_trace_goend(struct gmp_m *m, struct gmp_g *gp)
{
	struct trace_ev e = {.type = EV_GOEND, .a = gp->goid};
	emit(m, &e);
}

static void unpark(struct gmp_m *m, struct gmp_g *gp)
{
	if (gp->tracewake)
		return; /* a new G readied by a foreign creator: its create record has the flow */
	uint64_t id = flowid(m);
	struct gmp_g *waker = m ? m->curg : NULL;
	struct trace_ev e = {.type = EV_UNPARK, .a = gp->goid, .b = waker ? waker->goid : 0, .c = id,
			     .k = gp->waitreason};
	gp->tracewake = id; /* before the G is queued: whoever runs it reads it after the queue's acquire */
	emit(m, &e);
}

void gmp_trace_unpark(struct gmp_p *p, struct gmp_g *gp)
{
	/* A caller holding p runs on p->m; with no P it is a foreign thread. */
	unpark(p ? p->m : NULL, gp);
}

void gmp_trace_unpark_list(struct gmp_m *m, struct gmp_g *list)
{
	for (struct gmp_g *g = list; g; g = g->schedlink)
		unpark(m, g);
}

void gmp_trace_gocreate(struct gmp_g *self, struct gmp_g *ng)
{
	struct gmp_m *m = self ? self->m : NULL;
	uint64_t id = flowid(m);
	struct trace_ev e = {.type = EV_CREATE, .a = ng->goid, .b = self ? self->goid : 0, .c = id};
	ng->tracewake = id;
	emit(m, &e);
}

void gmp_trace_syscall(struct gmp_g *g, enum gmp_trace_sys what)
{
	struct gmp_m *m = g->m;
	struct trace_ev e = {.type = what == GMP_TRACE_SYS_ENTER  ? EV_SYSENTER
				     : what == GMP_TRACE_SYS_EXIT ? EV_SYSEXIT
								  : EV_SYSLOSTP,
			     .a = g->goid, .x = m->p ? m->p->id : NOP};
	emit(m, &e);
}

void gmp_trace_retake(struct gmp_p *p, uint32_t from)
{
	struct trace_ev e = {.type = EV_RETAKE, .x = p->id, .k = (uint8_t)from};
	emit(NULL, &e);
}

void gmp_trace_handoffp(struct gmp_p *p, bool started)
{
	struct trace_ev e = {.type = EV_HANDOFF, .x = p->id, .k = started};
	emit(NULL, &e);
}

void gmp_trace_steal(struct gmp_m *m, struct gmp_p *thief, struct gmp_p *victim, uint32_t n)
{
	struct trace_ev e = {.type = EV_STEAL, .x = thief->id, .a = victim->id, .b = n};
	emit(m, &e);
}

void gmp_trace_timer(struct gmp_p *runner, struct gmp_p *heap, int64_t when)
{
	struct trace_ev e = {.type = EV_TIMER, .x = heap->id, .a = (uint64_t)when};
	emit(runner->m, &e);
}

void gmp_trace_mstart(struct gmp_m *m)
{
	struct trace_ev e = {.type = EV_MSTART, .a = (uint64_t)m->tid};
	emit(m, &e);
}

void gmp_trace_mexit(struct gmp_m *m)
{
	struct trace_ev e = {.type = EV_MEXIT};
	emit(m, &e);
	/* This M's records must reach the file: hand its partial buffer over. */
	atomic_store_explicit(&m->tracebusy, 1, memory_order_seq_cst);
	struct gmp_trace_buf *b = atomic_load_explicit(&m->tracebuf, memory_order_relaxed);
	if (atomic_load_explicit(&gmp_trace_on, memory_order_seq_cst) && b) {
		putfull(b);
		atomic_store_explicit(&m->tracebuf, NULL, memory_order_release);
	}
	atomic_store_explicit(&m->tracebusy, 0, memory_order_release);
}

void gmp_trace_sysmon_start(void) { on_sysmon = true; }


/* ------------------------------------------------------------ start and stop */

static void child_after_fork(void)
{
	/* The child would write into the parent's file: it traces nothing. */
	atomic_store(&gmp_trace_on, false);
	forked = true;
}

void gmp_trace_init(void)
{
	const char *env = getenv("GMP_TRACE");
	if (!env || !*env || !gmp_trace_json_open(env))
		return;
	started = true;
	atexit(gmp_trace_stop);
	gmp_atfork_add(NULL, NULL, child_after_fork);
	atomic_store(&gmp_trace_on, true);
}

void gmp_trace_stop(void)
{
	static _Atomic int once;
	if (forked || !started || atomic_exchange(&once, 1))
		return;
	atomic_store(&gmp_trace_on, false); /* seq_cst: pairs with emit's tracebusy store */
	/* Wait for appends in progress (bounded: a signal handler may have called exit mid-append). */
	int64_t limit = gmp_nanotime() + 100000000;
	for (struct gmp_m *m = atomic_load(&gmp_sched.allm); m; m = m->alllink)
		while (atomic_load(&m->tracebusy) && gmp_nanotime() < limit)
			gmp_cpu_relax();
	gmp_lock(&gmp_tr.sysmon_row.lock); /* an append in progress there finishes; later ones see tracing off */
	gmp_unlock(&gmp_tr.sysmon_row.lock);
	gmp_lock(&gmp_tr.foreign_row.lock);
	gmp_unlock(&gmp_tr.foreign_row.lock);
	gmp_trace_json_close();
}
