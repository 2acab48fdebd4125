#!/usr/bin/env bash
# deploy e2e: the image (deploy/image/build.sh) runs under podman exactly as
# the DaemonSet says (capabilities, hostPID, seccomp, read-only root, user,
# host paths, command line: tests/tools/daemonset_podman.py reads them from
# deploy/kubernetes/flightrec.yaml), records nginx and wrk running on the
# host in e2e pods, finds their cgroups, pods (from the kubelet's
# /var/log/pods layout, moved to a test folder) and executables as on the
# host, answers the liveness probe, takes a snapshot through its control
# socket, keeps only SYS_PTRACE and DAC_READ_SEARCH effective after
# attaching (SYS_ADMIN, PERFMON and BPF permitted only, for TLS libraries
# found later), records HTTPS in plaintext (nginx and curl on the host's
# libssl, attached at start; curl on a copy of libssl first mapped after
# the start), and the analysis names the pods.  Differences from a cluster, all in the command
# line here: no --kube-api and --cluster-trigger (no API server; the node
# files name the pods),
# --cgroup filters (only this test's pods), and podman's own flags below.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
FR=$FR_BUILD/flightrec
NAME=frk8s-rec-$$
command -v podman >/dev/null || fr_die "podman missing (make deps installs it)"
command -v runc >/dev/null || fr_die "runc missing (make deps installs it)"
podman_cleanup() { podman rm -f -t 0 "$NAME" >/dev/null 2>&1; }
trap 'podman_cleanup; fr_cleanup' EXIT

t0=$SECONDS
IMG=$(deploy/image/build.sh | tee "$T/build.out" | tail -1)
grep '^#' "$T/build.out"
echo "# image built in $((SECONDS - t0)) s"
check "image: built and imported ($IMG)" podman image exists "$IMG"
check "image: every library comes from a Debian package" bash -c \
	"[[ -s $FR_BUILD/image/PACKAGES ]] && ! awk 'NF != 3' $FR_BUILD/image/PACKAGES | grep -q ."

fr_pod web
fr_container web nginx nginx:1.22
fr_pod cli
fr_container cli client debian:12
WEB=${FR_IP[web]}
fr_nginx_conf "$T" "$WEB"
echo hello >"$T/www/index.html"
# HTTPS on 8443 (nginx's libssl: the host's, mapped before the recorder
# starts) and 8444 (the clients of the later part use a copy of libssl)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$WEB" -keyout "$T/key.pem" -out "$T/cert.pem" \
	>/dev/null 2>&1 || fr_die "openssl req"
sed -i '$d' "$T/nginx.conf"
cat >>"$T/nginx.conf" <<EOF
	server {
		listen $WEB:8443 ssl;
		listen $WEB:8444 ssl;
		ssl_certificate $T/cert.pem;
		ssl_certificate_key $T/key.pem;
		root $T/www;
	}
}
EOF
fr_run web nginx nginx -c "$T/nginx.conf" -p "$T"
fr_wait_port "$WEB" 80 || fr_die "nginx did not start"
# the kubelet's node files: /var/log/pods/<namespace>_<pod>_<uid>/ and
# /var/log/containers/<pod>_<namespace>_<container>-<id>.log
mkdir -p "$T/ring" "$T/logpods" "$T/logcontainers"
chmod 700 "$T/ring"
for p in web cli; do
	pod=$p-6f7d8c9b5d-${FR_PFX:2:5}
	mkdir "$T/logpods/e2e_${pod}_${FR_UID[$p]}"
	for c in ${FR_CNAME[$p]}; do touch "$T/logcontainers/${pod}_e2e_${c}-${FR_CID[$p/$c]}.log"; done
done

/usr/bin/python3 tests/tools/daemonset_podman.py deploy/kubernetes/flightrec.yaml recorder \
	--node "$(hostname)" --host-path "/var/lib/flightrec=$T/ring" \
	--host-path "/var/log/pods=$T/logpods" --host-path "/var/log/containers=$T/logcontainers" \
	>"$T/spec.json" || fr_die "cannot read the DaemonSet"
