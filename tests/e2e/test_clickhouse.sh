#!/usr/bin/env bash
# e2e (issue 20): analyses of two "nodes" loaded into a real ClickHouse
# (Debian's clickhouse-server, two shards on loopback and a Distributed
# table over them).  Node a recorded the client pod only (curl, redis-cli),
# node b the server pod only (nginx, redis-server); each is analyzed apart
# and loaded with `flightrec export-clickhouse --cluster`.  Checked against
# the single analysis of both recordings together: row counts, the
# cross-node links (both ends of each request and the network's share), a
# second load that sends nothing, a shard killed in the middle of a load
# and the load finished by running it again (no duplicates, nothing
# missing), an unreachable server and a table of another shape.
# hooks: one (the export of analyses, not the capture): the other hook sets run under `make test-hooks`
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR="$FR_BUILD/flightrec"
command -v clickhouse-server >/dev/null || fr_die "clickhouse-server missing (make deps)"

# ---- two ClickHouse shards, cluster "fr" ---------------------------------
CH_PORT0=$((18000 + ($$ % 500) * 4))
source tests/e2e/clickhouse_lib.sh
declare -A CH_PID
ch_up() { # n
	ch_start "$T" "$CH_PORT0" "$1" || fr_die "clickhouse shard $1 did not start"
	CH_PID[$1]=$CH_STARTED
	FR_PIDS+=("$CH_STARTED")
}
U0="http://127.0.0.1:$CH_PORT0"
U1="http://127.0.0.1:$((CH_PORT0 + 2))"
chq() { curl -s "$U0/" --data-binary "$1"; }
ch_conf "$T" "$CH_PORT0" 0
ch_conf "$T" "$CH_PORT0" 1
ch_up 0
ch_up 1

# ---- two nodes' recordings -------------------------------------------------
fr_web_pods redis:redis:7.0
echo "hello from srv" >"$T/www/ok"
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_run srv redis redis-server --bind "$SRV" --port 6379 --save '' --appendonly no \
	--protected-mode no --dir "$T" --logfile "$T/redis.log"
fr_wait_port "$SRV" 80 && fr_wait_port "$SRV" 6379 || fr_die "a server did not start"
fr_podlist "$T/pods.json"
fr_record -o "$T/ra" --node node-a --pods "$T/pods.json" --cgroup "$(fr_slice cli)" || fr_die "recorder a"
REC_A=$FR_REC_PID
cp "$T/recorder.err" "$T/recorder-a.err"
fr_record -o "$T/rb" --node node-b --pods "$T/pods.json" --cgroup "$(fr_slice srv)" || fr_die "recorder b"
REC_B=$FR_REC_PID

# 40 keep-alive requests on each of 5 connections (some 404), 60 redis commands
for i in 1 2 3 4 5; do
	args=()
	for j in $(seq 1 40); do
		if ((j % 10 == 0)); then args+=(-o /dev/null "http://$SRV/missing$j"); else args+=(-o /dev/null "http://$SRV/ok"); fi
	done
	fr_exec cli client curl -s "${args[@]}" || fr_die "curl"
done
for i in $(seq 1 20); do echo "SET k$i v$i"; echo "GET k$i"; echo "INCR n"; done |
	fr_exec cli client redis-cli -h "$SRV" >/dev/null
sleep 0.5
kill -INT "$REC_A" "$REC_B"
wait "$REC_A"
check "recorder a exits 0" test $? -eq 0
wait "$REC_B"
check "recorder b exits 0" test $? -eq 0

$FR analyze "$T/ra" -o "$T/a.db" 2>"$T/an.err" && $FR analyze "$T/rb" -o "$T/b.db" 2>>"$T/an.err" &&
	$FR analyze "$T/ra" "$T/rb" -o "$T/m.db" 2>>"$T/an.err" || { cat "$T/an.err"; fr_die "analyze"; }
sq() { sqlite3 -batch -noheader "$@"; }
NLINK=$(sq "$T/m.db" "SELECT count(*) FROM requests WHERE side = 'client' AND peer_request_id IS NOT NULL")
check "the merged analysis links both ends (>= 200 requests, got $NLINK)" test "$NLINK" -ge 200
check "each node alone has no link" test "$(sq "$T/a.db" "SELECT count(*) FROM requests WHERE peer_request_id IS NOT NULL")" = 0

