#!/usr/bin/env bash
# `flightrec export-otlp` (issue 18): every request of a database made from
# corpus cases of every protocol as an OTLP/JSON span, checked by
# tests/unit/otlp_check.py: python3-protobuf's strict JSON parser on the
# OTLP message types (transcribed from the .proto files), the OTLP/JSON
# rules on top (hex ids), the parent/child links of both ends, and the
# semantic-convention attributes with the values the recordings hold.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
py=/usr/bin/python3 # Debian's, with python3-protobuf

C=tests/corpus
$bin analyze -q $C/grpc/recorded-calls $C/dns/recorded-udp-nxdomain $C/redis/recorded-error \
	$C/mysql/recorded-server-prepared $C/pgsql/recorded-error-detail $C/mixed/pods_services \
	$C/http2/recorded-500 $C/kafka/kcat-produce-gzip/source.pcap -o "$tmp/all.db" || echo "FAIL analyze"
db=$tmp/all.db
$bin export-otlp "$db" -o "$tmp/traces.json" 2>"$tmp/err"; rc=$?
t "export_otlp: exit 0" test $rc = 0
t "export_otlp: the file is 0600" test "$(stat -c %a "$tmp/traces.json")" = 600
n=$(sqlite3 "$db" "select count(*) from request_rows")
linked=$(sqlite3 "$db" "select count(*) from request_rows where side = 'server' and peer_request_id is not null")
clients=$(sqlite3 "$db" "select count(*) from request_rows where side = 'client'")
errors=$(sqlite3 "$db" "select count(*) from request_rows where error = 1")
# each client row is a trace; a server row is one too unless linked to its client
traces=$(sqlite3 "$db" "select count(*) from request_rows where side = 'client' or peer_request_id is null")
t "export_otlp: says what it wrote" grep -q "$n spans ($linked server spans linked" "$tmp/err"
cat >"$tmp/expect.json" <<EOT
{"spans": $n, "linked": $linked, "client": $clients, "server": $((n - clients)), "errors": $errors, "traces": $traces,
 "http.request.method": ["GET"], "url.path": ["/", "/boom", "/fail"],
 "http.response.status_code": ["200", "500", "503"],
 "rpc.system": ["grpc"], "rpc.service": ["e2e.Demo"], "rpc.method": ["Chat", "Count", "Echo", "Fail", "Slow", "Sum"],
 "rpc.grpc.status_code": ["0", "4", "5"],
 "db.system": ["mysql", "postgresql", "redis"], "has db.query.text": true,
 "messaging.system": ["kafka"], "messaging.destination.name": ["orders"],
 "dns.question.name": ["nope.e2e.test"], "has network.peer.address": true,
 "resource k8s.namespace.name": ["e2e", "shop"],
 "resource k8s.deployment.name": ["cache", "cli", "frontend", "srv", "web", "worker"],
 "resource service.name": ["cache", "cli", "frontend", "srv", "unknown_service", "web", "worker"]}
EOT
$py tests/unit/otlp_check.py "$tmp/traces.json" "$tmp/expect.json" >"$tmp/check" 2>&1; rc=$?
t "export_otlp: valid OTLP/JSON with the expected spans, links and attributes" test $rc = 0 || sed 's/^/    /' "$tmp/check"
t "export_otlp: pods named" bash -c "grep -q '\"k8s.pod.name\",\"value\":{\"stringValue\":\"web-0\"}' '$tmp/traces.json'"
t "export_otlp: a failed request: status ERROR with its reason" \
	grep -q '"name":"GET /boom","kind":3,.*"status":{"code":2,"message":"500"}' "$tmp/traces.json"

$bin export-otlp "$db" -o "$tmp/again.json" 2>/dev/null
t "export_otlp: deterministic (the same file twice)" cmp -s "$tmp/traces.json" "$tmp/again.json"
$bin export-otlp "$db" -o - 2>/dev/null >"$tmp/stdout.json"
t "export_otlp: -o - writes to stdout" cmp -s "$tmp/traces.json" "$tmp/stdout.json"
t "export_otlp: JSON lines, each a TracesData" bash -c "$py -c \"
import json,sys
for l in open('$tmp/traces.json'): assert list(json.loads(l)) == ['resourceSpans']
\""

# the checker itself refuses what is not OTLP/JSON
sed '1s/"traceId":"\([0-9a-f]*\)"/"traceId":"AAAAAAAAAAAAAAAAAAAAAA=="/' "$tmp/traces.json" >"$tmp/b64.json"
t "export_otlp: checker refuses base64 ids" bash -c "! $py tests/unit/otlp_check.py '$tmp/b64.json' >/dev/null"
sed '1s/"kind":3/"kind":3,"spanKind":3/' "$tmp/traces.json" >"$tmp/unknown.json"
t "export_otlp: checker refuses an unknown field" bash -c "! $py tests/unit/otlp_check.py '$tmp/unknown.json' >/dev/null"
sed '1s/"kind":3/"kind":"CLIENT"/' "$tmp/traces.json" >"$tmp/enum.json"
t "export_otlp: checker refuses an enum by name" bash -c "! $py tests/unit/otlp_check.py '$tmp/enum.json' >/dev/null"
sed '1s/"intValue":"\([0-9]*\)"/"intValue":"x\1"/' "$tmp/traces.json" >"$tmp/int.json"
t "export_otlp: checker refuses a bad int64" bash -c "! $py tests/unit/otlp_check.py '$tmp/int.json' >/dev/null"

# usage
$bin export-otlp "$db" 2>/dev/null; t "export_otlp: -o is required" test $? = 2
$bin export-otlp "$tmp/none.db" -o "$tmp/x.json" 2>/dev/null; rc=$?
t "export_otlp: unreadable database: exit 2, no file" bash -c "[[ $rc == 2 && ! -e '$tmp/x.json' ]]"

echo "export_otlp: $pass passed, $fail failed"
((fail == 0))
