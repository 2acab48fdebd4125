#!/usr/bin/env bash
# e2e: the root recorder in a directory other users can reach (issue 11,
# defects 1 and 2).  `snapshot` never signals a process that merely owns
# the pid written in a stale pid file; the recorder refuses an output
# directory another user owns or can rewrite, and never follows a symlink
# planted in it (pid file, .snapshot-last, .snapshot-reason, snapshots/).
# hooks: one (the output directory, pid file and symlinks): the other hook sets run under `make test-hooks`
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
chmod 755 "$T" # the "attacker" (nobody) must reach the directories below
REC=$FR_BUILD/flightrec-record
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# --- stale_pid_not_signalled: a recorder killed with -9 leaves its pid file;
# the pid is then another process's.
D=$T/stale
fr_record -o "$D" --duration 30 || fr_die "recorder"
kill -9 "$FR_REC_PID"
wait "$FR_REC_PID" 2>/dev/null
check "stale_pid_not_signalled: kill -9 leaves the pid file" test -s "$D/.flightrec-record.pid"
sleep 300 &
victim=$!
FR_PIDS+=("$victim")
echo "$victim" >"$D/.flightrec-record.pid"
check "stale_pid_not_signalled: snapshot refuses in one line" \
	one_line 'no recorder holds it' "$REC" snapshot "$D"
sleep 0.3
check "stale_pid_not_signalled: the process named in the file is alive" kill -0 "$victim"
# and a recorder started there takes the directory over
fr_record -o "$D" --duration 30 || fr_die "recorder"
out=$("$REC" snapshot "$D" --reason after-stale 2>/dev/null)
check "stale_pid_not_signalled: a new recorder there takes snapshots" test -d "$out"
check "stale_pid_not_signalled: a second recorder on the same directory is refused" \
	one_line "another recorder \(pid $FR_REC_PID\)" "$REC" -o "$D" --duration 1
fr_record_stop
check "stale_pid_not_signalled: the pid file is removed on a clean exit" test ! -e "$D/.flightrec-record.pid"
kill "$victim"

# --- unsafe_output_dir_refused: a directory another user owns or can rewrite
mkdir -m 1777 "$T/theirs" && chmod 1777 "$T/theirs" && chown 65534:65534 "$T/theirs"
check "unsafe_output_dir_refused: owned by another user" \
	one_line 'not owned by the recorder' "$REC" -o "$T/theirs" --duration 1
mkdir -m 777 "$T/open"
chmod 777 "$T/open" # the umask took bits off
check "unsafe_output_dir_refused: world-writable, not sticky" \
	one_line 'writable by other users and not sticky' "$REC" -o "$T/open" --duration 1
mkdir -p "$T/open/sub" && chmod 700 "$T/open/sub"
check "unsafe_output_dir_refused: a parent others can rewrite" \
	one_line "$T/open is writable by other users" "$REC" -o "$T/open/sub" --duration 1
as_nobody ln -s "$T/stale" "$T/theirs/link"
check "unsafe_output_dir_refused: a symlink owned by another user" \
	one_line 'symlink owned by another user' "$REC" -o "$T/theirs/link" --duration 1
check "unsafe_output_dir_refused: nothing was written into them" \
	bash -c "[[ -z \$(ls -A '$T/open/sub') && \$(ls -A '$T/theirs') == link ]]"

# --- symlinks_not_followed: a root-owned sticky directory (like /tmp) in
# which another user planted symlinks to root's files.
S=$T/sticky
mkdir -m 1777 "$S" && chmod 1777 "$S"
echo "precious" >"$T/victim" && chmod 600 "$T/victim"
echo "root-only-secret" >"$T/secret" && chmod 600 "$T/secret"
mkdir -m 700 "$T/elsewhere"
as_nobody ln -s "$T/victim" "$S/.flightrec-record.pid"
check "symlinks_not_followed: a planted pid file symlink stops the recorder" \
	one_line 'flightrec-record.pid is not a regular file of ours' "$REC" -o "$S" --duration 1
check "symlinks_not_followed: its target is untouched" grep -qx precious "$T/victim"
rm "$S/.flightrec-record.pid"
as_nobody ln -s "$T/victim" "$S/.snapshot-last"
as_nobody ln -s "$T/secret" "$S/.snapshot-reason"
fr_record -o "$S" --duration 30 || fr_die "recorder"
kill -USR1 "$FR_REC_PID" # the recorder reads .snapshot-reason on a trigger
for i in $(seq 50); do [[ -d $S/snapshots ]] && break; sleep 0.1; done
snap=$(ls "$S/snapshots" 2>/dev/null)
check "symlinks_not_followed: the reason is not read through a symlink ($snap)" \
	bash -c "[[ '$snap' == *-signal ]]"
check "symlinks_not_followed: .snapshot-last written as a file of its own" \
	bash -c "[[ ! -L '$S/.snapshot-last' && \$(cat '$S/.snapshot-last') == '$S/snapshots/$snap' ]]"
check "symlinks_not_followed: the victim of .snapshot-last is untouched" grep -qx precious "$T/victim"
check "symlinks_not_followed: the pid file is a regular file" test -f "$S/.flightrec-record.pid" -a ! -L "$S/.flightrec-record.pid"
fr_record_stop
n=$("$FR_BUILD/flightrec" cat --json "$S" 2>/dev/null | grep -c root-only-secret)
check "symlinks_not_followed: the secret file is in no record ($n)" test "$n" = 0
rm -rf "$S/snapshots" "$S"/*.frs
as_nobody ln -s "$T/elsewhere" "$S/snapshots"
fr_record -o "$S" --duration 30 || fr_die "recorder"
check "symlinks_not_followed: a planted snapshots symlink fails the snapshot" \
	bash -c "! '$REC' snapshot '$S' --reason planted 2>/dev/null"
check "symlinks_not_followed: nothing was created through it" test -z "$(ls -A "$T/elsewhere")"
check "symlinks_not_followed: the recorder said why" grep -q 'snapshots is not a directory of ours' "$FR_TMP/recorder.err"
fr_record_stop
fr_finish
