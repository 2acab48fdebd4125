#!/usr/bin/env bash
# e2e: connections closed without close(2) still get their CONN_CLOSE:
# a client killed with SIGKILL in the middle of a request (redis-cli
# blocked in BLPOP; the kernel closes its files at exit), sockets closed
# by close_range(2) (Python's os.closerange), by dup2/dup3 over their fd,
# and by execve (close-on-exec).  The analyzer then ends the pending
# requests of those clients with "connection closed", not "end of
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
# 3. dup2/dup3 over a socket's fd: the kernel closes the socket's file
# without a close call.  A redis client blocked in BLPOP gets /dev/null
# over its fd (dup2); an HTTP client gets a second connection's socket over
# its fd (dup3, inheritable=False), and what it then sends and reads on
# that fd belongs to the second connection, not the first.
fr_exec cli client python3 -c '
import os, socket, sys, time
now = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC)
r = socket.create_connection((sys.argv[1], 6379))
r.sendall(b"*3\r\n$5\r\nBLPOP\r\n$8\r\ne2e:dup2\r\n$1\r\n0\r\n")
time.sleep(0.2)
null = os.open("/dev/null", os.O_RDWR)
t1 = now()
os.dup2(null, r.fileno())
t2 = now()
h1 = socket.create_connection((sys.argv[1], 80))
h2 = socket.create_connection((sys.argv[1], 80))
h1.sendall(b"GET /index.html?dup3-old HTTP/1.1\r\nHost: x\r\n\r\n")
h1.recv(4096)
fd = h1.fileno()
ports = h1.getsockname()[1], h2.getsockname()[1] # fd holds h2 after the dup3
t3 = now()
os.dup2(h2.fileno(), fd, inheritable=False)
t4 = now()
os.write(fd, b"GET /index.html?dup3-new HTTP/1.1\r\nHost: x\r\n\r\n")
os.read(fd, 4096)
print(os.getpid(), r.fileno(), t1, t2, fd, t3, t4, *ports)
time.sleep(0.3)' "$SRV" >"$T/dup.out"
check "the dup2 client ran" test -s "$T/dup.out"
if strace -V >/dev/null 2>&1; then
	strace -f -e trace=dup2,dup3 -o "$T/strace-dup.out" python3 -c '
import os; os.dup2(0, 1000); os.dup2(0, 1001, inheritable=False)'
	check "os.dup2 uses dup2(2) and dup3(2) here" \
		grep -q 'dup2(0, 1000' "$T/strace-dup.out" && grep -q 'dup3(0, 1001' "$T/strace-dup.out"
fi

# 4. execve: a close-on-exec socket (Python's default) blocked in BLPOP is
# closed by the exec; an inheritable one lives on in `sleep` and is closed
# by its exit, 0.5 s later.  The close-on-exec socket is at fd 40: the
# dynamic loader of the new program opens (and closes) the lowest free
# fds, and a close(2) of the socket's old fd number would hide a missing
# CLOSE at exec.
fr_exec cli client python3 -c '
import fcntl, os, socket, sys, time
now = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC)
s = socket.socket()
r = socket.socket(fileno=fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 40))
s.close()
r.connect((sys.argv[1], 6379))
r.sendall(b"*3\r\n$5\r\nBLPOP\r\n$8\r\ne2e:exec\r\n$1\r\n0\r\n")
k = socket.create_connection((sys.argv[1], 80))
k.set_inheritable(True)
k.sendall(b"GET /index.html?exec-kept HTTP/1.1\r\nHost: x\r\n\r\n")
k.recv(4096)
time.sleep(0.2)
print(os.getpid(), r.fileno(), k.fileno(), now(), flush=True)
os.execv("/bin/sleep", ["sleep", "0.5"])' "$SRV" >"$T/exec.out"
python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC))' >>"$T/exec.out"
check "the exec client ran" test "$(wc -w <"$T/exec.out")" = 5
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

check "dup2: the redis connection closed by dup2, at the call" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
pid, fd, t1, t2 = map(int, open(sys.argv[2]).read().split()[:4])
opens = [r for r in recs if r["kind"] == "CONN_OPEN" and r["pid"] == pid and r["fd"] == fd
         and r["remote"]["port"] == 6379]
