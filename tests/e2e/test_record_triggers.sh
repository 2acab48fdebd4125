#!/usr/bin/env bash
# e2e: automatic triggers on the real kernel.  A process of an e2e pod
# allocates until the OOM killer ends it (cgroup v2 memory.max where the
# unified hierarchy has the memory controller, else a cgroup v1 memory
# cgroup with memory.limit_in_bytes) -> a snapshot "oom <pod>" holding the
# traffic before it; nginx's entrypoint exits 1 under load -> "crash <pod>";
# its start again in the same pod -> "restart <pod>"; nginx killed by
# SIGSEGV -> "crash" naming the signal.  The cooldown turns a second
# automatic trigger into a MARK trigger-suppressed; the cap keeps the newest
# --snapshots-max snapshots; the control socket (root only, or
# --control-group) records who asked.
# hooks: one (the triggers come from the sched: and oom: tracepoints, in every hook set): the other hook sets run under `make test-hooks`
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR=$FR_BUILD/flightrec
REC=$FR_BUILD/flightrec-record
MEMCG=""
cleanup_memcg() { [[ -n $MEMCG && -d $MEMCG ]] && rmdir "$MEMCG" 2>/dev/null; }
trap 'cleanup_memcg; fr_cleanup' EXIT

fr_pod memhog
fr_container memhog hog python:3
fr_pod web
fr_container web nginx nginx:1.22
fr_pod cli
fr_container cli client debian:12
WEB=${FR_IP[web]}
fr_nginx_conf "$T" "$WEB"
echo hello >"$T/www/index.html"
fr_podlist "$T/pods.json"
PODNAME() { echo "$1-6f7d8c9b5d-${FR_PFX:2:5}"; }
# the pods whose traffic and triggers count (not other tests' pods; not cli,
# whose `fr_exec` clients are main processes of their own)
CG=(--cgroup "$(fr_slice memhog)" --cgroup "$(fr_slice web)")

