/* locale: uselocale is per thread. Threads install a newlocale of "C" or
 * "C.UTF-8" (or keep the global locale) and check, before and after blocking
 * points, that MB_CUR_MAX, nl_langinfo(CODESET), mbrtowc, wcrtomb and
 * towupper/iswalpha follow their own locale; the global locale stays "C" for
 * main and for threads that did not call uselocale. */
#define _GNU_SOURCE
#include <langinfo.h>
#include <locale.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define THREADS 48
#define ROUNDS  10

enum kind { K_GLOBAL, K_C, K_UTF8 };

static pthread_barrier_t barrier;
static int checks_passed[THREADS];

/* Checks that the calling thread behaves as locale kind k. */
static void check_behaviour(enum kind k)
{
    int utf8 = k == K_UTF8;
    const char *e_acute = "\xc3\xa9";   /* U+00E9 in UTF-8 */
    mbstate_t st;
    wchar_t wc = 0;

    CHECK((int)MB_CUR_MAX == (utf8 ? 6 : 1));
    CHECK(strcmp(nl_langinfo(CODESET), utf8 ? "UTF-8" : "ANSI_X3.4-1968") == 0);

    memset(&st, 0, sizeof st);
    size_t n = mbrtowc(&wc, e_acute, 2, &st);
    if (utf8)
        CHECK(n == 2 && wc == 0xe9);
    else
        CHECK(n != 2);

    char buf[8];
    memset(&st, 0, sizeof st);
    n = wcrtomb(buf, 0x20ac, &st);      /* EURO SIGN */
    if (utf8)
        CHECK(n == 3 && memcmp(buf, "\xe2\x82\xac", 3) == 0);
    else
        CHECK(n == (size_t)-1);

    CHECK((towupper(0xe9) == 0xc9) == utf8);
    CHECK((iswalpha(0x3b1) != 0) == utf8);  /* GREEK SMALL LETTER ALPHA */

    /* Both locales use '.' as the decimal point. */
    CHECK(strcmp(localeconv()->decimal_point, ".") == 0);
    CHECK(strtod("2.5", NULL) == 2.5);
    snprintf(buf, sizeof buf, "%.1f", 2.5);
    CHECK(strcmp(buf, "2.5") == 0);
}

static void block(int r)
{
    if (r % 3 == 0)
        sched_yield();
    else if (r % 3 == 1)
        usleep(200);
    else {
        int b = pthread_barrier_wait(&barrier);
        CHECK(b == 0 || b == PTHREAD_BARRIER_SERIAL_THREAD);
    }
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    enum kind k = (enum kind)(id % 3);
    locale_t loc = (locale_t)0;

    /* A new thread starts in the global locale. */
    CHECK(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
    check_behaviour(K_GLOBAL);

    if (k != K_GLOBAL) {
        loc = newlocale(LC_ALL_MASK, k == K_UTF8 ? "C.UTF-8" : "C", (locale_t)0);
        CHECK(loc != (locale_t)0);
        CHECK(uselocale(loc) == LC_GLOBAL_LOCALE);
        CHECK(uselocale((locale_t)0) == loc);
    }
    for (int r = 0; r < ROUNDS; r++) {
        check_behaviour(k);
        block(r);
        CHECK(uselocale((locale_t)0) == (k == K_GLOBAL ? LC_GLOBAL_LOCALE : loc));
        check_behaviour(k);
        checks_passed[id]++;
    }
    if (k != K_GLOBAL) {
        CHECK(uselocale(LC_GLOBAL_LOCALE) == loc);
        check_behaviour(K_GLOBAL);
        freelocale(loc);
    }
    return NULL;
}

int main(void)
{
    CHECK(strcmp(setlocale(LC_ALL, NULL), "C") == 0);
    CHECK0(pthread_barrier_init(&barrier, NULL, THREADS));
    pthread_t ts[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK0(pthread_create(&ts[i], NULL, worker, (void *)(intptr_t)i));
    /* While the threads run with their own locales, main stays in "C". */
    for (int r = 0; r < 5; r++) {
        check_behaviour(K_GLOBAL);
        usleep(300);
    }
    int total = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK0(pthread_join(ts[i], NULL));
        total += checks_passed[i];
    }
    CHECK(total == THREADS * ROUNDS);
    CHECK(strcmp(setlocale(LC_ALL, NULL), "C") == 0);
    CHECK(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
    check_behaviour(K_GLOBAL);
    printf("%d threads (C, C.UTF-8, global): %d rounds checked after blocking\n",
           THREADS, total);
    printf("global locale still C in main\n");
    printf("ok\n");
    return 0;
}
