#!/usr/bin/env bash
# e2e: the recorder under faults (issue 11, "Faults").
#   kill    kill -9 at random moments during a flood, FR_KILL_TRIALS times
#           (5 here, 50 in `make kill-trials`): every complete block is
#           recovered, and `flightrec verify` names what was lost (the
#           segment left without footer, a torn tail to the byte), as an
#           independent walk of the files (tests/e2e/segblocks.py) finds.
#   removed the output directory removed while recording, and removed then
#           made again: exit 1 with one clear line, no crash, nothing
#           written anywhere else (the new directory stays empty).
#   overflow the kernel ring buffer (4 KiB) overflowing for
#           FR_OVERFLOW_SECONDS (12 here, 180 in `make overflow-soak`):
#           recorder memory (VmRSS, VmHWM) flat, and LOSS exact: the LOSS
#           records add up to the recorder's own count, and captured + lost
#           events equal what the client's sends generated.
# FR_FAULTS="kill removed overflow" picks sections.  Figures are printed as
# "# " lines (trials, blocks recovered, torn tails, max RSS).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR_BUILD=$(realpath "$FR_BUILD") # the recorder runs in $T/cwd below
FR=$FR_BUILD/flightrec
REC=$FR_BUILD/flightrec-record
TRIALS=${FR_KILL_TRIALS:-5}
SOAK=${FR_OVERFLOW_SECONDS:-12}
SECTIONS=${FR_FAULTS:-kill removed overflow}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

# The flood: one process sending UDP datagrams to the discard port and
# bytes both ways over a TCP loopback connection, until the stop file
# appears (mixed), or bursts of UDP datagrams for a time (bursts: prints
# how many sends succeeded; it waits for the go file, made once the
# recorder records, so that every send it counts can be recorded).
cat >"$T/flood.py" <<'EOF'
import os, socket, sys, time
mode, stop, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data = b"f" * 512
end = time.monotonic() + secs
if mode == "bursts":
    while not os.path.exists(stop + ".go"):
        time.sleep(0.01)
    end = time.monotonic() + secs
    sent = 0
    while time.monotonic() < end:
        for i in range(200):
            sent += u.sendto(data, ("127.0.0.1", 9)) == len(data)
        time.sleep(0.005)
    u.close()
    print(sent)
    sys.exit(0)
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
msg = b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(900)
while not os.path.exists(stop) and time.monotonic() < end:
    for i in range(50):
        u.sendto(data, ("127.0.0.1", 9))
        c.sendall(msg)
        got = 0
        while got < len(msg):
            got += len(a.recv(65536))
    time.sleep(0.001)
