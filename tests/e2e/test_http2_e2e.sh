#!/usr/bin/env bash
# e2e: HTTP/2 (h2c) and gRPC between real peers from Debian's packages,
# recorded by flightrec-record and analyzed (issue 13).
#
# Pod "srv": nghttpd (prior knowledge, --echo-upload), nginx (h2c by prior
# knowledge; HTTP/1.1 behind nghttpx), nghttpx (the HTTP/1.1 Upgrade: h2c
# frontend), a python3-grpcio server (tests/e2e/grpc_peer.py).  Pod "cli":
# nghttp, curl, the grpcio client.
#   - nghttp: GET, a 300 KB body, a 404, 20 concurrent streams on one
#     connection; curl --http2-prior-knowledge: a 1 MB POST echoed back, a
#     500, a 413 that nginx ends with RST_STREAM; curl --http2 (a GET and
#     a POST) and nghttp -u: the upgrade (the HTTP/1.1 request is stream 1).
#   - gRPC: unary, server streaming, client streaming, bidi, an error status
#     with a message, a deadline exceeded, a call cancelled midway.
#   - a gRPC channel opened before the recorder started: its requests decode,
#     with placeholders where they use HPACK entries from before, and the
#     share recovered grows as the table is learned again.
# Both ends are attributed to their pods and linked; the HPACK oracle
# (libnghttp2) agrees on every header block of the recording; the dump is
# the same for -j1 and -j2.  FR_E2E_KEEP=DIR keeps the recording there (the
# corpus cases http2/recorded-* and grpc/recorded-* were cut from one).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR="$FR_BUILD/flightrec"
ORACLE=${FR_ASAN:-build/asan}/hpack-oracle
[[ -x $ORACLE ]] || { make -s "$FR_BUILD/hpack-oracle" >/dev/null && ORACLE=$FR_BUILD/hpack-oracle; }
PY=/usr/bin/python3 # Debian's, with python3-grpcio
q() { sqlite3 -batch -noheader "$T/a.db" "$@"; }
eq() { # NAME EXPECTED SQL
	local got
	got=$(q "$3")
	if [[ $got == "$2" ]]; then check "$1" true; else
		echo "   expected: $(echo "$2" | head -8 | tr '\n' '|')"
		echo "   got:      $(echo "$got" | head -8 | tr '\n' '|')"
		check "$1" false
	fi
}

fr_pod srv
fr_container srv nghttpd nghttp2-server:1.52
fr_container srv nginx nginx:1.22
fr_container srv nghttpx nghttp2-proxy:1.52
fr_container srv grpc python3-grpcio:1.51
fr_pod cli
fr_container cli client debian:12
SRV=${FR_IP[srv]}
mkdir -p "$T/www"
echo "hello h2" >"$T/www/index.html"
echo "ok" >"$T/www/ok"
head -c 300000 /dev/urandom >"$T/www/big.bin"
head -c 1048576 /dev/urandom >"$T/up.bin"
cat >"$T/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $T/body;
	proxy_temp_path $T/proxy;
	fastcgi_temp_path $T/fastcgi;
	uwsgi_temp_path $T/uwsgi;
	scgi_temp_path $T/scgi;
	client_max_body_size 1k;
	server {
		listen $SRV:8082 http2;
		listen $SRV:8084;
		root $T/www;
		location = /boom { return 500 "boom\n"; }
	}
}
EOF
fr_run srv nghttpd nghttpd --no-tls --echo-upload -d "$T/www" --address="$SRV" 3000
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_run srv nghttpx nghttpx --conf=/dev/null --frontend="$SRV,8083;no-tls" --backend="$SRV,8084" \
	--workers=1 --log-level=WARN --errorlog-file="$T/nghttpx.log" --accesslog-file=/dev/null >"$T/nghttpx.out" 2>&1
fr_run srv grpc "$PY" tests/e2e/grpc_peer.py serve "$SRV:50051" >"$T/grpc-server.out" 2>&1
fr_wait_port "$SRV" 3000 && fr_wait_port "$SRV" 8082 && fr_wait_port "$SRV" 8083 && fr_wait_port "$SRV" 50051 ||
	fr_die "a server did not start"
fr_podlist "$T/pods.json"

