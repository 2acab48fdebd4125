#!/usr/bin/env bash
# e2e: TLS plaintext from Debian's libssl.so.3 (issue 17, part 1).  Pod
# "srv": nginx serving HTTPS (HTTP/1.1 and h2 by ALPN) with a certificate
# made here by openssl req.  Pod "cli": curl (HTTP/1.1, --http2) and a
# python3 ssl client, both on libssl.so.3.  Recorded with the hook set of
# $FLIGHTREC_HOOKS (lib.sh) and analyzed: the HTTPS requests are http rows
# with path and status on both ends, the connections say tls, no
# ciphertext DATA is written for them, and a secret header sent over TLS
# is redacted; a TLS connection opened before the recorder starts gives
# plaintext from its next SSL call; with --no-tls the traffic is ciphertext.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR="$FR_BUILD/flightrec"
q() { sqlite3 -batch -noheader "$T/a.db" "$@"; }

fr_pod srv
fr_container srv nginx nginx:1.22
fr_pod cli
fr_container cli client debian:12
SRV=${FR_IP[srv]}
fr_tls_nginx_conf "$T" "$SRV" <<EOF
	server {
		listen $SRV:8443 ssl http2;
		ssl_certificate $T/cert.pem;
		ssl_certificate_key $T/key.pem;
		root $T/www;
		location = /teapot { return 418 "tea\n"; }
	}
EOF
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_wait_port "$SRV" 8443 || fr_die "nginx did not start: $(cat "$T/nginx-error.log" 2>/dev/null)"
fr_podlist "$T/pods.json"

