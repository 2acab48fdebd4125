#!/usr/bin/env bash
# Captures real loopback traffic between real servers and clients from
# Debian's packages (nginx+curl, redis-server+redis-cli, dnsmasq+dig) into
# pcaps, for building corpus cases with tests/tools/pcap2frs.
# usage: capture.sh OUTDIR   (root; uses ports 18080, 16379, 15353)
set -euo pipefail
out=${1:?outdir}; mkdir -p "$out"; out=$(cd "$out" && pwd)
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$tmp"; }
trap cleanup EXIT
cap() { # name filter
  tcpdump -i lo -U -s 0 -w "$out/$1.pcap" "$2" 2>>"$out/tcpdump.log" & pids+=($!); sleep 2; }
stopcap() { sleep 1; kill -INT "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

# ---- HTTP: nginx + curl
mkdir -p "$tmp/www/api/users"; echo '{"name":"ada"}' > "$tmp/www/api/users/42"; echo hello > "$tmp/www/index.html"
cat > "$tmp/nginx.conf" <<NG
daemon off; pid $tmp/nginx.pid; error_log $tmp/nginx.err; worker_processes 1;
events { worker_connections 64; }
http { access_log off; keepalive_requests 1000;
  client_body_temp_path $tmp; proxy_temp_path $tmp; fastcgi_temp_path $tmp; uwsgi_temp_path $tmp; scgi_temp_path $tmp;
  server { listen 127.0.0.1:18080; root $tmp/www;
    location /fail { return 500 "boom\n"; }
    location /empty { return 204; }
    location /api/users/ { default_type application/json; }
  } }
NG
nginx -c "$tmp/nginx.conf" & pids+=($!); sleep 0.5
cap http_keepalive 'tcp port 18080'
curl -s -o /dev/null -o /dev/null -o /dev/null -o /dev/null http://127.0.0.1:18080/ http://127.0.0.1:18080/api/users/42 http://127.0.0.1:18080/fail http://127.0.0.1:18080/missing
stopcap
cap http_methods 'tcp port 18080'
curl -s -I http://127.0.0.1:18080/index.html >/dev/null
curl -s -o /dev/null http://127.0.0.1:18080/empty
etag=$(curl -s -I http://127.0.0.1:18080/index.html | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
curl -s -o /dev/null -H "If-None-Match: $etag" http://127.0.0.1:18080/index.html
curl -s -o /dev/null -H 'Transfer-Encoding: chunked' --data-binary 'hello chunked body' http://127.0.0.1:18080/index.html
curl -s -o /dev/null --data-binary @/etc/services http://127.0.0.1:18080/fail
stopcap
cap http_pipelined 'tcp port 18080'
exec 3<>/dev/tcp/127.0.0.1/18080
printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /api/users/42 HTTP/1.1\r\nHost: a\r\n\r\nGET /fail HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' >&3
cat <&3 >/dev/null; exec 3<&-
stopcap

# ---- pods: distinct loopback addresses stand for pod IPs (see tests/corpus/README.md)
cat > "$tmp/nginx2.conf" <<NG
daemon off; pid $tmp/nginx2.pid; error_log $tmp/nginx2.err; worker_processes 1;
events { worker_connections 64; }
http { access_log off; client_body_temp_path $tmp; proxy_temp_path $tmp; fastcgi_temp_path $tmp; uwsgi_temp_path $tmp; scgi_temp_path $tmp;
  server { listen 127.0.0.2:18081; root $tmp/www; location /fail { return 503; } } }
NG
nginx -c "$tmp/nginx2.conf" & pids+=($!)
redis-server --port 16380 --bind 127.0.0.5 --save '' --appendonly no --daemonize no >/dev/null & pids+=($!); sleep 0.5
cap pods 'tcp port 18081 or tcp port 16380'
curl -s --interface 127.0.0.3 -o /dev/null -o /dev/null http://127.0.0.2:18081/ http://127.0.0.2:18081/fail
redis-cli -h 127.0.0.5 -p 16380 SET cart:7 x >/dev/null
redis-cli -h 127.0.0.5 -p 16380 HGET cart:7 f >/dev/null || true
stopcap

# ---- Redis: redis-server + redis-cli
redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null & pids+=($!); sleep 0.5
cap redis_basic 'tcp port 16379'
redis-cli -p 16379 SET user:42 ada >/dev/null
redis-cli -p 16379 GET user:42 >/dev/null
redis-cli -p 16379 INCR user:42 >/dev/null || true
redis-cli -p 16379 LPUSH q a b c >/dev/null; redis-cli -p 16379 LRANGE q 0 -1 >/dev/null
redis-cli -p 16379 HSET h f1 v1 f2 v2 >/dev/null; redis-cli -p 16379 HGETALL h >/dev/null
redis-cli -p 16379 GET nosuchkey >/dev/null
stopcap
cap redis_pipe 'tcp port 16379'
for i in $(seq 1 50); do printf 'SET key:%d value-%d\nGET key:%d\n' $i $i $i; done | redis-cli -p 16379 --pipe >/dev/null
stopcap
cap redis_resp3 'tcp port 16379'
redis-cli -3 -p 16379 HGETALL h >/dev/null
redis-cli -3 -p 16379 DEL nosuchkey >/dev/null
stopcap

# ---- DNS: dnsmasq + dig
cat > "$tmp/hosts" <<H
10.0.0.42 api.example.test
10.0.0.43 db.example.test
H
dnsmasq -k -p 15353 --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --addn-hosts="$tmp/hosts" \
  --local=/example.test/ --cname=www.example.test,api.example.test --txt-record=example.test,"v=demo" \
  --pid-file="$tmp/dnsmasq.pid" --user=root & pids+=($!); sleep 0.5
cap dns_udp 'port 15353'
dig -p 15353 @127.0.0.1 api.example.test A +tries=1 >/dev/null
dig -p 15353 @127.0.0.1 www.example.test A +tries=1 >/dev/null
dig -p 15353 @127.0.0.1 nosuch.example.test A +tries=1 >/dev/null
dig -p 15353 @127.0.0.1 example.test TXT +tries=1 >/dev/null
stopcap
cap dns_tcp 'port 15353'
dig -p 15353 @127.0.0.1 api.example.test A +tcp +tries=1 >/dev/null
dig -p 15353 @127.0.0.1 nosuch.example.test A +tcp +tries=1 >/dev/null
stopcap
ls -l "$out"
