#!/usr/bin/env bash
# The same input gives a byte-identical dump for -j1, -j2, -j4 and repeated
# runs, and the dump's SHA-256 is the one stored in the recording table.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
inputs=$(find tests/corpus -name '*.frs' | sort)
[[ -n $inputs ]] || { echo "no corpus inputs"; echo "0 passed, 1 failed"; exit 1; }
for j in 1 2 4 1; do
  $bin analyze -q -j $j $inputs -o "$tmp/j$j.db" || { echo "analyze -j$j failed"; fail=$((fail + 1)); }
  $bin dump "$tmp/j$j.db" > "$tmp/j$j.$RANDOM.dump"
done
first=$(ls "$tmp"/*.dump | head -1)
for d in "$tmp"/*.dump; do name="dump identical: $(basename "$d")"; check cmp -s "$first" "$d"; done
name="dump_sha256 matches the dump"
check test "$(sqlite3 "$tmp/j2.db" "select value from recording where key='dump_sha256'")" = "$(sha256sum < "$first" | cut -d' ' -f1)"
name="requests found"
check test "$(sqlite3 "$tmp/j1.db" 'select count(*) from requests')" -gt 0
echo "determinism: $pass passed, $fail failed"
((fail == 0))
