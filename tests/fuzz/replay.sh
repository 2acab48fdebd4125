#!/usr/bin/env bash
# Replays every fuzz harness's corpus (tests/fuzz/corpus/<harness>/, with its
# subfolders) through its replay build (no libFuzzer needed).  One test per
# input file; fuzz_proto runs each through every registered protocol.
set -uo pipefail
dir=${1:?replay binaries folder}
cd "$(dirname "$0")/../.."
pass=0 fail=0
for src in tests/fuzz/fuzz_*.c; do # the harnesses there are (a build folder may hold old ones)
  name=$(basename "$src" .c)
  bin=$dir/$name
  [[ -x $bin ]] || { echo "FAIL $name: not built in $dir"; fail=$((fail + 1)); continue; }
  corpus=tests/fuzz/corpus/$name
  [[ -d $corpus ]] || { echo "FAIL $name: no corpus in $corpus"; fail=$((fail + 1)); continue; }
  out=$("$bin" "$corpus" 2>&1)
  rc=$?
  n=$(find "$corpus" -type f | wc -l)
  # a harness may say first what it runs each input through (fuzz_proto)
  what=$(head -1 <<< "$out" | sed -n "s/^$name: //p")
  if ((rc == 0)); then pass=$((pass + n)); echo "ok   $name ($n inputs${what:+, $what})";
  else fail=$((fail + 1)); echo "FAIL $name"; echo "$out" | tail -30; fi
done
echo "fuzz corpora: $pass passed, $fail failed"
((fail == 0))
