#!/usr/bin/env bash
# Checks that the preload exports exactly the names listed in the version
# script (plus gmp_* API names) and nothing else.
set -euo pipefail
lib=$1 map=$2
want=$(sed -n '/global:/,/local:/p' "$map" | tr ' ;' '\n\n' | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | grep -v -E '^(global|local)$' | sort -u)
have=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TWVDBi]$/ {print $3}' | sed 's/@.*//' | sort -u)
extra=$(comm -13 <(echo "$want") <(echo "$have") | grep -v '^gmp_' || true)
missing=$(comm -23 <(echo "$want") <(echo "$have") | grep -v '^gmp_\*$' || true)
if [ -n "$extra" ]; then echo "exported but not in $map:"; echo "$extra"; exit 1; fi
if [ -n "$missing" ]; then echo "listed in $map but not exported:"; echo "$missing"; exit 1; fi
echo "exports ok: $(echo "$have" | wc -l) symbols"
