# tests/e2e/sql_lib.sh - a real MariaDB and PostgreSQL server in pod "srv",
# for the SQL e2e tests (source it after lib.sh and fr_init).
#
#   sql_servers   creates pods srv (mariadb, postgres) and cli (client),
#                 starts mariadbd (database e2e, user app / $MYPW) and
#                 postgres 15 (initdb as nobody, user e2e / $PGPW over
#                 scram, database app); sets SRV, MYPW, PGPW, PGBIN
#   my ARGS...    the mariadb client in cli, logged in as app to e2e
#   pg ARGS...    psql in cli, logged in as e2e to app
#   q SQL         runs SQL on the database $SQL_DB
#   eq NAME EXPECTED SQL   one check: SQL's output is EXPECTED
#   ge NAME MIN SQL        one check: SQL's number is at least MIN

PGBIN=/usr/lib/postgresql/15/bin
MYPW=my-secret-pw-4711
PGPW=pg-secret-pw-4712

sql_servers() {
	local b i T=$FR_TMP
	for b in mariadbd mariadb-install-db mariadb perl; do command -v $b >/dev/null || fr_die "$b missing (make deps)"; done
	[[ -x $PGBIN/postgres ]] || fr_die "postgresql-15 missing (make deps)"
	perl -MDBD::MariaDB -MDBD::Pg -e 1 2>/dev/null || fr_die "DBD::MariaDB / DBD::Pg missing (make deps)"
	fr_pod srv
	fr_container srv mariadb mariadb:10.11
	fr_container srv postgres postgres:15
	fr_pod cli
	fr_container cli client debian:12
	SRV=${FR_IP[srv]}
	# MariaDB: a data directory of this run, root over the socket, user app
	mariadb-install-db --no-defaults --datadir="$T/my" --user=root --auth-root-authentication-method=socket \
		>"$T/my-install.log" 2>&1 || fr_die "mariadb-install-db"
	fr_run srv mariadb mariadbd --no-defaults --datadir="$T/my" --user=root --socket="$T/my.sock" \
		--bind-address="$SRV" --port=3306 --skip-name-resolve --log-error="$T/my.err" --pid-file="$T/my.pid" \
		--max-allowed-packet=64M
	# PostgreSQL: initdb as an unprivileged user, scram over TCP
	chmod 711 "$T"
	mkdir -p "$T/pg" "$T/pgsock" && chown nobody "$T/pg" "$T/pgsock"
	echo "$PGPW" >"$T/pgpw" && chown nobody "$T/pgpw"
	runuser -u nobody -- "$PGBIN/initdb" -D "$T/pg" -U e2e --pwfile="$T/pgpw" --auth-local=trust \
		--auth-host=scram-sha-256 >"$T/pg-init.log" 2>&1 || fr_die "initdb"
	echo "host all all 0.0.0.0/0 scram-sha-256" >>"$T/pg/pg_hba.conf"
	fr_run srv postgres runuser -u nobody -- "$PGBIN/postgres" -D "$T/pg" -k "$T/pgsock" -h "$SRV" -p 5432
	fr_wait_port "$SRV" 3306 && fr_wait_port "$SRV" 5432 || fr_die "a server did not start"
	for i in $(seq 1 100); do [[ -S $T/my.sock ]] && break; sleep 0.1; done
	mariadb --no-defaults --socket="$T/my.sock" -uroot -e "CREATE DATABASE e2e;
		CREATE USER 'app'@'%' IDENTIFIED BY '$MYPW'; GRANT ALL ON e2e.* TO 'app'@'%';" || fr_die "mariadb setup"
	runuser -u nobody -- "$PGBIN/psql" -h "$T/pgsock" -U e2e -d postgres -qc "CREATE DATABASE app" || fr_die "pg setup"
}

my() { fr_exec cli client mariadb --no-defaults -h "$SRV" -u app -p"$MYPW" e2e "$@"; }
pg() { PGPASSWORD=$PGPW fr_exec cli client psql -h "$SRV" -U e2e -d app -X -q "$@"; }

q() { sqlite3 -batch -noheader "$SQL_DB" "$@"; }
eq() { # NAME EXPECTED SQL
	local got
	got=$(q "$3")
	if [[ $got == "$2" ]]; then check "$1" true; else
		echo "   expected: $(echo "$2" | head -5 | tr '\n' '|')"
		echo "   got:      $(echo "$got" | head -5 | tr '\n' '|')"
		check "$1" false
	fi
}
ge() { # NAME MIN SQL: the query's number is at least MIN
	local got
	got=$(q "$3")
	if [[ $got =~ ^[0-9]+$ ]] && ((got >= $2)); then check "$1" true; else
		echo "   expected >= $2, got: $got"
		check "$1" false
	fi
}
