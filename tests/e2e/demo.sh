#!/usr/bin/env bash
# make demo: real servers in e2e "pods", about a minute of real traffic,
# an incident injected part-way, a snapshot triggered, analyzed into SQLite,
# and summarised from the database: report.html and the terminal verdict.
#
#   pod web       nginx, HTTP and HTTPS (TLS: the recorder reads OpenSSL's
#                 plaintext): /api/orders (200)
#   pod orders    a Python app (psycopg2): POST /api/checkout inserts the
#                 order into PostgreSQL (200); once the incident starts it
#                 waits on a slow query (pg_sleep) and returns 500: the bug
#   pod db        PostgreSQL 15
#   pod catalog   nginx: /catalog/export, rate-limited (slow download)
#   pod cache     redis-server: DEBUG SLEEP makes some commands slow;
#                 INCR on a string is an error
#   pod dns       dnsmasq, authoritative for cluster.local: a typo'd
#                 service name (asked once the incident starts) is NXDOMAIN
#   pod frontend  curl, redis-cli and dig in a loop
#
# Everything it creates (namespaces, veths, cgroups, processes) is removed on
# exit and on Ctrl-C; the recording and the database stay in build/demo/.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
SECONDS_OF_TRAFFIC=${DEMO_SECONDS:-50}
INCIDENT_AT=$((SECONDS_OF_TRAFFIC / 2))        # seconds into the traffic
TRIGGER_AFTER=$((SECONDS_OF_TRAFFIC / 6 + 1))  # the snapshot, that long after
AFTER=$((SECONDS_OF_TRAFFIC - INCIDENT_AT - TRIGGER_AFTER + 3))
OUT=${DEMO_OUT:-$PWD/build/demo}
FR="$FR_BUILD/flightrec"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fr_init
T=$FR_TMP
rm -rf "$OUT" && mkdir -p "$OUT"

say "starting pods"
PGBIN=/usr/lib/postgresql/15/bin
[[ -x $PGBIN/postgres ]] || fr_die "postgresql-15 missing (make deps)"
/usr/bin/python3 -c 'import psycopg2' 2>/dev/null || fr_die "python3-psycopg2 missing (make deps)"
for p in web orders db catalog cache dns frontend; do fr_pod "$p"; done
fr_container web nginx nginx:1.22
fr_container orders app python:3.11
fr_container db postgres postgres:15
fr_container catalog nginx nginx:1.22
fr_container cache redis redis:7.0
fr_container dns dnsmasq dnsmasq:2.89
fr_container frontend app debian:12
WEB=${FR_IP[web]} CAT=${FR_IP[catalog]} CACHE=${FR_IP[cache]} DNS=${FR_IP[dns]}
ORDERS=${FR_IP[orders]} DB=${FR_IP[db]}

mkdir -p "$T/web" "$T/catalog"
# nginx_locations CONF TEXT: adds location blocks to a server of fr_nginx_conf
nginx_locations() {
	python3 - "$1" "$2" <<'PY'
import re, sys
path, extra = sys.argv[1], sys.argv[2]
conf = open(path).read()
conf = re.sub(r"(root [^;]*/www;)", lambda m: m.group(1) + "\n" + extra, conf, count=1)
open(path, "w").write(conf)
PY
}
fr_nginx_conf "$T/web" "$WEB"
nginx_locations "$T/web/nginx.conf" '
		location /api/orders { default_type application/json; try_files /orders.json =404; }'
# one TLS hop: the same site over HTTPS, with a certificate made here
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=web.shop.svc.cluster.local \
	-keyout "$T/web/key.pem" -out "$T/web/cert.pem" >/dev/null 2>&1 || fr_die "openssl req"
sed -i "s|listen $WEB:80;|listen $WEB:80;\n\t\tlisten $WEB:443 ssl;\n\t\tssl_certificate $T/web/cert.pem;\n\t\tssl_certificate_key $T/web/key.pem;|" \
	"$T/web/nginx.conf"