# A gRPC channel opened before the recording starts
fr_run cli client "$PY" tests/e2e/grpc_peer.py held "$SRV:50051" "$T/go" "$T/held.done" 5 >"$T/held.out" 2>&1
for i in $(seq 1 100); do grep -q 'channel open' "$T/held.out" && break; sleep 0.1; done
grep -q 'channel open' "$T/held.out" || fr_die "the held gRPC channel did not open: $(cat "$T/held.out")"

# snap length: nghttpd writes ~48 KB at a time (truncation has its own tests)
fr_record -o "$T/rec" -s 65536 --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" ||
	fr_die "recorder"
touch "$T/go"
for i in $(seq 1 100); do [[ -e $T/held.done ]] && break; sleep 0.1; done
check "the held channel made its calls" test -e "$T/held.done"

# plain HTTP/2
fr_exec cli client nghttp -n "http://$SRV:3000/index.html" "http://$SRV:3000/big.bin" \
	"http://$SRV:3000/missing" >"$T/nghttp.out" 2>&1
fr_exec cli client nghttp -n -m 20 "http://$SRV:3000/index.html" >>"$T/nghttp.out" 2>&1
fr_exec cli client curl -s --http2-prior-knowledge -o "$T/echo.out" --data-binary @"$T/up.bin" \
	"http://$SRV:3000/echo" -w '%{http_code}\n' >"$T/curl.out"
fr_exec cli client curl -s --http2-prior-knowledge -o /dev/null "http://$SRV:8082/boom" -w '%{http_code}\n' >>"$T/curl.out"
fr_exec cli client curl -s --http2-prior-knowledge -o /dev/null --data-binary @"$T/up.bin" \
	"http://$SRV:8082/boom" -w '%{http_code}\n' >>"$T/curl.out"
fr_exec cli client curl -s --http2 -o /dev/null "http://$SRV:8083/ok" -w '%{http_code} %{http_version}\n' >>"$T/curl.out"
fr_exec cli client curl -s --http2 -o /dev/null -d 'a=1' "http://$SRV:8083/ok" -w '%{http_code} %{http_version}\n' >>"$T/curl.out"
fr_exec cli client nghttp -nu "http://$SRV:8083/index.html" >>"$T/nghttp.out" 2>&1
# (curl reports the RST_STREAM after the 413 as an error: 000; when the
# machine is slow, curl may have sent its whole body before nginx answered,
# and nginx ends the stream without RST_STREAM: curl says 413)
CURL=$(tr '\n' ' ' <"$T/curl.out")
RST413=NO_ERROR
[[ $CURL == "200 500 413 "* ]] && RST413=""
check "curl saw 200 500 413, and 200 and 405 over upgrades ($CURL)" \
	bash -c "[[ '$CURL' == '200 500 000 200 2 405 2 ' || '$CURL' == '200 500 413 200 2 405 2 ' ]]"
check "the echo came back whole" cmp -s "$T/echo.out" "$T/up.bin"
# gRPC
fr_exec cli client "$PY" tests/e2e/grpc_peer.py call "$SRV:50051" >"$T/grpc.out" 2>&1
check "the gRPC client saw every outcome" grep -q 'Cancel \[' "$T/grpc.out"
sleep 0.3
fr_record_stop || fr_die "recorder did not stop cleanly"

"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/a.db" -j 1
check "analyze exit 0" test $? = 0

C="r.side = 'client'"
FIRST3000="(select min(r2.conn_id) from requests r2 join connections c2 on c2.id = r2.conn_id
	where c2.remote_port = 3000 and r2.side = 'client')"
eq "nghttp to nghttpd: GET, a 300 KB body, a 404" "GET /index.html|200|9
GET /big.bin|200|300000
GET /missing|404|" \
	"select h.method||' '||h.path, h.status, case when h.status != 404 then h.resp_body_bytes end
	 from requests r join http2 h on h.request_id = r.id where $C and r.conn_id = $FIRST3000 order by h.stream_id"
eq "20 concurrent streams on one connection, each a row" "1|20|20" \
	"select count(distinct r.conn_id), count(*), count(distinct h.stream_id) from requests r
	 join http2 h on h.request_id = r.id join connections c on c.id = r.conn_id
	 where $C and c.remote_port = 3000 and h.path = '/index.html' and r.conn_id != $FIRST3000 and c.comm = 'nghttp'"
