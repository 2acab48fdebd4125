#!/usr/bin/env bash
# The rough edges a new user hit (issue 18), one check each: wall-clock
# columns and times in the report; edges named by the best identity either
# end knows; "N more" when the report cuts; report --json; export-pcap
# --pod with a workload; corpus add --from with a UTC time; flightrec -V;
# a missing --pods file exits 2; connections in undecoded protocols counted.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
rec=${FR_BUILD:-build}/flightrec-record
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
iso='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
C=tests/corpus

# flightrec -V
t "rough_edges: flightrec -V" bash -c "[[ \$($bin -V) == 'flightrec '[0-9]* ]] && [[ \$($bin -V) == \$($bin --version) ]]"

# a missing or bad --pods/--services file is a usage error, before anything is made
if [[ -x $rec ]]; then
	$rec -o "$tmp/rec" --pods "$tmp/nothere.json" 2>"$tmp/err"; rc=$?
	t "rough_edges: flightrec-record --pods missing: exit 2, nothing made" \
		bash -c "[[ $rc == 2 && ! -e '$tmp/rec' ]] && grep -q 'pods: cannot open' '$tmp/err'"
	echo '{not json' >"$tmp/bad.json"
	$rec -o "$tmp/rec" --services "$tmp/bad.json" 2>/dev/null; rc=$?
	t "rough_edges: flightrec-record --services not JSON: exit 2" bash -c "[[ $rc == 2 && ! -e '$tmp/rec' ]]"
else
	echo "FAIL $rec missing (make builds it)"; fail=$((fail + 1))
fi
$bin analyze -q --pods "$tmp/nothere.json" $C/http1/keepalive -o "$tmp/x.db" 2>/dev/null; rc=$?
t "rough_edges: analyze --pods missing: exit 2" test $rc = 2

# wall-clock columns (UTC, ISO 8601) in the views, times in the report
$bin analyze -q $C/grpc/recorded-calls $C/dns/recorded-udp-nxdomain $C/redis/recorded-error \
	$C/mixed/pods_services $C/http2/recorded-500 -o "$tmp/a.db" || echo "FAIL analyze"
t "rough_edges: failures.first_at/last_at" bash -c "sqlite3 '$tmp/a.db' \"select first_at, last_at from failures where endpoint = 'GET /boom'\" | grep -qx '2026-11-24T23:20:00.430Z|2026-11-24T23:20:00.430Z'"
t "rough_edges: slowest.start_at" bash -c "sqlite3 '$tmp/a.db' 'select start_at from slowest limit 1' | grep -qx '2026-11-24T23:20:02.351Z'"
sqlite3 "$tmp/a.db" "select at from anomalies_at where at is not null" >"$tmp/at"
t "rough_edges: anomalies_at.at: ISO 8601 UTC" bash -c "[[ -s '$tmp/at' ]] && ! grep -qvE '^$iso\$' '$tmp/at'"
t "rough_edges: every anomaly of a connection has its time" \
	test "$(sqlite3 "$tmp/a.db" "select count(*) from anomalies_at where conn_id > 0 and at is null")" = 0
$bin report "$tmp/a.db" --limit 2 >"$tmp/report"
t "rough_edges: report: time range in UTC" grep -q '^  from 2026-11-24T22:34:35.739Z to 2026-11-24T23:22:58.408Z (UTC)$' "$tmp/report"
t "rough_edges: report: slowest with its time" grep -qE '^  [0-9]+ +23:20:02.351 grpc /e2e.Demo/Count' "$tmp/report"

# "N more" when a section is cut (--limit 2: edges and failures 4 rows)
nf=$(sqlite3 "$tmp/a.db" "select count(*) from failures")
ne=$(sqlite3 "$tmp/a.db" "select count(*) from edges")
t "rough_edges: report: '... $((nf - 4)) more' failures" grep -qF "  ... $((nf - 4)) more (--limit N shows more; all in view failures)" "$tmp/report"
t "rough_edges: report: '... $((ne - 4)) more' edges" grep -qF "  ... $((ne - 4)) more (--limit N shows more; all in view edges)" "$tmp/report"
$bin report "$tmp/a.db" --limit 100 >"$tmp/report100"
t "rough_edges: report: failures since" grep -qE 'e2e/srv +http2 +GET /boom +500 +1 23:20:00.430' "$tmp/report100"
t "rough_edges: report: nothing cut, no 'more'" bash -c "! grep -q 'more (--limit' '$tmp/report100'"
$bin report "$tmp/a.db" --limit x 2>/dev/null; rc1=$?
$bin report "$tmp/a.db" --limit -3 2>/dev/null; rc2=$?
t "rough_edges: report --limit x and -3 refused" bash -c "[[ $rc1 == 2 && $rc2 == 2 ]]"

# report --json
$bin report "$tmp/a.db" --limit 2 --json >"$tmp/report.json"; rc=$?
t "rough_edges: report --json" /usr/bin/python3 -c "
import json
d = json.load(open('$tmp/report.json'))
assert $rc == 0
assert d['summary']['requests'] == $(sqlite3 "$tmp/a.db" "select count(*) from requests_once"), d['summary']
assert d['summary']['from_at'] == '2026-11-24T22:34:35.739Z', d['summary']
assert len(d['failures']) == 4 and d['failures_more'] == $((nf - 4)), (len(d['failures']), d['failures_more'])
assert len(d['edges']) == 4 and d['edges_more'] == $((ne - 4))
assert len(d['slowest']) == 2 and d['slowest'][0]['start_at'] == '2026-11-24T23:20:02.351Z'
assert d['slowest'][0]['latency_ns'] == 103763365
assert d['undecoded'] == {'connections': 0, 'bytes': 0}, d['undecoded']
assert {a['kind'] for a in d['anomalies']} == {'gap', 'hpack_unknown_entries', 'resync'}
assert isinstance(d['alerts'], list) and 'alerts_more' in d
"