# ---- the load --------------------------------------------------------------
export_ch() { $FR export-clickhouse "$T/a.db" "$T/b.db" --url "$U0" --url "$U1" --cluster fr \
	--database e2e --incident inc1 "$@"; }
export_ch --batch 100 2>"$T/ex1.err"
check "export-clickhouse exits 0" test $? -eq 0
grep -q "rows/s" "$T/ex1.err"
check "a load of several batches reports its progress" test $? -eq 0

# every table has the rows of both databases
bad=""
for t in requests connections http redis processes pods anomalies marks; do
	want=$(($(sq "$T/a.db" "SELECT count(*) FROM $t") + $(sq "$T/b.db" "SELECT count(*) FROM $t")))
	got=$(chq "SELECT count() FROM e2e.$t")
	[[ $got == "$want" ]] || bad+=" $t:$got/$want"
done
check "row counts per table equal the two databases' ($bad )" test -z "$bad"
check "the rows are spread over the two shards" test \
	"$(chq "SELECT count() FROM e2e.requests_local")" != "$(chq "SELECT count() FROM e2e.requests")"
check "node column names each node" test \
	"$(chq "SELECT node, count() FROM e2e.connections GROUP BY node ORDER BY node" | cut -f1 | tr '\n' ' ')" = "node-a node-b "
check "same values: sum of latencies and bytes" test \
	"$(chq "SELECT sum(latency_ns), sum(req_bytes), sum(error) FROM e2e.requests" | tr '\t' ' ')" = \
	"$( (sq "$T/a.db" "SELECT sum(latency_ns), sum(req_bytes), sum(error) FROM requests"; sq "$T/b.db" "SELECT sum(latency_ns), sum(req_bytes), sum(error) FROM requests") |
		awk -F'|' '{a += $1; b += $2; c += $3} END {print a, b, c}')"

