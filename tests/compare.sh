#!/usr/bin/env bash
# compare.sh PROGRAM [ARGS...]
#
# Runs PROGRAM twice, natively and with LD_PRELOAD="$GMP_LIB", and fails when
# the two runs differ in stdout or exit status. While each run is alive its
# peak kernel-thread count is sampled from the "Threads:" line of
# /proc/PID/status about every 5 ms and reported.
#
# Environment:
#   GMP_LIB          path of the preload library (required; unset means skip)
#   COMPARE_TIMEOUT  seconds each run may take, default 60
#   COMPARE_ENV      "VAR=val ..." exported for the gmp run only; values are
#                    split on white space, so they cannot contain spaces
#   MAX_KTHREADS     if set, the gmp run fails when its peak exceeds it
#   GMP_LIB_PRELOAD  libraries put before GMP_LIB in LD_PRELOAD for the gmp
#                    run (space-separated), for a sanitizer runtime that must
#                    be loaded first: "libasan.so.8" for an ASan-built
#                    GMP_LIB.  A UBSan-built GMP_LIB needs none: libubsan is
#                    its DT_NEEDED and may load after the program.
#
# Exit status: 0 same behaviour, 1 different (a unified diff is printed, and
# the stderr of both runs) or the native run failed its own checks (a stdout
# line beginning "FAIL" or saying ": FAIL"), 77 skip (no GMP_LIB, or the program itself exits
# 77 natively to say "cannot run here").
#
# The sampler is written so that it forks nothing per sample: the 5 ms pause
# is a `read -t` on a FIFO that nobody writes, and the status file is read
# with the `read` builtin. Bash reaps a finished background child on SIGCHLD
# and remembers its status for `wait`, so /proc/PID disappearing is the end of
# the run. A sample can miss a spike shorter than the sampling period.

set -u
set -f                              # COMPARE_ENV is split, never globbed
set -m                              # each run in its own process group, so that a
                                    # timeout also kills what the program forked

if [[ $# -lt 1 ]]; then
    echo "usage: compare.sh PROGRAM [ARGS...]" >&2
    exit 2
fi
if [[ -z ${GMP_LIB:-} ]]; then
    echo "compare.sh: GMP_LIB is not set; skipping" >&2
    exit 77
fi
if [[ ! -r $GMP_LIB ]]; then
    echo "compare.sh: GMP_LIB=$GMP_LIB is not a readable file" >&2
    exit 1
fi

prog=$1
shift
if ! command -v "$prog" >/dev/null; then
    echo "compare.sh: $prog: not found or not executable" >&2
    exit 1
fi
timeout_s=${COMPARE_TIMEOUT:-60}
max_kthreads=${MAX_KTHREADS:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/compare.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkfifo "$work/tick" || exit 1
exec 9<>"$work/tick"                 # opened read-write: never EOF, never blocks open

# run_one LABEL PRELOAD_LIB EXTRA_ENV
# Sets run_status (exit status, or "timeout"/"signal N" text) and run_peak.
run_one() {
    local label=$1 lib=$2 extra=$3
    shift 3
    local start now deadline pid key val threads kv i
    (
        unset LD_PRELOAD
        if [[ -n $lib ]]; then
            for kv in $extra; do export "${kv?}"; done
            export LD_PRELOAD="$lib"
        fi
        exec "$prog" "$@"
    ) <"/dev/null" >"$work/$label.out" 2>"$work/$label.err" &
    pid=$!

    run_peak=1
    start=${EPOCHREALTIME/./}
    deadline=$(( start + timeout_s * 1000000 ))
    local timed_out=0
    while :; do
        threads= state=
        if ! { while read -r key val _; do
                   if [[ $key == State: ]]; then state=$val; fi
                   if [[ $key == Threads: ]]; then threads=$val; break; fi
               done <"/proc/$pid/status"; } 2>/dev/null; then
            break                   # reaped: /proc/PID is gone
        fi
        [[ $state == Z ]] && break  # exited, not reaped yet
        # No Threads: line (a read that raced with the exit): sample again; a live
        # process still meets the deadline below.
        [[ -z $threads ]] && threads=0
        (( threads > run_peak )) && run_peak=$threads
        now=${EPOCHREALTIME/./}
        if (( now > deadline )); then
            timed_out=1
            kill -TERM -- "-$pid" 2>/dev/null
            for (( i = 0; i < 400; i++ )); do       # up to 2 s to die on SIGTERM
                [[ -e /proc/$pid ]] || break
                read -r -t 0.005 -u 9 _
            done
            kill -KILL -- "-$pid" 2>/dev/null
            break
        fi
        read -r -t 0.005 -u 9 _
    done
    wait "$pid" 2>/dev/null          # no "Terminated" job notice on a timeout
    run_status=$?
    if (( timed_out )); then
        run_status="timeout after ${timeout_s}s"
    elif (( run_status > 128 )); then
        run_status="$run_status (signal $(( run_status - 128 )))"
    fi
}

run_one native "" "" "$@"
native_status=$run_status
native_peak=$run_peak

if [[ $native_status == 77 ]]; then
    echo "compare.sh: $prog exited 77 natively (cannot run here); skipping"
    cat "$work/native.err" >&2
    exit 77
fi

if [[ $native_status == timeout* ]]; then
    echo "FAIL: the native run timed out after ${timeout_s}s (COMPARE_TIMEOUT)"
    echo "--- native stdout"
    cat "$work/native.out"
    echo "--- native stderr"
    cat "$work/native.err"
    exit 1
fi

# A program whose own checks failed natively (a line that begins "FAIL" or
# says ": FAIL", as the tests' CHECK macros and summaries print) tests
# nothing by matching it under gmp.
if grep -qE '(^|: )FAIL([ :(]|$)' "$work/native.out"; then
    echo "FAIL: the native run failed its own checks (status $native_status)"
    echo "--- native stdout"
    cat "$work/native.out"
    echo "--- native stderr"
    cat "$work/native.err"
    exit 1
fi
run_one gmp "${GMP_LIB_PRELOAD:+$GMP_LIB_PRELOAD }$GMP_LIB" "${COMPARE_ENV:-}" "$@"
gmp_status=$run_status
gmp_peak=$run_peak

echo "native: $native_peak kernel threads, gmp: $gmp_peak kernel threads"

{ cat "$work/native.out"; echo "--- exit status: $native_status"; } >"$work/native.cmp"
{ cat "$work/gmp.out";    echo "--- exit status: $gmp_status";    } >"$work/gmp.cmp"

fail=0
if ! cmp -s "$work/native.cmp" "$work/gmp.cmp"; then
    echo "FAIL: stdout or exit status differ (${COMPARE_ENV:+$COMPARE_ENV }LD_PRELOAD=$GMP_LIB)"
    diff -u --label native --label gmp "$work/native.cmp" "$work/gmp.cmp"
    fail=1
fi
if [[ -n $max_kthreads ]] && (( gmp_peak > max_kthreads )); then
    echo "FAIL: gmp run peaked at $gmp_peak kernel threads, more than MAX_KTHREADS=$max_kthreads"
    fail=1
fi

if (( fail )); then
    echo "--- native stderr"
    cat "$work/native.err"
    echo "--- gmp stderr"
    cat "$work/gmp.err"
    exit 1
fi

echo "ok: same stdout and exit status ($native_status)"
# stderr is not compared, but a warning printed by either run is worth seeing.
if [[ -s $work/native.err || -s $work/gmp.err ]]; then
    echo "--- native stderr"
    cat "$work/native.err"
    echo "--- gmp stderr"
    cat "$work/gmp.err"
fi
exit 0
