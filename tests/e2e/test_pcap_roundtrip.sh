#!/usr/bin/env bash
# e2e (issue 5): a real recording by flightrec-record of curl -> nginx,
# redis-cli -> redis-server and dig -> dnsmasq in two pods, exported with
# `flightrec export-pcap`:
#  - tshark reads the pcapng with good checksums and sees the same HTTP
#    requests and DNS queries the analyzer finds in the recording;
#  - `flightrec import-pcap` of the pcapng, analyzed, gives the same
#    requests (protocol, HTTP method/path/status, DNS name/type/rcode, Redis
#    command) as the client side of the original analysis.  (The recording
#    holds both ends of every connection; a capture, like the import, one
#    flow per connection.  Both ends' copies of a byte get the same sequence
#    number in the export, so tshark sees the server's copy as a
#    retransmission, not as a second request.)
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init

T=$FR_TMP
FR=$FR_BUILD/flightrec
fr_web_pods redis:redis:7.0 dns:dnsmasq:2.89
echo "hello from nginx" >"$T/www/index.html"
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_run srv redis redis-server --bind "$SRV" --port 6379 --save '' --appendonly no --dir "$T" --logfile "$T/redis.log"
fr_run srv dns dnsmasq --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
	--listen-address="$SRV" --bind-interfaces --address="/svc.e2e.test/10.213.$FR_NET.99" \
	--pid-file="$T/dnsmasq.pid" --user=root --log-facility="$T/dnsmasq.log"
fr_wait_port "$SRV" 80 || fr_die "nginx did not start"
fr_wait_port "$SRV" 6379 || fr_die "redis-server did not start"
fr_wait_port "$SRV" 53 udp || fr_die "dnsmasq did not start"
fr_podlist "$T/pods.json"

fr_record -o "$T/rec" --snaplen 65536 --pods "$T/pods.json" \
	--cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" || fr_die "recorder"
for i in 1 2 3; do fr_exec cli client curl -s -o /dev/null "http://$SRV/index.html?i=$i"; done
fr_exec cli client curl -s -o /dev/null "http://$SRV/missing"
fr_exec cli client redis-cli -h "$SRV" SET k v >/dev/null
fr_exec cli client redis-cli -h "$SRV" GET k >/dev/null
fr_exec cli client dig "@$SRV" svc.e2e.test A +short +tries=1 +time=2 >/dev/null
fr_exec cli client dig "@$SRV" nothing.e2e.test AAAA +short +tries=1 +time=2 >/dev/null
sleep 0.3
fr_record_stop
check "recorder exits 0" test $? = 0

check "export-pcap" "$FR" export-pcap "$T/rec" -o "$T/x.pcapng"
check "checksums good" bash -c "[[ \$(tshark -r '$T/x.pcapng' -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
	-Y 'ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0' 2>/dev/null | wc -l) == 0 ]]"
"$FR" analyze -q "$T/rec" -o "$T/a.db" || fr_die "analyze of the recording"
q() { sqlite3 -separator ' ' "$1" "$2" | sort; }
CLIENT="join requests r on r.id = x.request_id where r.side = 'client'"
q "$T/a.db" "select x.method, x.path, x.status from http x $CLIENT" >"$T/a.http"
q "$T/a.db" "select x.qname, x.qtype, x.rcode from dns x $CLIENT" >"$T/a.dns"
q "$T/a.db" "select x.command from redis x $CLIENT" >"$T/a.redis"
tshark -r "$T/x.pcapng" -Y http.request -T fields -e http.request.method -e http.request.uri 2>/dev/null | tr '\t' ' ' | sort >"$T/t.http"
cut -d' ' -f1,2 "$T/a.http" >"$T/a.http2"
check "tshark: the same HTTP requests as the analyzer ($(wc -l <"$T/a.http") requests)" \
	bash -c "[[ -s '$T/a.http' ]] && cmp -s '$T/t.http' '$T/a.http2'"
tshark -r "$T/x.pcapng" -Y 'dns.flags.response == 0' -T fields -e dns.qry.name 2>/dev/null | sort >"$T/t.dns"
cut -d' ' -f1 "$T/a.dns" >"$T/a.dns1"
check "tshark: the same DNS queries as the analyzer" bash -c "[[ -s '$T/a.dns' ]] && cmp -s '$T/t.dns' '$T/a.dns1'"

check "import-pcap of the export" "$FR" import-pcap -q "$T/x.pcapng" -o "$T/again"
"$FR" analyze -q "$T/again" -o "$T/b.db" || fr_die "analyze of the re-import"
q "$T/b.db" "select x.method, x.path, x.status from http x $CLIENT" >"$T/b.http"
q "$T/b.db" "select x.qname, x.qtype, x.rcode from dns x $CLIENT" >"$T/b.dns"
q "$T/b.db" "select x.command from redis x $CLIENT" >"$T/b.redis"
for p in http dns redis; do
	check "re-imported: same $p requests ($(wc -l <"$T/a.$p"))" bash -c "[[ -s '$T/a.$p' ]] && cmp -s '$T/a.$p' '$T/b.$p'"
done
for p in http dns redis; do cmp -s "$T/a.$p" "$T/b.$p" || { echo "--- $p: original / re-imported"; cat "$T/a.$p"; echo ---; cat "$T/b.$p"; }; done
fr_finish
