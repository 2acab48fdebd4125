#!/usr/bin/env bash
# e2e: datagrams moved several to a system call, sendmmsg(2) and
# recvmmsg(2): each datagram is a DATA event of its own, with its bytes,
# its call and its peer, in order, at both ends, with either hook set (the
# socket hooks see the messages one by one and find each one's header in
# the vector themselves: bpf/hooks_sockets.h, mmsg_head; the system call
# hooks report the first 8 messages of a call and count the others as
# LOSS: bpf/flightrec.bpf.c, do_mmsg).
#   - glibc's resolver, as every program that calls getaddrinfo uses it:
#     `getent ahosts` sends its A and AAAA queries with one sendmmsg to
#     dnsmasq; the analyzer gives both questions and their answers;
#   - tests/e2e/mmsg_peer.c, a client sending 3 calls of 4 datagrams each
#     (connected: no address in the messages) to a server that reads them
#     with recvmmsg and answers each batch with one sendmmsg (an address
#     in each message).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR=$FR_BUILD/flightrec

fr_pod srv
fr_pod cli
fr_container srv dns dnsmasq:2.89
fr_container srv mm mmsg-peer:1
fr_container cli client debian:12
SRV=${FR_IP[srv]} CLI=${FR_IP[cli]}
ANSWER="10.213.$FR_NET.77"
gcc -O1 -o "$T/mmsg_peer" tests/e2e/mmsg_peer.c || fr_die "cannot build mmsg_peer"
fr_run srv dns dnsmasq --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
	--listen-address="$SRV" --bind-interfaces --address="/svc.e2e.test/$ANSWER" --address="/svc.e2e.test/fd00::77" \
	--pid-file="$T/dnsmasq.pid" --user=root --log-facility="$T/dnsmasq.log"
fr_wait_port "$SRV" 53 udp || fr_die "dnsmasq did not start"
fr_podlist "$T/pods.json"
printf 'nameserver %s\noptions attempts:1 timeout:2\n' "$SRV" >"$T/resolv.conf"

fr_record -o "$T/rec" --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" ||
	fr_die "recorder"
# getent with the pod's resolver configuration (its own mount namespace)
fr_exec cli client unshare -m --propagation private sh -c \
	'mount --bind "$1" /etc/resolv.conf && exec getent ahosts svc.e2e.test' _ "$T/resolv.conf" >"$T/getent.out"
check "getent resolved the name through dnsmasq" grep -q "^$ANSWER " "$T/getent.out"
fr_run srv mm "$T/mmsg_peer" server "$SRV" 9053 12 >"$T/server.out"
for i in $(seq 100); do grep -q '^ready' "$T/server.out" 2>/dev/null && break; sleep 0.05; done
fr_exec cli client "$T/mmsg_peer" client "$SRV" 9053 3 4 >"$T/client.out"
check "mmsg_peer: the client got its 12 answers" test "$(grep -c '^got re:' "$T/client.out")" = 12
sleep 0.3
fr_record_stop
check "recorder exits 0" test $? = 0

"$FR" cat --json "$T/rec" >"$T/rec.jsonl"
python3 - "$T/rec.jsonl" "$SRV" "$CLI" "$(fr_hooks_used "$T/rec")" <<'EOF' >"$T/checks.out"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
srv, cli, hooks = sys.argv[2], sys.argv[3], sys.argv[4]
def check(what, ok, detail=""):
    print(("ok " if ok else "FAIL ") + what + ("" if ok or not detail else ": " + detail))
data = [r for r in recs if r["kind"] == "DATA"]
def text(r):
    return r["payload"]
def peer(r):
    p = r.get("peer") or {}
    return "%s:%s" % (p.get("ip"), p.get("port"))

