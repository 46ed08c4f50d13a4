#!/usr/bin/env bash
# fault.sh LIB PROGRAM
#
# Fault-injection walk over every point the runtime passes while PROGRAM
# runs (LIB must be built with -Dfaultinj=true):
#
#   1. a clean run with GMP_FAULT_REPORT=1 counts the points, K;
#   2. for N = 1..K the program runs again with GMP_FAULT=N (the Nth point
#      fails).  When K > FAULT_MAX_RUNS (default 300) N takes 1..150 and
#      then FAULT_MAX_RUNS-150 values spread evenly over the rest, so the
#      sample is the same every time;
#   3. for every point named in the report, GMP_FAULT=NAME:1 and NAME:2 (the
#      first and second pass through that point fail, whatever the order).
#
# Every run must end in one of:
#   exit 0 and "ok: all work done" (a retry got past the failure),
#   exit 3 and "error: CALL: EAGAIN|ENOMEM|EINTR" (the program's own report),
#   exit 127 with "gmp: fatal: out of memory at start-up" when the failing
#   point was passed at start-up (the one failure no caller can see);
# never a signal, a timeout, another status or a wrong result.  And the
# injected failure must be announced ("gmp: faultinj: failing point N")
# whenever the run passed at least N points.
#
# Environment: FAULT_TIMEOUT seconds per run (default 30), FAULT_MAX_RUNS.
set -u

if [[ $# -ne 2 ]]; then
    echo "usage: fault.sh LIB PROGRAM" >&2
    exit 2
fi
lib=$1 prog=$2
tmo=${FAULT_TIMEOUT:-30}
maxruns=${FAULT_MAX_RUNS:-300}
work=$(mktemp -d "${TMPDIR:-/tmp}/fault.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# run SPEC: runs the program with GMP_FAULT=SPEC; sets st.
run() {
    GMP_MAXPROCS=2 GMP_FAULT_REPORT=1 GMP_FAULT="$1" LD_PRELOAD="$lib" \
        timeout -k 5 "$tmo" "$prog" </dev/null >"$work/out" 2>"$work/err"
    st=$?
}

fails=0 runs=0 n_ok=0 n_retried=0 n_reported=0 n_fatal=0
declare -A seen_points=()

# check SPEC NTH: classify the last run; NTH is the global pass that failed
# (empty for NAME:N runs).
check() {
    local spec=$1 nth=$2 why= passed fp
    runs=$((runs + 1))
    passed=$(sed -n 's/^gmp: faultinj: \([0-9]*\) points$/\1/p' "$work/err" | tail -n 1)
    fp=$(sed -n 's/^gmp: faultinj: failing point [0-9]* (\([a-z_]*\)).*/\1/p' "$work/err" | head -n 1)
    [[ -n $fp ]] && seen_points[$fp]=1
    if [[ $st == 0 ]]; then
        if grep -q '^ok: all work done' "$work/out"; then
            n_ok=$((n_ok + 1))
            grep -q '^ok: all work done, 0 resource' "$work/out" || n_retried=$((n_retried + 1))
        else
            why="exit 0 without 'ok: all work done'"
        fi
    elif [[ $st == 3 ]]; then
        if grep -Eq '^error: [a-z_]+: (EAGAIN|ENOMEM|EINTR)$' "$work/out"; then
            n_reported=$((n_reported + 1))
        else
            why="exit 3 without a resource error line"
        fi
    elif [[ $st == 127 ]]; then
        if grep -q '^gmp: fatal: out of memory at start-up' "$work/err" &&
           grep -q '^gmp: faultinj: failing point .* at start-up$' "$work/err"; then
            n_fatal=$((n_fatal + 1))
        else
            why="exit 127 that is not a start-up failure"
        fi
    elif [[ $st == 124 || $st == 137 ]]; then
        why="timeout after ${tmo}s"
    elif (( st > 128 )); then
        why="killed by signal $((st - 128))"
    else
        why="exit status $st"
    fi
    # The failure must have happened if the run got that far (start-up
    # fatals exit before the report).
    if [[ -z $why && -n $nth && -n $passed ]] && (( passed >= nth )) &&
       ! grep -q "^gmp: faultinj: failing point $nth " "$work/err"; then
        why="passed $passed points but point $nth did not fail"
    fi
    if [[ -n $why ]]; then
        fails=$((fails + 1))
        echo "FAIL: GMP_FAULT=$spec: $why"
        echo "--- stdout"; cat "$work/out"
        echo "--- stderr"; tail -n 40 "$work/err"
    fi
}

run ""
if [[ $st != 0 ]] || ! grep -q '^ok: all work done, 0 resource' "$work/out"; then
    echo "FAIL: the run without a fault did not succeed (status $st)"
    cat "$work/out" "$work/err"
    exit 1
fi
K=$(sed -n 's/^gmp: faultinj: \([0-9]*\) points$/\1/p' "$work/err")
if [[ -z $K || $K == 0 ]]; then
    echo "FAIL: no 'gmp: faultinj: K points' report (is $lib built with -Dfaultinj=true?)"
    cat "$work/err"
    exit 1
fi
# Point names (lower case) with their pass counts, from the report.
mapfile -t points < <(sed -n 's/^gmp: faultinj:   \([A-Z_]*\) \([0-9]*\)$/\1 \2/p' "$work/err")
echo "clean run: $K points: ${points[*]}"

ns=()
if (( K <= maxruns )); then
    for ((n = 1; n <= K; n++)); do ns+=("$n"); done
else
    for ((n = 1; n <= 150; n++)); do ns+=("$n"); done
    rest=$((maxruns - 150))
    for ((i = 1; i <= rest; i++)); do ns+=($((150 + (K - 150) * i / rest))); done
    echo "K=$K > FAULT_MAX_RUNS=$maxruns: sampling ${#ns[@]} values of N"
fi
for n in "${ns[@]}"; do
    run "$n"
    check "$n" "$n"
done

for pc in "${points[@]}"; do
    name=${pc% *} count=${pc#* }
    lname=${name,,}
    for k in 1 2; do
        (( k > count )) && break
        run "$lname:$k"
        check "$lname:$k" ""
        if ! grep -q "^gmp: faultinj: failing point $k ($lname)" "$work/err" && [[ $st != 127 ]]; then
            # The second pass may not come in a run that took another path; the first must.
            if (( k == 1 )); then
                fails=$((fails + 1))
                echo "FAIL: GMP_FAULT=$lname:1 did not fail point $lname"
            fi
        fi
    done
done

echo "fault: K=$K points, $runs runs: $n_ok completed ($n_retried after retried failures)," \
     "$n_reported reported a resource error, $n_fatal fatal at start-up, $fails failed"
echo "points failed at least once: ${!seen_points[*]}"
(( fails == 0 ))
