/* Starting programs from threads while other threads run: posix_spawn,
 * vfork + exec, fork + exec, popen and system, several threads at once,
 * each checking the child's output and exit status; a thread blocked in
 * waitpid does not hold up a thread that keeps doing work. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); fflush(stdout); _exit(1); } } while (0)

extern char **environ;

static int status_of(pid_t pid)
{
    int st;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) == -1 && errno == EINTR)
        ;
    CHECK(r == pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int by_posix_spawn(int i)
{
    char code[16];
    snprintf(code, sizeof code, "exit %d", i % 7);
    char *argv[] = {"sh", "-c", code, NULL};
    pid_t pid;
    CHECK(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0);
    return status_of(pid) == i % 7;
}

static int by_vfork(int i)
{
    char code[16];
    snprintf(code, sizeof code, "exit %d", i % 5);
    pid_t pid = vfork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", code, (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0);
    return status_of(pid) == i % 5;
}

static int by_fork_exec(int i)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        char n[16];
        snprintf(n, sizeof n, "%d", i);
        execl("/bin/echo", "echo", n, (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0);
    close(fds[1]);
    char buf[32] = "";
    ssize_t k, got = 0;
    while ((k = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += k;
    close(fds[0]);
    return status_of(pid) == 0 && atoi(buf) == i;
}

static int by_popen(int i)
{
    char cmd[32];
    snprintf(cmd, sizeof cmd, "echo %d", i * 3);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    int v = -1;
    CHECK(fscanf(f, "%d", &v) == 1);
    return pclose(f) == 0 && v == i * 3;
}

static int by_system(int i)
{
    char cmd[32];
    snprintf(cmd, sizeof cmd, "exit %d", i % 3);
    int st = system(cmd);
    return WIFEXITED(st) && WEXITSTATUS(st) == i % 3;
}

static int (*const ways[])(int) = {by_posix_spawn, by_vfork, by_fork_exec, by_popen, by_system};
static const char *const names[] = {"posix_spawn", "vfork+exec", "fork+exec", "popen", "system"};
#define NWAYS 5
#define PER 6

static atomic_int ok[NWAYS];
static atomic_long work;
static atomic_int done;

static void *spawner(void *arg)
{
    int w = (int)(long)arg;
    for (int i = 0; i < PER; i++)
        if (ways[w](i))
            atomic_fetch_add(&ok[w], 1);
    return NULL;
}

/* keeps working while the others wait for their children */
static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    while (!atomic_load(&done)) {
        pthread_mutex_lock(&m);
        atomic_fetch_add(&work, 1);
        pthread_mutex_unlock(&m);
        usleep(100);
    }
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t t[NWAYS], w;
    CHECK(pthread_create(&w, NULL, worker, NULL) == 0);
    for (long i = 0; i < NWAYS; i++)
        CHECK(pthread_create(&t[i], NULL, spawner, (void *)i) == 0);
    for (int i = 0; i < NWAYS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    atomic_store(&done, 1);
    CHECK(pthread_join(w, NULL) == 0);
    for (int i = 0; i < NWAYS; i++)
        printf("%s from a thread: %d of %d right\n", names[i], atomic_load(&ok[i]), PER);
    printf("the worker kept working meanwhile: %s\n", atomic_load(&work) > 10 ? "yes" : "no");
    return 0;
}
