#!/usr/bin/env bash
# CLI tests of the analyzer commands on the corpus's real traffic: analyze
# options and exit codes, report, corpus add/check, dump.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
bin=$(realpath "$bin")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
t() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

pods=tests/corpus/mixed/pods_services
$bin analyze -q $pods -o "$tmp/p.db" 2>"$tmp/err"; rc=$?
t "analyze exits 0" test $rc = 0
t "no progress bar when stderr is not a terminal" test ! -s "$tmp/err"
$bin report "$tmp/p.db" > "$tmp/report" 2>&1
t "report names the failing endpoint" grep -q 'shop/web .*GET /fail .*503' "$tmp/report"
t "report names the redis error" grep -q 'shop/cache .*HGET .*WRONGTYPE' "$tmp/report"
t "report shows the edge frontend -> web" grep -qE 'shop/frontend +shop/web +http1 +2 ' "$tmp/report"
ps=../shared/captures/redis/zeek-pubsub.pcap
if [[ -f $ps ]]; then
	$bin analyze -q $ps -o "$tmp/ps.db" && $bin report "$tmp/ps.db" > "$tmp/ps-report" 2>&1
	t "report lists pub/sub deliveries as messages" grep -qE 'redis +message +Foo +1 +44' "$tmp/ps-report"
fi
cp "$tmp/p.db" "$tmp/old.db" && sqlite3 "$tmp/old.db" "DROP TABLE messages"
$bin report "$tmp/old.db" > "$tmp/report-old" 2>&1
t "report of a database without the messages table: no error" bash -c "! grep -q 'messages' '$tmp/report-old'"
t "report counts each request once" grep -q '8 request rows (4 counting both ends once)' "$tmp/report"
n=$(sqlite3 "$tmp/p.db" "select count(*) from requests where peer_request_id is not null")
t "both ends linked" test "$n" = 8
n=$(sqlite3 "$tmp/p.db" "select count(*) from requests r join requests s on s.id = r.peer_request_id where s.peer_request_id != r.id")
t "peer links are symmetric" test "$n" = 0

$bin analyze -q /nonexistent -o "$tmp/x.db" 2>/dev/null; t "missing input exits 2" test $? = 2
$bin analyze -q $pods 2>/dev/null; t "missing -o exits 2" test $? = 2
$bin analyze -q -j 0 $pods -o "$tmp/x.db" 2>/dev/null; t "bad -j exits 2" test $? = 2
$bin analyze --help | grep -q -- '--from'; t "analyze --help" test $? = 0

# --from/--to: only the second HTTP request's time onwards
ka=tests/corpus/http1/keepalive
$bin analyze -q $ka -o "$tmp/ka.db"
ts2=$(sqlite3 "$tmp/ka.db" "select start_ns from requests where side='client' and seq=2")
$bin analyze -q --from "$ts2" $ka -o "$tmp/ka2.db"
n=$(sqlite3 "$tmp/ka2.db" "select count(*) from requests where side='client'")
t "--from drops earlier requests (3 left)" test "$n" = 3
n=$(sqlite3 "$tmp/ka2.db" "select count(*) from anomalies where kind='gap'")
t "--from makes the cut a gap" test "$n" -ge 1
$bin analyze -q --to "$ts2" $ka -o "$tmp/ka3.db"
n=$(sqlite3 "$tmp/ka3.db" "select count(*) from requests where side='client' and status is null and reason = 'end of recording'")
t "--to leaves the cut request unanswered, with a reason" test "$n" = 1

# corpus add --conn cuts a connection and its peer; the new case passes
$bin corpus add $pods --conn 3 --name worker_set --corpus "$tmp/corpus" > "$tmp/add" 2>&1
t "corpus add --conn" test -f "$tmp/corpus/redis/worker_set/expected.dump"
n=$(grep -c $'^[0-9]*\t[0-9]*\t[0-9]*\tredis' "$tmp/corpus/redis/worker_set/expected.dump")
t "the cut holds the connection's request, both ends" test "$n" = 2
t "corpus add writes the manifest skeleton" grep -q '^capture: cut by `flightrec corpus add --conn 3` (both ends) from' \
  "$tmp/corpus/redis/worker_set/case.txt"
