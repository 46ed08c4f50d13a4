/*
 * The execution trace's writer (core/trace.c explains the whole): a kernel
 * thread of its own turns the recorded buffers into Chrome Trace Event
 * JSON as they fill, and every 100 ms also what the partial ones hold, and
 * writes with raw pwrite(2), leaving the file valid JSON after every write
 * (out_flush).  It uses no interposed function and formats numbers itself
 * (no locale can put a comma in a number).  At exit gmp_trace_json_close
 * converts the rest and closes the JSON.
 */
#include "trace_rec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

/* What the converter remembers about a row between records. */
struct rowstate {
	int64_t gstart;   /* a G's running span is open since then; 0: none */
	uint64_t goid;
	uint64_t wake;    /* flow id that made it runnable, 0 if none */
	struct gmp_g *g;  /* for its name, read when the span is written */
	uint32_t p;
	int64_t sysstart; /* a syscall span is open since then; 0: none */
	uint64_t sysgoid;
	bool named;       /* the row's metadata is out */
};

/* The output side, all under outlock: the writer thread, or the flush at exit. */
static gmp_lock_t outlock = GMP_LOCK_RANKED(GMP_RANK_TRACEOUT);
static int outfd = -1;      /* immutable once tracing is on */
static bool closed, firstev = true;
static int64_t t0;          /* immutable once tracing is on */
static pid_t pid;
static char out[256 * 1024 + 8]; /* 8: room for TAIL */
static int64_t fileoff;           /* where the next text goes; TAIL is written there too */
static bool seekable = true;      /* false for a pipe: plain writes, no TAIL */
static size_t outlen;
static struct rowstate *rows, sysmon_rs, foreign_rs;
static uint32_t nrows;
static bool argfirst;

/*
 * Write the text out.  Until the end, every write also puts TAIL after the
 * text (without counting it), and the next write starts over it: the file
 * is valid JSON after each write, so a process that ends without the flush
 * (_exit, a crash, exec, SIGKILL) leaves a readable trace up to the
 * writer's last round.
 */
#define TAIL "\n]}\n"

static void out_write(const char *p, size_t len)
{
	for (size_t off = 0; off < len;) {
		long r = seekable ? gmp_sys4(SYS_pwrite64, outfd, p + off, len - off, fileoff + (int64_t)off)
				  : gmp_sys3(SYS_write, outfd, p + off, len - off);
		if (r == -ESPIPE && seekable) {
			seekable = false;
			continue;
		}
		if (r == -EINTR)
			continue;
		if (r <= 0)
			break; /* a full disk: the rest is lost, the program goes on */
		off += (size_t)r;
	}
}

static void out_flush(bool last)
{
	size_t n = outlen;
	if (!last && seekable) {
		memcpy(out + n, TAIL, sizeof TAIL - 1);
		out_write(out, n + sizeof TAIL - 1);
	} else {
		out_write(out, n);
	}
	fileoff += (int64_t)n;
	outlen = 0;
}

static void out_raw(const char *s, size_t n)
{
	if (outlen + n > sizeof out - 8)
		out_flush(false);
	memcpy(out + outlen, s, n);
	outlen += n;
}

static void out_s(const char *s) { out_raw(s, strlen(s)); }

/* v in decimal at dst (room for 20 digits, no terminator); returns the length. */
static size_t fmt_u(char *dst, uint64_t v)
{
	char b[20];
	size_t i = sizeof b;
	do
		b[--i] = (char)('0' + v % 10);
	while (v /= 10);
	memcpy(dst, b + i, sizeof b - i);
	return sizeof b - i;
}

static void out_u(uint64_t v)
{
	char b[20];
	out_raw(b, fmt_u(b, v));
}

static void out_hex(uint64_t v)
{
	char b[16];
	int i = sizeof b;
	do
		b[--i] = "0123456789abcdef"[v & 15];
	while (v >>= 4);
	out_raw(b + i, sizeof b - (size_t)i);
}

/* Nanoseconds as microseconds with three decimals. */
static void out_us(int64_t ns)
{
	if (ns < 0) {
		out_raw("-", 1);
		ns = -ns;
	}
	out_u((uint64_t)ns / 1000);
	char f[4] = {'.', (char)('0' + ns / 100 % 10), (char)('0' + ns / 10 % 10), (char)('0' + ns % 10)};
	out_raw(f, 4);
}

/* A JSON string; bytes outside printable ASCII become \u00XX, so the file is valid whatever the name. */
static void out_jstr(const char *s, size_t max)
{
	out_raw("\"", 1);
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			out_raw((const char *)&c, 1);
		} else {
			char u[6] = {'\\', 'u', '0', '0', "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]};
			out_raw(u, 6);
		}
	}
	out_raw("\"", 1);
}

