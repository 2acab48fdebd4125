#!/usr/bin/env bash
# e2e: overlapping snapshots and deduplicated inputs (issue 12).  Real
# recorder, nginx and curl.  With --after 6, a trigger A (SIGUSR1), then a
# trigger B (`flightrec-record snapshot`) 2 s later, inside A's window:
#   - A's after-window runs to its own end: A holds the request made after
#     B's trigger, not the one made after A's end mark; B holds both, not
#     the one after its own end;
#   - each snapshot's last segment holds its own snapshot-end MARK (naming
#     it); the segments of the overlap are one file (hard links);
#   - `flightrec snapshots` lists both: complete, reason, trigger order,
#     at least --after seconds after each trigger;
#   - an after-window is counted on the events' clock: a recorder stopped
#     (SIGSTOP) through a window comes back to a backlog, and the request
#     made inside the window, behind it, is still the snapshot's;
#   - the ring analyzed with its snapshot (hard links) and with a copy of
#     it gives the dump of the ring alone, and stderr says so.
# The ordering checks wait for the recorder's marks instead of timing it.
# hooks: one (the ring's snapshots, marks and links, counted on the events' clock): the other hook sets run under `make test-hooks`
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR=$FR_BUILD/flightrec

fr_web_pods
echo small >"$T/www/small.txt"
head -c 20000 /dev/urandom >"$T/www/mid.bin"
fr_start_nginx
fr_podlist "$T/pods.json"
R=$T/R
fr_record -o "$R" --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" \
	--after 6 --segment-size 256K || fr_die "recorder"
# background traffic: segments rotate during the windows
fr_run cli client bash -c "while :; do curl -s -o /dev/null http://$SRV/mid.bin; sleep 0.05; done"
req() { fr_exec cli client curl -s -o /dev/null "http://$SRV/small.txt?m=$1"; }
# has_end SNAPDIR NAME: its segments hold the snapshot-end MARK naming NAME
has_end() { "$FR" cat --json --kind MARK "$1" 2>/dev/null | grep -q "\"mark\":\"snapshot-end\".*\"snapshot\":\"$2\""; }
wait_end() { local i; for i in $(seq 300); do has_end "$1" "$2" && return 0; sleep 0.05; done; return 1; }

