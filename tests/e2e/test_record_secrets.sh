#!/usr/bin/env bash
# e2e: secrets never reach the disk by default (issue 11, defect 5).  Real
# clients send known secrets to real servers in pods, through every path the
# recorder redacts: Redis AUTH, HELLO AUTH, CONFIG SET masterauth, the reply
# to CONFIG GET requirepass, ACL SETUSER >pass, MIGRATE AUTH; HTTP
# Authorization, X-Api-Key, Cookie, Set-Cookie, an obs-fold continuation
# and "Authorization :", a Set-Cookie after a body longer than the snap
# length, URL userinfo in a Referer, a Location and a request target; Kafka SASL PLAIN (kcat, librdkafka, against the Kafka stub of
# tests/unit/kafka_stub.py: Debian has no broker); and the clients'
# command lines (redis-cli -a, curl -H, kcat -X sasl.password=).  Every record of the recording (decompressed), the analysis
# database and a corpus case cut from it are scanned: no secret by default,
# and every one of them with --no-redact (so the scan is shown to work).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR="$FR_BUILD/flightrec"

fr_web_pods redis:redis:7.0
PW=FRSECRETrequirepass
sed -i 's|root '"$T"'/www;|&\n\t\tadd_header Set-Cookie "sid=FRSECRETsetcookie";|' "$T/nginx.conf"
# a redirect whose Location carries credentials in its userinfo
sed -i '0,/location \/sf\/ { sendfile on; }/s||&\n\t\tlocation = /go { return 302 "http://admin:FRSECRETlocation@$host/ok"; }|' "$T/nginx.conf"
echo ok >"$T/www/ok"
# a body past the snap length (4096) and then, on the same connection, a
# response with a secret: the body's bytes not captured are skipped with
# it, not into the next head (the scanner skips bodies by Content-Length)
{ printf x; head -c 15000 /dev/urandom | base64 -w 76; } >"$T/www/big"
sed -i '0,/location \/sf\/ { sendfile on; }/s||&\n\t\tlocation = /after { add_header Set-Cookie "sid=FRSECRETafterbody"; return 200 "ok"; }|' "$T/nginx.conf"
fr_run srv nginx nginx -c "$T/nginx.conf" -p "$T"
fr_run srv redis redis-server --bind "$SRV" --port 6379 --save '' --appendonly no \
	--requirepass "$PW" --dir "$T" --logfile "$T/redis.log"
fr_run srv kafka python3 "$PWD/tests/unit/kafka_stub.py" "$T/kafka.port" "$T/kafka.pcap" --sasl \
	--bind "$SRV" --port 9092 --seconds 900
fr_wait_port "$SRV" 80 && fr_wait_port "$SRV" 6379 && fr_wait_port "$SRV" 9092 || fr_die "a server did not start"

# Every path, each with a secret of its own (plain letters, so a JSON dump
# shows it as it is).
SECRETS="FRSECRETrequirepass FRSECRETmasterauth FRSECRETaclpass FRSECRETmigrate FRSECREThello
FRSECREThttpauth FRSECRETapikey FRSECRETcookie FRSECRETsetcookie FRSECRETobsfold FRSECRETspacecolon
FRSECRETlocation FRSECRETreferer FRSECRETurl FRSECRETkafka FRSECRETafterbody"
traffic() {
	local rc="fr_exec cli client redis-cli --no-auth-warning -h $SRV"
	$rc -a "$PW" PING
	$rc HELLO 3 AUTH default FRSECREThello
	$rc -a "$PW" CONFIG SET masterauth FRSECRETmasterauth
	$rc -a "$PW" CONFIG GET requirepass
	$rc -a "$PW" ACL SETUSER alice on '>FRSECRETaclpass' '~*' '+@all'
	$rc -a "$PW" SET k v
	$rc -a "$PW" MIGRATE "$SRV" 6390 k 0 200 AUTH FRSECRETmigrate
	fr_exec cli client curl -s -o /dev/null -H 'Authorization: Bearer FRSECREThttpauth' \
		-H 'X-Api-Key: FRSECRETapikey' -b 'session=FRSECRETcookie' "http://$SRV/ok"
	fr_exec cli client python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 80))
s.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\nAuthorization: Basic\r\n FRSECRETobsfold\r\n"
          b"Authorization : FRSECRETspacecolon\r\nConnection: close\r\n\r\n")
