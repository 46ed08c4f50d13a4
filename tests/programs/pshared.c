/* Process-shared objects in a shared mapping, used across fork by threads of
 * both processes: a pshared mutex guarding a counter, a pshared condvar,
 * a pshared barrier, an unnamed pshared semaphore, and a named semaphore. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)
#define T 4
#define N 2000

struct shared {
    pthread_mutex_t m;
    pthread_cond_t c;
    pthread_barrier_t b;
    sem_t s;
    long counter;
    int turn;
};
static struct shared *sh;

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++) {
        CHECK(pthread_mutex_lock(&sh->m) == 0);
        sh->counter++;
        CHECK(pthread_mutex_unlock(&sh->m) == 0);
    }
    int r = pthread_barrier_wait(&sh->b);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    return NULL;
}

static void run_adders(void)
{
    pthread_t t[T];
    for (int i = 0; i < T; i++)
        CHECK(pthread_create(&t[i], NULL, adder, NULL) == 0);
    for (int i = 0; i < T; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
}

/* ping-pong on the shared condvar: parent waits for odd turns, child for even */
static void pingpong(int me, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        CHECK(pthread_mutex_lock(&sh->m) == 0);
        while (sh->turn % 2 != me)
            CHECK(pthread_cond_wait(&sh->c, &sh->m) == 0);
        sh->turn++;
        CHECK(pthread_cond_broadcast(&sh->c) == 0);
        CHECK(pthread_mutex_unlock(&sh->m) == 0);
    }
}

int main(void)
{
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_mutex_init(&sh->m, &ma) == 0);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_cond_init(&sh->c, &ca) == 0);
    pthread_barrierattr_t ba;
    pthread_barrierattr_init(&ba);
    pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_barrier_init(&sh->b, &ba, 2 * T) == 0);
    CHECK(sem_init(&sh->s, 1, 0) == 0);
    char name[64];
    snprintf(name, sizeof name, "/gmp-pshared-%d", getpid());
    sem_t *named = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    CHECK(named != SEM_FAILED);

    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        run_adders();
        pingpong(0, 200);
        for (int i = 0; i < 50; i++)
            CHECK(sem_post(&sh->s) == 0);
        sem_t *n2 = sem_open(name, 0);
        CHECK(n2 != SEM_FAILED);
        for (int i = 0; i < 50; i++)
            CHECK(sem_post(n2) == 0);
        _exit(0);
    }
    run_adders();
    pingpong(1, 200);
    for (int i = 0; i < 50; i++)
        CHECK(sem_wait(&sh->s) == 0);
    for (int i = 0; i < 50; i++)
        CHECK(sem_wait(named) == 0);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(sh->counter == 2L * T * N);
    CHECK(sh->turn == 400);
    sem_close(named);
    sem_unlink(name);
    printf("pshared: counter %ld across two processes, %d condvar turns, barrier of %d, 50+50 semaphore posts\nok\n",
           sh->counter, sh->turn, 2 * T);
    return 0;
}
