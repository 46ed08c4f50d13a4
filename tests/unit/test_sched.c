/*
 * Unit tests of core/sched.c pieces that run without Ms: the G status
 * machine (gmp_casgstatus), the global run queue and its fair-share
 * batching (gmp_globrunqget), and the idle P list.
 */
#include "unit.h"

static void setup(void) { unit_sched_init(4); }
static void teardown(void) {}

/* ------------------------------------------------------------ G status */

/*
 * The legal transitions, written out from runtime.h's state descriptions
 * independently of sched.c's table:
 *   idle     -> runnable (create), running (adopting main), dead (a create that failed)
 *   runnable -> running (execute)
 *   running  -> runnable (yield, lost P), waiting (park), syscall, dead (exit)
 *   syscall  -> running, runnable
 *   waiting  -> runnable (ready)
 *   dead     -> idle (reuse from a free list)
 *   running  -> preempted (sysmon's signal) -> runnable (queued)
 */
static const bool legal[G_NSTATUS][G_NSTATUS] = {
	[G_IDLE] = {[G_RUNNABLE] = true, [G_RUNNING] = true, [G_DEAD] = true},
	[G_RUNNABLE] = {[G_RUNNING] = true},
	[G_RUNNING] = {[G_RUNNABLE] = true, [G_WAITING] = true, [G_SYSCALL] = true, [G_DEAD] = true,
		       [G_PREEMPTED] = true},
	[G_SYSCALL] = {[G_RUNNING] = true, [G_RUNNABLE] = true},
	[G_WAITING] = {[G_RUNNABLE] = true},
	[G_DEAD] = {[G_IDLE] = true},
	[G_PREEMPTED] = {[G_RUNNABLE] = true},
};

struct pair {
	uint32_t from, to;
};

/* The illegal pairs, including out-of-range states on either side. */
static struct pair illegal[(G_NSTATUS + 1) * (G_NSTATUS + 1)];
static int nillegal;

static void build_illegal(void)
{
	nillegal = 0;
	for (uint32_t f = 0; f <= G_NSTATUS; f++)
		for (uint32_t t = 0; t <= G_NSTATUS; t++)
			if (f == G_NSTATUS || t == G_NSTATUS || !legal[f][t])
				illegal[nillegal++] = (struct pair){f, t};
}

/*
 * P status changes, written out from runtime.h's state descriptions:
 * idle -> running (pidleget); running -> idle, running (acquirep), user,
 * syscall; user -> running (reclaim, retake), syscall (entersyscall);
 * syscall -> running, user (exitsyscall).  Out-of-range states never.
 */
START_TEST(test_pstatus_table)
{
	static const bool plegal[4][4] = {
		[P_IDLE] = {[P_RUNNING] = true},
		[P_RUNNING] = {[P_IDLE] = true, [P_RUNNING] = true, [P_USER] = true, [P_SYSCALL] = true},
		[P_USER] = {[P_RUNNING] = true, [P_SYSCALL] = true},
		[P_SYSCALL] = {[P_RUNNING] = true, [P_USER] = true},
	};
	for (uint32_t f = 0; f <= 4; f++)
		for (uint32_t t = 0; t <= 4; t++)
			ck_assert_msg(gmp_pstatus_ok(f, t) == (f < 4 && t < 4 && plegal[f][t]), "P status %u -> %u", f, t);
	/* a checked store and CAS move the word as the bare ones do */
	struct gmp_p *p = gmp_sched.allp[0];
	gmp_setpstatus(p, P_RUNNING, P_USER, memory_order_release);
	ck_assert_uint_eq(unit_pstatus(p), P_USER);
	ck_assert(!gmp_caspstatus(p, P_SYSCALL, P_RUNNING, memory_order_acq_rel, memory_order_relaxed));
	ck_assert(gmp_caspstatus(p, P_USER, P_SYSCALL, memory_order_acq_rel, memory_order_relaxed));
	ck_assert(gmp_caspstatus(p, P_SYSCALL, P_RUNNING, memory_order_acq_rel, memory_order_relaxed));
	ck_assert_uint_eq(unit_pstatus(p), P_RUNNING);
}
END_TEST

/* Checked (this file is built with -DGMP_CHECKS): an illegal change, and a store from the wrong state, abort. */
START_TEST(test_pstatus_illegal_aborts)
{
	gmp_setpstatus(gmp_sched.allp[1], P_IDLE, P_USER, memory_order_release);
}
END_TEST

