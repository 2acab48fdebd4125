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
# FR_FAULTS="kill removed" picks sections.  Figures are printed as "# "
# lines (trials, blocks recovered, torn tails).  The kernel ring buffer
# overflowing is tests/e2e/test_record_overflow.sh.
# hooks: one (the segment writer and the output directory): the other hook sets run under `make test-hooks`
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR_BUILD=$(realpath "$FR_BUILD") # the recorder runs in $T/cwd below
FR=$FR_BUILD/flightrec
TRIALS=${FR_KILL_TRIALS:-5}
SECTIONS=${FR_FAULTS:-kill removed}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

# The flood: one process sending UDP datagrams and TCP bytes until the
# stop file appears (tests/e2e/flood.py).
start_flood() { # seconds: the flood in the background, pid in FLOOD
	rm -f "$T/stop"
	python3 tests/e2e/flood.py mixed "$T/stop" "$1" &
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
	start_flood 3600
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
	start_flood 60
	touch "$T/rm/.marker"
	for how in removed recreated moved; do
		D=$T/rm/$how
		# segments of 1M: rotating at the flood's pace (64K segments,
		# hundreds a second, none waiting for its fsync) the recorder
		# created files faster than rm -rf could empty the directory
		cd "$T/cwd" && fr_record -o "$D" --pid "$FLOOD" --segment-size 1M || fr_die "recorder"
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

fr_finish