# edges named by the best identity either end knows
$bin analyze -q $C/http1/keepalive -o "$tmp/k.db"
t "rough_edges: an edge recorded at both ends without pods: proc:client -> proc:server" \
	test "$(sqlite3 "$tmp/k.db" "select client_workload || ' -> ' || server_workload from edges")" = "proc:client -> proc:server"

# export-pcap --pod: a pod or its workload, as the report names them
g=$C/grpc/recorded-calls
pod=$(sqlite3 "$tmp/a.db" "select local_pod from connections where local_workload = 'e2e/srv' and node = 'vm' and protocol = 'http2' limit 1")
for p in "$pod" e2e/srv srv; do
	$bin export-pcap $g -o "$tmp/p.pcapng" --pod "$p" 2>"$tmp/err"; rc=$?
	t "rough_edges: export-pcap --pod $p" bash -c "[[ $rc == 0 ]] && grep -q '^$tmp/p.pcapng: 91 packets, 1 TCP connections' '$tmp/err'"
done
$bin export-pcap $g -o "$tmp/n.pcapng" --pod e2e/nothere 2>"$tmp/err"; rc=$?
t "rough_edges: export-pcap --pod matching nothing: exit 2, says so, no file" \
	bash -c "[[ $rc == 2 && ! -e '$tmp/n.pcapng' ]] && grep -q 'nothing matched --pod e2e/nothere' '$tmp/err'"

# corpus add --from/--to: a UTC time as analyze takes it
r=$C/http1/recorded-keepalive
$bin corpus add $r --from 2026-11-24T23:22:57Z --to 2026-11-24T23:22:58.000Z --name iso --corpus "$tmp/c" >/dev/null 2>&1; rc=$?
off=$($bin info $r/input-0.frs | sed -n 's/^clock offset: *\([0-9]*\) ns.*/\1/p')
from=$(($(date -u -d 2026-11-24T23:22:57Z +%s)000000000 - off)) to=$(($(date -u -d 2026-11-24T23:22:58Z +%s)000000000 - off))
$bin corpus add $r --from $from --to $to --name ns --corpus "$tmp/c" >/dev/null 2>&1
t "rough_edges: corpus add --from ISO: the same case as with ns" \
	bash -c "[[ $rc == 0 ]] && cmp -s '$tmp/c/mixed/iso/expected.dump' '$tmp/c/mixed/ns/expected.dump' && grep -q '^# requests' '$tmp/c/mixed/iso/expected.dump'"
$bin corpus add $r --from yesterday --to $to --name bad --corpus "$tmp/c" 2>"$tmp/err"; rc=$?
t "rough_edges: corpus add --from nonsense: exit 2" bash -c "[[ $rc == 2 ]] && grep -q 'a UTC time' '$tmp/err'"

# connections of protocols no parser decodes are counted in the report
/usr/bin/python3 - "$tmp/undecoded.pcap" <<'EOF'
import struct, sys
def frame(src, dst, sport, dport, seq, ack, flags, payload=b''):
    ip = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack('>HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    return b'\x02' * 6 + b'\x04' * 6 + b'\x08\x00' + ip + tcp + payload
recs = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
t = 1800000000 * 1000000
c, s = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2])
for i, (port, n) in enumerate(((9999, 3000), (9999, 1000), (7777, 500))):  # binary, both ways
    sport, a, b = 40000 + i, (bytes(range(256)) * 12)[:n], bytes([0xfe, 0x01] * n)[:n]
    for f in (frame(c, s, sport, port, 1000, 0, 0x02), frame(s, c, port, sport, 5000, 1001, 0x12),
              frame(c, s, sport, port, 1001, 5001, 0x10), frame(c, s, sport, port, 1001, 5001, 0x18, a),
              frame(s, c, port, sport, 5001, 1001 + n, 0x18, b), frame(c, s, sport, port, 1001 + n, 5001 + n, 0x11),
              frame(s, c, port, sport, 5001 + n, 1002 + n, 0x11), frame(c, s, sport, port, 1002 + n, 5002 + n, 0x10)):
        t += 1000
        recs.append(struct.pack('<IIII', t // 1000000, t % 1000000, len(f), len(f)) + f)
open(sys.argv[1], 'wb').write(b''.join(recs))
EOF
$bin analyze -q "$tmp/undecoded.pcap" -o "$tmp/u.db" || echo "FAIL analyze undecoded"
$bin report "$tmp/u.db" >"$tmp/ureport"
t "rough_edges: report counts undecoded connections, bytes and ports" \
	grep -qx '  3 connections, 9.0 kB in undecoded protocols: ports 9999, 7777 (flightrec query DB top_talkers)' "$tmp/ureport"
t "rough_edges: report --json counts them too" bash -c "$bin report '$tmp/u.db' --json | /usr/bin/python3 -c \"
import json, sys
d = json.load(sys.stdin)
assert d['undecoded'] == {'connections': 3, 'bytes': 9000}, d['undecoded']
assert [(p['port'], p['connections'], p['bytes']) for p in d['undecoded_ports']] == [(9999, 2, 8000), (7777, 1, 1000)]
\""
t "rough_edges: nothing said when every connection was decoded" bash -c "! grep -q undecoded '$tmp/report'"

echo "rough_edges: $pass passed, $fail failed"
((fail == 0))
