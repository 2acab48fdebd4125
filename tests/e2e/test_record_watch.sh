#!/usr/bin/env bash
# e2e: `flightrec watch` on a live ring, unprivileged.  nginx in an e2e pod
# serves /api/orders under load from wrk; the recorder keeps its ring
# readable by a group (--ring-group) and its control socket open to it
# (--control-group); `flightrec watch` runs as nobody in that group,
# follows the segments as they are written (and rotated every 2 s), and
# stays quiet while the endpoint answers 200.  Then nginx starts answering
# 500: the http_error_rate rule fires, the recorder takes a snapshot named
# after it, and the report of that snapshot names the failing endpoint.
# hooks: one (the ring followed by `flightrec watch` and its rules, not how the bytes are captured): the other hook sets run under `make test-hooks`
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR=$FR_BUILD/flightrec
GID=$((62000 + $$ % 1000))

fr_pod web
fr_container web nginx nginx:1.22
fr_pod cli
fr_container cli client debian:12
WEB=${FR_IP[web]}
mkdir -p "$T/www/api"
echo '{"orders":[]}' >"$T/www/api/orders"
cat >"$T/nginx.conf" <<NGINX
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
	server {
		listen $WEB:80;
		root $T/www;
		location /api/ {
			if (-f $T/broken) { return 500; }
		}
	}
}
NGINX
fr_run web nginx nginx -c "$T/nginx.conf" -p "$T"
fr_wait_port "$WEB" 80 || fr_die "nginx did not start"
fr_podlist "$T/pods.json"

# nobody reaches the ring and the programs through $T
chmod 711 "$T"
cp "$FR" "$T/flightrec"
fr_record -o "$T/rec" --pods "$T/pods.json" --cgroup "$(fr_slice web)" --segment-age 2 --after 2 \
	--ring-group "$GID" --control-group "$GID" --triggers alert --cooldown 300 || fr_die "recorder"
check "ring: the directory is the group's, setgid, 2750" test "$(stat -c '%a %g' "$T/rec")" = "2750 $GID"

setpriv --reuid 65534 --regid "$GID" --clear-groups "$T/flightrec" watch "$T/rec" --window 4 --min 20 \
	--error-rate 0.05 >"$T/watch.out" 2>"$T/watch.err" &
WATCH=$!
FR_PIDS+=("$WATCH")
fr_exec cli client wrk -t1 -c2 -d5s "http://$WEB/api/orders" >"$T/wrk1.out" 2>&1
check "watch: quiet while the endpoint answers 200" test ! -s "$T/watch.out"
check "ring: new segments are readable by the group (0640)" bash -c \
	"[[ \$(stat -c '%a %g' \$(ls '$T'/rec/*.frs | tail -1)) == '640 $GID' ]]"
touch "$T/broken"
fr_exec cli client wrk -t1 -c2 -d5s "http://$WEB/api/orders" >"$T/wrk2.out" 2>&1
for i in $(seq 50); do [[ -s $T/watch.out ]] && break; sleep 0.1; done
sleep 2.5 # the snapshot's --after window
kill "$WATCH"
wait "$WATCH"
check "watch: exits 0 at SIGTERM" test $? = 0
fr_record_stop
check "recorder exits 0" test $? = 0
sed 's/^/  # /' "$T/watch.out"
tail -1 "$T/watch.err" | sed 's/^/  # /'
check "watch: http_error_rate fired on the failing endpoint, the recorder took a snapshot" grep -q \
	"^FIRING http_error_rate [0-9.]* > 0.05 on GET /api/orders ([0-9]* of [0-9]* in 4 s): ok $T/rec/snapshots/.*-alert_http_error_rate_[0-9.]*___0.05_on_GET__api_orders" "$T/watch.out"
check "watch: fired once (it fires again only after the rule cleared)" test "$(grep -c FIRING "$T/watch.out")" = 1
SNAP=$(ls -d "$T"/rec/snapshots/*-alert_* 2>/dev/null | head -1)
"$FR" cat --json --kind MARK "$SNAP" >"$T/marks.jsonl" 2>/dev/null
check "snapshot: the MARK names the rule and the requester (nobody)" grep -q \
	"\"text\":\"alert http_error_rate [0-9.]* > 0.05 on GET /api/orders (.*) (alert trigger: requested by uid 65534 gid $GID pid [0-9]* (flightrec))" \
	"$T/marks.jsonl"
"$FR" analyze "$SNAP" -o "$T/snap.db" >/dev/null 2>&1
"$FR" report "$T/snap.db" >"$T/report.txt" 2>&1
grep -m3 'GET /api/orders.*500' "$T/report.txt" | sed 's/^/  # /'
check "report: names the failing endpoint with its 500s" grep -q 'GET /api/orders.*500' "$T/report.txt"
fr_finish
