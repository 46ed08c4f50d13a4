#define _DEFAULT_SOURCE
/*
 * pthread_atfork handlers that block: the prepare handler locks a mutex
 * other threads keep taking (as an allocator's prepare locks its arenas),
 * so under gmp the forking thread parks inside fork and may come back on
 * another kernel thread.  Every fork must complete, the parent and child
 * handlers unlock it, and the child must be able to use the mutex and
 * create a thread.  Registrations from other threads while forks run must
 * all be kept (each adds a prepare handler that counts itself).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); exit(1); } } while (0)

static pthread_mutex_t arena = PTHREAD_MUTEX_INITIALIZER;
static atomic_int stop, prepared, registered;

static void prep(void) { CHECK(pthread_mutex_lock(&arena) == 0); }
static void unlock_arena(void) { CHECK(pthread_mutex_unlock(&arena) == 0); }
static void count(void) { atomic_fetch_add(&prepared, 1); }

static void *user(void *arg)
{
	while (!atomic_load(&stop)) {
		pthread_mutex_lock(&arena);
		for (volatile int i = 0; i < 20000; i++)
			;
		pthread_mutex_unlock(&arena);
		sched_yield();
	}
	return arg;
}

static void *registrar(void *arg)
{
	for (int i = 0; i < 20; i++) {
		CHECK(pthread_atfork(count, NULL, NULL) == 0);
		atomic_fetch_add(&registered, 1);
		usleep(200);
	}
	return arg;
}

static void *nothing(void *arg) { return arg; }

int main(int argc, char **argv)
{
	int forks = argc > 1 ? atoi(argv[1]) : 40;
	CHECK(pthread_atfork(prep, unlock_arena, unlock_arena) == 0);
	pthread_t u[4], r;
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&u[i], NULL, user, NULL) == 0);
	CHECK(pthread_create(&r, NULL, registrar, NULL) == 0);
	for (int i = 0; i < forks; i++) {
		int before = atomic_load(&registered);
		atomic_store(&prepared, 0);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			pthread_t t;
			int ok = pthread_mutex_lock(&arena) == 0 && pthread_mutex_unlock(&arena) == 0 &&
				 pthread_create(&t, NULL, nothing, NULL) == 0 && pthread_join(t, NULL) == 0;
			_exit(ok ? 0 : 3);
		}
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		/* every handler registered before this fork began ran in its prepare */
		CHECK(atomic_load(&prepared) >= before);
	}
	CHECK(pthread_join(r, NULL) == 0);
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		CHECK(pthread_join(u[i], NULL) == 0);
	printf("%d forks with blocking atfork handlers: all completed, %d registrations kept\n", forks,
	       atomic_load(&registered));
	return 0;
}
