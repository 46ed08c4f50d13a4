/* Threads parked in every wait kind, then a dump is requested with a signal
 * (GMP_DEBUG=dumpsignal=SIGUSR2). Each waiter's function has a distinctive
 * name that the dump's backtraces must show. */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static sem_t s;
static int fds[2];
static volatile int stop;

__attribute__((noinline)) static void *waits_in_mutex(void *a) { pthread_mutex_lock(&m); pthread_mutex_unlock(&m); return a; }
__attribute__((noinline)) static void *waits_in_cond(void *a) { pthread_mutex_lock(&cm); while (!stop) pthread_cond_wait(&c, &cm); pthread_mutex_unlock(&cm); return a; }
__attribute__((noinline)) static void *waits_in_sem(void *a) { sem_wait(&s); return a; }
__attribute__((noinline)) static void *waits_in_sleep(void *a) { usleep(300000); return a; }
__attribute__((noinline)) static void *waits_in_read(void *a) { char b; read(fds[0], &b, 1); return a; }

int main(void)
{
    sem_init(&s, 0, 0);
    pipe(fds);
    pthread_mutex_lock(&m);
    pthread_t t[5];
    void *(*fn[5])(void *) = {waits_in_mutex, waits_in_cond, waits_in_sem, waits_in_sleep, waits_in_read};
    for (int i = 0; i < 5; i++)
        pthread_create(&t[i], NULL, fn[i], NULL);
    usleep(100000);
    raise(SIGUSR2);
    usleep(50000);
    pthread_mutex_unlock(&m);
    pthread_mutex_lock(&cm);
    stop = 1;
    pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&cm);
    sem_post(&s);
    write(fds[1], "x", 1);
    for (int i = 0; i < 5; i++)
        pthread_join(t[i], NULL);
    printf("ok\n");
    return 0;
}
