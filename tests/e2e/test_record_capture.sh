#!/usr/bin/env bash
# e2e: flightrec-record captures real servers (nginx, redis-server,
# dnsmasq in pod "srv") and real clients (curl, redis-cli, dig in pod
# "cli"): both ends of every connection, byte for byte and in order, with
# pid, container and pod attribution, CONN_OPEN tuples, DNS peers, no LOSS,
# redaction of secrets, and a keep-alive connection opened before the
# recorder started.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init

T=$FR_TMP
fr_web_pods redis:redis:7.0 dns:dnsmasq:2.89
CLI=${FR_IP[cli]}
DNS_ANSWER="10.213.$FR_NET.99"
HTTP_SECRET="e2e-token-$RANDOM$RANDOM"
REDIS_SECRET="hunter2-$RANDOM$RANDOM"

# a body larger than one read, with every byte value
python3 -c "import sys; sys.stdout.buffer.write(bytes(range(256)) * 90 + b'end of body\n')" >"$T/www/index.html"
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_run srv redis redis-server --bind "$SRV" --port 6379 --save '' --appendonly no \
	--requirepass "$REDIS_SECRET" --dir "$T" --logfile "$T/redis.log"
fr_run srv dns dnsmasq --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
	--listen-address="$SRV" --bind-interfaces --address="/svc.e2e.test/$DNS_ANSWER" \
	--pid-file="$T/dnsmasq.pid" --user=root --log-facility="$T/dnsmasq.log"
fr_wait_port "$SRV" 80 || fr_die "nginx did not start"
fr_wait_port "$SRV" 6379 || fr_die "redis-server did not start"
fr_wait_port "$SRV" 53 udp || fr_die "dnsmasq did not start"
fr_podlist "$T/pods.json"

# A keep-alive connection opened before the recorder starts: redis-cli
# reading commands from a FIFO.
mkfifo "$T/keep.fifo"
bash -c 'echo $$ > "$1/cgroup.procs" && exec ip netns exec "$2" redis-cli -h "$3" -a "$4" --no-auth-warning <"$5" >"$6"' _ \
	"$(fr_cgdir cli client)" "${FR_NS[cli]}" "$SRV" "$REDIS_SECRET" "$T/keep.fifo" "$T/keep.out" &
KEEP_PID=$!
FR_PIDS+=("$KEEP_PID")
exec 7>"$T/keep.fifo"
echo PING >&7
for i in $(seq 50); do grep -q PONG "$T/keep.out" && break; sleep 0.05; done
check "keep-alive client connected before recording" grep -q PONG "$T/keep.out"

fr_record -o "$T/rec" --snaplen 65536 --pods "$T/pods.json" \
	--cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" || fr_die "recorder"
# a second recorder at the same time, filtering on port 53 in the kernel
"$FR_BUILD/flightrec-record" "${FR_HOOKS_ARGS[@]}" -o "$T/rec53" --port 53 2>"$T/rec53.err" &
REC53=$!
FR_PIDS+=("$REC53")
for i in $(seq 100); do grep -q "recording into" "$T/rec53.err" && break; sleep 0.05; done

# the clients
fr_exec cli client curl -s -o "$T/body.out" -H "Authorization: Bearer $HTTP_SECRET" \
	-w '%{size_request} %{size_header} %{size_download} %{local_port}' \
	"http://$SRV/index.html" >"$T/curl.out"
