/*
 * measure: run a command and report what it cost the kernel, counted the
 * same way on any machine.
 *
 *   measure CMD [ARG...]
 *
 * Runs CMD as a child, waits for it with wait4(), and prints on stderr
 *
 *     MEASURE cpu_s=<user+system> user_s=<u> sys_s=<s> vcsw=<n> ivcsw=<n>
 *
 * where vcsw counts the voluntary context switches of every thread CMD
 * ever had (each is a sleep in the kernel: a futex wait, a blocking read,
 * an idle kernel thread parking) and ivcsw the involuntary ones (time
 * slices taken away).  Exits with CMD's status (128+N if a signal N ended
 * it).  scripts/bench divides these by the operation count each benchmark
 * prints (bench_ops in bench.h).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static double secs(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: measure CMD [ARG...]\n");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("measure: fork");
		return 126;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		fprintf(stderr, "measure: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	/* A kill of this process (a harness timeout) ends the child too. */
	signal(SIGTERM, SIG_IGN);
	int st;
	struct rusage ru;
	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("measure: wait4");
			return 126;
		}
	fprintf(stderr, "MEASURE cpu_s=%.6f user_s=%.6f sys_s=%.6f vcsw=%ld ivcsw=%ld\n",
		secs(ru.ru_utime) + secs(ru.ru_stime), secs(ru.ru_utime), secs(ru.ru_stime), ru.ru_nvcsw,
		ru.ru_nivcsw);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
