#!/usr/bin/env bash
# allocators.sh PRELOAD PROGRAM_SOURCE WORKDIR
#
# tests/programs/alloc_fork.c with each replacement allocator installed
# (jemalloc, tcmalloc, mimalloc): linked into the program, and preloaded
# before and after gmp.  Every gmp run must print what the native run with
# the same allocator prints (malloc, fork from main and from a thread, keys
# with destructors, posix_spawn).  Allocators that are not installed are
# skipped (scripts/test installs them); none at all: exit 77.
set -u
gmp=$1 src=$2 work=$3
libdir=/usr/lib/x86_64-linux-gnu
mkdir -p "$work" || exit 1
cc -O2 -pthread "$src" -o "$work/alloc_fork" || exit 1
fail=0 tried=0
run() { # label expected-file LD_PRELOAD program
	local out
	out=$(timeout 20 env LD_PRELOAD="$3" "$4" 2>&1)
	local rc=$?
	if [[ $rc != 0 || $out != "$(cat "$2")" ]]; then
		echo "FAIL $1 (exit $rc):"
		printf '%s\n' "$out" | head -5
		fail=1
	else
		echo "ok   $1"
	fi
}
for a in libjemalloc.so.2 libtcmalloc.so.4 libmimalloc.so.2 libmimalloc.so.3; do
	lib=$libdir/$a
	[[ -e $lib ]] || { echo "skip $a (not installed)"; continue; }
	tried=1
	linked=$work/alloc_fork_${a//./_}
	cc -O2 -pthread "$src" -o "$linked" -Wl,--no-as-needed "$lib" || exit 1
	timeout 20 "$linked" >"$work/$a.native" 2>&1 || { echo "FAIL $a: native run failed"; fail=1; continue; }
	run "$a linked" "$work/$a.native" "$gmp" "$linked"
	timeout 20 env LD_PRELOAD="$lib" "$work/alloc_fork" >"$work/$a.native-pre" 2>&1 ||
		{ echo "FAIL $a: native preloaded run failed"; fail=1; continue; }
	run "$a preloaded before gmp" "$work/$a.native-pre" "$lib $gmp" "$work/alloc_fork"
	run "$a preloaded after gmp" "$work/$a.native-pre" "$gmp $lib" "$work/alloc_fork"
done
((tried)) || exit 77
exit "$fail"
