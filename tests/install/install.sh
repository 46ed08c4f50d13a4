#!/usr/bin/env bash
# install.sh BUILDDIR PROGRAM: "meson install" into a staging folder
# (DESTDIR), then checks what a user gets: gmp-run starts PROGRAM under gmp
# (its output the same as natively, and it ran on gmp's threads: gmp_stats
# answers inside it), the header and the pkg-config file compile a program
# against the public API.
set -euo pipefail
build=$1 prog=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
if ! DESTDIR=$stage meson install -C "$build" --no-rebuild >"$stage.log" 2>&1; then
	cat "$stage.log"; rm -f "$stage.log"
	echo "FAIL: meson install"; exit 1
fi
rm -f "$stage.log"
run=$(find "$stage" -path '*/bin/gmp-run' -type f)
pc=$(find "$stage" -name gmp-preload.pc)
[[ -x $run ]] || { echo "FAIL: no executable bin/gmp-run in $(cd "$stage" && find . -type f)"; exit 1; }
[[ -f $pc ]] || { echo "FAIL: no gmp-preload.pc"; exit 1; }
[[ -n $(find "$stage" -path '*/include/gmp-preload/gmp.h') ]] || { echo "FAIL: no include/gmp-preload/gmp.h"; exit 1; }

# gmp-run with no program: usage, status 2.
st=0; "$run" >/dev/null 2>&1 || st=$?
[[ $st == 2 ]] || { echo "FAIL: gmp-run without a program exited $st, not 2"; exit 1; }

# The same program natively and through gmp-run: the same output.
native=$("$prog") || { echo "FAIL: $prog natively"; exit 1; }
viarun=$(GMP_MAXPROCS=2 "$run" "$prog") || { echo "FAIL: $prog under gmp-run"; exit 1; }
[[ $native == "$viarun" ]] || { echo "FAIL: output differs"; diff <(echo "$native") <(echo "$viarun"); exit 1; }

# A program built with the installed header and pkg-config's flags sees
# gmp_stats under gmp-run and not natively.
cflags=$(PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$stage pkg-config --cflags gmp-preload)
cat >"$stage/api.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <gmp.h>
#include <stdio.h>
int main(void)
{
	int (*stats)(struct gmp_stats *, size_t) = (int (*)(struct gmp_stats *, size_t))dlsym(RTLD_DEFAULT, "gmp_stats");
	struct gmp_stats s;
	if (!stats)
		return puts("native"), 0;
	if (stats(&s, sizeof s) != 0 || s.ms < 1)
		return puts("gmp_stats failed"), 1;
	return puts("gmp"), 0;
}
C
# shellcheck disable=SC2086
cc $cflags "$stage/api.c" -o "$stage/api" -ldl || { echo "FAIL: compiling against the installed header ($cflags)"; exit 1; }
[[ $("$stage/api") == native ]] || { echo "FAIL: the API program natively"; exit 1; }
[[ $("$run" "$stage/api") == gmp ]] || { echo "FAIL: the API program did not run under gmp"; exit 1; }
echo "ok: gmp-run, header and gmp-preload.pc as installed"