case_local() { ! grep -qE '^# (recording|settings|http|dns|messages)$|option_|sha256|input-0.frs' "$tmp/corpus/redis/worker_set/expected.dump"; }
t "the expected dump is case-local: no global tables, options, file names or empty tables" case_local
$bin corpus check "$tmp/corpus" > "$tmp/check"
t "corpus check passes on the new case" grep -q '^corpus: 1 passed, 0 failed' "$tmp/check"
mkdir -p "$tmp/bare/redis/no_input" "$tmp/bare/redis/no_manifest"
cp "$tmp/corpus/redis/worker_set/case.txt" "$tmp/bare/redis/no_input/"
cp "$tmp/corpus/redis/worker_set/"*.frs "$tmp/corpus/redis/worker_set/expected.dump" "$tmp/bare/redis/no_manifest/"
$bin corpus check "$tmp/bare" > "$tmp/check-bare" 2>&1; rc=$?
t "corpus check fails a case without input" grep -q '^FAIL .*/no_input: cannot analyze' "$tmp/check-bare"
t "corpus check fails a case without manifest" grep -q '^FAIL .*/no_manifest: no case.txt' "$tmp/check-bare"
t "corpus check of broken cases exits 1" test $rc = 1
sed -i 's/WRONGTYPE/WRONG/' "$tmp/corpus/redis/worker_set/expected.dump" 2>/dev/null
sed -i 's/\tsimple\t/\tSIMPLE\t/' "$tmp/corpus/redis/worker_set/expected.dump"
$bin corpus check "$tmp/corpus" > "$tmp/check"; rc=$?
t "corpus check names case, table, row key and column of a mismatch" \
  grep -q "^ .*redis request_id=[0-9]*: reply_type: expected 'SIMPLE', got 'simple'" "$tmp/check"
t "corpus check exits 1 on a mismatch" test $rc = 1
t "corpus check ends with the tally" bash -c "tail -1 '$tmp/check' | grep -q '0 passed, 1 failed'"

# issue 11, defect 3: corpus check ran `diff` through the shell with the
# case folder in quotes; a folder named with a quote ran commands.
# (run inside $tmp: a name cannot hold a '/', so the commands are relative)
evil="x'\$(touch PWNED)'\`touch PWNED2\`"
mkdir -p "$tmp/q/redis" && cp -r "$tmp/corpus/redis/worker_set" "$tmp/q/redis/$evil"
(cd "$tmp" && "$bin" corpus check q > check-q 2>&1); rc=$?
nothing_ran() { [[ -d $tmp/q/redis/$evil && ! -e $tmp/PWNED && ! -e $tmp/PWNED2 ]]; }
reported() { [[ $rc == 1 ]] && grep -qF "FAIL q/redis/$evil: differs" "$tmp/check-q" &&
  grep -q "reply_type: expected 'SIMPLE'" "$tmp/check-q"; }
t "corpus_check_shell_injection: a quote in a case folder's name runs nothing" nothing_ran
t "corpus_check_shell_injection: the mismatch is still reported" reported

$bin corpus add $pods --conn 3x --name bad --corpus "$tmp/corpus" 2> "$tmp/err"; rc=$?
t "corpus add --conn 3x: exit 2 with a clear error" bash -c "[[ $rc == 2 ]] && grep -q 'connection id' '$tmp/err'"
$bin corpus add --help > "$tmp/help"; rc=$?
t "corpus add --help: usage on stdout, exit 0" bash -c "[[ $rc == 0 ]] && grep -q 'corpus add RECORDING' '$tmp/help'"

$bin dump "$tmp/p.db" > "$tmp/d1"; $bin dump "$tmp/p.db" > "$tmp/d2"
t "dump is stable" bash -c "grep -q '^# anomalies' '$tmp/d1' && cmp -s '$tmp/d1' '$tmp/d2'"
t "dump has no absolute paths" bash -c "! grep -q '$PWD' '$tmp/d1'"
echo "analyze-cli: $pass passed, $fail failed"
((fail == 0))
