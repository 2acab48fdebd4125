#!/usr/bin/env bash
# kafka_kcat.sh - the Kafka parser on what a current real client sends.
#
# kcat (librdkafka, Debian) talks to tests/unit/kafka_stub.py, a listening
# socket that records the conversation as a pcap and answers only
# ApiVersions, Metadata v4 and Produce.  So this covers the REQUEST side of
# a current client; the response side is covered by the real captures of
# tests/corpus/kafka/ only (there is no Kafka broker among Debian's
# packages).  Each pcap goes through `flightrec analyze`, and
# tests/unit/oracle_tshark.py compares the rows of the Produce captures and
# two of the Metadata ones with tshark's Kafka dissector (correlation ids,
# api keys, versions, client ids, errors).
#
#  - Metadata with the stub advertising v0-N, N = 0..4 and 12: the client
#    sends min(its own maximum, N) (librdkafka 2.0.2: v4); the row has that
#    version and the topic.
#  - Produce of 3 messages (one batch or several: the records add up to 3),
#    a 4 KiB compressible message with gzip (codec gzip), and acks=0 (a row
#    with no response, not an error).
# Last line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
FR=${FR_ASAN:-build/asan}/flightrec
[[ -x $FR ]] || FR=${FR_BUILD:-build}/flightrec
pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
command -v kcat >/dev/null || { bad "kcat is not installed (tests/deps.sh installs it)"; echo "kafka-kcat: $pass passed, $fail failed"; exit 1; }
tmp=$(mktemp -d /tmp/fr-kcat.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# talk NAME STUB-OPTIONS -- KCAT-ARGS: runs the stub and kcat (stdin: the
# messages), leaves $tmp/NAME.pcap, $tmp/NAME.db and the port in $port.
talk() {
  local name=$1; shift
  local stub=() ; while [[ $1 != -- ]]; do stub+=("$1"); shift; done; shift
  rm -f "$tmp/port"
  python3 tests/unit/kafka_stub.py "$tmp/port" "$tmp/$name.pcap" "${stub[@]}" &
  local pid=$!
  for _ in $(seq 100); do [[ -s $tmp/port ]] && break; sleep 0.1; done
  port=$(cat "$tmp/port")
  timeout 10 kcat -b "127.0.0.1:$port" -X socket.timeout.ms=3000 "$@" > "$tmp/$name.out" 2>&1
  wait "$pid"
  "$FR" analyze -q "$tmp/$name.pcap" -o "$tmp/$name.db" 2> "$tmp/$name.err" || bad "$name: analyze failed: $(head -2 "$tmp/$name.err")"
}
q() { sqlite3 -separator ' ' "$tmp/$1.db" "$2"; }
oracle() { # NAME: the rows against tshark
  local out
  if out=$(python3 tests/unit/oracle_tshark.py kafka "$tmp/$1.pcap" "$tmp/$1.db" --decode-as "tcp.port==$port,kafka" 2>&1); then
    ok "$1: $out"; else bad "$1: differs from tshark:"; echo "$out" | sed 's/^/     /'; fi
}

# Metadata at every version
for v in 0 1 2 3 4 12; do
  talk "meta$v" --metadata-max "$v" --stop-api 3 --seconds 6 -- -L -m 1 -t orders
  # librdkafka may first refresh the broker list (a Metadata request naming
  # no topic), one or more times: the request that names the topic counts
  got=$(q "meta$v" "select k.api_version, k.topic, k.client_id from kafka k where k.api = 'Metadata' and k.topic = 'orders' limit 1")
  read -r mv topic client <<< "$got"
  sw=$(q "meta$v" "select detail from kafka where api = 'ApiVersions'")
  if [[ -n $mv ]] && ((mv <= v)) && [[ $topic == orders && $client == rdkafka && $sw == software=librdkafka* ]]; then
    ok "kcat -L: stub offers Metadata v0-$v, client sends v$mv for topic $topic ($sw)"
  else bad "kcat -L with Metadata v0-$v: got '$got' / '$sw'"; fi
  ((v == 4 || v == 12)) && oracle "meta$v" # tshark takes ~10 s a run here
done

# Produce: three messages
printf 'one\ntwo\nthree\n' > "$tmp/msgs"
talk produce3 --produce-max 8 --stop-api -1 --seconds 4 -- -P -t orders -X acks=1 < "$tmp/msgs"
got=$(q produce3 "select count(*), sum(records), min(acks), max(error), group_concat(distinct status) from requests r join kafka k on k.request_id = r.id where k.api = 'Produce'")
read -r n recs acks err st <<< "$got"
if ((n >= 1)) && [[ $recs == 3 && $acks == 1 && $err == 0 && $st == NONE ]]; then ok "kcat -P: $n Produce request(s), 3 records, acks=1, answered NONE"
else bad "kcat -P three messages: got '$got'"; fi
oracle produce3

# Produce: gzip
head -c 4096 /dev/zero | tr '\0' 'a' > "$tmp/big"; echo >> "$tmp/big"
talk gzip --produce-max 8 --stop-api 0 --seconds 6 -- -P -t orders -z gzip -X acks=-1 < "$tmp/big"
got=$(q gzip "select k.api_version, k.records, k.compression, k.acks, k.topic from kafka k where k.api = 'Produce'")
read -r pv recs codec acks topic <<< "$got"
if [[ $recs == 1 && $codec == gzip && $acks == -1 && $topic == orders ]]; then ok "kcat -P -z gzip: Produce v$pv, 1 record, codec gzip, acks=-1"
else bad "kcat -P -z gzip: got '$got'"; fi
oracle gzip

# Produce: acks=0
talk acks0 --produce-max 8 --stop-api 0 --seconds 6 -- -P -t orders -X acks=0 < "$tmp/msgs"
got=$(q acks0 "select r.error, r.reason, r.status is null from requests r join kafka k on k.request_id = r.id where k.api = 'Produce'" | head -1)
if [[ $got == "0 acks=0: no response by design 1" ]]; then ok "kcat -P acks=0: a row without response, not an error"
else bad "kcat -P acks=0: got '$got'"; fi
oracle acks0

# SASL PLAIN: the handshake and the authentication paired, the password
# in no row (the analyzer never reads SaslAuthenticate's bytes)
talk sasl --sasl --stop-api 3 --seconds 6 -- -L -m 1 -t orders -X security.protocol=SASL_PLAINTEXT \
  -X sasl.mechanisms=PLAIN -X sasl.username=alice -X sasl.password=FRSECRETkcat
got=$(q sasl "select k.api, k.api_version, coalesce(r.status, '-'), r.error, coalesce(k.detail, '-') from requests r join kafka k on k.request_id = r.id where k.api like 'Sasl%' order by r.start_ns" | tr '\n' '|')
if [[ $got == "SaslHandshake 1 NONE 0 mechanism=PLAIN|SaslAuthenticate "[01]" NONE 0 -|" ]] &&
   ! "$FR" dump "$tmp/sasl.db" | grep -q FRSECRETkcat && grep -q FRSECRETkcat "$tmp/sasl.pcap"; then
  ok "kcat SASL PLAIN: $got the password in the capture, not in the database"
else bad "kcat SASL PLAIN: got '$got'"; "$FR" dump "$tmp/sasl.db" | grep -c FRSECRETkcat; fi

echo "kafka-kcat: $pass passed, $fail failed"
((fail == 0))