sleep 1
req pre
sleep 0.3
kill -USR1 "$FR_REC_PID"
for i in $(seq 100); do A=$(ls -d "$R"/snapshots/*-signal 2>/dev/null | head -1); [[ -n $A ]] && break; sleep 0.05; done
check "trigger A (SIGUSR1) made a snapshot" test -n "$A"
req afterA
sleep 2
B=$("$FR_BUILD/flightrec-record" snapshot "$R" --reason "second trigger")
check "trigger B (snapshot command) inside A's window made another" test -d "$B"
req afterB
NA=$(basename "$A") NB=$(basename "$B")
check "A's window ends with its own mark" wait_end "$A" "$NA"
req afterAend
check "B's window ends with its own mark" wait_end "$B" "$NB"
req afterBend
sleep 0.5
fr_record_stop
check "recorder exits 0" test $? = 0

data() { "$FR" cat --json --kind DATA "$1" 2>/dev/null | grep -o 'm=[A-Za-z]*' | sort -u | tr '\n' ' '; }
DA=$(data "$A") DB=$(data "$B")
echo "  A holds: $DA"
echo "  B holds: $DB"
check "A holds the requests before it and in its window (after B's trigger too)" \
	bash -c "[[ '$DA' == *m=pre* && '$DA' == *m=afterA\ * && '$DA' == *m=afterB\ * ]]"
check "A does not hold the request after its end" bash -c "[[ '$DA' != *m=afterAend* ]]"
check "B holds the requests before it and in its window" \
	bash -c "[[ '$DB' == *m=pre* && '$DB' == *m=afterB\ * && '$DB' == *m=afterAend* ]]"
check "B does not hold the request after its end" bash -c "[[ '$DB' != *m=afterBend* ]]"
last_has_end() { "$FR" cat --json --kind MARK "$(ls "$1"/*.frs | tail -1)" | grep -q "\"mark\":\"snapshot-end\".*\"snapshot\":\"$2\""; }
check "A's last segment holds A's snapshot-end" last_has_end "$A" "$NA"
check "B's last segment holds B's snapshot-end" last_has_end "$B" "$NB"
check "A's trigger MARK names A" bash -c "'$FR' cat --json --kind MARK '$A' | grep -q '\"mark\":\"trigger\",\"text\":\"signal\",\"snapshot\":\"$NA\"'"
shared=0
for f in "$A"/*.frs; do
	g=$B/$(basename "$f")
	[[ -e $g && $(stat -c %i "$f") == $(stat -c %i "$g") ]] && shared=$((shared + 1))
done
check "the overlap's segments are shared by hard links ($shared)" test "$shared" -ge 2
quiet() { "$@" >/dev/null 2>&1; }
check "A verifies" quiet "$FR" verify "$A"
check "B verifies" quiet "$FR" verify "$B"

"$FR" snapshots "$R" >"$T/list"
cat "$T/list"
python3 - "$T/list" "$NA" "$NB" >"$T/list.out" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
head, rows = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
by = {r["name"]: r for r in rows}
a, b = by.get(sys.argv[2]), by.get(sys.argv[3])
def ok(c, what):
    print(("ok " if c else "FAIL ") + what)
ok(len(rows) == 2 and a and b, "snapshots: lists both (%d)" % len(rows))
if a and b:
    ok(a["state"] == b["state"] == "complete", "snapshots: both complete")
    ok(a["reason"].startswith("signal") and b["reason"].startswith("second trigger"), "snapshots: reasons (%s | %s)" % (a["reason"], b["reason"]))
    ok(a["trigger"] < b["trigger"] and a["to"] < b["to"], "snapshots: B triggered and ended after A")
    ok(float(a["after_s"]) >= 6 and float(b["after_s"]) >= 6, "snapshots: each window runs --after 6 s past its trigger (%s, %s)" % (a["after_s"], b["after_s"]))
    ok(float(a["before_s"]) >= 1 and int(a["segments"]) >= 2 and int(a["bytes"]) > 0, "snapshots: time before the trigger, segments, bytes")
EOF
cat "$T/list.out"
FR_PASS=$((FR_PASS + $(grep -c '^ok ' "$T/list.out")))
FR_FAILN=$((FR_FAILN + $(grep -c '^FAIL' "$T/list.out")))

# ---- an after-window is counted on the events' clock: a recorder stopped
# right after a trigger comes back, after the window's end, to a backlog
# of more events than it drains between two looks at the clock; the
# requests made inside the window, behind that backlog, are still the
# snapshot's
R2=$T/R2
fr_record -o "$R2" --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" \
	--after 6 || fr_die "recorder"
sleep 0.5
kill -USR1 "$FR_REC_PID"
for i in $(seq 100); do C=$(ls -d "$R2"/snapshots/*-signal 2>/dev/null | head -1); [[ -n $C ]] && break; sleep 0.02; done
kill -STOP "$FR_REC_PID"
T0=$SECONDS
# 3,000 requests on one keep-alive connection: some 12,000 events, three
# times what the reader drains before it looks at the clock, well inside
# the kernel buffer (32M)
fr_exec cli client curl -s -o /dev/null "http://$SRV/small.txt?n=[1-3000]"
req inwindow
check "backlog: the request was made inside the 6 s window ($((SECONDS - T0)) s)" test $((SECONDS - T0)) -lt 6
while ((SECONDS - T0 < 7)); do sleep 0.2; done # past the window's end
kill -CONT "$FR_REC_PID"
check "backlog: the window ends with its mark" wait_end "$C" "$(basename "$C")"
req afterC
fr_record_stop
check "backlog: recorder exits 0" test $? = 0
DC=$(data "$C")
NREQ=$("$FR" cat --json --kind DATA "$C" 2>/dev/null | grep -c 'GET /small.txt?n=')
check "backlog: the snapshot holds the 3,000 requests behind it at both ends ($NREQ)" test "$NREQ" = 6000
check "backlog: the snapshot holds the request behind it" bash -c "[[ '$DC' == *m=inwindow* ]]"
check "backlog: and not the one after its end" bash -c "[[ '$DC' != *m=afterC* ]]"

# ---- inputs deduplicated: the ring (which still holds every segment: no
# --ring-size was reached) with its snapshot, and with a copy of it
"$FR" analyze -q "$R" -o "$T/ring.db" 2>"$T/ring.err"
"$FR" analyze -q "$R" "$B" -o "$T/both.db" 2>"$T/both.err"
cp -r "$B" "$T/copy"
"$FR" analyze -q "$T/copy" "$R" -o "$T/copy.db" 2>"$T/copy.err"
"$FR" dump "$T/ring.db" >"$T/ring.dump"
"$FR" dump "$T/both.db" >"$T/both.dump"
"$FR" dump "$T/copy.db" >"$T/copy.dump"
check "dedup: the ring has requests ($(grep -c . "$T/ring.dump") dump lines)" \
	test "$(sqlite3 "$T/ring.db" "select count(*) from requests where summary = 'GET /small.txt'")" -ge 5
check "dedup: ring + snapshot (hard links) = the ring alone" diff -q "$T/ring.dump" "$T/both.dump"
check "dedup: a copy of the snapshot + the ring = the ring alone" diff -q "$T/ring.dump" "$T/copy.dump"
check "dedup: stderr says so" grep -q 'given twice.*read once' "$T/both.err"
check "dedup: and for the copy" grep -q 'given twice.*read once' "$T/copy.err"
check "dedup: the ring alone says nothing" test ! -s "$T/ring.err"
fr_finish
