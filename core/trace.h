/*
 * Execution trace (GMP_TRACE=FILE): the hooks the scheduler calls where
 * events happen.  core/trace.c explains the buffers and the writer.
 *
 * Every hook is called through GMP_TRACE(...), so with tracing off a hook
 * costs one load and one predictable branch.  Contexts, as in runtime.h:
 * hooks that take an M run on that M (on g0 or on its running G) and use
 * no TLS; hooks given m == NULL (or p == NULL) run on a foreign thread or
 * on sysmon.
 */
#ifndef GMP_CORE_TRACE_H
#define GMP_CORE_TRACE_H

#include "runtime.h"

extern _Atomic bool gmp_trace_on GMP_HIDDEN; /* set once at init, cleared at exit and in a fork child */

#define GMP_TRACE(call)                                                                        \
	do {                                                                                   \
		if (GMP_UNLIKELY(atomic_load_explicit(&gmp_trace_on, memory_order_relaxed))) \
			call;                                                                  \
	} while (0)

void gmp_trace_init(void) GMP_HIDDEN;                                  /* init: reads GMP_TRACE */
void gmp_trace_stop(void) GMP_HIDDEN;                                  /* G or foreign: flush and close the file */
void gmp_trace_sysmon_start(void) GMP_HIDDEN;                          /* sysmon's own thread, once */

void gmp_trace_gostart(struct gmp_m *m, struct gmp_g *gp) GMP_HIDDEN;  /* g0 (or init): gp starts running on m */
void gmp_trace_gostop(struct gmp_m *m, struct gmp_g *gp) GMP_HIDDEN;   /* g0: gp came back to the scheduler */
void gmp_trace_park(struct gmp_m *m, struct gmp_g *gp) GMP_HIDDEN;     /* g0: gp parks (gp->waitreason) */
void gmp_trace_goend(struct gmp_m *m, struct gmp_g *gp) GMP_HIDDEN;   /* g0: gp has exited */
void gmp_trace_preempt(struct gmp_m *m, struct gmp_g *gp) GMP_HIDDEN;  /* g0: sysmon's signal stopped gp */
void gmp_trace_unpark(struct gmp_p *p, struct gmp_g *gp) GMP_HIDDEN;   /* any, p held by the caller or NULL */
void gmp_trace_unpark_list(struct gmp_m *m, struct gmp_g *list) GMP_HIDDEN; /* g0 or sysmon (m NULL): poller */
void gmp_trace_gocreate(struct gmp_g *self, struct gmp_g *ng) GMP_HIDDEN;   /* G or foreign (self NULL) */
enum gmp_trace_sys { GMP_TRACE_SYS_ENTER, GMP_TRACE_SYS_EXIT, GMP_TRACE_SYS_LOSTP };
void gmp_trace_syscall(struct gmp_g *g, enum gmp_trace_sys what) GMP_HIDDEN; /* G, on its M */
void gmp_trace_retake(struct gmp_p *p, uint32_t from) GMP_HIDDEN;      /* sysmon */
void gmp_trace_handoffp(struct gmp_p *p, bool started) GMP_HIDDEN;     /* sysmon */
void gmp_trace_steal(struct gmp_m *m, struct gmp_p *thief, struct gmp_p *victim, uint32_t n) GMP_HIDDEN; /* g0 */
void gmp_trace_timer(struct gmp_p *runner, struct gmp_p *heap, int64_t when) GMP_HIDDEN; /* runner held */
void gmp_trace_mstart(struct gmp_m *m) GMP_HIDDEN;                     /* the new M's g0 */
void gmp_trace_mexit(struct gmp_m *m) GMP_HIDDEN;                      /* g0 of an M about to end */

#endif
