/* io_recvmmsg: a blocking recvmmsg as the kernel's (recvmmsg(2)), on a
 * datagram socketpair the program keeps blocking, with a sender thread
 * that pauses 100 ms between some datagrams:
 *  - vlen 3, no flags: waits for all three;
 *  - MSG_WAITFORONE: the first, then only what is there (one);
 *  - a 100 ms timeout: looked at only after each datagram, so the call
 *    returns after the second (sent 300 ms later), with the time left
 *    written back as zero;
 *  - MSG_DONTWAIT on an empty socket: EAGAIN; vlen 0: 0;
 *  - a timeout with tv_nsec out of range: EINVAL.
 * Output is the same natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)

static int sv[2];
static const char *plan; /* what the sender sends: a letter a datagram, '.' a 100 ms pause */

static void *sender(void *arg)
{
    (void)arg;
    for (const char *p = plan; *p; p++) {
        if (*p == '.') {
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        } else {
            CHECK(send(sv[1], p, 1, 0) == 1);
        }
    }
    return NULL;
}

static void round_(const char *what, const char *sends, int flags, struct timespec *t)
{
    struct mmsghdr mm[3];
    struct iovec iov[3];
    char buf[3][8];
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < 3; i++) {
        iov[i].iov_base = buf[i];
        iov[i].iov_len = sizeof buf[i];
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    pthread_t th;
    plan = sends;
    CHECK(pthread_create(&th, NULL, sender, NULL) == 0);
    int r = recvmmsg(sv[0], mm, 3, flags, t);
    printf("%s: %d:", what, r);
    for (int i = 0; i < r; i++)
        printf(" %.*s", (int)mm[i].msg_len, buf[i]);
    if (t)
        printf(" (time left %s)", t->tv_sec == 0 && t->tv_nsec == 0 ? "zero" : "not zero");
    printf("\n");
    CHECK(pthread_join(th, NULL) == 0);
    /* what is left goes, so the next round starts empty */
    char b[8];
    while (recv(sv[0], b, sizeof b, MSG_DONTWAIT) > 0)
        ;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    round_("vlen 3, blocking", ".a.b.c", 0, NULL);
    round_("MSG_WAITFORONE", "a...bc", MSG_WAITFORONE, NULL);
    struct timespec t = {0, 100 * 1000000};
    round_("timeout 100 ms", "a...bc", 0, &t);
    struct mmsghdr mm;
    char b[8];
    struct iovec iov = {b, sizeof b};
    memset(&mm, 0, sizeof mm);
    mm.msg_hdr.msg_iov = &iov;
    mm.msg_hdr.msg_iovlen = 1;
    errno = 0;
    int r = recvmmsg(sv[0], &mm, 1, MSG_DONTWAIT, NULL);
    printf("MSG_DONTWAIT, empty: %d %s\n", r, r < 0 ? strerror(errno) : "");
    printf("vlen 0: %d\n", recvmmsg(sv[0], &mm, 0, 0, NULL));
    struct timespec bad = {0, 1000000000};
    errno = 0;
    r = recvmmsg(sv[0], &mm, 1, 0, &bad);
    printf("bad timeout: %d %s\n", r, r < 0 ? strerror(errno) : "");
    return 0;
}
