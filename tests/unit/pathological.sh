#!/usr/bin/env bash
# Pathological inputs (issue 11): each through `flightrec analyze` (ASan
# build) with a memory bound and a hang bound, and each must leave an
# anomaly row.  The small ones are corpus cases (tests/corpus/*/patho-*,
# whose dumps `corpus check` compares); the two large ones are generated
# here by tests/tools/patho_gen: 128 MiB of junk on one connection (and
# after a Redis PING on another), and 20,000 tiny connections (a million
# takes minutes under ASan).  `make patho-full` runs the issue's sizes
# with the release build: FR_PATHO_JUNK_MB=512 FR_PATHO_CONNS=1000000
# FR_PATHO_BIN=build/flightrec.
# Prints the largest RSS and the time of each, as figures, not assertions.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_PATHO_BIN:-${FR_ASAN:-build/asan}/flightrec}
gen=${FR_BUILD:-build}/patho_gen
[[ -x $bin ]] || bin=build/flightrec
junk_mb=${FR_PATHO_JUNK_MB:-128} conns=${FR_PATHO_CONNS:-20000}
make --no-print-directory -s BUILD="${FR_BUILD:-build}" "$gen" || { echo "pathological: 0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
limit_mb=1024
# run NAME INPUT...: analyze under a 300 s hang bound; RSS of the child in KiB to $tmp/rss
run() {
	local name=$1; shift
	python3 - "$tmp/rss" "$bin" analyze -q -j 2 "$@" -o "$tmp/$name.db" 2>"$tmp/$name.err" <<'PY'
import resource, subprocess, sys, time
t0 = time.monotonic()
try:
    rc = subprocess.run(sys.argv[2:], timeout=300).returncode
except subprocess.TimeoutExpired:
    rc = 124
open(sys.argv[1], 'w').write('%d %.1f\n' % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.monotonic() - t0))
sys.exit(rc)
PY
}
# check NAME SQL EXPECT: after run, the database answers SQL with EXPECT
check() {
	local name=$1 rc=$2 sql=$3 want=$4
	read -r rss secs <"$tmp/rss"
	echo "# $name: largest RSS $((rss / 1024)) MiB, ${secs} s ($bin)"
	t "$name: analyze exit $rc (0 or 1), no sanitizer report" bash -c "[[ $rc == 0 || $rc == 1 ]] && ! grep -q Sanitizer '$tmp/$name.err'"
	t "$name: RSS $((rss / 1024)) MiB under $limit_mb MiB" test "$rss" -lt $((limit_mb * 1024))
	local got; got=$(sqlite3 "$tmp/$name.db" "$sql" 2>&1 | tr '\n' ' ')
	t "$name: $sql -> '$got' (want '$want ')" test "$got" = "$want "
}

"$gen" junk-stream "$tmp/junk.frs" $((junk_mb << 20)) && run "junk-${junk_mb}mib" "$tmp/junk.frs"
check "junk-${junk_mb}mib" $? "select kind from anomalies order by conn_id" "unclassified bound_exceeded"
"$gen" tiny-conns "$tmp/tiny.frs" "$conns" && run "tiny-conns-$conns" "$tmp/tiny.frs"
check "tiny-conns-$conns" $? "select count(*), sum(kind = 'unclassified') from anomalies" "$conns|$conns"
for d in tests/corpus/*/patho-*/; do
	name=$(basename "$d")
	run "$name" "$d"input*.frs
	check "$name" $? "select count(*) > 0 from anomalies" 1
done
echo "pathological: $pass passed, $fail failed"
((fail == 0))
