#!/usr/bin/env bash
# e2e (issue 12, arrival time for ingress): a client that sleeps 150 ms
# after its reply came (a peek, which is not data, says when) before it
# reads it.  With the socket hooks the reply's DATA record is preceded by
# an ARRIVAL record that puts its bytes at least 150 ms before the read
# (the delay is the client's, not the network's); with the system call
# hooks the header says arrival times are not recorded and there are no
# ARRIVAL records.  (Whether a prompt read has one depends on scheduling:
# not checked.)  The analyzer makes of it the client_read_delay_ns of the
# request: a client that sleeps 150 ms before it reads redis-server's PONG
# has a client_read_delay_ns of 150 ms or more (NULL with the system call
# hooks), which the network's share of the pair includes.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init

T=$FR_TMP
fr_pod srv
fr_container srv echo python:3
fr_pod cli
fr_container cli client python:3
SRV=${FR_IP[srv]}
fr_run srv echo python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7070)); s.listen(4)
while True:
    a, _ = s.accept()
    while True:
        q = a.recv(100)
        if not q:
            break
        a.sendall(b"reply-to-" + q)
    a.close()' "$SRV"
fr_container srv redis python:3
fr_run srv redis redis-server --bind "$SRV" --port 6379 --save '' --appendonly no \
	--protected-mode no --dir "$T" --logfile "$T/redis.log"
fr_wait_port "$SRV" 7070 && fr_wait_port "$SRV" 6379 || fr_die "a server did not start"
fr_record -o "$T/rec" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" || fr_die "recorder"
fr_exec cli client python3 -c '
import socket, sys, time
now = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC)
c = socket.create_connection((sys.argv[1], 7070))
c.sendall(b"late")
while not c.recv(100, socket.MSG_PEEK):
    pass # (blocks until the reply is there; a peek is not recorded as data)
time.sleep(0.15) # the reply waits in the socket
c.recv(100)
time.sleep(0.05)
c.sendall(b"prompt")
c.recv(100)
c.close()
r = socket.create_connection((sys.argv[1], 6379))
r.sendall(b"*2\r\n$4\r\nECHO\r\n$4\r\nlate\r\n")
while not r.recv(100, socket.MSG_PEEK):
    pass
time.sleep(0.15) # the reply waits in the socket
r.recv(100)
r.close()' "$SRV" || fr_die "client"
sleep 0.3
fr_record_stop
check "recorder exits 0" test $? = 0
"$FR_BUILD/flightrec" cat --json "$T/rec" >"$T/rec.jsonl" || fr_die "cat"
hooks=$(fr_hooks_used "$T/rec")
arrival=$("$FR_BUILD/flightrec" info "$T/rec" | awk -F': *' '$1 == "arrival times" { print $2; exit }')
if [[ $hooks == sockets ]]; then
	check "sockets hooks: the header says arrival times are recorded ($arrival)" test "${arrival%% *}" = yes
	check "the late reply's bytes were readable 150 ms or more before the read" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
arr = {}
prev = None
late = prompt = None
for r in recs:
    if r["kind"] == "DATA" and r["dir"] == "ingress" and r["payload"].startswith("reply-to-"):
        a = prev if prev and prev["kind"] == "ARRIVAL" and (prev["pid"], prev["fd"], prev["gen"], prev["stream_pos"]) == \
            (r["pid"], r["fd"], r["gen"], r["stream_pos"]) else None
        if r["payload"] == "reply-to-late":
            late = (r, a)
        else:
            prompt = (r, a)
    prev = r
ok = late and late[1] and late[0]["ts"] - late[1]["arrival_ns"] >= 150e6 and prompt
if not ok:
    print("  late", late, "prompt", prompt)
sys.exit(0 if ok else 1)' "$T/rec.jsonl"
else
	check "syscalls hooks: the header says no arrival times ($arrival)" test "$arrival" = no
	check "syscalls hooks: no ARRIVAL records" bash -c "! grep -q '\"kind\":\"ARRIVAL\"' '$T/rec.jsonl'"
fi
"$FR_BUILD/flightrec" analyze "$T/rec" -o "$T/a.db" >/dev/null 2>&1 || fr_die "analyze"
q() { sqlite3 -separator ' ' "$T/a.db" "$1"; }
late=$(q "SELECT coalesce(client_read_delay_ns, 'NULL'), coalesce(server_read_delay_ns, 'NULL'),
	coalesce(network_ns, 'NULL') FROM requests WHERE protocol = 'redis' AND side = 'client' AND summary LIKE 'ECHO%'")
srv=$(q "SELECT count(*) FROM requests WHERE protocol = 'redis' AND side = 'server' AND client_read_delay_ns IS NOT NULL")
echo "  client row of the late ECHO: client_read_delay_ns server_read_delay_ns network_ns = $late"
read -r cdelay sdelay net <<<"$late"
check "the late ECHO has a client row" test -n "$late"
check "a client row has no server_read_delay_ns" test "$sdelay" = NULL
check "a server row has no client_read_delay_ns" test "$srv" = 0
if [[ $hooks == sockets ]]; then
	check "client_read_delay_ns of the late ECHO is 150 ms or more ($cdelay)" \
		test "$cdelay" != NULL -a "${cdelay/NULL/0}" -ge 150000000
	check "the network's share of the pair includes that delay ($net)" \
		test "$net" != NULL -a "${net/NULL/0}" -ge "${cdelay/NULL/0}"
	"$FR_BUILD/flightrec" report "$T/a.db" >"$T/report.txt" 2>&1
	check "the report's slowest list says the client was slow to read" \
		grep -Eq "the client read the response [0-9.]+m?s after it arrived" "$T/report.txt"
	"$FR_BUILD/flightrec" report "$T/a.db" -o "$T/report.html" >/dev/null 2>&1
	check "the HTML report's slowest rows have that delay" python3 -c '
import json, re, sys
h = open(sys.argv[1]).read()
d = json.loads(re.search(r"<script id=\"data\" type=\"application/json\">(.*?)</script>", h, re.S).group(1))
t = d["slowest"]
k = t["cols"].index("client_read_delay_ns")
sys.exit(0 if any(r[k] and r[k] >= 150e6 for r in t["rows"]) else 1)' "$T/report.html"
else
	check "syscalls hooks: no read delays" test "$(q "SELECT count(*) FROM requests
		WHERE client_read_delay_ns IS NOT NULL OR server_read_delay_ns IS NOT NULL")" = 0
fi
fr_finish