s.recv(4096)' "$SRV"
	# URL userinfo: a Referer (curl -e), the Location of a redirect, and
	# a request target in absolute form (as to a proxy)
	fr_exec cli client curl -s -o /dev/null -e "http://bob:FRSECRETreferer@ref.example/page" "http://$SRV/go"
	fr_exec cli client python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 80))
s.sendall(b"GET http://carol:FRSECRETurl@" + sys.argv[1].encode() + b"/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
s.recv(4096)' "$SRV"
	fr_exec cli client curl -s -o /dev/null -o /dev/null "http://$SRV/big" "http://$SRV/after"
	fr_exec cli client timeout 10 kcat -b "$SRV:9092" -L -t orders -m 5 -X security.protocol=SASL_PLAINTEXT \
		-X sasl.mechanisms=PLAIN -X sasl.username=alice -X sasl.password=FRSECRETkafka
}

scan() { # NAME, REDACT-ARGS...: records, analyzes, cuts a case; every secret's hit count in $T/NAME.hits
	local n=$1
	shift
	fr_record -o "$T/$n" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" "$@" || fr_die "recorder"
	traffic >/dev/null 2>&1
	sleep 0.3
	fr_record_stop || fr_die "recorder did not stop cleanly"
	"$FR" cat --json --payload 1000000 "$T/$n" >"$T/$n.records" || fr_die "cat"
	"$FR" analyze -q "$T/$n" -o "$T/$n.db" || fr_die "analyze"
	sqlite3 "$T/$n.db" .dump >"$T/$n.sql"
	local id
	id=$(sqlite3 "$T/$n.db" "select id from connections where remote_port = 6379 and role = 'client' order by id limit 1 offset 3")
	"$FR" corpus add "$T/$n" --conn "$id" --name case --corpus "$T/$n.corpus" >/dev/null 2>&1 ||
		fr_die "corpus add"
	"$FR" cat --json --payload 1000000 "$T/$n.corpus"/*/case/*.frs >"$T/$n.case"
	cat "$T/$n.corpus"/*/case/expected.dump >>"$T/$n.case"
	local s
	for s in $SECRETS; do
		echo "$s $(grep -o "$s" "$T/$n.records" | wc -l) $(grep -o "$s" "$T/$n.sql" | wc -l) $(grep -o "$s" "$T/$n.case" | wc -l)"
	done >"$T/$n.hits"
}
scan plain --no-redact
scan redacted

check "the traffic ran: redis saw the ACL user" bash -c "grep -q FRSECRETaclpass '$T/plain.records'"
while read -r s rec db case; do
	check "without redaction $s is in the records ($rec)" test "$rec" -gt 0
done <"$T/plain.hits"
check "without redaction the Kafka password is in a DATA record (the SASL bytes were captured)" \
	bash -c "grep '\"kind\":\"DATA\"' '$T/plain.records' | grep -q FRSECRETkafka"
check "without redaction the database has a secret (processes.cmdline)" grep -q FRSECRETmasterauth "$T/plain.sql"
check "without redaction the command lines are whole" grep -q -- '-a\\u0000FRSECRETrequirepass' "$T/plain.records"
while read -r s rec db case; do
	check "secrets_never_reach_disk: $s in no record, database or corpus case ($rec $db $case)" \
		test "$rec $db $case" = "0 0 0"
done <"$T/redacted.hits"
check "secrets_never_reach_disk: command lines keep argv[0] and option names" \
	grep -q '"redis-cli\\u0000--no-auth-warning\\u0000-h\\u0000?\\u0000-a\\u0000?' "$T/redacted.records"
check "secrets_never_reach_disk: the segment header names the rules" \
	bash -c "'$FR' info '$T/redacted' | grep -q 'cmdline:names'"
check "secrets_never_reach_disk: Kafka SASL PLAIN still paired (SaslHandshake, SaslAuthenticate)" test \
	"$(sqlite3 "$T/redacted.db" "select group_concat(api || ' ' || coalesce(r.status, '-'), ',') from (select k.api, r.status from requests r join kafka k on k.request_id = r.id where k.api like 'Sasl%' and r.side = 'client' order by r.start_ns) r")" = "SaslHandshake NONE,SaslAuthenticate NONE"
check "secrets_never_reach_disk: the requests are still there (CONFIG GET, ACL, GET /ok)" \
	bash -c "[[ \$(sqlite3 '$T/redacted.db' \"select count(*) from requests where summary like 'CONFIG%' or summary like 'ACL%' or summary like 'GET /ok%'\") -ge 5 ]]"
fr_finish
