#!/usr/bin/env bash
# Alert rules (issue 18): reports/rules.conf compiled in and evaluated at
# the end of `analyze` into the alerts table; `report --rules FILE`
# evaluates an edited copy again.  A database made from a real recording
# is given a known time series (requests every 6 s for 6 minutes, failures
# in minutes 2-3 and one in minute 5, slow requests in minute 4, losses,
# and the connections' retransmit and reset columns), and each rule's
# alerts are checked value by value: windows, merging of consecutive
# windows, minimum counts, thresholds, time ranges in ns and UTC.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
# same NAME FILE TEXT: FILE holds exactly TEXT (says what it saw when not)
same() { local name=$1 f=$2 want=$3; t "$name" bash -c "[[ \$(cat '$f') == '$want' ]]" || { echo "  want: $want"; echo "  saw:"; sed 's/^/    /' "$f"; }; }
db=$tmp/m.db
alerts() { sqlite3 -separator '|' "$db" "SELECT rule, severity, subject, value, threshold, start_ns, end_ns, start_at, end_at, detail FROM alerts WHERE rule = '$1' ORDER BY start_ns" >"$tmp/$1.out"; }

# the default rules: compiled in, the alerts table with its columns
$bin analyze -q tests/corpus/mysql/recorded-server-prepared -o "$db" || echo "FAIL analyze"
cols=$(sqlite3 "$db" "SELECT group_concat(name || ' ' || type, ', ') FROM pragma_table_info('alerts')")
t "alert_rules: analyze makes the alerts table" test "$cols" = \
	"rule TEXT, severity TEXT, subject TEXT, value REAL, threshold REAL, start_ns INTEGER, end_ns INTEGER, detail TEXT, start_at TEXT, end_at TEXT"
t "alert_rules: nothing fires on a healthy recording" test "$(sqlite3 "$db" 'select count(*) from alerts')" = 0

# the time series: T0 is a whole minute (wall offset 0); request i at
# T0 + 6 s * i, 1 ms each; failed: i = 20..39 (minutes 2 and 3) and 55
# (minute 5: 1 of 10); slow (2 s): i = 40..49 (minute 4)
T0=1800000000000000000
sqlite3 "$db" "
UPDATE segments SET wall_offset_ns = 0;
CREATE TEMP TABLE k AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM requests_once;
UPDATE request_rows SET endpoint = 'GET /x', error = 0, start_ns = $T0 + 6000000000 * k.i,
  latency_ns = CASE WHEN k.i BETWEEN 40 AND 49 THEN 2000000000 ELSE 1000000 END FROM k WHERE k.id = request_rows.id;
UPDATE request_rows SET end_ns = start_ns + latency_ns, error = (SELECT i BETWEEN 20 AND 39 OR i = 55 FROM k
  WHERE k.id = request_rows.id) WHERE id IN (SELECT id FROM k);
INSERT INTO anomalies VALUES (0, $T0 + 100000000000, 'loss', 'node vm cpu 1 reason 0: 42 events, 4200 bytes lost in [1, 2]');
INSERT INTO anomalies VALUES (0, $T0 + 130000000000, 'loss', 'node vm cpu 0 reason 0: 8 events, 800 bytes lost in [3, 4]');
" || echo "FAIL sqlite3"

cat >"$tmp/r.conf" <<'EOF'
# test rules
error-rate   error_rate   > 5%    1m  5   critical
strict       error_rate   > 5%    1m  11  warning   # a minute holds 10 requests: never judged
latency      p99_latency  > 1s    1m  5   warning
losses       losses       > 0     1m  1   info
resets       conn_resets  > 0     1m  1   warning
retrans      retransmits  >10     1m  1   info
EOF
$bin report "$db" --rules "$tmp/r.conf" >"$tmp/report" 2>"$tmp/err"; rc=$?
t "alert_rules: report --rules exits 0" test $rc = 0
t "alert_rules: rules whose columns the database lacks are named" \
	grep -q 'not evaluated: resets (the recording has no connections.resets); retrans (the recording has no connections.retransmits)' "$tmp/err"