eq "curl's 1 MB POST echoed: body bytes each way" "POST /echo|200|1048576|1048576" \
	"select h.method||' '||h.path, h.status, h.req_body_bytes, h.resp_body_bytes from requests r
	 join http2 h on h.request_id = r.id where $C and h.path = '/echo'"
eq "nginx: a 500 is an error; a 413 ended by RST_STREAM (NO_ERROR) is not" "GET /boom|500|1|
POST /boom|413|0|$RST413" \
	"select h.method||' '||h.path, r.status, r.error, coalesce(h.rst_error, '') from requests r
	 join http2 h on h.request_id = r.id where $C and h.path = '/boom' order by r.start_ns"
eq "upgrade (curl --http2, nghttp -u): the HTTP/1.1 request is stream 1, the connection http2" "GET /ok|1|200|0|http2
POST /ok|1|405|3|http2
GET /index.html|1|200|0|http2" \
	"select h.method||' '||h.path, h.stream_id, h.status, h.req_body_bytes, c.protocol from requests r
	 join http2 h on h.request_id = r.id join connections c on c.id = r.conn_id
	 where $C and c.remote_port = 8083 order by r.start_ns"
eq "no HTTP/1 row for an upgraded request (no 101)" "0" \
	"select count(*) from requests r join connections c on c.id = r.conn_id where c.remote_port = 8083 and r.protocol = 'http1'"

# gRPC: grpc-core writes its frames with sendmsg of more iovecs than the
# recorder copies (FR_EV_MAX_IOV = 8), so each side's first writes are cut
# short; what one side lost the other read whole.  The request as the
# server read it, the response as the client read it, paired by stream id.
S="r.side = 'server'"
CALL="(select max(conn_id) from requests where protocol = 'grpc' and side = 'server')"
eq "gRPC: every call type and outcome (both ends: the server's request, the client's response)" "/e2e.Demo/Echo|OK|0|1|1||
/e2e.Demo/Count|OK|0|1|4||
/e2e.Demo/Sum|OK|0|3|1||
/e2e.Demo/Chat|OK|0|2|2||
/e2e.Demo/Fail|NOT_FOUND|1|1|0|no such thing: widget|
/e2e.Demo/Count|200|1|1|2||CANCEL" \
	"select r.summary, c.status, c.error, g.req_messages, gc.resp_messages, coalesce(gc.grpc_message, ''),
	 coalesce(hc.rst_error, '') from requests r join grpc g on g.request_id = r.id join http2 h on h.request_id = r.id
	 join requests c on c.id = r.peer_request_id join grpc gc on gc.request_id = c.id join http2 hc on hc.request_id = c.id
	 where $S and r.summary != '/e2e.Demo/Slow' and r.conn_id = $CALL order by h.stream_id"
eq "gRPC: call types from the messages each way, as the server saw them" "unary,server_streaming,client_streaming,bidi_streaming" \
	"select group_concat(t) from (select g.call_type as t from requests r join grpc g on g.request_id = r.id
	 join http2 h on h.request_id = r.id where $S and r.conn_id = $CALL and h.stream_id <= 7 order by h.stream_id)"
eq "gRPC: the deadline exceeded (the server's status or the client's RST_STREAM CANCEL)" "1|1" \
	"select count(*), min(r.error) from requests r join http2 h on h.request_id = r.id
	 where $S and r.summary = '/e2e.Demo/Slow' and (r.status = 'DEADLINE_EXCEEDED' or h.rst_error = 'CANCEL')"
eq "gRPC rows are protocol grpc, with service and method" "e2e.Demo|Chat,Count,Echo,Fail,Slow,Sum" \
	"select g.service, group_concat(distinct g.method) from (select * from requests r join grpc g on g.request_id = r.id
	 where $S and r.conn_id = $CALL order by g.method) g"
eq "gRPC, the client's side: every call a row, linked to the server's by stream id" "7|7" \
	"select count(*), sum(p.side = 'server') from requests r left join requests p on p.id = r.peer_request_id
	 where $C and r.conn_id = (select peer_conn_id from connections where id = $CALL)"

