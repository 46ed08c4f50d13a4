/*
 * White-box access to core/ for the unit tests (the role of Go's
 * export_test.go).  Tests link the static gmp_core library and poke at
 * gmp_sched, P and G structures directly; nothing here runs gmp_init, so
 * no thread is adopted and no M exists.
 *
 * Every test case runs in its own forked process (Check's fork mode,
 * forced by unit_run), so the global gmp_sched starts zeroed and a test may
 * leave it in any state.
 */
#ifndef GMP_TESTS_UNIT_H
#define GMP_TESTS_UNIT_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/runtime.h"

/* ------------------------------------------------------------ scale and randomness */

/* GMP_TEST_SCALE (a positive number, default 1) multiplies iteration counts. */
static inline double unit_scale(void)
{
	const char *s = getenv("GMP_TEST_SCALE");
	if (!s || !*s)
		return 1.0;
	double v = strtod(s, NULL);
	return v > 0 ? v : 1.0;
}

static inline unsigned long unit_scaled(unsigned long n)
{
	double v = (double)n * unit_scale();
	return v < 1 ? 1 : (unsigned long)v;
}

/* xorshift64*: deterministic, per caller state.  GMP_TEST_SEED overrides the default seed. */
static inline uint64_t unit_seed(void)
{
	const char *s = getenv("GMP_TEST_SEED");
	uint64_t v = s && *s ? strtoull(s, NULL, 0) : 0x9E3779B97F4A7C15ULL;
	return v ? v : 1;
}