static uint64_t row_tid(uint32_t row)
{
	return row == ROW_SYSMON ? TID_SYSMON : row == ROW_FOREIGN ? TID_FOREIGN : (uint64_t)row + 1;
}

#define NONUM UINT64_MAX

/* Open an event object: ph, cat, name (with num appended unless NONUM), pid, tid, ts. */
static void ev_head(const char *ph, const char *cat, const char *name, uint64_t num, uint32_t row, int64_t ts)
{
	out_s(firstev ? "\n{\"ph\":\"" : ",\n{\"ph\":\"");
	firstev = false;
	out_s(ph);
	out_s("\",\"cat\":\"");
	out_s(cat);
	out_s("\",\"name\":\"");
	out_s(name);
	if (num != NONUM)
		out_u(num);
	out_s("\",\"pid\":");
	out_u((uint64_t)pid);
	out_s(",\"tid\":");
	out_u(row_tid(row));
	out_s(",\"ts\":");
	out_us(ts - t0);
}

static void args_begin(void)
{
	out_s(",\"args\":{");
	argfirst = true;
}

static void arg_key(const char *k)
{
	out_s(argfirst ? "\"" : ",\"");
	argfirst = false;
	out_s(k);
	out_s("\":");
}

static void arg_u(const char *k, uint64_t v)
{
	arg_key(k);
	out_u(v);
}

static void arg_s(const char *k, const char *v)
{
	arg_key(k);
	out_jstr(v, SIZE_MAX);
}

static void ev_end(void) { out_s("}}"); }

/* An instant event on the row, with its args left open. */
static void instant(const char *name, uint32_t row, int64_t ts)
{
	ev_head("i", name, name, NONUM, row, ts);
	out_s(",\"s\":\"t\"");
	args_begin();
}

static void flow(const char *ph, uint64_t id, uint32_t row, int64_t ts)
{
	ev_head(ph, "flow", "wake", NONUM, row, ts);
	out_s(",\"id\":\"0x");
	out_hex(id);
	out_s(ph[0] == 'f' ? "\",\"bp\":\"e\"" : "\"");
	args_begin();
	ev_end();
}

static void metadata(const char *what, uint32_t row, const char *key, const char *sval, uint64_t uval)
{
	ev_head("M", "__metadata", what, NONUM, row, t0);
	args_begin();
	if (sval)
		arg_s(key, sval);
	else
		arg_u(key, uval);
	ev_end();
}

static struct rowstate *rowstate(uint32_t row)
{
	if (row == ROW_SYSMON)
		return &sysmon_rs;
	if (row == ROW_FOREIGN)
		return &foreign_rs;
	if (row >= nrows) {
		/* The writer and the flush are ordinary threads: malloc is fine here. */
		uint32_t n = nrows ? nrows : 64;
		while (n <= row)
			n *= 2;
		struct rowstate *r = realloc(rows, n * sizeof *r);
		if (!r)
			return NULL;
		memset(r + nrows, 0, (n - nrows) * sizeof *r);
		rows = r;
		nrows = n;
	}
	return &rows[row];
}

static void name_row(uint32_t row, struct rowstate *rs)
{
	if (rs->named)
		return;
	rs->named = true;
	char nm[24] = "M";
	const char *s = nm;
	if (row == ROW_SYSMON)
		s = "sysmon";
	else if (row == ROW_FOREIGN)
		s = "foreign threads";
	else
		nm[1 + fmt_u(nm + 1, row)] = 0;
	metadata("thread_name", row, "name", s, 0);
	metadata("thread_sort_index", row, "sort_index", NULL, row_tid(row));
}

static void close_sys(uint32_t row, struct rowstate *rs, int64_t end)
{
	ev_head("X", "syscall", "syscall", NONUM, row, rs->sysstart);
	out_s(",\"dur\":");
	out_us(end - rs->sysstart);
	args_begin();
	arg_u("goid", rs->sysgoid);
	ev_end();
	rs->sysstart = 0;
}

static void close_g(uint32_t row, struct rowstate *rs, int64_t end)
{
	if (rs->sysstart)
		close_sys(row, rs, end);
	ev_head("X", "g", "G", rs->goid, row, rs->gstart);
	out_s(",\"dur\":");
	out_us(end - rs->gstart);
	args_begin();
	arg_u("goid", rs->goid);
	if (rs->p != NOP)
		arg_u("p", rs->p);
	/* G structs are never freed; the name is the G's only if it still has this goid. */
	char nm[16];
	const volatile char *src = rs->g ? rs->g->name : "";
	for (int i = 0; i < 16; i++)
		nm[i] = src[i];
	nm[15] = 0;
	if (rs->g && rs->g->goid == rs->goid && nm[0])
		arg_s("thread", nm);
	ev_end();
	if (rs->wake)
		flow("f", rs->wake, row, end > rs->gstart ? rs->gstart + 1 : rs->gstart);
	rs->gstart = 0;
}

