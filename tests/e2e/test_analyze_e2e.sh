#!/usr/bin/env bash
# e2e: the recorder's recording of real servers (nginx, redis-server,
# dnsmasq in pod "srv") and real clients (curl, redis-cli, dig in pod "cli"),
# analyzed: every request the clients made, paired, with status, timing
# breakdown and pods on both ends; both ends linked; a request that never got
# a response is a row; the dump is identical for -j1, -j2 and a second run.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR="$FR_BUILD/flightrec"
q() { sqlite3 -batch -noheader "$T/a.db" "$@"; }
# eq NAME EXPECTED SQL: the query's output equals EXPECTED
eq() {
	local got
	got=$(q "$3")
	if [[ $got == "$2" ]]; then check "$1" true; else
		echo "   expected: $(echo "$2" | head -5 | tr '\n' '|')"
		echo "   got:      $(echo "$got" | head -5 | tr '\n' '|')"
		check "$1" false
	fi
}

fr_web_pods redis:redis:7.0 dns:dnsmasq:2.89
python3 - "$T/nginx.conf" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"(root [^;]*/www;)", lambda m: m.group(1) + """
		location = /boom { return 500 "boom\\n"; }""", s, count=1)
open(p, "w").write(s)
PY
echo "hello from srv" >"$T/www/ok"
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_run srv redis redis-server --bind "$SRV" --port 6379 --save '' --appendonly no \
	--protected-mode no --dir "$T" --logfile "$T/redis.log"
fr_run srv dns dnsmasq --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
	--listen-address="$SRV" --bind-interfaces --local=/e2e.test/ \
	--host-record="svc.e2e.test,10.213.$FR_NET.99" \
	--pid-file="$T/dnsmasq.pid" --user=root --log-facility="$T/dnsmasq.log"
fr_wait_port "$SRV" 80 && fr_wait_port "$SRV" 6379 && fr_wait_port "$SRV" 53 udp ||
	fr_die "a server did not start"
fr_podlist "$T/pods.json"
fr_record -o "$T/rec" --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" ||
	fr_die "recorder"

# HTTP: four requests on one keep-alive connection, then one on its own
fr_exec cli client curl -s -o /dev/null -o /dev/null -o /dev/null \
	"http://$SRV/ok" "http://$SRV/missing" "http://$SRV/boom" \
	-w '%{http_code}\n' >"$T/curl.out"
fr_exec cli client curl -s -o /dev/null -X POST -d 'a=1' "http://$SRV/boom" -w '%{http_code}\n' >>"$T/curl.out"
check "curl saw 200 404 500 500" test "$(tr '\n' ' ' <"$T/curl.out")" = "200 404 500 500 "
# Redis: three single commands (one an error), then a pipeline of three
fr_exec cli client redis-cli -h "$SRV" SET e2e:k v1 >/dev/null
fr_exec cli client redis-cli -h "$SRV" GET e2e:k >/dev/null
fr_exec cli client redis-cli -h "$SRV" INCR e2e:k >/dev/null
printf 'SET e2e:n 1\r\nINCR e2e:n\r\nGET e2e:n\r\n' | fr_exec cli client redis-cli -h "$SRV" --pipe >/dev/null
# a request that never gets a response: BLPOP on an empty list, client killed
fr_exec cli client timeout 0.5 redis-cli -h "$SRV" BLPOP e2e:empty 0 >/dev/null
# DNS: an answer, an NXDOMAIN, and a query over TCP
fr_exec cli client dig "@$SRV" svc.e2e.test A +tries=1 +time=2 >/dev/null
fr_exec cli client dig "@$SRV" nope.e2e.test A +tries=1 +time=2 >/dev/null
fr_exec cli client dig "@$SRV" svc.e2e.test A +tcp +tries=1 +time=2 >/dev/null
sleep 0.3
fr_record_stop || fr_die "recorder did not stop cleanly"

"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/a.db" -j 1
check "analyze exit 0" test $? = 0

# HTTP, client side: every request, in order, paired with its status
eq "http requests seen by the client" "GET /ok|200
GET /missing|404
GET /boom|500
POST /boom|500" "select h.method||' '||h.path, h.status from requests r join http h on h.request_id = r.id
  where r.side = 'client' order by r.start_ns"
eq "http requests seen by the server" "GET /ok|200
GET /missing|404
GET /boom|500
POST /boom|500" "select h.method||' '||h.path, h.status from requests r join http h on h.request_id = r.id
  where r.side = 'server' order by r.start_ns"
eq "http 5xx flagged as errors" "2" "select count(*) from requests where protocol = 'http1' and side = 'client' and error = 1"
eq "first three http requests share one connection" "1" \
	"select count(distinct conn_id) from (select conn_id from requests where protocol = 'http1' and side = 'client' order by start_ns limit 3)"

# Redis
eq "redis commands seen by the client" "SET|e2e:k|
GET|e2e:k|
INCR|e2e:k|ERR value is not an integer or out of range
SET|e2e:n|
INCR|e2e:n|
GET|e2e:n|
BLPOP|e2e:empty|" "select x.command, x.key, coalesce(x.error, '') from requests r join redis x on x.request_id = r.id
  where r.side = 'client' and x.command != 'ECHO' order by r.start_ns, r.seq"
