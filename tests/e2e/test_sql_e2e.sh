#!/usr/bin/env bash
# e2e (issue 14): the recorder's recording of real MariaDB and PostgreSQL
# servers (pod "srv") and their real clients (pod "cli"): the mariadb
# client, Perl DBD::MariaDB with server-side prepared statements, psql
# (simple queries, an error with detail, COPY, a login failure), pgbench
# -M prepared (Parse/Bind/Execute), psycopg2; a statement prepared before
# the recording started.  Analyzed: every statement, its rows, its error;
# every EXECUTE / Execute row carries its SQL text; no secret reaches the
# database.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
source tests/e2e/sql_lib.sh
fr_init
T=$FR_TMP
FR="$FR_BUILD/flightrec"
SQL_DB=$T/a.db
/usr/bin/python3 -c 'import psycopg2' 2>/dev/null || fr_die "python3-psycopg2 missing (make deps)"
sql_servers

# A connection that prepares before the recording and executes after it
cat >"$T/early.pl" <<'PL'
use DBI;
my ($host, $pw, $go) = @ARGV;
my $d = DBI->connect("DBI:MariaDB:database=e2e;host=$host", 'app', $pw, {RaiseError => 1, mariadb_server_prepare => 1});
my $s = $d->prepare('SELECT ? + 1 AS early');
$s->execute(1); $s->fetchall_arrayref;
open(my $f, '>', "$go.ready"); close($f);
sleep 0.05 until -e $go;
$s->execute(41); $s->fetchall_arrayref;
PL
cat >"$T/early-pg.pl" <<'PL'
use DBI;
my ($host, $pw, $go) = @ARGV;
my $d = DBI->connect("DBI:Pg:dbname=app;host=$host", 'e2e', $pw, {RaiseError => 1});
my $s = $d->prepare('SELECT $1::int + 1 AS early');
for (1 .. 2) { $s->execute(1); $s->fetchall_arrayref; } # DBD::Pg Parses at the second
open(my $f, '>', "$go.ready-pg"); close($f);
sleep 0.05 until -e $go;
$s->execute(41); $s->fetchall_arrayref;
PL
rm -f "$T/go"
fr_run cli client perl "$T/early.pl" "$SRV" "$MYPW" "$T/go"
fr_run cli client perl "$T/early-pg.pl" "$SRV" "$PGPW" "$T/go"
for i in $(seq 1 100); do [[ -e $T/go.ready && -e $T/go.ready-pg ]] && break; sleep 0.1; done

fr_podlist "$T/pods.json"
fr_record -o "$T/rec" --snaplen 65536 --pods "$T/pods.json" --cgroup "$(fr_slice srv)" --cgroup "$(fr_slice cli)" ||
	fr_die "recorder"
touch "$T/go"

# MariaDB client: DDL, inserts, a select of 3000 rows, an unknown column, a
# duplicate key; a compressed connection; a login failure
my -e "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(32));
	INSERT INTO t SELECT seq, concat('row', seq) FROM seq_1_to_3000;
	SELECT * FROM t WHERE id > 0;" >/dev/null
my -e "SELECT nocol FROM t" 2>/dev/null
my -e "INSERT INTO t VALUES (1, 'dup')" 2>/dev/null
# the compressed protocol (zlib): rows, a value over 16 MiB (plain packets
# run on across compressed ones), an error
my --compress --max-allowed-packet=64M -e "SELECT 42 AS zipped; SELECT * FROM t WHERE id <= 2000;
	SELECT repeat('z', 20000000) AS zipped_big; SELECT zipped_nocol FROM t" >/dev/null 2>&1
fr_exec cli client mariadb --no-defaults -h "$SRV" -u app -pwrong-pw e2e -e "SELECT 1" 2>/dev/null
# DBD::MariaDB with server-side prepared statements: one executed 50 times
cat >"$T/ps.pl" <<'PL'
use DBI;
my ($host, $pw) = @ARGV;
my $d = DBI->connect("DBI:MariaDB:database=e2e;host=$host", 'app', $pw, {RaiseError => 1, mariadb_server_prepare => 1});
my $s = $d->prepare('SELECT v FROM t WHERE id = ?');
for my $i (1 .. 50) { $s->execute($i); $s->fetchall_arrayref; }
my $u = $d->prepare('UPDATE t SET v = ? WHERE id = ?');
$u->execute('changed', 7);
PL
fr_exec cli client perl "$T/ps.pl" "$SRV" "$MYPW"