echo '{"orders":[{"id":1,"total":42.5},{"id":2,"total":7}]}' >"$T/web/www/orders.json"
fr_nginx_conf "$T/catalog" "$CAT"
nginx_locations "$T/catalog/nginx.conf" '
		location /catalog/export { limit_rate 96k; }'
mkdir -p "$T/catalog/www/catalog"
head -c 160000 /dev/zero | tr '\0' 'x' >"$T/catalog/www/catalog/export"
echo '{"items":3}' >"$T/catalog/www/catalog/search"

# PostgreSQL (initdb as an unprivileged user; trust: a demo) and the orders app
chmod 711 "$T"
mkdir -p "$T/pg" "$T/pgsock" && chown nobody "$T/pg" "$T/pgsock"
runuser -u nobody -- "$PGBIN/initdb" -D "$T/pg" -U shop --auth=trust >"$T/pg-init.log" 2>&1 || fr_die "initdb"
echo "host all all 0.0.0.0/0 trust" >>"$T/pg/pg_hba.conf"
fr_run db postgres runuser -u nobody -- "$PGBIN/postgres" -D "$T/pg" -k "$T/pgsock" -h "$DB" -p 5432
fr_wait_port "$DB" 5432 || fr_die "postgres did not start"
runuser -u nobody -- "$PGBIN/psql" -h "$T/pgsock" -U shop -d postgres -qc "CREATE DATABASE shop" &&
	runuser -u nobody -- "$PGBIN/psql" -h "$T/pgsock" -U shop -d shop -qc \
		"CREATE TABLE orders (id serial PRIMARY KEY, cart text, at timestamptz DEFAULT now())" ||
	fr_die "postgres setup"
cat >"$T/orders.py" <<EOF
# the orders app: one PostgreSQL connection per checkout (psycopg2)
import http.server, os, psycopg2
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_POST(self):
        cart = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace")
        db = psycopg2.connect(host="$DB", dbname="shop", user="shop")
        cur = db.cursor()
        if os.path.exists("$T/incident"): # the bug: a lock wait, then a failure
            cur.execute("SELECT pg_sleep(0.4)")
            code, body = 500, b'{"error":"payment backend unavailable"}\n'
        else:
            cur.execute("INSERT INTO orders (cart) VALUES (%s) RETURNING id", (cart,))
            code, body = 200, b'{"ok":true,"order":%d}\n' % cur.fetchone()[0]
        db.commit()
        db.close()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("$ORDERS", 8080), H).serve_forever()
EOF
fr_run orders app /usr/bin/python3 "$T/orders.py"
fr_run web nginx nginx -c "$T/web/nginx.conf" -p "$T/web"
fr_run catalog nginx nginx -c "$T/catalog/nginx.conf" -p "$T/catalog"
fr_run cache redis redis-server --bind "$CACHE" --port 6379 --save '' --appendonly no \
	--protected-mode no --enable-debug-command yes --dir "$T" --logfile "$T/redis.log"
fr_run dns dnsmasq dnsmasq --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
	--listen-address="$DNS" --bind-interfaces --local=/cluster.local/ \
	--host-record="web.shop.svc.cluster.local,$WEB" --host-record="catalog.shop.svc.cluster.local,$CAT" \
	--host-record="cache.shop.svc.cluster.local,$CACHE" \
	--pid-file="$T/dnsmasq.pid" --user=root --log-facility="$T/dnsmasq.log"
fr_wait_port "$WEB" 80 && fr_wait_port "$WEB" 443 && fr_wait_port "$ORDERS" 8080 && fr_wait_port "$CAT" 80 &&
	fr_wait_port "$CACHE" 6379 &&
	fr_wait_port "$DNS" 53 udp || fr_die "a server did not start"
fr_podlist "$OUT/pods.json"

