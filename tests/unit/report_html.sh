#!/usr/bin/env bash
# `flightrec report -o` and `flightrec diff` without a browser or root (the
# browser checks are tests/e2e/test_report_html.sh): the page is one file
# that refers to nothing outside itself, carries its data as JSON that
# parses, quotes captured text safely, is written like analyze's outputs
# (0600, only a regular file replaced, nothing left on failure); diff's
# options and errors.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
tmp=$(mktemp -d); [[ ${KEEP:-} ]] && echo "$tmp"; trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }

build/flightrec analyze -q tests/corpus/mixed/pods_services/input.frs -o "$tmp/c.db" || { echo "FAIL analyze"; exit 1; }
$bin report "$tmp/c.db" -o "$tmp/r.html" >"$tmp/out" 2>"$tmp/err"; rc=$?
t "report -o exits 0" test $rc = 0
t "report -o prints the verdict and the path" bash -c "grep -q '^Verdict' '$tmp/out' && grep -q '^report: $tmp/r.html' '$tmp/out'"
t "report -o is quiet on stderr" test ! -s "$tmp/err"
t "the page is 0600" test "$(stat -c %a "$tmp/r.html")" = 600
t "the page refers to nothing outside itself" bash -c "! grep -Eiq '(src|href)=\"(https?:|//)|<link |@import|url\\([^#]' '$tmp/r.html'"
t "the page forbids loading anything (CSP default-src 'none')" grep -q "default-src 'none'" "$tmp/r.html"
parse() { /usr/bin/python3 - "$1" <<'PY'
import json, re, sys
h = open(sys.argv[1]).read()
m = re.search(r'<script id="data" type="application/json">(.*?)</script>', h, re.S)
d = json.loads(m.group(1))
assert d["meta"]["requests"] == 4, d["meta"]
assert [f["server"] for f in d["findings"]] == ["shop/cache", "shop/web"], d["findings"]
PY
}
t "the page's data parses: 4 requests, 2 findings" parse "$tmp/r.html"

# captured text that would end the <script> element: a process name
cp "$tmp/c.db" "$tmp/x.db"
sqlite3 "$tmp/x.db" "UPDATE request_rows SET summary = '</script><script>alert(1)</script>' WHERE id = (SELECT min(id) FROM request_rows)"
$bin report "$tmp/x.db" -o "$tmp/x.html" >/dev/null 2>&1
t "captured '</script>' stays inside the data" bash -c "[[ \$(grep -c '</script>' '$tmp/x.html') == \$(grep -c '</script>' '$tmp/r.html') ]]"

mkdir "$tmp/dir"
$bin report "$tmp/c.db" -o "$tmp/dir" >/dev/null 2>"$tmp/err"; rc=$?
t "report -o on a directory: exit 2, not replaced" bash -c "[[ $rc == 2 && -d '$tmp/dir' ]] && grep -q 'not a regular file' '$tmp/err'"
ln -s "$tmp/victim" "$tmp/link"; echo precious >"$tmp/victim"
$bin report "$tmp/c.db" -o "$tmp/link" >/dev/null 2>&1; rc=$?
t "report -o on a symlink: exit 2, target untouched" bash -c "[[ $rc == 2 && \$(cat '$tmp/victim') == precious ]]"
$bin report "$tmp/c.db" -o "$tmp/none/r.html" >/dev/null 2>&1; rc=$?
t "report -o into a missing folder: exit 2" test $rc = 2
t "nothing left behind" bash -c "! ls '$tmp' | grep -q part-"

$bin diff "$tmp/c.db" >"$tmp/d" 2>&1; rc=$?
t "diff exits 0 (no trigger: the middle)" bash -c "[[ $rc == 0 ]] && grep -q '^What changed' '$tmp/d' && ! grep -q 'snapshot trigger' '$tmp/d'"
t "diff lists edges and endpoints" bash -c "grep -q 'edge      shop/frontend -> shop/web' '$tmp/d' && grep -q 'endpoint  shop/cache HGET' '$tmp/d'"
$bin diff --help >"$tmp/h"; rc=$?
t "diff --help: exit 0, usage on stdout" bash -c "[[ $rc == 0 ]] && grep -q '^usage: flightrec diff DB' '$tmp/h'"
$bin diff "$tmp/c.db" --split nonsense >/dev/null 2>"$tmp/err"; rc=$?
t "diff --split nonsense: exit 2, says why" bash -c "[[ $rc == 2 ]] && grep -q 'bad --split nonsense: a UTC time between' '$tmp/err'"
$bin diff "$tmp/c.db" --limit 0 >/dev/null 2>&1; rc=$?
t "diff --limit 0: exit 2" test $rc = 2
$bin diff "$tmp/nonexistent.db" >/dev/null 2>&1; rc=$?
t "diff on a missing database: exit 2" test $rc = 2

