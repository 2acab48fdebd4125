#!/usr/bin/env bash
# `flightrec query` (issue 18): the named queries of reports/queries/, each
# run on one database made from corpus cases of every protocol, with the
# values they must give; the output formats (table, CSV, JSON); SQL given
# on the command line, read-only; and the queries compiled into the binary
# (a copy of it outside the source tree still has them).
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
# has FILE LINE: FILE holds LINE exactly (says what it saw when not)
has() { grep -qxF -- "$2" "$1" || { echo "  expected line: $2"; echo "  saw:"; sed 's/^/    /' "$1" | head -20; return 1; }; }

C=tests/corpus
$bin analyze -q $C/grpc/recorded-calls $C/dns/recorded-udp-nxdomain $C/redis/recorded-error \
	$C/mysql/recorded-server-prepared $C/pgsql/recorded-error-detail $C/mixed/pods_services \
	$C/http2/recorded-500 $C/kafka/kcat-produce-gzip/source.pcap -o "$tmp/all.db" || echo "FAIL analyze"
db=$tmp/all.db
# q NAME: the query's CSV, its CRLF line ends made LF, in $tmp/NAME.csv
q() { $bin query "$db" "$1" --csv >"$tmp/$1.crlf" 2>"$tmp/$1.err"; local rc=$?; tr -d '\r' <"$tmp/$1.crlf" >"$tmp/$1.csv"; return $rc; }

