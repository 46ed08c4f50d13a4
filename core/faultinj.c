/*
 * Fault injection: the counter behind GMP_FAULT(point) (see faultinj.h for
 * the environment and the list of points).  Built only with
 * -Dfaultinj=true; otherwise this file is empty.
 *
 * Every point passed takes one number from a global counter (and one from
 * its own), so "the Nth point" is well defined for a single-threaded run
 * and close to it for a run whose Ms race: a test that walks N = 1..K
 * covers every point the program reaches, whatever the interleaving.
 *
 * May run on g0 (newm, timer heaps): no TLS, no errno, no malloc, no
 * stdio.  The environment is read with getenv, which touches none of them,
 * and numbers are parsed and printed by hand.
 */
#include "runtime.h"

#ifdef GMP_FAULTINJ

#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

static const char *const names[GMP_FP_N] = {
#define GMP_FAULT_NAME(name) #name,
	GMP_FAULT_POINTS(GMP_FAULT_NAME)
#undef GMP_FAULT_NAME
};

static _Atomic int state;        /* 0 environment not read, 1 being read, 2 ready */
static uint64_t fail_at;          /* the pass that fails, 0: none; immutable once state is 2 */
static int fail_point = -1;       /* -1: fail_at counts all points; else that point's passes */
static bool report;
static _Atomic uint64_t passes;
static _Atomic uint64_t point_passes[GMP_FP_N];

/* Unsigned decimal; false if s is not one. */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* Point names are matched without regard to case: "stack_mmap" is STACK_MMAP. */
static int point_by_name(const char *s, size_t len)
{
	for (int i = 0; i < GMP_FP_N; i++) {
		if (strlen(names[i]) != len)
			continue;
		size_t k = 0;
		while (k < len && (s[k] == names[i][k] || s[k] == names[i][k] + ('a' - 'A')))
			k++;
		if (k == len)
			return i;
	}
	return -2;
}

static void read_env(void)
{
	const char *e = getenv("GMP_FAULT");
	const char *r = getenv("GMP_FAULT_REPORT");
	report = r && *r && *r != '0';
	if (!e || !*e)
		return;
	const char *colon = strchr(e, ':');
	bool ok;
	if (colon) {
		fail_point = point_by_name(e, (size_t)(colon - e));
		ok = fail_point >= 0 && parse_u64(colon + 1, &fail_at);
	} else {
		ok = parse_u64(e, &fail_at);
	}
	if (!ok) {
		gmp_printf("gmp: faultinj: ignoring GMP_FAULT=%s (want N or POINT:N)\n", e);
		fail_at = 0;
		fail_point = -1;
	}
}

/* Into buf (at least 24 bytes), without stdio; returns the length. */
static size_t fmt_u64(char *buf, uint64_t v)
{
	char t[24];
	size_t n = 0, k = 0;
	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		buf[k++] = t[--n];
	return k;
}

static void say(const char *parts[], int nparts)
{
	char buf[256];
	size_t n = 0;
	for (int i = 0; i < nparts; i++)
		for (const char *s = parts[i]; *s && n < sizeof buf - 1; s++)
			buf[n++] = *s;
	buf[n++] = '\n';
	gmp_sys3(SYS_write, 2, buf, n);
}

static void announce(uint64_t nth, enum gmp_fault_point pt)
{
	char num[24];
	num[fmt_u64(num, nth)] = 0;
	char lower[32];
	size_t i = 0;
	for (const char *s = names[pt]; *s && i < sizeof lower - 1; s++)
		lower[i++] = (*s >= 'A' && *s <= 'Z') ? (char)(*s + ('a' - 'A')) : *s;
	lower[i] = 0;
	const char *parts[] = {"gmp: faultinj: failing point ", num, " (", lower, ")",
			       atomic_load(&gmp_inited) == 2 ? "" : " at start-up"};
	say(parts, 6);
}

static void ensure_env(void)
{
	if (GMP_LIKELY(atomic_load_explicit(&state, memory_order_acquire) == 2))
		return;
	int z = 0;
	if (atomic_compare_exchange_strong(&state, &z, 1)) {
		read_env();
		atomic_store_explicit(&state, 2, memory_order_release);
	} else {
		while (atomic_load_explicit(&state, memory_order_acquire) != 2)
			gmp_cpu_relax();
	}
}

bool gmp_fault_hit(enum gmp_fault_point pt)
{
	ensure_env();
	uint64_t all = atomic_fetch_add_explicit(&passes, 1, memory_order_relaxed) + 1;
	uint64_t mine = atomic_fetch_add_explicit(&point_passes[pt], 1, memory_order_relaxed) + 1;
	uint64_t nth = fail_point < 0 ? all : (fail_point == (int)pt ? mine : 0);
	if (fail_at == 0 || nth != fail_at)
		return false;
	announce(nth, pt);
	return true;
}

/* GMP_FAULT_REPORT=1: how many points this process passed, in all and per point. */
__attribute__((destructor)) static void fault_report(void)
{
	ensure_env();
	if (!report)
		return;
	char num[24];
	num[fmt_u64(num, atomic_load(&passes))] = 0;
	const char *parts[] = {"gmp: faultinj: ", num, " points"};
	say(parts, 3);
	for (int i = 0; i < GMP_FP_N; i++) {
		uint64_t c = atomic_load(&point_passes[i]);
		if (!c)
			continue;
		num[fmt_u64(num, c)] = 0;
		const char *line[] = {"gmp: faultinj:   ", names[i], " ", num};
		say(line, 4);
	}
}

#endif
