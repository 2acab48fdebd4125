#!/usr/bin/env bash
# The whole test suite, as `make test` runs it: unit tests and fuzz corpora
# under ASan+UBSan, CLI tests, the decoder regression corpus, and the e2e
# tests on the real kernel (root).  Each suite prints "N passed, N failed";
# this script adds them up and prints the total last.  A suite's lines
# starting with "# " are figures worth seeing (the split test's case count).
set -uo pipefail
cd "$(dirname "$0")/.."
export FR_BUILD=${FR_BUILD:-build}
export FR_ASAN=${FR_ASAN:-build/asan}
total_pass=0 total_fail=0 failed_suites=()
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

suite() { # name, command...
  local name=$1; shift
  local log; log=$(mktemp)
  local t0=$SECONDS
  echo "== $name"
  "$@" 2>&1 | tee "$log" | grep -E '^# |FAIL|passed, [0-9]+ failed|ERROR|error:' | grep -v '^ok ' || true
  local rc=${PIPESTATUS[0]}
  local line; line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  local p=0 f=0
  if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}; fi
  if ((rc != 0 && f == 0)); then f=1; fi
  if ((p == 0 && f == 0)); then echo "   $name ran no test"; f=1; fi
  if ((f > 0)); then failed_suites+=("$name"); echo "--- $name output (last 60 lines):"; tail -60 "$log"; fi
  echo "   $name: $p passed, $f failed ($((SECONDS - t0)) s)"
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
  rm -f "$log"
}

# Sanitizer builds of the test programs.
make --no-print-directory -s BUILD="$FR_ASAN" SAN=1 unit fuzz-replay "$FR_ASAN/flightrec" >/dev/null || { echo "sanitizer build failed"; exit 1; }

suite unit "$FR_ASAN/test-unit"
suite fuzz-corpora bash tests/fuzz/replay.sh "$FR_ASAN/fuzz-replay"
suite mutants bash tests/fuzz/mutate.sh "$FR_ASAN/mutate"
for t in tests/unit/*.sh; do [[ -e $t ]] && suite "$(basename "$t" .sh)" bash "$t"; done
if [[ -d tests/corpus ]] && ls tests/corpus/*/*/ >/dev/null 2>&1; then
  suite corpus "$FR_ASAN/flightrec" corpus check tests/corpus
fi
if [[ $(id -u) == 0 ]]; then
  # The e2e tests that record run once per hook set of the recorder
  # (FLIGHTREC_HOOKS, tests/e2e/lib.sh): the socket tracepoints where the
  # kernel has them (capture/hooks.c), and the system call tracepoints.
  hook_sets=(syscalls)
  if grep -qa btf_trace_tcp_sendmsg_locked /sys/kernel/btf/vmlinux 2>/dev/null; then
    hook_sets=(sockets syscalls)
  else
    echo "# this kernel has no socket tracepoints for the recorder: e2e tests run with --hooks syscalls only"
  fi
  for t in tests/e2e/test_*.sh; do # the tests that record nothing, once
    [[ -e $t ]] && ! grep -q 'fr_record\b' "$t" && suite "$(basename "$t" .sh)" bash "$t"
  done
  for h in "${hook_sets[@]}"; do
    for t in tests/e2e/test_*.sh; do
      [[ -e $t ]] && grep -q 'fr_record\b' "$t" && FLIGHTREC_HOOKS=$h suite "$(basename "$t" .sh)[$h]" bash "$t"
    done
  done
else
  echo "e2e tests need root: not run"
  total_fail=$((total_fail + 1)) failed_suites+=(e2e-needs-root)
fi

echo
((${#failed_suites[@]})) && echo "failed suites: ${failed_suites[*]}"
echo "all: $total_pass passed, $total_fail failed"
((total_fail == 0))
