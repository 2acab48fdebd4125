#!/usr/bin/env bash
# e2e: a recording tells the truth after its ring rotated (issue 12).  The
# reproduction: a 1M ring of 128K segments, snap length 64K, under a curl
# loop downloading 300 KB from nginx, while one redis-cli -3 connection
# (HELLO 3 first) sends a SET every 50 ms, a keep-alive HTTP client asks
# every 200 ms, a RESP2 subscriber listens and a publisher publishes on one
# connection (its first command an AUTH, to be redacted).  Every segment
# starts with the state of the open connections (CONN_STATE); the segment
# after a snapshot trigger starts with their kept heads (CONN_HEAD).
#   - the ring alone (rotated far past every connection's start): each
#     request counted once, both ends named and linked, no false failure;
#   - the snapshot: the heads replayed, RESP3 known (resp = 3, HGETALL a
#     map), the subscriber's messages are messages; heads redacted;
#   - analyze --from inside the connections, and corpus add --from at the
#     same time: the same rows, no false failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR=$FR_BUILD/flightrec

fr_web_pods redis:redis:7
head -c 300000 /dev/urandom >"$T/www/big.bin"
echo small >"$T/www/small.txt"
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_run srv redis redis-server --bind "$SRV" --port 6379 --save '' --appendonly no --protected-mode no
fr_wait_port "$SRV" 80 || fr_die "nginx did not start"
fr_wait_port "$SRV" 6379 || fr_die "redis-server did not start"
fr_podlist "$T/pods.json"
R=$T/R
fr_record -o "$R" --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" \
	--ring-size 1M --segment-size 128K --snaplen 65536 --after 1 || fr_die "recorder"

cat >"$T/ka.py" <<'EOF'
import http.client, sys, time
c = http.client.HTTPConnection(sys.argv[1], 80)
i = 0
while True:
    c.request("GET", "/small.txt?ka=%d" % i)
    c.getresponse().read()
    i += 1
    time.sleep(0.2)
EOF
# the pooled RESP3 connection: HELLO 3 (redis-cli -3), then SET every 50 ms
# and an HGETALL (a map in RESP3) every tenth
fr_run cli client bash -c "redis-cli -h $SRV HSET h f1 v1 f2 v2 >/dev/null;
	i=0; while :; do echo \"SET k\$i v\$i\"; ((i % 10)) || echo 'HGETALL h'; i=\$((i+1)); sleep 0.05; done |
	redis-cli -3 -h $SRV >/dev/null"
fr_run cli client bash -c "exec redis-cli -h $SRV SUBSCRIBE news >/dev/null"
SUBPID=$FR_LASTPID
fr_run cli client bash -c "{ echo 'AUTH default hunter2-secret'; i=0;
	while :; do echo \"PUBLISH news m\$i\"; i=\$((i+1)); sleep 0.1; done; } | redis-cli -h $SRV >/dev/null 2>&1"
fr_run cli client python3 "$T/ka.py" "$SRV"
fr_run cli client bash -c "while :; do curl -s -o /dev/null http://$SRV/big.bin; sleep 0.5; done"
sleep 6
SNAP=$("$FR_BUILD/flightrec-record" snapshot "$R" --reason state)
sleep 2.5 # past --after 1 (checked once a second), and the ring rotates on
fr_record_stop
check "recorder exits 0" test $? = 0
check "the ring rotated (its first segment is gone)" bash -c "! ls '$R' | grep -q -- '-000000.frs'"
check "the ring verifies" "$FR" verify "$R"
check "the snapshot verifies" "$FR" verify "$SNAP"

# ---- the records
"$FR" cat --json --kind CONN_STATE --kind CONN_HEAD --kind CONN_OPEN "$SNAP" >"$T/snap.jsonl"
"$FR" cat --json --kind CONN_STATE --kind CONN_OPEN "$R" >"$T/ring.jsonl"
FR=$FR python3 - "$T/snap.jsonl" "$T/ring.jsonl" "$R" >"$T/records.out" <<'EOF'
import json, os, subprocess, sys
snap = [json.loads(l) for l in open(sys.argv[1])]
ring = [json.loads(l) for l in open(sys.argv[2])]
def ok(c, what):
    print(("ok " if c else "FAIL ") + what)
heads = [r for r in snap if r["kind"] == "CONN_HEAD"]
hello = [h for h in heads if any("HELLO" in c["payload"] for c in h["chunks"])]
ok(len(hello) == 2, "snapshot: the RESP3 connection's heads, both ends, begin with HELLO 3 (%d)" % len(hello))
ok(all(h["chunks"][0]["payload"].startswith("*2\r\n$5\r\nHELLO\r\n$1\r\n3") for h in hello),
   "snapshot: a head holds the connection's first bytes")
