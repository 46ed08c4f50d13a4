/*
 * Unit tests of core/runq.c: the per-P local run queue (256-slot ring plus
 * runnext), its overflow into the global queue, stealing, and a concurrent
 * owner/thieves stress test with real pthreads.
 */
#include "unit.h"

#include <pthread.h>
#include <sched.h>

#define N GMP_RUNQ_SIZE

static struct gmp_p *P0, *P1;

static void setup(void)
{
	unit_sched_init(4);
	P0 = gmp_sched.allp[0];
	P1 = gmp_sched.allp[1];
}

static void teardown(void) {}

static inline struct gmp_g *runnext(struct gmp_p *p) { return atomic_load(&p->runnext); }

/* Start p's ring at an arbitrary counter value (the counters are free-running and wrap). */
static void set_ring_base(struct gmp_p *p, uint32_t base)
{
	atomic_store(&p->runqhead, base);
	atomic_store(&p->runqtail, base);
}

/* ------------------------------------------------------------ owner put/get */

START_TEST(test_put_get_fifo)
{
	struct gmp_g *g = unit_newgs(100);
	bool inherit = true;

	ck_assert_ptr_null(gmp_runqget(P0, &inherit));
	ck_assert(!inherit);
	for (int i = 0; i < 100; i++) {
		ck_assert(gmp_runqput(P0, &g[i], false));
		ck_assert_uint_eq(gmp_runqlen(P0), (uint32_t)i + 1);
	}
	ck_assert_ptr_null(runnext(P0));
	for (int i = 0; i < 100; i++) {
		inherit = true;
		ck_assert_ptr_eq(gmp_runqget(P0, &inherit), &g[i]);
		ck_assert_msg(!inherit, "a G from the ring must not inherit the time slice");
		ck_assert_uint_eq(gmp_runqlen(P0), 99u - (uint32_t)i);
	}
	ck_assert_ptr_null(gmp_runqget(P0, &inherit));
	ck_assert_uint_eq(unit_head(P0), 100);
	ck_assert_uint_eq(unit_tail(P0), 100);
	ck_assert_int_eq(unit_globsize(), 0);
}
END_TEST

/* The ring counters run freely and wrap at 2^32: order must survive the wrap. */
START_TEST(test_put_get_counter_wrap)
{
	struct gmp_g *g = unit_newgs(N);
	bool inherit;

	set_ring_base(P0, UINT32_MAX - 99);
	for (int i = 0; i < N; i++)
		ck_assert(gmp_runqput(P0, &g[i], false));
	ck_assert_uint_eq(gmp_runqlen(P0), N);
	ck_assert_uint_eq(unit_tail(P0), (uint32_t)(UINT32_MAX - 99 + N));
	for (int i = 0; i < N; i++)
		ck_assert_ptr_eq(gmp_runqget(P0, &inherit), &g[i]);
	ck_assert_ptr_null(gmp_runqget(P0, &inherit));
	ck_assert(gmp_runqempty(P0));
}
END_TEST

START_TEST(test_runnext_priority)
{
	struct gmp_g *g = unit_newgs(4);
	struct gmp_g *ring[N];
	bool inherit;

	ck_assert(gmp_runqput(P0, &g[0], false));
	ck_assert(gmp_runqput(P0, &g[1], true));
	ck_assert_ptr_eq(runnext(P0), &g[1]);
	ck_assert_uint_eq(unit_ring(P0, ring, N), 1);
	ck_assert_uint_eq(gmp_runqlen(P0), 2);

	/* a second "next" displaces g1 to the tail of the ring */
	ck_assert(gmp_runqput(P0, &g[2], true));
	ck_assert_ptr_eq(runnext(P0), &g[2]);
	ck_assert_uint_eq(unit_ring(P0, ring, N), 2);
	ck_assert_ptr_eq(ring[0], &g[0]);
	ck_assert_ptr_eq(ring[1], &g[1]);
	ck_assert(gmp_runqput(P0, &g[3], false));
	ck_assert_uint_eq(gmp_runqlen(P0), 4);

	inherit = false;
	ck_assert_ptr_eq(gmp_runqget(P0, &inherit), &g[2]);
	ck_assert_msg(inherit, "runnext inherits the time slice");
	ck_assert_ptr_null(runnext(P0));
	const int want[] = {0, 1, 3};
	for (int i = 0; i < 3; i++) {
		inherit = true;
		ck_assert_ptr_eq(gmp_runqget(P0, &inherit), &g[want[i]]);
		ck_assert(!inherit);
	}
	ck_assert_ptr_null(gmp_runqget(P0, &inherit));
	ck_assert(!inherit);
}
END_TEST

