#!/usr/bin/env bash
# e2e: the recorder under load: LOSS accounting with a tiny kernel ring
# buffer (captured + lost == generated), snapshots (SIGUSR1 and the
# `snapshot` command) holding the time before and --after the trigger, the
# ring never above --ring-size, kill -9 then `flightrec verify` recovering
# every complete block.  A full disk: test_record_diskfull.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR=$FR_BUILD/flightrec

fr_web_pods
head -c 30000 /dev/urandom >"$T/www/big.bin"
echo small >"$T/www/small.txt"
fr_start_nginx
fr_podlist "$T/pods.json"
CG=(--cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)")

segs_bytes() { # total size of the ring's segments (not snapshots), or
	# nothing when a segment was deleted while measuring (no consistent sum)
	local t=0 f s a b
	a=$(ls "$1"/*.frs 2>/dev/null)
	for f in $a; do
		s=$(stat -c %s "$f" 2>/dev/null) && t=$((t + s))
	done
	b=$(ls "$1"/*.frs 2>/dev/null)
	[[ $a == "$b" ]] && echo "$t"
}
py_checks() {
	cat "$1"
	FR_PASS=$((FR_PASS + $(grep -c '^ok ' "$1")))
	FR_FAILN=$((FR_FAILN + $(grep -c '^FAIL' "$1")))
}

# ---- 1. LOSS: a UDP flood against a 4 KiB ring buffer
N=20000
cat >"$T/flood.py" <<'EOF'
import os, socket, sys, time
go, ip, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
while not os.path.exists(go):
    time.sleep(0.01)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data = b"f" * 512
sent = 0
for i in range(n):
    sent += s.sendto(data, (ip, 9)) == len(data)
s.close()
print(sent)
EOF
bash -c 'echo $$ > "$1/cgroup.procs" && exec ip netns exec "$2" python3 "$3" "$4" "$5" "$6" >"$7"' _ \
	"$(fr_cgdir cli client)" "${FR_NS[cli]}" "$T/flood.py" "$T/go" "$SRV" "$N" "$T/flood.out" &
FLOOD=$!
FR_PIDS+=("$FLOOD")
fr_record -o "$T/loss" --ringbuf 4096 --pid "$FLOOD" || fr_die "recorder"
touch "$T/go"
wait "$FLOOD"
sleep 0.5
fr_record_stop
check "loss: recorder exits 0" test $? = 0
check "loss: the client sent $N datagrams" grep -qx "$N" "$T/flood.out"
"$FR" cat --json "$T/loss" >"$T/loss.jsonl"
# The process announcement is an event too: generated = N sends + OPEN +
# CLOSE + the first-sight PROCESS; count the PROCESS the kernel sent.
python3 - "$T/loss.jsonl" "$FLOOD" "$N" >"$T/loss.out" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
pid, n = int(sys.argv[2]), int(sys.argv[3])
kinds = ("DATA", "CONN_OPEN", "CONN_CLOSE", "PROCESS")
mine = [r for r in recs if r.get("pid") == pid and r["kind"] in kinds]
lost = sum(r["count"] for r in recs if r["kind"] == "LOSS")
loss = [r for r in recs if r["kind"] == "LOSS"]
data = sum(1 for r in mine if r["kind"] == "DATA")
print(("ok" if lost > 0 else "FAIL") + " loss: LOSS records under the flood (%d lost, %d DATA)" % (lost, data))
print(("ok" if loss and all(0 < r["first_ns"] <= r["last_ns"] for r in loss) else "FAIL") + " loss: time ranges")
ok = len(mine) + lost == n + 3
print(("ok" if ok else "FAIL") + " loss: captured %d + lost %d == generated %d + 3" % (len(mine), lost, n))
EOF
py_checks "$T/loss.out"

# ---- 2. snapshots, and the ring bound under load
load() { # seconds: HTTP load from the client pod
	fr_exec cli client wrk -t1 -c4 -d"$1"s "http://$SRV/big.bin" >/dev/null 2>&1
}
fr_record -o "$T/snap" --pods "$T/pods.json" "${CG[@]}" --after 1.5 \
	--ring-size 1M --segment-size 200K || fr_die "recorder"
MAXR=0
watch_ring() { while :; do segs_bytes "$T/snap"; sleep 0.02; done >"$T/ring.sizes"; }
watch_ring &
WATCH=$!
FR_PIDS+=("$WATCH")
caught_up() { # the recorder has written a request made after the load (its
	# backlog is drained: the next request cannot be lost to a full buffer);
	# a request every 0.3 s until one is on disk, as the first ones may be
	# lost to that very backlog
	local i tag=caught-up-$RANDOM
	for i in $(seq 40); do
		fr_exec cli client curl -s -o /dev/null "http://$SRV/small.txt?$tag-$i"
		sleep 0.3
		"$FR" cat --json --kind DATA "$T/snap" 2>/dev/null | grep -q "$tag-" && return 0
	done
	return 1
}
# the fsync of each closed segment (35-50 ms for 64 MiB) is the syncer
# thread's, not the drain's (the main thread): the drain's wait at each
# segment switch overflowed the kernel's buffers under load
strace -f -qq -e trace=fsync -o "$T/sync.trace" -p "$FR_REC_PID" 2>/dev/null &
STRACE=$!
FR_PIDS+=("$STRACE")
sleep 0.5
load 2
kill "$STRACE"
wait "$STRACE" 2>/dev/null
check "ring: closed segments are fsynced ($(grep -c fsync "$T/sync.trace") calls)" grep -q "fsync(" "$T/sync.trace"
check "ring: no fsync on the drain's thread" bash -c "! grep -q '^$FR_REC_PID  *fsync' '$T/sync.trace'"
check "snapshot: the recorder catches up after the load" caught_up
fr_exec cli client curl -s -o /dev/null "http://$SRV/small.txt?before-trigger"
sleep 0.3
kill -USR1 "$FR_REC_PID"
for i in $(seq 60); do [[ -n $(ls "$T/snap/snapshots" 2>/dev/null) ]] && break; sleep 0.05; done
SNAP1=$(ls -d "$T"/snap/snapshots/*-signal 2>/dev/null | head -1)
check "snapshot: SIGUSR1 made snapshots/<utc>-signal" test -n "$SNAP1"
fr_exec cli client curl -s -o /dev/null "http://$SRV/small.txt?after-trigger"
sleep 3.5 # past --after (checked once a second)
fr_exec cli client curl -s -o /dev/null "http://$SRV/small.txt?after-window"
SNAP2=$("$FR_BUILD/flightrec-record" snapshot "$T/snap" --reason "disk latency")
check "snapshot: command prints DIR/snapshots/<utc>-disk_latency" bash -c "[[ '$SNAP2' == $T/snap/snapshots/2*Z-disk_latency ]]"
check "snapshot: segments are hard links" bash -c "[[ \$(stat -c %h '$SNAP2'/*.frs | sort -n | tail -1) -ge 2 ]]"
load 2
sleep 0.3
kill "$WATCH"
wait "$WATCH" 2>/dev/null
fr_record_stop
check "snapshot: recorder exits 0" test $? = 0
if [[ -n $SNAP1 ]]; then
	"$FR" cat --json "$SNAP1" >"$T/snap1.jsonl"
	# the requests themselves (DATA), not a client's command line
	"$FR" cat --json --kind DATA "$SNAP1" >"$T/snap1-data.jsonl"
	check "snapshot: holds the requests before the trigger" grep -q 'before-trigger' "$T/snap1-data.jsonl"
	check "snapshot: holds the --after window" grep -q 'after-trigger' "$T/snap1-data.jsonl"
	check "snapshot: ends after the --after window" bash -c "! grep -q 'after-window' '$T/snap1-data.jsonl'"
	check "snapshot: MARK trigger record" grep -q '"mark":"trigger","text":"signal"' "$T/snap1.jsonl"
	check "snapshot: segments verify" "$FR" verify "$SNAP1"
	check "snapshot: starts with pod metadata" bash -c "head -3 '$T/snap1.jsonl' | grep -q '\"kind\":\"POD\"'"
fi
MAXR=$(sort -n "$T/ring.sizes" | tail -1)
check "ring: never above --ring-size 1M (max $MAXR bytes)" test "$MAXR" -le 1048576
check "ring: oldest segments were deleted" bash -c "! ls '$T/snap' | grep -q -- '-000000.frs'"
check "ring: the ring was filled" test "$MAXR" -ge 600000
check "ring: what remains verifies" "$FR" verify "$T/snap"

# ---- 3. kill -9 mid-flood: every complete block is recovered.  No --pods
# here: pods come from the node files fallback (pod UID in the cgroup path,
# names from the kubelet's log directories).
mkdir -p "$T/logpods/e2e_cli-abc_${FR_UID[cli]}/client" "$T/logcontainers"
touch "$T/logcontainers/cli-abc_e2e_client-${FR_CID[cli/client]}.log"
fr_record -o "$T/kill" "${CG[@]}" --log-pods "$T/logpods" --log-containers "$T/logcontainers" ||
	fr_die "recorder"
load 2 &
LOADP=$!
sleep 1.5
kill -9 "$FR_REC_PID"
wait "$FR_REC_PID" 2>/dev/null
wait "$LOADP"
"$FR" verify "$T/kill" >"$T/kill.verify" 2>&1
check "kill -9: verify finds no damage" test $? = 0
check "kill -9: the segment has no footer (writer died)" grep -q '1 without footer' "$T/kill.verify"
# complete blocks, by an independent walk of the files (the many-trial
# version with torn tails is tests/e2e/test_record_faults.sh)
python3 tests/e2e/segblocks.py "$T"/kill/*.frs |
	python3 -c 'import json, sys; print(sum(json.loads(l)["blocks"] for l in sys.stdin))' >"$T/kill.blocks"
BLOCKS=$(cat "$T/kill.blocks")
check "kill -9: verify recovered all $BLOCKS complete blocks" grep -q " $BLOCKS blocks" "$T/kill.verify"
check "kill -9: blocks were written before the kill" test "$BLOCKS" -ge 2
"$FR" cat --json --kind POD "$T/kill" >"$T/kill.pods"
check "node files fallback: POD from /var/log/pods and /var/log/containers" \
	grep -q "\"uid\":\"${FR_UID[cli]}\",\"namespace\":\"e2e\",\"name\":\"cli-abc\".*\"id\":\"${FR_CID[cli/client]}\",\"name\":\"client\"" "$T/kill.pods"
check "node files fallback: server pod known by its UID" grep -q "\"uid\":\"${FR_UID[srv]}\"" "$T/kill.pods"

fr_finish
