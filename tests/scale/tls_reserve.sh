#!/usr/bin/env bash
# tls_reserve.sh PRELOAD DLOPEN_TLS MODULE
# A thread's stack starts below its TLS plus GMP_TLS_RESERVE bytes (core/tcb.c).
# dlopen_tls loads a module with initial-exec TLS while threads live:
#   - with the default reserve it fits, and every thread sees its own copy;
#   - with GMP_TLS_RESERVE=0 it would land on live stacks: gmp must stop with
#     its fatal message naming the reserve to set, not corrupt a stack.
set -u
lib=$1 prog=$2 mod=$3
fail=0
out=$(LD_PRELOAD=$lib "$prog" "$mod" 2>&1) || { echo "FAIL: default reserve: exit $?"; echo "$out"; fail=1; }
out=$(GMP_TLS_RESERVE=0 LD_PRELOAD=$lib "$prog" "$mod" 2>&1)
st=$?
if ((st == 0)) || ! grep -q "^gmp: fatal: dlopen: a module's initial-exec TLS reaches .*GMP_TLS_RESERVE=" <<<"$out"; then
	echo "FAIL: GMP_TLS_RESERVE=0: exit $st, expected gmp's fatal message"
	echo "$out" | head -5
	fail=1
fi
((fail == 0)) && echo "ok: the module fits the default reserve; without a reserve gmp stops with its message"
exit "$fail"
