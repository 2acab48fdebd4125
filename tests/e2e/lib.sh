# tests/e2e/lib.sh - "pods" on this machine, for the e2e tests and the demo.
#
# Source it from bash (as root).  A pod is a network namespace joined by a
# veth pair to a bridge of this run, with an address in 10.213.<net>.0/24,
# and one cgroup v2 directory per container, named the way the kubelet's
# systemd driver names them:
#   <cgroup2>/kubepods.slice/kubepods-burstable.slice/
#       kubepods-burstable-pod<uid>.slice/cri-containerd-<64 hex>.scope
# Everything a run creates carries the prefix $FR_PFX (with $$), so parallel
# runs never collide, and fr_cleanup (an EXIT/INT/TERM trap installed by
# fr_init) removes every namespace, link, cgroup and process it made, even
# after a failure or Ctrl-C.
#
#   fr_init                      trap, bridge, unique names; call first
#   fr_pod NAME                  creates pod NAME; sets FR_IP[NAME], FR_UID[NAME]
#   fr_container POD CNAME IMAGE adds a container; sets FR_CID[POD/CNAME]
#   fr_run POD CNAME CMD...      starts CMD in that container, in background;
#                                its pid is in FR_LASTPID
#   fr_exec POD CNAME CMD...     runs CMD there in the foreground (exit status)
#   fr_podlist FILE              writes the PodList JSON of the pods made
#   fr_slice POD                 the pod's cgroup directory (for --cgroup)
#   fr_wait_port IP PORT [tcp|udp]   waits until something listens there
#   check NAME CMD...            one assertion: prints "ok NAME" or "FAIL NAME"
#   one_line REGEX CMD...        CMD fails with one stderr line matching REGEX
#   fr_finish                    prints "N passed, N failed"; exit status
#
# Addresses are only ever configured inside namespaces and on the bridge of
# this run: nothing is routed off the machine.

FR_BUILD=${FR_BUILD:-build}
FR_PFX="fr$$"
FR_PASS=0
FR_FAILN=0
declare -A FR_IP FR_UID FR_NS FR_CID FR_CIMG FR_CNAME
FR_PODS=()
FR_CONTAINERS=()
FR_PIDS=()
FR_TMP=""
FR_CGROOT=""
FR_NET=""

check() { # name, command...
	local name=$1
	shift
	if "$@"; then
		echo "ok $name"
		FR_PASS=$((FR_PASS + 1))
	else
		echo "FAIL $name"
		FR_FAILN=$((FR_FAILN + 1))
	fi
}

one_line() { # expected-regex, command...: non-zero status, one stderr line matching
	local re=$1
	shift
	"$@" >/dev/null 2>"$FR_TMP/err"
	local rc=$?
	[[ $rc != 0 && $(wc -l <"$FR_TMP/err") == 1 ]] && grep -qE "$re" "$FR_TMP/err" ||
		{ echo "  status $rc, stderr: $(cat "$FR_TMP/err")"; return 1; }
}

fr_finish() {
	echo "$(basename "$0" .sh): $FR_PASS passed, $FR_FAILN failed"
	((FR_FAILN == 0))
}

fr_die() {
	echo "FAIL setup: $*"
	FR_FAILN=$((FR_FAILN + 1))
	fr_finish
	exit 1
}