/* A G starts or stops running on the row, or a kernel call begins or ends: open or close a span. */
static void span_event(uint32_t row, struct rowstate *rs, const struct trace_ev *e)
{
	bool g = e->type == EV_GOSTART || e->type == EV_GOSTOP;
	if (g ? rs->gstart : rs->sysstart)
		(g ? close_g : close_sys)(row, rs, e->ts); /* before a start: its stop was dropped */
	if (e->type == EV_GOSTART) {
		rs->gstart = e->ts;
		rs->goid = e->a;
		rs->g = (struct gmp_g *)(uintptr_t)e->b;
		rs->wake = e->c;
		rs->p = e->x;
	} else if (e->type == EV_SYSENTER) {
		rs->sysstart = e->ts;
		rs->sysgoid = e->a;
	}
}

static const char *const instant_names[EV_NTYPES] = {
	[EV_PARK] = "park",       [EV_UNPARK] = "unpark",     [EV_CREATE] = "create", [EV_GOEND] = "exit",
	[EV_SYSLOSTP] = "P lost", [EV_PREEMPT] = "preempted", [EV_RETAKE] = "retake",     [EV_HANDOFF] = "handoffp",
	[EV_STEAL] = "steal",     [EV_TIMER] = "timer",       [EV_MSTART] = "M start", [EV_MEXIT] = "M exit",
};

static void convert_one(uint32_t row, struct rowstate *rs, const struct trace_ev *e)
{
	if (e->type == EV_GOSTART || e->type == EV_GOSTOP || e->type == EV_SYSENTER || e->type == EV_SYSEXIT) {
		span_event(row, rs, e);
		return;
	}
	if (e->type >= EV_NTYPES || !instant_names[e->type])
		return;
	instant(instant_names[e->type], row, e->ts);
	if (e->type <= EV_PREEMPT)
		arg_u("goid", e->a); /* the events about one G */
	switch (e->type) {
	case EV_UNPARK:
		arg_u("waker", e->b);
		/* fall through */
	case EV_PARK:
		arg_s("reason", gmp_waitreason_name(e->k));
		break;
	case EV_CREATE:
		arg_u("creator", e->b);
		break;
	case EV_PREEMPT:
		arg_u("count", e->b);
		break;
	case EV_RETAKE:
	case EV_HANDOFF:
		arg_u("p", e->x);
		if (e->type == EV_RETAKE)
			arg_s("from", e->k == P_SYSCALL ? "syscall" : "user");
		else
			arg_s("to", e->k ? "M" : "idle");
		break;
	case EV_STEAL:
		arg_u("thief", e->x);
		arg_u("victim", e->a);
		arg_u("count", e->b);
		break;
	case EV_TIMER:
		arg_u("p", e->x);
		arg_key("late_us");
		out_us(e->ts > (int64_t)e->a ? e->ts - (int64_t)e->a : 0);
		break;
	case EV_MSTART:
		arg_u("tid", e->a);
		break;
	}
	ev_end();
	if (e->type == EV_UNPARK || e->type == EV_CREATE)
		flow("s", e->c, row, e->ts);
}

/* Convert the records of b not converted yet.  outlock held. */
static void convert(struct gmp_trace_buf *b)
{
	struct rowstate *rs = rowstate(b->row);
	if (!rs)
		return;
	name_row(b->row, rs);
	uint32_t n = atomic_load_explicit(&b->n, memory_order_acquire);
	for (uint32_t i = b->done; i < n; i++)
		convert_one(b->row, rs, &b->ev[i]);
	b->done = n;
}

/* Convert every full buffer and give it back.  outlock held. */
static void drain(void)
{
	for (;;) {
		gmp_lock(&gmp_tr.listlock);
		struct gmp_trace_buf *b = gmp_tr.fullhead;
		if (b) {
			gmp_tr.fullhead = b->next;
			if (!gmp_tr.fullhead)
				gmp_tr.fulltail = NULL;
		}
		gmp_unlock(&gmp_tr.listlock);
		if (!b)
			return;
		convert(b);
		gmp_lock(&gmp_tr.listlock);
		b->next = gmp_tr.freelist;
		gmp_tr.freelist = b;
		gmp_unlock(&gmp_tr.listlock);
	}
}

/*
 * Convert what a row's current buffer holds so far, while its owner keeps
 * appending: records below b->n are complete (release/acquire on n).  It
 * is safe because only the outlock holder recycles buffers (drain), so b
 * stays ours to read even if the row queues it meanwhile; and it keeps the
 * row's order as long as no older buffer of the row still waits on the
 * full list.  The row publishes a new buffer only after queueing the old
 * one, so a look at the list after reading the pointer tells.  outlock held.
 */