alerts error-rate
same "alert_rules: error_rate: minutes 2-3 one alert, minute 5 another" "$tmp/error-rate.out" \
"error-rate|critical|e2e/srv GET /x|1.0|0.05|$((T0 + 120000000000))|$((T0 + 234001000000))|2027-01-15T08:02:00.000Z|2027-01-15T08:03:54.001Z|20 of 20 requests failed (100.0%) in 2 windows of 1m; peak 100.0%
error-rate|critical|e2e/srv GET /x|0.1|0.05|$((T0 + 330000000000))|$((T0 + 330001000000))|2027-01-15T08:05:30.000Z|2027-01-15T08:05:30.001Z|1 of 10 requests failed (10.0%) in 1 window of 1m; peak 10.0%"
alerts strict
t "alert_rules: a window under the minimum count is not judged" test ! -s "$tmp/strict.out"
alerts latency
same "alert_rules: p99_latency: minute 4" "$tmp/latency.out" \
"latency|warning|e2e/srv GET /x|2000000000.0|1000000000.0|$((T0 + 240000000000))|$((T0 + 296000000000))|2027-01-15T08:04:00.000Z|2027-01-15T08:04:56.000Z|p99 up to 2s (threshold 1s); 10 of 10 requests slower in 1 window of 1m"
alerts losses
same "alert_rules: losses: two windows, one alert, the peak window's count" "$tmp/losses.out" \
"losses|info|node vm|42.0|0.0|$((T0 + 100000000000))|$((T0 + 130000000000))|2027-01-15T08:01:40.000Z|2027-01-15T08:02:10.000Z|50 events lost in 2 windows of 1m"
t "alert_rules: the report shows the alerts, most severe first" \
	bash -c "grep -A2 '^Alerts' '$tmp/report' | tail -1 | grep -qE '^  critical error-rate +e2e/srv GET /x +08:02:00.000 08:03:54.001  20 of 20'"

# connections.retransmits/resets (recorded TCP evidence, NULL without it):
# evaluated once they hold values
sqlite3 "$db" "UPDATE connections SET end_ns = $T0 + 300000000000, retransmits = CASE role WHEN 'client' THEN 12 ELSE 3 END, resets = 1"
$bin report "$db" --rules "$tmp/r.conf" >/dev/null 2>"$tmp/err"
t "alert_rules: with the columns, nothing left unevaluated" test ! -s "$tmp/err"
alerts retrans
same "alert_rules: retransmits: both ends count, per client -> server" "$tmp/retrans.out" \
"retrans|info|e2e/cli -> e2e/srv|15.0|10.0|$((T0 + 300000000000))|$((T0 + 300000000000))|2027-01-15T08:05:00.000Z|2027-01-15T08:05:00.000Z|15 TCP retransmits in 1 window of 1m"
alerts resets
same "alert_rules: resets: each connection once, per server workload" "$tmp/resets.out" \
"resets|warning|e2e/srv|1.0|0.0|$((T0 + 300000000000))|$((T0 + 300000000000))|2027-01-15T08:05:00.000Z|2027-01-15T08:05:00.000Z|1 TCP resets in 1 window of 1m"

# a longer window: the whole series (61 requests, 21 failed; 50 events
# lost) in one 10m window; ">=" fires at the threshold, ">" does not
printf 'wide error_rate > 30%% 10m 1 critical\neq losses >= 50 10m 1 info\ngt losses > 50 10m 1 info\n' >"$tmp/w.conf"
printf 'p99eq p99_latency >= 2s 1m 5 info\np99gt p99_latency > 2s 1m 5 info\n' >>"$tmp/w.conf"
$bin report "$db" --rules "$tmp/w.conf" >/dev/null 2>&1
alerts wide
t "alert_rules: a 10m window" grep -q "^wide|critical|e2e/srv GET /x|0.344262295081967|0.3|$((T0 + 120000000000))|$((T0 + 330001000000))|.*|21 of 61 requests failed (34.4%) in 1 window of 10m" "$tmp/wide.out"
alerts eq
t "alert_rules: >= fires at the threshold" grep -q "^eq|info|node vm|50.0|50.0|" "$tmp/eq.out"
alerts gt
t "alert_rules: > does not" test ! -s "$tmp/gt.out"
alerts p99eq
t "alert_rules: p99 >= fires at the threshold" grep -q "^p99eq|info|e2e/srv GET /x|2000000000.0|2000000000.0|$((T0 + 240000000000))|" "$tmp/p99eq.out"
alerts p99gt
t "alert_rules: p99 > does not" test ! -s "$tmp/p99gt.out"
t "alert_rules: each evaluation replaces the alerts" test "$(sqlite3 "$db" "select count(*) from alerts")" = 3

