#!/usr/bin/env bash
# e2e: the ring survives a full disk (issue 12).  A 400 KB tmpfs (mounted
# and unmounted here) holds a recording with a 100 MB ring, under a curl
# loop downloading 300 KB files from nginx:
#   - the recorder warns at start that the ring does not fit;
#   - it records on (the disk fills many times over): on ENOSPC it deletes
#     its oldest segments, never a snapshot's, and says so in a MARK
#     disk-full record (and a LOSS record, reason 4, for records it could
#     not write), then goes on; a request made at the end is recorded;
#   - every closed segment verifies, and so does the snapshot taken first;
#   - segments larger than the disk: each ends where the disk is full, the
#     block that did not fit is counted in a LOSS record, recording goes on;
#   - a disk with no room for even one segment (filled by another file)
#     stops the recorder with status 1 and one line, and leaves no
#     segment behind.
# hooks: one (the ring on a full disk, not the capture): the other hook sets run under `make test-hooks`
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR=$FR_BUILD/flightrec

fr_web_pods
head -c 300000 /dev/urandom >"$T/www/big.bin"
echo small >"$T/www/small.txt"
fr_start_nginx
fr_podlist "$T/pods.json"
quiet() { "$@" >/dev/null 2>&1; }

D=$T/full
mkdir -p "$D"
mount -t tmpfs -o size=400k,mode=0700 "fr$$full" "$D" || fr_die "cannot mount a tmpfs"
fr_record -o "$D" --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" \
	--ring-size 100M --segment-size 128K --after 0 || fr_die "recorder"
check "warns at start that --ring-size exceeds the free space" \
	grep -q 'warning: --ring-size 104.9 MB is more than the free space' "$T/recorder.err"
# a snapshot before the load: its segments must survive the full disk
SNAP=$("$FR_BUILD/flightrec-record" snapshot "$D" --reason before-load)
check "snapshot taken" test -d "$SNAP"
ls "$SNAP" >"$T/snap.files"
fr_run cli client bash -c "while :; do curl -s -o /dev/null http://$SRV/big.bin; done"
LOADP=$FR_LASTPID
for i in $(seq 200); do grep -q 'disk full: deleted' "$T/recorder.err" && break; sleep 0.05; done
sleep 3
check "the recorder records on after the disk filled" kill -0 "$FR_REC_PID"
kill "$LOADP" 2>/dev/null
pkill -f "http://$SRV/big.bin" 2>/dev/null # the download under way (this run's address)
sleep 1
# the ring now holds about a second: the last request is in it
fr_exec cli client curl -s -o /dev/null "http://$SRV/small.txt?m=last"
sleep 0.3
fr_record_stop
check "recorder exits 0" test $? = 0
cat "$T/recorder.err"
check "stderr says what the full disk cost" grep -q 'disk full: deleted [0-9]* segments\? of the ring' "$T/recorder.err"
check "no 'recording stopped'" bash -c "! grep -q 'recording stopped' '$T/recorder.err'"
LASTIDX=$(ls "$D"/*.frs | tail -1 | sed 's/.*-0*\([0-9][0-9]*\)\.frs/\1/')
NOW=$(ls "$D"/*.frs | wc -l)
check "the ring rotated through the small disk ($NOW segments left, the last is #$LASTIDX)" \
	test "$LASTIDX" -ge $((NOW + 10))
check "the request made at the end is recorded" \
	bash -c "'$FR' cat --json --kind DATA '$D' 2>/dev/null | grep -q 'm=last'"
"$FR" cat --json --kind MARK --kind LOSS "$D" >"$T/marks.jsonl" 2>/dev/null
grep '"mark":"disk-full"' "$T/marks.jsonl" | head -3
python3 - "$T/marks.jsonl" "$D" >"$T/marks.out" <<'EOF'
import json, os, re, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
full = [r for r in recs if r.get("mark") == "disk-full"]
def ok(c, what):
    print(("ok " if c else "FAIL ") + what)
ok(len(full) > 0, "MARK disk-full records in the ring (%d)" % len(full))
named = [m for r in full for m in re.findall(r"\S+\.frs", r["text"])]
ok(named and not any(os.path.exists(os.path.join(sys.argv[2], n)) for n in named),
   "they name the deleted segments (%d names), which are gone" % len(named))
ok(all(re.search(r"deleted \d+ segments? of the ring \(\d+ bytes.*\); \d+ records not written", r["text"]) for r in full),
   "they say how many segments and bytes were deleted, and records not written")
loss = [r for r in recs if r["kind"] == "LOSS" and r["reason"] == 4]
lost = sum(int(re.search(r"(\d+) records not written", r["text"]).group(1)) for r in full)
ok(sum(r["count"] for r in loss) == lost, "LOSS records (reason 4, disk full) count the records not written (%d)" % lost)
EOF
cat "$T/marks.out"
FR_PASS=$((FR_PASS + $(grep -c '^ok ' "$T/marks.out")))
FR_FAILN=$((FR_FAILN + $(grep -c '^FAIL' "$T/marks.out")))
"$FR" verify "$D" >"$T/verify.out" 2>&1
check "every closed segment verifies" test $? = 0
tail -1 "$T/verify.out"
check "the snapshot's segments were kept" diff "$T/snap.files" <(ls "$SNAP")
check "the snapshot verifies" quiet "$FR" verify "$SNAP"
umount "$D"

# ---- segments larger than the disk (--segment-size 100M on 300 KB): a
# segment ends where the disk is full, the block that did not fit is lost
# (LOSS, reason 4), the next segment takes the room of the one before
mount -t tmpfs -o size=300k,mode=0700 "fr$$big" "$D" || fr_die "cannot mount a tmpfs"
fr_record -o "$D" --segment-size 100M --ring-size 1G --cgroup "$(fr_slice srv)" \
	--cgroup "$(fr_slice cli)" || fr_die "recorder"
fr_run cli client bash -c "while :; do curl -s -o /dev/null http://$SRV/big.bin; done"
LOADP=$FR_LASTPID
for i in $(seq 200); do grep -q 'records not written' "$T/recorder.err" && break; sleep 0.05; done
sleep 2
check "big segments: the recorder records on" kill -0 "$FR_REC_PID"
kill "$LOADP" 2>/dev/null
sleep 0.3
fr_record_stop
check "big segments: recorder exits 0" test $? = 0
grep 'disk full' "$T/recorder.err"
"$FR" cat --json --kind LOSS "$D" >"$T/loss.jsonl" 2>/dev/null
check "big segments: LOSS records (reason 4) count the records that did not fit" \
	grep -q '"reason":4,"count":[1-9]' "$T/loss.jsonl"
check "big segments: every closed segment verifies" quiet "$FR" verify "$D"
umount "$D"

# ---- no room for even one segment: a disk filled by someone else
mount -t tmpfs -o size=64k,mode=0700 "fr$$none" "$D" || fr_die "cannot mount a tmpfs"
echo 99999999 >"$D/.flightrec-record.pid" # (the pid file has its page)
dd if=/dev/zero of="$D/filler" bs=4k 2>/dev/null
"$FR_BUILD/flightrec-record" -o "$D" --segment-size 128K --ring-size 1M \
	--cgroup "$(fr_slice cli)" --duration 5 2>"$T/none.err"
RC=$?
cat "$T/none.err"
check "no room at all: status 1" test "$RC" = 1
check "no room at all: one clear line" grep -q 'disk full: .*recording stopped' "$T/none.err"
check "no room at all: no segment left behind" bash -c "! ls '$D' | grep -q '\.frs$'"
umount "$D"
fr_finish
