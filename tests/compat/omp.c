/*
 * An OpenMP program (gcc -fopenmp, libgomp): a parallel for with a
 * reduction, barriers between phases, a critical section, atomics, and
 * recursive tasks, ROUNDS times, with 8 threads per team (more than the
 * machine's CPUs, so threads wait in libgomp's barriers and locks).
 * Every figure is an exact integer that does not depend on the schedule;
 * each is checked against its closed form and printed on the RESULT line.
 *
 * Usage: omp [ROUNDS]
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 8
#define N 2000000

static uint64_t fib_tasks(int n)
{
	if (n < 2)
		return (uint64_t)n;
	if (n < 12) /* small subproblems: no task */
		return fib_tasks(n - 1) + fib_tasks(n - 2);
	uint64_t a, b;
#pragma omp task shared(a)
	a = fib_tasks(n - 1);
#pragma omp task shared(b)
	b = fib_tasks(n - 2);
#pragma omp taskwait
	return a + b;
}

static uint64_t fib_plain(int n)
{
	uint64_t a = 0, b = 1;
	for (int i = 0; i < n; i++) {
		uint64_t t = a + b;
		a = b;
		b = t;
	}
	return a;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	uint64_t sum_all = 0, crit_all = 0, atomic_all = 0, barrier_bad = 0, fib_all = 0;
	for (int r = 0; r < rounds; r++) {
		/* Reduction: sum of (i % 1000) * (r + 1) over i < N. */
		uint64_t sum = 0;
#pragma omp parallel for num_threads(THREADS) reduction(+ : sum) schedule(dynamic, 4096)
		for (long i = 0; i < N; i++)
			sum += (uint64_t)(i % 1000) * (uint64_t)(r + 1);
		sum_all += sum;

		/* Phases separated by barriers: each thread writes its slot, then
		 * reads its neighbour's, which must already hold this phase's value. */
		int slot[THREADS];
		uint64_t crit = 0, at = 0, bad = 0;
#pragma omp parallel num_threads(THREADS) reduction(+ : bad)
		{
			int me = omp_get_thread_num(), n = omp_get_num_threads();
			for (int phase = 1; phase <= 50; phase++) {
				slot[me] = phase;
#pragma omp barrier
				if (slot[(me + 1) % n] != phase)
					bad++;
#pragma omp barrier
#pragma omp critical
				crit += (uint64_t)me + 1;
#pragma omp atomic
				at += 2;
			}
		}
		crit_all += crit;
		atomic_all += at;
		barrier_bad += bad;

		/* Tasks: fib(24) through a tree of tasks. */
		uint64_t f = 0;
#pragma omp parallel num_threads(THREADS)
#pragma omp single
		f = fib_tasks(24);
		fib_all += f;
	}

	uint64_t per_round_sum = 0;
	for (long i = 0; i < N; i++)
		per_round_sum += (uint64_t)(i % 1000);
	uint64_t want_sum = per_round_sum * (uint64_t)rounds * (uint64_t)(rounds + 1) / 2;
	uint64_t want_crit = (uint64_t)rounds * 50 * THREADS * (THREADS + 1) / 2;
	uint64_t want_atomic = (uint64_t)rounds * 50 * THREADS * 2;
	uint64_t want_fib = (uint64_t)rounds * fib_plain(24);
	int ok = sum_all == want_sum && crit_all == want_crit && atomic_all == want_atomic &&
		 barrier_bad == 0 && fib_all == want_fib;
	printf("RESULT omp rounds=%d sum=%llu critical=%llu atomic=%llu barrier_errors=%llu fib=%llu %s\n",
	       rounds, (unsigned long long)sum_all, (unsigned long long)crit_all,
	       (unsigned long long)atomic_all, (unsigned long long)barrier_bad,
	       (unsigned long long)fib_all, ok ? "OK" : "FAIL");
	return ok ? 0 : 1;
}
