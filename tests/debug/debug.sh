#!/usr/bin/env bash
# Observability tests: the deadlock report, a dump on a signal with wait
# reasons and backtraces, and schedtrace lines (GMP_DEBUG).
#   debug.sh LIB DEADLOCK_EXE WAITS_EXE PARKED_EXE
set -uo pipefail
lib=$1 deadlock=$2 waits=$3 many=$4
fail=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT
check() { # check DESCRIPTION PATTERN: the last run's stderr must match
	if grep -qE -- "$2" "$err"; then echo "ok: $1"; else echo "FAIL: $1 (no /$2/)"; fail=1; fi
}

GMP_DEBUG=deadlock=abort LD_PRELOAD=$lib timeout 30 "$deadlock" 2>"$err" >/dev/null
st=$?
[ $st -eq 134 ] && echo "ok: deadlock aborts (SIGABRT)" || { echo "FAIL: deadlock exit status $st"; fail=1; }
check "deadlock report" '^gmp: all threads are asleep - deadlock!$'
check "deadlocked thread 1 shown in t1" 'waiting, mutex.*' 
check "backtrace names t1" ' t1\+0x'
check "backtrace names t2" ' t2\+0x'
check "main waits in join" 'waiting, join'

GMP_DEBUG=dumpsignal=SIGUSR2 LD_PRELOAD=$lib timeout 30 "$waits" 2>"$err" >/dev/null
st=$?
[ $st -eq 0 ] && echo "ok: program continues after the dump" || { echo "FAIL: waits exit status $st"; fail=1; }
for w in mutex cond semaphore sleep "netpoll fd [0-9]+ read"; do check "dump shows wait reason '$w'" "waiting, $w"; done
for f in waits_in_mutex waits_in_cond waits_in_sem waits_in_sleep waits_in_read; do check "backtrace names $f" " $f\+0x"; done

GMP_MAXPROCS=2 GMP_DEBUG=schedtrace=100,scheddetail=1 LD_PRELOAD=$lib timeout 60 "$many" 2>"$err" >/dev/null
st=$?
[ $st -eq 0 ] && echo "ok: schedtrace run" || { echo "FAIL: schedtrace run exit status $st"; fail=1; }
check "schedtrace line format" '^SCHED [0-9]+ms: gomaxprocs=2 idleprocs=[0-9]+ threads=[0-9]+ spinningthreads=[0-9]+ idlethreads=[0-9]+ runqueue=[0-9]+ \[[0-9]+ [0-9]+\]$'
parked=$(awk '/^SCHED/ {if (n > max) max = n; n = 0} /^  G[0-9]+: status=waiting\(cond\)/ {n++} END {if (n > max) max = n; print max + 0}' "$err")
if [ "$parked" -ge 1000 ]; then echo "ok: scheddetail shows the 1000 parked threads ($parked)"; else echo "FAIL: scheddetail shows $parked parked threads, want >= 1000"; fail=1; fi
exit $fail