mapfile -t PARGS < <(/usr/bin/python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["podman"]))' "$T/spec.json")
# no API server here: without --kube-api and the --cluster-trigger it polls
mapfile -t CMD < <(/usr/bin/python3 -c 'import json,sys
c = json.load(open(sys.argv[1]))["command"]
i = c.index("--cluster-trigger"); del c[i:i + 2]
print("\n".join(a for a in c if a != "--kube-api"))' "$T/spec.json")
mapfile -t LIVE < <(/usr/bin/python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["liveness"]))' "$T/spec.json")
echo "# podman run ${PARGS[*]} $IMG ${CMD[*]}"
check "manifest: capabilities, not privileged" bash -c "printf '%s\n' ${PARGS[*]} | grep -q -- --cap-drop=all"
# podman's own flags: runc (crun refuses a host whose cgroup v2 hierarchy
# has controllers beside cgroup v1 ones, as here), no network (the recorder
# needs none without an API server), and limits no higher than this shell's
# (podman raises them to its defaults otherwise, which needs CAP_SYS_RESOURCE)
nofile=$(ulimit -Hn)
((nofile > 65536)) && nofile=65536
podman --runtime runc run -d --name "$NAME" --network none \
	--ulimit "nofile=$((nofile / 2)):$((nofile / 2))" --ulimit nproc=8192:8192 \
	"${PARGS[@]}" --entrypoint "${CMD[0]}" "$IMG" "${CMD[@]:1}" \
	--cgroup "$(fr_slice web)" --cgroup "$(fr_slice cli)" --segment-age 2 --after 1 \
	>"$T/cid" 2>"$T/podman.err" || { cat "$T/podman.err"; fr_die "podman run"; }
for i in $(seq 100); do podman logs "$NAME" 2>&1 | grep -q "recording into" && break; sleep 0.1; done
podman logs "$NAME" >"$T/rec.log" 2>&1
check "podman: the recorder runs with the DaemonSet's capabilities" grep -q "recording into /var/lib/flightrec" "$T/rec.log" ||
	sed 's/^/  | /' "$T/rec.log"
