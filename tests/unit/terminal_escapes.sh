#!/usr/bin/env bash
# Terminal escape injection (issue 11, finding 8): names and text that come
# from captured bytes or from a hostile segment (a process name set with
# prctl(PR_SET_NAME), a node name, a summary) reach the terminal without
# their control bytes: `report` shows '?', `info` and `cat` show \xNN.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
no_control() { ! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$1"; }

esc=$'\e]0;pwned\a\e[2J'
"$bin" import-pcap ../shared/captures/http/zeek-get.pcap -o "$tmp/rec" --node "node$esc" >/dev/null 2>&1 ||
	echo "FAIL import-pcap"
"$bin" info "$tmp/rec" >"$tmp/info" 2>&1
t "terminal_escapes: info shows the node's control bytes as \\xNN" \
	bash -c "no_control() { ! LC_ALL=C grep -q \$'[\\x01-\\x08\\x0b-\\x1f\\x7f]' \"\$1\"; }; no_control '$tmp/info' && grep -q 'node\\\\x1b]0;pwned' '$tmp/info'"
"$bin" cat "$tmp/rec" >"$tmp/cat" 2>&1
t "terminal_escapes: cat shows no control byte" no_control "$tmp/cat"

"$bin" analyze -q tests/corpus/mixed/pods_services -o "$tmp/p.db" || echo "FAIL analyze"
sqlite3 "$tmp/p.db" "UPDATE request_rows SET summary = summary || char(27) || ']0;pwned' || char(7) || char(155) || '2J';
                     UPDATE connections SET remote_workload = 'w' || char(27) || '[31m'" || echo "FAIL sqlite3"
"$bin" report "$tmp/p.db" >"$tmp/report" 2>&1
t "terminal_escapes: report shows no control byte" no_control "$tmp/report"
t "terminal_escapes: report shows no C1 control (UTF-8 CSI)" bash -c "! grep -q \$'\\xc2\\x9b' '$tmp/report'"
t "terminal_escapes: report still shows the text around it" grep -q '?\]0;pwned??2J' "$tmp/report"

"$bin" report --limit x "$tmp/p.db" >/dev/null 2>"$tmp/err"; rc=$?
t "report_limit_junk_refused: exit 2" bash -c "[[ $rc == 2 ]] && grep -q 'bad --limit' '$tmp/err'"
echo "terminal-escapes: $pass passed, $fail failed"
((fail == 0))