/* runnext alone, on an empty ring: still found first and with inherit set. */
START_TEST(test_runnext_only)
{
	struct gmp_g *g = unit_newgs(1);
	bool inherit = false;

	ck_assert(gmp_runqput(P0, &g[0], true));
	ck_assert_uint_eq(unit_tail(P0), 0);
	ck_assert_ptr_eq(gmp_runqget(P0, &inherit), &g[0]);
	ck_assert(inherit);
	ck_assert_ptr_null(gmp_runqget(P0, &inherit));
	ck_assert(!inherit);
}
END_TEST

/* ------------------------------------------------------------ overflow into the global queue */

static void check_overflow(struct gmp_g *g, int base, struct gmp_g *newg, uint32_t globstart)
{
	struct gmp_g *glob[2 * N + 4], *ring[N];
	uint32_t ng = unit_glob(glob, 2 * N + 4);

	/* one batch: the older half of the ring (in order), then the new G */
	ck_assert_uint_eq(ng, globstart + N / 2 + 1);
	ck_assert_int_eq(unit_globsize(), (int)ng);
	for (int i = 0; i < N / 2; i++)
		ck_assert_ptr_eq(glob[globstart + (uint32_t)i], &g[base + i]);
	ck_assert_ptr_eq(glob[globstart + N / 2], newg);
	ck_assert_ptr_null(newg->schedlink);

	/* the younger half stays local, in order */
	ck_assert_uint_eq(unit_ring(P0, ring, N), N / 2);
	for (int i = 0; i < N / 2; i++)
		ck_assert_ptr_eq(ring[i], &g[base + N / 2 + i]);
	ck_assert_uint_eq(unit_lockword(&gmp_sched.lock), 0); /* released */
}

START_TEST(test_full_ring_moves_half)
{
	struct gmp_g *g = unit_newgs(2 * N);

	for (int i = 0; i < N; i++)
		ck_assert(gmp_runqput(P0, &g[i], false));
	ck_assert_int_eq(unit_globsize(), 0);
	ck_assert_msg(!gmp_runqput(P0, &g[N], false), "a put on a full ring reports the move to the global queue");
	check_overflow(g, 0, &g[N], 0);
	ck_assert_uint_eq(gmp_runqlen(P0), N / 2);

	/* refill: the second overflow appends a second batch behind the first */
	for (int i = N + 1; i < N + 1 + N / 2; i++)
		ck_assert(gmp_runqput(P0, &g[i], false));
	ck_assert_uint_eq(gmp_runqlen(P0), N);
	ck_assert(!gmp_runqput(P0, &g[N + 1 + N / 2], false));
	/* ring was g[128..256) + g[257..385): the older half is g[128..256) */
	struct gmp_g *glob[2 * N + 4];
	ck_assert_uint_eq(unit_glob(glob, 2 * N + 4), 2 * (N / 2 + 1));
	for (int i = 0; i < N / 2; i++)
		ck_assert_ptr_eq(glob[N / 2 + 1 + i], &g[N / 2 + i]);
	ck_assert_ptr_eq(glob[N + 1], &g[N + 1 + N / 2]);
	struct gmp_g *ring[N];
	ck_assert_uint_eq(unit_ring(P0, ring, N), N / 2);
	for (int i = 0; i < N / 2; i++)
		ck_assert_ptr_eq(ring[i], &g[N + 1 + i]);
}
END_TEST

