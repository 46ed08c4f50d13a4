#!/usr/bin/env bash
# limits.sh LIB PROGRAM: behaviour at the limits, under the preload only
# (the limits are gmp's; PROGRAM is limits_prog).  Each case lowers a limit,
# then checks that pthread_create fails with EAGAIN at it (no crash, no
# hang), that the threads created before it all ran and were joined, and
# that creation works again afterwards.
#   1. mapping budget, GMP_STACKGUARD=strict with GMP_STACKGUARD_BUDGET=16:
#      EAGAIN after at most 15 threads (m0's stack holds one guard);
#   2. the same budget without strict: no EAGAIN, stacks beyond the budget
#      come without a guard page;
#   3. memory (address space): ulimit -v 400 MiB in a subshell, 8 MiB
#      stacks: EAGAIN after a few dozen threads, the program continues;
#   4. GMP_MAXTHREADS=3: covered by behaviour/*/maxthreads3 (tests/programs).
set -u
lib=$1 prog=$2
fails=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# expect NAME REGEX CMD...: run CMD (20 s at most); status 0 and stdout matching REGEX.
expect() {
    local name=$1 re=$2 st
    shift 2
    timeout -k 5 20 "$@" >"$out" 2>&1
    st=$?
    if [[ $st == 0 ]] && grep -Eq "$re" "$out" && grep -q '^after release: created and joined' "$out"; then
        echo "ok: $name: $(head -n 1 "$out")"
    else
        echo "FAIL: $name (status $st, want /$re/)"
        cat "$out"
        fails=$((fails + 1))
    fi
}

expect "strict mapping budget" '^created ([1-9]|1[0-5]) of 100, then EAGAIN$' \
    env GMP_STACKGUARD=strict GMP_STACKGUARD_BUDGET=16 LD_PRELOAD="$lib" "$prog" 100
expect "mapping budget, not strict" '^created 100 of 100, then no error$' \
    env GMP_STACKGUARD_BUDGET=16 LD_PRELOAD="$lib" "$prog" 100
# 400 MiB of address space: the program, libc and gmp's first chunks take
# well under 200 MiB, so some 8 MiB stacks fit and 1000 do not.
expect "ulimit -v 400 MiB" '^created [1-9][0-9]* of 1000, then EAGAIN$' \
    bash -c 'ulimit -v 409600 && exec env LD_PRELOAD="$0" "$1" 1000 8192' "$lib" "$prog"
(( fails == 0 ))
