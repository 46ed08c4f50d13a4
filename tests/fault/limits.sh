#!/usr/bin/env bash
# limits.sh LIB PROGRAM: behaviour at the limits, under the preload only
# (the limits are gmp's; PROGRAM is limits_prog).  Each case lowers a limit,
# then checks that pthread_create fails with EAGAIN at it (no crash, no
# hang), that the threads created before it all ran and were joined, and
# that creation works again afterwards.
#   1. guards as page-table markers (MADV_GUARD_INSTALL, Linux 6.13; skipped
#      on older kernels), which small stacks get: no mapping budget,
#      GMP_STACKGUARD=strict with GMP_STACKGUARD_BUDGET=16 still creates
#      100 threads with 64 KiB stacks, each with a guard page that faults;
#   2. guards by mprotect (default 8 MiB stacks; also GMP_STACKGUARD=mprotect),
#      mapping budget, strict with GMP_STACKGUARD_BUDGET=16: EAGAIN after at
#      most 15 threads (m0's stack holds one guard), each of them guarded;
#   3. the same budget without strict: no EAGAIN, stacks beyond the budget
#      come without a guard page;
#   4. memory (address space): ulimit -v 400 MiB in a subshell, 8 MiB
#      stacks: EAGAIN after a few dozen threads, the program continues;
#   5. GMP_MAXTHREADS=3: covered by behaviour/*/maxthreads3 (tests/programs).
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

if [[ $("$prog" markers) == yes ]]; then
    expect "guard markers: no mapping budget" '^created 100 of 100, then no error; guarded 100$' \
        env GMP_STACKGUARD=strict GMP_STACKGUARD_BUDGET=16 LD_PRELOAD="$lib" "$prog" 100 64
else
    echo "skip: guard markers (MADV_GUARD_INSTALL): not in this kernel"
fi
expect "mprotect guards: strict mapping budget" '^created ([1-9]|1[0-5]) of 100, then EAGAIN; guarded ([1-9]|1[0-5])$' \
    env GMP_STACKGUARD=strict,mprotect GMP_STACKGUARD_BUDGET=16 LD_PRELOAD="$lib" "$prog" 100
# (m0's scheduler stack is small: with markers it takes none of the budget)
expect "default stacks: strict mapping budget" '^created ([1-9]|1[0-6]) of 100, then EAGAIN; guarded ([1-9]|1[0-6])$' \
    env GMP_STACKGUARD=strict GMP_STACKGUARD_BUDGET=16 LD_PRELOAD="$lib" "$prog" 100
expect "mprotect guards: mapping budget, not strict" '^created 100 of 100, then no error; guarded ([1-9]|1[0-5])$' \
    env GMP_STACKGUARD=mprotect GMP_STACKGUARD_BUDGET=16 LD_PRELOAD="$lib" "$prog" 100
# 400 MiB of address space: the program, libc and gmp's first chunks take
# well under 200 MiB, so some 8 MiB stacks fit and 1000 do not.
expect "ulimit -v 400 MiB" '^created [1-9][0-9]* of 1000, then EAGAIN; guarded [0-9]+$' \
    bash -c 'ulimit -v 409600 && exec env LD_PRELOAD="$0" "$1" 1000 8192' "$lib" "$prog"
(( fails == 0 ))