# Two TLS connections opened (handshake done) before the recorder starts:
# their requests after the start are plaintext from their first SSL call
# on.  The second runs in its own mount namespace, where libssl.so.3 is a
# copy of the library (another file, bind-mounted over the system path):
# the recorder finds it through /proc/PID/root and attaches to it too.
cat >"$T/held.py" <<'EOF'
import os, socket, ssl, sys, time
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
s = c.wrap_socket(socket.create_connection((sys.argv[1], 8443)))
print("open", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
s.sendall(b"GET " + sys.argv[3].encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
b = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    b += d
print(b.split(b"\r\n")[0].decode(), flush=True)
EOF
mkdir -p "$T/alt"
cp /usr/lib/x86_64-linux-gnu/libssl.so.3 "$T/alt/libssl.so.3"
fr_run cli client /usr/bin/python3 "$T/held.py" "$SRV" "$T/go" /held >"$T/held.out" 2>&1
fr_run cli client unshare -m --propagation private sh -c \
	'mount --bind "$1/alt/libssl.so.3" /usr/lib/x86_64-linux-gnu/libssl.so.3 &&
	 exec /usr/bin/python3 "$1/held.py" "$2" "$1/go" /held-ns' _ "$T" "$SRV" >"$T/held-ns.out" 2>&1
for f in held held-ns; do
	for i in $(seq 1 100); do grep -q open "$T/$f.out" && break; sleep 0.1; done
	grep -q open "$T/$f.out" || fr_die "the $f TLS connection did not open: $(cat "$T/$f.out")"
done

fr_record -o "$T/rec" --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" || fr_die "recorder"
touch "$T/go"
for i in $(seq 1 100); do grep -q HTTP "$T/held.out" && break; sleep 0.1; done
for i in $(seq 1 100); do grep -q HTTP "$T/held-ns.out" && break; sleep 0.1; done
check "the held connections made their requests" bash -c "grep -q 'HTTP/1.1 404' '$T/held.out' && grep -q 'HTTP/1.1 404' '$T/held-ns.out'"
check "the recorder attached to the copy too, found in that process" \
	grep -q 'tls: attached to /usr/lib/x86_64-linux-gnu/libssl.so.3 of pid [0-9]* (OpenSSL 3.*library 1' "$T/recorder.err"
check "the recorder attached to libssl.so.3" grep -q 'tls: attached to .*libssl.so.3 (OpenSSL 3' "$T/recorder.err"
U="https://$SRV:8443"
fr_exec cli client curl -sk --http1.1 -o /dev/null -w '%{http_code}\n' "$U/index.html" >"$T/curl.out"
fr_exec cli client curl -sk --http1.1 -o /dev/null -w '%{http_code}\n' -H 'Authorization: Bearer FRSECRETtlsauth' \
	"$U/teapot" >>"$T/curl.out"
fr_exec cli client curl -sk --http2 -o /dev/null -w '%{http_code} %{http_version}\n' "$U/h2path" >>"$T/curl.out"
fr_exec cli client /usr/bin/python3 -c '
import socket, ssl, sys
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
s = c.wrap_socket(socket.create_connection((sys.argv[1], 8443)))
s.sendall(b"GET /pyssl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
b = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    b += d
print(b.split(b"\r\n")[0].decode())' "$SRV" >>"$T/curl.out" 2>&1
check "the clients saw 200, 418, 404 over h2 and python's 404" \
	test "$(tr '\n' ' ' <"$T/curl.out")" = "200 418 404 2 HTTP/1.1 404 Not Found "
sleep 0.3
fr_record_stop || fr_die "recorder did not stop cleanly"

"$FR" cat --json --payload 1000000 "$T/rec" >"$T/records" || fr_die "cat"
[[ -n ${FR_TLS_KEEP:-} ]] && cp -r "$T/rec" "$T/recorder.err" "$FR_TLS_KEEP"/
"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/a.db" -j 1 || fr_die "analyze"
sqlite3 "$T/a.db" .dump >"$T/a.sql"
"$FR" dump "$T/a.db" >"$T/d1.txt"
"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/b.db" -j 2 && "$FR" dump "$T/b.db" >"$T/d2.txt"
check "the dump is the same for -j1 and -j2" cmp -s "$T/d1.txt" "$T/d2.txt"

rows() { # SIDE PROTOCOL SUMMARY STATUS: requests of that end
	q "select count(*) from requests r join connections c on c.id = r.conn_id where r.side = '$1'
	   and r.protocol = '$2' and r.summary = '$3' and r.status = '$4' and c.tls like 'OpenSSL 3.%libssl.so.3)'"
}
for role in client server; do
	check "$role end: GET /index.html 200 over TLS" test "$(rows $role http1 'GET /index.html' 200)" = 1
	check "$role end: GET /teapot 418 over TLS" test "$(rows $role http1 'GET /teapot' 418)" = 1
	check "$role end: GET /h2path 404 over TLS (h2 by ALPN)" test "$(rows $role http2 'GET /h2path' 404)" = 1
	check "$role end: python ssl GET /pyssl 404" test "$(rows $role http1 'GET /pyssl' 404)" = 1
done
# every DATA record of a port-8443 connection is plaintext (flag TLS)
python3 - "$T/records" >"$T/cipher.out" <<'EOF'
import json, sys
conns, tls, plain, red = {}, 0, 0, 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    k, key = r.get("kind"), (r.get("pid"), r.get("fd"), r.get("gen"))
    if k == "CONN_OPEN" and 8443 in ((r["local"] or {}).get("port"), (r["remote"] or {}).get("port")):
        conns[key] = 1
    if k == "DATA" and key in conns:
        if r["flags"] & 8:
            tls += 1
            red += "GET /teapot" in r["payload"] and r["flags"] & 2 != 0
        else:
            plain += 1
print(len(conns), tls, plain, red)
EOF
read -r nconn ntls nclear nred <"$T/cipher.out"
check "12 TLS connections: 4 made while recording and the 2 held ones, at both ends ($nconn)" test "$nconn" = 12
check "their DATA is plaintext ($ntls records)" test "$ntls" -gt 8
check "no ciphertext DATA written for them ($nclear records)" test "$nclear" = 0
check "the connections say their library (tls column)" test "$(q "select count(*) from connections where
	(local_port = 8443 or remote_port = 8443) and tls like 'OpenSSL 3.%libssl.so.3)'")" = 12
check "held connection, both ends: GET /held 404 in plaintext" test "$(q "select count(*) from requests
	where summary = 'GET /held' and status = '404'")" = 2
check "held connection in its own mount namespace, both ends: GET /held-ns 404" test "$(q "select count(*)
	from requests where summary = 'GET /held-ns' and status = '404'")" = 2
check "CONN_TLS records name the library" grep -q '"kind":"CONN_TLS".*"library":"OpenSSL 3' "$T/records"
check "TLS DATA records are SSL_read/SSL_write" grep -q '"syscall":"SSL_read"' "$T/records"
check "the secret header sent over TLS is redacted" bash -c "! grep -q FRSECRETtlsauth '$T/records' '$T/a.sql'"
check "both ends' TLS DATA of that request are flagged redacted ($nred)" test "$nred" = 2

# A short-lived client started after the recorder, on a libssl file no
# process mapped at the start (a container started later with its own
# library): its announcement wakes the recorder, which attaches while the
# client lives; later clients on that file are plaintext at once.
fr_record -o "$T/late" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" || fr_die "recorder"
cp /usr/lib/x86_64-linux-gnu/libssl.so.3 "$T/alt/libssl-late.so.3"
late_curl() {
	fr_exec_own_libssl cli client "$T/alt/libssl-late.so.3" curl -sk --http1.1 -o /dev/null "$U/$1"
}
for i in $(seq 20); do
	late_curl "late-$i"
	grep -q "tls: attached to /usr/lib/x86_64-linux-gnu/libssl.so.3 of pid" "$T/recorder.err" && break
	sleep 0.2
done
check "a short-lived client's own libssl, mapped after the start, attached (try $i)" \
	grep -q "tls: attached to /usr/lib/x86_64-linux-gnu/libssl.so.3 of pid" "$T/recorder.err"
for i in 1 2 3; do late_curl "late-after-$i"; done
sleep 0.3
fr_record_stop || fr_die "recorder did not stop cleanly"
"$FR" analyze -q "$T/late" -o "$T/late.db" || fr_die "analyze"
check "the later clients on that library: plaintext at the client end too" test "$(sqlite3 "$T/late.db" "select count(*)
	from requests r join connections c on c.id = r.conn_id where r.side = 'client' and r.summary like 'GET /late-after-%'
	and c.tls like 'OpenSSL 3.%'")" = 3

# --no-tls: the same traffic is ciphertext, as before issue 17
fr_record -o "$T/off" --no-tls --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" || fr_die "recorder"
check "--no-tls says so" grep -q 'tls: off' "$T/recorder.err"
fr_exec cli client curl -sk --http1.1 -o /dev/null "$U/index.html"
sleep 0.3
fr_record_stop || fr_die "recorder did not stop cleanly"
"$FR" cat --json --payload 100 "$T/off" >"$T/off.records" || fr_die "cat"
check "--no-tls: ciphertext DATA, no TLS record" bash -c "grep -q '\"kind\":\"DATA\".*\"syscall\":\"write\"' '$T/off.records' &&
	! grep -q 'SSL_\|CONN_TLS' '$T/off.records' && ! grep -q 'GET /index.html' '$T/off.records'"
fr_finish
