#!/usr/bin/env bash
# Payload bytes reach SQLite only as bound parameters (issue 11,
# privileges): SQL-injection-shaped text in a process's comm, exe and
# command line, an HTTP path, a Redis key, the input's folder and file
# names and the database's name (tests/tools/patho_gen sql-shaped) is
# stored verbatim, and the schema is the schema of any other analysis.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
gen=${FR_BUILD:-build}/patho_gen
make --no-print-directory -s BUILD="${FR_BUILD:-build}" "$gen" || { echo "sql-shaped: 0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
inj="x'); DROP TABLE requests; --\"'"
dir="$tmp/o'); DROP TABLE recording;--"
seg="s'); DROP TABLE segments;--.frs"
db="$tmp/d'); DROP TABLE http;--.db"
mkdir "$dir" && "$gen" sql-shaped "$dir/$seg"
"$bin" analyze -q "$dir" -o "$db"
t "sql_shaped_input: analyzed" test -s "$db"
"$bin" analyze -q tests/corpus/redis/basic/input.frs -o "$tmp/ref.db"
schema() { sqlite3 "$1" "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"; }
t "sql_shaped_schema_untouched: sqlite_master as in a plain analysis" cmp -s <(schema "$db") <(schema "$tmp/ref.db")
q() { sqlite3 "$db" "$1"; }
t "sql_shaped_comm_verbatim" test "$(q "SELECT comm FROM processes WHERE pid = 1000")" = "a'b;DROP--"
t "sql_shaped_exe_verbatim" test "$(q "SELECT exe FROM processes WHERE pid = 1000")" = "/bin/$inj"
t "sql_shaped_http_path_verbatim" test "$(q "SELECT path FROM http")" = "/$inj"
t "sql_shaped_redis_key_verbatim" test "$(q "SELECT key FROM redis")" = "k'); DROP TABLE redis; --\"'\"x"
t "sql_shaped_input_name_verbatim" test "$(q "SELECT value FROM recording WHERE key = 'input_files'")" = "$seg"
t "sql_shaped_rows_all_there" test "$(q "SELECT (SELECT count(*) FROM requests) || ' ' || (SELECT count(*) FROM connections)")" = "2 2"
echo "sql-shaped: $pass passed, $fail failed"
((fail == 0))