# glibc's resolver: one sendmmsg with the A and the AAAA query
q = [r for r in data if r["dir"] == "egress" and r["syscall"] == "sendmmsg" and peer(r) == srv + ":53"]
qtypes = sorted(int.from_bytes(text(r).encode("latin-1")[-4:-2], "big") for r in q if r["cap_len"] >= 16)
check("getent: its A and AAAA queries, each a DATA event of sendmmsg to dnsmasq (%s)" % qtypes,
      len(q) == 2 and qtypes == [1, 28], repr([peer(r) for r in q]))
check("getent: one process, one connection", len({(r["pid"], r["fd"], r["gen"]) for r in q}) == 1)

# mmsg_peer: the client's 12 datagrams in 3 calls, connected (no address in the messages)
want = ["call-%d-msg-%d%s" % (c, m, "." * (m + 1)) for c in range(3) for m in range(4)]
sent = [r for r in data if r["dir"] == "egress" and r["syscall"] == "sendmmsg" and text(r).startswith("call-")]
check("client: 12 sendmmsg DATA events, each one datagram's bytes, in order",
      [text(r) for r in sent] == want, repr([text(r) for r in sent]))
check("client: their peer is the server", sent and all(peer(r) == srv + ":9053" for r in sent),
      repr({peer(r) for r in sent}))
got = [r for r in data if r["dir"] == "ingress" and r["syscall"] == "recvmmsg" and text(r).startswith("call-")]
check("server: 12 recvmmsg DATA events, in order", [text(r) for r in got] == want,
      repr([text(r) for r in got]))
check("server: their peer is the client", got and all(peer(r).startswith(cli + ":") for r in got),
      repr({peer(r) for r in got}))
ans = [r for r in data if r["dir"] == "egress" and r["syscall"] == "sendmmsg" and text(r).startswith("re:")]
check("server: 12 answers by sendmmsg, each to its message's address",
      [text(r) for r in ans] == ["re:" + w for w in want] and all(peer(r).startswith(cli + ":") for r in ans),
      repr([(text(r), peer(r)) for r in ans]))
back = [r for r in data if r["dir"] == "ingress" and r["syscall"] == "recvmmsg" and text(r).startswith("re:")]
lost = sum(r["count"] for r in recs if r["kind"] == "LOSS")
answers = ["re:" + w for w in want]
if hooks == "sockets":
    check("client: 12 answers by recvmmsg, in order, from the server",
          [text(r) for r in back] == answers and all(peer(r) == srv + ":9053" for r in back),
          repr([(text(r), peer(r)) for r in back]))
    check("no LOSS", lost == 0, "%d lost" % lost)
else:
    # the system call hooks report the first 8 messages of a call (the
    # client reads the 12 answers in one or more calls) and count the rest
    got = [text(r) for r in back]
    it = iter(answers)
    check("client: the answers recorded are in order, from the server (%d)" % len(got),
          len(got) >= 8 and all(g in it for g in got) and all(peer(r) == srv + ":9053" for r in back),
          repr([(text(r), peer(r)) for r in back]))
    check("client: answers recorded + LOSS == 12 (%d + %d)" % (len(got), lost), len(got) + lost == 12)
EOF
cat "$T/checks.out"
FR_PASS=$((FR_PASS + $(grep -c '^ok ' "$T/checks.out")))
FR_FAILN=$((FR_FAILN + $(grep -c '^FAIL' "$T/checks.out")))

# the analyzer: both questions of getent, answered
"$FR" analyze -q "$T/rec" -o "$T/r.db" || fr_die "analyze"
Q="select group_concat(summary || ' ' || status, ', ') from (select summary, status from requests
   where protocol = 'dns' and summary like '%svc.e2e.test' order by summary, status)"
ROWS=$(sqlite3 "$T/r.db" "$Q")
check "analyze: getent's A and AAAA questions and their answers, at both ends ($ROWS)" \
	test "$ROWS" = "A svc.e2e.test NOERROR, A svc.e2e.test NOERROR, AAAA svc.e2e.test NOERROR, AAAA svc.e2e.test NOERROR"
fr_finish