auth = [c["payload"] for h in heads for c in h["chunks"] if c["payload"].startswith("*3\r\n$4\r\nAUTH")]
ok(auth and all("****" in p for p in auth) and not any("hunter2" in c["payload"] for h in heads for c in h["chunks"]),
   "heads are redacted as DATA is (%d AUTH commands)" % len(auth))
states = [r for r in ring if r["kind"] == "CONN_STATE"]
opens = [r for r in ring if r["kind"] == "CONN_OPEN" and r["remote"] and r["remote"]["port"] == 6379]
ok(len(states) > 0 and all(s["flags"] & 1 for s in states if s["remote"] and s["remote"]["port"] == 6379),
   "ring: CONN_STATE records with addresses and role")
# every segment of the ring states the pooled connections open through it
segs = sorted(f for f in os.listdir(sys.argv[3]) if f.endswith(".frs"))
n = 0
for f in segs:
    out = subprocess.run([os.environ["FR"], "cat", "--json", "--kind", "CONN_STATE", os.path.join(sys.argv[3], f)],
                         capture_output=True, text=True).stdout
    n += sum(1 for l in out.splitlines() if '"port":6379' in l) >= 4
ok(n >= len(segs) - 1, "every segment (%d of %d) states the Redis connections open through it" % (n, len(segs)))
EOF
export FR
py_checks() {
	cat "$1"
	FR_PASS=$((FR_PASS + $(grep -c '^ok ' "$1")))
	FR_FAILN=$((FR_FAILN + $(grep -c '^FAIL' "$1")))
}
py_checks "$T/records.out"

q() { sqlite3 "$1" "$2"; }
# check_rows NAME DB SQL: passes when SQL returns no row; prints them when not
check_rows() {
	local out; out=$(sqlite3 "$2" "$3")
	check "$1" test -z "$out"
	[[ -z $out ]] || echo "$out" | head -20
}
# the subscriber's connections: in the ring alone (no heads there) its
# RESP2 messages read as replies without a command: the snapshot's case
SUB="(select id from connections where pid = $SUBPID union select peer_conn_id from connections where pid = $SUBPID)"

# ---- the ring alone: the issue's reproduction
"$FR" analyze -q "$R" -o "$T/ring.db"
"$FR" report "$T/ring.db" >"$T/ring.report"
cat "$T/ring.report"
check "ring: no connection of a pooled client without its addresses" \
	test "$(q "$T/ring.db" "select count(*) from connections where transport = 'tcp' and protocol is not null and local_addr is null")" = 0
# (a request in the recording's last 200 ms may have only one end)
check_rows "ring: each Redis request counted once (both ends linked)" "$T/ring.db" \
	"select id, conn_id, side, summary, reason from requests where protocol = 'redis' and peer_request_id is null and start_ns < (select max(last_ts) from segments) - 200000000 and conn_id not in $SUB"
check "ring: Redis and HTTP edges name both pods" \
	test "$(q "$T/ring.db" "select count(*) from requests where client_workload is null or server_workload is null or client_workload != 'e2e/cli' or server_workload != 'e2e/srv'")" = 0
check_rows "ring: no false failure (only unanswered at the end of the recording)" "$T/ring.db" \
	"select id, conn_id, summary, status, reason from requests where error = 1 and coalesce(reason, '') != 'end of recording' and conn_id not in $SUB"
check_rows "ring: no 'reply lost in gap'" "$T/ring.db" \
	"select id, conn_id, summary from requests where reason = 'reply lost in gap'"
check "ring: the pooled connections began before it: head 0, one gap each way" \
	test "$(q "$T/ring.db" "select count(*) from connections where head = 0 and protocol in ('redis', 'http1')")" -ge 4
check "ring: SETs after rotation" \
	test "$(q "$T/ring.db" "select count(*) from requests where summary like 'SET k%' and status = 'simple' and side = 'client'")" -ge 3

# export-pcap of the ring: connections whose CONN_OPEN rotated out keep
# their addresses (from CONN_STATE), none is made up
"$FR" export-pcap "$R" -o "$T/ring.pcapng" 2>/dev/null
check "export-pcap: after rotation, no made-up address (10.254/10.255)" \
	test "$(tshark -r "$T/ring.pcapng" -Y 'ip.addr == 10.255.0.0/16 || ip.addr == 10.254.0.0/16' 2>/dev/null | wc -l)" = 0
