/*
 * A program run with a replacement allocator (jemalloc, tcmalloc,
 * mimalloc: linked in, or preloaded).  Such allocators call
 * pthread_setspecific, pthread_mutex_* and pthread_atfork from inside their
 * first malloc and take all their locks in a fork handler, so this checks
 * that nothing of the thread library calls back into the allocator there
 * and that fork keeps working: malloc, fork from main (the child exits 7),
 * threads that use keys with destructors and malloc/free, fork from a
 * thread, posix_spawn.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static pthread_key_t key;
static int destroyed;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void dtor(void *p)
{
	free(p);
	pthread_mutex_lock(&mu);
	destroyed++;
	pthread_mutex_unlock(&mu);
}

static int fork_child_exit(int code)
{
	pid_t c = fork();
	if (c == 0) {
		void *p = malloc(64); /* the child's allocator works */
		_exit(p ? code : 1);
	}
	if (c < 0)
		return -1;
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void *worker(void *arg)
{
	long id = (long)arg;
	char *buf = malloc(1000 + id);
	memset(buf, (int)id, 1000 + id);
	pthread_setspecific(key, malloc(32));
	for (int i = 0; i < 200; i++) {
		void *p = malloc((size_t)(16 + (i * 37 + id) % 4000));
		free(p);
	}
	int r = id == 3 ? fork_child_exit(9) : 0; /* one thread forks too */
	free(buf);
	return (void *)(long)r;
}

int main(void)
{
	void *p = malloc(100);
	printf("fork from main: child exit %d\n", fork_child_exit(7));
	free(p);
	pthread_key_create(&key, dtor);
	pthread_t t[8];
	for (long i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	int forked = 0;
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(t[i], &r);
		if (i == 3)
			forked = (int)(long)r;
	}
	printf("8 threads with keys: %d destructors ran; fork from a thread: child exit %d\n", destroyed, forked);
	pid_t pid;
	char *argv[] = {"sh", "-c", "exit 5", NULL};
	int st = -1;
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0)
		waitpid(pid, &st, 0);
	printf("posix_spawn: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