# the shipped file is the compiled-in default
$bin analyze -q tests/corpus/http2/recorded-500 -o "$tmp/a.db" && sqlite3 "$tmp/a.db" "select * from alerts order by 1,3" >"$tmp/default"
$bin report "$tmp/a.db" --rules reports/rules.conf >/dev/null 2>&1 && sqlite3 "$tmp/a.db" "select * from alerts order by 1,3" >"$tmp/file"
t "alert_rules: reports/rules.conf parses and is the default" cmp -s "$tmp/default" "$tmp/file"
# analyze --rules: evaluated at the end of the analysis
echo "any-error error_rate > 0 1m 1 critical" >"$tmp/any.conf"
$bin analyze -q --rules "$tmp/any.conf" tests/corpus/http2/recorded-500 -o "$tmp/b.db"
t "alert_rules: analyze --rules evaluates at the end" \
	test "$(sqlite3 "$tmp/b.db" "select subject, value, detail from alerts")" = "e2e/srv GET /boom|1.0|1 of 1 requests failed (100.0%) in 1 window of 1m; peak 100.0%"

# the parser: each mistake exits 2 naming the file and line; nothing is changed
bad() { # name, rule line, expected message
	printf '# ok\nok error_rate > 5%% 1m 1 info\n%s\n' "$2" >"$tmp/bad.conf"
	$bin report "$tmp/b.db" --rules "$tmp/bad.conf" >/dev/null 2>"$tmp/err"; local rc=$?
	if ((rc == 2)) && grep -qF -- "$tmp/bad.conf:3: $3" "$tmp/err"; then
		t "alert_rules: parser: $1" true
	else
		t "alert_rules: parser: $1 (exit $rc)" false
		sed 's/^/    /' "$tmp/err"
	fi
}
bad "unknown metric" "x error_ratio > 5% 1m 1 info" "unknown metric 'error_ratio'"
bad "severity" "x error_rate > 5% 1m 1 fatal" "bad severity 'fatal'"
bad "a share above 100%" "x error_rate > 150% 1m 1 info" "error_rate is a share"
bad "latency without a unit" "x p99_latency > 500 1m 1 info" "p99_latency wants a duration"
bad "window" "x error_rate > 5% 1q 1 info" "bad window '1q'"
bad "field count" "x error_rate > 5% 1m critical" "6 fields where a rule has 7"
bad "operator" "x error_rate < 5% 1m 1 info" "'<' where '>' or '>=' goes"
bad "minimum count" "x error_rate > 5% 1m -1 info" "bad minimum count '-1'"
bad "a second rule of the same name" "ok error_rate > 5% 1m 1 info" "a second rule named 'ok'"
t "alert_rules: a bad rules file leaves the alerts as they were" \
	test "$(sqlite3 "$tmp/b.db" "select count(*) from alerts")" = 1
# the verdict's alert line says since when on the wall clock, as start_at
since=$(sqlite3 "$tmp/b.db" "select substr(start_at, 12, 8) from alerts")
t "alert_rules: the verdict's alert is 'since $since' (UTC, as start_at)" \
	bash -c "'$bin' report '$tmp/b.db' -o '$tmp/b.html' | grep -q 'alert any-error (critical): .* since $since'"
$bin analyze -q --rules "$tmp/bad.conf" tests/corpus/http2/recorded-500 -o "$tmp/c.db" 2>/dev/null; rc=$?
t "alert_rules: analyze refuses a bad rules file before analyzing" bash -c "[[ $rc == 2 && ! -e '$tmp/c.db' ]]"
$bin analyze -q --rules "$tmp/nothere.conf" tests/corpus/http2/recorded-500 -o "$tmp/c.db" 2>"$tmp/err"; rc=$?
t "alert_rules: a missing rules file exits 2" bash -c "[[ $rc == 2 ]] && grep -q 'cannot open the rules file' '$tmp/err'"

echo "alert_rules: $pass passed, $fail failed"
((fail == 0))
