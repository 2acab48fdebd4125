#!/usr/bin/env bash
# e2e: the kernel ring buffer (4 KiB) overflowing for FR_OVERFLOW_SECONDS
# (12 here, 180 in `make overflow-soak`) under bursts of UDP datagrams
# (issue 11, "Faults"): recorder memory (VmRSS, VmHWM) flat, and LOSS
# exact: the LOSS records add up to the recorder's own count, and captured
# + lost events equal what the client's sends generated.  Each hook set
# counts its own losses: this runs under both.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR=$FR_BUILD/flightrec
SOAK=${FR_OVERFLOW_SECONDS:-12}

# bursts of datagrams from one process for SOAK seconds, once the go file is made
python3 tests/e2e/flood.py bursts "$T/stop" "$SOAK" >"$T/flood.out" &
FLOOD=$!
FR_PIDS+=("$FLOOD")
fr_record -o "$T/over" --pid "$FLOOD" --ringbuf 4096 -v --segment-size 1G --ring-size 2G || fr_die "recorder"
touch "$T/stop.go"
: >"$T/rss"
while kill -0 "$FLOOD" 2>/dev/null; do
	awk '/^VmRSS/ { print $2 }' "/proc/$FR_REC_PID/status" >>"$T/rss"
	sleep 0.5
done
wait "$FLOOD"
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$FR_REC_PID/status")
sleep 0.5
fr_record_stop
check "overflow: recorder exits 0" test $? = 0
sent=$(cat "$T/flood.out")
stats=$(grep -oE '[0-9]+ events, [0-9]+ data, [0-9]+ lost' "$T/recorder.err" | tail -1)
echo "# overflow: $SOAK s, $sent datagrams sent; recorder: $stats; VmHWM $((hwm / 1024)) MiB"
"$FR" cat --json "$T/over" >"$T/over.jsonl"
python3 - "$T/over.jsonl" "$FLOOD" "$sent" "$stats" "$T/rss" "$hwm" "$SOAK" >"$T/over.out" <<'EOF'
import json, re, sys
pid, sent, stats = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
kinds = ("DATA", "CONN_OPEN", "CONN_CLOSE", "PROCESS")
mine = lost = nloss = 0
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["kind"] == "LOSS":
        lost += r["count"]
        nloss += 1
    elif r.get("pid") == pid and r["kind"] in kinds:
        mine += 1
m = re.match(r"(\d+) events, (\d+) data, (\d+) lost", stats)
rlost = int(m.group(3)) if m else -1
def ok(c, what): print(("ok" if c else "FAIL") + " overflow: " + what)
ok(lost > 0 and nloss > 0, "LOSS records under the flood (%d records, %d events lost)" % (nloss, lost))
ok(lost == rlost, "LOSS records add up to the recorder's lost counter (%d == %d)" % (lost, rlost))
ok(mine + lost == sent + 3, "captured %d + lost %d == generated %d + 3" % (mine, lost, sent))
rss = [int(x) for x in open(sys.argv[5]) if x.strip()]
hwm = int(sys.argv[6])
# the first third warms up (buffers, zstd context); then no growth.  The
# warm-up is counted in blocks, not seconds: the segment writer's second
# 4 MiB block buffer is first filled when its first block is handed over,
# and a drain slowed down by a loaded machine fills a block every 3 s or
# so here.  A short run allows that one step; the 180 s soak does not.
third = len(rss) // 3
tol = 2048 if int(sys.argv[7]) >= 60 else 2048 + 4096
ok(len(rss) >= 6, "RSS sampled (%d samples)" % len(rss))
if len(rss) >= 6:
    a, b = max(rss[third:2 * third]), max(rss[2 * third:])
    ok(b <= a + tol, "RSS flat: max %d KiB in the last third, %d KiB in the second (%d KiB allowed)" % (b, a, tol))
ok(hwm < 256 * 1024, "VmHWM %d KiB under 256 MiB" % hwm)
EOF
cat "$T/over.out"
FR_PASS=$((FR_PASS + $(grep -c '^ok ' "$T/over.out")))
FR_FAILN=$((FR_FAILN + $(grep -c '^FAIL' "$T/over.out")))
grep -q . "$T/over.out" || FR_FAILN=$((FR_FAILN + 1))
[[ -s $T/rss ]] && echo "# overflow: VmRSS min/max $(sort -n "$T/rss" | head -1)/$(sort -n "$T/rss" | tail -1) KiB"
fr_finish