/* A "next" put on a full ring: the new G becomes runnext, the displaced one overflows. */
START_TEST(test_full_ring_runnext_displaced)
{
	struct gmp_g *g = unit_newgs(N + 2);

	ck_assert(gmp_runqput(P0, &g[N], true));
	for (int i = 0; i < N; i++)
		ck_assert(gmp_runqput(P0, &g[i], false));
	ck_assert_uint_eq(gmp_runqlen(P0), N + 1);
	ck_assert(!gmp_runqput(P0, &g[N + 1], true));
	ck_assert_ptr_eq(runnext(P0), &g[N + 1]);
	check_overflow(g, 0, &g[N], 0);
	ck_assert_uint_eq(gmp_runqlen(P0), N / 2 + 1);
}
END_TEST

/* Overflow with the ring straddling the counter wrap. */
START_TEST(test_full_ring_wrapped)
{
	struct gmp_g *g = unit_newgs(N + 1);

	set_ring_base(P0, UINT32_MAX - 10);
	for (int i = 0; i < N; i++)
		ck_assert(gmp_runqput(P0, &g[i], false));
	ck_assert(!gmp_runqput(P0, &g[N], false));
	check_overflow(g, 0, &g[N], 0);
}
END_TEST

/* ------------------------------------------------------------ stealing */

START_TEST(test_steal_half)
{
	static const uint32_t sizes[] = {1, 2, 3, 4, 5, 8, 127, 128, 129, 255, 256};
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		uint32_t n = sizes[s], k = n - n / 2; /* half, rounded up */
		struct gmp_p *v = unit_newp(10), *t = unit_newp(11);
		struct gmp_g *g = unit_newgs(n + 1);
		struct gmp_g *ring[N];

		set_ring_base(v, 1000u * (uint32_t)s);
		set_ring_base(t, UINT32_MAX - 3); /* the thief's ring wraps too */
		for (uint32_t i = 0; i < n; i++)
			ck_assert(gmp_runqput(v, &g[i], false));
		ck_assert(gmp_runqput(v, &g[n], true)); /* runnext: not taken while the ring has Gs */

		struct gmp_g *got = gmp_runqsteal(t, v, true);
		ck_assert_msg(got == &g[k - 1], "n=%u: stole %p, want g[%u]", n, (void *)got, k - 1);
		ck_assert_uint_eq(unit_ring(t, ring, N), k - 1);
		for (uint32_t i = 0; i + 1 < k; i++)
			ck_assert_ptr_eq(ring[i], &g[i]);
		ck_assert_uint_eq(unit_ring(v, ring, N), n - k);
		for (uint32_t i = 0; i < n - k; i++)
			ck_assert_ptr_eq(ring[i], &g[k + i]);
		ck_assert_ptr_eq(runnext(v), &g[n]);
		ck_assert_uint_eq(gmp_runqlen(v), n - k + 1);
		ck_assert_uint_eq(gmp_runqlen(t), k - 1);
		free(g);
		free(v);
		free(t);
	}
}
END_TEST

START_TEST(test_steal_runnext)
{
	struct gmp_g *g = unit_newgs(1);

	/* nothing at all */
	ck_assert_ptr_null(gmp_runqsteal(P1, P0, true));
	ck_assert_ptr_null(gmp_runqsteal(P1, P0, false));

	ck_assert(gmp_runqput(P0, &g[0], true));
	ck_assert_ptr_null(gmp_runqsteal(P1, P0, false));
	ck_assert_ptr_eq(runnext(P0), &g[0]);
	ck_assert(!gmp_runqempty(P0));

	ck_assert_ptr_eq(gmp_runqsteal(P1, P0, true), &g[0]);
	ck_assert_ptr_null(runnext(P0));
	ck_assert(gmp_runqempty(P0));
	ck_assert(gmp_runqempty(P1)); /* the stolen G is returned, not queued on the thief */
	ck_assert_uint_eq(unit_tail(P1), 0);
	ck_assert_ptr_null(gmp_runqsteal(P1, P0, true));
}
END_TEST

