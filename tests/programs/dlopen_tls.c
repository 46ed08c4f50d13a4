/* dlopen_tls: argv[1] is a module with an initial-exec __thread variable
 * initialised to 42 (tlsmod.c). Threads are created and blocked first; then
 * the module is dlopen'ed; then each existing thread, and threads created
 * afterwards, read 42 from their own copy, write their own value, block, and
 * read it back; no two threads share the variable. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define BEFORE 16
#define AFTER  8
#define ALL    (BEFORE + AFTER)

static int (*get)(void);
static void (*set)(int);
static int *(*addr)(void);
static const char *(*tag)(void);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int waiting, loaded;
static pthread_barrier_t all_set;
static int *addrs[ALL];
static int saw42[ALL], kept[ALL];

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (id < BEFORE) {
        pthread_mutex_lock(&lock);
        waiting++;
        pthread_cond_broadcast(&cond);
        while (!loaded)
            pthread_cond_wait(&cond, &lock);
        pthread_mutex_unlock(&lock);
    }
    saw42[id] = get() == 42 && strcmp(tag(), "tlsmod") == 0;
    addrs[id] = addr();
    set(1000 + id);
    int r = pthread_barrier_wait(&all_set);       /* everyone has written */
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    for (int i = 0; i < 5; i++) {
        if (i % 2)
            usleep(200);
        else
            sched_yield();
        CHECK(addr() == addrs[id]);
    }
    kept[id] = get() == 1000 + id;
    r = pthread_barrier_wait(&all_set);           /* all alive while main compares */
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: dlopen_tls PATH-TO-TLSMOD\n");
        return 2;
    }
    CHECK0(pthread_barrier_init(&all_set, NULL, ALL));
    pthread_t ts[ALL];
    for (int i = 0; i < BEFORE; i++)
        CHECK0(pthread_create(&ts[i], NULL, worker, (void *)(intptr_t)i));
    pthread_mutex_lock(&lock);
    while (waiting < BEFORE)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    printf("%d threads blocked before dlopen\n", BEFORE);

    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("FAIL dlopen: %s\n", dlerror());
        return 1;
    }
    *(void **)&get = dlsym(h, "tlsmod_get");
    *(void **)&set = dlsym(h, "tlsmod_set");
    *(void **)&addr = dlsym(h, "tlsmod_addr");
    *(void **)&tag = dlsym(h, "tlsmod_tag");
    CHECK(get && set && addr && tag);
    CHECK(get() == 42);
    set(7);

    pthread_mutex_lock(&lock);
    loaded = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int i = BEFORE; i < ALL; i++)
        CHECK0(pthread_create(&ts[i], NULL, worker, (void *)(intptr_t)i));
    for (int i = 0; i < ALL; i++)
        CHECK0(pthread_join(ts[i], NULL));

    int n42 = 0, n42_before = 0, nkept = 0, distinct = 1;
    for (int i = 0; i < ALL; i++) {
        n42 += saw42[i];
        if (i < BEFORE)
            n42_before += saw42[i];
        nkept += kept[i];
        for (int k = 0; k < i; k++)
            if (addrs[k] == addrs[i])
                distinct = 0;
        if (addrs[i] == addr())
            distinct = 0;
    }
    CHECK(get() == 7);
    printf("threads from before dlopen seeing 42: %d of %d\n", n42_before, BEFORE);
    printf("all threads seeing 42: %d of %d\n", n42, ALL);
    printf("own value kept after blocking: %d of %d\n", nkept, ALL);
    printf("copies distinct per thread: %s\n", distinct ? "yes" : "no");
    printf("main's copy kept: yes\n");
    CHECK(n42 == ALL && nkept == ALL && distinct);
    printf("ok\n");
    return 0;
}