# PostgreSQL: psql, an error with detail, COPY, a login failure
pg -c "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'); SELECT * FROM t;" >/dev/null
pg -c "INSERT INTO t VALUES (1, 'dup')" 2>/dev/null
printf '2\tb\n3\tc\n4\td\n' | pg -c "\\copy t FROM STDIN"
PGPASSWORD=wrong-pw fr_exec cli client psql -h "$SRV" -U e2e -d app -X -c "SELECT 1" 2>/dev/null
# pgbench: initialise, then the extended protocol with named statements
PGPASSWORD=$PGPW fr_exec cli client pgbench -h "$SRV" -U e2e -i -s 1 -q app >/dev/null 2>&1
PGPASSWORD=$PGPW fr_exec cli client pgbench -h "$SRV" -U e2e -M prepared -c 1 -t 100 -n app >"$T/pgbench.out" 2>&1
# psycopg2: parameters interpolated by the client; SQL-level PREPARE/EXECUTE
cat >"$T/pg.py" <<'PY'
import sys, psycopg2
c = psycopg2.connect(host=sys.argv[1], user='e2e', password=sys.argv[2], dbname='app', application_name='e2e-py')
k = c.cursor()
k.execute("SELECT v FROM t WHERE id = %s", (2,)); k.fetchall()
k.execute("PREPARE byid (int) AS SELECT v FROM t WHERE id = $1")
for i in range(3):
    k.execute("EXECUTE byid (%s)", (i,)); k.fetchall()
c.commit()
PY
fr_exec cli client /usr/bin/python3 "$T/pg.py" "$SRV" "$PGPW"
sleep 0.5
fr_record_stop || fr_die "recorder did not stop cleanly"

"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/a.db"
# the recorder overwrote the auth data (capture/redact.c), both ends
"$FR" cat --payload 300 "$T/rec" >"$T/cat.txt"
read -r my_logins my_open pg_pw pg_open < <(python3 - "$T/cat.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read().splitlines()
login = [l for l in t if 'app\\x00\\x14' in l]            # user "app", 20-byte auth response
pw = [l for l in t if re.search(r'"p\\x00\\x00\\x00', l)]  # PasswordMessage / SASL
print(len(login), sum('app\\x00\\x14' + '*' * 20 + 'e2e' not in l for l in login),
      len(pw), sum(not re.search(r'"p(\\x00){3}(\\x[0-9a-f]{2}|.)\*+', l) for l in pw))
PY
)
check "recording: $my_logins MySQL logins, auth responses overwritten, user and db kept" \
	test "$my_logins" -ge 10 -a "$my_open" = 0
check "recording: $pg_pw PostgreSQL password / SASL messages overwritten" test "$pg_pw" -ge 10 -a "$pg_open" = 0
check "analyze exit 0" test $? = 0
[[ -n ${FR_KEEP_DB:-} ]] && cp -r "$T/a.db" "$T/rec" "$FR_KEEP_DB" # for a look after the run

# ---- MySQL -------------------------------------------------------------------
C="from requests r join mysql m on m.request_id = r.id where r.side = 'client'"
eq "mysql: logins (OK, OK, ..., access denied 1045)" "1045" \
	"select group_concat(distinct m.error_code) $C and m.command = 'LOGIN' and m.error_code is not null"
ge "mysql: successful logins with user and database" 5 \
	"select count(*) $C and m.command = 'LOGIN' and r.status = 'OK' and m.user = 'app' and m.database = 'e2e'"
eq "mysql: the select returns 3000 rows" "3000" "select m.rows $C and m.statement like 'SELECT * FROM t WHERE id > 0%'"
eq "mysql: unknown column is error 1054 42S22" "1054|42S22" \
	"select m.error_code, m.sql_state $C and m.statement = 'SELECT nocol FROM t'"
eq "mysql: duplicate key is error 1062" "1062|1" "select m.error_code, r.error $C and m.statement like 'INSERT INTO t VALUES (1, %'"
eq "mysql: 3000 rows inserted" "3000" "select m.affected_rows $C and m.statement like 'INSERT INTO t SELECT%'"
eq "mysql: 50 EXECUTEs of the prepared select, each with its SQL and parameter" "50|50" \
	"select count(*), count(distinct m.params) $C and m.command = 'STMT_EXECUTE' and m.statement = 'SELECT v FROM t WHERE id = ?'"
eq "mysql: the UPDATE's parameters decoded (DBD::MariaDB binds strings)" "'changed', '7'|1" \
	"select m.params, m.affected_rows $C and m.command = 'STMT_EXECUTE' and m.statement like 'UPDATE t SET v = ?%'"
eq "mysql: every EXECUTE row carries SQL text" "0" \
	"select count(*) $C and m.command = 'STMT_EXECUTE' and (m.statement is null or m.statement = '')"
eq "mysql: the statement prepared before the recording is named unknown, and counted" "1|1" \
	"select (select count(*) $C and m.command = 'STMT_EXECUTE' and m.statement like '<unknown statement %>'),
	  (select count(*) > 0 from anomalies where kind = 'unknown_statement')"
