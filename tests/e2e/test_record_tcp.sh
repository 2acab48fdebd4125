#!/usr/bin/env bash
# e2e (issue 16, network evidence): TCP retransmissions and resets of real
# connections, recorded from the kernel's tcp: tracepoints as CONN_TCP
# records, and the analyzer's connections columns and anomalies from them,
# against what the kernel itself counts.
#
#   1. nginx sends a 400 KB file to a Python client while iptables in the
#      client's namespace drops every 4th data packet that arrives from
#      nginx (this kernel has no sch_netem: CONFIG_NET_SCH_NETEM is off,
#      and no modules; a drop in the server's own OUTPUT chain is no loss
#      to TCP, which sends the packet again as new): the server
#      connection's retransmits equal the socket's
#      own count (`ss -ti` retrans:a/TOTAL while it is still open) and the
#      namespace's TcpRetransSegs delta; the client's are 0.
#   2. a client aborts a keep-alive connection to nginx (SO_LINGER 0, close):
#      its reset is sent (client netns TcpOutRsts +1), nginx's socket
#      receives it (server netns TcpEstabResets +1).
#   3. a Python server aborts the connections it accepts (SO_LINGER 0):
#      a reset sent by the server end, received by a client blocked in
#      recv (ECONNRESET).
# Every recorded TCP connection has an RTT sample (srtt_us) unless it was
# aborted before one was taken.  Runs once per hook set (tests/run.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init

command -v iptables >/dev/null || fr_die "iptables is not installed (tests/deps.sh)"
T=$FR_TMP
fr_pod tsrv
fr_container tsrv nginx nginx:1.22
fr_container tsrv abort python:3
fr_pod tcli
fr_container tcli client python:3
SRV=${FR_IP[tsrv]}
NS_SRV=${FR_NS[tsrv]}
NS_CLI=${FR_NS[tcli]}

fr_nginx_conf "$T" "$SRV"
head -c 400000 /dev/urandom | base64 -w 100 | head -c 400000 >"$T/www/big.txt"
fr_run tsrv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_run tsrv abort python3 -c '
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7071)); s.listen(4)
while True:
    a, _ = s.accept()
    a.recv(100)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    a.close()' "$SRV"
fr_wait_port "$SRV" 80 || fr_die "nginx did not start"
fr_wait_port "$SRV" 7071 || fr_die "the aborting server did not start"

nstat_of() { # netns counter: its absolute value
	ip netns exec "$1" nstat -az "$2" | awk -v c="$2" '$1 == c { print $2 }'
}

fr_record -o "$T/rec" --cgroup "$(fr_slice tsrv)" --cgroup "$(fr_slice tcli)" || fr_die "recorder"

# 1. retransmissions: every 4th data packet from nginx is lost on arrival
LOSS=(INPUT -p tcp --sport 80 -m length --length 200:65535 -m statistic --mode nth --every 4 --packet 0 -j DROP)
ip netns exec "$NS_CLI" iptables -w -A "${LOSS[@]}" || fr_die "iptables rule"
retrans0=$(nstat_of "$NS_SRV" TcpRetransSegs)
fr_run tcli client python3 -c '
import socket, sys, time
c = socket.create_connection((sys.argv[1], 80))
c.sendall(b"GET /big.txt HTTP/1.1\r\nHost: x\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += c.recv(65536)
head, body = buf.split(b"\r\n\r\n", 1)
n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
while len(body) < n:
    body += c.recv(65536)
open(sys.argv[2], "w").write("%d\n" % len(body))
time.sleep(3) # held open while the test reads the sockets
c.close()' "$SRV" "$T/got"
CLIENT=$FR_LASTPID
for i in $(seq 600); do [[ -s $T/got ]] && break; sleep 0.1; done # up to 60 s (RTO backoff on a loaded machine)
check "the client got the 400 KB body through the losses" test "$(cat "$T/got" 2>/dev/null)" = 400000
sleep 0.5 # the last ACKs
ip netns exec "$NS_SRV" ss -Htin "sport = :80" >"$T/ss-srv"
ip netns exec "$NS_CLI" ss -Htin "dport = :80" >"$T/ss-cli"
ss_total() { grep -o 'retrans:[0-9]*/[0-9]*' "$1" | head -1 | cut -d/ -f2; }
SS_SRV=$(ss_total "$T/ss-srv")
SS_CLI=$(ss_total "$T/ss-cli")
retrans1=$(nstat_of "$NS_SRV" TcpRetransSegs)
ip netns exec "$NS_CLI" iptables -w -D "${LOSS[@]}"
wait "$CLIENT"
NETNS_RETRANS=$((retrans1 - retrans0))
echo "  kernel: server socket retrans total ${SS_SRV:-none} (ss -ti), netns TcpRetransSegs +$NETNS_RETRANS, client socket ${SS_CLI:-0}"
check "the kernel retransmitted (ss -ti of nginx's socket: ${SS_SRV:-none})" test "${SS_SRV:-0}" -gt 0

# 2. a client aborts a keep-alive connection to nginx
echo hello >"$T/www/index.html"
rst_cli0=$(nstat_of "$NS_CLI" TcpOutRsts)
est_srv0=$(nstat_of "$NS_SRV" TcpEstabResets)
fr_exec tcli client python3 -c '
import socket, struct, sys, time
c = socket.create_connection((sys.argv[1], 80))
c.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
c.recv(4096)
time.sleep(0.2)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
time.sleep(0.3)' "$SRV" || fr_die "the aborting client"
# 3. the server aborts: the client, blocked in recv, gets ECONNRESET
rst_srv0=$(nstat_of "$NS_SRV" TcpOutRsts)
fr_exec tcli client python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], 7071))
c.sendall(b"hello")
try:
    c.recv(100)
    print("no reset")