# cross-node links, as the merged analysis made them
got=$(chq "SELECT count() FROM e2e.request_links")
check "cross-node links: $got, merged analysis: $NLINK" test "$got" = "$NLINK"
m_net=$(sq "$T/m.db" "SELECT sum(network_ns), sum(latency_ns) FROM requests WHERE side = 'client' AND peer_request_id IS NOT NULL" | tr '|' ' ')
c_net=$(chq "SELECT sum(l.network_ns), sum(r.latency_ns) FROM e2e.request_links l GLOBAL ALL INNER JOIN
	(SELECT incident, load_id AS c_load, id AS c_req, latency_ns FROM e2e.requests) r USING (incident, c_load, c_req)" | tr '\t' ' ')
check "network share of linked requests equals the merged analysis ($c_net / $m_net)" test "$c_net" = "$m_net"
check "requests_once counts each request once, as in SQLite" test \
	"$(chq "SELECT count() FROM e2e.requests_once")" = "$(sq "$T/m.db" "SELECT count(*) FROM requests_once")"
check "per-protocol counts of requests_once equal SQLite's" test \
	"$(chq "SELECT protocol, count(), sum(error) FROM e2e.requests_once GROUP BY protocol ORDER BY protocol" | tr '\t' '|')" = \
	"$(sq "$T/m.db" "SELECT protocol, count(*), sum(error) FROM requests_once GROUP BY protocol ORDER BY protocol")"

# the views of the analysis, in ClickHouse, over both nodes = the merged analysis's
num() { awk -F'\t' -v OFS='\t' '{for (i = 1; i <= NF; i++) if ($i ~ /^-?[0-9]+\.[0-9]+$/) $i = $i + 0; else if ($i == "\\N") $i = ""; print}'; }
same_view() { # NAME CH-SQL SQLITE-SQL
	local a b
	a=$(chq "$2" | num)
	b=$(sq -separator $'\t' "$T/m.db" "$3" | num)
	[[ -n $a && $a == "$b" ]] || { echo "   clickhouse: $(echo "$a" | head -3 | tr '\n' '|')"; echo "   sqlite:     $(echo "$b" | head -3 | tr '\n' '|')"; }
	check "view $1 equals the merged analysis's ($(echo "$a" | wc -l) rows)" test -n "$a" -a "$a" = "$b"
}
same_view edges "SELECT client_workload, server_workload, protocol, requests, errors, error_rate, p50_ns, p90_ns, p99_ns
	FROM e2e.edges ORDER BY requests DESC, client_workload, server_workload, protocol" \
	"SELECT client_workload, server_workload, protocol, requests, errors, error_rate, p50_ns, p90_ns, p99_ns
	FROM edges ORDER BY requests DESC, client_workload, server_workload, protocol"
same_view golden_signals "SELECT workload, minute, requests, errors, p50_ns, p90_ns, p99_ns FROM e2e.golden_signals
	ORDER BY workload, minute" "SELECT workload, minute, requests, errors, p50_ns, p90_ns, p99_ns FROM golden_signals
	ORDER BY workload, minute"
same_view failures "SELECT server_workload, protocol, endpoint, status_, requests FROM e2e.failures
	ORDER BY server_workload, protocol, endpoint, status_" "SELECT server_workload, protocol, endpoint, status, requests
	FROM failures ORDER BY server_workload, protocol, endpoint, status"
same_view slowest "SELECT latency_ns, network_ns, summary, client_workload, server_workload FROM e2e.slowest LIMIT 10" \
	"SELECT latency_ns, network_ns, summary, client_workload, server_workload FROM slowest LIMIT 10"

# the named queries, on ClickHouse (both nodes) and on the merged analysis
declare -A ONE # each query's answer while e2e holds one incident
for qn in $($FR query --list | awk '{print $1}'); do
	a=$($FR query "$T/m.db" "$qn" --csv 2>/dev/null)
	ra=$?
	b=$($FR query --clickhouse "$U0" --database e2e "$qn" --csv 2>"$T/q.err")
	rb=$?
	ONE[$qn]=$b
	if [[ $(echo "$a" | head -1) == id,* ]]; then # ids are each database's own
		a=$(echo "$a" | cut -d, -f2-)
		b=$(echo "$b" | cut -d, -f2-)
	fi
	if [[ $(echo "$a" | head -1) == start_at,* ]]; then
		# SQLite's strftime('%f') rounds through a julian-day double (about
		# 0.03 ms of noise): at a half millisecond it may round the other way
		a=$(echo "$a" | cut -d, -f2-)
		b=$(echo "$b" | cut -d, -f2-)
	fi
	if ((ra != 0)); then
		check "named query $qn fails on ClickHouse too, as on SQLite" test "$rb" -ne 0
		continue
	fi
	[[ $a == "$b" ]] || { echo "   sqlite:     $(echo "$a" | head -3 | tr '\n' '|')"; echo "   clickhouse: $(echo "$b" | head -3 | tr '\n' '|') $(head -c 300 "$T/q.err")"; }
	[[ $a == "$b" ]] || diff <(echo "$a") <(echo "$b") | head -6
check "named query $qn: ClickHouse gives the merged analysis's rows ($(echo "$a" | wc -l) lines)" test "$rb" = 0 -a "$a" = "$b"
done

# loading again sends nothing
before=$(chq "SELECT count() FROM e2e.requests")
export_ch 2>"$T/ex2.err"
check "a second load exits 0" test $? -eq 0
check "a second load says it has nothing to do" test "$(grep -c 'already loaded' "$T/ex2.err")" = 2
check "a second load adds no row" test "$(chq "SELECT count() FROM e2e.requests")" = "$before"

# a shard killed in the middle of a load; the same command again finishes it
$FR export-clickhouse "$T/m.db" --url "$U0" --url "$U1" --cluster fr --database kill --incident inc2 \
	--batch 5 --retries 0 2>"$T/ex3.err" &
EXP=$!
for i in $(seq 1 200); do
	grep -q 'requests: batch 3 ' "$T/ex3.err" 2>/dev/null && break
	sleep 0.05
done
kill -9 "${CH_PID[0]}" "${CH_PID[1]}"
wait "${CH_PID[0]}" "${CH_PID[1]}" 2>/dev/null
wait "$EXP"
rc=$?
check "a load cut by a dead server exits 1 (got $rc)" test "$rc" -eq 1
grep -q "run the same command again" "$T/ex3.err"
check "it says how to finish the load" test $? -eq 0
ch_up 0
ch_up 1
partial=$(chq "SELECT count() FROM kill.requests")
check "the cut load had sent part of the requests ($partial)" test "$partial" -gt 0 -a "$partial" -lt "$(sq "$T/m.db" "SELECT count(*) FROM requests")"
$FR export-clickhouse "$T/m.db" --url "$U0" --url "$U1" --cluster fr --database kill --incident inc2 \
	--batch 5 2>"$T/ex4.err"
check "the load run again exits 0" test $? -eq 0
want=$(sq "$T/m.db" "SELECT count(*) FROM requests")
check "after the restart: $(chq "SELECT count() FROM kill.requests") requests (had $partial), no duplicate" test \
	"$(chq "SELECT count(), uniqExact(id) FROM kill.requests" | tr '\t' ' ')" = "$want $want"
grep -q "batches were already there" "$T/ex4.err"
check "the second run skipped the batches already sent" test $? -eq 0
for t in connections http redis processes; do
	check "after the restart, $t holds each row once" test \
		"$(chq "SELECT count() FROM kill.$t")" = "$(sq "$T/m.db" "SELECT count(*) FROM $t")"
done

# two incidents in one database: a query names one (--incident)
$FR export-clickhouse "$T/m.db" --url "$U0" --url "$U1" --cluster fr --database e2e --incident inc3 -q 2>"$T/ex6.err"
check "a second incident loads into the same database" test $? -eq 0
$FR query --clickhouse "$U0" --database e2e edges --csv >/dev/null 2>"$T/q6.err"
rc=$?
check "two incidents and no --incident: exit 2 (got $rc), naming both" bash -c \
	"[[ $rc == 2 ]] && grep -q 'several incidents in database e2e (inc1, inc3): pick one with --incident' '$T/q6.err'"
bad=""
for qn in "${!ONE[@]}"; do
	b=$($FR query --clickhouse "$U0" --database e2e --incident inc1 "$qn" --csv 2>/dev/null)
	[[ $b == "${ONE[$qn]}" ]] || bad+=" $qn"
done
check "--incident inc1: every named query answers as before inc3 came (${#ONE[@]} queries;$bad )" test -z "$bad"
check "--incident inc3: the edges of the merged analysis" test \
	"$($FR query --clickhouse "$U0" --database e2e --incident inc3 edges --csv 2>&1)" = "$($FR query "$T/m.db" edges --csv)"
check "--incident of no load: one error line" one_line "no such incident in database e2e \\(inc1, inc3\\)" \
	$FR query --clickhouse "$U0" --database e2e --incident nope edges
check "the temporary databases are gone" test "$(chq "SELECT count() FROM system.databases WHERE name LIKE 'fr_query_%'")" = 0

# errors
check "an unreachable server: one error line" one_line "cannot reach ClickHouse" $FR export-clickhouse "$T/a.db" --url http://127.0.0.1:1 --database x
sqlite3 "$T/empty.db" "CREATE TABLE x (a)"
check "not an analysis database: one error line" one_line "not a flightrec analysis database" $FR export-clickhouse "$T/empty.db" --url "$U0" --database x -q
check "several URLs without --cluster: one error line" one_line "several --url need --cluster" $FR export-clickhouse "$T/a.db" --url "$U0" --url "$U1"
chq "CREATE DATABASE shape" >/dev/null
chq "CREATE TABLE shape.anomalies (incident String, load_id String, batch UInt32, node String, wall_ns Int64,
	conn_id String) ENGINE = MergeTree() PARTITION BY incident ORDER BY (node, wall_ns)" >/dev/null
$FR export-clickhouse "$T/a.db" --url "$U0" --database shape -q 2>"$T/ex5.err"
rc=$?
check "a table of another shape: exit 2 (got $rc)" test "$rc" -eq 2
grep -q "does not match this database: column 'conn_id" "$T/ex5.err"
check "a table of another shape names the column" test $? -eq 0

fr_finish
