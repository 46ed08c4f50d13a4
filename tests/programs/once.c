/* once: pthread_once and C11 call_once called by 50 threads released at the
 * same moment; the init routine blocks (sleeps) while the others wait, runs
 * exactly once, and every caller sees its effect when the call returns. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define THREADS 50
#define ONCES   4

static pthread_barrier_t start;
static pthread_once_t pt_once[ONCES] = { PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
                                         PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT };
static once_flag c11_once = ONCE_FLAG_INIT;

static volatile int pt_runs[ONCES], pt_value[ONCES];
static volatile int c11_runs, c11_value;
static int saw_pt[THREADS], saw_c11[THREADS];

#define DEFINE_INIT(i) static void pt_init##i(void) \
    { pt_runs[i]++; usleep(20000); pt_value[i] = 100 + (i); }
DEFINE_INIT(0)
DEFINE_INIT(1)
DEFINE_INIT(2)
DEFINE_INIT(3)
static void (*const pt_inits[ONCES])(void) = { pt_init0, pt_init1, pt_init2, pt_init3 };

static void c11_init(void)
{
    c11_runs++;
    usleep(20000);
    c11_value = 4242;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    int r = pthread_barrier_wait(&start);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    for (int k = 0; k < ONCES; k++) {
        int i = (k + id) % ONCES;       /* threads take the onces in different orders */
        CHECK0(pthread_once(&pt_once[i], pt_inits[i]));
        if (pt_value[i] == 100 + i)
            saw_pt[id]++;
    }
    call_once(&c11_once, c11_init);
    saw_c11[id] = c11_value == 4242;
    /* Later calls are no-ops. */
    CHECK0(pthread_once(&pt_once[0], pt_init0));
    call_once(&c11_once, c11_init);
    return NULL;
}

/* An init routine cancelled while a second thread waits for it: the once
 * control goes back to "never called", so the waiter runs the routine (POSIX). */
static pthread_once_t cancel_once = PTHREAD_ONCE_INIT;
static atomic_int cancel_calls;

static void cancelled_init(void)
{
    if (atomic_fetch_add(&cancel_calls, 1) == 0)
        for (;;) {
            pthread_testcancel();
            usleep(1000);
        }
}

static void *run_cancel_once(void *arg)
{
    (void)arg;
    CHECK0(pthread_once(&cancel_once, cancelled_init));
    return NULL;
}

static void cancel_in_init(void)
{
    pthread_t first, second;
    CHECK0(pthread_create(&first, NULL, run_cancel_once, NULL));
    while (atomic_load(&cancel_calls) == 0)
        usleep(1000);
    CHECK0(pthread_create(&second, NULL, run_cancel_once, NULL)); /* waits for the first */
    usleep(20000);
    CHECK0(pthread_cancel(first));
    void *r;
    CHECK0(pthread_join(first, &r));
    CHECK(r == PTHREAD_CANCELED);
    CHECK0(pthread_join(second, NULL));
    CHECK0(pthread_once(&cancel_once, cancelled_init));
    printf("pthread_once: cancelled init ran again in the waiter, %d calls in all\n", atomic_load(&cancel_calls));
}

int main(void)
{
    cancel_in_init();
    CHECK0(pthread_barrier_init(&start, NULL, THREADS));
    pthread_t ts[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK0(pthread_create(&ts[i], NULL, worker, (void *)(intptr_t)i));
    int saw = 0, saw11 = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK0(pthread_join(ts[i], NULL));
        saw += saw_pt[i];
        saw11 += saw_c11[i];
    }
    for (int i = 0; i < ONCES; i++)
        CHECK(pt_runs[i] == 1 && pt_value[i] == 100 + i);
    CHECK(c11_runs == 1 && c11_value == 4242);
    CHECK(saw == THREADS * ONCES);
    CHECK(saw11 == THREADS);
    printf("pthread_once: %d onces x %d threads, each init ran once, %d calls saw the effect\n",
           ONCES, THREADS, saw);
    printf("call_once: init ran %d time(s), %d threads saw the effect\n", c11_runs, saw11);
    printf("ok\n");
    return 0;
}