EOF
start_flood() { # mode seconds: the flood in the background, pid in FLOOD
	rm -f "$T/stop" "$T/stop.go"
	python3 "$T/flood.py" "$1" "$T/stop" "$2" >"$T/flood.out" &
	FLOOD=$!
	FR_PIDS+=("$FLOOD")
}
stop_flood() { touch "$T/stop"; wait "$FLOOD" 2>/dev/null; }
wait_exit() { # pid, seconds: 0 once it exited, 1 if still running
	local i
	for i in $(seq $(($2 * 20))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
	return 1
}

# ---- kill: kill -9 at random moments during a flood
kill_trial() { # n: one trial; prints its figures, returns 1 on a mismatch
	local n=$1 D=$T/kill/$1
	mkdir -p "$T/kill"
	fr_record -o "$D" --pid "$FLOOD" --segment-size 256K || return 1
	# 0.2 to 2.6 s after the recorder said it records
	local ms=$((200 + RANDOM % 2400))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -9 "$FR_REC_PID"
	wait "$FR_REC_PID" 2>/dev/null
	kill_check "$D" "$n" "$ms"
}
kill_check() { # dir, trial, ms: verify against the walk of the files
	local D=$1 n=$2 ms=$3
	"$FR" verify "$D" >"$D.verify" 2>&1
	local vrc=$?
	python3 tests/e2e/segblocks.py $(ls "$D"/*.frs) >"$D.walk"
	python3 - "$D.walk" "$D.verify" "$vrc" "$n" "$ms" <<'EOF'
import json, re, sys
walk = [json.loads(l) for l in open(sys.argv[1])]
verify = open(sys.argv[2]).read()
vrc, n, ms = int(sys.argv[3]), sys.argv[4], sys.argv[5]
bad = []
blocks = sum(w["blocks"] for w in walk)
torn = [w for w in walk if w["torn"]]
m = re.search(r"(\d+) segments, (\d+) blocks, (\d+) records, (\d+) damaged ranges, (\d+) without footer", verify)
if not m:
    bad.append("no verify summary")
else:
    segs, vblocks, recs, damaged, nofoot = map(int, m.groups())
    if segs != len(walk): bad.append("verify read %d segments of %d" % (segs, len(walk)))
    if vblocks != blocks: bad.append("verify recovered %d blocks, the files hold %d complete" % (vblocks, blocks))
    if damaged != len(torn): bad.append("verify: %d damaged ranges, %d torn tails" % (damaged, len(torn)))
    if nofoot != sum(not w["footer"] for w in walk): bad.append("verify: %d without footer" % nofoot)
if vrc != (1 if torn else 0): bad.append("verify exit %d with %d torn tails" % (vrc, len(torn)))
# the segment being written has no footer: the last one (or none, when
# the kill fell between closing a segment and opening the next)
last = walk[-1] if walk else None
if any(not w["footer"] for w in walk[:-1]): bad.append("a segment before the last has no footer")
if last and not last["footer"] and \
        not re.search(re.escape(last["file"]) + r": .*no footer \(writer did not close it\)", verify):
    bad.append("verify does not name the segment left open")
for w in torn:
    line = "%s: DAMAGED bytes %d-%d (%d bytes): torn tail" % (w["file"], w["end"], w["size"], w["torn"])
    if line not in verify: bad.append("verify does not name the torn tail: " + line)
for w in walk:
    if w.get("error"): bad.append(w["file"] + ": " + w["error"])
print("%s kill -9 trial %s after %s ms: %d segments (%s), %d complete blocks all recovered, %d torn tail(s) of %d bytes named%s"
      % ("FAIL" if bad else "ok", n, ms, len(walk), "last open" if last and not last["footer"] else "all closed",
         blocks, len(torn), sum(w["torn"] for w in torn),
         "".join("\n  " + b for b in bad)))
print("#fig %d %d %d" % (blocks, len(torn), sum(w["torn"] for w in torn)))
EOF
}
if want kill; then
	start_flood mixed 3600
	: >"$T/kill.figs"
	for i in $(seq "$TRIALS"); do
		kill_trial "$i" >"$T/trial.out" || { echo "FAIL kill -9 trial $i: recorder did not start"; FR_FAILN=$((FR_FAILN + 1)); continue; }
		grep -v '^#fig' "$T/trial.out"
		FR_PASS=$((FR_PASS + $(grep -c '^ok ' "$T/trial.out")))
		FR_FAILN=$((FR_FAILN + $(grep -c '^FAIL' "$T/trial.out")))
		grep '^#fig' "$T/trial.out" >>"$T/kill.figs"
		((i < TRIALS)) && rm -rf "$T/kill/$i"
	done
	stop_flood
	# no kill above tore a block (the writer writes each with one call):
	# cut the last trial's last segment inside its last block, as a
	# writer stopped mid-block would, and verify must name the tail
	last=$(ls "$T/kill/$TRIALS"/*.frs 2>/dev/null | tail -1)
	if [[ -n $last ]]; then
		end=$(python3 tests/e2e/segblocks.py "$last" | python3 -c 'import json, sys; print(json.load(sys.stdin)["end"])')
		truncate -s $((end - 100)) "$last"
		kill_check "$T/kill/$TRIALS" torn-tail - | grep -v '^#fig' >"$T/torn.out"
		cat "$T/torn.out"
		check "kill -9: a cut block is named as a torn tail" grep -q '^ok .* 1 torn tail(s) of [1-9][0-9]* bytes named' "$T/torn.out"
	fi
	read -r b t tb < <(awk '{ b += $2; t += ($3 > 0); tb += $4 } END { print b + 0, t + 0, tb + 0 }' "$T/kill.figs")
	echo "# kill -9: $TRIALS trials, $b complete blocks recovered, $t torn tails ($tb bytes) named by verify"
	check "kill -9: blocks were written before the kills ($b)" test "$b" -ge "$TRIALS"
fi

# ---- removed: the output directory removed while recording
if want removed; then
	mkdir -p "$T/cwd" "$T/rm"
	start_flood mixed 60
	touch "$T/rm/.marker"
	for how in removed recreated moved; do
		D=$T/rm/$how
		cd "$T/cwd" && fr_record -o "$D" --pid "$FLOOD" --segment-size 64K || fr_die "recorder"
		cd - >/dev/null
		sleep 1
		msg="recording directory $D was removed: recording stopped"
		if [[ $how == moved ]]; then
			mv "$D" "$D.away" && mkdir -m 700 "$D"
			msg="recording directory $D was moved or replaced: recording stopped"
		else
			# rm -rf races with the segments the recorder keeps
			# creating: again until the directory is gone
			for i in $(seq 50); do rm -rf "$D" 2>/dev/null; [[ -e $D ]] || break; done
			[[ $how == recreated ]] && mkdir -m 700 "$D"
		fi
		wait_exit "$FR_REC_PID" 10
		check "output dir $how: the recorder stops" bash -c "! kill -0 $FR_REC_PID 2>/dev/null"
		kill -9 "$FR_REC_PID" 2>/dev/null
		wait "$FR_REC_PID"
		rc=$?
		check "output dir $how: exit 1, no crash ($rc)" test "$rc" = 1
		grep -v 'recording into\|: privileges dropped: \|: tls: attached to ' "$T/recorder.err" >"$T/rm.err"
		check "output dir $how: one clear line ($(head -c 200 "$T/rm.err"))" \
			bash -c "[[ \$(wc -l <'$T/rm.err') == 1 ]] && grep -qF '$msg' '$T/rm.err'"
		if [[ $how == removed ]]; then
			check "output dir removed: not created again" test ! -e "$D"
		else
			check "output dir $how: nothing written into the new one ($(ls -A "$D" | head -3 | tr '\n' ' '))" \
				test -z "$(ls -A "$D")"
		fi
		[[ $how == moved ]] && check "output dir moved: the moved directory holds the segments, which verify" \
			"$FR" verify -q "$D.away"
		check "output dir $how: nothing written elsewhere ($(ls -A "$T/cwd" "$T/rm" | tr '\n' ' '))" \
			bash -c "[[ -z \$(ls -A '$T/cwd') && \$(ls -A '$T/rm' | grep -vxE '$how|$how.away') == .marker ]]"
		rm -rf "$D" "$D.away"
	done
	stop_flood
fi

# ---- overflow: a 4 KiB kernel ring buffer overflowing for SOAK seconds
if want overflow; then
	start_flood bursts "$SOAK"
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
fi
fr_finish
