#!/usr/bin/env bash
# e2e: TLS plaintext from Node.js (issue 17).  Node's TLS runs OpenSSL over
# memory BIOs: libuv makes the socket calls outside the SSL calls, so the
# tie is the memory-BIO one of bpf/hooks_tls.h (SSL_set_bio with two BIOs;
# a client's ClientHello sent right after its SSL call, a server's
# received right before).  Whichever OpenSSL the installed node runs is
# traced: the one linked into the executable (NodeSource's builds) or
# libssl.so.3 through libnode (Debian's nodejs); the test says which.
# Pod "srv": a Node HTTPS server (started before the recorder) and nginx
# over TLS; pod "cli": a Node client (one keep-alive connection for two
# requests) to the Node server, one with four at once on four connections,
# one to nginx over TLS then in cleartext,
# and curl to the Node server.
# Also a file named libssl.so.3 that is none, mapped by two processes: named
# once in the recorder's log.
# Every request is an http1 row with its status at both ends, each end
# names its TLS code, and no ciphertext DATA is written for them.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR="$FR_BUILD/flightrec"
q() { sqlite3 -batch -noheader "$T/a.db" "$@"; }

# FR_NODE: another node command (a wrapper that runs Debian's nodejs in a
# mount namespace of its own, say)
NODE=${FR_NODE:-$(command -v node || command -v nodejs)} || fr_die "node missing (Debian's nodejs: make deps)"
NODE=$(readlink -f "$NODE")
"$NODE" -e 'process.stdout.write(require("fs").readFileSync("/proc/self/maps", "utf8"))' >"$T/node.maps" ||
	fr_die "$NODE does not run"
if grep -q '/libssl\.so' "$T/node.maps"; then
	NODE_TLS="OpenSSL 3.%libssl.so.3)"
	echo "# $NODE $("$NODE" --version): OpenSSL $("$NODE" -p process.versions.openssl) in libssl.so.3"
else
	NODE_TLS="OpenSSL 3.%($NODE)"
	echo "# $NODE $("$NODE" --version): OpenSSL $("$NODE" -p process.versions.openssl) linked in"
fi
NGINX_TLS="OpenSSL 3.%libssl.so.3)"

fr_pod srv
fr_container srv node node:20
fr_container srv nginx nginx:1.22
fr_pod cli
fr_container cli client debian:12
SRV=${FR_IP[srv]}
fr_tls_nginx_conf "$T" "$SRV" <<EON
	server { listen $SRV:8080; root $T/www; }
	server {
		listen $SRV:8443 ssl;
		ssl_certificate $T/cert.pem;
		ssl_certificate_key $T/key.pem;
		root $T/www;
	}
EON
fr_run srv node "$NODE" tests/e2e/tls_node.js server "$SRV" 7443 "$T/cert.pem" "$T/key.pem" >"$T/nodesrv.out" 2>&1
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_wait_port "$SRV" 7443 || fr_die "the Node server did not start: $(cat "$T/nodesrv.out")"
fr_wait_port "$SRV" 8443 || fr_die "nginx did not start: $(cat "$T/nginx-error.log" 2>/dev/null)"
fr_podlist "$T/pods.json"

fr_record -o "$T/rec" --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" || fr_die "recorder"
check "the recorder attached to the Node server's OpenSSL" grep -Eq \
	"tls: attached to ($NODE of pid [0-9]* \(OpenSSL 3\.[0-9.]*.* linked in|.*libssl\.so\.3.*OpenSSL 3)" "$T/recorder.err"
U="https://$SRV"
fr_exec cli client "$NODE" tests/e2e/tls_node.js client "$U:7443/node-a" "$U:7443/node-b" >"$T/client.out" 2>&1
# four requests at once, each on a connection of its own: the ties of
# connections opened together
fr_exec cli client "$NODE" tests/e2e/tls_node.js parallel "$U:7443/par-1" "$U:7443/par-2" "$U:7443/par-3" \
	"$U:7443/par-4" >"$T/par.out" 2>&1
# and one to nginx over TLS then in cleartext: the same thread's cleartext
# connection stays cleartext
fr_exec cli client "$NODE" tests/e2e/tls_node.js client "$U:8443/index.html" "http://$SRV:8080/index.html" \
	>>"$T/client.out" 2>&1
fr_exec cli client curl -sk --http1.1 "$U:7443/curl-node" >>"$T/client.out" 2>&1
# a TLS library that cannot be attached (a file named libssl.so.3 without
# SSL_write: a copy of libz) is said once, not again for each process
# that maps it (two here, each announced at its socket call)
mkdir -p "$T/badssl"
cp "$(ldconfig -p | awk '$1 == "libz.so.1" { print $NF; exit }')" "$T/badssl/libssl.so.3"
for i in 1 2; do
	fr_exec cli client python3 -c 'import mmap, socket, sys, time
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
socket.create_connection((sys.argv[2], 8080)).sendall(b"GET /badssl HTTP/1.0\r\n\r\n")
time.sleep(0.5)' "$T/badssl/libssl.so.3" "$SRV" || fr_die "the libssl.so.3 mapper failed"
done
check "the library that cannot be attached is named once" test \
	"$(grep -c "tls: $T/badssl/libssl.so.3 (.*) skipped: cannot attach to SSL_write: " "$T/recorder.err")" = 1