check "curl got the body" cmp -s "$T/body.out" "$T/www/index.html"
fr_exec cli client redis-cli -h "$SRV" -a "$REDIS_SECRET" --no-auth-warning SET e2ekey e2evalue >"$T/redis.out"
check "redis-cli SET" grep -q OK "$T/redis.out"
fr_exec cli client dig "@$SRV" svc.e2e.test A +short +tries=1 +time=2 >"$T/dig.out"
check "dig got the answer" grep -qx "$DNS_ANSWER" "$T/dig.out"
mkdir -p "$T/www/sf" && head -c 50000 /dev/urandom >"$T/www/sf/blob"
fr_exec cli client curl -s -o "$T/blob.out" "http://$SRV/sf/blob"
check "curl got the sendfile body" cmp -s "$T/blob.out" "$T/www/sf/blob"
# a process that uses a socket, then execs another program that does too
fr_exec cli client bash -c 'exec 3<>"/dev/tcp/$1/80"; printf "GET /index.html?before-exec HTTP/1.0\r\n\r\n" >&3; cat <&3 >/dev/null; exec 3<&-; exec curl -s -o /dev/null "http://$1/index.html?after-exec"' _ "$SRV"
# IPv6, and IPv4 through a dual-stack socket (v4-mapped on the server side)
fr_exec srv nginx curl -s -o /dev/null "http://[::1]:8080/index.html?over-ipv6"
fr_exec cli client curl -s -o /dev/null "http://$SRV:8080/index.html?v4-mapped"
echo "SET keepkey keepvalue" >&7
for i in $(seq 50); do grep -q OK "$T/keep.out" && break; sleep 0.05; done
check "keep-alive client SET" grep -q OK "$T/keep.out"
sleep 0.3

fr_record_stop
check "recorder exits 0 on SIGINT" test $? = 0
kill -TERM "$REC53"
wait "$REC53"
check "second recorder exits 0 on SIGTERM" test $? = 0
"$FR_BUILD/flightrec" cat --json "$T/rec53" >"$T/rec53.jsonl"
check "port filter: DNS captured" grep -q '"kind":"DATA".*"peer":{"ip":"'"$SRV"'","port":53' "$T/rec53.jsonl"
check "port filter: nothing else" python3 -c '
import json, sys
recs = list(map(json.loads, open(sys.argv[1])))
opens = {(r["pid"], r["fd"], r["gen"]): r for r in recs if r["kind"] == "CONN_OPEN"}
def ports(r):
    o = opens.get((r["pid"], r["fd"], r["gen"]), {})
    return {(x or {}).get("port") for x in (r.get("peer"), r.get("local"), r.get("remote"),
                                            o.get("local"), o.get("remote"))}
bad = [r for r in recs if r["kind"] in ("DATA", "CONN_OPEN") and 53 not in ports(r)]
[print("  not port 53:", json.dumps(r)[:300]) for r in bad[:3]]
sys.exit(1 if bad else 0)' "$T/rec53.jsonl"
exec 7>&-
check "no recorder error output" bash -c "! grep -Ev 'recording into|privileges dropped|: tls: attached to ' '$T/recorder.err'"
check "segments are mode 0600" bash -c "[[ \$(stat -c %a '$T'/rec/*.frs | sort -u) == 600 ]]"
check "flightrec verify: clean" "$FR_BUILD/flightrec" verify "$T/rec"
check "header lists the redaction rules" bash -c "'$FR_BUILD/flightrec' info '$T/rec' | grep -q 'redaction: *http-header:authorization.*redis:auth'"
"$FR_BUILD/flightrec" cat --json "$T/rec" >"$T/rec.jsonl" || fr_die "cat"

read -r sent hdr body lport <"$T/curl.out"
cat >"$T/facts.json" <<EOF
{"ip": {"srv": "$SRV", "cli": "$CLI"},
 "uid": {"srv": "${FR_UID[srv]}", "cli": "${FR_UID[cli]}"},
 "cid": {"srv/nginx": "${FR_CID[srv/nginx]}", "srv/redis": "${FR_CID[srv/redis]}",
         "srv/dns": "${FR_CID[srv/dns]}", "cli/client": "${FR_CID[cli/client]}"},
 "curl": {"sent": $sent, "received": $((hdr + body)), "local_port": $lport},
 "body_file": "$T/www/index.html",
 "http_secret": "$HTTP_SECRET", "redis_secret": "$REDIS_SECRET",
 "keep": {"pid": $KEEP_PID},
 "dns_answer": "$DNS_ANSWER"}
EOF
python3 tests/e2e/record_checks.py capture "$T/rec.jsonl" "$T/facts.json" >"$T/checks.out"
cat "$T/checks.out"
FR_PASS=$((FR_PASS + $(grep -c '^ok ' "$T/checks.out")))
FR_FAILN=$((FR_FAILN + $(grep -c '^FAIL' "$T/checks.out")))
grep -q . "$T/checks.out" || FR_FAILN=$((FR_FAILN + 1))
fr_finish