START_TEST(test_pstatus_wrong_current_aborts)
{
	gmp_setpstatus(gmp_sched.allp[1], P_USER, P_RUNNING, memory_order_release); /* it is P_RUNNING */
}
END_TEST

START_TEST(test_gstatus_legal)
{
	struct gmp_g g = {.goid = 7};
	int n = 0;
	for (uint32_t f = 0; f < G_NSTATUS; f++)
		for (uint32_t t = 0; t < G_NSTATUS; t++) {
			if (!legal[f][t])
				continue;
			atomic_store(&g.status, f);
			gmp_casgstatus(&g, f, t);
			ck_assert_msg(unit_gstatus(&g) == t, "%s -> %s left status %s", gmp_gstatus_name(f),
				      gmp_gstatus_name(t), gmp_gstatus_name(atomic_load(&g.status)));
			n++;
		}
	ck_assert_int_eq(n, 14);

	/* a whole life: create, run, syscall, park, wake, run, preempted, queued, run, exit, reuse */
	static const uint32_t life[] = {G_IDLE,     G_RUNNABLE, G_RUNNING,   G_SYSCALL,  G_RUNNING, G_WAITING,
					G_RUNNABLE, G_RUNNING,  G_PREEMPTED, G_RUNNABLE, G_RUNNING, G_DEAD, G_IDLE};
	atomic_store(&g.status, G_IDLE);
	for (size_t i = 1; i < sizeof life / sizeof life[0]; i++) {
		gmp_casgstatus(&g, life[i - 1], life[i]);
		ck_assert_uint_eq(unit_gstatus(&g), life[i]);
	}
}
END_TEST

/* Loop test, one iteration (own process) per illegal pair: each must abort. */
START_TEST(test_gstatus_illegal_aborts)
{
	struct gmp_g g = {.goid = 9};
	struct pair pr = illegal[_i];
	/* the G really is in `from` (when from is a real state): only the table can object */
	atomic_store(&g.status, pr.from);
	int err = unit_quiet_stderr();
	gmp_casgstatus(&g, pr.from, pr.to);
	dprintf(err, "illegal G status change %s -> %s was accepted\n", gmp_gstatus_name(pr.from),
		gmp_gstatus_name(pr.to));
	ck_abort_msg("%u -> %u was accepted", pr.from, pr.to);
}
END_TEST

struct cas_args {
	uint32_t cur, from, to;
	uint64_t goid;
};

static void do_cas(void *arg)
{
	struct cas_args *a = arg;
	struct gmp_g g = {.goid = a->goid};
	atomic_store(&g.status, a->cur);
	gmp_casgstatus(&g, a->from, a->to);
}

/* The abort comes with the runtime's fatal message on stderr. */
START_TEST(test_gstatus_illegal_message)
{
	char buf[2048];
	struct cas_args a = {.cur = G_RUNNING, .from = G_RUNNING, .to = G_IDLE, .goid = 42};
	int st = unit_crash(do_cas, &a, buf, sizeof buf);
	ck_assert_aborted(st);
	ck_assert_msg(strstr(buf, "gmp: fatal: illegal G status change running -> idle (G 42)") != NULL,
		      "stderr was: %s", buf);

	a = (struct cas_args){.cur = G_DEAD, .from = G_DEAD, .to = G_RUNNING, .goid = 3};
	st = unit_crash(do_cas, &a, buf, sizeof buf);
	ck_assert_aborted(st);
	ck_assert_msg(strstr(buf, "gmp: fatal: illegal G status change dead -> running (G 3)") != NULL,
		      "stderr was: %s", buf);

	/* the control: a legal change does not crash */
	a = (struct cas_args){.cur = G_WAITING, .from = G_WAITING, .to = G_RUNNABLE, .goid = 3};
	st = unit_crash(do_cas, &a, buf, sizeof buf);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "legal change: wait status %#x", st);
	ck_assert_str_eq(buf, "");
}
END_TEST

/* Legal transition, but the G is not in the expected state: the CAS fails and that aborts. */
START_TEST(test_gstatus_wrong_current_aborts)
{
	struct gmp_g g = {.goid = 5};
	atomic_store(&g.status, G_WAITING);
	int err = unit_quiet_stderr();
	gmp_casgstatus(&g, G_RUNNING, G_RUNNABLE);
	dprintf(err, "CAS running -> runnable on a waiting G was accepted\n");
	ck_abort_msg("CAS from the wrong status was accepted");
}
END_TEST

