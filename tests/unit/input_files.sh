#!/usr/bin/env bash
# Every command on a file that is not what it expects (issue 11, finding 9
# and the "hostile input" list): a FIFO named *.frs, an empty file,
# /dev/null, a directory of junk, an unreadable file.  One clear error,
# exit 2, no hang.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
# refused NAME CMD...: exit 2 within 20 s, a message on stderr
refused() {
	local name=$1; shift
	timeout 20 "$@" >/dev/null 2>"$tmp/err"; local rc=$?
	t "$name (exit $rc, stderr: $(head -c 120 "$tmp/err" | tr '\n' ' '))" bash -c "[[ $rc == 2 && -s '$tmp/err' ]]"
}

mkfifo "$tmp/fifo.frs"
for c in info verify cat; do
	refused "fifo_named_frs_refused: $c" "$bin" "$c" "$tmp/fifo.frs"
done
refused "fifo_named_frs_refused: analyze" "$bin" analyze -q "$tmp/fifo.frs" -o "$tmp/f.db"
t "fifo_named_frs_refused: analyze wrote no database" test ! -e "$tmp/f.db"
: >"$tmp/empty.frs"
refused "empty_segment_refused: analyze" "$bin" analyze -q "$tmp/empty.frs" -o "$tmp/e.db"
refused "dev_null_refused: info" "$bin" info /dev/null
mkdir "$tmp/junk" && head -c 5000 /dev/urandom >"$tmp/junk/a.frs" && echo hi >"$tmp/junk/b.txt"
refused "junk_directory_refused: analyze" "$bin" analyze -q "$tmp/junk" -o "$tmp/j.db"
t "junk_directory_refused: no database" test ! -e "$tmp/j.db"
echo "input-files: $pass passed, $fail failed"
((fail == 0))
