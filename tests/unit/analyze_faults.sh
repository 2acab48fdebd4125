#!/usr/bin/env bash
# Analyzer faults (issue 11): `analyze` killed (SIGKILL) in the middle of
# importing a capture and of writing its database leaves nothing at the -o
# path; the next run removes the killed run's temporary recording
# ($TMPDIR/flightrec-analyze-<pid>-*) and part file (.DB.part-<pid>-*), and
# its dump is the dump of an uninterrupted run.  An output on a full file
# system (a 64 KiB tmpfs, root only) and a $TMPDIR there: one clear error,
# nothing under the final name, no temporary left.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
gen=${FR_BUILD:-build}/patho_gen
make --no-print-directory -s BUILD="${FR_BUILD:-build}" "$gen" || { echo "analyze-faults: 0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d)
mnt=$tmp/full
cleanup() { mountpoint -q "$mnt" && umount "$mnt"; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
mkdir "$tmp/t"
export TMPDIR=$tmp/t

# Inputs that take a while: 20,000 connections as segments and as pcapng.
"$gen" tiny-conns "$tmp/in.frs" 20000
"$bin" export-pcap "$tmp/in.frs" -o "$tmp/in.pcapng" 2>/dev/null
"$bin" analyze -q "$tmp/in.frs" -o "$tmp/ref.db" && "$bin" dump "$tmp/ref.db" >"$tmp/ref.dump"
"$bin" analyze -q "$tmp/in.pcapng" -o "$tmp/refp.db" && "$bin" dump "$tmp/refp.db" >"$tmp/refp.dump"
t "reference runs made" test -s "$tmp/ref.dump" -a -s "$tmp/refp.dump"

# kill_when GLOB INPUT OUT: starts analyze, SIGKILLs it once GLOB exists
kill_when() {
	"$bin" analyze -q "$2" -o "$3" 2>/dev/null &
	local pid=$! i
	for ((i = 0; i < 400; i++)); do compgen -G "$1" >/dev/null && break; sleep 0.05; done
	kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	compgen -G "$1" >/dev/null
}
t "killed_during_import: killed with its temporary recording there" kill_when "$TMPDIR/flightrec-analyze-*" "$tmp/in.pcapng" "$tmp/p.db"
t "killed_during_import: nothing at the -o path" test ! -e "$tmp/p.db"
t "killed_while_writing: killed with its part file there" kill_when "$tmp/.o.db.part-*" "$tmp/in.frs" "$tmp/o.db"
t "killed_while_writing: nothing at the -o path" test ! -e "$tmp/o.db"
"$bin" analyze -q "$tmp/in.pcapng" -o "$tmp/p.db" && "$bin" dump "$tmp/p.db" >"$tmp/p.dump"
t "rerun_after_kill: the capture's dump is the uninterrupted run's" cmp -s "$tmp/p.dump" "$tmp/refp.dump"
t "rerun_after_kill: the killed run's temporary recording removed" bash -c "! compgen -G '$TMPDIR/flightrec-analyze-*'"
"$bin" analyze -q "$tmp/in.frs" -o "$tmp/o.db" && "$bin" dump "$tmp/o.db" >"$tmp/o.dump"
t "rerun_after_kill: the segments' dump is the uninterrupted run's" cmp -s "$tmp/o.dump" "$tmp/ref.dump"
t "rerun_after_kill: the killed run's part file removed" bash -c "! compgen -G '$tmp/.o.db.part-*'"

if [[ $(id -u) == 0 ]]; then
	mkdir "$mnt" && mount -t tmpfs -o size=64k flightrec-rel-full "$mnt"
	"$bin" analyze -q "$tmp/in.frs" -o "$mnt/x.db" >/dev/null 2>"$tmp/err"; rc=$?
	t "full_fs_output: exit $rc (not 0), says the disk is full: $(head -c 200 "$tmp/err" | tr '\n' ' ')" \
		bash -c "[[ $rc != 0 ]] && grep -qi full '$tmp/err'"
	t "full_fs_output: nothing under the final name, no part file" test -z "$(ls -A "$mnt")"
	TMPDIR=$mnt "$bin" analyze -q "$tmp/in.pcapng" -o "$tmp/y.db" >/dev/null 2>"$tmp/err"; rc=$?
	t "full_fs_tmpdir: exit $rc (not 0), says the disk is full: $(head -c 200 "$tmp/err" | tr '\n' ' ')" \
		bash -c "[[ $rc != 0 ]] && grep -qi 'no space' '$tmp/err'"
	t "full_fs_tmpdir: no database, no temporary recording left" test ! -e "$tmp/y.db" -a -z "$(ls -A "$mnt")"
else
	t "full_fs: needs root (a tmpfs mount)" false
fi
echo "analyze-faults: $pass passed, $fail failed"
((fail == 0))
