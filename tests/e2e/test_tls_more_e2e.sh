#!/usr/bin/env bash
# e2e: TLS plaintext from TLS code inside executables (issue 17): OpenSSL
# linked statically (tls_static_client.c, built here with gcc -static
# against Debian's libssl.a/libcrypto.a) and Go's crypto/tls (tls_go/,
# built here with Debian's golang-go, standard library only).  Pod "srv":
# nginx serving HTTPS (libssl.so.3) and the Go HTTPS server (its binary
# stripped of symbols).  Pod "cli":
# the static client, the Go client and curl; also openssl s_client to
# nginx and redis-cli --tls to redis-server --tls-port (libssl.so.3).  Recorded with the hook set
# of $FLIGHTREC_HOOKS (lib.sh) and analyzed: every request is an http1 row
# with its status at both ends, each end's connection names its TLS code
# (tls column), and no ciphertext DATA is written for these connections.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR="$FR_BUILD/flightrec"
q() { sqlite3 -batch -noheader "$T/a.db" "$@"; }

command -v go >/dev/null || fr_die "go missing (Debian's golang-go: make deps)"
gcc -O1 -static -o "$T/sslstatic" tests/e2e/tls_static_client.c -lssl -lcrypto 2>"$T/gcc.err" ||
	fr_die "gcc -static: $(cat "$T/gcc.err")"
# the cache is kept in build/ between runs; GOPROXY=off: the standard library only
(cd tests/e2e/tls_go && GOFLAGS=-mod=mod GOPROXY=off GOCACHE="$PWD/../../../$FR_BUILD/gocache" \
	GOPATH="$T/gopath" go build -o "$T/tls_go" main.go &&
	GOFLAGS=-mod=mod GOPROXY=off GOCACHE="$PWD/../../../$FR_BUILD/gocache" \
	GOPATH="$T/gopath" go build -ldflags=-s -o "$T/tls_go_s" main.go) 2>"$T/go.err" ||
	fr_die "go build: $(cat "$T/go.err")"
# the server's copy is stripped of its symbols (-ldflags=-s): the recorder
# finds crypto/tls in Go's own function table
readelf -S "$T/tls_go_s" | grep -q "\.symtab" && fr_die "go build -ldflags=-s left a symbol table"

fr_pod srv
fr_container srv nginx nginx:1.22
fr_container srv goserver golang:1.19
fr_container srv redis redis:7.0
fr_pod cli
fr_container cli client debian:12
SRV=${FR_IP[srv]}
fr_tls_nginx_conf "$T" "$SRV" <<EOF
	server {
		listen $SRV:8443 ssl;
		ssl_certificate $T/cert.pem;
		ssl_certificate_key $T/key.pem;
		root $T/www;
	}
EOF
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_run srv goserver "$T/tls_go_s" server "$SRV:9443" "$T/cert.pem" "$T/key.pem" 2>"$T/goserver.err"
fr_run srv redis redis-server --port 0 --tls-port 6380 --bind "$SRV" --tls-cert-file "$T/cert.pem" \
	--tls-key-file "$T/key.pem" --tls-ca-cert-file "$T/cert.pem" --tls-auth-clients no --save '' \
	--appendonly no --protected-mode no --dir "$T" >"$T/redis.log" 2>&1
fr_wait_port "$SRV" 8443 || fr_die "nginx did not start: $(cat "$T/nginx-error.log" 2>/dev/null)"
fr_wait_port "$SRV" 6380 || fr_die "redis-server did not start: $(cat "$T/redis.log")"
fr_wait_port "$SRV" 9443 || fr_die "the Go server did not start: $(cat "$T/goserver.err")"
fr_podlist "$T/pods.json"
# the static client runs (its executable mapped) when the recorder starts,
# and makes its requests once $T/go exists
fr_run cli client "$T/sslstatic" "$SRV" 8443 "$T/go" /static-a >"$T/static.out" 2>&1
# and so does a Go client (the executable with symbols)
fr_run cli client "$T/tls_go" client -wait "$T/go" "https://$SRV:9443/go-held" >"$T/goheld.out" 2>&1
for f in static goheld; do
	for i in $(seq 1 100); do grep -q waiting "$T/$f.out" && break; sleep 0.1; done
	grep -q waiting "$T/$f.out" || fr_die "the $f client did not start: $(cat "$T/$f.out")"