START_TEST(test_gstatus_wrong_current_message)
{
	char buf[2048];
	struct cas_args a = {.cur = G_WAITING, .from = G_RUNNING, .to = G_RUNNABLE, .goid = 77};
	int st = unit_crash(do_cas, &a, buf, sizeof buf);
	ck_assert_aborted(st);
	ck_assert_msg(strstr(buf, "gmp: fatal: G 77 status is waiting, expected running (-> runnable)") != NULL,
		      "stderr was: %s", buf);

	/* every wrong current status for every legal transition aborts */
	for (uint32_t f = 0; f < G_NSTATUS; f++)
		for (uint32_t t = 0; t < G_NSTATUS; t++)
			for (uint32_t cur = 0; cur < G_NSTATUS; cur++) {
				if (!legal[f][t] || cur == f)
					continue;
				a = (struct cas_args){.cur = cur, .from = f, .to = t, .goid = 1};
				st = unit_crash(do_cas, &a, buf, sizeof buf);
				ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
					      "status %u, CAS %u -> %u did not abort", cur, f, t);
				ck_assert_ptr_nonnull(strstr(buf, "gmp: fatal: G 1 status is "));
			}
}
END_TEST

START_TEST(test_gstatus_names)
{
	ck_assert_str_eq(gmp_gstatus_name(G_IDLE), "idle");
	ck_assert_str_eq(gmp_gstatus_name(G_RUNNABLE), "runnable");
	ck_assert_str_eq(gmp_gstatus_name(G_RUNNING), "running");
	ck_assert_str_eq(gmp_gstatus_name(G_SYSCALL), "syscall");
	ck_assert_str_eq(gmp_gstatus_name(G_WAITING), "waiting");
	ck_assert_str_eq(gmp_gstatus_name(G_DEAD), "dead");
	ck_assert_str_eq(gmp_gstatus_name(G_NSTATUS), "?");
	ck_assert_str_eq(gmp_gstatus_name(UINT32_MAX), "?");
}
END_TEST

/* ------------------------------------------------------------ global queue */

START_TEST(test_globrunq_put_batch)
{
	struct gmp_g *g = unit_newgs(10);
	struct gmp_g *gs[10], *out[16];
	for (int i = 0; i < 10; i++)
		gs[i] = &g[i];

	ck_assert_ptr_null(gmp_sched.runqhead);
	ck_assert_uint_eq(unit_glob(out, 16), 0);

	g[0].schedlink = &g[9]; /* stale link: the batch tail's schedlink is reset */
	unit_globput(gs, 1);
	ck_assert_ptr_eq(gmp_sched.runqhead, &g[0]);
	ck_assert_ptr_eq(gmp_sched.runqtail, &g[0]);
	ck_assert_ptr_null(g[0].schedlink);
	ck_assert_int_eq(unit_globsize(), 1);

	unit_globput(gs + 1, 5);
	g[9].schedlink = &g[0];
	unit_globput(gs + 6, 4);
	ck_assert_int_eq(unit_globsize(), 10);
	ck_assert_uint_eq(unit_glob(out, 16), 10);
	for (int i = 0; i < 10; i++)
		ck_assert_ptr_eq(out[i], &g[i]);
	ck_assert_ptr_null(g[9].schedlink);
}
END_TEST

START_TEST(test_globrunqget_empty)
{
	struct gmp_p *p = gmp_sched.allp[0];
	gmp_lock(&gmp_sched.lock);
	ck_assert_ptr_null(gmp_globrunqget(p, 0));
	ck_assert_ptr_null(gmp_globrunqget(p, 1));
	gmp_unlock(&gmp_sched.lock);
	ck_assert(gmp_runqempty(p));
}
END_TEST