# the channel opened before the recording: 5 Echo, then 1 + 5 Sum
HELD="(select conn_id from requests r where $C and protocol = 'grpc' group by conn_id order by min(start_ns) limit 1)"
E_END="(select min(r2.start_ns) from requests r2 join http2 h2 on h2.request_id = r2.id where r2.conn_id = $HELD
	and h2.path = '/e2e.Demo/Sum')"
eq "held channel: every call is a row" "11" "select count(*) from requests r where r.conn_id = $HELD"
eq "held channel: Echo's path was indexed before the recording: a placeholder" "5|5" \
	"select count(*), sum(h.path like '<unknown:%>') from requests r join http2 h on h.request_id = r.id
	 where r.conn_id = $HELD and h.hpack_unknown > 0 and r.start_ns < $E_END"
eq "held channel: Sum, first called after the start, has its path every time, with fewer unknown fields" "6|1" \
	"select count(*), max(h.hpack_unknown) < (select min(h2.hpack_unknown) from requests r2 join http2 h2
	   on h2.request_id = r2.id where r2.conn_id = $HELD and r2.start_ns < $E_END)
	 from requests r join http2 h on h.request_id = r.id where r.conn_id = $HELD and h.path = '/e2e.Demo/Sum'"
eq "held channel: the connection's share in an anomaly row" "1" \
	"select count(*) from anomalies where conn_id = $HELD and kind = 'hpack_unknown_entries' and detail like '%recovered%'"

# both ends
eq "every HTTP/2 and gRPC request has both ends linked" "0" \
	"select count(*) from requests r where r.protocol in ('http2', 'grpc') and r.status is not null
	 and (r.peer_request_id is null or (select p.peer_request_id from requests p where p.id = r.peer_request_id) != r.id)"
eq "linked ends are the same stream, and the same request where both decoded it whole" "0" \
	"select count(*) from requests r join requests p on p.id = r.peer_request_id join http2 a on a.request_id = r.id
	 join http2 b on b.request_id = p.id where r.protocol in ('http2', 'grpc') and (a.stream_id != b.stream_id
	 or (a.hpack_unknown = 0 and b.hpack_unknown = 0 and r.reason is null and p.reason is null
	     and r.summary not like '(%' and p.summary not like '(%' and (r.summary != p.summary or r.status != p.status)))"
eq "client and server workloads on every HTTP/2 and gRPC request" "e2e/cli|e2e/srv" \
	"select distinct client_workload || '|' || server_workload from requests where protocol in ('http2', 'grpc')"
eq "timing adds up for HTTP/2 and gRPC" "0" \
	"select count(*) from requests where protocol in ('http2', 'grpc') and status is not null and
	 (upload_ns + wait_ns + download_ns != latency_ns or wait_ns < 0 or upload_ns < 0)"
eq "the views show the gRPC and HTTP/2 edges" "2" \
	"select count(distinct protocol) from edges where protocol in ('http2', 'grpc')"
"$FR" report "$T/a.db" >"$T/report.txt"
check "flightrec report lists grpc and http2" grep -q 'grpc .*/e2e.Demo/' "$T/report.txt"

out=$("$ORACLE" "$T/rec")
echo "   $out"
check "HPACK oracle: libnghttp2 decodes every header block of the recording as we do" \
	bash -c "[[ '$out' == *' 0 differ;'* ]] && ! [[ '$out' == *': 0 header blocks'* ]]"

"$FR" dump "$T/a.db" >"$T/d1.txt"
"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/b.db" -j 2 && "$FR" dump "$T/b.db" >"$T/d2.txt"
check "dump identical for -j1 and -j2" cmp -s "$T/d1.txt" "$T/d2.txt"
if [[ -n ${FR_E2E_KEEP:-} ]]; then # for `flightrec corpus add`
	mkdir -p "$FR_E2E_KEEP" && cp -r "$T/rec" "$T/pods.json" "$FR_E2E_KEEP/"
fi
if ((FR_FAILN)); then
	rm -rf "$FR_BUILD/e2e-failed-http2" && mkdir -p "$FR_BUILD/e2e-failed-http2" &&
		cp -r "$T/rec" "$T/a.db" "$T/pods.json" "$T"/*.out "$FR_BUILD/e2e-failed-http2/" &&
		echo "recording and database kept in $FR_BUILD/e2e-failed-http2"
fi
fr_finish