check "export-pcap: after rotation, the Redis packets between the pods' addresses" \
	test "$(tshark -r "$T/ring.pcapng" -Y "tcp.port == 6379 && ip.addr == $SRV" 2>/dev/null | wc -l)" -ge 20

# ---- the snapshot: the heads replayed
"$FR" analyze -q "$SNAP" -o "$T/snap.db"
"$FR" report "$T/snap.db" >"$T/snap.report"
cat "$T/snap.report"
check "snapshot: the RESP3 connection's head replayed (both ends)" \
	test "$(q "$T/snap.db" "select count(*) from connections c join requests r on r.conn_id = c.id where c.head = 1 and r.summary like 'SET k%' group by c.id" | wc -l)" = 2
check_rows "snapshot: RESP3 after rotation: resp = 3 on every SET" "$T/snap.db" \
	"select r.id, r.conn_id, r.side, r.summary, x.resp, r.start_ns, (select head from connections where id = r.conn_id) from requests r join redis x on x.request_id = r.id where r.summary like 'SET k%' and (x.resp is null or x.resp != 3)"
check "snapshot: RESP3 after rotation: HGETALL replies are maps" \
	test "$(q "$T/snap.db" "select count(*) from requests r join redis x on x.request_id = r.id where r.summary = 'HGETALL h' and x.reply_type = 'map' and x.resp = 3")" -ge 2
check "snapshot: the subscriber (SUBSCRIBE before the window) gets messages, not replies" \
	test "$(q "$T/snap.db" "select count(*) from messages where kind = 'message' and topic = 'news'")" -ge 5
check_rows "snapshot: no reply without a command" "$T/snap.db" \
	"select id, conn_id, status from requests where summary = '(reply without command)'"
check "snapshot: the keep-alive HTTP connection's head replayed" \
	test "$(q "$T/snap.db" "select count(*) from connections where head = 1 and protocol = 'http1' and local_port != 80 and requests > 0")" -ge 1
check_rows "snapshot: no false failure" "$T/snap.db" \
	"select id, conn_id, summary, status, reason from requests where error = 1 and coalesce(reason, '') != 'end of recording'"

# ---- --from inside the connections, and corpus add --from at that time
FROM=$(q "$T/snap.db" "select start_ns - 1000 from requests where summary like 'SET k%' and side = 'client' order by start_ns limit 1 offset 5")
"$FR" analyze -q "$SNAP" --from "$FROM" -o "$T/from.db"
check "--from: the first SET after it is paired" \
	test "$(q "$T/from.db" "select status from requests where summary like 'SET k%' and side = 'client' order by start_ns limit 1")" = simple
check_rows "--from: no false failure" "$T/from.db" \
	"select id, conn_id, summary, status, reason from requests where error = 1 and coalesce(reason, '') != 'end of recording'"
check_rows "--from: RESP3 known, both ends linked" "$T/from.db" \
	"select r.id, r.conn_id, r.side, r.summary, x.resp, r.peer_request_id from requests r join redis x on x.request_id = r.id where r.summary like 'SET k%' and (x.resp != 3 or r.peer_request_id is null)"
check "--from: the pooled connections began before it, heads replayed" \
	test "$(q "$T/from.db" "select count(*) from connections where head = 1")" -ge 4
TO=$(q "$T/snap.db" "select max(end_ns) from connections")
"$FR" corpus add "$SNAP" --from "$FROM" --to "$TO" --name cut --corpus "$T/corpus" >/dev/null 2>&1
"$FR" analyze -q "$T/corpus/mixed/cut" -o "$T/cut.db"
rows() { "$FR" dump "$1" | sed -n '/^# connections/,$p'; }
check "corpus add --from: the case's rows are --from's" diff <(rows "$T/from.db") <(rows "$T/cut.db")
# a window from before the recording's first record: the case's first
# segment's states take their heads along too
FROM0=$(q "$T/snap.db" "select min(start_ns) - 1000 from connections")
"$FR" analyze -q "$SNAP" --from "$FROM0" -o "$T/from0.db"
"$FR" corpus add "$SNAP" --from "$FROM0" --to "$TO" --name cut0 --corpus "$T/corpus" >/dev/null 2>&1
"$FR" analyze -q "$T/corpus/mixed/cut0" -o "$T/cut0.db"
check "corpus add --from before the first record: the case's rows are --from's" \
	diff <(rows "$T/from0.db") <(rows "$T/cut0.db")
fr_finish
