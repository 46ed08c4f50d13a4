#!/usr/bin/env bash
# Observability tests: the deadlock report, a dump on a signal with wait
# reasons and backtraces, schedtrace lines (GMP_DEBUG), fatal-signal
# reports (GMP_TRACEBACK) and gmp_dump() called by the program.
#   debug.sh LIB DEADLOCK_EXE WAITS_EXE PARKED_EXE CRASH_EXE DUMPCALL_EXE
set -uo pipefail
lib=$1 deadlock=$2 waits=$3 many=$4 crash=$5 dumpcall=$6
fail=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT
check() { # check DESCRIPTION PATTERN: the last run's stderr must match
	if grep -qE -- "$2" "$err"; then echo "ok: $1"; else echo "FAIL: $1 (no /$2/)"; fail=1; fi
}
nocheck() { # nocheck DESCRIPTION PATTERN: the last run's stderr must not match
	if grep -qE -- "$2" "$err"; then echo "FAIL: $1 (found /$2/)"; fail=1; else echo "ok: $1"; fi
}
status() { # status DESCRIPTION WANT GOT
	if [ "$2" = "$3" ]; then echo "ok: $1 (exit $3)"; else echo "FAIL: $1: exit $3, want $2"; fail=1; fi
}
ulimit -c 0 # the crash tests must not leave core files

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
check "schedtrace line format" '^SCHED [0-9]+ms: gomaxprocs=2 idleprocs=[0-9]+ threads=[0-9]+ spinningthreads=[0-9]+ idlethreads=[0-9]+ preemptions=[0-9]+ runqueue=[0-9]+ \[[0-9]+ [0-9]+\]$'
parked=$(awk '/^SCHED/ {if (n > max) max = n; n = 0} /^  G[0-9]+: status=waiting\(cond\)/ {n++} END {if (n > max) max = n; print max + 0}' "$err")
if [ "$parked" -ge 1000 ]; then echo "ok: scheddetail shows the 1000 parked threads ($parked)"; else echo "FAIL: scheddetail shows $parked parked threads, want >= 1000"; fail=1; fi
# Fatal signals: same death as natively, with a report naming the function.
for mode in segv overflow abort; do
	timeout 60 "$crash" $mode >/dev/null 2>&1
	native=$?
	LD_PRELOAD=$lib timeout 60 "$crash" $mode >/dev/null 2>"$err"
	st=$?
	want=139
	[ $mode = abort ] && want=134
	status "native $mode" $want $native
	status "gmp $mode dies as natively" $native $st
	case $mode in
	segv)
		check "SIGSEGV header" '^gmp: fatal signal SIGSEGV in thread [0-9]+ "crasher" at addr 0x0, pc 0x'
		check "faulting thread's backtrace names crash_null" '^	#0 0x[0-9a-f]+ crash_null\+0x'
		check "its caller crasher" ' crasher\+0x'
		check "faulting thread's line names its start routine" '"crasher", created by goroutine 1 at crasher\+0x0 from main\+0x[0-9a-f]+$'
		nocheck "single: no other thread" 'parked_forever' ;;
	overflow)
		check "stack overflow reported" '^gmp: fatal signal SIGSEGV in thread [0-9]+ "crasher" at addr 0x[0-9a-f]+, pc 0x[0-9a-f]+ \(stack overflow'
		check "overflow backtrace names recurse_forever" ' recurse_forever\+0x'
		check "overflow backtrace reaches the thread function" ' crasher\+0x' ;;
	abort)
		check "SIGABRT header" '^gmp: fatal signal SIGABRT in thread [0-9]+ "crasher", pc 0x'
		check "abort backtrace names calls_abort" ' calls_abort\+0x'
		[ "$(grep -c '^gmp: fatal' "$err")" = 1 ] && echo "ok: one report" || { echo "FAIL: several reports"; fail=1; } ;;
	esac
done

GMP_TRACEBACK=all LD_PRELOAD=$lib timeout 60 "$crash" segv >/dev/null 2>"$err"
status "GMP_TRACEBACK=all segv" 139 $?
check "all: the report" '^gmp: fatal signal SIGSEGV in thread'
check "all: the parked thread" '^goroutine [0-9]+ \[waiting, cond, [0-9]+ ms\] "parked", created by goroutine 1 at parked_forever\+0x0 from main\+0x[0-9a-f]+$'
check "all: its backtrace" ' parked_forever\+0x'
check "all: main waits in join" '^goroutine 1 \[waiting, join, [0-9]+ ms\], main thread$'

GMP_TRACEBACK=none LD_PRELOAD=$lib timeout 60 "$crash" segv >/dev/null 2>"$err"
status "GMP_TRACEBACK=none segv" 139 $?
nocheck "none: gmp prints nothing" 'gmp'

native_out=$(timeout 60 "$crash" handled 2>&1)
native=$?
gmp_out=$(LD_PRELOAD=$lib timeout 60 "$crash" handled 2>"$err")
st=$?
status "own SIGSEGV handler, native" 0 $native
status "own SIGSEGV handler under gmp" 0 $st
[ "$gmp_out" = "$native_out" ] && echo "ok: own handler: same output ($gmp_out)" || { echo "FAIL: own handler output '$gmp_out', native '$native_out'"; fail=1; }
nocheck "own handler: gmp prints nothing" 'gmp'

# gmp_dump() from the program: running and parked threads with backtraces.
[ "$(timeout 60 "$dumpcall")" = ok ] && echo "ok: dumpcall runs natively" || { echo "FAIL: dumpcall natively"; fail=1; }
GMP_MAXPROCS=2 LD_PRELOAD=$lib timeout 60 "$dumpcall" >/dev/null 2>"$err"
status "dumpcall under gmp" 0 $?
check "dump header" '^gmp: 2 Ps, [0-9]+ Ms, 3 live threads$'
check "spinning thread shown running on its M" '^goroutine [0-9]+ \[running, on M[0-9]+ tid [0-9]+(, preempted [0-9]+ times, last [0-9]+ ms ago)?\] "spinner", created by goroutine 1 at spin_here\+0x0 from main\+0x[0-9a-f]+$'
# (#0, or under a signal frame when the request came as another signal's
# handler was entered, a preemption's: gmp_sig_dispatch+0x0, libc's restorer)
check "its backtrace from its own registers names spin_here" '^	#[0-2] 0x[0-9a-f]+ spin_here\+0x'
check "parked thread" '^goroutine [0-9]+ \[waiting, cond, [0-9]+ ms\], created by goroutine 1 at parked_here\+0x0 from main\+0x[0-9a-f]+$'
check "parked backtrace names parked_here" ' parked_here\+0x'
check "the caller's own backtrace names main" '^	#[0-9]+ 0x[0-9a-f]+ main\+0x'

# A dump signal to every kernel thread (idle Ms in the scheduler, sysmon, a
# running G's M): each dump is complete and nothing breaks.
GMP_MAXPROCS=2 GMP_DEBUG=dumpsignal=SIGUSR2 DUMPCALL_TASKS=1 LD_PRELOAD=$lib timeout 60 "$dumpcall" >/dev/null 2>"$err"
status "dump signal to every kernel thread" 0 $?
nocheck "no fatal error" 'fatal'
n=$(grep -c '^gmp: 2 Ps' "$err")
[ "$n" -ge 3 ] && echo "ok: $n dumps" || { echo "FAIL: $n dumps, want >= 3"; fail=1; }
[ "$(grep -c ' spin_here+0x' "$err")" -ge "$n" ] && echo "ok: every dump has the spinner's backtrace" || { echo "FAIL: a dump lacks the spinner's backtrace"; fail=1; }
exit $fail