PID=$(podman inspect -f '{{.State.Pid}}' "$NAME")
caps=$(awk '/^CapEff/ { print $2 }' /proc/"$PID"/task/*/status 2>/dev/null | sort -u | tr '\n' ' ')
check "podman: after attaching every thread has SYS_PTRACE and DAC_READ_SEARCH only (CapEff $caps)" \
	test "$caps" = "0000000000080004 "
# SYS_ADMIN, PERFMON and BPF stay permitted, for the TLS libraries found later
prm=$(awk '/^CapPrm/ { print $2 }' "/proc/$PID/status" 2>/dev/null)
check "podman: SYS_ADMIN, PERFMON, BPF permitted, not effective (CapPrm $prm)" test "$prm" = 000000c000280004
check "podman: TLS uprobes attached at start (CAP_SYS_ADMIN)" \
	grep -q "tls: attached to /usr/lib/x86_64-linux-gnu/libssl.so.3 of pid [0-9]* (OpenSSL 3" "$T/rec.log"
check "podman: the liveness probe (${LIVE[*]}) passes" podman exec "$NAME" "${LIVE[@]}"

fr_exec cli client wrk -t1 -c2 -d3s "http://$WEB/index.html" >"$T/wrk.out" 2>&1
# HTTPS (nginx answers 404 to these paths): curl on the host's libssl
# (attached at start), then curl on a copy of libssl.so.3 bind-mounted in
# its own mount namespace (a container started after the recorder with its
# own library): the recorder attaches to the copy when it first sees such a
# curl, and the later ones are plaintext on the client side too
for i in 1 2 3; do fr_exec cli client curl -sk -o /dev/null "https://$WEB:8443/tls-start-$i"; done
mkdir -p "$T/alt"
cp /usr/lib/x86_64-linux-gnu/libssl.so.3 "$T/alt/libssl.so.3"
late_curl() {
	fr_exec_own_libssl cli client "$T/alt/libssl.so.3" curl -sk -o /dev/null "https://$WEB:8444/$1"
}
for i in $(seq 20); do
	late_curl "tls-late-$i"
	podman logs "$NAME" 2>&1 | sed -n '/recording into/,$p' | grep -q "tls: attached to .* of pid" && break
	sleep 0.2
done
for i in 1 2 3; do late_curl "tls-after-$i"; done
fr_exec cli client curl -s -o /dev/null "http://$WEB/index.html?from-the-host"
SNAP=$("$FR_BUILD/flightrec-record" snapshot "$T/ring" --reason podman-e2e 2>"$T/snap.err")
check "snapshot: through the control socket on the host path ($SNAP: the container's path)" \
	bash -c "[[ '$SNAP' == /var/lib/flightrec/snapshots/*-podman-e2e ]]"
SNAP=$T/ring/${SNAP#/var/lib/flightrec/}
sleep 1.5
# collected as `kubectl cp` does it: tar in the container, on stdout
mkdir -p "$T/collected"
podman exec "$NAME" tar -C /var/lib/flightrec/snapshots -cf - "$(basename "$SNAP")" | tar -C "$T/collected" -xf -
check "collect: the snapshot copied out with the image's tar (kubectl cp)" \
	"$FR" verify "$T/collected/$(basename "$SNAP")"
podman stop -t 10 "$NAME" >/dev/null 2>&1
check "podman: the recorder stops cleanly (exit 0)" test "$(podman inspect -f '{{.State.ExitCode}}' "$NAME")" = 0
podman logs "$NAME" >"$T/rec.log" 2>&1
"$FR" analyze "$T/ring" -o "$T/ring.db" >/dev/null 2>&1
q() { sqlite3 "$T/ring.db" "$1" 2>/dev/null; }
n=$(q "select count(*) from requests where summary like 'GET /index.html%'")
check "analysis: the requests from the host's pods ($n)" test "${n:-0}" -gt 100
check "analysis: the server's pod named from the node files" \
	test -n "$(q "select 1 from pods where namespace = 'e2e' and name = 'web-6f7d8c9b5d-${FR_PFX:2:5}'")"
sqlite3 "$T/ring.db" "select * from edges" 2>/dev/null | head -3 | sed 's/^/  # /'
n=$(q "select count(*) from requests where summary like 'GET /tls-start-%' and status = 404")
check "analysis: HTTPS requests in plaintext, libssl attached at start ($n)" test "${n:-0}" -ge 3
check "recorder: attached later to the copy of libssl a new process mapped" \
	bash -c "sed -n '/recording into/,\$p' '$T/rec.log' | grep -q 'tls: attached to /usr/lib/x86_64-linux-gnu/libssl.so.3 of pid'" ||
	grep -i 'tls' "$T/rec.log" | sed 's/^/  | /'
n=$(q "select count(*) from connections where remote_port = 8444 and tls like 'OpenSSL 3.%'")
check "analysis: the later clients' own TLS ends are plaintext too ($n connections)" test "${n:-0}" -ge 3
n=$(q "select count(*) from requests where summary like 'GET /tls-after-%' and status = 404")
check "analysis: their requests ($n)" test "${n:-0}" -ge 3
check "analysis: nginx's executable read through /proc/<pid>/exe from the container" \
	test -n "$(q "select 1 from processes where exe = '$(readlink -f "$(command -v nginx)")'")"
check "snapshot: holds the request before it" bash -c "'$FR' cat '$T/collected/$(basename "$SNAP")' | grep -q from-the-host"
fr_finish
