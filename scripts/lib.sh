# shellcheck shell=bash
# scripts/lib.sh: shell helpers shared by scripts/run, scripts/test,
# scripts/bench and scripts/compat.  Source it from bash; it defines functions and a few
# variables and runs nothing else except opening one private fd (see
# run_sampled).
#
#   ensure_packages PKG...   install the Debian packages that are missing
#   ensure_packages_soft ... the same, but only warn when that fails
#   build                    meson setup (first time) + ninja
#   run_sampled CMD...       run CMD, sample its peak kernel-thread count
#
# Variables a caller may read:
#   GMP_ROOT       the repository root (the parent of scripts/)
#   GMP_BUILD      the build directory, "$GMP_ROOT/build"
#   GMP_PRELOAD    "$GMP_BUILD/libgmp_preload.so"
#
# Packages the project needs on a fresh Debian 12 (gdb: the test of
# scripts/gmp-gdb.py, which skips without it).  GMP_PKGS_BENCH are
# optional: a benchmark run without them loses the chart (python3-matplotlib)
# or the real-binary figures that need them (linux-perf: perf bench,
# sysbench, rt-tests: hackbench), not the table.  GMP_PKGS_TEST are what
# scripts/test adds for tests that skip without them (trace/png draws a
# GMP_TRACE file with scripts/trace-png; compat/allocators runs with
# jemalloc, tcmalloc and mimalloc: libmimalloc2.0 up to Debian 12,
# libmimalloc3 from Debian 13; ensure_packages_soft leaves out the other).

# shellcheck disable=SC2034  # used by the scripts that source this file
GMP_PKGS_BUILD=(build-essential meson ninja-build pkg-config check libunwind-dev python3 procps gdb)
GMP_PKGS_BENCH=(python3-matplotlib linux-perf sysbench rt-tests)
# What scripts/compat runs (stock Debian programs) and builds (its own
# test programs: C++, OpenMP, Rust).  Each is optional there: a program
# whose package cannot be installed is shown as skipped.
GMP_PKGS_COMPAT=(linux-perf sysbench rt-tests stress-ng pigz xz-utils zstd python3 g++ rustc
	openjdk-17-jdk-headless nodejs apache2 apache2-utils mariadb-server
	memcached libmemcached-tools redis-server redis-tools)
GMP_PKGS_TEST=(python3-matplotlib libjemalloc2 libgoogle-perftools4 libmimalloc2.0 libmimalloc3)

GMP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GMP_BUILD="$GMP_ROOT/build"
# shellcheck disable=SC2034
GMP_PRELOAD="$GMP_BUILD/libgmp_preload.so"

gmp_log() { printf '%s: %s\n' "${GMP_SCRIPT:-gmp}" "$*" >&2; }
gmp_die() { gmp_log "error: $*"; exit 1; }

# _gmp_apt_updated is set once "apt-get update" has run in this shell, so a
# script that calls ensure_packages twice updates the lists at most once.
_gmp_apt_updated=