say "recording with flightrec-record (${SECONDS_OF_TRAFFIC}s of traffic)"
slices=()
for p in "${FR_PODS[@]}"; do slices+=(--cgroup "$(fr_slice "$p")"); done
fr_record -o "$OUT/recording" --pods "$OUT/pods.json" --after "$AFTER" "${slices[@]}" || fr_die "recorder did not start"

# The frontend's loop: keep-alive HTTP with a failing endpoint, a slow
# download, pipelined Redis with a slow command and an error, DNS with a typo.
cat >"$T/frontend.sh" <<EOF
end=\$((SECONDS + $SECONDS_OF_TRAFFIC))
i=0
while ((SECONDS < end)); do
  i=\$((i + 1))
  dig @$DNS web.shop.svc.cluster.local A +short +tries=1 +time=1 >/dev/null
  curl -s http://$WEB/api/orders http://$WEB/api/orders/\$i http://$WEB/api/orders >/dev/null
  curl -sk https://$WEB/api/orders >/dev/null
  ((i % 3 == 0)) && curl -s -o /dev/null -X POST -d '{"cart":'\$i'}' http://$ORDERS:8080/api/checkout
  curl -s -o /dev/null http://$CAT/catalog/search?q=\$i
  ((i % 10 == 0)) && curl -s -o /dev/null http://$CAT/catalog/export
  printf 'SET user:%d alice\r\nGET user:%d\r\nINCR hits\r\n' \$i \$i | redis-cli -h $CACHE --pipe >/dev/null 2>&1
  ((i % 7 == 0)) && redis-cli -h $CACHE DEBUG SLEEP 0.25 >/dev/null
  ((i % 5 == 0)) && redis-cli -h $CACHE INCR user:\$i >/dev/null
  ((i % 4 == 0)) && [[ -f $T/incident ]] && dig @$DNS cahce.shop.svc.cluster.local A +tries=1 +time=1 >/dev/null
  sleep 0.2
done
echo "\$i rounds"
EOF
fr_exec frontend app bash "$T/frontend.sh" >"$T/frontend.out" 2>&1 &
LOOP=$!
FR_PIDS+=("$LOOP")
# The incident: half-way, /api/checkout starts failing slowly and a typo'd DNS name
# is asked (a bad deploy); a few seconds later someone triggers a snapshot.
sleep "$INCIDENT_AT"
: >"$T/incident" # a builtin: the time below is the flag's to the microsecond
INJECTED=${EPOCHREALTIME/,/.}
echo "incident injected at $(date -u -d "@$INJECTED" +%H:%M:%S.%3N) UTC: POST /api/checkout returns 500 after 0.4 s, cahce.shop... NXDOMAIN"
sleep "$TRIGGER_AFTER"
"$FR_BUILD/flightrec-record" snapshot "$OUT/recording" --reason checkout-500s >/dev/null ||
	fr_die "the snapshot was not triggered"
wait "$LOOP" || fr_die "the traffic loop failed: $(cat "$T/frontend.out")"
sleep 1
fr_record_stop || fr_die "the recorder did not stop cleanly: $(cat "$T/recorder.err")"
SNAP=$(ls -d "$OUT"/recording/snapshots/*checkout-500s* | head -1)
[[ -d $SNAP ]] || fr_die "no snapshot in $OUT/recording/snapshots"
"$FR" info "$SNAP" | sed -n '/^segments/,$p'

say "analyzing the snapshot into SQLite"
"$FR" analyze "$SNAP" --pods "$OUT/pods.json" -o "$OUT/incident.db" || fr_die "analyze failed"

say "what changed since the trigger"
"$FR" diff "$OUT/incident.db" --limit 8 || fr_die "diff failed"

say "report"
"$FR" report "$OUT/incident.db" -o "$OUT/report.html" || fr_die "report failed"

say "done"
echo "snapshot:  $SNAP"
echo "database:  $OUT/incident.db"
echo "report:    $OUT/report.html   (open it in a browser: one file, no network)"
echo "go on with:  sqlite3 $OUT/incident.db 'select * from failures limit 20'"
