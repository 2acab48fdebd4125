#!/usr/bin/env bash
# e2e: connections closed without close(2) still get their CONN_CLOSE:
# a client killed with SIGKILL in the middle of a request (redis-cli
# blocked in BLPOP; the kernel closes its files at exit), sockets closed
# by close_range(2) (Python's os.closerange), by dup2/dup3 over their fd,
# by execve (close-on-exec), and by another process sharing the fd table
# (clone(CLONE_FILES): a close the recorder does not see, found when the
# fd number is used again).  A socket closed by another thread, and one
# used by a forked child, are checked too.  The analyzer then ends the pending
# requests of those clients with "connection closed", not "end of
# recording".
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init

T=$FR_TMP
fr_web_pods redis:redis:7.0

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

# 5. close(2) by another thread of the process (connections are the
# process's, not the thread's)
fr_exec cli client python3 -c '
import os, socket, sys, threading, time
now = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC)
r = socket.create_connection((sys.argv[1], 6379))
r.sendall(b"*3\r\n$5\r\nBLPOP\r\n$10\r\ne2e:thread\r\n$1\r\n0\r\n")
time.sleep(0.2)
fd = r.detach()
t1 = now()
th = threading.Thread(target=os.close, args=(fd,))
th.start()
th.join()
print(os.getpid(), fd, t1, now())
time.sleep(0.3)' "$SRV" >"$T/thread.out"
check "the thread client ran" test "$(wc -w <"$T/thread.out")" = 4

# 6. fork: the child uses and closes the inherited socket (a connection of
# its own, seen mid-stream), the parent goes on using it afterwards
fr_exec cli client python3 -c '
import os, socket, sys, time
now = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC)
req = lambda q: b"GET /index.html?%s HTTP/1.1\r\nHost: x\r\n\r\n" % q
s = socket.create_connection((sys.argv[1], 80))
s.sendall(req(b"fork-parent-1"))
s.recv(4096)
pid = os.fork()
if pid == 0:
    s.sendall(req(b"fork-child"))
    s.recv(4096)
    s.close()
    os._exit(0)
os.waitpid(pid, 0)
t1 = now()
s.sendall(req(b"fork-parent-2"))
s.recv(4096)
fd = s.fileno()
s.close()
print(os.getpid(), pid, fd, t1, now())' "$SRV" >"$T/fork.out"
check "the fork client ran" test "$(wc -w <"$T/fork.out")" = 5

# 7. a process sharing the fd table (clone with CLONE_FILES, not a thread)
# closes a redis client's socket blocked in BLPOP; the client's next socket
# gets the same fd number: the old connection is closed then, before the new
# one is opened.  On one CPU the new socket's struct file usually takes the
# address of the one just freed: only its inode number tells it is new.
fr_exec cli client python3 -c '
import ctypes, os, socket, sys, time
now = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC)
libc = ctypes.CDLL(None, use_errno=True)
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
r = socket.create_connection((sys.argv[1], 6379))
r.sendall(b"*3\r\n$5\r\nBLPOP\r\n$10\r\ne2e:shared\r\n$1\r\n0\r\n")
time.sleep(0.2)
fd = r.detach()
t0 = now()
pid = libc.syscall(56, 0x400 | 17, 0, 0, 0, 0) # clone(CLONE_FILES | SIGCHLD)
if pid == 0:
    os.close(fd)
    os._exit(0)
os.waitpid(pid, 0)
t1 = now()
h = socket.create_connection((sys.argv[1], 80))
h.sendall(b"GET /index.html?shared HTTP/1.1\r\nHost: x\r\n\r\n")
h.recv(4096)
print(os.getpid(), fd, h.fileno(), t1, t0)
time.sleep(0.3)' "$SRV" >"$T/shared.out"
check "the CLONE_FILES client ran" test "$(wc -w <"$T/shared.out")" = 5
# 8. the exit of a process whose socket sits at fd 300: the kernel closes
# it; the exit scan looks past the first 64 fds where bpf_loop exists
# (5.17+: the recorder once never found it, and looked at 64 fds only)
fr_exec cli client python3 -c '
import os, socket, sys
s = socket.create_connection((sys.argv[1], 80))
os.dup2(s.fileno(), 300)
s.close()
h = socket.socket(fileno=300)
h.sendall(b"GET /index.html?fd300 HTTP/1.1\r\nHost: x\r\n\r\n")
h.recv(4096)
print(os.getpid(), flush=True)
os._exit(0)' "$SRV" >"$T/fd300.out"
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