static inline uint64_t unit_rand(uint64_t *st)
{
	uint64_t x = *st;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*st = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* ------------------------------------------------------------ a minimal scheduler */

/* A zeroed P with the runtime's alignment (the run queue is cache-line aligned). */
static inline struct gmp_p *unit_newp(uint32_t id)
{
	struct gmp_p *p = aligned_alloc(GMP_CACHELINE, (sizeof *p + GMP_CACHELINE - 1) & ~(size_t)(GMP_CACHELINE - 1));
	ck_assert_ptr_nonnull(p);
	memset(p, 0, sizeof *p);
	p->id = id;
	atomic_store(&p->status, P_RUNNING);
	return p;
}

/*
 * Set up gmp_sched as gmp_init would for the parts the run queues, the
 * global queue and the timers use: nprocs Ps, all P_RUNNING (owned by the
 * test), none idle, no M.  npidle stays 0, so gmp_wakep (called by
 * gmp_timer_add) returns at once.
 */
static inline void unit_sched_init(uint32_t nprocs)
{
	memset(&gmp_sched, 0, sizeof gmp_sched);
	gmp_sched.nprocs = nprocs;
	gmp_sched.maxthreads = 64;
	gmp_sched.stacksize = 1 << 20;
	gmp_sched.pid = getpid();
	gmp_sched.allp = calloc(nprocs, sizeof *gmp_sched.allp);
	ck_assert_ptr_nonnull(gmp_sched.allp);
	for (uint32_t i = 0; i < nprocs; i++)
		gmp_sched.allp[i] = unit_newp(i);
}

/* n zeroed Gs; g[i].index = i, goid = i + 1, status G_RUNNABLE (as queued Gs are). */
static inline struct gmp_g *unit_newgs(size_t n)
{
	struct gmp_g *g = calloc(n, sizeof *g);
	ck_assert_ptr_nonnull(g);
	for (size_t i = 0; i < n; i++) {
		g[i].index = (uint32_t)i;
		g[i].goid = i + 1;
		atomic_store(&g[i].status, G_RUNNABLE);
	}
	return g;
}

/* Plain reads of atomics, so Check's failure messages stay readable. */
static inline int32_t unit_globsize(void) { return atomic_load(&gmp_sched.runqsize); }
static inline uint32_t unit_lockword(gmp_lock_t *l) { return atomic_load(&l->v); }
static inline uint32_t unit_head(struct gmp_p *p) { return atomic_load(&p->runqhead); }
static inline uint32_t unit_tail(struct gmp_p *p) { return atomic_load(&p->runqtail); }
static inline uint32_t unit_pstatus(struct gmp_p *p) { return atomic_load(&p->status); }
static inline uint32_t unit_gstatus(struct gmp_g *g) { return atomic_load(&g->status); }

/* Local ring contents of p from head to tail (not runnext), without consuming them. */
static inline uint32_t unit_ring(struct gmp_p *p, struct gmp_g **out, uint32_t max)
{
	uint32_t h = atomic_load(&p->runqhead), t = atomic_load(&p->runqtail), n = 0;
	for (uint32_t i = h; i != t && n < max; i++)
		out[n++] = atomic_load(&p->runq[i % GMP_RUNQ_SIZE]);
	return n;
}

/* Walk the global queue without consuming it; checks the tail pointer on the way. */
static inline uint32_t unit_glob(struct gmp_g **out, uint32_t max)
{
	uint32_t n = 0;
	struct gmp_g *last = NULL;
	for (struct gmp_g *g = gmp_sched.runqhead; g; g = g->schedlink) {
		ck_assert_uint_lt(n, max);
		out[n++] = g;
		last = g;
	}
	ck_assert_ptr_eq(gmp_sched.runqtail, last);
	return n;
}

/* Link gs[0..n) through schedlink and append them to the global queue (lock taken here). */
static inline void unit_globput(struct gmp_g **gs, int n)
{
	for (int i = 0; i + 1 < n; i++)
		gs[i]->schedlink = gs[i + 1];
	gmp_lock(&gmp_sched.lock);
	gmp_globrunqput_batch(gs[0], gs[n - 1], n);
	gmp_unlock(&gmp_sched.lock);
}

/* ------------------------------------------------------------ crash checks */

/*
 * In a test that is expected to abort, send the runtime's fatal message to
 * /dev/null (the _message tests check its text through unit_crash).
 * Returns a duplicate of the old stderr, for saying what went wrong when
 * the abort does not come (Check reports only "early exit" then).
 */
static inline int unit_quiet_stderr(void)
{
	int saved = dup(2);
	int fd = open("/dev/null", O_WRONLY);
	ck_assert_int_ge(fd, 0);
	dup2(fd, 2);
	close(fd);
	return saved;
}

/*
 * Run fn(arg) in a child process whose stderr goes to a pipe, the way the
 * behaviour tests run a crashing program.  Returns the raw wait status and
 * copies what the child wrote to stderr into buf (NUL-terminated).
 */
static inline int unit_crash(void (*fn)(void *), void *arg, char *buf, size_t len)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], 2);
		signal(SIGABRT, SIG_DFL);
		fn(arg);
		_exit(0); /* fn returned: no crash */
	}
	close(pfd[1]);
	size_t off = 0;
	for (;;) {
		ssize_t r = read(pfd[0], buf + off, len - 1 - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
		if (off == len - 1) {
			char sink[256]; /* keep draining so the child never blocks on a full pipe */
			ssize_t d;
			while ((d = read(pfd[0], sink, sizeof sink)) > 0 || (d < 0 && errno == EINTR))
				;
			break;
		}
	}
	buf[off] = '\0';
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return st;
}

#define ck_assert_aborted(st)                                                   \
	do {                                                                    \
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,       \
			      "child did not abort (wait status %#x)", (st));   \
	} while (0)

/* ------------------------------------------------------------ running a suite */

/* A test case of s with its own fixture and a 30 s timeout, one behaviour per case. */
static inline TCase *unit_tcase(Suite *s, const char *name, void (*setup)(void), void (*teardown)(void))
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return tc;
}

/* One test function in a case of its own, named after it: UNIT_TEST(s, name) runs test_name. */
#define UNIT_TEST(s, name) tcase_add_test(unit_tcase((s), #name, setup, teardown), test_##name)

static inline int unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK); /* a crash fails one test, and the abort tests need it */
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