done

fr_record -o "$T/rec" --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" || fr_die "recorder"
check "the recorder attached to the static client's own OpenSSL" grep -q \
	"tls: attached to $T/sslstatic of pid [0-9]* (OpenSSL 3\.[0-9.]*.* linked in, library" "$T/recorder.err"
check "the recorder attached to the Go client's crypto/tls" grep -q \
	"tls: attached to $T/tls_go of pid [0-9]* (Go go1\.[0-9.]* crypto/tls, library [0-9]*; [1-9][0-9]* and [1-9][0-9]* returns.*connections[;)]" \
	"$T/recorder.err"
check "the recorder attached to the stripped Go server's crypto/tls" grep -q \
	"tls: attached to $T/tls_go_s of pid [0-9]* (Go go1\.[0-9.]* crypto/tls, library [0-9]*; [1-9][0-9]* and [1-9][0-9]* returns.*Go function table" \
	"$T/recorder.err"
touch "$T/go"
for i in $(seq 1 100); do grep -q HTTP "$T/static.out" && break; sleep 0.1; done
for i in $(seq 1 100); do grep -q 200 "$T/goheld.out" && break; sleep 0.1; done
check "the waiting Go client got its answer" grep -q '^200 go says /go-held$' "$T/goheld.out"
# more processes of the same static executable, started after the recorder
# (one connection each, as the Go client's below: the sockets hook set
# merges a process's connection with its next one on the same fd number
# when the first one ended by a reset; not a TLS matter, reported)
for p in /static-b /static-c; do
	fr_exec cli client "$T/sslstatic" "$SRV" 8443 "$T/go" $p >>"$T/static.out" 2>&1
done
check "the static client saw its three 404s" test "$(grep -c 'HTTP/1.1 404' "$T/static.out")" = 3
U="https://$SRV"
# one process per URL (see above; seen with --no-tls too)
for u in "$U:9443/go-go" "$U:8443/go-nginx" "$U:8443/index.html"; do
	fr_exec cli client "$T/tls_go" client "$u" >>"$T/goclient.out" 2>&1
done
fr_exec cli client curl -sk --http1.1 "$U:9443/curl-go" >>"$T/goclient.out" 2>&1
# openssl s_client (libssl.so.3) to nginx, redis-cli --tls to redis-server
printf 'GET /sclient HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	fr_exec cli client openssl s_client -connect "$SRV:8443" -quiet -ign_eof >>"$T/goclient.out" 2>/dev/null
# (commands as arguments: from stdin, redis-cli first asks COMMAND DOCS, a
# reply beyond the snap length)
for cmd in "SET tlskey tlsval" "GET tlskey"; do
	# shellcheck disable=SC2086
	fr_exec cli client redis-cli --tls --insecure -h "$SRV" -p 6380 $cmd >>"$T/redis.out" 2>&1
done
check "redis-cli over TLS: OK and the value back" test "$(tr '\n' ' ' <"$T/redis.out")" = "OK tlsval "
check "the Go client, curl and s_client saw their answers" test "$(head -c 200 "$T/goclient.out" | tr -d '\r' | tr '\n' '|' | cut -d'|' -f1-5)" = \
	"200 go says /go-go|404 <html>|200 hello tls|go says /curl-go|HTTP/1.1 404 Not Found"
sleep 0.3
fr_record_stop || fr_die "recorder did not stop cleanly"

