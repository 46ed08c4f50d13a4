/* cpu_hog: one thread spins in a pure CPU loop (no calls) until a flag is
 * set; another thread does 50 short sleeps and then sets the flag. The
 * program must finish even with a single processor for user code
 * (GMP_MAXPROCS=1), which needs preemption or hand-off of the hog. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define SLEEPS 50

static volatile int stop, hog_started;
static volatile unsigned long spins;

static void *hog(void *arg)
{
    (void)arg;
    hog_started = 1;
    while (!stop)
        spins++;
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    /* Start counting once the hog runs, so that the hog really spins while
     * the sleeps happen. */
    while (!hog_started)
        usleep(1000);
    int n = 0;
    for (int i = 0; i < SLEEPS; i++) {
        CHECK(usleep(1000) == 0);
        n++;
    }
    stop = 1;
    return (void *)(long)n;
}

int main(void)
{
    pthread_t h, s;
    void *ret;
    CHECK0(pthread_create(&h, NULL, hog, NULL));
    CHECK0(pthread_create(&s, NULL, sleeper, NULL));
    CHECK0(pthread_join(s, &ret));
    CHECK((long)ret == SLEEPS);
    CHECK0(pthread_join(h, NULL));
    CHECK(stop == 1);
    printf("sleeper did %ld sleeps while the hog spun; hog stopped\n", (long)ret);
    printf("ok\n");
    return 0;
}
