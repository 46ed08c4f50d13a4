/* limits_prog MAX [STACK_KIB]: create up to MAX threads that all stay
 * alive (blocked on a condition variable) until the first pthread_create
 * fails, then release and join them, then create and join MAX/4 more
 * threads one after another to show that creation works again.
 *
 * Prints "created N of MAX, then E; guarded G" (E: "no error", or the
 * error name; G: how many of the N threads found the guard area below
 * their stack inaccessible), then "after release: created and joined M"
 * and exits 0; exits 1 on a wrong result or if the creations after the
 * release fail.  "limits_prog markers" prints whether this kernel has
 * page-table guard markers (MADV_GUARD_INSTALL).  Run by
 * tests/fault/limits.sh under gmp with a lowered limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int released, ran, guarded;
/* Is the guard area below this thread's stack there and inaccessible?  (a write from it to a pipe: EFAULT) */
static int own_guard_works(void)
{
    pthread_attr_t a;
    void *addr;
    size_t size, guard;
    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return 0;
    pthread_attr_getstack(&a, &addr, &size);
    pthread_attr_getguardsize(&a, &guard);
    pthread_attr_destroy(&a);
    if (guard == 0)
        return 0;
    int p[2];
    if (pipe(p) != 0)
        return 0;
    errno = 0;
    int r = write(p[1], (char *)addr - guard, 1) == -1 && errno == EFAULT;
    close(p[0]);
    close(p[1]);
    return r;
}

static void *blocker(void *arg)
{
    (void)arg;
    volatile char touch[4096];      /* use a page of the stack */
    touch[0] = 1;
    int g = own_guard_works();
    pthread_mutex_lock(&lock);
    ran++;
    guarded += g;
    while (!released)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return (void *)(long)touch[0];
}

static const char *errname(int e)
{
    return e == EAGAIN ? "EAGAIN" : e == ENOMEM ? "ENOMEM" : e == 0 ? "no error" : strerror(e);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "markers") == 0) {
        long ps = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        puts(m != MAP_FAILED && madvise(m, ps, 102 /* MADV_GUARD_INSTALL */) == 0 ? "yes" : "no");
        return 0;
    }
    int max = argc > 1 ? atoi(argv[1]) : 100;
    size_t stack_kib = argc > 2 ? (size_t)atoi(argv[2]) : 0;
    pthread_t *t = calloc((size_t)max, sizeof *t);
    if (!t)
        return 1;
    pthread_attr_t a;
    pthread_attr_init(&a);
    if (stack_kib)
        pthread_attr_setstacksize(&a, stack_kib * 1024);
    int n = 0, err = 0;
    while (n < max && (err = pthread_create(&t[n], &a, blocker, NULL)) == 0)
        n++;
    pthread_mutex_lock(&lock);
    while (ran < n) { /* every thread has looked at its guard */
        pthread_mutex_unlock(&lock);
        usleep(1000);
        pthread_mutex_lock(&lock);
    }
    printf("created %d of %d, then %s; guarded %d\n", n, max, errname(err), guarded);
    fflush(stdout);
    released = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++) {
        void *r;
        if (pthread_join(t[i], &r) != 0 || r != (void *)1L) {
            printf("FAIL: join %d\n", i);
            return 1;
        }
    }
    if (ran != n) {
        printf("FAIL: %d threads ran, %d created\n", ran, n);
        return 1;
    }
    int again = 0;
    for (int i = 0; i < max / 4 + 1; i++) {
        int e = pthread_create(&t[0], &a, blocker, NULL);
        if (e != 0) {
            printf("FAIL: create after release: %s\n", errname(e));
            return 1;
        }
        pthread_join(t[0], NULL);
        again++;
    }
    printf("after release: created and joined %d\n", again);
    return 0;
}