"$FR" cat --json --payload 1000000 "$T/rec" >"$T/records" || fr_die "cat"
[[ -n ${FR_TLS_KEEP:-} ]] && rm -rf "$FR_TLS_KEEP/rec" && cp -r "$T/rec" "$T/recorder.err" "$T"/*.out "$FR_TLS_KEEP"/
"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/a.db" -j 1 || fr_die "analyze"

rows() { # SIDE SUMMARY STATUS TLS-LIKE: http1 requests of that end over that TLS code
	q "select count(*) from requests r join connections c on c.id = r.conn_id where r.side = '$1'
	   and r.protocol = 'http1' and r.summary = '$2' and r.status = '$3' and c.tls like '$4'"
}
STATIC="OpenSSL 3.%($T/sslstatic)"
NGINX="OpenSSL 3.%libssl.so.3)"
GO="Go go1.% crypto/tls ($T/tls_go)"
GOS="Go go1.% crypto/tls ($T/tls_go_s)"
for p in a b c; do
	check "static client end: GET /static-$p 404" test "$(rows client "GET /static-$p" 404 "$STATIC")" = 1
	check "nginx end: GET /static-$p 404" test "$(rows server "GET /static-$p" 404 "$NGINX")" = 1
done
check "Go client end: GET /go-go 200" test "$(rows client "GET /go-go" 200 "$GO")" = 1
check "waiting Go client end: GET /go-held 200" test "$(rows client "GET /go-held" 200 "$GO")" = 1
check "Go server end: GET /go-held 200" test "$(rows server "GET /go-held" 200 "$GOS")" = 1
check "Go server end: GET /go-go 200" test "$(rows server "GET /go-go" 200 "$GOS")" = 1
check "Go client end: GET /go-nginx 404" test "$(rows client "GET /go-nginx" 404 "$GO")" = 1
check "nginx end: GET /go-nginx 404" test "$(rows server "GET /go-nginx" 404 "$NGINX")" = 1
check "Go client end: GET /index.html 200" test "$(rows client "GET /index.html" 200 "$GO")" = 1
check "s_client end: GET /sclient 404" test "$(rows client "GET /sclient" 404 "$NGINX")" = 1
check "nginx end: GET /sclient 404" test "$(rows server "GET /sclient" 404 "$NGINX")" = 1
redis() { # SIDE SUMMARY: redis requests of that end with a peer, over libssl.so.3
	q "select count(*) from requests r join connections c on c.id = r.conn_id where r.side = '$1'
	   and r.protocol = 'redis' and r.summary = '$2' and r.peer_request_id is not null and c.tls like '$NGINX'"
}
for side in client server; do
	check "redis $side end: SET tlskey, paired" test "$(redis $side 'SET tlskey')" = 1
	check "redis $side end: GET tlskey, paired" test "$(redis $side 'GET tlskey')" = 1
done
check "curl end: GET /curl-go 200" test "$(rows client "GET /curl-go" 200 "$NGINX")" = 1
check "Go server end: GET /curl-go 200" test "$(rows server "GET /curl-go" 200 "$GOS")" = 1
# every DATA record of a port 8443/9443/6380 connection is plaintext (flag TLS)
python3 - "$T/records" >"$T/cipher.out" 2>"$T/cipher.err" <<'EOF'
import json, sys
conns, tls, plain = {}, 0, 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    k, key = r.get("kind"), (r.get("pid"), r.get("fd"), r.get("gen"))
    if k == "CONN_OPEN" and {8443, 9443, 6380} & {(r["local"] or {}).get("port"), (r["remote"] or {}).get("port")}:
        conns[key] = 1
    if k == "DATA" and key in conns:
        if r["flags"] & 8:
            tls += 1
        else:
            plain += 1
            print(r["pid"], r["fd"], r["syscall"], r["dir"], r["orig_len"], file=sys.stderr)
print(len(conns), tls, plain)
EOF
read -r nconn ntls nclear <"$T/cipher.out"
check "22 TLS connections: 11 at both ends ($nconn)" test "$nconn" = 22
check "their DATA is plaintext ($ntls records)" test "$ntls" -ge 40
check "no ciphertext DATA written for them ($nclear records)" test "$nclear" = 0 || head -20 "$T/cipher.err"
check "no connection of those ports without its library" test "$(q "select count(*) from connections where
	(local_port in (8443, 9443, 6380) or remote_port in (8443, 9443, 6380)) and coalesce(tls, '') = ''")" = 0
fr_finish
