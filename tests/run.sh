#!/usr/bin/env bash
# The whole test suite, as `make test` runs it: unit tests and fuzz corpora
# under ASan+UBSan, CLI tests, the decoder regression corpus, and the e2e
# tests on the real kernel (root).  Each suite prints "N passed, N failed";
# this script adds them up and prints the total last.  A suite's lines
# starting with "# " are figures worth seeing (the split test's case count).
#
# The suites that record nothing run side by side, one per core (their
# reports come out in order once all are done); the e2e tests that record
# run one at a time, as they time real traffic.  The e2e tests that record run once per
# hook set of the recorder, except those marked "# hooks: one" (what they
# check does not depend on how the bytes are captured: the command line,
# the ring on a full disk, triggers, metadata from the API, exports): they
# run with the first hook set here, and with the others under
# `tests/run.sh --other-hooks` (`make test-hooks`, which CI also runs).
set -uo pipefail
cd "$(dirname "$0")/.."
export FR_BUILD=${FR_BUILD:-build}
export FR_ASAN=${FR_ASAN:-build/asan}
total_pass=0 total_fail=0 failed_suites=()
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
R=$(mktemp -d /tmp/fr-run.XXXXXX)
trap 'rm -rf "$R"' EXIT
# python3 is Debian's (the modules tests/deps.sh installs are its own),
# also where a version manager's shim comes first in PATH (pyenv's costs
# about a second per call, and the tests make hundreds)
if [[ -x /usr/bin/python3 ]]; then
  mkdir -p "$R/bin" && ln -s /usr/bin/python3 "$R/bin/python3" && export PATH=$R/bin:$PATH
fi

run_suite() { # result file, name, command...: prints the suite's report, writes "passed failed" to the result file
  local res=$1 name=$2; shift 2
  local log=$res.log
  local t0=$SECONDS
  echo "== $name"
  "$@" 2>&1 | tee "$log" | grep -E '^# |FAIL|passed, [0-9]+ failed|ERROR|error:' | grep -v '^ok ' || true
  local rc=${PIPESTATUS[0]}
  local line; line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  local p=0 f=0
  if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}; fi
  if ((rc != 0 && f == 0)); then f=1; fi
  if ((p == 0 && f == 0)); then echo "   $name ran no test"; f=1; fi
  if ((f > 0)); then echo "--- $name output (last 60 lines):"; tail -60 "$log"; fi
  echo "   $name: $p passed, $f failed ($((SECONDS - t0)) s)"
  echo "$p $f" >"$res"
  rm -f "$log"
}

tally() { # result file, name
  local p=0 f=1
  [[ -s $1 ]] && read -r p f <"$1"
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
  ((f > 0)) && failed_suites+=("$2")
  rm -f "$1"
}

suite() { # name, command...: run now
  run_suite "$R/now" "$@"
  tally "$R/now" "$1"
}

# The side-by-side pool: pool_add starts a suite when a core is free, and
# says when it ends (its summary line, "(pool)"); pool_end waits for all
# and prints their reports in the order added.
pool_jobs=$(nproc 2>/dev/null || echo 2)
pool_names=()
pool_add() { # name, command...
  local i=${#pool_names[@]}
  pool_names+=("$1")
  while (($(jobs -rp | wc -l) >= pool_jobs)); do wait -n; done
  { run_suite "$R/pool.$i" "$@" >"$R/pool.$i.out" 2>&1; echo "(pool) $(tail -1 "$R/pool.$i.out" | sed 's/^ *//')"; } &
}
pool_end() {
  wait
  echo
  local i
  for i in "${!pool_names[@]}"; do
    cat "$R/pool.$i.out"
    tally "$R/pool.$i" "${pool_names[$i]}"
  done
  pool_names=()
}

# The e2e tests: those that record nothing, and those that record, with
# the recorder's hook sets (FLIGHTREC_HOOKS, tests/e2e/lib.sh): the socket
# tracepoints where the kernel has them (capture/hooks.c), and the system
# call tracepoints.
e2e_hook_sets() {
  if grep -qa btf_trace_tcp_sendmsg_locked /sys/kernel/btf/vmlinux 2>/dev/null; then
    echo sockets syscalls
  else
    echo "# this kernel has no socket tracepoints for the recorder: e2e tests run with --hooks syscalls only" >&2
    echo syscalls
  fi
}
records() { grep -q 'fr_record\b' "$1"; }
one_hook_set() { grep -q '^# hooks: one' "$1"; }

if [[ ${1:-} == --other-hooks ]]; then
  # the "# hooks: one" tests with the hook sets make test leaves out
  [[ $(id -u) == 0 ]] || { echo "e2e tests need root"; echo "all: 0 passed, 1 failed"; exit 1; }
  read -ra hook_sets <<<"$(e2e_hook_sets)"
  for h in "${hook_sets[@]:1}"; do
    for t in tests/e2e/test_*.sh; do
      records "$t" && one_hook_set "$t" && FLIGHTREC_HOOKS=$h suite "$(basename "$t" .sh)[$h]" bash "$t"
    done
  done
  echo
  ((${#failed_suites[@]})) && echo "failed suites: ${failed_suites[*]}"
  echo "all: $total_pass passed, $total_fail failed"
  ((total_fail == 0))
  exit
fi

# Sanitizer builds of the test programs.
make --no-print-directory -s -j"$(nproc)" BUILD="$FR_ASAN" SAN=1 unit fuzz-replay "$FR_ASAN/flightrec" >/dev/null || { echo "sanitizer build failed"; exit 1; }

# The longest first, so that the pool ends together.
echo "== the suites that record nothing, $pool_jobs side by side (reports when all are done)"
pool_add mutants bash tests/fuzz/mutate.sh "$FR_ASAN/mutate"
long=(pcap_roundtrip throwaway_protocol pcap_oracle_analyze)
for n in "${long[@]}"; do [[ -e tests/unit/$n.sh ]] && pool_add "$n" bash "tests/unit/$n.sh"; done
pool_add unit "$FR_ASAN/test-unit"
pool_add fuzz-corpora bash tests/fuzz/replay.sh "$FR_ASAN/fuzz-replay"
for t in tests/unit/*.sh; do
  n=$(basename "$t" .sh)
  [[ " ${long[*]} " == *" $n "* ]] || pool_add "$n" bash "$t"
done
if [[ -d tests/corpus ]] && ls tests/corpus/*/*/ >/dev/null 2>&1; then
  pool_add corpus "$FR_ASAN/flightrec" corpus check tests/corpus
fi
if [[ $(id -u) == 0 ]]; then # the e2e tests that record nothing (the report in a browser)
  for t in tests/e2e/test_*.sh; do
    records "$t" || pool_add "$(basename "$t" .sh)" bash "$t"
  done
fi
pool_end

if [[ $(id -u) == 0 ]]; then
  read -ra hook_sets <<<"$(e2e_hook_sets)"
  for h in "${hook_sets[@]}"; do
    for t in tests/e2e/test_*.sh; do
      records "$t" || continue
      [[ $h != "${hook_sets[0]}" ]] && one_hook_set "$t" && continue
      FLIGHTREC_HOOKS=$h suite "$(basename "$t" .sh)[$h]" bash "$t"
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