/* n = min(size/nprocs + 1, size, max if > 0, 128) */
static const struct share {
	uint32_t nprocs;
	int size, max, want;
} shares[] = {
	{4, 100, 0, 26},  /* 100/4+1 */
	{4, 100, 10, 10}, /* max */
	{4, 100, 1, 1},   /* findrunnable's every-61st-tick check */
	{4, 100, 26, 26},
	{4, 100, 27, 26}, /* max above the share: the share */
	{1, 5, 0, 5},     /* 5/1+1 = 6 > size: all of it */
	{1, 1, 0, 1},
	{2, 1, 0, 1},
	{3, 2, 0, 1},     /* 2/3+1 */
	{1, 300, 0, 128}, /* capped at half a ring */
	{1, 300, 200, 128},
	{2, 256, 0, 128},
	{2, 254, 0, 128},
	{2, 252, 0, 127},
	{64, 1000, 0, 16},
	{4, 7, -1, 2},    /* negative max: no limit */
};

/* Loop test: one share case per iteration. */
START_TEST(test_globrunqget_share)
{
	const struct share *c = &shares[_i];
	unit_sched_init(c->nprocs);
	struct gmp_p *p = gmp_sched.allp[0];
	struct gmp_g *g = unit_newgs((size_t)c->size);
	struct gmp_g **gs = calloc((size_t)c->size, sizeof *gs);
	for (int i = 0; i < c->size; i++)
		gs[i] = &g[i];
	unit_globput(gs, c->size);

	gmp_lock(&gmp_sched.lock);
	struct gmp_g *got = gmp_globrunqget(p, c->max);
	gmp_unlock(&gmp_sched.lock);

	ck_assert_msg(got == &g[0], "nprocs %u size %d max %d: returned %p", c->nprocs, c->size, c->max,
		      (void *)got);
	/* the rest of the share is on the local ring, in order; nothing in runnext */
	struct gmp_g *ring[GMP_RUNQ_SIZE];
	uint32_t nr = unit_ring(p, ring, GMP_RUNQ_SIZE);
	ck_assert_msg(nr == (uint32_t)c->want - 1, "nprocs %u size %d max %d: took %u, want %d", c->nprocs, c->size,
		      c->max, nr + 1, c->want);
	for (uint32_t i = 0; i < nr; i++)
		ck_assert_ptr_eq(ring[i], &g[1 + i]);
	ck_assert_ptr_null(atomic_load(&p->runnext));
	/* what is left globally is the tail of the original order */
	int left = c->size - c->want;
	ck_assert_int_eq(unit_globsize(), left);
	struct gmp_g **out = calloc((size_t)c->size + 1, sizeof *out);
	ck_assert_uint_eq(unit_glob(out, (uint32_t)c->size + 1), (uint32_t)left);
	for (int i = 0; i < left; i++)
		ck_assert_ptr_eq(out[i], &g[c->want + i]);
	if (left == 0) {
		ck_assert_ptr_null(gmp_sched.runqhead);
		ck_assert_ptr_null(gmp_sched.runqtail);
	}
	/* the other Ps are untouched */
	for (uint32_t i = 1; i < c->nprocs; i++)
		ck_assert(gmp_runqempty(gmp_sched.allp[i]));
	free(out);
	free(gs);
}
END_TEST

/* Repeated takes drain the global queue in order, each one a fair share of what is left. */
START_TEST(test_globrunqget_drain_order)
{
	struct gmp_p *p = gmp_sched.allp[0];
	enum { NG = 1000 };
	struct gmp_g *g = unit_newgs(NG);
	struct gmp_g *gs[NG];
	for (int i = 0; i < NG; i++)
		gs[i] = &g[i];
	unit_globput(gs, NG);

	int next = 0, takes = 0;
	bool inherit;
	while (atomic_load(&gmp_sched.runqsize) > 0) {
		int size = atomic_load(&gmp_sched.runqsize);
		int want = size / 4 + 1;
		want = want > size ? size : want;
		want = want > 128 ? 128 : want;
		gmp_lock(&gmp_sched.lock);
		struct gmp_g *got = gmp_globrunqget(p, 0);
		gmp_unlock(&gmp_sched.lock);
		ck_assert_ptr_eq(got, &g[next++]);
		ck_assert_uint_eq(gmp_runqlen(p), (uint32_t)want - 1);
		struct gmp_g *x;
		while ((x = gmp_runqget(p, &inherit)) != NULL)
			ck_assert_ptr_eq(x, &g[next++]);
		ck_assert_int_eq(unit_globsize(), size - want);
		takes++;
	}
	ck_assert_int_eq(next, NG);
	ck_assert_int_gt(takes, 8);
	ck_assert_ptr_null(gmp_sched.runqhead);
	ck_assert_ptr_null(gmp_sched.runqtail);
}
END_TEST