marks() { "$FR" cat --json --kind MARK "$1" 2>/dev/null; }
wait_snap() { # dir, glob: waits up to 10 s for a snapshot matching glob
	local i
	for i in $(seq 100); do
		compgen -G "$1/snapshots/$2" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ---- 1. OOM: a memory limit of 64 MiB on the memhog container
HOG=$(fr_cgdir memhog hog)
if grep -qw memory "$FR_CGROOT/cgroup.controllers" 2>/dev/null; then
	d=$FR_CGROOT
	for part in kubepods.slice kubepods-burstable.slice "$(basename "$(fr_slice memhog)")"; do
		echo +memory >"$d/cgroup.subtree_control" || fr_die "cannot enable memory in $d"
		d=$d/$part
	done
	echo 64M >"$HOG/memory.max" || fr_die "memory.max"
	echo 0 >"$HOG/memory.swap.max" 2>/dev/null
	JOIN=/dev/null
	echo "# OOM through cgroup v2 memory.max"
elif [[ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
	# a child of this shell's own memory cgroup: the limit nests in its
	# parent's, nothing moves out of it
	MEMCG=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)/${FR_PFX}-memhog
	mkdir "$MEMCG" || fr_die "cannot create $MEMCG"
	echo 64M >"$MEMCG/memory.limit_in_bytes" || fr_die "memory.limit_in_bytes"
	echo 0 >"$MEMCG/memory.swappiness" 2>/dev/null
	JOIN=$MEMCG/cgroup.procs
	echo "# OOM through a cgroup v1 memory cgroup ($MEMCG)"
else
	fr_die "no memory controller: neither cgroup v2 memory nor /sys/fs/cgroup/memory"
fi

fr_run web nginx nginx -c "$T/nginx.conf" -p "$T"
NGINX=$FR_LASTPID
fr_wait_port "$WEB" 80 || fr_die "nginx did not start"
fr_record -o "$T/oom" --pods "$T/pods.json" "${CG[@]}" --after 1 --cooldown 300 || fr_die "recorder"
fr_exec cli client curl -s -o /dev/null "http://$WEB/index.html?before-oom"
# as fr_run, joining the memory cgroup too before `ip netns exec` (which
# mounts a sysfs of its own)
bash -c 'echo $$ > "$1/cgroup.procs" && echo $$ > "$2" && exec ip netns exec "$3" python3 -c "$4"' _ \
	"$HOG" "$JOIN" "${FR_NS[memhog]}" 'a = []
while True: a.append(bytearray(1 << 20))' &
HOGPID=$!
FR_PIDS+=("$HOGPID")
wait_snap "$T/oom" '*-oom_*'
check "oom: a snapshot named oom_<pod> appears" compgen -G "$T/oom/snapshots/*-oom_e2e_$(PODNAME memhog)"
wait "$HOGPID" 2>/dev/null
check "oom: the memory hog was killed by SIGKILL (status 137)" test $? = 137
sleep 1.5 # the --after window
fr_record_stop
check "oom: recorder exits 0" test $? = 0
SNAP=$(ls -d "$T"/oom/snapshots/*-oom_* 2>/dev/null | head -1)
marks "$SNAP" >"$T/oom-marks.jsonl"
check "oom: the MARK says oom on the pod, the pid and the container" grep -q \
	"\"mark\":\"trigger\",\"text\":\"oom e2e/$(PODNAME memhog) (oom trigger: the OOM killer chose pid $HOGPID (python3), container hog, cgroup " \
	"$T/oom-marks.jsonl"
check "oom: the snapshot holds the request before the OOM" bash -c "'$FR' cat '$SNAP' | grep -q before-oom"
marks "$T/oom" >"$T/oom-ring.jsonl"
sed -n 's/.*"mark":"\(trigger[^"]*\)","text":"\(.*\)"}$/  # \1: \2/p' "$T/oom-ring.jsonl"
check "cooldown: the victim's death as a crash is a MARK trigger-suppressed" grep -q \
	"\"mark\":\"trigger-suppressed\",\"text\":\"crash e2e/$(PODNAME memhog) (crash trigger: main process pid $HOGPID (python3) of container hog killed by SIGKILL" \
	"$T/oom-ring.jsonl"
check "cooldown: one snapshot only" test "$(ls "$T/oom/snapshots" | wc -l)" = 1
cleanup_memcg

# ---- 2. crash, restart, signal: nginx's entrypoint exits 1 under load
kill "$NGINX"
wait "$NGINX" 2>/dev/null
fr_record -o "$T/crash" --pods "$T/pods.json" "${CG[@]}" --after 1 --cooldown 0 || fr_die "recorder"
fr_run web nginx bash -c "nginx -c '$T/nginx.conf' -p '$T' & n=\$!; sleep 2; kill \$n; wait \$n; exit 1"
ENTRY=$FR_LASTPID
fr_wait_port "$WEB" 80 || fr_die "nginx did not start"
fr_exec cli client wrk -t1 -c4 -d4s "http://$WEB/index.html" >"$T/wrk.out" 2>&1
wait_snap "$T/crash" '*-crash_*'
check "crash: a snapshot named crash_<pod> appears" compgen -G "$T/crash/snapshots/*-crash_e2e_$(PODNAME web)"
sleep 1.2
fr_run web nginx nginx -c "$T/nginx.conf" -p "$T"
NGINX=$FR_LASTPID
wait_snap "$T/crash" '*-restart_*'
check "restart: the main process starting again is a snapshot restart_<pod>" \
	compgen -G "$T/crash/snapshots/*-restart_e2e_$(PODNAME web)"
fr_wait_port "$WEB" 80 || fr_die "nginx did not start again"
sleep 1.2
kill -SEGV "$NGINX"
wait "$NGINX" 2>/dev/null
for i in $(seq 50); do (($(ls "$T/crash/snapshots" | grep -c crash_) >= 2)) && break; sleep 0.1; done
sleep 1.2
fr_record_stop
check "crash: recorder exits 0" test $? = 0
marks "$T/crash" >"$T/crash-marks.jsonl"
sed -n 's/.*"mark":"\(trigger[^"]*\)","text":"\(.*\)"}$/  # \1: \2/p' "$T/crash-marks.jsonl"
check "crash: the MARK names the pod, the container and exit status 1" grep -q \
	"\"text\":\"crash e2e/$(PODNAME web) (crash trigger: main process pid $ENTRY (bash) of container nginx exit status 1, cgroup " \
	"$T/crash-marks.jsonl"
check "crash: a main process killed by SIGSEGV" grep -q \
	"\"text\":\"crash e2e/$(PODNAME web) (crash trigger: main process pid $NGINX (nginx) of container nginx killed by SIGSEGV" \
	"$T/crash-marks.jsonl"
check "restart: the MARK counts the restart" grep -q \
	"\"text\":\"restart e2e/$(PODNAME web) (restart trigger: main process pid $NGINX ([a-z0-9]*) started [0-9.]* s after the crash; restart 1)" \
	"$T/crash-marks.jsonl"
SNAP=$(ls -d "$T"/crash/snapshots/*-crash_* | head -1)
"$FR" analyze "$SNAP" -o "$T/crash.db" 2>&1 | grep -v '^#' | tail -3
n=$(sqlite3 "$T/crash.db" "select count(*) from requests where summary like 'GET /index.html%'" 2>/dev/null)
check "crash: the snapshot holds the load before the crash ($n requests)" test "${n:-0}" -gt 100
check "crash: no trigger for the pods' other processes (nginx under the entrypoint)" \
	test "$(grep -c '"mark":"trigger"' "$T/crash-marks.jsonl")" = 3

# ---- 3. the control socket, the cap, the cooldown of alerts
ALERT() { # dir reason: prints the recorder's reply to an "alert" request
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1] + "/control.sock")
s.sendall(("alert " + sys.argv[2] + "\n").encode()); print(s.makefile().readline().strip())' "$1" "$2"
}
GID=$((61000 + $$ % 1000))
chmod 711 "$T"
fr_record -o "$T/cap" --pid 1 --after 0 --snapshots-max 2 --cooldown 300 --control-group "$GID" \
	--triggers alert ||
	fr_die "recorder"
check "socket: 0660, group $GID" test "$(stat -c '%a %g' "$T/cap/control.sock")" = "660 $GID"
for i in 1 2 3; do "$REC" snapshot "$T/cap" --reason "manual-$i" >/dev/null; sleep 1.1; done
out=$(setpriv --reuid 65534 --regid "$GID" --clear-groups "$REC" snapshot "$T/cap" --reason by-group 2>&1)
check "socket: a member of --control-group takes a snapshot" test -d "$out"
check "socket: nobody else may" bash -c \
	"! setpriv --reuid 65534 --regid 65534 --clear-groups '$REC' snapshot '$T/cap' --reason intruder 2>/dev/null"
check "cap: --snapshots-max 2 keeps the two newest" bash -c \
	"[[ \$(ls '$T/cap/snapshots' | sed 's/^[^-]*-//' | tr '\n' ' ') == 'manual-3 by-group ' ]]"
r1=$(ALERT "$T/cap" "http_error_rate 0.31 > 0.05")
r2=$(ALERT "$T/cap" "http_error_rate 0.40 > 0.05")
check "alert: the first alert is a snapshot ($r1)" bash -c "[[ '$r1' == ok\ $T/cap/snapshots/*-alert_http_error_rate_0.31___0.05 ]]"
check "cooldown: the second within --cooldown is suppressed ($r2)" bash -c "[[ '$r2' == suppressed\ in\ the\ cooldown* ]]"
"$REC" status "$T/cap" >"$T/status.out"
check "status: the recorder answers" grep -q "^recording $T/cap" "$T/status.out"
fr_record_stop
check "cap: recorder exits 0" test $? = 0
marks "$T/cap" >"$T/cap-marks.jsonl"
check "socket: the MARK names the requester" grep -q \
	'"text":"by-group (manual trigger: requested by uid 65534 gid '"$GID"' pid [0-9]* (flightrec-recor))"' "$T/cap-marks.jsonl"
check "cooldown: the suppressed alert is in the ring" grep -q \
	'"mark":"trigger-suppressed","text":"alert http_error_rate 0.40 > 0.05' "$T/cap-marks.jsonl"
check "socket: removed at exit" test ! -e "$T/cap/control.sock"
fr_finish