# diff --before/--after: two ranges of a database given requests at known
# times (the corpus case's clock: wall offset 0, 2026-11-24):
# 22:35:00-09 ten GET / (ok), 22:35:20-22 three GET /between, 22:35:30-34
# five GET / (500) and 22:35:31-32 two GET /new; a pod whose process and
# connection start at 22:35:31; the cache and worker pods' traffic ends at
# 22:35:05.
cp "$tmp/c.db" "$tmp/r.db"
ns() { /usr/bin/python3 -c 'import calendar, sys; print(calendar.timegm((2026, 11, 24, 22, 35, int(sys.argv[1]))) * 10**9)' "$1"; }
{
	for i in $(seq 0 9); do echo "INSERT INTO request_rows (conn_id, seq, protocol, side, start_ns, end_ns, latency_ns, summary, endpoint, status, error) VALUES (1, 10$i, 'http1', 'client', $(ns $i), $(ns $i) + 1000000, 1000000, 'GET /', 'GET /', '200', 0);"; done
	for i in 20 21 22; do echo "INSERT INTO request_rows (conn_id, seq, protocol, side, start_ns, end_ns, latency_ns, summary, endpoint, status, error) VALUES (1, $i, 'http1', 'client', $(ns $i), $(ns $i) + 1000000, 1000000, 'GET /between', 'GET /between', '200', 0);"; done
	for i in 30 31 32 33 34; do echo "INSERT INTO request_rows (conn_id, seq, protocol, side, start_ns, end_ns, latency_ns, summary, endpoint, status, error) VALUES (1, $i, 'http1', 'client', $(ns $i), $(ns $i) + 5000000, 5000000, 'GET /', 'GET /', '500', 1);"; done
	for i in 31 32; do echo "INSERT INTO request_rows (conn_id, seq, protocol, side, start_ns, end_ns, latency_ns, summary, endpoint, status, error) VALUES (1, 2$i, 'http1', 'client', $(ns $i), $(ns $i) + 1000000, 1000000, 'GET /new', 'GET /new', '200', 0);"; done
	echo "INSERT INTO pods (uid, namespace, name, workload) VALUES ('uid-new', 'shop', 'new-0', 'shop/new');"
	echo "INSERT INTO pod_containers VALUES ('c-new', 'uid-new', 'app', 'app:1');"
	echo "INSERT INTO processes (node, pid, ppid, start_ns, comm, container_id) VALUES ('node-1', 3000, 1, $(ns 31), 'newapp', 'c-new');"
	echo "INSERT INTO connections (id, node, pid, comm, local_pod, start_ns, end_ns) VALUES (100, 'node-1', 3000, 'newapp', 'shop/new-0', $(ns 31), $(ns 33));"
	echo "UPDATE connections SET end_ns = $(ns 5) WHERE local_pod IN ('shop/cache-0', 'shop/worker-0');"
	echo "UPDATE connections SET end_ns = $(ns 40) WHERE local_pod IN ('shop/web-0', 'shop/frontend-0');"
} | sqlite3 "$tmp/r.db"
$bin diff "$tmp/r.db" --before 22:35:00..22:35:10 --after 22:35:30..22:35:35 >"$tmp/d2" 2>&1; rc=$?
t "diff --before/--after: exit 0, two ranges" bash -c "[[ $rc == 0 ]] && grep -q '^What changed: 2026-11-24 22:35:00.000Z .. 22:35:10 .*22:35:30.000Z .. 22:35:35  (two ranges)' '$tmp/d2'"
t "diff ranges: GET / per second of each range and its errors" grep -Eq 'endpoint +shop/web GET / +http1 +1.00 > 1.00 +0.0% > 100.0%' "$tmp/d2"
t "diff ranges: the requests between the ranges are left out" bash -c "! grep -q 'GET /between' '$tmp/d2'"
t "diff ranges: GET /new only after" grep -Eq '^  endpoint +GET /new +shop/web +2  first 22:35:31' "$tmp/d2"
t "diff ranges: the new pod, with its process" bash -c "grep -Eq '^  new pod +shop/new-0 +newapp +1  first 22:35:31' '$tmp/d2' && grep -Eq '^  process +newapp +shop/new-0 ' '$tmp/d2' && ! grep -q 'new pod   shop/web' '$tmp/d2'"
t "diff ranges: the pods whose traffic stopped" bash -c "grep -Eq '^  quiet pod +shop/cache-0 .* last 22:35:05' '$tmp/d2' && ! grep -q 'quiet pod shop/web-0' '$tmp/d2'"
$bin diff "$tmp/r.db" --split 22:35:15 >"$tmp/d3" 2>&1
t "diff --split on the same database counts GET /between" grep -q 'GET /between' "$tmp/d3"
$bin diff "$tmp/r.db" --before 22:35:00..22:35:10 >/dev/null 2>"$tmp/err"; rc=$?
t "diff --before without --after: exit 2" bash -c "[[ $rc == 2 ]] && grep -q 'go together' '$tmp/err'"
$bin diff "$tmp/r.db" --before 22:35:30..22:35:35 --after 22:35:00..22:35:10 >/dev/null 2>"$tmp/err"; rc=$?
t "diff ranges out of order: exit 2, says why" bash -c "[[ $rc == 2 ]] && grep -q 'must end before' '$tmp/err'"
$bin diff "$tmp/r.db" --before 22:35:10..22:35:00 --after 22:35:30..22:35:35 >/dev/null 2>"$tmp/err"; rc=$?
t "diff --before TO before FROM: exit 2" bash -c "[[ $rc == 2 ]] && grep -q 'bad --before' '$tmp/err'"
echo "report_html: $pass passed, $fail failed"
((fail == 0))