/* ------------------------------------------------------------ runqempty / runqlen */

START_TEST(test_empty_len)
{
	struct gmp_g *g = unit_newgs(3);
	bool inherit;

	ck_assert(gmp_runqempty(P0));
	ck_assert_uint_eq(gmp_runqlen(P0), 0);
	gmp_runqput(P0, &g[0], true);
	ck_assert(!gmp_runqempty(P0));
	ck_assert_uint_eq(gmp_runqlen(P0), 1);
	gmp_runqput(P0, &g[1], false);
	gmp_runqput(P0, &g[2], false);
	ck_assert_uint_eq(gmp_runqlen(P0), 3);
	ck_assert_ptr_eq(gmp_runqget(P0, &inherit), &g[0]); /* runnext gone, ring has two */
	ck_assert(!gmp_runqempty(P0));
	ck_assert_uint_eq(gmp_runqlen(P0), 2);
	ck_assert_ptr_eq(gmp_runqget(P0, &inherit), &g[1]);
	ck_assert_ptr_eq(gmp_runqget(P0, &inherit), &g[2]);
	ck_assert(gmp_runqempty(P0));
	ck_assert_uint_eq(gmp_runqlen(P0), 0);
	ck_assert(gmp_runqempty(P1));
}
END_TEST

/* ------------------------------------------------------------ concurrency */

#define MAXTHIEVES 3

struct conc {
	struct gmp_p *owner;
	struct gmp_p *thiefp[MAXTHIEVES];
	struct gmp_g *gs;
	size_t n;
	_Atomic uint32_t *seen;
	_Atomic int ready, go, done;
	_Atomic uint64_t bad;      /* Gs outside the array (torn or stale slot reads) */
	_Atomic uint64_t stolen;   /* Gs consumed by thieves */
	bool alwaysnext;           /* thieves always pass stealnext (else every other attempt) */
};

static void see(struct conc *c, struct gmp_g *g)
{
	if (g < c->gs || g >= c->gs + c->n) {
		atomic_fetch_add(&c->bad, 1);
		return;
	}
	atomic_fetch_add_explicit(&c->seen[g->index], 1, memory_order_relaxed);
}

struct thief {
	struct conc *c;
	int id;
};

static void *thief_main(void *arg)
{
	struct thief *th = arg;
	struct conc *c = th->c;
	struct gmp_p *p = c->thiefp[th->id];
	unsigned long iter = 0, idle = 0;
	bool inherit;

	atomic_fetch_add(&c->ready, 1);
	while (!atomic_load(&c->go))
		sched_yield();
	while (!atomic_load_explicit(&c->done, memory_order_acquire)) {
		bool stealnext = c->alwaysnext || (++iter & 1) != 0;
		struct gmp_g *g = gmp_runqsteal(p, c->owner, stealnext);
		if (!g) {
			if (++idle % 16 == 0)
				sched_yield();
			continue;
		}
		uint64_t k = 1;
		see(c, g);
		while ((g = gmp_runqget(p, &inherit)) != NULL) {
			see(c, g);
			k++;
		}
		atomic_fetch_add(&c->stolen, k);
		if (iter % 4 == 0)
			sched_yield(); /* give the other thieves a turn when we share a CPU */
	}
	return NULL;
}

static void drain_local(struct conc *c, struct gmp_p *p)
{
	bool inherit;
	struct gmp_g *g;
	while ((g = gmp_runqget(p, &inherit)) != NULL)
		see(c, g);
}

