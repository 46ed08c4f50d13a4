/* attrs: pthread_attr_* and the thread attributes a running thread reports.
 * Only error names and booleans are printed, never sizes or addresses that
 * depend on the machine. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

static const char *ename(int e)
{
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case ENOTSUP: return "ENOTSUP";
    case ERANGE: return "ERANGE";
    case EPERM: return "EPERM";
    case ESRCH: return "ESRCH";
    case EAGAIN: return "EAGAIN";
    default: return "other";
    }
}

/* Prints "what: GOT" and fails unless GOT is WANT. */
static void expect(const char *what, int got, int want)
{
    printf("%s: %s\n", what, ename(got));
    CHECK(got == want);
}

static void expect_bool(const char *what, int b)
{
    printf("%s: %s\n", what, b ? "yes" : "no");
    CHECK(b);
}

/* Whether p lies in the stack that attr describes. */
static int in_stack(const pthread_attr_t *a, const void *p)
{
    void *addr;
    size_t size;
    CHECK0(pthread_attr_getstack(a, &addr, &size));
    return (const char *)p >= (const char *)addr && (const char *)p < (const char *)addr + size;
}

static int own_stack_contains_local(void)
{
    pthread_attr_t a;
    volatile int local = 0;
    CHECK0(pthread_getattr_np(pthread_self(), &a));
    int r = in_stack(&a, (const void *)&local);
    pthread_attr_destroy(&a);
    return r;
}

static size_t own_stacksize(void)
{
    pthread_attr_t a;
    size_t s;
    CHECK0(pthread_getattr_np(pthread_self(), &a));
    CHECK0(pthread_attr_getstacksize(&a, &s));
    pthread_attr_destroy(&a);
    return s;
}

/* ---- threads ---- */

struct stack_report { int local_in_own; int local_in_given; int size_ok; void *lo, *hi; };
static struct stack_report rep;

static void *report_stack(void *arg)
{
    (void)arg;
    volatile int local = 0;
    rep.local_in_own = own_stack_contains_local();
    rep.local_in_given = (void *)&local >= rep.lo && (void *)&local < rep.hi;
    return NULL;
}