fr_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local p
	for p in "${FR_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${FR_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	local c
	for c in "${FR_CONTAINERS[@]}"; do
		[[ -d $c ]] || continue
		echo 1 >"$c/cgroup.kill" 2>/dev/null
	done
	sleep 0.1
	for c in "${FR_CONTAINERS[@]}"; do
		[[ -d $c ]] && rmdir "$c" 2>/dev/null
	done
	local pod
	for pod in "${FR_PODS[@]}"; do
		local s; s=$(fr_slice "$pod")
		[[ -d $s ]] && rmdir "$s" 2>/dev/null
		ip netns del "${FR_NS[$pod]}" 2>/dev/null
	done
	# the shared parents, when no other run uses them
	rmdir "$FR_CGROOT/kubepods.slice/kubepods-burstable.slice" 2>/dev/null
	rmdir "$FR_CGROOT/kubepods.slice" 2>/dev/null
	ip link del "${FR_PFX}br" 2>/dev/null
	[[ -n $FR_TMP && -d $FR_TMP ]] && { umount "$FR_TMP"/* 2>/dev/null; rm -rf "$FR_TMP"; }
	exit "$rc"
}

fr_init() {
	[[ $(id -u) == 0 ]] || fr_die "e2e tests need root"
	FR_CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
	[[ -n $FR_CGROOT ]] || fr_die "no cgroup v2 mount"
	trap fr_cleanup EXIT
	trap 'exit 130' INT TERM
	FR_TMP=$(mktemp -d "/tmp/${FR_PFX}.XXXXXX")
	# a /24 no interface of this machine uses yet
	local n
	for n in $(seq $(($$ % 200 + 20)) 250) $(seq 20 250); do
		if ! ip -4 addr show | grep -q "inet 10\.213\.$n\."; then FR_NET=$n; break; fi
	done
	[[ -n $FR_NET ]] || fr_die "no free 10.213.x.0/24"
	ip link add "${FR_PFX}br" type bridge || fr_die "cannot create bridge"
	ip addr add "10.213.$FR_NET.1/24" dev "${FR_PFX}br"
	ip link set "${FR_PFX}br" up
	mkdir -p "$FR_CGROOT/kubepods.slice/kubepods-burstable.slice"
}

fr_slice() {
	local u=${FR_UID[$1]//-/_}
	echo "$FR_CGROOT/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod$u.slice"
}

fr_pod() {
	local name=$1 i=$((${#FR_PODS[@]} + 10))
	local ns="${FR_PFX}-$name"
	FR_NS[$name]=$ns
	FR_UID[$name]=$(cat /proc/sys/kernel/random/uuid)
	FR_IP[$name]="10.213.$FR_NET.$i"
	FR_PODS+=("$name")
	ip netns add "$ns" || fr_die "cannot create netns $ns"
	ip link add "${FR_PFX}v$i" type veth peer name eth0 netns "$ns" || fr_die "cannot create veth"
	ip link set "${FR_PFX}v$i" master "${FR_PFX}br" up
	ip -n "$ns" addr add "${FR_IP[$name]}/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	mkdir -p "$(fr_slice "$name")" || fr_die "cannot create the pod cgroup"
}

fr_container() { # pod, container name, image
	local pod=$1 c=$2
	local id; id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	FR_CID[$pod/$c]=$id
	FR_CIMG[$pod/$c]=$3
	FR_CNAME[$pod]+="$c "
	local d; d="$(fr_slice "$pod")/cri-containerd-$id.scope"
	mkdir -p "$d" || fr_die "cannot create cgroup $d"
	FR_CONTAINERS+=("$d")
}

fr_cgdir() { echo "$(fr_slice "$1")/cri-containerd-${FR_CID[$1/$2]}.scope"; }

# The child writes its own pid into the container's cgroup, then becomes
# CMD inside the pod's network namespace (ip netns exec does not fork).
fr_run() {
	local pod=$1 c=$2
	shift 2
	bash -c 'echo $$ > "$1/cgroup.procs" && shift 2 && exec ip netns exec "$@"' _ \
		"$(fr_cgdir "$pod" "$c")" x "${FR_NS[$pod]}" "$@" &
	FR_LASTPID=$!
	FR_PIDS+=("$FR_LASTPID")
}

fr_exec() {
	local pod=$1 c=$2
	shift 2
	bash -c 'echo $$ > "$1/cgroup.procs" && shift 2 && exec ip netns exec "$@"' _ \
		"$(fr_cgdir "$pod" "$c")" x "${FR_NS[$pod]}" "$@"
}

fr_wait_port() { # ip port [tcp|udp]
	local proto=${3:-tcp} i
	for i in $(seq 1 100); do
		if [[ $proto == tcp ]]; then
			ss -Hltn "src $1:$2" 2>/dev/null | grep -q . && return 0
			local ns
			for ns in "${FR_NS[@]}"; do
				ip netns exec "$ns" ss -Hltn "src $1:$2" 2>/dev/null | grep -q . && return 0
			done
		else
			local ns
			for ns in "${FR_NS[@]}"; do
				ip netns exec "$ns" ss -Hlun "src $1:$2" 2>/dev/null | grep -q . && return 0
			done
		fi
		sleep 0.05
	done
	return 1
}

fr_podlist() {
	local f=$1 node; node=$(hostname)
	{
		echo '{"apiVersion":"v1","kind":"PodList","items":['
		local first=1 pod c
		for pod in "${FR_PODS[@]}"; do
			((first)) || echo ','
			first=0
			printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s-6f7d8c9b5d-%s","namespace":"e2e","uid":"%s",' \
				"$pod" "${FR_PFX:2:5}" "${FR_UID[$pod]}"
			printf '"labels":{"app":"%s","pod-template-hash":"6f7d8c9b5d"},' "$pod"
			printf '"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"%s-6f7d8c9b5d","controller":true}]},' "$pod"
			printf '"spec":{"nodeName":"%s","containers":[' "$node"
			local cf=1
			for c in ${FR_CNAME[$pod]}; do
				((cf)) || printf ','
				cf=0
				printf '{"name":"%s","image":"%s"}' "$c" "${FR_CIMG[$pod/$c]}"
			done
			printf ']},"status":{"phase":"Running","podIP":"%s","podIPs":[{"ip":"%s"}],"containerStatuses":[' \
				"${FR_IP[$pod]}" "${FR_IP[$pod]}"
			cf=1
			for c in ${FR_CNAME[$pod]}; do
				((cf)) || printf ','
				cf=0
				printf '{"name":"%s","image":"%s","containerID":"containerd://%s","ready":true}' \
					"$c" "${FR_CIMG[$pod/$c]}" "${FR_CID[$pod/$c]}"
			done
			printf ']}}\n'
		done
		echo ']}'
	} >"$f"
}

# The two pods most tests use: srv (an nginx container, then the extra
# containers given as NAME:IMAGE) and cli (a debian:12 client container);
# SRV is srv's address, and $FR_TMP/nginx.conf serves $FR_TMP/www on it
# (fr_nginx_conf).  fr_start_nginx starts it once www is filled.
fr_web_pods() { # [name:image...]
	fr_pod srv
	fr_container srv nginx nginx:1.22
	local c
	for c in "$@"; do fr_container srv "${c%%:*}" "${c#*:}"; done
	fr_pod cli
	fr_container cli client debian:12
	SRV=${FR_IP[srv]}
	fr_nginx_conf "$FR_TMP" "$SRV"
}
fr_start_nginx() {
	fr_run srv nginx nginx -c "$FR_TMP/nginx.conf" -p "$FR_TMP"
	fr_wait_port "$SRV" 80 || fr_die "nginx did not start"
}

# For the TLS tests: DIR/www/index.html, a self-signed certificate for IP
# (DIR/cert.pem, DIR/key.pem), and DIR/nginx.conf (single process, one
# worker) with the server blocks read from stdin.
fr_tls_nginx_conf() { # dir ip <servers
	mkdir -p "$1/www"
	echo "hello tls" >"$1/www/index.html"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$2" -keyout "$1/key.pem" -out "$1/cert.pem" \
		>/dev/null 2>&1 || fr_die "openssl req"
	{
		cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/nginx-error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $1/body;
	proxy_temp_path $1/proxy;
	fastcgi_temp_path $1/fastcgi;
	uwsgi_temp_path $1/uwsgi;
	scgi_temp_path $1/scgi;
EOF
		cat
		echo "}"
	} >"$1/nginx.conf"
}

# Runs a command in a pod's container with its own copy of libssl: in a
# private mount namespace where LIB is bind-mounted over the system's
# libssl.so.3 (a container started with its own library).
fr_exec_own_libssl() { # pod container lib command...
	local pod=$1 ctr=$2 lib=$3
	shift 3
	fr_exec "$pod" "$ctr" unshare -m --propagation private sh -c \
		'mount --bind "$1" /usr/lib/x86_64-linux-gnu/libssl.so.3 && shift && exec "$@"' _ "$lib" "$@"
}

# nginx (single process, one worker) serving DIR/www on IP:80; sendfile off
# (bodies go through write calls) except under /sf/; and on a dual-stack
# [::]:8080 socket (IPv4 clients appear as v4-mapped IPv6 to nginx).
fr_nginx_conf() { # dir ip
	cat >"$1/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/nginx-error.log;
events { worker_connections 256; }
http {
	access_log off;
	sendfile off;
	client_body_temp_path $1/body;
	proxy_temp_path $1/proxy;
	fastcgi_temp_path $1/fastcgi;
	uwsgi_temp_path $1/uwsgi;
	scgi_temp_path $1/scgi;
	keepalive_requests 100000;
	server {
		listen $2:80;
		root $1/www;
		location /sf/ { sendfile on; }
	}
	server {
		listen [::]:8080 ipv6only=off;
		root $1/www;
	}
}
EOF
	mkdir -p "$1/www"
}

# The recorder's hook set: FLIGHTREC_HOOKS=sockets|syscalls (tests/run.sh
# runs the recording tests once with each) adds --hooks to every recorder a
# test starts through fr_record or with "${FR_HOOKS_ARGS[@]}"; unset, the
# recorder picks (auto).
FR_HOOKS_ARGS=()
[[ -n ${FLIGHTREC_HOOKS:-} ]] && FR_HOOKS_ARGS=(--hooks "$FLIGHTREC_HOOKS")

# The recorder in the background; its pid in FR_REC_PID.
FR_REC_WRAP=() # a command the recorder runs under (e.g. unshare), or nothing
fr_record() {
	"${FR_REC_WRAP[@]}" "$FR_BUILD/flightrec-record" "${FR_HOOKS_ARGS[@]}" "$@" 2>"$FR_TMP/recorder.err" &
	FR_REC_PID=$!
	FR_PIDS+=("$FR_REC_PID")
	local i
	for i in $(seq 1 100); do
		grep -q "recording into" "$FR_TMP/recorder.err" 2>/dev/null && return 0
		kill -0 "$FR_REC_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "recorder did not start:"
	cat "$FR_TMP/recorder.err"
	return 1
}

fr_hooks_used() { # recording dir: the hook set its first segment's header names
	"$FR_BUILD/flightrec" info "$1" 2>/dev/null | awk '$1 == "hooks:" { print $2; exit }'
}

fr_record_stop() { # waits for a clean exit; returns the recorder's status
	kill -INT "$FR_REC_PID" 2>/dev/null
	wait "$FR_REC_PID"
}