$bin query --list >"$tmp/list"
n=$(ls reports/queries/*.sql | grep -vc '\.clickhouse\.sql$') # NAME.clickhouse.sql: another engine's version
t "named_queries: --list shows every file of reports/queries ($n)" test "$(wc -l <"$tmp/list")" = "$n"
t "named_queries: each has its one-line description" bash -c "! grep -vqE '^  [a-z_]+ +[A-Za-z].{20,}' '$tmp/list'"
for f in reports/queries/*.sql; do
	t "named_queries: $(basename "$f") starts with '-- description'" bash -c "head -1 '$f' | grep -qE '^-- [A-Za-z]'"
done
t "named_queries: plain SQL (no SQLite-only function)" \
	bash -c "! ls reports/queries/*.sql | grep -v '\.clickhouse\.sql$' | xargs grep -liE 'strftime|julianday|printf\\(|ifnull|group_concat|datetime\\(|iif\\('"

q edges
t "named_queries: edges (grpc)" has "$tmp/edges.csv" "e2e/cli,e2e/srv,grpc,7,3,0.4286,2277066,103763365"
t "named_queries: edges (redis)" has "$tmp/edges.csv" "shop/worker,shop/cache,redis,2,1,0.5,130000,205000"
q golden_signals
t "named_queries: golden_signals" has "$tmp/golden_signals.csv" "shop/web,2026-11-24T22:34Z,2,1,0.5,101000,2916000,2916000"
q slowest
t "named_queries: slowest, first row" bash -c "sed -n 2p '$tmp/slowest.csv' | grep -q '^140,2026-11-24T23:20:02.351Z,grpc,/e2e.Demo/Count,200,e2e/cli,e2e/srv,103763365,0,52415775,51347590,1385578$'"
t "named_queries: slowest, 20 rows at most" test "$(wc -l <"$tmp/slowest.csv")" -le 21
q errors_by_endpoint
t "named_queries: errors_by_endpoint (http2)" has "$tmp/errors_by_endpoint.csv" "e2e/srv,http2,GET /boom,1,1,1.0,4733664834224,4733664834224"
t "named_queries: errors_by_endpoint (grpc)" has "$tmp/errors_by_endpoint.csv" "e2e/srv,grpc,/e2e.Demo/Count,2,1,0.5,4735585573520,4735585573520"
q dns_failures
t "named_queries: dns_failures" has "$tmp/dns_failures.csv" "nope.e2e.test,A,NXDOMAIN,1,e2e/cli,4911642098214,4911642098214"
q top_talkers
t "named_queries: top_talkers (each connection once)" has "$tmp/top_talkers.csv" "e2e/cli,e2e/srv,mysql,1,1527,2287,3814"
t "named_queries: top_talkers, no server end of a linked pair" bash -c "! grep -q '^e2e/srv,e2e/cli' '$tmp/top_talkers.csv'"
q sql_statements
t "named_queries: sql_statements (mysql)" has "$tmp/sql_statements.csv" "mysql,e2e/srv,SELECT v FROM t WHERE id = ?,50,0,4803857,74191,355617"
t "named_queries: sql_statements (pgsql)" has "$tmp/sql_statements.csv" "pgsql,e2e/srv,INSERT INTO t VALUES (?),1,1,26802640,26802640,26802640"
q redis_commands
t "named_queries: redis_commands" has "$tmp/redis_commands.csv" "shop/cache,HGET,1,1,130000,130000"
q grpc_methods
t "named_queries: grpc_methods (status 5)" has "$tmp/grpc_methods.csv" "e2e/srv,e2e.Demo,Fail,5,1,692178,692178"
q kafka_topics
t "named_queries: kafka_topics" has "$tmp/kafka_topics.csv" "orders,Produce,1,0,1,109,67000"
q connection_gaps
t "named_queries: connection_gaps" has "$tmp/connection_gaps.csv" "7,vm,python3,e2e/cli,e2e/srv,http2,10.213.133.10,50051,214,1945,7"
# connections.retransmits comes with the recorder's TCP evidence: on a
# database that has it the query runs; on one without, it says so
if sqlite3 "$db" "SELECT retransmits FROM connections LIMIT 1" >/dev/null 2>&1; then
	q connection_retransmits; rc=$?
	t "named_queries: connection_retransmits runs" test $rc = 0
else
	q connection_retransmits; rc=$?
	t "named_queries: connection_retransmits without the column: exit 2, says what is missing" \
		bash -c "[[ $rc == 2 ]] && grep -q 'no such column: retransmits' '$tmp/connection_retransmits.err'"
fi

# formats
$bin query "$db" edges >"$tmp/edges.txt"
t "named_queries: table: a header and the values aligned" \
	bash -c "head -1 '$tmp/edges.txt' | grep -q '^client_workload  server_workload  protocol  requests' &&
		grep -qE '^e2e/cli +e2e/srv +grpc +7 +3 +0.4286 +2277066 +103763365$' '$tmp/edges.txt'"
$bin query "$db" edges --json >"$tmp/edges.json"
t "named_queries: --json parses, numbers as numbers, one object per row" /usr/bin/python3 -c "
import json, sys
rows = json.load(open('$tmp/edges.json'))
assert len(rows) == $(($(wc -l <"$tmp/edges.csv") - 1)), len(rows)
g = [r for r in rows if r['protocol'] == 'grpc'][0]
assert g == {'client_workload': 'e2e/cli', 'server_workload': 'e2e/srv', 'protocol': 'grpc', 'requests': 7,
             'errors': 3, 'error_rate': 0.4286, 'p50_ns': 2277066, 'p99_ns': 103763365}, g
"
$bin query "$db" "SELECT 'a,\"b' AS x, NULL AS y, 'é' || char(10) || 'z' AS z" --csv >"$tmp/quote.csv"
t "named_queries: CSV quotes commas, quotes and newlines; NULL is empty" \
	bash -c "[[ \$(cat '$tmp/quote.csv') == \$'x,y,z\\r\\n\"a,\"\"b\",,\"é\\nz\"\\r' ]]"
$bin query "$db" "SELECT 'é' || char(27) || '[2J' AS x, NULL AS y" --json >"$tmp/esc.json"
t "named_queries: JSON keeps UTF-8, escapes control bytes, null" \
	bash -c "grep -qF '{\"x\":\"é\\u001b[2J\", \"y\":null}' '$tmp/esc.json'"

# SQL from the command line: one statement, read-only
$bin query "$db" "SELECT count(*) AS n FROM requests_once WHERE protocol = 'mysql'" --csv >"$tmp/n.csv"
t "named_queries: SQL statement" bash -c "[[ \$(sed -n 2p '$tmp/n.csv') == \$'61\\r' ]]"
$bin query "$db" "DELETE FROM connections" 2>"$tmp/err"; rc=$?
t "named_queries: the database is opened read-only" \
	bash -c "[[ $rc == 2 ]] && grep -q readonly '$tmp/err' && [[ \$(sqlite3 '$db' 'select count(*) from connections') != 0 ]]"
$bin query "$db" "SELECT 1; SELECT 2" 2>"$tmp/err"; rc=$?
t "named_queries: one statement only" bash -c "[[ $rc == 2 ]] && grep -q 'one statement only' '$tmp/err'"
$bin query "$db" no_such_query 2>"$tmp/err"; rc=$?
t "named_queries: unknown name: exit 2, points to --list" bash -c "[[ $rc == 2 ]] && grep -q -- '--list' '$tmp/err'"
$bin query "$tmp/nothere.db" edges 2>/dev/null; rc=$?
t "named_queries: missing database: exit 2" test $rc = 2
t "named_queries: --show prints the SQL" bash -c "$bin query --show edges | diff - reports/queries/edges.sql"

# compiled in: a copy of the binary run elsewhere has them all
cp "$bin" "$tmp/flightrec-copy"
(cd "$tmp" && ./flightrec-copy query all.db kafka_topics --csv) >"$tmp/copy.csv" 2>&1
t "named_queries: compiled into the binary" cmp -s "$tmp/copy.csv" "$tmp/kafka_topics.crlf"

echo "named_queries: $pass passed, $fail failed"
((fail == 0))
