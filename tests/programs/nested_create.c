/* nested_create: threads that create and join threads, as a tree of depth 5
 * and fanout 3 (364 threads); each node returns the sum of its subtree. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    fflush(stdout); exit(1); } } while (0)
#define CHECK0(e) do { int r_ = (e); if (r_ != 0) { printf("FAIL %s:%d: %s = %s\n", \
    __FILE__, __LINE__, #e, strerror(r_)); fflush(stdout); exit(1); } } while (0)

#define DEPTH  5
#define FANOUT 3

struct node {
    long id;                    /* heap numbering: children of n are n*3+1..n*3+3 */
    int depth;
    long subtree_sum;           /* out */
    long subtree_nodes;         /* out */
};

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static long started;

static void *node_main(void *arg)
{
    struct node *n = arg;
    pthread_mutex_lock(&count_lock);
    started++;
    pthread_mutex_unlock(&count_lock);

    n->subtree_sum = n->id;
    n->subtree_nodes = 1;
    if (n->depth < DEPTH) {
        struct node kids[FANOUT];
        pthread_t ts[FANOUT];
        for (int i = 0; i < FANOUT; i++) {
            kids[i] = (struct node){ .id = n->id * FANOUT + 1 + i, .depth = n->depth + 1 };
            CHECK0(pthread_create(&ts[i], NULL, node_main, &kids[i]));
        }
        for (int i = 0; i < FANOUT; i++) {
            void *ret;
            CHECK0(pthread_join(ts[i], &ret));
            CHECK(ret == &kids[i]);
            n->subtree_sum += kids[i].subtree_sum;
            n->subtree_nodes += kids[i].subtree_nodes;
        }
    }
    return n;
}

int main(void)
{
    struct node root = { .id = 0, .depth = 0 };
    pthread_t t;
    CHECK0(pthread_create(&t, NULL, node_main, &root));
    void *ret;
    CHECK0(pthread_join(t, &ret));
    CHECK(ret == &root);

    long nodes = 0, level = 1;
    for (int d = 0; d <= DEPTH; d++, level *= FANOUT)
        nodes += level;
    long want_sum = nodes * (nodes - 1) / 2;   /* ids are 0..nodes-1 */
    CHECK(root.subtree_nodes == nodes);
    CHECK(root.subtree_sum == want_sum);
    CHECK(started == nodes);
    printf("tree depth %d fanout %d: %ld threads, sum of ids %ld\n",
           DEPTH, FANOUT, root.subtree_nodes, root.subtree_sum);
    printf("ok\n");
    return 0;
}