/* ------------------------------------------------------------ idle Ps */

START_TEST(test_pidle_lifo)
{
	gmp_lock(&gmp_sched.lock);
	ck_assert_ptr_null(gmp_pidleget());
	for (uint32_t i = 0; i < 4; i++) {
		gmp_sched.allp[i]->m = (struct gmp_m *)(uintptr_t)0x1000; /* stale owner: cleared */
		gmp_pidleput(gmp_sched.allp[i]);
		ck_assert_uint_eq(unit_pstatus(gmp_sched.allp[i]), P_IDLE);
		ck_assert_ptr_null(gmp_sched.allp[i]->m);
		ck_assert_int_eq(atomic_load(&gmp_sched.npidle), (int)i + 1);
	}
	for (int i = 3; i >= 0; i--) {
		struct gmp_p *p = gmp_pidleget();
		ck_assert_ptr_eq(p, gmp_sched.allp[i]);
		ck_assert_uint_eq(unit_pstatus(p), P_RUNNING);
		ck_assert_int_eq(atomic_load(&gmp_sched.npidle), i);
	}
	ck_assert_ptr_null(gmp_pidleget());
	gmp_unlock(&gmp_sched.lock);
}
END_TEST

/*
 * At the GMP_MAXTHREADS cap a P may go idle with queued Gs; it keeps them,
 * and whoever takes it next (or steals from it) finds them.
 */
START_TEST(test_pidleput_keeps_work)
{
	struct gmp_g *g = unit_newgs(2);
	struct gmp_p *p = gmp_sched.allp[2];
	gmp_runqput(p, &g[0], true);
	gmp_runqput(p, &g[1], false);
	gmp_lock(&gmp_sched.lock);
	gmp_pidleput(p);
	ck_assert_int_eq(atomic_load(&p->status), P_IDLE);
	struct gmp_p *q = gmp_pidleget();
	gmp_unlock(&gmp_sched.lock);
	ck_assert_ptr_eq(q, p);
	bool inherit;
	ck_assert_ptr_eq(gmp_runqget(q, &inherit), &g[0]);
	ck_assert_ptr_eq(gmp_runqget(q, &inherit), &g[1]);
	ck_assert(gmp_runqempty(q));
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *sched_suite(void)
{
	Suite *s = suite_create("sched");
	build_illegal();

	tcase_add_test(tcase(s, "gstatus_legal"), test_gstatus_legal);
	tcase_add_test(tcase(s, "pstatus_table"), test_pstatus_table);
	tcase_add_test_raise_signal(tcase(s, "pstatus_illegal_aborts"), test_pstatus_illegal_aborts, SIGABRT);
	tcase_add_test_raise_signal(tcase(s, "pstatus_wrong_current_aborts"), test_pstatus_wrong_current_aborts,
				    SIGABRT);
	tcase_add_loop_test_raise_signal(tcase(s, "gstatus_illegal_aborts"), test_gstatus_illegal_aborts, SIGABRT, 0,
					 nillegal);
	tcase_add_test(tcase(s, "gstatus_illegal_message"), test_gstatus_illegal_message);
	tcase_add_test_raise_signal(tcase(s, "gstatus_wrong_current_aborts"), test_gstatus_wrong_current_aborts,
				    SIGABRT);
	tcase_add_test(tcase(s, "gstatus_wrong_current_message"), test_gstatus_wrong_current_message);
	tcase_add_test(tcase(s, "gstatus_names"), test_gstatus_names);

	tcase_add_test(tcase(s, "globrunq_put_batch"), test_globrunq_put_batch);
	tcase_add_test(tcase(s, "globrunqget_empty"), test_globrunqget_empty);
	tcase_add_loop_test(tcase(s, "globrunqget_share"), test_globrunqget_share, 0,
			    (int)(sizeof shares / sizeof shares[0]));
	tcase_add_test(tcase(s, "globrunqget_drain_order"), test_globrunqget_drain_order);

	tcase_add_test(tcase(s, "pidle_lifo"), test_pidle_lifo);
	tcase_add_test(tcase(s, "pidleput_keeps_work"), test_pidleput_keeps_work);
	return s;
}

int main(void) { return unit_run(sched_suite()); }
