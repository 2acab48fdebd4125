#!/usr/bin/env bash
# ClickHouse benchmark (issue 20): loads an analysis database into a local
# two-shard ClickHouse (Debian's clickhouse-server, on loopback, a data
# folder of this run) with `flightrec export-clickhouse --cluster`, and
# reports the load's rows/s with the CPU seconds of the exporter and of
# each server (steadier than wall time on a busy machine); then times three
# of the analysis views (edges, golden_signals, failures) in SQLite and in
# ClickHouse on the same data, best of three runs each.
# Not part of `make test`; no timing is asserted.
# Usage: tests/bench/clickhouse.sh DB   (e.g. the database of tests/bench/analyze 1G)
set -euo pipefail
cd "$(dirname "$0")/../.."
db=${1:?usage: tests/bench/clickhouse.sh DB}
make -s build/flightrec
FR=$PWD/build/flightrec
dir=$(mktemp -d /var/tmp/fr-bench-ch.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
port=18700
CH_MARK_CACHE=1073741824
source tests/e2e/clickhouse_lib.sh
for n in 0 1; do
  ch_conf "$dir" "$port" "$n"
  ch_start "$dir" "$port" "$n" || { echo "clickhouse shard $n did not start"; exit 1; }
  pids+=("$CH_STARTED")
done
chq() { curl -sf "http://127.0.0.1:$port/" --data-binary "$1"; }
cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
rows=$(sqlite3 "$db" "SELECT (SELECT count(*) FROM request_rows)")
s0=$(cpu "${pids[0]}") s1=$(cpu "${pids[1]}")
t0=$(date +%s.%N)
/usr/bin/time -f "%U %S %M" -o "$dir/time" "$FR" export-clickhouse "$db" --url "http://127.0.0.1:$port" \
  --url "http://127.0.0.1:$((port + 2))" --cluster fr --database bench -q
t1=$(date +%s.%N)
read -r eu es erss <"$dir/time"
total=$(chq "SELECT sum(rows) FROM bench.loads")
e0=$(cpu "${pids[0]}") e1=$(cpu "${pids[1]}")
echo "database: $db ($rows requests, $total rows in all tables)"
awk -v t="$(echo "$t1 - $t0" | bc)" -v n="$total" -v eu="$eu" -v es="$es" -v a="$(echo "$e0 - $s0" | bc)" \
  -v b="$(echo "$e1 - $s1" | bc)" -v rss="$erss" 'BEGIN {
  printf "load: %.1f s wall, %.0f rows/s; CPU s: exporter %.1f (peak RSS %d MiB), servers %.1f + %.1f; rows per CPU s (all): %.0f\n",
    t, n / t, eu + es, rss / 1024, a, b, n / (eu + es + a + b) }'
best() { # command...: best of three, seconds
  local b=999999 s e i
  for i in 1 2 3; do
    s=$(date +%s.%N)
    "$@" >/dev/null
    e=$(date +%s.%N)
    b=$(echo "if ($e - $s < $b) $e - $s else $b" | bc)
  done
  echo "$b"
}
printf "%-16s %10s %12s %8s\n" view "sqlite s" "clickhouse s" ratio
for v in edges golden_signals failures; do
  a=$(best sqlite3 "$db" "SELECT count(*), sum(requests) FROM $v")
  b=$(best chq "SELECT count(), sum(requests) FROM bench.$v")
  printf "%-16s %10.2f %12.2f %7.1fx\n" "$v" "$a" "$b" "$(echo "$a / $b" | bc -l)"
done