eq "mysql --compress: rows, a 20 MB value and an error decoded" "1|2000|1|1054" \
	"select (select m.rows $C and m.statement = 'SELECT 42 AS zipped') || '|' ||
	  (select m.rows $C and m.statement like 'SELECT * FROM t WHERE id <= 2000%') || '|' ||
	  (select m.rows $C and m.statement like 'SELECT repeat(%' and r.resp_bytes > 20000000) || '|' ||
	  (select m.error_code $C and m.statement like 'SELECT zipped_nocol FROM t%')"
eq "mysql --compress: no parse error, nothing left undecoded" "0" \
	"select count(*) from anomalies where detail like 'mysql:%' and (kind = 'parse_error' or kind = 'not_decoded')
	  and conn_id in (select r.conn_id $C and m.statement = 'SELECT 42 AS zipped')"
eq "mysql: endpoints are normalised statements" "1" \
	"select count(*) > 0 from requests where protocol = 'mysql' and side = 'client' and endpoint = 'SELECT v FROM t WHERE id = ?' and summary like 'STMT_EXECUTE%'"

# ---- PostgreSQL ----------------------------------------------------------------
P="from requests r join pgsql p on p.request_id = r.id where r.side = 'client'"
eq "pgsql: one row per statement of a multi-statement query" "CREATE TABLE|INSERT 0 1|SELECT 1" \
	"select group_concat(p.command_tag, '|') from (select p.command_tag $P and p.kind = 'simple'
	  and p.statement in ('CREATE TABLE t (id int PRIMARY KEY, v text)', 'INSERT INTO t VALUES (1, ''a'')', 'SELECT * FROM t') order by r.start_ns) p"
eq "pgsql: duplicate key error with SQLSTATE, severity and detail" "23505|ERROR|Key (id)=(1) already exists." \
	"select p.sqlstate, p.severity, p.detail $P and p.statement = 'INSERT INTO t VALUES (1, ''dup'')'"
eq "pgsql: COPY rows (psql \\copy, then pgbench -i's 100000)" "COPY 3|3
COPY 100000|100000" "select p.command_tag, p.rows $P and p.kind = 'copy' order by r.start_ns"
eq "pgsql: login failure" "28P01" "select group_concat(p.sqlstate) $P and p.kind = 'startup' and p.sqlstate is not null"
ge "pgsql: startups with user, database and SCRAM" 5 \
	"select count(*) $P and p.kind = 'startup' and p.user = 'e2e' and p.database = 'app' and p.command_tag = 'SCRAM-SHA-256'"
ge "pgsql: pgbench -M prepared: 100 transactions of Executes" 700 \
	"select count(*) $P and p.kind = 'extended' and p.statement_name like 'P%'"
eq "pgsql: every Execute row carries SQL text" "0" \
	"select count(*) $P and p.kind = 'extended' and (p.statement is null or p.statement = '')"
eq "pgsql: bound parameters of pgbench's UPDATE" "1" \
	"select count(*) > 0 $P and p.kind = 'extended' and p.statement like 'UPDATE pgbench_accounts%' and p.params like '''%'', ''%'''"
eq "pgsql: the statement prepared before the recording is named unknown, and counted" "1|1" \
	"select (select count(*) $P and p.kind = 'extended' and p.statement like '<unknown statement %>'),
	  (select count(*) > 0 from anomalies where kind = 'unknown_statement' and detail like 'pgsql:%')"
eq "pgsql: psycopg2's application_name" "1" "select count(*) > 0 $P and p.application_name = 'e2e-py'"
eq "pgsql: notices are messages" "1" "select count(*) > 0 from messages where kind = 'notice' and protocol = 'pgsql'"

# ---- both ---------------------------------------------------------------------
eq "sql_statements: pgbench's UPDATE and the prepared select, grouped by normalised text" "pgsql|100
mysql|50" "select protocol, executions from sql_statements where
	  (protocol = 'pgsql' and statement = 'UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?;')
	  or (protocol = 'mysql' and statement = 'SELECT v FROM t WHERE id = ?') order by protocol desc"
eq "no password or auth secret in the database" "" \
	"select 'leak' from requests where summary like '%secret-pw%' union all
	 select 'leak' from mysql where coalesce(statement,'')||coalesce(params,'') like '%secret-pw%' union all
	 select 'leak' from pgsql where coalesce(statement,'')||coalesce(params,'') like '%secret-pw%'"
check "report: SQL statements by total time" bash -c "'$FR' report '$T/a.db' | grep -A2 'SQL statements by total time' | grep -qE '^  (pgsql|mysql) '"
"$FR" dump "$T/a.db" >"$T/d1.txt"
check "dump has no password" bash -c "! grep -q 'secret-pw' '$T/d1.txt'"
"$FR" analyze -q "$T/rec" --pods "$T/pods.json" -o "$T/b.db" -j 2 && "$FR" dump "$T/b.db" >"$T/d2.txt"
check "dump identical for -j1 and -j2" cmp -s "$T/d1.txt" "$T/d2.txt"
fr_finish
