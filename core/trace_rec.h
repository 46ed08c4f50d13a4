/*
 * Execution-trace records, shared by the recorder (core/trace.c: hooks,
 * per-M buffers) and the writer (core/trace_json.c: records to JSON).
 * core/trace.c's opening comment explains both.
 */
#ifndef GMP_CORE_TRACE_REC_H
#define GMP_CORE_TRACE_REC_H

#include "trace.h"

enum {
	/* spans */
	EV_GOSTART = 1, /* a goid, b G pointer, c flow id, x P */
	EV_GOSTOP,      /* a goid */
	EV_SYSENTER,    /* a goid, x P or NOP */
	EV_SYSEXIT,     /* a goid */
	/* instants about one G: a goid */
	EV_PARK,        /* k wait reason */
	EV_UNPARK,      /* b waker goid, c flow id, k wait reason */
	EV_CREATE,      /* b creator goid, c flow id */
	EV_GOEND,
	EV_SYSLOSTP,
	EV_PREEMPT,     /* b its preemptions so far */
	/* other instants */
	EV_RETAKE,      /* x P, k old P status */
	EV_HANDOFF,     /* x P, k 1: given to an M, 0: idle list */
	EV_STEAL,       /* x thief P, a victim P, b count */
	EV_TIMER,       /* x P whose heap it was on, a when (ns) */
	EV_MSTART,      /* a kernel tid */
	EV_MEXIT,
	EV_NTYPES
};

#define NOP 0xffffffffu

struct trace_ev {
	int64_t ts;
	uint64_t a, b, c;
	uint8_t type, k;
	uint16_t pad;
	uint32_t x;
};
_Static_assert(sizeof(struct trace_ev) == 40, "trace records are 40 bytes");

#define ROW_SYSMON 0xfffffffeu
#define ROW_FOREIGN 0xffffffffu
#define TID_SYSMON 2000000000u
#define TID_FOREIGN 2000000001u

#define BUF_BYTES (32 * 1024)
#define MAX_BUFS 2048 /* 64 MiB of records in flight at most */

struct gmp_trace_buf {
	struct gmp_trace_buf *next; /* listlock */
	uint32_t row;               /* M id, ROW_SYSMON or ROW_FOREIGN */
	_Atomic uint32_t n;         /* records written; the row's writer stores (release) */
	uint32_t done;              /* records converted to JSON; outlock (reset by getbuf) */
	struct trace_ev ev[];
};
#define BUF_CAP ((BUF_BYTES - sizeof(struct gmp_trace_buf)) / sizeof(struct trace_ev))

/* A row that is not an M: sysmon's, or the one all foreign threads share. */
struct trace_row {
	gmp_lock_t lock;                  /* one appender at a time */
	struct gmp_trace_buf *_Atomic buf; /* written under lock; read by the trace writer */
	uint32_t id;
	_Atomic uint64_t seq;
};

/* Buffers in flight between the two sides. */
struct gmp_trace_lists {
	gmp_lock_t listlock;                        /* protects fullhead, fulltail, freelist */
	struct gmp_trace_buf *fullhead, *fulltail;  /* FIFO: per-row order is kept */
	struct gmp_trace_buf *freelist;
	_Atomic uint32_t nbufs;
	_Atomic uint64_t dropped;
	_Atomic uint32_t writer_word;               /* futex: 1 when the full list may be non-empty */
	struct trace_row sysmon_row, foreign_row;   /* the rows that are not an M */
};
extern struct gmp_trace_lists gmp_tr GMP_HIDDEN;

/* trace_json.c */
bool gmp_trace_json_open(const char *env) GMP_HIDDEN; /* init: the file named by GMP_TRACE, the writer thread */
void gmp_trace_json_close(void) GMP_HIDDEN;           /* exit: everything recorded, then the JSON's end */

#endif
