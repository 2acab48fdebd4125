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

# The same segment given twice (a hard link, a copy: same node, boot,
# index and start) is read once, and stderr says so; two different
# segments are both read.
seg=tests/corpus/dns/recorded-udp-nxdomain/input-0.frs
other=tests/corpus/http1/recorded-keepalive/input-0.frs
mkdir "$tmp/a" "$tmp/b" "$tmp/c"
cp "$seg" "$tmp/a/s.frs" && ln "$tmp/a/s.frs" "$tmp/b/s.frs" && cp "$seg" "$tmp/c/copy.frs"
"$bin" analyze -q "$tmp/a" -o "$tmp/one.db" 2>"$tmp/one.err"
"$bin" analyze -q "$tmp/a" "$tmp/b" "$tmp/c" -o "$tmp/three.db" 2>"$tmp/three.err"
"$bin" dump "$tmp/one.db" >"$tmp/one.dump"
"$bin" dump "$tmp/three.db" >"$tmp/three.dump"
t "segment_given_twice_read_once: the dump of one" cmp -s "$tmp/one.dump" "$tmp/three.dump"
t "segment_given_twice_read_once: stderr says so" grep -q '^flightrec analyze: 2 segments given twice.*read once' "$tmp/three.err"
t "segment_given_twice_read_once: one alone says nothing" test ! -s "$tmp/one.err"
"$bin" analyze -q "$seg" "$other" -o "$tmp/two.db" 2>"$tmp/two.err"
t "different_segments_both_read" bash -c "[[ \$(sqlite3 '$tmp/two.db' 'select count(*) from segments') == 2 && ! -s '$tmp/two.err' ]]"
echo "input-files: $pass passed, $fail failed"
((fail == 0))