check "exit: the connection at fd 300 is closed by the exit" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
pid = int(open(sys.argv[2]).read())
opens = [r for r in recs if r["kind"] == "CONN_OPEN" and r["pid"] == pid and r["fd"] == 300]
closes = [r for r in recs if r["kind"] == "CONN_CLOSE" and r["pid"] == pid and r["fd"] == 300]
ok = len(opens) == 1 and len(closes) == 1 and closes[0]["gen"] == opens[0]["gen"]
if not ok:
    print("  opens", opens, "closes", closes)
sys.exit(0 if ok else 1)' "$T/rec.jsonl" "$T/fd300.out"

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

check "another thread's close(2) closes the process's connection" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
pid, fd, t1, t2 = map(int, open(sys.argv[2]).read().split())
opens = [r for r in recs if r["kind"] == "CONN_OPEN" and r["pid"] == pid and r["fd"] == fd]
closes = [r for r in recs if r["kind"] == "CONN_CLOSE" and r["pid"] == pid and r["fd"] == fd]
ok = len(opens) == 1 and len(closes) == 1 and closes[0]["gen"] == opens[0]["gen"] and \
     t1 <= closes[0]["ts"] <= t2 and closes[0]["tid"] != pid
if not ok:
    print("  opens", opens, "closes", closes, "close between", t1, t2)
sys.exit(0 if ok else 1)' "$T/rec.jsonl" "$T/thread.out"

check "fork: the child's use of the socket is its own connection, the parent's goes on" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ppid, cpid, fd, t1, t2 = map(int, open(sys.argv[2]).read().split())
def conn(pid):
    o = [r for r in recs if r["kind"] == "CONN_OPEN" and r["pid"] == pid and r["fd"] == fd]
    c = [r for r in recs if r["kind"] == "CONN_CLOSE" and r["pid"] == pid and r["fd"] == fd]
    d = [r for r in recs if r["kind"] == "DATA" and r["pid"] == pid and r["fd"] == fd]
    return o, c, d
po, pc, pd = conn(ppid)
co, cc, cd = conn(cpid)
gens = lambda rs: {r["gen"] for r in rs}
ok = len(po) == 1 and po[0]["role"] == "client" and len(pc) == 1 and gens(pc) == gens(po) and \
     gens(pd) == gens(po) and len(pd) == 4 and t1 <= pc[0]["ts"] <= t2 and \
     len(co) == 1 and co[0]["role"] == "unknown" and len(cc) == 1 and gens(cc) == gens(co) and \
     gens(cd) == gens(co) and len(cd) == 2 and cc[0]["ts"] <= t1 and \
     co[0]["local"] == po[0]["local"] and co[0]["gen"] != po[0]["gen"]
if not ok:
    print("  parent", po, pc, len(pd), "child", co, cc, len(cd), "parent again between", t1, t2)
sys.exit(0 if ok else 1)' "$T/rec.jsonl" "$T/fork.out"

# The system call hooks see that close when the fd is used again (after
# t1); the socket hooks see it when the other process makes it (after t0).
check "CLONE_FILES: the socket closed by the other process is closed before its fd's next OPEN" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
pid, fd, hfd, t1, t0 = map(int, open(sys.argv[2]).read().split())
if sys.argv[3] == "sockets":
    t1 = t0
opens = [r for r in recs if r["kind"] == "CONN_OPEN" and r["pid"] == pid and r["fd"] == fd]
closes = {r["gen"]: r for r in recs if r["kind"] == "CONN_CLOSE" and r["pid"] == pid and r["fd"] == fd}
old = [r for r in opens if r["remote"]["port"] == 6379]
new = [r for r in opens if r["remote"]["port"] == 80]
ok = hfd == fd and len(old) == 1 and len(new) == 1 and old[0]["gen"] in closes and \
     t1 <= closes[old[0]["gen"]]["ts"] <= new[0]["ts"] and closes[old[0]["gen"]]["seq"] < new[0]["seq"]
if not ok:
    print("  opens", opens, "closes", list(closes.values()), "t1", t1)
sys.exit(0 if ok else 1)' "$T/rec.jsonl" "$T/shared.out" "$(fr_hooks_used "$T/rec")"

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
thread_end=$(awk '{ print $4 }' "$T/thread.out")
shared_end=$(awk '{ print $4 + 200000000 }' "$T/shared.out")
for ke in "e2e:dup2 $dup_end" "e2e:exec $exec_end" "e2e:thread $thread_end" "e2e:shared $shared_end"; do
	set -- $ke
	got=$(sqlite3 -batch -noheader -separator ' ' "$T/a.db" "select r.reason, c.closed, c.end_ns <= $2
		from requests r join redis x on x.request_id = r.id join connections c on c.id = r.conn_id
		where r.side = 'client' and x.key = '$1'")
	check "the BLPOP on $1 ends with 'connection closed' at the close, its connection closed (got '$got')" \
		test "$got" = "connection closed 1 1"
done
fr_finish