except ConnectionResetError:
    print("reset")
c.close()' "$SRV" >"$T/aborted" || fr_die "the client of the aborting server"
sleep 0.3
rst_cli1=$(nstat_of "$NS_CLI" TcpOutRsts)
est_srv1=$(nstat_of "$NS_SRV" TcpEstabResets)
rst_srv1=$(nstat_of "$NS_SRV" TcpOutRsts)
check "the aborted client saw ECONNRESET" grep -qx reset "$T/aborted"
echo "  kernel: client netns TcpOutRsts +$((rst_cli1 - rst_cli0)), server netns TcpEstabResets +$((est_srv1 - est_srv0)), TcpOutRsts +$((rst_srv1 - rst_srv0))"

fr_record_stop
check "recorder exits 0" test $? = 0
# FR_TCP_KEEP=DIR keeps the recording (the source of tests/corpus/http1/recorded-client-reset)
[[ -n ${FR_TCP_KEEP:-} ]] && cp -r "$T/rec" "$FR_TCP_KEEP"
"$FR_BUILD/flightrec" cat --json "$T/rec" >"$T/rec.jsonl" || fr_die "cat"
"$FR_BUILD/flightrec" cat "$T/rec" >"$T/rec.txt" || fr_die "cat (text)"
check "flightrec cat shows CONN_TCP records" grep -q 'CONN_TCP .*retransmit state=' "$T/rec.txt"
"$FR_BUILD/flightrec" analyze -q "$T/rec" -o "$T/a.db" -j 1 || fr_die "analyze"
q() { sqlite3 -batch -noheader -separator ' ' "$T/a.db" "$1"; }

# 1: the transfer's two ends
read -r r_srv s_srv <<<"$(q "select retransmits, srtt_us from connections where role = 'server'
	and local_port = 80 and bytes_out > 400000")"
read -r r_cli s_cli <<<"$(q "select retransmits, srtt_us from connections where role = 'client'
	and remote_port = 80 and bytes_in > 400000")"
echo "  recorded: server retransmits ${r_srv:-NULL} srtt_us ${s_srv:-NULL}; client retransmits ${r_cli:-NULL} srtt_us ${s_cli:-NULL}"
check "server's retransmits = the socket's count (ss -ti: ${SS_SRV:-none})" test "${r_srv:-x}" = "${SS_SRV:-y}"
check "server's retransmits = the netns TcpRetransSegs delta ($NETNS_RETRANS)" test "${r_srv:-x}" = "$NETNS_RETRANS"
check "client's retransmits = its socket's count (${SS_CLI:-0})" test "${r_cli:-x}" = "${SS_CLI:-0}"
check "both ends have an RTT sample" test "${s_srv:-0}" -gt 0 -a "${s_cli:-0}" -gt 0
check "the server connection has a 'retransmits' anomaly" \
	test "$(q "select count(*) from anomalies a join connections c on c.id = a.conn_id
		where a.kind = 'retransmits' and c.role = 'server' and c.local_port = 80
		and a.detail like '$r_srv TCP segments retransmitted%'")" = 1

# 2: client abort of a keep-alive connection to nginx
check "client netns sent one reset, server netns had one established reset" \
	test $((rst_cli1 - rst_cli0)) = 1 -a $((est_srv1 - est_srv0)) -ge 1
check "the aborting client's connection: resets_sent 1, received 0" \
	test "$(q "select resets, resets_sent, resets_received from connections where role = 'client'
		and remote_port = 80 and bytes_in < 1000 and bytes_in > 0")" = "1 1 0"
check "nginx's end of it: resets_received 1" \
	test "$(q "select resets, resets_sent, resets_received from connections where role = 'server'
		and local_port = 80 and bytes_out < 1000 and bytes_out > 0")" = "1 0 1"
# 3: server abort
check "the aborting server's connection: resets_sent 1" \
	test "$(q "select resets_sent, resets_received from connections where role = 'server'
		and local_port = 7071")" = "1 0"
check "its client: resets_received 1" \
	test "$(q "select resets_sent, resets_received from connections where role = 'client'
		and remote_port = 7071")" = "0 1"
check "reset anomalies: 2 sent, 2 received" \
	test "$(q "select sum(detail like 'TCP reset sent%'), sum(detail like 'TCP reset received%')
		from anomalies where kind = 'reset'")" = "2 2"
check "every TCP connection has the TCP columns (not NULL)" \
	test "$(q "select count(*) from connections where transport = 'tcp' and retransmits is null")" = 0
check "connections without a reset have resets 0" \
	test "$(q "select count(*) from connections where transport = 'tcp' and resets = 0")" -ge 2
# the report's rules (reports/rules.conf): resets and retransmits fire
"$FR_BUILD/flightrec" report "$T/a.db" >"$T/report.txt" 2>&1
check "flightrec report: the tcp-resets alert fires" grep -q 'tcp-resets' "$T/report.txt"
if ((r_srv > 10)); then
	check "flightrec report: the tcp-retransmits alert fires ($r_srv > 10)" grep -q 'tcp-retransmits' "$T/report.txt"
fi
fr_finish
