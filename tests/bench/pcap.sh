#!/usr/bin/env bash
# pcap benchmark (issue 5): capture nginx + wrk HTTP/1.1 keep-alive traffic
# on loopback with tcpdump (about 100 MB, 300,000 requests by default), then
# on the same file time
#   - flightrec import-pcap FILE -o DIR      (pcap -> recording)
#   - flightrec analyze FILE -o x.db         (when the analyzer exists)
#   - tshark -r FILE -Y http.response -T fields -e http.response.code
# reporting wall time, requests/s and peak RSS (GNU time).  Not part of
# `make test`; no timing is asserted.  Needs root (tcpdump on lo).
#
# The h2c case (issue 13): h2load (nghttp2-client) against nghttpd
# (nghttp2-server) over cleartext HTTP/2, 100,000 requests by default (4
# connections, 10 concurrent streams each), then `flightrec analyze FILE`
# against `tshark -r FILE` with its HTTP/2 dissector (HPACK decoded) on the
# same file.
#
# The sql case (issue 14): pgbench -M prepared (Parse once, then Bind /
# Execute per statement; 7 statements a transaction) against a postgres 15
# of this run (initdb into the temporary directory, as nobody), 210,000
# statements by default, then `flightrec analyze FILE` against `tshark -r
# FILE` with its PostgreSQL dissector on the same file.
# Usage: tests/bench/pcap.sh [h2c|sql] [REQUESTS] [PCAP_TO_REUSE]
# KEEP_PCAP=FILE keeps a copy of the capture (for a profile).
set -euo pipefail
cd "$(dirname "$0")/../.."
h2c=0 sql=0
if [[ ${1:-} == h2c ]]; then h2c=1; shift; fi
if [[ ${1:-} == sql ]]; then sql=1; shift; fi
requests=${1:-$((h2c ? 100000 : sql ? 210000 : 300000))}
reuse=${2:-}
make -s build/flightrec
FR=$PWD/build/flightrec
dir=$(mktemp -d /var/tmp/fr-bench-pcap.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -f $dir/nginx.pid ]] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  [[ -f $dir/pg/postmaster.pid ]] && kill -INT "$(head -1 "$dir/pg/postmaster.pid")" 2>/dev/null || true
  sleep 0.2
  rm -rf "$dir"
}
trap cleanup EXIT
pcap=$dir/http.pcap
port=18089

if [[ -n $reuse ]]; then
  cp "$reuse" "$pcap"
elif ((sql)); then
  pgbin=/usr/lib/postgresql/15/bin
  chmod 711 "$dir"
  mkdir -p "$dir/pg" "$dir/sock" && chown nobody "$dir/pg" "$dir/sock"
  runuser -u nobody -- "$pgbin/initdb" -D "$dir/pg" -U bench --auth=trust > "$dir/initdb.out" 2>&1
  runuser -u nobody -- "$pgbin/postgres" -D "$dir/pg" -k "$dir/sock" -h 127.0.0.1 -p "$port" > "$dir/pg.out" 2>&1 &
  pids+=($!)
  for i in $(seq 1 100); do runuser -u nobody -- "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
  runuser -u nobody -- "$pgbin/psql" -h 127.0.0.1 -p "$port" -U bench -d postgres -qc "CREATE DATABASE bench"
  runuser -u nobody -- pgbench -h "$dir/sock" -p "$port" -U bench -i -s 1 -q bench > "$dir/pgbench-init.out" 2>&1
  tcpdump -i lo -s 0 -B 131072 -U -w "$pcap" "tcp port $port" 2> "$dir/tcpdump.err" &
  pids+=($!)
  sleep 1
  # 2 clients; a tpcb-like transaction is 7 statements
  runuser -u nobody -- pgbench -h 127.0.0.1 -p "$port" -U bench -M prepared -n -c 2 -t $((requests / 14)) bench \
    > "$dir/pgbench.out" 2>&1
  sleep 1
  kill -INT "${pids[1]}"; wait "${pids[1]}" || true
  grep -E 'transactions actually processed|tps' "$dir/pgbench.out" | sed 's/^/pgbench: /'
  grep -E 'captured|dropped' "$dir/tcpdump.err" | sed 's/^/tcpdump: /'
