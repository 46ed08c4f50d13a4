/* recursive_stdio: stdio stream locks and recursive mutexes.
 *  - threads write lines to a tmpfile piece by piece under nested
 *    flockfile/funlockfile (yielding and sleeping while holding the lock);
 *    reading the file back, no line is interleaved or lost and each
 *    thread's lines are in order; ftrylockfile from another thread fails
 *    while the lock is held;
 *  - the same through a pipe read by a reader thread;
 *  - a PTHREAD_MUTEX_RECURSIVE mutex locked three deep by many threads
 *    (with blocking points inside) protects a plain counter; trylock by
 *    another thread returns EBUSY until the owner's last unlock. */
#define _GNU_SOURCE
#include <errno.h>
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

#define WRITERS 16
#define LINES   100

static FILE *out;

/* Writes "Wnn Lnnn <payload>\n" in four pieces, locking the stream again
 * inside the outer lock. */
static void write_line(int w, int l)
{
    flockfile(out);
    fprintf(out, "W%02d ", w);
    if (l % 7 == 0)
        sched_yield();
    flockfile(out);                     /* nested */
    fprintf(out, "L%03d ", l);
    if (l % 11 == 0)
        usleep(100);
    for (int i = 0; i < 20; i++)
        putc_unlocked('a' + (w + l + i) % 26, out);
    funlockfile(out);
    fputs("\n", out);
    funlockfile(out);
}

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    for (int l = 0; l < LINES; l++)
        write_line(w, l);
    return NULL;
}

/* Reads the lines back and checks them; returns the number of good lines. */
static int check_lines(FILE *in)
{
    int next[WRITERS] = { 0 };
    char line[256];
    int good = 0;
    while (fgets(line, sizeof line, in)) {
        int w, l, n = 0;
        char payload[64];
        CHECK(sscanf(line, "W%2d L%3d %63s%n", &w, &l, payload, &n) == 3);
        CHECK(line[n] == '\n' && line[n + 1] == '\0');
        CHECK(w >= 0 && w < WRITERS);
        CHECK(l == next[w]);
        CHECK(strlen(payload) == 20);
        for (int i = 0; i < 20; i++)
            CHECK(payload[i] == 'a' + (w + l + i) % 26);
        next[w]++;
        good++;
    }
    for (int w = 0; w < WRITERS; w++)
        CHECK(next[w] == LINES);
    return good;
}

static void run_writers(void)
{
    pthread_t ts[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        CHECK0(pthread_create(&ts[i], NULL, writer, (void *)(intptr_t)i));
    for (int i = 0; i < WRITERS; i++)
        CHECK0(pthread_join(ts[i], NULL));
}

static void *reader(void *arg)
{
    FILE *in = arg;
    return (void *)(intptr_t)check_lines(in);
}

/* ftrylockfile from another thread while main holds the stream twice. */
static void *try_stream(void *arg)
{
    (void)arg;
    int r = ftrylockfile(out);
    if (r == 0)
        funlockfile(out);
    return (void *)(intptr_t)r;
}

/* ---- recursive mutex ---- */

static pthread_mutex_t rec;
static long counter;
#define REC_THREADS 16
#define REC_ITERS   300

static void *rec_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < REC_ITERS; i++) {
        CHECK0(pthread_mutex_lock(&rec));
        long c = counter;
        CHECK0(pthread_mutex_lock(&rec));
        if (i % 10 == 0)
            sched_yield();
        CHECK0(pthread_mutex_trylock(&rec));      /* owner: succeeds, depth 3 */
        if (i % 50 == 0)
            usleep(50);
        counter = c + 1;
        CHECK0(pthread_mutex_unlock(&rec));
        CHECK0(pthread_mutex_unlock(&rec));
        CHECK0(pthread_mutex_unlock(&rec));
    }
    return NULL;
}

static void *rec_try(void *arg)
{
    (void)arg;
    int r = pthread_mutex_trylock(&rec);
    if (r == 0)
        CHECK0(pthread_mutex_unlock(&rec));
    return (void *)(intptr_t)r;
}

static int try_from_other_thread(void)
{
    pthread_t t;
    void *ret;
    CHECK0(pthread_create(&t, NULL, rec_try, NULL));
    CHECK0(pthread_join(t, &ret));
    return (int)(intptr_t)ret;
}

int main(void)
{
    /* tmpfile */
    out = tmpfile();
    CHECK(out != NULL);
    run_writers();
    CHECK(fflush(out) == 0);
    rewind(out);
    int good = check_lines(out);
    CHECK(good == WRITERS * LINES);
    printf("tmpfile: %d writers, %d whole lines in per-writer order\n", WRITERS, good);

    /* ftrylockfile from another thread */
    flockfile(out);
    flockfile(out);
    pthread_t t;
    void *ret;
    CHECK0(pthread_create(&t, NULL, try_stream, NULL));
    CHECK0(pthread_join(t, &ret));
    CHECK((intptr_t)ret != 0);
    funlockfile(out);
    funlockfile(out);
    CHECK0(pthread_create(&t, NULL, try_stream, NULL));
    CHECK0(pthread_join(t, &ret));
    CHECK((intptr_t)ret == 0);
    printf("ftrylockfile: busy while held twice by another thread, free after\n");
    fclose(out);

    /* pipe, read by a reader thread while the writers write */
    int fds[2];
    CHECK(pipe(fds) == 0);
    FILE *in = fdopen(fds[0], "r");
    out = fdopen(fds[1], "w");
    CHECK(in && out);
    pthread_t rd;
    CHECK0(pthread_create(&rd, NULL, reader, in));
    run_writers();
    CHECK(fclose(out) == 0);
    CHECK0(pthread_join(rd, &ret));
    CHECK((intptr_t)ret == WRITERS * LINES);
    fclose(in);
    printf("pipe: %d writers, %d whole lines in per-writer order\n", WRITERS, (int)(intptr_t)ret);

    /* recursive mutex */
    pthread_mutexattr_t ma;
    CHECK0(pthread_mutexattr_init(&ma));
    CHECK0(pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE));
    int type;
    CHECK0(pthread_mutexattr_gettype(&ma, &type));
    CHECK(type == PTHREAD_MUTEX_RECURSIVE);
    CHECK0(pthread_mutex_init(&rec, &ma));
    pthread_mutexattr_destroy(&ma);

    pthread_t rts[REC_THREADS];
    for (int i = 0; i < REC_THREADS; i++)
        CHECK0(pthread_create(&rts[i], NULL, rec_worker, NULL));
    for (int i = 0; i < REC_THREADS; i++)
        CHECK0(pthread_join(rts[i], NULL));
    CHECK(counter == REC_THREADS * REC_ITERS);
    printf("recursive mutex: %d threads x %d nested sections, counter %ld\n",
           REC_THREADS, REC_ITERS, counter);

    CHECK0(pthread_mutex_lock(&rec));
    CHECK0(pthread_mutex_lock(&rec));
    CHECK(try_from_other_thread() == EBUSY);
    CHECK0(pthread_mutex_unlock(&rec));
    CHECK(try_from_other_thread() == EBUSY);
    CHECK0(pthread_mutex_unlock(&rec));
    CHECK(pthread_mutex_unlock(&rec) == EPERM);    /* not held any more */
    CHECK(try_from_other_thread() == 0);
    CHECK0(pthread_mutex_destroy(&rec));
    printf("recursive mutex: other thread gets EBUSY until the last unlock, then the lock\n");
    printf("ok\n");
    return 0;
}