# ensure_packages PKG...
# Installs the packages among PKG that dpkg does not report as installed.
# Nothing touches the network when all are present, so a machine that has
# them works offline.  Runs apt-get as root, through sudo otherwise.
# Returns non-zero when something is missing and cannot be installed.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) != 'install ok installed' ]]; then
			missing+=("$p")
		fi
	done
	((${#missing[@]} == 0)) && return 0

	local sudo=()
	if ((EUID != 0)); then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			gmp_log "missing packages: ${missing[*]} (not root and no sudo: install them by hand)"
			return 1
		fi
	fi
	gmp_log "installing: ${missing[*]}"
	# apt-get's and dpkg's own lines go to a log, shown only if they fail.
	local log
	log=$(mktemp)
	if [[ -z $_gmp_apt_updated ]]; then
		"${sudo[@]}" apt-get update -qq >"$log" 2>&1 || {
			tail -n 20 "$log" >&2
			rm -f "$log"
			gmp_log "apt-get update failed"
			return 1
		}
		_gmp_apt_updated=1
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 || {
		tail -n 20 "$log" >&2
		rm -f "$log"
		gmp_log "apt-get install failed for: ${missing[*]}"
		return 1
	}
	rm -f "$log"
}

# ensure_packages_soft PKG...: ensure_packages that warns instead of failing;
# when the whole set fails (a name another Debian release does not have),
# each package is tried on its own.
# A name this release's archive does not know (mimalloc on Debian 11) is
# left out with one line instead of apt-get's errors.
ensure_packages_soft() {
	local known=() p cand lists=0
	compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null && lists=1
	for p in "$@"; do
		cand=$(apt-cache policy "$p" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
		if ((!lists)) || [[ -n $cand && $cand != '(none)' ]]; then
			known+=("$p")
		else
			gmp_log "note: this Debian release has no package $p; continuing without"
		fi
	done
	((${#known[@]} == 0)) && return 0
	set -- "${known[@]}"
	ensure_packages "$@" && return 0
	for p in "$@"; do
		ensure_packages "$p" || gmp_log "warning: could not install $p; continuing without"
	done
	return 0
}

# build: configure the build directory the first time (release build), then
# build everything with ninja.  ninja re-runs meson by itself when a
# meson.build changed.
build() {
	if [[ ! -f $GMP_BUILD/meson-private/coredata.dat ]]; then
		(cd "$GMP_ROOT" && meson setup build --buildtype=release) >&2 ||
			{ gmp_log "meson setup failed"; return 1; }
	fi
	ninja -C "$GMP_BUILD" >&2 || { gmp_log "build failed"; return 1; }
}

# A file descriptor that never becomes readable: "read -t SECONDS -u" on it
# is a sleep that forks nothing.  Forking in the sampling loop would add the
# sleeps' CPU time to the children's times that run_sampled measures.  The
# process substitution is reaped here, before any measurement.
exec {_gmp_sleep_fd}<> <(:)
wait $! 2>/dev/null || true

# run_sampled CMD...
# Runs CMD (its stdin, stdout and stderr are the caller's) and, while it
# runs, samples the number of kernel threads of its process every
# RUN_SAMPLED_INTERVAL seconds (default 0.005).  The count is field 20 of
# /proc/PID/stat, the same counter as "Threads:" in /proc/PID/status and as
# "ps -o nlwp".  Only CMD's own process is sampled, not its children, so CMD
# should exec the program (env VAR=... prog is fine; sh -c 'prog | x' is not).
#
# Sets, and prints to stderr unless RUN_SAMPLED_QUIET=1:
#   RS_WALL    wall-clock seconds, from before the fork until the exit is
#              seen (precise to about one sampling interval)
#   RS_CPU     user+system CPU seconds of CMD and the children it waited for
#              (bash's "times", 1 ms resolution)
#   RS_PEAK    highest thread count seen (at least 1)
#   RS_STATUS  exit status as the shell reports it (128+N for signal N)
# Returns RS_STATUS.
#
# RUN_SAMPLED_TIMEOUT=SECONDS kills CMD with SIGKILL after that long (a
# deadlocked run then ends with status 137 instead of hanging the script).
#
# RUN_SAMPLED_TREE=1 samples CMD's process tree instead: each sample is the
# sum of the thread counts of CMD's process and its descendants (found
# through /proc/PID/task/PID/children, so children forked by a thread other
# than a process's main thread are missed), and a timeout kills the
# processes of the last sample.  CMD may then be a shell function (it runs
# in a subshell, whose one thread is counted) that starts several programs.
run_sampled() {
	local interval=${RUN_SAMPLED_INTERVAL:-0.005}
	local timeout=${RUN_SAMPLED_TIMEOUT:-0}
	local tmp line rest n peak=1 pid t0 t1 u0 s0 u1 s1 dummy st=0
	local -a f
	tmp=$(mktemp)

	# Children's CPU times before; "times" runs in this shell, no fork.
	times >"$tmp"
	{ read -r dummy; read -r u0 s0; } <"$tmp"
	t0=$EPOCHREALTIME

	# Without job control bash gives a background command /dev/null as its
	# stdin; an explicit redirection keeps the caller's.
	"$@" <&0 &
	pid=$!
	while :; do
		if [[ ${RUN_SAMPLED_TREE:-0} == 1 ]]; then
			_gmp_tree_sample "$pid" || break
			n=$_gmp_tree_threads
		else
			# One read of the one-line stat file; comm, field 2, may hold
			# spaces and ")" so split after the last ") ".
			read -r line 2>/dev/null <"/proc/$pid/stat" || break
			rest=${line##*) }
			# Plain words (a state letter and numbers): no globbing to fear.
			# shellcheck disable=SC2206
			f=($rest)
			[[ ${f[0]} == Z || ${f[0]} == X ]] && break
			n=${f[17]}
		fi
		((n > peak)) && peak=$n
		if [[ $timeout != 0 ]] && (( ${EPOCHREALTIME//[.,]/} - ${t0//[.,]/} > ${timeout%.*} * 1000000 )); then
			gmp_log "run_sampled: timeout after ${timeout}s, killing $1 (pid $pid)"
			if [[ ${RUN_SAMPLED_TREE:-0} == 1 ]]; then
				kill -KILL "${_gmp_tree_pids[@]}" 2>/dev/null
			else
				kill -KILL "$pid" 2>/dev/null
			fi
			break
		fi
		read -r -t "$interval" -u "$_gmp_sleep_fd" dummy || :
	done
	wait "$pid" || st=$?
	t1=$EPOCHREALTIME

	times >"$tmp"
	{ read -r dummy; read -r u1 s1; } <"$tmp"
	rm -f "$tmp"

	RS_WALL=$(_gmp_usec_diff "$t0" "$t1")
	RS_CPU=$(awk -v u0="$u0" -v s0="$s0" -v u1="$u1" -v s1="$s1" '
		function sec(x,  m) { gsub(/,/, ".", x); m = x; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", x); sub(/s$/, "", x); return m * 60 + x }
		BEGIN { printf "%.3f", (sec(u1) - sec(u0)) + (sec(s1) - sec(s0)) }')
	RS_PEAK=$peak
	RS_STATUS=$st
	if [[ ${RUN_SAMPLED_QUIET:-0} != 1 ]]; then
		printf 'run_sampled: wall=%ss cpu=%ss peak_threads=%s status=%s\n' \
			"$RS_WALL" "$RS_CPU" "$RS_PEAK" "$RS_STATUS" >&2
	fi
	return "$st"
}

# _gmp_tree_sample PID: sets _gmp_tree_threads to the number of threads of
# PID and its live descendants, and _gmp_tree_pids to those processes.
# Returns 1 when PID itself has ended (or is a zombie).  Forks nothing.
_gmp_tree_sample() {
	local p line rest top=1
	local -a unvisited=("$1") f kids
	_gmp_tree_threads=0 _gmp_tree_pids=()
	while ((${#unvisited[@]})); do
		p=${unvisited[-1]}
		unset 'unvisited[-1]'
		if ! read -r line 2>/dev/null <"/proc/$p/stat"; then
			((top)) && return 1
			continue
		fi
		rest=${line##*) }
		# shellcheck disable=SC2206  # a state letter and numbers
		f=($rest)
		if [[ ${f[0]} == Z || ${f[0]} == X ]]; then
			((top)) && return 1
			continue
		fi
		top=0
		_gmp_tree_threads=$((_gmp_tree_threads + f[17]))
		_gmp_tree_pids+=("$p")
		# The file is one line of pids with no newline at its end.
		kids=()
		read -r -a kids 2>/dev/null <"/proc/$p/task/$p/children" || :
		unvisited+=("${kids[@]}")
	done
	return 0
}

# _gmp_usec_diff T0 T1: T1-T0 in seconds with 3 decimals, for $EPOCHREALTIME
# values (seconds, the locale's decimal point, six digits of microseconds).
_gmp_usec_diff() {
	local a=${1//[.,]/} b=${2//[.,]/} d
	d=$(( (10#$b - 10#$a + 500) / 1000 ))
	printf '%d.%03d' $((d / 1000)) $((d % 1000))
}
