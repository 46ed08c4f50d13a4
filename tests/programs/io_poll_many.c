/* io_poll_many: 64 client threads, each with its own connection to a
 * server thread, make request/reply rounds the way libmariadb does: send
 * the request, recv with MSG_DONTWAIT (EAGAIN: the reply has not come),
 * poll the socket, recv the reply.  The server threads read with blocking
 * reads and answer with the request's bytes incremented.  Every reply is
 * checked.  Under gmp a poll that finds its M idle may wait in the kernel
 * holding its P, but not while other threads wait in the poller: with 64
 * waiting, such waits kept both Ps in the kernel and sysmon's retakes ran
 * the clients on 32 kernel threads (max_kthreads in meson.build bounds it).
 * Output is the same natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)

#define CONNS 64
#define ROUNDS 300
#define SIZE 48

static int sv[CONNS][2];
static atomic_long eagains, rounds_done;

static void *server(void *arg)
{
    int fd = sv[(long)arg][1];
    unsigned char b[SIZE];
    for (;;) {
        size_t got = 0;
        while (got < SIZE) {
            ssize_t n = read(fd, b + got, SIZE - got);
            if (n == 0)
                return NULL;
            CHECK(n > 0);
            got += (size_t)n;
        }
        for (int i = 0; i < SIZE; i++)
            b[i]++;
        CHECK(write(fd, b, SIZE) == SIZE);
    }
}

static void *client(void *arg)
{
    long id = (long)arg;
    int fd = sv[id][0];
    unsigned char out[SIZE], in[SIZE];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < SIZE; i++)
            out[i] = (unsigned char)(id * 7 + r * 13 + i);
        CHECK(send(fd, out, SIZE, MSG_NOSIGNAL) == SIZE);
        size_t got = 0;
        while (got < SIZE) {
            ssize_t n = recv(fd, in + got, SIZE - got, MSG_DONTWAIT);
            if (n < 0 && errno == EAGAIN) {
                atomic_fetch_add(&eagains, 1);
                struct pollfd p = {fd, POLLIN, 0};
                int k = poll(&p, 1, -1);
                CHECK(k == 1 && (p.revents & POLLIN));
                continue;
            }
            CHECK(n > 0);
            got += (size_t)n;
        }
        for (int i = 0; i < SIZE; i++)
            CHECK(in[i] == (unsigned char)(out[i] + 1));
        atomic_fetch_add(&rounds_done, 1);
    }
    return NULL;
}

int main(void)
{
    pthread_t s[CONNS], c[CONNS];
    for (long i = 0; i < CONNS; i++) {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0);
        CHECK(pthread_create(&s[i], NULL, server, (void *)i) == 0);
    }
    for (long i = 0; i < CONNS; i++)
        CHECK(pthread_create(&c[i], NULL, client, (void *)i) == 0);
    for (int i = 0; i < CONNS; i++)
        CHECK(pthread_join(c[i], NULL) == 0);
    for (int i = 0; i < CONNS; i++)
        close(sv[i][0]);
    for (int i = 0; i < CONNS; i++)
        CHECK(pthread_join(s[i], NULL) == 0);
    printf("%d connections x %d rounds: %ld replies checked, some found not yet there: %s\n", CONNS, ROUNDS,
           (long)rounds_done, eagains > 0 ? "yes" : "no");
    return 0;
}
