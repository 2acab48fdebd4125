#!/usr/bin/env bash
# pcap_analyze_oracle.sh - the analyzer on imported captures, checked by
# tshark on the same files (issue 5's oracle tests).
#
# For each capture in ../shared/captures/{http,dns}: import-pcap, analyze,
# then compare as multisets (order-free):
#   HTTP: request method + path (tshark http.request.method, http.request.uri)
#         and response status codes (http.response.code);
#   DNS:  query name + type of the queries, name + rcode of the responses.
# Redis is not compared: tshark 4.0 (Debian 12) has no RESP dissector.
# Exceptions (tshark counts differently, reasoned) are listed below.
# Prints one ok/FAIL line per check and "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
FR=${FR_ASAN:-build/asan}/flightrec
[[ -x $FR ]] || FR=${FR_BUILD:-build}/flightrec
CAPS=${FR_CAPTURES:-../shared/captures}
tmp=$(mktemp -d /tmp/fr-pcap-oracle.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# capture -> reason: where tshark and the analyzer legitimately differ
declare -A except=(
)

if ! "$FR" analyze --help >/dev/null 2>&1; then
  echo "flightrec analyze is not in this build: skipped"
  echo "pcap_analyze_oracle: 0 passed, 0 failed"
  exit 0
fi

same() { # label file1 file2
  if cmp -s <(sort "$2") <(sort "$3"); then return 0; fi
  echo "     $1 differ (< tshark, > flightrec):"
  diff <(sort "$2") <(sort "$3") | grep '^[<>]' | head -8 | sed 's/^/       /'
  return 1
}

dnstype() { awk -F'\t' 'BEGIN{split("1 A 2 NS 5 CNAME 6 SOA 12 PTR 15 MX 16 TXT 28 AAAA 33 SRV 35 NAPTR 41 OPT 43 DS 46 RRSIG 48 DNSKEY 64 SVCB 65 HTTPS 255 ANY", a, " "); for (i = 1; i < length(a); i += 2) t[a[i]] = a[i+1]}
  {OFS="\t"; $2 = ($2 in t) ? t[$2] : "TYPE" $2; print}'; }
rcode() { awk -F'\t' 'BEGIN{split("0 NOERROR 1 FORMERR 2 SERVFAIL 3 NXDOMAIN 4 NOTIMP 5 REFUSED", a, " "); for (i = 1; i < length(a); i += 2) t[a[i]] = a[i+1]}
  {OFS="\t"; $2 = ($2 in t) ? t[$2] : "RCODE" $2; print}'; }

shopt -s nullglob
for cap in "$CAPS"/http/*.pcap "$CAPS"/dns/*.pcap; do
  proto=$(basename "$(dirname "$cap")") name=$proto/$(basename "$cap")
  d=$tmp/$(basename "$cap" .pcap)
  mkdir -p "$d"
  if [[ -n ${except[$name]:-} ]]; then ok "$name: exception: ${except[$name]}"; continue; fi
  "$FR" import-pcap -q "$cap" -o "$d/rec" || { bad "$name: import"; continue; }
  "$FR" analyze -q "$d/rec" -o "$d/x.db" 2> "$d/err" || { bad "$name: analyze: $(head -2 "$d/err")"; continue; }
  good=1
  if [[ $proto == http ]]; then
    tshark -r "$cap" -Y http.request -T fields -E separator=/t -e http.request.method -e http.request.uri 2>/dev/null > "$d/t.req"
    sqlite3 -separator $'\t' "$d/x.db" "select method, path from http where method is not null" > "$d/f.req"
    # interim 1xx responses (100 Continue) are not requests' answers: the
    # analyzer keeps the final status, tshark lists every response
    tshark -r "$cap" -Y 'http.response.code >= 200 || http.response.code == 101' -T fields -e http.response.code 2>/dev/null > "$d/t.resp"
    sqlite3 "$d/x.db" "select status from http where status is not null" > "$d/f.resp"
    same "requests (method, path)" "$d/t.req" "$d/f.req" || good=0
    same "response codes" "$d/t.resp" "$d/f.resp" || good=0
    summary="$(wc -l < "$d/t.req") requests, $(wc -l < "$d/t.resp") responses"
  else
    # a frame may hold several DNS messages (DNS over TCP): one line each
    tshark -r "$cap" -Y dns -T fields -E separator=/t -E occurrence=a -E aggregator=/s \
      -e dns.flags.response -e dns.qry.name -e dns.qry.type -e dns.flags.rcode 2>/dev/null |
      awk -F'\t' '{n = split($1, r, " "); split($2, q, " "); split($3, t, " "); split($4, c, " ");
        for (i = 1; i <= n; i++) print r[i] "\t" q[i] "\t" t[i] "\t" c[i]}' > "$d/t.all"
    awk -F'\t' '$1 == 0 {print $2 "\t" $3}' "$d/t.all" | dnstype > "$d/t.q"
    awk -F'\t' '$1 == 1 {print $2 "\t" $4}' "$d/t.all" | rcode > "$d/t.r"
    # queries: rows whose query was seen; responses: every row with an rcode
    # (a response without its query is a row too, as tshark lists it)
    sqlite3 -separator $'\t' "$d/x.db" "select d.qname, d.qtype from dns d join requests r on r.id = d.request_id where r.req_bytes > 0" > "$d/f.q"
    sqlite3 -separator $'\t' "$d/x.db" "select qname, rcode from dns where rcode is not null" > "$d/f.r"
    same "queries (name, type)" "$d/t.q" "$d/f.q" || good=0
    same "responses (name, rcode)" "$d/t.r" "$d/f.r" || good=0
    summary="$(wc -l < "$d/t.q") queries, $(wc -l < "$d/t.r") responses"
  fi
  ((good)) && ok "$name: $summary match tshark" || bad "$name"
done

echo "pcap_analyze_oracle: $pass passed, $fail failed"
((fail == 0))
