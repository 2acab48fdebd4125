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
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
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
echo "report_html: $pass passed, $fail failed"
((fail == 0))
