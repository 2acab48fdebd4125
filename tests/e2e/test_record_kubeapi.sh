#!/usr/bin/env bash
# e2e: --kubeconfig / --kube-api against a stand-in API server: a real TLS
# server (tests/tools/kubeapi_standin.py) serving a PodList for this node's
# field selector and a ServiceList, and taking JSON merge patches.  Not a
# real kube-apiserver: it checks the client side (kubeconfig, CA
# verification, URLs, parsing, POD/SERVICE records), not the API's
# behaviour.  Last, the cluster commands end to end: `flightrec snapshot
# --cluster` patches the trigger ConfigMap, two recorders take their
# snapshots, `flightrec collect` lists the recorder pods through the
# stand-in and copies each one's snapshot with kubectl exec ... tar
# (tests/tools/kubectl_standin.sh runs the command in a mount namespace
# where the pod's ring is /var/lib/flightrec), and the analysis takes both.
# hooks: one (metadata from the API and the cluster commands, not the capture): the other hook sets run under `make test-hooks`
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
fr_init
T=$FR_TMP
PORT=$((20000 + $$ % 20000))
NODE="node-$$"
CID=$(printf 'ab%.0s' {1..32})

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" \
	-out "$T/cert.pem" -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null ||
	fr_die "openssl req"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
	-out "$T/other.pem" -days 1 -subj /CN=other 2>/dev/null || fr_die "openssl req"
