#!/usr/bin/env bash
# e2e (issue 14): statements prepared before the window.  A connection pool
# prepares once and executes for hours; the ring keeps minutes.  Two real
# clients (Perl DBD::MariaDB with server-side prepared statements, DBD::Pg
# with a named statement Parsed at prepare) connect while the recorder runs
# with a small ring, prepare, then execute every 50 ms while bulk SELECTs
# rotate the ring past their start; then a snapshot.  Its kept connection
# heads (CONN_HEAD) hold the COM_STMT_PREPARE / Parse: the analyzer replays
# them before the window, so every EXECUTE / Execute row of the snapshot
# carries the SQL text.  The control: the snapshot's segments from before
# the trigger (no heads among them) name the statements unknown.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
source tests/e2e/sql_lib.sh
fr_init
T=$FR_TMP
FR=$FR_BUILD/flightrec
sql_servers

cat >"$T/pool-my.pl" <<'PL'
use DBI;
use Time::HiRes qw(sleep);
my ($host, $pw, $stop) = @ARGV;
my $d = DBI->connect("DBI:MariaDB:database=e2e;host=$host", 'app', $pw, {RaiseError => 1, mariadb_server_prepare => 1});
my $s = $d->prepare('SELECT ? * 2 AS pooled_my');
my $i = 0;
until (-e $stop) { $s->execute($i++); $s->fetchall_arrayref; sleep 0.05; }
PL
cat >"$T/pool-pg.pl" <<'PL'
use DBI;
use Time::HiRes qw(sleep);
my ($host, $pw, $stop) = @ARGV;
my $d = DBI->connect("DBI:Pg:dbname=app;host=$host", 'e2e', $pw, {RaiseError => 1});
my $s = $d->prepare('SELECT $1::int * 2 AS pooled_pg', {pg_prepare_now => 1});
my $i = 0;
until (-e $stop) { $s->execute($i++); $s->fetchall_arrayref; sleep 0.05; }
PL

fr_podlist "$T/pods.json"
R=$T/R
fr_record -o "$R" --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" \
	--ring-size 1M --segment-size 128K --snaplen 65536 --after 1 || fr_die "recorder"
fr_run cli client perl "$T/pool-my.pl" "$SRV" "$MYPW" "$T/stop"
fr_run cli client perl "$T/pool-pg.pl" "$SRV" "$PGPW" "$T/stop"
# bulk results until the ring has dropped its first segments (and with
# them the pool's PREPARE and Parse)
rot=0
for i in $(seq 1 60); do
	my -e "SELECT sha2(seq, 512) FROM seq_1_to_4000" >/dev/null
	if ! ls "$R" | grep -q -- '-000000.frs'; then ((++rot >= 3)) && break; fi
done
sleep 1
SNAP=$("$FR_BUILD/flightrec-record" snapshot "$R" --reason pool)
sleep 1
my -e "SELECT 1" >/dev/null
sleep 2 # past --after 1 (checked once a second)
touch "$T/stop"
sleep 0.3
fr_record_stop
check "recorder exits 0" test $? = 0
check "the ring rotated (its first segment is gone)" bash -c "! ls '$R' | grep -q -- '-000000.frs'"

"$FR" analyze -q "$SNAP" -o "$T/snap.db"
check "analyze exit 0" test $? = 0
SQL_DB=$T/snap.db
M="from requests r join mysql m on m.request_id = r.id join connections c on c.id = r.conn_id where r.side = 'client'"
P="from requests r join pgsql p on p.request_id = r.id join connections c on c.id = r.conn_id where r.side = 'client'"
eq "mysql: the pool's connection began before the snapshot, its head replayed" "1" \
	"select count(distinct c.id) $M and m.command = 'STMT_EXECUTE' and c.head = 1"
ge "mysql: EXECUTEs in the snapshot carry the statement prepared before it" 20 \
	"select count(*) $M and m.command = 'STMT_EXECUTE' and m.statement = 'SELECT ? * 2 AS pooled_my' and m.params is not null"
eq "mysql: no EXECUTE of an unknown statement" "0" \
	"select count(*) $M and m.command = 'STMT_EXECUTE' and (m.statement is null or m.statement like '<unknown%')"
eq "mysql: no PREPARE row from the replayed head" "0" "select count(*) $M and m.command = 'STMT_PREPARE'"
eq "pgsql: the pool's connection began before the snapshot, its head replayed" "1" \
	"select count(distinct c.id) $P and p.kind = 'extended' and c.head = 1"
ge "pgsql: Executes in the snapshot carry the statement Parsed before it" 20 \
	"select count(*) $P and p.kind = 'extended' and p.statement = 'SELECT \$1::int * 2 AS pooled_pg' and p.params is not null"
eq "pgsql: no Execute of an unknown statement" "0" \
	"select count(*) $P and p.kind = 'extended' and (p.statement is null or p.statement like '<unknown%')"
eq "no false failure" "" \
	"select r.id || ' ' || r.summary || ' ' || coalesce(r.reason, '') from requests r where r.error = 1
	  and coalesce(r.reason, '') != 'end of recording' and r.summary not like 'LOGIN%'"

# the control: the same window without the heads
pre=()
for f in "$SNAP"/*.frs; do
	"$FR" cat --kind CONN_HEAD "$f" | grep -q . && break
	pre+=("$f")
done
check "control: the snapshot has segments before the one with the heads (${#pre[@]})" test ${#pre[@]} -ge 1
"$FR" analyze -q "${pre[@]}" -o "$T/nohead.db"
SQL_DB=$T/nohead.db
ge "control: without the heads the pool's EXECUTEs are unknown statements" 5 \
	"select count(*) $M and m.command = 'STMT_EXECUTE' and m.statement like '<unknown statement %>' and c.head = 0"
ge "control: without the heads the pool's Executes are unknown statements" 5 \
	"select count(*) $P and p.kind = 'extended' and p.statement like '<unknown statement %>' and c.head = 0"
fr_finish
