/* Tests that pin a thread to one CPU (under gmp: the thread is then locked
 * to its kernel thread).  Header-only: each test program is one file. */
#ifndef GMP_TEST_PIN_CPU_H
#define GMP_TEST_PIN_CPU_H

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

/* Pin the calling thread to the first (last: from_top) CPU of its affinity mask. */
static void pin_to_one_cpu_from(int from_top)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int i = 0; i < CPU_SETSIZE; i++) {
            int c = from_top ? CPU_SETSIZE - 1 - i : i;
            if (CPU_ISSET(c, &set)) {
                CPU_ZERO(&set);
                CPU_SET(c, &set);
                if (sched_setaffinity(0, sizeof set, &set) == 0)
                    return;
                break;
            }
        }
    }
    printf("FAIL: cannot pin to one CPU (%s)\n", strerror(errno));
    fflush(stdout);
    exit(1);
}

#endif
