#!/usr/bin/env bash
# Every command on a file that is not what it expects (issue 11, finding 9
# and the "hostile input" list), table-driven: each file-taking argument of
# every flightrec subcommand (and of flightrec-record) is given an empty
# file, a directory of junk, a FIFO, /dev/null and an unreadable file (mode
# 000, the command run as nobody).  Each must print one error line, exit 2
# within 20 s, and leave nothing at its output path.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${FR_ASAN:-build/asan}/flightrec")
[[ -x $bin ]] || bin=$(realpath build/flightrec)
rec=$(realpath build/flightrec-record 2>/dev/null)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }

# The bad files.  A good segment and capture for the arguments not under test.
good=$(realpath tests/corpus/redis/basic/input.frs)
mkdir "$tmp/in"
: >"$tmp/in/empty"
mkdir "$tmp/in/junkdir" && head -c 5000 /dev/urandom >"$tmp/in/junkdir/a.frs" && echo hi >"$tmp/in/junkdir/b.txt"
mkfifo "$tmp/in/fifo.frs"
head -c 3000 /dev/urandom >"$tmp/in/unreadable" && chmod 000 "$tmp/in/unreadable"
bad=(empty "$tmp/in/empty" junkdir "$tmp/in/junkdir" fifo "$tmp/in/fifo.frs" devnull /dev/null unreadable "$tmp/in/unreadable")

# The table: name | command, with X for the bad file and O for the output
# path (which must not exist afterwards).
table=(
	"info|$bin info X"
	"cat|$bin cat X"
	"verify|$bin verify X"
	"analyze|$bin analyze -q X -o O"
	"analyze --pods|$bin analyze -q $good --pods X -o O"
	"analyze --services|$bin analyze -q $good --services X -o O"
	"dump|$bin dump X"
	"dump --case|$bin dump --case X"
	"report|$bin report X"
	"corpus check|$bin corpus check X"
	"corpus add|$bin corpus add X --conn 1 --name n --corpus O"
	"import-pcap|$bin import-pcap X -o O"
	"import-pcap --pods|$bin import-pcap $(realpath ../shared/captures/http/zeek-get.pcap) --pods X -o O"
	"export-pcap|$bin export-pcap X -o O"
	"export-clickhouse|$bin export-clickhouse -q X --url http://127.0.0.1:9/"
)
if [[ -x $rec ]]; then
	table+=(
		"record --pods|$rec -o O --pods X -d 1"
		"record --services|$rec -o O --services X -d 1"
		"record --kubeconfig|$rec -o O --kubeconfig X -d 1"
		"record snapshot|$rec snapshot X"
	)
else
	echo "FAIL flightrec-record not built: its rows not run"; fail=$((fail + 1))
fi

n=0
for row in "${table[@]}"; do
	name=${row%%|*} cmd=${row#*|}
	for ((i = 0; i < ${#bad[@]}; i += 2)); do
		kind=${bad[i]} file=${bad[i + 1]}
		# the corpus and recording directories are directories: a directory
		# of junk is their bad input only as a directory
		n=$((n + 1))
		out=$tmp/out$n
		c=${cmd//X/$file}; c=${c//O/$out}
		as=()
		if [[ $kind == unreadable ]]; then
			[[ $(id -u) == 0 ]] || { t "$name on $kind: needs root to run as nobody" false; continue; }
			as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
			chmod 777 "$tmp"
		fi
		(cd "$tmp" && timeout 20 "${as[@]}" $c) >/dev/null 2>"$tmp/err" </dev/null
		rc=$?
		chmod 755 "$tmp"
		lines=$(grep -c . "$tmp/err")
		t "$name on $kind: exit $rc (want 2), $lines error line(s) (want 1): $(head -c 150 "$tmp/err" | tr '\n' ' ')" \
			test "$rc" = 2 -a "$lines" = 1
		t "$name on $kind: nothing at the output path" test ! -e "$out"
	done
done

# The same segment given twice (a hard link, a copy: same node, boot,
# index and start) is read once, and stderr says so; two different
# segments are both read.
seg=tests/corpus/dns/recorded-udp-nxdomain/input-0.frs
other=tests/corpus/http1/recorded-keepalive/input-0.frs
mkdir "$tmp/a" "$tmp/b" "$tmp/c"
cp "$seg" "$tmp/a/s.frs" && ln "$tmp/a/s.frs" "$tmp/b/s.frs" && cp "$seg" "$tmp/c/copy.frs"
"$bin" analyze -q "$tmp/a" -o "$tmp/one.db" 2>"$tmp/one.err"
"$bin" analyze -q "$tmp/a" "$tmp/b" "$tmp/c" -o "$tmp/three.db" 2>"$tmp/three.err"
"$bin" dump "$tmp/one.db" >"$tmp/one.dump"
"$bin" dump "$tmp/three.db" >"$tmp/three.dump"
t "segment_given_twice_read_once: the dump of one" cmp -s "$tmp/one.dump" "$tmp/three.dump"
t "segment_given_twice_read_once: stderr says so" grep -q '^flightrec analyze: 2 segments given twice.*read once' "$tmp/three.err"
t "segment_given_twice_read_once: one alone says nothing" test ! -s "$tmp/one.err"
"$bin" analyze -q "$seg" "$other" -o "$tmp/two.db" 2>"$tmp/two.err"
t "different_segments_both_read" bash -c "[[ \$(sqlite3 '$tmp/two.db' 'select count(*) from segments') == 2 && ! -s '$tmp/two.err' ]]"
echo "input-files: $pass passed, $fail failed"
((fail == 0))