closes = [r for r in recs if r["kind"] == "CONN_CLOSE" and r["pid"] == pid and r["fd"] == fd]
ok = len(opens) == 1 and len(closes) >= 1 and closes[0]["gen"] == opens[0]["gen"] and \
     t1 <= closes[0]["ts"] <= t2
if not ok:
    print("  opens", opens, "closes", closes, "dup2 between", t1, t2)
sys.exit(0 if ok else 1)' "$T/rec.jsonl" "$T/dup.out"

check "dup3: the old connection closed at the call, later data on the new one" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
pid, _, _, _, fd, t3, t4, port1, port2 = map(int, open(sys.argv[2]).read().split())
opens = {r["gen"]: r for r in recs if r["kind"] == "CONN_OPEN" and r["pid"] == pid and r["fd"] == fd}
closes = {r["gen"]: r for r in recs if r["kind"] == "CONN_CLOSE" and r["pid"] == pid and r["fd"] == fd}
old = [g for g, r in opens.items() if r["local"]["port"] == port1]
new = [g for g, r in opens.items() if r["local"]["port"] == port2]
after = [r for r in recs if r["kind"] == "DATA" and r["pid"] == pid and r["fd"] == fd and r["ts"] > t4]
ok = len(old) == 1 and len(new) == 1 and old[0] in closes and t3 <= closes[old[0]]["ts"] <= t4 and \
     len(after) >= 2 and all(r["gen"] == new[0] for r in after)
if not ok:
    print("  opens", list(opens.values()), "closes", list(closes.values()),
          "after", [(r["gen"], r["dir"]) for r in after], "dup3 between", t3, t4)
sys.exit(0 if ok else 1)' "$T/rec.jsonl" "$T/dup.out"

check "exec: the close-on-exec socket closed by the exec, the inherited one by the exit" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
pid, rfd, kfd, t_exec, t_end = map(int, open(sys.argv[2]).read().split())
def conn(fd, port):
    o = [r for r in recs if r["kind"] == "CONN_OPEN" and r["pid"] == pid and r["fd"] == fd
         and r["remote"]["port"] == port]
    c = [r for r in recs if r["kind"] == "CONN_CLOSE" and r["pid"] == pid and r["fd"] == fd]
    return o, c
ro, rc = conn(rfd, 6379)
ko, kc = conn(kfd, 80)
ok = len(ro) == 1 and len(rc) == 1 and rc[0]["gen"] == ro[0]["gen"] and \
     t_exec <= rc[0]["ts"] <= t_exec + 400000000 and \
     len(ko) == 1 and len(kc) == 1 and kc[0]["gen"] == ko[0]["gen"] and \
     t_exec + 400000000 <= kc[0]["ts"] <= t_end
if not ok:
    print("  redis", ro, rc, "kept", ko, kc, "exec", t_exec, "end", t_end)
sys.exit(0 if ok else 1)' "$T/rec.jsonl" "$T/exec.out"

"$FR_BUILD/flightrec" analyze -q "$T/rec" -o "$T/a.db" -j 1
check "analyze exit 0" test $? = 0
reason=$(sqlite3 -batch -noheader "$T/a.db" "select r.reason from requests r join redis x on
	x.request_id = r.id where r.side = 'client' and x.key = 'e2e:never'")
check "the killed client's BLPOP ends with 'connection closed' (got '$reason')" \
	test "$reason" = "connection closed"
# the connection ends when the socket was closed (dup2, exec), not when the
# process exited
read -r _ _ _ dup_end _ <"$T/dup.out"
exec_end=$(($(awk 'NR == 1 { print $4 }' "$T/exec.out") + 400000000))
for ke in "e2e:dup2 $dup_end" "e2e:exec $exec_end"; do
	set -- $ke
	got=$(sqlite3 -batch -noheader -separator ' ' "$T/a.db" "select r.reason, c.closed, c.end_ns <= $2
		from requests r join redis x on x.request_id = r.id join connections c on c.id = r.conn_id
		where r.side = 'client' and x.key = '$1'")
	check "the BLPOP on $1 ends with 'connection closed' at the close, its connection closed (got '$got')" \
		test "$got" = "connection closed 1 1"
done
fr_finish
