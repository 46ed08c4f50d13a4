/* limits_prog MAX [STACK_KIB]: create up to MAX threads that all stay
 * alive (blocked on a condition variable) until the first pthread_create
 * fails, then release and join them, then create and join MAX/4 more
 * threads one after another to show that creation works again.
 *
 * Prints "created N of MAX, then E" (E: "no error", or the error name),
 * then "after release: created and joined M" and exits 0; exits 1 on a
 * wrong result or if the creations after the release fail.  Run by
 * tests/fault/limits.sh under gmp with a lowered limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int released, ran;

static void *blocker(void *arg)
{
    (void)arg;
    volatile char touch[4096];      /* use a page of the stack */
    touch[0] = 1;
    pthread_mutex_lock(&lock);
    ran++;
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
    printf("created %d of %d, then %s\n", n, max, errname(err));
    fflush(stdout);
    pthread_mutex_lock(&lock);
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
