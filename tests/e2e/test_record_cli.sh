#!/usr/bin/env bash
# e2e: flightrec-record's command line: --help documents every option, and
# setup errors are one clear line with a non-zero status (not root, output
# directory not writable, bad options), privileges are dropped after attach.
# hooks: one (the command line and its errors): the other hook sets run under `make test-hooks`
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
REC=$FR_BUILD/flightrec-record

"$REC" --help >"$T/help" 2>&1
check "--help exits 0" test $? = 0
# every long option of the option table appears in --help
opts=$(grep -oE '^\s*\{"[a-z-]+",' capture/options.c | sed 's/.*{"\([a-z-]*\)".*/\1/' | sort -u)
check "option table read" test "$(echo "$opts" | wc -l)" -ge 20
missing=""
for o in $opts; do grep -q -- "--$o\b" "$T/help" || missing+=" $o"; done
check "--help documents every option${missing:+ (missing:$missing)}" test -z "$missing"
check "--help documents the snapshot command" grep -q "snapshot DIR \[--reason TEXT\]" "$T/help"

check "not root: one clear line" one_line '^flightrec-record: must run as root' \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$REC" -o "$T/x"
touch "$T/afile"
check "output not a directory: one clear line" one_line '^flightrec-record: cannot create output directory' \
	"$REC" -o "$T/afile/sub"
mkdir -p "$T/ro"
mount -t tmpfs -o ro,size=64k "fr$$ro" "$T/ro" || fr_die "cannot mount"
check "output not writable: one clear line" one_line '^flightrec-record: output directory .* is not writable' \
	"$REC" -o "$T/ro"
umount "$T/ro"
check "no -o: one clear line" one_line 'no output directory' "$REC"
check "bad --snaplen: one clear line" one_line 'bad --snaplen' "$REC" -o "$T/y" --snaplen 70000
check "bad --ringbuf: one clear line" one_line 'bad --ringbuf' "$REC" -o "$T/y" --ringbuf 5000
check "bad --pods file: one clear line" one_line '^flightrec-record: --pods: .*nope.json' \
	"$REC" -o "$T/y" --pods "$T/nope.json"
check "bad --cgroup: one clear line" one_line 'no such cgroup' "$REC" -o "$T/y" --cgroup /no/such/cg
check "snapshot with no recorder: one clear line" one_line 'no recorder running' \
	"$REC" snapshot "$T/y"

# capabilities after attach: only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, in
# the effective and bounding sets (none inheritable or ambient); permitted
# also CAP_SYS_ADMIN, CAP_PERFMON and CAP_BPF (raised only to attach TLS
# uprobes to libraries found later), and with --no-tls not those
fr_record -o "$T/caps" --duration 60 || fr_die "recorder" # stopped below, by SIGINT
eff=$(awk '/^CapEff/ {print $2}' "/proc/$FR_REC_PID/status")
bnd=$(awk '/^CapBnd/ {print $2}' "/proc/$FR_REC_PID/status")
check "privileges dropped after attach (CapEff $eff)" test "$eff" = 0000000000080004
check "bounding set reduced (CapBnd $bnd)" test "$bnd" = 0000000000080004
check "no_new_privs set" grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$FR_REC_PID/status"
for set in CapPrm:000000c000280004 CapInh:0000000000000000 CapAmb:0000000000000000; do
	v=$(awk -v k="${set%%:*}:" '$1 == k {print $2}' "/proc/$FR_REC_PID/status")
	check "privileges dropped after attach (${set%%:*} $v)" test "$v" = "${set#*:}"
done
check "the recorder says which capabilities it keeps" \
	grep -q 'privileges dropped: kept cap_sys_ptrace .*cap_dac_read_search.*permitted only.*cap_sys_admin' \
	"$FR_TMP/recorder.err"
# a MSG_PEEK read is not data: the bytes are read again
python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
c = socket.create_connection(s.getsockname()); a, _ = s.accept()
c.sendall(b"peek-then-read-'$$'"); time.sleep(0.1)
a.recv(100, socket.MSG_PEEK); a.recv(100)' || fr_die "python peek"
sleep 0.2
fr_record_stop
check "recorder exits 0" test $? = 0
n=$("$FR_BUILD/flightrec" cat --json --kind DATA "$T/caps" | grep -c "peek-then-read-$$")
check "MSG_PEEK not recorded as data (egress 1 + ingress 1 == $n)" test "$n" = 2
check "segment directory 0700, files 0600" bash -c "[[ \$(stat -c %a '$T/caps') == 700 && \$(stat -c %a '$T'/caps/*.frs | sort -u) == 600 ]]"
fr_record -o "$T/caps-notls" --no-tls --duration 60 || fr_die "recorder"
prm=$(awk '/^CapPrm/ {print $2}' "/proc/$FR_REC_PID/status")
check "--no-tls: no capability kept for later TLS attaches (CapPrm $prm)" test "$prm" = 0000000000080004
fr_record_stop
# output_dir_removed_not_clean (issue 11, finding 7): the directory removed
# while recording: exit 1 and a line that says so, not a "clean" exit 0
fr_record -o "$T/gone" || fr_die "recorder"
rm -rf "$T/gone"
sleep 1.5
fr_record_stop
rc=$?
check "output_dir_removed_not_clean: exit 1 ($rc)" test "$rc" = 1
check "output_dir_removed_not_clean: says so" grep -q 'recording directory .*gone was removed' "$T/recorder.err"
fr_finish
