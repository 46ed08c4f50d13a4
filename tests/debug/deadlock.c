/* Two threads take two mutexes in opposite order: a deadlock gmp must report. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
void *t1(void *x){ (void)x; pthread_mutex_lock(&a); usleep(10000); pthread_mutex_lock(&b); return 0; }
void *t2(void *x){ (void)x; pthread_mutex_lock(&b); usleep(10000); pthread_mutex_lock(&a); return 0; }
int main(){ pthread_t x,y; pthread_create(&x,0,t1,0); pthread_create(&y,0,t2,0); pthread_join(x,0); return 0; }
