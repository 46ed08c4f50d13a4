#!/usr/bin/env bash
# scripts/gmp-gdb.py on a live process and on a core file: the program
# parks one thread in each of six named functions and stops at a breakpoint
# in all_parked(); "info gthreads" must list each with its wait reason and
# name, and "gthread apply all bt" must name each function.  The live
# session writes a core with gcore, and the same checks run on it.  Then
# gdb -p on the program started without gdb runs it to its end.
# Skips (77) when gdb is missing or cannot trace the program.
#   gdb.sh LIB PARKED_EXE GMP_GDB_PY
set -uo pipefail
lib=$1 prog=$2 ext=$3
command -v gdb >/dev/null || { echo "gdb not installed: skipping"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

check() { # check WHAT FILE: the gdb output FILE must show every parked thread
	local what=$1 out=$2 f reason name
	while read -r f reason name; do
		if grep -qE "^  [0-9]+ +waiting +$reason +$name +- +$f at .*parked\.c:[0-9]+$" "$out"; then
			echo "ok: $what: info gthreads shows $f"
		else
			echo "FAIL: $what: info gthreads line for $f ($reason, $name)"; fail=1
		fi
		if grep -qE "^#[0-9]+ +0x[0-9a-f]+ in $f \(arg=0x0\) at .*parked\.c:[0-9]+$" "$out"; then
			echo "ok: $what: backtrace names $f"
		else
			echo "FAIL: $what: no backtrace frame in $f"; fail=1
		fi
	done <<-'LIST'
		parked_in_mutex mutex mutexwaiter
		parked_in_cond cond condwaiter
		parked_in_sem semaphore semwaiter
		parked_in_sleep sleep sleeper
		parked_in_read netpoll\ fd\ [0-9]+ reader
		parked_in_join join joiner
	LIST
	grep -qE '^\* +1 +running .* all_parked at .*parked\.c' "$out" &&
		echo "ok: $what: main is the current gthread, in all_parked" ||
		{ echo "FAIL: $what: main's line"; fail=1; }
	grep -qE '^#[0-9]+ +0x[0-9a-f]+ in main \(\) at .*parked\.c' "$out" &&
		echo "ok: $what: main's backtrace" || { echo "FAIL: $what: main's backtrace"; fail=1; }
	# "info gthreads" ran once more on every kernel thread (thread apply all):
	# from whichever thread, inlined runtime code included, it shows the same.
	local n m
	n=$(grep -c '^  Id ' "$out")
	for f in mutex cond sem sleep read join; do
		m=$(grep -cE " parked_in_$f at " "$out")
		[ "$m" -eq "$n" ] || { echo "FAIL: $what: parked_in_$f in $m of $n listings"; fail=1; }
	done
	[ "$n" -ge 3 ] && echo "ok: $what: the same listing from each of $((n - 1)) kernel threads" ||
		{ echo "FAIL: $what: only $n listings"; fail=1; }
	if grep -qE 'Python Exception|Error occurred' "$out"; then
		echo "FAIL: $what: errors in gdb output"; grep -E 'Python Exception|Error occurred' "$out"; fail=1
	fi
}

timeout 120 gdb -nx -q -batch -x "$ext" \
	-ex 'set startup-with-shell off' \
	-ex "set environment LD_PRELOAD=$lib" \
	-ex 'set environment GMP_MAXPROCS=2' \
	-ex 'break all_parked' -ex 'run' \
	-ex 'info gthreads' -ex 'gthread apply all bt' \
	-ex 'thread apply all -q info gthreads' \
	-ex "gcore $dir/core" -ex 'kill' \
	"$prog" >"$dir/live" 2>&1
if ! grep -q 'hit Breakpoint 1' "$dir/live"; then
	cat "$dir/live"
	if grep -qiE 'ptrace|Operation not permitted|not permitted' "$dir/live"; then
		echo "gdb cannot trace here: skipping"; exit 77
	fi
	echo "FAIL: the program did not stop at all_parked"; exit 1
fi
cat "$dir/live"
check live "$dir/live"

[ -s "$dir/core" ] || { echo "FAIL: gcore wrote no core"; exit 1; }
timeout 120 gdb -nx -q -batch -x "$ext" -ex 'info gthreads' -ex 'gthread apply all bt' \
	-ex 'thread apply all -q info gthreads' "$prog" "$dir/core" >"$dir/corelog" 2>&1
cat "$dir/corelog"
check core "$dir/corelog"

# gdb -p on a process started without a debugger: where gmp switches TLS
# with FS-base traps (core/fstrap.c), the attach itself stops every kernel
# thread, and each one's next TLS access is a trap (a SIGSEGV gmp's handler
# returns from).  The script must have gdb pass those on: the program runs
# to its end with no stop.
LD_PRELOAD=$lib GMP_MAXPROCS=2 "$prog" >"$dir/attached.out" 2>&1 &
pid=$!
sleep 0.5
timeout 120 gdb -nx -q -batch -x "$ext" -p "$pid" -ex 'info gthreads' -ex 'continue' >"$dir/attach" 2>&1
wait "$pid"
st=$?
cat "$dir/attach"
if grep -q 'received signal SIGSEGV' "$dir/attach"; then
	echo "FAIL: attached: gdb stopped at a SIGSEGV"; fail=1
elif ! grep -q 'exited normally' "$dir/attach"; then
	echo "FAIL: attached: the program did not run to its end under gdb"; fail=1
else
	echo "ok: attached: ran to its end$(grep -q 'FS-base traps are on' "$dir/attach" && echo ', FS-base traps passed on')"
fi
[ "$st" -eq 0 ] && grep -q '^parked: ok$' "$dir/attached.out" && echo "ok: attached: the program's output and status" ||
	{ echo "FAIL: attached: status $st"; cat "$dir/attached.out"; fail=1; }
exit $fail