static size_t want_size;
static void *report_size(void *arg)
{
    (void)arg;
    size_t s = own_stacksize();
    /* NPTL reports at least the size asked for: more when it reuses a
     * cached stack up to four times larger. */
    rep.size_ok = s >= want_size && s <= 4 * want_size + 64 * 1024;
    rep.local_in_own = own_stack_contains_local();
    return NULL;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int parked, release;
static volatile int *parked_local;
static int detach_ok;

static void *park(void *arg)
{
    (void)arg;
    volatile int local = 1;
    pthread_mutex_lock(&lock);
    parked_local = &local;
    parked = 1;
    pthread_cond_broadcast(&cond);
    while (!release)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *detach_and_report(void *arg)
{
    (void)arg;
    pthread_attr_t a;
    int before, after;
    CHECK0(pthread_getattr_np(pthread_self(), &a));
    CHECK0(pthread_attr_getdetachstate(&a, &before));
    pthread_attr_destroy(&a);
    CHECK0(pthread_detach(pthread_self()));
    CHECK0(pthread_getattr_np(pthread_self(), &a));
    CHECK0(pthread_attr_getdetachstate(&a, &after));
    pthread_attr_destroy(&a);
    pthread_mutex_lock(&lock);
    detach_ok = before == PTHREAD_CREATE_JOINABLE && after == PTHREAD_CREATE_DETACHED;
    parked = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static volatile int sched_ok;
static void *report_sched(void *arg)
{
    (void)arg;
    int policy;
    struct sched_param sp;
    CHECK0(pthread_getschedparam(pthread_self(), &policy, &sp));
    sched_ok = policy == SCHED_OTHER && sp.sched_priority == 0;
    return NULL;
}

static void *named(void *arg)
{
    (void)arg;
    char buf[16];
    CHECK0(pthread_setname_np(pthread_self(), "self-named"));
    CHECK0(pthread_getname_np(pthread_self(), buf, sizeof buf));
    CHECK(strcmp(buf, "self-named") == 0);
    pthread_mutex_lock(&lock);
    parked = 1;
    pthread_cond_broadcast(&cond);
    while (!release)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void wait_parked(void)
{
    pthread_mutex_lock(&lock);
    while (!parked)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static void do_release(void)
{
    pthread_mutex_lock(&lock);
    release = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

int main(void)
{
    pthread_attr_t a;
    pthread_t t;
    int v;
    size_t sz;
    long page = sysconf(_SC_PAGESIZE);

    CHECK0(pthread_attr_init(&a));

    /* detachstate */
    CHECK0(pthread_attr_getdetachstate(&a, &v));
    expect_bool("default detachstate joinable", v == PTHREAD_CREATE_JOINABLE);
    expect("setdetachstate(DETACHED)", pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED), 0);
    CHECK0(pthread_attr_getdetachstate(&a, &v));
    CHECK(v == PTHREAD_CREATE_DETACHED);
    expect("setdetachstate(42)", pthread_attr_setdetachstate(&a, 42), EINVAL);
    CHECK0(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_JOINABLE));

    /* stacksize */
    CHECK0(pthread_attr_getstacksize(&a, &sz));
    expect_bool("default stacksize >= PTHREAD_STACK_MIN", sz >= (size_t)PTHREAD_STACK_MIN);
    expect("setstacksize(PTHREAD_STACK_MIN - 1)", pthread_attr_setstacksize(&a, PTHREAD_STACK_MIN - 1), EINVAL);
    expect("setstacksize(PTHREAD_STACK_MIN)", pthread_attr_setstacksize(&a, PTHREAD_STACK_MIN), 0);
    expect("setstacksize(1 MiB)", pthread_attr_setstacksize(&a, 1 << 20), 0);
    CHECK0(pthread_attr_getstacksize(&a, &sz));
    expect_bool("getstacksize returns 1 MiB", sz == 1 << 20);
    want_size = 1 << 20;
    memset(&rep, 0, sizeof rep);
    CHECK0(pthread_create(&t, &a, report_size, NULL));
    CHECK0(pthread_join(t, NULL));
    expect_bool("thread with 1 MiB stack: getattr_np size matches", rep.size_ok);
    expect_bool("thread with 1 MiB stack: local inside reported stack", rep.local_in_own);

    /* guardsize */
    CHECK0(pthread_attr_getguardsize(&a, &sz));
    expect_bool("default guardsize is one page", sz == (size_t)page);
    expect("setguardsize(2 pages)", pthread_attr_setguardsize(&a, 2 * page), 0);
    CHECK0(pthread_attr_getguardsize(&a, &sz));
    CHECK(sz == (size_t)(2 * page));
    CHECK0(pthread_create(&t, &a, report_size, NULL));
    CHECK0(pthread_join(t, NULL));
    expect_bool("thread with 2-page guard ran", rep.local_in_own);
    expect("setguardsize(0)", pthread_attr_setguardsize(&a, 0), 0);
    CHECK0(pthread_attr_destroy(&a));

    /* user-supplied stack */
    size_t ssz = 256 * 1024;
    void *stk = mmap(NULL, ssz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(stk != MAP_FAILED);
    CHECK0(pthread_attr_init(&a));
    expect("setstack(size PTHREAD_STACK_MIN - 1)", pthread_attr_setstack(&a, stk, PTHREAD_STACK_MIN - 1), EINVAL);
    expect("setstack(256 KiB)", pthread_attr_setstack(&a, stk, ssz), 0);
    void *gaddr;
    CHECK0(pthread_attr_getstack(&a, &gaddr, &sz));
    expect_bool("getstack returns what setstack set", gaddr == stk && sz == ssz);
    rep.lo = stk;
    rep.hi = (char *)stk + ssz;
    rep.local_in_given = rep.local_in_own = 0;
    CHECK0(pthread_create(&t, &a, report_stack, NULL));
    CHECK0(pthread_join(t, NULL));
    expect_bool("user stack: thread's local inside the given stack", rep.local_in_given);
    expect_bool("user stack: getattr_np reports a stack containing the local", rep.local_in_own);
    CHECK0(pthread_attr_destroy(&a));
    /* The same stack again, once the first thread is joined. */
    CHECK0(pthread_attr_init(&a));
    CHECK0(pthread_attr_setstack(&a, stk, ssz));
    rep.local_in_given = 0;
    CHECK0(pthread_create(&t, &a, report_stack, NULL));
    CHECK0(pthread_join(t, NULL));
    expect_bool("user stack reused by a second thread", rep.local_in_given);
    CHECK0(pthread_attr_destroy(&a));
    munmap(stk, ssz);

    /* scope, inheritsched, schedpolicy, schedparam */
    CHECK0(pthread_attr_init(&a));
    CHECK0(pthread_attr_getscope(&a, &v));
    expect_bool("default scope SYSTEM", v == PTHREAD_SCOPE_SYSTEM);
    expect("setscope(SYSTEM)", pthread_attr_setscope(&a, PTHREAD_SCOPE_SYSTEM), 0);
    expect("setscope(PROCESS)", pthread_attr_setscope(&a, PTHREAD_SCOPE_PROCESS), ENOTSUP);
    expect("setscope(42)", pthread_attr_setscope(&a, 42), EINVAL);

    CHECK0(pthread_attr_getinheritsched(&a, &v));
    expect_bool("default inheritsched INHERIT", v == PTHREAD_INHERIT_SCHED);
    expect("setinheritsched(42)", pthread_attr_setinheritsched(&a, 42), EINVAL);
    expect("setinheritsched(EXPLICIT)", pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED), 0);
    CHECK0(pthread_attr_getinheritsched(&a, &v));
    CHECK(v == PTHREAD_EXPLICIT_SCHED);

    CHECK0(pthread_attr_getschedpolicy(&a, &v));
    expect_bool("default schedpolicy OTHER", v == SCHED_OTHER);
    expect("setschedpolicy(99)", pthread_attr_setschedpolicy(&a, 99), EINVAL);
    expect("setschedpolicy(OTHER)", pthread_attr_setschedpolicy(&a, SCHED_OTHER), 0);
    struct sched_param sp = { .sched_priority = 0 };
    expect("setschedparam(priority 0)", pthread_attr_setschedparam(&a, &sp), 0);
    sp.sched_priority = 5;
    CHECK0(pthread_attr_getschedparam(&a, &sp));
    CHECK(sp.sched_priority == 0);
    sched_ok = 0;
    CHECK0(pthread_create(&t, &a, report_sched, NULL));
    CHECK0(pthread_join(t, NULL));
    expect_bool("explicit SCHED_OTHER thread reports SCHED_OTHER priority 0", sched_ok);
    CHECK0(pthread_attr_destroy(&a));

    /* getattr_np on main and on another, blocked, thread */
    expect_bool("main: getattr_np stack contains a local", own_stack_contains_local());
    parked = release = 0;
    CHECK0(pthread_create(&t, NULL, park, NULL));
    wait_parked();
    CHECK0(pthread_getattr_np(t, &a));
    expect_bool("blocked thread: getattr_np stack contains its local", in_stack(&a, (const void *)parked_local));
    CHECK0(pthread_attr_getdetachstate(&a, &v));
    expect_bool("blocked thread: reported joinable", v == PTHREAD_CREATE_JOINABLE);
    CHECK0(pthread_attr_getstacksize(&a, &sz));
    expect_bool("blocked thread: stacksize >= PTHREAD_STACK_MIN", sz >= (size_t)PTHREAD_STACK_MIN);
    CHECK0(pthread_attr_destroy(&a));
    do_release();
    CHECK0(pthread_join(t, NULL));

    /* A thread that detaches itself reports the change (through a condvar,
     * since it cannot be joined). */
    parked = release = 0;
    CHECK0(pthread_create(&t, NULL, detach_and_report, NULL));
    wait_parked();
    expect_bool("self-detached thread: getattr_np says joinable, then detached", detach_ok);

    /* default attributes */
    pthread_attr_t def, saved;
    CHECK0(pthread_getattr_default_np(&saved));
    CHECK0(pthread_getattr_default_np(&def));
    CHECK0(pthread_attr_setstacksize(&def, 512 * 1024));
    expect("setattr_default_np(stacksize 512 KiB)", pthread_setattr_default_np(&def), 0);
    want_size = 512 * 1024;
    rep.size_ok = 0;
    CHECK0(pthread_create(&t, NULL, report_size, NULL));
    CHECK0(pthread_join(t, NULL));
    expect_bool("thread created with NULL attr gets the new default size", rep.size_ok);
    CHECK0(pthread_getattr_default_np(&a));
    CHECK0(pthread_attr_getstacksize(&a, &sz));
    expect_bool("getattr_default_np returns the new default", sz == 512 * 1024);
    CHECK0(pthread_attr_destroy(&a));
    CHECK0(pthread_attr_init(&a));
    CHECK0(pthread_attr_setstack(&a, &def, PTHREAD_STACK_MIN));  /* any address: never used */
    expect("setattr_default_np(with a stack address)", pthread_setattr_default_np(&a), EINVAL);
    CHECK0(pthread_attr_destroy(&a));
    CHECK0(pthread_setattr_default_np(&saved));
    CHECK0(pthread_attr_destroy(&def));
    CHECK0(pthread_attr_destroy(&saved));

    /* names */
    char buf[32];
    parked = release = 0;
    CHECK0(pthread_create(&t, NULL, named, NULL));
    wait_parked();
    CHECK0(pthread_getname_np(t, buf, sizeof buf));
    expect_bool("getname_np of another thread sees its self-set name", strcmp(buf, "self-named") == 0);
    expect("setname_np(15 chars)", pthread_setname_np(t, "fifteen-chars-x"), 0);
    CHECK0(pthread_getname_np(t, buf, sizeof buf));
    expect_bool("getname_np returns the 15-char name", strcmp(buf, "fifteen-chars-x") == 0);
    expect("setname_np(16 chars)", pthread_setname_np(t, "sixteen-chars-xx"), ERANGE);
    expect("getname_np(buffer of 15)", pthread_getname_np(t, buf, 15), ERANGE);
    do_release();
    CHECK0(pthread_join(t, NULL));
    CHECK0(pthread_setname_np(pthread_self(), "main-renamed"));
    CHECK0(pthread_getname_np(pthread_self(), buf, sizeof buf));
    expect_bool("main renamed itself", strcmp(buf, "main-renamed") == 0);

    /* concurrency */
    expect_bool("getconcurrency default 0", pthread_getconcurrency() == 0);
    expect("setconcurrency(4)", pthread_setconcurrency(4), 0);
    expect_bool("getconcurrency returns 4", pthread_getconcurrency() == 4);
    expect("setconcurrency(-1)", pthread_setconcurrency(-1), EINVAL);
    CHECK0(pthread_setconcurrency(0));

    printf("ok\n");
    return 0;
}