elif ((h2c)); then
  mkdir -p "$dir/www"
  printf '{"status":"ok","items":[1,2,3]}\n' > "$dir/www/index.json"
  nghttpd --no-tls --address=127.0.0.1 -d "$dir/www" "$port" > "$dir/nghttpd.out" 2>&1 &
  pids+=($!)
  sleep 1
  tcpdump -i lo -s 0 -B 131072 -U -w "$pcap" "tcp port $port" 2> "$dir/tcpdump.err" &
  pids+=($!)
  sleep 1
  h2load -n "$requests" -c 4 -m 10 "http://127.0.0.1:$port/index.json" > "$dir/h2load.out"
  sleep 1
  kill -INT "${pids[1]}"; wait "${pids[1]}" || true
  grep -E 'finished in|requests:|status codes' "$dir/h2load.out" | sed 's/^/h2load: /'
  grep -E 'captured|dropped' "$dir/tcpdump.err" | sed 's/^/tcpdump: /'
else
  mkdir -p "$dir/www" "$dir/tmp"
  printf '{"status":"ok","items":[1,2,3]}\n' > "$dir/www/index.json"
  cat > "$dir/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$port;
    root $dir/www;
    location / { default_type application/json; try_files /index.json =404; }
  }
}
CONF
  nginx -c "$dir/nginx.conf" -e "$dir/error.log"
  # each wrk thread stops after its share of the requests
  cat > "$dir/stop.lua" <<LUA
local n, limit = 0, 0
function setup(thread) thread:set("limit", math.floor($requests / 2)) end
function init(args) limit = wrk.thread:get("limit") end
function response(status, headers, body)
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
LUA
  tcpdump -i lo -s 0 -B 131072 -U -w "$pcap" "tcp port $port" 2> "$dir/tcpdump.err" &
  pids+=($!)
  sleep 1
  wrk -t2 -c16 -d120s -s "$dir/stop.lua" "http://127.0.0.1:$port/" > "$dir/wrk.out"
  sleep 1
  kill -INT "${pids[0]}"; wait "${pids[0]}" || true
  grep -E 'requests in|Requests/sec' "$dir/wrk.out" | sed 's/^/wrk: /'
  grep -E 'captured|dropped' "$dir/tcpdump.err" | sed 's/^/tcpdump: /'
fi
[[ -n ${KEEP_PCAP:-} ]] && cp "$pcap" "$KEEP_PCAP"
size=$(stat -c %s "$pcap")
echo "capture: $pcap, $((size / 1000000)) MB"

measure() { # label outfile command...
  local label=$1 out=$2; shift 2
  /usr/bin/time -f '%e %M' -o "$dir/time" "$@" > "$out" 2> "$dir/stderr" || { echo "$label failed:"; tail -5 "$dir/stderr"; return 1; }
  read -r wall rss < "$dir/time"
  echo "$label: ${wall} s wall, peak RSS $((rss / 1024)) MB"
  eval "${label//-/_}_wall=$wall ${label//-/_}_rss=$rss"
}