mkdir -p "$T/www/api/v1"
cat >"$T/www/api/v1/pods?fieldSelector=spec.nodeName%3D$NODE" <<JSON
{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"api-7c9d8f6b5-abcde","namespace":"prod",
"uid":"0e0e0e0e-1111-2222-3333-444455556666","labels":{"app":"api","pod-template-hash":"7c9d8f6b5"},
"ownerReferences":[{"kind":"ReplicaSet","name":"api-7c9d8f6b5","controller":true}]},
"spec":{"nodeName":"$NODE","containers":[{"name":"api","image":"api:1"}]},
"status":{"podIP":"10.1.2.3","containerStatuses":[{"name":"api","image":"api:1","containerID":"containerd://$CID"}]}}]}
JSON
cat >"$T/www/api/v1/services" <<'JSON'
{"kind":"ServiceList","apiVersion":"v1","items":[{"metadata":{"name":"api","namespace":"prod"},
"spec":{"clusterIP":"10.96.7.7","clusterIPs":["10.96.7.7"],"selector":{"app":"api"},
"ports":[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"}]}}]}
JSON
/usr/bin/python3 tests/tools/kubeapi_standin.py "$T/www" "$PORT" "$T/cert.pem" "$T/key.pem" "$T/api.log" \
	>"$T/standin.log" 2>&1 &
FR_PIDS+=("$!")
for i in $(seq 100); do ss -Hltn "sport = :$PORT" | grep -q . && break; sleep 0.05; done

kubeconfig() { # CA file
	cat <<YAML
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: $1
    server: https://127.0.0.1:$PORT
  name: test
users:
- name: test
  user:
    token: not-a-real-token
YAML
}
kubeconfig "$T/cert.pem" >"$T/kc"
kubeconfig "$T/other.pem" >"$T/kc-bad"

fr_record -o "$T/rec" --kubeconfig "$T/kc" --node "$NODE" --pid 1 --segment-age 1.5 || fr_die "recorder"
sleep 3.5
fr_record_stop
check "recorder exits 0" test $? = 0
"$FR_BUILD/flightrec" cat --json --kind POD --kind SERVICE "$T/rec" >"$T/meta.jsonl"
check "POD from the API (owner Deployment api)" \
	grep -q '"uid":"0e0e0e0e-1111-2222-3333-444455556666","namespace":"prod","name":"api-7c9d8f6b5-abcde","pod_node":"'"$NODE"'","owner_kind":"Deployment","owner_name":"api"' "$T/meta.jsonl"
check "SERVICE from the API" grep -q '"namespace":"prod","name":"api","cluster_ips":\["10.96.7.7"\],"ports":\[{"port":80,"target_port":8080,"proto":6}\]' "$T/meta.jsonl"
nseg=$(ls "$T"/rec/*.frs | wc -l)
check "every later segment repeats the API metadata ($nseg segments)" bash -c \
	"n=0; for f in \$(ls '$T'/rec/*.frs | tail -n +2); do '$FR_BUILD/flightrec' cat --kind POD \"\$f\" | grep -q api-7c9d8f6b5 || exit 1; n=\$((n+1)); done; ((n >= 1))"

# In a pod: the service account's token and CA at the standard path (put
# there by a private mount namespace) and the API's address from
# KUBERNETES_SERVICE_HOST/PORT, as the kubelet provides them.
cat >"$T/incluster.sh" <<EOF
mount -t tmpfs tmpfs /run || exit 1
SA=/var/run/secrets/kubernetes.io/serviceaccount
mkdir -p \$SA && cp "$T/cert.pem" \$SA/ca.crt && echo in-cluster-token >\$SA/token || exit 1
exec "\$@"
EOF
FR_REC_WRAP=(env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$PORT"
	unshare -m --propagation private bash "$T/incluster.sh")
fr_record -o "$T/rec3" --kube-api --node "$NODE" --pid 1 || fr_die "recorder"
FR_REC_WRAP=()
sleep 1.5
fr_record_stop
check "in-cluster: recorder exits 0" test $? = 0
check "in-cluster: POD from the API (token and CA from the service account)" bash -c \
	"'$FR_BUILD/flightrec' cat --kind POD '$T/rec3' | grep -q api-7c9d8f6b5-abcde"
check "in-cluster: no API error" bash -c "! grep -q -- '--kube-api' '$T/recorder.err'"

# Kubernetes triggers (the stand-in again: static files it serves anew on
# every poll): the pod turns NotReady, a Warning BackOff event about it
# appears; an old event, an event about a pod of another node and a Normal
# event do not fire.
POD='"metadata":{"name":"api-7c9d8f6b5-abcde","namespace":"prod","uid":"0e0e0e0e-1111-2222-3333-444455556666"}'
podlist() { # Ready status
	echo '{"kind":"PodList","apiVersion":"v1","items":[{'"$POD"',"spec":{"nodeName":"'"$NODE"'"},
"status":{"podIP":"10.1.2.3","conditions":[{"type":"Ready","status":"'"$1"'","reason":"ContainersNotReady"}]}}]}'
}
ev() { # uid type reason pod-uid count time
	echo '{"metadata":{"uid":"'"$1"'"},"type":"'"$2"'","reason":"'"$3"'","message":"Back-off restarting failed container api",
"count":'"$5"',"lastTimestamp":"'"$6"'","involvedObject":{"kind":"Pod","namespace":"prod","name":"api-7c9d8f6b5-abcde","uid":"'"$4"'","fieldPath":"spec.containers{api}"}}'
}
PODS_URL="$T/www/api/v1/pods?fieldSelector=spec.nodeName%3D$NODE"
EVENTS_URL="$T/www/api/v1/events?fieldSelector=type%3DWarning"
UID1=0e0e0e0e-1111-2222-3333-444455556666
podlist True >"$PODS_URL"
echo '{"kind":"EventList","items":['"$(ev old-1 Warning BackOff $UID1 3 2025-01-01T00:00:00Z)"']}' >"$EVENTS_URL"
fr_record -o "$T/rec4" --kubeconfig "$T/kc" --node "$NODE" --pid 1 --kube-refresh 1 --cooldown 0 \
	--after 0 --triggers kube || fr_die "recorder"
sleep 2.5
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
podlist False >"$PODS_URL"
echo '{"kind":"EventList","items":['"$(ev old-1 Warning BackOff $UID1 3 2025-01-01T00:00:00Z),$(ev new-1 Warning BackOff $UID1 1 "$NOW"),$(ev other-1 Warning BackOff other-uid 1 "$NOW"),$(ev normal-1 Normal BackOff $UID1 1 "$NOW")"']}' >"$EVENTS_URL"
for i in $(seq 50); do (($(ls "$T/rec4/snapshots" 2>/dev/null | wc -l) >= 2)) && break; sleep 0.1; done
sleep 1.5
fr_record_stop
check "kube triggers: recorder exits 0" test $? = 0
"$FR_BUILD/flightrec" cat --json --kind MARK "$T/rec4" >"$T/marks4.jsonl"
sed -n 's/.*"mark":"\(trigger[^"]*\)","text":"\(.*\)"}$/  # \1: \2/p' "$T/marks4.jsonl"
check "kube triggers: NotReady is a snapshot" compgen -G "$T/rec4/snapshots/*-kube_NotReady_prod_api-7c9d8f6b5-abcde"
check "kube triggers: the BackOff event is a snapshot" compgen -G "$T/rec4/snapshots/*-kube_BackOff_prod_api-7c9d8f6b5-abcde"
check "kube triggers: its MARK has the event's message" grep -q \
	'"text":"kube BackOff prod/api-7c9d8f6b5-abcde (kube trigger: Warning event BackOff on spec.containers{api}: Back-off restarting failed container api (count 1))"' \
	"$T/marks4.jsonl"
check "kube triggers: nothing else fired (old, other node, Normal)" test "$(grep -c '"mark":"trigger' "$T/marks4.jsonl")" = 2

# The cluster trigger: two recorders ("nodes") poll one ConfigMap;
# `flightrec snapshot --cluster` writes a new data.id there (a merge patch
# through the stand-in, with the kubeconfig's token): a snapshot on both,
# with the same reason, and the requested time in their MARK.  Then
# `flightrec collect` copies both into one folder per node.
CM="$T/www/api/v1/namespaces/flightrec/configmaps/flightrec-trigger"
mkdir -p "$(dirname "$CM")"
echo '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"flightrec-trigger","namespace":"flightrec"}}' >"$CM"
CT=(--kubeconfig "$T/kc" --pid 1 --cluster-trigger flightrec/flightrec-trigger --triggers cluster --after 0)
fr_record -o "$T/node-a" --node node-a "${CT[@]}" || fr_die "recorder a"
A=$FR_REC_PID
fr_record -o "$T/node-b" --node node-b "${CT[@]}" || fr_die "recorder b"
sleep 2.5
"$FR_BUILD/flightrec" snapshot --cluster 'checkout 500s' --kubeconfig "$T/kc" >"$T/snapcl.out" 2>&1
check "snapshot --cluster: exits 0" test $? = 0
sed 's/^/  # /' "$T/snapcl.out"
REQ=$(sed -n 's/^requested at \([^ ]*\) (id \([0-9]*\)).*/\1 (id \2)/p' "$T/snapcl.out")
check "snapshot --cluster: one merge PATCH with the kubeconfig's token" bash -c "grep -c PATCH '$T/api.log' | grep -qx 1 &&
	grep PATCH '$T/api.log' | grep -q '\"path\": \"/api/v1/namespaces/flightrec/configmaps/flightrec-trigger\", \"content_type\": \"application/merge-patch+json\", \"authorization\": \"Bearer not-a-real-token\"'"
check "snapshot --cluster: the ConfigMap has the reason, id and time" bash -c \
	"grep -q '\"reason\": \"checkout 500s\"' '$CM' && grep -q '\"name\": \"flightrec-trigger\"' '$CM'"
for i in $(seq 60); do compgen -G "$T/node-a/snapshots/*" >/dev/null && compgen -G "$T/node-b/snapshots/*" >/dev/null && break; sleep 0.1; done
sleep 0.5
kill -INT "$A"
wait "$A"
check "cluster trigger: recorder a exits 0" test $? = 0
fr_record_stop
check "cluster trigger: recorder b exits 0" test $? = 0
for n in a b; do
	check "cluster trigger: node $n took snapshot cluster_checkout_500s (and not one for the ConfigMap it started with)" \
		bash -c "[[ \$(ls '$T/node-$n/snapshots') == *Z-cluster_checkout_500s ]]"
	check "cluster trigger: node $n's MARK has the time snapshot --cluster asked ($REQ)" bash -c \
		"[[ -n '$REQ' ]] && '$FR_BUILD/flightrec' cat --json --kind MARK '$T/node-$n' | grep -qF '\"text\":\"cluster checkout 500s (cluster trigger: requested at $REQ)\"'"
done
check "snapshot --cluster: a missing ConfigMap is named (exit 1)" one_line 'HTTP status 404 \(no such ConfigMap' \
	"$FR_BUILD/flightrec" snapshot --cluster x --kubeconfig "$T/kc" --trigger flightrec/absent
# the recorder pods of the DaemonSet, as the API lists them for collect's
# label selector; the kubectl stand-in's pods are the two rings
POD_SEL='pods?labelSelector=app.kubernetes.io%2Fname%3Dflightrec'
cat >"$T/www/api/v1/namespaces/flightrec/$POD_SEL" <<'JSON'
{"kind":"PodList","apiVersion":"v1","items":[
{"metadata":{"name":"flightrec-aaaaa","namespace":"flightrec"},"spec":{"nodeName":"node-a"},"status":{"phase":"Running"}},
{"metadata":{"name":"flightrec-bbbbb","namespace":"flightrec"},"spec":{"nodeName":"node-b"},"status":{"phase":"Running"}}]}
JSON
export KUBECTL_STANDIN_PODS=$T/kpods
mkdir -p "$KUBECTL_STANDIN_PODS"
ln -s "$T/node-a" "$KUBECTL_STANDIN_PODS/flightrec-aaaaa"
ln -s "$T/node-b" "$KUBECTL_STANDIN_PODS/flightrec-bbbbb"
"$FR_BUILD/flightrec" collect '*-cluster_checkout_500s' "$T/incident" --kubeconfig "$T/kc" \
	--kubectl tests/tools/kubectl_standin.sh >"$T/collect.out" 2>&1
check "collect: exits 0" test $? = 0
sed 's/^/  # /' "$T/collect.out"
check "collect: the pods listed through the API with the label selector" \
	grep -q "\"GET\", \"path\": \"/api/v1/namespaces/flightrec/$POD_SEL\"" "$T/api.log"
check "collect: kubectl exec into each recorder container with the same kubeconfig" bash -c \
	"grep -q '^--kubeconfig $T/kc -n flightrec exec flightrec-aaaaa -c recorder -- tar' '$KUBECTL_STANDIN_PODS/argv.log' &&
	 grep -q '^--kubeconfig $T/kc -n flightrec exec flightrec-bbbbb -c recorder -- tar' '$KUBECTL_STANDIN_PODS/argv.log'"
for n in a b; do
	s=$(ls "$T/node-$n/snapshots")
	check "collect: node-$n's snapshot in incident/node-$n/ and intact" \
		bash -c "[[ \$(ls '$T/incident/node-$n') == '$s' ]] && '$FR_BUILD/flightrec' verify '$T/incident/node-$n/$s' >/dev/null"
done
"$FR_BUILD/flightrec" analyze -q "$T"/incident/*/* -o "$T/incident.db" >/dev/null 2>&1
check "collect: flightrec analyze takes both nodes' snapshots" test "$(sqlite3 "$T/incident.db" \
	"select count(distinct node) from marks where text like 'cluster checkout 500s%'" 2>/dev/null)" = 2
echo '{"kind":"PodList","items":[]}' >"$T/www/api/v1/namespaces/flightrec/$POD_SEL"
check "collect: no recorder pod is said (exit 2)" one_line 'no pod in namespace flightrec' \
	"$FR_BUILD/flightrec" collect '*' "$T/none" --kubeconfig "$T/kc" --kubectl tests/tools/kubectl_standin.sh

fr_record -o "$T/rec2" --kubeconfig "$T/kc-bad" --node "$NODE" --pid 1 || fr_die "recorder"
sleep 1.5
fr_record_stop
check "wrong CA: recorder still exits 0" test $? = 0
check "wrong CA: the TLS failure is reported" grep -q -- '--kube-api: https://127.0.0.1:.*SSL' "$T/recorder.err"
fr_finish
