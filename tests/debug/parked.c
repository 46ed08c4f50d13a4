/* 1,000 threads parked on a condvar for 400 ms, then released and joined:
 * schedtrace with scheddetail must show all of them waiting. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int go, started;

static void *waiter(void *a)
{
    pthread_mutex_lock(&m);
    started++;
    while (!go)
        pthread_cond_wait(&c, &m);
    pthread_mutex_unlock(&m);
    return a;
}

int main(void)
{
    static pthread_t t[1000];
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 * 1024);
    for (int i = 0; i < 1000; i++)
        pthread_create(&t[i], &at, waiter, NULL);
    for (;;) {
        pthread_mutex_lock(&m);
        int s = started;
        pthread_mutex_unlock(&m);
        if (s == 1000)
            break;
        usleep(1000);
    }
    usleep(400000);
    pthread_mutex_lock(&m);
    go = 1;
    pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&m);
    for (int i = 0; i < 1000; i++)
        pthread_join(t[i], NULL);
    printf("ok\n");
    return 0;
}
