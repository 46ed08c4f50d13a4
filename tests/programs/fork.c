/* fork: fork from a thread while other threads run malloc/free and block;
 * pthread_atfork handlers run in the documented order (prepare in reverse
 * order of registration, parent and child in order); in the child only the
 * forking thread exists, it keeps its pthread_self and __thread values, can
 * malloc, create and join threads, and lock a mutex that was free at the
 * fork; the parent reaps the child's status. Also system() and popen() from
 * a thread. The child prints only while the parent waits for it. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define CHURNERS 2
#define BLOCKERS 4

static char order[128];
static void add(const char *s) { strncat(order, s, sizeof order - strlen(order) - 1); }
static void prep1(void) { add("prepare1 "); }
static void prep2(void) { add("prepare2 "); }
static void parent1(void) { add("parent1 "); }
static void parent2(void) { add("parent2 "); }
static void child1(void) { add("child1 "); }
static void child2(void) { add("child2 "); }

static volatile int stop;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int started;
static __thread int tls_value = 5;

static void *churner(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    started++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    unsigned n = 0;
    while (!stop) {
        void *p[8];
        for (int i = 0; i < 8; i++)
            p[i] = malloc(16 + (n++ % 4000));
        for (int i = 0; i < 8; i++)
            free(p[i]);
        if (n % 4096 == 0)
            usleep(100);             /* leave the CPUs to the others now and then */
    }
    return NULL;
}

static void *blocker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    started++;
    pthread_cond_broadcast(&cond);
    while (!stop)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *child_thread(void *arg)
{
    return (void *)((intptr_t)arg * 2);
}

/* Runs in the child; returns the exit status. */
static int child_main(pthread_t forker)
{
    int bad = 0;
    if (strcmp(order, "prepare2 prepare1 child1 child2 ") != 0) bad |= 1;
    if (!pthread_equal(pthread_self(), forker)) bad |= 2;
    if (tls_value != 77) bad |= 4;
    void *p = malloc(100000);
    if (!p) bad |= 8;
    free(p);
    if (pthread_mutex_lock(&lock) != 0) bad |= 16;   /* free at the fork */
    pthread_mutex_unlock(&lock);
    long sum = 0;
    for (intptr_t i = 0; i < 5; i++) {
        pthread_t t;
        void *ret;
        if (pthread_create(&t, NULL, child_thread, (void *)i) || pthread_join(t, &ret))
            bad |= 32;
        else
            sum += (intptr_t)ret;
    }
    if (sum != 20) bad |= 64;
    printf("child: atfork order %s| forker is pthread_self: %s, tls kept: %s, threads work: %s\n",
           order, bad & 2 ? "no" : "yes", bad & 4 ? "no" : "yes", bad & 96 ? "no" : "yes");
    fflush(stdout);
    return bad ? 100 + bad : 42;
}

static void *forker(void *arg)
{
    (void)arg;
    tls_value = 77;
    pthread_t self = pthread_self();
    for (int round = 0; round < 3; round++) {
        order[0] = '\0';
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(child_main(self));
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK(WIFEXITED(st));
        printf("parent: round %d, atfork order %s| child exit status %d\n",
               round, order, WEXITSTATUS(st));
        CHECK(strcmp(order, "prepare2 prepare1 parent1 parent2 ") == 0);
        CHECK(WEXITSTATUS(st) == 42);
    }
    return NULL;
}

static void *run_system(void *arg)
{
    (void)arg;
    fflush(stdout);
    int st = system("exit 5");
    return (void *)(intptr_t)(WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void *run_popen(void *arg)
{
    (void)arg;
    FILE *p = popen("echo from-popen; echo second-line", "r");
    CHECK(p != NULL);
    char buf[64];
    int lines = 0, good = 0;
    while (fgets(buf, sizeof buf, p)) {
        lines++;
        good += strcmp(buf, lines == 1 ? "from-popen\n" : "second-line\n") == 0;
    }
    int st = pclose(p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return (void *)(intptr_t)(lines == 2 && good == 2);
}

int main(void)
{
    CHECK0(pthread_atfork(prep1, parent1, child1));
    CHECK0(pthread_atfork(prep2, parent2, child2));

    pthread_t bg[CHURNERS + BLOCKERS], t;
    for (int i = 0; i < CHURNERS; i++)
        CHECK0(pthread_create(&bg[i], NULL, churner, NULL));
    for (int i = 0; i < BLOCKERS; i++)
        CHECK0(pthread_create(&bg[CHURNERS + i], NULL, blocker, NULL));
    pthread_mutex_lock(&lock);
    while (started < CHURNERS + BLOCKERS)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    CHECK0(pthread_create(&t, NULL, forker, NULL));
    CHECK0(pthread_join(t, NULL));

    /* fork from main as well */
    order[0] = '\0';
    tls_value = 77;
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(child_main(pthread_self()));
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    printf("parent: fork from main, child exit status %d\n", WEXITSTATUS(st));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42);

    void *ret;
    CHECK0(pthread_create(&t, NULL, run_system, NULL));
    CHECK0(pthread_join(t, &ret));
    printf("system(\"exit 5\") from a thread: %ld\n", (long)(intptr_t)ret);
    CHECK(ret == (void *)5);
    CHECK0(pthread_create(&t, NULL, run_popen, NULL));
    CHECK0(pthread_join(t, &ret));
    printf("popen from a thread read its output: %s\n", ret ? "yes" : "no");
    CHECK(ret == (void *)1);

    pthread_mutex_lock(&lock);
    stop = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < CHURNERS + BLOCKERS; i++)
        CHECK0(pthread_join(bg[i], NULL));
    printf("ok\n");
    return 0;
}
