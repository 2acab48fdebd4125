#!/usr/bin/env bash
# flightrec info / cat / verify on good, truncated, corrupted and foreign
# files: output, exit codes (0 ok, 1 damaged but read, 2 unusable).
set -uo pipefail
cd "$(dirname "$0")/../.."
FR=${FR_ASAN:-build/asan}/flightrec
[[ -x $FR ]] || FR=build/flightrec
SEGBENCH=build/bench/segbench
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT

$SEGBENCH write "$d/a.frs" --bytes 200000 --block 16384 >/dev/null || { echo "FAIL segbench"; echo "0 passed, 1 failed"; exit 1; }
n=$($FR verify "$d/a.frs" | awk '/records/ && /ok/ {print $5}')

# intact
$FR info "$d/a.frs" > "$d/info.txt"; rc=$?
check "info exit 0 on intact segment" test $rc = 0
check "info shows footer and records" grep -q "footer index:   yes" "$d/info.txt"
check "info counts DATA records" grep -qE "^  DATA +$n$" "$d/info.txt"
check "info shows compression" grep -qE "^compressed: +[0-9]+ \([0-9.]+x\)" "$d/info.txt"
check "cat prints one line per record" test "$($FR cat "$d/a.frs" | wc -l)" = "$n"
$FR cat --json "$d/a.frs" > "$d/a.json"
check "cat --json prints valid JSON lines" python3 -c "
import json,sys
rows=[json.loads(l) for l in open('$d/a.json')]
assert len(rows)==$n and all(r['kind']=='DATA' for r in rows)
pl=''.join(r['payload'] for r in rows[:2]).encode('latin-1')
assert pl.startswith(b'GET ') and b'HTTP/1.1 ' in pl
assert all(r['cap_len']==len(r['payload'].encode('latin-1')) for r in rows)"
check "cat --kind filters" test "$($FR cat --kind MARK "$d/a.frs" | wc -l)" = 0
check "verify exit 0 on intact" $FR verify -q "$d/a.frs"

# writer killed mid-block: cut the file in the middle of its last block
size=$(stat -c %s "$d/a.frs")
head -c $((size - 9000)) "$d/a.frs" > "$d/cut.frs"
$FR verify "$d/cut.frs" > "$d/v.txt"; rc=$?
check "verify exit 1 on torn tail" test $rc = 1
check "verify names the torn tail" grep -q "torn tail" "$d/v.txt"
m=$($FR cat "$d/cut.frs" 2>/dev/null | wc -l)
check "cat on torn file prints the complete blocks" test "$m" -gt 0 -a "$m" -lt "$n"
$FR cat "$d/cut.frs" >/dev/null 2>&1; check "cat exit 1 on torn file" test $? = 1

# a flipped byte in the middle: that block is lost, the others are read
python3 -c "
b=bytearray(open('$d/a.frs','rb').read()); b[len(b)//2]^=0x40; open('$d/flip.frs','wb').write(b)"
$FR verify "$d/flip.frs" > "$d/v2.txt"; rc=$?
check "verify exit 1 on corrupted block" test $rc = 1
check "verify prints the damaged range" grep -qE "DAMAGED bytes [0-9]+-[0-9]+" "$d/v2.txt"
k=$($FR cat "$d/flip.frs" 2>/dev/null | wc -l)
check "blocks after the damage are still read" test "$k" -gt $((n / 2)) -a "$k" -lt "$n"
$FR info "$d/flip.frs" >/dev/null 2>&1; check "info exit 1 on corrupted" test $? = 1

# not a segment, missing file, usage errors
echo "hello" > "$d/x.frs"
err=$($FR verify "$d/x.frs" 2>&1 >/dev/null); rc=$?
check "foreign file: exit 2" test $rc = 2
check "foreign file: one-line error" test "$(echo "$err" | wc -l)" = 1 -a -n "$(echo "$err" | grep 'not a flightrec segment')"
$FR info "$d/missing.frs" >/dev/null 2>&1; check "missing file: exit 2" test $? = 2
$FR cat --bogus "$d/a.frs" >/dev/null 2>&1; check "bad flag: exit 2" test $? = 2
$FR nosuchcommand >/dev/null 2>&1; check "unknown command: exit 2" test $? = 2
for c in info cat verify; do
  check "$c --help" bash -c "$FR $c --help | grep -q usage"
done

# a recording directory: segments are read in name order
mkdir "$d/rec" && cp "$d/a.frs" "$d/rec/seg-0001.frs" && cp "$d/a.frs" "$d/rec/seg-0002.frs"
check "verify a directory" bash -c "$FR verify '$d/rec' | grep -q '^2 segments'"
check "cat a directory" test "$($FR cat "$d/rec" | wc -l)" = $((2 * n))
mkdir "$d/empty"; $FR info "$d/empty" >/dev/null 2>&1; check "empty directory: exit 2" test $? = 2

echo "cli: $pass passed, $fail failed"
((fail == 0))
