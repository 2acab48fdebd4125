#!/usr/bin/env bash
# What `flightrec analyze -o PATH` may do to PATH (issue 11, defect 4 and
# the interrupted-analysis finding): only a regular file is ever replaced,
# never a device, FIFO, directory or a symlink's target; the database is
# built under a temporary name and renamed into place once complete, so a
# failed or interrupted run leaves nothing at PATH; the result is 0600.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_ASAN:-build/asan}/flightrec
[[ -x $bin ]] || bin=build/flightrec
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
t() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
in=tests/corpus/http1/keepalive

# analyze_o_device_not_replaced: as root, -o on a device node replaced it
if [[ $(id -u) == 0 ]]; then
	mknod "$tmp/null" c 1 3
	$bin analyze -q "$in" -o "$tmp/null" 2>"$tmp/err"; rc=$?
	t "analyze_o_device_not_replaced: exit 2" test $rc = 2
	t "analyze_o_device_not_replaced: still the device" test -c "$tmp/null"
	t "analyze_o_device_not_replaced: says why" grep -q 'is not a regular file: not replacing it' "$tmp/err"
fi
mkfifo "$tmp/fifo"
timeout 20 $bin analyze -q "$in" -o "$tmp/fifo" 2>/dev/null; rc=$?
t "analyze_o_fifo_not_replaced" bash -c "[[ $rc == 2 && -p '$tmp/fifo' ]]"
mkdir "$tmp/dir"
$bin analyze -q "$in" -o "$tmp/dir" 2>/dev/null; rc=$?
t "analyze_o_directory_not_replaced" bash -c "[[ $rc == 2 && -d '$tmp/dir' ]]"
echo precious >"$tmp/victim"
ln -s "$tmp/victim" "$tmp/link"
$bin analyze -q "$in" -o "$tmp/link" 2>/dev/null; rc=$?
t "analyze_o_symlink_target_untouched" bash -c "[[ $rc == 2 && -L '$tmp/link' && \$(cat '$tmp/victim') == precious ]]"
$bin analyze -q "$in" -o '' 2>"$tmp/err"; rc=$?
t "analyze_o_empty_path_refused" bash -c "[[ $rc == 2 ]] && grep -q 'output path is empty' '$tmp/err'"

# a regular file is replaced, and the database is 0600 whatever the umask
echo old >"$tmp/x.db"
(umask 022; $bin analyze -q "$in" -o "$tmp/x.db"); rc=$?
t "analyze_o_regular_file_replaced" bash -c "[[ $rc == 0 ]] && $bin dump '$tmp/x.db' | grep -q '^# requests'"
t "analyze_o_database_is_0600" test "$(stat -c %a "$tmp/x.db")" = 600
t "analyze_o_no_temporary_left" test -z "$(ls -A "$tmp" | grep part)"

# analyze_interrupted_leaves_nothing: SIGTERM half-way leaves no file at -o
# and no temporary file (a recording big enough to take a few seconds)
gen=build/bench/gen_analyze
if [[ -x $gen ]]; then
	$gen "$tmp/big" 400M "$in/input.frs" tests/corpus/redis/basic/input.frs >/dev/null || echo "FAIL gen_analyze"
	$bin analyze -q -j 1 "$tmp/big" -o "$tmp/big.db" 2>/dev/null &
	p=$!
	for i in $(seq 100); do ls -A "$tmp" | grep -q '^\.big\.db\.part' && break; sleep 0.02; done
	kill -TERM $p; wait $p; rc=$?
	t "analyze_interrupted_leaves_nothing: killed by SIGTERM ($rc)" test $rc = 143
	t "analyze_interrupted_leaves_nothing: no database at -o" test ! -e "$tmp/big.db"
	t "analyze_interrupted_leaves_nothing: no temporary file" test -z "$(ls -A "$tmp" | grep part)"
else
	echo "FAIL $gen missing (make all builds it)"; fail=$((fail + 1))
fi
# export-pcap writes the same way (issue 11, findings 6 and 12): 0600, a
# damaged input or a filter that matches nothing leaves no file
(umask 022; $bin export-pcap "$in" -o "$tmp/x.pcapng" 2>/dev/null)
t "export_pcap_is_0600" test "$(stat -c %a "$tmp/x.pcapng" 2>/dev/null)" = 600
head -c 3000 /dev/urandom >"$tmp/junk.frs"
$bin export-pcap "$tmp/junk.frs" -o "$tmp/j.pcapng" 2>/dev/null; rc=$?
t "export_pcap_damaged_input_leaves_nothing" bash -c "[[ $rc == 2 && ! -e '$tmp/j.pcapng' ]]"
$bin export-pcap "$in" -o "$tmp/n.pcapng" --pod no/such-pod 2>"$tmp/err"; rc=$?
t "export_pcap_filter_matching_nothing_says_so" bash -c "[[ $rc == 2 && ! -e '$tmp/n.pcapng' ]] && grep -q 'nothing matched --pod no/such-pod' '$tmp/err'"
mknod "$tmp/null2" c 1 3 2>/dev/null && {
	$bin export-pcap "$in" -o "$tmp/null2" 2>/dev/null; rc=$?
	t "export_pcap_device_not_replaced" bash -c "[[ $rc == 2 && -c '$tmp/null2' ]]"
}
t "export_pcap_no_temporary_left" test -z "$(ls -A "$tmp" | grep part)"
echo "analyze-output: $pass passed, $fail failed"
((fail == 0))