eq "redis-cli --pipe's closing ECHO is on the pipeline's connection" "1" \
	"select count(*) from requests r join redis x on x.request_id = r.id where r.side = 'client' and x.command = 'ECHO'
	  and r.conn_id = (select r2.conn_id from requests r2 join redis x2 on x2.request_id = r2.id where x2.key = 'e2e:n' and r2.side = 'client' limit 1)"
eq "redis error text kept" "1" "select count(*) from requests r join redis x on x.request_id = r.id
  where r.side = 'client' and x.error like 'ERR%' and r.error = 1"
eq "pipelined commands on one connection" "1" "select count(distinct r.conn_id) from requests r join redis x on x.request_id = r.id
  where r.side = 'client' and x.key = 'e2e:n'"
eq "unanswered BLPOP is a row with no status and a reason" "1" \
	"select count(*) from requests r join redis x on x.request_id = r.id
	  where r.side = 'client' and x.command = 'BLPOP' and r.status is null and r.reason is not null and r.reason != ''"

# DNS
eq "dns queries seen by the client" "svc.e2e.test|A|NOERROR|udp
nope.e2e.test|A|NXDOMAIN|udp
svc.e2e.test|A|NOERROR|tcp" "select d.qname, d.qtype, d.rcode, d.transport from requests r join dns d on d.request_id = r.id
  where r.side = 'client' order by r.start_ns"
eq "dns answer text" "2" "select count(*) from requests r join dns d on d.request_id = r.id
  where r.side = 'client' and d.answers like '%10.213.$FR_NET.99%'"

# Both ends, pods, timing
eq "every request has both ends linked" "0" \
	"select count(*) from requests r where r.status is not null and (r.peer_request_id is null
	  or (select p.peer_request_id from requests p where p.id = r.peer_request_id) != r.id)"
eq "linked ends are the same request" "0" \
	"select count(*) from requests r join requests p on p.id = r.peer_request_id
	  where r.summary != p.summary or coalesce(r.status, '') != coalesce(p.status, '') or r.side = p.side"
eq "client and server workloads on every request" "e2e/cli|e2e/srv" \
	"select distinct client_workload || '|' || server_workload from requests"
eq "connections attributed to pods on both ends" "0" \
	"select count(*) from connections where local_workload is null or remote_workload is null
	  or local_workload not in ('e2e/cli', 'e2e/srv') or remote_workload not in ('e2e/cli', 'e2e/srv')"
eq "connection pids are the real processes" "0" \
	"select count(*) from connections where comm not in ('curl', 'redis-cli', 'dig', 'nginx', 'redis-server', 'dnsmasq')"
eq "timing adds up: upload + wait + download = latency = end - start" "0" \
	"select count(*) from requests where status is not null and
	  (upload_ns + wait_ns + download_ns != latency_ns or end_ns - start_ns != latency_ns or wait_ns < 0)"
eq "client latency covers the server's (network share >= 0)" "0" \
	"select count(*) from requests where side = 'client' and status is not null and network_ns < 0"
eq "views count each request once" "15" "select sum(requests) from edges"

# --pods is read: a pod only the file knows is in the database; a bad file
# is a usage error before any database is made
python3 - "$T/pods.json" "$T/pods+ghost.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ghost = json.loads(json.dumps(doc["items"][0]))
ghost["metadata"].update(name="ghost-7c9d8f6b5-zzzzz", uid="00000000-0000-4000-8000-00000000ghost")
ghost["metadata"]["ownerReferences"][0]["name"] = "ghost-7c9d8f6b5"
ghost["metadata"]["labels"]["pod-template-hash"] = "7c9d8f6b5"
ghost["status"]["podIP"] = "10.213.254.254"
doc["items"].append(ghost)
json.dump(doc, open(sys.argv[2], "w"))
PY
"$FR" analyze -q "$T/rec" --pods "$T/pods+ghost.json" -o "$T/g.db"
check "analyze --pods reads the file (a pod the recording does not know, its Deployment)" \
	test "$(sqlite3 "$T/g.db" "select workload from pods where name like 'ghost-%'")" = "e2e/ghost"
echo '{"items": [' >"$T/bad.json"
"$FR" analyze -q "$T/rec" --pods "$T/bad.json" -o "$T/bad.db" 2>"$T/bad.err"
rc=$?
check "analyze --pods with broken JSON: exit 2, a message, no database" \
	bash -c "test $rc = 2 && grep -q bad.json '$T/bad.err' && ! test -e '$T/bad.db'"

# Determinism
"$FR" dump "$T/a.db" >"$T/d1.txt"
"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/b.db" -j 2 && "$FR" dump "$T/b.db" >"$T/d2.txt"
"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/c.db" -j 1 && "$FR" dump "$T/c.db" >"$T/d3.txt"
check "dump identical for -j1 and -j2" cmp -s "$T/d1.txt" "$T/d2.txt"
check "dump identical on a second run" cmp -s "$T/d1.txt" "$T/d3.txt"
check "dump is not empty" test "$(wc -l <"$T/d1.txt")" -gt 50
if ((FR_FAILN)); then # keep the evidence
	rm -rf "$FR_BUILD/e2e-failed" && mkdir -p "$FR_BUILD/e2e-failed" &&
		cp -r "$T/rec" "$T/a.db" "$T/pods.json" "$FR_BUILD/e2e-failed/" &&
		echo "recording and database kept in $FR_BUILD/e2e-failed"
fi
fr_finish