/* Stop the thieves, collect every G still queued anywhere, check each was seen exactly once. */
static int32_t finish(struct conc *c, int nthieves, pthread_t *tid)
{
	atomic_store_explicit(&c->done, 1, memory_order_release);
	for (int i = 0; i < nthieves; i++)
		ck_assert_int_eq(pthread_join(tid[i], NULL), 0);

	/* Everything left: the owner's P, the thieves' Ps, the global queue. */
	drain_local(c, c->owner);
	for (int i = 0; i < nthieves; i++) {
		ck_assert_msg(gmp_runqempty(c->thiefp[i]), "thief %d left Gs on its own P", i);
		drain_local(c, c->thiefp[i]);
	}
	int32_t gsize = atomic_load(&gmp_sched.runqsize);
	int32_t walked = 0;
	for (struct gmp_g *g = gmp_sched.runqhead; g; g = g->schedlink, walked++)
		see(c, g);
	ck_assert_int_eq(walked, gsize);

	ck_assert_uint_eq(atomic_load(&c->bad), 0);
	size_t lost = 0, dup = 0, firstbad = c->n;
	for (size_t i = 0; i < c->n; i++) {
		uint32_t s = atomic_load(&c->seen[i]);
		if (s == 0)
			lost++;
		if (s > 1)
			dup++;
		if (s != 1 && firstbad == c->n)
			firstbad = i;
	}
	ck_assert_msg(lost == 0 && dup == 0, "%zu Gs lost, %zu seen more than once (first: g[%zu]), %d thieves",
		      lost, dup, firstbad, nthieves);
	ck_assert_msg(atomic_load(&c->stolen) >= 1, "the thieves emptied the owner's P, so they stole");
	return gsize;
}

static void start_thieves(struct conc *c, int nthieves, pthread_t *tid, struct thief *th)
{
	for (int i = 0; i < nthieves; i++) {
		c->thiefp[i] = gmp_sched.allp[1 + i];
		th[i] = (struct thief){c, i};
		ck_assert_int_eq(pthread_create(&tid[i], NULL, thief_main, &th[i]), 0);
	}
	while (atomic_load(&c->ready) < nthieves) /* all thieves on a CPU before the owner starts */
		sched_yield();
	atomic_store(&c->go, 1);
}

/* Owner on the test's thread, _i + 1 thieves on their own pthreads and Ps. */
START_TEST(test_concurrent_steal)
{
	int nthieves = _i + 1;
	struct conc c = {.owner = P0};
	c.n = unit_scaled(300000);
	c.gs = unit_newgs(c.n);
	c.seen = calloc(c.n, sizeof *c.seen);
	ck_assert_ptr_nonnull(c.seen);
	pthread_t tid[MAXTHIEVES];
	struct thief th[MAXTHIEVES];
	start_thieves(&c, nthieves, tid, th);

	uint64_t rs = unit_seed() + (uint64_t)nthieves;
	size_t pushed = 0, final = c.n > 64 ? c.n - 64 : 0;
	unsigned long round = 0, overflows = 0;
	bool inherit;
	while (pushed < final) {
		size_t burst = 1 + unit_rand(&rs) % 300;
		for (size_t j = 0; j < burst && pushed < final; j++)
			if (!gmp_runqput(P0, &c.gs[pushed++], unit_rand(&rs) % 8 == 0))
				overflows++;
		/* "run" about as many as were made runnable, so the ring swings between empty and full */
		size_t pops = unit_rand(&rs) % (2 * burst + 1);
		for (size_t j = 0; j < pops; j++) {
			struct gmp_g *g = gmp_runqget(P0, &inherit);
			if (!g)
				break;
			see(&c, g);
			for (int k = 0; k < 8; k++)
				gmp_cpu_relax();
		}
		if (round % 4 == 0)
			sched_yield(); /* let thieves in even when they share this CPU */
		if (++round % 16 == 0) {
			/* empty the ring (so thieves may take runnext), then take a share of the global queue */
			drain_local(&c, P0);
			gmp_lock(&gmp_sched.lock);
			struct gmp_g *g = gmp_globrunqget(P0, 0);
			gmp_unlock(&gmp_sched.lock);
			if (g)
				see(&c, g);
		}
	}
	/*
	 * Leave the last Gs for the thieves alone: they must empty this P,
	 * ring and runnext (the last put is a "next" one, so at least one
	 * runnext steal happens).
	 */
	for (; pushed < c.n; pushed++)
		gmp_runqput(P0, &c.gs[pushed], pushed % 2 == 1 || pushed + 1 == c.n);
	while (!gmp_runqempty(P0))
		sched_yield();

	int32_t gsize = finish(&c, nthieves, tid);
	if (getenv("GMP_TEST_VERBOSE"))
		fprintf(stderr, "%d thieves: %zu Gs, %llu stolen, %lu overflows, %d left global\n", nthieves,
			c.n, (unsigned long long)atomic_load(&c.stolen), overflows, gsize);
	free(c.seen);
	free(c.gs);
}
END_TEST

