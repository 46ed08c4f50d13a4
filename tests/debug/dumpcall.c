/*
 * gmp_dump() called by the program itself (looked up with dlsym, so the
 * program runs natively too): one thread spins in spin_here on another
 * kernel thread (its backtrace must come from that thread's registers),
 * one is parked in parked_here.  With DUMPCALL_TASKS set (and
 * GMP_DEBUG=dumpsignal=SIGUSR2), it then sends SIGUSR2 to every kernel
 * thread of the process: idle Ms in the scheduler, sysmon, the spinner's M.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static atomic_int stop, spinning;
static volatile unsigned long spins;

__attribute__((noinline)) static void *spin_here(void *a)
{
    atomic_store(&spinning, 1);
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        spins++;
    return a;
}

__attribute__((noinline)) static void *parked_here(void *a)
{
    pthread_mutex_lock(&m);
    while (!atomic_load(&stop))
        pthread_cond_wait(&c, &m);
    pthread_mutex_unlock(&m);
    return a;
}

int main(void)
{
    pthread_t s, p;
    pthread_create(&s, NULL, spin_here, NULL);
    pthread_create(&p, NULL, parked_here, NULL);
    pthread_setname_np(s, "spinner");
    while (!atomic_load(&spinning))
        usleep(1000);
    usleep(100000);
    void (*dump)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gmp_dump");
    if (dump)
        dump();
    if (dump && getenv("DUMPCALL_TASKS")) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (e->d_name[0] != '.') {
                syscall(SYS_tgkill, getpid(), atoi(e->d_name), SIGUSR2);
                usleep(20000);
            }
        if (d)
            closedir(d);
    }
    pthread_mutex_lock(&m);
    atomic_store(&stop, 1);
    pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&m);
    pthread_join(s, NULL);
    pthread_join(p, NULL);
    printf("ok\n");
    return 0;
}
