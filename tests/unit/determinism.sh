#!/usr/bin/env bash
# The same input gives a byte-identical dump for -j1, -j2, -j4 and repeated
# runs, and the dump's SHA-256 is the one stored in the recording table.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
inputs=$(find tests/corpus -name '*.frs' | sort)
[[ -n $inputs ]] || { echo "no corpus inputs"; echo "0 passed, 1 failed"; exit 1; }
for j in 1 2 4 1; do
  $bin analyze -q -j $j $inputs -o "$tmp/j$j.db" || { echo "analyze -j$j failed"; fail=$((fail + 1)); }
  $bin dump "$tmp/j$j.db" > "$tmp/j$j.$RANDOM.dump"
done
# eviction of idle connections under a tiny --idle: still the same for every -j
for j in 1 2 3; do
  $bin analyze -q -j $j --idle 0.00005 $inputs -o "$tmp/idle$j.db" || fail=$((fail + 1))
  $bin dump "$tmp/idle$j.db" > "$tmp/idle$j.out"
done
name="dump identical with connection eviction, -j1/-j2/-j3"
check bash -c "cmp -s '$tmp/idle1.out' '$tmp/idle2.out' && cmp -s '$tmp/idle1.out' '$tmp/idle3.out'"
name="eviction happened"
check test "$(sqlite3 "$tmp/idle1.db" "select count(*) from requests where reason = 'connection evicted'")" -gt 0
first=$(ls "$tmp"/*.dump | head -1)
for d in "$tmp"/*.dump; do name="dump identical: $(basename "$d")"; check cmp -s "$first" "$d"; done
name="dump_sha256 matches the dump"
check test "$(sqlite3 "$tmp/j2.db" "select value from recording where key='dump_sha256'")" = "$(sha256sum < "$first" | cut -d' ' -f1)"
# the dump reads requests without the view when the view is ours
# (dump_requests_fast): a view of other text, read as it is, gives the same
cp "$tmp/j1.db" "$tmp/view.db"
sqlite3 "$tmp/view.db" "select sql from sqlite_master where name = 'requests'" |
  sed '1s/^CREATE VIEW requests AS SELECT/CREATE VIEW requests AS  SELECT/' > "$tmp/view.sql"
sqlite3 "$tmp/view.db" "DROP VIEW requests; $(cat "$tmp/view.sql");"
name="dump identical through the requests view itself"
check bash -c "$bin dump '$tmp/view.db' | cmp -s '$first' -"
# ... also for the view's odd cases: server side with datagram peers, a peer
# without a workload row or with a NULL one, a missing connection, no side
edit="UPDATE request_rows SET peer_addr = '10.0.0.' || (id % 3),
  side = CASE WHEN id % 2 THEN 'server' ELSE 'client' END;
  INSERT OR REPLACE INTO peer_workloads VALUES ('10.0.0.1', 'x/peer1'), ('10.0.0.2', NULL);
  UPDATE request_rows SET conn_id = 99999 WHERE id = 1; UPDATE request_rows SET conn_id = NULL WHERE id = 2;
  UPDATE request_rows SET side = NULL WHERE id = 3;"
cp "$tmp/j1.db" "$tmp/odd.db"
sqlite3 "$tmp/odd.db" "$edit"
sqlite3 "$tmp/view.db" "$edit"
name="dump identical through the requests view itself, odd rows"
check bash -c "cmp -s <($bin dump '$tmp/odd.db') <($bin dump '$tmp/view.db')"
name="requests found"
check test "$(sqlite3 "$tmp/j1.db" 'select count(*) from requests')" -gt 0
echo "determinism: $pass passed, $fail failed"
((fail == 0))