static void convert_current(struct gmp_trace_buf *_Atomic *bp)
{
	struct gmp_trace_buf *b = atomic_load_explicit(bp, memory_order_acquire);
	if (!b)
		return;
	gmp_lock(&gmp_tr.listlock);
	bool older = false;
	for (struct gmp_trace_buf *f = gmp_tr.fullhead; f && !older; f = f->next)
		older = f->row == b->row && f != b;
	gmp_unlock(&gmp_tr.listlock);
	if (!older)
		convert(b);
}

/* Everything recorded so far, as far as it can be read now.  outlock held. */
static void convert_all(void)
{
	drain();
	for (struct gmp_m *m = atomic_load(&gmp_sched.allm); m; m = m->alllink)
		convert_current(&m->tracebuf);
	convert_current(&gmp_tr.sysmon_row.buf);
	convert_current(&gmp_tr.foreign_row.buf);
}

/*
 * The writer: converts full buffers as they come, and every WRITER_TICK_NS
 * what the partial ones hold, so that the file is nearly complete even if
 * the process is killed or hangs.
 */
#define WRITER_TICK_NS 100000000

static void *writer_main(void *arg)
{
	(void)arg;
	uint64_t all = ~0ULL; /* gmp's own thread: signals are the program's */
	gmp_sys4(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, 8);
	int64_t last = gmp_nanotime();
	for (;;) {
		if (atomic_exchange(&gmp_tr.writer_word, 0) == 0)
			gmp_kfutex_wait(&gmp_tr.writer_word, 0, WRITER_TICK_NS);
		gmp_lock(&outlock);
		if (closed) {
			gmp_unlock(&outlock);
			return NULL;
		}
		int64_t now = gmp_nanotime();
		if (now - last >= WRITER_TICK_NS) {
			last = now;
			convert_all();
		} else {
			drain();
		}
		out_flush(false);
		gmp_unlock(&outlock);
	}
}


/* ------------------------------------------------------------ open and close */

bool gmp_trace_json_open(const char *env)
{
	/*
	 * "%p" in the name becomes the pid, and then child processes that run
	 * with gmp trace to files of their own.  Without it the variable is
	 * taken out of the environment, so that a program a child execs
	 * (system, popen) does not truncate this process's file.
	 */
	char path[4096];
	size_t n = 0;
	bool perpid = false;
	for (const char *s = env; *s && n < sizeof path - 24; s++) {
		if (s[0] == '%' && s[1] == 'p') {
			n += fmt_u(path + n, (uint64_t)gmp_sched.pid);
			perpid = true;
			s++;
		} else {
			path[n++] = *s;
		}
	}
	path[n] = 0;
	if (!perpid)
		unsetenv("GMP_TRACE");
	int fd = (int)gmp_sys4(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		gmp_printf("gmp: warning: GMP_TRACE: cannot open %s (error %d); not tracing\n", path, -fd);
		return false;
	}
	outfd = fd;
	pid = gmp_sched.pid;
	t0 = gmp_nanotime();
	out_s("{\"traceEvents\":[");
	char name[64] = "gmp: ";
	strncat(name, program_invocation_short_name, sizeof name - 6);
	metadata("process_name", 0, "name", name, 0);
	out_flush(false);
	unsigned long th;
	if (gmp_kthread_create(&th, writer_main, NULL) != 0) {
		gmp_printf("gmp: warning: GMP_TRACE: cannot start the trace writer; not tracing\n");
		gmp_sys1(SYS_close, fd);
		outfd = -1;
		return false;
	}
	return true;
}

static void close_open_spans(uint32_t row, struct rowstate *rs, int64_t now)
{
	if (rs->gstart)
		close_g(row, rs, now);
	else if (rs->sysstart)
		close_sys(row, rs, now);
}

void gmp_trace_json_close(void)
{
	int64_t now = gmp_nanotime();
	gmp_lock(&outlock);
	convert_all(); /* nobody appends any more: this is everything */
	for (uint32_t i = 0; i < nrows; i++)
		close_open_spans(i, &rows[i], now);
	close_open_spans(ROW_SYSMON, &sysmon_rs, now);
	close_open_spans(ROW_FOREIGN, &foreign_rs, now);
	out_s("\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"dropped_events\":");
	out_u(atomic_load(&gmp_tr.dropped));
	out_s("}}\n");
	out_flush(true);
	gmp_sys1(SYS_close, outfd);
	closed = true;
	gmp_unlock(&outlock);
	atomic_store(&gmp_tr.writer_word, 1);
	gmp_kfutex_wake(&gmp_tr.writer_word, 1);
}
