#!/usr/bin/env bash
# Segment format benchmark: write and read a synthetic stream of DATA records
# (HTTP-like payloads) and compare with the zstd command-line tool
# compressing and decompressing the same payload bytes at the same level, in
# the same run.  Usage: tests/bench/segment.sh [BYTES] [LEVEL]
# (default 1 GiB, level 3).  Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bytes=${1:-$((1 << 30))} level=${2:-3}
make -s build/bench/segbench
dir=$(mktemp -d /var/tmp/fr-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
seg=$dir/bench.frs raw=$dir/payload.raw

w=$(build/bench/segbench write "$seg" --bytes "$bytes" --level "$level" --raw "$raw")
echo "flightrec $w"
payload=$(stat -c %s "$raw")
sync
t() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
zc=$(t zstd -q -"$level" -f "$raw" -o "$dir/payload.zst")
zd=$(t sh -c "zstd -q -d -c '$dir/payload.zst' > /dev/null")
r=$(build/bench/segbench read "$seg")
echo "flightrec $r"
fw=$(echo "$w" | sed -E 's/.*: ([0-9.]+) MB\/s.*/\1/')
fr=$(echo "$r" | sed -E 's/.*: ([0-9.]+) MB\/s.*/\1/')
zw=$(echo "$payload / $zc / 1000000" | bc -l)
zr=$(echo "$payload / $zd / 1000000" | bc -l)
printf '\n%-28s %10s %10s %8s\n' "" "flightrec" "zstd -$level" "ratio"
printf '%-28s %10.1f %10.1f %7.2fx\n' "write/compress MB/s" "$fw" "$zw" "$(echo "$zw / $fw" | bc -l)"
printf '%-28s %10.1f %10.1f %7.2fx\n' "read/decompress MB/s" "$fr" "$zr" "$(echo "$zr / $fr" | bc -l)"
printf '%-28s %10d %10d\n' "bytes on disk" "$(stat -c %s "$seg")" "$(stat -c %s "$dir/payload.zst")"
echo "payload bytes: $payload (ratio > 1 means zstd is faster; goal: at most 1.5x)"
