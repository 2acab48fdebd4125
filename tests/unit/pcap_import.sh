#!/usr/bin/env bash
# pcap_import.sh - `flightrec import-pcap` checked by an independent decoder.
#
# For every capture under ../shared/captures (beside the repository), import
# it and compare, per TCP connection and direction, the reassembled payload
# bytes with what tshark's "Follow TCP stream" reassembly gives
# (`tshark -q -z follow,tcp,raw,N`), and per UDP flow the datagram bytes
# (`-z follow,udp,raw,N`).  Then the error paths: a truncated capture (exit
# 1, the packets before the cut imported), a gzip-compressed one (same bytes
# as the plain file), garbage (exit 2), pcapng (converted by editcap).
#
# Prints one ok/FAIL line per check and "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
FR=${FR_ASAN:-build/asan}/flightrec
[[ -x $FR ]] || FR=${FR_BUILD:-build}/flightrec
CAPS=${FR_CAPTURES:-../shared/captures}
tmp=$(mktemp -d /tmp/fr-pcap-import.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# Compares the DATA bytes of a recording with tshark's own decoding of the
# same capture (tests/unit/pcap_oracle.py says how).
compare() { # capture recording
  local cap=$1 rec=$2
  tshark -r "$cap" -Y '(tcp || udp) && !icmp && !icmpv6' -T fields -E separator=/t -E occurrence=l \
    -e tcp.stream -e udp.stream -e ip.src -e ipv6.src -e ip.dst -e ipv6.dst \
    -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport -e tcp.seq_raw -e tcp.flags.syn \
    -e tcp.payload -e udp.payload 2>/dev/null > "$tmp/fields.txt"
  "$FR" cat --json "$rec" > "$tmp/cat.json" || { echo "cat failed"; return 1; }
  python3 tests/unit/pcap_oracle.py "$tmp/fields.txt" "$tmp/cat.json"
}

n=0
shopt -s nullglob
caps=("$CAPS"/*/*.pcap "$CAPS"/*/*.pcapng)
((${#caps[@]})) || { bad "no captures in $CAPS"; echo "pcap_import: $pass passed, $fail failed"; exit 1; }
for cap in "${caps[@]}"; do
  name=$(basename "$(dirname "$cap")")/$(basename "$cap")
  rec=$tmp/rec$((n++))
  if ! "$FR" import-pcap -q "$cap" -o "$rec" 2> "$tmp/err"; then bad "$name: import failed: $(head -3 "$tmp/err")"; continue; fi
  if out=$(compare "$cap" "$rec"); then ok "$name: $(tail -1 <<< "$out")"; else bad "$name:"; echo "$out" | sed 's/^/     /'; fi
done

# gzip: the same records as the plain file
cap=$CAPS/http/zeek-get.pcap
gzip -c "$cap" > "$tmp/z.pcap.gz"
"$FR" import-pcap -q "$cap" -o "$tmp/plain" && "$FR" import-pcap -q "$tmp/z.pcap.gz" -o "$tmp/gz"
if cmp -s <("$FR" cat --json "$tmp/plain" | grep -v '"MARK"') <("$FR" cat --json "$tmp/gz" | grep -v '"MARK"'); then
  ok "gzip-compressed capture: same records"; else bad "gzip-compressed capture differs"; fi

# pcapng (written by editcap): the same records
editcap -F pcapng "$cap" "$tmp/x.pcapng" 2>/dev/null
"$FR" import-pcap -q "$tmp/x.pcapng" -o "$tmp/ng"
if cmp -s <("$FR" cat --json "$tmp/plain" | grep -v '"MARK"') <("$FR" cat --json "$tmp/ng" | grep -v '"MARK"'); then
  ok "pcapng capture: same records"; else bad "pcapng capture differs"; fi

# other link types, VLAN tags and IPv4 fragments (frames rewritten by
# pcap_relink.py): the same records as the Ethernet original
for cap2 in "$CAPS/http/zeek-get.pcap" "$CAPS/mysql/deepflow-mysql-statement.pcap" "$CAPS/dns/zeek-dns-binds.pcap"; do
  base=$(basename "$cap2" .pcap)
  [[ -f $cap2 ]] || continue
  "$FR" import-pcap -q "$cap2" -o "$tmp/ref-$base"
  for kind in sll sll2 raw null loop vlan ipv4frag; do
    python3 tests/unit/pcap_relink.py "$cap2" "$tmp/$base-$kind.pcap" "$kind"
    "$FR" import-pcap -q "$tmp/$base-$kind.pcap" -o "$tmp/$base-$kind"
    if cmp -s <("$FR" cat --json "$tmp/ref-$base" | grep -v '"MARK"') <("$FR" cat --json "$tmp/$base-$kind" | grep -v '"MARK"'); then
      ok "$base as $kind: same records"; else bad "$base as $kind: records differ"; fi
  done
done

# truncated: cut in the middle of a packet -> exit 1, earlier packets kept
size=$(stat -c %s "$cap")
head -c $((size - 700)) "$cap" > "$tmp/cut.pcap"
"$FR" import-pcap -q "$tmp/cut.pcap" -o "$tmp/cut" 2> "$tmp/cut.err"
rc=$?
if ((rc == 1)) && grep -q 'stopped after packet' "$tmp/cut.err" &&
   "$FR" cat "$tmp/cut" > "$tmp/cut.txt" && grep -q 'GET /download' "$tmp/cut.txt"; then
  ok "truncated capture: exit 1, '$(grep -o 'stopped after packet [0-9]*' "$tmp/cut.err")', request kept"
else bad "truncated capture: rc=$rc $(cat "$tmp/cut.err")"; fi

# garbage and missing files -> exit 2, nothing half-written
head -c 5000 /dev/urandom > "$tmp/junk.pcap"
"$FR" import-pcap -q "$tmp/junk.pcap" -o "$tmp/junk" 2>/dev/null
rc=$?
if ((rc == 2)) && [[ -z $(find "$tmp/junk" -name '*.frs' 2>/dev/null) ]]; then ok "not a capture: exit 2"; else bad "not a capture: rc=$rc"; fi
"$FR" import-pcap -q "$tmp/nonexistent.pcap" -o "$tmp/none" 2>/dev/null
(($? == 2)) && ok "missing file: exit 2" || bad "missing file: exit code"
"$FR" import-pcap -q "$cap" -o "$tmp/plain" 2>/dev/null
(($? == 2)) && ok "output holding segments is refused" || bad "output holding segments accepted"
"$FR" import-pcap --help > "$tmp/help.txt"; grep -q 'ONE connection' "$tmp/help.txt" && ok "--help describes the record model" || bad "--help"

# bounded memory: 20,000 connections that never finish, each with a hole and
# 1000 bytes waiting behind it; with --max-flows 1000 --max-buffer 1M the
# import holds at most 1000 flows and 1 MB (peak RSS of the plain build)
python3 tests/unit/pcap_gen.py "$tmp/many.pcap" 20000
PLAIN=${FR_BUILD:-build}/flightrec
[[ -x $PLAIN ]] || PLAIN=$FR
/usr/bin/time -f '%M' -o "$tmp/many.rss" "$PLAIN" import-pcap "$tmp/many.pcap" -o "$tmp/many" --max-flows 1000 --max-buffer 1M 2> "$tmp/many.err"
rss=$(tail -1 "$tmp/many.rss")
if grep -q 'at most 1000 flows' "$tmp/many.err" && grep -q '19000 evicted' "$tmp/many.err" && ((rss < 40000)); then
  ok "bounded memory: 20000 open connections with holes, at most 1000 flows, peak RSS $((rss / 1024)) MB"
else bad "bounded memory: rss ${rss} KB"; cat "$tmp/many.err"; fi

# --pods/--services: kubectl JSON becomes POD and SERVICE records at the
# start of the segment; export-pcap --pod selects by the pod's address
cat > "$tmp/pods.json" <<'JSON'
{"apiVersion": "v1", "kind": "List", "items": [
 {"metadata": {"name": "wget-7d9c-x2", "namespace": "lab", "uid": "u1",
   "labels": {"app": "wget", "pod-template-hash": "7d9c"},
   "ownerReferences": [{"kind": "ReplicaSet", "name": "wget-7d9c", "controller": true}]},
  "spec": {"nodeName": "node-a"},
  "status": {"podIP": "141.142.228.5", "podIPs": [{"ip": "141.142.228.5"}],
   "containerStatuses": [{"name": "wget", "image": "busybox", "containerID": "containerd://abc123"}]}}]}
JSON
cat > "$tmp/svcs.json" <<'JSON'
{"kind": "List", "items": [{"metadata": {"name": "bro", "namespace": "lab"},
  "spec": {"clusterIP": "192.150.187.43", "clusterIPs": ["192.150.187.43"],
   "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}], "selector": {"app": "bro"}}}]}
JSON
if "$FR" import-pcap -q "$cap" -o "$tmp/pods" --node node-a --pods "$tmp/pods.json" --services "$tmp/svcs.json" &&
   "$FR" cat "$tmp/pods" > "$tmp/pods.txt" && "$FR" cat --json "$tmp/pods" > "$tmp/pods.jsonl" &&
   "$FR" info "$tmp/pods" > "$tmp/pods.info" && grep -q 'POD.*wget-7d9c-x2' "$tmp/pods.txt" &&
   grep -q '"owner_name":"wget"' "$tmp/pods.jsonl" && grep -q 'SERVICE.*bro' "$tmp/pods.txt" &&
   grep -q 'node:.*node-a' "$tmp/pods.info"; then
  ok "--pods/--services: POD (owner Deployment wget) and SERVICE records, --node"
else bad "--pods/--services"; "$FR" cat "$tmp/pods" | head -5; fi
"$FR" export-pcap "$tmp/pods" --pod lab/wget-7d9c-x2 -o "$tmp/pod.pcapng" 2>/dev/null
p1=$(tshark -r "$tmp/pod.pcapng" 2>/dev/null | wc -l)
"$FR" export-pcap "$tmp/pods" --pod nosuchpod -o "$tmp/nopod.pcapng" 2>/dev/null
rc=$?
((p1 > 0 && rc == 2)) && [[ ! -e $tmp/nopod.pcapng ]] &&
  ok "export-pcap --pod: $p1 packets for the pod; another matches nothing: exit 2, no file" ||
  bad "export --pod: $p1 packets / exit $rc"
tshark -r "$tmp/pod.pcapng" -T fields -e frame.comment 2>/dev/null > "$tmp/comments.txt"
head -1 "$tmp/comments.txt" | grep -q 'pod=lab/wget-7d9c-x2' &&
  ok "packet comments name the pod" || bad "packet comments"
echo '{"items": [' > "$tmp/badpods.json"
"$FR" import-pcap -q "$cap" -o "$tmp/badpods" --pods "$tmp/badpods.json" 2>/dev/null
(($? == 2)) && ok "a bad --pods file: exit 2" || bad "bad --pods file accepted"

echo "pcap_import: $pass passed, $fail failed"
((fail == 0))