/*
 * The runnext race: the owner makes one G runnable as "next" and takes it
 * back at once, while thieves that always pass stealnext CAS runnext away
 * on the (mostly empty) ring.  Exactly one side must get each G.
 */
START_TEST(test_concurrent_runnext)
{
	int nthieves = _i + 1;
	struct conc c = {.owner = P0, .alwaysnext = true};
	c.n = unit_scaled(200000);
	c.gs = unit_newgs(c.n);
	c.seen = calloc(c.n, sizeof *c.seen);
	ck_assert_ptr_nonnull(c.seen);
	pthread_t tid[MAXTHIEVES];
	struct thief th[MAXTHIEVES];
	start_thieves(&c, nthieves, tid, th);

	uint64_t rs = unit_seed() ^ (uint64_t)nthieves;
	bool inherit;
	for (size_t i = 0; i < c.n; i++) {
		gmp_runqput(P0, &c.gs[i], true);
		/* the last G is left to the thieves, so at least one steal is certain */
		if (i + 1 < c.n && unit_rand(&rs) % 4 != 0) {
			struct gmp_g *g = gmp_runqget(P0, &inherit);
			if (g)
				see(&c, g);
		}
		if (i % 64 == 0)
			sched_yield();
	}
	while (!gmp_runqempty(P0))
		sched_yield();
	finish(&c, nthieves, tid);
	if (getenv("GMP_TEST_VERBOSE"))
		fprintf(stderr, "runnext, %d thieves: %zu Gs, %llu stolen\n", nthieves, c.n,
			(unsigned long long)atomic_load(&c.stolen));
	free(c.seen);
	free(c.gs);
}
END_TEST

static Suite *runq_suite(void)
{
	Suite *s = suite_create("runq");
	struct {
		const char *name;
		const TTest *fn;
	} cases[] = {
		{"put_get_fifo", test_put_get_fifo},
		{"put_get_counter_wrap", test_put_get_counter_wrap},
		{"runnext_priority", test_runnext_priority},
		{"runnext_only", test_runnext_only},
		{"full_ring_moves_half", test_full_ring_moves_half},
		{"full_ring_runnext_displaced", test_full_ring_runnext_displaced},
		{"full_ring_wrapped", test_full_ring_wrapped},
		{"steal_half", test_steal_half},
		{"steal_runnext", test_steal_runnext},
		{"empty_len", test_empty_len},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 30);
		tcase_add_test(tc, cases[i].fn);
		suite_add_tcase(s, tc);
	}
	TCase *tc = tcase_create("concurrent_steal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60 * unit_scale());
	tcase_add_loop_test(tc, test_concurrent_steal, 0, MAXTHIEVES); /* 1, 2, 3 thieves */
	suite_add_tcase(s, tc);
	tc = tcase_create("concurrent_runnext");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60 * unit_scale());
	tcase_add_loop_test(tc, test_concurrent_runnext, 0, MAXTHIEVES);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(runq_suite()); }
