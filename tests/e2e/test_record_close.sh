#!/usr/bin/env bash
# e2e: connections closed without close(2) still get their CONN_CLOSE:
# a client killed with SIGKILL in the middle of a request (redis-cli
# blocked in BLPOP; the kernel closes its files at exit), and sockets
# closed by close_range(2) (Python's os.closerange).  The analyzer then
# ends the killed client's request with "connection closed", not "end of
# recording".
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init

T=$FR_TMP
fr_pod srv
fr_container srv nginx nginx:1.22
fr_container srv redis redis:7.0
fr_pod cli
fr_container cli client debian:12
SRV=${FR_IP[srv]}

fr_nginx_conf "$T" "$SRV"
echo "hello" >"$T/www/index.html"
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_run srv redis redis-server --bind "$SRV" --port 6379 --protected-mode no --save '' --appendonly no \
	--dir "$T" --logfile "$T/redis.log"
fr_wait_port "$SRV" 80 || fr_die "nginx did not start"
fr_wait_port "$SRV" 6379 || fr_die "redis-server did not start"

fr_record -o "$T/rec" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" || fr_die "recorder"

# 1. a client killed mid-request
fr_run cli client redis-cli -h "$SRV" BLPOP e2e:never 0
KILLED=$FR_LASTPID
for i in $(seq 100); do
	ip netns exec "${FR_NS[srv]}" ss -Htn "sport = :6379" | grep -q ESTAB && break
	sleep 0.05
done
sleep 0.2
python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC))' >"$T/kill.ns"
kill -9 "$KILLED"
wait "$KILLED" 2>/dev/null

# 2. close_range(2): two connections closed by one call, then the process
# lives on (its exit must not be what closes them)
fr_exec cli client python3 -c '
import os, socket, sys, time
socks = []
for i in range(2):
    s = socket.create_connection((sys.argv[1], 80))
    s.sendall(b"GET /index.html?closerange-%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    s.recv(4096)
    socks.append(s)
fds = [s.detach() for s in socks]
os.closerange(min(fds), max(fds) + 1)
print(os.getpid(), time.clock_gettime_ns(time.CLOCK_MONOTONIC), *fds)
time.sleep(0.3)' "$SRV" >"$T/closerange.out"
check "the close_range client ran" test -s "$T/closerange.out"
if strace -V >/dev/null 2>&1; then
	strace -f -e trace=close_range -o "$T/strace.out" python3 -c 'import os; os.closerange(1000, 1002)'
	check "os.closerange uses close_range(2) here" grep -q 'close_range(1000, 1001' "$T/strace.out"
fi
sleep 0.3
fr_record_stop
check "recorder exits 0" test $? = 0
"$FR_BUILD/flightrec" cat --json "$T/rec" >"$T/rec.jsonl" || fr_die "cat"

check "killed client: its connection has a CONN_CLOSE after the kill" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
pid, kill_ns = int(sys.argv[2]), int(open(sys.argv[3]).read())
opens = [r for r in recs if r["kind"] == "CONN_OPEN" and r["pid"] == pid
         and r["remote"]["port"] == 6379]
closes = [r for r in recs if r["kind"] == "CONN_CLOSE" and r["pid"] == pid]
ok = len(opens) == 1 and len(closes) == 1 and \
     (closes[0]["fd"], closes[0]["gen"]) == (opens[0]["fd"], opens[0]["gen"]) and closes[0]["ts"] >= kill_ns
if not ok:
    print("  opens", opens, "closes", closes, "kill", kill_ns)
sys.exit(0 if ok else 1)' "$T/rec.jsonl" "$KILLED" "$T/kill.ns"

check "close_range: both connections closed by the call, not by the exit" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
pid, after, *fds = map(int, open(sys.argv[2]).read().split())
opens = {r["fd"]: r for r in recs if r["kind"] == "CONN_OPEN" and r["pid"] == pid}
closes = {r["fd"]: r for r in recs if r["kind"] == "CONN_CLOSE" and r["pid"] == pid}
ok = all(fd in opens and fd in closes and closes[fd]["gen"] == opens[fd]["gen"]
         and closes[fd]["ts"] <= after and closes[fd].get("bytes_in", 1) > 0 for fd in fds)
if not ok:
    print("  fds", fds, "opens", list(opens), "closes", list(closes.values()))
sys.exit(0 if ok else 1)' "$T/rec.jsonl" "$T/closerange.out"

"$FR_BUILD/flightrec" analyze -q "$T/rec" -o "$T/a.db" -j 1
check "analyze exit 0" test $? = 0
reason=$(sqlite3 -batch -noheader "$T/a.db" "select r.reason from requests r join redis x on
	x.request_id = r.id where r.side = 'client' and x.command = 'BLPOP'")
check "the killed client's BLPOP ends with 'connection closed' (got '$reason')" \
	test "$reason" = "connection closed"
fr_finish