sync
if ((sql)); then
  measure analyze "$dir/analyze.out" "$FR" analyze -q "$pcap" -o "$dir/x.db"
  n=$(sqlite3 "$dir/x.db" "select count(*) from requests r join pgsql p on p.request_id = r.id
    where p.kind = 'extended' and r.status is not null")
  nt=$(sqlite3 "$dir/x.db" "select count(*) from requests r join pgsql p on p.request_id = r.id
    where p.kind = 'extended' and p.statement is not null and p.statement not like '<unknown%'")
  measure tshark "$dir/tshark.out" tshark -r "$pcap" -d "tcp.port==$port,pgsql" -Y pgsql.tag -T fields -e pgsql.tag
  tshark_n=$(tr ',' '\n' < "$dir/tshark.out" | grep -c .)
  echo "analyze: $n Executes answered, $nt with their SQL text (tshark: $tshark_n CommandComplete tags)"
  awk -v a="$analyze_wall" -v b="$tshark_wall" -v ra="$analyze_rss" -v rb="$tshark_rss" -v n="$n" \
    'BEGIN{printf "sql pcap to database vs tshark: %.2f s, %.1fx faster (goal 20x), %.1f%% of its memory (goal 20%%), %.0f statements/s\n", a, b/a, 100*ra/rb, n/a}'
  exit 0
fi
if ((h2c)); then
  measure analyze "$dir/analyze.out" "$FR" analyze -q "$pcap" -o "$dir/x.db"
  n=$(sqlite3 "$dir/x.db" "select count(*) from requests where protocol = 'http2' and status is not null")
  measure tshark "$dir/tshark.out" tshark -r "$pcap" -d "tcp.port==$port,http2" -Y http2.headers.status \
    -T fields -e http2.headers.status
  tshark_n=$(tr ',' '\n' < "$dir/tshark.out" | grep -c .)
  echo "analyze: $n HTTP/2 responses (tshark: $tshark_n :status fields)"
  awk -v a="$analyze_wall" -v b="$tshark_wall" -v ra="$analyze_rss" -v rb="$tshark_rss" -v n="$n" \
    'BEGIN{printf "h2c pcap to database vs tshark: %.2f s, %.1fx faster (goal 20x), %.1f%% of its memory (goal 20%%), %.0f requests/s\n", a, b/a, 100*ra/rb, n/a}'
  exit 0
fi
measure import-pcap "$dir/import.out" "$FR" import-pcap "$pcap" -o "$dir/rec"
cat "$dir/stderr"
measure tshark "$dir/tshark.out" tshark -r "$pcap" -Y http.response -T fields -e http.response.code
tshark_n=$(wc -l < "$dir/tshark.out")
echo "tshark: $tshark_n responses ($(awk -v n="$tshark_n" -v t="$tshark_wall" 'BEGIN{printf "%.0f", n/t}') responses/s)"
awk -v a="$import_pcap_wall" -v b="$tshark_wall" -v ra="$import_pcap_rss" -v rb="$tshark_rss" \
  'BEGIN{printf "import-pcap vs tshark: %.1fx faster, %.1f%% of its memory\n", b/a, 100*ra/rb}'

if ! "$FR" analyze --help >/dev/null 2>&1; then
  echo "analyze: skipped: 'flightrec analyze' does not exist in this build yet (the analyzer branch);"
  echo "         rerun this script once it is merged to measure the issue's goal (50x faster than tshark, 1/5 of its memory)"
  exit 0
fi
n_of() { sqlite3 "$1" "select count(*) from requests where protocol like 'http%' and status is not null" 2>/dev/null || echo "?"; }
if "$FR" analyze -q "$pcap" -o "$dir/probe.db" >/dev/null 2>&1; then
  # the analyzer takes the pcap itself (it imports on the fly)
  measure analyze "$dir/analyze.out" "$FR" analyze -q "$pcap" -o "$dir/x.db"
  total=$analyze_wall rss=$analyze_rss
else
  # two steps: import-pcap (above) then analyze the recording
  echo "analyze: 'flightrec analyze FILE.pcap' is not wired to fr_pcap_import() yet: timing import-pcap + analyze REC"
  measure analyze "$dir/analyze.out" "$FR" analyze -q "$dir/rec" -o "$dir/x.db"
  total=$(awk -v a="$import_pcap_wall" -v b="$analyze_wall" 'BEGIN{print a + b}')
  rss=$((import_pcap_rss > analyze_rss ? import_pcap_rss : analyze_rss))
fi
n=$(n_of "$dir/x.db")
echo "analyze: $n HTTP responses (tshark: $tshark_n)"
awk -v a="$total" -v b="$tshark_wall" -v ra="$rss" -v rb="$tshark_rss" -v n="$n" \
  'BEGIN{printf "pcap to database vs tshark: %.2f s, %.1fx faster (goal 50x), %.1f%% of its memory (goal 20%%), %.0f requests/s\n", a, b/a, 100*ra/rb, n/a}'
