#!/usr/bin/env bash
# GMP_STATS and scripts/gmp-top: a program with 103 user threads (100
# parked on a condvar) runs with GMP_STATS=DIR; its stats file must appear,
# gmp-top -b -n 1 must show >= 100 user threads on a few kernel threads
# with the parked ones by reason, and the file must be gone after exit.
#   gmp-top.sh LIB STATS_COUNTS_EXE GMP_TOP
set -uo pipefail
lib=$1 prog=$2 top=$3
fail=0
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

GMP_MAXPROCS=2 GMP_STATS=$dir LD_PRELOAD=$lib "$prog" "$dir/stop" >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 600); do
	grep -q ready "$dir/out" && [ -s "$dir/gmp-stats.$pid" ] && break
	sleep 0.05
done
[ -s "$dir/gmp-stats.$pid" ] && ok "stats file written" || { bad "no $dir/gmp-stats.$pid"; cat "$dir/err"; exit 1; }
grep -q '^gmp-stats 1$' "$dir/gmp-stats.$pid" && grep -q "^pid $pid\$" "$dir/gmp-stats.$pid" &&
	ok "stats file header" || bad "stats file header: $(head -3 "$dir/gmp-stats.$pid")"

# The file is rewritten every 250 ms: the parked count settles at 100.
for _ in $(seq 200); do
	grep -q '^waiting.cond 100$' "$dir/gmp-stats.$pid" && break
	sleep 0.05
done
out=$("$top" -b -n 1 "$pid")
echo "$out"
# Columns by header name; the process's row starts with its pid.
read -r kthr threads parked < <(awk -v pid="$pid" '
	NR == 2 { for (i = 1; i <= NF; i++) col[$i] = i }
	NR > 2 && $1 == pid { print $col["KTHR"], $col["THREADS"], $col["PARKED"] }' <<<"$out")
[[ ${threads:-x} =~ ^[0-9]+$ && ${kthr:-x} =~ ^[0-9]+$ && ${parked:-x} =~ ^[0-9]+$ ]] &&
	ok "gmp-top row parses (kthreads=$kthr threads=$threads parked=$parked)" || bad "gmp-top row for $pid"
[ "${threads:-0}" -ge 100 ] 2>/dev/null && ok "user threads >= 100" || bad "user threads ${threads:-?}"
[ "${parked:-0}" -ge 100 ] 2>/dev/null && ok "parked >= 100" || bad "parked ${parked:-?}"
[ "${kthr:-999}" -le 10 ] 2>/dev/null && ok "kernel threads <= 10" || bad "kernel threads ${kthr:-?}"
grep -qE 'parked: .*cond 100' <<<"$out" && ok "parked by reason" || bad "no 'parked: cond 100' line"

# Without arguments gmp-top finds the process by its environment.
"$top" -b -n 1 | awk -v pid="$pid" '$1 == pid { f = 1 } END { exit !f }' &&
	ok "found without a pid argument" || bad "not listed without a pid argument"
# A process without gmp shows its kernel threads only.
self=$("$top" -b -n 1 $$ | awk -v pid=$$ '$1 == pid { print $2, $3 }')
[ "$self" = "1 -" ] && ok "process without stats shows nlwp only" || bad "without stats: '$self'"

touch "$dir/stop"
wait "$pid"
st=$?
pid=
[ $st -eq 0 ] && ok "program exits 0" || { bad "program exit $st"; cat "$dir/err"; }
! ls "$dir" | grep -q gmp-stats && ok "stats file removed at exit" ||
	bad "stats file left: $(ls "$dir")"
exit $fail