check "the parallel client saw its answers" test "$(tr '\n' '|' <"$T/par.out")" = \
	"200 node says /par-1|200 node says /par-2|200 node says /par-3|200 node says /par-4|"
check "the clients saw their answers" test "$(tr '\n' '|' <"$T/client.out")" = \
	"200 node says /node-a|200 node says /node-b|200 hello tls|200 hello tls|node says /curl-node|"
sleep 0.3
fr_record_stop || fr_die "recorder did not stop cleanly"

"$FR" cat --json --payload 1000000 "$T/rec" >"$T/records" || fr_die "cat"
[[ -n ${FR_TLS_KEEP:-} ]] && rm -rf "$FR_TLS_KEEP/rec" && cp -r "$T/rec" "$T/recorder.err" "$T"/*.out "$FR_TLS_KEEP"/
"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/a.db" -j 1 || fr_die "analyze"

rows() { # SIDE SUMMARY STATUS TLS-LIKE: http1 requests of that end over that TLS code
	q "select count(*) from requests r join connections c on c.id = r.conn_id where r.side = '$1'
	   and r.protocol = 'http1' and r.summary = '$2' and r.status = '$3' and c.tls like '$4'"
}
for p in a b; do
	check "Node client end: GET /node-$p 200" test "$(rows client "GET /node-$p" 200 "$NODE_TLS")" = 1
	check "Node server end: GET /node-$p 200" test "$(rows server "GET /node-$p" 200 "$NODE_TLS")" = 1
done
check "Node client end: GET /index.html 200 (nginx)" test "$(rows client "GET /index.html" 200 "$NODE_TLS")" = 1
check "nginx end: GET /index.html 200" test "$(rows server "GET /index.html" 200 "$NGINX_TLS")" = 1
check "curl end: GET /curl-node 200" test "$(rows client "GET /curl-node" 200 "$NGINX_TLS")" = 1
check "Node server end: GET /curl-node 200" test "$(rows server "GET /curl-node" 200 "$NODE_TLS")" = 1
for p in 1 2 3 4; do
	for side in client server; do
		check "Node $side end: GET /par-$p 200" test "$(rows $side "GET /par-$p" 200 "$NODE_TLS")" = 1
	done
done
check "the parallel requests went over 4 connections" test "$(q "select count(distinct r.conn_id)
	from requests r where r.side = 'client' and r.summary like 'GET /par-%'")" = 4
for side in client server; do
	check "$side end: the cleartext GET /index.html 200 (no TLS)" test "$(q "select count(*) from requests r
		join connections c on c.id = r.conn_id where r.side = '$side' and r.summary = 'GET /index.html'
		and r.status = '200' and coalesce(c.tls, '') = '' and (c.local_port = 8080 or c.remote_port = 8080)")" = 1
done
check "the keep-alive connection carried both requests" test "$(q "select count(distinct r.conn_id)
	from requests r where r.side = 'client' and r.summary in ('GET /node-a', 'GET /node-b')")" = 1
# every DATA record of a port 7443/8443 connection is plaintext (flag TLS)
python3 - "$T/records" >"$T/cipher.out" 2>"$T/cipher.err" <<'EOP'
import json, sys
conns, tls, plain = {}, 0, 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    k, key = r.get("kind"), (r.get("pid"), r.get("fd"), r.get("gen"))
    if k == "CONN_OPEN" and {7443, 8443} & {(r["local"] or {}).get("port"), (r["remote"] or {}).get("port")}:
        conns[key] = 1
    if k == "DATA" and key in conns:
        if r["flags"] & 8:
            tls += 1
        else:
            plain += 1
            print(r["pid"], r["fd"], r["syscall"], r["dir"], r["orig_len"], file=sys.stderr)
print(len(conns), tls, plain)
EOP
read -r nconn ntls nclear <"$T/cipher.out"
check "14 TLS connections: 7 at both ends ($nconn)" test "$nconn" = 14
check "their DATA is plaintext ($ntls records)" test "$ntls" -ge 32
check "no ciphertext DATA written for them ($nclear records)" test "$nclear" = 0 || head -20 "$T/cipher.err"
check "no connection of those ports without its library" test "$(q "select count(*) from connections where
	(local_port in (7443, 8443) or remote_port in (7443, 8443)) and coalesce(tls, '') = ''")" = 0
fr_finish
