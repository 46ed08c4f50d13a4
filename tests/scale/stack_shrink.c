/* stack_shrink: a thread that once used 1 MiB of stack and then blocks
 * gives that memory back.  The thread fills 1 MiB of stack (16 nested
 * frames of 64 KiB), returns from it and waits on a condition variable;
 * main reads its own RSS and waits, up to 10 s, for it to drop by at least
 * 768 KiB (gmp's sysmon shrinks stacks of threads parked for longer than
 * GMP_STACKSHRINK ms, default 1000).  Then the thread is released, uses
 * the same stack depth again (the pages come back, zeroed), and checks
 * what it wrote.  Also: a few hundred threads that stay shallow, parked
 * all along, must still run and return the right values.  Under gmp only:
 * NPTL does not shrink stacks. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FRAME (64 * 1024)
#define DEPTH 16
#define SHALLOW 300

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int deep_done, go, waiting;

static long rss_kb(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = atol(line + 6);
	if (f)
		fclose(f);
	return v;
}

/* Fills FRAME bytes per level with a pattern, recurses, then checks them. */
static __attribute__((noinline)) long deep(int level, unsigned seed)
{
	volatile unsigned char buf[FRAME];
	for (size_t i = 0; i < FRAME; i += 512)
		buf[i] = (unsigned char)(seed + level + i / 512);
	long r = level + 1 < DEPTH ? deep(level + 1, seed) : 0;
	for (size_t i = 0; i < FRAME; i += 512)
		if (buf[i] != (unsigned char)(seed + level + i / 512))
			return -1000000;
	return r < 0 ? r : r + 1;
}

static void wait_go(void)
{
	pthread_mutex_lock(&lock);
	waiting++;
	pthread_cond_broadcast(&cond);
	while (!go)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static void *deep_thread(void *arg)
{
	(void)arg;
	long a = deep(0, 7);
	pthread_mutex_lock(&lock);
	deep_done = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	wait_go();
	long b = deep(0, 99);
	return (void *)(intptr_t)(a == DEPTH && b == DEPTH);
}

static void *shallow_thread(void *arg)
{
	wait_go();
	return arg;
}

int main(void)
{
	pthread_t t, s[SHALLOW];
	for (long i = 0; i < SHALLOW; i++)
		if (pthread_create(&s[i], NULL, shallow_thread, (void *)(intptr_t)i)) {
			printf("FAIL create\n");
			return 1;
		}
	if (pthread_create(&t, NULL, deep_thread, NULL)) {
		printf("FAIL create\n");
		return 1;
	}
	pthread_mutex_lock(&lock);
	while (!deep_done || waiting < SHALLOW + 1)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	long before = rss_kb(), now = before;
	int tenths = 0;
	while (now > before - 768 && tenths < 100) {
		usleep(100000);
		tenths++;
		now = rss_kb();
	}
	int shrunk = now <= before - 768;
	printf("stack_shrink: RSS %ld kB with the deep thread parked, %ld kB %.1f s later: %s\n", before, now,
	       tenths / 10.0, shrunk ? "given back" : "NOT given back");
	pthread_mutex_lock(&lock);
	go = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	void *r;
	pthread_join(t, &r);
	int bad = 0;
	for (long i = 0; i < SHALLOW; i++) {
		void *v;
		pthread_join(s[i], &v);
		bad += (intptr_t)v != i;
	}
	printf("deep thread after the shrink: %s; shallow threads with wrong results: %d\n", r ? "ok" : "FAIL", bad);
	return !(shrunk && r && bad == 0);
}
